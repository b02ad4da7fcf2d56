//! Config → immutable [`Table`]: names resolved, matchers built, clusters and
//! their endpoint sets (with LB structures) built once.

mod budget;
mod build;
mod clusters;
mod endpoints;
mod error;
mod http;
mod incremental;
mod l4;
mod listeners;
mod matches;
pub mod ports;

pub use crate::config::base64::decode_base64;
/// The service registry moved to [`crate::config::registry`]; kept here for callers.
pub use crate::config::registry;
/// The table and its parts moved to [`crate::table`]; kept here for callers.
pub use crate::table::*;
pub(crate) use budget::update_over_budget;
pub use budget::DEFAULT_COMPILE_BUDGET;
pub use build::compile_validated;
pub(crate) use build::compile_with_registry;
pub use build::{compile, EndpointSpec};
pub use error::CompileError;
pub(crate) use incremental::{destination_rules_for, plain_changes, recompile_virtual_services};

use crate::config::destination_rules::DestinationRuleIndex;
use crate::config::model::DestinationRuleSpec;
use crate::config::registry::Registry;
use crate::config::{Config, Resource};
use hashbrown::HashMap;

/// What compiling one config keeps while it builds the table.
pub(crate) struct Builder<'c> {
    config: &'c Config,
    registry: &'c Registry,
    destination_rules: DestinationRuleIndex<'c>,
    clusters: Vec<Cluster>,
    /// (host, subset, port, the DestinationRules it was built with) → id.
    cluster_ids: HashMap<ClusterKey, u32>,
    /// The config's regexes, as validation compiled them.
    regexes: crate::route::regex::Regexes,
    /// What could not be built: the compile fails with the first.
    unbuildable: Vec<crate::diagnostic::Diagnostic>,
    /// An incremental compile's table in force: clusters are taken from it
    /// (ids included) when it has them as this compile would build them.
    reuse: Option<&'c Routing>,
    /// A cluster `reuse` lacks was needed (`incremental`: compile whole).
    reuse_missed: bool,
}

impl Builder<'_> {
    /// Cluster `id` (of `reuse` when it lent it).
    pub(crate) fn cluster_at(&self, id: u32) -> &Cluster {
        let lent = self.reuse.map_or(0, |r| r.clusters.len());
        match self.reuse {
            Some(r) if (id as usize) < lent => &r.clusters[id as usize],
            _ => &self.clusters[id as usize - lent],
        }
    }
}

impl Builder<'_> {
    /// Records that a field of `vs` cannot be built (WEIR0012).
    fn unbuildable(
        &mut self,
        vs: &Resource<crate::config::model::VirtualServiceSpec>,
        field: &str,
        why: String,
    ) {
        self.unbuildable.push(crate::diagnostic::Diagnostic::new(
            "WEIR0012",
            crate::diagnostic::Severity::Error,
            vs.reference(crate::config::Kind::VirtualService),
            field,
            format!("cannot be compiled: {why}"),
        ));
    }
}

/// A cluster's identity: its name's parts and the DestinationRules (by
/// address) that shaped it, so clients that see other rules get their own.
pub(crate) type ClusterKey = (String, String, u16, Vec<usize>);

/// A [`ClusterKey`] borrowed: a lookup allocates nothing (most lookups
/// find the cluster built already). Hashes as the tuple does.
#[derive(Hash)]
pub(crate) struct ClusterKeyRef<'a>(pub &'a str, pub &'a str, pub u16, pub &'a [usize]);

impl hashbrown::Equivalent<ClusterKey> for ClusterKeyRef<'_> {
    fn equivalent(&self, key: &ClusterKey) -> bool {
        self.0 == key.0 && self.1 == key.1 && self.2 == key.2 && self.3 == key.3.as_slice()
    }
}

pub(crate) type Rules<'c> = Vec<&'c Resource<DestinationRuleSpec>>;

/// The namespace of a Kubernetes service host, `name.namespace.svc.…`.
pub(crate) fn kube_namespace_of(host: &str) -> Option<&str> {
    let mut labels = host.split('.');
    let (_, ns, svc) = (labels.next()?, labels.next()?, labels.next()?);
    (svc == "svc" && !ns.is_empty()).then_some(ns)
}

/// A VirtualService's rules compiled once per listener.
pub(crate) type CompiledRoutes = Vec<Route>;
