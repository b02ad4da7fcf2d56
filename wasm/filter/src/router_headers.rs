//! The request headers that carry a decision to Envoy's router: timeouts
//! and retries through the `x-envoy-*` headers it trusts when a filter
//! (not the client) sets them, and the route and destination headers that
//! `header_to_metadata` moves into dynamic metadata for the access log.

use crate::settings::Settings;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{MapType, Status};
use std::fmt::Write as _;
use weir_core::Decision;

/// A host call failed: answer 500 and say which.
#[derive(Debug)]
pub(crate) struct Failure(pub(crate) &'static str, pub(crate) Status);

pub(crate) fn set_request(name: &str, value: &str) -> Result<(), Failure> {
    hostcalls::set_map_value(MapType::HttpRequestHeaders, name, Some(value))
        .map_err(|s| Failure("set request header", s))
}

/// Istio's retry conditions split as Envoy's headers want them.
const GRPC_RETRY_ON: &[&str] = &[
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

/// Weir's route and destination for Envoy's access log, as request
/// headers Envoy's `header_to_metadata` moves into dynamic metadata
/// (telemetry.rs); set on every routed request, so a client's are overwritten.
pub(crate) fn set_log_headers(settings: &Settings, d: &Decision<'_>) -> Result<(), Failure> {
    let t = &settings.telemetry;
    if let (Some(h), Some(route)) = (&t.route_header, d.route) {
        set_request(h, &crate::telemetry::route_name(&route.rule))?;
    }
    if let (Some(h), Some(c)) = (&t.destination_header, d.cluster) {
        set_request(h, &c.name)?;
    }
    Ok(())
}

/// Timeout and retry policy through the headers Envoy's router trusts
/// when a filter (not the client) sets them; none for Istio's default
/// retries when the route already carries them.
pub(crate) fn set_timeouts(settings: &Settings, d: &Decision<'_>) -> Result<(), Failure> {
    let mut buf = String::new();
    if let Some(t) = d.timeout() {
        let _ = write!(buf, "{}", t.as_millis());
        set_request("x-envoy-upstream-rq-timeout-ms", &buf)?;
    }
    let Some(r) = d.retries() else { return Ok(()) };
    if settings.default_retries_on_route && r.is_istio_default() {
        return Ok(());
    }
    if r.attempts == 0 {
        // Said explicitly: the route may carry a default policy.
        return set_request("x-envoy-max-retries", "0");
    }
    buf.clear();
    let _ = write!(buf, "{}", r.attempts);
    set_request("x-envoy-max-retries", &buf)?;
    let (mut http, mut grpc) = (String::new(), String::new());
    for cond in r
        .retry_on
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        let out = if GRPC_RETRY_ON.contains(&cond) {
            &mut grpc
        } else {
            &mut http
        };
        if !out.is_empty() {
            out.push(',');
        }
        out.push_str(cond);
    }
    if !http.is_empty() {
        set_request("x-envoy-retry-on", &http)?;
    }
    if !grpc.is_empty() {
        set_request("x-envoy-retry-grpc-on", &grpc)?;
    }
    if !r.retriable_status_codes.is_empty() {
        buf.clear();
        for (i, code) in r.retriable_status_codes.iter().enumerate() {
            let _ = write!(buf, "{}{code}", if i == 0 { "" } else { "," });
        }
        set_request("x-envoy-retriable-status-codes", &buf)?;
    }
    if let Some(t) = r.per_try_timeout {
        buf.clear();
        let _ = write!(buf, "{}", t.as_millis());
        set_request("x-envoy-upstream-rq-per-try-timeout-ms", &buf)?;
    }
    Ok(())
}
