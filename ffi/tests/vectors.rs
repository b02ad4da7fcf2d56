//! One decision everywhere: `vectors/decisions.txt` holds requests on the
//! example configs and the decision the core makes for each, rendered as
//! canonical `want.*` lines. The C tests (tests/c/vectors.c) and the Go tests
//! (go/) replay the file through the C ABI and must render the same
//! lines, field for field.
//!
//! This test regenerates the file from `weir_core` and fails when the
//! committed one differs; `WEIR_BLESS=1` rewrites it.
//!
//! Format (tab-separated, one field per line, a case ends with `end`):
//! ```text
//! config  <file in examples/configs>   (a new config starts a fresh engine)
//! kind    http | tcp
//! authority / method / path / scheme / port / gateway / namespace / remote / local
//! destination / sni / host               (tcp)
//! header  <name> <value>                 (repeated)
//! label   <name> <value>                 (repeated)
//! entropy <u64>
//! want.*  <value…>                       (fixed order, see `render`)
//! end
//! ```
//! Cases of one config are consecutive and replayed in order on one engine
//! (round-robin cursors are state).

use std::fmt::Write as _;
use std::path::PathBuf;
use weir_core::config::Loaded;
use weir_core::request::{Connection, HeaderList, Request, Source};
use weir_core::{Decision, Engine};

#[derive(Debug, Clone, Default)]
struct Case {
    config: &'static str,
    tcp: bool,
    authority: &'static str,
    method: &'static str,
    path: &'static str,
    scheme: &'static str,
    port: u16,
    gateway: &'static str,
    namespace: &'static str,
    remote: &'static str,
    local: &'static str,
    destination: &'static str,
    sni: &'static str,
    host: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    labels: Vec<(&'static str, &'static str)>,
    entropy: u64,
}

fn http(config: &'static str, authority: &'static str, path: &'static str, entropy: u64) -> Case {
    Case {
        config,
        authority,
        method: "GET",
        path,
        scheme: "http",
        entropy,
        ..Case::default()
    }
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    // Canary 90/10 by entropy % 100, in the mesh.
    let staff = "fleetman-staff-service.default.svc.cluster.local";
    for e in [0, 1, 42, 89, 90, 95, 99, 100, 12_345, u64::MAX] {
        v.push(Case {
            namespace: "default",
            ..http("fleetman-canary.yaml", staff, "/api/staff?page=2", e)
        });
    }
    v.push(Case {
        namespace: "default",
        ..http(
            "fleetman-canary.yaml",
            "fleetman-staff-service:8080",
            "/",
            3,
        )
    });
    v.push(http("fleetman-canary.yaml", "unknown.example.com", "/", 3));
    // Sticky sessions: the same x-myval lands on the same pod whatever the entropy.
    for (val, e) in [
        ("alice", 1),
        ("alice", 99),
        ("bob", 1),
        ("bob", 7),
        ("carol", 5),
    ] {
        v.push(Case {
            namespace: "default",
            headers: vec![("X-MyVal", val)],
            ..http("fleetman-sticky.yaml", staff, "/", e)
        });
    }
    v.push(Case {
        namespace: "default",
        ..http("fleetman-sticky.yaml", staff, "/no-header", 11)
    });
    // Ingress paths at the gateway: prefix, method match, regex redirect, wildcard host, 404s.
    let gw = "default/gt-gateway";
    for (method, authority, path) in [
        ("GET", "shop.example.com", "/api/members/7?x=1"),
        ("POST", "shop.example.com", "/login"),
        ("GET", "shop.example.com", "/login"),
        ("GET", "shop.example.com", "/static/v2/app.js?v=3"),
        ("GET", "shop.example.com", "/static/vx/app.js"),
        ("GET", "a.internal.example.com", "/anything"),
        ("GET", "shop.example.com:80", "/"),
        ("GET", "other.example.com", "/"),
    ] {
        v.push(Case {
            method,
            gateway: gw,
            port: 80,
            ..http("ingress-paths.yaml", authority, path, 17)
        });
    }
    // The same host from the mesh: the VirtualService is bound to the gateway only.
    v.push(http(
        "ingress-paths.yaml",
        "shop.example.com",
        "/api/members",
        1,
    ));
    // A/B 50/50 behind a gateway for any host.
    for e in [0, 49, 50, 99, 1_000_001] {
        v.push(Case {
            gateway: "default/app-gateway",
            port: 80,
            ..http("myapp-ab.yaml", "myapp.example.com", "/", e)
        });
    }
    // Faults, mirrors, header routing, cookie hashing.
    let jason = vec![("end-user", "jason")];
    for (authority, path, headers, e) in [
        ("reviews:9080", "/reviews/1", jason.clone(), 7),
        (
            "reviews:9080",
            "/reviews/1",
            vec![("end-user", "jason"), ("cookie", "user=abc")],
            7,
        ),
        (
            "ratings.shop.svc.cluster.local",
            "/ratings/1",
            jason.clone(),
            1,
        ),
    ] {
        v.push(Case {
            namespace: "shop",
            headers,
            remote: "10.9.0.1:5555",
            local: "10.4.0.9:15001",
            ..http("reviews-faults.yaml", authority, path, e)
        });
    }
    for e in 0..12 {
        v.push(Case {
            namespace: "shop",
            ..http(
                "reviews-faults.yaml",
                "reviews.shop.svc.cluster.local",
                "/",
                e,
            )
        });
    }
    for e in 0..12 {
        v.push(Case {
            namespace: "shop",
            ..http(
                "reviews-faults.yaml",
                "ratings.shop.svc.cluster.local",
                "/r?user=ann",
                e,
            )
        });
    }
    // TCP at a gateway.
    for (port, e) in [(31400, 0), (31400, 1), (31400, 2), (9999, 0)] {
        v.push(Case {
            config: "tcp-echo.yaml",
            tcp: true,
            port,
            gateway: "istioinaction/echo-tcp-gateway",
            destination: "10.0.0.9:31400",
            entropy: e,
            ..Case::default()
        });
    }
    v
}

fn configs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/configs")
}

fn clean(s: &str) -> &str {
    assert!(
        !s.contains(['\t', '\n']),
        "vector value with a tab or newline: {s:?}"
    );
    s
}

/// The canonical rendering every replayer reproduces.
fn render(out: &mut String, d: &Decision<'_>) {
    let mut line = |k: &str, v: &str| {
        writeln!(out, "want.{k}\t{v}").unwrap();
    };
    line("outcome", d.outcome.as_str());
    line("status", &d.status.to_string());
    line(
        "grpc_status",
        &d.grpc_status.map(|g| g.to_string()).unwrap_or_default(),
    );
    let route = match (d.route, d.l4_rule) {
        (Some(r), _) => format!(
            "{}/{}/{}",
            r.rule.namespace,
            r.rule.virtual_service,
            r.rule
                .index
                .map(|i| i.to_string())
                .unwrap_or_else(|| "-".into())
        ),
        (None, Some(l)) => format!("{}/{}/{}", l.namespace, l.virtual_service, l.index),
        _ => String::new(),
    };
    line("route", &route);
    line(
        "route_name",
        d.route.and_then(|r| r.rule.name.as_deref()).unwrap_or(""),
    );
    line(
        "destination_index",
        &d.destination_index
            .map(|i| i.to_string())
            .unwrap_or_default(),
    );
    line("cluster", d.cluster.map(|c| &*c.name).unwrap_or(""));
    line("endpoint", d.endpoint.map(|e| &*e.address).unwrap_or(""));
    line(
        "delay_ns",
        &d.delay
            .map(|t| t.as_nanos().to_string())
            .unwrap_or_default(),
    );
    line(
        "timeout_ns",
        &d.timeout()
            .map(|t| t.as_nanos().to_string())
            .unwrap_or_default(),
    );
    let retries = d.retries();
    line(
        "retry_attempts",
        &retries.map(|r| r.attempts.to_string()).unwrap_or_default(),
    );
    line("retry_on", retries.map(|r| &*r.retry_on).unwrap_or(""));
    line("upstream_path", &d.upstream_path.to_string());
    line("upstream_authority", d.upstream_authority.unwrap_or(""));
    line(
        "location",
        &d.location.map(|l| l.to_string()).unwrap_or_default(),
    );
    line("body", std::str::from_utf8(d.body()).unwrap_or("<binary>"));
    line(
        "set_cookie",
        &d.set_cookie.map(|c| c.to_string()).unwrap_or_default(),
    );
    for m in d.mirrors.iter() {
        line("mirror", &m.cluster_name);
    }
    for (name, ops) in [("req", d.request_headers), ("resp", d.response_headers)] {
        for (n, v) in ops.set.iter() {
            line(
                &format!("{name}_set"),
                &format!("{}\t{}", clean(n), clean(v)),
            );
        }
        for (n, v) in ops.add.iter() {
            line(
                &format!("{name}_add"),
                &format!("{}\t{}", clean(n), clean(v)),
            );
        }
        for n in ops.remove.iter() {
            line(&format!("{name}_remove"), n);
        }
    }
}

fn generate() -> String {
    let mut out = String::from(
        "# Generated by ffi/tests/vectors.rs from weir_core (WEIR_BLESS=1 to regenerate).\n\
         # Replayed through the C ABI by ffi/tests/c/vectors.c and go/.\n",
    );
    let mut engine: Option<Engine> = None;
    let mut current = "";
    for c in cases() {
        if engine.is_none() || current != c.config {
            let text = std::fs::read_to_string(configs_dir().join(c.config)).unwrap();
            let e = Engine::new();
            e.apply(Loaded::from_source(c.config, &text)).unwrap();
            engine = Some(e);
            current = c.config;
        }
        let table = engine.as_ref().unwrap().table();
        let mut kv = |k: &str, v: &str| writeln!(out, "{k}\t{}", clean(v)).unwrap();
        kv("config", c.config);
        kv("kind", if c.tcp { "tcp" } else { "http" });
        let labels = c.labels.clone();
        let source = Source {
            gateway: (!c.gateway.is_empty()).then_some(c.gateway),
            local: (!c.local.is_empty()).then(|| c.local.parse().unwrap()),
            namespace: c.namespace,
            labels: &labels,
        };
        let remote = (!c.remote.is_empty()).then(|| c.remote.parse().unwrap());
        if c.tcp {
            kv("destination", c.destination);
            kv("port", &c.port.to_string());
            kv("sni", c.sni);
            kv("host", c.host);
            kv("gateway", c.gateway);
            kv("namespace", c.namespace);
            kv("remote", c.remote);
            kv("local", c.local);
        } else {
            kv("authority", c.authority);
            kv("method", c.method);
            kv("path", c.path);
            kv("scheme", c.scheme);
            kv("port", &c.port.to_string());
            kv("gateway", c.gateway);
            kv("namespace", c.namespace);
            kv("remote", c.remote);
            kv("local", c.local);
        }
        for (n, v) in &c.headers {
            writeln!(out, "header\t{}\t{}", clean(n), clean(v)).unwrap();
        }
        for (n, v) in &c.labels {
            writeln!(out, "label\t{}\t{}", clean(n), clean(v)).unwrap();
        }
        writeln!(out, "entropy\t{}", c.entropy).unwrap();
        if c.tcp {
            let conn = Connection {
                destination: (!c.destination.is_empty()).then(|| c.destination.parse().unwrap()),
                port: c.port,
                sni: (!c.sni.is_empty()).then_some(c.sni),
                host: (!c.host.is_empty()).then_some(c.host),
                remote,
                source: &source,
            };
            render(&mut out, &table.decide_tcp(&conn, c.entropy));
        } else {
            let headers = HeaderList(&c.headers);
            let req = Request {
                authority: c.authority,
                method: c.method,
                path: c.path,
                scheme: c.scheme,
                port: c.port,
                remote,
                source: &source,
                headers: &headers,
            };
            render(&mut out, &table.decide(&req, c.entropy));
        }
        out.push_str("end\n");
    }
    out
}

#[test]
fn vectors_are_current() {
    let fresh = generate();
    // The vectors must exercise what they claim to.
    for needle in [
        "want.outcome\tfault_abort",
        "want.outcome\tredirect",
        "want.outcome\tno_route",
        "want.mirror\t",
        "want.delay_ns\t7000000000",
        "want.resp_set\tx-served-by\tweir",
        "want.location\thttp://shop.example.com/assets",
    ] {
        assert!(fresh.contains(needle), "vectors miss {needle:?}");
    }
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/decisions.txt");
    if std::env::var_os("WEIR_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "tests/vectors/decisions.txt is stale: run `WEIR_BLESS=1 cargo test -p weir-ffi --test vectors`"
    );
}
