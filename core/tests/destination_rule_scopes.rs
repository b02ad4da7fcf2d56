//! Which DestinationRule a client sees, by its namespace, as istiod looks
//! it up: the client's own namespace's rules, then those the service's
//! namespace exports to it, then those the root namespace exports to it.
//! A rule in any other namespace never applies.
//!
//! Every rule here defines the subset `pick` for reviews (in `team`), each
//! with another version's label, so the endpoint chosen names the rule.

use weir_core::request::{Request, Source};
use weir_core::{Engine, Outcome};

const SERVICE: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: team}
spec:
  hosts: [reviews.team.svc.cluster.local]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 10.0.0.1, labels: {version: team}}
  - {address: 10.0.0.2, labels: {version: alpha}}
  - {address: 10.0.0.3, labels: {version: root}}
  - {address: 10.0.0.4, labels: {version: other}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: team}
spec:
  hosts: [reviews]
  http: [{route: [{destination: {host: reviews, subset: pick}}]}]
"#;

/// A rule in `namespace` for reviews whose subset `pick` selects `version`.
fn rule(namespace: &str, host: &str, export_to: &str) -> String {
    format!(
        "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
         metadata: {{name: reviews, namespace: {namespace}}}\n\
         spec:\n  host: {host}\n  exportTo: {export_to}\n  \
         subsets: [{{name: pick, labels: {{version: {namespace}}}}}]\n"
    )
    .replace("version: istio-system", "version: root")
}

const FQDN: &str = "reviews.team.svc.cluster.local";

/// The version that answers a client in `namespace`, or "503".
fn answer(engine: &Engine, namespace: &str) -> String {
    let table = engine.snapshot();
    let source = Source {
        namespace,
        ..Source::MESH
    };
    let req = Request {
        source: &source,
        ..Request::get("reviews.team.svc.cluster.local", "/")
    };
    let d = table.decide(&req, 3);
    match d.outcome {
        Outcome::Route => match d.endpoint.map(|e| e.address.to_string()).as_deref() {
            Some("10.0.0.1:9080") => "team".into(),
            Some("10.0.0.2:9080") => "alpha".into(),
            Some("10.0.0.3:9080") => "root".into(),
            Some("10.0.0.4:9080") => "other".into(),
            other => panic!("unexpected endpoint {other:?}"),
        },
        Outcome::NoCluster => "503".into(),
        o => panic!("{namespace}: {o:?}"),
    }
}

/// (what, the rules, (client namespace, the rule that answers))
type Case<'a> = (&'a str, &'a [String], &'a [(&'a str, &'a str)]);

#[test]
fn the_clients_namespace_then_the_services_then_the_roots() {
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("service namespace only, public", &[rule("team", "reviews", "[]")],
         &[("team", "team"), ("beta", "team"), ("", "team"), ("istio-system", "team")]),
        ("a client namespace with its own rule", &[rule("team", "reviews", "[]"), rule("alpha", FQDN, "[]")],
         &[("alpha", "alpha"), ("beta", "team"), ("team", "team")]),
        ("a rule in an unrelated namespace applies only there",
         &[rule("other", FQDN, "['*']")],
         &[("other", "other"), ("beta", "503"), ("team", "503")]),
        ("a private service-namespace rule: others fall to the root's",
         &[rule("team", "reviews", "['.']"), rule("istio-system", FQDN, "[]")],
         &[("team", "team"), ("beta", "root"), ("alpha", "root")]),
        ("exported to one namespace: only it (not even team) sees it",
         &[rule("team", "reviews", "[gamma]"), rule("istio-system", FQDN, "[]")],
         &[("gamma", "team"), ("beta", "root"), ("team", "root")]),
        ("exported to its own namespace and one more",
         &[rule("team", "reviews", "['.', gamma]"), rule("istio-system", FQDN, "[]")],
         &[("gamma", "team"), ("team", "team"), ("beta", "root")]),
        ("the root's public rule does not pre-empt the service's for root clients",
         &[rule("team", "reviews", "[]"), rule("istio-system", FQDN, "[]")],
         &[("istio-system", "team"), ("beta", "team")]),
        ("the root's private rule comes first for root clients only",
         &[rule("team", "reviews", "[]"), rule("istio-system", FQDN, "['.']")],
         &[("istio-system", "root"), ("beta", "team")]),
        ("a client's wildcard rule is its most specific match",
         &[rule("team", "reviews", "[]"), rule("alpha", "'*.svc.cluster.local'", "[]")],
         &[("alpha", "alpha"), ("beta", "team")]),
        ("a root rule exported to one namespace",
         &[rule("istio-system", FQDN, "[beta]")],
         &[("beta", "root"), ("alpha", "503")]),
    ];
    for (what, rules, want) in cases {
        let engine = Engine::new();
        let config = format!("{SERVICE}{}", rules.concat());
        let diagnostics = engine
            .apply_str(&config)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            diagnostics
                .iter()
                .all(|d| d.code != "IST0101" || !d.message.contains("subset")),
            "{what}: {diagnostics:?}"
        );
        for (namespace, version) in *want {
            assert_eq!(
                answer(&engine, namespace),
                *version,
                "{what}: client in {namespace:?}"
            );
        }
    }
}

/// A reload carries endpoint state over per cluster variant: the requests
/// in flight on the cluster a namespace's own DestinationRule shapes stay
/// counted on it, not reset (it shares its name with the default cluster,
/// whose endpoints are others).
#[test]
fn a_reload_keeps_the_endpoint_state_of_scoped_clusters() {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/configs/scoped-rules.yaml"),
    )
    .expect("scoped-rules.yaml");
    let engine = Engine::new();
    engine.apply_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let decide_in = |table: &weir_core::Table, ns: &str| -> (String, u32) {
        let source = Source {
            namespace: ns,
            ..Source::MESH
        };
        let headers = weir_core::HeaderList(&[("x-user", "u1")]);
        let req = Request {
            source: &source,
            headers: &headers,
            ..Request::get("payments.payments.svc.cluster.local", "/")
        };
        let d = table.decide(&req, 7);
        assert_eq!(d.outcome, Outcome::Route, "{d:?}");
        let ep = d.endpoint.expect("an endpoint");
        (
            ep.address.to_string(),
            ep.state.active.load(std::sync::atomic::Ordering::Relaxed),
        )
    };
    let before = engine.snapshot();
    let source = Source {
        namespace: "shop",
        ..Source::MESH
    };
    let headers = weir_core::HeaderList(&[("x-user", "u1")]);
    let req = Request {
        source: &source,
        headers: &headers,
        ..Request::get("payments.payments.svc.cluster.local", "/")
    };
    let d = before.decide(&req, 7);
    let _in_flight = before.begin(&d);
    assert_eq!(
        decide_in(&before, "shop"),
        ("10.8.0.21:8080".to_string(), 1)
    );
    engine.apply_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let after = engine.snapshot();
    assert_eq!(
        decide_in(&after, "shop"),
        ("10.8.0.21:8080".to_string(), 1),
        "the in-flight request on shop's cluster survives the reload"
    );
    let (address, active) = decide_in(&after, "web");
    assert!(address.starts_with("10.8.0.1"), "{address}");
    assert_eq!(active, 0);
}
