//! DestinationRule checks as Istio's `ValidateDestinationRule`: host,
//! subsets, `workloadSelector`, `exportTo`; the traffic policies are in
//! `traffic_policy.rs`.

use super::fields::*;
use super::hostnames::validate_wildcard_domain;
use super::traffic_policy::traffic_policy;
use super::workload_entry::label;
use super::{Context, Reporter};
use crate::config::model::*;
use crate::config::Resource;
use crate::diagnostic::Severity;
use hashbrown::HashSet;

impl Context<'_> {
    pub(super) fn destination_rule(
        &self,
        dr: &Resource<DestinationRuleSpec>,
        r: &mut Reporter<'_>,
    ) {
        let spec = &dr.spec;
        let of = if spec.workload_selector.is_some() {
            ExportToOf::DestinationRuleWithSelector
        } else {
            ExportToOf::DestinationRule
        };
        export_to(&spec.export_to, &dr.namespace, of, r);
        if let Err(e) = validate_wildcard_domain(&spec.host) {
            r.error("spec.host", e);
        }
        if let Some(selector) = &spec.workload_selector {
            for (k, v) in &selector.match_labels {
                let f = format!("spec.workloadSelector.matchLabels.{k}");
                if k.is_empty() {
                    r.error(
                        &f,
                        format!("empty key is not supported in selector: \"{k}={v}\""),
                    );
                } else if k.contains('*') || v.contains('*') {
                    r.error(
                        &f,
                        format!("wildcard is not supported in selector: \"{k}={v}\""),
                    );
                }
            }
            if selector.match_labels.is_empty() {
                r.push(
                    "IST0133",
                    Severity::Warning,
                    "spec.workloadSelector",
                    "workload selector specified without labels".into(),
                );
            }
        }
        if let Some(tp) = &spec.traffic_policy {
            traffic_policy(tp, "spec.trafficPolicy", r);
        }
        let mut names = HashSet::new();
        for (i, subset) in spec.subsets.iter().enumerate() {
            let f = format!("spec.subsets[{i}]");
            if !names.insert(subset.name.as_str()) {
                r.error(
                    &format!("{f}.name"),
                    format!("duplicate subset names: {}", subset.name),
                );
            }
            if subset.name.is_empty() {
                r.error(&format!("{f}.name"), "subset name cannot be empty".into());
            } else if !is_dns1123_label(&subset.name) {
                r.error(
                    &format!("{f}.name"),
                    format!("subset name is invalid: {}", subset.name),
                );
            }
            for (k, v) in &subset.labels {
                if let Err(e) = label(k, v) {
                    r.error(&format!("{f}.labels.{k}"), e);
                }
            }
            if let Some(tp) = &subset.traffic_policy {
                traffic_policy(tp, &format!("{f}.trafficPolicy"), r);
            }
        }
    }
}
