//! Table tests of the VirtualService field rules against Istio's webhook
//! (pkg/config/validation/validation.go): rows Istio accepts must pass,
//! rows it rejects must fail with its reason.

use crate::config::Loaded;
use crate::diagnostic::Severity;

/// `severity field: message` of the IST0106/IST0133 diagnostics of a
/// VirtualService with `spec` (YAML under `spec:`), next to a
/// ServiceEntry for the hosts it routes to.
fn diagnostics(spec: &str) -> Vec<String> {
    diagnostics_of(spec, &["IST0106", "IST0133"])
}

/// [`diagnostics`] of the given codes, info notes marked `info`.
pub(super) fn diagnostics_of(spec: &str, codes: &[&str]) -> Vec<String> {
    let yaml = format!(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: web, namespace: shop}}\nspec:\n  hosts: [web.example.com, '*.example.com']\n  ports: [{{number: 80, name: http, protocol: HTTP}}]\n  resolution: NONE\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: v, namespace: shop}}\nspec:\n{spec}"
    );
    let loaded = Loaded::from_source("t.yaml", &yaml);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let mut out = Vec::new();
    crate::validate::validate(&loaded.config, &mut out);
    out.iter()
        .filter(|d| d.resource.kind == "VirtualService" && codes.contains(&d.code))
        .map(|d| {
            let level = match d.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                _ => "info",
            };
            format!("{level} {}: {}", d.field, d.message)
        })
        .collect()
}

pub(super) const ROUTE: &str = "route: [{destination: {host: web.example.com}}]";

pub(super) fn http(rule: &str) -> String {
    format!("  hosts: [web.example.com]\n  http:\n  - {rule}\n")
}

#[test]
fn http_rules_as_istio_judges_them() {
    let cases: Vec<(String, &[&str])> = vec![
        // A redirect's prefixRewrite: header-only matches (and none) are fine.
        (http("match: [{headers: {x-a: {exact: b}}}]\n    redirect: {prefixRewrite: /x}"), &[]),
        (http("redirect: {prefixRewrite: /x}"), &[]),
        (http("match: [{uri: {prefix: /a}}, {headers: {x: {exact: y}}}]\n    redirect: {prefixRewrite: /x}"), &[]),
        (
            http("match: [{uri: {exact: /a}}]\n    redirect: {prefixRewrite: /x}"),
            &["error spec.http[0].redirect.prefixRewrite: redirect prefix_rewrite requires all URI matches to use prefix match type"],
        ),
        (
            http("redirect: {uri: /a, prefixRewrite: /x}"),
            &["error spec.http[0].redirect: redirect may only specify one of uri or prefix_rewrite"],
        ),
        (
            http("redirect: {redirectCode: 301}"),
            &["error spec.http[0].redirect: redirect must specify URI, authority, scheme, or port"],
        ),
        // Header edits: :authority may be set on requests, host too.
        (http(&format!("headers: {{request: {{set: {{':authority': a.example.com}}}}}}\n    {ROUTE}")), &[]),
        (http(&format!("headers: {{request: {{add: {{host: a.example.com}}}}}}\n    {ROUTE}")), &[]),
        (
            http(&format!("headers: {{request: {{set: {{':path': /x}}}}}}\n    {ROUTE}")),
            &["error spec.http[0].headers.request.set.:path: invalid header \":path\": header cannot have \":\" prefix"],
        ),
        (
            http(&format!("headers: {{request: {{remove: [':authority']}}}}\n    {ROUTE}")),
            &["error spec.http[0].headers.request.remove.:authority: invalid header \":authority\": header cannot have \":\" prefix"],
        ),
        (
            http(&format!("headers: {{response: {{set: {{Host: a}}}}}}\n    {ROUTE}")),
            &["error spec.http[0].headers.response.set.Host: invalid header \"Host\": cannot set Host header"],
        ),
        (
            http(&format!("headers: {{request: {{set: {{x-a: \"a\\u0001b\"}}}}}}\n    {ROUTE}")),
            &["error spec.http[0].headers.request.set.x-a: header value configuration a\u{1}b is invalid"],
        ),
        // Destination hosts: a wildcard domain is fine, `*` is not.
        (http("route: [{destination: {host: '*.example.com'}}]"), &[]),
        (
            http("route: [{destination: {host: '*'}}]"),
            &["error spec.http[0].route[0].destination.host: invalid destination host *"],
        ),
        (
            http("route: [{destination: {host: 'a_b.example.com'}}]"),
            &["error spec.http[0].route[0].destination.host: domain name \"a_b.example.com\" invalid (label \"a_b\" invalid)"],
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(diagnostics(&spec), want, "{spec}");
    }
}

#[test]
fn hosts_tcp_and_tls_rules_as_istio_judges_them() {
    let cases: Vec<(String, &[&str])> = vec![
        (format!("  hosts: [10.0.0.1]\n  tcp:\n  - {ROUTE}\n"), &[]),
        (
            format!("  hosts: ['*']\n  http:\n  - {ROUTE}\n"),
            &["error spec.hosts[0]: wildcard host * is not allowed for virtual services bound to the mesh gateway"],
        ),
        (
            format!("  hosts: ['a..example.com']\n  http:\n  - {ROUTE}\n"),
            // Istio names the rest after the first label.
            &["error spec.hosts[0]: domain name \".example.com\" invalid (label \"\" invalid)"],
        ),
        // TCP and TLS rules need a route.
        (
            "  hosts: [web.example.com]\n  tcp:\n  - match: [{port: 80}]\n".into(),
            &["error spec.tcp[0].route: TCP route is required"],
        ),
        (
            "  hosts: [web.example.com]\n  tls:\n  - match: [{sniHosts: [web.example.com]}]\n".into(),
            &["error spec.tls[0].route: TLS route is required"],
        ),
        // Destination subnets: IPs and CIDR blocks.
        (format!("  hosts: [web.example.com]\n  tcp:\n  - match: [{{destinationSubnets: [10.0.0.1, 10.1.0.0/16]}}]\n    {ROUTE}\n"), &[]),
        (
            format!("  hosts: [web.example.com]\n  tcp:\n  - match: [{{destinationSubnets: [10.1.0.0/99]}}]\n    {ROUTE}\n"),
            &["error spec.tcp[0].match[0].destinationSubnets[0]: 10.1.0.0/99 is not a valid CIDR block"],
        ),
        // SNI hosts: an IP is a warning, not a rejection.
        (
            format!("  hosts: [web.example.com]\n  tls:\n  - match: [{{sniHosts: [10.0.0.1]}}]\n    {ROUTE}\n"),
            &["warning spec.tls[0].match[0].sniHosts[0]: using an IP address (\"10.0.0.1\") goes against SNI spec and most clients do not support this"],
        ),
        (format!("  hosts: ['*.example.com']\n  tls:\n  - match: [{{sniHosts: [a.example.com]}}]\n    {ROUTE}\n"), &[]),
        (
            format!("  hosts: [web.example.com]\n  tls:\n  - match: [{{sniHosts: [other.example.com]}}]\n    {ROUTE}\n"),
            &["error spec.tls[0].match[0].sniHosts[0]: SNI host \"other.example.com\" is not a compatible subset of any of the virtual service hosts: [web.example.com]"],
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(diagnostics(&spec), want, "{spec}");
    }
}
