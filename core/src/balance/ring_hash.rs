//! Envoy's RING_HASH ("ketama") load balancer, bit-for-bit.
//!
//! Matches Envoy `source/extensions/load_balancing_policies/ring_hash/ring_hash_lb.cc`
//! (ring build and lookup) and
//! `source/extensions/load_balancing_policies/common/thread_aware_lb_impl.cc`
//! (flat weight normalisation). Locality weighting is not modelled: Weir has
//! none yet, and with one locality Envoy's arithmetic is the flat one.
//!
//! Layout: the ring is two parallel arrays, sorted hashes (`u64`) and host
//! indices (`u16` while the host list allows it), 10 bytes an entry instead of
//! Envoy's 24–32. A small bucket index over the top bits of the hash turns the
//! binary search into a jump plus a scan of a couple of entries.

use super::murmur2::{murmur_hash2_64, MURMUR_SEED};

/// A built ring over hosts given as `(hash key, weight)`.
#[derive(Debug, Clone, Default)]
pub struct RingHash {
    /// Entry hashes, ascending.
    hashes: Box<[u64]>,
    /// Host index of each entry (position in the slice given to `build`).
    hosts: HostIndices,
    /// `index[b]` = first entry whose hash has top `bits` bits ≥ `b`;
    /// one extra slot at the end holds the entry count.
    index: Box<[u32]>,
    /// `64 - bits`, the shift taking a hash to its bucket.
    shift: u32,
}

/// Host indices, as narrow as the host count allows.
#[derive(Debug, Clone)]
enum HostIndices {
    U16(Box<[u16]>),
    U32(Box<[u32]>),
}

impl Default for HostIndices {
    fn default() -> Self {
        HostIndices::U16(Box::default())
    }
}

impl HostIndices {
    #[inline]
    fn get(&self, i: usize) -> u32 {
        match self {
            HostIndices::U16(v) => u32::from(v[i]),
            HostIndices::U32(v) => v[i],
        }
    }
}

/// The hash a ring places its entries with (`RingHashLbConfig.hash_function`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RingHashFunction {
    /// `XX_HASH` (Envoy's default): XXH64, seed 0.
    #[default]
    XxHash,
    /// `MURMUR_HASH_2`: libstdc++'s 64-bit `_Hash_bytes`, seed `0xc70f6907`.
    MurmurHash2,
}

/// Why a ring size setting is rejected (as Envoy rejects it).
pub fn validate_ring_sizes(min_ring_size: u64, max_ring_size: u64) -> Result<(), &'static str> {
    if min_ring_size > RingHash::MAX_RING_SIZE {
        return Err("minimum_ring_size must be at most 8388608");
    }
    if max_ring_size > RingHash::MAX_RING_SIZE {
        return Err("maximum_ring_size must be at most 8388608");
    }
    if min_ring_size > max_ring_size {
        return Err("minimum_ring_size must not exceed maximum_ring_size");
    }
    Ok(())
}

/// The ring's length before rounding, for hosts whose smallest normalised
/// weight is `min_nw`: "scale up so that the least-weighted host gets a
/// whole number of entries", capped by the maximum (ring_hash_lb.cc
/// `Ring::Ring`).
fn ring_scale(min_nw: f64, min_ring_size: u64, max_ring_size: u64) -> f64 {
    ((min_nw * min_ring_size as f64).ceil() / min_nw).min(max_ring_size as f64)
}

impl RingHash {
    /// How many entries a ring of hosts whose smallest normalised weight is
    /// `min_share` takes at most (the compile budget sizes rings with it).
    pub fn ring_len_bound(min_share: f64, min_ring_size: u64) -> u64 {
        let min = min_ring_size.min(Self::MAX_RING_SIZE);
        ring_scale(min_share, min, Self::MAX_RING_SIZE).ceil() as u64
    }

    /// Envoy's default `minimum_ring_size`.
    pub const DEFAULT_MIN_RING_SIZE: u64 = 1024;
    /// Envoy's default (and largest) `maximum_ring_size`.
    pub const MAX_RING_SIZE: u64 = 8 * 1024 * 1024;

    /// Builds the ring; `hosts` in host-set order, key is `ip:port`.
    ///
    /// Host order matters (as in Envoy) whenever a host's share of the ring
    /// is fractional. Weight-0 hosts are excluded; with no weight at all the
    /// ring is empty. Sizes are clamped to [`Self::MAX_RING_SIZE`] (the
    /// config validator rejects larger ones, see [`validate_ring_sizes`]).
    pub fn build(hosts: &[(&str, u32)], min_ring_size: u64, max_ring_size: u64) -> Self {
        // Flat normalisation (thread_aware_lb_impl.cc `normalizeHostWeights`),
        // in f64 in Envoy's order.
        let Some(weighted) = super::normalized_weights(hosts) else {
            return RingHash::default();
        };
        Self::build_internal(
            &weighted,
            hosts.len(),
            min_ring_size,
            max_ring_size,
            RingHashFunction::XxHash,
        )
    }

    /// Builds the ring from already normalised weights (`(key, weight)` in
    /// host-set order, weights summing to 1), for callers that weight by
    /// locality the way Envoy's `thread_aware_lb_impl.cc` does, and with a
    /// choice of hash function (Istio always leaves Envoy's default, XXH64).
    /// Non-positive and non-finite weights are excluded; weights that sum to
    /// more than 1 cannot grow the ring much past `max_ring_size` entries.
    pub fn build_normalized(
        hosts: &[(&str, f64)],
        min_ring_size: u64,
        max_ring_size: u64,
        hash_function: RingHashFunction,
    ) -> Self {
        let weighted: Vec<(&[u8], u32, f64)> = hosts
            .iter()
            .enumerate()
            .filter(|(_, &(_, w))| w > 0.0 && w.is_finite())
            .map(|(i, &(key, w))| (key.as_bytes(), i as u32, w))
            .collect();
        Self::build_internal(
            &weighted,
            hosts.len(),
            min_ring_size,
            max_ring_size,
            hash_function,
        )
    }

    fn build_internal(
        weighted: &[(&[u8], u32, f64)],
        host_count: usize,
        min_ring_size: u64,
        max_ring_size: u64,
        hash_function: RingHashFunction,
    ) -> Self {
        if weighted.is_empty() {
            return RingHash::default();
        }
        let min_ring_size = min_ring_size.min(Self::MAX_RING_SIZE);
        let max_ring_size = max_ring_size.min(Self::MAX_RING_SIZE);
        let min_nw = weighted.iter().fold(1.0f64, |acc, e| acc.min(e.2));
        let scale = ring_scale(min_nw, min_ring_size, max_ring_size);
        let expected = scale.ceil() as usize + weighted.len();

        // Normalised weights sum to 1, so Envoy's ring never exceeds
        // ceil(scale) ≤ max_ring_size entries (plus float slack); the cap
        // only stops callers passing weights that sum to more.
        let cap = max_ring_size as usize + weighted.len();
        let mut ring: Vec<(u64, u32)> = Vec::with_capacity(expected.min(cap));
        let mut key_buf: Vec<u8> = Vec::new();
        let mut current = 0.0f64;
        let mut target = 0.0f64;
        for &(key, host, nw) in weighted {
            target += scale * nw;
            // `key + "_" + i`, i from 0, hashed with seed 0 (XXH64) or
            // 0xc70f6907 (murmur2).
            key_buf.clear();
            key_buf.extend_from_slice(key);
            key_buf.push(b'_');
            let prefix = key_buf.len();
            let mut i = 0u64;
            while current < target && ring.len() < cap {
                key_buf.truncate(prefix);
                push_decimal(&mut key_buf, i);
                let h = match hash_function {
                    RingHashFunction::XxHash => crate::balance::xxh64::xxh64(&key_buf, 0),
                    RingHashFunction::MurmurHash2 => murmur_hash2_64(&key_buf, MURMUR_SEED),
                };
                ring.push((h, host));
                i += 1;
                current += 1.0;
            }
        }
        // Envoy uses std::sort on the hash only; equal hashes only arise from
        // duplicate keys, where Envoy's winner is unspecified too.
        ring.sort_unstable_by_key(|e| e.0);
        Self::from_sorted(ring, host_count)
    }

    fn from_sorted(ring: Vec<(u64, u32)>, host_count: usize) -> Self {
        let hashes: Box<[u64]> = ring.iter().map(|e| e.0).collect();
        let hosts = if host_count <= usize::from(u16::MAX) + 1 {
            HostIndices::U16(ring.iter().map(|e| e.1 as u16).collect())
        } else {
            HostIndices::U32(ring.iter().map(|e| e.1).collect())
        };
        // About two entries a bucket: 4 bytes of index per 2 entries.
        let bits = if hashes.len() < 4 {
            1
        } else {
            (usize::BITS - 1 - hashes.len().leading_zeros()).saturating_sub(1)
        };
        let shift = 64 - bits;
        let buckets = 1usize << bits;
        let mut index = Vec::with_capacity(buckets + 1);
        let mut e = 0usize;
        for b in 0..buckets as u64 {
            while e < hashes.len() && (hashes[e] >> shift) < b {
                e += 1;
            }
            index.push(e as u32);
        }
        index.push(hashes.len() as u32);
        RingHash {
            hashes,
            hosts,
            index: index.into_boxed_slice(),
            shift,
        }
    }

    /// The number of ring entries.
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Whether the ring has no entries (no host had weight).
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The host index for request hash `hash` on retry attempt `attempt` (0 first).
    ///
    /// The first entry whose hash is ≥ `hash`, wrapping to the first entry,
    /// then `attempt` entries further on (Envoy `RingHashLoadBalancer::Ring::chooseHost`).
    #[inline]
    pub fn pick(&self, hash: u64, attempt: u32) -> Option<u32> {
        let len = self.hashes.len();
        if len == 0 {
            return None;
        }
        let b = (hash >> self.shift) as usize;
        let lo = self.index[b] as usize;
        let hi = self.index[b + 1] as usize;
        // Entries in the bucket are the only candidates below the next bucket.
        let mut i = lo + self.hashes[lo..hi].partition_point(|&x| x < hash);
        if i == len {
            i = 0;
        }
        if attempt > 0 {
            i = ((i as u64 + u64::from(attempt)) % len as u64) as usize;
        }
        Some(self.hosts.get(i))
    }

    /// The entries of the ring, `(hash, host index)` ascending (for tests and tools).
    pub fn entries(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.hashes
            .iter()
            .enumerate()
            .map(|(i, &h)| (h, self.hosts.get(i)))
    }
}

/// Appends `v` in decimal, without allocating a `String`.
fn push_decimal(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut n = 0;
    loop {
        digits[19 - n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[20 - n..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::balance::test_support::{hosts, lopsided, ports};

    /// (hosts, min ring size, max ring size, expected entries)
    type DegenerateCase<'a> = (Vec<(&'a str, u32)>, u64, u64, usize);

    /// Counts picks at `probes` points spread evenly over the hash space.
    fn probe_counts(ring: &RingHash, n: usize, probes: u64) -> Vec<u32> {
        let mut counts = vec![0u32; n];
        for i in 0..probes {
            counts[ring.pick(i * (u64::MAX / probes), 0).unwrap() as usize] += 1;
        }
        counts
    }

    #[test]
    fn basic_ring_matches_envoy() {
        // ring_hash_lb_test.cc `Basic` (spec §8.1): :90..:95, min 12.
        let keys = ports(90..96);
        let ring = RingHash::build(&hosts(&keys, &[]), 12, RingHash::MAX_RING_SIZE);
        let want: &[(u64, u32)] = &[
            (833437586790550860, 94),
            (928266305478181108, 92),
            (1033482794131418490, 90),
            (3551244743356806947, 95),
            (3851675632748031481, 93),
            (5583722120771150861, 91),
            (6311230543546372928, 91),
            (7700377290971790572, 93),
            (13144177310400110813, 95),
            (13444792449719432967, 92),
            (15516499411664133160, 94),
            (16117243373044804889, 90),
        ];
        let got: Vec<(u64, u32)> = ring.entries().map(|(h, i)| (h, i + 90)).collect();
        assert_eq!(got, want);
        // (hash, attempt, expected port)
        let picks: &[(u64, u32, u32)] = &[
            (0, 0, 94),
            (u64::MAX, 0, 94),
            (3551244743356806947, 0, 95),
            (3551244743356806948, 0, 93),
            (16117243373044804880, 0, 90),
            // `BasicWithRetryHostPredicate`: h=0, every host rejected.
            (0, 1, 92),
            (0, 2, 90),
            (0, 13, 92),
        ];
        for &(h, attempt, port) in picks {
            assert_eq!(ring.pick(h, attempt), Some(port - 90), "{h} {attempt}");
        }
    }

    #[test]
    fn hostname_keys_match_envoy() {
        // `BasicWithHostname` / `BasicWithMetadataHashKey`: keys "90".."95".
        let keys: Vec<String> = (90..96).map(|p| p.to_string()).collect();
        let ring = RingHash::build(&hosts(&keys, &[]), 12, RingHash::MAX_RING_SIZE);
        assert_eq!(ring.entries().next(), Some((1975508444536362413, 5)));
        let picks: &[(u64, u32)] = &[(7225015537174310577, 92), (6803900775736438537, 93)];
        for &(h, port) in picks {
            assert_eq!(ring.pick(h, 0), Some(port - 90), "{h}");
        }
    }

    #[test]
    fn uneven_hosts_match_envoy() {
        // `UnevenHosts`: :80, :81, min 3 → ring of 4.
        let keys = ports(80..82);
        let ring = RingHash::build(&hosts(&keys, &[]), 3, RingHash::MAX_RING_SIZE);
        let want: &[(u64, u32)] = &[
            (5454692015285649509, 0),
            (7859399908942313493, 1),
            (13838424394637650569, 0),
            (16064866803292627174, 1),
        ];
        assert_eq!(ring.entries().collect::<Vec<_>>(), want);
        assert_eq!(ring.pick(0, 0), Some(0));
    }

    #[test]
    fn weighted_rings_match_envoy() {
        // `HostWeightedTinyRing`: weights 1,2,3, min = max = 6.
        let keys = ports(90..93);
        let ring = RingHash::build(&hosts(&keys, &[1, 2, 3]), 6, 6);
        let picks: &[(u64, u32)] = &[
            (928266305478181108, 92),
            (4443673547860492590, 92),
            (5583722120771150861, 91),
            (6311230543546372928, 91),
            (13444792449719432967, 92),
            (16117243373044804889, 90),
        ];
        for &(h, port) in picks {
            assert_eq!(ring.pick(h, 0), Some(port - 90), "{h}");
        }
        // `HostWeightedLargeRing`: min 6144, 6000 probes.
        let ring = RingHash::build(&hosts(&keys, &[1, 2, 3]), 6144, RingHash::MAX_RING_SIZE);
        assert_eq!(ring.len(), 6144);
        assert_eq!(probe_counts(&ring, 3, 6000), [987, 1932, 3081]);
    }

    #[test]
    fn fractional_scale_matches_envoy() {
        // `LargeFractionalScale`: 2 hosts, min = max = 1023.
        let keys = ports(90..92);
        let ring = RingHash::build(&hosts(&keys, &[]), 1023, 1023);
        assert_eq!(ring.len(), 1023);
        assert_eq!(probe_counts(&ring, 2, 1023), [526, 497]);
        // `SmallFractionalScale`-style: a host can get no entry at all.
        let keys = ports(0..3);
        let ring = RingHash::build(&hosts(&keys, &[]), 2, 2);
        let mut per_host = [0; 3];
        for (_, h) in ring.entries() {
            per_host[h as usize] += 1;
        }
        assert_eq!(per_host.iter().sum::<u32>(), 2);
        assert!(per_host.contains(&0));
    }

    #[test]
    fn derived_vectors_match_reference() {
        // Spec §8.3: 10.0.0.1..5:8080, defaults → 1025 entries, 205 a host.
        let keys: Vec<String> = (1..6).map(|i| format!("10.0.0.{i}:8080")).collect();
        let ring = RingHash::build(&hosts(&keys, &[]), 1024, RingHash::MAX_RING_SIZE);
        assert_eq!(ring.len(), 1025);
        // (request hash, expected 10.0.0.N)
        let picks: &[(u64, u32)] = &[
            (8332761332120969289, 3),
            (10558559838520660027, 4),
            (13965298395879099448, 4),
            (4142921581652311169, 2),
            (17241709254077376921, 4),
            (5683702491454375104, 1),
        ];
        for &(h, n) in picks {
            assert_eq!(ring.pick(h, 0), Some(n - 1), "{h}");
        }
        // Weights 1..5: 1035 entries, 69/138/207/276/345.
        let ring = RingHash::build(
            &hosts(&keys, &[1, 2, 3, 4, 5]),
            1024,
            RingHash::MAX_RING_SIZE,
        );
        assert_eq!(ring.len(), 1035);
        let mut per_host = [0u32; 5];
        for (_, h) in ring.entries() {
            per_host[h as usize] += 1;
        }
        assert_eq!(per_host, [69, 138, 207, 276, 345]);
    }

    #[test]
    fn lookup_equals_plain_lower_bound() {
        // The bucket index must not change any pick.
        let keys = ports(1000..1037);
        for min in [1, 2, 5, 64, 1024, 5000] {
            let ring = RingHash::build(&hosts(&keys, &[3, 1, 4, 1, 5, 9, 2, 6]), min, 10_000);
            let entries: Vec<(u64, u32)> = ring.entries().collect();
            let mut x = 0x1234_5678_9abc_def0u64;
            let mut probes: Vec<u64> = entries
                .iter()
                .flat_map(|e| [e.0.wrapping_sub(1), e.0, e.0.wrapping_add(1)])
                .collect();
            probes.extend([0, 1, u64::MAX, u64::MAX - 1]);
            for _ in 0..5000 {
                probes.push(crate::balance::splitmix64(&mut x));
            }
            for &h in &probes {
                let i = entries.partition_point(|e| e.0 < h);
                let want = entries[if i == entries.len() { 0 } else { i }].1;
                assert_eq!(ring.pick(h, 0), Some(want), "min {min} h {h}");
            }
        }
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let keys = ports(0..3);
        // (hosts, min, max, expected entries)
        let cases: &[DegenerateCase<'_>] = &[
            (vec![], 1024, RingHash::MAX_RING_SIZE, 0),
            (hosts(&keys, &[0, 0, 0]), 1024, RingHash::MAX_RING_SIZE, 0),
            (
                hosts(&keys, &[0, 1, 0]),
                1024,
                RingHash::MAX_RING_SIZE,
                1024,
            ),
            (hosts(&keys, &[]), 0, 0, 0),
            (hosts(&keys, &[]), 0, RingHash::MAX_RING_SIZE, 0),
            (hosts(&keys, &[u32::MAX, u32::MAX, 1]), 4, 16, 16),
        ];
        for (hs, min, max, want) in cases {
            let ring = RingHash::build(hs, *min, *max);
            assert_eq!(ring.len(), *want, "{hs:?} {min} {max}");
            if *want == 0 {
                assert_eq!(ring.pick(7, 0), None);
            } else {
                assert!(ring.pick(7, 3).is_some());
            }
        }
        // Normalised weights that are not: no hang, no runaway ring.
        let nw: &[&[(&str, f64)]] = &[
            &[("a", f64::INFINITY), ("b", 0.5)],
            &[("a", f64::NAN), ("b", 0.5)],
            &[("a", 1e6), ("b", 1e6)],
            &[("a", 1e-300), ("b", 1.0)],
            &[("a", -1.0)],
        ];
        for hs in nw {
            let ring = RingHash::build_normalized(hs, 8, 16, RingHashFunction::XxHash);
            assert!(ring.len() <= 16 + hs.len(), "{hs:?}");
        }
        // Weight-0 hosts are never picked and keep their index.
        let ring = RingHash::build(&hosts(&keys, &[0, 1, 0]), 16, 16);
        assert!(ring.entries().all(|(_, h)| h == 1));
    }

    #[test]
    fn murmur2_ring_matches_envoy() {
        // `BasicWithMurmur2`: :80..:85, min 12.
        let keys = ports(80..86);
        let hs: Vec<(&str, f64)> = keys.iter().map(|k| (k.as_str(), 1.0 / 6.0)).collect();
        let ring = RingHash::build_normalized(
            &hs,
            12,
            RingHash::MAX_RING_SIZE,
            RingHashFunction::MurmurHash2,
        );
        assert_eq!(ring.len(), 12);
        assert_eq!(ring.entries().next(), Some((1358027074129602068, 5)));
        let picks: &[(u64, u32)] = &[
            (0, 85),
            (1358027074129602069, 83),
            (10150910876324007730, 82),
        ];
        for &(h, port) in picks {
            assert_eq!(ring.pick(h, 0), Some(port - 80), "{h}");
        }
    }

    #[test]
    fn locality_weighted_rings_match_envoy() {
        // `HostAndLocalityWeightedTinyRing`: L_A(w=1) {:90 w1, :91 w2},
        // L_B(w=2) {:92 w1, :93 w2}: nw = (w * nlw) / Σw in the locality.
        let keys = ports(90..94);
        let (a, b) = (1.0 / 3.0, 2.0 / 3.0);
        let weights = [
            (1.0 * a) / 3.0,
            (2.0 * a) / 3.0,
            (1.0 * b) / 3.0,
            (2.0 * b) / 3.0,
        ];
        let hs: Vec<(&str, f64)> = keys.iter().map(|k| k.as_str()).zip(weights).collect();
        let ring = RingHash::build_normalized(&hs, 9, 9, RingHashFunction::XxHash);
        let mut per_host = [0u32; 4];
        for (_, h) in ring.entries() {
            per_host[h as usize] += 1;
        }
        assert_eq!(per_host, [1, 2, 2, 4]);
        let picks: &[(u64, u32)] = &[
            (3851675632748031481, 93),
            (12559126875973811811, 93),
            (13784988426630141778, 93),
            (16117243373044804889, 90),
        ];
        for &(h, port) in picks {
            assert_eq!(ring.pick(h, 0), Some(port - 90), "{h}");
        }
        let ring = RingHash::build_normalized(
            &hs,
            9216,
            RingHash::MAX_RING_SIZE,
            RingHashFunction::XxHash,
        );
        assert_eq!(probe_counts(&ring, 4, 9000), [924, 2009, 2053, 4014]);

        // `LopsidedWeightSmallScale`: localities 127:1, :0 alone in the heavy
        // one, :1..:1023 in the light one; min = max = 1024.
        let keys = ports(0..1024);
        let hs = lopsided(&keys);
        let ring = RingHash::build_normalized(&hs, 1024, 1024, RingHashFunction::XxHash);
        assert_eq!(ring.entries().filter(|e| e.1 == 0).count(), 1016);
        let picks: &[(u64, u32)] = &[
            (11664790346325243808, 1),
            (15894554872961148518, 128),
            (3829253010855396576, 512),
            (5881074926069334434, 896),
        ];
        for &(h, port) in picks {
            assert_eq!(ring.pick(h, 0), Some(port), "{h}");
        }
    }

    #[test]
    fn ring_size_validation() {
        // (min, max, ok)
        let cases: &[(u64, u64, bool)] = &[
            (1024, RingHash::MAX_RING_SIZE, true),
            (1, 1, true),
            (RingHash::MAX_RING_SIZE, RingHash::MAX_RING_SIZE, true),
            (RingHash::MAX_RING_SIZE + 1, RingHash::MAX_RING_SIZE, false),
            (1024, RingHash::MAX_RING_SIZE + 1, false),
            (2048, 1024, false),
        ];
        for &(min, max, ok) in cases {
            assert_eq!(validate_ring_sizes(min, max).is_ok(), ok, "{min} {max}");
        }
    }

    #[test]
    fn decimal_suffixes() {
        for v in [0u64, 7, 10, 99, 100, 12345, u64::MAX] {
            let mut out = Vec::new();
            push_decimal(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
        }
    }
}
