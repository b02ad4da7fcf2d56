//! A ceiling on what a compiled table may take, checked before its endpoint
//! sets are built: a small config can ask for a lot (one mesh-wide
//! DestinationRule puts a 8M-entry ring hash behind every cluster), and a
//! config that would exhaust the machine is refused with a message instead.
//!
//! The estimate counts what grows with the config: each cluster's endpoints
//! and its balancer's table, sized as the balancers size them. Routes and
//! names are already built (and small next to these) when it runs.

use crate::balance::maglev::effective_table_size;
use crate::balance::ring_hash::RingHash;
use crate::config::registry::{Registry, Service};
use crate::diagnostic::{Diagnostic, ResourceRef, Severity};
use crate::table::Table;
use crate::table::{Cluster, Endpoint, EndpointSet, LbKind};

/// The default budget: 4 GiB, or 1 GiB where addresses are 32 bits (a
/// wasm32 filter's whole memory is 4 GiB).
pub const DEFAULT_COMPILE_BUDGET: usize =
    (1usize << 30).saturating_mul(if usize::BITS >= 64 { 4 } else { 1 });

/// Bytes a ring entry takes (hash, host index).
const RING_ENTRY: usize = std::mem::size_of::<(u64, u32)>();
/// Bytes per endpoint beyond its struct: its `ip:port` text, locality, pod.
const ENDPOINT_TEXT: usize = 48;

/// What one cluster's endpoint set is estimated to take, built from
/// `service`.
pub(crate) fn cluster_bytes(cluster: &Cluster, service: Option<&Service>) -> usize {
    let mut endpoints = 0usize;
    let (mut total_weight, mut min_weight) = (0u64, u64::MAX);
    if let Some(service) = service {
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

/// What the endpoint set of each of `clusters` is estimated to take, and
/// the total; or their refusal when the total is more than `budget` bytes,
/// naming the service of the largest.
pub(crate) fn estimate_sets(
    clusters: &[Cluster],
    registry: &Registry,
    budget: usize,
) -> Result<(Vec<usize>, usize), Box<Diagnostic>> {
    let bytes: Vec<usize> = clusters
        .iter()
        .map(|c| cluster_bytes(c, registry.find(&c.host)))
        .collect();
    let total = bytes.iter().fold(0usize, |t, &b| t.saturating_add(b));
    if total <= budget {
        return Ok((bytes, total));
    }
    let Some((i, &largest)) = bytes.iter().enumerate().max_by_key(|&(_, b)| b) else {
        return Ok((bytes, total));
    };
    let cluster = &clusters[i];
    Err(Box::new(refusal(
        cluster,
        registry.find(&cluster.host),
        Sizes {
            total,
            budget,
            bytes: largest,
        },
        "config refused",
    )))
}

/// The refusal of `table`, just rebuilt with new endpoints for `host`,
/// when its sets are now over `budget`, naming `host`'s largest cluster.
pub(crate) fn update_over_budget(
    table: &Table,
    host: &str,
    service: Option<&Service>,
    budget: usize,
) -> Option<Diagnostic> {
    if table.sets_bytes <= budget {
        return None;
    }
    let &i = table
        .routing
        .clusters_by_host
        .get(host)?
        .iter()
        .max_by_key(|&&i| table.sets[i as usize].bytes)?;
    let sizes = Sizes {
        total: table.sets_bytes,
        budget,
        bytes: table.sets[i as usize].bytes,
    };
    Some(refusal(
        &table.clusters()[i as usize],
        service,
        sizes,
        "endpoint update dropped",
    ))
}

/// The estimate against the budget, and the largest cluster's share.
struct Sizes {
    total: usize,
    budget: usize,
    bytes: usize,
}

/// WEIR0011, naming `cluster`'s service.
fn refusal(cluster: &Cluster, service: Option<&Service>, sizes: Sizes, what: &str) -> Diagnostic {
    let resource = match service {
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
    Diagnostic::new(
        "WEIR0011",
        Severity::Error,
        resource,
        "",
        format!(
            "the endpoint sets and balancer tables would take about {:.0} MiB, \
             over the compile budget of {:.0} MiB (the largest, cluster {}, about {:.1} MiB); \
             {what}, the table in force keeps serving (raise the budget with \
             Engine::set_compile_budget)",
            mib(sizes.total),
            mib(sizes.budget),
            cluster.name,
            mib(sizes.bytes),
        ),
    )
}
