//! Core benchmarks: route match at 10 / 1 024 / 10 000 routes (last route and
//! a miss), weighted pick over 2 and 16 destinations, least-request pick over
//! 10 / 100 / 1 000 endpoints, and a full decision on
//! every config in examples/configs.
//!
//! `WEIR_BENCH_QUICK=1` runs everything with tiny samples (CI).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::path::PathBuf;
use weir_benches::{last_route_path, route_table_yaml, UriKind};
use weir_core::balance::weighted::WeightedChoice;
use weir_core::request::{HeaderList, Request, Source};
use weir_core::{Engine, Outcome};

fn engine_from(yaml: &str) -> Engine {
    let e = Engine::new();
    if let Err(err) = e.apply_str(yaml) {
        panic!("bench config rejected: {err}");
    }
    e
}

fn route_match(c: &mut Criterion) {
    let mut g = c.benchmark_group("route_match");
    g.throughput(Throughput::Elements(1));
    let cases = [
        (10, UriKind::Prefix),
        (1024, UriKind::Prefix),
        (1024, UriKind::Exact),
        (1024, UriKind::Regex),
        (10_000, UriKind::Prefix),
    ];
    for (n, kind) in cases {
        let engine = engine_from(&route_table_yaml(n, kind));
        let table = engine.table();
        let path = last_route_path(n, kind);
        let req = Request::get("svc.default.svc.cluster.local", &path);
        assert_eq!(table.decide(&req, 0).outcome, Outcome::Route);
        let id = format!("{kind:?}/last");
        g.bench_with_input(BenchmarkId::new(id, n), &req, |b, req| {
            let mut e = 0u64;
            b.iter(|| {
                e = e.wrapping_add(1);
                black_box(table.decide(black_box(req), e).endpoint)
            })
        });
        if n == 10_000 || n == 1024 {
            let miss = Request::get("svc.default.svc.cluster.local", "/nothing/here");
            assert_eq!(table.decide(&miss, 0).outcome, Outcome::NoRoute);
            g.bench_with_input(
                BenchmarkId::new(format!("{kind:?}/miss"), n),
                &miss,
                |b, req| b.iter(|| black_box(table.decide(black_box(req), 0).outcome)),
            );
        }
    }
    g.finish();
}

fn weighted_pick(c: &mut Criterion) {
    let mut g = c.benchmark_group("weighted_pick");
    for weights in [vec![90u32, 10], vec![1; 16], (1..=16).collect::<Vec<u32>>()] {
        let choice = WeightedChoice::new(&weights);
        let name = if weights.len() == 2 {
            "2".to_string()
        } else if weights[1] == 1 {
            "16_equal".to_string()
        } else {
            "16_unequal".to_string()
        };
        g.bench_function(name, |b| {
            let mut x = 0x1234_5678_9abc_def0u64;
            b.iter(|| {
                // xorshift: an unpredictable entropy per pick.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                black_box(choice.pick(black_box(x)))
            })
        });
    }
    g.finish();
}

/// A service with `n` endpoints (weights 1, or 1..=4 when `weighted`) balanced by LEAST_REQUEST.
fn least_request_yaml(n: usize, weighted: bool) -> String {
    let eps: Vec<String> = (0..n)
        .map(|i| {
            let w = if weighted { i % 4 + 1 } else { 1 };
            format!(
                "{{address: 10.{}.{}.{}, weight: {w}}}",
                i / 65536,
                (i / 256) % 256,
                i % 256
            )
        })
        .collect();
    format!(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: lr, namespace: default}}\nspec:\n  hosts: [lr.default.svc.cluster.local]\n  ports: [{{number: 80, name: http, protocol: HTTP}}]\n  resolution: STATIC\n  endpoints: [{}]\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: lr, namespace: default}}\nspec:\n  host: lr.default.svc.cluster.local\n  trafficPolicy: {{loadBalancer: {{simple: LEAST_REQUEST}}}}\n",
        eps.join(", ")
    )
}

fn least_request_pick(c: &mut Criterion) {
    let mut g = c.benchmark_group("least_request_pick");
    for (n, weighted) in [(10, false), (100, false), (1000, false), (100, true)] {
        let engine = engine_from(&least_request_yaml(n, weighted));
        let table = engine.table();
        let ci = table
            .cluster_index("outbound|80||lr.default.svc.cluster.local")
            .expect("cluster");
        let set = table.endpoint_set(ci).expect("set");
        assert!(set.pick_least_request(&mut 1).is_some());
        let id = if weighted { "weighted" } else { "equal" };
        g.bench_with_input(BenchmarkId::new(id, n), set, |b, set| {
            let mut rng = 7u64;
            b.iter(|| black_box(set.pick_least_request(&mut rng)))
        });
    }
    g.finish();
}

fn example_config(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/configs")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn full_decision(c: &mut Criterion) {
    let mut g = c.benchmark_group("decision");
    type Case = (
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
        &'static str,
        &'static [(&'static str, &'static str)],
    );
    let cases: &[Case] = &[
        (
            "fleetman-canary",
            "fleetman-canary.yaml",
            None,
            "fleetman-staff-service.default.svc.cluster.local",
            "/",
            &[],
        ),
        (
            "fleetman-sticky",
            "fleetman-sticky.yaml",
            None,
            "fleetman-staff-service.default.svc.cluster.local",
            "/",
            &[("x-myval", "alice")],
        ),
        (
            "reviews-faults/jason",
            "reviews-faults.yaml",
            None,
            "reviews.shop.svc.cluster.local",
            "/r",
            &[("end-user", "jason")],
        ),
        (
            "reviews-faults/ratings-maglev",
            "reviews-faults.yaml",
            None,
            "ratings.shop.svc.cluster.local",
            "/r?user=ann",
            &[],
        ),
        (
            "ingress-paths/members",
            "ingress-paths.yaml",
            Some("default/gt-gateway"),
            "shop.example.com",
            "/api/members/7",
            &[],
        ),
        (
            "ingress-paths/redirect",
            "ingress-paths.yaml",
            Some("default/gt-gateway"),
            "a.internal.example.com",
            "/static/v2/app.js",
            &[],
        ),
        (
            "myapp-ab",
            "myapp-ab.yaml",
            Some("default/app-gateway"),
            "myapp.example.com",
            "/",
            &[],
        ),
    ];
    for &(id, file, gateway, authority, path, headers) in cases {
        let engine = engine_from(&example_config(file));
        let table = engine.table();
        let headers = HeaderList(headers);
        let req = Request {
            source: &Source {
                gateway,
                namespace: "shop",
                ..Source::MESH
            },
            headers: &headers,
            ..Request::get(authority, path)
        };
        assert_ne!(table.decide(&req, 0).outcome, Outcome::NoRoute, "{id}");
        g.bench_function(id, |b| {
            let mut e = 0u64;
            b.iter(|| {
                e = e.wrapping_add(0x9E37_79B9_7F4A_7C15);
                black_box(table.decide(black_box(&req), e).endpoint)
            })
        });
    }
    let engine = engine_from(&example_config("tcp-echo.yaml"));
    let table = engine.table();
    let conn = weir_core::Connection {
        port: 31400,
        source: &Source {
            gateway: Some("istioinaction/echo-tcp-gateway"),
            ..Source::MESH
        },
        ..Default::default()
    };
    g.bench_function("tcp-echo", |b| {
        let mut e = 0u64;
        b.iter(|| {
            e = e.wrapping_add(1);
            black_box(table.decide_tcp(black_box(&conn), e).endpoint)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = weir_benches::criterion();
    targets = route_match, weighted_pick, least_request_pick, full_decision
}
criterion_main!(benches);
