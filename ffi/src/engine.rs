//! `weir_engine`: holds the table in force; applies configs and endpoint updates.

use crate::cast;
use crate::decision::weir_decision;
use crate::diagnostics::weir_diagnostics;
use crate::error::weir_result;
use crate::panic;
use crate::request::weir_request;
use crate::slice::weir_header;
use crate::snapshot::{decide_http, http_boundary, weir_snapshot};
use crate::view::weir_decision_summary;
use std::collections::BTreeMap;
use std::os::raw::c_char;
use weir_core::compile::EndpointSpec;
use weir_core::config::Loaded;
use weir_core::Engine;

/// Largest config `weir_engine_apply` accepts.
pub const WEIR_MAX_CONFIG_BYTES: usize = 64 << 20;

/// The engine: publishes routing tables and swaps in new ones.
///
/// Thread safety: every `weir_engine_*` function may be called from any
/// thread at once on the same engine (appliers serialise on a lock; snapshot
/// takers never block), except `weir_engine_free`, which must be the last call.
pub struct weir_engine {
    pub(crate) engine: Engine,
}

impl std::fmt::Debug for weir_engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("weir_engine").finish_non_exhaustive()
    }
}

/// One endpoint for `weir_engine_set_endpoints`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_endpoint {
    /// IP address (`10.0.0.1`, `::1`), UTF-8, not NUL-terminated.
    pub address: *const c_char,
    /// Length of `address`.
    pub address_len: usize,
    /// Endpoint port; 0 uses the service port's target port.
    pub port: u32,
    /// Labels (subsets select endpoints by them): `labels_len` pairs.
    pub labels: *const weir_header,
    /// Number of labels.
    pub labels_len: usize,
    /// Load-balancing weight (0 counts as 1).
    pub weight: u32,
    /// `region/zone/subzone`, may be empty.
    pub locality: *const c_char,
    /// Length of `locality`.
    pub locality_len: usize,
}

/// Creates an engine with an empty table (every request: no route) and writes
/// it to `*out`. Free it with `weir_engine_free`.
///
/// # Safety
/// `out` must point to writable memory for a pointer.
#[no_mangle]
pub unsafe extern "C" fn weir_engine_new(out: *mut *mut weir_engine) -> weir_result {
    panic::boundary(|| {
        let out = cast::try_out(out)?;
        *out = cast::new_handle(weir_engine {
            engine: Engine::new(),
        });
        Ok(())
    })
}

/// Frees an engine. NULL is a no-op; freeing twice gives
/// `WEIR_RESULT_INVALID_HANDLE`. Snapshots taken from it stay valid until
/// each is freed. No other call on this engine may run concurrently or after.
///
/// # Safety
/// `engine` must be NULL or an engine from `weir_engine_new`.
#[no_mangle]
pub unsafe extern "C" fn weir_engine_free(engine: *mut weir_engine) -> weir_result {
    panic::boundary(|| cast::free_handle(engine))
}

/// Sets the most bytes the engine's endpoint sets and balancer tables may
/// take (4 GiB by default on 64-bit targets). A config over it is refused by
/// `weir_engine_apply`, and an endpoint update over it by
/// `weir_engine_set_endpoints`, with `WEIR_RESULT_CONFIG_REJECTED` and a
/// WEIR0011 diagnostic; the table in force stays. Thread-safe.
///
/// # Safety
/// `engine` must be a live engine.
#[no_mangle]
pub unsafe extern "C" fn weir_engine_set_compile_budget(
    engine: *const weir_engine,
    bytes: usize,
) -> weir_result {
    panic::boundary(|| {
        cast::try_ref(engine)?.engine.set_compile_budget(bytes);
        Ok(())
    })
}

/// Validates, compiles and publishes a config: `text` (YAML, multi-document
/// YAML or JSON, `text_len` bytes of UTF-8) named `name` in diagnostics (may be
/// `(NULL, 0)`).
///
/// Returns `WEIR_RESULT_OK` when the config is in force (warnings may exist),
/// `WEIR_RESULT_CONFIG_REJECTED` when it had errors: then nothing changed and
/// the previous table keeps serving. Either way, when `diagnostics` is not
/// NULL its contents are replaced by every problem found (it is an object the
/// caller made with `weir_diagnostics_new`, not an out-pointer).
///
/// Nothing is retained from `name` or `text`. Thread-safe: concurrent
/// appliers serialise; deciders keep deciding on the table they hold.
///
/// # Safety
/// `engine` must be a live engine; `name`/`text` valid for their lengths;
/// `diagnostics` NULL or a live diagnostics object not used concurrently.
#[no_mangle]
pub unsafe extern "C" fn weir_engine_apply(
    engine: *const weir_engine,
    name: *const c_char,
    name_len: usize,
    text: *const c_char,
    text_len: usize,
    diagnostics: *mut weir_diagnostics,
) -> weir_result {
    panic::boundary(|| {
        let engine = cast::try_ref(engine)?;
        let name = cast::try_str(name, name_len)?;
        if text_len > WEIR_MAX_CONFIG_BYTES {
            // Checked before reading a byte: `text` may not even be that long.
            return Err(weir_result::InputTooLarge);
        }
        let text = cast::try_str(text, text_len)?;
        let diagnostics = cast::opt_mut(diagnostics);
        let name = if name.is_empty() { "<input>" } else { name };
        let result = engine.engine.apply(Loaded::from_source(name, text));
        let (list, code) = match result {
            Ok(warnings) => (warnings, Ok(())),
            Err(e) => (e.diagnostics, Err(weir_result::ConfigRejected)),
        };
        if let Some(d) = diagnostics {
            d.replace(list);
        }
        code
    })
}

/// Replaces the endpoints of service `host` (FQDN, or a short name meaning
/// `<name>.default.svc.cluster.local`) with `endpoints[0..endpoints_len]`
/// (`(NULL, 0)`: no endpoints), rebuilding only that host's endpoint sets.
/// The override stays in force across later `weir_engine_apply` calls.
/// `WEIR_RESULT_CONFIG_REJECTED` when the endpoint sets would then exceed the
/// engine's compile budget: the change is dropped, the table in force stays.
///
/// Nothing is retained from the inputs. Thread-safe like `weir_engine_apply`.
///
/// # Safety
/// `engine` live; `host` valid for `host_len` bytes; `endpoints` valid for
/// `endpoints_len` elements, each with valid strings and labels.
#[no_mangle]
pub unsafe extern "C" fn weir_engine_set_endpoints(
    engine: *const weir_engine,
    host: *const c_char,
    host_len: usize,
    endpoints: *const weir_endpoint,
    endpoints_len: usize,
) -> weir_result {
    panic::boundary(|| {
        let engine = cast::try_ref(engine)?;
        let host = cast::try_str(host, host_len)?;
        let eps = cast::try_slice(endpoints, endpoints_len)?;
        let mut specs = Vec::with_capacity(eps.len());
        for ep in eps {
            let address = cast::try_str(ep.address, ep.address_len)?;
            if address.parse::<std::net::IpAddr>().is_err() {
                return Err(weir_result::InvalidArgument);
            }
            let mut labels = BTreeMap::new();
            for l in cast::try_slice(ep.labels, ep.labels_len)? {
                labels.insert(
                    cast::try_str(l.name, l.name_len)?.to_string(),
                    cast::try_str(l.value, l.value_len)?.to_string(),
                );
            }
            specs.push(EndpointSpec {
                address: address.to_string(),
                port: (ep.port != 0).then_some(ep.port),
                labels,
                weight: ep.weight,
                locality: cast::try_str(ep.locality, ep.locality_len)?.to_string(),
            });
        }
        engine
            .engine
            .set_endpoints(host, &specs)
            .map_err(|_| weir_result::ConfigRejected)?;
        Ok(())
    })
}

/// Takes a snapshot of the table in force and writes it to `*out`: decisions
/// made on it, and the strings they point into, stay valid until the snapshot
/// is freed with `weir_snapshot_free` (later applies do not change it).
///
/// Lock-free and allocation-free (the handle is a reference count on the
/// table). Thread-safe.
///
/// # Safety
/// `engine` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_engine_snapshot(
    engine: *const weir_engine,
    out: *mut *const weir_snapshot,
) -> weir_result {
    panic::boundary(|| {
        let engine = cast::try_ref(engine)?;
        let out = cast::try_out(out)?;
        *out = cast::arc_into_handle::<_, weir_snapshot>(engine.engine.table());
        Ok(())
    })
}

/// Decides on the table in force, as `weir_snapshot_decide` on a snapshot
/// taken and freed around the call, but without touching a reference count
/// per request: `decision` keeps a reference to the table it last decided on
/// and takes a new one only when an apply (or `weir_engine_set_endpoints`)
/// has replaced the table since.
///
/// What the accessors return stays valid until the next decide into (or
/// free of) `decision`, whatever is applied meanwhile. A decision last used
/// here keeps its table alive until then (a snapshot decide does not release
/// it).
///
/// Errors, allocation and thread safety as `weir_snapshot_decide` (the
/// engine may be shared; `decision` must not be used by two threads at once).
///
/// # Safety
/// `engine` live; `request` valid with valid pointers; `decision` live;
/// `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weir_engine_decide(
    engine: *const weir_engine,
    request: *const weir_request,
    entropy: u64,
    decision: *mut weir_decision,
    out: *mut weir_decision_summary,
) -> weir_result {
    http_boundary(decision, || {
        let engine = cast::try_ref(engine)?;
        let r = cast::try_ref(request)?;
        let d = cast::try_mut(decision)?;
        // One atomic load when the table held is still the one in force
        // (the usual case); an `ArcSwap` load only after a publish.
        let table = match d.held_table(engine.engine.current_table_id()) {
            Some(table) => table,
            None => d.hold_table(&engine.engine.snapshot()),
        };
        decide_http(table, r, entropy, d, out)
    })
}
