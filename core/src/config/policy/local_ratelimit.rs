//! The configuration of Envoy's `envoy.filters.http.local_ratelimit`
//! (extensions/filters/http/local_ratelimit/v3), as an EnvoyFilter patch
//! carries it: the token buckets, descriptors and the route's
//! `rate_limits` actions that make them. Envoy's own checks are kept.

use super::envoy_filter::{skip, LocalRateLimit, Scope, Skip};
use crate::config::model::StringMap;
use crate::diagnostic::ResourceRef;
use serde_json::{Map, Value};
use std::time::Duration;

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

pub(super) fn read_actions(rate_limit: &Value, at: &str) -> Result<Vec<DescriptorAction>, Skip> {
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

pub(super) fn read_config(config: &Map<String, Value>, at: &str) -> Result<LocalRateLimit, Skip> {
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
