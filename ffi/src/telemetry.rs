//! Istio's standard metrics, request ids and local rate limiting through the
//! C ABI: `weir_engine_record`, `weir_engine_metrics`, `weir_request_id`,
//! `weir_rate_limiter`.

use crate::cast;
use crate::decision::weir_decision;
use crate::engine::weir_engine;
use crate::error::weir_result;
use crate::panic;
use crate::snapshot::weir_snapshot;
use crate::view::weir_outcome;
use std::os::raw::c_char;
use std::time::Duration;
use weir_core::telemetry::{
    Decided, Protocol, Reporter, RequestEnd, RequestId, ResponseFlags, TokenBucket, Workload,
};
use weir_core::{Outcome, Table};

/// `reporter` of the metrics: `WEIR_REPORTER_SOURCE` (client side, the
/// default) or `WEIR_REPORTER_DESTINATION`.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum weir_reporter {
    /// The client side (outbound sidecar, gateway).
    Source = 0,
    /// The server side (inbound sidecar).
    Destination = 1,
}

/// `request_protocol` of a finished request.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum weir_protocol {
    /// HTTP, not gRPC.
    Http = 0,
    /// gRPC (`content-type: application/grpc…`).
    Grpc = 1,
}

/// The `source_*` labels: the workload the proxy runs for. Strings are
/// `ptr + len` UTF-8, `(NULL, 0)` for `unknown`; copied, not retained.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_workload {
    /// Workload name (the Deployment's).
    pub name: *const c_char,
    /// Length of `name`.
    pub name_len: usize,
    /// Namespace.
    pub namespace_: *const c_char,
    /// Length of `namespace_`.
    pub namespace_len: usize,
    /// `app` label.
    pub app: *const c_char,
    /// Length of `app`.
    pub app_len: usize,
    /// `version` label.
    pub version: *const c_char,
    /// Length of `version`.
    pub version_len: usize,
}

/// How a request ended, for `weir_engine_record`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_request_end {
    /// The upstream's status; 0 when no upstream answered (recorded as 503
    /// with flag UF). A local reply is recorded with the decision's status.
    pub status: u32,
    /// `grpc-status` of a gRPC response (0..=16), or -1 for none.
    pub grpc_status: i32,
    /// `request_protocol`: a `weir_protocol` (a plain number, so a wrong
    /// one from C is an error, not undefined behaviour).
    pub protocol: u32,
    /// Envoy response flags the proxy knows, `WEIR_RESPONSE_FLAG_*` or-ed.
    pub flags: u32,
    /// Duration, microseconds.
    pub duration_us: u64,
    /// Request bytes (headers and body).
    pub request_bytes: u64,
    /// Response bytes.
    pub response_bytes: u64,
}

/// Response flag `UT`: upstream request timeout.
pub const WEIR_RESPONSE_FLAG_UPSTREAM_REQUEST_TIMEOUT: u32 = 1 << 4;
/// Response flag `DC`: the client went away.
pub const WEIR_RESPONSE_FLAG_DOWNSTREAM_CONNECTION_TERMINATION: u32 = 1 << 5;
/// Response flag `UF`: upstream connection failure.
pub const WEIR_RESPONSE_FLAG_UPSTREAM_CONNECTION_FAILURE: u32 = 1 << 1;
/// Response flag `RL`: refused by local rate limiting.
pub const WEIR_RESPONSE_FLAG_RATE_LIMITED: u32 = 1 << 8;
/// Response flag `URX`: retries exhausted.
pub const WEIR_RESPONSE_FLAG_UPSTREAM_RETRY_LIMIT_EXCEEDED: u32 = 1 << 10;

// The numbers are the core's bits (cbindgen needs literals).
const _: () = {
    assert!(
        WEIR_RESPONSE_FLAG_UPSTREAM_REQUEST_TIMEOUT
            == ResponseFlags::UPSTREAM_REQUEST_TIMEOUT.0 as u32
    );
    assert!(
        WEIR_RESPONSE_FLAG_DOWNSTREAM_CONNECTION_TERMINATION
            == ResponseFlags::DOWNSTREAM_CONNECTION_TERMINATION.0 as u32
    );
    assert!(
        WEIR_RESPONSE_FLAG_UPSTREAM_CONNECTION_FAILURE
            == ResponseFlags::UPSTREAM_CONNECTION_FAILURE.0 as u32
    );
    assert!(WEIR_RESPONSE_FLAG_RATE_LIMITED == ResponseFlags::RATE_LIMITED.0 as u32);
    assert!(
        WEIR_RESPONSE_FLAG_UPSTREAM_RETRY_LIMIT_EXCEEDED
            == ResponseFlags::UPSTREAM_RETRY_LIMIT_EXCEEDED.0 as u32
    );
};

/// Length of a request id's text (`weir_request_id`).
pub const WEIR_REQUEST_ID_LEN: usize = 36;

unsafe fn label(p: *const c_char, len: usize) -> Result<String, weir_result> {
    let s = cast::try_str(p, len)?;
    Ok(if s.is_empty() { "unknown" } else { s }.to_string())
}

/// Sets the `reporter` (a `weir_reporter`) and `source_*` labels of the
/// engine's metrics (call
/// once at startup; series recorded before take the new labels too).
/// Thread-safe.
///
/// # Safety
/// `engine` live; `workload` valid with valid strings.
#[no_mangle]
pub unsafe extern "C" fn weir_engine_set_metrics_source(
    engine: *const weir_engine,
    reporter: u32,
    workload: *const weir_workload,
) -> weir_result {
    panic::boundary(|| {
        let engine = cast::try_ref(engine)?;
        let w = cast::try_ref(workload)?;
        let workload = Workload {
            name: label(w.name, w.name_len)?,
            namespace: label(w.namespace_, w.namespace_len)?,
            app: label(w.app, w.app_len)?,
            version: label(w.version, w.version_len)?,
        };
        let reporter = match reporter {
            0 => Reporter::Source,
            1 => Reporter::Destination,
            _ => return Err(weir_result::InvalidArgument),
        };
        engine.engine.metrics().set_source(reporter, workload);
        Ok(())
    })
}

/// Records a finished request in the engine's metrics
/// (`istio_requests_total`, `istio_request_duration_milliseconds`,
/// `istio_request_bytes`, `istio_response_bytes`) under the labels of the
/// last decision made into `decision` and of `end`. Call it before the
/// next decide into `decision`. Lock-free and allocation-free; thread-safe.
///
/// `WEIR_RESULT_NO_DECISION` when `decision` holds none.
///
/// # Safety
/// `engine` live; `decision` live, its snapshot still held; `end` readable.
#[no_mangle]
pub unsafe extern "C" fn weir_engine_record(
    engine: *const weir_engine,
    decision: *const weir_decision,
    end: *const weir_request_end,
) -> weir_result {
    panic::boundary(|| {
        let engine = cast::try_ref(engine)?;
        let d = cast::try_ref(decision)?.get()?;
        let end = request_end(cast::try_ref(end)?);
        engine.engine.metrics().record_request(d, &end);
        Ok(())
    })
}

fn request_end(e: &weir_request_end) -> RequestEnd {
    RequestEnd {
        status: u16::try_from(e.status).unwrap_or(0),
        grpc_status: u8::try_from(e.grpc_status).ok().filter(|&g| g <= 16),
        protocol: if e.protocol == weir_protocol::Grpc as u32 {
            Protocol::Grpc
        } else {
            Protocol::Http
        },
        duration: Duration::from_micros(e.duration_us),
        request_bytes: e.request_bytes,
        response_bytes: e.response_bytes,
        flags: ResponseFlags(e.flags as u16),
    }
}

/// `weir_engine_record` for a binding that kept a copy of the decision, not
/// the `weir_decision` object: the decision's `cluster` name (as the view
/// gave it; empty for none), `outcome` (a `weir_outcome`; another number is
/// `WEIR_RESULT_INVALID_ARGUMENT`), local-reply `status` and whether a
/// fault `delayed` it, on the `snapshot` it was made on. The cluster is
/// looked up by name in the snapshot (a hash lookup): lock-free and
/// allocation-free. A name the snapshot does not know records the
/// destination as unknown.
///
/// # Safety
/// `engine` and `snapshot` live; `cluster` valid for `cluster_len` bytes;
/// `end` readable.
#[no_mangle]
pub unsafe extern "C" fn weir_engine_record_outcome(
    engine: *const weir_engine,
    snapshot: *const weir_snapshot,
    cluster: *const c_char,
    cluster_len: usize,
    outcome: u32,
    status: u32,
    delayed: bool,
    end: *const weir_request_end,
) -> weir_result {
    panic::boundary(|| {
        let engine = cast::try_ref(engine)?;
        let table: &Table = cast::arc_ref(snapshot)?;
        let cluster = cast::try_str(cluster, cluster_len)?;
        let end = request_end(cast::try_ref(end)?);
        let cluster = match cluster {
            "" => None,
            name => table
                .cluster_index(name)
                .and_then(|i| table.clusters().get(i)),
        };
        let outcome = outcome_of(outcome)?;
        let decided = Decided {
            cluster,
            outcome,
            status: u16::try_from(status).unwrap_or(0),
            delayed,
        };
        let metrics = engine.engine.metrics();
        let key = metrics.request_key_of(&decided, &end);
        metrics.record_request_key(key, &end);
        Ok(())
    })
}

/// The outcome a `weir_outcome` number names (`InvalidArgument` for
/// another number).
pub(crate) fn outcome_of(outcome: u32) -> Result<Outcome, weir_result> {
    [
        Outcome::Route,
        Outcome::Redirect,
        Outcome::DirectResponse,
        Outcome::FaultAbort,
        Outcome::NoRoute,
        Outcome::NoCluster,
        Outcome::NoHealthyUpstream,
        Outcome::Overflow,
    ]
    .into_iter()
    .find(|&o| weir_outcome::from(o) as u32 == outcome)
    .ok_or(weir_result::InvalidArgument)
}

/// Writes the engine's metrics in the Prometheus text format (0.0.4) into
/// `buf` and its length into `*out_len`.
///
/// When `buf_len` is too small, writes nothing into `buf`, the length
/// needed into `*out_len`, and returns `WEIR_RESULT_BUFFER_TOO_SMALL` (never
/// a truncated document). Series can appear between two calls: allocate
/// some room over the size needed. `(NULL, 0)` asks for the size only.
/// Allocates (it is for scrapes); thread-safe.
///
/// # Safety
/// `engine` live; `buf` writable for `buf_len` bytes (or NULL with 0);
/// `out_len` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_engine_metrics(
    engine: *const weir_engine,
    buf: *mut c_char,
    buf_len: usize,
    out_len: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let engine = cast::try_ref(engine)?;
        let out_len = cast::try_out(out_len)?;
        let buf = cast::try_bytes_mut(buf.cast::<u8>(), buf_len)?;
        match engine.engine.metrics().render_into(buf) {
            Ok(n) => {
                *out_len = n;
                Ok(())
            }
            Err(needed) => {
                *out_len = needed;
                Err(weir_result::BufferTooSmall)
            }
        }
    })
}

/// Writes the request id a request without `x-request-id` gets: a UUID v4
/// made from `entropy` (the decision's, so the same input gives the same
/// id), `WEIR_REQUEST_ID_LEN` bytes of text into `out` (not NUL-terminated).
/// A request that has an `x-request-id` keeps it. Thread-safe.
///
/// # Safety
/// `out` writable for `WEIR_REQUEST_ID_LEN` bytes.
#[no_mangle]
pub unsafe extern "C" fn weir_request_id(entropy: u64, out: *mut c_char) -> weir_result {
    panic::boundary(|| {
        let out = cast::try_bytes_mut(out.cast::<u8>(), WEIR_REQUEST_ID_LEN)?;
        out.copy_from_slice(RequestId::from_entropy(entropy).as_str().as_bytes());
        Ok(())
    })
}

/// A local rate limit token bucket (Envoy's `local_ratelimit`
/// `token_bucket`): lock-free, on the caller's clock.
///
/// Thread safety: every call may run from any thread at once except
/// `weir_rate_limiter_free`, the last.
pub struct weir_rate_limiter {
    bucket: TokenBucket,
}

impl std::fmt::Debug for weir_rate_limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("weir_rate_limiter").finish_non_exhaustive()
    }
}

/// Makes a full bucket of `max_tokens`, refilled with `tokens_per_fill`
/// every `fill_interval_ms`, its clock starting at `now_ms`.
///
/// # Safety
/// `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_rate_limiter_new(
    max_tokens: u32,
    tokens_per_fill: u32,
    fill_interval_ms: u64,
    now_ms: u64,
    out: *mut *mut weir_rate_limiter,
) -> weir_result {
    panic::boundary(|| {
        let out = cast::try_out(out)?;
        if fill_interval_ms == 0 {
            return Err(weir_result::InvalidArgument);
        }
        *out = cast::new_handle(weir_rate_limiter {
            bucket: TokenBucket::new(
                max_tokens,
                tokens_per_fill,
                Duration::from_millis(fill_interval_ms),
                now_ms,
            ),
        });
        Ok(())
    })
}

/// Takes a token at `now_ms`; `*admitted` is true when the request may go,
/// false when it must be refused (429 with `x-local-rate-limit: true`).
/// Refusals count in the metrics of `engine` when it is not NULL
/// (`weir_rate_limited_total`). Lock-free; thread-safe.
///
/// # Safety
/// `limiter` live; `engine` NULL or live; `admitted` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_rate_limiter_take(
    limiter: *const weir_rate_limiter,
    engine: *const weir_engine,
    now_ms: u64,
    admitted: *mut bool,
) -> weir_result {
    panic::boundary(|| {
        let limiter = cast::try_ref(limiter)?;
        let admitted = cast::try_out(admitted)?;
        let ok = limiter.bucket.try_take(now_ms);
        if !ok {
            if let Some(engine) = cast::opt_ref(engine) {
                engine.engine.metrics().count_rate_limited();
            }
        }
        *admitted = ok;
        Ok(())
    })
}

/// Frees a rate limiter. NULL is a no-op.
///
/// # Safety
/// `limiter` NULL or from `weir_rate_limiter_new`, not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn weir_rate_limiter_free(limiter: *mut weir_rate_limiter) -> weir_result {
    panic::boundary(|| cast::free_handle(limiter))
}

/// Records an opened TCP connection (`istio_tcp_connections_opened_total`)
/// under the last (TCP) decision made into `decision`. Lock-free and
/// allocation-free; thread-safe.
///
/// # Safety
/// `engine` live; `decision` live, its snapshot still held.
#[no_mangle]
pub unsafe extern "C" fn weir_engine_record_tcp_open(
    engine: *const weir_engine,
    decision: *const weir_decision,
) -> weir_result {
    panic::boundary(|| {
        let engine = cast::try_ref(engine)?;
        let d = cast::try_ref(decision)?.get()?;
        engine.engine.metrics().record_tcp_open(d);
        Ok(())
    })
}

/// Records a closed TCP connection and its bytes: `sent` to the client,
/// `received` from it (`istio_tcp_connections_closed_total`,
/// `istio_tcp_sent_bytes_total`, `istio_tcp_received_bytes_total`).
///
/// # Safety
/// As `weir_engine_record_tcp_open`.
#[no_mangle]
pub unsafe extern "C" fn weir_engine_record_tcp_close(
    engine: *const weir_engine,
    decision: *const weir_decision,
    sent: u64,
    received: u64,
) -> weir_result {
    panic::boundary(|| {
        let engine = cast::try_ref(engine)?;
        let d = cast::try_ref(decision)?.get()?;
        engine.engine.metrics().record_tcp_close(d, sent, received);
        Ok(())
    })
}
