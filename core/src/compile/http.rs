//! HTTP rules: a VirtualService's `http[]` compiled for one listener, with
//! their destinations, mirrors and actions.

use super::matches::*;
use super::*;
use super::{Builder, CompiledRoutes};
use crate::balance::weighted::WeightedChoice;
use crate::config::model::{
    self, CorsPolicy, Destination, HeaderOperations, HttpFaultInjection, HttpRetry, HttpRoute,
    VirtualServiceSpec,
};
use crate::config::names::{parse_duration, resolve_gateway};
use crate::config::Resource;
use crate::route::regex::Regexes;
use crate::route::{RouteMatch, StringMatcher};
use crate::validate::{GRPC_STATUSES, REDIRECT_CODES};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

impl<'c> Builder<'c> {
    /// Compiles one VirtualService's http rules for a listener (`gateway` is
    /// `mesh` or `ns/name`). Stops after the first catch-all, as istiod does.
    pub(crate) fn http_routes(
        &mut self,
        vs: &Resource<VirtualServiceSpec>,
        gateway: &str,
    ) -> CompiledRoutes {
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
                        let compiled = compile_match(m, !m.gateways.is_empty(), &mut self.regexes);
                        let matcher = match compiled {
                            Ok(matcher) => matcher,
                            Err(why) => {
                                self.unbuildable(vs, &format!("spec.http[{i}].match[{j}]"), why);
                                continue;
                            }
                        };
                        let block_catch_all = m.is_catch_all(!m.gateways.is_empty());
                        catch_all |= block_catch_all;
                        routes.push(Route {
                            rule: rule.clone(),
                            match_index: Some(j),
                            matcher,
                            catch_all: block_catch_all,
                        });
                    }
                }
                _ => {
                    catch_all = true;
                    routes.push(Route {
                        rule,
                        match_index: None,
                        matcher: RouteMatch::default(),
                        catch_all: true,
                    });
                }
            }
            if catch_all {
                break;
            }
        }
        routes
    }

    pub(crate) fn rule(
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
                    .map(|d| (&d.destination, d.weight, d.headers.as_deref())),
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
        let field = format!("spec.http[{index}]");
        let rewrite_regex = match http
            .rewrite
            .as_ref()
            .and_then(|r| r.uri_regex_rewrite.as_ref())
        {
            Some(rr) => match (rr.pattern.as_deref(), rr.rewrite.as_deref()) {
                (Some(pattern), Some(rewrite)) => match self.regexes.search(pattern) {
                    Ok(re) => Some((re, re2_substitution(rewrite).into())),
                    Err(why) => {
                        let at = format!("{field}.rewrite.uriRegexRewrite.match");
                        self.unbuildable(vs, &at, format!("invalid regex {pattern:?}: {why}"));
                        None
                    }
                },
                _ => None,
            },
            None => None,
        };
        let cors = match http
            .cors_policy
            .as_ref()
            .map(|c| compile_cors(c, &mut self.regexes))
        {
            Some(Err(why)) => {
                self.unbuildable(vs, &format!("{field}.corsPolicy.allowOrigins"), why);
                None
            }
            Some(Ok(cors)) => Some(cors),
            None => None,
        };
        let fault = match http.fault.as_deref().map(compile_fault) {
            Some(Err(why)) => {
                self.unbuildable(vs, &format!("{field}.fault.delay.fixedDelay"), why);
                None
            }
            Some(Ok(fault)) => Some(fault),
            None => None,
        };
        let consistent_hash = matches!(&action, RuleAction::Forward { destinations, .. }
            if destinations.iter().any(|d| self.uses_hash(&d.cluster)));
        Some(Rule {
            namespace: ns.into(),
            virtual_service: vs.name.clone().into(),
            index: Some(index),
            name: http.name.clone().map(Into::into),
            action,
            fault,
            timeout: http
                .timeout
                .as_deref()
                .and_then(|t| parse_duration(t).ok())
                .filter(|d| !d.is_zero()),
            retries: compile_retries(http.retries.as_deref(), consistent_hash),
            mirrors: mirrors.into(),
            rewrite_uri: http
                .rewrite
                .as_ref()
                .and_then(|r| r.uri.clone())
                .map(Into::into),
            rewrite_regex,
            cors,
            hits: AtomicU64::new(0),
        })
    }

    /// A route's weighted destinations with their clusters and header edits
    /// (route level `(request, response, authority)` merged in; the
    /// destination level wins). A lone destination takes all traffic
    /// whatever its weight; zero weights stay as ranges never picked.
    pub(crate) fn route_destinations<'d>(
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

    pub(crate) fn uses_hash(&self, choice: &ClusterChoice) -> bool {
        let hashes = |id: u32| self.cluster_at(id).policy.hash.is_some();
        match choice {
            ClusterChoice::Fixed(id) => hashes(*id),
            ClusterChoice::ByPort(list) => list.iter().any(|&(_, id)| hashes(id)),
            ClusterChoice::Missing(_) => false,
        }
    }

    pub(crate) fn mirror(&mut self, dest: &Destination, ns: &str, percent: f64) -> Mirror {
        let (host, choice) = self.cluster_choice(dest, ns);
        let (cluster, name) = match choice {
            ClusterChoice::Fixed(id) => (id, self.cluster_at(id).name.clone()),
            ClusterChoice::ByPort(list) => {
                let id = list[0].1;
                (id, self.cluster_at(id).name.clone())
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
}

/// Istio percentage → parts per million, truncated as istiod does
/// (`translatePercentToFractionalPercent`).
pub(crate) fn per_million(percent: f64) -> u32 {
    if percent.is_nan() || percent <= 0.0 {
        0
    } else {
        ((percent * 10_000.0) as u32).min(1_000_000)
    }
}

/// A fault compiled; a delay without `fixedDelay` (only
/// `exponentialDelay`, which validation refuses) is no delay.
///
/// # Errors
/// A `fixedDelay` that is not a duration.
pub(crate) fn compile_fault(f: &HttpFaultInjection) -> Result<Fault, String> {
    let delay = match f.delay.as_ref() {
        Some(d) => match d.fixed_delay.as_deref() {
            Some(text) => {
                let dur = parse_duration(text)?;
                let pct = d
                    .percentage
                    .map(|p| p.value)
                    .or(d.percent.map(|p| p as f64))
                    .unwrap_or(0.0);
                Some((dur, per_million(pct)))
            }
            None => None,
        },
        None => None,
    };
    Ok(Fault {
        delay,
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
    })
}

pub(crate) fn compile_retries(r: Option<&HttpRetry>, consistent_hash: bool) -> RetryPolicy {
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

/// A CORS policy compiled, its origin regexes taken from `regexes`.
///
/// # Errors
/// Why an origin's regex cannot be built.
pub(crate) fn compile_cors(c: &CorsPolicy, regexes: &mut Regexes) -> Result<Cors, String> {
    let mut origins: Vec<StringMatcher> = Vec::with_capacity(c.allow_origins.len());
    for m in &c.allow_origins {
        origins.extend(string_matcher(m, false, regexes)?);
    }
    origins.extend(
        c.allow_origin
            .iter()
            .map(|o| StringMatcher::Exact(o.as_str().into())),
    );
    Ok(Cors {
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
    })
}

/// Istio's `\1` substitution groups → the regex crate's `${1}`.
pub(crate) fn re2_substitution(rewrite: &str) -> String {
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

pub(crate) fn ops(o: Option<&HeaderOperations>) -> HeaderOps {
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
pub(crate) fn take_authority(mut ops: HeaderOps) -> (HeaderOps, Option<String>) {
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
