//! Loading the resources users `kubectl apply`: multi-document YAML, JSON,
//! `kind: List`, apiVersion `networking.istio.io/{v1alpha3,v1beta1,v1}`.
//!
//! Loading never stops at the first problem: every document is read, and every
//! unknown field, type error, syntax error or unknown kind becomes a
//! [`Diagnostic`]. Documents that cannot be read are skipped; the validator
//! then decides whether the config as a whole is accepted.

pub mod base64;
pub(crate) mod block_yaml;
mod chunks;
pub mod delegates;
pub mod destination_rules;
pub(crate) mod fingerprint;
pub mod kube;
mod load;
pub mod model;
pub mod names;
pub mod policy;
pub mod registry;
pub mod string_map;

use crate::diagnostic::ResourceRef;
pub use load::Loaded;
use model::*;

/// The kinds Weir reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    VirtualService,
    DestinationRule,
    Gateway,
    ServiceEntry,
    WorkloadEntry,
}

impl Kind {
    /// The Kubernetes kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::VirtualService => "VirtualService",
            Kind::DestinationRule => "DestinationRule",
            Kind::Gateway => "Gateway",
            Kind::ServiceEntry => "ServiceEntry",
            Kind::WorkloadEntry => "WorkloadEntry",
        }
    }

    fn parse(kind: &str) -> Option<Kind> {
        Some(match kind {
            "VirtualService" => Kind::VirtualService,
            "DestinationRule" => Kind::DestinationRule,
            "Gateway" => Kind::Gateway,
            "ServiceEntry" => Kind::ServiceEntry,
            "WorkloadEntry" => Kind::WorkloadEntry,
            _ => return None,
        })
    }
}

/// Where a resource came from, for messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// File name as given (or `<input>`).
    pub file: String,
    /// 1-based document number in that file.
    pub document: usize,
}

/// One loaded resource with its metadata resolved.
#[derive(Debug, Clone)]
pub struct Resource<S> {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, `default` when absent (as `kubectl apply` does).
    pub namespace: String,
    /// `metadata.creationTimestamp`, when present (RFC 3339 text).
    pub created: Option<String>,
    /// Position among all loaded resources: the tie-breaker when timestamps are absent.
    pub order: usize,
    /// `metadata.labels` (WorkloadEntry selection uses them).
    pub labels: StringMap,
    /// The spec.
    pub spec: S,
    /// Where it came from.
    pub origin: Origin,
}

impl<S> Resource<S> {
    /// `kind namespace/name`, for diagnostics.
    pub fn reference(&self, kind: Kind) -> ResourceRef {
        ResourceRef {
            kind: kind.as_str().to_string(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// Istio's precedence among resources of one kind: oldest creation
    /// timestamp first, then name, then namespace; document order when no
    /// timestamps are given.
    pub fn precedence_key(&self) -> (u8, &str, &str, &str, usize) {
        match &self.created {
            Some(t) => (
                0,
                t.as_str(),
                self.name.as_str(),
                self.namespace.as_str(),
                0,
            ),
            None => (1, "", "", "", self.order),
        }
    }
}

/// Everything loaded from one or more inputs.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub virtual_services: Vec<Resource<VirtualServiceSpec>>,
    pub destination_rules: Vec<Resource<DestinationRuleSpec>>,
    pub gateways: Vec<Resource<GatewaySpec>>,
    pub service_entries: Vec<Resource<ServiceEntrySpec>>,
    pub workload_entries: Vec<Resource<WorkloadEntrySpec>>,
    /// Kubernetes objects (Services, EndpointSlices, Pods…).
    pub kube: kube::Objects,
    /// How Kubernetes objects are read (cluster domain, root namespace,
    /// synthesized pods). Set before applying.
    pub kube_options: kube::Options,
    /// Telemetry resources' access logging (config/policy).
    pub telemetries: policy::telemetry::Telemetries,
    /// EnvoyFilter local rate limits (config/policy).
    pub local_rate_limits: policy::envoy_filter::LocalRateLimits,
    loaded: usize,
    /// Content hashes of what loading read, for incremental applies.
    fingerprints: fingerprint::Fingerprints,
}
