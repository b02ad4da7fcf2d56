//! The flat views a `weir_decision` fills for C: plain `#[repr(C)]` structs
//! of pointers and numbers borrowed from the decision (or its table), valid
//! until the next decide on the same object.

use crate::slice::{weir_bytes, weir_header, weir_str};
use weir_core::Outcome;

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

/// Everything a proxy needs from one decision, flat (`weir_decision_fill_view`):
/// every accessor's answer in one struct.
///
/// Lifetime: every pointer in it (strings, arrays) is valid while the caller
/// holds the `weir_snapshot` the decision was made on AND until the next
/// decide into (or free of) the `weir_decision` that produced it. Copy what
/// must live longer. Absent strings are empty (never NULL pointers); empty
/// arrays are `(NULL, 0)`; absent numbers have a `has_*` flag.
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

/// What `weir_snapshot_decide` hands back directly: the outcome, the status
/// and where to send the request, which is all a proxy reads for a plain
/// forward (the rest is read with the `weir_decision_*` accessors).
/// `cluster` and `endpoint` are as `weir_decision_cluster` and
/// `weir_decision_endpoint` give them, with the same lifetime.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_decision_summary {
    /// The kind of answer.
    pub outcome: weir_outcome,
    /// Status of a local answer (404, 503, redirect code, abort status, direct
    /// response status); 0 for `WEIR_OUTCOME_ROUTE` and for TCP.
    pub status: u16,
    /// True for a gRPC fault abort (answer HTTP 200 with `grpc-status`).
    pub has_grpc_status: bool,
    /// The `grpc-status` to answer with.
    pub grpc_status: u32,
    /// The chosen destination's cluster, `outbound|PORT|SUBSET|HOST`; empty when none.
    pub cluster: weir_str,
    /// The chosen endpoint, `ip:port` (`[v6]:port`); empty when none.
    pub endpoint: weir_str,
}

/// The matched rule and destination of a decision (`weir_decision_route_info`).
/// Strings borrow the snapshot (see `weir_decision_view` for lifetimes).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_route_info {
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
}

/// Where a decision sends the request (`weir_decision_destination_info`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_destination_info {
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
    /// True when the endpoint was chosen by a consistent hash.
    pub has_hash: bool,
    /// The 64-bit hash the ring or Maglev table was looked up with.
    pub hash: u64,
}

/// Delay, timeout and retries of a decision (`weir_decision_policy`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_route_policy {
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
}

/// Header edits for one direction (`weir_decision_request_headers`,
/// `weir_decision_response_headers`). Apply remove, then set, then add.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_header_edits {
    /// Headers to set (overwrite).
    pub set: *const weir_header,
    /// Number of headers to set.
    pub set_len: usize,
    /// Headers to append.
    pub add: *const weir_header,
    /// Number of headers to append.
    pub add_len: usize,
    /// Headers to remove.
    pub remove: *const weir_str,
    /// Number of headers to remove.
    pub remove_len: usize,
}

impl weir_header_edits {
    /// No edits: `(NULL, 0)` arrays.
    pub(crate) const EMPTY: weir_header_edits = weir_header_edits {
        set: std::ptr::null(),
        set_len: 0,
        add: std::ptr::null(),
        add_len: 0,
        remove: std::ptr::null(),
        remove_len: 0,
    };
}

impl weir_decision_view {
    /// The request and response header edits, into their twelve fields.
    #[inline(always)]
    pub(crate) fn set_header_edits(&mut self, req: weir_header_edits, resp: weir_header_edits) {
        self.request_headers_set = req.set;
        self.request_headers_set_len = req.set_len;
        self.request_headers_add = req.add;
        self.request_headers_add_len = req.add_len;
        self.request_headers_remove = req.remove;
        self.request_headers_remove_len = req.remove_len;
        self.response_headers_set = resp.set;
        self.response_headers_set_len = resp.set_len;
        self.response_headers_add = resp.add;
        self.response_headers_add_len = resp.add_len;
        self.response_headers_remove = resp.remove;
        self.response_headers_remove_len = resp.remove_len;
    }
}
