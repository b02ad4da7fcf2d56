//! IST0109 ConflictingMeshGatewayVirtualServiceHosts: several VirtualServices
//! bound to the mesh claim one host for the same sidecars. Istio's
//! `virtualservice/conflictingmeshgatewayhosts.go`:
//!
//! - hosts are keyed by scope: `*` for a VirtualService exported everywhere
//!   (no `exportTo`, or `*`), else each namespace it is exported to (`.` is
//!   its own), so private ones in different namespaces never meet;
//! - a scoped host also meets every public VirtualService whose host
//!   overlaps it (`host.Name.Matches`: equal, or one wildcard covering the
//!   other); public hosts meet only their equals;
//! - every VirtualService of a conflict gets the message, once, naming all
//!   of them sorted.
//!
//! Istio calls it an error; Weir warns (and `--istio-severity` gives the
//! error) because it resolves the conflict as istiod does: a namespace's
//! own VirtualService first, then those exported to it, then public ones,
//! the oldest within each. The message says which one that is.

use super::Analysis;
use crate::config::delegates::{exported_everywhere, visibility_rank};
use crate::config::model::VirtualServiceSpec;
use crate::config::names::{expand_host, hosts_intersect};
use crate::config::{Kind, Resource};
use crate::diagnostic::{Diagnostic, Severity};
use hashbrown::HashSet;
use std::collections::{BTreeMap, BTreeSet};

type VirtualService = Resource<VirtualServiceSpec>;

/// The scope every namespace sees.
const EVERYWHERE: &str = "*";

pub(super) fn analyze(a: &Analysis<'_>, out: &mut Vec<Diagnostic>) {
    // (scope, host) → the mesh VirtualServices claiming it there, in order.
    let mut claims: BTreeMap<(String, String), Vec<&VirtualService>> = BTreeMap::new();
    for vs in &a.config.virtual_services {
        let mesh = vs.spec.gateways.is_empty() || vs.spec.gateways.iter().any(|g| g == "mesh");
        if !mesh {
            continue;
        }
        let scopes: BTreeSet<String> = if exported_everywhere(&vs.spec.export_to) {
            BTreeSet::from([EVERYWHERE.to_string()])
        } else {
            vs.spec
                .export_to
                .iter()
                .map(|e| {
                    if e == "." {
                        vs.namespace.clone()
                    } else {
                        e.clone()
                    }
                })
                .collect()
        };
        for scope in &scopes {
            for h in &vs.spec.hosts {
                let list = claims
                    .entry((scope.clone(), expand_host(h, &vs.namespace)))
                    .or_default();
                if !list.iter().any(|v| std::ptr::eq(*v, vs)) {
                    list.push(vs);
                }
            }
        }
    }
    let public: Vec<(&str, &Vec<&VirtualService>)> = claims
        .iter()
        .filter(|((scope, _), _)| scope == EVERYWHERE)
        .map(|((_, host), list)| (host.as_str(), list))
        .collect();
    let mut reported: HashSet<*const VirtualService> = HashSet::new();
    for ((scope, host), own) in &claims {
        let mut list = own.clone();
        if scope != EVERYWHERE {
            for (public_host, vss) in &public {
                if hosts_intersect(host, public_host) {
                    for vs in vss.iter() {
                        if !list.iter().any(|v| std::ptr::eq(*v, *vs)) {
                            list.push(vs);
                        }
                    }
                }
            }
        }
        if list.len() < 2 {
            continue;
        }
        let mut names: Vec<String> = list
            .iter()
            .map(|v| format!("{}/{}", v.namespace, v.name))
            .collect();
        names.sort();
        let winner = winner(&list, scope);
        for vs in &list {
            if !reported.insert(*vs as *const VirtualService) {
                continue;
            }
            out.push(
                Diagnostic::new(
                    "IST0109",
                    Severity::Warning,
                    vs.reference(Kind::VirtualService),
                    "spec.hosts",
                    format!(
                        "The VirtualServices {} associated with mesh gateway define the same host {scope}/{host} which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource. {winner}",
                        names.join(","),
                    ),
                )
                .with_istio_severity(Severity::Error),
            );
        }
    }
}

/// Who takes the host in `scope`, as the compiler decides: a namespace's
/// own, then those exported to it, then the public ones; the oldest within
/// each.
fn winner(list: &[&VirtualService], scope: &str) -> String {
    let first = list
        .iter()
        .min_by(|a, b| {
            let rank = |v: &VirtualService| visibility_rank(&v.spec.export_to, &v.namespace, scope);
            (rank(a), a.precedence_key()).cmp(&(rank(b), b.precedence_key()))
        })
        .map(|v| format!("{}/{}", v.namespace, v.name))
        .unwrap_or_default();
    if scope == EVERYWHERE {
        format!("Weir applies the oldest, {first}.")
    } else {
        format!("Weir applies {first} for sidecars in namespace {scope}.")
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::run;

    fn vs(ns: &str, name: &str, hosts: &str, extra: &str) -> String {
        format!(
            "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  hosts: {hosts}\n{extra}  http:\n  - route: [{{destination: {{host: x.example.com}}}}]\n"
        )
    }

    /// `ns/name` of each VirtualService reported, sorted.
    fn reported(yaml: &str) -> Vec<String> {
        let mut got: Vec<String> = run(yaml, "IST0109")
            .into_iter()
            .map(|(resource, _, _)| resource.trim_start_matches("VirtualService ").to_string())
            .collect();
        got.sort();
        got
    }

    #[test]
    fn conflicts_as_istio_finds_them() {
        let to = |ns: &str| format!("  exportTo: [{ns}]\n");
        let cases: Vec<(String, &[&str])> = vec![
            // Two public ones for a host: both reported.
            (
                vs("a", "v1", "[shop.example.com]", "") + &vs("b", "v2", "[shop.example.com]", ""),
                &["a/v1", "b/v2"],
            ),
            // Short names expand in their own namespaces: no conflict.
            (
                vs("a", "v1", "[shop]", "") + &vs("b", "v2", "[shop]", ""),
                &[],
            ),
            (
                vs("a", "v1", "[shop.a.svc.cluster.local]", "") + &vs("a", "v2", "[shop]", ""),
                &["a/v1", "a/v2"],
            ),
            // Private to their namespaces: never meet.
            (
                vs("a", "v1", "[shop.example.com]", &to("'.'"))
                    + &vs("b", "v2", "[shop.example.com]", &to("'.'")),
                &[],
            ),
            // Both exported to x: they meet there.
            (
                vs("a", "v1", "[shop.example.com]", &to("x"))
                    + &vs("b", "v2", "[shop.example.com]", &to("x")),
                &["a/v1", "b/v2"],
            ),
            // A private host meets a public wildcard that covers it...
            (
                vs("a", "v1", "[shop.example.com]", &to("'.'"))
                    + &vs("b", "v2", "['*.example.com']", ""),
                &["a/v1", "b/v2"],
            ),
            // ...and a private wildcard a public host under it.
            (
                vs("a", "v1", "['*.example.com']", &to("'.'"))
                    + &vs("b", "v2", "[shop.example.com]", ""),
                &["a/v1", "b/v2"],
            ),
            // Public hosts meet only their equals (Envoy takes the most specific).
            (
                vs("a", "v1", "['*.example.com']", "") + &vs("b", "v2", "[shop.example.com]", ""),
                &[],
            ),
            // Gateway-only VirtualServices are not the mesh's.
            (
                vs("a", "v1", "[shop.example.com]", "  gateways: [gw]\n")
                    + &vs("b", "v2", "[shop.example.com]", ""),
                &[],
            ),
            (
                vs("a", "v1", "[shop.example.com]", "  gateways: [gw, mesh]\n")
                    + &vs("b", "v2", "[shop.example.com]", ""),
                &["a/v1", "b/v2"],
            ),
            // Three in one conflict: all three.
            (
                vs("a", "v1", "[shop.example.com]", "")
                    + &vs("b", "v2", "[shop.example.com]", "")
                    + &vs("c", "v3", "[shop.example.com]", ""),
                &["a/v1", "b/v2", "c/v3"],
            ),
        ];
        for (yaml, want) in cases {
            assert_eq!(reported(&yaml), want, "{yaml}");
        }
    }

    #[test]
    fn the_message_names_every_virtual_service_and_the_winner() {
        let yaml = vs("b", "v2", "[shop.example.com]", "")
            + &vs("a", "v1", "[shop.example.com]", "")
            + &vs("z", "mine", "[shop.example.com]", "  exportTo: ['.']\n");
        let got = run(&yaml, "IST0109");
        assert_eq!(got.len(), 3, "{got:?}");
        let message = |who: &str| {
            got.iter()
                .find(|(r, _, _)| r.ends_with(who))
                .map(|(_, f, m)| (f.clone(), m.clone()))
                .unwrap()
        };
        let (field, public) = message(" b/v2");
        assert_eq!(field, "spec.hosts");
        assert_eq!(
            public,
            "The VirtualServices a/v1,b/v2 associated with mesh gateway define the same host */shop.example.com which can lead to undefined behavior. This can be fixed by merging the conflicting VirtualServices into a single resource. Weir applies the oldest, b/v2."
        );
        let (_, private) = message(" z/mine");
        assert!(
            private.starts_with("The VirtualServices a/v1,b/v2,z/mine associated with mesh gateway define the same host z/shop.example.com ")
                && private.ends_with("Weir applies z/mine for sidecars in namespace z."),
            "{private}"
        );
    }
}
