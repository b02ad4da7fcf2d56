//! Checks shared by every analyzer: hosts, names, ports, durations,
//! percentages, `exportTo` and header edits.

use super::Reporter;
use crate::config::model::*;
use crate::config::names::parse_duration;
use std::time::Duration;

pub(super) use super::hostnames::is_dns1123_label;

/// `exportTo` as Istio's webhook checks it (`validateExportTo` in
/// pkg/config/validation): `.`, `*` or namespace names, no duplicates (`.`
/// is the own namespace), `*` alone, and `~` (nobody) only on a
/// ServiceEntry, alone; a DestinationRule with a `workloadSelector` applies
/// in its own namespace only, so it may name nothing else.
pub(super) fn export_to(entries: &[String], namespace: &str, of: ExportToOf, r: &mut Reporter<'_>) {
    let none_allowed = of == ExportToOf::ServiceEntry;
    let mut seen: Vec<&str> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let field = || format!("spec.exportTo[{i}]");
        let key = if e == "." { namespace } else { e.as_str() };
        if seen.contains(&key) {
            let message = if key != e {
                format!(
                    "duplicate entries in exportTo: \".\" and the current namespace {namespace:?}"
                )
            } else {
                format!("duplicate entry {e:?} in exportTo")
            };
            r.error(&field(), message);
            continue;
        }
        let valid = e == "." || e == "*" || (none_allowed && e == "~") || is_dns1123_label(e);
        if !valid {
            let allowed = if none_allowed { "., *, ~" } else { ". or *" };
            r.error(
                &field(),
                format!("{e:?} is not an exportTo entry: only {allowed} or a namespace name (a DNS-1123 label)"),
            );
            continue;
        }
        seen.push(key);
    }
    if entries.len() > 1 && seen.contains(&"*") {
        r.error(
            "spec.exportTo",
            "cannot have both public (*) and non-public exportTo values".into(),
        );
    }
    if entries.len() > 1 && seen.contains(&"~") {
        r.error(
            "spec.exportTo",
            "cannot export to no one (~) and to someone".into(),
        );
    }
    if of == ExportToOf::DestinationRuleWithSelector && !seen.is_empty() {
        if !seen.contains(&namespace) {
            r.error(
                "spec.exportTo",
                "destination rule with workload selector cannot have exportTo beyond current namespace".into(),
            );
        } else if seen.len() > 1 {
            r.error(
                "spec.exportTo",
                "destination rule with workload selector cannot have multiple entries in exportTo"
                    .into(),
            );
        }
    }
}

/// Which kind of resource an `exportTo` list belongs to: each allows
/// different entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ExportToOf {
    VirtualService,
    DestinationRule,
    DestinationRuleWithSelector,
    ServiceEntry,
}

pub(super) fn check_port(p: u32, field: &str, r: &mut Reporter<'_>) {
    if !(1..=65535).contains(&p) {
        r.error(field, format!("port number {p} must be within 1-65535"));
    }
}

pub(super) fn check_duration(text: &str, field: &str, r: &mut Reporter<'_>) {
    if let Err(e) = parse_duration(text) {
        r.error(field, e);
    }
}

/// Istio's `ValidateDuration` (pkg/config/validation/agent): at least 1ms,
/// whole milliseconds. The duration when it parses.
pub(super) fn ms_duration(text: &str, field: &str, r: &mut Reporter<'_>) -> Option<Duration> {
    match parse_duration(text) {
        Err(e) => {
            r.error(field, e);
            None
        }
        Ok(d) if d < Duration::from_millis(1) => {
            r.error(field, "duration must be greater than 1ms".into());
            Some(d)
        }
        Ok(d) if d.as_nanos() % 1_000_000 != 0 => {
            r.error(field, "only durations to ms precision are supported".into());
            Some(d)
        }
        Ok(d) => Some(d),
    }
}

pub(super) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Header edits as Istio's `validateHTTPRouteDestinations` and
/// `validateHTTPRoute` check them: request `set`/`add` may name
/// `:authority` (the authority rewrite) and `host`, but no other
/// pseudo-header (`ValidateHTTPHeaderWithAuthorityOperationName`); request
/// `remove` and every response edit may name neither `host` nor a
/// pseudo-header (`ValidateHTTPHeaderOperationName`); values carry no
/// control characters (`ValidateHTTPHeaderValue`). Weir also refuses names
/// that are not HTTP tokens, which Envoy would refuse.
pub(super) fn header_ops(h: &Headers, field: &str, r: &mut Reporter<'_>) {
    for (dir, ops) in [("request", &h.request), ("response", &h.response)] {
        let Some(ops) = ops else { continue };
        let names = ops
            .set
            .iter()
            .map(|(k, v)| ("set", k, Some(v)))
            .chain(ops.add.iter().map(|(k, v)| ("add", k, Some(v))))
            .chain(ops.remove.iter().map(|k| ("remove", k, None)));
        for (op, name, value) in names {
            let f = format!("{field}.{dir}.{op}.{name}");
            let writes_request = dir == "request" && op != "remove";
            if name.is_empty() {
                r.error(&f, "header name cannot be empty".into());
            } else if name.starts_with(':') {
                if !(writes_request && name.eq_ignore_ascii_case(":authority")) {
                    r.error(
                        &f,
                        format!("invalid header {name:?}: header cannot have \":\" prefix"),
                    );
                }
            } else if !writes_request && name.eq_ignore_ascii_case("host") {
                r.error(
                    &f,
                    format!("invalid header {name:?}: cannot set Host header"),
                );
            } else if !name.bytes().all(is_tchar) {
                r.error(
                    &f,
                    format!("header name {name:?} is not a valid HTTP header name"),
                );
            }
            if let Some(v) = value {
                if v.chars()
                    .any(|c| (c.is_control() && c != '\t') || c == '\u{7f}')
                {
                    r.error(&f, format!("header value configuration {v} is invalid"));
                }
            }
        }
    }
}
