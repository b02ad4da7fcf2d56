//! TCP and TLS rules of a listener.

use super::Builder;
use super::*;
use crate::config::model::{L4MatchAttributes, VirtualServiceSpec};
use crate::config::names::{expand_host, resolve_gateway};
use crate::config::Resource;
use crate::route::Cidr;
use std::sync::atomic::AtomicU64;

impl<'c> Builder<'c> {
    pub(crate) fn l4_rules(
        &mut self,
        vss: &[&Resource<VirtualServiceSpec>],
        gateway: &str,
    ) -> Box<[L4Rule]> {
        let mut rules = Vec::new();
        for vs in vss {
            let hosts: Box<[Box<str>]> = vs
                .spec
                .hosts
                .iter()
                .map(|h| expand_host(h, &vs.namespace).into())
                .collect();
            let l4 = vs
                .spec
                .tcp
                .iter()
                .map(|t| {
                    (
                        false,
                        compile_l4_matches(&t.matches, &[], gateway, &vs.namespace),
                        &t.route,
                    )
                })
                .chain(vs.spec.tls.iter().map(|t| {
                    let m: Vec<L4MatchAttributes> = t
                        .matches
                        .iter()
                        .map(|m| L4MatchAttributes {
                            destination_subnets: m.destination_subnets.clone(),
                            port: m.port,
                            source_labels: m.source_labels.clone(),
                            gateways: m.gateways.clone(),
                            source_namespace: m.source_namespace.clone(),
                            source_subnet: None,
                        })
                        .collect();
                    let sni: Vec<Vec<String>> =
                        t.matches.iter().map(|m| m.sni_hosts.clone()).collect();
                    (
                        true,
                        compile_l4_matches(&m, &sni, gateway, &vs.namespace),
                        &t.route,
                    )
                }));
            for (index, (tls, matches, route)) in l4.enumerate() {
                let Some(matches) = matches else { continue };
                let no_edits = HeaderOps::default();
                let (destinations, choice) = self.route_destinations(
                    route.iter().map(|d| (&d.destination, d.weight, None)),
                    &vs.namespace,
                    (&no_edits, &no_edits, None),
                );
                rules.push(L4Rule {
                    namespace: vs.namespace.clone().into(),
                    virtual_service: vs.name.clone().into(),
                    index,
                    hosts: hosts.clone(),
                    matches,
                    destinations,
                    choice,
                    tls,
                    hits: AtomicU64::new(0),
                });
            }
        }
        rules.into()
    }
}

/// L4 match blocks for a listener; `None` when no block applies to it.
pub(crate) fn compile_l4_matches(
    matches: &[L4MatchAttributes],
    sni: &[Vec<String>],
    gateway: &str,
    namespace: &str,
) -> Option<Box<[L4Match]>> {
    if matches.is_empty() {
        return Some(Box::new([]));
    }
    let out: Vec<L4Match> = matches
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            m.gateways.is_empty()
                || m.gateways
                    .iter()
                    .any(|g| resolve_gateway(g, namespace) == gateway)
        })
        .map(|(i, m)| L4Match {
            port: m.port.map(|p| p as u16),
            destination_subnets: m
                .destination_subnets
                .iter()
                .filter_map(|s| Cidr::parse(s))
                .collect(),
            sni_hosts: sni
                .get(i)
                .map(|v| v.iter().map(|h| expand_host(h, namespace).into()).collect())
                .unwrap_or_default(),
            source_labels: if m.gateways.is_empty() {
                m.source_labels
                    .iter()
                    .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                    .collect()
            } else {
                Box::new([])
            },
            source_namespace: if m.gateways.is_empty() {
                m.source_namespace.clone().map(Into::into)
            } else {
                None
            },
        })
        .collect();
    (!out.is_empty()).then(|| out.into())
}
