//! One `http[]` rule as Istio's `validateHTTPRoute`
//! (pkg/config/validation/virtualservice.go) judges it: its action,
//! matches, redirect, direct response, rewrite and header edits; the
//! policies (fault, retries, CORS, mirrors, timeout) are `http_policy`'s.

use super::fields::*;
use super::http_match::match_request;
use super::REDIRECT_CODES;
use super::{Context, Reporter};
use crate::config::model::*;
use crate::config::names::resolve_gateway;
use crate::config::Resource;
use crate::diagnostic::Severity;

impl Context<'_> {
    pub(super) fn http_route(
        &self,
        vs: &Resource<VirtualServiceSpec>,
        route: &HttpRoute,
        field: &str,
        r: &mut Reporter<'_>,
    ) {
        let has_route = route.route.as_ref().is_some_and(|d| !d.is_empty());
        let has_redirect = route.redirect.is_some();
        let has_direct = route.direct_response.is_some();
        if let Some(d) = &route.delegate {
            self.delegate(vs, d, has_route || has_redirect || has_direct, field, r);
        }
        if route.delegate.is_none() {
            conflicts(route, field, r);
        }
        if let Some(matches) = &route.matches {
            for (j, m) in matches.iter().enumerate() {
                match_request(m, &format!("{field}.match[{j}]"), r);
                for (k, g) in m.gateways.iter().enumerate() {
                    let resolved = resolve_gateway(g, &vs.namespace);
                    if resolved != "mesh" && !self.gateways.contains(&resolved) {
                        r.push(
                            "IST0101",
                            Severity::Error,
                            &format!("{field}.match[{j}].gateways[{k}]"),
                            format!("Referenced gateway not found: {resolved:?}"),
                        );
                    }
                }
            }
        }
        if let Some(dests) = &route.route {
            let list: Vec<(&Destination, Option<i64>)> =
                dests.iter().map(|d| (&d.destination, d.weight)).collect();
            self.destinations(vs, &list, &format!("{field}.route"), r);
            for (i, d) in dests.iter().enumerate() {
                if let Some(h) = &d.headers {
                    header_ops(h, &format!("{field}.route[{i}].headers"), r);
                }
            }
        }
        if let Some(redirect) = &route.redirect {
            redirect_rules(redirect, route, &format!("{field}.redirect"), r);
        }
        if let Some(direct) = &route.direct_response {
            direct_response(direct, &format!("{field}.directResponse"), r);
        }
        if let Some(rw) = &route.rewrite {
            rewrite(rw, &format!("{field}.rewrite"), r);
        }
        self.policies(vs, route, field, r);
        if let Some(h) = &route.headers {
            header_ops(h, &format!("{field}.headers"), r);
        }
        authority_rewrite(route, field, r);
    }
}

/// Istio's `validateHTTPRouteConflict` for a rule that does not delegate
/// (a delegating one is [`Context::delegate`]'s): one action, and what may
/// not come with a redirect or a direct response.
fn conflicts(route: &HttpRoute, field: &str, r: &mut Reporter<'_>) {
    let has_route = route.route.as_ref().is_some_and(|d| !d.is_empty());
    let mut refuse = |message: &str| r.error(field, message.into());
    if route.redirect.is_some() {
        if has_route {
            refuse("HTTP route cannot contain both route and redirect");
        }
        if route.fault.is_some() {
            refuse("HTTP route cannot contain both fault and redirect");
        }
        if route.rewrite.is_some() {
            refuse("HTTP route rule cannot contain both rewrite and redirect");
        }
        if route.direct_response.is_some() {
            refuse("HTTP route rule cannot contain both direct_response and redirect");
        }
    } else if route.direct_response.is_some() {
        if has_route {
            refuse("HTTP route cannot contain both route and direct_response");
        }
        if route.fault.is_some() {
            refuse("HTTP route cannot contain both fault and direct_response");
        }
        if route.rewrite.is_some() {
            refuse("HTTP route rule cannot contain both rewrite and direct_response");
        }
    } else if !has_route {
        refuse("HTTP route, redirect or direct_response is required");
    }
}

/// Istio's `validateAuthorityRewrite`: the authority is rewritten in one
/// place only (`rewrite.authority` or one `:authority`/`host` request edit).
fn authority_rewrite(route: &HttpRoute, field: &str, r: &mut Reporter<'_>) {
    let mut current = route
        .rewrite
        .as_ref()
        .and_then(|rw| rw.authority.as_deref());
    let Some(ops) = route.headers.as_ref().and_then(|h| h.request.as_ref()) else {
        return;
    };
    let is_authority =
        |k: &str| k.eq_ignore_ascii_case(":authority") || k.eq_ignore_ascii_case("host");
    for (op, map) in [("set", &ops.set), ("add", &ops.add)] {
        for (k, v) in map.iter().filter(|(k, _)| is_authority(k)) {
            match current {
                Some(have) if !have.is_empty() => {
                    r.error(
                        &format!("{field}.headers.request.{op}.{k}"),
                        format!("authority header cannot be set multiple times: have {have:?}, attempting to set {v:?}"),
                    );
                    return;
                }
                _ => current = Some(v),
            }
        }
    }
}

/// Istio's `validateHTTPRedirect`, its reasons.
pub(super) fn redirect_rules(
    rd: &HttpRedirect,
    route: &HttpRoute,
    field: &str,
    r: &mut Reporter<'_>,
) {
    let set = |o: &Option<String>| o.as_deref().is_some_and(|s| !s.is_empty());
    if set(&rd.uri) && set(&rd.prefix_rewrite) {
        r.error(
            field,
            "redirect may only specify one of uri or prefix_rewrite".into(),
        );
    }
    if !set(&rd.uri)
        && !set(&rd.prefix_rewrite)
        && !set(&rd.authority)
        && !set(&rd.scheme)
        && rd.port.is_none()
        && rd.derive_port.is_none()
    {
        r.error(
            field,
            "redirect must specify URI, authority, scheme, or port".into(),
        );
    }
    // Matches without a uri (headers only, or none) leave the prefix to
    // replace as `/`: only a uri match of another type is refused.
    let other_uri = route
        .matches
        .iter()
        .flatten()
        .any(|m| m.uri.as_ref().is_some_and(|u| u.prefix.is_none()));
    if set(&rd.prefix_rewrite) && other_uri {
        r.error(
            &format!("{field}.prefixRewrite"),
            "redirect prefix_rewrite requires all URI matches to use prefix match type".into(),
        );
    }
    if let Some(code) = rd.redirect_code.filter(|&c| c != 0) {
        if !(300..=399).contains(&code) {
            r.error(
                &format!("{field}.redirectCode"),
                format!("{code} is not a valid redirect code, must be 3xx"),
            );
        } else if !REDIRECT_CODES.contains(&code) {
            r.push(
                "WEIR0010",
                Severity::Warning,
                &format!("{field}.redirectCode"),
                format!("redirect code {code} is not supported (301, 302, 303, 307, 308): the rule has no action and will not match"),
            );
        }
    }
    if let Some(s) = rd.scheme.as_deref().filter(|s| !s.is_empty()) {
        if s != "http" && s != "https" {
            r.error(
                &format!("{field}.scheme"),
                "invalid redirect scheme, must be \"http\" or \"https\"".into(),
            );
        }
    }
    if let Some(p) = rd.port {
        check_port(p, &format!("{field}.port"), r);
    }
    if let Some(d) = &rd.derive_port {
        if d != "FROM_PROTOCOL_DEFAULT" && d != "FROM_REQUEST_PORT" {
            r.error(
                &format!("{field}.derivePort"),
                format!("unknown derivePort {d:?}"),
            );
        }
    }
}

/// Istio's `validateHTTPStatus`: it lets 600 through, and so does Weir.
pub(super) fn http_status(status: i64, field: &str, r: &mut Reporter<'_>) {
    if !(200..=600).contains(&status) {
        r.error(
            field,
            format!("HTTP status {status} is not in range 200-599"),
        );
    }
}

/// `directResponse` as Istio's `validateHTTPDirectResponse`: status, and a
/// body under 1 MB (warned over 100 KB; bytes counted decoded).
fn direct_response(direct: &HttpDirectResponse, f: &str, r: &mut Reporter<'_>) {
    http_status(i64::from(direct.status), &format!("{f}.status"), r);
    let Some(body) = &direct.body else { return };
    if body.string.is_some() && body.bytes.is_some() {
        r.error(
            &format!("{f}.body"),
            "only one of string or bytes may be set".into(),
        );
    }
    let mut len = body.string.as_ref().map_or(0, String::len);
    if let Some(b) = &body.bytes {
        match crate::config::base64::decode_base64(b) {
            Some(bytes) => len += bytes.len(),
            None => r.error(
                &format!("{f}.body.bytes"),
                "bytes is not valid base64".into(),
            ),
        }
    }
    if len > 1024 * 1024 {
        r.error(
            &format!("{f}.body"),
            "large direct_responses may impact control plane performance, must be less than 1MB"
                .into(),
        );
    } else if len > 100 * 1024 {
        r.push(
            "IST0133",
            Severity::Warning,
            &format!("{f}.body"),
            "large direct_responses may impact control plane performance".into(),
        );
    }
}

/// `rewrite` as Istio's `validateHTTPRewrite`: something to rewrite, uri or
/// uriRegexRewrite (not both), a regex rewrite with both parts.
fn rewrite(rw: &HttpRewrite, f: &str, r: &mut Reporter<'_>) {
    let set = |o: &Option<String>| o.as_deref().is_some_and(|s| !s.is_empty());
    if set(&rw.uri) && rw.uri_regex_rewrite.is_some() {
        r.error(
            f,
            "rewrite may only contain one of URI or UriRegexRewrite".into(),
        );
    } else if !set(&rw.uri) && rw.uri_regex_rewrite.is_none() && !set(&rw.authority) {
        r.error(
            f,
            "rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or UriRegexRewrite may be specified".into(),
        );
    }
    if let Some(rr) = &rw.uri_regex_rewrite {
        match (rr.pattern.as_deref(), rr.rewrite.as_deref()) {
            (Some(p), Some(w)) if !p.is_empty() && !w.is_empty() => {
                if let Err(e) = r.regexes.search(p) {
                    r.error(
                        &format!("{f}.uriRegexRewrite.match"),
                        format!("UriRegexRewrite has errors: invalid regex {p:?}: {e}"),
                    );
                }
            }
            _ => r.error(
                &format!("{f}.uriRegexRewrite"),
                "UriRegexRewrite has errors: UriRegexRewrite requires both Rewrite and Match fields to be specified".into(),
            ),
        }
    }
}
