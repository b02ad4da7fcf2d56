//! An `http[]` rule's policies as Istio's webhook judges them
//! (pkg/config/validation/virtualservice.go `validateHTTPRoute`, its
//! helpers in validation.go and agent/validation.go): fault injection,
//! retries, CORS, mirrors and the timeout. Istio's reasons as messages.

use super::fields::*;
use super::http_route::http_status;
use super::{Context, Reporter, GRPC_STATUSES};
use crate::config::model::*;
use crate::config::names::expand_host;
use crate::config::Resource;
use crate::diagnostic::Severity;

impl Context<'_> {
    /// Fault, retries, CORS, mirrors and timeout of one rule.
    pub(super) fn policies(
        &self,
        vs: &Resource<VirtualServiceSpec>,
        route: &HttpRoute,
        field: &str,
        r: &mut Reporter<'_>,
    ) {
        if let Some(c) = &route.cors_policy {
            cors(c, &format!("{field}.corsPolicy"), r);
        }
        if let Some(fault) = &route.fault {
            fault_rules(fault, &format!("{field}.fault"), r);
        }
        self.mirrors(vs, route, field, r);
        if let Some(retry) = &route.retries {
            retries(retry, &format!("{field}.retries"), r);
        }
        if let Some(t) = &route.timeout {
            ms_duration(t, &format!("{field}.timeout"), r);
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
        if route.mirror.is_some() && route.mirrors.as_ref().is_some_and(|m| !m.is_empty()) {
            r.error(
                field,
                "HTTP route cannot contain both mirror and mirrors".into(),
            );
        }
        if let Some(p) = route.mirror_percent {
            let f = format!("{field}.mirrorPercent");
            if p > 100 {
                r.error(
                    &f,
                    format!("mirror_percent must have a max value of 100 (it has {p})"),
                );
            }
            r.push(
                "IST0133",
                Severity::Warning,
                &f,
                "using deprecated setting \"mirrorPercent\", use \"mirrorPercentage\" instead"
                    .into(),
            );
        }
        if let Some(p) = &route.mirror_percentage {
            mirror_percent(
                p.value,
                "mirror_percentage",
                &format!("{field}.mirrorPercentage.value"),
                r,
            );
        }
        if let Some(m) = &route.mirror {
            self.mirror_destination(vs, m, &format!("{field}.mirror"), r);
        }
        for (i, m) in route.mirrors.iter().flatten().enumerate() {
            self.mirror_destination(
                vs,
                &m.destination,
                &format!("{field}.mirrors[{i}].destination"),
                r,
            );
            if let Some(p) = &m.percentage {
                mirror_percent(
                    p.value,
                    "mirror percentage",
                    &format!("{field}.mirrors[{i}].percentage.value"),
                    r,
                );
            }
        }
    }

    /// A mirror's destination: Istio's `validateDestination`, then the
    /// references (IST0101).
    pub(super) fn mirror_destination(
        &self,
        vs: &Resource<VirtualServiceSpec>,
        d: &Destination,
        field: &str,
        r: &mut Reporter<'_>,
    ) {
        if !super::destinations::destination_fields(d, field, r) {
            return;
        }
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

/// A mirror percentage: Istio checks the bounds only (`name` as it prints it).
fn mirror_percent(v: f64, name: &str, field: &str, r: &mut Reporter<'_>) {
    if v > 100.0 {
        r.error(
            field,
            format!("{name} must have a max value of 100 (it has {v:.6})"),
        );
    } else if v < 0.0 {
        r.error(
            field,
            format!("{name} must have a min value of 0 (it has {v:.6})"),
        );
    } else if v.is_nan() {
        r.error(field, format!("{name} is not a number"));
    }
}

/// Istio's `validatePercentage`: 0, or within 0.0001..=100.
pub(super) fn fault_percent(v: f64, field: &str, r: &mut Reporter<'_>) {
    if v.is_nan() || !(0.0..=100.0).contains(&v) || (v > 0.0 && v < 0.0001) {
        r.error(
            field,
            format!("percentage {v} is neither 0.0, nor in range [0.0001, 100.0]"),
        );
    }
}

/// Istio's `validateHTTPFaultInjection`: an abort and/or a delay; an abort
/// of one supported kind (none set is only warned about), a delay of a
/// valid duration; percentages 0 or 0.0001..=100.
pub(super) fn fault_rules(fault: &HttpFaultInjection, field: &str, r: &mut Reporter<'_>) {
    if fault.delay.is_none() && fault.abort.is_none() {
        r.error(
            field,
            "HTTP fault injection must have an abort and/or a delay".into(),
        );
    }
    if let Some(a) = &fault.abort {
        let f = format!("{field}.abort");
        if let Some(p) = &a.percentage {
            fault_percent(p.value, &format!("{f}.percentage.value"), r);
        }
        match (a.http_status, &a.grpc_status, &a.http2_error) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => r.error(
                &f,
                "only one of httpStatus, grpcStatus or http2Error may be set".into(),
            ),
            (Some(s), None, None) => http_status(s, &format!("{f}.httpStatus"), r),
            (None, Some(g), None) if !GRPC_STATUSES.contains(&g.as_str()) => r.error(
                &format!("{f}.grpcStatus"),
                format!("gRPC status {g:?} is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example 'NOT_FOUND'"),
            ),
            (None, None, Some(_)) => r.error(
                &format!("{f}.http2Error"),
                "HTTP/2 abort fault injection not supported yet".into(),
            ),
            (None, None, None) => r.push(
                "IST0133",
                Severity::Warning,
                &f,
                "abort configured, but error type not set".into(),
            ),
            _ => {}
        }
    }
    if let Some(d) = &fault.delay {
        let f = format!("{field}.delay");
        if let Some(p) = &d.percentage {
            fault_percent(p.value, &format!("{f}.percentage.value"), r);
        }
        if let Some(p) = d.percent {
            if !(0..=100).contains(&p) {
                r.error(
                    &format!("{f}.percent"),
                    format!("percentage {p} is not in range 0..100"),
                );
            }
        }
        if let Some(t) = &d.exponential_delay {
            ms_duration(t, &format!("{f}.exponentialDelay"), r);
            r.error(
                &format!("{f}.exponentialDelay"),
                "exponentialDelay not supported yet".into(),
            );
        }
        match &d.fixed_delay {
            Some(t) => {
                ms_duration(t, &format!("{f}.fixedDelay"), r);
            }
            // Istio's webhook lets a delay of no kind through, and istiod
            // then programs no delay (TranslateFault in
            // pilot/pkg/networking/core/route/route.go): accepted, said.
            None if d.exponential_delay.is_none() => r.push(
                "IST0133",
                Severity::Warning,
                &format!("{f}.fixedDelay"),
                "delay configured without fixedDelay: no delay is injected".into(),
            ),
            None => {}
        }
    }
}

/// The `x-envoy-retry-on` and `x-envoy-retry-grpc-on` policies Istio
/// accepts (`supportedRetryOnPolicies`, pkg/config/validation/agent).
const RETRY_ON: [&str; 16] = [
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "envoy-ratelimited",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];

/// True for a code Go's `net/http.StatusText` names, which Istio takes as a
/// retryOn status code.
fn is_named_status(code: u32) -> bool {
    matches!(code,
        100..=103 | 200..=208 | 226 | 300..=305 | 307 | 308 | 400..=418
        | 421..=426 | 428 | 429 | 431 | 451 | 500..=508 | 510 | 511)
}

/// A retryOn token as Istio reads it: `strconv.Atoi` (an optional sign,
/// digits) naming a status code, or a known policy. No trimming.
fn valid_retry_on(token: &str) -> bool {
    if RETRY_ON.contains(&token) {
        return true;
    }
    let digits = token.strip_prefix(['+', '-']).unwrap_or(token);
    let negative = token.starts_with('-');
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !negative
        && digits.parse::<u32>().is_ok_and(is_named_status)
}

/// Istio's `ValidateHTTPRetry`: attempts not negative, nothing else set
/// when attempts is 0 (unset is 0), durations of whole ms, retryOn tokens.
fn retries(retry: &HttpRetry, f: &str, r: &mut Reporter<'_>) {
    let attempts = retry.attempts.unwrap_or(0);
    if attempts < 0 {
        r.error(
            &format!("{f}.attempts"),
            "attempts cannot be negative".into(),
        );
    }
    let configured = retry.per_try_timeout.is_some()
        || retry.retry_on.as_deref().is_some_and(|s| !s.is_empty())
        || retry.retry_remote_localities.is_some();
    if attempts == 0 && configured {
        r.error(
            f,
            "http retry policy configured when attempts are set to 0 (disabled)".into(),
        );
    }
    if let Some(t) = &retry.per_try_timeout {
        ms_duration(t, &format!("{f}.perTryTimeout"), r);
    }
    if let Some(on) = retry.retry_on.as_deref().filter(|s| !s.is_empty()) {
        for token in on.split(',').filter(|t| !valid_retry_on(t)) {
            r.error(
                &format!("{f}.retryOn"),
                format!("{token:?} is not a valid retryOn policy"),
            );
        }
    }
    if let Some(b) = &retry.backoff {
        ms_duration(b, &format!("{f}.backoff"), r);
    }
}

/// The methods a CORS policy may allow (`supportedCORSMethods`).
const CORS_METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*",
];

/// Istio's `validateCORSPolicy`: origins non-empty matches (regexes valid),
/// methods Go knows, header names tokens or `*`, maxAge whole seconds.
fn cors(cors: &CorsPolicy, f: &str, r: &mut Reporter<'_>) {
    for (i, o) in cors.allow_origins.iter().enumerate() {
        let field = format!("{f}.allowOrigins[{i}]");
        let text = o
            .exact
            .as_deref()
            .or(o.prefix.as_deref())
            .or(o.regex.as_deref())
            .unwrap_or("");
        if text.is_empty() {
            r.error(
                &field,
                "'' is not a valid match type for CORS allow origins".into(),
            );
        } else if let Some(re) = &o.regex {
            if let Err(e) = r.regexes.full_match(re) {
                r.error(
                    &format!("{field}.regex"),
                    format!("invalid regex {re:?}: {e}; Istio uses RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)"),
                );
            }
        }
    }
    for (i, m) in cors.allow_methods.iter().enumerate() {
        if !CORS_METHODS.contains(&m.as_str()) {
            r.error(
                &format!("{f}.allowMethods[{i}]"),
                format!("{m:?} is not a supported HTTP method"),
            );
        }
    }
    for (kind, names) in [
        ("allowHeaders", &cors.allow_headers),
        ("exposeHeaders", &cors.expose_headers),
    ] {
        for (i, name) in names.iter().enumerate() {
            let field = format!("{f}.{kind}[{i}]");
            if name.is_empty() {
                r.error(&field, "header name cannot be empty".into());
            } else if name != "*" && !name.bytes().all(is_tchar) {
                r.error(
                    &field,
                    format!("header name {name} is not a valid header name"),
                );
            }
        }
    }
    if let Some(age) = &cors.max_age {
        let field = format!("{f}.maxAge");
        if let Some(d) = ms_duration(age, &field, r) {
            if d.subsec_nanos() > 0 {
                r.error(
                    &field,
                    "max_age duration is accurate only to seconds precision".into(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{is_named_status, valid_retry_on};

    #[test]
    fn retry_on_tokens_as_istio_reads_them() {
        for ok in [
            "5xx",
            "gateway-error",
            "unavailable",
            "503",
            "+503",
            "418",
            "226",
        ] {
            assert!(valid_retry_on(ok), "{ok}");
        }
        for bad in [
            "",
            " 5xx",
            "5XX",
            "306",
            "600",
            "-503",
            "99",
            "1e3",
            "connect_failure",
        ] {
            assert!(!valid_retry_on(bad), "{bad}");
        }
        assert!(is_named_status(511) && !is_named_status(509));
    }
}
