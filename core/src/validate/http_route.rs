//! One `http[]` rule: its action, matches, rewrite, retries, mirrors, CORS.

use super::fields::*;
use super::{Context, Reporter};
use super::{GRPC_STATUSES, REDIRECT_CODES};
use crate::config::model::*;
use crate::config::names::{expand_host, resolve_gateway};
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
        match (has_route, has_redirect, has_direct) {
            (false, false, false) if route.delegate.is_none() => r.error(
                field,
                "HTTP route, redirect or direct_response is required".into(),
            ),
            (true, true, _) => r.error(
                field,
                "HTTP route cannot contain both route and redirect".into(),
            ),
            (true, _, true) => r.error(
                field,
                "HTTP route cannot contain both route and direct_response".into(),
            ),
            (_, true, true) => r.error(
                field,
                "HTTP route cannot contain both redirect and direct_response".into(),
            ),
            _ => {}
        }
        if (has_redirect || has_direct) && route.fault.is_some() {
            r.error(
                &format!("{field}.fault"),
                "HTTP route cannot contain fault with a redirect or direct_response".into(),
            );
        }
        if (has_redirect || has_direct) && route.rewrite.is_some() {
            r.error(
                &format!("{field}.rewrite"),
                "HTTP route cannot contain rewrite with a redirect or direct_response".into(),
            );
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
        if let Some(t) = &route.timeout {
            check_duration(t, &format!("{field}.timeout"), r);
        }
        if let Some(retry) = &route.retries {
            retries(retry, &format!("{field}.retries"), r);
        }
        if let Some(fault) = &route.fault {
            fault_rules(fault, &format!("{field}.fault"), r);
        }
        self.mirrors(vs, route, field, r);
        if let Some(c) = &route.cors_policy {
            cors(c, field, r);
        }
        if let Some(h) = &route.headers {
            header_ops(h, &format!("{field}.headers"), r);
        }
    }

    /// `mirror`, `mirrors` and their percentages.
    fn mirrors(
        &self,
        vs: &Resource<VirtualServiceSpec>,
        route: &HttpRoute,
        field: &str,
        r: &mut Reporter<'_>,
    ) {
        if route.mirror.is_some() && route.mirrors.is_some() {
            r.error(
                &format!("{field}.mirrors"),
                "mirror and mirrors cannot both be set".into(),
            );
        }
        if let Some(m) = &route.mirror {
            self.mirror_destination(vs, m, &format!("{field}.mirror"), r);
        }
        if let Some(p) = &route.mirror_percentage {
            check_percent(p.value, &format!("{field}.mirrorPercentage.value"), r);
        }
        if let Some(p) = route.mirror_percent {
            if p > 100 {
                r.error(
                    &format!("{field}.mirrorPercent"),
                    format!("mirror percent {p} must be within 0-100"),
                );
            }
        }
        for (i, m) in route.mirrors.iter().flatten().enumerate() {
            self.mirror_destination(
                vs,
                &m.destination,
                &format!("{field}.mirrors[{i}].destination"),
                r,
            );
            if let Some(p) = &m.percentage {
                check_percent(
                    p.value,
                    &format!("{field}.mirrors[{i}].percentage.value"),
                    r,
                );
            }
        }
    }
    pub(super) fn mirror_destination(
        &self,
        vs: &Resource<VirtualServiceSpec>,
        d: &Destination,
        field: &str,
        r: &mut Reporter<'_>,
    ) {
        let host = expand_host(&d.host, &vs.namespace);
        match self.registry.find_configured(&host) {
            None => r.push(
                "IST0101",
                Severity::Error,
                &format!("{field}.host"),
                format!("Referenced mirror host not found: {host:?}"),
            ),
            Some(_) => {
                if let Some(subset) = &d.subset {
                    if !self.defines_subset(&host, subset) {
                        r.push(
                            "IST0101",
                            Severity::Error,
                            &format!("{field}.subset"),
                            format!("Referenced mirror+subset in destinationrule not found: \"{host}+{subset}\""),
                        );
                    }
                }
            }
        }
    }
}

pub(super) fn redirect_rules(
    rd: &HttpRedirect,
    route: &HttpRoute,
    field: &str,
    r: &mut Reporter<'_>,
) {
    // Istio's `validateHTTPRedirect`, its reasons.
    if rd.uri.is_some() && rd.prefix_rewrite.is_some() {
        r.error(
            field,
            "redirect may only specify one of uri or prefix_rewrite".into(),
        );
    }
    if rd.uri.is_none()
        && rd.prefix_rewrite.is_none()
        && rd.authority.is_none()
        && rd.scheme.is_none()
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
    if rd.prefix_rewrite.is_some() && other_uri {
        r.error(
            &format!("{field}.prefixRewrite"),
            "redirect prefix_rewrite requires all URI matches to use prefix match type".into(),
        );
    }
    if let Some(code) = rd.redirect_code {
        if !(300..=399).contains(&code) {
            r.error(
                &format!("{field}.redirectCode"),
                format!("redirect code {code} is not a 3xx code"),
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
    if let Some(s) = &rd.scheme {
        if s != "http" && s != "https" {
            r.error(
                &format!("{field}.scheme"),
                format!("scheme {s:?} must be http or https"),
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

pub(super) fn fault_rules(fault: &HttpFaultInjection, field: &str, r: &mut Reporter<'_>) {
    if fault.delay.is_none() && fault.abort.is_none() {
        r.error(field, "fault must have an abort and/or a delay".into());
    }
    if let Some(d) = &fault.delay {
        let f = format!("{field}.delay");
        if d.exponential_delay.is_some() {
            r.error(
                &format!("{f}.exponentialDelay"),
                "exponentialDelay is not supported".into(),
            );
        }
        match &d.fixed_delay {
            Some(t) => check_duration(t, &format!("{f}.fixedDelay"), r),
            None if d.exponential_delay.is_none() => {
                r.error(&format!("{f}.fixedDelay"), "fixedDelay is required".into())
            }
            None => {}
        }
        if let Some(p) = &d.percentage {
            fault_percent(p.value, &format!("{f}.percentage.value"), r);
        }
        if let Some(p) = d.percent {
            if !(0..=100).contains(&p) {
                r.error(
                    &format!("{f}.percent"),
                    format!("percent {p} must be within 0-100"),
                );
            }
        }
    }
    if let Some(a) = &fault.abort {
        let f = format!("{field}.abort");
        if a.http2_error.is_some() {
            r.error(
                &format!("{f}.http2Error"),
                "http2Error is not supported".into(),
            );
        }
        match (a.http_status, &a.grpc_status) {
            (Some(_), Some(_)) => {
                r.error(&f, "only one of httpStatus or grpcStatus may be set".into())
            }
            (Some(s), None) if !(200..=599).contains(&s) => r.error(
                &format!("{f}.httpStatus"),
                format!("httpStatus {s} must be within 200-599"),
            ),
            (None, Some(g)) if !GRPC_STATUSES.contains(&g.as_str()) => r.error(
                &format!("{f}.grpcStatus"),
                format!("unknown grpcStatus {g:?}"),
            ),
            (None, None) if a.http2_error.is_none() => {
                r.error(&f, "abort needs httpStatus or grpcStatus".into())
            }
            _ => {}
        }
        if let Some(p) = &a.percentage {
            fault_percent(p.value, &format!("{f}.percentage.value"), r);
        }
    }
}

pub(super) fn fault_percent(v: f64, field: &str, r: &mut Reporter<'_>) {
    if v.is_nan() || !(0.0..=100.0).contains(&v) || (v > 0.0 && v < 0.0001) {
        r.error(
            field,
            format!("percentage {v} must be 0 or within 0.0001-100"),
        );
    }
}

/// `directResponse`: status and body.
fn direct_response(direct: &HttpDirectResponse, f: &str, r: &mut Reporter<'_>) {
    if !(200..=599).contains(&direct.status) {
        r.error(
            &format!("{f}.status"),
            format!("status {} is not within 200-599", direct.status),
        );
    }
    if let Some(body) = &direct.body {
        if body.string.is_some() && body.bytes.is_some() {
            r.error(
                &format!("{f}.body"),
                "only one of string or bytes may be set".into(),
            );
        }
        if let Some(b) = &body.bytes {
            if crate::config::base64::decode_base64(b).is_none() {
                r.error(
                    &format!("{f}.body.bytes"),
                    "bytes is not valid base64".into(),
                );
            }
        }
        let len = body.string.as_ref().map_or(0, String::len)
            + body.bytes.as_ref().map_or(0, String::len);
        if len > 1024 * 1024 {
            r.error(&format!("{f}.body"), "body is larger than 1 MB".into());
        } else if len > 100 * 1024 {
            r.push(
                "IST0133",
                Severity::Warning,
                &format!("{f}.body"),
                "body is larger than 100 KB".into(),
            );
        }
    }
}

/// `rewrite`: uri or uriRegexRewrite, not both.
fn rewrite(rw: &HttpRewrite, f: &str, r: &mut Reporter<'_>) {
    if rw.uri.is_some() && rw.uri_regex_rewrite.is_some() {
        r.error(
            f,
            "rewrite may not contain both uri and uriRegexRewrite".into(),
        );
    }
    if let Some(rr) = &rw.uri_regex_rewrite {
        match (&rr.pattern, &rr.rewrite) {
            (Some(p), Some(_)) => {
                if let Err(e) = r.regexes.search(p) {
                    r.error(
                        &format!("{f}.uriRegexRewrite.match"),
                        format!("invalid regex {p:?}: {e}"),
                    );
                }
            }
            _ => r.error(
                &format!("{f}.uriRegexRewrite"),
                "uriRegexRewrite needs both match and rewrite".into(),
            ),
        }
    }
}

/// `retries`: attempts and durations.
fn retries(retry: &HttpRetry, f: &str, r: &mut Reporter<'_>) {
    if retry.attempts.is_some_and(|a| a < 0) {
        r.error(
            &format!("{f}.attempts"),
            "attempts cannot be negative".into(),
        );
    }
    if let Some(t) = &retry.per_try_timeout {
        check_duration(t, &format!("{f}.perTryTimeout"), r);
    }
    if let Some(b) = &retry.backoff {
        check_duration(b, &format!("{f}.backoff"), r);
    }
}

/// `corsPolicy`: origins and max age.
fn cors(cors: &CorsPolicy, field: &str, r: &mut Reporter<'_>) {
    for (i, o) in cors.allow_origins.iter().enumerate() {
        string_match(
            o,
            &format!("{field}.corsPolicy.allowOrigins[{i}]"),
            false,
            r,
        );
    }
    if let Some(age) = &cors.max_age {
        check_duration(age, &format!("{field}.corsPolicy.maxAge"), r);
    }
}
