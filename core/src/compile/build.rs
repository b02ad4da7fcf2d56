//! Building a [`Table`] from a validated [`Config`].

use super::*;
use crate::balance::hash_policy::HashPolicy;
use crate::balance::maglev::Maglev;
use crate::balance::ring_hash::RingHash;
use crate::balance::weighted::{AliasTable, WeightedChoice};
use crate::config::delegates::{exported_everywhere, exported_to, visibility_rank};
use crate::config::destination_rules::DestinationRuleIndex;
use crate::config::model::{
    self, ConnectionPoolSettings, CorsPolicy, Destination, DestinationRuleSpec, GatewaySpec,
    HeaderOperations, HttpFaultInjection, HttpMatchRequest, HttpRetry, HttpRoute,
    L4MatchAttributes, LoadBalancerSettings, OutlierDetection, PortTrafficPolicy, Server,
    ServicePort, TrafficPolicy, VirtualServiceSpec,
};
use crate::config::names::{expand_host, host_matches, parse_duration, resolve_gateway};
use crate::config::registry::{endpoint_port, Registry, RegistryEndpoint, Service};
use crate::config::{Config, Resource};
use crate::route::index::RouteIndex;
use crate::route::{Cidr, HeaderMatcher, QueryMatcher, RouteMatch, StringMatcher};
use crate::validate::{full_match_regex, search_regex, GRPC_STATUSES, REDIRECT_CODES};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, AtomicU64};
use std::sync::Arc;
use std::time::Duration;

/// An endpoint given at run time through `set_endpoints`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointSpec {
    /// IP address.
    pub address: String,
    /// Endpoint port; `None` uses the service port's target port.
    pub port: Option<u32>,
    /// Labels (subsets select on them).
    pub labels: BTreeMap<String, String>,
    /// LB weight (0 counts as 1).
    pub weight: u32,
    /// `region/zone/subzone`.
    pub locality: String,
}

impl EndpointSpec {
    pub(crate) fn to_registry(&self) -> RegistryEndpoint {
        RegistryEndpoint {
            address: self.address.clone(),
            ports: self
                .port
                .map(|p| vec![(String::new(), p)])
                .unwrap_or_default(),
            labels: self.labels.clone(),
            weight: self.weight.max(1),
            locality: self.locality.clone(),
            ..RegistryEndpoint::default()
        }
    }
}

/// Compiles a validated config. `overrides` replaces the endpoints of the
/// hosts it names (from `set_endpoints`); `previous` lends endpoint state
/// (active requests, ejections) to endpoints that survive.
///
/// # Errors
/// A [`CompileError`] when something cannot be built (never silently left out).
pub fn compile(
    config: &Config,
    overrides: &HashMap<String, Vec<RegistryEndpoint>>,
    previous: Option<&Table>,
) -> Result<Table, CompileError> {
    compile_validated(config, Registry::build(config), overrides, previous)
}

/// [`compile`] with the registry [`crate::validate::validate_building_registry`]
/// built for `config` (what `Engine::apply` does: the registry once per apply).
///
/// # Errors
/// As [`compile`]; with no budget, never [`CompileError::OverBudget`].
pub fn compile_validated(
    config: &Config,
    registry: Registry,
    overrides: &HashMap<String, Vec<RegistryEndpoint>>,
    previous: Option<&Table>,
) -> Result<Table, CompileError> {
    compile_with_registry(config, registry, overrides, previous, usize::MAX).map(|(table, _)| table)
}

/// [`compile`] with the service registry of `config` already built (once
/// per apply: validation used it too), handing it back with the overrides
/// applied, so the engine keeps it for endpoint changes.
///
/// # Errors
/// When the endpoint sets would take more than `budget` bytes
/// ([`super::budget`]): nothing is built.
pub(crate) fn compile_with_registry(
    config: &Config,
    mut registry: Registry,
    overrides: &HashMap<String, Vec<RegistryEndpoint>>,
    previous: Option<&Table>,
    budget: usize,
) -> Result<(Table, Registry), CompileError> {
    // Roots with their delegates' routes in place (a copy of the config,
    // only when some VirtualService delegates).
    let merged_config;
    let config = match config.with_delegates_merged() {
        Some(merged) => {
            merged_config = merged;
            &merged_config
        }
        None => config,
    };
    // The registry reads ServiceEntries, WorkloadEntries and Kubernetes
    // kinds only, which merging delegates leaves as they are.
    for s in &mut registry.services {
        if let Some(eps) = overrides.get(&s.host) {
            s.endpoints = eps.clone();
        }
    }
    // Hosts known only through set_endpoints (as Kubernetes Services would be).
    for (host, eps) in overrides {
        if registry.find(host).is_none_or(|s| &s.host != host) {
            registry.services.push(Service {
                host: host.clone(),
                namespace: String::new(),
                entry: String::new(),
                ports: Vec::new(),
                endpoints: eps.clone(),
                ..Service::default()
            });
        }
    }
    registry.reindex();
    let destination_rules = DestinationRuleIndex::with_root(
        &config.destination_rules,
        &config.kube_options.root_namespace,
    );
    let mut b = Builder {
        config,
        registry: &registry,
        destination_rules,
        clusters: Vec::new(),
        cluster_ids: HashMap::new(),
    };
    // Every service port gets its default cluster (empty subset).
    for s in &registry.services {
        if s.host.starts_with('*') {
            continue;
        }
        for sp in &s.ports {
            b.cluster(&s.host, "", sp.number as u16);
        }
    }
    let mesh = b.mesh_listener(None);
    // Sidecars in the namespaces an `exportTo` names see their own view.
    let mesh_scoped: HashMap<Box<str>, Listener> = b
        .export_scopes()
        .into_iter()
        .map(|ns| {
            let listener = b.mesh_listener(Some(&ns));
            (ns.into_boxed_str(), listener)
        })
        .collect();
    let mut gateways = HashMap::new();
    let mut gateway_default_port = HashMap::new();
    for gw in &config.gateways {
        let key = format!("{}/{}", gw.namespace, gw.name);
        let mut ports: Vec<u16> = gw
            .spec
            .servers
            .iter()
            .filter_map(|s| s.port.as_ref().map(|p| p.number as u16))
            .collect();
        ports.dedup();
        if let Some(&first) = ports.first() {
            gateway_default_port.insert(key.clone(), first);
        }
        for port in ports {
            gateways.insert((key.clone(), port), b.gateway_listener(gw, &key, port));
        }
    }
    let scoped_clusters = b.scoped_clusters();
    let clusters: Box<[Cluster]> = b.clusters.into();
    let mut clusters_by_host: HashMap<Box<str>, Vec<u32>> = HashMap::new();
    let mut cluster_by_name: HashMap<Box<str>, u32> = HashMap::with_capacity(clusters.len());
    for (i, c) in clusters.iter().enumerate() {
        cluster_by_name.entry(c.name.clone()).or_insert(i as u32);
        clusters_by_host
            .entry(c.host.clone())
            .or_default()
            .push(i as u32);
    }
    let (estimates, sets_bytes) = super::budget::estimate_sets(&clusters, &registry, budget)
        .map_err(CompileError::OverBudget)?;
    let sets = clusters
        .iter()
        .zip(estimates)
        .map(|(c, bytes)| {
            Arc::new(build_endpoint_set(
                c,
                registry.find(&c.host),
                previous,
                bytes,
            ))
        })
        .collect();
    let table = Table {
        id: super::new_table_id(),
        routing: Arc::new(Routing {
            mesh,
            mesh_scoped,
            gateways,
            gateway_default_port,
            clusters,
            scoped_clusters,
            clusters_by_host,
            cluster_by_name,
            clock_ms: AtomicU64::new(previous.map_or(0, |p| {
                p.routing
                    .clock_ms
                    .load(std::sync::atomic::Ordering::Relaxed)
            })),
        }),
        sets,
        sets_bytes,
    };
    Ok((table, registry))
}

impl Table {
    /// A new table with the endpoint sets of `host` rebuilt from `endpoints`;
    /// routes, clusters and every other set are shared with `self`.
    pub fn with_endpoints(
        &self,
        host: &str,
        endpoints: &[RegistryEndpoint],
        config_service: Option<&Service>,
    ) -> Table {
        // Every other set is shared: only this host's clusters are rebuilt.
        let mut sets = self.sets.clone();
        let mut sets_bytes = self.sets_bytes;
        let service = Service {
            host: host.to_string(),
            namespace: String::new(),
            entry: String::new(),
            ports: config_service.map(|s| s.ports.clone()).unwrap_or_default(),
            endpoints: endpoints.to_vec(),
            ..config_service.cloned().unwrap_or_default()
        };
        for &i in self
            .routing
            .clusters_by_host
            .get(host)
            .into_iter()
            .flatten()
        {
            let c = &self.routing.clusters[i as usize];
            let bytes = super::budget::cluster_bytes(c, Some(&service));
            let set = build_endpoint_set(c, Some(&service), Some(self), bytes);
            sets_bytes = (sets_bytes + set.bytes).saturating_sub(sets[i as usize].bytes);
            sets[i as usize] = Arc::new(set);
        }
        Table {
            id: super::new_table_id(),
            routing: self.routing.clone(),
            sets,
            sets_bytes,
        }
    }
}

/// Builds the endpoints of `cluster` from its service, reusing live state;
/// `bytes` is its budget estimate ([`super::budget::cluster_bytes`]).
fn build_endpoint_set(
    cluster: &Cluster,
    service: Option<&Service>,
    previous: Option<&Table>,
    bytes: usize,
) -> EndpointSet {
    // The previous table's same cluster: the variant shaped by the same
    // rules (a namespace's own DestinationRule makes one), else the one of
    // that name.
    let previous_index = previous.and_then(|prev| {
        let routing = &*prev.routing;
        let same = |i: usize| {
            let c = &routing.clusters[i];
            c.name == cluster.name && c.rules == cluster.rules
        };
        let by_name = prev.cluster_index(&cluster.name)?;
        if same(by_name) {
            return Some(by_name);
        }
        routing
            .clusters_by_host
            .get(&cluster.host)
            .and_then(|ids| ids.iter().map(|&i| i as usize).find(|&i| same(i)))
            .or(Some(by_name))
    });
    let old_state = |address: &str| -> Option<Arc<EndpointState>> {
        let prev = previous?;
        let idx = previous_index?;
        prev.endpoints(idx)
            .iter()
            .find(|e| &*e.address == address)
            .map(|e| e.state.clone())
    };
    let mut endpoints = Vec::new();
    if let Some(service) = service {
        let sp = ServicePort {
            number: u32::from(cluster.port),
            protocol: String::new(),
            name: cluster.port_name.clone(),
            target_port: cluster.target_port,
        };
        for ep in &service.endpoints {
            let labels_ok = cluster
                .subset_labels
                .iter()
                .all(|(k, v)| ep.labels.get(k) == Some(v));
            if !labels_ok {
                continue;
            }
            // A run-time endpoint's explicit port has the empty name.
            let port = ep
                .ports
                .iter()
                .find(|(n, _)| n.is_empty())
                .map(|&(_, p)| p)
                .unwrap_or_else(|| endpoint_port(ep, &sp));
            if port == 0 {
                continue; // not an endpoint of this port (a Kubernetes named target port it lacks)
            }
            let ip: Option<std::net::IpAddr> = ep.address.parse().ok();
            let address = match ip {
                Some(std::net::IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
                Some(v4) => format!("{v4}:{port}"),
                None => format!("{}:{port}", ep.address),
            };
            let state = old_state(&address).unwrap_or_default();
            endpoints.push(Endpoint {
                address: address.into(),
                ip,
                port: port as u16,
                weight: ep.weight.max(1),
                locality: ep.locality.clone().into(),
                source: ep.source.as_str().into(),
                pod: ep.pod.as_str().into(),
                state,
            });
        }
    }
    let weights: Vec<u32> = endpoints.iter().map(|e| e.weight).collect();
    let keys: Vec<(&str, u32)> = endpoints.iter().map(|e| (&*e.address, e.weight)).collect();
    let equal = weights.windows(2).all(|w| w[0] == w[1]);
    let balancer = match cluster.policy.lb {
        LbKind::RoundRobin => Balancer::RoundRobin {
            cursor: AtomicU64::new(0),
            weights: (!equal).then(|| WeightedChoice::new(&weights)),
        },
        LbKind::Random => Balancer::Random {
            weights: AliasTable::new(&weights),
        },
        LbKind::LeastRequest => Balancer::LeastRequest {
            weights: AliasTable::new(&weights),
            equal,
        },
        LbKind::Passthrough => Balancer::Passthrough,
        LbKind::RingHash { minimum_ring_size } => Balancer::Ring(RingHash::build(
            &keys,
            minimum_ring_size,
            RingHash::MAX_RING_SIZE,
        )),
        LbKind::Maglev { table_size } => Balancer::Maglev(Maglev::build(&keys, table_size)),
    };
    EndpointSet {
        endpoints: endpoints.into(),
        balancer,
        bytes,
    }
}

struct Builder<'c> {
    config: &'c Config,
    registry: &'c Registry,
    destination_rules: DestinationRuleIndex<'c>,
    clusters: Vec<Cluster>,
    /// (host, subset, port, the DestinationRules it was built with) → id.
    cluster_ids: HashMap<ClusterKey, u32>,
}

/// A cluster's identity: its name's parts and the DestinationRules (by
/// address) that shaped it, so clients that see other rules get their own.
type ClusterKey = (String, String, u16, Vec<usize>);

type Rules<'c> = Vec<&'c Resource<DestinationRuleSpec>>;

/// The namespace of a Kubernetes service host, `name.namespace.svc.…`.
fn kube_namespace_of(host: &str) -> Option<&str> {
    let mut labels = host.split('.');
    let (_, ns, svc) = (labels.next()?, labels.next()?, labels.next()?);
    (svc == "svc" && !ns.is_empty()).then_some(ns)
}

/// A VirtualService's rules compiled once per listener.
type CompiledRoutes = Vec<Route>;

impl<'c> Builder<'c> {
    /// The cluster for (host, subset, port) as a client with no rules of its
    /// own sees it, created on first use.
    fn cluster(&mut self, host: &str, subset: &str, port: u16) -> u32 {
        let rules = self.rules_for(host, None);
        self.cluster_with(host, subset, port, &rules)
    }

    /// The DestinationRules a client in `client` (`None`: the default
    /// answer) sees for `host`.
    fn rules_for(&self, host: &str, client: Option<&str>) -> Rules<'c> {
        let service_ns = self
            .registry
            .find(host)
            .map(|s| s.namespace.as_str())
            .filter(|ns| !ns.is_empty())
            .or_else(|| kube_namespace_of(host))
            .unwrap_or("");
        self.destination_rules.for_client(host, client, service_ns)
    }

    /// The cluster for (host, subset, port) shaped by `rules`.
    fn cluster_with(&mut self, host: &str, subset: &str, port: u16, rules: &Rules<'c>) -> u32 {
        let ids = rules.iter().map(|r| *r as *const _ as usize).collect();
        let key = (host.to_string(), subset.to_string(), port, ids);
        if let Some(&id) = self.cluster_ids.get(&key) {
            return id;
        }
        let service = self.registry.find(host);
        let sp = service.and_then(|s| s.ports.iter().find(|p| p.number == u32::from(port)));
        let (subset_labels, policy) = self.policy_for(rules, subset, port, service);
        let subset_missing = !subset.is_empty() && subset_labels.is_none();
        let subset_labels = subset_labels.unwrap_or_default();
        let id = self.clusters.len() as u32;
        self.clusters.push(Cluster {
            name: cluster_name(port, subset, host).into(),
            host: host.into(),
            subset: subset.into(),
            port,
            policy,
            subset_labels,
            subset_missing,
            port_name: sp.map(|p| p.name.clone()).unwrap_or_default(),
            target_port: sp.and_then(|p| p.target_port),
            rules: rules
                .iter()
                .map(|r| format!("{}/{}", r.namespace, r.name))
                .collect::<Vec<_>>()
                .join(",")
                .into(),
            active: AtomicU32::new(0),
        });
        self.cluster_ids.insert(key, id);
        id
    }

    /// Per client namespace, the clusters it sees shaped by other
    /// DestinationRules than the default answer: (namespace, default
    /// cluster → its own). Only namespaces with rules of their own or named
    /// in an `exportTo`, and only the hosts those rules cover, are visited.
    fn scoped_clusters(&mut self) -> HashMap<Box<str>, HashMap<u32, u32>> {
        let defaults = self.clusters.len() as u32;
        let mut by_host: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, c) in self.clusters.iter().enumerate() {
            by_host
                .entry(c.host.to_string())
                .or_default()
                .push(i as u32);
        }
        let mut out: HashMap<Box<str>, HashMap<u32, u32>> = HashMap::new();
        let scoped: Vec<(String, Vec<String>)> = self
            .destination_rules
            .scoped_namespaces()
            .into_iter()
            .map(|(ns, hosts)| {
                (
                    ns.to_string(),
                    hosts.into_iter().map(str::to_string).collect(),
                )
            })
            .collect();
        for (ns, patterns) in scoped {
            let mut ids: Vec<u32> = Vec::new();
            for pattern in &patterns {
                if pattern.starts_with('*') {
                    ids.extend(
                        by_host
                            .iter()
                            .filter(|(h, _)| host_matches(pattern, h))
                            .flat_map(|(_, v)| v.iter().copied()),
                    );
                } else if let Some(v) = by_host.get(pattern) {
                    ids.extend(v);
                }
            }
            ids.sort_unstable();
            ids.dedup();
            for id in ids.into_iter().filter(|&id| id < defaults) {
                let c = &self.clusters[id as usize];
                let (host, subset, port) = (c.host.to_string(), c.subset.to_string(), c.port);
                let rules = self.rules_for(&host, Some(&ns));
                let own = self.cluster_with(&host, &subset, port, &rules);
                if own != id {
                    out.entry(ns.as_str().into()).or_default().insert(id, own);
                }
            }
        }
        out
    }

    /// Subset labels (`None`: the rules define no such subset) and the
    /// effective policy (Istio's `MergeSubsetTrafficPolicy`).
    fn policy_for(
        &self,
        drs: &Rules<'c>,
        subset: &str,
        port: u16,
        service: Option<&Service>,
    ) -> (Option<Vec<(String, String)>>, ClusterPolicy) {
        let top: Option<&TrafficPolicy> = drs.iter().find_map(|dr| dr.spec.traffic_policy.as_ref());
        let subset_def = drs
            .iter()
            .flat_map(|dr| dr.spec.subsets.iter())
            .find(|s| s.name == subset);
        // 1. DR level, or its port entry (replaces the four fields whole).
        let mut lb = top.and_then(|t| t.load_balancer.clone());
        let mut pool = top.and_then(|t| t.connection_pool.clone());
        let mut outlier = top.and_then(|t| t.outlier_detection.clone());
        if let Some(pl) = top.and_then(|t| port_level(t, port)) {
            lb = pl.load_balancer.clone();
            pool = pl.connection_pool.clone();
            outlier = pl.outlier_detection.clone();
        }
        // 2. Subset policy: its port entry replaces, else each set field overrides.
        if let Some(sp) = subset_def.and_then(|s| s.traffic_policy.as_ref()) {
            if let Some(pl) = port_level(sp, port) {
                lb = pl.load_balancer.clone();
                pool = pl.connection_pool.clone();
                outlier = pl.outlier_detection.clone();
            } else {
                if sp.load_balancer.is_some() {
                    lb = sp.load_balancer.clone();
                }
                if sp.connection_pool.is_some() {
                    pool = sp.connection_pool.clone();
                }
                if sp.outlier_detection.is_some() {
                    outlier = sp.outlier_detection.clone();
                }
            }
        }
        let labels = subset_def.map(|s| {
            s.labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        });
        let passthrough = service.is_some_and(|s| s.passthrough);
        (
            labels,
            compile_policy(lb.as_ref(), pool.as_ref(), outlier.as_ref(), passthrough),
        )
    }

    /// How a destination picks its cluster.
    fn cluster_choice(&mut self, dest: &Destination, namespace: &str) -> (String, ClusterChoice) {
        let host = expand_host(&dest.host, namespace);
        let subset = dest.subset.clone().unwrap_or_default();
        let Some(service) = self.registry.find(&host) else {
            // Named as Istio names it: the destination's port when it gives
            // one (0 otherwise: the listener's is not known here).
            let port = dest.port.as_ref().and_then(|p| p.number).unwrap_or(0) as u16;
            return (
                host.clone(),
                ClusterChoice::Missing(cluster_name(port, &subset, &host).into()),
            );
        };
        if !subset.is_empty() && !self.destination_rules.defines_subset(&host, &subset) {
            let port = match (
                dest.port.as_ref().and_then(|p| p.number),
                &service.ports[..],
            ) {
                (Some(p), _) => p as u16,
                (None, [only]) => only.number as u16,
                _ => 0,
            };
            return (
                host.clone(),
                ClusterChoice::Missing(cluster_name(port, &subset, &host).into()),
            );
        }
        let ports: Vec<u16> = service.ports.iter().map(|p| p.number as u16).collect();
        let choice = match dest.port.as_ref().and_then(|p| p.number) {
            Some(p) => ClusterChoice::Fixed(self.cluster(&host, &subset, p as u16)),
            None if ports.len() == 1 => {
                ClusterChoice::Fixed(self.cluster(&host, &subset, ports[0]))
            }
            // A service without declared ports (endpoints from set_endpoints):
            // port 80 unless the destination names one.
            None if ports.is_empty() => ClusterChoice::Fixed(self.cluster(&host, &subset, 80)),
            None => ClusterChoice::ByPort(
                ports
                    .iter()
                    .map(|&p| (p, self.cluster(&host, &subset, p)))
                    .collect(),
            ),
        };
        (host, choice)
    }

    /// Compiles one VirtualService's http rules for a listener (`gateway` is
    /// `mesh` or `ns/name`). Stops after the first catch-all, as istiod does.
    fn http_routes(&mut self, vs: &Resource<VirtualServiceSpec>, gateway: &str) -> CompiledRoutes {
        let mut routes = Vec::new();
        for (i, http) in vs.spec.http.iter().enumerate() {
            let Some(rule) = self.rule(vs, i, http) else {
                continue;
            };
            let rule = Arc::new(rule);
            let mut catch_all = false;
            match &http.matches {
                Some(blocks) if !blocks.is_empty() => {
                    for (j, m) in blocks.iter().enumerate() {
                        if !m.gateways.is_empty()
                            && !m
                                .gateways
                                .iter()
                                .any(|g| resolve_gateway(g, &vs.namespace) == gateway)
                        {
                            continue;
                        }
                        let matcher = compile_match(m, !m.gateways.is_empty());
                        catch_all |= is_catch_all(&matcher);
                        routes.push(Route {
                            rule: rule.clone(),
                            match_index: Some(j),
                            matcher,
                        });
                    }
                }
                _ => {
                    catch_all = true;
                    routes.push(Route {
                        rule,
                        match_index: None,
                        matcher: RouteMatch::default(),
                    });
                }
            }
            if catch_all {
                break;
            }
        }
        routes
    }

    fn rule(
        &mut self,
        vs: &Resource<VirtualServiceSpec>,
        index: usize,
        http: &HttpRoute,
    ) -> Option<Rule> {
        let ns = vs.namespace.as_str();
        let route_req = ops(http.headers.as_ref().and_then(|h| h.request.as_ref()));
        let route_resp = ops(http.headers.as_ref().and_then(|h| h.response.as_ref()));
        let (route_req, host_from_headers) = take_authority(route_req);
        let route_authority = http
            .rewrite
            .as_ref()
            .and_then(|r| r.authority.clone())
            .or(host_from_headers);
        let action = if let Some(rd) = &http.redirect {
            let code = rd.redirect_code.unwrap_or(301);
            if !REDIRECT_CODES.contains(&code) {
                return None; // Istio leaves the route without an action: it never matches.
            }
            RuleAction::Redirect(Redirect {
                code: code as u16,
                scheme: rd.scheme.clone().map(Into::into),
                authority: rd.authority.clone().map(Into::into),
                port: match (rd.port, rd.derive_port.as_deref()) {
                    (Some(p), _) => RedirectPort::Fixed(p as u16),
                    (None, Some("FROM_PROTOCOL_DEFAULT")) => RedirectPort::ProtocolDefault,
                    (None, Some("FROM_REQUEST_PORT")) => RedirectPort::RequestPort,
                    _ => RedirectPort::Keep,
                },
                path: match (&rd.uri, &rd.prefix_rewrite) {
                    (Some(u), _) => RedirectPath::Uri(u.clone().into()),
                    (None, Some(p)) => RedirectPath::Prefix(p.clone().into()),
                    _ => RedirectPath::Keep,
                },
            })
        } else if let Some(dr) = &http.direct_response {
            let body = dr
                .body
                .as_ref()
                .map(|b| match (&b.string, &b.bytes) {
                    (Some(s), _) => s.as_bytes().to_vec(),
                    (None, Some(b64)) => decode_base64(b64).unwrap_or_default(),
                    _ => Vec::new(),
                })
                .unwrap_or_default();
            RuleAction::Direct {
                status: dr.status as u16,
                body: body.into(),
            }
        } else {
            let dests = http.route.as_deref().unwrap_or(&[]);
            let (destinations, choice) = self.route_destinations(
                dests
                    .iter()
                    .map(|d| (&d.destination, d.weight, d.headers.as_ref())),
                ns,
                (&route_req, &route_resp, route_authority.as_deref()),
            );
            RuleAction::Forward {
                destinations,
                choice,
            }
        };
        let mut mirrors = Vec::new();
        if let Some(m) = &http.mirror {
            let pct = http
                .mirror_percentage
                .map(|p| p.value)
                .or(http.mirror_percent.map(f64::from))
                .unwrap_or(100.0);
            mirrors.push(self.mirror(m, ns, pct));
        }
        for m in http.mirrors.iter().flatten() {
            let pct = m.percentage.map(|p| p.value).unwrap_or(100.0);
            mirrors.push(self.mirror(&m.destination, ns, pct));
        }
        let consistent_hash = matches!(&action, RuleAction::Forward { destinations, .. }
            if destinations.iter().any(|d| self.uses_hash(&d.cluster)));
        Some(Rule {
            namespace: ns.into(),
            virtual_service: vs.name.clone().into(),
            index: Some(index),
            name: http.name.clone().map(Into::into),
            action,
            fault: http.fault.as_ref().map(compile_fault),
            timeout: http
                .timeout
                .as_deref()
                .and_then(|t| parse_duration(t).ok())
                .filter(|d| !d.is_zero()),
            retries: compile_retries(http.retries.as_ref(), consistent_hash),
            mirrors: mirrors.into(),
            rewrite_uri: http
                .rewrite
                .as_ref()
                .and_then(|r| r.uri.clone())
                .map(Into::into),
            rewrite_regex: http
                .rewrite
                .as_ref()
                .and_then(|r| r.uri_regex_rewrite.as_ref())
                .and_then(|rr| {
                    let re = search_regex(rr.pattern.as_deref()?).ok()?;
                    Some((re, re2_substitution(rr.rewrite.as_deref()?).into()))
                }),
            cors: http.cors_policy.as_ref().map(compile_cors),
            hits: AtomicU64::new(0),
        })
    }

    /// A route's weighted destinations with their clusters and header edits
    /// (route level `(request, response, authority)` merged in; the
    /// destination level wins). A lone destination takes all traffic
    /// whatever its weight; zero weights stay as ranges never picked.
    fn route_destinations<'d>(
        &mut self,
        dests: impl ExactSizeIterator<Item = (&'d Destination, Option<i64>, Option<&'d model::Headers>)>,
        namespace: &str,
        (route_req, route_resp, route_authority): (&HeaderOps, &HeaderOps, Option<&str>),
    ) -> (Box<[RouteDestination]>, WeightedChoice) {
        let lone = dests.len() == 1;
        let mut destinations = Vec::with_capacity(dests.len());
        let mut weights = Vec::with_capacity(dests.len());
        for (dest, weight, headers) in dests {
            let weight = if lone {
                1
            } else {
                weight.unwrap_or(0).clamp(0, i64::from(u32::MAX)) as u32
            };
            let (host, cluster) = self.cluster_choice(dest, namespace);
            let (dest_req, dest_authority) =
                take_authority(ops(headers.and_then(|h| h.request.as_ref())));
            let dest_resp = ops(headers.and_then(|h| h.response.as_ref()));
            weights.push(weight);
            destinations.push(RouteDestination {
                host: host.into(),
                subset: dest.subset.clone().unwrap_or_default().into(),
                cluster,
                weight,
                request_headers: route_req.then(&dest_req),
                response_headers: route_resp.then(&dest_resp),
                authority: route_authority
                    .map(Into::into)
                    .or(dest_authority.map(Into::into)),
                hits: AtomicU64::new(0),
            });
        }
        (destinations.into(), WeightedChoice::new(&weights))
    }

    fn uses_hash(&self, choice: &ClusterChoice) -> bool {
        let hashes = |id: u32| self.clusters[id as usize].policy.hash.is_some();
        match choice {
            ClusterChoice::Fixed(id) => hashes(*id),
            ClusterChoice::ByPort(list) => list.iter().any(|&(_, id)| hashes(id)),
            ClusterChoice::Missing(_) => false,
        }
    }

    fn mirror(&mut self, dest: &Destination, ns: &str, percent: f64) -> Mirror {
        let (host, choice) = self.cluster_choice(dest, ns);
        let (cluster, name) = match choice {
            ClusterChoice::Fixed(id) => (id, self.clusters[id as usize].name.clone()),
            ClusterChoice::ByPort(list) => {
                let id = list[0].1;
                (id, self.clusters[id as usize].name.clone())
            }
            ClusterChoice::Missing(name) => (u32::MAX, name),
        };
        Mirror {
            cluster,
            cluster_name: name,
            host: host.into(),
            per_million: per_million(percent),
        }
    }

    /// VirtualServices bound to `gateway`, in Istio's precedence order.
    fn bound(&self, gateway: &str) -> Vec<&'c Resource<VirtualServiceSpec>> {
        let config: &'c Config = self.config;
        let mut list: Vec<&'c Resource<VirtualServiceSpec>> = config
            .virtual_services
            .iter()
            .filter(|vs| {
                let top = if vs.spec.gateways.is_empty() {
                    gateway == "mesh"
                } else {
                    vs.spec
                        .gateways
                        .iter()
                        .any(|g| resolve_gateway(g, &vs.namespace) == gateway)
                };
                top || vs
                    .spec
                    .http
                    .iter()
                    .flat_map(|h| h.matches.iter().flatten())
                    .any(|m| {
                        m.gateways
                            .iter()
                            .any(|g| resolve_gateway(g, &vs.namespace) == gateway)
                    })
            })
            .collect();
        list.sort_by(|a, b| a.precedence_key().cmp(&b.precedence_key()));
        list
    }

    /// The namespaces whose sidecars see other VirtualServices or services
    /// than the public view: those an `exportTo` names (`.`: the owner's).
    fn export_scopes(&self) -> Vec<String> {
        let mut out = std::collections::BTreeSet::new();
        let mut add = |export_to: &[String], owner: &str| {
            if exported_everywhere(export_to) {
                return;
            }
            for e in export_to {
                match e.as_str() {
                    "." => out.insert(owner.to_string()),
                    "~" => false,
                    ns => out.insert(ns.to_string()),
                };
            }
        };
        for vs in &self.config.virtual_services {
            add(&vs.spec.export_to, &vs.namespace);
        }
        for s in &self.registry.services {
            add(&s.export_to, &s.namespace);
        }
        out.into_iter().collect()
    }

    /// The sidecar listener: one virtual host per VirtualService host (oldest
    /// wins a host), and one per registry service with its default route or
    /// the most specific wildcard VirtualService covering it. `view` is the
    /// sidecars' namespace, for `exportTo`; `None`: a namespace no `exportTo`
    /// names, which sees only what is exported everywhere.
    fn mesh_listener(&mut self, view: Option<&str>) -> Listener {
        let mut vss: Vec<_> = self
            .bound("mesh")
            .into_iter()
            .filter(|vs| visible(&vs.spec.export_to, &vs.namespace, view))
            .collect();
        if let Some(ns) = view {
            vss.sort_by_key(|vs| visibility_rank(&vs.spec.export_to, &vs.namespace, ns));
        }
        let mut vhosts: Vec<(String, Vec<Route>)> = Vec::new();
        let mut by_domain: HashMap<String, usize> = HashMap::new();
        let mut compiled: Vec<(String, usize)> = Vec::new(); // (vs host, vhost index) for wildcard coverage
        for vs in &vss {
            let routes_proto = self.http_routes(vs, "mesh");
            for h in &vs.spec.hosts {
                let host = expand_host(h, &vs.namespace);
                if by_domain.contains_key(&host) {
                    continue; // an older VirtualService has this host
                }
                let routes = clone_routes(&routes_proto);
                by_domain.insert(host.clone(), vhosts.len());
                compiled.push((host.clone(), vhosts.len()));
                vhosts.push((host, routes));
            }
        }
        let services: Vec<String> = self
            .registry
            .services
            .iter()
            .filter(|s| !s.host.starts_with('*') && visible(&s.export_to, &s.namespace, view))
            .map(|s| s.host.clone())
            .collect();
        for host in services {
            if by_domain.contains_key(&host) {
                continue;
            }
            let covering = compiled
                .iter()
                .filter(|(h, _)| h.starts_with('*') && host_matches(h, &host))
                .max_by_key(|(h, _)| h.len())
                .map(|&(_, i)| i);
            let routes = match covering {
                Some(i) => clone_routes(&vhosts[i].1),
                None => self.default_routes(&host),
            };
            by_domain.insert(host.clone(), vhosts.len());
            vhosts.push((host, routes));
        }
        let mut listener = make_listener(vhosts);
        listener.tcp = self.l4_rules(&vss, "mesh");
        let registry = self.registry;
        super::ports::mark_ports(&mut listener, registry, &mut |host, port| {
            self.cluster(host, "", port)
        });
        listener
    }

    /// The default route of a service without a VirtualService.
    fn default_routes(&mut self, host: &str) -> Vec<Route> {
        let dest = Destination {
            host: host.to_string(),
            subset: None,
            port: None,
        };
        let (host, cluster) = self.cluster_choice(&dest, "default");
        let consistent_hash = self.uses_hash(&cluster);
        let rule = Rule {
            namespace: "".into(),
            virtual_service: "".into(),
            index: None,
            name: Some("default".into()),
            action: RuleAction::Forward {
                destinations: Box::new([RouteDestination {
                    host: host.into(),
                    subset: "".into(),
                    cluster,
                    weight: 1,
                    request_headers: HeaderOps::default(),
                    response_headers: HeaderOps::default(),
                    authority: None,
                    hits: AtomicU64::new(0),
                }]),
                choice: WeightedChoice::new(&[1]),
            },
            fault: None,
            timeout: None,
            retries: compile_retries(None, consistent_hash),
            mirrors: Box::new([]),
            rewrite_uri: None,
            rewrite_regex: None,
            cors: None,
            hits: AtomicU64::new(0),
        };
        vec![Route {
            rule: Arc::new(rule),
            match_index: None,
            matcher: RouteMatch::default(),
        }]
    }

    /// One gateway port: VirtualServices bound to the gateway whose hosts meet
    /// the port's server hosts; routes merged per domain, catch-alls last.
    fn gateway_listener(&mut self, gw: &Resource<GatewaySpec>, key: &str, port: u16) -> Listener {
        let servers: Vec<&Server> = gw
            .spec
            .servers
            .iter()
            .filter(|s| s.port.as_ref().is_some_and(|p| p.number as u16 == port))
            .collect();
        // `ns/host` binds only VirtualServices of `ns` (`.`: the gateway's
        // own namespace, `*` or no prefix: any), as istiod selects them.
        let server_hosts: Vec<(Option<&str>, String)> = servers
            .iter()
            .filter(|s| super::ports::server_serves_http(s))
            .flat_map(|s| s.hosts.iter())
            .map(|h| match h.split_once('/') {
                Some(("*", host)) => (None, host.to_ascii_lowercase()),
                Some((".", host)) => (Some(gw.namespace.as_str()), host.to_ascii_lowercase()),
                Some((ns, host)) => (Some(ns), host.to_ascii_lowercase()),
                None => (None, h.to_ascii_lowercase()),
            })
            .collect();
        let https_redirect = servers
            .iter()
            .any(|s| s.tls.as_ref().and_then(|t| t.https_redirect) == Some(true));
        // A gateway sees the VirtualServices exported to its namespace.
        let mut vss: Vec<_> = self
            .bound(key)
            .into_iter()
            .filter(|vs| exported_to(&vs.spec.export_to, &vs.namespace, &gw.namespace))
            .collect();
        vss.sort_by_key(|vs| visibility_rank(&vs.spec.export_to, &vs.namespace, &gw.namespace));
        let mut domains: Vec<(String, Vec<Route>)> = Vec::new();
        // Domain → its index in `domains` (a gateway may carry thousands).
        let mut domain_index: HashMap<String, usize> = HashMap::new();
        for vs in &vss {
            let routes_proto = self.http_routes(vs, key);
            for h in &vs.spec.hosts {
                let host = h.to_ascii_lowercase();
                for (scope, sh) in &server_hosts {
                    if scope.is_some_and(|ns| ns != vs.namespace) {
                        continue;
                    }
                    let domain = if host_matches(sh, &host) {
                        host.clone()
                    } else if host_matches(&host, sh) {
                        sh.clone()
                    } else {
                        continue;
                    };
                    let routes = clone_routes(&routes_proto);
                    match domain_index.get(&domain) {
                        Some(&i) => domains[i].1.extend(routes),
                        None => {
                            domain_index.insert(domain.clone(), domains.len());
                            domains.push((domain, routes));
                        }
                    }
                }
            }
        }
        for (_, routes) in &mut domains {
            // Istio's SortVHostRoutes: catch-all routes move to the end, the
            // others keep their order.
            let (catch_all, mut specific): (Vec<Route>, Vec<Route>) =
                routes.drain(..).partition(|r| is_catch_all(&r.matcher));
            specific.extend(catch_all);
            *routes = specific;
        }
        let mut listener = make_listener(domains);
        listener.https_redirect = https_redirect;
        listener.tcp = self.l4_rules(&vss, key);
        listener
    }

    fn l4_rules(&mut self, vss: &[&Resource<VirtualServiceSpec>], gateway: &str) -> Box<[L4Rule]> {
        let mut rules = Vec::new();
        for vs in vss {
            let hosts: Box<[Box<str>]> = vs
                .spec
                .hosts
                .iter()
                .map(|h| expand_host(h, &vs.namespace).into())
                .collect();
            let l4 = vs
                .spec
                .tcp
                .iter()
                .map(|t| {
                    (
                        false,
                        compile_l4_matches(&t.matches, &[], gateway, &vs.namespace),
                        &t.route,
                    )
                })
                .chain(vs.spec.tls.iter().map(|t| {
                    let m: Vec<L4MatchAttributes> = t
                        .matches
                        .iter()
                        .map(|m| L4MatchAttributes {
                            destination_subnets: m.destination_subnets.clone(),
                            port: m.port,
                            source_labels: m.source_labels.clone(),
                            gateways: m.gateways.clone(),
                            source_namespace: m.source_namespace.clone(),
                            source_subnet: None,
                        })
                        .collect();
                    let sni: Vec<Vec<String>> =
                        t.matches.iter().map(|m| m.sni_hosts.clone()).collect();
                    (
                        true,
                        compile_l4_matches(&m, &sni, gateway, &vs.namespace),
                        &t.route,
                    )
                }));
            for (index, (tls, matches, route)) in l4.enumerate() {
                let Some(matches) = matches else { continue };
                let no_edits = HeaderOps::default();
                let (destinations, choice) = self.route_destinations(
                    route.iter().map(|d| (&d.destination, d.weight, None)),
                    &vs.namespace,
                    (&no_edits, &no_edits, None),
                );
                rules.push(L4Rule {
                    namespace: vs.namespace.clone().into(),
                    virtual_service: vs.name.clone().into(),
                    index,
                    hosts: hosts.clone(),
                    matches,
                    destinations,
                    choice,
                    tls,
                    hits: AtomicU64::new(0),
                });
            }
        }
        rules.into()
    }
}

/// L4 match blocks for a listener; `None` when no block applies to it.
fn compile_l4_matches(
    matches: &[L4MatchAttributes],
    sni: &[Vec<String>],
    gateway: &str,
    namespace: &str,
) -> Option<Box<[L4Match]>> {
    if matches.is_empty() {
        return Some(Box::new([]));
    }
    let out: Vec<L4Match> = matches
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            m.gateways.is_empty()
                || m.gateways
                    .iter()
                    .any(|g| resolve_gateway(g, namespace) == gateway)
        })
        .map(|(i, m)| L4Match {
            port: m.port.map(|p| p as u16),
            destination_subnets: m
                .destination_subnets
                .iter()
                .filter_map(|s| Cidr::parse(s))
                .collect(),
            sni_hosts: sni
                .get(i)
                .map(|v| v.iter().map(|h| expand_host(h, namespace).into()).collect())
                .unwrap_or_default(),
            source_labels: if m.gateways.is_empty() {
                m.source_labels
                    .iter()
                    .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                    .collect()
            } else {
                Box::new([])
            },
            source_namespace: if m.gateways.is_empty() {
                m.source_namespace.clone().map(Into::into)
            } else {
                None
            },
        })
        .collect();
    (!out.is_empty()).then(|| out.into())
}

/// Whether a resource with `export_to`, owned by namespace `owner`, is seen
/// by sidecars of namespace `view` (`None`: a namespace no `exportTo` names).
fn visible(export_to: &[String], owner: &str, view: Option<&str>) -> bool {
    match view {
        None => exported_everywhere(export_to),
        Some(ns) => exported_to(export_to, owner, ns),
    }
}

fn make_listener(vhosts: Vec<(String, Vec<Route>)>) -> Listener {
    let mut exact = hashbrown::HashMap::new();
    let mut wildcards = Vec::new();
    let mut star = None;
    let virtual_hosts: Vec<VirtualHost> = vhosts
        .into_iter()
        .enumerate()
        .map(|(i, (domain, routes))| {
            let i = i as u32;
            if domain == "*" {
                star.get_or_insert(i);
            } else if let Some(suffix) = domain.strip_prefix('*') {
                wildcards.push((Box::<str>::from(suffix), i));
            } else {
                exact.entry(domain.clone().into_boxed_str()).or_insert(i);
            }
            let index = RouteIndex::build(routes.iter().map(|r| &r.matcher));
            VirtualHost {
                domain: domain.into(),
                routes: routes.into(),
                index,
                opaque_ports: Box::new([]),
                opaque_only: false,
            }
        })
        .collect();
    wildcards.sort_by_key(|w| std::cmp::Reverse(w.0.len()));
    Listener {
        virtual_hosts: virtual_hosts.into(),
        exact,
        wildcards: wildcards.into(),
        star,
        https_redirect: false,
        tcp: Box::new([]),
        services: hashbrown::HashMap::new(),
    }
}

fn clone_routes(routes: &[Route]) -> Vec<Route> {
    routes
        .iter()
        .map(|r| Route {
            rule: r.rule.clone(),
            match_index: r.match_index,
            matcher: r.matcher.clone(),
        })
        .collect()
}

fn port_level(tp: &TrafficPolicy, port: u16) -> Option<&PortTrafficPolicy> {
    tp.port_level_settings
        .iter()
        .find(|p| p.port.as_ref().and_then(|p| p.number) == Some(u32::from(port)))
}

fn compile_policy(
    lb: Option<&LoadBalancerSettings>,
    pool: Option<&ConnectionPoolSettings>,
    outlier: Option<&OutlierDetection>,
    passthrough: bool,
) -> ClusterPolicy {
    let (kind, hash) = match lb {
        Some(LoadBalancerSettings {
            consistent_hash: Some(ch),
            ..
        }) => {
            let kind = match (&ch.maglev, &ch.ring_hash) {
                (Some(m), _) => LbKind::Maglev {
                    table_size: m
                        .table_size
                        .filter(|&t| t != 0)
                        .unwrap_or(Maglev::DEFAULT_TABLE_SIZE),
                },
                (None, Some(r)) => LbKind::RingHash {
                    minimum_ring_size: r
                        .minimum_ring_size
                        .filter(|&m| m != 0)
                        .unwrap_or(RingHash::DEFAULT_MIN_RING_SIZE),
                },
                (None, None) => LbKind::RingHash {
                    minimum_ring_size: ch
                        .minimum_ring_size
                        .filter(|&m| m != 0)
                        .unwrap_or(RingHash::DEFAULT_MIN_RING_SIZE),
                },
            };
            let hash = if let Some(h) = &ch.http_header_name {
                Some(HashPolicy::Header {
                    name: h.to_ascii_lowercase(),
                })
            } else if let Some(c) = &ch.http_cookie {
                Some(HashPolicy::Cookie {
                    name: c.name.clone(),
                    path: c.path.clone().unwrap_or_default(),
                    ttl: c.ttl.as_deref().and_then(|t| parse_duration(t).ok()),
                })
            } else if ch.use_source_ip == Some(true) {
                Some(HashPolicy::SourceIp)
            } else {
                ch.http_query_parameter_name
                    .as_ref()
                    .map(|q| HashPolicy::QueryParameter { name: q.clone() })
            };
            (kind, hash)
        }
        Some(LoadBalancerSettings {
            simple: Some(s), ..
        }) => (
            match s.as_str() {
                "ROUND_ROBIN" => LbKind::RoundRobin,
                "RANDOM" => LbKind::Random,
                "PASSTHROUGH" => LbKind::Passthrough,
                _ => LbKind::LeastRequest,
            },
            None,
        ),
        _ => (LbKind::LeastRequest, None),
    };
    let kind = if passthrough {
        LbKind::Passthrough
    } else {
        kind
    };
    let to_u32 = |v: Option<i64>| {
        v.filter(|&v| v > 0)
            .map(|v| v.min(i64::from(u32::MAX)) as u32)
    };
    let pool = PoolLimits {
        http1_max_pending_requests: to_u32(
            pool.and_then(|p| p.http.as_ref())
                .and_then(|h| h.http1_max_pending_requests),
        ),
        http2_max_requests: to_u32(
            pool.and_then(|p| p.http.as_ref())
                .and_then(|h| h.http2_max_requests),
        ),
        max_requests_per_connection: to_u32(
            pool.and_then(|p| p.http.as_ref())
                .and_then(|h| h.max_requests_per_connection),
        ),
        max_connections: to_u32(
            pool.and_then(|p| p.tcp.as_ref())
                .and_then(|t| t.max_connections),
        ),
    };
    let outlier = outlier.map(|o| OutlierPolicy {
        consecutive_5xx: o
            .consecutive_5xx_errors
            .or(o.consecutive_errors.map(|v| v.max(0) as u32))
            .or(Some(5))
            .filter(|&v| v > 0),
        consecutive_gateway_errors: o.consecutive_gateway_errors.filter(|&v| v > 0),
        interval: o
            .interval
            .as_deref()
            .and_then(|d| parse_duration(d).ok())
            .unwrap_or(Duration::from_secs(10)),
        base_ejection_time: o
            .base_ejection_time
            .as_deref()
            .and_then(|d| parse_duration(d).ok())
            .unwrap_or(Duration::from_secs(30)),
        max_ejection_percent: o.max_ejection_percent.unwrap_or(10).clamp(0, 100) as u32,
        min_health_percent: o.min_health_percent.unwrap_or(0).clamp(0, 100) as u32,
    });
    ClusterPolicy {
        lb: kind,
        hash,
        outlier,
        pool,
    }
}

/// Istio percentage → parts per million, truncated as istiod does
/// (`translatePercentToFractionalPercent`).
fn per_million(percent: f64) -> u32 {
    if percent.is_nan() || percent <= 0.0 {
        0
    } else {
        ((percent * 10_000.0) as u32).min(1_000_000)
    }
}

fn compile_fault(f: &HttpFaultInjection) -> Fault {
    Fault {
        delay: f.delay.as_ref().and_then(|d| {
            let dur = parse_duration(d.fixed_delay.as_deref()?).ok()?;
            let pct = d
                .percentage
                .map(|p| p.value)
                .or(d.percent.map(|p| p as f64))
                .unwrap_or(0.0);
            Some((dur, per_million(pct)))
        }),
        abort: f.abort.as_ref().and_then(|a| {
            let status = match (a.http_status, &a.grpc_status) {
                (Some(s), _) => AbortStatus::Http(s as u16),
                (None, Some(g)) => {
                    AbortStatus::Grpc(GRPC_STATUSES.iter().position(|n| n == g)? as u32)
                }
                _ => return None,
            };
            Some((
                status,
                per_million(a.percentage.map(|p| p.value).unwrap_or(0.0)),
            ))
        }),
    }
}

fn compile_retries(r: Option<&HttpRetry>, consistent_hash: bool) -> RetryPolicy {
    let mut policy = RetryPolicy::istio_default();
    policy.retry_previous_hosts_predicate = !consistent_hash;
    let Some(r) = r else { return policy };
    policy.attempts = r.attempts.unwrap_or(2).max(0) as u32;
    policy.per_try_timeout = r
        .per_try_timeout
        .as_deref()
        .and_then(|t| parse_duration(t).ok());
    policy.backoff = r.backoff.as_deref().and_then(|t| parse_duration(t).ok());
    policy.retry_remote_localities = r.retry_remote_localities.unwrap_or(false);
    if r.retry_ignore_previous_hosts == Some(false) {
        policy.retry_previous_hosts_predicate = false;
    }
    if let Some(on) = r.retry_on.as_deref().filter(|s| !s.trim().is_empty()) {
        let mut conditions: Vec<&str> = Vec::new();
        let mut codes = Vec::new();
        for part in on.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.parse::<u16>() {
                Ok(code) => codes.push(code),
                Err(_) => conditions.push(part),
            }
        }
        if !codes.is_empty() && !conditions.contains(&"retriable-status-codes") {
            conditions.push("retriable-status-codes");
        }
        policy.retry_on = conditions.join(",").into();
        policy.retriable_status_codes = codes.into();
    }
    policy
}

fn compile_cors(c: &CorsPolicy) -> Cors {
    let mut origins: Vec<StringMatcher> = c
        .allow_origins
        .iter()
        .filter_map(|m| string_matcher(m, false))
        .collect();
    origins.extend(
        c.allow_origin
            .iter()
            .map(|o| StringMatcher::Exact(o.as_str().into())),
    );
    Cors {
        allow_origins: origins.into(),
        allow_methods: c.allow_methods.join(",").into(),
        allow_headers: c.allow_headers.join(",").into(),
        expose_headers: c.expose_headers.join(",").into(),
        max_age: c.max_age.as_deref().and_then(|d| parse_duration(d).ok()),
        max_age_header: c
            .max_age
            .as_deref()
            .and_then(|d| parse_duration(d).ok())
            .map(|d| d.as_secs().to_string().into()),
        ignore_unmatched_preflights: c.unmatched_preflights.as_deref() == Some("IGNORE"),
        allow_credentials: c.allow_credentials,
    }
}

/// Istio's `\1` substitution groups → the regex crate's `${1}`.
fn re2_substitution(rewrite: &str) -> String {
    let mut out = String::new();
    let mut chars = rewrite.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let d = chars.next().unwrap_or('0');
                out.push_str(&format!("${{{d}}}"));
            }
            '$' => out.push_str("$$"),
            _ => out.push(c),
        }
    }
    out
}

fn ops(o: Option<&HeaderOperations>) -> HeaderOps {
    let Some(o) = o else {
        return HeaderOps::default();
    };
    HeaderOps {
        set: o
            .set
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase().into(), v.as_str().into()))
            .collect(),
        add: o
            .add
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase().into(), v.as_str().into()))
            .collect(),
        remove: o
            .remove
            .iter()
            .map(|k| k.to_ascii_lowercase().into())
            .collect(),
    }
}

/// Setting `host`/`:authority` through request headers is an authority
/// rewrite in Istio; it is taken out of the header edits.
fn take_authority(mut ops: HeaderOps) -> (HeaderOps, Option<String>) {
    let is_host = |n: &str| n == "host" || n == ":authority";
    let from = ops
        .set
        .iter()
        .chain(ops.add.iter())
        .find(|(n, _)| is_host(n))
        .map(|(_, v)| v.to_string());
    if from.is_some() {
        ops.set = ops
            .set
            .iter()
            .filter(|(n, _)| !is_host(n))
            .cloned()
            .collect();
        ops.add = ops
            .add
            .iter()
            .filter(|(n, _)| !is_host(n))
            .cloned()
            .collect();
    }
    (ops, from)
}

fn string_matcher(m: &model::StringMatch, presence_ok: bool) -> Option<StringMatcher> {
    if let Some(e) = &m.exact {
        return Some(StringMatcher::Exact(e.as_str().into()));
    }
    if let Some(p) = &m.prefix {
        return Some(StringMatcher::Prefix(p.as_str().into()));
    }
    if let Some(r) = &m.regex {
        if presence_ok && r == "*" {
            return Some(StringMatcher::Present);
        }
        return full_match_regex(r).ok().map(StringMatcher::Regex);
    }
    presence_ok.then_some(StringMatcher::Present)
}

fn compile_match(m: &HttpMatchRequest, gateway_scoped: bool) -> RouteMatch {
    let mut headers: Vec<HeaderMatcher> = Vec::new();
    for (name, sm) in &m.headers {
        if matches!(name.as_str(), "uri" | "scheme" | "method" | "authority") {
            continue; // Istio ignores these keys in headers.
        }
        if let Some(matcher) = string_matcher(sm, true) {
            headers.push(HeaderMatcher {
                name: name.to_ascii_lowercase().into(),
                matcher,
                invert: false,
            });
        }
    }
    for (name, sm) in &m.without_headers {
        if let Some(matcher) = string_matcher(sm, true) {
            headers.push(HeaderMatcher {
                name: name.to_ascii_lowercase().into(),
                matcher,
                invert: true,
            });
        }
    }
    // A block scoped to gateways ignores sourceLabels / sourceNamespace
    // (istiod `sourceMatchHTTP`).
    let (source_labels, source_namespace) = if gateway_scoped {
        (Box::default(), None)
    } else {
        (
            m.source_labels
                .iter()
                .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                .collect(),
            m.source_namespace.clone().map(Into::into),
        )
    };
    RouteMatch {
        uri: m.uri.as_ref().and_then(|u| string_matcher(u, false)),
        ignore_uri_case: m.ignore_uri_case,
        scheme: m.scheme.as_ref().and_then(|u| string_matcher(u, false)),
        method: m.method.as_ref().and_then(|u| string_matcher(u, false)),
        authority: m.authority.as_ref().and_then(|u| string_matcher(u, false)),
        headers: headers.into(),
        query: m
            .query_params
            .iter()
            .filter_map(|(k, v)| {
                Some(QueryMatcher {
                    name: k.as_str().into(),
                    matcher: string_matcher(v, true)?,
                })
            })
            .collect(),
        port: m.port.map(|p| p as u16),
        source_labels,
        source_namespace,
    }
}

/// Istio's `IsCatchAllRoute`: prefix `/` or regex `.*` (or no uri) with no
/// other condition.
fn is_catch_all(m: &RouteMatch) -> bool {
    let uri_all = match &m.uri {
        None => true,
        Some(StringMatcher::Prefix(p)) => &**p == "/",
        Some(StringMatcher::Regex(r)) => r.as_str() == "^(?:.*)$",
        _ => false,
    };
    uri_all
        && m.scheme.is_none()
        && m.method.is_none()
        && m.authority.is_none()
        && m.headers.is_empty()
        && m.query.is_empty()
        && m.port.is_none()
        && m.source_labels.is_empty()
        && m.source_namespace.is_none()
}
