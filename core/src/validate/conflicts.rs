//! Conflicts across resources: KIA0201 (DestinationRules sharing a host).
//! IST0109 is Istio's analyzer, in `analyzers/conflicting_mesh_gateway_hosts.rs`.

use super::Context;
use crate::config::model::*;
use crate::config::names::expand_host;
use crate::config::{Kind, Resource};
use crate::diagnostic::{Diagnostic, Severity};
use std::collections::BTreeMap;

impl Context<'_> {
    /// Several DestinationRules for one host in one namespace (KIA0201).
    pub(super) fn conflicts(&self, out: &mut Vec<Diagnostic>) {
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
