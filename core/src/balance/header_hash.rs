//! A header's values hashed as Envoy's header hash policy hashes them
//! (`source/common/http/hash_policy.cc`, `HashUtil::xxHash64` over a span):
//! sorted bytewise, seed-chained XXH64. Per request, so off the heap: the
//! values are sorted in a stack buffer, or past its size in fixed windows
//! over repeated passes.

use crate::balance::xxh64::xxh64;
use crate::request::Headers;

/// How many header values, and how many of their bytes, are sorted on the
/// stack. Past either, the slower allocation-free windowed sort takes over.
const SORT_VALUES: usize = 16;
const SORT_BYTES: usize = 1024;

/// XXH64 of every value of header `name`, sorted bytewise, seed-chained
/// (`HashUtil::xxHash64(absl::Span<string_view>)`): `acc = XXH64(v, acc)`
/// from `acc = 0`. `None` without the header. Duplicates count each time.
pub(crate) fn hash_header(headers: &dyn Headers, name: &str) -> Option<u64> {
    let mut stack = SortBuf::new();
    headers.for_each(name, &mut |v| stack.push(v.as_bytes()));
    match stack.count {
        0 => None,
        // One value (the usual case): its hash, whatever its size.
        1 if stack.overflow => headers.get(name).map(|v| xxh64(v.as_bytes(), 0)),
        _ if !stack.overflow => Some(stack.sorted_chain_hash()),
        n => Some(windowed_chain_hash(headers, name, n)),
    }
}

/// Up to [`SORT_VALUES`] header values copied to the stack for sorting.
struct SortBuf {
    bytes: [u8; SORT_BYTES],
    /// `(start, len)` into `bytes`.
    spans: [(u16, u16); SORT_VALUES],
    used: usize,
    count: usize,
    overflow: bool,
}

impl SortBuf {
    fn new() -> Self {
        SortBuf {
            bytes: [0; SORT_BYTES],
            spans: [(0, 0); SORT_VALUES],
            used: 0,
            count: 0,
            overflow: false,
        }
    }

    fn push(&mut self, v: &[u8]) {
        if !self.overflow && self.count < SORT_VALUES && SORT_BYTES - self.used >= v.len() {
            self.bytes[self.used..self.used + v.len()].copy_from_slice(v);
            // Both fit in u16: SORT_BYTES < 65536.
            self.spans[self.count] = (self.used as u16, v.len() as u16);
            self.used += v.len();
        } else {
            self.overflow = true;
        }
        self.count += 1;
    }

    fn value(&self, span: (u16, u16)) -> &[u8] {
        let start = usize::from(span.0);
        &self.bytes[start..start + usize::from(span.1)]
    }

    fn sorted_chain_hash(&mut self) -> u64 {
        let mut spans = self.spans;
        let spans = &mut spans[..self.count];
        // Insertion sort: at most 16 short values.
        for i in 1..spans.len() {
            let mut j = i;
            while j > 0 && self.value(spans[j - 1]) > self.value(spans[j]) {
                spans.swap(j - 1, j);
                j -= 1;
            }
        }
        spans.iter().fold(0u64, |acc, &s| xxh64(self.value(s), acc))
    }
}

/// The sorted seed-chain hash for more values than fit on the stack, with no
/// allocation: values are ranked by (bytes, position) with nested passes over
/// the header map, a window of [`WINDOW`] ranks at a time, then hashed in rank
/// order. Quadratic in the number of values, which the proxy bounds (Envoy's
/// default `max_headers_count` is 100); only hostile requests get here.
fn windowed_chain_hash(headers: &dyn Headers, name: &str, n: usize) -> u64 {
    const WINDOW: usize = 64;
    let mut acc = 0u64;
    let mut base = 0usize;
    while base < n {
        // position_of[r - base] = header-map position of the value ranked r.
        let mut position_of = [usize::MAX; WINDOW];
        let mut i = 0usize;
        headers.for_each(name, &mut |vi| {
            let mut rank = 0usize;
            let mut j = 0usize;
            headers.for_each(name, &mut |vj| {
                if vj < vi || (vj == vi && j < i) {
                    rank += 1;
                }
                j += 1;
            });
            if rank >= base && rank < base + WINDOW {
                position_of[rank - base] = i;
            }
            i += 1;
        });
        for &pos in position_of.iter().take(n.saturating_sub(base).min(WINDOW)) {
            let mut k = 0usize;
            headers.for_each(name, &mut |v| {
                if k == pos {
                    acc = xxh64(v.as_bytes(), acc);
                }
                k += 1;
            });
        }
        base += WINDOW;
    }
    acc
}

// ---------------------------------------------------------------------------
// Cookies and query strings
