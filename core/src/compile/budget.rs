//! A ceiling on what a compiled table may take, checked before its endpoint
//! sets are built: a small config can ask for a lot (one mesh-wide
//! DestinationRule puts a 8M-entry ring hash behind every cluster), and a
//! config that would exhaust the machine is refused with a message instead.
//!
//! The estimate counts what grows with the config: each cluster's endpoints
//! and its balancer's table, sized as the balancers size them. Routes and
//! names are already built (and small next to these) when it runs.

use super::registry::Registry;
use super::types::{Cluster, Endpoint, EndpointSet, LbKind};
use crate::balance::maglev::effective_table_size;
use crate::balance::ring_hash::RingHash;
use crate::validate::{Diagnostic, ResourceRef, Severity};

/// The default budget: 4 GiB, or 1 GiB where addresses are 32 bits (a
/// wasm32 filter's whole memory is 4 GiB).
pub const DEFAULT_COMPILE_BUDGET: usize =
    (1usize << 30).saturating_mul(if usize::BITS >= 64 { 4 } else { 1 });

/// Bytes a ring entry takes (hash, host index).
const RING_ENTRY: usize = std::mem::size_of::<(u64, u32)>();
/// Bytes per endpoint beyond its struct: its `ip:port` text, locality, pod.
const ENDPOINT_TEXT: usize = 48;

/// What one cluster's endpoint set is estimated to take.
fn cluster_bytes(cluster: &Cluster, registry: &Registry) -> usize {
    let mut endpoints = 0usize;
    let (mut total_weight, mut min_weight) = (0u64, u64::MAX);
    if let Some(service) = registry.find(&cluster.host) {
        for ep in &service.endpoints {
            let selected = cluster
                .subset_labels
                .iter()
                .all(|(k, v)| ep.labels.get(k) == Some(v));
            if selected {
                let w = u64::from(ep.weight.max(1));
                endpoints += 1;
                total_weight += w;
                min_weight = min_weight.min(w);
            }
        }
    }
    let per_endpoint = std::mem::size_of::<Endpoint>() + ENDPOINT_TEXT;
    let table = match cluster.policy.lb {
        _ if endpoints == 0 => 0,
        LbKind::RingHash { minimum_ring_size } => {
            let min_share = min_weight as f64 / total_weight as f64;
            RING_ENTRY
                * (RingHash::ring_len_bound(min_share, minimum_ring_size) as usize + endpoints)
        }
        LbKind::Maglev { table_size } => {
            // Slots of 2 or 4 bytes, plus the build's per-host entries.
            4 * effective_table_size(table_size) as usize + 64 * endpoints
        }
        // Weights and alias tables: a few words per endpoint.
        _ => 16 * endpoints,
    };
    std::mem::size_of::<EndpointSet>() + endpoints * per_endpoint + table
}

/// The refusal of `clusters` when their endpoint sets would take more than
/// `budget` bytes, naming the service of the largest; `None` when they fit.
pub(crate) fn over_budget(
    clusters: &[Cluster],
    registry: &Registry,
    budget: usize,
) -> Option<Diagnostic> {
    if budget == usize::MAX {
        return None;
    }
    let mut total = 0usize;
    let mut largest: Option<(&Cluster, usize)> = None;
    for c in clusters {
        let bytes = cluster_bytes(c, registry);
        total = total.saturating_add(bytes);
        if largest.is_none_or(|(_, b)| bytes > b) {
            largest = Some((c, bytes));
        }
    }
    if total <= budget {
        return None;
    }
    let (cluster, bytes) = largest?;
    let resource = match registry.find(&cluster.host) {
        Some(s) if !s.kind.is_empty() => ResourceRef {
            kind: s.kind.to_string(),
            namespace: s.namespace.clone(),
            name: s.entry.clone(),
        },
        _ => ResourceRef {
            kind: "Service".into(),
            namespace: String::new(),
            name: cluster.host.to_string(),
        },
    };
    let mib = |b: usize| b as f64 / f64::from(1 << 20);
    Some(Diagnostic::new(
        "WEIR0011",
        Severity::Error,
        resource,
        "",
        format!(
            "compiling this config would take about {:.0} MiB of endpoint sets and balancer tables, \
             over the compile budget of {:.0} MiB (the largest, cluster {}, about {:.1} MiB); \
             config refused, the previous one keeps serving (raise the budget with \
             Engine::set_compile_budget)",
            mib(total),
            mib(budget),
            cluster.name,
            mib(bytes),
        ),
    ))
}
