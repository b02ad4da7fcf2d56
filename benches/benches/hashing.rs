//! Consistent hashing: Weir's Envoy-exact Maglev and ring hash against crates.io peers.
//!
//! Lookups include hashing a 16-byte key (as a real request does: Weir hashes
//! with XXH64, as Envoy; each peer with its own hash) and rotate through 4096
//! pre-generated keys so branch predictors and caches see realistic variety.
//! Builds are measured from a ready host list.
//!
//! Peers: `maglev` 0.2 (builds an M × hosts permutation matrix, so it is only
//! measured up to 1 000 hosts: 10 000 hosts at M = 65537 would need ~5 GB),
//! `pingora-ketama` 0.9 (160 points a weight, CRC32), `hashring` 0.3 (given
//! 160 virtual nodes a host, SipHash) and `jumphash` 0.1 (no table at all, for
//! scale). Weir's ring is measured at pingora's ring size (160 entries a host)
//! for the like-for-like comparison, and at Envoy's default `minimum_ring_size`.
//!
//! `WEIR_BENCH_QUICK=1` shrinks samples and times so CI runs this in seconds.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use weir_core::balance::maglev::Maglev;
use weir_core::balance::ring_hash::RingHash;
use weir_core::balance::splitmix64;
use weir_core::balance::xxh64::xxh64;

const HOST_COUNTS: [usize; 4] = [10, 100, 1_000, 10_000];
/// The `maglev` crate's permutation matrix is M × hosts words.
const MAGLEV_CRATE_MAX_HOSTS: usize = 1_000;
const KEYS: usize = 4096;
/// pingora-ketama's points per unit of weight.
const KETAMA_POINTS: u64 = 160;

fn quick() -> bool {
    std::env::var("WEIR_BENCH_QUICK").is_ok_and(|v| v == "1")
}

fn config() -> Criterion {
    let c = Criterion::default();
    if quick() {
        c.sample_size(10)
            .warm_up_time(Duration::from_millis(20))
            .measurement_time(Duration::from_millis(60))
    } else {
        c
    }
}

fn addrs(n: usize) -> Vec<SocketAddr> {
    (0..n)
        .map(|i| SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 8080)))
        .collect()
}

fn host_keys(n: usize) -> Vec<String> {
    addrs(n).iter().map(|a| a.to_string()).collect()
}

fn request_keys() -> Vec<[u8; 16]> {
    let mut state = 42u64;
    (0..KEYS)
        .map(|_| {
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&splitmix64(&mut state).to_le_bytes());
            k[8..].copy_from_slice(&splitmix64(&mut state).to_le_bytes());
            k
        })
        .collect()
}

/// Runs `pick` over the keys in turn, one key an iteration.
macro_rules! rotate {
    ($b:expr, $keys:expr, |$k:ident| $body:expr) => {{
        let keys = $keys;
        let mut i = 0usize;
        $b.iter(|| {
            let $k = black_box(&keys[i & (KEYS - 1)]);
            i = i.wrapping_add(1);
            black_box($body)
        })
    }};
}

fn maglev_lookup(c: &mut Criterion) {
    let keys = request_keys();
    let mut g = c.benchmark_group("maglev_lookup");
    for &n in &HOST_COUNTS {
        let hk = host_keys(n);
        let hosts: Vec<(&str, u32)> = hk.iter().map(|k| (k.as_str(), 1)).collect();
        let weir = Maglev::build(&hosts, Maglev::DEFAULT_TABLE_SIZE);
        g.bench_with_input(BenchmarkId::new("weir", n), &n, |b, _| {
            rotate!(b, &keys, |k| weir.pick(xxh64(k, 0), 0))
        });
        if n <= MAGLEV_CRATE_MAX_HOSTS {
            use maglev::ConsistentHasher;
            let peer = maglev::Maglev::with_capacity(addrs(n), Maglev::DEFAULT_TABLE_SIZE as usize);
            g.bench_with_input(BenchmarkId::new("maglev_crate", n), &n, |b, _| {
                rotate!(b, &keys, |k| peer.get(k).copied())
            });
        }
        let buckets: Vec<pingora_ketama::Bucket> = addrs(n)
            .into_iter()
            .map(|a| pingora_ketama::Bucket::new(a, 1))
            .collect();
        let ketama = pingora_ketama::Continuum::new(&buckets);
        g.bench_with_input(BenchmarkId::new("pingora_ketama", n), &n, |b, _| {
            rotate!(b, &keys, |k| ketama.node(k))
        });
        let jump = jumphash::JumpHasher::new_with_keys(1, 2);
        g.bench_with_input(BenchmarkId::new("jumphash", n), &n, |b, _| {
            rotate!(b, &keys, |k| jump.slot(k, n as u32))
        });
    }
    g.finish();
}

fn ring_lookup(c: &mut Criterion) {
    let keys = request_keys();
    let mut g = c.benchmark_group("ring_lookup");
    for &n in &HOST_COUNTS {
        let hk = host_keys(n);
        let hosts: Vec<(&str, u32)> = hk.iter().map(|k| (k.as_str(), 1)).collect();
        // Like for like with pingora-ketama: 160 entries a host.
        let size = (KETAMA_POINTS * n as u64).min(RingHash::MAX_RING_SIZE);
        let weir = RingHash::build(&hosts, size, RingHash::MAX_RING_SIZE);
        g.bench_with_input(BenchmarkId::new("weir_160_per_host", n), &n, |b, _| {
            rotate!(b, &keys, |k| weir.pick(xxh64(k, 0), 0))
        });
        let envoy_default = RingHash::build(
            &hosts,
            RingHash::DEFAULT_MIN_RING_SIZE,
            RingHash::MAX_RING_SIZE,
        );
        g.bench_with_input(BenchmarkId::new("weir_envoy_default", n), &n, |b, _| {
            rotate!(b, &keys, |k| envoy_default.pick(xxh64(k, 0), 0))
        });
        let buckets: Vec<pingora_ketama::Bucket> = addrs(n)
            .into_iter()
            .map(|a| pingora_ketama::Bucket::new(a, 1))
            .collect();
        let ketama = pingora_ketama::Continuum::new(&buckets);
        g.bench_with_input(BenchmarkId::new("pingora_ketama", n), &n, |b, _| {
            rotate!(b, &keys, |k| ketama.node(k))
        });
        let mut ring = hashring::HashRing::new();
        ring.batch_add(
            addrs(n)
                .into_iter()
                .flat_map(|a| (0..KETAMA_POINTS).map(move |v| (a, v)))
                .collect(),
        );
        g.bench_with_input(BenchmarkId::new("hashring", n), &n, |b, _| {
            rotate!(b, &keys, |k| ring.get(k).map(|(a, _)| *a))
        });
    }
    g.finish();
}

fn maglev_build(c: &mut Criterion) {
    let mut g = c.benchmark_group("maglev_build");
    if !quick() {
        g.sample_size(20);
    }
    for &n in &HOST_COUNTS {
        let hk = host_keys(n);
        let hosts: Vec<(&str, u32)> = hk.iter().map(|k| (k.as_str(), 1)).collect();
        g.bench_with_input(BenchmarkId::new("weir", n), &hosts, |b, hosts| {
            b.iter(|| Maglev::build(black_box(hosts), Maglev::DEFAULT_TABLE_SIZE))
        });
        // Quick mode skips the slow peer's largest build (seconds each).
        let peer_max = if quick() { 100 } else { MAGLEV_CRATE_MAX_HOSTS };
        if n <= peer_max {
            let a = addrs(n);
            g.bench_with_input(BenchmarkId::new("maglev_crate", n), &a, |b, a| {
                b.iter(|| {
                    maglev::Maglev::with_capacity(
                        black_box(a.clone()),
                        Maglev::DEFAULT_TABLE_SIZE as usize,
                    )
                })
            });
        }
    }
    g.finish();
}

fn ring_build(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring_build");
    if !quick() {
        g.sample_size(20);
    }
    for &n in &HOST_COUNTS {
        let hk = host_keys(n);
        let hosts: Vec<(&str, u32)> = hk.iter().map(|k| (k.as_str(), 1)).collect();
        let size = (KETAMA_POINTS * n as u64).min(RingHash::MAX_RING_SIZE);
        g.bench_with_input(
            BenchmarkId::new("weir_160_per_host", n),
            &hosts,
            |b, hosts| b.iter(|| RingHash::build(black_box(hosts), size, RingHash::MAX_RING_SIZE)),
        );
        g.bench_with_input(
            BenchmarkId::new("weir_envoy_default", n),
            &hosts,
            |b, hosts| {
                b.iter(|| {
                    RingHash::build(
                        black_box(hosts),
                        RingHash::DEFAULT_MIN_RING_SIZE,
                        RingHash::MAX_RING_SIZE,
                    )
                })
            },
        );
        let buckets: Vec<pingora_ketama::Bucket> = addrs(n)
            .into_iter()
            .map(|a| pingora_ketama::Bucket::new(a, 1))
            .collect();
        g.bench_with_input(BenchmarkId::new("pingora_ketama", n), &buckets, |b, bk| {
            b.iter(|| pingora_ketama::Continuum::new(black_box(bk)))
        });
    }
    g.finish();
}

criterion_group! {
    name = hashing;
    config = config();
    targets = maglev_lookup, ring_lookup, maglev_build, ring_build
}
criterion_main!(hashing);
