//! Envoy's MAGLEV load balancer, bit-for-bit.
//!
//! Matches Envoy `source/extensions/load_balancing_policies/maglev/maglev_lb.cc`
//! (`constructMaglevTableInternal`, `chooseHost`) with flat weights normalised
//! as in `source/extensions/load_balancing_policies/common/thread_aware_lb_impl.cc`.
//!
//! Memory is O(M + hosts): the table holds host indices, `u16` while the host
//! list is short enough, and building keeps one small record per host (no
//! M × hosts permutation matrix). The fill loop steps each host's probe
//! position by its skip with a compare-and-subtract instead of a `%` (the
//! modulo dominates Envoy's own build profile, envoyproxy/envoy#44167), and
//! lookups use a precomputed reciprocal instead of a 64-bit division.

use crate::balance::xxh64::xxh64;
use crate::balance::Modulus;

/// A built Maglev table over hosts given as `(hash key, weight)`.
#[derive(Debug, Clone)]
pub struct Maglev {
    table: Table,
    /// Table size M (prime), as a divisor prepared for `% M`.
    size: Modulus,
}

/// Host indices, as narrow as the host count allows.
#[derive(Debug, Clone)]
enum Table {
    Empty,
    U16(Box<[u16]>),
    U32(Box<[u32]>),
}

impl Default for Maglev {
    fn default() -> Self {
        Maglev {
            table: Table::Empty,
            size: Modulus::new(0),
        }
    }
}

/// Why a `table_size` is rejected, as Envoy rejects it (prime, at most
/// [`Maglev::MAX_TABLE_SIZE`]). Istio's `tableSize: 0` means "unset" and
/// never reaches Envoy; callers handle it before asking.
pub fn validate_table_size(n: u64) -> Result<(), &'static str> {
    if n > Maglev::MAX_TABLE_SIZE {
        return Err("the table size of maglev must be at most 5000011");
    }
    if !is_prime(n) {
        return Err("the table size of maglev must be prime number");
    }
    Ok(())
}

/// Whether `n` is prime (trial division, as Envoy's `Primes::isPrime`; table
/// sizes are small).
pub fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    if n < 4 {
        return true;
    }
    if n % 2 == 0 {
        return false;
    }
    let mut d = 3u64;
    while d.saturating_mul(d) <= n {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

/// A host's state while the table fills.
#[derive(Debug, Clone, Copy)]
struct BuildEntry {
    host: u32,
    /// Normalised weight.
    weight: f64,
    /// Claims a slot once `iteration * weight >= target`.
    target: f64,
    /// Current probe position: `(offset + skip * next) % M`, kept incrementally.
    position: u64,
    skip: u64,
}

/// Table slot types: host indices with a reserved "empty" value.
trait Slot: Copy + Eq {
    const EMPTY: Self;
    fn from_host(host: u32) -> Self;
}

impl Slot for u16 {
    const EMPTY: Self = u16::MAX;
    fn from_host(host: u32) -> Self {
        host as u16
    }
}

impl Slot for u32 {
    const EMPTY: Self = u32::MAX;
    fn from_host(host: u32) -> Self {
        host
    }
}

impl Maglev {
    /// Envoy's default table size (prime).
    pub const DEFAULT_TABLE_SIZE: u64 = 65537;
    /// Envoy's proto limit on the table size.
    pub const MAX_TABLE_SIZE: u64 = 5_000_011;

    /// Builds the table.
    ///
    /// Host order does not matter (entries are sorted by key, as Envoy does
    /// since 1.27); the returned indices are positions in `hosts`. Weight-0
    /// hosts are excluded; with none left the table is empty. A `table_size`
    /// that [`validate_table_size`] rejects never panics or hangs: 0 means
    /// the default, larger than the maximum is clamped, and a non-prime is
    /// raised to the next prime.
    pub fn build(hosts: &[(&str, u32)], table_size: u64) -> Self {
        let Some(weighted) = super::normalized_weights(hosts) else {
            return Maglev::default();
        };
        Self::build_internal(weighted, hosts.len(), table_size)
    }

    /// Builds the table from already normalised weights (`(key, weight)`,
    /// weights summing to 1), for callers that weight by locality the way
    /// Envoy's `thread_aware_lb_impl.cc` does. Non-positive and non-finite
    /// weights are excluded.
    pub fn build_normalized(hosts: &[(&str, f64)], table_size: u64) -> Self {
        let weighted: Vec<(&[u8], u32, f64)> = hosts
            .iter()
            .enumerate()
            .filter(|(_, &(_, w))| w > 0.0 && w.is_finite())
            .map(|(i, &(key, w))| (key.as_bytes(), i as u32, w))
            .collect();
        Self::build_internal(weighted, hosts.len(), table_size)
    }

    fn build_internal(
        mut weighted: Vec<(&[u8], u32, f64)>,
        host_count: usize,
        table_size: u64,
    ) -> Self {
        let m = effective_table_size(table_size);
        if weighted.is_empty() {
            return Maglev::default();
        }
        // Sort by key bytewise; equal keys (a configuration error) fall back
        // to host order so the result is at least deterministic.
        weighted.sort_unstable_by(|a, b| a.0.cmp(b.0).then(a.1.cmp(&b.1)));
        let max_weight = weighted.iter().fold(0.0f64, |acc, e| acc.max(e.2));
        let mut entries: Vec<BuildEntry> = weighted
            .iter()
            .map(|&(key, host, weight)| {
                let offset = xxh64(key, 0) % m;
                let skip = xxh64(key, 1) % (m - 1) + 1;
                BuildEntry {
                    host,
                    weight,
                    target: 0.0,
                    position: offset,
                    skip,
                }
            })
            .collect();
        let table = if host_count < usize::from(u16::MAX) {
            Table::U16(fill::<u16>(&mut entries, m, max_weight))
        } else {
            Table::U32(fill::<u32>(&mut entries, m, max_weight))
        };
        Maglev {
            table,
            size: Modulus::new(m),
        }
    }

    /// The table size M (0 when empty).
    pub fn table_size(&self) -> u64 {
        self.size.divisor()
    }

    /// The host index for request hash `hash` on retry attempt `attempt` (0 first).
    ///
    /// `table[h % M]`, with `h ^= 2^64 - attempt` on retries (Envoy
    /// `MaglevTable::chooseHost`).
    #[inline]
    pub fn pick(&self, hash: u64, attempt: u32) -> Option<u32> {
        // 2^64 - 0 wraps to 0: attempt 0 leaves the hash alone, no branch.
        let h = hash ^ u64::from(attempt).wrapping_neg();
        let i = self.size.remainder(h) as usize;
        match &self.table {
            Table::Empty => None,
            Table::U16(t) => t.get(i).map(|&v| u32::from(v)),
            Table::U32(t) => t.get(i).copied(),
        }
    }

    /// The host index in every slot, in table order (for tests and tools).
    pub fn slots(&self) -> Vec<u32> {
        match &self.table {
            Table::Empty => Vec::new(),
            Table::U16(t) => t.iter().map(|&v| u32::from(v)).collect(),
            Table::U32(t) => t.to_vec(),
        }
    }
}

/// The table size actually built for a requested `table_size`.
pub(crate) fn effective_table_size(table_size: u64) -> u64 {
    let mut m = match table_size {
        0 => Maglev::DEFAULT_TABLE_SIZE,
        n => n.min(Maglev::MAX_TABLE_SIZE),
    };
    // MAX_TABLE_SIZE is prime, so this stops at it at the latest.
    while !is_prime(m) {
        m += 1;
    }
    m
}

/// Envoy's weighted fill: iterate; each host (in key order) whose
/// `iteration * weight` has reached its target claims its next free slot in
/// its permutation `offset, offset + skip, …` (mod M) and raises its target
/// by the largest weight. Terminates because M is prime, so every
/// permutation visits every slot, and every host is eligible on iteration 1.
fn fill<T: Slot>(entries: &mut [BuildEntry], m: u64, max_weight: f64) -> Box<[T]> {
    let mut table = vec![T::EMPTY; m as usize];
    let mut filled = 0u64;
    let mut iteration = 1u64;
    while filled < m {
        for e in entries.iter_mut() {
            if filled >= m {
                break;
            }
            if iteration as f64 * e.weight < e.target {
                continue;
            }
            e.target += max_weight;
            let mut c = e.position;
            while table[c as usize] != T::EMPTY {
                c += e.skip;
                if c >= m {
                    c -= m;
                }
            }
            table[c as usize] = T::from_host(e.host);
            c += e.skip;
            if c >= m {
                c -= m;
            }
            e.position = c;
            filled += 1;
        }
        iteration += 1;
    }
    table.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::balance::test_support::{hosts, lopsided, ports};

    /// (keys, weights, M, table of host indices)
    type TableCase<'a> = (&'a [String], &'a [u32], u64, &'a [u32]);
    /// (hosts, table size, expected M, hosts every pick is among)
    type DegenerateCase<'a> = (Vec<(&'a str, u32)>, u64, u64, &'a [u32]);

    fn counts(maglev: &Maglev, n: usize) -> Vec<u32> {
        let mut c = vec![0u32; n];
        for s in maglev.slots() {
            c[s as usize] += 1;
        }
        c
    }

    #[test]
    fn tables_match_envoy() {
        // maglev_lb_test.cc (spec §8.2): (keys, weights, M, table of host indices)
        let p90 = ports(90..96);
        let names: Vec<String> = (90..96).map(|p| p.to_string()).collect();
        let p90_91 = ports(90..92);
        let cases: &[TableCase<'_>] = &[
            // `Basic`
            (&p90, &[], 7, &[2, 4, 0, 1, 5, 0, 3]),
            // `BasicWithHostName`
            (&names, &[], 7, &[2, 5, 0, 3, 4, 1, 0]),
            // `Weighted`
            (
                &p90_91,
                &[1, 2],
                17,
                &[1, 0, 0, 1, 0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 1, 0, 1],
            ),
        ];
        for &(keys, weights, m, want) in cases {
            let maglev = Maglev::build(&hosts(keys, weights), m);
            assert_eq!(maglev.slots(), want, "{keys:?}");
            for (i, &w) in want.iter().enumerate() {
                assert_eq!(maglev.pick(i as u64 + m * 1_000_003, 0), Some(w));
            }
        }
    }

    #[test]
    fn locality_weighted_tables_match_envoy() {
        // Locality weights enter as normalised weights (spec §2.1, §8.2).
        // (normalised weights of :90, :91, M, table)
        let keys = ports(90..92);
        let cases: &[(&[f64], u64, &[u32])] = &[
            // `LocalityWeightedSameLocalityWeights`: L(1){:90 w1}, L(1){:91 w2}.
            (
                &[(1.0 * 0.5) / 1.0, (2.0 * 0.5) / 2.0],
                17,
                &[1, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 1],
            ),
            // `LocalityWeightedDifferentLocalityWeights`: weights 8, 0 (:92), 2.
            (
                &[(1.0 * 0.8) / 1.0, (1.0 * 0.2) / 1.0],
                17,
                &[1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0],
            ),
        ];
        for &(weights, m, want) in cases {
            let hs: Vec<(&str, f64)> = keys
                .iter()
                .map(|k| k.as_str())
                .zip(weights.iter().copied())
                .collect();
            assert_eq!(
                Maglev::build_normalized(&hs, m).slots(),
                want,
                "{weights:?}"
            );
        }
        // `LocalityWeightedLopsided`: localities 127:1, one heavy host, 1023 light.
        let keys = ports(0..1024);
        let hs = lopsided(&keys);
        let c = counts(&Maglev::build_normalized(&hs, 65537), 1024);
        assert_eq!(c[0], 65537 - 1023);
        assert!(c[1..].iter().all(|&n| n == 1));
    }

    #[test]
    fn retries_match_envoy() {
        // `BasicWithRetryHostPredicate`: (hash, attempt, port)
        let keys = ports(90..96);
        let maglev = Maglev::build(&hosts(&keys, &[]), 7);
        let cases: &[(u64, u32, u32)] = &[(10, 0, 91), (10, 1, 90), (10, 2, 95)];
        for &(h, attempt, port) in cases {
            assert_eq!(maglev.pick(h, attempt), Some(port - 90), "{h} {attempt}");
        }
    }

    #[test]
    fn stable_under_host_shuffles() {
        // `BasicStability`: the table follows the keys, not their order.
        let keys = ports(90..96);
        let a = Maglev::build(&hosts(&keys, &[]), 7);
        let mut rev = keys.clone();
        rev.reverse();
        let b = Maglev::build(&hosts(&rev, &[]), 7);
        let remapped: Vec<u32> = b.slots().iter().map(|&i| 5 - i).collect();
        assert_eq!(a.slots(), remapped);
    }

    #[test]
    fn derived_vectors_match_reference() {
        // Spec §8.3: hosts 10.0.0.1..5:8080, M = 65537.
        let keys: Vec<String> = (1..6).map(|i| format!("10.0.0.{i}:8080")).collect();
        // (key, offset, skip)
        let perms: &[(&str, u64, u64)] = &[
            ("10.0.0.1:8080", 1495, 46121),
            ("10.0.0.2:8080", 802, 64586),
        ];
        for &(key, offset, skip) in perms {
            assert_eq!(xxh64(key.as_bytes(), 0) % 65537, offset);
            assert_eq!(xxh64(key.as_bytes(), 1) % 65536 + 1, skip);
        }
        let maglev = Maglev::build(&hosts(&keys, &[]), Maglev::DEFAULT_TABLE_SIZE);
        assert_eq!(maglev.slots()[..10], [2, 2, 2, 3, 0, 3, 0, 1, 0, 2]);
        // (request hash, expected 10.0.0.N)
        let picks: &[(u64, u32)] = &[
            (8332761332120969289, 4),
            (10558559838520660027, 3),
            (13965298395879099448, 1),
            (4142921581652311169, 5),
            (17241709254077376921, 4),
            (5683702491454375104, 2),
        ];
        for &(h, n) in picks {
            assert_eq!(maglev.pick(h, 0), Some(n - 1), "{h}");
        }
        // Weights 1..5.
        let maglev = Maglev::build(&hosts(&keys, &[1, 2, 3, 4, 5]), Maglev::DEFAULT_TABLE_SIZE);
        assert_eq!(counts(&maglev, 5), [4370, 8738, 13107, 17477, 21845]);
        // Envoy docs: weights 1:2 → 21846 : 43691.
        let maglev = Maglev::build(&hosts(&keys[..2], &[1, 2]), Maglev::DEFAULT_TABLE_SIZE);
        assert_eq!(counts(&maglev, 2), [21846, 43691]);
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let keys = ports(0..3);
        // (hosts, table size, expected M, every pick among)
        let cases: &[DegenerateCase<'_>] = &[
            (vec![], 7, 0, &[]),
            (hosts(&keys, &[0, 0, 0]), 7, 0, &[]),
            (hosts(&keys, &[0, 5, 0]), 7, 7, &[1]),
            (hosts(&keys, &[]), 0, 65537, &[0, 1, 2]),
            (hosts(&keys, &[]), 1, 2, &[0, 1, 2]),
            (hosts(&keys, &[]), 2, 2, &[0, 1, 2]),
            (hosts(&keys, &[]), 8, 11, &[0, 1, 2]),
            (hosts(&keys, &[u32::MAX, u32::MAX, 1]), 13, 13, &[0, 1, 2]),
        ];
        for (hs, size, m, among) in cases {
            let maglev = Maglev::build(hs, *size);
            assert_eq!(maglev.table_size(), *m, "{hs:?} {size}");
            for h in [0u64, 1, 5, u64::MAX] {
                match maglev.pick(h, 0) {
                    None => assert!(among.is_empty()),
                    Some(i) => assert!(among.contains(&i), "{hs:?} {size} {i}"),
                }
            }
        }
        // Normalised weights that are not: no hang, no panic.
        let nw: &[&[(&str, f64)]] = &[
            &[("a", f64::INFINITY), ("b", 0.5)],
            &[("a", f64::NAN), ("b", 0.5)],
            &[("a", 1e6), ("b", 1e-9)],
            &[("a", -1.0)],
        ];
        for hs in nw {
            let maglev = Maglev::build_normalized(hs, 13);
            assert!(
                maglev.slots().len() == 13 || maglev.slots().is_empty(),
                "{hs:?}"
            );
        }
        // More hosts than slots: late hosts in key order get nothing.
        let keys = ports(0..20);
        let maglev = Maglev::build(&hosts(&keys, &[]), 7);
        assert_eq!(maglev.slots().len(), 7);
    }

    #[test]
    fn wide_host_lists_use_u32_slots() {
        let keys: Vec<String> = (0..70_000u32)
            .map(|i| format!("10.{}.{}.{}:80", i >> 16, (i >> 8) & 255, i & 255))
            .collect();
        let maglev = Maglev::build(&hosts(&keys, &[]), 131_071);
        assert!(matches!(maglev.table, Table::U32(_)));
        assert!(maglev.slots().iter().any(|&i| i >= 65_535));
    }

    #[test]
    fn table_size_validation() {
        // (size, ok)
        let cases: &[(u64, bool)] = &[
            (65537, true),
            (131, true),
            (7, true),
            (2, true),
            (5_000_011, true),
            (0, false),
            (1, false),
            (65536, false),
            (5_000_012, false),
            (5_000_101, false),
            (u64::MAX, false),
        ];
        for &(n, ok) in cases {
            assert_eq!(validate_table_size(n).is_ok(), ok, "{n}");
        }
    }
}
