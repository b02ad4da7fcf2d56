//! Deciding on a [`Table`]: the hot path. Nothing here allocates.

use super::*;
use crate::balance::hash_policy::RequestHash;
use crate::balance::splitmix64;
use crate::decision::{
    CorsHeaders, Decision, HashUse, Location, Mirrors, Outcome, SetCookie, UpstreamPath,
};
use crate::request::{split_host_port, Request, Source};
use crate::route::with_lowercase;
use std::sync::atomic::Ordering;

impl Listener {
    /// The virtual host for a lower-case host without port: exact, then the
    /// longest wildcard suffix, then `*` (Envoy's domain order).
    pub fn find(&self, host: &str) -> Option<&VirtualHost> {
        self.virtual_hosts
            .get(self.hosts.find(host)? as usize)
            .map(|vh| &**vh)
    }

    /// The virtual host for `req`'s host (lower-cased, port ignored); a
    /// sidecar also accepts a service's short names.
    pub fn virtual_host_for(&self, req: &Request<'_>) -> Option<&VirtualHost> {
        with_lowercase(req.host_without_port(), |host| {
            let i = if req.source.gateway.is_none() {
                self.hosts.find_mesh(host, req.source.namespace)
            } else {
                self.hosts.find(host)
            }?;
            self.virtual_hosts.get(i as usize).map(|vh| &**vh)
        })
        .flatten()
    }
}

impl Table {
    /// The listener for a gateway (`Some("ns/name")`) and port, or the mesh's
    /// (`None`). Port 0 means the gateway's first server port; a gateway
    /// with a single port serves it whatever the port.
    pub fn listener_for(&self, gateway: Option<&str>, port: u16) -> Option<&Listener> {
        let routing = &*self.routing;
        let Some(g) = gateway else {
            return Some(&routing.mesh);
        };
        let port = if port != 0 {
            port
        } else {
            *routing.gateway_default_port.get(g)?
        };
        // Gateways are few: scan rather than build an owned key.
        let mut only = None;
        let mut count = 0;
        for ((name, p), l) in routing.gateways.iter() {
            if name == g {
                if *p == port {
                    return Some(l);
                }
                only = Some(l);
                count += 1;
            }
        }
        if count == 1 {
            only
        } else {
            None
        }
    }

    /// [`listener_for`](Self::listener_for) for a client: a sidecar's is
    /// its namespace's view of the mesh (`exportTo`).
    pub fn listener_for_source(&self, source: &Source<'_>, port: u16) -> Option<&Listener> {
        match source.gateway {
            None => Some(self.mesh_for(source.namespace)),
            g => self.listener_for(g, port),
        }
    }

    /// The virtual host `req` lands on, if any.
    pub fn virtual_host_for(&self, req: &Request<'_>) -> Option<&VirtualHost> {
        self.listener_for_source(req.source, req.port)?
            .virtual_host_for(req)
    }

    /// Decides what to do with `req`. `entropy` drives every random choice:
    /// the same table, request and entropy give the same decision.
    // Inline, around the out-of-line `decide_into`: the decision is then the
    // caller's own variable, written in place. Out of line, the ~450-byte
    // answer was built in this function's frame and copied out on return,
    // reading back stores still in flight (~10 ns, benches/ffi.rs).
    #[inline]
    pub fn decide<'a>(&'a self, req: &Request<'a>, entropy: u64) -> Decision<'a> {
        let mut d = Decision::local(Outcome::NoRoute, 404, req.path);
        self.decide_into(req, entropy, &mut d);
        d
    }

    /// [`decide`](Self::decide), writing the decision into `d` (every field
    /// is overwritten). For callers that keep the decision in place, such as
    /// the C ABI.
    #[inline(never)]
    pub fn decide_into<'a>(&'a self, req: &Request<'a>, entropy: u64, d: &mut Decision<'a>) {
        self.fill(req, entropy, d);
    }

    /// The body of [`decide_into`](Self::decide_into).
    #[inline(always)]
    fn fill<'a>(&'a self, req: &Request<'a>, entropy: u64, d: &mut Decision<'a>) {
        *d = Decision::local(Outcome::NoRoute, 404, req.path);
        // A sidecar's request (no gateway) does not read `port` here: a
        // caller that has just written the request stores `port` as 16
        // bits, and the wider load the call argument becomes would stall on
        // store-to-load forwarding (perf: a third of this function's time
        // through the C ABI).
        let listener = match req.source.gateway {
            None => self.mesh_for(req.source.namespace),
            Some(g) => match self.listener_for(Some(g), req.port) {
                Some(l) => l,
                None => return,
            },
        };
        let Some(vhost) = listener.virtual_host_for(req) else {
            return;
        };
        // A TCP/TLS port of the service: its `http[]` routes do not apply.
        if !vhost.opaque_ports.is_empty() && vhost.is_opaque_port(req.effective_port()) {
            return;
        }
        if listener.https_redirect && req.scheme != "https" {
            d.outcome = Outcome::Redirect;
            d.status = 301;
            d.location = Some(Location {
                scheme: "https",
                host: split_host_port(req.authority).0,
                port: None,
                path: UpstreamPath::Unchanged(req.path),
            });
            return;
        }
        let path = req.path_only();
        let found = vhost.index.first_match(vhost.routes.len(), path, |i| {
            vhost.routes[i].matcher.matches(req)
        });
        if let Some(route) = found.map(|i| &vhost.routes[i]) {
            self.route_into(route, req, entropy, d);
        }
    }

    /// The decision once `route` matched.
    pub fn decide_route<'a>(
        &'a self,
        route: &'a Route,
        req: &Request<'a>,
        entropy: u64,
    ) -> Decision<'a> {
        let mut d = Decision::local(Outcome::NoRoute, 404, req.path);
        self.route_into(route, req, entropy, &mut d);
        d
    }

    /// Writes the decision for `route` into `d`, which holds a fresh
    /// `Decision::local(.., req.path)` (both callers start with one).
    fn route_into<'a>(
        &'a self,
        route: &'a Route,
        req: &Request<'a>,
        entropy: u64,
        d: &mut Decision<'a>,
    ) {
        let rule = &*route.rule;
        rule.hits.fetch_add(1, Ordering::Relaxed);
        let mut rng = entropy;
        d.outcome = Outcome::Route;
        d.status = 0;
        d.route = Some(route);
        // CORS runs before faults and routing (Istio's filter order).
        if let Some(policy) = &rule.cors {
            if let Some(origin) = req.headers.get("origin") {
                let preflight = req.method == "OPTIONS"
                    && req.headers.get("access-control-request-method").is_some();
                let allowed = policy.allows(origin);
                if allowed {
                    d.cors = Some(CorsHeaders {
                        policy,
                        origin,
                        preflight,
                    });
                }
                if preflight && (allowed || policy.ignore_unmatched_preflights) {
                    d.outcome = Outcome::DirectResponse;
                    d.status = 200;
                    return;
                }
            }
        }
        let path = req.path_only();
        let matched_len = match &route.matcher.uri {
            Some(u) => u.matched_len(path),
            None => usize::from(path.starts_with('/')),
        };
        match &rule.action {
            RuleAction::Redirect(rd) => {
                let loc = location(rd, req, matched_len);
                d.outcome = Outcome::Redirect;
                d.status = rd.code;
                d.upstream_path = loc.path;
                d.location = Some(loc);
            }
            RuleAction::Direct { status, .. } => {
                d.outcome = Outcome::DirectResponse;
                d.status = *status;
            }
            RuleAction::Forward {
                destinations,
                choice,
            } => {
                // Faults first: delay and abort are drawn independently.
                if let Some(fault) = &rule.fault {
                    if let Some((delay, per_million)) = fault.delay {
                        if splitmix64(&mut rng) % 1_000_000 < u64::from(per_million) {
                            d.delay = Some(delay);
                        }
                    }
                    if let Some((status, per_million)) = fault.abort {
                        if splitmix64(&mut rng) % 1_000_000 < u64::from(per_million) {
                            d.outcome = Outcome::FaultAbort;
                            match status {
                                AbortStatus::Http(s) => d.status = s,
                                AbortStatus::Grpc(code) => {
                                    d.status = 200;
                                    d.grpc_status = Some(code);
                                }
                            }
                        }
                    }
                }
                // The weighted pick uses the entropy itself (Envoy parity).
                let Some(di) = choice.pick(entropy) else {
                    d.outcome = Outcome::NoCluster;
                    d.status = 503;
                    return;
                };
                let dest = &destinations[di];
                dest.hits.fetch_add(1, Ordering::Relaxed);
                d.destination_index = Some(di);
                d.request_headers = &dest.request_headers;
                d.response_headers = &dest.response_headers;
                d.upstream_authority = dest.authority.as_deref();
                d.upstream_path = if let Some(uri) = &rule.rewrite_uri {
                    UpstreamPath::Replaced {
                        replacement: uri,
                        rest: &req.path[matched_len.min(req.path.len())..],
                    }
                } else if let Some((re, rewrite)) = &rule.rewrite_regex {
                    UpstreamPath::Regex {
                        regex: re,
                        rewrite,
                        path,
                        query: &req.path[path.len()..],
                    }
                } else {
                    UpstreamPath::Unchanged(req.path)
                };
                let mut chosen = 0u64;
                for (i, m) in rule.mirrors.iter().enumerate().take(64) {
                    let draw = splitmix64(&mut rng) % 1_000_000;
                    if m.cluster != u32::MAX && draw < u64::from(m.per_million) {
                        chosen |= 1 << i;
                    }
                }
                d.mirrors = Mirrors::new(&rule.mirrors, chosen);
                if d.outcome == Outcome::FaultAbort {
                    return;
                }
                let cluster = match &dest.cluster {
                    ClusterChoice::Fixed(c) => Some(*c),
                    ClusterChoice::ByPort(list) => {
                        let port = req.effective_port();
                        list.iter().find(|(p, _)| *p == port).map(|&(_, c)| c)
                    }
                    ClusterChoice::Missing(_) => None,
                };
                let Some(ci) = cluster else {
                    d.outcome = Outcome::NoCluster;
                    d.status = 503;
                    return;
                };
                self.finish_upstream(d, ci as usize, req, &mut rng);
            }
        }
    }

    /// Picks the endpoint of cluster `ci` into `d`, or turns `d` into a 503.
    pub(super) fn finish_upstream<'a>(
        &'a self,
        d: &mut Decision<'a>,
        ci: usize,
        req: &Request<'a>,
        rng: &mut u64,
    ) {
        let ci = if self.routing.scoped_clusters.is_empty() {
            ci
        } else {
            self.scoped_cluster(ci, req.source)
        };
        let cluster = &self.routing.clusters[ci];
        d.cluster = Some(cluster);
        if cluster.subset_missing {
            d.outcome = Outcome::NoCluster;
            d.status = 503;
            return;
        }
        if over_limit(cluster) {
            d.outcome = Outcome::Overflow;
            d.status = 503;
            return;
        }
        let Some(set) = self.sets.get(ci) else {
            d.outcome = Outcome::NoCluster;
            d.status = 503;
            return;
        };
        if let Balancer::Passthrough = set.balancer {
            d.original_destination = true;
            return;
        }
        let n = set.endpoints.len();
        if n == 0 {
            d.outcome = Outcome::NoHealthyUpstream;
            d.status = 503;
            return;
        }
        let mut hash_value = 0u64;
        let picked = match &set.balancer {
            Balancer::RoundRobin { cursor, weights } => {
                let c = cursor.fetch_add(1, Ordering::Relaxed);
                match weights {
                    Some(w) => w.pick(c),
                    None => Some((c % n as u64) as usize),
                }
            }
            Balancer::Random { weights } => weights.pick(splitmix64(rng)),
            Balancer::LeastRequest { .. } => set.pick_least_request(rng),
            Balancer::Ring(_) | Balancer::Maglev(_) => {
                let value = match &cluster.policy.hash {
                    Some(policy) => {
                        let input = policy.hash_request(req);
                        let value = match input {
                            RequestHash::Hash(h) => h,
                            RequestHash::GeneratedCookie { value, hash } => {
                                if let crate::balance::hash_policy::HashPolicy::Cookie {
                                    name,
                                    path,
                                    ttl,
                                } = policy
                                {
                                    d.set_cookie = Some(SetCookie {
                                        name,
                                        value,
                                        path,
                                        ttl: *ttl,
                                    });
                                }
                                hash
                            }
                            RequestHash::Missing => splitmix64(rng),
                        };
                        d.hash = Some(HashUse {
                            policy,
                            input,
                            value,
                        });
                        value
                    }
                    None => splitmix64(rng),
                };
                hash_value = value;
                match &set.balancer {
                    Balancer::Ring(r) => r.pick(value, 0).map(|i| i as usize),
                    Balancer::Maglev(m) => m.pick(value, 0).map(|i| i as usize),
                    _ => None,
                }
            }
            Balancer::Passthrough => None,
        };
        let picked = picked.and_then(|i| self.skip_ejected(set, cluster, i, hash_value, rng));
        match picked.and_then(|i| set.endpoints.get(i)) {
            Some(ep) => d.endpoint = Some(ep),
            None => {
                d.outcome = Outcome::NoHealthyUpstream;
                d.status = 503;
            }
        }
    }

    /// `i` if its endpoint is not ejected; otherwise the next choice the way
    /// Envoy walks on (ring: next entries, Maglev: the attempt hash pattern,
    /// others: a healthy endpoint drawn uniformly), or `None` when all are ejected (panic mode
    /// only below `minHealthPercent`, Istio's panic threshold).
    fn skip_ejected(
        &self,
        set: &EndpointSet,
        cluster: &Cluster,
        i: usize,
        hash: u64,
        rng: &mut u64,
    ) -> Option<usize> {
        let clock = self.routing.clock_ms.load(Ordering::Relaxed);
        let ejected = |i: usize| {
            set.endpoints[i]
                .state
                .ejected_until_ms
                .load(Ordering::Relaxed)
                > clock
        };
        if !ejected(i) {
            return Some(i);
        }
        let n = set.endpoints.len();
        let healthy = (0..n).filter(|&j| !ejected(j)).count();
        let min_health = cluster
            .policy
            .outlier
            .as_ref()
            .map_or(0, |o| o.min_health_percent) as usize;
        if healthy * 100 < min_health * n {
            return Some(i); // panic: every endpoint is used
        }
        if healthy == 0 {
            return None;
        }
        let walk = |pick: &dyn Fn(u32) -> Option<u32>| {
            (1..=n as u32 + 4)
                .filter_map(|a| pick(a).map(|j| j as usize))
                .find(|&j| j < n && !ejected(j))
        };
        let next = match &set.balancer {
            Balancer::Ring(r) => walk(&|a| r.pick(hash, a)),
            Balancer::Maglev(m) => walk(&|a| m.pick(hash, a)),
            _ => None,
        };
        // Envoy balances over the host set without the ejected hosts: the
        // displaced turn goes to a healthy endpoint drawn uniformly, so the
        // remaining endpoints share the load evenly.
        next.or_else(|| {
            let k = (splitmix64(rng) % healthy as u64) as usize;
            (0..n).filter(|&j| !ejected(j)).nth(k)
        })
    }
}

impl Table {
    /// The cluster the client's DestinationRules shape in place of `ci`: a
    /// sidecar's namespace (`default` when unknown, as short names expand),
    /// a gateway's own namespace.
    #[inline(never)]
    fn scoped_cluster(&self, ci: usize, source: &Source<'_>) -> usize {
        let namespace = match source.gateway {
            Some(g) => g.split_once('/').map_or(g, |(ns, _)| ns),
            None if source.namespace.is_empty() => "default",
            None => source.namespace,
        };
        self.routing
            .scoped_clusters
            .get(namespace)
            .and_then(|m| m.get(&(ci as u32)))
            .map_or(ci, |&own| own as usize)
    }
}

/// Connection-pool limits: in-flight requests against Envoy's `max_requests`
/// (`http2MaxRequests`) and, for HTTP/1, connections plus pending requests.
fn over_limit(cluster: &Cluster) -> bool {
    let pool = &cluster.policy.pool;
    let active = cluster.active.load(Ordering::Relaxed);
    if pool.http2_max_requests.is_some_and(|m| active >= m) {
        return true;
    }
    match (pool.max_connections, pool.http1_max_pending_requests) {
        (Some(c), Some(p)) => active >= c.saturating_add(p),
        _ => false,
    }
}

/// Builds a redirect's Location from its pieces.
fn location<'a>(rd: &'a Redirect, req: &Request<'a>, matched_len: usize) -> Location<'a> {
    let scheme: &'a str = rd.scheme.as_deref().unwrap_or(req.scheme);
    let (req_host, req_port) = split_host_port(req.authority);
    let (host, authority_port) = match rd.authority.as_deref() {
        Some(a) => split_host_port(a),
        None => (req_host, None),
    };
    let port = match rd.port {
        RedirectPort::Fixed(p) => Some(p),
        RedirectPort::ProtocolDefault => None,
        RedirectPort::RequestPort => Some(req.effective_port()).filter(|&p| p != 0),
        RedirectPort::Keep => {
            if rd.authority.is_some() {
                authority_port
            } else {
                req_port
            }
        }
    };
    let port =
        port.filter(|&p| !((scheme == "http" && p == 80) || (scheme == "https" && p == 443)));
    let query_at = req.path_only().len();
    let path = match &rd.path {
        RedirectPath::Keep => UpstreamPath::Unchanged(req.path),
        RedirectPath::Uri(u) => UpstreamPath::Replaced {
            replacement: u,
            rest: if u.contains('?') {
                ""
            } else {
                &req.path[query_at..]
            },
        },
        RedirectPath::Prefix(p) => UpstreamPath::Replaced {
            replacement: p,
            rest: &req.path[matched_len.min(req.path.len())..],
        },
    };
    Location {
        scheme,
        host,
        port,
        path,
    }
}
