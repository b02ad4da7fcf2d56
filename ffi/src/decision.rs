//! `weir_decision`: a reusable answer object, and its flat C view.

use crate::cast;
use crate::error::weir_result;
use crate::panic;
use crate::slice::{weir_bytes, weir_header, weir_str};
use weir_core::compile::{HeaderOps, RouteDestination};
use weir_core::{Decision, Outcome};

/// The kind of answer (numbers match `weir_core::Outcome`, never reused).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum weir_outcome {
    /// Forward upstream to the destination (and endpoint, when Weir balances).
    Route = 0,
    /// Answer with a redirect (`status`, `location`).
    Redirect = 1,
    /// Answer with a fixed `status` and `body`.
    DirectResponse = 2,
    /// Fault injection: answer with `status` (and `grpc_status`) without calling upstream.
    FaultAbort = 3,
    /// No virtual host or route matched: 404 (Envoy NR).
    NoRoute = 4,
    /// The destination has no cluster (unknown host or subset): 503 (NC).
    NoCluster = 5,
    /// The cluster has no endpoint to send to: 503 (UH).
    NoHealthyUpstream = 6,
    /// The destination is over its connection-pool limits: 503 (UO).
    Overflow = 7,
}

impl From<Outcome> for weir_outcome {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Route => weir_outcome::Route,
            Outcome::Redirect => weir_outcome::Redirect,
            Outcome::DirectResponse => weir_outcome::DirectResponse,
            Outcome::FaultAbort => weir_outcome::FaultAbort,
            Outcome::NoRoute => weir_outcome::NoRoute,
            Outcome::NoCluster => weir_outcome::NoCluster,
            Outcome::NoHealthyUpstream => weir_outcome::NoHealthyUpstream,
            Outcome::Overflow => weir_outcome::Overflow,
        }
    }
}

/// One mirror the request is copied to (percentage already drawn).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_mirror {
    /// The mirror's cluster, `outbound|PORT|SUBSET|HOST`.
    pub cluster: weir_str,
    /// The mirror's host.
    pub host: weir_str,
    /// The configured share, parts per million.
    pub per_million: u32,
}

/// Everything a proxy needs from one decision, flat.
///
/// Lifetime: every pointer in it (strings, arrays) is valid while the caller
/// holds the `weir_snapshot` the decision was made on AND until the next
/// decide into (or free of) the `weir_decision` that produced it. Copy what
/// must live longer. Absent strings are empty (never NULL pointers); absent
/// numbers have a `has_*` flag.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_decision_view {
    /// The kind of answer.
    pub outcome: weir_outcome,
    /// Status of a local answer (404, 503, redirect code, abort status, direct
    /// response status); 0 for `WEIR_OUTCOME_ROUTE` and for TCP.
    pub status: u16,
    /// True for a gRPC fault abort (answer HTTP 200 with `grpc-status`).
    pub has_grpc_status: bool,
    /// The `grpc-status` to answer with.
    pub grpc_status: u32,
    /// True when a route (an `http[]`, `tcp[]` or `tls[]` rule) matched.
    pub has_route: bool,
    /// The matched rule's VirtualService namespace.
    pub route_namespace: weir_str,
    /// The matched rule's VirtualService name.
    pub route_virtual_service: weir_str,
    /// `http[].name`, or empty.
    pub route_name: weir_str,
    /// True when `rule_index` is set (false for a service's default route).
    pub has_rule_index: bool,
    /// The rule's position in `http[]` (or `tcp[]`/`tls[]`).
    pub rule_index: usize,
    /// True when a weighted destination was chosen.
    pub has_destination: bool,
    /// The chosen destination's index in the rule's `route[]`.
    pub destination_index: usize,
    /// The destination's cluster, `outbound|PORT|SUBSET|HOST`; empty when none.
    pub cluster: weir_str,
    /// The destination's host (FQDN).
    pub destination_host: weir_str,
    /// The destination's subset, or empty.
    pub destination_subset: weir_str,
    /// The destination cluster's port; 0 when there is no cluster.
    pub destination_port: u16,
    /// The chosen endpoint `ip:port` (`[v6]:port`); empty when none.
    pub endpoint: weir_str,
    /// PASSTHROUGH: forward to the original destination, no endpoint chosen.
    pub original_destination: bool,
    /// True when a fault delay applies.
    pub has_delay: bool,
    /// The delay before forwarding, nanoseconds.
    pub delay_ns: u64,
    /// True when the route has a timeout (Istio's default: none).
    pub has_timeout: bool,
    /// The route timeout, nanoseconds.
    pub timeout_ns: u64,
    /// True for HTTP routes (the retry fields below are set, with Istio's
    /// defaults when the route sets none).
    pub has_retries: bool,
    /// Retries allowed (0 disables).
    pub retry_attempts: u32,
    /// True when a per-try timeout is set.
    pub has_retry_per_try_timeout: bool,
    /// Per-try timeout, nanoseconds.
    pub retry_per_try_timeout_ns: u64,
    /// Envoy `retry_on` conditions, comma separated.
    pub retry_on: weir_str,
    /// Retriable status codes.
    pub retriable_status_codes: *const u16,
    /// Number of retriable status codes.
    pub retriable_status_codes_len: usize,
    /// Mirrors that fire for this request, in configuration order.
    pub mirrors: *const weir_mirror,
    /// Number of mirrors.
    pub mirrors_len: usize,
    /// Request headers to set (overwrite). Apply remove, then set, then add.
    pub request_headers_set: *const weir_header,
    /// Number of request headers to set.
    pub request_headers_set_len: usize,
    /// Request headers to append.
    pub request_headers_add: *const weir_header,
    /// Number of request headers to append.
    pub request_headers_add_len: usize,
    /// Request headers to remove.
    pub request_headers_remove: *const weir_str,
    /// Number of request headers to remove.
    pub request_headers_remove_len: usize,
    /// Response headers to set.
    pub response_headers_set: *const weir_header,
    /// Number of response headers to set.
    pub response_headers_set_len: usize,
    /// Response headers to append.
    pub response_headers_add: *const weir_header,
    /// Number of response headers to append.
    pub response_headers_add_len: usize,
    /// Response headers to remove.
    pub response_headers_remove: *const weir_str,
    /// Number of response headers to remove.
    pub response_headers_remove_len: usize,
    /// The path to send upstream (with query), after any rewrite; for a
    /// redirect, the redirect's path. Empty for TCP.
    pub upstream_path: weir_str,
    /// True when `upstream_path` differs from the request's path by a rewrite.
    pub path_rewritten: bool,
    /// The authority to send upstream when rewritten; empty keeps the request's.
    pub upstream_authority: weir_str,
    /// The redirect's `Location`, for `WEIR_OUTCOME_REDIRECT`; else empty.
    pub location: weir_str,
    /// The direct response's body, for `WEIR_OUTCOME_DIRECT_RESPONSE`; else empty.
    pub body: weir_bytes,
    /// A `Set-Cookie` value the response must carry (consistent hashing on a
    /// cookie with a ttl), or empty.
    pub set_cookie: weir_str,
    /// True when the endpoint was chosen by a consistent hash.
    pub has_hash: bool,
    /// The 64-bit hash the ring or Maglev table was looked up with.
    pub hash: u64,
}

impl weir_decision_view {
    fn empty() -> Self {
        weir_decision_view {
            outcome: weir_outcome::NoRoute,
            status: 0,
            has_grpc_status: false,
            grpc_status: 0,
            has_route: false,
            route_namespace: weir_str::EMPTY,
            route_virtual_service: weir_str::EMPTY,
            route_name: weir_str::EMPTY,
            has_rule_index: false,
            rule_index: 0,
            has_destination: false,
            destination_index: 0,
            cluster: weir_str::EMPTY,
            destination_host: weir_str::EMPTY,
            destination_subset: weir_str::EMPTY,
            destination_port: 0,
            endpoint: weir_str::EMPTY,
            original_destination: false,
            has_delay: false,
            delay_ns: 0,
            has_timeout: false,
            timeout_ns: 0,
            has_retries: false,
            retry_attempts: 0,
            has_retry_per_try_timeout: false,
            retry_per_try_timeout_ns: 0,
            retry_on: weir_str::EMPTY,
            retriable_status_codes: [].as_ptr(),
            retriable_status_codes_len: 0,
            mirrors: std::ptr::NonNull::dangling().as_ptr(),
            mirrors_len: 0,
            request_headers_set: std::ptr::NonNull::dangling().as_ptr(),
            request_headers_set_len: 0,
            request_headers_add: std::ptr::NonNull::dangling().as_ptr(),
            request_headers_add_len: 0,
            request_headers_remove: std::ptr::NonNull::dangling().as_ptr(),
            request_headers_remove_len: 0,
            response_headers_set: std::ptr::NonNull::dangling().as_ptr(),
            response_headers_set_len: 0,
            response_headers_add: std::ptr::NonNull::dangling().as_ptr(),
            response_headers_add_len: 0,
            response_headers_remove: std::ptr::NonNull::dangling().as_ptr(),
            response_headers_remove_len: 0,
            upstream_path: weir_str::EMPTY,
            path_rewritten: false,
            upstream_authority: weir_str::EMPTY,
            location: weir_str::EMPTY,
            body: weir_bytes::default(),
            set_cookie: weir_str::EMPTY,
            has_hash: false,
            hash: 0,
        }
    }
}

/// Header edits flattened into reusable arrays.
#[derive(Debug, Default)]
struct OpsBuf {
    set: Vec<weir_header>,
    add: Vec<weir_header>,
    remove: Vec<weir_str>,
}

impl OpsBuf {
    fn fill(&mut self, ops: &HeaderOps) {
        self.set.clear();
        self.add.clear();
        self.remove.clear();
        self.set
            .extend(ops.set.iter().map(|(n, v)| weir_header::new(n, v)));
        self.add
            .extend(ops.add.iter().map(|(n, v)| weir_header::new(n, v)));
        self.remove
            .extend(ops.remove.iter().map(|n| weir_str::new(n)));
    }
}

/// A reusable decision: the caller makes one per thread and decides into it
/// again and again; its buffers keep their capacity, so deciding allocates
/// nothing once warm.
///
/// Thread safety: not synchronised; one thread at a time.
pub struct weir_decision {
    valid: bool,
    view: weir_decision_view,
    upstream_path: String,
    location: String,
    set_cookie: String,
    mirrors: Vec<weir_mirror>,
    request_ops: OpsBuf,
    response_ops: OpsBuf,
    /// Scratch for the request's labels as `&str` pairs; empty between calls.
    labels: Vec<(&'static str, &'static str)>,
    /// The last decision with its request-borrowed parts (path, location)
    /// cleared: what remains borrows the snapshot, which the caller holds.
    /// Used by `weir_feedback_begin`.
    last: Option<Decision<'static>>,
}

impl std::fmt::Debug for weir_decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("weir_decision")
            .field("valid", &self.valid)
            .field("view", &self.view)
            .finish_non_exhaustive()
    }
}

impl weir_decision {
    fn new() -> Self {
        weir_decision {
            valid: false,
            view: weir_decision_view::empty(),
            upstream_path: String::with_capacity(256),
            location: String::with_capacity(256),
            set_cookie: String::with_capacity(64),
            mirrors: Vec::with_capacity(4),
            request_ops: OpsBuf::default(),
            response_ops: OpsBuf::default(),
            labels: Vec::with_capacity(8),
            last: None,
        }
    }

    pub(crate) fn reset(&mut self) {
        self.valid = false;
        self.last = None;
    }

    /// The last decision (table-borrowed parts only), if any.
    pub(crate) fn last(&self) -> Option<&Decision<'static>> {
        self.last.as_ref()
    }

    pub(crate) fn view(&self) -> &weir_decision_view {
        &self.view
    }

    pub(crate) fn take_labels(&mut self) -> Vec<(&'static str, &'static str)> {
        std::mem::take(&mut self.labels)
    }

    pub(crate) fn put_labels(&mut self, labels: Vec<(&'static str, &'static str)>) {
        self.labels = labels;
    }

    /// Renders `d` into this object's buffers and view. Everything `d`
    /// borrows from the request is copied here; what it borrows from the table
    /// is pointed to.
    pub(crate) fn fill(&mut self, d: &Decision<'_>) {
        // Filled in place: the view is ~500 bytes, copies show in profiles.
        self.view = weir_decision_view::empty();
        let v = &mut self.view;
        v.outcome = d.outcome.into();
        v.status = d.status;
        if let Some(g) = d.grpc_status {
            v.has_grpc_status = true;
            v.grpc_status = g;
        }
        let mut destinations: &[RouteDestination] = &[];
        if let Some(route) = d.route {
            let rule = &route.rule;
            v.has_route = true;
            v.route_namespace = weir_str::new(&rule.namespace);
            v.route_virtual_service = weir_str::new(&rule.virtual_service);
            v.route_name = weir_str::new(rule.name.as_deref().unwrap_or(""));
            if let Some(i) = rule.index {
                v.has_rule_index = true;
                v.rule_index = i;
            }
            destinations = rule.destinations();
        } else if let Some(rule) = d.l4_rule {
            v.has_route = true;
            v.route_namespace = weir_str::new(&rule.namespace);
            v.route_virtual_service = weir_str::new(&rule.virtual_service);
            v.has_rule_index = true;
            v.rule_index = rule.index;
            destinations = &rule.destinations;
        }
        if let Some(di) = d.destination_index {
            v.has_destination = true;
            v.destination_index = di;
            if let Some(dest) = destinations.get(di) {
                v.destination_host = weir_str::new(&dest.host);
                v.destination_subset = weir_str::new(&dest.subset);
            }
        }
        if let Some(c) = d.cluster {
            v.cluster = weir_str::new(&c.name);
            v.destination_host = weir_str::new(&c.host);
            v.destination_subset = weir_str::new(&c.subset);
            v.destination_port = c.port;
        }
        if let Some(ep) = d.endpoint {
            v.endpoint = weir_str::new(&ep.address);
        }
        v.original_destination = d.original_destination;
        if let Some(delay) = d.delay {
            v.has_delay = true;
            v.delay_ns = duration_ns(delay);
        }
        if let Some(t) = d.timeout() {
            v.has_timeout = true;
            v.timeout_ns = duration_ns(t);
        }
        if let Some(r) = d.retries() {
            v.has_retries = true;
            v.retry_attempts = r.attempts;
            if let Some(t) = r.per_try_timeout {
                v.has_retry_per_try_timeout = true;
                v.retry_per_try_timeout_ns = duration_ns(t);
            }
            v.retry_on = weir_str::new(&r.retry_on);
            v.retriable_status_codes = r.retriable_status_codes.as_ptr();
            v.retriable_status_codes_len = r.retriable_status_codes.len();
        }
        self.mirrors.clear();
        self.mirrors.extend(d.mirrors.iter().map(|m| weir_mirror {
            cluster: weir_str::new(&m.cluster_name),
            host: weir_str::new(&m.host),
            per_million: m.per_million,
        }));
        v.mirrors = self.mirrors.as_ptr();
        v.mirrors_len = self.mirrors.len();
        self.request_ops.fill(d.request_headers);
        self.response_ops.fill(d.response_headers);
        (v.request_headers_set, v.request_headers_set_len) = raw(&self.request_ops.set);
        (v.request_headers_add, v.request_headers_add_len) = raw(&self.request_ops.add);
        (v.request_headers_remove, v.request_headers_remove_len) = raw(&self.request_ops.remove);
        (v.response_headers_set, v.response_headers_set_len) = raw(&self.response_ops.set);
        (v.response_headers_add, v.response_headers_add_len) = raw(&self.response_ops.add);
        (v.response_headers_remove, v.response_headers_remove_len) = raw(&self.response_ops.remove);
        // Rendering into a String cannot fail; the buffers keep their capacity.
        self.upstream_path.clear();
        let _ = d.upstream_path.write_to(&mut self.upstream_path);
        v.upstream_path = weir_str::new(&self.upstream_path);
        v.path_rewritten = d.upstream_path.is_rewritten();
        v.upstream_authority = weir_str::new(d.upstream_authority.unwrap_or(""));
        self.location.clear();
        if let Some(loc) = &d.location {
            let _ = loc.write_to(&mut self.location);
        }
        v.location = weir_str::new(&self.location);
        v.body = weir_bytes::new(d.body());
        self.set_cookie.clear();
        if let Some(c) = &d.set_cookie {
            let _ = c.write_to(&mut self.set_cookie);
        }
        v.set_cookie = weir_str::new(&self.set_cookie);
        if let Some(h) = &d.hash {
            v.has_hash = true;
            v.hash = h.value;
        }
        self.valid = true;
        let mut kept = *d;
        kept.upstream_path = weir_core::decision::UpstreamPath::Unchanged("");
        kept.location = None;
        // SAFETY: only the lifetime changes. What `kept` still borrows is in
        // the table, which the caller keeps alive by holding the snapshot for
        // as long as it uses this decision (the documented contract).
        self.last = Some(unsafe { std::mem::transmute::<Decision<'_>, Decision<'static>>(kept) });
    }
}

fn raw<T>(v: &[T]) -> (*const T, usize) {
    (v.as_ptr(), v.len())
}

fn duration_ns(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Creates a reusable decision object and writes it to `*out`. Make one per
/// thread (or per connection) and reuse it. Free it with `weir_decision_free`.
///
/// # Safety
/// `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_new(out: *mut *mut weir_decision) -> weir_result {
    panic::boundary(|| {
        let out = cast::try_out(out)?;
        *out = cast::new_handle(weir_decision::new());
        Ok(())
    })
}

/// Frees a decision object. NULL is a no-op; freeing twice gives
/// `WEIR_RESULT_INVALID_HANDLE`. Views taken from it become invalid.
///
/// # Safety
/// `decision` NULL or from `weir_decision_new`, not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_free(decision: *mut weir_decision) -> weir_result {
    panic::boundary(|| cast::free_handle(decision))
}

/// Copies the view of the last decision made into `decision` to `*out`
/// (see `weir_decision_view` for how long its pointers live).
/// `WEIR_RESULT_NO_DECISION` when there is none.
///
/// # Safety
/// `decision` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_get_view(
    decision: *const weir_decision,
    out: *mut weir_decision_view,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?;
        let out = cast::try_out(out)?;
        if !d.valid {
            return Err(weir_result::NoDecision);
        }
        *out = d.view;
        Ok(())
    })
}
