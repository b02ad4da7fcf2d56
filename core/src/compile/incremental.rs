//! Incremental compile: a config that differs from the one in force only in
//! some VirtualServices of the mesh gets a table that shares every other
//! part of the table in force (clusters, endpoint sets, gateways, the other
//! virtual hosts) and rebuilds only the virtual hosts those VirtualServices
//! own, in every view of the mesh (the public one and those of the
//! namespaces an `exportTo` names).
//!
//! It answers only where the result is the table a whole compile would
//! build (same virtual hosts in the same order, same routes, same set of
//! clusters); anywhere else it declines and the caller compiles whole.
//! It declines when a changed VirtualService (before or after the change):
//! - is bound to a gateway, has `tcp`/`tls` routes, delegates or is a
//!   delegate, or has a wildcard host;
//! - changes its name, namespace, creation time, hosts or `exportTo` (its
//!   precedence, and the virtual hosts it claims in each view);
//! - shares a virtual host with another VirtualService's routes, or owns
//!   none in the table in force;
//! - needs a cluster the table in force lacks, or stops naming a subset
//!   cluster that then nothing would name.
//!
//! The clusters the client namespaces' own DestinationRules shape
//! (`scoped_clusters`) are derived from the set of default clusters, which
//! such a change keeps, so they are shared too.

use super::listeners::virtual_host;
use super::listeners::visible;
use super::*;
use crate::config::model::VirtualServiceSpec;
use crate::config::names::{expand_host, host_matches};
use crate::route::regex::Regexes;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// True when each VirtualService at `changed` keeps, from `old` to `new`,
/// its name, namespace, creation time, hosts and `exportTo`, and both
/// versions are plain mesh services (HTTP routes only, exact hosts, no
/// gateway, no delegation): the changes this module makes, and those after
/// which validation keeps its conflicts.
pub(crate) fn plain_changes(old: &Config, new: &Config, changed: &[usize]) -> bool {
    changed.iter().all(
        |&i| match (old.virtual_services.get(i), new.virtual_services.get(i)) {
            (Some(old), Some(new)) => {
                old.name == new.name
                    && old.namespace == new.namespace
                    && old.created == new.created
                    && old.spec.hosts == new.spec.hosts
                    && old.spec.export_to == new.spec.export_to
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
    if !plain_changes(old_config, config, changed) {
        return None;
    }
    // The mesh's views: the public one, then each namespace's own.
    let mut views: Vec<(Option<&str>, &Listener)> = vec![(None, &routing.mesh)];
    views.extend(routing.mesh_scoped.iter().map(|(ns, l)| (Some(&**ns), l)));
    // Each changed VirtualService: per view, the virtual hosts it owns.
    let mut owned: Vec<(usize, Vec<Vec<usize>>)> = Vec::with_capacity(changed.len());
    for &i in changed {
        let per_view = owned_virtual_hosts(old_config.virtual_services.get(i)?, &views)?;
        owned.push((i, per_view));
    }
    let destination_rules =
        DestinationRuleIndex::with_root(rules, &config.kube_options.root_namespace);
    let mut b = Builder {
        config,
        registry,
        destination_rules,
        clusters: Vec::new(),
        cluster_ids: hashbrown::HashMap::new(),
        regexes,
        unbuildable: Vec::new(),
        reuse: Some(routing),
        reuse_missed: false,
    };
    // Per view: (virtual host, its new routes).
    let mut rebuilt: Vec<Vec<(usize, Vec<Route>)>> = views.iter().map(|_| Vec::new()).collect();
    let (mut named_before, mut named_now) = (HashSet::new(), HashSet::new());
    for (i, per_view) in &owned {
        let routes = b.http_routes(&config.virtual_services[*i], "mesh");
        clusters_named(&routes, &mut named_now);
        for (v, hosts) in per_view.iter().enumerate() {
            for &at in hosts {
                clusters_named(&views[v].1.virtual_hosts[at].routes, &mut named_before);
                rebuilt[v].push((at, super::listeners::clone_routes(&routes)));
            }
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
    let mut rebuilt = rebuilt.into_iter();
    let mesh = with_routes(&routing.mesh, rebuilt.next()?, registry);
    let mesh_scoped = if rebuilt.as_slice().iter().all(Vec::is_empty) {
        routing.mesh_scoped.clone()
    } else {
        let scoped = views[1..]
            .iter()
            .zip(rebuilt)
            .map(|((ns, listener), routes)| {
                let ns: Box<str> = ns.unwrap_or_default().into();
                (ns, with_routes(listener, routes, registry))
            });
        Arc::new(scoped.collect())
    };
    let routing = Routing {
        mesh,
        mesh_scoped,
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

/// Per view, the virtual hosts `vs` owns there (all their routes are its):
/// in a view it is visible in, each of its hosts is either its own or
/// wholly another's (an older or closer VirtualService took it; precedence
/// and visibility do not change). `None` when a host is missing or shared,
/// or when `vs` owns none anywhere (its routes, and so the clusters they
/// named, are then in no table part to compare with).
fn owned_virtual_hosts(
    vs: &Resource<VirtualServiceSpec>,
    views: &[(Option<&str>, &Listener)],
) -> Option<Vec<Vec<usize>>> {
    let owner = (vs.namespace.as_str(), vs.name.as_str());
    let mut per_view = Vec::with_capacity(views.len());
    let mut owns_any = false;
    for &(view, listener) in views {
        let mut hosts = Vec::new();
        if visible(&vs.spec.export_to, &vs.namespace, view) {
            for h in &vs.spec.hosts {
                let host = expand_host(h, &vs.namespace);
                let at = listener.hosts.find(&host)? as usize;
                let vh = listener.virtual_hosts.get(at)?;
                if *vh.domain != *host || vh.routes.is_empty() {
                    return None;
                }
                let mine = vh.routes.iter().filter(|r| r.virtual_service() == owner);
                match mine.count() {
                    0 => {}
                    n if n == vh.routes.len() => {
                        if !hosts.contains(&at) {
                            hosts.push(at);
                        }
                    }
                    _ => return None,
                }
            }
        }
        owns_any |= !hosts.is_empty();
        per_view.push(hosts);
    }
    owns_any.then_some(per_view)
}

/// `listener` with the virtual hosts at the given places given new routes;
/// every other part shared.
fn with_routes(
    listener: &Listener,
    routes: Vec<(usize, Vec<Route>)>,
    registry: &Registry,
) -> Listener {
    let mut virtual_hosts: Vec<Arc<VirtualHost>> = listener.virtual_hosts.to_vec();
    for (at, routes) in routes {
        let mut vh = virtual_host(virtual_hosts[at].domain.to_string(), routes);
        vh.mark_opaque_ports(registry);
        virtual_hosts[at] = Arc::new(vh);
    }
    Listener {
        virtual_hosts: virtual_hosts.into(),
        hosts: listener.hosts.clone(),
        https_redirect: listener.https_redirect,
        tcp: listener.tcp.clone(),
        services: listener.services.clone(),
    }
}

/// A VirtualService only the mesh serves, by exact hosts, with HTTP
/// routes only and no delegation.
fn plain_mesh_service(spec: &VirtualServiceSpec) -> bool {
    spec.gateways.is_empty()
        && spec.tcp.is_empty()
        && spec.tls.is_empty()
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
    /// Clusters the client namespaces' own rules shape (`scoped_clusters`)
    /// come after the default ones and share their names: a name finds the
    /// default one.
    pub(crate) fn same_cluster(&self, cluster: &Cluster) -> Option<u32> {
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
