//! How long a real Envoy's Weir filter takes to apply a config pushed by
//! `weir serve` (a bench, not a test; run by examples/envoy/bench-serve.sh,
//! figures in examples/envoy/BENCH.md).
//!
//! `serve_apply ROUTES.yaml…` (`generate routes N`: one host, N prefix
//! rules): for each file, `weir serve` in process and one Envoy with two
//! workers; the routes change five times, and each time this measures,
//! from the file's rename: when the server sent the push, and when every
//! VM had compiled it (Envoy's configuration canary, the main thread's VM
//! and both workers': the filter's `weir_route_compiles` counter). The
//! difference is the time Envoy and the filter took to apply it.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use weir_envoy_tests::harness::*;
use weir_serve::state::FilterOptions;
use weir_serve::{ServeConfig, Server};

const WORKERS: u32 = 2;
const CHANGES: usize = 5;

fn main() {
    let files: Vec<String> = std::env::args().skip(1).collect();
    let wasm = filter_wasm();
    println!("| routes | config bytes | push sent | applied on all VMs | apply (Envoy + filter) |");
    println!("|---|---|---|---|---|");
    for file in files {
        let text = std::fs::read_to_string(&file).expect("read routes file");
        let routes = text.matches("- match:").count();
        let scratch = scratch_dir(&format!("serve-apply-{routes}"));
        let config = scratch.join("config");
        std::fs::create_dir_all(&config).expect("config dir");
        std::fs::write(config.join("routes.yaml"), &text).expect("write");
        let server = Server::start(ServeConfig {
            dir: config.clone(),
            listen: ([127, 0, 0, 1], 0).into(),
            filter: FilterOptions {
                wasm: wasm.display().to_string(),
                ..FilterOptions::default()
            },
        })
        .expect("weir serve");
        let up = Upstream::start("svc");
        let (admin, port) = (free_port(), free_port());
        let node = r#"{"id": "sidecar~127.0.0.1~bench-1.default~default.svc.cluster.local", "cluster": "bench",
            "metadata": {"NAMESPACE": "default", "LABELS": {"app": "bench"}}}"#;
        let clusters = override_host_cluster(
            "outbound|80||svc.default.svc.cluster.local",
            &[up.port],
            "x-weir-endpoint",
        );
        let yaml = ecds_bootstrap(admin, port, server.addr.port(), node, &clusters);
        let dir = scratch.join("envoy");
        std::fs::create_dir_all(&dir).expect("envoy dir");
        let envoy = Envoy::start_with(&dir, &yaml, admin, WORKERS);
        let compiles = || envoy.stat("wasmcustom.weir_route_compiles");
        let all_vms = u64::from(WORKERS) + 2; // canary, main thread, workers
        let wait = |what: &str, done: &dyn Fn() -> bool| {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !done() {
                assert!(
                    Instant::now() < deadline,
                    "{what} after 120 s:\n{}",
                    envoy.log()
                );
                std::thread::sleep(Duration::from_millis(2));
            }
        };
        wait("the first config is not compiled", &|| {
            compiles() >= all_vms
        });
        std::thread::sleep(Duration::from_millis(500));
        let (mut pushed, mut applied) = (Vec::new(), Vec::new());
        let mut bytes = 0;
        for c in 0..CHANGES {
            let before = compiles();
            let sent = server.stats.responses.load(Ordering::Relaxed);
            let changed = text.replace(
                "prefix: /api/v1/svc0/",
                &format!("prefix: /api/v1/svc0-{c}/"),
            );
            let tmp = config.join(".routes.yaml.tmp");
            std::fs::write(&tmp, &changed).expect("write");
            let t0 = Instant::now();
            std::fs::rename(&tmp, config.join("routes.yaml")).expect("rename");
            wait("no push", &|| {
                server.stats.responses.load(Ordering::Relaxed) > sent
            });
            pushed.push(t0.elapsed());
            wait("not applied on every VM", &|| {
                compiles() >= before + all_vms
            });
            applied.push(t0.elapsed());
            bytes = server
                .store
                .current()
                .map(|s| {
                    s.current
                        .iter()
                        .map(|d| d.value.to_string().len())
                        .sum::<usize>()
                })
                .unwrap_or(0);
            std::thread::sleep(Duration::from_millis(300));
        }
        let median = |v: &mut Vec<Duration>| {
            v.sort();
            v[v.len() / 2]
        };
        let (p, a) = (median(&mut pushed), median(&mut applied));
        let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
        println!(
            "| {routes} | {bytes} | {} | {} | {} |",
            ms(p),
            ms(a),
            ms(a.saturating_sub(p))
        );
        drop(envoy);
        server.stop();
    }
}
