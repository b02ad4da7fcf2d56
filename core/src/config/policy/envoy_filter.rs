//! EnvoyFilter (networking.istio.io/v1alpha3) as Istio's rate-limit task
//! writes it: `envoy.filters.http.local_ratelimit` inserted as an
//! `HTTP_FILTER`, and `HTTP_ROUTE` `MERGE` patches carrying its per-route
//! config (`typed_per_filter_config`, with `descriptors`) and the route's
//! `rate_limits` actions that make the descriptors.
//!
//! Each patch is read whole or not at all: a patch of another kind, or a
//! local_ratelimit field Weir cannot honour, is reported naming the field
//! and the patch is skipped; the other patches of the resource still apply.
//! Envoy's own checks are kept (`fill_interval` of at least 50 ms, a
//! `token_bucket` on every descriptor).

use crate::config::model::StringMap;
use crate::diagnostic::{Diagnostic, ResourceRef, Severity};
use serde_json::{Map, Value};
use std::time::Duration;

/// Envoy's local_ratelimit filter name.
pub const LOCAL_RATELIMIT: &str = "envoy.filters.http.local_ratelimit";
const LOCAL_RATELIMIT_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";

/// A token bucket as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketSpec {
    pub max_tokens: u32,
    pub tokens_per_fill: u32,
    pub fill_interval: Duration,
}

/// One `descriptors[]` entry: a bucket for requests whose descriptor is
/// exactly these entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DescriptorSpec {
    pub entries: Vec<(String, String)>,
    pub bucket: BucketSpec,
}

/// One action of a route's `rate_limits[].actions`: makes one descriptor entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DescriptorAction {
    /// `request_headers`: the header's value under `descriptor_key`
    /// (`:path`, `:authority`, `:method` are the request's).
    RequestHeader {
        header: String,
        key: String,
        skip_if_absent: bool,
    },
    /// `generic_key`: a fixed value.
    GenericKey { key: String, value: String },
}

/// Which requests a local rate limit config covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The filter's own config (`HTTP_FILTER`): every request.
    Listener,
    /// Per-route config (`HTTP_ROUTE`): the route named (Weir's `http[].name`),
    /// or every route.
    Route(Option<String>),
}

/// One local_ratelimit config Weir will enforce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRateLimit {
    pub resource: ResourceRef,
    /// `spec.configPatches[i]`.
    pub patch: usize,
    pub scope: Scope,
    /// `workloadSelector.labels` (empty: every workload the resource's
    /// namespace covers).
    pub workload_labels: StringMap,
    /// `None`: no default bucket (descriptors only, or nothing).
    pub bucket: Option<BucketSpec>,
    pub descriptors: Vec<DescriptorSpec>,
    /// The route's `rate_limits` (one descriptor each), for per-route configs.
    pub rate_limits: Vec<Vec<DescriptorAction>>,
    /// `filter_enabled` and `filter_enforced`, per million (Envoy defaults
    /// both to 0 when absent).
    pub enabled_per_million: u32,
    pub enforced_per_million: u32,
    /// `response_headers_to_add` on a limited request.
    pub response_headers: Vec<(String, String)>,
    /// `status.code` (429 by default).
    pub status: u16,
    /// `always_consume_default_token_bucket` (default true).
    pub always_consume_default: bool,
}

/// Every local rate limit read, in load order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LocalRateLimits {
    pub configs: Vec<LocalRateLimit>,
}

impl LocalRateLimits {
    /// The configs for a proxy in `namespace` with pod `labels`: the root
    /// namespace's and its own namespace's, whose `workloadSelector`
    /// matches.
    pub fn for_workload(
        &self,
        namespace: &str,
        labels: &[(&str, &str)],
        root: &str,
    ) -> Vec<&LocalRateLimit> {
        self.configs
            .iter()
            .filter(|c| c.resource.namespace == namespace || c.resource.namespace == root)
            .filter(|c| {
                c.workload_labels
                    .iter()
                    .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .collect()
    }
}

/// A patch Weir skips, with the field to blame.
struct Skip {
    field: String,
    message: String,
}

fn skip(field: impl Into<String>, message: impl Into<String>) -> Skip {
    Skip {
        field: field.into(),
        message: message.into(),
    }
}

/// Reads one EnvoyFilter's spec.
pub(super) fn add(
    spec: Value,
    reference: ResourceRef,
    out: &mut LocalRateLimits,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let warn = |field: &str, message: String| {
        Diagnostic::new(
            "WEIR0042",
            Severity::Warning,
            reference.clone(),
            field,
            message,
        )
    };
    let Value::Object(spec) = spec else {
        diagnostics.push(warn("spec", "not an object; resource skipped".into()));
        return;
    };
    let mut labels = StringMap::default();
    for (key, value) in &spec {
        match key.as_str() {
            "configPatches" | "priority" => {}
            "workloadSelector" => {
                let ok = value
                    .get("labels")
                    .and_then(Value::as_object)
                    .map(|m| {
                        m.iter().all(|(k, v)| match v.as_str() {
                            Some(v) => {
                                labels.insert(k.clone(), v.to_string());
                                true
                            }
                            None => false,
                        })
                    })
                    .unwrap_or(false);
                if !ok || value.as_object().is_some_and(|o| o.len() != 1) {
                    diagnostics.push(warn(
                        "spec.workloadSelector",
                        "only `labels` (string values) is supported; resource skipped".into(),
                    ));
                    return;
                }
            }
            other => {
                diagnostics.push(warn(
                    &format!("spec.{other}"),
                    "not supported by Weir (only workloadSelector.labels and configPatches); resource skipped"
                        .into(),
                ));
                return;
            }
        }
    }
    let patches = spec
        .get("configPatches")
        .and_then(Value::as_array)
        .map_or(&[][..], Vec::as_slice);
    for (i, patch) in patches.iter().enumerate() {
        let at = format!("spec.configPatches[{i}]");
        match read_patch(patch, &at) {
            Ok(Some((scope, (config, path)))) => match read_config(config, &path) {
                Ok(mut c) => {
                    c.resource = reference.clone();
                    c.patch = i;
                    c.scope = scope.0;
                    c.rate_limits = scope.1;
                    c.workload_labels = labels.clone();
                    out.configs.push(c);
                }
                Err(s) => diagnostics.push(warn(&s.field, format!("{}; patch skipped", s.message))),
            },
            Ok(None) => {}
            Err(s) => diagnostics.push(warn(&s.field, format!("{}; patch skipped", s.message))),
        }
    }
}

type PatchScope = (Scope, Vec<Vec<DescriptorAction>>);

/// A local_ratelimit config and the field path it sits at.
type Typed<'v> = (&'v Map<String, Value>, String);

/// The scope and the local_ratelimit config (the `LocalRateLimit` proto as
/// JSON) of a patch; `Ok(None)` for a route patch with no rate limit.
fn read_patch<'v>(patch: &'v Value, at: &str) -> Result<Option<(PatchScope, Typed<'v>)>, Skip> {
    let apply_to = patch.get("applyTo").and_then(Value::as_str).unwrap_or("");
    let op = patch
        .pointer("/patch/operation")
        .and_then(Value::as_str)
        .unwrap_or("");
    let value = patch
        .pointer("/patch/value")
        .and_then(Value::as_object)
        .ok_or_else(|| skip(format!("{at}.patch.value"), "missing"))?;
    let context = patch
        .pointer("/match/context")
        .and_then(Value::as_str)
        .unwrap_or("ANY");
    if !matches!(
        context,
        "ANY" | "SIDECAR_INBOUND" | "SIDECAR_OUTBOUND" | "GATEWAY"
    ) {
        return Err(skip(
            format!("{at}.match.context"),
            format!("unknown context {context:?}"),
        ));
    }
    match apply_to {
        "HTTP_FILTER" => {
            if !matches!(
                op,
                "INSERT_BEFORE" | "INSERT_AFTER" | "INSERT_FIRST" | "ADD"
            ) {
                return Err(skip(
                    format!("{at}.patch.operation"),
                    format!("{op:?} on an HTTP_FILTER is not supported (INSERT_BEFORE, INSERT_AFTER, INSERT_FIRST or ADD of {LOCAL_RATELIMIT})"),
                ));
            }
            let name = value.get("name").and_then(Value::as_str).unwrap_or("");
            if name != LOCAL_RATELIMIT {
                return Err(skip(
                    format!("{at}.patch.value.name"),
                    format!("filter {name:?} is not supported (only {LOCAL_RATELIMIT})"),
                ));
            }
            for key in value.keys() {
                if !matches!(key.as_str(), "name" | "typed_config" | "typedConfig") {
                    return Err(skip(
                        format!("{at}.patch.value.{key}"),
                        "not supported",
                    ));
                }
            }
            let typed = value
                .get("typed_config")
                .or_else(|| value.get("typedConfig"))
                .ok_or_else(|| skip(format!("{at}.patch.value.typed_config"), "missing"))?;
            let config = unwrap_typed(typed, &format!("{at}.patch.value.typed_config"))?;
            Ok(Some(((Scope::Listener, Vec::new()), config)))
        }
        "HTTP_ROUTE" => {
            if op != "MERGE" {
                return Err(skip(
                    format!("{at}.patch.operation"),
                    format!("{op:?} on an HTTP_ROUTE is not supported (only MERGE)"),
                ));
            }
            let route_match = patch.pointer("/match/routeConfiguration");
            let mut name = None;
            if let Some(rc) = route_match.and_then(Value::as_object) {
                for (key, v) in rc {
                    match key.as_str() {
                        "vhost" => {
                            for (vk, vv) in v.as_object().into_iter().flatten() {
                                match vk.as_str() {
                                    "route" => {
                                        for (rk, rv) in vv.as_object().into_iter().flatten() {
                                            match (rk.as_str(), rv.as_str()) {
                                                ("action", Some("ANY")) => {}
                                                ("name", Some(n)) => name = Some(n.to_string()),
                                                _ => return Err(skip(format!("{at}.match.routeConfiguration.vhost.route.{rk}"), "not supported (route.name and action: ANY)")),
                                            }
                                        }
                                    }
                                    _ => {
                                        return Err(skip(
                                            format!("{at}.match.routeConfiguration.vhost.{vk}"),
                                            "not supported: Weir has no Envoy virtual hosts to select (only vhost.route.name)",
                                        ))
                                    }
                                }
                            }
                        }
                        _ => {
                            return Err(skip(
                                format!("{at}.match.routeConfiguration.{key}"),
                                "not supported (only vhost.route.name)",
                            ))
                        }
                    }
                }
            }
            let mut rate_limits = Vec::new();
            let mut config = None;
            for (key, v) in value {
                match key.as_str() {
                    "typed_per_filter_config" | "typedPerFilterConfig" => {
                        for (filter, typed) in v.as_object().into_iter().flatten() {
                            let field = format!("{at}.patch.value.{key}.{filter}");
                            if filter != LOCAL_RATELIMIT {
                                return Err(skip(field, "not supported (only local_ratelimit)"));
                            }
                            config = Some(unwrap_typed(typed, &field)?);
                        }
                    }
                    "route" => {
                        for (rk, rv) in v.as_object().into_iter().flatten() {
                            let field = format!("{at}.patch.value.route.{rk}");
                            if rk != "rate_limits" && rk != "rateLimits" {
                                return Err(skip(field, "not supported (only rate_limits)"));
                            }
                            for (n, rl) in rv.as_array().into_iter().flatten().enumerate() {
                                rate_limits.push(read_actions(rl, &format!("{field}[{n}]"))?);
                            }
                        }
                    }
                    _ => {
                        return Err(skip(
                            format!("{at}.patch.value.{key}"),
                            "not supported (typed_per_filter_config and route.rate_limits)",
                        ))
                    }
                }
            }
            match config {
                Some(c) => Ok(Some(((Scope::Route(name), rate_limits), c))),
                None if rate_limits.is_empty() => Ok(None),
                None => Err(skip(
                    format!("{at}.patch.value.typed_per_filter_config"),
                    "rate_limits without a local_ratelimit config in the same patch",
                )),
            }
        }
        other => Err(skip(
            format!("{at}.applyTo"),
            format!("{other:?} patches are not supported (HTTP_FILTER and HTTP_ROUTE for {LOCAL_RATELIMIT})"),
        )),
    }
}

/// A `TypedStruct` (udpa or xds) of the LocalRateLimit type, or the type itself.
fn unwrap_typed<'v>(typed: &'v Value, at: &str) -> Result<Typed<'v>, Skip> {
    let t = typed.get("@type").and_then(Value::as_str).unwrap_or("");
    match t {
        "type.googleapis.com/udpa.type.v1.TypedStruct"
        | "type.googleapis.com/xds.type.v3.TypedStruct" => {
            let url = typed.get("type_url").and_then(Value::as_str).unwrap_or("");
            if url != LOCAL_RATELIMIT_TYPE {
                return Err(skip(
                    format!("{at}.type_url"),
                    format!("{url:?} is not {LOCAL_RATELIMIT_TYPE}"),
                ));
            }
            typed
                .get("value")
                .and_then(Value::as_object)
                .map(|m| (m, format!("{at}.value")))
                .ok_or_else(|| skip(format!("{at}.value"), "missing"))
        }
        LOCAL_RATELIMIT_TYPE => typed
            .as_object()
            .map(|m| (m, at.to_string()))
            .ok_or_else(|| skip(at.to_string(), "not an object")),
        other => Err(skip(
            format!("{at}.@type"),
            format!("{other:?} is not a local_ratelimit config"),
        )),
    }
}

fn read_actions(rate_limit: &Value, at: &str) -> Result<Vec<DescriptorAction>, Skip> {
    let mut out = Vec::new();
    for (key, _) in rate_limit.as_object().into_iter().flatten() {
        if key != "actions" {
            return Err(skip(format!("{at}.{key}"), "not supported (only actions)"));
        }
    }
    let actions = rate_limit.get("actions").and_then(Value::as_array);
    for (i, a) in actions.into_iter().flatten().enumerate() {
        let field = format!("{at}.actions[{i}]");
        if let Some(h) = a.get("request_headers") {
            let header = h.get("header_name").and_then(Value::as_str);
            let key = h.get("descriptor_key").and_then(Value::as_str);
            match (header, key) {
                (Some(header), Some(key)) => out.push(DescriptorAction::RequestHeader {
                    header: header.to_ascii_lowercase(),
                    key: key.to_string(),
                    skip_if_absent: h
                        .get("skip_if_absent")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                }),
                _ => {
                    return Err(skip(
                        format!("{field}.request_headers"),
                        "header_name and descriptor_key are required",
                    ))
                }
            }
        } else if let Some(g) = a.get("generic_key") {
            let value = g.get("descriptor_value").and_then(Value::as_str);
            let Some(value) = value else {
                return Err(skip(
                    format!("{field}.generic_key.descriptor_value"),
                    "required",
                ));
            };
            let key = g
                .get("descriptor_key")
                .and_then(Value::as_str)
                .unwrap_or("generic_key");
            out.push(DescriptorAction::GenericKey {
                key: key.to_string(),
                value: value.to_string(),
            });
        } else {
            let kind = a
                .as_object()
                .and_then(|o| o.keys().next().cloned())
                .unwrap_or_default();
            return Err(skip(
                format!("{field}.{kind}"),
                "not supported (request_headers and generic_key)",
            ));
        }
    }
    Ok(out)
}

fn read_bucket(v: &Value, at: &str) -> Result<BucketSpec, Skip> {
    let obj = v.as_object().ok_or_else(|| skip(at, "not an object"))?;
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "max_tokens" | "tokens_per_fill" | "fill_interval"
        ) {
            return Err(skip(format!("{at}.{key}"), "not supported"));
        }
    }
    let int = |k: &str| -> Result<Option<u32>, Skip> {
        match obj.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| skip(format!("{at}.{k}"), "not an unsigned 32-bit integer")),
        }
    };
    let max_tokens =
        int("max_tokens")?.ok_or_else(|| skip(format!("{at}.max_tokens"), "required"))?;
    if max_tokens == 0 {
        return Err(skip(format!("{at}.max_tokens"), "must be at least 1"));
    }
    let tokens_per_fill = int("tokens_per_fill")?.unwrap_or(1);
    let fill = obj
        .get("fill_interval")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            skip(
                format!("{at}.fill_interval"),
                "required (a duration such as \"60s\")",
            )
        })?;
    let fill_interval = parse_duration(fill).ok_or_else(|| {
        skip(
            format!("{at}.fill_interval"),
            format!("{fill:?} is not a duration"),
        )
    })?;
    if fill_interval < Duration::from_millis(50) {
        return Err(skip(
            format!("{at}.fill_interval"),
            "must be at least 50ms (Envoy's minimum)",
        ));
    }
    Ok(BucketSpec {
        max_tokens,
        tokens_per_fill,
        fill_interval,
    })
}

/// A protobuf JSON duration: `"60s"`, `"0.5s"`; `ms`, `m`, `h` too.
fn parse_duration(s: &str) -> Option<Duration> {
    let (num, unit) = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|i| s.split_at(i))?;
    let n: f64 = num.parse().ok()?;
    let secs = match unit {
        "s" => n,
        "ms" => n / 1000.0,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return None,
    };
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs))
}

/// A `RuntimeFractionalPercent` / `FractionalPercent` as per million.
fn read_percent(v: &Value, at: &str) -> Result<u32, Skip> {
    let dv = v.get("default_value").unwrap_or(v);
    let numerator = dv.get("numerator").and_then(Value::as_u64).unwrap_or(0);
    let scale = match dv
        .get("denominator")
        .and_then(Value::as_str)
        .unwrap_or("HUNDRED")
    {
        "HUNDRED" => 10_000,
        "TEN_THOUSAND" => 100,
        "MILLION" => 1,
        other => {
            return Err(skip(
                format!("{at}.default_value.denominator"),
                format!("unknown {other:?}"),
            ))
        }
    };
    Ok((numerator.saturating_mul(scale)).min(1_000_000) as u32)
}

fn read_config(config: &Map<String, Value>, at: &str) -> Result<LocalRateLimit, Skip> {
    let mut c = LocalRateLimit {
        resource: ResourceRef {
            kind: String::new(),
            namespace: String::new(),
            name: String::new(),
        },
        patch: 0,
        scope: Scope::Listener,
        workload_labels: StringMap::default(),
        bucket: None,
        descriptors: Vec::new(),
        rate_limits: Vec::new(),
        enabled_per_million: 0,
        enforced_per_million: 0,
        response_headers: Vec::new(),
        status: 429,
        always_consume_default: true,
    };
    for (key, v) in config {
        let field = format!("{at}.{key}");
        match key.as_str() {
            "stat_prefix" | "@type" => {}
            "token_bucket" => c.bucket = Some(read_bucket(v, &field)?),
            "filter_enabled" => c.enabled_per_million = read_percent(v, &field)?,
            "filter_enforced" => c.enforced_per_million = read_percent(v, &field)?,
            "always_consume_default_token_bucket" => {
                c.always_consume_default =
                    v.as_bool().ok_or_else(|| skip(field, "not a boolean"))?
            }
            "status" => {
                c.status = match v.get("code") {
                    Some(Value::Number(n)) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
                    Some(Value::String(s)) if s == "TooManyRequests" => Some(429),
                    Some(Value::String(s)) if s == "ServiceUnavailable" => Some(503),
                    _ => None,
                }
                .filter(|s| (400..=599).contains(s))
                .ok_or_else(|| skip(format!("{field}.code"), "a 4xx or 5xx code is required"))?;
            }
            "response_headers_to_add" => {
                for (i, h) in v.as_array().into_iter().flatten().enumerate() {
                    let hf = format!("{field}[{i}]");
                    let name = h.pointer("/header/key").and_then(Value::as_str);
                    let value = h.pointer("/header/value").and_then(Value::as_str);
                    match (name, value) {
                        (Some(n), Some(v)) => c
                            .response_headers
                            .push((n.to_ascii_lowercase(), v.to_string())),
                        _ => {
                            return Err(skip(format!("{hf}.header"), "key and value are required"))
                        }
                    }
                    for k in h.as_object().into_iter().flatten().map(|(k, _)| k) {
                        if !matches!(k.as_str(), "header" | "append" | "append_action") {
                            return Err(skip(format!("{hf}.{k}"), "not supported"));
                        }
                    }
                }
            }
            "descriptors" => {
                for (i, d) in v.as_array().into_iter().flatten().enumerate() {
                    let df = format!("{field}[{i}]");
                    let mut entries = Vec::new();
                    for (j, e) in d
                        .get("entries")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        match (
                            e.get("key").and_then(Value::as_str),
                            e.get("value").and_then(Value::as_str),
                        ) {
                            (Some(k), Some(v)) => entries.push((k.to_string(), v.to_string())),
                            _ => return Err(skip(
                                format!("{df}.entries[{j}]"),
                                "key and value are required (a value-less entry is not supported)",
                            )),
                        }
                    }
                    if entries.is_empty() {
                        return Err(skip(format!("{df}.entries"), "required"));
                    }
                    let bucket = d
                        .get("token_bucket")
                        .ok_or_else(|| skip(format!("{df}.token_bucket"), "required"))
                        .and_then(|b| read_bucket(b, &format!("{df}.token_bucket")))?;
                    c.descriptors.push(DescriptorSpec { entries, bucket });
                }
            }
            _ => return Err(skip(field, "not supported by Weir's local rate limit")),
        }
    }
    if !c.descriptors.is_empty() && c.bucket.is_none() {
        return Err(skip(
            format!("{at}.token_bucket"),
            "required with descriptors (Envoy's rule)",
        ));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use crate::config::Loaded;

    /// Istio's rate-limit task, the local variant (both steps).
    const ISTIO_TASK: &str = include_str!("../../../tests/data/local-ratelimit.yaml");

    use super::*;

    #[test]
    fn istios_rate_limit_task_is_read_whole() {
        let l = Loaded::from_source("t.yaml", ISTIO_TASK);
        assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
        let all = &l.config.local_rate_limits.configs;
        assert_eq!(all.len(), 2);
        let listener = &all[0];
        assert_eq!(listener.scope, Scope::Listener);
        assert_eq!(
            listener.bucket,
            Some(BucketSpec {
                max_tokens: 4,
                tokens_per_fill: 4,
                fill_interval: Duration::from_secs(60)
            })
        );
        assert_eq!(listener.enabled_per_million, 1_000_000);
        assert_eq!(listener.enforced_per_million, 1_000_000);
        assert_eq!(
            listener.response_headers,
            [("x-local-rate-limit".to_string(), "true".to_string())]
        );
        let route = &all[1];
        assert_eq!(route.scope, Scope::Route(None));
        assert_eq!(route.descriptors.len(), 1);
        assert_eq!(route.descriptors[0].bucket.max_tokens, 1);
        assert_eq!(
            route.rate_limits,
            [vec![DescriptorAction::RequestHeader {
                header: ":path".into(),
                key: "path".into(),
                skip_if_absent: false
            }]]
        );
        let root = "istio-system";
        let mine = l
            .config
            .local_rate_limits
            .for_workload("shop", &[("app", "productpage")], root);
        assert_eq!(mine.len(), 2);
        assert!(l
            .config
            .local_rate_limits
            .for_workload("shop", &[("app", "reviews")], root)
            .is_empty());
    }

    #[test]
    fn unsupported_patches_are_reported_and_skipped_whole() {
        let head = "apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: f, namespace: ns}\nspec:\n  configPatches:\n";
        let limit = r#"{name: envoy.filters.http.local_ratelimit, typed_config: {"@type": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit, stat_prefix: x, token_bucket: {max_tokens: 2, fill_interval: 1s}}}"#;
        // (patches, field reported, configs kept)
        let rows = [
            (
                "  - {applyTo: CLUSTER, patch: {operation: MERGE, value: {}}}\n".to_string(),
                "spec.configPatches[0].applyTo",
                0,
            ),
            (
                "  - {applyTo: HTTP_FILTER, patch: {operation: INSERT_BEFORE, value: {name: envoy.filters.http.lua}}}\n".to_string(),
                "spec.configPatches[0].patch.value.name",
                0,
            ),
            (
                format!("  - {{applyTo: HTTP_FILTER, patch: {{operation: REMOVE, value: {limit}}}}}\n"),
                "spec.configPatches[0].patch.operation",
                0,
            ),
            (
                "  - {applyTo: HTTP_FILTER, patch: {operation: INSERT_BEFORE, value: {name: envoy.filters.http.local_ratelimit, typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit, token_bucket: {max_tokens: 2, fill_interval: 10ms}}}}}\n".to_string(),
                "spec.configPatches[0].patch.value.typed_config.token_bucket.fill_interval",
                0,
            ),
            (
                "  - {applyTo: HTTP_FILTER, patch: {operation: INSERT_BEFORE, value: {name: envoy.filters.http.local_ratelimit, typed_config: {\"@type\": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit, local_rate_limit_per_downstream_connection: true}}}}\n".to_string(),
                "spec.configPatches[0].patch.value.typed_config.local_rate_limit_per_downstream_connection",
                0,
            ),
            // A bad patch does not take the good one with it.
            (
                format!("  - {{applyTo: LISTENER, patch: {{operation: ADD, value: {{}}}}}}\n  - {{applyTo: HTTP_FILTER, patch: {{operation: INSERT_BEFORE, value: {limit}}}}}\n"),
                "spec.configPatches[0].applyTo",
                1,
            ),
            (
                "  - {applyTo: HTTP_ROUTE, match: {routeConfiguration: {vhost: {name: 'inbound|http|9080'}}}, patch: {operation: MERGE, value: {typed_per_filter_config: {envoy.filters.http.local_ratelimit: {\"@type\": type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit}}}}}\n".to_string(),
                "spec.configPatches[0].match.routeConfiguration.vhost.name",
                0,
            ),
        ];
        for (patches, field, kept) in rows {
            let l = Loaded::from_source("t.yaml", &format!("{head}{patches}"));
            let d = l
                .diagnostics
                .iter()
                .find(|d| d.field == field)
                .unwrap_or_else(|| panic!("{patches}: no {field}: {:?}", l.diagnostics));
            assert!(!d.is_error(), "{d}");
            assert!(d.message.ends_with("patch skipped"), "{d}");
            assert_eq!(l.config.local_rate_limits.configs.len(), kept, "{patches}");
        }
    }
}
