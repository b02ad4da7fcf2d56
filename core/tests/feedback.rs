//! Feedback: outlier ejection, least request, connection-pool overflow, and
//! deciding while endpoints and configs change under load.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use weir_core::compile::{EndpointSpec, RequestOutcome};
use weir_core::{Engine, Outcome, Request};

fn config(policy: &str, endpoints: usize) -> String {
    let eps: Vec<String> = (1..=endpoints)
        .map(|i| format!("{{address: 10.9.0.{i}}}"))
        .collect();
    format!(
        "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: api, namespace: default}}
spec:
  hosts: [api.default.svc.cluster.local]
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints: [{}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: api, namespace: default}}
spec:
  host: api
  trafficPolicy:
{policy}
",
        eps.join(", ")
    )
}

const HOST: &str = "api.default.svc.cluster.local";

#[test]
fn outlier_detection_ejects_and_returns_with_growing_time() {
    let e = Engine::new();
    e.apply_str(&config(
        "    loadBalancer: {simple: ROUND_ROBIN}\n    outlierDetection: {consecutive5xxErrors: 2, interval: 1s, baseEjectionTime: 10s, maxEjectionPercent: 100}",
        3,
    ))
    .unwrap();
    let t = e.table();
    let req = Request::get(HOST, "/");
    let bad = "10.9.0.2:80";
    let mut now = 1_000;
    // Fail the bad endpoint twice in a row.
    let mut failures = 0;
    while failures < 2 {
        let d = t.decide(&req, 0);
        let ticket = t.begin(&d);
        let status = if &*d.endpoint.unwrap().address == bad {
            failures += 1;
            503
        } else {
            200
        };
        t.finish(ticket, RequestOutcome::Status(status), now);
    }
    for _ in 0..30 {
        assert_ne!(
            &*t.decide(&req, 0).endpoint.unwrap().address,
            bad,
            "ejected endpoint picked"
        );
    }
    now += 10_001;
    t.advance_clock(now);
    let back = (0..6).any(|_| &*t.decide(&req, 0).endpoint.unwrap().address == bad);
    assert!(back, "endpoint did not return after baseEjectionTime");
    // Second ejection lasts twice as long.
    for _ in 0..2 {
        loop {
            let d = t.decide(&req, 0);
            let ticket = t.begin(&d);
            let hit = &*d.endpoint.unwrap().address == bad;
            t.finish(
                ticket,
                RequestOutcome::Status(if hit { 500 } else { 200 }),
                now,
            );
            if hit {
                break;
            }
        }
    }
    t.advance_clock(now + 15_000);
    assert!((0..30).all(|_| &*t.decide(&req, 0).endpoint.unwrap().address != bad));
    t.advance_clock(now + 20_001);
    assert!((0..6).any(|_| &*t.decide(&req, 0).endpoint.unwrap().address == bad));
}

#[test]
fn max_ejection_percent_limits_ejections() {
    let e = Engine::new();
    e.apply_str(&config(
        "    loadBalancer: {simple: ROUND_ROBIN}\n    outlierDetection: {consecutive5xxErrors: 1, baseEjectionTime: 30s, maxEjectionPercent: 34}",
        3,
    ))
    .unwrap();
    let t = e.table();
    let req = Request::get(HOST, "/");
    for _ in 0..12 {
        let d = t.decide(&req, 0);
        let ticket = t.begin(&d);
        t.finish(ticket, RequestOutcome::ConnectFailure, 5);
    }
    let distinct: std::collections::HashSet<_> = (0..30)
        .map(|v| t.decide(&req, v).endpoint.unwrap().address.clone())
        .collect();
    // 34 % of 3 endpoints: only one may be ejected.
    assert_eq!(distinct.len(), 2, "{distinct:?}");
}

#[test]
fn least_request_prefers_the_idle_endpoint() {
    let e = Engine::new();
    e.apply_str(&config("    loadBalancer: {simple: LEAST_REQUEST}", 2))
        .unwrap();
    let t = e.table();
    let req = Request::get(HOST, "/");
    // Keep five requests open on whichever endpoint the first decision picked.
    let first = t.decide(&req, 1);
    let busy = first.endpoint.unwrap().address.clone();
    let tickets: Vec<_> = (0..5).map(|_| t.begin(&first)).collect();
    let n = 2000;
    let idle = (0..n)
        .filter(|&v| t.decide(&req, v).endpoint.unwrap().address != busy)
        .count();
    // Two random choices: the busy one wins only when both draws hit it (1/4).
    // Expect 1500; sd ≈ 19; bound at 5 sd.
    assert!((1403..=1597).contains(&idle), "idle picked {idle} of {n}");
    for tk in tickets {
        t.finish(tk, RequestOutcome::Status(200), 0);
    }
}

#[test]
fn connection_pool_overflow_is_503_uo() {
    let e = Engine::new();
    e.apply_str(&config(
        "    connectionPool: {http: {http2MaxRequests: 2}}",
        2,
    ))
    .unwrap();
    let t = e.table();
    let req = Request::get(HOST, "/");
    let a = t.decide(&req, 0);
    let ta = t.begin(&a);
    let tb = t.begin(&t.decide(&req, 1));
    let d = t.decide(&req, 2);
    assert_eq!((d.outcome, d.status), (Outcome::Overflow, 503));
    t.finish(ta, RequestOutcome::Status(200), 0);
    assert_eq!(t.decide(&req, 3).outcome, Outcome::Route);
    t.finish(tb, RequestOutcome::Status(200), 0);
}

#[test]
fn deciding_while_endpoints_and_configs_change() {
    let engine = Arc::new(Engine::new());
    engine
        .apply_str(&config("    loadBalancer: {simple: RANDOM}", 3))
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let decided = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (engine, stop, decided) = (engine.clone(), stop.clone(), decided.clone());
            std::thread::spawn(move || {
                let req = Request::get(HOST, "/");
                let mut seen: HashMap<String, u64> = HashMap::new();
                let mut v = r as u64;
                while !stop.load(Ordering::Relaxed) {
                    let table = engine.snapshot();
                    let d = table.decide(&req, v);
                    v = v.wrapping_add(7);
                    // Every decision is whole: a route with an endpoint of the
                    // set in force (10.9.0.x from the configs, 10.8.0.x from updates).
                    assert_eq!(d.outcome, Outcome::Route);
                    let ep = d.endpoint.expect("endpoint");
                    assert!(
                        ep.address.starts_with("10.9.0.") || ep.address.starts_with("10.8.0."),
                        "{}",
                        ep.address
                    );
                    *seen.entry(ep.address.to_string()).or_default() += 1;
                    decided.fetch_add(1, Ordering::Relaxed);
                }
                seen
            })
        })
        .collect();
    let mut updates = 0;
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_millis(1500) {
        let n = 1 + updates % 4;
        let eps: Vec<EndpointSpec> = (1..=n)
            .map(|i| EndpointSpec {
                address: format!("10.8.0.{i}"),
                ..Default::default()
            })
            .collect();
        engine.set_endpoints(HOST, &eps).unwrap();
        if updates % 5 == 0 {
            engine
                .apply_str(&config(
                    "    loadBalancer: {simple: ROUND_ROBIN}",
                    2 + updates % 3,
                ))
                .unwrap();
        }
        updates += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = 0u64;
    for r in readers {
        total += r.join().expect("reader panicked").values().sum::<u64>();
    }
    assert_eq!(total, decided.load(Ordering::Relaxed), "lost decisions");
    assert!(
        updates > 50 && total > 10_000,
        "updates {updates}, decisions {total}"
    );
}

#[test]
fn owned_indices_count_eject_and_release_like_tickets() {
    let e = Engine::new();
    e.apply_str(&config(
        "    loadBalancer: {simple: ROUND_ROBIN}\n    outlierDetection: {consecutive5xxErrors: 2, baseEjectionTime: 30s, maxEjectionPercent: 100}\n    connectionPool: {http: {http2MaxRequests: 2}}",
        3,
    ))
    .unwrap();
    let t = e.table();
    let req = Request::get(HOST, "/");
    // Indices name the decided cluster and endpoint of this table.
    let d = t.decide(&req, 0);
    let (ci, ei) = t.begin_indices(&d);
    let (ci, ei) = (ci.unwrap() as usize, ei.unwrap() as usize);
    assert_eq!(&*t.clusters()[ci].name, &*d.cluster.unwrap().name);
    assert_eq!(t.endpoints(ci)[ei].address, d.endpoint.unwrap().address);
    assert_eq!(t.endpoints(ci)[ei].state.active.load(Ordering::Relaxed), 1);
    // Counted against the pool: a second request in flight fills it.
    let second = t.begin_indices(&t.decide(&req, 1));
    assert_eq!(t.decide(&req, 2).outcome, Outcome::Overflow);
    // No verdict: counts drop, nothing else changes.
    t.finish_indices((Some(ci as u32), Some(ei as u32)), None, 10);
    t.finish_indices(second, None, 10);
    assert_eq!(t.decide(&req, 3).outcome, Outcome::Route);
    assert!(t
        .endpoints(ci)
        .iter()
        .all(|e| e.state.active.load(Ordering::Relaxed) == 0));
    assert_eq!(t.clusters()[ci].active.load(Ordering::Relaxed), 0);
    // Verdicts run outlier detection: two 503s from one endpoint eject it.
    let bad = "10.9.0.2:80";
    let mut failures = 0;
    while failures < 2 {
        let d = t.decide(&req, 0);
        let hit = &*d.endpoint.unwrap().address == bad;
        let idx = t.begin_indices(&d);
        failures += usize::from(hit);
        let outcome = if hit {
            RequestOutcome::ConnectFailure
        } else {
            RequestOutcome::Status(200)
        };
        t.finish_indices(idx, Some(outcome), 20);
    }
    assert!((0..30).all(|v| &*t.decide(&req, v).endpoint.unwrap().address != bad));
    // A decision from another table counts nothing here.
    let other = Engine::new();
    other
        .apply_str(&config("    loadBalancer: {simple: ROUND_ROBIN}", 1))
        .unwrap();
    let ot = other.table();
    assert_eq!(t.begin_indices(&ot.decide(&req, 0)), (None, None));
    t.finish_indices((None, None), Some(RequestOutcome::Status(503)), 30);
    // Out-of-range indices are ignored, never a panic.
    t.finish_indices((Some(99), Some(99)), Some(RequestOutcome::Status(503)), 30);
}

#[test]
fn round_robin_spreads_an_ejected_endpoints_turns_evenly() {
    let e = Engine::new();
    e.apply_str(&config(
        "    loadBalancer: {simple: ROUND_ROBIN}\n    outlierDetection: {consecutive5xxErrors: 1, baseEjectionTime: 60s, maxEjectionPercent: 100}",
        3,
    ))
    .unwrap();
    let t = e.table();
    let req = Request::get(HOST, "/");
    loop {
        let d = t.decide(&req, 0);
        let hit = &*d.endpoint.unwrap().address == "10.9.0.1:80";
        let ticket = t.begin(&d);
        t.finish(
            ticket,
            RequestOutcome::Status(if hit { 503 } else { 200 }),
            10,
        );
        if hit {
            break;
        }
    }
    let mut counts: HashMap<String, u64> = HashMap::new();
    let n = 6000;
    for v in 0..n {
        *counts
            .entry(t.decide(&req, v).endpoint.unwrap().address.to_string())
            .or_default() += 1;
    }
    assert_eq!(counts.get("10.9.0.1:80"), None, "{counts:?}");
    // Each healthy endpoint: its own third plus half of the ejected third = 3000;
    // the displaced third (2000) splits binomially, sd ≈ 22; bound at 5 sd.
    for ep in ["10.9.0.2:80", "10.9.0.3:80"] {
        let c = counts[ep];
        assert!((2888..=3112).contains(&c), "{ep}: {c} of {n} ({counts:?})");
    }
}

#[test]
fn set_endpoints_rebuilds_only_that_hosts_sets() {
    let e = Engine::new();
    e.apply_str(&format!(
        "{}---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: other, namespace: default}}\nspec:\n  hosts: [other.default.svc.cluster.local]\n  ports: [{{number: 80, name: http, protocol: HTTP}}]\n  resolution: STATIC\n  endpoints: [{{address: 10.7.0.1}}]\n",
        config("    loadBalancer: {consistentHash: {maglev: {tableSize: 65537}, httpHeaderName: x}}", 3)
    ))
    .unwrap();
    let before = e.table();
    let set = |t: &weir_core::Table, name: &str| {
        let i = t.cluster_index(name).expect(name);
        std::ptr::from_ref(t.endpoint_set(i).expect("set"))
    };
    let api = "outbound|80||api.default.svc.cluster.local";
    let other = "outbound|80||other.default.svc.cluster.local";
    e.set_endpoints(
        HOST,
        &[EndpointSpec {
            address: "10.8.0.9".into(),
            ..Default::default()
        }],
    )
    .unwrap();
    let after = e.table();
    // The other host's set (and its Maglev table) is the same object; api's is new.
    assert_eq!(set(&before, other), set(&after, other));
    assert_ne!(set(&before, api), set(&after, api));
    let d = after.decide(&Request::get(HOST, "/"), 0);
    assert_eq!(&*d.endpoint.unwrap().address, "10.8.0.9:80");
}

#[test]
fn port_level_settings_replace_and_subsets_override_field_by_field() {
    let e = Engine::new();
    e.apply_str(
        "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: default}
spec:
  hosts: [api.default.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}, {number: 9080, name: http-alt, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.9.0.1, labels: {v: a}}, {address: 10.9.0.2, labels: {v: b}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: default}
spec:
  host: api
  trafficPolicy:
    loadBalancer: {simple: RANDOM}
    connectionPool: {http: {http2MaxRequests: 7}}
    portLevelSettings:
    - port: {number: 9080}
      connectionPool: {http: {http2MaxRequests: 3}}
  subsets:
  - name: a
    labels: {v: a}
    trafficPolicy:
      loadBalancer: {consistentHash: {httpHeaderName: user, ringHash: {minimumRingSize: 4096}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: default}
spec:
  hosts: [api]
  http:
  - match: [{port: 80}]
    route: [{destination: {host: api, subset: a, port: {number: 80}}}]
  - route: [{destination: {host: api, port: {number: 9080}}}]
",
    )
    .unwrap();
    let t = e.table();
    let policy = |name: &str| &t.clusters()[t.cluster_index(name).expect(name)].policy;
    use weir_core::compile::LbKind;
    // DR level on port 80.
    let p = policy("outbound|80||api.default.svc.cluster.local");
    assert_eq!((p.lb, p.pool.http2_max_requests), (LbKind::Random, Some(7)));
    // Port 9080: the port entry replaces all four fields; the LB falls back to
    // Istio's default (LEAST_REQUEST), not the DR's RANDOM.
    let p = policy("outbound|9080||api.default.svc.cluster.local");
    assert_eq!(
        (p.lb, p.pool.http2_max_requests),
        (LbKind::LeastRequest, Some(3))
    );
    // Subset a overrides only loadBalancer; the DR's connectionPool stays.
    let p = policy("outbound|80|a|api.default.svc.cluster.local");
    assert_eq!(
        p.lb,
        LbKind::RingHash {
            minimum_ring_size: 4096
        }
    );
    assert_eq!(p.pool.http2_max_requests, Some(7));
    assert!(p.hash.is_some());
}
