//! IST0140 IngressRouteRulesNotAffected: a gateway-bound VirtualService
//! routing to a host without a subset, while another VirtualService for
//! that host splits it by subsets: the mesh rules do not apply to the
//! gateway's requests, so the split does not happen there. Istio's
//! `virtualservice/destinationhosts.go` (`analyzeSubset`): hosts compared as
//! written; one message per VirtualService with subsets (Istio repeats it
//! for each of its destinations).

use super::Analysis;
use crate::config::model::VirtualServiceSpec;
use crate::config::{Kind, Resource};
use crate::diagnostic::{Diagnostic, Severity};
use hashbrown::HashMap;
use std::collections::BTreeSet;

pub(super) fn analyze(a: &Analysis<'_>, out: &mut Vec<Diagnostic>) {
    let services = &a.config.virtual_services;
    // Host → the VirtualServices routing to one of their own hosts by subset.
    let mut with_subsets: HashMap<&str, BTreeSet<String>> = HashMap::new();
    for vs in services {
        for host in split_hosts(vs) {
            with_subsets
                .entry(host)
                .or_default()
                .insert(format!("{}/{}", vs.namespace, vs.name));
        }
    }
    for vs in services.iter().filter(|vs| !vs.spec.gateways.is_empty()) {
        for (i, http) in vs.spec.http.iter().enumerate() {
            for (j, route) in http.route.iter().flatten().enumerate() {
                let d = &route.destination;
                if d.subset.as_deref().is_some_and(|s| !s.is_empty()) {
                    continue;
                }
                for other in with_subsets.get(d.host.as_str()).into_iter().flatten() {
                    out.push(Diagnostic::new(
                        "IST0140",
                        Severity::Warning,
                        vs.reference(Kind::VirtualService),
                        &format!("spec.http[{i}].route[{j}].destination.host"),
                        format!(
                            "Subset in virtual service {other} has no effect on ingress gateway \
                             {}/{} requests",
                            vs.namespace, vs.name
                        ),
                    ));
                }
            }
        }
    }
}

/// The hosts of its own that `vs` routes to by subset: all this analyzer
/// reads of a VirtualService not bound to a gateway (with its name).
pub(super) fn split_hosts(vs: &Resource<VirtualServiceSpec>) -> impl Iterator<Item = &str> {
    vs.spec
        .http
        .iter()
        .flat_map(|h| h.route.iter().flatten())
        .map(|route| &route.destination)
        .filter(|d| {
            d.subset.as_deref().is_some_and(|s| !s.is_empty()) && vs.spec.hosts.contains(&d.host)
        })
        .map(|d| d.host.as_str())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::run;

    fn vs(name: &str, gateways: &str, host: &str, subset: &str) -> String {
        format!(
            "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: {name}\n  namespace: ns\nspec:\n  hosts: [{host}]\n{gateways}  http:\n  - route:\n    - destination:\n        host: reviews.ns.svc.cluster.local\n{subset}"
        )
    }

    #[test]
    fn ingress_routes_skip_the_mesh_split() {
        let gw = "  gateways: [ns/gw]\n";
        let v1 = "        subset: v1\n";
        let reviews = "reviews.ns.svc.cluster.local";
        let cases = [
            (vec![vs("ingress", gw, "bookinfo.example.com", ""), vs("mesh", "", reviews, v1)], vec![("VirtualService ns/ingress", "Subset in virtual service ns/mesh has no effect on ingress gateway ns/ingress requests")]),
            // The ingress route names a subset itself.
            (vec![vs("ingress", gw, "bookinfo.example.com", v1), vs("mesh", "", reviews, v1)], vec![]),
            // The mesh VirtualService routes elsewhere than its own host.
            (vec![vs("ingress", gw, "bookinfo.example.com", ""), vs("mesh", "", "other.example.com", v1)], vec![]),
            // Mesh-only VirtualServices are not checked.
            (vec![vs("plain", "", "bookinfo.example.com", ""), vs("mesh", "", reviews, v1)], vec![]),
        ];
        for (docs, want) in cases {
            let yaml = docs.concat();
            let got = run(&yaml, "IST0140");
            let got: Vec<(&str, &str)> = got
                .iter()
                .map(|(r, _, m)| (r.as_str(), m.as_str()))
                .collect();
            assert_eq!(got, want, "{yaml}");
        }
    }
}
