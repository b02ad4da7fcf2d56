//! Access logs through the C ABI: a `weir_access_log` hands each logged
//! request's line (Envoy's default text format, or JSON) to the caller's
//! callback, as the Telemetry API's `accessLogging` for the proxy's
//! namespace says (no Telemetry: every request is logged).

use crate::cast;
use crate::engine::weir_engine;
use crate::error::weir_result;
use crate::panic;
use crate::slice::{weir_header, weir_str};
use std::ffi::c_void;
use std::os::raw::c_char;
use std::sync::Mutex;
use weir_core::config::policy::telemetry::AccessLogging;
use weir_core::request::HeaderList;
use weir_core::telemetry::{AccessLogRecord, LogFormat, ResponseFlags};

/// `format` of `weir_access_log_new`: Envoy's default text format.
pub const WEIR_ACCESS_LOG_TEXT: u32 = 0;
/// `format` of `weir_access_log_new`: one JSON object a line.
pub const WEIR_ACCESS_LOG_JSON: u32 = 1;

/// One finished request, as the proxy saw it. Strings are `ptr + len`
/// UTF-8 (`(NULL, 0)`: absent, printed `-`), read during the call only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_access_log_request {
    /// Request start, milliseconds since the Unix epoch.
    pub start_ms: u64,
    pub method: *const c_char,
    pub method_len: usize,
    /// The path with its query (`x-envoy-original-path` when rewritten).
    pub path: *const c_char,
    pub path_len: usize,
    /// `HTTP/1.1`, `HTTP/2`…
    pub protocol: *const c_char,
    pub protocol_len: usize,
    pub authority: *const c_char,
    pub authority_len: usize,
    /// `x-request-id` as sent upstream.
    pub request_id: *const c_char,
    pub request_id_len: usize,
    pub user_agent: *const c_char,
    pub user_agent_len: usize,
    pub x_forwarded_for: *const c_char,
    pub x_forwarded_for_len: usize,
    /// The endpoint `ip:port` the request went to.
    pub upstream_host: *const c_char,
    pub upstream_host_len: usize,
    /// The decision's cluster (`outbound|PORT|SUBSET|HOST`).
    pub upstream_cluster: *const c_char,
    pub upstream_cluster_len: usize,
    /// Weir's route name (`namespace/virtual-service/index[/name]`).
    pub route_name: *const c_char,
    pub route_name_len: usize,
    /// The request's headers, for `request.headers[…]` in a log filter.
    pub headers: *const weir_header,
    pub headers_len: usize,
    /// The status sent to the client.
    pub response_code: u32,
    /// `WEIR_RESPONSE_FLAG_*` or-ed: what the proxy knows (Weir adds
    /// those of `outcome` and `delayed`).
    pub response_flags: u32,
    /// The decision's outcome (a `weir_outcome`): a local reply's flags
    /// (`NR`, `FI`, `UH`…) come from it.
    pub outcome: u32,
    /// A fault delay was injected (`DI`).
    pub delayed: bool,
    /// `grpc-status` of a gRPC response, -1 for none.
    pub grpc_status: i32,
    pub bytes_received: u64,
    pub bytes_sent: u64,
    pub duration_ms: u64,
}

/// What the callback gets: the line and the request it is about. Valid
/// during the callback only.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_access_log_entry {
    /// The line, ending in `\n` (not NUL-terminated).
    pub line: weir_str,
    /// The request as passed to `weir_access_log_write`.
    pub request: *const weir_access_log_request,
}

/// Called once per logged request, on the thread that called
/// `weir_access_log_write`.
pub type weir_access_log_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, entry: *const weir_access_log_entry)>;

/// An access log: a callback and the policy it follows.
///
/// Thread safety: `weir_access_log_write` may run from any thread at once
/// (the callback must be thread-safe then); `weir_access_log_free` last.
pub struct weir_access_log {
    engine: *const weir_engine,
    /// `None`: only `weir_access_log_check` is used (the binding writes).
    callback: weir_access_log_callback,
    user_data: *mut c_void,
    format: LogFormat,
    namespace: String,
    /// The policy as of table id `.0` (refreshed when the engine applies).
    policy: Mutex<(u64, Option<AccessLogging>)>,
}

// The caller promises `user_data` and the engine may be used from any thread.
unsafe impl Send for weir_access_log {}
unsafe impl Sync for weir_access_log {}

impl std::fmt::Debug for weir_access_log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("weir_access_log")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

/// Makes an access log for a proxy in `namespace` (its Telemetry, else the
/// root namespace's, decides what is logged) writing `format`
/// (`WEIR_ACCESS_LOG_TEXT` or `WEIR_ACCESS_LOG_JSON`) to `callback`
/// (NULL: the binding writes its own lines and asks
/// `weir_access_log_check`). The engine must outlive the log.
///
/// # Safety
/// `engine` live for the log's life; `namespace` valid for `namespace_len`
/// bytes; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_access_log_new(
    engine: *const weir_engine,
    callback: weir_access_log_callback,
    user_data: *mut c_void,
    format: u32,
    namespace: *const c_char,
    namespace_len: usize,
    out: *mut *mut weir_access_log,
) -> weir_result {
    panic::boundary(|| {
        cast::try_ref(engine)?;
        let out = cast::try_out(out)?;
        let format = match format {
            WEIR_ACCESS_LOG_TEXT => LogFormat::Text,
            WEIR_ACCESS_LOG_JSON => LogFormat::Json,
            _ => return Err(weir_result::InvalidArgument),
        };
        let namespace = cast::try_str(namespace, namespace_len)?.to_string();
        *out = cast::new_handle(weir_access_log {
            engine,
            callback,
            user_data,
            format,
            namespace,
            policy: Mutex::new((u64::MAX, None)),
        });
        Ok(())
    })
}

/// Logs one finished request: when the policy in force logs it, formats
/// the line and calls the callback (before returning); `*logged` says
/// whether it did. Allocates (a line); not on the decision path.
///
/// # Safety
/// `log` live; `request` readable with its strings and headers valid;
/// `logged` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn weir_access_log_write(
    log: *const weir_access_log,
    request: *const weir_access_log_request,
    logged: *mut bool,
) -> weir_result {
    panic::boundary(|| {
        let log = cast::try_ref(log)?;
        let r = cast::try_ref(request)?;
        let s = |p, n| cast::try_str(p, n);
        let list = cast::try_slice(r.headers, r.headers_len)?;
        let mut pairs = Vec::with_capacity(list.len());
        for h in list {
            pairs.push((s(h.name, h.name_len)?, s(h.value, h.value_len)?));
        }
        let headers = HeaderList(&pairs);
        let mut flags = String::new();
        let outcome = crate::telemetry::outcome_of(r.outcome)?;
        let _ = ResponseFlags::of_outcome(outcome, r.delayed)
            .union(ResponseFlags(r.response_flags as u16))
            .write_to(&mut flags);
        let record = AccessLogRecord {
            start_ms: r.start_ms,
            method: s(r.method, r.method_len)?,
            path: s(r.path, r.path_len)?,
            protocol: s(r.protocol, r.protocol_len)?,
            response_code: u16::try_from(r.response_code).unwrap_or(0),
            response_flags: &flags,
            bytes_received: r.bytes_received,
            bytes_sent: r.bytes_sent,
            duration_ms: r.duration_ms,
            x_forwarded_for: s(r.x_forwarded_for, r.x_forwarded_for_len)?,
            user_agent: s(r.user_agent, r.user_agent_len)?,
            request_id: s(r.request_id, r.request_id_len)?,
            authority: s(r.authority, r.authority_len)?,
            upstream_host: s(r.upstream_host, r.upstream_host_len)?,
            upstream_cluster: s(r.upstream_cluster, r.upstream_cluster_len)?,
            route_name: s(r.route_name, r.route_name_len)?,
            headers: &headers,
            grpc_status: u8::try_from(r.grpc_status).ok(),
        };
        let is_logged = log.is_logged(&record)?;
        if let (true, Some(callback)) = (is_logged, log.callback) {
            let mut line = String::with_capacity(256);
            record.write(log.format, &mut line);
            let entry = weir_access_log_entry {
                line: weir_str::new(&line),
                request: r,
            };
            callback(log.user_data, &entry);
        }
        if let Some(out) = logged.as_mut() {
            *out = is_logged;
        }
        Ok(())
    })
}

/// Frees an access log. NULL is a no-op.
///
/// # Safety
/// `log` NULL or from `weir_access_log_new`, not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn weir_access_log_free(log: *mut weir_access_log) -> weir_result {
    panic::boundary(|| cast::free_handle(log))
}

/// Parses an HTTP/1 header block (`name: value` lines, `\n` or `\r\n`)
/// into pairs: how bindings without C structs pass headers (Go).
pub(crate) fn header_block(text: &str) -> Vec<(&str, &str)> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim(), v.trim()))
        .collect()
}

/// Whether the access-log policy in force logs a request, for bindings that
/// write their own lines (Go): the fields a Telemetry filter reads, as plain
/// arguments. `headers` is an HTTP/1 header block (`name: value` lines).
/// `outcome` is a `weir_outcome`; `grpc_status` -1 for none.
///
/// # Safety
/// `log` live; every string valid for its length; `logged` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_access_log_check(
    log: *const weir_access_log,
    method: *const c_char,
    method_len: usize,
    authority: *const c_char,
    authority_len: usize,
    path: *const c_char,
    path_len: usize,
    headers: *const c_char,
    headers_len: usize,
    response_code: u32,
    response_flags: u32,
    outcome: u32,
    delayed: bool,
    grpc_status: i32,
    duration_ms: u64,
    request_size: u64,
    response_size: u64,
    logged: *mut bool,
) -> weir_result {
    panic::boundary(|| {
        let log = cast::try_ref(log)?;
        let logged = cast::try_out(logged)?;
        let pairs = header_block(cast::try_str(headers, headers_len)?);
        let headers = HeaderList(&pairs);
        let mut flags = String::new();
        let _ = ResponseFlags::of_outcome(crate::telemetry::outcome_of(outcome)?, delayed)
            .union(ResponseFlags(response_flags as u16))
            .write_to(&mut flags);
        let record = AccessLogRecord {
            start_ms: 0,
            method: cast::try_str(method, method_len)?,
            path: cast::try_str(path, path_len)?,
            protocol: "",
            response_code: u16::try_from(response_code).unwrap_or(0),
            response_flags: &flags,
            bytes_received: request_size,
            bytes_sent: response_size,
            duration_ms,
            x_forwarded_for: "",
            user_agent: "",
            request_id: "",
            authority: cast::try_str(authority, authority_len)?,
            upstream_host: "",
            upstream_cluster: "",
            route_name: "",
            headers: &headers,
            grpc_status: u8::try_from(grpc_status).ok(),
        };
        *logged = log.is_logged(&record)?;
        Ok(())
    })
}

impl weir_access_log {
    /// The policy in force (refreshed when the engine's table changed).
    fn is_logged(&self, record: &AccessLogRecord<'_>) -> Result<bool, weir_result> {
        // SAFETY: the engine outlives the log (`weir_access_log_new`).
        let engine = &unsafe { cast::try_ref(self.engine) }?.engine;
        let table_id = engine.snapshot().id();
        let mut policy = self.policy.lock().unwrap_or_else(|p| p.into_inner());
        if policy.0 != table_id {
            *policy = (table_id, engine.access_logging(&self.namespace));
        }
        Ok(record.is_logged(policy.1.as_ref()))
    }
}

/// Whether a Telemetry's `accessLogging` applies to the log's namespace
/// in the config in force (`*configured`), and whether it turns logs on
/// (`*enabled`; a filter may still leave requests out). Bindings use it to
/// turn their log on only when the config asks.
///
/// # Safety
/// `log` live; `configured` and `enabled` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_access_log_policy(
    log: *const weir_access_log,
    configured: *mut bool,
    enabled: *mut bool,
) -> weir_result {
    panic::boundary(|| {
        let log = cast::try_ref(log)?;
        let configured = cast::try_out(configured)?;
        let enabled = cast::try_out(enabled)?;
        let engine = &cast::try_ref(log.engine)?.engine;
        let policy = engine.access_logging(&log.namespace);
        *configured = policy.is_some();
        *enabled = policy.is_some_and(|p| p.enabled);
        Ok(())
    })
}
