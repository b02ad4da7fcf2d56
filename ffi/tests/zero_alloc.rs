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

/// The client `10.9.0.1:4000`, in binary form (parsed once, outside the count).
fn client() -> weir_address {
    let text = "10.9.0.1:4000";
    let mut a = weir_address::default();
    assert_eq!(
        unsafe { weir_address_parse(s(text).0, text.len(), &mut a) },
        weir_result::Ok
    );
    a
}

fn request(
    authority: &'static str,
    path: &'static str,
    source: *const weir_source,
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
        remote: client(),
        headers: headers.as_ptr(),
        headers_len: headers.len(),
        source,
    }
}

/// A source for a gateway (or `""`, a sidecar) and a client namespace.
unsafe fn new_source(gateway: &str, namespace: &str) -> *mut weir_source {
    let mut src = ptr::null_mut();
    assert_eq!(
        weir_source_new(
            s(gateway).0,
            gateway.len(),
            s(namespace).0,
            namespace.len(),
            ptr::null(),
            0,
            ptr::null(),
            &mut src
        ),
        weir_result::Ok
    );
    src
}

fn apply(engine: *mut weir_engine, file: &str) {
    let path = format!("{}/../examples/configs/{file}", env!("CARGO_MANIFEST_DIR"));
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
        let default = new_source("", "default");
        let shop = new_source("", "shop");
        // Canary (weights), sticky (header hash), reviews (cookie hash, mirrors,
        // least request), ratings (faults, Maglev on a query parameter),
        // ingress (gateway, redirect), myapp (gateway split).
        let cases: Vec<(&str, Vec<weir_request>)> = vec![
            (
                "fleetman-canary.yaml",
                vec![
                    request(
                        "fleetman-staff-service.default.svc.cluster.local",
                        "/api?q=1",
                        default,
                        &others,
                    ),
                    // A path over 64 bytes: the long ASCII check and copy.
                    request(
                        "fleetman-staff-service.default.svc.cluster.local",
                        "/api/staff/rosters/2026-11-24/shifts?page=2&per_page=50&sort=-updated_at&team=ops",
                        default,
                        &others,
                    ),
                ],
            ),
            (
                "fleetman-sticky.yaml",
                vec![request(
                    "fleetman-staff-service.default.svc.cluster.local",
                    "/",
                    default,
                    &jason,
                )],
            ),
            (
                "reviews-faults.yaml",
                vec![
                    request("reviews:9080", "/reviews/1", shop, &jason),
                    request("reviews.shop.svc.cluster.local", "/", shop, &others),
                    request(
                        "ratings.shop.svc.cluster.local",
                        "/r?user=ann",
                        shop,
                        &others,
                    ),
                    request("ratings.shop.svc.cluster.local", "/r", shop, &jason),
                    request("nowhere.example.com", "/", shop, &others),
                ],
            ),
        ];
        let mut total = 0u64;
        for (file, reqs) in &cases {
            apply(engine, file);
            let mut view = std::mem::zeroed::<weir_decision_view>();
            let mut summary = std::mem::zeroed::<weir_decision_summary>();
            let mut ticket = std::mem::zeroed::<weir_ticket>();
            let mut run = |n: u64| {
                for i in 0..n {
                    let mut snap = ptr::null();
                    assert_eq!(weir_engine_snapshot(engine, &mut snap), weir_result::Ok);
                    let k = (i as usize) % reqs.len();
                    // On a snapshot, and on the engine's table in force.
                    let rc = if i % 2 == 0 {
                        weir_snapshot_decide(snap, &reqs[k], i, decision, &mut summary)
                    } else {
                        weir_engine_decide(engine, &reqs[k], i, decision, &mut summary)
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
        let gateway = new_source("istioinaction/echo-tcp-gateway", "");
        let conn = weir_connection {
            destination: weir_address::default(),
            port: 31400,
            sni: ptr::null(),
            sni_len: 0,
            host: ptr::null(),
            host_len: 0,
            remote: client(),
            source: gateway,
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
        for src in [default, shop, gateway] {
            assert_eq!(weir_source_free(src), weir_result::Ok);
        }
        assert_eq!(weir_engine_free(engine), weir_result::Ok);
    }
}
