//! Istio's cross-resource analyzers (`pkg/config/analysis/analyzers`), one
//! file per analyzer and named as Istio names it, each reporting Istio's
//! codes, severities and messages.
//!
//! The ones that need the cluster's workloads (a gateway's pods, their
//! Services) run only when the input carries Pods: without them Weir knows
//! nothing of the workloads, where `istioctl analyze` on files alone would
//! report every gateway selector as not found.

use crate::config::kube::model::PodObject;
use crate::config::kube::services::synthesize_pods;
use crate::config::model::StringMap;
use crate::config::registry::Registry;
use crate::config::{Config, Resource};
use crate::diagnostic::Diagnostic;

mod ca_certificates;
mod conflicting_gateway;
mod conflicting_mesh_gateway_hosts;
mod conflicting_service_entry_protocol;
mod deprecation;
mod destination_hosts;
mod gateway_certificate;
mod gateway_port;
mod gateway_secret;
mod gateways;
mod ingress_route_rules;
mod protocol_addresses;
mod subset;
mod unreachable_rules;

/// What the analyzers read: the config and the pods of the input.
pub(super) struct Analysis<'a> {
    config: &'a Config,
    /// The services of the accepted ServiceEntries and the Kubernetes kinds.
    registry: &'a Registry,
    /// The input's pods and those made up with `--synthesize-pods`; empty
    /// when the input has none (the workload-based checks are then skipped).
    pods: Vec<&'a Resource<PodObject>>,
}

impl<'a> Analysis<'a> {
    /// The namespace of the first pod `selector` selects (Istio's
    /// `getGatewayNamespace`), `None` when it selects none.
    fn workload_namespace(&self, selector: &StringMap) -> Option<&'a str> {
        self.pods
            .iter()
            .find(|p| selects(selector, &p.labels))
            .map(|p| p.namespace.as_str())
    }
}

/// Runs every analyzer of this module over `config`, appending to `out`.
pub(super) fn analyze(config: &Config, registry: &Registry, out: &mut Vec<Diagnostic>) {
    let synthesized = if config.kube_options.synthesize_pods {
        synthesize_pods(&config.kube.workloads)
    } else {
        Vec::new()
    };
    let analysis = Analysis {
        config,
        registry,
        pods: config.kube.pods.iter().chain(&synthesized).collect(),
    };
    ca_certificates::analyze(&analysis, out);
    conflicting_gateway::analyze(&analysis, out);
    conflicting_mesh_gateway_hosts::analyze(&analysis, out);
    conflicting_service_entry_protocol::analyze(&analysis, out);
    deprecation::analyze(&analysis, out);
    destination_hosts::analyze(&analysis, out);
    gateway_certificate::analyze(&analysis, out);
    gateway_port::analyze(&analysis, out);
    gateway_secret::analyze(&analysis, out);
    gateways::analyze(&analysis, out);
    ingress_route_rules::analyze(&analysis, out);
    protocol_addresses::analyze(&analysis, out);
    subset::analyze(&analysis, out);
    unreachable_rules::analyze(&analysis, out);
}

/// True when `labels` ⊇ `selector` (an empty selector selects everything).
fn selects(selector: &StringMap, labels: &StringMap) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A selector as Kubernetes prints it (`klabels.Set.String()`): `k=v`
/// pairs sorted by key, comma-separated.
fn selector_text(selector: &StringMap) -> String {
    let pairs: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join(",")
}

#[cfg(test)]
pub(super) mod test_support {
    use crate::config::Loaded;
    use crate::diagnostic::{has_errors, Diagnostic};

    /// The diagnostics of analyzer code `code` for `yaml`, as
    /// `(resource, field, message)`.
    pub fn run(yaml: &str, code: &str) -> Vec<(String, String, String)> {
        let loaded = Loaded::from_source("t.yaml", yaml);
        assert!(!has_errors(&loaded.diagnostics), "{:?}", loaded.diagnostics);
        let mut out: Vec<Diagnostic> = Vec::new();
        let registry = crate::config::registry::Registry::build(&loaded.config);
        super::analyze(&loaded.config, &registry, &mut out);
        out.into_iter()
            .filter(|d| d.code == code)
            .map(|d| (d.resource.to_string(), d.field, d.message))
            .collect()
    }
}
