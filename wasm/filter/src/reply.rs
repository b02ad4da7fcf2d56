//! Weir's local replies: its own answers (no route, no cluster, redirects,
//! direct responses) and fault aborts, and the end of a fault delay.

use crate::filter::log;
use crate::settings::Settings;
use proxy_wasm::hostcalls;
use proxy_wasm::types::LogLevel;
use weir_core::decision::Outcome;

/// Sends Weir's local answer (the outcome named in a header).
pub(crate) fn local_reply(
    settings: &Settings,
    status: u16,
    outcome: Outcome,
    extra: &[(&str, &str)],
    body: &[u8],
) {
    let mut headers: Vec<(&str, &str)> = Vec::with_capacity(extra.len() + 1);
    if !settings.outcome_header.is_empty() {
        headers.push((&settings.outcome_header, outcome.as_str()));
    }
    headers.extend_from_slice(extra);
    if let Err(e) = hostcalls::send_http_response(u32::from(status), headers, Some(body)) {
        log(
            LogLevel::Error,
            &format!("weir: send_http_response failed: {e:?}"),
        );
    }
}

pub(crate) fn abort_reply(settings: &Settings, status: u16, grpc: Option<u32>) {
    match grpc {
        Some(code) => {
            let code = code.to_string();
            local_reply(
                settings,
                200,
                Outcome::FaultAbort,
                &[("content-type", "application/grpc"), ("grpc-status", &code)],
                b"",
            );
        }
        None => local_reply(
            settings,
            status,
            Outcome::FaultAbort,
            &[],
            b"fault filter abort",
        ),
    }
}

/// Ends a delay in the current (effective) context: abort, or resume.
pub(crate) fn finish_delay(settings: &Settings, then_abort: Option<(u16, Option<u32>)>) {
    match then_abort {
        Some((status, grpc)) => abort_reply(settings, status, grpc),
        None => {
            if let Err(e) = hostcalls::resume_http_request() {
                log(
                    LogLevel::Warn,
                    &format!("weir: resume after delay failed: {e:?}"),
                );
            }
        }
    }
}
