//! Decision cost through the C ABI against the Rust API, same run, on the
//! fleetman canary (90/10 weighted subsets, least-request endpoints). Every
//! variant reads the outcome, the cluster name and the endpoint address.
//!
//! - `rust/decide_held`: `Table::decide` on a held table.
//! - `rust/decide_into_held`: `Table::decide_into`, the Rust API that
//!   decides in place as the C ABI does (one reused `Decision`).
//! - `rust/decide_into_built_held`: the same with the `Request` built on
//!   every call from a parsed request line, as a Rust proxy would, into a
//!   `Decision` kept on the heap (as the C ABI's is).
//! - `c_abi/decide_held`: `weir_snapshot_decide` (validates the UTF-8
//!   inputs, decides into the `weir_decision`) on a held snapshot, reading
//!   the outcome, cluster and endpoint from the summary it writes.
//! - `c_abi/decide_built_held`: as `c_abi/decide_held`, with the
//!   `weir_request` filled from a parsed request line on every call (the C
//!   counterpart of `rust/decide_into_built_held`).
//! - `c_abi/decide_held_view`: as `c_abi/decide_held`, reading everything
//!   through `weir_decision_fill_view` instead (what the Go binding does).
//! - `rust/decide`, `c_abi/decide`: the same with a snapshot per request
//!   (`engine.snapshot()`, an arc-swap guard, against `weir_engine_snapshot`
//!   + `weir_snapshot_free`, an `Arc` count up and down).
//! - `c_abi/engine_decide`: `weir_engine_decide`, the table in force without
//!   a snapshot handle (an arc-swap guard inside; the decision keeps the
//!   table), against `rust/decide`.
//! - `paired/c_abi_minus_rust_built`: the two `built` variants timed back
//!   to back in each sample; reports C's time minus Rust's per decision.
//! - `paired/c_abi_minus_rust_built_browser`: the same for a browser's
//!   request (twelve headers, a 111-byte path with a query string): the C
//!   ABI's cost must not grow with them.
//!
//! Every request carries its client's address (binary on both sides).
//! - `rust/miss_held`, `c_abi/miss_held`: a request answered 404 before any
//!   lookup, to isolate what the boundary itself costs.
//!
//! `WEIR_BENCH_QUICK=1` runs with tiny samples (CI).

// Calling the C ABI is unsafe by nature; the rest of weir-benches stays safe.
#![allow(unsafe_code)]

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode};
use std::hint::black_box;
use std::net::SocketAddr;
use std::ptr;
use std::time::{Duration, Instant};
use weir::*;
use weir_core::request::{HeaderList, Request, Source};
use weir_core::{Decision, Engine, Table};

/// The headers of a browser's request behind a mesh.
const BUSY_HEADERS: [(&str, &str); 12] = [
    (
        "user-agent",
        "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101",
    ),
    ("accept", "application/json, text/plain, */*"),
    ("accept-encoding", "gzip, deflate, br"),
    ("accept-language", "en-US,en;q=0.9"),
    ("cookie", "session=5f2c9a; theme=dark"),
    ("x-request-id", "0f4c2a9e-2d3b-4c1a-9b7e-5e2f1a3c4d5e"),
    ("x-forwarded-proto", "https"),
    ("x-forwarded-for", "203.0.113.7"),
    ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
    ("x-b3-spanid", "e457b5a2e4d86bd1"),
    ("x-b3-sampled", "1"),
    ("content-length", "0"),
];

const HOST: &str = "fleetman-staff-service.default.svc.cluster.local";
const PATH: &str = "/api/staff?page=2";

fn quick() -> bool {
    std::env::var("WEIR_BENCH_QUICK").is_ok_and(|v| v == "1")
}

fn config() -> Criterion {
    let c = Criterion::default();
    if quick() {
        c.sample_size(10)
            .warm_up_time(Duration::from_millis(20))
            .measurement_time(Duration::from_millis(60))
    } else {
        c
    }
}

fn canary() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/configs/fleetman-canary.yaml"
    );
    std::fs::read_to_string(path).expect("examples/configs")
}

/// The client's address every request carries (a proxy knows its peer).
const CLIENT: ([u8; 4], u16) = ([10, 1, 2, 3], 54321);

/// [`CLIENT`] as the C ABI takes it: binary, as `accept()` gives it.
fn client_address() -> weir_address {
    let mut ip = [0u8; 16];
    ip[..4].copy_from_slice(&CLIENT.0);
    weir_address {
        family: WEIR_ADDRESS_IPV4,
        port: CLIENT.1,
        ip,
    }
}

/// Header pairs as the C ABI takes them (borrowing the strings).
fn to_c_headers(pairs: &[(&'static str, &'static str)]) -> Vec<weir_header> {
    pairs.iter().map(|(n, v)| weir_header::new(n, v)).collect()
}

fn c_request(headers: &[weir_header], source: *const weir_source) -> weir_request {
    weir_request {
        authority: HOST.as_ptr().cast(),
        authority_len: HOST.len(),
        method: "GET".as_ptr().cast(),
        method_len: 3,
        path: PATH.as_ptr().cast(),
        path_len: PATH.len(),
        scheme: "http".as_ptr().cast(),
        scheme_len: 4,
        port: 0,
        remote: client_address(),
        headers: headers.as_ptr(),
        headers_len: headers.len(),
        source,
    }
}

/// `weir_snapshot_decide` with the request and entropy hidden from the optimiser.
///
/// # Safety
/// As `weir_snapshot_decide`.
unsafe fn decide_on(
    snap: *const weir_snapshot,
    r: &weir_request,
    entropy: u64,
    decision: *mut weir_decision,
    summary: &mut weir_decision_summary,
) -> weir_result {
    weir_snapshot_decide(snap, black_box(r), black_box(entropy), decision, summary)
}

/// A `weir_source` for a gateway (`""`: a sidecar) and a client namespace.
fn new_source(gateway: &str, namespace: &str) -> *mut weir_source {
    let mut source = ptr::null_mut();
    let rc = unsafe {
        weir_source_new(
            gateway.as_ptr().cast(),
            gateway.len(),
            namespace.as_ptr().cast(),
            namespace.len(),
            ptr::null(),
            0,
            ptr::null(),
            &mut source,
        )
    };
    assert_eq!(rc, weir_result::Ok);
    source
}

/// Runs `step` `iters` times with fresh entropy and returns how long it took.
fn timed(iters: u64, entropy: &mut u64, mut step: impl FnMut(u64)) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        *entropy = entropy.wrapping_add(1);
        step(*entropy);
    }
    start.elapsed()
}

/// Reads outcome, cluster and endpoint of a Rust decision.
fn read_rust(d: &Decision<'_>) {
    black_box((
        d.outcome,
        d.cluster.map(|c| &*c.name),
        d.endpoint.map(|e| &*e.address),
    ));
}

/// Reads outcome, cluster and endpoint of a C decision (all in the summary).
fn read_c(s: &weir_decision_summary) {
    black_box((s.outcome, s.cluster.ptr, s.cluster.len));
    black_box((s.endpoint.ptr, s.endpoint.len));
}

/// A request line as a proxy has parsed it: authority, method, path, scheme.
type RequestLine = (&'static str, &'static str, &'static str, &'static str);

const PARSED: RequestLine = (HOST, "GET", PATH, "http");

/// A browser's request line: a 111-byte path with its query string.
const BUSY_LINE: RequestLine = (
    HOST,
    "GET",
    "/api/staff/rosters/2026-11-24/shifts?page=2&per_page=50&sort=-updated_at&fields=id,name,role,start,end&team=ops",
    "https",
);

/// What a Rust proxy does per request: build the `Request` from the request
/// line it has parsed (behind `black_box`, so nothing is hoisted out of the
/// loop), its client address, the `Source` it made once and its headers,
/// then decide in place into a `Decision` it keeps (on the heap, as a
/// proxy's per-worker state would be, and as the C ABI's `weir_decision` is).
fn rust_built<'a>(
    table: &'a Table,
    line: RequestLine,
    like: &'a Request<'a>,
) -> impl FnMut(u64) + 'a {
    let mut kept = Box::new(Decision::default());
    move |entropy| {
        let &(authority, method, path, scheme) = black_box(&line);
        let fresh = Request {
            authority,
            method,
            path,
            scheme,
            port: 0,
            remote: like.remote,
            source: like.source,
            headers: like.headers,
        };
        table.decide_into(&fresh, black_box(entropy), &mut kept);
        read_rust(&kept);
    }
}

/// The C counterpart of [`rust_built`]: the caller fills its `weir_request`
/// from the parsed request line on every call (the rest as in `like`).
fn c_built(
    snap: *const weir_snapshot,
    line: RequestLine,
    like: weir_request,
    decision: *mut weir_decision,
) -> impl FnMut(u64) {
    let mut summary = unsafe { std::mem::zeroed::<weir_decision_summary>() };
    move |entropy| unsafe {
        let &(authority, method, path, scheme) = black_box(&line);
        let fresh = weir_request {
            authority: authority.as_ptr().cast(),
            authority_len: authority.len(),
            method: method.as_ptr().cast(),
            method_len: method.len(),
            path: path.as_ptr().cast(),
            path_len: path.len(),
            scheme: scheme.as_ptr().cast(),
            scheme_len: scheme.len(),
            ..like
        };
        black_box(weir_snapshot_decide(
            snap,
            &fresh,
            black_box(entropy),
            decision,
            &mut summary,
        ));
        read_c(&summary);
    }
}

/// Times `rust` and `c` back to back in each sample (in alternating order)
/// and counts C's time minus Rust's. Drift on a shared machine then hits
/// both sides of the difference alike, where separate benchmarks seconds
/// apart can differ by a few ns. Flat sampling: every sample's batches are
/// long (milliseconds), so timer noise stays far below the difference.
fn paired(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    entropy: &mut u64,
    mut rust: impl FnMut(u64),
    mut c: impl FnMut(u64),
) {
    g.sampling_mode(SamplingMode::Flat);
    g.bench_function(name, |b| {
        let mut c_first = false;
        b.iter_custom(|iters| {
            c_first = !c_first;
            let (rust, c) = if c_first {
                let c = timed(iters, entropy, &mut c);
                (timed(iters, entropy, &mut rust), c)
            } else {
                let rust = timed(iters, entropy, &mut rust);
                (rust, timed(iters, entropy, &mut c))
            };
            // A sample where the VM paused the Rust batch can come out
            // negative; criterion needs a positive time (such a sample
            // shows as a low outlier).
            c.saturating_sub(rust).max(Duration::from_nanos(1))
        })
    });
    g.sampling_mode(SamplingMode::Auto);
}

fn bench(c: &mut Criterion) {
    let text = canary();
    let header_pairs = [("user-agent", "bench/1"), ("accept", "*/*")];
    let c_headers = to_c_headers(&header_pairs);

    // Rust API.
    let engine = Engine::new();
    engine.apply_str(&text).expect("canary applies");
    let headers = HeaderList(&header_pairs);
    let req = Request {
        method: "GET",
        remote: Some(SocketAddr::from(CLIENT)),
        source: &Source {
            namespace: "default",
            ..Source::MESH
        },
        headers: &headers,
        ..Request::get(HOST, PATH)
    };

    // C ABI.
    let mut cengine = ptr::null_mut();
    let mut decision = ptr::null_mut();
    unsafe {
        assert_eq!(weir_engine_new(&mut cengine), weir_result::Ok);
        assert_eq!(
            weir_engine_apply(
                cengine,
                ptr::null(),
                0,
                text.as_ptr().cast(),
                text.len(),
                ptr::null_mut()
            ),
            weir_result::Ok
        );
        assert_eq!(weir_decision_new(&mut decision), weir_result::Ok);
    }
    // The request's source made once, as a sidecar would (the Rust request's
    // `Source` is built once too).
    let source = new_source("", "default");
    let creq = c_request(&c_headers, source);
    let mut view = unsafe { std::mem::zeroed::<weir_decision_view>() };
    let mut summary = unsafe { std::mem::zeroed::<weir_decision_summary>() };

    let mut g = c.benchmark_group("decide_fleetman_canary");
    let mut entropy = 0u64;
    let held = engine.table();
    g.bench_function("rust/decide_held", |b| {
        b.iter(|| {
            entropy = entropy.wrapping_add(1);
            let d = held.decide(black_box(&req), black_box(entropy));
            read_rust(&d);
        })
    });
    let mut in_place = Box::new(Decision::default());
    g.bench_function("rust/decide_into_held", |b| {
        b.iter(|| {
            entropy = entropy.wrapping_add(1);
            held.decide_into(black_box(&req), black_box(entropy), &mut in_place);
            read_rust(&in_place);
        })
    });
    let mut rust_step = rust_built(&held, PARSED, &req);
    g.bench_function("rust/decide_into_built_held", |b| {
        b.iter(|| {
            entropy = entropy.wrapping_add(1);
            rust_step(entropy);
        })
    });
    let mut snap = ptr::null();
    unsafe { weir_engine_snapshot(cengine, &mut snap) };
    g.bench_function("c_abi/decide_held", |b| {
        b.iter(|| unsafe {
            entropy = entropy.wrapping_add(1);
            black_box(decide_on(snap, &creq, entropy, decision, &mut summary));
            read_c(&summary);
        })
    });
    let mut c_step = c_built(snap, PARSED, creq, decision);
    g.bench_function("c_abi/decide_built_held", |b| {
        b.iter(|| {
            entropy = entropy.wrapping_add(1);
            c_step(entropy);
        })
    });
    // The two above, paired.
    paired(
        &mut g,
        "paired/c_abi_minus_rust_built",
        &mut entropy,
        rust_step,
        c_step,
    );
    // The same for a browser's request behind a mesh (twelve headers, a
    // 111-byte path): the C ABI's cost must not grow with them.
    let busy_headers = HeaderList(&BUSY_HEADERS);
    let busy_c_headers = to_c_headers(&BUSY_HEADERS);
    let busy = Request {
        headers: &busy_headers,
        ..req
    };
    paired(
        &mut g,
        "paired/c_abi_minus_rust_built_browser",
        &mut entropy,
        rust_built(&held, BUSY_LINE, &busy),
        c_built(
            snap,
            BUSY_LINE,
            c_request(&busy_c_headers, source),
            decision,
        ),
    );
    g.bench_function("c_abi/decide_held_view", |b| {
        b.iter(|| unsafe {
            entropy = entropy.wrapping_add(1);
            let rc = weir_snapshot_decide(
                snap,
                black_box(&creq),
                black_box(entropy),
                decision,
                ptr::null_mut(),
            );
            let rv = weir_decision_fill_view(decision, &mut view);
            black_box((rc, rv, view.outcome, view.cluster, view.endpoint));
        })
    });
    // The boundary alone: a request for a gateway the config does not have
    // is answered 404 before any lookup, so the difference between these two
    // is what the C ABI adds around the core (checks, copies, summary).
    let miss = Request {
        source: &Source {
            gateway: Some("none/none"),
            ..*req.source
        },
        ..req
    };
    // The C request names the gateway through a `weir_source`, as
    // `c_abi/decide_held` does, so both go through the same path.
    let miss_source = new_source("none/none", "default");
    let cmiss = weir_request {
        source: miss_source,
        ..creq
    };
    // Every C request decides as meant (a rejected one would bench an error path).
    for (r, want) in [
        (&creq, weir_outcome::Route),
        (&cmiss, weir_outcome::NoRoute),
    ] {
        let rc = unsafe { decide_on(snap, r, 0, decision, &mut summary) };
        assert_eq!((rc, summary.outcome), (weir_result::Ok, want));
    }
    g.bench_function("rust/miss_held", |b| {
        b.iter(|| {
            entropy = entropy.wrapping_add(1);
            let d = held.decide(black_box(&miss), black_box(entropy));
            read_rust(&d);
        })
    });
    g.bench_function("c_abi/miss_held", |b| {
        b.iter(|| unsafe {
            entropy = entropy.wrapping_add(1);
            black_box(decide_on(snap, &cmiss, entropy, decision, &mut summary));
            read_c(&summary);
        })
    });
    unsafe { weir_snapshot_free(snap) };
    g.bench_function("rust/decide", |b| {
        b.iter(|| {
            entropy = entropy.wrapping_add(1);
            let snap = engine.snapshot();
            let d = snap.decide(black_box(&req), black_box(entropy));
            read_rust(&d);
        })
    });
    g.bench_function("c_abi/decide", |b| {
        b.iter(|| unsafe {
            entropy = entropy.wrapping_add(1);
            let mut snap = ptr::null();
            weir_engine_snapshot(cengine, &mut snap);
            black_box(decide_on(snap, &creq, entropy, decision, &mut summary));
            read_c(&summary);
            weir_snapshot_free(snap);
        })
    });
    g.bench_function("c_abi/engine_decide", |b| {
        b.iter(|| unsafe {
            entropy = entropy.wrapping_add(1);
            let rc = weir_engine_decide(
                cengine,
                black_box(&creq),
                black_box(entropy),
                decision,
                &mut summary,
            );
            black_box(rc);
            read_c(&summary);
        })
    });
    g.finish();
    unsafe {
        weir_source_free(source);
        weir_source_free(miss_source);
        weir_decision_free(decision);
        weir_engine_free(cengine);
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench
}
criterion_main!(benches);
