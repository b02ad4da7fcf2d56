//! IST0138 GatewayDuplicateCertificate: one certificate on several Gateways
//! of the same workloads makes HTTP/2 clients reuse a connection across
//! them and get 404s. Istio's `gateway/certificate.go`: a Gateway is
//! compared with every Gateway whose selector includes its own (an empty
//! selector, every Gateway); same `credentialName`, or with none on both
//! the same `serverCertificate` and `privateKey`. One message per pair in
//! each direction, as Istio reports it.

use super::Analysis;
use crate::config::model::{GatewaySpec, ServerTls};
use crate::config::{Kind, Resource};
use crate::diagnostic::{Diagnostic, Severity};
use hashbrown::HashMap;
use std::collections::BTreeSet;

/// What identifies a server's certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Certificate<'a> {
    Credential(&'a str),
    Files(&'a str, &'a str),
}

pub(super) fn analyze(a: &Analysis<'_>, out: &mut Vec<Diagnostic>) {
    let gateways = &a.config.gateways;
    // Certificate → the gateways using it: only those can pair up.
    let mut users: HashMap<Certificate<'_>, BTreeSet<usize>> = HashMap::new();
    for (i, gw) in gateways.iter().enumerate() {
        for server in &gw.spec.servers {
            if let Some(cert) = server.tls.as_ref().and_then(certificate) {
                users.entry(cert).or_default().insert(i);
            }
        }
    }
    let mut pairs: BTreeSet<(usize, usize)> = BTreeSet::new();
    for sharing in users.values().filter(|s| s.len() > 1) {
        for &i in sharing {
            for &j in sharing {
                if i != j && includes(&gateways[j], &gateways[i]) {
                    pairs.insert((i, j));
                }
            }
        }
    }
    for (i, j) in pairs {
        out.push(Diagnostic::new(
            "IST0138",
            Severity::Warning,
            gateways[i].reference(Kind::Gateway),
            "metadata.name",
            format!(
                "Duplicate certificate in multiple gateways [{} {}] may cause 404s if clients \
                 re-use HTTP2 connections.",
                full_name(&gateways[i]),
                full_name(&gateways[j])
            ),
        ));
    }
}

/// True when `other`'s selector includes every label of `gw`'s.
fn includes(other: &Resource<GatewaySpec>, gw: &Resource<GatewaySpec>) -> bool {
    let other = &other.spec.selector;
    gw.spec
        .selector
        .iter()
        .all(|(k, v)| other.get(k) == Some(v))
}

fn certificate(tls: &ServerTls) -> Option<Certificate<'_>> {
    let text = |key: &str| tls.other.get(key).and_then(|v| v.as_str()).unwrap_or("");
    let credential = text("credentialName");
    if !credential.is_empty() {
        return Some(Certificate::Credential(credential));
    }
    let (cert, key) = (text("serverCertificate"), text("privateKey"));
    (!cert.is_empty() && !key.is_empty()).then_some(Certificate::Files(cert, key))
}

fn full_name(gw: &Resource<GatewaySpec>) -> String {
    format!("{}/{}", gw.namespace, gw.name)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::run;

    fn gw(name: &str, selector: &str, tls: &str) -> String {
        format!(
            "---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: {name}\n  namespace: ns\nspec:\n  selector:\n    {selector}\n  servers:\n  - port:\n      number: 443\n      name: https\n      protocol: HTTPS\n    hosts: [{name}.example.com]\n    tls:\n      mode: SIMPLE\n{tls}"
        )
    }

    #[test]
    fn same_certificate_on_gateways_of_the_same_workloads() {
        let cred = |c: &str| format!("      credentialName: {c}\n");
        let files =
            |c: &str, k: &str| format!("      serverCertificate: {c}\n      privateKey: {k}\n");
        let ingress = "istio: ingressgateway";
        let cases = [
            (
                vec![gw("a", ingress, &cred("c")), gw("b", ingress, &cred("c"))],
                vec!["Gateway ns/a", "Gateway ns/b"],
            ),
            (
                vec![gw("a", ingress, &cred("c")), gw("b", ingress, &cred("d"))],
                vec![],
            ),
            (
                vec![
                    gw("a", ingress, &files("/c", "/k")),
                    gw("b", ingress, &files("/c", "/k")),
                ],
                vec!["Gateway ns/a", "Gateway ns/b"],
            ),
            (
                vec![
                    gw("a", ingress, &files("/c", "/k")),
                    gw("b", ingress, &files("/c", "/k2")),
                ],
                vec![],
            ),
            // Different workloads: no connection is shared.
            (
                vec![
                    gw("a", ingress, &cred("c")),
                    gw("b", "istio: other", &cred("c")),
                ],
                vec![],
            ),
            // A narrower selector is compared with the wider one only.
            (
                vec![
                    gw("a", ingress, &cred("c")),
                    gw("b", "istio: ingressgateway\n    zone: z", &cred("c")),
                ],
                vec!["Gateway ns/a"],
            ),
        ];
        for (docs, want) in cases {
            let yaml = docs.concat();
            let got = run(&yaml, "IST0138");
            let resources: Vec<&str> = got.iter().map(|(r, _, _)| r.as_str()).collect();
            assert_eq!(resources, want, "{yaml}");
        }
        let got = run(
            &[gw("a", ingress, &cred("c")), gw("b", ingress, &cred("c"))].concat(),
            "IST0138",
        );
        assert_eq!(
            got[0].2,
            "Duplicate certificate in multiple gateways [ns/a ns/b] may cause 404s if clients re-use HTTP2 connections."
        );
    }
}
