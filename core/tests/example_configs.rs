//! Decisions on the realistic configs in examples/configs, with Istio's semantics.

mod common;

use common::engine;
use weir_core::request::{HeaderList, Request, Source};
use weir_core::Outcome;

#[test]
fn fleetman_canary_splits_90_10_by_entropy() {
    let e = engine("fleetman-canary.yaml");
    let t = e.snapshot();
    let host = "fleetman-staff-service.default.svc.cluster.local";
    let mut safe = 0;
    for v in 0..1000u64 {
        let d = t.decide(&Request::get(host, "/"), v);
        assert_eq!(d.outcome, Outcome::Route);
        let c = d.cluster.unwrap();
        // Envoy: v % 100 < 90 -> first destination.
        let want = if v % 100 < 90 {
            "safe-group"
        } else {
            "risky-group"
        };
        assert_eq!(&*c.subset, want, "entropy {v}");
        assert_eq!(&*c.name, &format!("outbound|8080|{want}|{host}"));
        if want == "safe-group" {
            safe += 1;
            assert!(["10.1.0.11:8080", "10.1.0.12:8080"].contains(&&*d.endpoint.unwrap().address));
        } else {
            assert_eq!(&*d.endpoint.unwrap().address, "10.1.0.21:8080");
        }
    }
    assert_eq!(safe, 900);
}

#[test]
fn reviews_faults_header_route_mirror_and_abort() {
    let e = engine("reviews-faults.yaml");
    let t = e.snapshot();
    let jason = HeaderList(&[("end-user", "jason")]);
    let req = Request {
        headers: &jason,
        source: &Source {
            namespace: "shop",
            ..Source::MESH
        },
        ..Request::get("reviews:9080", "/reviews/1")
    };
    let d = t.decide(&req, 7);
    assert_eq!(
        &*d.cluster.unwrap().name,
        "outbound|9080|v2|reviews.shop.svc.cluster.local"
    );
    // Everyone else: v1, a quarter mirrored to v3.
    let mut mirrored = 0;
    let n = 4000;
    for v in 0..n {
        let req = Request {
            source: &Source {
                namespace: "shop",
                ..Source::MESH
            },
            ..Request::get("reviews.shop.svc.cluster.local", "/")
        };
        let d = t.decide(&req, v);
        assert_eq!(&*d.cluster.unwrap().subset, "v1");
        if let Some(m) = d.mirrors.iter().next() {
            assert_eq!(
                &*m.cluster_name,
                "outbound|9080|v3|reviews.shop.svc.cluster.local"
            );
            mirrored += 1;
        }
    }
    // 25 % of 4000 = 1000; binomial sd ~27, bound at 5 sd.
    assert!((865..=1135).contains(&mirrored), "mirrored {mirrored}");
    // ratings: jason delayed 7 s; others aborted 10 % with 503 and a response header.
    let req = Request {
        headers: &jason,
        ..Request::get("ratings.shop.svc.cluster.local", "/")
    };
    let d = t.decide(&req, 1);
    assert_eq!(d.delay, Some(std::time::Duration::from_secs(7)));
    let mut aborted = 0;
    for v in 0..n {
        let d = t.decide(
            &Request::get("ratings.shop.svc.cluster.local", "/r?user=ann"),
            v,
        );
        if d.outcome == Outcome::FaultAbort {
            assert_eq!(d.status, 503);
            aborted += 1;
        } else {
            assert_eq!(d.outcome, Outcome::Route);
        }
        assert_eq!(&*d.response_headers.set[0].0, "x-served-by");
    }
    // 10 % of 4000 = 400; sd ~19, bound at 5 sd.
    assert!((305..=495).contains(&aborted), "aborted {aborted}");
}

#[test]
fn ingress_paths_route_redirect_and_404() {
    let e = engine("ingress-paths.yaml");
    let t = e.snapshot();
    let gw = |authority: &'static str, path: &'static str| Request {
        source: &Source {
            gateway: Some("default/gt-gateway"),
            ..Source::MESH
        },
        port: 80,
        ..Request::get(authority, path)
    };
    let d = t.decide(&gw("shop.example.com", "/api/members/7"), 0);
    assert_eq!(
        &*d.cluster.unwrap().name,
        "outbound|8081||member.default.svc.cluster.local"
    );
    let d = t.decide(&gw("a.internal.example.com", "/static/v2/app.js"), 0);
    assert_eq!(d.outcome, Outcome::Redirect);
    assert_eq!(d.status, 301);
    assert_eq!(
        d.location.unwrap().to_string(),
        "http://a.internal.example.com/assets"
    );
    let d = t.decide(&gw("shop.example.com", "/anything"), 0);
    assert_eq!(
        &*d.cluster.unwrap().name,
        "outbound|9000||bk-gateway.default.svc.cluster.local"
    );
    assert_eq!(d.timeout(), Some(std::time::Duration::from_secs(3)));
    let r = d.retries().unwrap();
    assert_eq!((r.attempts, &*r.retry_on), (3, "5xx,connect-failure"));
    let d = t.decide(&gw("other.example.com", "/"), 0);
    assert_eq!((d.outcome, d.status), (Outcome::NoRoute, 404));
    // POST /login goes to members, GET /login does not.
    let mut post = gw("shop.example.com", "/login");
    post.method = "POST";
    assert_eq!(
        &*t.decide(&post, 0).cluster.unwrap().host,
        "member.default.svc.cluster.local"
    );
    assert_eq!(
        &*t.decide(&gw("shop.example.com", "/login"), 0)
            .cluster
            .unwrap()
            .host,
        "bk-gateway.default.svc.cluster.local"
    );
}

#[test]
fn myapp_ab_on_any_host_of_the_gateway() {
    let e = engine("myapp-ab.yaml");
    let t = e.snapshot();
    for (v, want) in [(0u64, "v1"), (49, "v1"), (50, "v2"), (99, "v2")] {
        let req = Request {
            source: &Source {
                gateway: Some("default/app-gateway"),
                ..Source::MESH
            },
            ..Request::get("whatever.example", "/")
        };
        let d = t.decide(&req, v);
        assert_eq!(&*d.cluster.unwrap().subset, want);
    }
}

#[test]
fn fleetman_sticky_hashes_the_header() {
    let e = engine("fleetman-sticky.yaml");
    let t = e.snapshot();
    let host = "fleetman-staff-service.default.svc.cluster.local";
    let h = HeaderList(&[("x-myval", "alice")]);
    let req = Request {
        headers: &h,
        ..Request::get(host, "/")
    };
    let first = t.decide(&req, 1).endpoint.unwrap().address.clone();
    for v in 0..50 {
        assert_eq!(t.decide(&req, v).endpoint.unwrap().address, first);
    }
}

#[test]
fn tcp_echo_routes_connections() {
    let e = engine("tcp-echo.yaml");
    let t = e.snapshot();
    let conn = weir_core::Connection {
        port: 31400,
        source: &Source {
            gateway: Some("istioinaction/echo-tcp-gateway"),
            ..Source::MESH
        },
        ..Default::default()
    };
    let d = t.decide_tcp(&conn, 3);
    assert_eq!(d.outcome, Outcome::Route);
    assert_eq!(
        &*d.cluster.unwrap().name,
        "outbound|2701||tcp-echo.istioinaction.svc.cluster.local"
    );
    assert!(d.endpoint.unwrap().address.ends_with(":2701"));
}

#[test]
fn fleetman_sticky_without_the_header_picks_at_random_like_envoy() {
    let e = engine("fleetman-sticky.yaml");
    let t = e.snapshot();
    let req = Request::get("fleetman-staff-service.default.svc.cluster.local", "/");
    let mut seen = std::collections::HashSet::new();
    for v in 0..400 {
        let d = t.decide(&req, v);
        assert!(matches!(
            d.hash.map(|h| h.input),
            Some(weir_core::balance::hash_policy::RequestHash::Missing)
        ));
        seen.insert(d.endpoint.unwrap().address.to_string());
    }
    // All four pods get traffic (chance of missing one in 400 draws ≈ 4·0.75^400).
    assert_eq!(seen.len(), 4, "{seen:?}");
}
