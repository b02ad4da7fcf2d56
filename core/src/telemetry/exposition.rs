//! The Prometheus text exposition format (version 0.0.4) of [`Metrics`]:
//! what `/stats/prometheus` and Istio's sidecars serve and Prometheus scrapes.

use super::labels::{DestinationLabels, Protocol, SeriesKey};
use super::metrics::{Histogram, HttpSeries, Metrics, TcpSeries, BUCKETS};
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// The content type to serve the text with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What every label of the overflow series reads, apart from the source's.
pub const OVERFLOW: &str = "overflow";

/// Writes `value` escaped as a label value: `\`, `"` and newline become
/// `\\`, `\"` and `\n` (the format's only escapes).
pub fn write_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn label(out: &mut String, name: &str, value: &str) {
    if !out.is_empty() {
        out.push(',');
    }
    out.push_str(name);
    out.push_str("=\"");
    write_label_value(out, value);
    out.push('"');
}

/// The label text (`a="x",b="y"`) of one series; `key: None` is the
/// overflow series.
fn series_labels(
    metrics: &Metrics,
    source: &(super::Reporter, super::Workload),
    key: Option<SeriesKey>,
    tcp: bool,
    out: &mut String,
) {
    out.clear();
    let (reporter, workload) = source;
    label(out, "reporter", reporter.as_str());
    label(out, "source_workload", &workload.name);
    label(out, "source_workload_namespace", &workload.namespace);
    label(out, "source_app", &workload.app);
    label(out, "source_version", &workload.version);
    let overflow;
    let dest: &DestinationLabels = match key {
        Some(k) => metrics.destination_labels(k.destination),
        None => {
            overflow = DestinationLabels {
                cluster: "".into(),
                service: OVERFLOW.into(),
                service_name: OVERFLOW.into(),
                service_namespace: OVERFLOW.into(),
                workload: OVERFLOW.into(),
                app: OVERFLOW.into(),
                version: OVERFLOW.into(),
            };
            &overflow
        }
    };
    label(out, "destination_service", &dest.service);
    label(out, "destination_service_name", &dest.service_name);
    label(
        out,
        "destination_service_namespace",
        &dest.service_namespace,
    );
    label(out, "destination_workload", &dest.workload);
    label(
        out,
        "destination_workload_namespace",
        &dest.service_namespace,
    );
    label(out, "destination_app", &dest.app);
    label(out, "destination_version", &dest.version);
    let mut text = String::new();
    match key {
        Some(k) => {
            let protocol = if tcp { Protocol::Tcp } else { k.protocol };
            label(out, "request_protocol", protocol.as_str());
            if !tcp {
                text.clear();
                let _ = write!(text, "{}", k.response_code);
                label(out, "response_code", &text);
            }
            text.clear();
            let _ = k.flags.write_to(&mut text);
            label(out, "response_flags", &text);
            if !tcp {
                text.clear();
                if let Some(g) = k.grpc_status {
                    let _ = write!(text, "{g}");
                }
                label(out, "grpc_response_status", &text);
            }
        }
        None => {
            label(out, "request_protocol", OVERFLOW);
            if !tcp {
                label(out, "response_code", OVERFLOW);
            }
            label(out, "response_flags", OVERFLOW);
            if !tcp {
                label(out, "grpc_response_status", OVERFLOW);
            }
        }
    }
}

/// A histogram family: name, help, and its histogram and sum in a series.
type HistogramFamily = (
    &'static str,
    &'static str,
    fn(&HttpSeries) -> (&Histogram, f64),
);

/// A TCP counter family: name, help, and its value in a series.
type CounterFamily = (&'static str, &'static str, fn(&TcpSeries) -> u64);

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn write_histogram(out: &mut String, name: &str, labels: &str, h: &Histogram, sum: f64) {
    let cumulative = h.cumulative();
    for (bound, count) in BUCKETS.iter().zip(&cumulative) {
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {count}");
    }
    let _ = writeln!(
        out,
        "{name}_bucket{{{labels},le=\"+Inf\"}} {}",
        cumulative[19]
    );
    let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", cumulative[19]);
}

impl Metrics {
    /// Appends the Prometheus text exposition of every series to `out`.
    /// The overflow series appears once something was recorded into it.
    /// Allocates (it is for the scrape, not the request path).
    pub fn render(&self, out: &mut String) {
        let source = self.source();
        let mut http: Vec<(Option<SeriesKey>, HttpSeries)> = self
            .http_series()
            .into_iter()
            .map(|(k, s)| (Some(k), s))
            .collect();
        let (over, overflowed) = self.http_overflow();
        if overflowed > 0 {
            http.push((None, over));
        }
        let mut tcp: Vec<(Option<SeriesKey>, &TcpSeries)> = self
            .tcp_series_list()
            .into_iter()
            .map(|(k, s)| (Some(k), s))
            .collect();
        let (tcp_over, tcp_overflowed) = self.tcp_overflow();
        if tcp_overflowed > 0 {
            tcp.push((None, tcp_over));
        }
        let mut scratch = String::new();
        let http_labels: Vec<String> = http
            .iter()
            .map(|(k, _)| {
                series_labels(self, &source, *k, false, &mut scratch);
                scratch.clone()
            })
            .collect();
        let tcp_labels: Vec<String> = tcp
            .iter()
            .map(|(k, _)| {
                series_labels(self, &source, *k, true, &mut scratch);
                scratch.clone()
            })
            .collect();
        // Roughly what the text takes, so it is written without regrowing.
        out.reserve(http_labels.iter().map(|l| l.len() + 80).sum::<usize>() * 64 + 4096);

        if !http.is_empty() {
            header(
                out,
                "istio_requests_total",
                "counter",
                "Requests, by Istio's labels.",
            );
            for ((_, s), labels) in http.iter().zip(&http_labels) {
                let _ = writeln!(
                    out,
                    "istio_requests_total{{{labels}}} {}",
                    s.duration.count()
                );
            }
            let families: [HistogramFamily; 3] = [
                (
                    "istio_request_duration_milliseconds",
                    "Request duration in milliseconds.",
                    |s| (&s.duration, s.duration.raw_sum() as f64 / 1000.0),
                ),
                ("istio_request_bytes", "Request size in bytes.", |s| {
                    (&s.request_bytes, s.request_bytes.raw_sum() as f64)
                }),
                ("istio_response_bytes", "Response size in bytes.", |s| {
                    (&s.response_bytes, s.response_bytes.raw_sum() as f64)
                }),
            ];
            for (name, help, pick) in families {
                header(out, name, "histogram", help);
                for ((_, s), labels) in http.iter().zip(&http_labels) {
                    let (h, sum) = pick(s);
                    write_histogram(out, name, labels, h, sum);
                }
            }
        }
        if !tcp.is_empty() {
            let families: [CounterFamily; 4] = [
                (
                    "istio_tcp_connections_opened_total",
                    "TCP connections opened.",
                    |s| s.opened.load(Ordering::Relaxed),
                ),
                (
                    "istio_tcp_connections_closed_total",
                    "TCP connections closed.",
                    |s| s.closed.load(Ordering::Relaxed),
                ),
                (
                    "istio_tcp_sent_bytes_total",
                    "Bytes sent in responses on TCP connections.",
                    |s| s.sent.load(Ordering::Relaxed),
                ),
                (
                    "istio_tcp_received_bytes_total",
                    "Bytes received in requests on TCP connections.",
                    |s| s.received.load(Ordering::Relaxed),
                ),
            ];
            for (name, help, value) in families {
                header(out, name, "counter", help);
                for ((_, s), labels) in tcp.iter().zip(&tcp_labels) {
                    let _ = writeln!(out, "{name}{{{labels}}} {}", value(s));
                }
            }
        }
        header(
            out,
            "weir_metrics_overflow_total",
            "counter",
            "Records that went to the overflow series (the series bound was reached).",
        );
        let _ = writeln!(
            out,
            "weir_metrics_overflow_total{{protocol=\"http\"}} {overflowed}"
        );
        let _ = writeln!(
            out,
            "weir_metrics_overflow_total{{protocol=\"tcp\"}} {tcp_overflowed}"
        );
        header(
            out,
            "weir_rate_limited_total",
            "counter",
            "Requests refused by local rate limiting (answered 429).",
        );
        let _ = writeln!(out, "weir_rate_limited_total {}", self.rate_limited());
    }

    /// The exposition as a new string.
    pub fn render_string(&self) -> String {
        let mut out = String::new();
        self.render(&mut out);
        out
    }

    /// Writes the exposition into `buf` whole and returns its length.
    ///
    /// # Errors
    /// `Err(needed)` when `buf` is shorter than the text: nothing is
    /// written (never a truncated document). Series may be added between
    /// calls, so allow some room over `needed`.
    pub fn render_into(&self, buf: &mut [u8]) -> Result<usize, usize> {
        let text = self.render_string();
        match buf.get_mut(..text.len()) {
            Some(dst) => {
                dst.copy_from_slice(text.as_bytes());
                Ok(text.len())
            }
            None => Err(text.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let rows = [
            ("plain", "plain"),
            ("a\"b", "a\\\"b"),
            ("back\\slash", "back\\\\slash"),
            ("two\nlines", "two\\nlines"),
            ("ünï", "ünï"),
        ];
        for (raw, want) in rows {
            let mut s = String::new();
            write_label_value(&mut s, raw);
            assert_eq!(s, want);
        }
    }
}
