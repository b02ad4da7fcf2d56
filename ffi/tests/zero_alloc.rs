//! No allocation per decision through the C ABI: snapshot, decide (HTTP and
//! TCP), every accessor, the flat view, feedback begin/finish and snapshot
//! free, 10 000+ times, after a warm-up, with a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use weir::*;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        System.dealloc(p, layout)
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCS.fetch_add(1, Ordering::Relaxed);
        }
        System.realloc(p, layout, new)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn s(text: &str) -> (*const std::os::raw::c_char, usize) {
    (text.as_ptr().cast(), text.len())
}

fn request(
    authority: &'static str,
    path: &'static str,
    namespace: &'static str,
    headers: &[weir_header],
) -> weir_request {
    weir_request {
        authority: s(authority).0,
        authority_len: authority.len(),
        method: s("GET").0,
        method_len: 3,
        path: s(path).0,
        path_len: path.len(),
        scheme: s("http").0,
        scheme_len: 4,
        port: 0,
        gateway: ptr::null(),
        gateway_len: 0,
        source_namespace: s(namespace).0,
        source_namespace_len: namespace.len(),
        source_labels: ptr::null(),
        source_labels_len: 0,
        remote_address: s("10.9.0.1:4000").0,
        remote_address_len: 13,
        local_address: ptr::null(),
        local_address_len: 0,
        headers: headers.as_ptr(),
        headers_len: headers.len(),
        source: ptr::null(),
    }
}

fn apply(engine: *mut weir_engine, file: &str) {
    let path = format!("{}/../../shared/configs/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let rc = unsafe {
        weir_engine_apply(
            engine,
            ptr::null(),
            0,
            text.as_ptr().cast(),
            text.len(),
            ptr::null_mut(),
        )
    };
    assert_eq!(rc, weir_result::Ok);
}

/// Calls every accessor of `decision` (each must succeed).
unsafe fn read_everything(decision: *mut weir_decision) {
    let (mut p, mut n) = (ptr::null(), 0usize);
    let mut summary = std::mem::zeroed::<weir_decision_summary>();
    assert_eq!(
        weir_decision_get_summary(decision, &mut summary),
        weir_result::Ok
    );
    assert_eq!(
        weir_decision_cluster(decision, &mut p, &mut n),
        weir_result::Ok
    );
    assert_eq!(
        weir_decision_endpoint(decision, &mut p, &mut n),
        weir_result::Ok
    );
    assert_eq!(
        weir_decision_upstream_path(decision, &mut p, &mut n),
        weir_result::Ok
    );
    assert_eq!(
        weir_decision_upstream_authority(decision, &mut p, &mut n),
        weir_result::Ok
    );
    assert_eq!(
        weir_decision_location(decision, &mut p, &mut n),
        weir_result::Ok
    );
    assert_eq!(
        weir_decision_set_cookie(decision, &mut p, &mut n),
        weir_result::Ok
    );
    let mut route = std::mem::zeroed::<weir_route_info>();
    assert_eq!(
        weir_decision_route_info(decision, &mut route),
        weir_result::Ok
    );
    let mut dest = std::mem::zeroed::<weir_destination_info>();
    assert_eq!(
        weir_decision_destination_info(decision, &mut dest),
        weir_result::Ok
    );
    let mut policy = std::mem::zeroed::<weir_route_policy>();
    assert_eq!(weir_decision_policy(decision, &mut policy), weir_result::Ok);
    let mut rewritten = false;
    assert_eq!(
        weir_decision_path_rewritten(decision, &mut rewritten),
        weir_result::Ok
    );
    let (mut b, mut m) = (ptr::null(), ptr::null());
    assert_eq!(
        weir_decision_body(decision, &mut b, &mut n),
        weir_result::Ok
    );
    assert_eq!(
        weir_decision_mirrors(decision, &mut m, &mut n),
        weir_result::Ok
    );
    let mut edits = std::mem::zeroed::<weir_header_edits>();
    assert_eq!(
        weir_decision_request_headers(decision, &mut edits),
        weir_result::Ok
    );
    assert_eq!(
        weir_decision_response_headers(decision, &mut edits),
        weir_result::Ok
    );
    let _ = (p, b, m);
}

#[test]
fn deciding_through_the_abi_allocates_nothing() {
    unsafe {
        let mut engine = ptr::null_mut();
        assert_eq!(weir_engine_new(&mut engine), weir_result::Ok);
        let mut decision = ptr::null_mut();
        assert_eq!(weir_decision_new(&mut decision), weir_result::Ok);
        let jason = [
            weir_header::new("end-user", "jason"),
            weir_header::new("x-myval", "abc"),
        ];
        let others = [weir_header::new("user-agent", "curl/8")];
        // Canary (weights), sticky (header hash), reviews (cookie hash, mirrors,
        // least request), ratings (faults, Maglev on a query parameter),
        // ingress (gateway, redirect), myapp (gateway split).
        let cases: Vec<(&str, Vec<weir_request>)> = vec![
            (
                "fleetman-canary.yaml",
                vec![request(
                    "fleetman-staff-service.default.svc.cluster.local",
                    "/api?q=1",
                    "default",
                    &others,
                )],
            ),
            (
                "fleetman-sticky.yaml",
                vec![request(
                    "fleetman-staff-service.default.svc.cluster.local",
                    "/",
                    "default",
                    &jason,
                )],
            ),
            (
                "reviews-faults.yaml",
                vec![
                    request("reviews:9080", "/reviews/1", "shop", &jason),
                    request("reviews.shop.svc.cluster.local", "/", "shop", &others),
                    request(
                        "ratings.shop.svc.cluster.local",
                        "/r?user=ann",
                        "shop",
                        &others,
                    ),
                    request("ratings.shop.svc.cluster.local", "/r", "shop", &jason),
                    request("nowhere.example.com", "/", "shop", &others),
                ],
            ),
        ];
        // The same requests with their source in a `weir_source` handle.
        let mut sources = Vec::new();
        for ns in ["default", "shop"] {
            let mut src = ptr::null_mut();
            assert_eq!(
                weir_source_new(
                    ptr::null(),
                    0,
                    s(ns).0,
                    ns.len(),
                    ptr::null(),
                    0,
                    ptr::null(),
                    0,
                    &mut src
                ),
                weir_result::Ok
            );
            sources.push((ns, src));
        }
        let with_source = |r: &weir_request| {
            let ns =
                std::slice::from_raw_parts(r.source_namespace.cast::<u8>(), r.source_namespace_len);
            let src = sources
                .iter()
                .find(|(n, _)| n.as_bytes() == ns)
                .map(|&(_, p)| p);
            weir_request {
                source_namespace: ptr::null(),
                source_namespace_len: 0,
                source: src.expect("a source for the namespace"),
                ..*r
            }
        };
        let mut total = 0u64;
        for (file, reqs) in &cases {
            apply(engine, file);
            let sourced: Vec<weir_request> = reqs.iter().map(with_source).collect();
            let mut view = std::mem::zeroed::<weir_decision_view>();
            let mut summary = std::mem::zeroed::<weir_decision_summary>();
            let mut ticket = std::mem::zeroed::<weir_ticket>();
            let mut run = |n: u64| {
                for i in 0..n {
                    let mut snap = ptr::null();
                    assert_eq!(weir_engine_snapshot(engine, &mut snap), weir_result::Ok);
                    let k = (i as usize) % reqs.len();
                    // Inline source on a snapshot, a source handle on a
                    // snapshot, a source handle on the engine.
                    let rc = match i % 3 {
                        0 => weir_snapshot_decide(snap, &reqs[k], i, decision, &mut summary),
                        1 => weir_snapshot_decide(snap, &sourced[k], i, decision, &mut summary),
                        _ => weir_engine_decide(engine, &sourced[k], i, decision, &mut summary),
                    };
                    assert_eq!(rc, weir_result::Ok);
                    read_everything(decision);
                    assert_eq!(
                        weir_decision_fill_view(decision, &mut view),
                        weir_result::Ok
                    );
                    assert_eq!(view.outcome, summary.outcome);
                    assert_eq!(
                        weir_feedback_begin(snap, decision, &mut ticket),
                        weir_result::Ok
                    );
                    assert_eq!(
                        weir_feedback_finish(snap, &mut ticket, 200, i),
                        weir_result::Ok
                    );
                    assert_eq!(weir_snapshot_free(snap), weir_result::Ok);
                }
            };
            run(1000); // warm-up: the decision's buffers grow to size
            COUNTING.store(true, Ordering::SeqCst);
            run(10_000);
            COUNTING.store(false, Ordering::SeqCst);
            total += 10_000;
        }
        // TCP.
        apply(engine, "tcp-echo.yaml");
        let gw = "istioinaction/echo-tcp-gateway";
        let conn = weir_connection {
            destination: ptr::null(),
            destination_len: 0,
            port: 31400,
            sni: ptr::null(),
            sni_len: 0,
            host: ptr::null(),
            host_len: 0,
            gateway: gw.as_ptr().cast(),
            gateway_len: gw.len(),
            source_namespace: ptr::null(),
            source_namespace_len: 0,
            source_labels: ptr::null(),
            source_labels_len: 0,
            remote_address: ptr::null(),
            remote_address_len: 0,
        };
        let mut summary = std::mem::zeroed::<weir_decision_summary>();
        let mut tcp = |n: u64| {
            for i in 0..n {
                let mut snap = ptr::null();
                assert_eq!(weir_engine_snapshot(engine, &mut snap), weir_result::Ok);
                assert_eq!(
                    weir_snapshot_decide_tcp(snap, &conn, i, decision, &mut summary),
                    weir_result::Ok
                );
                assert_eq!(summary.outcome, weir_outcome::Route);
                read_everything(decision);
                assert_eq!(weir_snapshot_free(snap), weir_result::Ok);
            }
        };
        tcp(100);
        COUNTING.store(true, Ordering::SeqCst);
        tcp(10_000);
        COUNTING.store(false, Ordering::SeqCst);
        total += 10_000;
        let allocs = ALLOCS.load(Ordering::SeqCst);
        assert_eq!(
            allocs, 0,
            "{allocs} allocations in {total} decisions through the C ABI"
        );
        assert_eq!(weir_decision_free(decision), weir_result::Ok);
        for (_, src) in sources {
            assert_eq!(weir_source_free(src), weir_result::Ok);
        }
        assert_eq!(weir_engine_free(engine), weir_result::Ok);
    }
}
