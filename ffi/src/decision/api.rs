//! The `weir_decision_*` C functions.

use super::view::{cluster_name, endpoint_address, opt_str, raw};
use super::*;

/// Writes `s` to a `(ptr, len)` out-pair, both checked before either is written.
///
/// # Safety
/// As `cast::try_out`.
#[inline(always)]
unsafe fn put_str(s: weir_str, out: *mut *const c_char, out_len: *mut usize) -> R<()> {
    let out = cast::try_out(out)?;
    let out_len = cast::try_out(out_len)?;
    *out = s.ptr;
    *out_len = s.len;
    Ok(())
}

/// Writes an array to a `(ptr, len)` out-pair, both checked before either is written.
///
/// # Safety
/// As `cast::try_out`.
#[inline(always)]
unsafe fn put_array<T>(
    ptr: *const T,
    len: usize,
    out: *mut *const T,
    out_len: *mut usize,
) -> R<()> {
    let out = cast::try_out(out)?;
    let out_len = cast::try_out(out_len)?;
    *out = ptr;
    *out_len = len;
    Ok(())
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
/// `WEIR_RESULT_INVALID_HANDLE`. Strings and arrays read from it become invalid.
///
/// # Safety
/// `decision` NULL or from `weir_decision_new`, not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_free(decision: *mut weir_decision) -> weir_result {
    panic::boundary(|| cast::free_handle(decision))
}

/// Copies the outcome and status of the last decision made into `decision`
/// (the same summary the decide call wrote) to `*out`.
///
/// Every `weir_decision_*` accessor returns `WEIR_RESULT_NO_DECISION` when
/// the object holds no decision (none made yet, or the last decide failed),
/// and `WEIR_RESULT_NULL_PARAMETER` for a NULL argument.
///
/// # Safety
/// `decision` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_get_summary(
    decision: *const weir_decision,
    out: *mut weir_decision_summary,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?;
        let out = cast::try_out(out)?;
        *out = weir_decision::summary(d.get()?);
        Ok(())
    })
}

/// The chosen destination's cluster, `outbound|PORT|SUBSET|HOST`, into
/// `*out`/`*out_len` (not NUL-terminated; empty when none). Borrowed from the
/// snapshot: valid while the caller holds it and until the next decide into
/// (or free of) `decision`.
///
/// # Safety
/// `decision` live; `out` and `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_cluster(
    decision: *const weir_decision,
    out: *mut *const c_char,
    out_len: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?.get()?;
        put_str(cluster_name(d), out, out_len)
    })
}

/// The chosen endpoint, `ip:port` (`[v6]:port`), into `*out`/`*out_len`
/// (empty when none: no route, PASSTHROUGH, no healthy endpoint). Lifetime as
/// `weir_decision_cluster`.
///
/// # Safety
/// `decision` live; `out` and `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_endpoint(
    decision: *const weir_decision,
    out: *mut *const c_char,
    out_len: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?.get()?;
        put_str(endpoint_address(d), out, out_len)
    })
}

/// The matched rule and chosen destination index into `*out`.
///
/// # Safety
/// `decision` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_route_info(
    decision: *const weir_decision,
    out: *mut weir_route_info,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?;
        let out = cast::try_out(out)?;
        *out = weir_decision::route_info(d.get()?);
        Ok(())
    })
}

/// Cluster, host, subset, port, endpoint and hash of the destination into `*out`.
///
/// # Safety
/// `decision` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_destination_info(
    decision: *const weir_decision,
    out: *mut weir_destination_info,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?;
        let out = cast::try_out(out)?;
        *out = weir_decision::destination_info(d.get()?);
        Ok(())
    })
}

/// Fault delay, route timeout and retry policy into `*out`.
///
/// # Safety
/// `decision` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_policy(
    decision: *const weir_decision,
    out: *mut weir_route_policy,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?;
        let out = cast::try_out(out)?;
        *out = weir_decision::policy(d.get()?);
        Ok(())
    })
}

/// Writes to `*out` whether the upstream path differs from the request's by a
/// rewrite (when false, forward the request's `:path` as is).
///
/// # Safety
/// `decision` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_path_rewritten(
    decision: *const weir_decision,
    out: *mut bool,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?;
        let out = cast::try_out(out)?;
        *out = d.get()?.upstream_path.is_rewritten();
        Ok(())
    })
}

/// The path to send upstream (with query), after any rewrite; for a redirect,
/// the redirect's path; empty for TCP. A rewritten path is rendered into
/// `decision` on the first call after a decide (a matching `uriRegexRewrite`
/// allocates); later calls return the same string. Valid until the next
/// decide into (or free of) `decision`, while the caller holds the snapshot.
///
/// # Safety
/// `decision` live and not in use by another thread; `out`, `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_upstream_path(
    decision: *mut weir_decision,
    out: *mut *const c_char,
    out_len: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_mut(decision)?;
        put_str(d.upstream_path()?, out, out_len)
    })
}

/// The authority to send upstream when rewritten; empty keeps the request's.
/// Lifetime as `weir_decision_cluster`.
///
/// # Safety
/// `decision` live; `out` and `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_upstream_authority(
    decision: *const weir_decision,
    out: *mut *const c_char,
    out_len: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?.get()?;
        put_str(opt_str(d.upstream_authority), out, out_len)
    })
}

/// The redirect's `Location`, for `WEIR_OUTCOME_REDIRECT`; else empty.
/// Lifetime as `weir_decision_upstream_path`.
///
/// # Safety
/// `decision` live; `out` and `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_location(
    decision: *const weir_decision,
    out: *mut *const c_char,
    out_len: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?;
        put_str(d.location()?, out, out_len)
    })
}

/// A `Set-Cookie` value the response must carry (consistent hashing on a
/// cookie with a ttl), or empty; rendered on the first call after a decide.
/// Lifetime as `weir_decision_upstream_path`.
///
/// # Safety
/// `decision` live and not in use by another thread; `out`, `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_set_cookie(
    decision: *mut weir_decision,
    out: *mut *const c_char,
    out_len: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_mut(decision)?;
        put_str(d.set_cookie()?, out, out_len)
    })
}

/// The direct response's body, for `WEIR_OUTCOME_DIRECT_RESPONSE`; else
/// empty. Lifetime as `weir_decision_cluster`.
///
/// # Safety
/// `decision` live; `out` and `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_body(
    decision: *const weir_decision,
    out: *mut *const u8,
    out_len: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?.get()?;
        let b = weir_bytes::new(d.body());
        put_array(b.ptr, b.len, out, out_len)
    })
}

/// The mirrors that fire for this request, in configuration order, into
/// `*out` (`*out_len` of them), flattened into `decision` on the first call
/// after a decide. Lifetime as `weir_decision_upstream_path`.
///
/// # Safety
/// `decision` live and not in use by another thread; `out`, `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_mirrors(
    decision: *mut weir_decision,
    out: *mut *const weir_mirror,
    out_len: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_mut(decision)?;
        let (p, n) = raw(d.mirrors()?);
        put_array(p, n, out, out_len)
    })
}

/// The request header edits into `*out`, flattened into `decision` on the
/// first call after a decide. Lifetime as `weir_decision_upstream_path`.
///
/// # Safety
/// `decision` live and not in use by another thread; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_request_headers(
    decision: *mut weir_decision,
    out: *mut weir_header_edits,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_mut(decision)?;
        let out = cast::try_out(out)?;
        *out = d.header_edits(false)?;
        Ok(())
    })
}

/// The response header edits into `*out`, as `weir_decision_request_headers`.
///
/// # Safety
/// `decision` live and not in use by another thread; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_response_headers(
    decision: *mut weir_decision,
    out: *mut weir_header_edits,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_mut(decision)?;
        let out = cast::try_out(out)?;
        *out = d.header_edits(true)?;
        Ok(())
    })
}

/// Fills `*out` with every field of the last decision made into `decision`
/// (rendering what the accessors would), in one call: for bindings where each
/// call is expensive (cgo). See `weir_decision_view` for how long its
/// pointers live.
///
/// # Safety
/// `decision` live and not in use by another thread; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_fill_view(
    decision: *mut weir_decision,
    out: *mut weir_decision_view,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_mut(decision)?;
        let out = cast::try_out(out)?;
        d.fill_view(out)
    })
}

/// Writes to `*out` the id of the table the last decision made into
/// `decision` was decided on: a number no other table in this process has
/// had or will have (0: an engine's initial empty table). While that table
/// lives it does not change, so a view field that borrows it holds the same
/// bytes whenever the id and the pointer are the same: `route_namespace`,
/// `route_virtual_service`, `route_name`, `cluster`, `destination_host`,
/// `destination_subset`, `endpoint` and `retry_on`. A binding that copies
/// those strings (cgo) may then reuse its copy without comparing bytes.
///
/// # Safety
/// `decision` live and not in use by another thread; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_decision_table_id(
    decision: *const weir_decision,
    out: *mut u64,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(decision)?;
        let out = cast::try_out(out)?;
        d.get()?;
        *out = d.table_id;
        Ok(())
    })
}
