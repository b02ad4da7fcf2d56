//! Istio's cross-resource analyzers (`pkg/config/analysis/analyzers`), one
//! file per analyzer and named as Istio names it, each reporting Istio's
//! codes, severities and messages.
//!
//! The ones that need the cluster's workloads (a gateway's pods, their
//! Services) run only when the input carries Pods: without them Weir knows
//! nothing of the workloads, where `istioctl analyze` on files alone would
//! report every gateway selector as not found.

use super::by_resource::ByResource;
use crate::config::kube::model::PodObject;
use crate::config::kube::services::synthesize_pods;
use crate::config::model::{StringMap, VirtualServiceSpec};
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

type VirtualService = Resource<VirtualServiceSpec>;

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

/// The analyzers' diagnostics by where they came from, in the order they
/// are reported: those that read one VirtualService at a time are kept per
/// VirtualService (one entry each, in config order), so a change of a few
/// is analyzed again for those alone ([`reanalyze`]).
#[derive(Debug, Clone, Default)]
pub(super) struct Analyzed {
    /// CA certificates (IST0128/9) and conflicting gateways (IST0145):
    /// DestinationRules and Gateways only.
    head: Vec<Diagnostic>,
    /// IST0109: reads of a VirtualService its name, namespace, creation
    /// time, hosts, gateways and `exportTo` ([`same_mesh_claims`]).
    mesh_hosts: Vec<Diagnostic>,
    /// Conflicting ServiceEntry protocols (IST0177): ServiceEntries only.
    service_entries: Vec<Diagnostic>,
    /// IST0002, per VirtualService.
    deprecation: ByResource,
    /// IST0112, per VirtualService (it reads services' ports, which a
    /// VirtualService edit leaves as they were).
    destination_hosts: ByResource,
    /// Gateway certificates, ports and secrets: Gateways and workloads only.
    gateway_checks: Vec<Diagnostic>,
    /// IST0101/0132/0165 on `spec.gateways`, per VirtualService.
    gateway_references: ByResource,
    /// IST0140: gateway-bound VirtualServices against the subset splits
    /// ([`ingress_route_rules::split_hosts`]) of all.
    ingress: Vec<Diagnostic>,
    /// ServiceEntry addresses (IST0134) and DestinationRule subsets
    /// (IST0173/4): ServiceEntries, DestinationRules and workloads only.
    services: Vec<Diagnostic>,
    /// IST0130/0131, per VirtualService.
    unreachable: ByResource,
}

impl Analyzed {
    /// Every diagnostic, in the order the analyzers report them.
    pub(super) fn append_to(&self, out: &mut Vec<Diagnostic>) {
        out.extend(self.head.iter().cloned());
        out.extend(self.mesh_hosts.iter().cloned());
        out.extend(self.service_entries.iter().cloned());
        out.extend(self.deprecation.iter().cloned());
        out.extend(self.destination_hosts.iter().cloned());
        out.extend(self.gateway_checks.iter().cloned());
        out.extend(self.gateway_references.iter().cloned());
        out.extend(self.ingress.iter().cloned());
        out.extend(self.services.iter().cloned());
        out.extend(self.unreachable.iter().cloned());
    }
}

/// Runs every analyzer of this module over `config`.
pub(super) fn analyze(config: &Config, registry: &Registry) -> Analyzed {
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
    let a = &analysis;
    let gateways = gateways::Gateways::new(config);
    let per_service = |check: &dyn Fn(&VirtualService, &mut Vec<Diagnostic>)| {
        let services = config.virtual_services.iter();
        services.map(|vs| collect(|out| check(vs, out))).collect()
    };
    Analyzed {
        head: collect(|out| {
            ca_certificates::analyze(a, out);
            conflicting_gateway::analyze(a, out);
        }),
        mesh_hosts: collect(|out| conflicting_mesh_gateway_hosts::analyze(a, out)),
        service_entries: collect(|out| conflicting_service_entry_protocol::analyze(a, out)),
        deprecation: per_service(&deprecation::virtual_service),
        destination_hosts: per_service(&|vs, out| {
            destination_hosts::virtual_service(|h| registry.find(h), vs, out)
        }),
        gateway_checks: collect(|out| {
            gateway_certificate::analyze(a, out);
            gateway_port::analyze(a, out);
            gateway_secret::analyze(a, out);
        }),
        gateway_references: per_service(&|vs, out| gateways.virtual_service(vs, out)),
        ingress: collect(|out| ingress_route_rules::analyze(a, out)),
        services: collect(|out| {
            protocol_addresses::analyze(a, out);
            subset::analyze(a, out);
        }),
        unreachable: per_service(&unreachable_rules::virtual_service),
    }
}

/// `previous` (the analysis of `old`, which differs from `config` only in
/// the VirtualServices at `changed`; `registry` as
/// `validate::revalidate_virtual_services` has it) brought up to date: the per-resource
/// analyzers run again for those VirtualServices, the two across
/// VirtualServices (IST0109, IST0140) again only when a change reaches what
/// they read of one, and those that read no VirtualService kept. `None`
/// when `old` and `config` do not line up (then analyze whole).
pub(super) fn reanalyze(
    old: &Config,
    config: &Config,
    registry: &Registry,
    changed: &[usize],
    previous: &Analyzed,
) -> Option<Analyzed> {
    if old.virtual_services.len() != config.virtual_services.len() {
        return None;
    }
    let mut pairs = Vec::with_capacity(changed.len());
    for &i in changed {
        pairs.push((
            old.virtual_services.get(i)?,
            config.virtual_services.get(i)?,
        ));
    }
    let mut next = previous.clone();
    let gateways = gateways::Gateways::new(config);
    for &i in changed {
        let vs = &config.virtual_services[i];
        let deprecated = collect(|out| deprecation::virtual_service(vs, out));
        next.deprecation.set(i, deprecated);
        // As the whole analysis reads the config's own registry: services
        // only endpoint overrides made are passed over.
        let ports = collect(|out| {
            destination_hosts::virtual_service(|h| registry.find_configured(h), vs, out)
        });
        next.destination_hosts.set(i, ports);
        let references = collect(|out| gateways.virtual_service(vs, out));
        next.gateway_references.set(i, references);
        let unreachable = collect(|out| unreachable_rules::virtual_service(vs, out));
        next.unreachable.set(i, unreachable);
    }
    let needs = |same: fn(&VirtualService, &VirtualService) -> bool| {
        pairs.iter().any(|(before, after)| !same(before, after))
    };
    // These two read VirtualServices only (no services, no pods).
    let no_services = Registry::default();
    let analysis = Analysis {
        config,
        registry: &no_services,
        pods: Vec::new(),
    };
    if needs(same_mesh_claims) {
        next.mesh_hosts = collect(|out| conflicting_mesh_gateway_hosts::analyze(&analysis, out));
    }
    if needs(same_ingress_reads) {
        next.ingress = collect(|out| ingress_route_rules::analyze(&analysis, out));
    }
    Some(next)
}

/// True when IST0109 reads the same of `a` and `b`: what they claim (their
/// hosts, for the mesh, in the namespaces they are exported to), and what
/// the message names (namespace, name) and ranks them by (creation time).
fn same_mesh_claims(a: &VirtualService, b: &VirtualService) -> bool {
    a.name == b.name
        && a.namespace == b.namespace
        && a.precedence_key() == b.precedence_key()
        && a.spec.hosts == b.spec.hosts
        && a.spec.gateways == b.spec.gateways
        && a.spec.export_to == b.spec.export_to
}

/// True when IST0140 reads the same of `a` and `b`: neither is bound to a
/// gateway (only those are reported on) and they split the same hosts.
fn same_ingress_reads(a: &VirtualService, b: &VirtualService) -> bool {
    a.spec.gateways.is_empty()
        && b.spec.gateways.is_empty()
        && a.namespace == b.namespace
        && a.name == b.name
        && ingress_route_rules::split_hosts(a).eq(ingress_route_rules::split_hosts(b))
}

/// What `f` appends to an empty list.
fn collect(f: impl FnOnce(&mut Vec<Diagnostic>)) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    f(&mut out);
    out
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
        super::analyze(&loaded.config, &registry).append_to(&mut out);
        out.into_iter()
            .filter(|d| d.code == code)
            .map(|d| (d.resource.to_string(), d.field, d.message))
            .collect()
    }
}

#[cfg(test)]
mod reanalyze_tests {
    use super::{analyze, reanalyze};
    use crate::config::registry::Registry;
    use crate::config::Loaded;

    const BASE: &str = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: multi, namespace: ns}\nspec:\n  hosts: [multi.example.com]\n  ports: [{number: 80, name: http, protocol: HTTP}, {number: 8080, name: http-alt, protocol: HTTP}]\n  resolution: DNS\n---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: ns}\nspec:\n  selector: {istio: ingressgateway}\n  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ['*']}]\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: edge, namespace: ns}\nspec:\n  hosts: ['*']\n  gateways: [gw]\n  http:\n  - route: [{destination: {host: a.ns.svc.cluster.local}}]\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: b, namespace: ns}\nspec:\n  hosts: [b.ns.svc.cluster.local]\n  http:\n  - route: [{destination: {host: b.ns.svc.cluster.local}}]\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a, namespace: ns}\nspec:\n  hosts: [a.ns.svc.cluster.local]\nEXTRA  http:\n  - route: [{destination: {host: a.ns.svc.cluster.local, subset: v1}}]\nFAULT";

    fn text(extra: &str, fault: &str) -> String {
        BASE.replace("EXTRA", extra).replace("FAULT", fault)
    }

    /// The analysis of a config brought up to date after one VirtualService
    /// changed is the analysis of the new config, for changes that make or
    /// clear each cross-resource code (IST0109 and IST0140 included, which
    /// the engine's fast path never changes but `reanalyze` still answers).
    #[test]
    fn reanalyze_matches_a_whole_analysis() {
        let delay = "    fault: {delay: {fixedDelay: 1s, percent: 5}}\n";
        let versions = [
            text("", ""),
            // IST0109 with VirtualService b.
            text("  hosts: [a.ns.svc.cluster.local, b.ns.svc.cluster.local]\n", ""),
            // A missing gateway (IST0101, IST0132), still IST0109.
            text("  hosts: [a.ns.svc.cluster.local, b.ns.svc.cluster.local]\n  gateways: [mesh, nope]\n", ""),
            // IST0140 cleared: the split names its host short.
            text("", "").replace("host: a.ns.svc.cluster.local, subset", "host: a, subset"),
            // IST0002 and IST0130 (a rule after a catch-all).
            text("", &format!("{delay}  - route: [{{destination: {{host: a.ns.svc.cluster.local}}}}]\n")),
            text("  exportTo: ['.']\n", ""),
            // IST0112: a destination without a port to a two-port service.
            text("", "  - route: [{destination: {host: multi.example.com}}]\n"),
        ];
        let configs: Vec<_> = versions
            .iter()
            .map(|t| {
                let t = t.replace("  hosts: [a.ns.svc.cluster.local]\n  hosts:", "  hosts:");
                Loaded::from_source("t.yaml", &t).config
            })
            .collect();
        let codes = |a: &super::Analyzed| {
            let mut out = Vec::new();
            a.append_to(&mut out);
            out.iter().map(|d| format!("{d:?}")).collect::<Vec<_>>()
        };
        let mut seen = std::collections::BTreeSet::new();
        for old in &configs {
            let previous = analyze(old, &Registry::build(old));
            for new in &configs {
                let registry = Registry::build(new);
                let whole = analyze(new, &registry);
                let again = reanalyze(old, new, &registry, &[2], &previous).expect("lined up");
                assert_eq!(codes(&again), codes(&whole));
                seen.extend(
                    codes(&whole)
                        .iter()
                        .map(|d| d[..40.min(d.len())].to_string()),
                );
            }
        }
        for code in [
            "IST0109", "IST0140", "IST0101", "IST0132", "IST0002", "IST0130", "IST0112",
        ] {
            assert!(
                seen.iter().any(|d| d.contains(code)),
                "{code} never made: {seen:?}"
            );
        }
        let fewer = Loaded::from_source("t.yaml", &text("", "")).config;
        let mut shorter = fewer.clone();
        shorter.virtual_services.pop();
        let previous = analyze(&fewer, &Registry::build(&fewer));
        let registry = Registry::build(&shorter);
        assert!(reanalyze(&fewer, &shorter, &registry, &[0], &previous).is_none());
    }
}
