//! The compiled, immutable pieces of a [`Table`](super::Table).

use crate::balance::hash_policy::HashPolicy;
use crate::balance::maglev::Maglev;
use crate::balance::ring_hash::RingHash;
use crate::balance::weighted::{AliasTable, WeightedChoice};
use crate::route::RouteMatch;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Header edits: applied as remove, then set, then add.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderOps {
    /// Overwrite (or add) these headers.
    pub set: Box<[(Box<str>, Box<str>)]>,
    /// Append these values.
    pub add: Box<[(Box<str>, Box<str>)]>,
    /// Delete these headers.
    pub remove: Box<[Box<str>]>,
}

impl HeaderOps {
    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }

    /// `self` (route level) followed by `later` (destination level): where
    /// both touch a header, the later level wins.
    pub fn then(&self, later: &HeaderOps) -> HeaderOps {
        let mut set: Vec<(Box<str>, Box<str>)> = self.set.to_vec();
        let mut add: Vec<(Box<str>, Box<str>)> = self.add.to_vec();
        let mut remove: Vec<Box<str>> = self.remove.to_vec();
        for name in later.remove.iter() {
            set.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            add.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            if !remove.iter().any(|r| r.eq_ignore_ascii_case(name)) {
                remove.push(name.clone());
            }
        }
        for (name, value) in later.set.iter() {
            add.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
            match set.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                Some(slot) => slot.1 = value.clone(),
                None => set.push((name.clone(), value.clone())),
            }
        }
        add.extend(later.add.iter().cloned());
        HeaderOps {
            set: set.into(),
            add: add.into(),
            remove: remove.into(),
        }
    }
}

/// Retry policy, Istio's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries allowed (0 disables).
    pub attempts: u32,
    /// Timeout per try; `None` uses the route timeout.
    pub per_try_timeout: Option<Duration>,
    /// Envoy `retry_on` conditions, comma separated.
    pub retry_on: Box<str>,
    /// Status codes that are retried (`retriable-status-codes`).
    pub retriable_status_codes: Box<[u16]>,
    /// Retry on other localities.
    pub retry_remote_localities: bool,
    /// Skip hosts tried before (off with consistent hashing).
    pub retry_previous_hosts_predicate: bool,
    /// Base interval between retries.
    pub backoff: Option<Duration>,
}

/// `retry_on` of Istio's mesh default retry policy.
pub const ISTIO_DEFAULT_RETRY_ON: &str =
    "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes";

impl RetryPolicy {
    /// Istio's mesh default (`pilot/pkg/networking/core/route/retry/retry.go`).
    pub fn istio_default() -> RetryPolicy {
        RetryPolicy {
            attempts: 2,
            per_try_timeout: None,
            retry_on: ISTIO_DEFAULT_RETRY_ON.into(),
            retriable_status_codes: Box::new([]),
            retry_remote_localities: false,
            retry_previous_hosts_predicate: true,
            backoff: None,
        }
    }

    /// True when this is Istio's default policy as far as an Envoy route's
    /// retry headers can say (the previous-hosts predicate is not one of
    /// them): what an Envoy route carrying the default already does.
    pub fn is_istio_default(&self) -> bool {
        self.attempts == 2
            && self.per_try_timeout.is_none()
            && &*self.retry_on == ISTIO_DEFAULT_RETRY_ON
            && self.retriable_status_codes.is_empty()
            && !self.retry_remote_localities
            && self.backoff.is_none()
    }
}

/// How a fault abort answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortStatus {
    /// An HTTP status.
    Http(u16),
    /// A gRPC status code (answered as HTTP 200 with `grpc-status`).
    Grpc(u32),
}

/// Fault injection, percentages as parts per million (Envoy's FractionalPercent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fault {
    pub delay: Option<(Duration, u32)>,
    pub abort: Option<(AbortStatus, u32)>,
}

/// One mirror target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// Cluster index in the table.
    pub cluster: u32,
    /// The cluster's name (`outbound|PORT|SUBSET|HOST`).
    pub cluster_name: Box<str>,
    /// The mirror's host.
    pub host: Box<str>,
    /// Share mirrored, parts per million.
    pub per_million: u32,
}

/// Where a redirect's path comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectPath {
    /// The request's path.
    Keep,
    /// `uri`: the whole path replaced (query kept unless the new one has its own).
    Uri(Box<str>),
    /// `prefixRewrite`: the matched prefix replaced.
    Prefix(Box<str>),
}

/// How a redirect's port is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedirectPort {
    /// Keep the request's (dropped when the authority is replaced).
    Keep,
    /// This port.
    Fixed(u16),
    /// `FROM_PROTOCOL_DEFAULT`: no port in the Location.
    ProtocolDefault,
    /// `FROM_REQUEST_PORT`.
    RequestPort,
}

/// A compiled HTTPRedirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    pub code: u16,
    pub scheme: Option<Box<str>>,
    pub authority: Option<Box<str>>,
    pub port: RedirectPort,
    pub path: RedirectPath,
}

/// A compiled CORS policy.
#[derive(Debug, Clone)]
pub struct Cors {
    pub allow_origins: Box<[crate::route::StringMatcher]>,
    pub allow_methods: Box<str>,
    pub allow_headers: Box<str>,
    pub expose_headers: Box<str>,
    pub max_age: Option<Duration>,
    /// `max_age` in whole seconds, as the header value.
    pub max_age_header: Option<Box<str>>,
    pub allow_credentials: Option<bool>,
    /// `unmatchedPreflights: IGNORE`: a preflight whose origin is not allowed
    /// is answered locally (200, no CORS headers) instead of forwarded.
    pub ignore_unmatched_preflights: bool,
}

impl Cors {
    /// True when `origin` is allowed.
    pub fn allows(&self, origin: &str) -> bool {
        self.allow_origins.iter().any(|m| m.matches(origin, false))
    }
}

/// Where a route destination's cluster comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterChoice {
    /// One cluster.
    Fixed(u32),
    /// No port given and several service ports: the listener port decides.
    ByPort(Box<[(u16, u32)]>),
    /// The destination has no cluster (unknown host or subset): 503 NC.
    Missing(Box<str>),
}

/// One weighted destination of a route, with its merged header edits.
#[derive(Debug)]
pub struct RouteDestination {
    pub host: Box<str>,
    pub subset: Box<str>,
    pub cluster: ClusterChoice,
    pub weight: u32,
    pub request_headers: HeaderOps,
    pub response_headers: HeaderOps,
    /// Authority rewrite (route level, else destination level).
    pub authority: Option<Box<str>>,
    pub hits: AtomicU64,
}

/// What a rule does when it matches.
#[derive(Debug)]
pub enum RuleAction {
    /// Forward to weighted destinations.
    Forward {
        destinations: Box<[RouteDestination]>,
        choice: WeightedChoice,
    },
    /// Answer with a redirect.
    Redirect(Redirect),
    /// Answer with a fixed response.
    Direct { status: u16, body: Box<[u8]> },
}

/// One `http[]` rule of a VirtualService, shared by its match blocks.
#[derive(Debug)]
pub struct Rule {
    /// The VirtualService's namespace.
    pub namespace: Box<str>,
    /// The VirtualService's name.
    pub virtual_service: Box<str>,
    /// Position in `http[]` (`None` for the default route of a service).
    pub index: Option<usize>,
    /// `http[].name`.
    pub name: Option<Box<str>>,
    pub action: RuleAction,
    pub fault: Option<Fault>,
    pub timeout: Option<Duration>,
    pub retries: RetryPolicy,
    pub mirrors: Box<[Mirror]>,
    /// `rewrite.uri`.
    pub rewrite_uri: Option<Box<str>>,
    /// `rewrite.uriRegexRewrite` (pattern, substitution).
    pub rewrite_regex: Option<(regex::Regex, Box<str>)>,
    pub cors: Option<Cors>,
    pub hits: AtomicU64,
}

impl Rule {
    /// The redirect, if the rule answers with one.
    pub fn redirect(&self) -> Option<&Redirect> {
        match &self.action {
            RuleAction::Redirect(r) => Some(r),
            _ => None,
        }
    }

    /// The direct response's body, if the rule answers with one.
    pub fn direct_body(&self) -> Option<&[u8]> {
        match &self.action {
            RuleAction::Direct { body, .. } => Some(body),
            _ => None,
        }
    }

    /// The weighted destinations, if the rule forwards.
    pub fn destinations(&self) -> &[RouteDestination] {
        match &self.action {
            RuleAction::Forward { destinations, .. } => destinations,
            _ => &[],
        }
    }

    /// How many requests matched this rule.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }
}

/// One route: a match block of a rule (Istio turns each block into a route).
#[derive(Debug)]
pub struct Route {
    pub rule: Arc<Rule>,
    /// Which `match[]` block (`None`: the rule has no match).
    pub match_index: Option<usize>,
    pub matcher: RouteMatch,
    /// Its block is Istio's catch-all ([`crate::config::model::HttpMatchRequest::is_catch_all`]):
    /// a gateway's virtual host moves such routes last.
    pub catch_all: bool,
}

impl Route {
    /// `namespace/name` of the VirtualService.
    pub fn virtual_service(&self) -> (&str, &str) {
        (&self.rule.namespace, &self.rule.virtual_service)
    }
}

/// One virtual host: a domain and its routes in order.
#[derive(Debug)]
pub struct VirtualHost {
    /// The domain (exact, `*.suffix` or `*`).
    pub domain: Box<str>,
    pub routes: Box<[Route]>,
    pub(crate) index: crate::route::index::RouteIndex,
    /// Ports of this service whose protocol is not HTTP (TCP, TLS, Mongo…):
    /// `http[]` routes do not apply there.
    pub opaque_ports: Box<[u16]>,
    /// Every port of the service is such a port.
    pub opaque_only: bool,
}

/// Load-balancing algorithm of a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LbKind {
    RoundRobin,
    Random,
    LeastRequest,
    Passthrough,
    RingHash { minimum_ring_size: u64 },
    Maglev { table_size: u64 },
}

impl LbKind {
    /// Istio's name for it.
    pub fn as_str(&self) -> &'static str {
        match self {
            LbKind::RoundRobin => "ROUND_ROBIN",
            LbKind::Random => "RANDOM",
            LbKind::LeastRequest => "LEAST_REQUEST",
            LbKind::Passthrough => "PASSTHROUGH",
            LbKind::RingHash { .. } => "RING_HASH",
            LbKind::Maglev { .. } => "MAGLEV",
        }
    }
}

/// Outlier detection settings (Istio defaults filled in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutlierPolicy {
    pub consecutive_5xx: Option<u32>,
    pub consecutive_gateway_errors: Option<u32>,
    pub interval: Duration,
    pub base_ejection_time: Duration,
    pub max_ejection_percent: u32,
    pub min_health_percent: u32,
}

/// Connection-pool limits Weir counts (Envoy circuit breakers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolLimits {
    pub http1_max_pending_requests: Option<u32>,
    pub http2_max_requests: Option<u32>,
    pub max_requests_per_connection: Option<u32>,
    pub max_connections: Option<u32>,
}

/// The traffic policy in force for one cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterPolicy {
    pub lb: LbKind,
    pub hash: Option<HashPolicy>,
    pub outlier: Option<OutlierPolicy>,
    pub pool: PoolLimits,
}

/// A cluster's name as Istio gives it to Envoy (`BuildSubsetKey` in
/// pilot/pkg/model/service.go): `outbound|PORT|SUBSET|HOST`, port 0 where
/// none is known (a destination whose host is unknown). The one place
/// cluster names are made.
pub fn cluster_name(port: u16, subset: &str, host: &str) -> String {
    format!("outbound|{port}|{subset}|{host}")
}

/// A destination cluster: `outbound|PORT|SUBSET|HOST`.
#[derive(Debug)]
pub struct Cluster {
    pub name: Box<str>,
    pub host: Box<str>,
    pub subset: Box<str>,
    pub port: u16,
    pub policy: ClusterPolicy,
    /// The subset's labels (endpoints must carry all of them).
    pub(crate) subset_labels: Vec<(String, String)>,
    /// The subset is not defined by the DestinationRules the clients of
    /// this cluster see (another namespace's rules define it): 503, no cluster.
    pub(crate) subset_missing: bool,
    /// The service port's name and target port, to map endpoint ports.
    pub(crate) port_name: String,
    pub(crate) target_port: Option<u32>,
    /// The DestinationRules that shaped it (`ns/name,…`): a host's clusters
    /// of one name differ by them when client namespaces see other rules,
    /// and a reload carries endpoint state over between the same variants.
    pub(crate) rules: Box<str>,
    /// Requests in flight (connection-pool accounting).
    pub active: AtomicU32,
    /// The destination id the last `telemetry::Metrics` to record this
    /// cluster gave it, tagged with that registry's uid: recording reads it
    /// instead of looking the name up (telemetry/destinations.rs).
    pub(crate) metrics_id: AtomicU64,
}

/// Live state of an endpoint, kept across endpoint updates.
#[derive(Debug, Default)]
pub struct EndpointState {
    /// Requests in flight (least request).
    pub active: AtomicU32,
    /// Consecutive 5xx (outlier detection).
    pub consecutive_5xx: AtomicU32,
    /// Consecutive gateway errors (502, 503, 504, connect failures).
    pub consecutive_gateway: AtomicU32,
    /// Until when (caller's monotonic ms) the endpoint is ejected; 0 = not.
    pub ejected_until_ms: AtomicU64,
    /// Times ejected (multiplies the base ejection time).
    pub ejections: AtomicU32,
}

/// One endpoint of a cluster.
#[derive(Debug)]
pub struct Endpoint {
    /// `ip:port` (`[v6]:port`): also the consistent-hash key, as in Envoy.
    pub address: Box<str>,
    pub ip: Option<IpAddr>,
    pub port: u16,
    pub weight: u32,
    /// Shared with the registry's endpoint (as are `source` and `pod`).
    pub locality: Arc<str>,
    /// Where the endpoint came from (`EndpointSlice ns/name`…), for tools.
    pub source: Arc<str>,
    /// The pod behind it (`ns/name`), when known.
    pub pod: Arc<str>,
    pub state: Arc<EndpointState>,
}

/// How endpoints are chosen within a set.
#[derive(Debug)]
pub enum Balancer {
    RoundRobin {
        cursor: AtomicU64,
        weights: Option<WeightedChoice>,
    },
    Random {
        weights: AliasTable,
    },
    LeastRequest {
        weights: AliasTable,
        equal: bool,
    },
    Passthrough,
    Ring(RingHash),
    Maglev(Maglev),
}

/// The endpoints of one cluster and their balancer.
#[derive(Debug)]
pub struct EndpointSet {
    pub endpoints: Box<[Endpoint]>,
    pub balancer: Balancer,
    /// What it is estimated to take, as the compile budget counts it.
    pub(crate) bytes: usize,
}

impl EndpointSet {
    /// Envoy's LEAST_REQUEST: two random choices, the one with fewer requests
    /// in flight wins (ties: the first). With unequal weights the two draws
    /// are weighted. `None` only for a set that is not least-request or empty.
    #[inline]
    pub fn pick_least_request(&self, rng: &mut u64) -> Option<usize> {
        let Balancer::LeastRequest { weights, equal } = &self.balancer else {
            return None;
        };
        let n = self.endpoints.len() as u64;
        if n == 0 {
            return None;
        }
        // Multiply-shift maps a random u64 onto 0..n without a divide.
        let draw = |rng: &mut u64| -> Option<usize> {
            let x = crate::balance::splitmix64(rng);
            if *equal {
                Some(((u128::from(x) * u128::from(n)) >> 64) as usize)
            } else {
                weights.pick(x)
            }
        };
        let (a, b) = (draw(rng)?, draw(rng)?);
        let active = |i: usize| self.endpoints[i].state.active.load(Ordering::Relaxed);
        Some(if active(b) < active(a) { b } else { a })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Any one field away from the default is not the default.
    #[test]
    fn is_istio_default_sees_every_header_field() {
        let d = RetryPolicy::istio_default();
        assert!(d.is_istio_default());
        let mut no_predicate = d.clone();
        no_predicate.retry_previous_hosts_predicate = false;
        assert!(no_predicate.is_istio_default(), "not a header's business");
        let changes: [fn(&mut RetryPolicy); 6] = [
            |p| p.attempts = 3,
            |p| p.per_try_timeout = Some(Duration::from_secs(1)),
            |p| p.retry_on = "5xx".into(),
            |p| p.retriable_status_codes = Box::new([503]),
            |p| p.retry_remote_localities = true,
            |p| p.backoff = Some(Duration::from_millis(25)),
        ];
        for change in changes {
            let mut p = d.clone();
            change(&mut p);
            assert!(!p.is_istio_default(), "{p:?}");
        }
    }
}
