//! A decision as flat C structs: the summary, the route, destination and
//! policy infos, and the whole `weir_decision_view`.

use super::*;

impl weir_decision {
    #[inline(always)]
    pub(super) fn summary(d: &Decision<'_>) -> weir_decision_summary {
        weir_decision_summary {
            outcome: d.outcome.into(),
            status: d.status,
            has_grpc_status: d.grpc_status.is_some(),
            grpc_status: d.grpc_status.unwrap_or(0),
            cluster: cluster_name(d),
            endpoint: endpoint_address(d),
        }
    }

    pub(super) fn route_info(d: &Decision<'_>) -> weir_route_info {
        let mut v = weir_route_info {
            has_route: false,
            route_namespace: weir_str::EMPTY,
            route_virtual_service: weir_str::EMPTY,
            route_name: weir_str::EMPTY,
            has_rule_index: false,
            rule_index: 0,
            has_destination: false,
            destination_index: 0,
        };
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
        } else if let Some(rule) = d.l4_rule {
            v.has_route = true;
            v.route_namespace = weir_str::new(&rule.namespace);
            v.route_virtual_service = weir_str::new(&rule.virtual_service);
            v.has_rule_index = true;
            v.rule_index = rule.index;
        }
        if let Some(di) = d.destination_index {
            v.has_destination = true;
            v.destination_index = di;
        }
        v
    }

    pub(super) fn destination_info(d: &Decision<'_>) -> weir_destination_info {
        let mut v = weir_destination_info {
            cluster: weir_str::EMPTY,
            destination_host: weir_str::EMPTY,
            destination_subset: weir_str::EMPTY,
            destination_port: 0,
            endpoint: endpoint_address(d),
            original_destination: d.original_destination,
            has_hash: d.hash.is_some(),
            hash: d.hash.map_or(0, |h| h.value),
        };
        if let Some(c) = d.cluster {
            v.cluster = weir_str::new(&c.name);
            v.destination_host = weir_str::new(&c.host);
            v.destination_subset = weir_str::new(&c.subset);
            v.destination_port = c.port;
        } else if let Some(dest) = d.destination_index.and_then(|i| destinations(d).get(i)) {
            v.destination_host = weir_str::new(&dest.host);
            v.destination_subset = weir_str::new(&dest.subset);
        }
        v
    }

    pub(super) fn policy(d: &Decision<'_>) -> weir_route_policy {
        let mut v = weir_route_policy {
            has_delay: d.delay.is_some(),
            delay_ns: d.delay.map_or(0, duration_ns),
            has_timeout: false,
            timeout_ns: 0,
            has_retries: false,
            retry_attempts: 0,
            has_retry_per_try_timeout: false,
            retry_per_try_timeout_ns: 0,
            retry_on: weir_str::EMPTY,
            retriable_status_codes: std::ptr::null(),
            retriable_status_codes_len: 0,
        };
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
            v.retriable_status_codes = array(&r.retriable_status_codes);
            v.retriable_status_codes_len = r.retriable_status_codes.len();
        }
        v
    }

    /// Everything, flat, into `v` (rendering whatever is not yet rendered).
    pub(super) fn fill_view(&mut self, v: &mut weir_decision_view) -> R<()> {
        let d = self.get()?;
        // Most decisions render nothing: no mirrors, header edits, cookie,
        // redirect or path rewrite. Those parts are written as empty without
        // the on-demand machinery (a third of this function's time).
        if let weir_core::decision::UpstreamPath::Unchanged(path) = d.upstream_path {
            if d.mirrors.is_empty()
                && d.request_headers.is_empty()
                && d.response_headers.is_empty()
                && d.set_cookie.is_none()
                && self.ready & LOCATION == 0
            {
                v.upstream_path = weir_str::new(path);
                v.location = weir_str::EMPTY;
                v.set_cookie = weir_str::EMPTY;
                (v.mirrors, v.mirrors_len) = (std::ptr::null(), 0);
                v.set_header_edits(weir_header_edits::EMPTY, weir_header_edits::EMPTY);
                return self.fill_view_common(v);
            }
        }
        self.fill_view_rendered(v)
    }

    /// `fill_view` for a decision with parts to render.
    #[inline(never)]
    pub(super) fn fill_view_rendered(&mut self, v: &mut weir_decision_view) -> R<()> {
        // What renders into `self` first; then the decision by reference
        // (a copy of the whole `Decision` would cost more than the rest).
        // Each part goes into `*v` as soon as it is made: held in locals
        // until the end, they were spilled to the stack and copied again.
        v.upstream_path = self.upstream_path()?;
        v.location = self.location()?;
        v.set_cookie = self.set_cookie()?;
        (v.mirrors, v.mirrors_len) = raw(self.mirrors()?);
        let req = self.header_edits(false)?;
        let resp = self.header_edits(true)?;
        v.set_header_edits(req, resp);
        self.fill_view_common(v)
    }

    /// The view's fields that need no rendering.
    #[inline(always)]
    pub(super) fn fill_view_common(&self, v: &mut weir_decision_view) -> R<()> {
        let d = self.get()?;
        let s = Self::summary(d);
        let r = Self::route_info(d);
        let t = Self::destination_info(d);
        let p = Self::policy(d);
        // Every field of the view is written below or, for the rendered
        // parts (path, location, cookie, mirrors, header edits), by both
        // callers: this pattern stops compiling if the view gains one.
        let _all_fields = |v: weir_decision_view| {
            let weir_decision_view {
                outcome: _,
                status: _,
                has_grpc_status: _,
                grpc_status: _,
                has_route: _,
                route_namespace: _,
                route_virtual_service: _,
                route_name: _,
                has_rule_index: _,
                rule_index: _,
                has_destination: _,
                destination_index: _,
                cluster: _,
                destination_host: _,
                destination_subset: _,
                destination_port: _,
                endpoint: _,
                original_destination: _,
                has_delay: _,
                delay_ns: _,
                has_timeout: _,
                timeout_ns: _,
                has_retries: _,
                retry_attempts: _,
                has_retry_per_try_timeout: _,
                retry_per_try_timeout_ns: _,
                retry_on: _,
                retriable_status_codes: _,
                retriable_status_codes_len: _,
                mirrors: _,
                mirrors_len: _,
                request_headers_set: _,
                request_headers_set_len: _,
                request_headers_add: _,
                request_headers_add_len: _,
                request_headers_remove: _,
                request_headers_remove_len: _,
                response_headers_set: _,
                response_headers_set_len: _,
                response_headers_add: _,
                response_headers_add_len: _,
                response_headers_remove: _,
                response_headers_remove_len: _,
                upstream_path: _,
                path_rewritten: _,
                upstream_authority: _,
                location: _,
                body: _,
                set_cookie: _,
                has_hash: _,
                hash: _,
            } = v;
        };
        // Field by field into `*v`: a struct literal was built on the stack
        // and copied (~450 bytes).
        v.outcome = s.outcome;
        v.status = s.status;
        v.has_grpc_status = s.has_grpc_status;
        v.grpc_status = s.grpc_status;
        v.has_route = r.has_route;
        v.route_namespace = r.route_namespace;
        v.route_virtual_service = r.route_virtual_service;
        v.route_name = r.route_name;
        v.has_rule_index = r.has_rule_index;
        v.rule_index = r.rule_index;
        v.has_destination = r.has_destination;
        v.destination_index = r.destination_index;
        v.cluster = t.cluster;
        v.destination_host = t.destination_host;
        v.destination_subset = t.destination_subset;
        v.destination_port = t.destination_port;
        v.endpoint = t.endpoint;
        v.original_destination = t.original_destination;
        v.has_delay = p.has_delay;
        v.delay_ns = p.delay_ns;
        v.has_timeout = p.has_timeout;
        v.timeout_ns = p.timeout_ns;
        v.has_retries = p.has_retries;
        v.retry_attempts = p.retry_attempts;
        v.has_retry_per_try_timeout = p.has_retry_per_try_timeout;
        v.retry_per_try_timeout_ns = p.retry_per_try_timeout_ns;
        v.retry_on = p.retry_on;
        v.retriable_status_codes = p.retriable_status_codes;
        v.retriable_status_codes_len = p.retriable_status_codes_len;
        v.path_rewritten = d.upstream_path.is_rewritten();
        v.upstream_authority = weir_str::new(d.upstream_authority.unwrap_or(""));
        v.body = weir_bytes::new(d.body());
        v.has_hash = t.has_hash;
        v.hash = t.hash;
        Ok(())
    }
}

/// The matched rule's `route[]` list.
pub(super) fn destinations<'a>(d: &Decision<'a>) -> &'a [RouteDestination] {
    if let Some(route) = d.route {
        route.rule.destinations()
    } else if let Some(rule) = d.l4_rule {
        &rule.destinations
    } else {
        &[]
    }
}

/// Writes `s` to `out` as three 16-byte stores on x86-64.
///
/// The summary is read right after the decide returns. A caller that copies
/// one of its `weir_str`s with a 16-byte load (as compilers do for a
/// 16-byte struct) would otherwise read two 8-byte stores still in flight,
/// which defeats store-to-load forwarding and stalls (perf on
/// benches/ffi.rs: ~3 ns per decide). Each 16-byte store covers whole
/// fields, so loads of single fields forward from it too.
#[inline(always)]
pub(super) fn write_summary(out: &mut weir_decision_summary, s: weir_decision_summary) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{__m128i, _mm_set_epi64x, _mm_storeu_si128};
        use std::mem::{offset_of, size_of};
        type S = weir_decision_summary;
        const _: () = assert!(
            size_of::<S>() == 48
                && offset_of!(S, outcome) == 0
                && offset_of!(S, status) == 4
                && offset_of!(S, has_grpc_status) == 6
                && offset_of!(S, grpc_status) == 8
                && offset_of!(S, cluster) == 16
                && offset_of!(S, endpoint) == 32
        );
        // Little-endian packing of the first 16 bytes (padding written as 0).
        let head =
            (s.outcome as u64) | u64::from(s.status) << 32 | u64::from(s.has_grpc_status) << 48;
        // Pointers go through integers here; exposing their provenance keeps
        // them valid for Rust readers of the summary (C readers are outside
        // Rust's rules).
        let word = |p: *const c_char| p.expose_provenance() as i64;
        let p = std::ptr::from_mut(out).cast::<__m128i>();
        // SAFETY: `out` is valid for 48 bytes (the size asserted above);
        // SSE2 is part of the x86-64 baseline; unaligned stores are allowed.
        unsafe {
            _mm_storeu_si128(p, _mm_set_epi64x(i64::from(s.grpc_status), head as i64));
            _mm_storeu_si128(
                p.add(1),
                _mm_set_epi64x(s.cluster.len as i64, word(s.cluster.ptr)),
            );
            _mm_storeu_si128(
                p.add(2),
                _mm_set_epi64x(s.endpoint.len as i64, word(s.endpoint.ptr)),
            );
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        *out = s;
    }
}

/// The chosen cluster's name, or empty.
#[inline(always)]
pub(super) fn cluster_name(d: &Decision<'_>) -> weir_str {
    opt_str(d.cluster.map(|c| &*c.name))
}

/// The chosen endpoint's `ip:port`, or empty.
#[inline(always)]
pub(super) fn endpoint_address(d: &Decision<'_>) -> weir_str {
    opt_str(d.endpoint.map(|e| &*e.address))
}

#[inline(always)]
pub(super) fn opt_str(s: Option<&str>) -> weir_str {
    // One test for both kinds of empty (`weir_str::new` makes it `EMPTY`).
    weir_str::new(s.unwrap_or(""))
}

pub(super) fn raw<T>(v: &[T]) -> (*const T, usize) {
    (array(v), v.len())
}

/// An array's first element, or NULL when it is empty: `(NULL, 0)` is the
/// ABI's empty array. Rust's dangling pointer for an empty slice (its
/// alignment, e.g. `0x8`) must not reach C or Go: Go's stack copier aborts
/// on such a value in a pointer variable.
pub(super) fn array<T>(v: &[T]) -> *const T {
    if v.is_empty() {
        std::ptr::null()
    } else {
        v.as_ptr()
    }
}

pub(super) fn duration_ns(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
