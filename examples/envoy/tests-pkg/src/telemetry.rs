//! What the telemetry tests add to a bootstrap: the `stats_tags` that give
//! Weir's proxy-wasm metrics Istio's names and labels, Envoy's
//! `header_to_metadata` filter that moves Weir's route and destination into
//! dynamic metadata, and an access log that prints them; plus a reader of
//! `/stats/prometheus`.

use crate::harness::try_get;
use std::collections::BTreeMap;
use std::path::Path;

/// The labels Weir writes into its metric names (wasm/filter/src/telemetry.rs).
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

/// `stats_config` with one tag regex per label, as YAML at the bootstrap's
/// top level. The first group is cut out of the stat name, the second is
/// the tag's value.
pub fn stats_config_yaml() -> String {
    let mut out = String::from("stats_config:\n  stats_tags:\n");
    for name in LABELS {
        // Single-quoted YAML: backslashes are literal.
        out.push_str(&format!(
            "  - {{tag_name: {name}, regex: '({name}=\\.=(.*?);\\.;)'}}\n"
        ));
    }
    out
}

/// The access log format: Envoy's default fields Weir's tests read, and
/// Weir's dynamic metadata.
pub const ACCESS_LOG_FORMAT: &str = "%RESPONSE_CODE% %RESPONSE_FLAGS% %REQ(X-REQUEST-ID)% \
route=%DYNAMIC_METADATA(weir:route)% destination=%DYNAMIC_METADATA(weir:destination)% \
upstream=%UPSTREAM_HOST%\n";

/// A bootstrap with Weir's filter configured by `plugin_json`, Envoy's
/// `header_to_metadata` after it (`x-weir-route` and `x-weir-destination`
/// into metadata `weir`, removed from the request), an access log written to
/// `access_log`, Istio's stats tags, and `clusters` (YAML list items). The
/// connection manager generates no request id, so Weir's shows.
pub fn telemetry_bootstrap(
    admin: u16,
    port: u16,
    plugin_json: &str,
    wasm: &Path,
    access_log: &Path,
    clusters: &str,
) -> String {
    let value = serde_json::to_string(plugin_json).unwrap_or_default();
    let format = serde_json::to_string(ACCESS_LOG_FORMAT).unwrap_or_default();
    format!(
        r#"{stats}stats_flush_interval: 0.5s
admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
static_resources:
  listeners:
  - name: main
    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: weir
          generate_request_id: false
          access_log:
          - name: envoy.access_loggers.file
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog
              path: "{log}"
              log_format: {{text_format_source: {{inline_string: {format}}}}}
          route_config:
            name: weir
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: "/", headers: [{{name: x-weir-cluster, present_match: true}}]}}
                route: {{cluster_header: x-weir-cluster, timeout: 0s}}
              - match: {{prefix: "/"}}
                direct_response: {{status: 500, body: {{inline_string: "weir: no decision\n"}}}}
          http_filters:
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: weir
                root_id: weir
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: {value}
                vm_config:
                  vm_id: weir
                  runtime: envoy.wasm.runtime.v8
                  code: {{local: {{filename: "{wasm}"}}}}
          - name: envoy.filters.http.header_to_metadata
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.header_to_metadata.v3.Config
              request_rules:
              - header: x-weir-route
                on_header_present: {{metadata_namespace: weir, key: route, type: STRING}}
                remove: true
              - header: x-weir-destination
                on_header_present: {{metadata_namespace: weir, key: destination, type: STRING}}
                remove: true
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:{clusters}
"#,
        stats = stats_config_yaml(),
        log = access_log.display(),
        wasm = wasm.display(),
    )
}

/// One sample of the Prometheus text: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses Prometheus text exposition lines (`name{a="x",…} value`),
/// unescaping label values; comments and blank lines are skipped.
///
/// # Errors
/// A line that does not parse, quoted.
pub fn parse_prometheus(text: &str) -> Result<Vec<Sample>, String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || format!("unparsable line {line:?}");
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => return Err(bad()),
        };
        let mut labels = BTreeMap::new();
        let mut rest = rest;
        if let Some(body) = rest.strip_prefix('{') {
            let (parsed, after) = parse_labels(body).ok_or_else(bad)?;
            labels = parsed;
            rest = after;
        }
        let value = rest.split_whitespace().next().ok_or_else(bad)?;
        let value = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().map_err(|_| bad())?,
        };
        out.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    Ok(out)
}

/// `a="x",b="y"}` → the labels and what follows the `}`.
fn parse_labels(body: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    let mut rest = body;
    loop {
        rest = rest.trim_start_matches(',');
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let (key, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.trim().to_string(), value);
        rest = &after[end + 1..];
    }
}

/// Envoy's `/stats/prometheus`, parsed.
pub fn prometheus(admin: u16) -> Vec<Sample> {
    let r = try_get(admin, "admin", "/stats/prometheus", &[]).expect("GET /stats/prometheus");
    assert_eq!(r.status, 200, "{}", r.body);
    let chunked = r
        .header("transfer-encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(&r.body).unwrap_or_else(|| panic!("bad chunked body:\n{}", r.body))
    } else {
        r.body
    };
    parse_prometheus(&body).unwrap_or_else(|e| panic!("{e}\n{body}"))
}

/// A `Transfer-Encoding: chunked` body without its framing (the harness's
/// client reads to the end of the connection and keeps the framing).
pub fn dechunk(raw: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = raw;
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(after.get(..size)?);
        rest = after.get(size..)?.strip_prefix("\r\n")?;
    }
}

/// The sum of `name`'s samples whose labels include every `(label, value)`.
pub fn sum(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            labels
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_samples_with_escaped_labels() {
        let text = "# TYPE x counter\nx{a=\"1\",b=\"q\\\"uo\\\\te\\n\"} 3\ny 4.5\nz_bucket{le=\"+Inf\"} 7\n";
        let s = parse_prometheus(text).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].labels["b"], "q\"uo\\te\n");
        assert_eq!(s[0].value, 3.0);
        assert_eq!(s[1].name, "y");
        assert_eq!(s[2].labels["le"], "+Inf");
        assert!(parse_prometheus("x{a=1} 2").is_err());
    }

    #[test]
    fn dechunks_bodies() {
        assert_eq!(
            dechunk("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n").as_deref(),
            Some("abcde")
        );
        assert_eq!(dechunk("5\r\nabc\r\n"), None);
    }
}
