//! `weir_snapshot`: one table, held by the caller; decisions borrow it.

use crate::cast;
use crate::decision::weir_decision;
use crate::error::weir_result;
use crate::panic;
use crate::request::{weir_connection, weir_request, CHeaders};
use crate::source::weir_source;
use crate::view::weir_decision_summary;
use std::mem::MaybeUninit;
use std::ptr::addr_of_mut;
use weir_core::request::{Connection, Headers, Request, Source};
use weir_core::Table;

/// An immutable routing table, as in force when `weir_engine_snapshot` took it.
///
/// The handle is a reference count on the table: taking and freeing one is
/// lock-free and allocation-free. Thread safety: a snapshot may be used by any
/// number of threads at once (each with its own `weir_decision`).
pub struct weir_snapshot {
    _private: [u8; 0],
}

impl std::fmt::Debug for weir_snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("weir_snapshot").finish_non_exhaustive()
    }
}

/// Releases a snapshot. NULL is a no-op. Decisions made on it, and stats
/// objects taken from it keep their own reference (stats) or become invalid
/// (decisions: do not read them afterwards).
///
/// Double frees are not detected (this is on the per-request path).
///
/// # Safety
/// `snapshot` NULL or from `weir_engine_snapshot`, freed once.
#[no_mangle]
pub unsafe extern "C" fn weir_snapshot_free(snapshot: *const weir_snapshot) -> weir_result {
    panic::boundary(|| {
        cast::arc_free::<Table, _>(snapshot);
        Ok(())
    })
}

/// Decides what to do with an HTTP request and stores the answer in
/// `decision` (a reusable object from `weir_decision_new`); when `out` is not
/// NULL, also writes the outcome and status to `*out`.
///
/// Deciding is all this does: the rest of the answer is read afterwards, only
/// as needed, with the `weir_decision_*` accessors (`weir_decision_cluster`,
/// `weir_decision_endpoint`, `weir_decision_upstream_path`, …) or all at once
/// with `weir_decision_fill_view`.
///
/// `entropy` drives every random choice (weights, fault and mirror
/// percentages, random and least-request picks): the same snapshot, request
/// and entropy give the same decision on every platform.
///
/// Nothing is retained from `request` (its path is copied into `decision`).
/// What the accessors return points into the snapshot or into `decision`
/// itself: valid while the caller holds `snapshot` and until the next decide
/// into (or free of) `decision`.
///
/// No allocation once `decision` has served requests of similar size (its
/// buffers are reused), except for a `uriRegexRewrite` that matches (when its
/// path is read).
///
/// Errors: `WEIR_RESULT_NULL_PARAMETER`, `WEIR_RESULT_INVALID_UTF8` (authority,
/// method, path, scheme), `WEIR_RESULT_INVALID_ARGUMENT` (a remote address of
/// unknown family, a length over `PTRDIFF_MAX`); for a header entry, only
/// when the decision reads the headers (see `weir_request.headers`). On error
/// `decision` holds no decision.
///
/// Thread safety: the snapshot may be shared; `decision` must not be used by
/// two threads at once.
///
/// # Safety
/// `snapshot` live; `request` valid with valid pointers; `decision` live;
/// `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weir_snapshot_decide(
    snapshot: *const weir_snapshot,
    request: *const weir_request,
    entropy: u64,
    decision: *mut weir_decision,
    out: *mut weir_decision_summary,
) -> weir_result {
    http_boundary(decision, || {
        let table: &Table = cast::arc_ref(snapshot)?;
        let r = cast::try_ref(request)?;
        let d = cast::try_mut(decision)?;
        decide_http(table, r, entropy, d, out)
    })
}

/// The panic boundary of both HTTP decides: a decide that fails (an error or
/// a panic) leaves `decision` holding no decision. HTTP decides do not reset
/// it on the way in, one store fewer on the decide path; it is not read
/// before this returns.
///
/// # Safety
/// `decision` NULL or live.
#[inline(always)]
pub(crate) unsafe fn http_boundary(
    decision: *mut weir_decision,
    body: impl FnOnce() -> Result<(), weir_result>,
) -> weir_result {
    let rc = panic::boundary(body);
    if rc != weir_result::Ok {
        weir_decision::forget_after_failure(decision);
    }
    rc
}

/// The body of both HTTP decides (inside [`http_boundary`]): picks the
/// source (a `weir_source` or none) and decides with [`decide_on`].
/// Everything is inlined: an outlined helper passing its arguments or result
/// through memory stalls on store-to-load forwarding (perf, benches/ffi.rs).
///
/// # Safety
/// As `weir_snapshot_decide`; `table` outlives what `d` borrows from it.
#[inline(always)]
pub(crate) unsafe fn decide_http(
    table: &Table,
    r: &weir_request,
    entropy: u64,
    d: &mut weir_decision,
    out: *mut weir_decision_summary,
) -> Result<(), weir_result> {
    decide_on(table, r, source_of(r.source), entropy, d, out)
}

/// Checks the request's own fields, builds the core's request from them and
/// `source`, and decides into `d`.
///
/// The decide path's cost follows its instructions and stores (callgrind
/// counts against criterion times on benches/ffi.rs: ~0.04 ns an
/// instruction, ~0.3 ns a store). So the core's request is written field by
/// field as each is checked, each word once: no placeholder values, no
/// staged copies. The headers are read in the caller's own array
/// ([`CHeaders`]), whose entries are checked only if a header is read; a
/// bad one found then fails the call here, after the core has decided.
///
/// # Safety
/// As `weir_snapshot_decide`.
#[inline(always)]
unsafe fn decide_on(
    table: &Table,
    r: &weir_request,
    source: &Source<'_>,
    entropy: u64,
    d: &mut weir_decision,
    out: *mut weir_decision_summary,
) -> Result<(), weir_result> {
    // The eight fields written below are all of `Request`'s: this pattern
    // stops compiling if the core adds one.
    let _all_fields = |r: Request<'_>| {
        let Request {
            authority: _,
            method: _,
            path: _,
            scheme: _,
            port: _,
            remote: _,
            source: _,
            headers: _,
        } = r;
    };
    let mut req = MaybeUninit::<Request<'_>>::uninit();
    let p = req.as_mut_ptr();
    // Every write below is to a field of `req`'s own storage; `req` is read
    // only once all eight fields are written (`assume_init`). Each field is
    // written as soon as it is known, so fewer values stay live (and spill).
    addr_of_mut!((*p).source).write(source);
    addr_of_mut!((*p).port).write(r.port);
    addr_of_mut!((*p).authority).write(cast::try_str(r.authority, r.authority_len)?);
    addr_of_mut!((*p).method).write(cast::try_str(r.method, r.method_len)?);
    let path = cast::try_str(r.path, r.path_len)?;
    let scheme = cast::try_str(r.scheme, r.scheme_len)?;
    addr_of_mut!((*p).scheme).write(if scheme.is_empty() { "http" } else { scheme });
    // Written in place (see `write_to`); `None` first makes the field valid.
    let remote = addr_of_mut!((*p).remote);
    remote.write(None);
    r.remote.write_to(&mut *remote)?;
    let headers = CHeaders::new(r)?;
    addr_of_mut!((*p).headers).write(&headers as &dyn Headers);
    // Last: the copy is made only for a request that passed every check.
    addr_of_mut!((*p).path).write(d.keep_path(path));
    let req = req.assume_init_ref();
    // SAFETY: `out` is NULL or writable (the exports' contract).
    let out = unsafe { cast::opt_mut(out) };
    d.decide_with(
        table,
        |dec| {
            table.decide_into(req, entropy, dec);
            headers.verdict()
        },
        out,
    )
}

/// The source a request or connection points at; NULL is the sidecar's
/// empty `mesh` source.
///
/// # Safety
/// `source` NULL or a live `weir_source`.
#[inline(always)]
unsafe fn source_of<'s>(source: *const weir_source) -> &'s Source<'s> {
    match cast::opt_ref(source) {
        None => &Source::MESH,
        Some(source) => source.view(),
    }
}

/// Decides for a TCP or TLS connection (`tcp[]` rules, or `tls[]` when `sni`
/// is given), like `weir_snapshot_decide`. A connection with no matching rule
/// gives `WEIR_OUTCOME_NO_ROUTE` with status 0.
///
/// # Safety
/// As `weir_snapshot_decide`.
#[no_mangle]
pub unsafe extern "C" fn weir_snapshot_decide_tcp(
    snapshot: *const weir_snapshot,
    connection: *const weir_connection,
    entropy: u64,
    decision: *mut weir_decision,
    out: *mut weir_decision_summary,
) -> weir_result {
    panic::boundary(|| {
        let table: &Table = cast::arc_ref(snapshot)?;
        let c = cast::try_ref(connection)?;
        let d = cast::try_mut(decision)?;
        d.reset();
        let destination = c.destination.to_socket_addr()?;
        let sni = cast::try_str(c.sni, c.sni_len)?;
        let host = cast::try_str(c.host, c.host_len)?;
        let remote = c.remote.to_socket_addr()?;
        let conn = Connection {
            destination,
            port: c.port,
            sni: (!sni.is_empty()).then_some(sni),
            host: (!host.is_empty()).then_some(host),
            remote,
            source: source_of(c.source),
        };
        d.decide_with(
            table,
            |dec| {
                *dec = table.decide_tcp(&conn, entropy);
                Ok(())
            },
            cast::opt_mut(out),
        )
    })
}
