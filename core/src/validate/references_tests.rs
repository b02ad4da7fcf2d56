//! Table test of IST0101 ReferencedResourceNotFound from a VirtualService:
//! hosts, host:port, subsets, gateways, mirrors and mirror subsets, each
//! found and not found. Weir warns about an unknown route host (endpoints
//! may arrive at run time); Istio's severity, an error, is kept.

use crate::config::Loaded;
use crate::diagnostic::Severity;

const BASE: &str = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: web, namespace: shop}\nspec:\n  hosts: [web.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DNS\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web, namespace: shop}\nspec:\n  host: web.example.com\n  subsets: [{name: v1, labels: {version: v1}}]\n---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: shop}\nspec:\n  selector: {istio: ingressgateway}\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*/web.example.com']}]\n";

/// `severity/istio-severity field: message` of the IST0101s of a
/// VirtualService `shop/v` with `spec`.
fn references(spec: &str) -> Vec<String> {
    let yaml = format!("{BASE}---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: v, namespace: shop}}\nspec:\n{spec}");
    let loaded = Loaded::from_source("t.yaml", &yaml);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let mut out = Vec::new();
    crate::validate::validate(&loaded.config, &mut out);
    let level = |s: Severity| match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "info",
    };
    out.iter()
        .filter(|d| d.code == "IST0101" && d.resource.kind == "VirtualService")
        .map(|d| {
            format!(
                "{}/{} {}: {}",
                level(d.severity),
                level(d.istio_severity()),
                d.field,
                d.message
            )
        })
        .collect()
}

fn http(rule: &str) -> String {
    format!("  hosts: [web.example.com]\n  http:\n  - {rule}\n")
}

#[test]
fn virtual_service_references() {
    let cases: Vec<(String, &[&str])> = vec![
        (http("route: [{destination: {host: web.example.com, subset: v1, port: {number: 80}}}]"), &[]),
        (
            http("route: [{destination: {host: gone.example.com}}]"),
            &["warning/error spec.http[0].route[0].destination.host: Referenced host not found: \"gone.example.com\"; requests to it get 503 (no cluster) until a ServiceEntry or set_endpoints provides it"],
        ),
        (
            http("route: [{destination: {host: web.example.com, port: {number: 81}}}]"),
            &["error/error spec.http[0].route[0].destination.port.number: Referenced host:port not found: \"web.example.com:81\""],
        ),
        (
            http("route: [{destination: {host: web.example.com, subset: v2}}]"),
            &["error/error spec.http[0].route[0].destination.subset: Referenced host+subset in destinationrule not found: \"web.example.com+v2\""],
        ),
        ("  hosts: [web.example.com]\n  gateways: [gw]\n  http:\n  - route: [{destination: {host: web.example.com}}]\n".to_string(), &[]),
        (
            http("match: [{gateways: [shop/nogw]}]\n    route: [{destination: {host: web.example.com}}]"),
            &["error/error spec.http[0].match[0].gateways[0]: Referenced gateway not found: \"shop/nogw\""],
        ),
        (http("route: [{destination: {host: web.example.com}}]\n    mirror: {host: web.example.com, subset: v1}"), &[]),
        (
            http("route: [{destination: {host: web.example.com}}]\n    mirror: {host: gone.example.com}"),
            &["error/error spec.http[0].mirror.host: Referenced mirror host not found: \"gone.example.com\""],
        ),
        (
            http("route: [{destination: {host: web.example.com}}]\n    mirrors: [{destination: {host: web.example.com, subset: v9}}]"),
            &["error/error spec.http[0].mirrors[0].destination.subset: Referenced mirror+subset in destinationrule not found: \"web.example.com+v9\""],
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(references(&spec), want, "{spec}");
    }
}
