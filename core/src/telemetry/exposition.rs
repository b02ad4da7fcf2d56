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

use super::labels::{DestinationLabels, Protocol, SeriesKey};
use super::metrics::{HttpTotals, Metrics};
use std::fmt::Write;

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

/// Where rendered text goes: a `String`, a caller's buffer, or nowhere
/// (only its length is wanted).
trait Text {
    fn put(&mut self, s: &str);
    /// Puts ASCII bytes (digits), sparing a UTF-8 check where bytes are
    /// what is written.
    fn put_ascii(&mut self, ascii: &[u8]);
}

impl Text for String {
    #[inline]
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }
    #[inline]
    fn put_ascii(&mut self, ascii: &[u8]) {
        self.extend(ascii.iter().map(|&b| char::from(b)));
    }
}

/// Counts the bytes only: sizes the text before it is written.
struct Length(usize);

impl Text for Length {
    #[inline]
    fn put(&mut self, s: &str) {
        self.0 += s.len();
    }
    #[inline]
    fn put_ascii(&mut self, ascii: &[u8]) {
        self.0 += ascii.len();
    }
}

/// A caller's buffer, sized beforehand; never written past its end.
struct Buffer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Text for Buffer<'_> {
    #[inline]
    fn put(&mut self, s: &str) {
        self.put_ascii(s.as_bytes());
    }
    #[inline]
    fn put_ascii(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
        }
        self.len = end;
    }
}

/// `"00"`, `"01"`, … `"99"`: two digits a division.
const DIGIT_PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// `v` in decimal (as `{v}` prints it), written at the end of `buf`.
#[inline]
fn decimal_ascii(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&DIGIT_PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    &buf[i..]
}

/// [`decimal_ascii`] as text (for label values, made once a series).
fn decimal(v: u64, buf: &mut [u8; 20]) -> &str {
    // Only ASCII digits were written.
    std::str::from_utf8(decimal_ascii(v, buf)).unwrap_or("0")
}

#[inline]
fn put_u64(out: &mut impl Text, v: u64) {
    out.put_ascii(decimal_ascii(v, &mut [0u8; 20]));
}

/// A short text made with `write!` on the stack (no allocation): the rare
/// numbers only `f64`'s printing gets right.
struct StackText {
    buf: [u8; 64],
    len: usize,
}

impl Write for StackText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        self.buf
            .get_mut(self.len..end)
            .ok_or(std::fmt::Error)?
            .copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// `v` as `{v}` prints an `f64` (shortest text that reads back the same).
fn put_f64(out: &mut impl Text, v: f64) {
    let mut text = StackText {
        buf: [0; 64],
        len: 0,
    };
    // An f64 below 2^64 prints in well under 64 bytes.
    if write!(text, "{v}").is_ok() {
        out.put(std::str::from_utf8(&text.buf[..text.len]).unwrap_or("0"));
    }
}

/// Sums at or above this are printed through `f64` (the first renderer
/// wrote `sum as f64`): below it the integer or the three-decimal quotient
/// is exactly what `f64` prints (its ulp stays under a thousandth).
const EXACT_BELOW: u64 = 1 << 50;

/// A duration sum of `micros` microseconds in milliseconds, as the
/// `f64` `micros / 1000.0` prints: integer part, then up to three
/// decimals without trailing zeros.
fn put_millis(out: &mut impl Text, micros: u64) {
    if micros >= EXACT_BELOW {
        return put_f64(out, micros as f64 / 1000.0);
    }
    put_u64(out, micros / 1000);
    let frac = micros % 1000;
    if frac != 0 {
        let digit = |d: u64| b'0' + d as u8;
        let text = [
            b'.',
            digit(frac / 100),
            digit(frac / 10 % 10),
            digit(frac % 10),
        ];
        let len = if frac % 10 != 0 {
            4
        } else if frac % 100 != 0 {
            3
        } else {
            2
        };
        out.put_ascii(&text[..len]);
    }
}

/// A byte sum, as the `f64` `bytes as f64` prints.
fn put_bytes(out: &mut impl Text, bytes: u64) {
    if bytes >= EXACT_BELOW {
        put_f64(out, bytes as f64);
    } else {
        put_u64(out, bytes);
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

    /// Integers, milliseconds and byte sums print as the `format!`
    /// renderer printed them (`{u64}`, `{micros as f64 / 1000.0}`,
    /// `{bytes as f64}`), over edges and a fixed pseudo-random sweep of
    /// every magnitude.
    #[test]
    fn numbers_print_as_format_did() {
        let mut values = vec![
            0,
            1,
            9,
            10,
            99,
            100,
            999,
            1000,
            1001,
            1010,
            1100,
            123_456_789,
            EXACT_BELOW - 1,
            EXACT_BELOW,
            EXACT_BELOW + 1,
            (1 << 53) - 1,
            1 << 53,
            (1 << 53) + 1,
            u64::MAX - 1,
            u64::MAX,
        ];
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..20_000 {
            // splitmix64, shifted to spread values over every bit length.
            x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = x;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            values.push(z >> (z % 64));
        }
        for v in values {
            let mut s = String::new();
            put_u64(&mut s, v);
            assert_eq!(s, format!("{v}"));
            s.clear();
            put_millis(&mut s, v);
            assert_eq!(s, format!("{}", v as f64 / 1000.0), "millis of {v}");
            s.clear();
            put_bytes(&mut s, v);
            assert_eq!(s, format!("{}", v as f64), "bytes {v}");
        }
    }

    /// The buffer writer never writes past the end it was given.
    #[test]
    fn buffer_never_overruns() {
        let mut buf = [b'#'; 4];
        let mut out = Buffer {
            buf: &mut buf[..3],
            len: 0,
        };
        out.put("ab");
        out.put("cd");
        assert_eq!(out.len, 4);
        assert_eq!(&buf, b"ab##");
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
