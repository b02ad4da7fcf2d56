//! Istio's standard metrics, recorded with atomics.
//!
//! A series is found by its packed [`SeriesKey`] in a fixed-size,
//! open-addressed table of atomics made when the [`Metrics`] is (the
//! `series_table` module): recording never allocates and never locks. The
//! `destination_*` strings live in a registry filled when a table is
//! published ([`Metrics::prepare`]), so the request path reads one id the
//! cluster keeps. Series beyond the configured bound all land in one
//! overflow series: cardinality stays bounded whatever the traffic.
//!
//! A record on the canary: the key from the decision and the end (one load
//! for the destination id), where its cells are from this thread's recent
//! keys (`shards`), then a bucket and a sum per histogram with plain adds
//! to the thread's own shard. Everything else (a new destination, a new
//! series, a thread's first record) is out of line.

use super::destinations::Destinations;
use super::histogram::{HttpCells, HttpTotals, Observation};
use super::labels::{DestinationLabels, Protocol, Reporter, ResponseFlags, SeriesKey, Workload};
use super::series_table::SeriesTable;
use crate::compile::{Cluster, Table};
use crate::decision::Decision;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

pub use super::histogram::{Histogram, HttpSeries, BUCKETS};

/// The cells of one TCP series.
#[derive(Debug, Default)]
pub struct TcpSeries {
    /// `istio_tcp_connections_opened_total`.
    pub opened: AtomicU64,
    /// `istio_tcp_connections_closed_total`.
    pub closed: AtomicU64,
    /// `istio_tcp_sent_bytes_total`: bytes of the response (to the client),
    /// as Istio defines it.
    pub sent: AtomicU64,
    /// `istio_tcp_received_bytes_total`: bytes of the request (from the client).
    pub received: AtomicU64,
}

/// Bounds on what a [`Metrics`] records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsOptions {
    /// Most HTTP series (label sets) with their own cells.
    pub max_series: u32,
    /// Most TCP series.
    pub max_tcp_series: u32,
    /// Most destinations (clusters) told apart; later ones are `unknown`.
    pub max_destinations: u32,
    /// Shards of HTTP cells threads own (each a copy of the cells: memory
    /// grows with it); threads beyond share one with atomic adds.
    pub thread_shards: u32,
}

impl Default for MetricsOptions {
    fn default() -> Self {
        MetricsOptions {
            max_series: 1024,
            max_tcp_series: 256,
            max_destinations: 1024,
            thread_shards: std::thread::available_parallelism()
                .map_or(1, |n| n.get().min(8) as u32),
        }
    }
}

/// How one HTTP request ended, as the proxy saw it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestEnd {
    /// The upstream's status; 0 when no upstream answered (connection
    /// failure: recorded as 503 with `UF`, as Envoy does). A local reply
    /// (the decision's outcome) is recorded with the decision's status.
    pub status: u16,
    /// `grpc-status` of a gRPC response.
    pub grpc_status: Option<u8>,
    /// `request_protocol`.
    pub protocol: Protocol,
    /// From the first request byte to the last response byte.
    pub duration: Duration,
    /// Request size (headers and body), as Envoy's `request_bytes`.
    pub request_bytes: u64,
    /// Response size.
    pub response_bytes: u64,
    /// Flags only the proxy knows (upstream timeout, client reset, …).
    pub flags: ResponseFlags,
}

/// What recording needs of a decision.
#[derive(Debug, Clone, Copy)]
pub struct Decided<'t> {
    /// The chosen destination's cluster.
    pub cluster: Option<&'t Cluster>,
    /// The kind of answer.
    pub outcome: crate::decision::Outcome,
    /// The status of a local answer.
    pub status: u16,
    /// A fault delay was injected.
    pub delayed: bool,
}

/// Istio's standard metrics for one proxy: lock-free recording, Prometheus
/// text out ([`Metrics::render`]).
#[derive(Debug)]
pub struct Metrics {
    options: MetricsOptions,
    source: Mutex<(Reporter, Workload)>,
    destinations: Destinations,
    http: SeriesTable<HttpCells>,
    tcp: SeriesTable<TcpSeries>,
    /// Which thread owns which shard of `http` (shard 0 is everyone's).
    owners: super::shards::Owners,
    /// Extra counter families other parts of telemetry add (rate limiting).
    rate_limited: AtomicU64,
    /// What scrapes keep between scrapes (label text, buffers).
    pub(super) scrape: Mutex<super::exposition::ScrapeCache>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(MetricsOptions::default())
    }
}

impl Metrics {
    /// Empty metrics with these bounds (every cell allocated now).
    pub fn new(options: MetricsOptions) -> Metrics {
        Metrics {
            options,
            source: Mutex::new((Reporter::Source, Workload::default())),
            destinations: Destinations::new(options.max_destinations),
            http: SeriesTable::new(options.max_series, 1 + options.thread_shards as usize),
            tcp: SeriesTable::new(options.max_tcp_series, 1),
            owners: super::shards::Owners::new(options.thread_shards as usize),
            rate_limited: AtomicU64::new(0),
            scrape: Mutex::default(),
        }
    }

    /// The bounds in force.
    pub fn options(&self) -> MetricsOptions {
        self.options
    }

    /// Sets the `reporter` and `source_*` labels of every series (set once,
    /// at startup: series recorded before are relabelled too).
    pub fn set_source(&self, reporter: Reporter, workload: Workload) {
        *self.source.lock().unwrap_or_else(|p| p.into_inner()) = (reporter, workload);
        // The label text scrapes kept has the old source in it.
        self.scrape
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .forget_labels();
    }

    /// The `reporter` and `source_*` labels.
    pub fn source(&self) -> (Reporter, Workload) {
        self.source
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Registers the destinations of every cluster of `table`, so recording
    /// on it never allocates. [`Engine`](crate::Engine) calls it on publish.
    pub fn prepare(&self, table: &Table) {
        for cluster in table.clusters() {
            self.destinations.id_of_cached(cluster);
        }
    }

    /// The destination id of a decision's cluster (0: unknown).
    #[inline]
    pub fn destination_of(&self, cluster: Option<&Cluster>) -> u32 {
        cluster.map_or(0, |c| self.destinations.id_of_cached(c))
    }

    /// The labels of destination `id`.
    pub fn destination_labels(&self, id: u32) -> &DestinationLabels {
        self.destinations.labels(id)
    }

    /// The series key a finished request is recorded under.
    #[inline]
    pub fn request_key(&self, decision: &Decision<'_>, end: &RequestEnd) -> SeriesKey {
        self.request_key_of(
            &Decided {
                cluster: decision.cluster,
                outcome: decision.outcome,
                status: decision.status,
                delayed: decision.delay.is_some(),
            },
            end,
        )
    }

    /// [`request_key`](Self::request_key) from the parts of a decision a
    /// binding kept (the Go proxy keeps a copy, not the decision).
    #[inline]
    pub fn request_key_of(&self, decided: &Decided<'_>, end: &RequestEnd) -> SeriesKey {
        let local = decided.outcome.is_local_reply();
        let mut flags =
            ResponseFlags::of_outcome(decided.outcome, decided.delayed).union(end.flags);
        let response_code = if local {
            decided.status
        } else if end.status != 0 {
            end.status
        } else {
            flags = flags.union(ResponseFlags::UPSTREAM_CONNECTION_FAILURE);
            503
        };
        SeriesKey {
            destination: self.destination_of(decided.cluster),
            protocol: end.protocol,
            response_code,
            flags,
            grpc_status: end.grpc_status,
        }
    }

    /// Records a finished request: `istio_requests_total`, the duration and
    /// both size histograms. Lock-free, allocation-free.
    #[inline]
    pub fn record_request(&self, decision: &Decision<'_>, end: &RequestEnd) {
        let key = self.request_key(decision, end);
        self.record_request_key(key, end);
    }

    /// [`record_request`](Self::record_request) for a key already made.
    #[inline(always)]
    pub fn record_request_key(&self, key: SeriesKey, end: &RequestEnd) {
        let key = key.pack();
        // Saturating, as `as_micros` clamped to u64, without u128 math.
        let micros = end
            .duration
            .as_secs()
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(end.duration.subsec_micros()));
        let o = Observation::new(micros, end.request_bytes, end.response_bytes);
        let (owned, at) = match self.owners.recent(key) {
            Some(hit) => hit,
            None => self.locate(key),
        };
        let cells = self.http.at(at);
        if owned {
            // This thread's own shard: plain adds.
            cells.add_owned(&o);
        } else {
            cells.add_shared(&o);
        }
    }

    /// Where `key`'s cells are for this thread (`owned`: in its own shard),
    /// from the shared table; remembered unless they are the overflow cell.
    #[cold]
    #[inline(never)]
    fn locate(&self, key: u64) -> (bool, usize) {
        let shard = self.owners.current();
        let cell = self.http.get_index(key);
        let at = self.http.index(shard.map_or(0, |s| s + 1), cell);
        if cell != self.http.max {
            self.owners.remember(key, at);
        }
        (shard.is_some(), at)
    }

    /// Cell `cell` of the HTTP table summed over the shards.
    fn merged(&self, cell: u32) -> HttpSeries {
        let mut totals = HttpTotals::default();
        self.http_totals(cell, &mut totals);
        HttpSeries::from(&totals)
    }

    fn tcp_series(&self, decision: &Decision<'_>, flags: ResponseFlags) -> &TcpSeries {
        let key = SeriesKey {
            destination: self.destination_of(decision.cluster),
            protocol: Protocol::Tcp,
            response_code: 0,
            flags: ResponseFlags::of_decision(decision).union(flags),
            grpc_status: None,
        };
        self.tcp.get(key.pack())
    }

    /// Records an opened TCP connection (decided by `Table::decide_tcp`).
    #[inline]
    pub fn record_tcp_open(&self, decision: &Decision<'_>) {
        self.tcp_series(decision, ResponseFlags(0))
            .opened
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Records a closed TCP connection with the bytes it carried:
    /// `sent` to the client, `received` from it.
    #[inline]
    pub fn record_tcp_close(&self, decision: &Decision<'_>, sent: u64, received: u64) {
        let s = self.tcp_series(decision, ResponseFlags(0));
        s.closed.fetch_add(1, Ordering::Relaxed);
        s.sent.fetch_add(sent, Ordering::Relaxed);
        s.received.fetch_add(received, Ordering::Relaxed);
    }

    /// `(packed key, cell)` of every HTTP series with its own cells, by key,
    /// into `out`; returns how many records went to the overflow cell
    /// (cell `max_series`).
    pub(crate) fn http_rows(&self, out: &mut Vec<(u64, u32)>) -> u64 {
        self.http.series_into(out);
        self.http.overflowed.load(Ordering::Relaxed)
    }

    /// [`http_rows`](Self::http_rows) for TCP.
    pub(crate) fn tcp_rows(&self, out: &mut Vec<(u64, u32)>) -> u64 {
        self.tcp.series_into(out);
        self.tcp.overflowed.load(Ordering::Relaxed)
    }

    /// HTTP cell `cell` summed over the shards any thread ever owned (the
    /// others are all zeros) into `out`.
    pub(crate) fn http_totals(&self, cell: u32, out: &mut HttpTotals) {
        *out = HttpTotals::default();
        for shard in 0..self.http.shards() {
            if shard > 0 && !self.owners.ever_claimed(shard - 1) {
                continue;
            }
            self.http.cell(shard, cell).add_to(out);
        }
        out.accumulate();
    }

    /// TCP cell `cell`: opened, closed, sent, received.
    pub(crate) fn tcp_totals(&self, cell: u32) -> [u64; 4] {
        let s = self.tcp.cell(0, cell);
        [&s.opened, &s.closed, &s.sent, &s.received].map(|c| c.load(Ordering::Relaxed))
    }

    /// The HTTP series recorded so far, by key (the overflow series apart),
    /// each summed over the threads' shards.
    pub fn http_series(&self) -> Vec<(SeriesKey, HttpSeries)> {
        self.http
            .series()
            .into_iter()
            .map(|(k, c)| (SeriesKey::unpack(k), self.merged(c)))
            .collect()
    }

    /// The HTTP overflow series' cells and how many records went there.
    pub fn http_overflow(&self) -> (HttpSeries, u64) {
        (
            self.merged(self.http.max),
            self.http.overflowed.load(Ordering::Relaxed),
        )
    }

    /// The TCP series recorded so far, by key.
    pub fn tcp_series_list(&self) -> Vec<(SeriesKey, &TcpSeries)> {
        self.tcp
            .series()
            .into_iter()
            .map(|(k, c)| (SeriesKey::unpack(k), self.tcp.cell(0, c)))
            .collect()
    }

    /// The TCP overflow series' cells and how many records went there.
    pub fn tcp_overflow(&self) -> (&TcpSeries, u64) {
        (
            self.tcp.cell(0, self.tcp.max),
            self.tcp.overflowed.load(Ordering::Relaxed),
        )
    }

    /// The `istio_requests_total` of one series key (0 when never recorded).
    pub fn requests_total(&self, key: SeriesKey) -> u64 {
        let packed = key.pack();
        self.http
            .series()
            .into_iter()
            .find(|&(k, _)| k == packed)
            .map_or(0, |(_, c)| self.merged(c).duration.count())
    }

    /// Counts a request refused by local rate limiting.
    #[inline]
    pub fn count_rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests refused by local rate limiting.
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two registries recording the same clusters in turn (each takes the
    /// id a cluster keeps from the other as a miss) count every request
    /// under the right destination; a registry with room for one
    /// destination records the other as unknown.
    #[test]
    fn registries_sharing_clusters_keep_their_own_ids() {
        let engine = crate::Engine::new();
        engine
            .apply_str(include_str!(
                "../../../examples/configs/fleetman-canary.yaml"
            ))
            .expect("applies");
        let table = engine.snapshot();
        let req = crate::Request::get("fleetman-staff-service.default.svc.cluster.local", "/");
        let (safe, risky) = (table.decide(&req, 0), table.decide(&req, 95));
        let a = Metrics::default();
        let b = Metrics::new(MetricsOptions {
            max_destinations: 1,
            ..MetricsOptions::default()
        });
        let end = RequestEnd {
            status: 200,
            ..RequestEnd::default()
        };
        for _ in 0..3 {
            for d in [&safe, &risky, &risky] {
                a.record_request(d, &end);
                b.record_request(d, &end);
            }
        }
        let by_version = |m: &Metrics| -> Vec<(String, u64)> {
            let mut v: Vec<_> = m
                .http_series()
                .iter()
                .map(|(k, s)| {
                    let version = m.destination_labels(k.destination).version.to_string();
                    (version, s.duration.count())
                })
                .collect();
            v.sort();
            v
        };
        assert_eq!(
            by_version(&a),
            [("risky".to_string(), 6), ("safe".to_string(), 3)]
        );
        assert_eq!(
            by_version(&b),
            [("safe".to_string(), 3), ("unknown".to_string(), 6)]
        );
    }

    /// A key that went to the overflow cell is never one a thread
    /// remembers: each of its records counts in the overflow total, while a
    /// key with its own cells (remembered) keeps counting there.
    #[test]
    fn overflow_records_count_every_time() {
        for thread_shards in [0, 1] {
            let metrics = Metrics::new(MetricsOptions {
                max_series: 1,
                thread_shards,
                ..MetricsOptions::default()
            });
            let key = |response_code| SeriesKey {
                destination: 0,
                protocol: Protocol::Http,
                response_code,
                flags: ResponseFlags(0),
                grpc_status: None,
            };
            let end = RequestEnd {
                status: 200,
                response_bytes: 3,
                ..RequestEnd::default()
            };
            for _ in 0..5 {
                metrics.record_request_key(key(200), &end);
                metrics.record_request_key(key(201), &end);
                metrics.record_request_key(key(202), &end);
            }
            let (over, overflowed) = metrics.http_overflow();
            assert_eq!(overflowed, 10, "{thread_shards} shards");
            assert_eq!(over.duration.count(), 10);
            assert_eq!(over.response_bytes.raw_sum(), 30);
            let series = metrics.http_series();
            assert_eq!(series.len(), 1);
            assert_eq!(series[0].0, key(200));
            assert_eq!(series[0].1.duration.count(), 5);
        }
    }

    /// 8 threads on 2 owned shards and the shared one, then more threads
    /// taking over freed shards: every record counted exactly once.
    #[test]
    fn shards_add_up_exactly_across_threads() {
        let engine = crate::Engine::new();
        engine
            .apply_str(include_str!(
                "../../../examples/configs/fleetman-canary.yaml"
            ))
            .expect("applies");
        let metrics = Metrics::new(MetricsOptions {
            thread_shards: 2,
            ..MetricsOptions::default()
        });
        let table = engine.snapshot();
        metrics.prepare(&table);
        let end = RequestEnd {
            status: 200,
            duration: Duration::from_micros(1500),
            request_bytes: 10,
            response_bytes: 20,
            ..RequestEnd::default()
        };
        for _wave in 0..2 {
            std::thread::scope(|s| {
                for t in 0..8u64 {
                    let (metrics, table) = (&metrics, &table);
                    s.spawn(move || {
                        let req = crate::Request::get(
                            "fleetman-staff-service.default.svc.cluster.local",
                            "/",
                        );
                        for i in 0..5000u64 {
                            // Entropy 0..89 is the safe subset, 90..99 risky.
                            let d = table.decide(&req, (t * 5000 + i) % 100);
                            metrics.record_request(&d, &end);
                        }
                    });
                }
            });
        }
        let series = metrics.http_series();
        let total: u64 = series.iter().map(|(_, s)| s.duration.count()).sum();
        assert_eq!(total, 2 * 8 * 5000);
        let bytes: u64 = series.iter().map(|(_, s)| s.response_bytes.raw_sum()).sum();
        assert_eq!(bytes, 2 * 8 * 5000 * 20);
        let micros: u64 = series.iter().map(|(_, s)| s.duration.raw_sum()).sum();
        assert_eq!(micros, 2 * 8 * 5000 * 1500);
        // 1.5 ms: every duration in the (1, 5] bucket.
        for (_, s) in &series {
            let c = s.duration.cumulative();
            assert_eq!(c[1], 0);
            assert_eq!(c[2], s.duration.count());
        }
        let risky: u64 = series
            .iter()
            .filter(|(k, _)| metrics.destination_labels(k.destination).version.as_ref() == "risky")
            .map(|(_, s)| s.duration.count())
            .sum();
        assert_eq!(risky, 2 * 8 * 500);
    }
}
