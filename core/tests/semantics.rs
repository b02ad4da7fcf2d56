//! Istio semantics that implementers get wrong, one case each
//! (Istio's route semantics as istiod implements them), plus the validation codes.

use weir_core::config::Loaded;
use weir_core::request::{Request, Source};
use weir_core::{Engine, Outcome, Severity};

const SERVICES: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: svcs, namespace: default}
spec:
  hosts: [a.default.svc.cluster.local, b.default.svc.cluster.local, c.default.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: vm, namespace: default}
spec:
  hosts: [vm.default.svc.cluster.local]
  ports: [{number: 8080, name: http-web, protocol: HTTP}]
  resolution: STATIC
  workloadSelector: {labels: {app: vm}}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: vm-1, namespace: default}
spec: {address: 10.9.9.1, labels: {app: vm, version: v1}, ports: {http-web: 9090}, weight: 3}
---
apiVersion: networking.istio.io/v1
kind: WorkloadEntry
metadata: {name: other, namespace: default}
spec: {address: 10.9.9.2, labels: {app: other}}
"#;

fn engine(extra: &str) -> Engine {
    let e = Engine::new();
    if let Err(err) = e.apply_str(&format!("{SERVICES}\n---\n{extra}")) {
        panic!("{err}");
    }
    e
}

fn host_of(e: &Engine, req: &Request<'_>) -> Option<String> {
    let t = e.table();
    let d = t.decide(req, 0);
    d.cluster.map(|c| c.host.to_string())
}

#[test]
fn workload_entries_are_chosen_by_the_service_entry_selector() {
    let e = engine("");
    let t = e.table();
    let d = t.decide(&Request::get("vm.default.svc.cluster.local", "/"), 0);
    assert_eq!(d.outcome, Outcome::Route);
    // The WorkloadEntry's port for the service port's name.
    assert_eq!(&*d.endpoint.unwrap().address, "10.9.9.1:9090");
    assert_eq!(d.endpoint.unwrap().weight, 3);
    assert_eq!(
        t.endpoints(
            t.cluster_index("outbound|8080||vm.default.svc.cluster.local")
                .unwrap()
        )
        .len(),
        1
    );
}

#[test]
fn oldest_mesh_virtual_service_wins_a_host() {
    let vs = |name: &str, ts: &str, dest: &str| {
        format!("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {name}, namespace: default, creationTimestamp: \"{ts}\"}}\nspec:\n  hosts: [a]\n  http: [{{route: [{{destination: {{host: {dest}}}}}]}}]\n---\n")
    };
    // Written newest first: the timestamps decide, not the order.
    let e = engine(&format!(
        "{}{}",
        vs("newer", "2024-05-01T00:00:00Z", "c"),
        vs("older", "2023-01-01T00:00:00Z", "b")
    ));
    assert_eq!(
        host_of(&e, &Request::get("a", "/")).as_deref(),
        Some("b.default.svc.cluster.local")
    );
    // Without timestamps, document order.
    let no_ts = |name: &str, dest: &str| {
        format!("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  hosts: [a]\n  http: [{{route: [{{destination: {{host: {dest}}}}}]}}]\n---\n")
    };
    let e = engine(&format!(
        "{}{}",
        no_ts("z-first", "c"),
        no_ts("a-second", "b")
    ));
    assert_eq!(
        host_of(&e, &Request::get("a", "/")).as_deref(),
        Some("c.default.svc.cluster.local")
    );
}

#[test]
fn exact_host_beats_wildcard_and_the_most_specific_wildcard_wins() {
    let e = engine(
        r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: wide, namespace: default}
spec:
  hosts: ["*.svc.cluster.local"]
  http: [{route: [{destination: {host: c}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: narrow, namespace: default}
spec:
  hosts: ["*.default.svc.cluster.local"]
  http: [{route: [{destination: {host: b}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: exact, namespace: default}
spec:
  hosts: [a]
  http: [{route: [{destination: {host: a}}]}]
"#,
    );
    let cases = [
        ("a.default.svc.cluster.local", "a"),
        ("a:80", "a"), // port ignored; short name in the client namespace
        ("vm.default.svc.cluster.local", "b"), // a service covered by the most specific wildcard
        ("x.other.svc.cluster.local", "c"), // only the wide wildcard
    ];
    for (authority, want) in cases {
        let req = Request {
            source: &Source {
                namespace: "default",
                ..Source::MESH
            },
            ..Request::get(authority, "/")
        };
        assert_eq!(
            host_of(&e, &req).as_deref(),
            Some(format!("{want}.default.svc.cluster.local").as_str()),
            "{authority}"
        );
    }
}

#[test]
fn gateway_merges_virtual_services_with_catch_alls_last() {
    let e = engine(
        r#"apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: default}
spec:
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*.example.com"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: first, namespace: default, creationTimestamp: "2023-01-01T00:00:00Z"}
spec:
  hosts: [shop.example.com]
  gateways: [default/gw]
  http: [{route: [{destination: {host: a}}]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: second, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  hosts: [shop.example.com]
  gateways: [gw]
  http: [{match: [{uri: {prefix: /api}}], route: [{destination: {host: b}}]}]
"#,
    );
    let gw = |path: &'static str| Request {
        source: &Source {
            gateway: Some("default/gw"),
            ..Source::MESH
        },
        port: 80,
        ..Request::get("shop.example.com", path)
    };
    // The older VS's catch-all moved after the newer VS's /api route.
    assert_eq!(
        host_of(&e, &gw("/api/x")).as_deref(),
        Some("b.default.svc.cluster.local")
    );
    assert_eq!(
        host_of(&e, &gw("/other")).as_deref(),
        Some("a.default.svc.cluster.local")
    );
    // Not bound to the mesh: sidecars use the default route of service a... and
    // no virtual host exists for shop.example.com.
    assert_eq!(
        e.table()
            .decide(&Request::get("shop.example.com", "/api"), 0)
            .outcome,
        Outcome::NoRoute
    );
    // A host outside the server's hosts: 404 at the gateway.
    let other = Request {
        authority: "shop.other.org",
        ..gw("/")
    };
    assert_eq!(e.table().decide(&other, 0).status, 404);
}

#[test]
fn source_selectors_and_port_matches() {
    let e = engine(
        r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: a, namespace: default}
spec:
  hosts: [a]
  http:
  - match: [{sourceLabels: {app: reviews}}]
    route: [{destination: {host: b}}]
  - match: [{sourceNamespace: prod}]
    route: [{destination: {host: c}}]
  - match: [{port: 8080}]
    route: [{destination: {host: vm}}]
  - route: [{destination: {host: a}}]
"#,
    );
    // The first label of the host the request is routed to.
    let routed = |labels: &[(&str, &str)], ns: &str, port: u16| {
        let source = Source {
            labels,
            namespace: ns,
            ..Source::MESH
        };
        let req = Request {
            source: &source,
            port,
            ..Request::get("a.default.svc.cluster.local", "/")
        };
        host_of(&e, &req).map(|h| h.split('.').next().unwrap().to_string())
    };
    assert_eq!(
        routed(&[("app", "reviews"), ("v", "1")], "x", 80).as_deref(),
        Some("b")
    );
    assert_eq!(routed(&[], "prod", 80).as_deref(), Some("c"));
    assert_eq!(routed(&[], "dev", 8080).as_deref(), Some("vm"));
    assert_eq!(routed(&[], "dev", 80).as_deref(), Some("a"));
}

/// (yaml after the services, code, severity, field) — every row must produce that diagnostic.
const DIAGNOSTICS: &[(&str, &str, Severity, &str)] = &[
    (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n  hosts: [a]\n  http: [{match: [{uri: {regex: \"(\"}}], route: [{destination: {host: a}}]}]\n",
        "IST0106",
        Severity::Error,
        "spec.http[0].match[0].uri.regex",
    ),
    (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n  hosts: [a]\n  gateways: [missing-gw]\n  http: [{route: [{destination: {host: a}}]}]\n",
        "IST0101",
        Severity::Error,
        "spec.gateways[0]",
    ),
    (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n  host: a\n  subsets: [{name: v1, labels: {version: v1}}, {name: v1, labels: {version: v2}}]\n",
        "IST0106",
        Severity::Error,
        "spec.subsets[1].name",
    ),
    (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n  host: vm\n  subsets: [{name: v9, labels: {version: v9}}]\n",
        "IST0173",
        Severity::Warning,
        "spec.subsets[0].labels",
    ),
    (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n  host: nothing-here\n",
        "IST0174",
        Severity::Warning,
        "spec.host",
    ),
    (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v1}\nspec:\n  hosts: [a]\n  http: [{route: [{destination: {host: a}}]}]\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v2}\nspec:\n  hosts: [a]\n  http: [{route: [{destination: {host: b}}]}]\n",
        "IST0109",
        Severity::Warning,
        "spec.hosts",
    ),
    (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n  hosts: [a]\n  http: [{route: [{destination: {host: a}, weight: 30}]}]\n",
        "KIA1104",
        Severity::Warning,
        "spec.http[0].route[0].weight",
    ),
    (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n  host: a\n  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x, maglev: {tableSize: 65536}}}}\n",
        "IST0106",
        Severity::Error,
        "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize",
    ),
    (
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec:\n  host: a\n  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x, ringHash: {minimumRingSize: 9000000}}}}\n",
        "IST0106",
        Severity::Error,
        "spec.trafficPolicy.loadBalancer.consistentHash.ringHash.minimumRingSize",
    ),
    (
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n  hosts: [a]\n  http: [{route: [{destination: {host: a}}], fault: {abort: {httpStatus: 700, percentage: {value: 10}}}}]\n",
        "IST0106",
        Severity::Error,
        "spec.http[0].fault.abort.httpStatus",
    ),
];

#[test]
fn validation_codes() {
    for &(yaml, code, severity, field) in DIAGNOSTICS {
        let loaded = Loaded::from_source("t.yaml", &format!("{SERVICES}\n---\n{yaml}"));
        let mut d = loaded.diagnostics.clone();
        weir_core::validate::validate(&loaded.config, &mut d);
        assert!(
            d.iter()
                .any(|x| x.code == code && x.severity == severity && x.field == field),
            "want {code} {severity:?} at {field}, got {d:#?}"
        );
    }
}

/// A destination whose host nothing defines still names its cluster as
/// Istio would, with the destination's port: the 503 (no cluster) says which.
#[test]
fn a_missing_host_names_its_cluster_with_the_destination_port() {
    let engine = Engine::new();
    let vs = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: gone, namespace: default}
spec:
  hosts: [gone.example.com]
  http:
  - route: [{destination: {host: nowhere.example.com, port: {number: 8080}}}]
"#;
    engine.apply_str(vs).unwrap_or_else(|e| panic!("{e}"));
    let table = engine.snapshot();
    let d = table.decide(&Request::get("gone.example.com", "/"), 1);
    assert_eq!(d.outcome, weir_core::Outcome::NoCluster);
    let routes = table
        .mesh()
        .virtual_hosts
        .iter()
        .flat_map(|vh| vh.routes.iter());
    let names: Vec<String> = routes
        .flat_map(|r| r.rule.destinations().iter())
        .map(|dst| format!("{:?}", dst.cluster))
        .collect();
    assert!(
        names
            .iter()
            .any(|n| n.contains("outbound|8080||nowhere.example.com")),
        "{names:?}"
    );
}
