//! Endpoint churn, by simulation (a bench, not a test; run by
//! examples/envoy/bench-serve.sh, figures in examples/envoy/BENCH.md).
//!
//! `churn DIR PROXIES RATE`: DIR is a generated mesh (`generate mesh 1000`:
//! 1 000 services, 10 000 endpoints). RATE endpoints change address each
//! second; `weir serve`'s watcher folds a steady stream of events into one
//! reload every `MAX_WAIT` (400 ms). For ten seconds of that, this measures
//! in process what the server does per reload (validate, tell endpoint-only
//! apart, render one sidecar's resource) and its size, then what one
//! proxy's filter does with it natively (parse the plugin JSON, apply the
//! changed hosts with `set_endpoints`; and the full compile Envoy's
//! configuration canary runs on every new plugin config), and from those
//! the fleet's push volume. Then, for ring hash and Maglev (Envoy's default
//! sizes), the share of keys that move when one endpoint of N is replaced,
//! added or removed, against the ideal 1/N.

use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use weir_core::balance::maglev::Maglev;
use weir_core::balance::ring_hash::RingHash;
use weir_core::compile::EndpointSpec;
use weir_core::config::Loaded;
use weir_core::Engine;
use weir_serve::node::NodeIdentity;
use weir_serve::source::{documents, read_files};
use weir_serve::state::{ChangeKind, FilterOptions, Offered, Store};
use weir_serve::watch::MAX_WAIT;

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 3 {
        eprintln!("usage: churn DIR PROXIES RATE");
        std::process::exit(2);
    }
    let dir = PathBuf::from(&args[0]);
    let proxies: f64 = args[1].parse().expect("PROXIES");
    let rate: usize = args[2].parse().expect("RATE");
    let mut docs = documents(&read_files(&dir).expect("read")).expect("parse");
    let endpoints: Vec<(usize, usize)> = docs
        .iter()
        .enumerate()
        .filter(|(_, d)| d.kind == "ServiceEntry")
        .flat_map(|(i, d)| {
            let n = d.spec()["endpoints"].as_array().map_or(0, Vec::len);
            (0..n).map(move |j| (i, j))
        })
        .collect();
    let services = docs.iter().filter(|d| d.kind == "ServiceEntry").count();
    println!(
        "mesh: {services} services, {} endpoints; {rate} endpoint changes/s; one reload every {MAX_WAIT:?}",
        endpoints.len()
    );
    let store = Store::new(FilterOptions {
        wasm: "/weir.wasm".into(),
        ..FilterOptions::default()
    });
    assert!(matches!(
        store.offer(docs.clone()),
        Offered::Accepted { .. }
    ));
    let sidecar = NodeIdentity::from_json(&serde_json::json!({
        "id": "sidecar~10.0.0.1~app-1.bench~bench.svc.cluster.local",
        "metadata": {"NAMESPACE": "bench", "LABELS": {"app": "app-1"}}
    }))
    .expect("node");
    let first = store.current().expect("snapshot").render(&sidecar);
    let base_bytes = first.resource.value.len();

    // The proxy's side, natively: the engine the filter keeps.
    let plugin: Value = serde_json::from_str(&first.plugin_json).expect("plugin json");
    let config_text = plugin["config"].as_str().unwrap_or_default().to_string();
    let engine = Engine::new();
    let t = Instant::now();
    engine
        .apply(Loaded::from_source("config", &config_text))
        .expect("compiles");
    let full_compile = t.elapsed();

    let per_second = 1.0 / MAX_WAIT.as_secs_f64();
    let per_reload = (rate as f64 / per_second).round() as usize;
    let reloads = (10.0 * per_second) as usize;
    let mut state = 7u64;
    let mut next_ip = 0u32;
    let (mut server_time, mut render_time) = (Duration::ZERO, Duration::ZERO);
    let (mut parse_time, mut set_time) = (Duration::ZERO, Duration::ZERO);
    let (mut bytes_total, mut max_bytes, mut hosts_set) = (0usize, 0usize, 0usize);
    let mut endpoint_only = 0;
    for _ in 0..reloads {
        let mut changed_hosts = std::collections::BTreeSet::new();
        for _ in 0..per_reload {
            let (i, j) = endpoints[(splitmix64(&mut state) % endpoints.len() as u64) as usize];
            next_ip += 1;
            let ip = format!("10.200.{}.{}", (next_ip / 250) % 250, next_ip % 250);
            docs[i].value["spec"]["endpoints"][j]["address"] = Value::String(ip);
            if let Some(h) = docs[i].spec()["hosts"][0].as_str() {
                changed_hosts.insert(h.to_string());
            }
        }
        let t = Instant::now();
        let offered = store.offer(docs.clone());
        let snapshot = store.current().expect("snapshot");
        server_time += t.elapsed();
        if let Offered::Accepted {
            kind: ChangeKind::EndpointsOnly,
            ..
        } = offered
        {
            endpoint_only += 1;
        }
        let t = Instant::now();
        let r = snapshot.render(&sidecar);
        render_time += t.elapsed();
        bytes_total += r.resource.value.len();
        max_bytes = max_bytes.max(r.resource.value.len());
        // The filter: parse the plugin JSON, then set the changed hosts.
        let t = Instant::now();
        let p: Value = serde_json::from_str(&r.plugin_json).expect("plugin json");
        parse_time += t.elapsed();
        let t = Instant::now();
        for host in &changed_hosts {
            let Some(list) = p["endpoints"][host.as_str()].as_array() else {
                continue;
            };
            let specs: Vec<EndpointSpec> = list
                .iter()
                .map(|e| EndpointSpec {
                    address: e["address"].as_str().unwrap_or_default().into(),
                    port: e["port"].as_u64().map(|p| p as u32),
                    labels: e["labels"]
                        .as_object()
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().into()))
                                .collect()
                        })
                        .unwrap_or_default(),
                    weight: e["weight"].as_u64().unwrap_or(1) as u32,
                    locality: String::new(),
                })
                .collect();
            engine.set_endpoints(host, &specs).expect("set_endpoints");
            hosts_set += 1;
        }
        set_time += t.elapsed();
    }
    let n = reloads as f64;
    let avg_bytes = bytes_total as f64 / n;
    println!("reloads: {reloads} in 10 s, {per_reload} endpoint changes each, {endpoint_only} endpoint-only");
    println!(
        "server per reload: {:.1} ms validate + diff, {:.1} ms render per distinct proxy (cache key)",
        ms(server_time) / n,
        ms(render_time) / n
    );
    println!(
        "resource per proxy: {base_bytes} bytes at first, {avg_bytes:.0} on average, {max_bytes} at the end of 10 s (the endpoint overrides accumulate until the next full push)"
    );
    println!(
        "push volume, {proxies} proxies: {:.1} MB/s ({:.1} pushes/s x {avg_bytes:.0} bytes x {proxies})",
        per_second * avg_bytes * proxies / 1e6,
        per_second
    );
    let per_vm = (parse_time + set_time).as_secs_f64() * 1000.0 / n;
    println!(
        "proxy per reload (native): {:.2} ms parse + {:.2} ms set_endpoints ({:.1} hosts) per serving VM = {per_vm:.2} ms; \
         plus the configuration canary's full compile {:.1} ms on the main thread",
        ms(parse_time) / n,
        ms(set_time) / n,
        hosts_set as f64 / n,
        ms(full_compile)
    );
    println!(
        "proxy CPU share (native): {:.1} % of a core per serving VM, {:.1} % for the canary",
        per_vm * per_second / 10.0,
        ms(full_compile) * per_second / 10.0
    );

    println!("\nkeys that move when one endpoint of N changes (100 000 keys, mean of 20 changes):");
    println!("| N | change | ring hash | Maglev | ideal 1/N |");
    println!("|---|---|---|---|---|");
    for n in [10usize, 100, 1000] {
        for change in ["replace", "add", "remove"] {
            let (ring, maglev) = moved_share(n, change);
            println!(
                "| {n} | {change} | {:.2} % | {:.2} % | {:.2} % |",
                ring * 100.0,
                maglev * 100.0,
                100.0 / n as f64
            );
        }
    }
}

/// Mean share of keys whose endpoint changes, for ring hash and Maglev.
fn moved_share(n: usize, change: &str) -> (f64, f64) {
    const KEYS: usize = 100_000;
    const TRIALS: usize = 20;
    let mut state = 42u64 + n as u64;
    let keys: Vec<u64> = (0..KEYS).map(|_| splitmix64(&mut state)).collect();
    let before: Vec<String> = (0..n)
        .map(|i| format!("10.0.{}.{}:8080", i / 250, i % 250))
        .collect();
    let (mut ring_total, mut maglev_total) = (0.0, 0.0);
    for t in 0..TRIALS {
        let victim = (splitmix64(&mut state) % n as u64) as usize;
        let mut after = before.clone();
        let fresh = format!("10.9.{}.{}:8080", t / 250, t % 250);
        match change {
            "replace" => after[victim] = fresh,
            "add" => after.push(fresh),
            _ => {
                after.remove(victim);
            }
        }
        let rb: Vec<(&str, u32)> = before.iter().map(|h| (h.as_str(), 1)).collect();
        let ra: Vec<(&str, u32)> = after.iter().map(|h| (h.as_str(), 1)).collect();
        let ring_b = RingHash::build(
            &rb,
            RingHash::DEFAULT_MIN_RING_SIZE,
            RingHash::MAX_RING_SIZE,
        );
        let ring_a = RingHash::build(
            &ra,
            RingHash::DEFAULT_MIN_RING_SIZE,
            RingHash::MAX_RING_SIZE,
        );
        let mag_b = Maglev::build(&rb, Maglev::DEFAULT_TABLE_SIZE);
        let mag_a = Maglev::build(&ra, Maglev::DEFAULT_TABLE_SIZE);
        let moved = |pick_b: &dyn Fn(u64) -> Option<u32>, pick_a: &dyn Fn(u64) -> Option<u32>| {
            keys.iter()
                .filter(|&&k| {
                    let b = pick_b(k).map(|i| before[i as usize].as_str());
                    let a = pick_a(k).map(|i| after[i as usize].as_str());
                    a != b
                })
                .count() as f64
                / KEYS as f64
        };
        ring_total += moved(&|k| ring_b.pick(k, 0), &|k| ring_a.pick(k, 0));
        maglev_total += moved(&|k| mag_b.pick(k, 0), &|k| mag_a.pick(k, 0));
    }
    (ring_total / TRIALS as f64, maglev_total / TRIALS as f64)
}
