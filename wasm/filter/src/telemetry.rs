//! What operators watch, from inside Envoy: Istio's standard metrics as
//! proxy-wasm metrics, Weir's route and destination for Envoy's access log,
//! and `x-request-id` when a request has none.
//!
//! **Metrics.** Envoy keeps a proxy-wasm metric under its name (prefixed by
//! the `wasmcustom` namespace, which `/stats/prometheus` drops). Istio's old
//! wasm stats plugin carried the labels inside that name,
//! `reporter=.=source;.;…;.;istio_requests_total`, and its bootstrap's
//! `stats_tags` regexes cut each `NAME=.=VALUE;.;` out of the name into a tag
//! (istio/proxy `extensions/stats`, istio `tools/packaging/common/envoy_bootstrap.json`).
//! Weir names its metrics the same way, so [`STATS_TAGS`] in the bootstrap
//! (examples/envoy) turns them into `istio_requests_total{reporter="source",…}`.
//!
//! Each VM defines a series' metrics once, when the series first shows up,
//! and keeps their ids ([`SeriesIds`]): a request then costs four host calls
//! (one counter, three histograms) and no string work.
//!
//! **Access log.** proxy-wasm cannot write dynamic metadata in Envoy 1.40
//! (`set_property` writes filter state). The filter sets the route and
//! destination as request headers ([`TelemetryConfig::route_header`]), and
//! Envoy's `header_to_metadata` filter after it moves them into dynamic
//! metadata `weir` (and off the request), so Envoy's own access log prints
//! `%DYNAMIC_METADATA(weir:route)%` and `%DYNAMIC_METADATA(weir:destination)%`.

use serde::Deserialize;
use weir_core::compile::Cluster;
use weir_core::telemetry::{DestinationLabels, Protocol, ResponseFlags};

/// The plugin configuration's `telemetry` object.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Record Istio's standard metrics (four host calls per request and
    /// five property reads in `on_log`).
    #[serde(default)]
    pub metrics: bool,
    /// `reporter`: `source` (a sidecar's outbound side, a gateway) or
    /// `destination`.
    #[serde(default = "default_reporter")]
    pub reporter: String,
    /// `source_workload` (the proxy's workload name). Namespace, app and
    /// version come from `source_namespace` and `source_labels`.
    #[serde(default = "unknown")]
    pub workload: String,
    /// Set `x-request-id` (a UUID v4 from the decision's entropy) on a
    /// request that has none. Envoy's connection manager generates one
    /// first unless `generate_request_id: false`.
    #[serde(default = "yes")]
    pub request_id: bool,
    /// Request header the filter writes the matched route into
    /// (`namespace/virtual-service/index[/name]`), for `header_to_metadata`.
    #[serde(default)]
    pub route_header: Option<String>,
    /// Request header the filter writes the chosen cluster into.
    #[serde(default)]
    pub destination_header: Option<String>,
}

fn default_reporter() -> String {
    "source".into()
}
fn unknown() -> String {
    weir_core::telemetry::labels::UNKNOWN.into()
}
fn yes() -> bool {
    true
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            metrics: false,
            reporter: default_reporter(),
            workload: unknown(),
            request_id: true,
            route_header: None,
            destination_header: None,
        }
    }
}

impl TelemetryConfig {
    /// Why the object cannot be used, naming the field.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if !matches!(self.reporter.as_str(), "source" | "destination") {
            return Err((
                "telemetry.reporter",
                format!(
                    "{:?} is neither \"source\" nor \"destination\"",
                    self.reporter
                ),
            ));
        }
        for (field, h) in [
            ("telemetry.route_header", &self.route_header),
            ("telemetry.destination_header", &self.destination_header),
        ] {
            if let Some(h) = h {
                let ok = !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
                if !ok {
                    return Err((field, format!("{h:?} is not a lower-case header name")));
                }
            }
        }
        Ok(())
    }
}

/// The separator between one label and the next in a metric's name.
pub const FIELD_SEPARATOR: &str = ";.;";
/// The separator between a label's name and its value.
pub const VALUE_SEPARATOR: &str = "=.=";

/// The labels of Istio's HTTP metrics, in the order they are written.
pub const LABELS: [&str; 16] = [
    "reporter",
    "source_workload",
    "source_workload_namespace",
    "source_app",
    "source_version",
    "destination_service",
    "destination_service_name",
    "destination_service_namespace",
    "destination_workload",
    "destination_workload_namespace",
    "destination_app",
    "destination_version",
    "request_protocol",
    "response_code",
    "response_flags",
    "grpc_response_status",
];

/// The `stats_tags` Envoy's bootstrap needs (`stats_config.stats_tags`):
/// one `(tag_name, regex)` per label. The first group is cut out of the
/// name, the second is the value (Envoy's `TagSpecifier`). examples/envoy's
/// render.py and the tests' bootstrap write exactly these.
pub fn stats_tags() -> Vec<(&'static str, String)> {
    LABELS
        .iter()
        .map(|&name| (name, format!(r"({name}=\.=(.*?);\.;)")))
        .collect()
}

/// Istio's HTTP metric families, each with its proxy-wasm type.
pub const REQUESTS_TOTAL: &str = "istio_requests_total";
/// `istio_request_duration_milliseconds` (histogram).
pub const REQUEST_DURATION: &str = "istio_request_duration_milliseconds";
/// `istio_request_bytes` (histogram).
pub const REQUEST_BYTES: &str = "istio_request_bytes";
/// `istio_response_bytes` (histogram).
pub const RESPONSE_BYTES: &str = "istio_response_bytes";

/// Writes a label value with the two separators made harmless: `;` and `=`
/// (which no Kubernetes name or Istio label value holds) become `_`.
fn push_value(out: &mut String, value: &str) {
    if value.is_empty() {
        // Envoy's tag regex wants something between the separators to read.
        out.push('-');
        return;
    }
    out.extend(value.chars().map(|c| match c {
        ';' | '=' => '_',
        c => c,
    }));
}

/// The proxy-wasm name of `metric` with these label values (in [`LABELS`]
/// order): `reporter=.=source;.;…;.;istio_requests_total`.
pub fn stat_name(metric: &str, values: &[&str; 16]) -> String {
    let mut out = String::with_capacity(512);
    for (name, value) in LABELS.iter().zip(values) {
        out.push_str(name);
        out.push_str(VALUE_SEPARATOR);
        push_value(&mut out, value);
        out.push_str(FIELD_SEPARATOR);
    }
    out.push_str(metric);
    out
}

/// The proxy's own labels (`reporter`, `source_*`), fixed per plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLabels {
    pub reporter: String,
    pub workload: String,
    pub namespace: String,
    pub app: String,
    pub version: String,
}

impl SourceLabels {
    /// From the telemetry object and the workload's namespace and labels.
    pub fn new(t: &TelemetryConfig, namespace: &str, labels: &[(String, String)]) -> SourceLabels {
        let label = |key: &str| {
            labels
                .iter()
                .find(|(k, _)| k == key)
                .map_or_else(unknown, |(_, v)| v.clone())
        };
        SourceLabels {
            reporter: t.reporter.clone(),
            workload: t.workload.clone(),
            namespace: if namespace.is_empty() {
                unknown()
            } else {
                namespace.to_string()
            },
            app: label("app"),
            version: label("version"),
        }
    }
}

/// What one series is, apart from the proxy's own labels: the cache key of
/// its metric ids in a VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    /// The cluster's address in the table the VM holds (0: no destination).
    /// Stable for the table's life, and the cache lives no longer.
    pub cluster: usize,
    pub protocol: Protocol,
    pub response_code: u16,
    pub flags: ResponseFlags,
    pub grpc_status: Option<u8>,
}

/// The label values of a series (the [`LABELS`] order).
pub fn series_values(
    source: &SourceLabels,
    dest: &DestinationLabels,
    key: &SeriesKey,
    scratch: &mut [String; 3],
) -> [String; 16] {
    let [code, flags, grpc] = scratch;
    code.clear();
    code.push_str(&key.response_code.to_string());
    flags.clear();
    let _ = key.flags.write_to(flags);
    grpc.clear();
    if let Some(g) = key.grpc_status {
        grpc.push_str(&g.to_string());
    }
    [
        source.reporter.clone(),
        source.workload.clone(),
        source.namespace.clone(),
        source.app.clone(),
        source.version.clone(),
        dest.service.to_string(),
        dest.service_name.to_string(),
        dest.service_namespace.to_string(),
        dest.workload.to_string(),
        dest.service_namespace.to_string(),
        dest.app.to_string(),
        dest.version.to_string(),
        key.protocol.as_str().to_string(),
        code.clone(),
        flags.clone(),
        grpc.clone(),
    ]
}

/// The destination labels of a cluster, `unknown` for none.
pub fn destination_labels(cluster: Option<&Cluster>) -> DestinationLabels {
    cluster.map_or_else(DestinationLabels::unknown, DestinationLabels::of_cluster)
}

/// Envoy's response flags (the `response.flags` property, the legacy bit
/// set of `StreamInfo::CoreResponseFlag`, envoy/stream_info/stream_info.h)
/// as Weir's: the ones Weir names; the others are dropped.
pub fn flags_of_envoy(bits: u64) -> ResponseFlags {
    const MAP: [(u64, ResponseFlags); 11] = [
        (0x2, ResponseFlags::NO_HEALTHY_UPSTREAM),
        (0x4, ResponseFlags::UPSTREAM_REQUEST_TIMEOUT),
        (0x20, ResponseFlags::UPSTREAM_CONNECTION_FAILURE),
        (0x80, ResponseFlags::UPSTREAM_OVERFLOW),
        (0x100, ResponseFlags::NO_ROUTE),
        (0x200, ResponseFlags::DELAY_INJECTED),
        (0x400, ResponseFlags::FAULT_INJECTED),
        (0x800, ResponseFlags::RATE_LIMITED),
        (0x4000, ResponseFlags::DOWNSTREAM_CONNECTION_TERMINATION),
        (0x8000, ResponseFlags::UPSTREAM_RETRY_LIMIT_EXCEEDED),
        (0x100_0000, ResponseFlags::NO_CLUSTER_FOUND),
    ];
    MAP.iter()
        .filter(|(bit, _)| bits & bit != 0)
        .fold(ResponseFlags(0), |acc, (_, f)| acc.union(*f))
}

/// An integer property as Envoy serializes it (8 bytes, little-endian:
/// `int64`, `uint64`, and a duration in nanoseconds).
pub fn property_u64(raw: Option<&[u8]>) -> Option<u64> {
    let b: [u8; 8] = raw?.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

/// Weir's name for a route: `namespace/virtual-service/index[/name]`, as
/// the Go proxy's access log writes it.
pub fn route_name(rule: &weir_core::compile::Rule) -> String {
    let mut s = format!("{}/{}", rule.namespace, rule.virtual_service);
    match rule.index {
        Some(i) => s.push_str(&format!("/{i}")),
        None => s.push_str("/default"),
    }
    if let Some(n) = &rule.name {
        s.push('/');
        s.push_str(n);
    }
    s
}

/// The ids of one series' four metrics in a VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeriesIds {
    pub requests: u32,
    pub duration: u32,
    pub request_bytes: u32,
    pub response_bytes: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_every_label_for_the_stats_tags() {
        let mut values = [""; 16];
        values[0] = "source";
        values[11] = "v1";
        values[13] = "200";
        values[5] = "reviews.default.svc.cluster.local";
        values[6] = "a;b=c";
        let name = stat_name(REQUESTS_TOTAL, &values);
        assert!(name.starts_with("reporter=.=source;.;source_workload=.=-;.;"));
        assert!(name.ends_with(";.;istio_requests_total"));
        assert!(name.contains(";.;destination_service=.=reviews.default.svc.cluster.local;.;"));
        assert!(
            name.contains(";.;destination_service_name=.=a_b_c;.;"),
            "{name}"
        );
        assert!(name.contains(";.;destination_version=.=v1;.;"));
        // Each label appears exactly once, so each regex cuts one group.
        for label in LABELS {
            let needle = format!("{label}{VALUE_SEPARATOR}");
            let starts = name
                .match_indices(&needle)
                .filter(|(i, _)| *i == 0 || name[..*i].ends_with(FIELD_SEPARATOR))
                .count();
            assert_eq!(starts, 1, "{label} in {name}");
        }
        let tags = stats_tags();
        assert_eq!(tags.len(), 16);
        assert_eq!(tags[11].0, "destination_version");
        assert_eq!(tags[11].1, r"(destination_version=\.=(.*?);\.;)");
    }

    #[test]
    fn envoy_flags_map_to_weirs() {
        let rows = [
            (0u64, "-"),
            (0x100, "NR"),
            (0x2, "UH"),
            (0x600, "DI,FI"),
            (0x20 | 0x8000, "UF,URX"),
            (0x1000_0000 | 0x1, "-"), // flags Weir does not name
        ];
        for (bits, want) in rows {
            let mut s = String::new();
            flags_of_envoy(bits).write_to(&mut s).unwrap();
            assert_eq!(s, want, "{bits:#x}");
        }
    }

    #[test]
    fn integer_properties_decode_little_endian() {
        assert_eq!(property_u64(Some(&200u64.to_le_bytes())), Some(200));
        assert_eq!(property_u64(Some(&[1, 2, 3])), None);
        assert_eq!(property_u64(None), None);
    }

    #[test]
    fn telemetry_fields_are_checked() {
        let ok = TelemetryConfig::default();
        assert_eq!(ok.check(), Ok(()));
        let bad = TelemetryConfig {
            reporter: "client".into(),
            ..TelemetryConfig::default()
        };
        assert_eq!(bad.check().unwrap_err().0, "telemetry.reporter");
        let bad = TelemetryConfig {
            route_header: Some("X-Weir Route".into()),
            ..TelemetryConfig::default()
        };
        assert_eq!(bad.check().unwrap_err().0, "telemetry.route_header");
    }
}
