//! IST0145 ConflictingGateways: Gateways with the same workload selector
//! and port whose hosts overlap — the proxy serves one of them. Istio's
//! `gateway/conflictinggateway.go` (an error there; a warning in Weir, which
//! serves the first as Envoy would, with Istio's under `--istio-severity`).
//! Where several servers of one Gateway share a port, Istio keeps the last
//! one's hosts; the names listed are sorted and each given once.

use super::{selector_text, Analysis};
use crate::config::model::GatewaySpec;
use crate::config::names::hosts_intersect;
use crate::config::{Kind, Resource};
use crate::diagnostic::{Diagnostic, Severity};
use hashbrown::HashMap;
use std::collections::BTreeSet;

pub(super) fn analyze(a: &Analysis<'_>, out: &mut Vec<Diagnostic>) {
    let gateways = &a.config.gateways;
    let selectors: Vec<String> = gateways
        .iter()
        .map(|g| selector_text(&g.spec.selector))
        .collect();
    // (selector, port) → gateway index → the hosts of its (last) server there.
    let mut by_port: HashMap<(&str, u32), HashMap<usize, &[String]>> = HashMap::new();
    for (i, gw) in gateways.iter().enumerate() {
        for server in &gw.spec.servers {
            if let Some(port) = &server.port {
                by_port
                    .entry((&selectors[i], port.number))
                    .or_default()
                    .insert(i, &server.hosts);
            }
        }
    }
    for (i, gw) in gateways.iter().enumerate() {
        for server in &gw.spec.servers {
            let Some(port) = &server.port else { continue };
            let Some(others) = by_port.get(&(selectors[i].as_str(), port.number)) else {
                continue;
            };
            let conflicting: BTreeSet<String> = others
                .iter()
                .filter(|&(&j, hosts)| {
                    j != i
                        && server
                            .hosts
                            .iter()
                            .any(|h| hosts.iter().any(|o| hosts_intersect(h, o)))
                })
                .map(|(&j, _)| full_name(&gateways[j]))
                .collect();
            if conflicting.is_empty() {
                continue;
            }
            out.push(
                Diagnostic::new(
                    "IST0145",
                    Severity::Warning,
                    gw.reference(Kind::Gateway),
                    "spec.servers",
                    format!(
                        "Conflict with gateways {} (workload selector {}, port {}, hosts {}).",
                        conflicting.into_iter().collect::<Vec<_>>().join(","),
                        selectors[i],
                        port.number,
                        server.hosts.join(",")
                    ),
                )
                .with_istio_severity(Severity::Error),
            );
        }
    }
}

fn full_name(gw: &Resource<GatewaySpec>) -> String {
    format!("{}/{}", gw.namespace, gw.name)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::run;

    fn gw(name: &str, selector: &str, port: u32, hosts: &str) -> String {
        format!(
            "---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: {name}\n  namespace: ns\nspec:\n  selector:\n    {selector}\n  servers:\n  - port:\n      number: {port}\n      name: p\n      protocol: HTTP\n    hosts: {hosts}\n"
        )
    }

    #[test]
    fn same_selector_port_and_overlapping_hosts() {
        let ingress = "istio: ingressgateway";
        let cases = [
            (
                vec![
                    gw("a", ingress, 80, "[a.example.com]"),
                    gw("b", ingress, 80, "[a.example.com]"),
                ],
                vec!["Gateway ns/a", "Gateway ns/b"],
            ),
            (
                vec![
                    gw("a", ingress, 80, "['*.example.com']"),
                    gw("b", ingress, 80, "[a.example.com]"),
                ],
                vec!["Gateway ns/a", "Gateway ns/b"],
            ),
            (
                vec![
                    gw("a", ingress, 80, "['*']"),
                    gw("b", ingress, 80, "[b.example.org]"),
                ],
                vec!["Gateway ns/a", "Gateway ns/b"],
            ),
            (
                vec![
                    gw("a", ingress, 80, "[a.example.com]"),
                    gw("b", ingress, 80, "[b.example.com]"),
                ],
                vec![],
            ),
            (
                vec![
                    gw("a", ingress, 80, "[a.example.com]"),
                    gw("b", ingress, 8080, "[a.example.com]"),
                ],
                vec![],
            ),
            (
                vec![
                    gw("a", ingress, 80, "[a.example.com]"),
                    gw("b", "istio: egressgateway", 80, "[a.example.com]"),
                ],
                vec![],
            ),
        ];
        for (docs, want) in cases {
            let yaml = docs.concat();
            let got = run(&yaml, "IST0145");
            let resources: Vec<&str> = got.iter().map(|(r, _, _)| r.as_str()).collect();
            assert_eq!(resources, want, "{yaml}");
        }
        let got = run(
            &[
                gw("a", ingress, 80, "[a.example.com]"),
                gw("b", ingress, 80, "[a.example.com]"),
            ]
            .concat(),
            "IST0145",
        );
        assert_eq!(
            got[0].2,
            "Conflict with gateways ns/b (workload selector istio=ingressgateway, port 80, hosts a.example.com)."
        );
    }
}
