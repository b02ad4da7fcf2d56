//! Conflicts across resources: IST0109 (VirtualServices sharing a mesh
//! host) and KIA0201 (DestinationRules sharing a host).

use super::Context;
use crate::config::model::*;
use crate::config::names::expand_host;
use crate::config::{Kind, Resource};
use crate::diagnostic::{Diagnostic, Severity};
use std::collections::BTreeMap;

impl Context<'_> {
    /// Conflicts across resources: several mesh VirtualServices for one host
    /// (IST0109), several DestinationRules for one host (KIA0201).
    pub(super) fn conflicts(&self, out: &mut Vec<Diagnostic>) {
        // Keyed as istioctl's ConflictingMeshGatewayHostsAnalyzer keys them:
        // by the namespaces a VirtualService is exported to ("*": all), each
        // scope also meeting the public ones for the host.
        let mut by_scope: BTreeMap<(String, String), Vec<&Resource<VirtualServiceSpec>>> =
            BTreeMap::new();
        for vs in &self.config.virtual_services {
            let mesh = vs.spec.gateways.is_empty() || vs.spec.gateways.iter().any(|g| g == "mesh");
            if !mesh {
                continue;
            }
            let export = &vs.spec.export_to;
            let scopes: Vec<String> = if crate::config::delegates::exported_everywhere(export) {
                vec!["*".to_string()]
            } else {
                export
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
            for scope in scopes {
                for h in &vs.spec.hosts {
                    let list = by_scope
                        .entry((scope.clone(), expand_host(h, &vs.namespace)))
                        .or_default();
                    if !list.iter().any(|v| std::ptr::eq(*v, vs)) {
                        list.push(vs);
                    }
                }
            }
        }
        // Each VirtualService reported once, in O(1) per report.
        let mut reported: std::collections::HashSet<*const Resource<VirtualServiceSpec>> =
            std::collections::HashSet::new();
        for ((scope, host), list) in &by_scope {
            let mut list = list.clone();
            if scope != "*" {
                if let Some(public) = by_scope.get(&("*".to_string(), host.clone())) {
                    list.extend(public.iter().copied());
                }
            }
            if list.len() < 2 {
                continue;
            }
            // Who takes the host there: a namespace's own, then those
            // exported to it, then the public ones (all of the "*" scope);
            // the oldest within each.
            list.sort_by(|a, b| {
                let rank = |v: &Resource<VirtualServiceSpec>| {
                    crate::config::delegates::visibility_rank(
                        &v.spec.export_to,
                        &v.namespace,
                        scope,
                    )
                };
                (rank(a), a.precedence_key()).cmp(&(rank(b), b.precedence_key()))
            });
            let names: Vec<String> = list
                .iter()
                .map(|v| format!("{}/{}", v.namespace, v.name))
                .collect();
            let (who, place) = if scope == "*" {
                (format!("the oldest, {},", names[0]), String::new())
            } else {
                (
                    names[0].clone(),
                    format!(" for sidecars in namespace {scope}"),
                )
            };
            for vs in &list[1..] {
                let key: *const Resource<VirtualServiceSpec> = *vs;
                if !reported.insert(key) {
                    continue;
                }
                out.push(Diagnostic::new(
                    "IST0109",
                    Severity::Warning,
                    vs.reference(Kind::VirtualService),
                    "spec.hosts",
                    format!(
                        "The VirtualServices {} associated with mesh gateway define the same host {host} which can lead to undefined behavior; {who} wins{place} and this one is ignored for that host. This can be fixed by merging the conflicting VirtualServices into a single resource.",
                        names.join(","),
                    ),
                ));
            }
        }
        // Rules merge only within a namespace: a client sees one namespace's
        // rules for a host (its own, the service's or the root's).
        let mut dr_hosts: BTreeMap<(String, &str), Vec<&Resource<DestinationRuleSpec>>> =
            BTreeMap::new();
        for dr in &self.config.destination_rules {
            dr_hosts
                .entry((expand_host(&dr.spec.host, &dr.namespace), &dr.namespace))
                .or_default()
                .push(dr);
        }
        for ((host, _), list) in dr_hosts {
            if list.len() < 2 {
                continue;
            }
            for dr in &list[1..] {
                out.push(Diagnostic::new(
                    "KIA0201",
                    Severity::Warning,
                    dr.reference(Kind::DestinationRule),
                    "spec.host",
                    format!("More than one DestinationRule for host {host} in namespace {}: subsets are merged (first wins on duplicate names) and the oldest top-level trafficPolicy applies", dr.namespace),
                ));
            }
        }
    }
}
