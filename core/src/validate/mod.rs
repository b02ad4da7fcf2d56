//! Validation like `istioctl analyze` and Kiali: every problem at once.
//!
//! Each [`Diagnostic`] names a code (Istio's `IST…` / Kiali's `KIA…` where
//! one exists, `WEIR…` for Weir's own), a severity, the resource, the field
//! path (`spec.http[0].match[0].uri.regex`) and a message. Errors reject the
//! whole config; warnings are reported and the config applies.

use crate::config::delegates;
use crate::config::destination_rules::DestinationRuleIndex;
use crate::config::registry::Registry;
use crate::config::{Config, Kind};
pub use crate::diagnostic::{has_errors, Diagnostic, ResourceRef, Severity};
use crate::route::regex::Regexes;
use by_resource::ByResource;

mod analyzers;
mod by_resource;
mod conflicts;
mod destination_rule;
mod destinations;
mod fields;
mod gateway;
mod hostnames;
mod http_match;
mod http_policy;
mod http_route;
#[cfg(test)]
mod http_route_tests;
#[cfg(test)]
mod references_tests;
mod service_entry;
mod traffic_policy;
#[cfg(test)]
mod traffic_policy_tests;
mod virtual_service;
#[cfg(test)]
mod virtual_service_tests;
mod workload_entry;
use std::collections::HashSet;

/// The redirect codes Envoy supports; others make the route unusable.
pub(crate) const REDIRECT_CODES: [u32; 5] = [301, 302, 303, 307, 308];

/// The gRPC status names Istio accepts for `fault.abort.grpcStatus`.
pub(crate) const GRPC_STATUSES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// Collects diagnostics for one resource.
struct Reporter<'a> {
    out: &'a mut Vec<Diagnostic>,
    resource: ResourceRef,
    /// The config's regexes, compiled as they are checked.
    regexes: &'a mut Regexes,
}

impl Reporter<'_> {
    fn push(&mut self, code: &'static str, severity: Severity, field: &str, message: String) {
        let mut d = Diagnostic::new(code, severity, self.resource.clone(), field, message);
        // Weir warns where a reference may be met at run time (endpoints
        // arrive later); Istio's ReferencedResourceNotFound is an error.
        if code == "IST0101" {
            d = d.with_istio_severity(Severity::Error);
        }
        self.out.push(d);
    }
    fn error(&mut self, field: &str, message: String) {
        self.push("IST0106", Severity::Error, field, message);
    }
}

/// Validates a loaded config against itself: schema rules, references,
/// reachability, conflicts. Appends to `out`.
pub fn validate(config: &Config, out: &mut Vec<Diagnostic>) {
    validate_for_compile(config, out);
}

/// What validation built that compilation reuses, so an apply builds each
/// once: the service registry and the compiled regexes.
#[derive(Debug, Default)]
pub struct Validated {
    /// The services of the ServiceEntries validation accepted (and the
    /// Kubernetes kinds, WorkloadEntries).
    pub registry: Registry,
    /// Every regex of the config, compiled.
    pub regexes: Regexes,
}

/// [`validate`], returning what it built ([`Validated`]): the registry from the
/// ServiceEntries validation accepts only, as a rejected resource never
/// reaches istiod (a rejected `hosts: ["*"]` would make every missing host
/// look known), and the regexes. [`crate::compile::compile_validated`]
/// takes it, so an apply builds them once.
pub fn validate_for_compile(config: &Config, out: &mut Vec<Diagnostic>) -> Validated {
    let (validation, validated) = validate_parts(config);
    validation.append_to(out);
    validated
}

/// A validation's diagnostics by where they came from, so an apply that
/// changes a few VirtualServices checks those again and keeps the rest
/// ([`revalidate_virtual_services`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Validation {
    /// How many VirtualServices the config had.
    virtual_service_count: usize,
    /// Each VirtualService's own checks.
    virtual_services: ByResource,
    /// DestinationRules', Gateways' and ServiceEntries' own checks, which
    /// read no VirtualService.
    resources: Vec<Diagnostic>,
    /// KIA0201 (DestinationRules sharing a host): reads no VirtualService.
    conflicts: Vec<Diagnostic>,
    /// Istio's analyzers, by source (`analyzers::reanalyze`).
    analyzed: analyzers::Analyzed,
    /// The Kubernetes objects' checks: they read no VirtualService.
    kube: Vec<Diagnostic>,
}

impl Validation {
    /// Every diagnostic, in the order a whole validation reports them.
    pub(crate) fn append_to(&self, out: &mut Vec<Diagnostic>) {
        out.extend(self.virtual_services.iter().cloned());
        out.extend(self.resources.iter().cloned());
        out.extend(self.conflicts.iter().cloned());
        self.analyzed.append_to(out);
        out.extend(self.kube.iter().cloned());
    }
}

/// [`validate_for_compile`], its diagnostics kept apart ([`Validation`]).
pub(crate) fn validate_parts(config: &Config) -> (Validation, Validated) {
    let mut regexes = Regexes::default();
    // ServiceEntries and WorkloadEntries first (their checks stand alone):
    // the ones refused stay out of the registry. Reported in the usual
    // place below.
    let (mut entry_diagnostics, rejected_entries) = rejections(
        &config.service_entries,
        Kind::ServiceEntry,
        &mut regexes,
        service_entry::service_entry,
    );
    let entry_rules = workload_entry::EndpointRules {
        service_ports: None,
        allow_fqdn: true,
    };
    let (mut workload_diagnostics, rejected_workloads) = rejections(
        &config.workload_entries,
        Kind::WorkloadEntry,
        &mut regexes,
        |we, r| workload_entry::workload_entry(&we.spec, &entry_rules, "spec", r),
    );
    // One index of the Kubernetes objects for their services and checks.
    let synthesized = crate::config::kube::services::synthesized_pods(config);
    let kube_index = crate::config::kube::services::Index::new(&config.kube, &synthesized);
    let registry = Registry::build_with(
        config,
        &rejected_entries,
        &rejected_workloads,
        crate::config::kube::services::build_with(config, &kube_index),
    );
    let ctx = Context::new(config, &registry);
    let virtual_services = config
        .virtual_services
        .iter()
        .map(|vs| ctx.virtual_service_diagnostics(vs, &mut regexes))
        .collect();
    let mut resources = Vec::new();
    for dr in &config.destination_rules {
        let mut r = Reporter {
            out: &mut resources,
            resource: dr.reference(Kind::DestinationRule),
            regexes: &mut regexes,
        };
        ctx.destination_rule(dr, &mut r);
    }
    for gw in &config.gateways {
        let mut r = Reporter {
            out: &mut resources,
            resource: gw.reference(Kind::Gateway),
            regexes: &mut regexes,
        };
        gateway::gateway(gw, &mut r);
    }
    resources.append(&mut workload_diagnostics);
    resources.append(&mut entry_diagnostics);
    let mut conflicts = Vec::new();
    ctx.conflicts(&mut conflicts);
    // Its maps (hashbrown's, which run their drop while borrowing) let go
    // of the registry here, before it is handed on.
    drop(ctx);
    let validation = Validation {
        virtual_service_count: config.virtual_services.len(),
        virtual_services,
        resources,
        conflicts,
        analyzed: analyzers::analyze(config, &registry),
        kube: kube_checks(config, &kube_index, &synthesized),
    };
    (validation, Validated { registry, regexes })
}

/// Each resource's own checks by `check`, and which of them it refused.
fn rejections<T>(
    resources: &[crate::config::Resource<T>],
    kind: Kind,
    regexes: &mut Regexes,
    mut check: impl FnMut(&crate::config::Resource<T>, &mut Reporter<'_>),
) -> (Vec<Diagnostic>, Vec<bool>) {
    let mut out = Vec::new();
    let rejected = resources
        .iter()
        .map(|res| {
            let first = out.len();
            let mut r = Reporter {
                out: &mut out,
                resource: res.reference(kind),
                regexes,
            };
            check(res, &mut r);
            // Only this resource's own diagnostics: O(1) per diagnostic.
            out[first..].iter().any(Diagnostic::is_error)
        })
        .collect();
    (out, rejected)
}

/// `previous` (the validation of `old`, which differs from `config` only
/// in the VirtualServices at `changed`) brought up to date: those checked
/// again, with the analyzers that read them (`analyzers::reanalyze`); the
/// checks that read no VirtualService (other resources, Kubernetes
/// objects, KIA0201) kept.
///
/// The caller guarantees what makes the rest still hold: the changed
/// VirtualServices keep their name, namespace, creation time, hosts,
/// gateways (none) and `exportTo`, and neither delegate nor are delegates
/// (`compile::plain_changes`); `registry` holds the previous config's
/// services (unchanged: only VirtualServices changed), endpoint overrides
/// and the services only those made, which the checks pass over
/// (`Registry::find_configured`) and which read no endpoints; `rules`
/// holds every DestinationRule whose host covers a host the changed
/// VirtualServices name (`compile::destination_rules_for`), which answer
/// the subset checks as the whole index would. Gives the diagnostics a
/// whole validation of `config` gives, and the changed resources' regexes;
/// `None` when `old`, `config` and `previous` do not line up.
pub(crate) fn revalidate_virtual_services(
    old: &Config,
    config: &Config,
    registry: &Registry,
    rules: &[crate::config::Resource<crate::config::model::DestinationRuleSpec>],
    changed: &[usize],
    previous: &Validation,
) -> Option<(Validation, Regexes)> {
    let mut regexes = Regexes::default();
    let ctx = Context {
        config,
        registry,
        destination_rules: DestinationRuleIndex::with_root(
            rules,
            &config.kube_options.root_namespace,
        ),
        // No changed VirtualService delegates.
        delegates: delegates::Delegates::new(&[]),
        gateways: gateway_names(config),
    };
    let count = config.virtual_services.len();
    if previous.virtual_service_count != count || old.virtual_services.len() != count {
        return None;
    }
    let mut virtual_services = previous.virtual_services.clone();
    for &i in changed {
        let vs = config.virtual_services.get(i)?;
        virtual_services.set(i, ctx.virtual_service_diagnostics(vs, &mut regexes));
    }
    let validation = Validation {
        virtual_service_count: count,
        virtual_services,
        resources: previous.resources.clone(),
        conflicts: previous.conflicts.clone(),
        analyzed: analyzers::reanalyze(old, config, registry, changed, &previous.analyzed)?,
        kube: previous.kube.clone(),
    };
    Some((validation, regexes))
}

/// The Kubernetes objects' diagnostics.
fn kube_checks(
    config: &Config,
    index: &crate::config::kube::services::Index<'_>,
    synthesized: &[crate::config::Resource<crate::config::kube::model::PodObject>],
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    crate::config::kube::check::check_with(config, index, synthesized, &mut out);
    out
}

/// `namespace/name` of every Gateway.
fn gateway_names(config: &Config) -> HashSet<String> {
    config
        .gateways
        .iter()
        .map(|g| format!("{}/{}", g.namespace, g.name))
        .collect()
}

struct Context<'a> {
    config: &'a Config,
    registry: &'a Registry,
    destination_rules: DestinationRuleIndex<'a>,
    delegates: delegates::Delegates<'a>,
    gateways: HashSet<String>,
}

impl<'a> Context<'a> {
    fn new(config: &'a Config, registry: &'a Registry) -> Self {
        let gateways = gateway_names(config);
        Context {
            config,
            registry,
            destination_rules: DestinationRuleIndex::new(&config.destination_rules),
            delegates: delegates::Delegates::new(&config.virtual_services),
            gateways,
        }
    }

    /// One VirtualService's own diagnostics.
    fn virtual_service_diagnostics(
        &self,
        vs: &crate::config::Resource<crate::config::model::VirtualServiceSpec>,
        regexes: &mut Regexes,
    ) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let mut r = Reporter {
            out: &mut out,
            resource: vs.reference(Kind::VirtualService),
            regexes,
        };
        self.virtual_service(vs, &mut r);
        out
    }

    /// True when the DestinationRules that apply to `host` (the compiler's
    /// lookup: most specific host match, wildcards included) define `subset`.
    fn defines_subset(&self, host: &str, subset: &str) -> bool {
        self.destination_rules.defines_subset(host, subset)
    }
}
