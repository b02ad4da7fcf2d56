//! Istio's three HTTP histograms (duration, request size, response size):
//! their bucket bounds, the cells one series keeps in one shard, and the
//! views summed over the shards.
//!
//! Recording is on the request path: a value's bucket comes from its bit
//! length (one table load, no search) and a series' three sums share a
//! cache line, so a record touches three lines, not six.

use std::sync::atomic::{AtomicU64, Ordering};

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

/// [`BUCKETS`] floored, for whole bytes: a byte count `v` is at most a
/// bound `b` exactly when it is at most `floor(b)` (0.5 holds only 0).
const BUCKETS_BYTES: [u64; 19] = {
    let mut out = [0u64; 19];
    let mut i = 0;
    while i < 19 {
        out[i] = BUCKETS_THOUSANDTHS[i] / 1000;
        i += 1;
    }
    out
};

/// Per octave `k` of a value (`floor(log2(v | 1))`), how to find its
/// bucket with one load: `bucket = (entry & 0xff) + (v > entry >> 8)`.
///
/// Octave `k` is `[2^k, 2^(k+1))`, octave 0 is `[0, 2)`. Each bound is at
/// least twice the one before, so an octave holds at most one bound that
/// splits it (in octave 0 a second one can only be 1, which holds the
/// whole rest): the bucket is the number of bounds below the octave, plus
/// one when the value is above the octave's first bound. An octave with no
/// bound stores a comparison that always comes out the same (bound
/// `2^(k+1) - 1` when no bound is below it, else one less below and bound
/// 0), so every entry fits one `u64`.
const fn octaves(bounds: &[u64; 19]) -> [u64; 64] {
    let mut i = 1;
    while i < 19 {
        assert!(
            bounds[i] >= 2 * bounds[i - 1],
            "one bound an octave at most"
        );
        i += 1;
    }
    assert!(bounds[18] < 1 << 56, "bounds fit beside the count");
    let mut out = [0u64; 64];
    let mut k = 0;
    while k < 64 {
        let low = if k == 0 { 0u128 } else { 1u128 << k };
        let high = 1u128 << (k + 1);
        let mut below = 0u64;
        let mut inside = None;
        let mut b = 0;
        while b < 19 {
            let bound = bounds[b] as u128;
            if bound < low {
                below += 1;
            } else if bound < high {
                match inside {
                    None => inside = Some(bounds[b]),
                    // A second bound must hold every value left above the first.
                    Some(_) => assert!(bound >= high - 1, "one bound splits an octave"),
                }
            }
            b += 1;
        }
        out[k] = match inside {
            Some(bound) => bound << 8 | below,
            None if below == 0 => ((high - 1) as u64) << 8,
            None => below - 1,
        };
        k += 1;
    }
    out
}

const OCTAVES_THOUSANDTHS: [u64; 64] = octaves(&BUCKETS_THOUSANDTHS);
const OCTAVES_BYTES: [u64; 64] = octaves(&BUCKETS_BYTES);

#[inline(always)]
fn bucket_in(octaves: &[u64; 64], value: u64) -> usize {
    // `| 1`: no zero to special-case (0 and 1 share octave 0).
    let entry = octaves[(value | 1).ilog2() as usize];
    (entry & 0xff) as usize + usize::from(value > entry >> 8)
}

/// The bucket of a duration of `micros` (the first bound that holds it,
/// `+Inf` last).
#[inline(always)]
pub(crate) fn bucket_of_micros(micros: u64) -> usize {
    bucket_in(&OCTAVES_THOUSANDTHS, micros)
}

/// The bucket of a size of `bytes`.
#[inline(always)]
pub(crate) fn bucket_of_bytes(bytes: u64) -> usize {
    bucket_in(&OCTAVES_BYTES, bytes)
}

/// Adds `v` to a cell only this thread writes (a shard it owns): a plain
/// load and store, no locked instruction. Readers still see whole values.
#[inline(always)]
pub(crate) fn add_owned(cell: &AtomicU64, v: u64) {
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(v),
        Ordering::Relaxed,
    );
}

/// The cells of one HTTP series in one shard. `istio_requests_total` is
/// the duration histogram's count: every finished request lands there once.
/// Aligned so the sums share the first cache line with the shortest
/// durations' buckets.
#[derive(Debug, Default)]
#[repr(C, align(64))]
pub(crate) struct HttpCells {
    /// Duration (microseconds), request bytes, response bytes.
    sums: [AtomicU64; 3],
    /// Per-bucket counts (not cumulative; the last is `+Inf`), in `sums` order.
    buckets: [[AtomicU64; 20]; 3],
}

/// What one finished request adds to a series: a bucket and a sum per
/// histogram, in [`HttpCells`] order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Observation {
    pub(crate) buckets: [usize; 3],
    pub(crate) values: [u64; 3],
}

impl Observation {
    /// A request of `micros`, `request_bytes` and `response_bytes`.
    #[inline(always)]
    pub(crate) fn new(micros: u64, request_bytes: u64, response_bytes: u64) -> Observation {
        Observation {
            buckets: [
                bucket_of_micros(micros),
                bucket_of_bytes(request_bytes),
                bucket_of_bytes(response_bytes),
            ],
            values: [micros, request_bytes, response_bytes],
        }
    }
}

impl HttpCells {
    /// Adds `o` to cells of a shard this thread owns: plain adds.
    #[inline(always)]
    pub(crate) fn add_owned(&self, o: &Observation) {
        for h in 0..3 {
            add_owned(&self.buckets[h][o.buckets[h]], 1);
            add_owned(&self.sums[h], o.values[h]);
        }
    }

    /// Adds `o` to cells of the shared shard: atomic adds.
    #[inline]
    pub(crate) fn add_shared(&self, o: &Observation) {
        for h in 0..3 {
            self.buckets[h][o.buckets[h]].fetch_add(1, Ordering::Relaxed);
            self.sums[h].fetch_add(o.values[h], Ordering::Relaxed);
        }
    }

    /// Adds these cells to `totals` (per-bucket counts, not yet cumulative).
    pub(crate) fn add_to(&self, totals: &mut HttpTotals) {
        for h in 0..3 {
            for (c, b) in totals.cumulative[h].iter_mut().zip(&self.buckets[h]) {
                *c = c.wrapping_add(b.load(Ordering::Relaxed));
            }
            totals.sums[h] = totals.sums[h].wrapping_add(self.sums[h].load(Ordering::Relaxed));
        }
    }
}

/// One HTTP series summed over the shards, in plain numbers: what a scrape
/// writes. Histograms in [`HttpCells`] order (duration, request bytes,
/// response bytes).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct HttpTotals {
    /// Cumulative counts, `le` ascending, the last `+Inf` (the count).
    pub(crate) cumulative: [[u64; 20]; 3],
    /// Raw sums (microseconds for the duration, bytes for sizes).
    pub(crate) sums: [u64; 3],
}

impl HttpTotals {
    /// Turns the per-bucket counts summed so far into cumulative ones.
    pub(crate) fn accumulate(&mut self) {
        for counts in &mut self.cumulative {
            let mut total = 0u64;
            for c in counts {
                total = total.wrapping_add(*c);
                *c = total;
            }
        }
    }
}

/// One histogram of a series, summed over the shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Histogram {
    cumulative: [u64; 20],
    sum: u64,
}

impl Histogram {
    /// Cumulative counts, `le` ascending, the last one `+Inf` (the count).
    pub fn cumulative(&self) -> [u64; 20] {
        self.cumulative
    }

    /// How many values were observed.
    pub fn count(&self) -> u64 {
        self.cumulative[19]
    }

    /// The raw sum (microseconds for durations, bytes for sizes).
    pub fn raw_sum(&self) -> u64 {
        self.sum
    }
}

/// One HTTP series summed over the shards.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpSeries {
    /// `istio_request_duration_milliseconds` (sum in microseconds).
    pub duration: Histogram,
    /// `istio_request_bytes`.
    pub request_bytes: Histogram,
    /// `istio_response_bytes`.
    pub response_bytes: Histogram,
}

impl From<&HttpTotals> for HttpSeries {
    fn from(t: &HttpTotals) -> HttpSeries {
        let h = |i: usize| Histogram {
            cumulative: t.cumulative[i],
            sum: t.sums[i],
        };
        HttpSeries {
            duration: h(0),
            request_bytes: h(1),
            response_bytes: h(2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The octave lookups agree with a search of the bounds on and around
    /// every bound, at every power of two, and over a fixed sweep.
    #[test]
    fn bucket_lookup_agrees_with_a_search() {
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
            let thousandths = BUCKETS_THOUSANDTHS.partition_point(|&b| b < v);
            assert_eq!(bucket_of_micros(v), thousandths, "{v} µs");
            // A whole byte count against the real bounds.
            let bytes = BUCKETS.partition_point(|&b| b < v as f64);
            assert_eq!(bucket_of_bytes(v), bytes, "{v} bytes");
        }
    }

    #[test]
    fn buckets_take_values_up_to_their_bound() {
        // (microseconds, bytes, the first bucket whose bound holds both)
        let rows = [
            (0, 0, 0),
            (500, 0, 0),
            (501, 1, 1),
            (1000, 1, 1),
            (1001, 2, 2),
            (5000, 5, 2),
            (5001, 6, 3),
            (3_600_000_000, 3_600_000, 18),
            (3_600_000_001, 3_600_001, 19),
            (u64::MAX, u64::MAX, 19),
        ];
        for (micros, bytes, want) in rows {
            assert_eq!(bucket_of_micros(micros), want, "{micros} µs");
            assert_eq!(bucket_of_bytes(bytes), want, "{bytes} bytes");
        }
    }

    /// Owned and shared adds count the same; the totals come out cumulative
    /// with the count last.
    #[test]
    fn cells_add_up_into_cumulative_totals() {
        let cells = HttpCells::default();
        cells.add_owned(&Observation::new(1500, 0, 300));
        cells.add_shared(&Observation::new(1500, 7, 3_600_001));
        cells.add_owned(&Observation::new(400, 7, 300));
        let mut totals = HttpTotals::default();
        cells.add_to(&mut totals);
        totals.accumulate();
        let s = HttpSeries::from(&totals);
        assert_eq!(s.duration.count(), 3);
        assert_eq!(s.duration.raw_sum(), 3400);
        assert_eq!(s.duration.cumulative()[0], 1, "400 µs ≤ 0.5 ms");
        assert_eq!(s.duration.cumulative()[1], 1);
        assert_eq!(s.duration.cumulative()[2], 3, "1.5 ms ≤ 5 ms");
        assert_eq!(s.request_bytes.cumulative()[0], 1, "0 bytes ≤ 0.5");
        assert_eq!(s.request_bytes.cumulative()[3], 3, "7 bytes ≤ 10");
        assert_eq!(s.request_bytes.raw_sum(), 14);
        assert_eq!(
            s.response_bytes.cumulative()[18],
            2,
            "one above the last bound"
        );
        assert_eq!(s.response_bytes.count(), 3);
    }

    /// The sums share the first cache line.
    #[test]
    fn cells_are_laid_out_for_the_request_path() {
        assert_eq!(std::mem::align_of::<HttpCells>(), 64);
        assert_eq!(std::mem::size_of::<HttpCells>(), 512);
    }
}
