//! The Prometheus text exposition format (version 0.0.4) of [`Metrics`]:
//! what `/stats/prometheus` and Istio's sidecars serve and Prometheus scrapes.
//!
//! A scrape is one pass over the series and mostly memcpy: each series'
//! label text is made the first time a scrape sees it and kept (series are
//! born on the request path, which must not allocate), the per-bucket
//! pieces are constants, and numbers go through a small integer formatter.
//! The values are read once into a snapshot, the text is sized from it,
//! then written from it: a caller's buffer gets the whole document or
//! nothing, and a scrape after the first allocates nothing.

use super::exposition_text::{decimal, put_bytes, put_millis, put_u64, Buffer, Length, Text};
use super::histogram::HttpTotals;
use super::labels::{DestinationLabels, Protocol, SeriesKey};
use super::metrics::Metrics;

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
    let mut digits = [0u8; 20];
    match key {
        Some(k) => {
            let protocol = if tcp { Protocol::Tcp } else { k.protocol };
            label(out, "request_protocol", protocol.as_str());
            if !tcp {
                label(
                    out,
                    "response_code",
                    decimal(u64::from(k.response_code), &mut digits),
                );
            }
            let _ = k.flags.write_to(&mut text);
            label(out, "response_flags", &text);
            if !tcp {
                let grpc = match k.grpc_status {
                    Some(g) => decimal(u64::from(g), &mut digits),
                    None => "",
                };
                label(out, "grpc_response_status", grpc);
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

/// The `le` label and the space before the value of each bucket line:
/// [`BUCKETS`](super::metrics::BUCKETS) as `{f64}` prints them, then `+Inf`.
const LE: [&str; 20] = [
    ",le=\"0.5\"} ",
    ",le=\"1\"} ",
    ",le=\"5\"} ",
    ",le=\"10\"} ",
    ",le=\"25\"} ",
    ",le=\"50\"} ",
    ",le=\"100\"} ",
    ",le=\"250\"} ",
    ",le=\"500\"} ",
    ",le=\"1000\"} ",
    ",le=\"2500\"} ",
    ",le=\"5000\"} ",
    ",le=\"10000\"} ",
    ",le=\"30000\"} ",
    ",le=\"60000\"} ",
    ",le=\"300000\"} ",
    ",le=\"600000\"} ",
    ",le=\"1800000\"} ",
    ",le=\"3600000\"} ",
    ",le=\"+Inf\"} ",
];

/// A histogram family and the line starts of its samples.
struct HistogramFamily {
    name: &'static str,
    help: &'static str,
    bucket: &'static str,
    sum: &'static str,
    count: &'static str,
    /// The sum is microseconds, written in milliseconds.
    sum_in_millis: bool,
}

macro_rules! histogram_family {
    ($name:literal, $help:literal, $millis:expr) => {
        HistogramFamily {
            name: $name,
            help: $help,
            bucket: concat!($name, "_bucket{"),
            sum: concat!($name, "_sum{"),
            count: concat!($name, "_count{"),
            sum_in_millis: $millis,
        }
    };
}

/// In [`HttpTotals`] order.
const HISTOGRAMS: [HistogramFamily; 3] = [
    histogram_family!(
        "istio_request_duration_milliseconds",
        "Request duration in milliseconds.",
        true
    ),
    histogram_family!("istio_request_bytes", "Request size in bytes.", false),
    histogram_family!("istio_response_bytes", "Response size in bytes.", false),
];

/// The TCP counter families (name with its `{`, name, help), in
/// [`Metrics::tcp_totals`] order.
const TCP_COUNTERS: [(&str, &str, &str); 4] = [
    (
        "istio_tcp_connections_opened_total{",
        "istio_tcp_connections_opened_total",
        "TCP connections opened.",
    ),
    (
        "istio_tcp_connections_closed_total{",
        "istio_tcp_connections_closed_total",
        "TCP connections closed.",
    ),
    (
        "istio_tcp_sent_bytes_total{",
        "istio_tcp_sent_bytes_total",
        "Bytes sent in responses on TCP connections.",
    ),
    (
        "istio_tcp_received_bytes_total{",
        "istio_tcp_received_bytes_total",
        "Bytes received in requests on TCP connections.",
    ),
];

fn header(out: &mut impl Text, name: &str, kind: &str, help: &str) {
    for part in [
        "# HELP ",
        name,
        " ",
        help,
        "\n# TYPE ",
        name,
        " ",
        kind,
        "\n",
    ] {
        out.put(part);
    }
}

/// The packed key the overflow series is kept under (0 is never a key).
const OVERFLOW_KEY: u64 = 0;

/// Label text by cell: the packed key it was made for, and the text.
type LabelCache = Vec<Option<(u64, Box<str>)>>;

/// What scrapes of one [`Metrics`] keep: each series' label text, made once,
/// and the snapshot buffers, reused.
#[derive(Debug, Default)]
pub(crate) struct ScrapeCache {
    http_labels: LabelCache,
    tcp_labels: LabelCache,
    /// `(packed key, cell)` of this scrape's HTTP series, the overflow last.
    http_rows: Vec<(u64, u32)>,
    http_totals: Vec<HttpTotals>,
    tcp_rows: Vec<(u64, u32)>,
    tcp_totals: Vec<[u64; 4]>,
    http_overflowed: u64,
    tcp_overflowed: u64,
    rate_limited: u64,
}

impl ScrapeCache {
    /// Drops every label text (the source labels changed).
    pub(crate) fn forget_labels(&mut self) {
        self.http_labels.clear();
        self.tcp_labels.clear();
    }

    /// The label text of `cell` (made by [`Metrics::snapshot`]).
    fn labels(cache: &LabelCache, cell: u32) -> &str {
        match cache.get(cell as usize) {
            Some(Some((_, text))) => text,
            _ => "",
        }
    }

    /// Writes the text of the snapshot taken last.
    fn write(&self, out: &mut impl Text) {
        if !self.http_rows.is_empty() {
            header(
                out,
                "istio_requests_total",
                "counter",
                "Requests, by Istio's labels.",
            );
            for (&(_, cell), totals) in self.http_rows.iter().zip(&self.http_totals) {
                out.put("istio_requests_total{");
                out.put(Self::labels(&self.http_labels, cell));
                out.put("} ");
                put_u64(out, totals.cumulative[0][19]);
                out.put("\n");
            }
            for (h, family) in HISTOGRAMS.iter().enumerate() {
                header(out, family.name, "histogram", family.help);
                for (&(_, cell), totals) in self.http_rows.iter().zip(&self.http_totals) {
                    let labels = Self::labels(&self.http_labels, cell);
                    let cumulative = &totals.cumulative[h];
                    for (le, count) in LE.iter().zip(cumulative) {
                        out.put(family.bucket);
                        out.put(labels);
                        out.put(le);
                        put_u64(out, *count);
                        out.put("\n");
                    }
                    out.put(family.sum);
                    out.put(labels);
                    out.put("} ");
                    if family.sum_in_millis {
                        put_millis(out, totals.sums[h]);
                    } else {
                        put_bytes(out, totals.sums[h]);
                    }
                    out.put("\n");
                    out.put(family.count);
                    out.put(labels);
                    out.put("} ");
                    put_u64(out, cumulative[19]);
                    out.put("\n");
                }
            }
        }
        if !self.tcp_rows.is_empty() {
            for (i, (start, name, help)) in TCP_COUNTERS.iter().enumerate() {
                header(out, name, "counter", help);
                for (&(_, cell), totals) in self.tcp_rows.iter().zip(&self.tcp_totals) {
                    out.put(start);
                    out.put(Self::labels(&self.tcp_labels, cell));
                    out.put("} ");
                    put_u64(out, totals[i]);
                    out.put("\n");
                }
            }
        }
        header(
            out,
            "weir_metrics_overflow_total",
            "counter",
            "Records that went to the overflow series (the series bound was reached).",
        );
        out.put("weir_metrics_overflow_total{protocol=\"http\"} ");
        put_u64(out, self.http_overflowed);
        out.put("\nweir_metrics_overflow_total{protocol=\"tcp\"} ");
        put_u64(out, self.tcp_overflowed);
        out.put("\n");
        header(
            out,
            "weir_rate_limited_total",
            "counter",
            "Requests refused by local rate limiting (answered 429).",
        );
        out.put("weir_rate_limited_total ");
        put_u64(out, self.rate_limited);
        out.put("\n");
    }
}

/// Makes the label text of every row that has none yet (or one made for
/// another key), with the source labels read at most once.
fn fill_labels(
    metrics: &Metrics,
    source: &mut Option<(super::Reporter, super::Workload)>,
    rows: &[(u64, u32)],
    cache: &mut LabelCache,
    tcp: bool,
) {
    let mut scratch = String::new();
    for &(key, cell) in rows {
        if cache.len() <= cell as usize {
            cache.resize(cell as usize + 1, None);
        }
        let slot = &mut cache[cell as usize];
        if matches!(slot, Some((k, _)) if *k == key) {
            continue;
        }
        let source = source.get_or_insert_with(|| metrics.source());
        let key_labels = (key != OVERFLOW_KEY).then(|| SeriesKey::unpack(key));
        series_labels(metrics, source, key_labels, tcp, &mut scratch);
        *slot = Some((key, scratch.as_str().into()));
    }
}

impl Metrics {
    /// Reads every value a scrape writes into `cache`, once.
    fn snapshot(&self, cache: &mut ScrapeCache) {
        let max = self.options().max_series;
        cache.http_overflowed = self.http_rows(&mut cache.http_rows);
        if cache.http_overflowed > 0 {
            cache.http_rows.push((OVERFLOW_KEY, max));
        }
        cache
            .http_totals
            .resize(cache.http_rows.len(), HttpTotals::default());
        for (&(_, cell), totals) in cache.http_rows.iter().zip(&mut cache.http_totals) {
            self.http_totals(cell, totals);
        }
        cache.tcp_overflowed = self.tcp_rows(&mut cache.tcp_rows);
        if cache.tcp_overflowed > 0 {
            cache
                .tcp_rows
                .push((OVERFLOW_KEY, self.options().max_tcp_series));
        }
        cache.tcp_totals.clear();
        cache.tcp_totals.extend(
            cache
                .tcp_rows
                .iter()
                .map(|&(_, cell)| self.tcp_totals(cell)),
        );
        cache.rate_limited = self.rate_limited();
        let mut source = None;
        fill_labels(
            self,
            &mut source,
            &cache.http_rows,
            &mut cache.http_labels,
            false,
        );
        fill_labels(
            self,
            &mut source,
            &cache.tcp_rows,
            &mut cache.tcp_labels,
            true,
        );
    }

    /// Takes a snapshot and hands it to `f` (scrapes run one at a time).
    fn with_snapshot<R>(&self, f: impl FnOnce(&ScrapeCache) -> R) -> R {
        let mut cache = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        self.snapshot(&mut cache);
        f(&cache)
    }

    /// Appends the Prometheus text exposition of every series to `out`.
    /// The overflow series appears once something was recorded into it.
    /// Allocates only `out`'s growth and the label text of series new
    /// since the last scrape (it is for the scrape, not the request path).
    pub fn render(&self, out: &mut String) {
        self.with_snapshot(|snapshot| {
            let mut length = Length(0);
            snapshot.write(&mut length);
            out.reserve(length.0);
            snapshot.write(out);
        });
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
        self.with_snapshot(|snapshot| {
            let mut length = Length(0);
            snapshot.write(&mut length);
            if length.0 > buf.len() {
                return Err(length.0);
            }
            let mut out = Buffer { buf, len: 0 };
            snapshot.write(&mut out);
            debug_assert_eq!(out.len, length.0, "sized and written from one snapshot");
            Ok(length.0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The constant `le` texts are the bounds as `{f64}` prints them.
    #[test]
    fn le_texts_are_the_bounds() {
        for (le, bound) in LE.iter().zip(super::super::metrics::BUCKETS) {
            assert_eq!(*le, format!(",le=\"{bound}\"}} "));
        }
        assert_eq!(LE[19], ",le=\"+Inf\"} ");
    }

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
