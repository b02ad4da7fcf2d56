//! The build phase at scale (issues 20 and 14): text to published table
//! (`Engine::apply`: load, validate, compile) for
//! - `mesh/apply/N`: N services, each a ServiceEntry (10 endpoints, two
//!   versions), a DestinationRule (two subsets) and a VirtualService (a
//!   prefix rule, then 90/10) — at 1 000, 10 000 and 50 000 services (the
//!   curve issue 20 asks for: linear, 10 000 under a second);
//! - `kube/apply/N` and `kube/check/N`: a cluster dump as
//!   `kubectl get svc,endpointslices,pods -o yaml` prints it (N Services with
//!   10 pods each, their EndpointSlices) plus a VirtualService and a
//!   DestinationRule per Service — 5 000 Services (issues 14 and 15: apply,
//!   and load + validate as `weir check` does, each under a second);
//! - `kube/N/one_service_endpoints`: one Service's rollout (`set_endpoints`
//!   with 10 new pod addresses) on top of the applied dump.
//!
//! - `incremental/N/one_virtual_service`: `Engine::apply` of a loaded
//!   `mesh/N` that differs from the config in force in one VirtualService
//!   (its split, 90/10 and 80/20 in turn). Timed: the apply only (diff by
//!   content hash, validation of the changed VirtualService and the checks
//!   across resources, compile of its virtual host, publish, dropping the
//!   config it replaces); the YAML was loaded outside the timed part.
//! - `mesh_errors/N`: load and validate `mesh/N`, clean and with three
//!   errors per service (3N diagnostics): every diagnostic should cost O(1),
//!   so the two stay close at every size.
//!
//! Before the timed runs each size is applied once and the process's peak
//! resident set (`VmHWM`) printed: the memory bound. `WEIR_BENCH_QUICK=1`
//! (CI) runs the smallest sizes only (1 000 services).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::hint::black_box;
use weir_benches::cluster::{
    cluster_dump, mesh_config, mesh_config_with_errors, pod_ip, service_host,
};
use weir_core::compile::EndpointSpec;
use weir_core::config::Loaded;
use weir_core::Engine;

fn quick() -> bool {
    std::env::var_os("WEIR_BENCH_QUICK").is_some()
}

/// The peak resident set of this process so far, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib / 1024)
}

fn apply(engine: &Engine, text: &str) {
    if let Err(e) = engine.apply(Loaded::from_source("generated.yaml", text)) {
        panic!("generated config rejected: {e}");
    }
}

/// Applies `text` once, untimed by criterion, and prints what it took.
fn report(what: &str, text: &str) -> Engine {
    let engine = Engine::new();
    let start = std::time::Instant::now();
    apply(&engine, text);
    eprintln!(
        "{what}: {:.1} MiB of YAML, {} clusters, one apply {:.2?}, peak RSS so far {} MiB",
        text.len() as f64 / f64::from(1 << 20),
        engine.snapshot().clusters().len(),
        start.elapsed(),
        peak_rss_mib()
    );
    engine
}

fn mesh(c: &mut Criterion) {
    let sizes: &[usize] = if quick() {
        &[1_000]
    } else {
        &[1_000, 10_000, 50_000]
    };
    let mut g = c.benchmark_group("mesh");
    g.sample_size(10);
    for &n in sizes {
        let text = mesh_config(n);
        drop(report(&format!("mesh/{n}"), &text));
        // Ten samples of a multi-second apply: give them the time.
        if !quick() {
            g.measurement_time(std::time::Duration::from_secs((n / 700).max(5) as u64));
        }
        g.bench_with_input(BenchmarkId::new("apply", n), &text, |b, text| {
            // The engine (table, config) is dropped after the timing: the
            // build phase is what is measured.
            b.iter_with_large_drop(|| {
                let e = Engine::new();
                apply(&e, black_box(text));
                e
            })
        });
    }
    g.finish();
}

/// One VirtualService edited in place: the incremental apply (issue 20).
fn incremental(c: &mut Criterion) {
    let n = if quick() { 1_000 } else { 10_000 };
    let text = mesh_config(n);
    let host = service_host_of_mesh(n / 2);
    // The split of one service's VirtualService, as mesh_config writes it.
    let split = format!(
        "    - {{destination: {{host: {host}, subset: v1}}, weight: 90}}\n    - {{destination: {{host: {host}, subset: v2}}, weight: 10}}\n"
    );
    assert!(text.contains(&split), "mesh_config's layout changed");
    let edited = text.replace(&split, &split.replace("90}", "80}").replace("10}", "20}"));
    let versions = [
        Loaded::from_source("generated.yaml", &text),
        Loaded::from_source("generated.yaml", &edited),
    ];
    let engine = Engine::new();
    apply(&engine, &text);
    let before = engine.table();
    // Once untimed: it must take the incremental path (shared clusters).
    engine.apply(versions[1].clone()).expect("edited mesh");
    assert!(
        std::ptr::eq(
            engine.table().clusters().as_ptr(),
            before.clusters().as_ptr()
        ),
        "the one-VirtualService change was compiled whole"
    );
    drop(before);
    let start = std::time::Instant::now();
    engine.apply(versions[0].clone()).expect("mesh");
    eprintln!(
        "incremental/{n}: one apply {:.2?}, peak RSS so far {} MiB",
        start.elapsed(),
        peak_rss_mib()
    );
    let mut g = c.benchmark_group("incremental");
    g.sample_size(10);
    let mut turn = 1;
    g.bench_function(BenchmarkId::new("one_virtual_service", n), |b| {
        b.iter_batched(
            || {
                let next = versions[turn].clone();
                turn = 1 - turn;
                next
            },
            |next| engine.apply(black_box(next)).expect("edited mesh"),
            criterion::BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// The host of service `i` of `mesh_config`.
fn service_host_of_mesh(i: usize) -> String {
    let text = mesh_config(i + 1);
    let at = text
        .rfind("kind: VirtualService")
        .expect("a VirtualService");
    let hosts = &text[at..];
    let start = hosts.find("hosts: [").expect("hosts") + "hosts: [".len();
    let end = hosts[start..].find(']').expect("]") + start;
    hosts[start..end].to_string()
}

/// Load and validation of a mesh, its diagnostics returned (untimed use).
fn load_and_validate(text: &str) -> Vec<weir_core::diagnostic::Diagnostic> {
    let mut loaded = Loaded::from_source("generated.yaml", text);
    weir_core::validate::validate(&loaded.config, &mut loaded.diagnostics);
    loaded.diagnostics
}

fn mesh_errors(c: &mut Criterion) {
    let sizes: &[usize] = if quick() { &[1_000] } else { &[1_000, 10_000] };
    let mut g = c.benchmark_group("mesh_errors");
    g.sample_size(10);
    for &n in sizes {
        for (what, text) in [
            ("clean", mesh_config(n)),
            ("three_per_service", mesh_config_with_errors(n)),
        ] {
            let errors = load_and_validate(&text)
                .iter()
                .filter(|d| d.is_error())
                .count();
            eprintln!("mesh_errors/{what}/{n}: {errors} errors");
            g.bench_with_input(BenchmarkId::new(what, n), &text, |b, text| {
                b.iter(|| load_and_validate(black_box(text)))
            });
        }
    }
    g.finish();
}

fn kube(c: &mut Criterion) {
    let n = if quick() { 1_000 } else { 5_000 };
    let text = cluster_dump(n, 10);
    let engine = report(&format!("kube/{n}"), &text);
    let mut g = c.benchmark_group("kube");
    g.sample_size(10);
    if !quick() {
        g.measurement_time(std::time::Duration::from_secs(20));
    }
    g.bench_with_input(BenchmarkId::new("apply", n), &text, |b, text| {
        b.iter_with_large_drop(|| {
            let e = Engine::new();
            apply(&e, black_box(text));
            e
        })
    });
    // `weir check`: load and validate, every diagnostic kept.
    g.bench_with_input(BenchmarkId::new("check", n), &text, |b, text| {
        b.iter(|| load_and_validate(black_box(text)))
    });
    // One Service rolls out: 10 pods at new addresses, half v1 and half v2.
    let host = service_host(n / 2);
    let mut generation = 0;
    g.bench_function(BenchmarkId::new("one_service_endpoints", n), |b| {
        b.iter(|| {
            generation += 1;
            let pods: Vec<EndpointSpec> = (0..10)
                .map(|p| EndpointSpec {
                    address: pod_ip(n / 2, p, generation),
                    port: Some(8080),
                    labels: [("version".to_string(), ["v1", "v2"][p % 2].to_string())].into(),
                    ..EndpointSpec::default()
                })
                .collect();
            engine.set_endpoints(&host, &pods).unwrap();
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = weir_benches::criterion();
    targets = mesh, incremental, mesh_errors, kube
}
criterion_main!(benches);
