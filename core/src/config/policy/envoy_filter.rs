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

use super::local_ratelimit::{read_actions, read_config};
pub use super::local_ratelimit::{BucketSpec, DescriptorAction, DescriptorSpec};
use crate::config::model::StringMap;
use crate::diagnostic::{Diagnostic, ResourceRef, Severity};
use serde_json::{Map, Value};

/// Envoy's local_ratelimit filter name.
pub const LOCAL_RATELIMIT: &str = "envoy.filters.http.local_ratelimit";
const LOCAL_RATELIMIT_TYPE: &str =
    "type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit";

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
pub(super) struct Skip {
    pub(super) field: String,
    pub(super) message: String,
}

pub(super) fn skip(field: impl Into<String>, message: impl Into<String>) -> Skip {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Loaded;
    use std::time::Duration;

    /// Istio's rate-limit task, the local variant (both steps).
    const ISTIO_TASK: &str = include_str!("../../../tests/data/local-ratelimit.yaml");

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
