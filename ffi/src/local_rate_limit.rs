//! The EnvoyFilter local rate limits of the config in force, through the C
//! ABI: a `weir_local_rate_limiter` holds the token buckets for one proxy
//! and gives the verdict on each request (lock-free).

use crate::access_log::header_block;
use crate::cast;
use crate::engine::weir_engine;
use crate::error::weir_result;
use crate::panic;
use crate::slice::{weir_header, weir_str};
use std::collections::HashMap;
use std::os::raw::c_char;
use weir_core::request::HeaderList;
use weir_core::telemetry::{LocalRateLimiter, RateLimitRequest, RateLimitVerdict};

/// The local rate limits for one proxy (its namespace's and the root
/// namespace's EnvoyFilters whose `workloadSelector` matches its labels),
/// buckets full when made. Make a new one after each apply.
///
/// Thread safety: `weir_local_rate_limiter_check` from any thread at once;
/// `weir_local_rate_limiter_free` last.
pub struct weir_local_rate_limiter {
    limiter: LocalRateLimiter,
    /// Each config's `response_headers_to_add` as C pairs, by the address
    /// of the config's list (what a verdict returns).
    headers: HashMap<usize, Box<[weir_header]>>,
}

unsafe impl Send for weir_local_rate_limiter {}
unsafe impl Sync for weir_local_rate_limiter {}

impl std::fmt::Debug for weir_local_rate_limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("weir_local_rate_limiter")
            .finish_non_exhaustive()
    }
}

/// The verdict on one request.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_rate_limit_verdict {
    /// Refuse the request: answer `status` with `headers`.
    pub limited: bool,
    /// The local reply's status (429 unless the EnvoyFilter says otherwise).
    pub status: u32,
    /// `response_headers_to_add` (Istio's recipe: `x-local-rate-limit:
    /// true`), owned by the limiter.
    pub headers: *const weir_header,
    pub headers_len: usize,
}

/// Makes the limiter for a proxy in `namespace` with pod `labels`, from
/// the engine's config in force, its buckets full at `now_ms` (the caller's
/// monotonic clock, as every later check).
///
/// # Safety
/// `engine` live; `namespace` valid for its length; `labels` valid for
/// `labels_len` pairs; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_local_rate_limiter_new(
    engine: *const weir_engine,
    namespace: *const c_char,
    namespace_len: usize,
    labels: *const weir_header,
    labels_len: usize,
    now_ms: u64,
    out: *mut *mut weir_local_rate_limiter,
) -> weir_result {
    panic::boundary(|| {
        let engine = cast::try_ref(engine)?;
        let out = cast::try_out(out)?;
        let namespace = cast::try_str(namespace, namespace_len)?;
        let mut pairs = Vec::new();
        for l in cast::try_slice(labels, labels_len)? {
            pairs.push((
                cast::try_str(l.name, l.name_len)?,
                cast::try_str(l.value, l.value_len)?,
            ));
        }
        let limiter = engine.engine.local_rate_limiter(namespace, &pairs, now_ms);
        let mut headers = HashMap::new();
        for list in limiter.response_header_lists() {
            let c: Box<[weir_header]> = list
                .iter()
                .map(|(n, v)| {
                    let (n, v) = (weir_str::new(n), weir_str::new(v));
                    weir_header {
                        name: n.ptr,
                        name_len: n.len,
                        value: v.ptr,
                        value_len: v.len,
                    }
                })
                .collect();
            headers.insert(list.as_ptr() as usize, c);
        }
        *out = cast::new_handle(weir_local_rate_limiter { limiter, headers });
        Ok(())
    })
}

/// The verdict on a request that matched route `route` (Weir's
/// `http[].name`, empty for none) at `now_ms`; `entropy` draws
/// `filter_enabled`/`filter_enforced`. `headers` is an HTTP/1 header block
/// (`name: value` lines) for `request_headers` descriptor actions; `:path`,
/// `:authority` and `:method` come from their own arguments. A refusal
/// counts in the engine's metrics (`weir_rate_limited_total`) when `engine`
/// is not NULL. Lock-free.
///
/// # Safety
/// `limiter` live; `engine` NULL or live; strings valid for their lengths;
/// `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_local_rate_limiter_check(
    limiter: *const weir_local_rate_limiter,
    engine: *const weir_engine,
    route: *const c_char,
    route_len: usize,
    path: *const c_char,
    path_len: usize,
    authority: *const c_char,
    authority_len: usize,
    method: *const c_char,
    method_len: usize,
    headers: *const c_char,
    headers_len: usize,
    entropy: u64,
    now_ms: u64,
    out: *mut weir_rate_limit_verdict,
) -> weir_result {
    panic::boundary(|| {
        let l = cast::try_ref(limiter)?;
        let out = cast::try_out(out)?;
        let route = cast::try_str(route, route_len)?;
        let pairs = header_block(cast::try_str(headers, headers_len)?);
        let list = HeaderList(&pairs);
        let req = RateLimitRequest {
            path: cast::try_str(path, path_len)?,
            authority: cast::try_str(authority, authority_len)?,
            method: cast::try_str(method, method_len)?,
            headers: &list,
        };
        let route = (!route.is_empty()).then_some(route);
        *out = match l.limiter.check(route, &req, entropy, now_ms) {
            RateLimitVerdict::Allowed => weir_rate_limit_verdict {
                limited: false,
                status: 0,
                headers: std::ptr::null(),
                headers_len: 0,
            },
            RateLimitVerdict::Limited { status, headers } => {
                if let Some(engine) = engine.as_ref() {
                    engine.engine.metrics().count_rate_limited();
                }
                let c = l.headers.get(&(headers.as_ptr() as usize));
                weir_rate_limit_verdict {
                    limited: true,
                    status: u32::from(status),
                    headers: c.map_or(std::ptr::null(), |c| c.as_ptr()),
                    headers_len: c.map_or(0, |c| c.len()),
                }
            }
        };
        Ok(())
    })
}

/// True when the limiter has nothing to enforce (no EnvoyFilter applies).
///
/// # Safety
/// `limiter` live; `empty` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_local_rate_limiter_is_empty(
    limiter: *const weir_local_rate_limiter,
    empty: *mut bool,
) -> weir_result {
    panic::boundary(|| {
        *cast::try_out(empty)? = cast::try_ref(limiter)?.limiter.is_empty();
        Ok(())
    })
}

/// Frees a limiter. NULL is a no-op.
///
/// # Safety
/// `limiter` NULL or from `weir_local_rate_limiter_new`, not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn weir_local_rate_limiter_free(
    limiter: *mut weir_local_rate_limiter,
) -> weir_result {
    panic::boundary(|| cast::free_handle(limiter))
}
