//! Listeners: the mesh (per `exportTo` view) and each gateway port, their
//! virtual hosts and routes in Istio's precedence order.

use super::http::*;
use super::Builder;
use super::*;
use crate::balance::weighted::WeightedChoice;
use crate::config::delegates::{exported_everywhere, exported_to, visibility_rank};
use crate::config::model::{Destination, GatewaySpec, Server, VirtualServiceSpec};
use crate::config::names::{expand_host, host_matches, resolve_gateway};
use crate::config::{Config, Resource};
use crate::route::index::RouteIndex;
use crate::route::RouteMatch;
use hashbrown::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

impl<'c> Builder<'c> {
    /// VirtualServices bound to `gateway`, in Istio's precedence order.
    pub(crate) fn bound(&self, gateway: &str) -> Vec<&'c Resource<VirtualServiceSpec>> {
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
    pub(crate) fn export_scopes(&self) -> Vec<String> {
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
    pub(crate) fn mesh_listener(&mut self, view: Option<&str>) -> Listener {
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
        // Wildcard VirtualService hosts → their vhost, for services they cover.
        let mut wildcards = WildcardHosts::default();
        for vs in &vss {
            let routes_proto = self.http_routes(vs, "mesh");
            for h in &vs.spec.hosts {
                let host = expand_host(h, &vs.namespace);
                if by_domain.contains_key(&host) {
                    continue; // an older VirtualService has this host
                }
                let routes = clone_routes(&routes_proto);
                by_domain.insert(host.clone(), vhosts.len());
                wildcards.insert(&host, vhosts.len());
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
            let routes = match wildcards.most_specific(&host) {
                Some(i) => clone_routes(&vhosts[i].1),
                None => self.default_routes(&host),
            };
            by_domain.insert(host.clone(), vhosts.len());
            vhosts.push((host, routes));
        }
        let registry = self.registry;
        let (mut virtual_hosts, hosts) = virtual_hosts(vhosts);
        super::ports::mark_opaque_ports(&mut virtual_hosts, registry);
        let mut listener = share_listener(virtual_hosts, hosts);
        listener.tcp = self.l4_rules(&vss, "mesh").into();
        listener.services = Arc::new(super::ports::service_ports(registry, &mut |host, port| {
            self.cluster(host, "", port)
        }));
        listener
    }

    /// The default route of a service without a VirtualService.
    pub(crate) fn default_routes(&mut self, host: &str) -> Vec<Route> {
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
            catch_all: true,
        }]
    }

    /// One gateway port: VirtualServices bound to the gateway whose hosts meet
    /// the port's server hosts; routes merged per domain, catch-alls last.
    pub(crate) fn gateway_listener(
        &mut self,
        gw: &Resource<GatewaySpec>,
        key: &str,
        port: u16,
    ) -> Listener {
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
                routes.drain(..).partition(|r| r.catch_all);
            specific.extend(catch_all);
            *routes = specific;
        }
        let mut listener = make_listener(domains);
        listener.https_redirect = https_redirect;
        listener.tcp = self.l4_rules(&vss, key).into();
        listener
    }
}

/// Wildcard hosts (`*.suffix`, `*`) with a value each, looked up by the
/// concrete host they cover: the longest covering pattern in O(labels of the
/// host), where a scan of every pattern per service made the mesh listener
/// quadratic in the mesh.
#[derive(Debug, Default)]
pub(crate) struct WildcardHosts {
    /// `.suffix` of `*.suffix` → value.
    by_suffix: HashMap<String, usize>,
    /// `*`.
    star: Option<usize>,
    /// Patterns with no `.` after the `*` (`*foo.com`), which validation
    /// rejects: scanned, so compiling an unvalidated config still agrees
    /// with [`host_matches`].
    odd: Vec<(String, usize)>,
}

impl WildcardHosts {
    /// Adds `host` if it is a wildcard; the first value of a pattern stays.
    pub(crate) fn insert(&mut self, host: &str, value: usize) {
        match host.strip_prefix('*') {
            None => {}
            Some("") => {
                self.star.get_or_insert(value);
            }
            Some(suffix) if suffix.starts_with('.') => {
                self.by_suffix.entry(suffix.to_string()).or_insert(value);
            }
            Some(_) => self.odd.push((host.to_string(), value)),
        }
    }

    /// The value of the longest pattern covering concrete `host`
    /// (as [`host_matches`] decides coverage).
    pub(crate) fn most_specific(&self, host: &str) -> Option<usize> {
        // Suffixes from the longest: `a.b.c` tries `.b.c`, then `.c`.
        let from_suffix = host
            .match_indices('.')
            .filter(|&(i, _)| i > 0)
            .find_map(|(i, _)| {
                self.by_suffix
                    .get(&host[i..])
                    .map(|&v| (host.len() - i + 1, v))
            });
        let from_odd = self
            .odd
            .iter()
            .filter(|(p, _)| host_matches(p, host))
            .map(|(p, v)| (p.len(), *v))
            .max_by_key(|&(len, _)| len);
        match (from_suffix, from_odd) {
            (Some(a), Some(b)) => Some(if b.0 > a.0 { b.1 } else { a.1 }),
            (a, b) => a.or(b).map(|(_, v)| v).or(self.star),
        }
    }
}

/// Whether a resource with `export_to`, owned by namespace `owner`, is seen
/// by sidecars of namespace `view` (`None`: a namespace no `exportTo` names).
pub(crate) fn visible(export_to: &[String], owner: &str, view: Option<&str>) -> bool {
    match view {
        None => exported_everywhere(export_to),
        Some(ns) => exported_to(export_to, owner, ns),
    }
}

pub(crate) fn make_listener(vhosts: Vec<(String, Vec<Route>)>) -> Listener {
    let (virtual_hosts, hosts) = virtual_hosts(vhosts);
    share_listener(virtual_hosts, hosts)
}

/// The virtual hosts of `(domain, routes)` pairs and their domain index.
pub(crate) fn virtual_hosts(
    vhosts: Vec<(String, Vec<Route>)>,
) -> (Vec<VirtualHost>, crate::route::host::HostIndex) {
    let hosts = crate::route::host::HostIndex::build(vhosts.iter().map(|(d, _)| d.as_str()));
    let virtual_hosts = vhosts
        .into_iter()
        .map(|(domain, routes)| virtual_host(domain, routes))
        .collect();
    (virtual_hosts, hosts)
}

/// One virtual host with its route index (ports not marked yet).
pub(crate) fn virtual_host(domain: String, routes: Vec<Route>) -> VirtualHost {
    let index = RouteIndex::build(routes.iter().map(|r| &r.matcher));
    VirtualHost {
        domain: domain.into(),
        routes: routes.into(),
        index,
        opaque_ports: Box::new([]),
        opaque_only: false,
    }
}

/// A listener over `virtual_hosts`, each behind its own `Arc`.
fn share_listener(
    virtual_hosts: Vec<VirtualHost>,
    hosts: crate::route::host::HostIndex,
) -> Listener {
    Listener {
        virtual_hosts: virtual_hosts.into_iter().map(Arc::new).collect(),
        hosts: Arc::new(hosts),
        https_redirect: false,
        tcp: Arc::new([]),
        services: Arc::default(),
    }
}

pub(crate) fn clone_routes(routes: &[Route]) -> Vec<Route> {
    routes
        .iter()
        .map(|r| Route {
            rule: r.rule.clone(),
            match_index: r.match_index,
            matcher: r.matcher.clone(),
            catch_all: r.catch_all,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The indexed lookup answers as the scan it replaced: the longest
    /// pattern that `host_matches`, `*` last, none when nothing covers.
    #[test]
    fn wildcard_hosts_pick_the_longest_covering_pattern() {
        let patterns = [
            "*.example.com",
            "*.b.example.com",
            "*",
            "*.com",
            "*ample.org",
        ];
        let mut index = WildcardHosts::default();
        for (i, p) in patterns.iter().enumerate() {
            index.insert(p, i);
        }
        index.insert("exact.example.com", 99); // not a wildcard: ignored
        let hosts = [
            "a.b.example.com",
            "x.y.b.example.com",
            "b.example.com",
            "example.com",
            "a.com",
            "com",
            "example.org",
            "sample.org",
            "exact.example.com",
        ];
        for host in hosts {
            let scan = patterns
                .iter()
                .enumerate()
                .filter(|(_, p)| host_matches(p, host))
                .max_by_key(|(_, p)| p.len())
                .map(|(i, _)| i);
            assert_eq!(index.most_specific(host), scan, "{host}");
        }
        let mut none = WildcardHosts::default();
        none.insert("*.other.io", 0);
        assert_eq!(none.most_specific("a.example.com"), None);
    }
}
