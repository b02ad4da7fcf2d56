//! Header matches on pseudo-headers (Istio accepts `:authority`, `:method`,
//! `:path`, `:scheme`, `:status`): Envoy matches them against the request
//! line, so Weir reads them off the request, not its header list. An
//! empty match block (`{}`), which Istio accepts, matches every request,
//! and `withoutHeaders` reads a missing header as an empty value.

use weir_core::request::{HeaderList, Request, Source};
use weir_core::Engine;

const CONFIG: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: default}
spec:
  hosts: [web.default.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web]
  http:
  - name: authority-method
    match: [{headers: {':authority': {exact: "web:8080"}, ':method': {exact: DELETE}}}]
    route: [{destination: {host: web}}]
  - name: path-with-query
    match: [{headers: {':path': {regex: "/q\\?id=[0-9]+"}}}]
    route: [{destination: {host: web}}]
  - name: scheme-without-status
    match: [{headers: {':scheme': {exact: https}}, withoutHeaders: {':status': {}}}]
    route: [{destination: {host: web}}]
  - name: header-named-method
    match: [{headers: {method: {exact: PUT}}}]
    route: [{destination: {host: web}}]
  - name: status
    match: [{headers: {':status': {}}}]
    route: [{destination: {host: web}}]
  - name: never-without-prefix
    match: [{withoutHeaders: {x-skip: {regex: ".*"}}}]
    route: [{destination: {host: web}}]
  - name: tagged
    match: [{withoutHeaders: {x-tag: {exact: ""}}}]
    route: [{destination: {host: web}}]
  - name: everything
    match: [{}]
    route: [{destination: {host: web}}]
"#;

/// (method, scheme, authority, path, header list, the rule that matches).
type Row = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
);

#[test]
fn pseudo_headers_match_the_request_line() {
    let engine = Engine::new();
    let report = engine.apply_str(CONFIG).expect("config applies");
    assert!(
        !report.iter().any(|d| d.code == "IST0106"),
        "Istio accepts pseudo-header matches and {{}}: {report:?}"
    );
    let table = engine.table();
    let rows: &[Row] = &[
        ("DELETE", "http", "web:8080", "/x", &[], "authority-method"),
        // The authority as sent: without the port it is another value.
        ("DELETE", "http", "web", "/x", &[], "everything"),
        // A header list claiming another authority does not count.
        (
            "DELETE",
            "http",
            "web",
            "/x",
            &[(":authority", "web:8080")],
            "everything",
        ),
        ("GET", "http", "web:8080", "/x", &[], "everything"),
        // A header key `method` (no colon) is a header like any other, as
        // istiod translates it; older releases dropped the condition.
        (
            "GET",
            "http",
            "web",
            "/x",
            &[("method", "PUT")],
            "header-named-method",
        ),
        ("PUT", "http", "web", "/x", &[], "everything"),
        // withoutHeaders reads a missing header as "" (Istio sets Envoy's
        // treat_missing_header_as_empty): `regex: ".*"` then holds for every
        // request, so its rule never matches; `exact: ""` fails without the
        // header and holds with a non-empty one.
        ("GET", "http", "web", "/x", &[("x-skip", "1")], "everything"),
        ("GET", "http", "web", "/x", &[("x-tag", "a")], "tagged"),
        ("GET", "http", "web", "/x", &[("x-tag", "")], "everything"),
        // :path carries the query string.
        ("GET", "http", "web", "/q?id=12", &[], "path-with-query"),
        ("GET", "http", "web", "/q?id=ab", &[], "everything"),
        ("GET", "http", "web", "/q", &[], "everything"),
        ("GET", "https", "web", "/z", &[], "scheme-without-status"),
        // :status is a response's: never present on a request.
        (
            "GET",
            "http",
            "web",
            "/z",
            &[(":status", "200")],
            "everything",
        ),
    ];
    for &(method, scheme, authority, path, headers, rule) in rows {
        let list = HeaderList(headers);
        let req = Request {
            authority,
            method,
            path,
            scheme,
            port: 80,
            remote: None,
            source: &Source::MESH,
            headers: &list,
        };
        let d = table.decide(&req, 0);
        assert_eq!(
            d.route.and_then(|r| r.rule.name.as_deref()),
            Some(rule),
            "{method} {scheme}://{authority}{path} {headers:?}"
        );
    }
}
