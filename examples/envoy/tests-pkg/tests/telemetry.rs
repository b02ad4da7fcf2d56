//! Istio's standard metrics, access-log metadata and request ids from Weir's
//! filter in a real Envoy 1.40: `/stats/prometheus` shows the canary's
//! `istio_requests_total` by `destination_version`, Envoy's own access log
//! prints `%DYNAMIC_METADATA(weir:route)%`, and a request without an
//! `x-request-id` gets Weir's UUID v4.

use std::time::{Duration, Instant};
use weir_envoy_tests::harness::*;
use weir_envoy_tests::telemetry::*;

const ISTIO: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews.shop.svc.cluster.local]
  location: MESH_INTERNAL
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 127.0.0.1, ports: {http: {V1}}, labels: {app: reviews, version: v1}}
  - {address: 127.0.0.1, ports: {http: {V2}}, labels: {app: reviews, version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews.shop.svc.cluster.local
  subsets:
  - {name: v1, labels: {app: reviews, version: v1}}
  - {name: v2, labels: {app: reviews, version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews.shop.svc.cluster.local]
  http:
  - name: abort
    match: [{uri: {prefix: /abort}}]
    fault: {abort: {percentage: {value: 100}, httpStatus: 418}}
    route: [{destination: {host: reviews.shop.svc.cluster.local, subset: v1}}]
  - name: canary
    route:
    - {destination: {host: reviews.shop.svc.cluster.local, subset: v1}, weight: 90}
    - {destination: {host: reviews.shop.svc.cluster.local, subset: v2}, weight: 10}
"#;

const HOST: &str = "reviews.shop.svc.cluster.local:9080";
const V1: &str = "outbound|9080|v1|reviews.shop.svc.cluster.local";
const V2: &str = "outbound|9080|v2|reviews.shop.svc.cluster.local";

fn is_uuid_v4(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
        && s.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit())
        && &s[14..15] == "4"
        && matches!(&s[19..20], "8" | "9" | "a" | "b")
}

#[test]
fn canary_metrics_access_log_and_request_ids() {
    let wasm = filter_wasm();
    let (v1, v2) = (Upstream::start("v1"), Upstream::start("v2"));
    let config = ISTIO
        .replace("{V1}", &v1.port.to_string())
        .replace("{V2}", &v2.port.to_string());
    let plugin = serde_json::json!({
        "config": config,
        "source_namespace": "shop",
        "source_labels": {"app": "productpage", "version": "v1"},
        "telemetry": {
            "metrics": true,
            "workload": "productpage-v1",
            "route_header": "x-weir-route",
            "destination_header": "x-weir-destination",
        },
    });
    let (admin, port) = (free_port(), free_port());
    let dir = scratch_dir("telemetry");
    let log = dir.join("access.log");
    let clusters = [
        override_host_cluster(V1, &[v1.port], "x-weir-endpoint"),
        override_host_cluster(V2, &[v2.port], "x-weir-endpoint"),
    ]
    .concat();
    let yaml = telemetry_bootstrap(admin, port, &plugin.to_string(), &wasm, &log, &clusters);
    let envoy = Envoy::start(&dir, &yaml, admin);

    // The canary: N requests without a request id, a few with one.
    const N: usize = 400;
    let mut to_v2 = 0;
    for i in 0..N {
        let r = if i % 100 == 0 {
            let id = format!("client-id-{i}");
            get(port, HOST, "/reviews", &[("x-request-id", &id)])
        } else {
            get(port, HOST, "/reviews", &[])
        };
        assert_eq!(r.status, 200, "{r:?}");
        to_v2 += usize::from(r.upstream() == Some("v2"));
    }
    const ABORTS: usize = 7;
    for _ in 0..ABORTS {
        assert_eq!(get(port, HOST, "/abort", &[]).status, 418);
    }
    // Binomial(400, 0.1): mean 40, sd 6; ±5 sd.
    assert!((10..=70).contains(&to_v2), "v2 got {to_v2} of {N}");
    assert_eq!(v1.count("/") + v2.count("/"), N);
    assert_eq!(v2.count("/"), to_v2);

    // Request ids: Weir's UUID v4 where the client sent none, the client's kept.
    let seen: Vec<_> = v1.seen().into_iter().chain(v2.seen()).collect();
    let ids: Vec<&str> = seen
        .iter()
        .map(|s| s.header("x-request-id").unwrap_or(""))
        .collect();
    let kept = ids.iter().filter(|id| id.starts_with("client-id-")).count();
    assert_eq!(kept, N / 100);
    let made: Vec<&&str> = ids
        .iter()
        .filter(|id| !id.starts_with("client-id-"))
        .collect();
    assert!(made.iter().all(|id| is_uuid_v4(id)), "{made:?}");
    let distinct: std::collections::HashSet<_> = made.iter().collect();
    assert_eq!(distinct.len(), made.len(), "ids repeat");
    // The access-log headers went into metadata, not upstream.
    assert!(seen
        .iter()
        .all(|s| s.header("x-weir-route").is_none() && s.header("x-weir-destination").is_none()));

    // istio_requests_total by destination_version: exactly what the upstreams saw.
    let samples = prometheus(admin);
    let total = |labels: &[(&str, &str)]| sum(&samples, "istio_requests_total", labels) as usize;
    let common = [
        ("reporter", "source"),
        ("source_workload", "productpage-v1"),
        ("source_workload_namespace", "shop"),
        ("source_app", "productpage"),
        ("source_version", "v1"),
        ("destination_service", "reviews.shop.svc.cluster.local"),
        ("destination_service_name", "reviews"),
        ("destination_service_namespace", "shop"),
        ("destination_app", "reviews"),
        ("request_protocol", "http"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&str, &str)> {
        common
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect()
    };
    let ok = [("response_code", "200"), ("response_flags", "-")];
    let v1_total = total(&with(&[&ok[..], &[("destination_version", "v1")]].concat()));
    let v2_total = total(&with(&[&ok[..], &[("destination_version", "v2")]].concat()));
    let samples_text: Vec<String> = samples
        .iter()
        .filter(|s| s.name == "istio_requests_total")
        .map(|s| format!("{:?} {}", s.labels, s.value))
        .collect();
    assert_eq!(v2_total, to_v2, "{samples_text:#?}");
    assert_eq!(v1_total, N - to_v2, "{samples_text:#?}");
    // A fault abort is answered before a destination is drawn: its
    // destination labels are `unknown`, Weir's FI flag is set.
    assert_eq!(
        total(&[
            ("reporter", "source"),
            ("source_workload", "productpage-v1"),
            ("destination_service", "unknown"),
            ("destination_version", "unknown"),
            ("response_code", "418"),
            ("response_flags", "FI"),
        ]),
        ABORTS,
        "{samples_text:#?}"
    );
    assert_eq!(total(&[]), N + ABORTS, "{samples_text:#?}");

    // The histograms: Envoy merges them on its stats flush (0.5 s here).
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let samples = prometheus(admin);
        let count = |name: &str| {
            sum(
                &samples,
                name,
                &[("destination_version", "v2"), ("response_code", "200")],
            ) as usize
        };
        let done = count("istio_request_duration_milliseconds_count") == to_v2
            && count("istio_request_bytes_count") == to_v2
            && count("istio_response_bytes_count") == to_v2;
        if done {
            // Every response carried a body of at least 30 bytes and headers.
            let bytes = sum(
                &samples,
                "istio_response_bytes_sum",
                &[("destination_version", "v2"), ("response_code", "200")],
            );
            assert!(bytes >= (to_v2 * 60) as f64, "response bytes {bytes}");
            // le="+Inf" holds every request; the first bucket not more.
            let inf = sum(
                &samples,
                "istio_request_duration_milliseconds_bucket",
                &[("destination_version", "v2"), ("le", "+Inf")],
            ) as usize;
            assert_eq!(inf, to_v2);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "histograms never reached {to_v2} for v2"
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // Envoy's access log: one line per request, with Weir's route and destination.
    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= N + ABORTS || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(lines.len(), N + ABORTS, "{lines:#?}");
    let routed = |dest: &str| {
        lines
            .iter()
            .filter(|l| {
                l.starts_with("200 - ")
                    && l.contains(" route=shop/reviews/1/canary ")
                    && l.contains(&format!(" destination={dest} "))
            })
            .count()
    };
    assert_eq!(routed(V2), to_v2, "{lines:#?}");
    assert_eq!(routed(V1), N - to_v2, "{lines:#?}");
    // Each line's request id is the one the upstream saw.
    for id in ids {
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.contains(&format!(" {id} ")))
                .count(),
            1,
            "{id}"
        );
    }
    drop(envoy);
}

/// examples/envoy's envoy.yaml (render.py over the fleetman canary and the
/// reviews faults) with the demo's upstream ports moved to free ones: its
/// stats_tags show the canary in `istio_requests_total` by
/// `destination_version`, its access log prints Weir's route and destination.
#[test]
fn bundled_example_shows_the_canary_in_metrics_and_access_log() {
    let root = repo_root();
    let dir = scratch_dir("telemetry-example");
    let log = dir.join("access.log");
    let render = |args: &[String]| {
        let out = std::process::Command::new("python3")
            .arg(root.join("examples/envoy/render.py"))
            .args(args)
            .args(["istio/fleetman-canary.yaml", "istio/reviews-faults.yaml"])
            .current_dir(root.join("examples/envoy"))
            .output()
            .expect("run render.py");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let committed =
        std::fs::read_to_string(root.join("examples/envoy/envoy.yaml")).expect("envoy.yaml");
    assert!(
        render(&[]) == committed,
        "envoy.yaml is stale: rerun examples/envoy/render.py (from examples/envoy)"
    );

    let ups = [
        Upstream::start("safe-1"),
        Upstream::start("safe-2"),
        Upstream::start("risky"),
    ];
    let (admin, port) = (free_port(), free_port());
    let mut yaml = render(&[
        format!("--wasm={}", filter_wasm().display()),
        format!("--admin={admin}"),
        format!("--port={port}"),
        format!("--access-log={}", log.display()),
    ]);
    // The demo's fixed ports, in the clusters and the ServiceEntry alike.
    for (demo, up) in ["18081", "18082", "18083"].iter().zip(&ups) {
        yaml = yaml.replace(demo, &up.port.to_string());
    }
    let _envoy = Envoy::start(&dir, &yaml, admin);
    const HOST: &str = "fleetman-staff-service.default.svc.cluster.local:8080";
    const N: usize = 300;
    let mut risky = 0;
    for _ in 0..N {
        let r = get(port, HOST, "/", &[]);
        assert_eq!(r.status, 200, "{r:?}");
        risky += usize::from(r.upstream() == Some("risky"));
    }
    // Binomial(300, 0.1): mean 30, sd 5.2; ±5 sd.
    assert!((4..=56).contains(&risky), "risky {risky} of {N}");
    let samples = prometheus(admin);
    let by_version = |v: &str| {
        sum(
            &samples,
            "istio_requests_total",
            &[
                ("source_workload", "weir-demo"),
                (
                    "destination_service",
                    "fleetman-staff-service.default.svc.cluster.local",
                ),
                ("destination_version", v),
                ("response_code", "200"),
            ],
        ) as usize
    };
    assert_eq!(by_version("risky"), risky);
    assert_eq!(by_version("safe"), N - risky);

    let deadline = Instant::now() + Duration::from_secs(10);
    let lines = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_string).collect();
        if lines.len() >= N || Instant::now() > deadline {
            break lines;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(lines.len(), N, "{lines:#?}");
    let route = "route=default/a-set-of-routing-rules-we-can-call-this-anything/0";
    let to_risky = lines
        .iter()
        .filter(|l| {
            l.contains(" 200 - ")
                && l.contains(route)
                && l.ends_with(
                    "destination=outbound|8080|risky-group|fleetman-staff-service.default.svc.cluster.local",
                )
        })
        .count();
    assert_eq!(to_risky, risky, "{lines:#?}");
}
