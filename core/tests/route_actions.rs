//! Route actions and match semantics, table-driven: one config, rows of
//! (request → expected decision fields).

use weir_core::request::{HeaderList, Request, Source};
use weir_core::{Engine, Outcome};

const CONFIG: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: default}
spec:
  hosts: [web.default.svc.cluster.local, api.default.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1, labels: {version: v1}}, {address: 10.0.0.2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: default}
spec:
  host: web
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web]
  http:
  - name: cors
    match: [{uri: {prefix: /cors}}]
    corsPolicy:
      allowOrigins: [{exact: "https://a.example"}, {regex: "https://.*\\.b\\.example"}]
      allowMethods: [GET, POST]
      allowHeaders: [x-custom]
      exposeHeaders: [x-served]
      maxAge: 24h
      allowCredentials: true
    route: [{destination: {host: web, subset: v1}}]
  - name: rewrite-prefix
    match: [{uri: {prefix: /old/}}]
    rewrite: {uri: /new/, authority: new.example}
    route: [{destination: {host: web, subset: v1}}]
  - name: rewrite-regex
    match: [{uri: {regex: "/users/[0-9]+/profile"}}]
    rewrite: {uriRegexRewrite: {match: "^/users/([0-9]+)/profile$", rewrite: "/profile/\\1"}}
    route: [{destination: {host: web, subset: v1}}]
  - name: redirect-prefix
    match: [{uri: {prefix: /legacy}}]
    redirect: {prefixRewrite: /modern, redirectCode: 308, scheme: https, port: 8443}
  - name: redirect-authority
    match: [{uri: {exact: /moved}}]
    redirect: {authority: elsewhere.example}
  - name: direct
    match: [{uri: {exact: /health}}]
    directResponse: {status: 503, body: {string: "down for maintenance"}}
  - name: grpc-abort
    match: [{uri: {prefix: /grpc}}]
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: web, subset: v1}}]
  - name: headers
    match:
    - headers: {x-team: {prefix: pay}}
      withoutHeaders: {x-debug: {}}
      queryParams: {flag: {exact: ""}}
      ignoreUriCase: true
      uri: {prefix: /PAY}
    headers:
      request: {set: {x-route: route, x-both: route}, add: {x-add: r}, remove: [x-drop]}
      response: {set: {x-resp: route}}
    route:
    - destination: {host: web, subset: v2}
      headers:
        request: {set: {x-both: destination}, remove: [x-route]}
    retries: {attempts: 4, retryOn: "gateway-error,503,504", perTryTimeout: 250ms}
  - name: method-scheme-authority
    match: [{method: {exact: PUT}, scheme: {exact: https}, authority: {regex: "web(:[0-9]+)?"}}]
    route: [{destination: {host: web, subset: v2}}]
  - route: [{destination: {host: web, subset: v1}}]
"#;

#[derive(Default)]
struct Row {
    method: &'static str,
    scheme: &'static str,
    authority: &'static str,
    path: &'static str,
    headers: &'static [(&'static str, &'static str)],
    rule: Option<&'static str>,
    outcome: Option<Outcome>,
    status: u16,
    subset: Option<&'static str>,
    upstream_path: Option<&'static str>,
    upstream_authority: Option<&'static str>,
    location: Option<&'static str>,
    cors: Option<&'static [(&'static str, &'static str)]>,
}

fn rows() -> Vec<Row> {
    vec![
        // CORS preflight with an allowed origin: answered locally.
        Row {
            method: "OPTIONS",
            path: "/cors/x",
            headers: &[
                ("origin", "https://a.example"),
                ("access-control-request-method", "POST"),
            ],
            rule: Some("cors"),
            outcome: Some(Outcome::DirectResponse),
            status: 200,
            cors: Some(&[
                ("access-control-allow-origin", "https://a.example"),
                ("access-control-allow-credentials", "true"),
                ("access-control-allow-methods", "GET,POST"),
                ("access-control-allow-headers", "x-custom"),
                ("access-control-max-age", "86400"),
            ]),
            ..Default::default()
        },
        // Actual request with an allowed origin (regex): forwarded with headers.
        Row {
            path: "/cors/x",
            headers: &[("origin", "https://x.b.example")],
            outcome: Some(Outcome::Route),
            subset: Some("v1"),
            cors: Some(&[
                ("access-control-allow-origin", "https://x.b.example"),
                ("access-control-allow-credentials", "true"),
                ("access-control-expose-headers", "x-served"),
            ]),
            ..Default::default()
        },
        // Origin not allowed: preflight forwarded, no CORS headers.
        Row {
            method: "OPTIONS",
            path: "/cors/x",
            headers: &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "GET"),
            ],
            outcome: Some(Outcome::Route),
            cors: None,
            ..Default::default()
        },
        // rewrite.uri replaces only the matched prefix; the query is kept.
        Row {
            path: "/old/a/b?q=1",
            rule: Some("rewrite-prefix"),
            upstream_path: Some("/new/a/b?q=1"),
            upstream_authority: Some("new.example"),
            ..Default::default()
        },
        Row {
            path: "/users/42/profile?x",
            rule: Some("rewrite-regex"),
            upstream_path: Some("/profile/42?x"),
            ..Default::default()
        },
        Row {
            path: "/legacy/page?z=2",
            rule: Some("redirect-prefix"),
            outcome: Some(Outcome::Redirect),
            status: 308,
            location: Some("https://web:8443/modern/page?z=2"),
            ..Default::default()
        },
        Row {
            authority: "web:8080",
            path: "/moved?k",
            outcome: Some(Outcome::Redirect),
            status: 301,
            location: Some("http://elsewhere.example/moved?k"),
            ..Default::default()
        },
        Row {
            path: "/health",
            outcome: Some(Outcome::DirectResponse),
            status: 503,
            ..Default::default()
        },
        Row {
            path: "/grpc.Svc/Call",
            outcome: Some(Outcome::FaultAbort),
            status: 200,
            ..Default::default()
        },
        // All conditions of the block hold (uri case ignored, flag present, no x-debug).
        Row {
            path: "/pay/now?flag",
            headers: &[("x-team", "payments")],
            rule: Some("headers"),
            subset: Some("v2"),
            ..Default::default()
        },
        // withoutHeaders: x-debug present → falls through to the catch-all.
        Row {
            path: "/pay/now?flag",
            headers: &[("x-team", "payments"), ("x-debug", "1")],
            rule: None,
            subset: Some("v1"),
            ..Default::default()
        },
        // Query parameter names are case-sensitive.
        Row {
            path: "/pay/now?FLAG",
            headers: &[("x-team", "payments")],
            subset: Some("v1"),
            ..Default::default()
        },
        Row {
            method: "PUT",
            scheme: "https",
            authority: "web:80",
            path: "/anything",
            rule: Some("method-scheme-authority"),
            subset: Some("v2"),
            ..Default::default()
        },
        // Method match is case-sensitive: "put" ≠ "PUT".
        Row {
            method: "put",
            scheme: "https",
            path: "/anything",
            subset: Some("v1"),
            ..Default::default()
        },
    ]
}

#[test]
fn route_actions_table() {
    let engine = Engine::new();
    engine.apply_str(CONFIG).expect("config applies");
    let table = engine.table();
    for (i, row) in rows().into_iter().enumerate() {
        let headers = HeaderList(row.headers);
        let req = Request {
            authority: if row.authority.is_empty() {
                "web"
            } else {
                row.authority
            },
            method: if row.method.is_empty() {
                "GET"
            } else {
                row.method
            },
            path: row.path,
            scheme: if row.scheme.is_empty() {
                "http"
            } else {
                row.scheme
            },
            port: 80,
            remote: None,
            source: &Source::MESH,
            headers: &headers,
        };
        let d = table.decide(&req, 0);
        let ctx = format!("row {i} {} {}", req.method, req.path);
        if let Some(o) = row.outcome {
            assert_eq!(d.outcome, o, "{ctx}");
        }
        if row.status != 0 {
            assert_eq!(d.status, row.status, "{ctx}");
        }
        if let Some(name) = row.rule {
            assert_eq!(
                d.route.and_then(|r| r.rule.name.as_deref()),
                Some(name),
                "{ctx}"
            );
        }
        if let Some(s) = row.subset {
            assert_eq!(d.cluster.map(|c| &*c.subset), Some(s), "{ctx}");
        }
        if let Some(p) = row.upstream_path {
            assert_eq!(d.upstream_path.to_string(), p, "{ctx}");
        }
        if let Some(a) = row.upstream_authority {
            assert_eq!(d.upstream_authority, Some(a), "{ctx}");
        }
        if let Some(l) = row.location {
            assert_eq!(
                d.location.map(|l| l.to_string()).as_deref(),
                Some(l),
                "{ctx}"
            );
        }
        let mut cors = Vec::new();
        if let Some(c) = d.cors {
            c.for_each(|n, v| cors.push((n, v.to_string())));
        }
        let want: Vec<(&str, String)> = row
            .cors
            .unwrap_or(&[])
            .iter()
            .map(|&(n, v)| (n, v.to_string()))
            .collect();
        if row.cors.is_some() || row.outcome.is_some() {
            assert_eq!(cors, want, "{ctx}");
        }
    }
}

#[test]
fn direct_response_body_grpc_status_headers_and_retries() {
    let engine = Engine::new();
    engine.apply_str(CONFIG).expect("config applies");
    let table = engine.table();
    let d = table.decide(&Request::get("web", "/health"), 0);
    assert_eq!(d.body(), b"down for maintenance");
    let d = table.decide(&Request::get("web", "/grpc.Svc/Call"), 0);
    assert_eq!(d.grpc_status, Some(14)); // UNAVAILABLE
    let h = HeaderList(&[("x-team", "pay")]);
    let req = Request {
        headers: &h,
        ..Request::get("web", "/PAY?flag=")
    };
    let d = table.decide(&req, 0);
    // Destination level wins over route level; a destination remove drops the route set.
    let set: Vec<(&str, &str)> = d
        .request_headers
        .set
        .iter()
        .map(|(k, v)| (&**k, &**v))
        .collect();
    assert_eq!(set, [("x-both", "destination")]);
    let remove: Vec<&str> = d.request_headers.remove.iter().map(|k| &**k).collect();
    assert_eq!(remove, ["x-drop", "x-route"]);
    assert_eq!(&*d.request_headers.add[0].0, "x-add");
    assert_eq!(&*d.response_headers.set[0].1, "route");
    let r = d.retries().unwrap();
    assert_eq!(r.attempts, 4);
    assert_eq!(&*r.retry_on, "gateway-error,retriable-status-codes");
    assert_eq!(&*r.retriable_status_codes, &[503, 504]);
    assert_eq!(
        r.per_try_timeout,
        Some(std::time::Duration::from_millis(250))
    );
    assert!(!r.is_istio_default());
    // A route without retries gets Istio's default policy; no timeout.
    let d = table.decide(&Request::get("web", "/other"), 0);
    let r = d.retries().unwrap();
    assert!(r.is_istio_default());
    assert_eq!(r.attempts, 2);
    assert_eq!(
        &*r.retry_on,
        "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
    );
    assert_eq!(d.timeout(), None);
}
