//! `http[].match[]` blocks as Istio's webhook judges them
//! (`validateHTTPRouteMatchRequest`, pkg/config/validation/virtualservice.go).

use super::fields::{check_port, is_dns1123_label, is_tchar};
use super::Reporter;
use crate::config::model::*;
use crate::diagnostic::Severity;

/// Where a StringMatch sits: each place allows different things.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MatchOf {
    /// `uri`: an empty prefix matches every path (Envoy allows it).
    Uri,
    /// `withoutHeaders`: `regex: "*"` means presence, not a regex.
    WithoutHeader,
    /// `headers`, `scheme`, `method`, `authority`, `queryParams`.
    Other,
}

/// A StringMatch as Istio's `validateStringMatch` checks it: a non-empty
/// prefix (but on `uri`), a non-empty regex that compiles. `{}` passes
/// everywhere (a presence match for headers and query parameters, no
/// condition otherwise).
pub(super) fn string_match(m: &StringMatch, field: &str, of: MatchOf, r: &mut Reporter<'_>) {
    let set = [m.exact.is_some(), m.prefix.is_some(), m.regex.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if set > 1 {
        r.error(
            field,
            "only one of exact, prefix or regex may be set".into(),
        );
    }
    if m.prefix.as_deref() == Some("") && of != MatchOf::Uri {
        r.error(
            &format!("{field}.prefix"),
            "prefix string match should not be empty".into(),
        );
    }
    if let Some(re) = &m.regex {
        regex(re, &format!("{field}.regex"), of, r);
    }
}

/// Istio's `validateStringMatchRegexp`: non-empty, RE2, at most 1024 bytes.
fn regex(re: &str, field: &str, of: MatchOf, r: &mut Reporter<'_>) {
    if re.is_empty() {
        r.error(field, "regex string match should not be empty".into());
    } else if !(of == MatchOf::WithoutHeader && re == "*") {
        if let Err(e) = r.regexes.full_match(re) {
            r.error(
                field,
                format!("invalid regex {re:?}: {e}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)"),
            );
        }
    }
}

/// The pseudo-headers Istio lets a match name (`pseudoHeaders` in
/// pkg/config/validation/validation.go); Weir reads them off the request.
pub(crate) const PSEUDO_HEADERS: [&str; 5] =
    [":method", ":scheme", ":authority", ":path", ":status"];

/// Istio's JWT-claim header form (`jwt.ToRoutingClaim`, pkg/jwt/routing.go):
/// `@request.auth.claims.a.b` or `@request.auth.claims[a][b]`.
pub(super) fn is_jwt_claim(name: &str) -> bool {
    const PREFIX: &str = "@request.auth.claims";
    let Some(head) = name.get(..PREFIX.len()) else {
        return false;
    };
    if !head.eq_ignore_ascii_case(PREFIX) {
        return false;
    }
    let rest = &name[PREFIX.len()..];
    (rest.starts_with('.') && rest.len() > 1)
        || (rest.starts_with('[') && rest.ends_with(']') && rest.len() > 2)
}

/// Istio's `ValidateHTTPHeaderNameOrJwtClaimRoute`.
fn header_name(name: &str, field: &str, r: &mut Reporter<'_>) {
    if name.is_empty() {
        r.error(field, "header name cannot be empty".into());
    } else if is_jwt_claim(name) {
        r.push(
            "WEIR0020",
            Severity::Info,
            field,
            format!("{name:?} matches a JWT claim, which the proxy's RequestAuthentication provides: Weir sees no claims, so here the condition never holds"),
        );
    } else if !PSEUDO_HEADERS.contains(&name) && !name.bytes().all(is_tchar) {
        r.error(
            field,
            format!("header name {name} is not a valid header name"),
        );
    }
}

/// One match block. `{}` is accepted, as Istio does: it matches every request.
pub(super) fn match_request(m: &HttpMatchRequest, field: &str, r: &mut Reporter<'_>) {
    if let Some(sm) = &m.uri {
        string_match(sm, &format!("{field}.uri"), MatchOf::Uri, r);
    }
    for (name, sm) in [
        ("scheme", &m.scheme),
        ("method", &m.method),
        ("authority", &m.authority),
    ] {
        if let Some(sm) = sm {
            string_match(sm, &format!("{field}.{name}"), MatchOf::Other, r);
        }
    }
    for (kind, map, of) in [
        ("headers", &m.headers, MatchOf::Other),
        ("withoutHeaders", &m.without_headers, MatchOf::WithoutHeader),
    ] {
        for (name, sm) in map {
            let f = format!("{field}.{kind}.{name}");
            header_name(name, &f, r);
            string_match(sm, &f, of, r);
        }
    }
    for (name, sm) in &m.query_params {
        string_match(
            sm,
            &format!("{field}.queryParams.{name}"),
            MatchOf::Other,
            r,
        );
    }
    if let Some(p) = m.port {
        check_port(p, &format!("{field}.port"), r);
    }
    for (k, v) in &m.source_labels {
        if let Err(e) = super::workload_entry::label(k, v) {
            r.error(&format!("{field}.sourceLabels.{k}"), e);
        }
    }
    if let Some(ns) = &m.source_namespace {
        if !is_dns1123_label(ns) {
            r.error(
                &format!("{field}.sourceNamespace"),
                format!("sourceNamespace match {ns} is invalid"),
            );
        }
    }
}
