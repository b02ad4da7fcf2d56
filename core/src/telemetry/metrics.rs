//! Istio's standard metrics, recorded with atomics.
//!
//! A series is found by its packed [`SeriesKey`] in a fixed-size,
//! open-addressed table of atomics made when the [`Metrics`] is: recording
//! never allocates and never locks. The `destination_*` strings live in a
//! registry filled when a table is published ([`Metrics::prepare`]), so the
//! request path only hashes the cluster's name. Series beyond the configured
//! bound all land in one overflow series: cardinality stays bounded whatever
//! the traffic.

use super::labels::{
    DestinationLabels, Protocol, Reporter, ResponseFlags, SeriesKey, Workload, MAX_DESTINATION_ID,
};
use crate::compile::{Cluster, Table};
use crate::decision::Decision;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Upper bounds of Istio's histograms (Envoy's default buckets), in
/// milliseconds for durations and bytes for sizes: istio/proxy
/// `source/extensions/filters/http/istio_stats`, which leaves every
/// histogram on Envoy's `Stats::Histogram` default buckets.
pub const BUCKETS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

/// [`BUCKETS`] in thousandths, so values compare as integers (a duration
/// in microseconds is thousandths of a millisecond).
const BUCKETS_THOUSANDTHS: [u64; 19] = {
    let mut out = [0u64; 19];
    let mut i = 0;
    while i < 19 {
        out[i] = (BUCKETS[i] * 1000.0) as u64;
        i += 1;
    }
    out
};

/// One histogram: per-bucket counts (not cumulative; the last is `+Inf`)
/// and the sum of the values.
#[derive(Debug, Default)]
pub struct Histogram {
    buckets: [AtomicU64; 20],
    sum: AtomicU64,
}

/// Adds `v` to a cell only this thread writes (a shard it owns): a plain
/// load and store, no locked instruction. Readers still see whole values.
#[inline(always)]
fn add_owned(cell: &AtomicU64, v: u64) {
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(v),
        Ordering::Relaxed,
    );
}

/// Each bound is at least twice the one before, so a binary octave
/// `[2^(k-1), 2^k)` (values of bit length `k`) holds at most one bound:
/// the bucket of a value is the number of bounds below its octave, plus one
/// if it is above the octave's bound. Two loads from 65-entry tables
/// instead of a 5-step dependent search.
struct Octaves {
    /// Per bit length: how many bounds are below the octave.
    below: [u8; 65],
    /// Per bit length: the bound inside the octave (`u64::MAX`: none).
    bound: [u64; 65],
}

const OCTAVES: Octaves = {
    let mut o = Octaves {
        below: [0; 65],
        bound: [u64::MAX; 65],
    };
    let mut i = 1;
    while i < 19 {
        assert!(
            BUCKETS_THOUSANDTHS[i] >= 2 * BUCKETS_THOUSANDTHS[i - 1],
            "one bound an octave at most"
        );
        i += 1;
    }
    let mut k = 1;
    while k <= 64 {
        let low = 1u128 << (k - 1);
        let high = 1u128 << k;
        let mut below = 0;
        let mut b = 0;
        while b < 19 {
            let bound = BUCKETS_THOUSANDTHS[b] as u128;
            if bound < low {
                below += 1;
            } else if bound < high {
                o.bound[k] = BUCKETS_THOUSANDTHS[b];
            }
            b += 1;
        }
        o.below[k] = below;
        k += 1;
    }
    o
};

/// The bucket of `thousandths`: the first bound that holds it (`+Inf` last).
#[inline(always)]
fn bucket_of(thousandths: u64) -> usize {
    let bits = (u64::BITS - thousandths.leading_zeros()) as usize;
    usize::from(OCTAVES.below[bits]) + usize::from(thousandths > OCTAVES.bound[bits])
}

impl Histogram {
    /// Counts `thousandths / 1000`, adding `sum_add` to the sum.
    #[inline]
    fn observe(&self, thousandths: u64, sum_add: u64) {
        self.buckets[bucket_of(thousandths)].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(sum_add, Ordering::Relaxed);
    }

    /// [`observe`](Self::observe) on a histogram of a shard this thread owns.
    #[inline]
    fn observe_owned(&self, thousandths: u64, sum_add: u64) {
        add_owned(&self.buckets[bucket_of(thousandths)], 1);
        add_owned(&self.sum, sum_add);
    }

    /// Adds `other`'s counts and sum to this histogram, which only this
    /// thread holds (merging shards into a fresh copy).
    fn merge_from(&self, other: &Histogram) {
        for (a, b) in self.buckets.iter().zip(&other.buckets) {
            add_owned(a, b.load(Ordering::Relaxed));
        }
        add_owned(&self.sum, other.sum.load(Ordering::Relaxed));
    }

    /// Adds this histogram's per-bucket counts and sum to plain numbers.
    fn add_to(&self, counts: &mut [u64; 20], sum: &mut u64) {
        for (c, b) in counts.iter_mut().zip(&self.buckets) {
            *c = c.wrapping_add(b.load(Ordering::Relaxed));
        }
        *sum = sum.wrapping_add(self.sum.load(Ordering::Relaxed));
    }

    /// Cumulative counts, `le` ascending, the last one `+Inf` (the count).
    pub fn cumulative(&self) -> [u64; 20] {
        let mut out = [0u64; 20];
        let mut total = 0u64;
        for (o, b) in out.iter_mut().zip(&self.buckets) {
            total = total.wrapping_add(b.load(Ordering::Relaxed));
            *o = total;
        }
        out
    }

    /// How many values were observed.
    pub fn count(&self) -> u64 {
        self.cumulative()[19]
    }

    /// The raw sum (microseconds for durations, bytes for sizes).
    pub fn raw_sum(&self) -> u64 {
        self.sum.load(Ordering::Relaxed)
    }
}

/// The cells of one HTTP series. `istio_requests_total` is the duration
/// histogram's count: every finished request is observed there once.
#[derive(Debug, Default)]
pub struct HttpSeries {
    /// `istio_request_duration_milliseconds` (sum in microseconds).
    pub duration: Histogram,
    /// `istio_request_bytes`.
    pub request_bytes: Histogram,
    /// `istio_response_bytes`.
    pub response_bytes: Histogram,
}

impl HttpSeries {
    fn merge_from(&self, other: &HttpSeries) {
        self.duration.merge_from(&other.duration);
        self.request_bytes.merge_from(&other.request_bytes);
        self.response_bytes.merge_from(&other.response_bytes);
    }
}

/// One HTTP series summed over the shards, in plain numbers: what a scrape
/// writes. Histograms in [`HttpSeries`] order (duration, request bytes,
/// response bytes).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HttpTotals {
    /// Cumulative counts, `le` ascending, the last `+Inf` (the count).
    pub(crate) cumulative: [[u64; 20]; 3],
    /// Raw sums (microseconds for the duration, bytes for sizes).
    pub(crate) sums: [u64; 3],
}

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

const EMPTY: u64 = 0;
const PENDING: u32 = u32::MAX;

/// Fixed-capacity, lock-free map from packed keys to cells; at most `max`
/// distinct keys get their own cells, the rest share the overflow cell.
#[derive(Debug)]
struct SeriesTable<C> {
    keys: Box<[AtomicU64]>,
    /// The cell of each occupied slot; [`PENDING`] for an instant while the
    /// slot's claimer numbers it.
    cell_of: Box<[AtomicU32]>,
    /// Per shard, `max` cells then the overflow cell (`max + 1` a shard).
    cells: Box<[C]>,
    used: AtomicU32,
    max: u32,
    /// Records that went to the overflow cell.
    overflowed: AtomicU64,
}

fn slot_count(max: u32) -> usize {
    // At most half full: probes stay short.
    (max as usize).saturating_mul(2).max(2).next_power_of_two()
}

#[inline]
fn home(key: u64, mask: usize) -> usize {
    // Fibonacci hashing spreads the packed fields over the slots.
    (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & mask
}

impl<C: Default> SeriesTable<C> {
    fn new(max: u32, shards: usize) -> Self {
        let slots = slot_count(max);
        let per_shard = max as usize + 1;
        SeriesTable {
            keys: (0..slots).map(|_| AtomicU64::new(EMPTY)).collect(),
            cell_of: (0..slots).map(|_| AtomicU32::new(PENDING)).collect(),
            cells: (0..per_shard * shards.max(1))
                .map(|_| C::default())
                .collect(),
            used: AtomicU32::new(0),
            max,
            overflowed: AtomicU64::new(0),
        }
    }
}

impl<C> SeriesTable<C> {
    fn overflow(&self) -> u32 {
        self.overflowed.fetch_add(1, Ordering::Relaxed);
        self.max
    }

    #[inline]
    fn cell_at(&self, slot: usize) -> u32 {
        loop {
            let c = self.cell_of[slot].load(Ordering::Acquire);
            if c != PENDING {
                if c >= self.max {
                    return self.overflow();
                }
                return c;
            }
            // The claimer is between its two stores.
            std::hint::spin_loop();
        }
    }

    /// Cell `cell` of shard `shard`.
    #[inline]
    fn cell(&self, shard: usize, cell: u32) -> &C {
        &self.cells[shard * (self.max as usize + 1) + cell as usize]
    }

    /// How many shards of cells there are.
    fn shards(&self) -> usize {
        self.cells.len() / (self.max as usize + 1)
    }

    /// The cells of `key` in shard 0, claimed on first use.
    #[inline]
    fn get(&self, key: u64) -> &C {
        self.cell(0, self.get_index(key))
    }

    /// The cell index of `key` (the same in every shard), claimed on first use.
    #[inline]
    fn get_index(&self, key: u64) -> u32 {
        let mask = self.keys.len() - 1;
        let mut slot = home(key, mask);
        for _ in 0..self.keys.len() {
            let k = self.keys[slot].load(Ordering::Acquire);
            if k == key {
                return self.cell_at(slot);
            }
            if k == EMPTY {
                match self.keys[slot].compare_exchange(
                    EMPTY,
                    key,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        let n = self.used.fetch_add(1, Ordering::Relaxed);
                        // n >= max: the slot remembers the key goes to overflow.
                        self.cell_of[slot].store(n.min(self.max), Ordering::Release);
                        return self.cell_at(slot);
                    }
                    Err(k) if k == key => return self.cell_at(slot),
                    Err(_) => {}
                }
            }
            slot = (slot + 1) & mask;
        }
        self.overflow()
    }

    /// `(key, cell index)` of every series with its own cells, by key.
    fn series(&self) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        self.series_into(&mut out);
        out
    }

    /// [`series`](Self::series) into `out` (cleared first; a scrape reuses it).
    fn series_into(&self, out: &mut Vec<(u64, u32)>) {
        out.clear();
        out.extend((0..self.keys.len()).filter_map(|slot| {
            let key = self.keys[slot].load(Ordering::Acquire);
            let cell = self.cell_of[slot].load(Ordering::Acquire);
            (key != EMPTY && cell < self.max).then_some((key, cell))
        }));
        out.sort_unstable_by_key(|&(k, _)| k);
    }
}

/// Cluster name → destination id (1…); 0 is the unknown destination.
#[derive(Debug)]
struct Destinations {
    keys: Box<[AtomicU64]>,
    labels: Box<[OnceLock<DestinationLabels>]>,
    /// Tells this registry's ids apart from another's in
    /// `Cluster::metrics_id` (never 0: a fresh cluster matches none).
    uid: u64,
    used: AtomicU32,
    max: u32,
    unknown: DestinationLabels,
}

/// Uids of [`Destinations`] (44 bits: beside a 20-bit id in a `u64`).
static NEXT_DESTINATIONS_UID: AtomicU64 = AtomicU64::new(1);

fn name_key(name: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(name.as_bytes()) | 1 << 63
}

impl Destinations {
    fn new(max: u32) -> Self {
        let max = max.min(MAX_DESTINATION_ID / 2);
        let slots = slot_count(max);
        Destinations {
            keys: (0..slots).map(|_| AtomicU64::new(EMPTY)).collect(),
            labels: (0..slots).map(|_| OnceLock::new()).collect(),
            uid: NEXT_DESTINATIONS_UID.fetch_add(1, Ordering::Relaxed),
            used: AtomicU32::new(0),
            max,
            unknown: DestinationLabels::unknown(),
        }
    }

    /// [`id_of`](Self::id_of) through the id the cluster keeps for the
    /// registry that recorded it last: one load when it is this one. The
    /// id depends only on the cluster's name, which never changes, so a
    /// kept id is never stale.
    #[inline]
    fn id_of_cached(&self, cluster: &Cluster) -> u32 {
        let entry = cluster.metrics_id.load(Ordering::Relaxed);
        if entry >> 20 == self.uid {
            return (entry & u64::from(MAX_DESTINATION_ID)) as u32;
        }
        let id = self.id_of(cluster);
        if id != 0 {
            cluster
                .metrics_id
                .store(self.uid << 20 | u64::from(id), Ordering::Relaxed);
        }
        id
    }

    /// The id of `cluster`, registering it (allocating its labels) when it
    /// is new and there is room; 0 when there is none.
    #[inline]
    fn id_of(&self, cluster: &Cluster) -> u32 {
        let key = name_key(&cluster.name);
        let mask = self.keys.len() - 1;
        let mut slot = home(key, mask);
        for _ in 0..self.keys.len() {
            let k = self.keys[slot].load(Ordering::Acquire);
            if k == EMPTY {
                if self.used.fetch_add(1, Ordering::Relaxed) >= self.max {
                    self.used.fetch_sub(1, Ordering::Relaxed);
                    return 0;
                }
                if let Err(other) = self.keys[slot].compare_exchange(
                    EMPTY,
                    key,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    self.used.fetch_sub(1, Ordering::Relaxed);
                    if other != key {
                        slot = (slot + 1) & mask;
                        continue;
                    }
                }
            } else if k != key {
                slot = (slot + 1) & mask;
                continue;
            }
            // The claimer or, in a race, whoever comes first makes the labels.
            let labels = self.labels[slot].get_or_init(|| DestinationLabels::of_cluster(cluster));
            if *labels.cluster == *cluster.name {
                return slot as u32 + 1;
            }
            slot = (slot + 1) & mask;
        }
        0
    }

    fn labels(&self, id: u32) -> &DestinationLabels {
        match id.checked_sub(1) {
            Some(slot) => self
                .labels
                .get(slot as usize)
                .and_then(OnceLock::get)
                .unwrap_or(&self.unknown),
            None => &self.unknown,
        }
    }
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
    http: SeriesTable<HttpSeries>,
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
    #[inline]
    pub fn record_request_key(&self, key: SeriesKey, end: &RequestEnd) {
        let cell = self.http.get_index(key.pack());
        // Saturating, as `as_micros` clamped to u64, without u128 math.
        let micros = end
            .duration
            .as_secs()
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(end.duration.subsec_micros()));
        let (rq, rs) = (end.request_bytes, end.response_bytes);
        match self.owners.current() {
            // This thread's own shard: plain adds.
            Some(shard) => {
                let series = self.http.cell(shard + 1, cell);
                series.duration.observe_owned(micros, micros);
                series
                    .request_bytes
                    .observe_owned(rq.saturating_mul(1000), rq);
                series
                    .response_bytes
                    .observe_owned(rs.saturating_mul(1000), rs);
            }
            None => {
                let series = self.http.cell(0, cell);
                series.duration.observe(micros, micros);
                series.request_bytes.observe(rq.saturating_mul(1000), rq);
                series.response_bytes.observe(rs.saturating_mul(1000), rs);
            }
        }
    }

    /// Cell `cell` of the HTTP table summed over the shards.
    fn merged(&self, cell: u32) -> HttpSeries {
        let out = HttpSeries::default();
        for shard in 0..self.http.shards() {
            out.merge_from(self.http.cell(shard, cell));
        }
        out
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
            let s = self.http.cell(shard, cell);
            let [d, rq, rs] = &mut out.cumulative;
            let [sd, srq, srs] = &mut out.sums;
            s.duration.add_to(d, sd);
            s.request_bytes.add_to(rq, srq);
            s.response_bytes.add_to(rs, srs);
        }
        for counts in &mut out.cumulative {
            let mut total = 0u64;
            for c in counts {
                total = total.wrapping_add(*c);
                *c = total;
            }
        }
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

    /// The octave lookup agrees with a search of the bounds on and around
    /// every bound, at every power of two, and over a fixed sweep.
    #[test]
    fn bucket_lookup_agrees_with_a_search() {
        let search = |v: u64| BUCKETS_THOUSANDTHS.partition_point(|&b| b < v);
        let mut values = vec![0, 1, u64::MAX];
        for b in BUCKETS_THOUSANDTHS {
            values.extend([b - 2, b - 1, b, b + 1, b + 2]);
        }
        for k in 0..64 {
            values.extend([(1u64 << k) - 1, 1 << k, (1 << k) + 1]);
        }
        let mut x = 1u64;
        for _ in 0..100_000 {
            // xorshift64, shifted to spread over every bit length.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(x >> (x % 64));
        }
        for v in values {
            assert_eq!(bucket_of(v), search(v), "{v}");
        }
    }

    #[test]
    fn buckets_take_values_up_to_their_bound() {
        let h = Histogram::default();
        // (value in thousandths, the first bucket whose bound holds it)
        let rows = [
            (0, 0),
            (500, 0),
            (501, 1),
            (1000, 1),
            (1001, 2),
            (3_600_000_000, 18),
        ];
        for (v, _) in rows {
            h.observe(v, 0);
        }
        h.observe(3_600_000_001, 0);
        let raw: Vec<u64> = h
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        assert_eq!(raw[0], 2);
        assert_eq!(raw[1], 2);
        assert_eq!(raw[2], 1);
        assert_eq!(raw[18], 1);
        assert_eq!(raw[19], 1, "above the last bound: +Inf only");
        assert_eq!(h.count(), 7);
    }

    #[test]
    fn series_beyond_the_bound_share_the_overflow_cell() {
        let t: SeriesTable<AtomicU64> = SeriesTable::new(3, 1);
        for key in 1..=10u64 {
            t.get(key | 1 << 63).fetch_add(key, Ordering::Relaxed);
        }
        // The same key again finds its own cell.
        t.get(2 | 1 << 63).fetch_add(100, Ordering::Relaxed);
        let series = t.series();
        assert_eq!(series.len(), 3);
        let own: u64 = series
            .iter()
            .map(|&(_, c)| t.cell(0, c).load(Ordering::Relaxed))
            .sum();
        let over = t.cells[3].load(Ordering::Relaxed);
        assert_eq!(own + over, 55 + 100);
        assert_eq!(t.overflowed.load(Ordering::Relaxed), 7);
    }

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
