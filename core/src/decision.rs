//! The decision Weir hands back: what the proxy must do with one request.
//!
//! A [`Decision`] borrows the [`Table`](crate::Table) it was made on (and the
//! request), so it holds no owned data and costs no allocation. Parts that
//! need new text — the upstream path after a rewrite, a redirect's Location,
//! a generated cookie — are kept as borrowed pieces and rendered on demand
//! into a buffer the caller owns ([`UpstreamPath::write_to`], …).

use crate::balance::hash_policy::{HashPolicy, RequestHash};
use crate::table::{
    Cluster, Cors, Endpoint, HeaderOps, L4Rule, Mirror, Redirect, RetryPolicy, Route,
};
use std::fmt;
use std::time::Duration;

/// What kind of answer the proxy gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Outcome {
    /// Forward upstream to `destination` (and `endpoint`, when Weir balances).
    Route = 0,
    /// Answer locally with a redirect (`status`, [`Decision::location`]).
    Redirect = 1,
    /// Answer locally with a fixed status and body.
    DirectResponse = 2,
    /// Fault injection: answer locally with `status` without calling upstream.
    FaultAbort = 3,
    /// No virtual host or no route matched: 404 (Envoy flag NR).
    NoRoute = 4,
    /// The chosen destination has no cluster (unknown host or subset): 503 (NC).
    NoCluster = 5,
    /// The cluster has no endpoint to send to (none selected, all ejected): 503 (UH).
    NoHealthyUpstream = 6,
    /// The destination is over its connection-pool limits: 503 (UO).
    Overflow = 7,
}

impl Outcome {
    /// The snake_case name used in JSON and by the tools.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Route => "route",
            Outcome::Redirect => "redirect",
            Outcome::DirectResponse => "direct_response",
            Outcome::FaultAbort => "fault_abort",
            Outcome::NoRoute => "no_route",
            Outcome::NoCluster => "no_cluster",
            Outcome::NoHealthyUpstream => "no_healthy_upstream",
            Outcome::Overflow => "overflow",
        }
    }

    /// True when the proxy answers locally instead of forwarding.
    pub fn is_local_reply(self) -> bool {
        !matches!(self, Outcome::Route)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The path to send upstream, after the route's rewrite.
#[derive(Debug, Clone, Copy)]
pub enum UpstreamPath<'a> {
    /// The request's path, unchanged.
    Unchanged(&'a str),
    /// `rewrite.uri`: `replacement` + the rest of the path after the matched part
    /// (the rest keeps the query string).
    Replaced {
        /// The rewrite's `uri`.
        replacement: &'a str,
        /// What followed the matched part of the request path.
        rest: &'a str,
    },
    /// `rewrite.uriRegexRewrite`: every match of `regex` in the path (query
    /// excluded) replaced by `rewrite`; the query is kept.
    Regex {
        /// The compiled pattern.
        regex: &'a regex::Regex,
        /// The substitution (`\1` groups already turned into `${1}`).
        rewrite: &'a str,
        /// The request path without the query.
        path: &'a str,
        /// `?query`, or `""`.
        query: &'a str,
    },
}

impl UpstreamPath<'_> {
    /// Writes the upstream path into `out`.
    ///
    /// # Errors
    /// Only those of `out`.
    pub fn write_to(&self, out: &mut impl fmt::Write) -> fmt::Result {
        match *self {
            UpstreamPath::Unchanged(p) => out.write_str(p),
            UpstreamPath::Replaced { replacement, rest } => {
                out.write_str(replacement)?;
                out.write_str(rest)
            }
            UpstreamPath::Regex {
                regex,
                rewrite,
                path,
                query,
            } => {
                out.write_str(&regex.replace_all(path, rewrite))?;
                out.write_str(query)
            }
        }
    }

    /// True unless the path is sent as received.
    pub fn is_rewritten(&self) -> bool {
        !matches!(self, UpstreamPath::Unchanged(_))
    }
}

impl fmt::Display for UpstreamPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

/// The redirect's `Location`, in pieces.
#[derive(Debug, Clone, Copy)]
pub struct Location<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// Host without port.
    pub host: &'a str,
    /// Port to show; `None` when it is the scheme's default.
    pub port: Option<u16>,
    /// The new path (with query).
    pub path: UpstreamPath<'a>,
}

impl Location<'_> {
    /// Writes `scheme://host[:port]path` into `out`.
    ///
    /// # Errors
    /// Only those of `out`.
    pub fn write_to(&self, out: &mut impl fmt::Write) -> fmt::Result {
        write!(out, "{}://{}", self.scheme, self.host)?;
        if let Some(p) = self.port {
            write!(out, ":{p}")?;
        }
        self.path.write_to(out)
    }
}

impl fmt::Display for Location<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

/// The mirrors this request is copied to (percentages already drawn).
#[derive(Debug, Clone, Copy, Default)]
pub struct Mirrors<'a> {
    all: &'a [Mirror],
    chosen: u64,
}

impl<'a> Mirrors<'a> {
    pub(crate) fn new(all: &'a [Mirror], chosen: u64) -> Self {
        Mirrors { all, chosen }
    }

    /// The chosen mirrors, in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &'a Mirror> + 'a {
        let chosen = self.chosen;
        self.all
            .iter()
            .enumerate()
            .filter(move |(i, _)| *i < 64 && chosen & (1u64 << i) != 0)
            .map(|(_, m)| m)
    }

    /// How many mirrors fire.
    pub fn len(&self) -> usize {
        self.chosen.count_ones() as usize
    }

    /// True when the request is not mirrored.
    pub fn is_empty(&self) -> bool {
        self.chosen == 0
    }
}

/// How the endpoint was chosen by consistent hashing.
#[derive(Debug, Clone, Copy)]
pub struct HashUse<'a> {
    /// The policy that hashed the request.
    pub policy: &'a HashPolicy,
    /// What it made of the request.
    pub input: RequestHash,
    /// The 64-bit value the ring or table was looked up with.
    pub value: u64,
}

/// A cookie the response must set (consistent hashing on a cookie with a ttl,
/// when the request had none), rendered as Envoy does.
#[derive(Debug, Clone, Copy)]
pub struct SetCookie<'a> {
    /// Cookie name.
    pub name: &'a str,
    /// The generated value (16 lower-case hex digits).
    pub value: [u8; 16],
    /// Cookie path, `""` for none.
    pub path: &'a str,
    /// Max-Age; `None` or zero gives a session cookie.
    pub ttl: Option<Duration>,
}

impl SetCookie<'_> {
    /// The value as text.
    pub fn value_str(&self) -> &str {
        std::str::from_utf8(&self.value).unwrap_or("")
    }

    /// Writes the `Set-Cookie` header value into `out`.
    ///
    /// # Errors
    /// Only those of `out`.
    pub fn write_to(&self, out: &mut impl fmt::Write) -> fmt::Result {
        crate::balance::hash_policy::write_set_cookie(
            out,
            self.name,
            self.value_str(),
            self.ttl.unwrap_or(Duration::ZERO),
            self.path,
        )
    }
}

impl fmt::Display for SetCookie<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_to(f)
    }
}

/// The CORS headers a response carries (Envoy's CORS filter, as Istio
/// configures it from `corsPolicy`): the request's origin is allowed.
#[derive(Debug, Clone, Copy)]
pub struct CorsHeaders<'a> {
    /// The route's policy.
    pub policy: &'a Cors,
    /// The request's `Origin`, echoed back.
    pub origin: &'a str,
    /// True for a preflight (`OPTIONS` with `Access-Control-Request-Method`),
    /// answered locally with status 200.
    pub preflight: bool,
}

impl<'a> CorsHeaders<'a> {
    /// Calls `f(name, value)` for every response header to add.
    pub fn for_each(&self, mut f: impl FnMut(&'static str, &'a str)) {
        let p = self.policy;
        f("access-control-allow-origin", self.origin);
        if p.allow_credentials == Some(true) {
            f("access-control-allow-credentials", "true");
        }
        if self.preflight {
            if !p.allow_methods.is_empty() {
                f("access-control-allow-methods", &p.allow_methods);
            }
            if !p.allow_headers.is_empty() {
                f("access-control-allow-headers", &p.allow_headers);
            }
            if let Some(age) = &p.max_age_header {
                f("access-control-max-age", age);
            }
        } else if !p.expose_headers.is_empty() {
            f("access-control-expose-headers", &p.expose_headers);
        }
    }
}

/// What to do with one request. Borrows the table it was decided on.
#[derive(Debug, Clone, Copy)]
pub struct Decision<'a> {
    /// The kind of answer.
    pub outcome: Outcome,
    /// The status of a local answer (404, 503, the redirect code, the abort
    /// status, the direct response's status); 0 for [`Outcome::Route`].
    pub status: u16,
    /// For a gRPC fault abort: the `grpc-status` to answer with (HTTP 200).
    pub grpc_status: Option<u32>,
    /// The matched route, if any.
    pub route: Option<&'a Route>,
    /// The matched `tcp[]`/`tls[]` rule, for connection decisions.
    pub l4_rule: Option<&'a L4Rule>,
    /// The index of the chosen destination in the route's `route[]` list.
    pub destination_index: Option<usize>,
    /// The chosen destination's cluster (`outbound|PORT|SUBSET|HOST`).
    pub cluster: Option<&'a Cluster>,
    /// The chosen endpoint, when Weir balances (not for PASSTHROUGH).
    pub endpoint: Option<&'a Endpoint>,
    /// PASSTHROUGH: forward to the original destination, no balancing.
    pub original_destination: bool,
    /// Fault delay to apply before forwarding (already drawn).
    pub delay: Option<Duration>,
    /// Mirrors to copy the request to (already drawn).
    pub mirrors: Mirrors<'a>,
    /// Request header edits (route level merged with destination level; destination wins).
    pub request_headers: &'a HeaderOps,
    /// Response header edits (likewise).
    pub response_headers: &'a HeaderOps,
    /// The path to send upstream (or the redirect's path).
    pub upstream_path: UpstreamPath<'a>,
    /// The authority to send upstream when rewritten; `None` keeps the request's.
    pub upstream_authority: Option<&'a str>,
    /// The redirect target, for [`Outcome::Redirect`].
    pub location: Option<Location<'a>>,
    /// Consistent-hash details, when the endpoint was chosen by hash.
    pub hash: Option<HashUse<'a>>,
    /// A cookie the response must set.
    pub set_cookie: Option<SetCookie<'a>>,
    /// CORS response headers, when the route has a `corsPolicy` and the
    /// request's origin is allowed. A preflight is answered locally:
    /// [`Outcome::DirectResponse`], status 200, with these headers.
    pub cors: Option<CorsHeaders<'a>>,
}

/// Shared empty edits for decisions without a destination (an empty boxed
/// slice owns no heap memory).
static EMPTY_OPS: std::sync::LazyLock<HeaderOps> = std::sync::LazyLock::new(HeaderOps::default);

/// A 404 no-route answer: a starting value for a decision kept in place
/// and filled by [`Table::decide_into`](crate::Table::decide_into).
impl Default for Decision<'_> {
    fn default() -> Self {
        Decision::local(Outcome::NoRoute, 404, "")
    }
}

impl<'a> Decision<'a> {
    /// A local answer with no route behind it (404 / 503 before any route).
    pub(crate) fn local(outcome: Outcome, status: u16, path: &'a str) -> Self {
        Decision {
            outcome,
            status,
            grpc_status: None,
            route: None,
            l4_rule: None,
            destination_index: None,
            cluster: None,
            endpoint: None,
            original_destination: false,
            delay: None,
            mirrors: Mirrors::default(),
            request_headers: &EMPTY_OPS,
            response_headers: &EMPTY_OPS,
            upstream_path: UpstreamPath::Unchanged(path),
            upstream_authority: None,
            location: None,
            hash: None,
            set_cookie: None,
            cors: None,
        }
    }

    /// The route's timeout (`None`: disabled, Istio's default).
    pub fn timeout(&self) -> Option<Duration> {
        self.route.and_then(|r| r.rule.timeout)
    }

    /// The route's retry policy (Istio's default when the route sets none).
    pub fn retries(&self) -> Option<&'a RetryPolicy> {
        self.route.map(|r| &r.rule.retries)
    }

    /// The redirect, for [`Outcome::Redirect`].
    pub fn redirect(&self) -> Option<&'a Redirect> {
        self.route.and_then(|r| r.rule.redirect())
    }

    /// The direct response's body, for [`Outcome::DirectResponse`].
    pub fn body(&self) -> &'a [u8] {
        match (self.outcome, self.route) {
            (Outcome::DirectResponse, Some(r)) => r.rule.direct_body().unwrap_or(&[]),
            _ => &[],
        }
    }
}
