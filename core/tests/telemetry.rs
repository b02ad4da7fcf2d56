//! Istio's standard metrics, checked value by value after known sequences of
//! decisions and finishes, and their Prometheus text.

mod common;

use std::time::Duration;
use weir_core::telemetry::exposition::CONTENT_TYPE;
use weir_core::telemetry::{
    Metrics, MetricsOptions, Protocol, Reporter, RequestEnd, ResponseFlags, SeriesKey, Workload,
};
use weir_core::{Engine, Request};

const CANARY_HOST: &str = "fleetman-staff-service.default.svc.cluster.local";

fn end(status: u16, ms: u64, request_bytes: u64, response_bytes: u64) -> RequestEnd {
    RequestEnd {
        status,
        duration: Duration::from_millis(ms),
        request_bytes,
        response_bytes,
        ..RequestEnd::default()
    }
}

/// Runs `n` canary requests with entropy 0..n, each finished with `finish`.
fn run_canary(engine: &Engine, n: u64, finish: RequestEnd) {
    let table = engine.snapshot();
    let metrics = engine.metrics();
    for entropy in 0..n {
        let d = table.decide(&Request::get(CANARY_HOST, "/"), entropy);
        metrics.record_request(&d, &finish);
    }
}

fn canary_source() -> Workload {
    Workload {
        name: "fleetman-webapp".into(),
        namespace: "default".into(),
        app: "webapp".into(),
        version: "v1".into(),
    }
}

/// The label text of a canary series, as rendered.
fn canary_labels(version: &str, code: u16, flags: &str) -> String {
    format!(
        "reporter=\"source\",source_workload=\"fleetman-webapp\",source_workload_namespace=\"default\",\
source_app=\"webapp\",source_version=\"v1\",destination_service=\"{CANARY_HOST}\",\
destination_service_name=\"fleetman-staff-service\",destination_service_namespace=\"default\",\
destination_workload=\"unknown\",destination_workload_namespace=\"default\",destination_app=\"unknown\",\
destination_version=\"{version}\",request_protocol=\"http\",response_code=\"{code}\",\
response_flags=\"{flags}\",grpc_response_status=\"\""
    )
}

/// Sample lines `name{labels} value`, by the whole `name{labels}` part.
fn samples(text: &str) -> std::collections::HashMap<String, f64> {
    let mut out = std::collections::HashMap::new();
    for line in text.lines() {
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect(line);
        let v: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        assert!(
            out.insert(series.to_string(), v).is_none(),
            "series twice: {series}"
        );
    }
    out
}

/// 1000 canary requests with entropy 0..1000 split exactly 900/100 (Envoy's
/// `entropy % 100 < 90`), and every family says so.
#[test]
fn canary_split_is_exact_in_every_family() {
    let engine = common::engine("fleetman-canary.yaml");
    engine
        .metrics()
        .set_source(Reporter::Source, canary_source());
    run_canary(&engine, 1000, end(200, 3, 100, 2000));
    let text = engine.metrics().render_string();
    let s = samples(&text);
    let safe = canary_labels("safe", 200, "-");
    let risky = canary_labels("risky", 200, "-");
    let get = |k: String| *s.get(&k).unwrap_or_else(|| panic!("missing {k}\n{text}"));
    assert_eq!(get(format!("istio_requests_total{{{safe}}}")), 900.0);
    assert_eq!(get(format!("istio_requests_total{{{risky}}}")), 100.0);
    let d = "istio_request_duration_milliseconds";
    // 3 ms: above le=1, within le=5.
    assert_eq!(get(format!("{d}_bucket{{{safe},le=\"1\"}}")), 0.0);
    assert_eq!(get(format!("{d}_bucket{{{safe},le=\"5\"}}")), 900.0);
    assert_eq!(get(format!("{d}_bucket{{{safe},le=\"+Inf\"}}")), 900.0);
    assert_eq!(get(format!("{d}_sum{{{safe}}}")), 2700.0);
    assert_eq!(get(format!("{d}_count{{{risky}}}")), 100.0);
    // 100 request bytes: within le=100, not le=50; 2000 response bytes: le=2500.
    assert_eq!(
        get(format!("istio_request_bytes_bucket{{{safe},le=\"50\"}}")),
        0.0
    );
    assert_eq!(
        get(format!("istio_request_bytes_bucket{{{safe},le=\"100\"}}")),
        900.0
    );
    assert_eq!(get(format!("istio_request_bytes_sum{{{risky}}}")), 10_000.0);
    assert_eq!(
        get(format!("istio_response_bytes_bucket{{{safe},le=\"1000\"}}")),
        0.0
    );
    assert_eq!(
        get(format!("istio_response_bytes_bucket{{{safe},le=\"2500\"}}")),
        900.0
    );
    assert_eq!(
        get(format!("istio_response_bytes_sum{{{safe}}}")),
        1_800_000.0
    );
    // Two series, each with 1 + 3 × 22 samples, plus 3 weir counters.
    assert_eq!(s.len(), 2 * (1 + 3 * 22) + 3, "{text}");
    assert!(text.contains("# TYPE istio_requests_total counter\n"));
    assert!(text.contains("# TYPE istio_request_duration_milliseconds histogram\n"));
    assert_eq!(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
}

/// Local replies and failures land in their own series with Envoy's flags
/// and codes; a known key reads back its exact count.
#[test]
fn outcomes_give_codes_and_flags() {
    let engine = common::engine("fleetman-canary.yaml");
    engine
        .metrics()
        .set_source(Reporter::Source, canary_source());
    let metrics = engine.metrics();
    let table = engine.snapshot();
    // No route: 404 NR, destination unknown (whatever status the proxy
    // passes, a local reply is the decision's).
    for e in 0..3 {
        let d = table.decide(&Request::get("nowhere.example", "/"), e);
        metrics.record_request(&d, &end(if e == 0 { 0 } else { 200 }, 0, 50, 0));
    }
    // Connection failures to the canary: 503 UF.
    run_canary(&engine, 100, end(0, 1, 10, 0));
    // The proxy's own flag (upstream timeout) and a gRPC status.
    run_canary(
        &engine,
        5,
        RequestEnd {
            status: 504,
            grpc_status: Some(4),
            protocol: Protocol::Grpc,
            flags: ResponseFlags::UPSTREAM_REQUEST_TIMEOUT,
            ..RequestEnd::default()
        },
    );
    let s = samples(&metrics.render_string());
    let unknown = "reporter=\"source\",source_workload=\"fleetman-webapp\",source_workload_namespace=\"default\",\
source_app=\"webapp\",source_version=\"v1\",destination_service=\"unknown\",destination_service_name=\"unknown\",\
destination_service_namespace=\"unknown\",destination_workload=\"unknown\",destination_workload_namespace=\"unknown\",\
destination_app=\"unknown\",destination_version=\"unknown\",request_protocol=\"http\",response_code=\"404\",\
response_flags=\"NR\",grpc_response_status=\"\"";
    assert_eq!(s[&format!("istio_requests_total{{{unknown}}}")], 3.0);
    assert_eq!(
        s[&format!(
            "istio_requests_total{{{}}}",
            canary_labels("safe", 503, "UF")
        )],
        90.0
    );
    assert_eq!(
        s[&format!(
            "istio_requests_total{{{}}}",
            canary_labels("risky", 503, "UF")
        )],
        10.0
    );
    let grpc = canary_labels("safe", 504, "UT")
        .replace("request_protocol=\"http\"", "request_protocol=\"grpc\"")
        .replace("grpc_response_status=\"\"", "grpc_response_status=\"4\"");
    assert_eq!(s[&format!("istio_requests_total{{{grpc}}}")], 5.0);
    let nr = SeriesKey {
        destination: 0,
        protocol: Protocol::Http,
        response_code: 404,
        flags: ResponseFlags::NO_ROUTE,
        grpc_status: None,
    };
    assert_eq!(metrics.requests_total(nr), 3);
}

/// A fault abort is 'FI' with the abort's status; a delay adds 'DI'.
#[test]
fn faults_are_flagged() {
    let engine = common::engine("reviews-faults.yaml");
    let metrics = engine.metrics();
    let table = engine.snapshot();
    let mut flags_seen = std::collections::BTreeMap::new();
    for e in 0..200u64 {
        let headers = [("end-user", "jason")];
        let list = weir_core::HeaderList(&headers);
        for h in [
            &list as &dyn weir_core::Headers,
            &weir_core::HeaderList(&[]),
        ] {
            let req = Request {
                headers: h,
                ..Request::get("ratings.shop.svc.cluster.local", "/ratings/0")
            };
            let d = table.decide(&req, e);
            let key = metrics.request_key(&d, &end(200, 1, 0, 0));
            metrics.record_request_key(key, &end(200, 1, 0, 0));
            *flags_seen
                .entry((key.response_code, key.flags.0))
                .or_insert(0u32) += 1;
        }
    }
    let text = metrics.render_string();
    assert!(
        text.contains("response_code=\"503\",response_flags=\"FI\""),
        "{text}"
    );
    assert!(text.contains("response_flags=\"DI\""), "{text}");
    let total: u32 = flags_seen.values().sum();
    assert_eq!(total, 400);
}

/// Past `max_series`, new label sets go to the one overflow series, counted.
#[test]
fn cardinality_is_bounded_by_an_overflow_series() {
    let engine = common::engine("fleetman-canary.yaml");
    let metrics = engine.metrics_with(MetricsOptions {
        max_series: 2,
        ..MetricsOptions::default()
    });
    // Entropy 0 is the safe subset: one destination, five codes.
    let table = engine.snapshot();
    let d = table.decide(&Request::get(CANARY_HOST, "/"), 0);
    for code in [200, 201, 202, 203, 204, 200] {
        metrics.record_request(&d, &end(code, 1, 0, 0));
    }
    let text = metrics.render_string();
    let s = samples(&text);
    let count = |f: &str| s.keys().filter(|k| k.starts_with(f)).count();
    assert_eq!(
        count("istio_requests_total{"),
        3,
        "two series + overflow\n{text}"
    );
    let over: Vec<_> = s
        .iter()
        .filter(|(k, _)| {
            k.starts_with("istio_requests_total{") && k.contains("response_code=\"overflow\"")
        })
        .collect();
    assert_eq!(over.len(), 1);
    assert_eq!(*over[0].1, 3.0);
    assert_eq!(s["weir_metrics_overflow_total{protocol=\"http\"}"], 3.0);
    let key200 = metrics.request_key(&d, &end(200, 1, 0, 0));
    assert_eq!(metrics.requests_total(key200), 2);
}

/// Label values are escaped; a short buffer gets the size needed and is
/// left untouched.
#[test]
fn exposition_escapes_and_never_truncates() {
    let metrics = Metrics::default();
    metrics.set_source(
        Reporter::Destination,
        Workload {
            name: "quote\"back\\slash\nnewline".into(),
            ..Workload::default()
        },
    );
    let engine = common::engine("fleetman-canary.yaml");
    let table = engine.snapshot();
    let d = table.decide(&Request::get(CANARY_HOST, "/"), 95);
    metrics.record_request(&d, &end(200, 1, 0, 0));
    let text = metrics.render_string();
    assert!(text.contains(
        "reporter=\"destination\",source_workload=\"quote\\\"back\\\\slash\\nnewline\","
    ));
    assert!(text.contains("destination_version=\"risky\""));
    assert!(text.lines().all(|l| !l.is_empty()));
    let mut small = vec![b'#'; text.len() - 1];
    assert_eq!(metrics.render_into(&mut small), Err(text.len()));
    assert!(
        small.iter().all(|&b| b == b'#'),
        "written although too small"
    );
    let mut big = vec![0u8; text.len() + 10];
    assert_eq!(metrics.render_into(&mut big), Ok(text.len()));
    assert_eq!(&big[..text.len()], text.as_bytes());
}

/// 8 threads recording at once lose nothing.
#[test]
fn concurrent_recording_is_exact() {
    let engine = common::engine("fleetman-canary.yaml");
    let metrics = engine.metrics();
    let table = engine.snapshot();
    std::thread::scope(|s| {
        for t in 0..8u64 {
            let table = &table;
            s.spawn(move || {
                for i in 0..10_000u64 {
                    let d = table.decide(&Request::get(CANARY_HOST, "/"), i);
                    // Codes 200/500 by thread parity: series claimed racing.
                    let code = if t % 2 == 0 { 200 } else { 500 };
                    metrics.record_request(&d, &end(code, i % 7, 1, 1));
                }
            });
        }
    });
    let total: u64 = metrics
        .http_series()
        .iter()
        .map(|(_, s)| s.duration.count())
        .sum();
    assert_eq!(total, 80_000);
    assert_eq!(metrics.http_series().len(), 4, "2 subsets × 2 codes");
    for (key, s) in metrics.http_series() {
        let safe = metrics.destination_labels(key.destination).version.as_ref() == "safe";
        assert_eq!(s.duration.count(), if safe { 4 * 9000 } else { 4 * 1000 });
    }
}

/// The client side of `tcp-echo.yaml`'s gateway listener.
static TCP_GATEWAY: weir_core::Source<'static> = weir_core::Source {
    gateway: Some("istioinaction/echo-tcp-gateway"),
    ..weir_core::Source::MESH
};

/// A connection to `tcp-echo.yaml`'s gateway on its TCP port (31400).
fn tcp_gateway_connection() -> weir_core::Connection<'static> {
    weir_core::Connection {
        port: 31400,
        source: &TCP_GATEWAY,
        ..Default::default()
    }
}

/// TCP connections count opened, closed and both byte directions.
#[test]
fn tcp_connections_are_counted() {
    let engine = common::engine("tcp-echo.yaml");
    let metrics = engine.metrics();
    let table = engine.snapshot();
    let conn = tcp_gateway_connection();
    for e in 0..4 {
        let d = table.decide_tcp(&conn, e);
        metrics.record_tcp_open(&d);
        if e < 3 {
            metrics.record_tcp_close(&d, 100, 10);
        }
    }
    let s = samples(&metrics.render_string());
    let sum = |f: &str| -> f64 {
        s.iter()
            .filter(|(k, _)| k.starts_with(&format!("{f}{{")))
            .map(|(k, v)| {
                assert!(k.contains("request_protocol=\"tcp\""), "{k}");
                assert!(!k.contains("response_code"), "{k}");
                v
            })
            .sum()
    };
    assert_eq!(sum("istio_tcp_connections_opened_total"), 4.0);
    assert_eq!(sum("istio_tcp_connections_closed_total"), 3.0);
    assert_eq!(sum("istio_tcp_sent_bytes_total"), 300.0);
    assert_eq!(sum("istio_tcp_received_bytes_total"), 30.0);
}

/// Destinations registered on publish keep their labels across reloads.
#[test]
fn metrics_survive_a_reload() {
    let engine = common::engine("fleetman-canary.yaml");
    run_canary(&engine, 100, end(200, 1, 0, 0));
    let text =
        std::fs::read_to_string(common::example_configs().join("fleetman-canary.yaml")).unwrap();
    engine.apply_str(&text).unwrap();
    run_canary(&engine, 100, end(200, 1, 0, 0));
    let totals: Vec<u64> = engine
        .metrics()
        .http_series()
        .iter()
        .map(|(_, s)| s.duration.count())
        .collect();
    assert_eq!(totals.iter().sum::<u64>(), 200);
    assert_eq!(totals.len(), 2);
}

/// The whole text of a registry that exercises every formatting case
/// (fractional and huge sums, gRPC, flags, the overflow series, TCP,
/// escapes), byte for byte against the committed
/// `tests/data/exposition.prom`, made by the first renderer
/// (`format!`-based); any later renderer must write the same bytes.
/// `WEIR_BLESS=1` rewrites the file.
#[test]
fn exposition_matches_the_committed_text() {
    let engine = common::engine("fleetman-canary.yaml");
    let metrics = engine.metrics_with(MetricsOptions {
        max_series: 6,
        max_tcp_series: 1,
        ..MetricsOptions::default()
    });
    metrics.set_source(
        Reporter::Source,
        Workload {
            name: "web\"app\\v1\nx".into(),
            ..canary_source()
        },
    );
    let table = engine.snapshot();
    let safe = table.decide(&Request::get(CANARY_HOST, "/"), 0);
    let risky = table.decide(&Request::get(CANARY_HOST, "/"), 95);
    let nowhere = table.decide(&Request::get("nowhere.example", "/"), 0);
    let ends = [
        // Fractional milliseconds, sizes on and between bounds.
        RequestEnd {
            duration: Duration::from_micros(1234),
            ..end(200, 0, 100, 2500)
        },
        RequestEnd {
            duration: Duration::from_micros(7),
            ..end(200, 0, 0, 1)
        },
        // Sums past 2^53 (bytes) and 2^50 µs: f64 rounding shows.
        RequestEnd {
            duration: Duration::from_micros((1 << 52) + 3),
            ..end(500, 0, (1 << 53) + 1, u64::MAX / 3)
        },
        RequestEnd {
            grpc_status: Some(14),
            protocol: Protocol::Grpc,
            flags: ResponseFlags::UPSTREAM_REQUEST_TIMEOUT,
            ..end(504, 60_000, 12, 34)
        },
    ];
    for e in &ends {
        metrics.record_request(&safe, e);
    }
    metrics.record_request(&risky, &ends[0]);
    metrics.record_request(&nowhere, &ends[1]);
    // Past the bound: the overflow series.
    for code in [201, 202, 203] {
        metrics.record_request(&risky, &end(code, 3_600_001, 1, 1));
    }
    metrics.count_rate_limited();
    let tcp_engine = common::engine("tcp-echo.yaml");
    let tcp_table = tcp_engine.snapshot();
    let conn = tcp_gateway_connection();
    let tcp = tcp_table.decide_tcp(&conn, 0);
    metrics.record_tcp_open(&tcp);
    metrics.record_tcp_close(&tcp, 100, 10);
    let missing = table.decide_tcp(&conn, 0);
    metrics.record_tcp_open(&missing);

    let text = metrics.render_string();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/exposition.prom");
    if std::env::var_os("WEIR_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap();
    assert!(
        text == want,
        "exposition differs from {}:\n{text}",
        path.display()
    );
    let mut buf = vec![0u8; text.len()];
    assert_eq!(metrics.render_into(&mut buf), Ok(text.len()));
    assert_eq!(buf, want.as_bytes());
}
