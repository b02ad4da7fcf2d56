//! Zero heap allocations per decision: a counting global allocator watches
//! 100 000+ decisions (with begin/finish feedback) over every config in
//! examples/configs.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use weir_core::compile::RequestOutcome;
use weir_core::request::{Connection, HeaderList, Request, Source};
use weir_core::telemetry::{RequestEnd, RequestId, ResponseFlags, TokenBucket};

struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static WATCHING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if WATCHING.with(|w| w.get()) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards to the system allocator; only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One request shape per row: (config, gateway, port, authority, method, path, headers).
type Row = (
    &'static str,
    Option<&'static str>,
    u16,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const ROWS: &[Row] = &[
    (
        "fleetman-canary.yaml",
        None,
        0,
        "fleetman-staff-service.default.svc.cluster.local",
        "GET",
        "/",
        &[],
    ),
    (
        "fleetman-canary.yaml",
        None,
        8080,
        "fleetman-staff-service:8080",
        "GET",
        "/x?y=1",
        &[],
    ),
    (
        "fleetman-canary.yaml",
        None,
        0,
        "unknown.example",
        "GET",
        "/",
        &[],
    ),
    (
        "fleetman-sticky.yaml",
        None,
        0,
        "fleetman-staff-service",
        "GET",
        "/",
        &[("x-myval", "alice")],
    ),
    (
        "fleetman-sticky.yaml",
        None,
        0,
        "fleetman-staff-service",
        "GET",
        "/",
        &[("x-myval", "b"), ("x-myval", "a")],
    ),
    (
        "fleetman-sticky.yaml",
        None,
        0,
        "fleetman-staff-service",
        "GET",
        "/",
        &[],
    ),
    (
        "reviews-faults.yaml",
        None,
        9080,
        "reviews:9080",
        "GET",
        "/r",
        &[("end-user", "jason")],
    ),
    (
        "reviews-faults.yaml",
        None,
        9080,
        "reviews.shop",
        "GET",
        "/r",
        &[],
    ),
    (
        "reviews-faults.yaml",
        None,
        0,
        "ratings.shop.svc.cluster.local",
        "GET",
        "/r?user=ann",
        &[("end-user", "jason")],
    ),
    (
        "reviews-faults.yaml",
        None,
        0,
        "ratings.shop.svc.cluster.local",
        "GET",
        "/r?user=bob",
        &[],
    ),
    (
        "reviews-faults.yaml",
        None,
        0,
        "reviews.shop.svc.cluster.local",
        "GET",
        "/",
        &[("cookie", "user=\"abc\"; x=1")],
    ),
    (
        "ingress-paths.yaml",
        Some("default/gt-gateway"),
        80,
        "shop.example.com",
        "GET",
        "/api/members/1",
        &[],
    ),
    (
        "ingress-paths.yaml",
        Some("default/gt-gateway"),
        80,
        "a.internal.example.com",
        "GET",
        "/static/v3/x.js?q",
        &[],
    ),
    (
        "ingress-paths.yaml",
        Some("default/gt-gateway"),
        80,
        "SHOP.example.com:80",
        "POST",
        "/login",
        &[],
    ),
    (
        "ingress-paths.yaml",
        Some("default/gt-gateway"),
        80,
        "nope.example.com",
        "GET",
        "/",
        &[],
    ),
    (
        "myapp-ab.yaml",
        Some("default/app-gateway"),
        80,
        "myapp.example.com",
        "GET",
        "/",
        &[],
    ),
    (
        "myapp-ab.yaml",
        Some("default/other"),
        80,
        "myapp.example.com",
        "GET",
        "/",
        &[],
    ),
    // The client's namespace (shop) has its own DestinationRule for payments:
    // its cluster replaces the default one (Routing::scoped_clusters).
    (
        "scoped-rules.yaml",
        None,
        0,
        "payments.payments.svc.cluster.local",
        "GET",
        "/",
        &[("x-user", "u1")],
    ),
    // exportTo: the client's namespace (shop) has its own private
    // VirtualService for ledger (Routing::mesh_scoped).
    (
        "private-routes.yaml",
        None,
        0,
        "ledger.payments.svc.cluster.local",
        "GET",
        "/",
        &[],
    ),
    // Kubernetes: Services, EndpointSlices and Pods (bookinfo/cluster.yaml).
    (
        "bookinfo",
        None,
        9080,
        "reviews.default.svc.cluster.local:9080",
        "GET",
        "/reviews/0",
        &[],
    ),
    (
        "bookinfo",
        None,
        0,
        "reviews.default",
        "GET",
        "/reviews/0",
        &[("end-user", "jason")],
    ),
    (
        "bookinfo",
        Some("default/bookinfo-gateway"),
        8080,
        "bookinfo.example.com",
        "GET",
        "/productpage",
        &[],
    ),
    (
        "invalid/shadowed-route.yaml",
        Some("default/gt-gateway"),
        80,
        "x",
        "GET",
        "/api/members",
        &[],
    ),
];

#[test]
fn decisions_allocate_nothing() {
    let configs = [
        "fleetman-canary.yaml",
        "fleetman-sticky.yaml",
        "reviews-faults.yaml",
        "ingress-paths.yaml",
        "myapp-ab.yaml",
        "tcp-echo.yaml",
        "invalid/shadowed-route.yaml",
        "scoped-rules.yaml",
        "private-routes.yaml",
        "bookinfo",
    ];
    let engines: Vec<_> = configs
        .iter()
        .map(|c| match *c {
            "bookinfo" => (
                *c,
                common::engine_of(&["bookinfo/cluster.yaml", "bookinfo/istio.yaml"]),
            ),
            _ => (*c, common::engine(c)),
        })
        .collect();
    let tables: Vec<_> = engines.iter().map(|(c, e)| (*c, e.table())).collect();
    let table = |name: &str| &tables.iter().find(|(c, _)| *c == name).unwrap().1;
    // Telemetry on the hot path too: metrics (made before watching, as a
    // proxy makes them at startup), request ids, a rate limit bucket.
    let metrics = |name: &str| {
        engines
            .iter()
            .find(|(c, _)| *c == name)
            .unwrap()
            .1
            .metrics()
    };
    for (c, _) in &engines {
        metrics(c);
    }
    let bucket = TokenBucket::new(100, 10, std::time::Duration::from_millis(100), 0);
    let remote: SocketAddr = "10.0.0.99:54321".parse().unwrap();
    let local: SocketAddr = "10.0.0.1:80".parse().unwrap();

    let run = |rounds: u64| -> u64 {
        let mut decided = 0u64;
        let mut outcomes = 0u64;
        for round in 0..rounds {
            for (i, &(config, gateway, port, authority, method, path, headers)) in
                ROWS.iter().enumerate()
            {
                let headers = HeaderList(headers);
                let req = Request {
                    authority,
                    method,
                    path,
                    scheme: "http",
                    port,
                    remote: Some(remote),
                    source: &Source {
                        gateway,
                        local: Some(local),
                        namespace: "shop",
                        labels: &[("app", "productpage")],
                    },
                    headers: &headers,
                };
                let entropy = round.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ i as u64;
                let t = table(config);
                let d = t.decide(&req, entropy);
                outcomes +=
                    d.outcome as u64 + d.mirrors.len() as u64 + u64::from(d.endpoint.is_some());
                // Feedback is on the hot path too.
                let ticket = t.begin(&d);
                let status = if entropy % 7 == 0 { 503 } else { 200 };
                t.finish(ticket, RequestOutcome::Status(status), round);
                let admitted = bucket.try_take(round);
                let end = RequestEnd {
                    status,
                    duration: std::time::Duration::from_micros(entropy % 100_000),
                    request_bytes: entropy % 5000,
                    response_bytes: entropy % 70_000,
                    flags: if admitted {
                        ResponseFlags(0)
                    } else {
                        ResponseFlags::RATE_LIMITED
                    },
                    ..RequestEnd::default()
                };
                metrics(config).record_request(&d, &end);
                outcomes +=
                    RequestId::to_set(&headers, entropy).map_or(0, |id| id.as_str().len() as u64);
                decided += 1;
            }
            let conn = Connection {
                port: 31400,
                source: &Source {
                    gateway: Some("istioinaction/echo-tcp-gateway"),
                    ..Source::MESH
                },
                ..Default::default()
            };
            let d = table("tcp-echo.yaml").decide_tcp(&conn, round);
            outcomes += u64::from(d.endpoint.is_some());
            let tcp_metrics = metrics("tcp-echo.yaml");
            tcp_metrics.record_tcp_open(&d);
            tcp_metrics.record_tcp_close(&d, round, 7);
            decided += 1;
        }
        std::hint::black_box(outcomes);
        decided
    };

    // Warm-up: lazy statics and per-thread regex caches are set up once.
    run(2);
    ALLOCATIONS.store(0, Ordering::Relaxed);
    WATCHING.with(|w| w.set(true));
    let decided = run(6000);
    WATCHING.with(|w| w.set(false));
    let allocations = ALLOCATIONS.load(Ordering::Relaxed);
    assert!(decided >= 100_000, "only {decided} decisions");
    assert_eq!(
        allocations, 0,
        "{allocations} allocations over {decided} decisions"
    );
    // The metrics were really recorded: every canary row of every round.
    let canary_rows = ROWS
        .iter()
        .filter(|r| r.0 == "fleetman-canary.yaml")
        .count() as u64;
    let canary: u64 = metrics("fleetman-canary.yaml")
        .http_series()
        .iter()
        .map(|(_, s)| s.duration.count())
        .sum();
    assert_eq!(canary, canary_rows * 6002);

    // A scrape after the first (which makes each series' label text) into
    // the caller's buffer allocates nothing either.
    for config in ["fleetman-canary.yaml", "tcp-echo.yaml"] {
        let scraped = metrics(config);
        let mut buf = vec![0u8; 1 << 20];
        let first = scraped.render_into(&mut buf).expect("fits");
        ALLOCATIONS.store(0, Ordering::Relaxed);
        WATCHING.with(|w| w.set(true));
        let again = scraped.render_into(&mut buf);
        WATCHING.with(|w| w.set(false));
        let allocations = ALLOCATIONS.load(Ordering::Relaxed);
        assert_eq!(
            allocations, 0,
            "{allocations} allocations scraping {config}"
        );
        assert_eq!(again, Ok(first));
        assert!(buf[..first].starts_with(b"# HELP istio_"), "{config}");
    }
}
