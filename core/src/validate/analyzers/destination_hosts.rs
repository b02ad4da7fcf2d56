//! IST0112 VirtualServiceDestinationPortSelectorRequired, as Istio's
//! `virtualservice/destinationhosts.go` (DestinationHostAnalyzer,
//! `checkServiceEntryPorts`) reports it: a route or mirror destination
//! without a port, to a service exposing more than one. (The analyzer's
//! IST0101 host checks are the VirtualService validation's, `destinations.rs`.)

use crate::config::model::{Destination, VirtualServiceSpec};
use crate::config::names::expand_host;
use crate::config::registry::Service;
use crate::config::{Kind, Resource};
use crate::diagnostic::{Diagnostic, Severity};

/// IST0112 of one VirtualService; `find` the registry's lookup of a host.
pub(super) fn virtual_service<'r>(
    find: impl Fn(&str) -> Option<&'r Service>,
    vs: &Resource<VirtualServiceSpec>,
    out: &mut Vec<Diagnostic>,
) {
    for (field, d) in destinations(&vs.spec) {
        port_required(&find, vs, d, &field, out);
    }
}

/// Every destination with its field path, in Istio's order: TCP, TLS and
/// HTTP routes (`getRouteDestinations`), then mirrors.
fn destinations(spec: &VirtualServiceSpec) -> Vec<(String, &Destination)> {
    let mut all = Vec::new();
    for (i, t) in spec.tcp.iter().enumerate() {
        for (j, rd) in t.route.iter().enumerate() {
            all.push((
                format!("spec.tcp[{i}].route[{j}].destination"),
                &rd.destination,
            ));
        }
    }
    for (i, t) in spec.tls.iter().enumerate() {
        for (j, rd) in t.route.iter().enumerate() {
            all.push((
                format!("spec.tls[{i}].route[{j}].destination"),
                &rd.destination,
            ));
        }
    }
    for (i, h) in spec.http.iter().enumerate() {
        for (j, rd) in h.route.iter().flatten().enumerate() {
            all.push((
                format!("spec.http[{i}].route[{j}].destination"),
                &rd.destination,
            ));
        }
    }
    for (i, h) in spec.http.iter().enumerate() {
        if let Some(m) = &h.mirror {
            all.push((format!("spec.http[{i}].mirror"), m));
        }
        for (j, m) in h.mirrors.iter().flatten().enumerate() {
            all.push((
                format!("spec.http[{i}].mirrors[{j}].destination"),
                &m.destination,
            ));
        }
    }
    all
}

fn port_required<'r>(
    find: &impl Fn(&str) -> Option<&'r Service>,
    vs: &Resource<VirtualServiceSpec>,
    d: &Destination,
    field: &str,
    out: &mut Vec<Diagnostic>,
) {
    if d.port.as_ref().and_then(|p| p.number).is_some() || d.host.is_empty() || d.host == "*" {
        return;
    }
    let host = expand_host(&d.host, &vs.namespace);
    let Some(service) = find(&host) else {
        return; // IST0101, reported by validation
    };
    if service.ports.len() < 2 {
        return;
    }
    // Go prints an []int as `[80 443]`.
    let ports: Vec<String> = service.ports.iter().map(|p| p.number.to_string()).collect();
    out.push(Diagnostic::new(
        "IST0112",
        Severity::Error,
        vs.reference(Kind::VirtualService),
        &format!("{field}.port"),
        format!(
            "This VirtualService routes to a service {:?} that exposes multiple ports [{}]. Specifying a port in the destination is required to disambiguate.",
            d.host,
            ports.join(" ")
        ),
    ));
}

#[cfg(test)]
mod tests {
    use super::super::test_support::run;

    const ENTRY: &str = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: multi, namespace: ns}\nspec:\n  hosts: [multi.example.com, one.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}, {number: 8080, name: http-alt, protocol: HTTP}]\n  resolution: DNS\n---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: single, namespace: ns}\nspec:\n  hosts: [single.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n  resolution: DNS\n";

    fn vs(spec: &str) -> String {
        format!("{ENTRY}---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: r, namespace: ns}}\nspec:\n  hosts: [r.example.com]\n{spec}")
    }

    #[test]
    fn a_destination_to_a_multi_port_service_needs_a_port() {
        let msg = "This VirtualService routes to a service \"multi.example.com\" that exposes multiple ports [80 8080]. Specifying a port in the destination is required to disambiguate.";
        let cases: Vec<(String, Vec<&str>)> = vec![
            (vs("  http:\n  - route: [{destination: {host: multi.example.com}}]\n"), vec!["spec.http[0].route[0].destination.port"]),
            (vs("  http:\n  - route: [{destination: {host: multi.example.com, port: {number: 80}}}]\n"), vec![]),
            (vs("  http:\n  - route: [{destination: {host: single.example.com}}]\n"), vec![]),
            // Not found: IST0101's business, not this one's.
            (vs("  http:\n  - route: [{destination: {host: missing.example.com}}]\n"), vec![]),
            (vs("  tcp:\n  - route: [{destination: {host: multi.example.com}}]\n"), vec!["spec.tcp[0].route[0].destination.port"]),
            (vs("  tls:\n  - match: [{sniHosts: [r.example.com]}]\n    route: [{destination: {host: multi.example.com}}]\n"), vec!["spec.tls[0].route[0].destination.port"]),
            (
                vs("  http:\n  - route: [{destination: {host: single.example.com}}]\n    mirror: {host: multi.example.com}\n  - route: [{destination: {host: single.example.com}}]\n    mirrors: [{destination: {host: multi.example.com}}, {destination: {host: multi.example.com, port: {number: 8080}}}]\n"),
                vec!["spec.http[0].mirror.port", "spec.http[1].mirrors[0].destination.port"],
            ),
        ];
        for (yaml, want) in cases {
            let got = run(&yaml, "IST0112");
            let fields: Vec<&str> = got.iter().map(|(_, f, _)| f.as_str()).collect();
            assert_eq!(fields, want, "{yaml}");
            for (resource, _, message) in &got {
                assert_eq!(resource, "VirtualService ns/r");
                assert_eq!(message, msg);
            }
        }
    }
}
