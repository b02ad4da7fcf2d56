//! Incremental compile: a config that differs from the one in force only in
//! some VirtualServices of the mesh gets a table that shares every other
//! part of the table in force (clusters, endpoint sets, gateways, the other
//! virtual hosts) and rebuilds only the virtual hosts those VirtualServices
//! own.
//!
//! It answers only where the result is the table a whole compile would
//! build (same virtual hosts in the same order, same routes, same set of
//! clusters); anywhere else it declines and the caller compiles whole.
//! It declines when a changed VirtualService (before or after the change):
//! - is bound to a gateway, has `tcp`/`tls` routes, delegates or is a
//!   delegate, is not exported everywhere, or has a wildcard host;
//! - changes its name, namespace, creation time or hosts (its precedence
//!   and the virtual hosts it claims);
//! - did not own (win) each of its hosts in the mesh listener in force;
//! - needs a cluster the table in force lacks, or stops naming a subset
//!   cluster that then nothing would name;
//!
//! or when the table has per-namespace views (`exportTo`, DestinationRules
//! seen per client namespace), which a whole compile rebuilds together.

use super::listeners::virtual_host;
use super::*;
use crate::config::delegates::exported_everywhere;
use crate::config::model::VirtualServiceSpec;
use crate::config::names::{expand_host, host_matches};
use crate::route::regex::Regexes;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// True when each VirtualService at `changed` keeps, from `old` to `new`,
/// its name, namespace, creation time and hosts, and both versions are
/// plain mesh services (HTTP routes only, exact hosts, exported
/// everywhere, no gateway, no delegation): the changes this module makes,
/// and those after which validation keeps its conflicts.
pub(crate) fn plain_changes(old: &Config, new: &Config, changed: &[usize]) -> bool {
    changed.iter().all(
        |&i| match (old.virtual_services.get(i), new.virtual_services.get(i)) {
            (Some(old), Some(new)) => {
                old.name == new.name
                    && old.namespace == new.namespace
                    && old.created == new.created
                    && old.spec.hosts == new.spec.hosts
                    && plain_mesh_service(&old.spec)
                    && plain_mesh_service(&new.spec)
            }
            _ => false,
        },
    )
}

/// The DestinationRules of `config` whose host covers a host the
/// VirtualServices at `changed` name (theirs, their destinations' and
/// mirrors'): an index of these answers for those hosts as the index of
/// all would, since a lookup only reads the rules whose host covers the
/// host looked up. Copies (a few), so the whole index is not built.
pub(crate) fn destination_rules_for(
    config: &Config,
    changed: &[usize],
) -> Vec<Resource<DestinationRuleSpec>> {
    let mut hosts: HashSet<String> = HashSet::new();
    for vs in changed
        .iter()
        .filter_map(|&i| config.virtual_services.get(i))
    {
        let ns = &vs.namespace;
        hosts.extend(vs.spec.hosts.iter().map(|h| expand_host(h, ns)));
        for http in &vs.spec.http {
            let destinations = http.route.iter().flatten().map(|r| &r.destination);
            let mirrors = http.mirrors.iter().flatten().map(|m| &m.destination);
            for d in destinations.chain(http.mirror.iter()).chain(mirrors) {
                hosts.insert(expand_host(&d.host, ns));
            }
        }
    }
    config
        .destination_rules
        .iter()
        .filter(|dr| {
            let pattern = expand_host(&dr.spec.host, &dr.namespace);
            hosts.iter().any(|h| host_matches(&pattern, h))
        })
        .cloned()
        .collect()
}

/// The table for `config`, which differs from `old_config` (compiled into
/// `previous`) only in the VirtualServices at `changed`
/// ([`plain_changes`]); `registry` is the registry `previous` was compiled
/// with (unchanged, as only VirtualServices changed), `rules` the
/// [`destination_rules_for`] them and `regexes` what validation compiled.
/// `None`: not a change this can make (see the module); compile whole.
///
/// # Errors
/// What a whole compile would refuse: a changed VirtualService that cannot
/// be built (WEIR0012).
pub(crate) fn recompile_virtual_services(
    old_config: &Config,
    config: &Config,
    registry: &Registry,
    rules: &[Resource<DestinationRuleSpec>],
    regexes: Regexes,
    previous: &Table,
    changed: &[usize],
) -> Option<Result<Table, CompileError>> {
    let routing = &*previous.routing;
    if !routing.mesh_scoped.is_empty()
        || !routing.scoped_clusters.is_empty()
        || !plain_changes(old_config, config, changed)
    {
        return None;
    }
    // Each changed VirtualService: the mesh virtual hosts it owns.
    let mut owned: Vec<(usize, Vec<usize>)> = Vec::with_capacity(changed.len());
    for &i in changed {
        let old = old_config.virtual_services.get(i)?;
        let mut hosts = Vec::new();
        for h in &old.spec.hosts {
            let host = expand_host(h, &old.namespace);
            let at = routing.mesh.hosts.find(&host)? as usize;
            let vh = routing.mesh.virtual_hosts.get(at)?;
            let owner = (old.namespace.as_str(), old.name.as_str());
            if *vh.domain != *host
                || vh.routes.is_empty()
                || vh.routes.iter().any(|r| r.virtual_service() != owner)
            {
                return None;
            }
            if !hosts.contains(&at) {
                hosts.push(at);
            }
        }
        owned.push((i, hosts));
    }
    let destination_rules =
        DestinationRuleIndex::with_root(rules, &config.kube_options.root_namespace);
    let mut b = Builder {
        config,
        registry,
        destination_rules,
        clusters: Vec::new(),
        cluster_ids: HashMap::new(),
        regexes,
        unbuildable: Vec::new(),
        reuse: Some(routing),
        reuse_missed: false,
    };
    let mut rebuilt: Vec<(usize, Vec<Route>)> = Vec::new();
    let (mut named_before, mut named_now) = (HashSet::new(), HashSet::new());
    for (i, hosts) in &owned {
        let routes = b.http_routes(&config.virtual_services[*i], "mesh");
        clusters_named(&routes, &mut named_now);
        for &at in hosts {
            clusters_named(&routing.mesh.virtual_hosts[at].routes, &mut named_before);
            rebuilt.push((at, super::listeners::clone_routes(&routes)));
        }
    }
    if b.reuse_missed {
        return None;
    }
    if let Some(first) = b.unbuildable.drain(..).next() {
        return Some(Err(CompileError::Unbuildable(Box::new(first))));
    }
    // A subset cluster only these routes named would not be built now.
    let dropped = named_before
        .difference(&named_now)
        .any(|&id| !is_default_cluster(&routing.clusters[id as usize], registry));
    if dropped {
        return None;
    }
    let mut virtual_hosts: Vec<Arc<VirtualHost>> = routing.mesh.virtual_hosts.to_vec();
    for (at, routes) in rebuilt {
        let mut vh = virtual_host(virtual_hosts[at].domain.to_string(), routes);
        vh.mark_opaque_ports(registry);
        virtual_hosts[at] = Arc::new(vh);
    }
    let mesh = Listener {
        virtual_hosts: virtual_hosts.into(),
        hosts: routing.mesh.hosts.clone(),
        https_redirect: routing.mesh.https_redirect,
        tcp: routing.mesh.tcp.clone(),
        services: routing.mesh.services.clone(),
    };
    let routing = Routing {
        mesh,
        mesh_scoped: routing.mesh_scoped.clone(),
        gateways: routing.gateways.clone(),
        gateway_default_port: routing.gateway_default_port.clone(),
        clusters: routing.clusters.clone(),
        scoped_clusters: routing.scoped_clusters.clone(),
        clusters_by_host: routing.clusters_by_host.clone(),
        cluster_by_name: routing.cluster_by_name.clone(),
        clock_ms: AtomicU64::new(routing.clock_ms.load(Ordering::Relaxed)),
    };
    Some(Ok(Table {
        id: crate::table::new_table_id(),
        routing: Arc::new(routing),
        sets: previous.sets.clone(),
        sets_bytes: previous.sets_bytes,
    }))
}

/// A VirtualService only the mesh's public view serves, by exact hosts,
/// with HTTP routes only and no delegation.
fn plain_mesh_service(spec: &VirtualServiceSpec) -> bool {
    spec.gateways.is_empty()
        && spec.tcp.is_empty()
        && spec.tls.is_empty()
        && exported_everywhere(&spec.export_to)
        && !spec.hosts.is_empty()
        && spec.hosts.iter().all(|h| !h.contains('*'))
        && spec.http.iter().all(|h| {
            h.delegate.is_none() && h.matches.iter().flatten().all(|m| m.gateways.is_empty())
        })
}

/// The clusters `routes` send or mirror to.
fn clusters_named(routes: &[Route], out: &mut HashSet<u32>) {
    for route in routes {
        for d in route.rule.destinations() {
            match &d.cluster {
                ClusterChoice::Fixed(id) => {
                    out.insert(*id);
                }
                ClusterChoice::ByPort(list) => out.extend(list.iter().map(|&(_, id)| id)),
                ClusterChoice::Missing(_) => {}
            }
        }
        out.extend(
            route
                .rule
                .mirrors
                .iter()
                .map(|m| m.cluster)
                .filter(|&id| id != u32::MAX),
        );
    }
}

/// A cluster every compile builds: a service port's, with no subset.
fn is_default_cluster(cluster: &Cluster, registry: &Registry) -> bool {
    cluster.subset.is_empty()
        && registry
            .find(&cluster.host)
            .is_some_and(|s| s.ports.iter().any(|p| p.number == u32::from(cluster.port)))
}

impl Routing {
    /// The id of this routing's cluster equal to `cluster` (name, subset
    /// labels, policy, port mapping, DestinationRules), if it has one.
    pub(crate) fn same_cluster(&self, cluster: &Cluster) -> Option<u32> {
        if !self.scoped_clusters.is_empty() {
            return None;
        }
        let id = *self.cluster_by_name.get(&cluster.name)?;
        let c = self.clusters.get(id as usize)?;
        let same = c.host == cluster.host
            && c.subset == cluster.subset
            && c.port == cluster.port
            && c.policy == cluster.policy
            && c.subset_labels == cluster.subset_labels
            && c.subset_missing == cluster.subset_missing
            && c.port_name == cluster.port_name
            && c.target_port == cluster.target_port
            && c.rules == cluster.rules;
        same.then_some(id)
    }
}
