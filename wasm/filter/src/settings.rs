//! The plugin configuration: what operators write in `envoy.yaml`, parsed and
//! compiled once per root context (build phase: may allocate and fail).
//!
//! The configuration is the `StringValue` of the wasm filter's
//! `configuration`, a JSON object. Every field is optional except `config`
//! (unless `noop` is set); unknown fields are rejected so a typo fails loudly
//! instead of silently changing behaviour.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use weir_core::Table;

/// How the chosen endpoint reaches Envoy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UpstreamMode {
    /// Clusters named like Istio's, with the `override_host` LB policy reading
    /// the endpoint header. Envoy keeps health checks, pools and stats; a stale
    /// endpoint degrades to the fallback policy.
    #[default]
    OverrideHost,
    /// `ORIGINAL_DST` clusters with `use_http_header`: Envoy connects to exactly
    /// the `ip:port` Weir names.
    OriginalDst,
}

/// Which Envoy filter the plugin is loaded as: it decides what each stream
/// context is (the SDK asks the root once per stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterKind {
    /// `envoy.filters.http.wasm`: one decision per HTTP request.
    #[default]
    Http,
    /// `envoy.filters.network.wasm` before `tcp_proxy`: one decision per
    /// connection (`tcp[]` and, with an SNI, `tls[]` rules), handed to
    /// `tcp_proxy` through the `envoy.tcp_proxy.cluster` filter state.
    Network,
}

/// The plugin configuration as written (JSON).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginConfig {
    /// The Istio resources (YAML or JSON text, multi-document YAML allowed).
    #[serde(default)]
    pub config: Option<String>,
    /// The Envoy filter this plugin is (`http` or `network`).
    #[serde(default)]
    pub filter: FilterKind,
    /// `None` decides as a sidecar (`mesh`); `"ns/name"` as that gateway.
    #[serde(default)]
    pub gateway: Option<String>,
    /// The listener (service) port requests arrive on; 0 takes the port from
    /// `:authority`.
    #[serde(default)]
    pub port: u16,
    /// The namespace of the workload this proxy serves (`sourceNamespace`).
    #[serde(default)]
    pub source_namespace: String,
    /// The labels of the workload this proxy serves (`sourceLabels`).
    #[serde(default)]
    pub source_labels: BTreeMap<String, String>,
    /// The request header Envoy's route reads with `cluster_header`.
    #[serde(default = "default_cluster_header")]
    pub cluster_header: String,
    /// How the endpoint is handed to Envoy.
    #[serde(default)]
    pub upstream: UpstreamMode,
    /// The header carrying the endpoint `ip:port`. Defaults to
    /// `x-weir-endpoint` (override_host) or `x-envoy-original-dst-host`
    /// (original_dst).
    #[serde(default)]
    pub endpoint_header: Option<String>,
    /// original_dst only: send every request to this one cluster instead of the
    /// Istio-named one.
    #[serde(default)]
    pub original_dst_cluster: Option<String>,
    /// Prepended to a mirror's Istio cluster name to name the Envoy cluster the
    /// shadow is dispatched to.
    #[serde(default)]
    pub mirror_cluster_prefix: String,
    /// Timeout of a shadow request when the route sets none.
    #[serde(default = "default_mirror_timeout_ms")]
    pub mirror_timeout_ms: u64,
    /// Delays: a cluster that never answers in time; a delay becomes a
    /// `dispatch_http_call` with `timeout = delay`. `None`: the root tick.
    #[serde(default)]
    pub delay_cluster: Option<String>,
    /// Tick period while delayed requests wait (tick delays only).
    #[serde(default = "default_tick_ms")]
    pub tick_ms: u64,
    /// The header naming the outcome on Weir's local replies; `""` disables.
    #[serde(default = "default_outcome_header")]
    pub outcome_header: String,
    /// Do nothing at all (a baseline for measuring the cost of a wasm filter).
    #[serde(default)]
    pub noop: bool,
    /// The Envoy route Weir's requests take (the `cluster_header` route)
    /// already carries Istio's default retry policy, as examples/envoy's
    /// envoy.yaml does: Weir then sends the `x-envoy-retry-*` headers only for
    /// rules whose `retries` differ from the default (four host calls and
    /// header parses fewer per request; the route's policy also has the
    /// previous-hosts predicate, which no header can ask for).
    #[serde(default)]
    pub default_retries_on_route: bool,
    /// Endpoints replacing those `config` gives these hosts (FQDN), applied
    /// with `set_endpoints` (what `weir serve` sends for endpoint-only
    /// changes: with `config` unchanged, the routes are not compiled again).
    #[serde(default)]
    pub endpoints: crate::kept_engine::Endpoints,
    /// Metrics, access-log metadata and request ids (telemetry.rs).
    #[serde(default)]
    pub telemetry: crate::telemetry::TelemetryConfig,
}

fn default_cluster_header() -> String {
    "x-weir-cluster".into()
}
fn default_mirror_timeout_ms() -> u64 {
    5000
}
fn default_tick_ms() -> u64 {
    2
}
fn default_outcome_header() -> String {
    "x-weir-outcome".into()
}

/// Why the plugin configuration was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum SettingsError {
    /// Not valid JSON, or a field of the wrong type (path included).
    Json(String),
    /// A plugin field is unusable.
    Field {
        /// The plugin configuration field.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// The Istio resources were rejected; one line per error diagnostic
    /// (resource, field path, message).
    Istio(Vec<String>),
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsError::Json(e) => write!(f, "plugin configuration: {e}"),
            SettingsError::Field { field, message } => {
                write!(f, "plugin configuration field `{field}`: {message}")
            }
            SettingsError::Istio(errors) => {
                write!(
                    f,
                    "plugin configuration field `config` rejected with {} error(s)",
                    errors.len()
                )?;
                for e in errors {
                    write!(f, "\n  {e}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for SettingsError {}

/// Everything a request needs, built once: options resolved, table compiled.
#[derive(Debug)]
pub struct Settings {
    /// `None` in noop mode.
    pub table: Option<Arc<Table>>,
    pub filter: FilterKind,
    pub gateway: Option<String>,
    pub port: u16,
    pub source_namespace: String,
    pub source_labels: Vec<(String, String)>,
    pub cluster_header: String,
    pub endpoint_header: String,
    pub upstream: UpstreamMode,
    pub original_dst_cluster: Option<String>,
    pub mirror_cluster_prefix: String,
    pub mirror_timeout_ms: u64,
    pub delay_cluster: Option<String>,
    pub tick_ms: u64,
    pub outcome_header: String,
    pub noop: bool,
    pub default_retries_on_route: bool,
    /// A cluster hashes on the source IP or generates cookies: fetch the
    /// connection's addresses (two extra host calls, skipped otherwise).
    pub needs_addresses: bool,
    /// Warnings from validation, for the log.
    pub warnings: Vec<String>,
    /// Whether the routes were compiled or only endpoints updated (`None`
    /// in noop mode).
    pub applied: Option<crate::kept_engine::Applied>,
    /// Metrics, access-log metadata and request ids (telemetry.rs).
    pub telemetry: crate::telemetry::TelemetryConfig,
}

/// The headers that steer Envoy's upstream choice. Whatever a client sent
/// under these names is removed or overwritten on every request.
pub const ORIGINAL_DST_HEADER: &str = "x-envoy-original-dst-host";

impl Settings {
    /// Parses and compiles the plugin configuration.
    ///
    /// # Errors
    /// Bad JSON, an unusable field, or Istio resources with errors.
    pub fn from_json(raw: &[u8]) -> Result<Settings, SettingsError> {
        let de = &mut serde_json::Deserializer::from_slice(raw);
        let cfg: PluginConfig = serde_path_to_error_free(de)?;
        Settings::build(cfg)
    }

    /// Compiles a parsed configuration.
    ///
    /// # Errors
    /// As [`Settings::from_json`].
    pub fn build(cfg: PluginConfig) -> Result<Settings, SettingsError> {
        check_header("cluster_header", &cfg.cluster_header)?;
        let endpoint_header = cfg
            .endpoint_header
            .clone()
            .unwrap_or_else(|| match cfg.upstream {
                UpstreamMode::OverrideHost => "x-weir-endpoint".into(),
                UpstreamMode::OriginalDst => ORIGINAL_DST_HEADER.into(),
            });
        check_header("endpoint_header", &endpoint_header)?;
        if endpoint_header == cfg.cluster_header {
            return Err(SettingsError::Field {
                field: "endpoint_header",
                message: "must differ from cluster_header".into(),
            });
        }
        if !cfg.outcome_header.is_empty() {
            check_header("outcome_header", &cfg.outcome_header)?;
        }
        if let Some(g) = &cfg.gateway {
            let ok = g
                .split_once('/')
                .is_some_and(|(ns, n)| !ns.is_empty() && !n.is_empty() && !n.contains('/'));
            if !ok {
                return Err(SettingsError::Field {
                    field: "gateway",
                    message: format!("{g:?} is not \"namespace/name\""),
                });
            }
        }
        if cfg.filter == FilterKind::Network
            && cfg.upstream == UpstreamMode::OriginalDst
            && cfg.original_dst_cluster.is_none()
        {
            // A connection has no header to carry the endpoint: tcp_proxy
            // needs the one ORIGINAL_DST cluster to send it to.
            return Err(SettingsError::Field {
                field: "original_dst_cluster",
                message: "required for a network filter with upstream \"original_dst\"".into(),
            });
        }
        if cfg.tick_ms == 0 || cfg.tick_ms > 1000 {
            return Err(SettingsError::Field {
                field: "tick_ms",
                message: "must be 1..=1000".into(),
            });
        }
        cfg.telemetry
            .check()
            .map_err(|(field, message)| SettingsError::Field { field, message })?;
        let mut warnings = Vec::new();
        let mut applied = None;
        let table = if cfg.noop {
            None
        } else {
            let Some(text) = cfg.config.as_deref() else {
                return Err(SettingsError::Field {
                    field: "config",
                    message:
                        "missing: the Istio resources (YAML or JSON text) are required unless noop"
                            .into(),
                });
            };
            let (table, w, how) = crate::kept_engine::table_for(text, &cfg.endpoints)?;
            warnings.extend(w);
            applied = Some(how);
            Some(table)
        };
        let needs_addresses = table.as_deref().is_some_and(|t| {
            t.clusters().iter().any(|c| {
                matches!(
                    c.policy.hash,
                    Some(weir_core::balance::hash_policy::HashPolicy::SourceIp)
                        | Some(weir_core::balance::hash_policy::HashPolicy::Cookie {
                            ttl: Some(_),
                            ..
                        })
                )
            })
        });
        Ok(Settings {
            table,
            filter: cfg.filter,
            gateway: cfg.gateway,
            port: cfg.port,
            source_namespace: cfg.source_namespace,
            source_labels: cfg.source_labels.into_iter().collect(),
            cluster_header: cfg.cluster_header,
            endpoint_header,
            upstream: cfg.upstream,
            original_dst_cluster: cfg.original_dst_cluster,
            mirror_cluster_prefix: cfg.mirror_cluster_prefix,
            mirror_timeout_ms: cfg.mirror_timeout_ms,
            delay_cluster: cfg.delay_cluster,
            tick_ms: cfg.tick_ms,
            outcome_header: cfg.outcome_header,
            noop: cfg.noop,
            default_retries_on_route: cfg.default_retries_on_route,
            needs_addresses,
            warnings,
            applied,
            telemetry: cfg.telemetry,
        })
    }

    /// The workload's labels as a decision's `Source` takes them; empty (no
    /// allocation) in the usual case.
    pub fn source_label_pairs(&self) -> Vec<(&str, &str)> {
        self.source_labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    /// True for a header a client must never set: it steers the upstream.
    pub fn is_steering(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(&self.cluster_header)
            || name.eq_ignore_ascii_case(&self.endpoint_header)
            || name.eq_ignore_ascii_case(ORIGINAL_DST_HEADER)
    }
}

/// serde_json with the failing field path in the message (`a.b[2]`), without
/// another dependency: serde_json's own error already names line and column.
fn serde_path_to_error_free(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'_>>,
) -> Result<PluginConfig, SettingsError> {
    let cfg =
        PluginConfig::deserialize(&mut *de).map_err(|e| SettingsError::Json(e.to_string()))?;
    de.end().map_err(|e| SettingsError::Json(e.to_string()))?;
    Ok(cfg)
}

fn check_header(field: &'static str, name: &str) -> Result<(), SettingsError> {
    let ok = !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_' || b == b'.'
        });
    if ok {
        Ok(())
    } else {
        Err(SettingsError::Field {
            field,
            message: format!("{name:?} is not a lower-case header name"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VS: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r, namespace: default}
spec:
  hosts: [r]
  http:
  - route:
    - destination: {host: r}
"#;

    fn json(v: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap_or_default()
    }

    #[test]
    fn defaults() {
        let s = Settings::from_json(&json(serde_json::json!({ "config": VS }))).expect("valid");
        assert_eq!(s.cluster_header, "x-weir-cluster");
        assert_eq!(s.endpoint_header, "x-weir-endpoint");
        assert_eq!(s.upstream, UpstreamMode::OverrideHost);
        assert!(s.table.is_some());
        assert!(s.is_steering("X-Weir-Cluster"));
        assert!(s.is_steering("x-envoy-original-dst-host"));
        let s = Settings::from_json(&json(
            serde_json::json!({ "config": VS, "upstream": "original_dst" }),
        ))
        .expect("valid");
        assert_eq!(s.endpoint_header, ORIGINAL_DST_HEADER);
    }

    #[test]
    fn rejections_name_the_field() {
        let cases: &[(serde_json::Value, &str)] = &[
            (serde_json::json!({}), "`config`"),
            (
                serde_json::json!({"config": VS, "cluster_header": "X-Bad"}),
                "`cluster_header`",
            ),
            (
                serde_json::json!({"config": VS, "gateway": "nope"}),
                "`gateway`",
            ),
            (
                serde_json::json!({"config": VS, "typo": 1}),
                "unknown field `typo`",
            ),
            (
                serde_json::json!({"config": VS, "endpoint_header": "x-weir-cluster"}),
                "`endpoint_header`",
            ),
            (serde_json::json!({"config": VS, "tick_ms": 0}), "`tick_ms`"),
            (
                serde_json::json!({"config": VS, "filter": "network", "upstream": "original_dst"}),
                "`original_dst_cluster`",
            ),
            (
                serde_json::json!({"config": VS, "filter": "udp"}),
                "unknown variant `udp`",
            ),
        ];
        for (cfg, want) in cases {
            let err = Settings::from_json(&json(cfg.clone()))
                .expect_err("must fail")
                .to_string();
            assert!(err.contains(want), "{cfg}: {err}");
        }
    }

    #[test]
    fn istio_errors_name_resource_and_field() {
        let bad = VS.replace(
            "- destination: {host: r}",
            "- destination: {host: r}\n      weight: -5",
        );
        let err = Settings::from_json(&json(serde_json::json!({ "config": bad })))
            .expect_err("must fail");
        let text = err.to_string();
        assert!(
            text.contains("`config`") && text.contains("VirtualService"),
            "{text}"
        );
    }

    #[test]
    fn noop_needs_no_config() {
        let s = Settings::from_json(br#"{"noop": true}"#).expect("valid");
        assert!(s.noop && s.table.is_none());
    }
}
