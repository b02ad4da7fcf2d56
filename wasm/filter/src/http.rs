//! The HTTP context: one per request, holding a cheap handle to the root's
//! [`Shared`] state (an `Rc`) and the request's own state only. Each
//! request is decided in `on_http_request_headers`; Envoy is told what to do
//! through headers, local replies, pauses and `dispatch_http_call`.

use crate::filter::{log, now_millis, now_nanos, Delayed, Shared};
use crate::header_map::HeaderMap;
use crate::reply::{abort_reply, finish_delay, local_reply};
use crate::router_headers::{self, set_request, Failure};
use crate::settings::{Settings, UpstreamMode, ORIGINAL_DST_HEADER};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext};
use proxy_wasm::types::{Action, LogLevel, MapType};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;
use weir_core::compile::{Cluster, LbKind, RequestOutcome, Rule};
use weir_core::decision::Outcome;
use weir_core::{Decision, Headers, Request, Source};

/// Per-request state.
pub(crate) struct Http {
    id: u32,
    shared: Option<Rc<Shared>>,
    /// The rule and destination whose response header edits apply.
    response_ops: Option<(Arc<Rule>, usize)>,
    set_cookie: Option<String>,
    /// CORS headers for the response (the request's origin is allowed).
    cors_headers: Vec<(&'static str, String)>,
    /// Weir answered locally: leave the response alone.
    local_reply: bool,
    /// The dispatch standing in for a delay timer.
    delay_token: Option<u32>,
    then_abort: Option<(u16, Option<u32>)>,
    /// The request counted in flight on the cluster and endpoint Weir chose
    /// (`Table::begin_indices`), until `on_log`.
    in_flight: Option<InFlight>,
    /// What the metrics recorded in `on_log` need of the decision.
    decided: Option<crate::recorder::Decided>,
}

/// Feedback for one routed request: what `Table::finish_indices` needs.
#[derive(Debug, Clone, Copy)]
struct InFlight {
    indices: (Option<u32>, Option<u32>),
    /// The cluster has outlier detection: the outcome matters.
    outlier: bool,
    /// What the response headers said, if they came.
    outcome: Option<RequestOutcome>,
}

/// Whether a cluster's policy reads in-flight counts or outcomes. Istio's
/// default balancer is LEAST_REQUEST, so most do.
pub(crate) fn needs_feedback(c: &Cluster) -> bool {
    let p = &c.policy;
    p.outlier.is_some()
        || p.lb == LbKind::LeastRequest
        || p.pool.http2_max_requests.is_some()
        || (p.pool.max_connections.is_some() && p.pool.http1_max_pending_requests.is_some())
}

/// How the request ended at the upstream, from Envoy's `response.code_details`
/// (and the `:status` when response headers came): `None` when the endpoint
/// was never reached or not to blame (a local reply, the client went away).
fn upstream_outcome(status: Option<u16>) -> Option<RequestOutcome> {
    let details = hostcalls::get_property(vec!["response", "code_details"])
        .ok()
        .flatten()
        .unwrap_or_default();
    crate::outcome::classify(status, &details)
}

/// A socket address property of the stream (`source.address`, …).
pub(crate) fn address(path: &[&str]) -> Option<SocketAddr> {
    let raw = hostcalls::get_property(path.to_vec()).ok()??;
    std::str::from_utf8(&raw).ok()?.parse().ok()
}

/// `host[:port]` → `host-shadow[:port]`, as Envoy names shadow requests.
fn shadow_authority(authority: &str) -> String {
    let (host, port) = weir_core::request::split_host_port(authority);
    let mut out = String::with_capacity(authority.len() + 7);
    out.push_str(host);
    out.push_str("-shadow");
    if let Some(p) = port {
        let _ = write!(out, ":{p}");
    }
    out
}

impl Context for Http {
    fn on_http_call_response(
        &mut self,
        token_id: u32,
        _headers: usize,
        _body: usize,
        _trailers: usize,
    ) {
        if self.delay_token == Some(token_id) {
            self.delay_token = None;
            if let Some(shared) = &self.shared {
                finish_delay(&shared.settings, self.then_abort.take());
            }
        }
    }
}

impl HttpContext for Http {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let Some(shared) = self.shared.clone() else {
            log(LogLevel::Error, "weir: request on an unconfigured plugin");
            return self.internal_error("unconfigured");
        };
        if shared.settings.noop {
            return Action::Continue;
        }
        match self.decide_and_act(&shared) {
            Ok(action) => action,
            Err(Failure(what, status)) => {
                log(LogLevel::Error, &format!("weir: {what} failed: {status:?}"));
                self.internal_error(what)
            }
        }
    }

    fn on_http_response_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        if self.local_reply {
            return Action::Continue;
        }
        if let Some(f) = self.in_flight.as_mut().filter(|f| f.outlier) {
            let status = hostcalls::get_map_value(MapType::HttpResponseHeaders, ":status")
                .ok()
                .flatten()
                .and_then(|s| s.parse().ok());
            let mut outcome = upstream_outcome(status);
            if matches!(outcome, Some(RequestOutcome::Status(_))) {
                // Envoy retried (or fell back) to another endpoint: the one
                // Weir chose did not give this answer, it failed before.
                if let (Some(table), (Some(ci), Some(ei))) = (
                    self.shared
                        .as_ref()
                        .and_then(|s| s.settings.table.as_deref()),
                    f.indices,
                ) {
                    let chosen = table.endpoints(ci as usize).get(ei as usize);
                    let answered = hostcalls::get_property(vec!["upstream", "address"])
                        .ok()
                        .flatten();
                    if let (Some(chosen), Some(answered)) = (chosen, answered) {
                        if chosen.address.as_bytes() != answered.as_slice() {
                            outcome = Some(RequestOutcome::ConnectFailure);
                        }
                    }
                }
            }
            f.outcome = outcome;
        }
        if let Some((rule, di)) = &self.response_ops {
            if let Some(dest) = rule.destinations().get(*di) {
                let ops = &dest.response_headers;
                for name in ops.remove.iter() {
                    let _ = hostcalls::remove_map_value(MapType::HttpResponseHeaders, name);
                }
                for (name, value) in ops.set.iter() {
                    let _ =
                        hostcalls::set_map_value(MapType::HttpResponseHeaders, name, Some(value));
                }
                for (name, value) in ops.add.iter() {
                    let _ = hostcalls::add_map_value(MapType::HttpResponseHeaders, name, value);
                }
            }
        }
        if let Some(cookie) = &self.set_cookie {
            let _ = hostcalls::add_map_value(MapType::HttpResponseHeaders, "set-cookie", cookie);
        }
        for (name, value) in &self.cors_headers {
            let _ = hostcalls::set_map_value(MapType::HttpResponseHeaders, name, Some(value));
        }
        Action::Continue
    }

    fn on_log(&mut self) {
        // The request may end (client gone) while it waits out a delay.
        if let Some(shared) = &self.shared {
            if let Ok(mut q) = shared.delayed.try_borrow_mut() {
                q.retain(|d| d.context_id != self.id);
            }
        }
        self.finish_feedback();
        self.record_metrics();
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        // on_log always comes first in Envoy; never leave a count behind.
        if let (Some(f), Some(table)) = (
            self.in_flight.take(),
            self.shared
                .as_ref()
                .and_then(|s| s.settings.table.as_deref()),
        ) {
            table.finish_indices(f.indices, None, 0);
        }
    }
}

impl Http {
    pub(crate) fn new(id: u32, shared: Option<Rc<Shared>>) -> Http {
        Http {
            id,
            shared,
            response_ops: None,
            set_cookie: None,
            cors_headers: Vec::new(),
            local_reply: false,
            delay_token: None,
            then_abort: None,
            in_flight: None,
            decided: None,
        }
    }

    /// Ends the request's in-flight count; with outlier detection, reports
    /// how it went (the response headers' verdict, else what Envoy says
    /// happened: no response headers came).
    fn finish_feedback(&mut self) {
        let Some(f) = self.in_flight.take() else {
            return;
        };
        let Some(table) = self
            .shared
            .as_ref()
            .and_then(|s| s.settings.table.as_deref())
        else {
            return;
        };
        if !f.outlier {
            table.finish_indices(f.indices, None, 0);
            return;
        }
        let outcome = f.outcome.or_else(|| upstream_outcome(None));
        table.finish_indices(f.indices, outcome, now_millis());
    }

    /// Istio's metrics for the request just logged (`telemetry.metrics`).
    fn record_metrics(&mut self) {
        let Some(decided) = self.decided.take() else {
            return;
        };
        if let Some(shared) = &self.shared {
            if let (Some(r), Some(table)) = (&shared.recorder, shared.settings.table.as_deref()) {
                r.record(table, &decided);
            }
        }
    }

    fn internal_error(&mut self, what: &str) -> Action {
        self.local_reply = true;
        let body = format!("weir: internal error: {what}\n");
        let _ = hostcalls::send_http_response(
            500,
            vec![("x-weir-outcome", "internal_error")],
            Some(body.as_bytes()),
        );
        Action::Pause
    }

    fn decide_and_act(&mut self, shared: &Shared) -> Result<Action, Failure> {
        let settings = &shared.settings;
        let Some(table) = settings.table.as_deref() else {
            return Ok(self.internal_error("no table"));
        };
        let headers = HeaderMap::read(MapType::HttpRequestHeaders)
            .map_err(|s| Failure("read request headers", s))?;
        let view = &headers;
        let (remote, local) = if settings.needs_addresses {
            (
                address(&["source", "address"]),
                address(&["destination", "address"]),
            )
        } else {
            (None, None)
        };
        let labels = settings.source_label_pairs();
        let authority = view.get(":authority").unwrap_or("");
        let req = Request {
            authority,
            method: view.get(":method").unwrap_or("GET"),
            path: view.get(":path").unwrap_or("/"),
            scheme: view.get(":scheme").unwrap_or("http"),
            port: settings.port,
            remote,
            source: &Source {
                gateway: settings.gateway.as_deref(),
                local,
                namespace: &settings.source_namespace,
                labels: &labels,
            },
            headers: view,
        };
        if shared.outlier {
            // Ejections end when the table's clock passes them.
            table.advance_clock(now_millis());
        }
        let entropy = shared.next_entropy();
        let d = table.decide(&req, entropy);
        if shared.recorder.is_some() {
            self.decided = Some(crate::recorder::Decided::new(&d, view.get("content-type")));
        }
        if settings.telemetry.request_id {
            if let Some(id) = weir_core::telemetry::RequestId::to_set(view, entropy) {
                set_request(
                    weir_core::telemetry::request_id::REQUEST_ID_HEADER,
                    id.as_str(),
                )?;
            }
        }
        match d.outcome {
            Outcome::Route => self.forward(shared, &d, &headers, authority),
            Outcome::FaultAbort => {
                let abort = (d.status, d.grpc_status);
                match d.delay {
                    Some(delay) => Ok(self.pause_for(shared, delay, Some(abort))),
                    None => {
                        self.local_reply = true;
                        abort_reply(settings, abort.0, abort.1);
                        Ok(Action::Pause)
                    }
                }
            }
            Outcome::Redirect => {
                self.local_reply = true;
                let location = d.location.map(|l| l.to_string()).unwrap_or_default();
                local_reply(
                    settings,
                    d.status,
                    d.outcome,
                    &[("location", &location)],
                    b"",
                );
                Ok(Action::Pause)
            }
            Outcome::DirectResponse => {
                self.local_reply = true;
                let ops = d.response_headers;
                let mut extra: Vec<(&str, &str)> = ops
                    .set
                    .iter()
                    .chain(ops.add.iter())
                    .map(|(k, v)| (&**k, &**v))
                    .collect();
                // A CORS preflight from an allowed origin is answered here.
                if let Some(cors) = d.cors {
                    cors.for_each(|name, value| extra.push((name, value)));
                }
                local_reply(settings, d.status, d.outcome, &extra, d.body());
                Ok(Action::Pause)
            }
            Outcome::NoRoute => {
                self.local_reply = true;
                local_reply(settings, 404, d.outcome, &[], b"weir: no route\n");
                Ok(Action::Pause)
            }
            Outcome::NoCluster | Outcome::NoHealthyUpstream | Outcome::Overflow => {
                self.local_reply = true;
                let body = format!("weir: {}\n", d.outcome);
                local_reply(settings, 503, d.outcome, &[], body.as_bytes());
                Ok(Action::Pause)
            }
        }
    }

    /// Hands a routed request to Envoy: header edits, rewrites, timeouts and
    /// retries, the upstream (cluster and endpoint headers), mirrors, delay.
    fn forward(
        &mut self,
        shared: &Shared,
        d: &Decision<'_>,
        headers: &HeaderMap,
        authority: &str,
    ) -> Result<Action, Failure> {
        let settings = &shared.settings;
        let ops = d.request_headers;
        for name in ops.remove.iter() {
            hostcalls::remove_map_value(MapType::HttpRequestHeaders, name)
                .map_err(|s| Failure("remove request header", s))?;
        }
        for (name, value) in ops.set.iter() {
            set_request(name, value)?;
        }
        for (name, value) in ops.add.iter() {
            hostcalls::add_map_value(MapType::HttpRequestHeaders, name, value)
                .map_err(|s| Failure("add request header", s))?;
        }
        let mut path = String::new();
        if d.upstream_path.is_rewritten() {
            let _ = d.upstream_path.write_to(&mut path);
            set_request(":path", &path)?;
        }
        let authority = match d.upstream_authority {
            Some(a) => {
                set_request(":authority", a)?;
                a
            }
            None => authority,
        };
        router_headers::set_timeouts(settings, d)?;
        router_headers::set_log_headers(settings, d)?;

        // Steering headers last, so neither the client nor a header edit can
        // point the request elsewhere.
        let (cluster_name, endpoint) = match d.cluster {
            Some(c) => (&*c.name, d.endpoint.map(|e| &*e.address)),
            None => return Ok(self.internal_error("routed without a cluster")),
        };
        let cluster_value = match (settings.upstream, &settings.original_dst_cluster) {
            (UpstreamMode::OriginalDst, Some(odst)) => odst.as_str(),
            _ => cluster_name,
        };
        set_request(&settings.cluster_header, cluster_value)?;
        let client_sent = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
        match endpoint {
            Some(ep) if !d.original_destination => set_request(&settings.endpoint_header, ep)?,
            _ => {
                if client_sent(&settings.endpoint_header) {
                    hostcalls::remove_map_value(
                        MapType::HttpRequestHeaders,
                        &settings.endpoint_header,
                    )
                    .map_err(|s| Failure("remove endpoint header", s))?;
                }
            }
        }
        if settings.endpoint_header != ORIGINAL_DST_HEADER && client_sent(ORIGINAL_DST_HEADER) {
            hostcalls::remove_map_value(MapType::HttpRequestHeaders, ORIGINAL_DST_HEADER)
                .map_err(|s| Failure("remove x-envoy-original-dst-host", s))?;
        }
        // No explicit `clear_route_cache` (a foreign-function host call per
        // request): Envoy clears the route cache itself whenever a filter of
        // ABI 0.2.1 (this SDK's) edits request headers, and Weir has just set
        // the cluster header. Envoy keeps that only for ABI <= 0.2.1 (its
        // changelog), so a test pins the module's ABI (tests-pkg, abi.rs).

        if !d.mirrors.is_empty() {
            let path = if d.upstream_path.is_rewritten() {
                path.as_str()
            } else {
                headers.get(":path").unwrap_or("/")
            };
            self.dispatch_mirrors(settings, d, headers, authority, path);
        }

        if let (Some(route), Some(di)) = (d.route, d.destination_index) {
            if !d.response_headers.is_empty() {
                self.response_ops = Some((Arc::clone(&route.rule), di));
            }
        }
        if let Some(cookie) = &d.set_cookie {
            self.set_cookie = Some(cookie.to_string());
        }
        if let Some(cors) = d.cors {
            cors.for_each(|name, value| self.cors_headers.push((name, value.to_string())));
        }
        // Count the request in flight on the cluster and endpoint Weir chose
        // (least request, pool limits, outlier detection): per VM, i.e. per
        // Envoy worker; each worker sees only its own requests.
        if let (Some(c), Some(table)) = (d.cluster, settings.table.as_deref()) {
            if needs_feedback(c) {
                self.in_flight = Some(InFlight {
                    indices: table.begin_indices(d),
                    outlier: c.policy.outlier.is_some(),
                    outcome: None,
                });
            }
        }
        match d.delay {
            Some(delay) => Ok(self.pause_for(shared, delay, None)),
            None => Ok(Action::Continue),
        }
    }

    /// Fire-and-forget shadows: the request's headers, `:authority` with
    /// `-shadow`, no body. Failures are logged, never fatal.
    fn dispatch_mirrors(
        &self,
        settings: &Settings,
        d: &Decision<'_>,
        headers: &HeaderMap,
        authority: &str,
        path: &str,
    ) {
        let shadow = shadow_authority(authority);
        let mut out: Vec<(&str, &str)> = Vec::with_capacity(headers.len() + 3);
        out.push((":authority", &shadow));
        out.push((":path", path));
        for (name, value) in headers.iter() {
            let skip = matches!(
                name,
                ":authority" | ":path" | "content-length" | "transfer-encoding"
            ) || settings.is_steering(name);
            if skip {
                continue;
            }
            if let Ok(v) = std::str::from_utf8(value) {
                out.push((name, v));
            }
        }
        let timeout = d
            .timeout()
            .unwrap_or(Duration::from_millis(settings.mirror_timeout_ms));
        for m in d.mirrors.iter() {
            let cluster = format!("{}{}", settings.mirror_cluster_prefix, m.cluster_name);
            if let Err(e) =
                hostcalls::dispatch_http_call(&cluster, out.clone(), None, vec![], timeout)
            {
                log(
                    LogLevel::Warn,
                    &format!("weir: mirror to cluster {cluster} failed: {e:?}"),
                );
            }
        }
    }

    /// Holds the request for `delay`: a dispatch that times out, or the tick.
    fn pause_for(
        &mut self,
        shared: &Shared,
        delay: Duration,
        then_abort: Option<(u16, Option<u32>)>,
    ) -> Action {
        let settings = &shared.settings;
        if then_abort.is_some() {
            self.local_reply = true;
        }
        if let Some(cluster) = &settings.delay_cluster {
            let headers = vec![
                (":method", "GET"),
                (":path", "/weir-delay"),
                (":authority", "weir-delay"),
            ];
            match hostcalls::dispatch_http_call(cluster, headers, None, vec![], delay) {
                Ok(token) => {
                    self.delay_token = Some(token);
                    self.then_abort = then_abort;
                    return Action::Pause;
                }
                Err(e) => log(
                    LogLevel::Warn,
                    &format!("weir: delay via cluster {cluster} failed ({e:?}); using the tick"),
                ),
            }
        }
        let due_nanos = now_nanos().saturating_add(delay.as_nanos() as u64);
        shared.delayed.borrow_mut().push(Delayed {
            context_id: self.id,
            due_nanos,
            then_abort,
        });
        if !shared.ticking.get() {
            match hostcalls::set_tick_period(Duration::from_millis(settings.tick_ms)) {
                Ok(()) => shared.ticking.set(true),
                Err(e) => {
                    log(
                        LogLevel::Error,
                        &format!("weir: cannot start the delay tick: {e:?}"),
                    );
                    shared
                        .delayed
                        .borrow_mut()
                        .retain(|p| p.context_id != self.id);
                    return Action::Continue;
                }
            }
        }
        Action::Pause
    }
}
