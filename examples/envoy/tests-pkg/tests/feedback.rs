//! Feedback from Envoy into Weir's table: outlier detection and least
//! request, decided by Weir (the override_host clusters have no outlier
//! detection of their own). Envoy runs one worker (`--concurrency 1`): the
//! table's counters live in each worker's VM, so one VM must see everything.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};
use weir_envoy_tests::harness::*;

const HOST: &str = "pool.test";

fn istio(ports: &[u16], traffic_policy: &str) -> String {
    let eps: Vec<String> = ports
        .iter()
        .map(|p| format!("  - {{address: 127.0.0.1, ports: {{http: {p}}}}}"))
        .collect();
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: pool, namespace: default}}
spec:
  hosts: [{HOST}]
  location: MESH_INTERNAL
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints:
{eps}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: pool, namespace: default}}
spec:
  host: {HOST}
  trafficPolicy: {traffic_policy}
"#,
        eps = eps.join("\n")
    )
}

/// Envoy (one worker) with Weir deciding for `pool.test` over `ups`.
fn start(name: &str, ups: &[&Upstream], traffic_policy: &str) -> (Envoy, u16) {
    let ports: Vec<u16> = ups.iter().map(|u| u.port).collect();
    start_ports(name, &ports, traffic_policy)
}

/// [`start`] with endpoint ports (some may have no upstream).
fn start_ports(name: &str, ports: &[u16], traffic_policy: &str) -> (Envoy, u16) {
    start_ports_with(name, ports, traffic_policy, false)
}

/// [`start_ports`]; `route_retries`: Istio's default retries come from the
/// Envoy route (`default_retries_on_route`), not from Weir's headers.
fn start_ports_with(
    name: &str,
    ports: &[u16],
    traffic_policy: &str,
    route_retries: bool,
) -> (Envoy, u16) {
    let wasm = filter_wasm();
    let plugin = serde_json::json!({
        "config": istio(ports, traffic_policy),
        "default_retries_on_route": route_retries,
    })
    .to_string();
    let (admin, port) = (free_port(), free_port());
    let clusters = override_host_cluster("outbound|80||pool.test", ports, "x-weir-endpoint");
    let yaml = bootstrap(admin, port, &plugin, &wasm, &clusters);
    (Envoy::start_with(&scratch_dir(name), &yaml, admin, 1), port)
}

#[test]
fn outlier_detection_ejects_the_failing_upstream() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let bad = Upstream::start_with(
        "bad",
        Behavior {
            always_fail: true,
            ..Behavior::default()
        },
    );
    let (_envoy, port) = start(
        "outlier",
        &[&a, &b, &bad],
        "{loadBalancer: {simple: ROUND_ROBIN}, outlierDetection: {consecutive5xxErrors: 2, baseEjectionTime: 30s, maxEjectionPercent: 100}}",
    );
    // Round robin reaches the bad endpoint within a few requests; two 503s
    // in a row (Istio's default retries resend to the same endpoint) eject it.
    let warmup: Vec<Response> = (0..12).map(|_| get(port, HOST, "/", &[])).collect();
    let failed = warmup.iter().filter(|r| r.status == 503).count();
    assert!(
        failed >= 1,
        "the bad upstream was never tried: {:?}",
        tally(&warmup)
    );
    let before = bad.seen().len();
    assert!(before >= 2, "bad upstream saw {before}");
    let after: Vec<Response> = (0..60).map(|_| get(port, HOST, "/", &[])).collect();
    assert!(
        after.iter().all(|r| r.status == 200),
        "a request failed after ejection: {:?}",
        after.iter().find(|r| r.status != 200)
    );
    let t = tally(&after);
    assert_eq!(
        bad.seen().len(),
        before,
        "ejected upstream still got traffic"
    );
    // Both healthy endpoints keep serving (how round robin steps over the
    // ejected one is the core's business: it takes the next endpoint).
    assert!(
        t.get("a").copied().unwrap_or(0) >= 10 && t.get("b").copied().unwrap_or(0) >= 10,
        "the healthy two should share the traffic: {t:?}"
    );
}

/// Closed-loop clients for `run`, each sending GETs back to back; returns
/// the responses.
fn load(port: u16, clients: usize, run: Duration) -> Vec<Response> {
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let mut out = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(r) = try_get(port, HOST, "/", &[]) {
                        out.push(r);
                    }
                }
                out
            })
        })
        .collect();
    let start = Instant::now();
    while start.elapsed() < run {
        thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::Relaxed);
    workers
        .into_iter()
        .flat_map(|w| w.join().unwrap_or_default())
        .collect()
}

#[test]
fn least_request_sends_less_to_the_slow_upstream() {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    let slow = Upstream::start_with(
        "slow",
        Behavior {
            delay_ms: 300,
            ..Behavior::default()
        },
    );
    let (_envoy, port) = start(
        "least-request",
        &[&a, &b, &slow],
        "{loadBalancer: {simple: LEAST_REQUEST}}",
    );
    let responses = load(port, 8, Duration::from_secs(3));
    assert!(responses.iter().all(|r| r.status == 200));
    let t = tally(&responses);
    eprintln!("least request: {t:?}");
    let on_slow = t.get("slow").copied().unwrap_or(0);
    let share = on_slow as f64 / responses.len() as f64;
    // Two random choices with replacement over three endpoints: the slow one
    // (always busier) wins only when both draws hit it, 1/9. Without in-flight
    // counts every pair ties and it would get 1/3 of the decisions.
    assert!(
        responses.len() > 100 && share < 0.2,
        "slow upstream got {on_slow} of {} ({share:.2}): {t:?}",
        responses.len()
    );
}

/// Envoy's count of failed upstream connections for the pool.test cluster.
fn connect_failures(envoy: &Envoy) -> u64 {
    let name = "cluster.outbound|80||pool.test.upstream_cx_connect_fail: ";
    get(
        envoy.admin,
        "admin",
        "/stats?filter=upstream_cx_connect_fail",
        &[],
    )
    .body
    .lines()
    .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
    .unwrap_or(0)
}

#[test]
fn outlier_detection_ejects_an_unreachable_upstream() {
    unreachable_upstream_is_retried_and_ejected(false);
}

#[test]
fn default_retries_from_the_route_reach_a_live_upstream() {
    unreachable_upstream_is_retried_and_ejected(true);
}

/// `route_retries`: Istio's default retries come from the Envoy route
/// instead of Weir's headers; either way the client never sees the failure.
fn unreachable_upstream_is_retried_and_ejected(route_retries: bool) {
    let (a, b) = (Upstream::start("a"), Upstream::start("b"));
    // Nobody listens on `dead`: Envoy's connection fails. Istio's default
    // retries (connect-failure) then land on another endpoint, so the client
    // sees 200 from `a` or `b`; the filter notices that the endpoint that
    // answered is not the one Weir chose and reports a connect failure.
    let dead = free_port();
    let (envoy, port) = start_ports_with(
        if route_retries {
            "outlier-connect-route"
        } else {
            "outlier-connect"
        },
        &[a.port, b.port, dead],
        "{loadBalancer: {simple: ROUND_ROBIN}, outlierDetection: {consecutiveGatewayErrors: 2, consecutive5xxErrors: 0, baseEjectionTime: 30s, maxEjectionPercent: 100}}",
        route_retries,
    );
    let warmup: Vec<Response> = (0..12).map(|_| get(port, HOST, "/", &[])).collect();
    assert!(
        warmup.iter().all(|r| r.status == 200),
        "a connect failure reached the client: {:?}",
        tally(&warmup)
    );
    let tried = connect_failures(&envoy);
    assert!(
        tried >= 2,
        "the dead endpoint was tried {tried} times: {:?}",
        tally(&warmup)
    );
    let after: Vec<Response> = (0..40).map(|_| get(port, HOST, "/", &[])).collect();
    assert!(
        after.iter().all(|r| r.status == 200),
        "{:?}",
        after.iter().find(|r| r.status != 200)
    );
    assert_eq!(
        connect_failures(&envoy),
        tried,
        "Envoy still connects to the ejected endpoint"
    );
}
