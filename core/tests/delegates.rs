//! Delegate VirtualServices: a root's `http[].delegate` is replaced by the
//! delegate's routes, in place, each with the root route's match merged in
//! and its settings where the delegate sets none; delegates are looked up
//! by namespace and name, honour `exportTo`, and are one level deep.

use std::time::Duration;
use weir_core::config::Loaded;
use weir_core::request::{HeaderList, Request, Source};
use weir_core::validate::{validate, Severity};
use weir_core::{Engine, Outcome};

/// Services: `shop` and `web` in `front`, `reviews` (v1, v2) in `team`.
const SERVICES: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: front, namespace: front}
spec:
  hosts: [shop.front.svc.cluster.local, web.front.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: reviews, namespace: team}
spec:
  hosts: [reviews.team.svc.cluster.local]
  ports: [{number: 9080, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints:
  - {address: 10.1.0.1, labels: {version: v1}}
  - {address: 10.1.0.2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: team}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"#;

/// The root, in `front`: `/api` goes to the delegate `team/reviews-routes`,
/// with a 3 s timeout; the jason header rule goes to another delegate
/// position; everything else to `web`.
const ROOT: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: front}
spec:
  hosts: [shop]
  http:
  - name: early
    match: [{uri: {exact: /api/status}}]
    directResponse: {status: 204}
  - name: api
    match:
    - uri: {prefix: /api}
      headers: {x-team: {exact: blue}}
    - uri: {prefix: /v1api}
    delegate: {name: reviews-routes, namespace: team}
    timeout: 3s
  - name: rest
    route: [{destination: {host: web}}]
"#;

fn delegate(export_to: &str) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews-routes, namespace: team}}
spec:
  exportTo: {export_to}
  http:
  - name: v2
    match: [{{uri: {{prefix: /api/v2}}}}]
    route: [{{destination: {{host: reviews, subset: v2}}}}]
    timeout: 1s
  - name: outside
    match: [{{uri: {{prefix: /other}}}}]
    route: [{{destination: {{host: reviews, subset: v2}}}}]
  - name: rest
    route: [{{destination: {{host: reviews, subset: v1}}}}]
"#
    )
}

fn config(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| format!("---\n{}\n", p.trim()))
        .collect()
}

/// What a request to the shop gets: the route name, the cluster, the timeout.
fn answer(
    engine: &Engine,
    path: &str,
    headers: &[(&str, &str)],
) -> (Outcome, String, String, Option<Duration>) {
    let table = engine.snapshot();
    let source = Source {
        namespace: "front",
        ..Source::MESH
    };
    let headers = HeaderList(headers);
    let req = Request {
        source: &source,
        headers: &headers,
        ..Request::get("shop.front.svc.cluster.local", path)
    };
    let d = table.decide(&req, 7);
    let name = d
        .route
        .and_then(|r| r.rule.name.as_deref())
        .unwrap_or("")
        .to_string();
    let vs = d
        .route
        .map(|r| r.rule.virtual_service.to_string())
        .unwrap_or_default();
    let cluster = d.cluster.map(|c| c.name.to_string()).unwrap_or_default();
    assert!(
        vs.is_empty() || vs == "shop",
        "routes belong to the root: {vs}"
    );
    (d.outcome, name, cluster, d.timeout())
}

/// (path, headers, outcome, route name, cluster, timeout)
type Case<'a> = (
    &'a str,
    &'a [(&'a str, &'a str)],
    Outcome,
    &'a str,
    &'a str,
    Option<Duration>,
);

/// (resource, severity, field, part of the message)
type Expected<'a> = (&'a str, Severity, &'a str, &'a str);

const V1: &str = "outbound|9080|v1|reviews.team.svc.cluster.local";
const V2: &str = "outbound|9080|v2|reviews.team.svc.cluster.local";
const WEB: &str = "outbound|80||web.front.svc.cluster.local";

#[test]
fn delegate_routes_take_the_roots_place_with_merged_matches() {
    let engine = Engine::new();
    let diagnostics = engine
        .apply_str(&config(&[SERVICES, ROOT, &delegate("[]")]))
        .unwrap();
    assert!(
        diagnostics.iter().all(|d| d.severity != Severity::Error),
        "{diagnostics:?}"
    );
    let blue = [("x-team", "blue")];
    let secs = |s| Some(Duration::from_secs(s));
    #[rustfmt::skip]
    let cases: &[Case] = &[
        // The root's earlier rule still comes first.
        ("/api/status", &blue, Outcome::DirectResponse, "early", "", None),
        // Root match (prefix /api + header) and delegate match (/api/v2) both
        // hold; the delegate's own timeout wins, names join root-delegate.
        ("/api/v2/x", &blue, Outcome::Route, "api-v2", V2, secs(1)),
        // The delegate's catch-all under the root's match, the root's timeout.
        ("/api/x", &blue, Outcome::Route, "api-rest", V1, secs(3)),
        // Without the header the root's first match fails; /api is not
        // under /v1api: on to the root's next rule.
        ("/api/v2/x", &[], Outcome::Route, "rest", WEB, None),
        // The root's second match block: the delegate's catch-all only
        // (/api/v2 is not under /v1api, so v2 merges with the first block only).
        ("/v1api/v2", &[], Outcome::Route, "api-rest", V1, secs(3)),
        // /other is outside every root match: that delegate route is dropped.
        ("/other", &blue, Outcome::Route, "rest", WEB, None),
        ("/", &[], Outcome::Route, "rest", WEB, None),
    ];
    for &(path, headers, outcome, name, cluster, timeout) in cases {
        let got = answer(&engine, path, headers);
        assert_eq!(
            got,
            (outcome, name.to_string(), cluster.to_string(), timeout),
            "{path} {headers:?}"
        );
    }
}

/// `exportTo` of the delegate: visible to the root's namespace, or the
/// route is skipped (with a warning) and requests fall through to `rest`.
#[test]
fn a_delegate_not_exported_to_the_root_is_skipped() {
    let cases = [
        ("[]", true),
        ("['*']", true),
        ("[front]", true),
        ("[team, front]", true),
        ("['.']", false),
        ("[team]", false),
    ];
    for (export_to, visible) in cases {
        let engine = Engine::new();
        let diagnostics = engine
            .apply_str(&config(&[SERVICES, ROOT, &delegate(export_to)]))
            .unwrap();
        let warned = diagnostics.iter().any(|d| {
            d.code == "IST0101"
                && d.field == "spec.http[1].delegate"
                && d.message.contains("not exported to namespace \"front\"")
        });
        assert_eq!(warned, !visible, "exportTo {export_to}: {diagnostics:?}");
        let (_, name, cluster, _) = answer(&engine, "/api/v2/x", &[("x-team", "blue")]);
        let want = if visible {
            ("api-v2", V2)
        } else {
            ("rest", WEB)
        };
        assert_eq!(
            (name.as_str(), cluster.as_str()),
            want,
            "exportTo {export_to}"
        );
    }
}

fn diagnostics_of(yaml: &str) -> Vec<(String, Severity, String, String)> {
    let loaded = Loaded::from_source("t.yaml", yaml);
    let mut out = loaded.diagnostics.clone();
    validate(&loaded.config, &mut out);
    out.into_iter()
        .filter(|d| {
            d.field.contains("delegate")
                || ["spec.gateways", "spec.tcp", "spec.tls"].contains(&d.field.as_str())
        })
        .map(|d| (d.resource.name, d.severity, d.field, d.message))
        .collect()
}

/// Bad references and misuse: each named by resource and field.
#[test]
fn bad_delegates_get_clear_diagnostics() {
    let root = |delegate: &str, extra: &str| {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
             metadata: {{name: shop, namespace: front}}\n\
             spec:\n  hosts: [shop]\n  http:\n  - delegate: {delegate}\n{extra}"
        )
    };
    let plain = "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
                 metadata: {name: other, namespace: team}\n\
                 spec:\n  hosts: [other]\n  http: [{route: [{destination: {host: web.front.svc.cluster.local}}]}]\n";
    let nested = "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
                  metadata: {name: inner, namespace: team}\n\
                  spec:\n  gateways: [edge]\n  tcp: [{route: [{destination: {host: web}}]}]\n  \
                  http: [{delegate: {name: deeper}}]\n";
    let e = Severity::Error;
    let w = Severity::Warning;
    #[rustfmt::skip]
    let cases: Vec<(String, Vec<Expected>)> = vec![
        (root("{name: shop}", ""), vec![("shop", e, "spec.http[0].delegate", "delegates to itself")]),
        (root("{name: gone, namespace: team}", ""),
         vec![("shop", w, "spec.http[0].delegate", "Referenced delegate VirtualService not found: \"team/gone\"; this route is skipped")]),
        (root("{name: other, namespace: team}", "") + "---\n" + plain,
         vec![("shop", w, "spec.http[0].delegate", "team/other has hosts, so it is not a delegate")]),
        (root("{name: inner, namespace: team}", "    route: [{destination: {host: web}}]\n"),
         vec![("shop", e, "spec.http[0].delegate", "cannot be combined with route")]),
        (root("{name: ''}", ""), vec![("shop", e, "spec.http[0].delegate.name", "delegate name is required")]),
        (nested.to_string(), vec![
            ("inner", e, "spec.gateways", "must not name gateways"),
            ("inner", e, "spec.tcp", "takes only http routes"),
            ("inner", e, "spec.http[0].delegate", "cannot delegate again (to \"team/deeper\")"),
        ]),
    ];
    for (yaml, want) in cases {
        let got = diagnostics_of(&yaml);
        assert_eq!(got.len(), want.len(), "{yaml}\n{got:#?}");
        for ((name, sev, field, msg), (wn, ws, wf, wm)) in got.iter().zip(&want) {
            assert_eq!(
                (name.as_str(), *sev, field.as_str()),
                (*wn, *ws, *wf),
                "{yaml}"
            );
            assert!(msg.contains(wm), "{msg:?} should contain {wm:?}");
        }
    }
}

/// A config whose only error is a self-delegation is rejected whole, and the
/// engine keeps the table it had.
#[test]
fn a_rejected_delegate_keeps_the_previous_table() {
    let engine = Engine::new();
    engine
        .apply_str(&config(&[SERVICES, ROOT, &delegate("[]")]))
        .unwrap();
    let bad = ROOT.replace("name: reviews-routes, namespace: team", "name: shop");
    let err = engine
        .apply_str(&config(&[SERVICES, &bad, &delegate("[]")]))
        .unwrap_err();
    assert!(err.to_string().contains("delegates to itself"), "{err}");
    let (_, name, cluster, _) = answer(&engine, "/api/v2/x", &[("x-team", "blue")]);
    assert_eq!((name.as_str(), cluster.as_str()), ("api-v2", V2));
}
