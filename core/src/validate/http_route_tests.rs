//! Table tests of an `http[]` rule's policies and matches against Istio's
//! webhook (`validateHTTPRoute` and its helpers): rows Istio accepts give
//! nothing, rows it rejects give its reason, rows it warns about a warning.

use super::virtual_service_tests::{diagnostics_of, http, ROUTE};

fn check(cases: Vec<(String, &[&str])>) {
    for (spec, want) in cases {
        let got = diagnostics_of(&spec, &["IST0106", "IST0133", "WEIR0020"]);
        assert_eq!(got, want, "{spec}");
    }
}

/// A rule with `ROUTE` and `extra` (YAML flow fields of the rule).
fn routed(extra: &str) -> String {
    http(&format!("{extra}\n    {ROUTE}"))
}

#[test]
fn actions_and_their_conflicts() {
    check(vec![
        (http("redirect: {uri: /b}\n    fault: {abort: {httpStatus: 500}}"), &["error spec.http[0]: HTTP route cannot contain both fault and redirect"]),
        (http("redirect: {uri: /b}\n    rewrite: {uri: /c}"), &["error spec.http[0]: HTTP route rule cannot contain both rewrite and redirect"]),
        (http("redirect: {uri: /b}\n    directResponse: {status: 200}"), &["error spec.http[0]: HTTP route rule cannot contain both direct_response and redirect"]),
        (routed("redirect: {uri: /b}"), &["error spec.http[0]: HTTP route cannot contain both route and redirect"]),
        (routed("directResponse: {status: 503}"), &["error spec.http[0]: HTTP route cannot contain both route and direct_response"]),
        (http("directResponse: {status: 503}\n    fault: {delay: {fixedDelay: 1s}}"), &["error spec.http[0]: HTTP route cannot contain both fault and direct_response"]),
        (http("directResponse: {status: 503}\n    rewrite: {uri: /c}"), &["error spec.http[0]: HTTP route rule cannot contain both rewrite and direct_response"]),
        (http("name: none"), &["error spec.http[0]: HTTP route, redirect or direct_response is required"]),
        // Istio's status range lets 600 through.
        (http("directResponse: {status: 600}"), &[]),
        (http("directResponse: {status: 199}"), &["error spec.http[0].directResponse.status: HTTP status 199 is not in range 200-599"]),
        (http("redirect: {uri: /b, redirectCode: 200}"), &["error spec.http[0].redirect.redirectCode: 200 is not a valid redirect code, must be 3xx"]),
        (http("redirect: {scheme: ftp}"), &["error spec.http[0].redirect.scheme: invalid redirect scheme, must be \"http\" or \"https\""]),
        (http("redirect: {authority: b.example.com, redirectCode: 308}"), &[]),
    ]);
}

#[test]
fn rewrites_as_istio_judges_them() {
    check(vec![
        (routed("rewrite: {authority: b.example.com}"), &[]),
        (routed("rewrite: {}"), &["error spec.http[0].rewrite: rewrite must specify at least one of URI, UriRegexRewrite, or authority. Only one of URI or UriRegexRewrite may be specified"]),
        (routed("rewrite: {uri: /a, uriRegexRewrite: {match: a, rewrite: b}}"), &["error spec.http[0].rewrite: rewrite may only contain one of URI or UriRegexRewrite"]),
        (routed("rewrite: {uriRegexRewrite: {match: '^/a'}}"), &["error spec.http[0].rewrite.uriRegexRewrite: UriRegexRewrite has errors: UriRegexRewrite requires both Rewrite and Match fields to be specified"]),
        // The authority is rewritten in one place.
        (routed("rewrite: {authority: a.example.com}\n    headers: {request: {set: {':authority': b.example.com}}}"), &["error spec.http[0].headers.request.set.:authority: authority header cannot be set multiple times: have \"a.example.com\", attempting to set \"b.example.com\""]),
        (routed("headers: {request: {set: {host: b.example.com}}}"), &[]),
    ]);
}

#[test]
fn matches_as_istio_judges_them() {
    check(vec![
        // `{}` matches everything; an empty uri prefix too.
        (routed("match: [{}]"), &[]),
        (routed("match: [{uri: {prefix: ''}}, {uri: {}}]"), &[]),
        (routed("match: [{method: {prefix: ''}}]"), &["error spec.http[0].match[0].method.prefix: prefix string match should not be empty"]),
        (routed("match: [{headers: {x-a: {regex: ''}}}]"), &["error spec.http[0].match[0].headers.x-a.regex: regex string match should not be empty"]),
        // Pseudo-headers and JWT claims are header names Istio accepts.
        (routed("match: [{headers: {':authority': {exact: a.example.com}, ':method': {exact: GET}, ':path': {prefix: /a}}}]"), &[]),
        (routed("match: [{headers: {'@request.auth.claims.group': {exact: admin}}}]"), &["info spec.http[0].match[0].headers.@request.auth.claims.group: \"@request.auth.claims.group\" matches a JWT claim, which the proxy's RequestAuthentication provides: Weir sees no claims, so here the condition never holds"]),
        (routed("match: [{headers: {':foo': {exact: a}}}]"), &["error spec.http[0].match[0].headers.:foo: header name :foo is not a valid header name"]),
        (routed("match: [{headers: {'a b': {exact: a}}}]"), &["error spec.http[0].match[0].headers.a b: header name a b is not a valid header name"]),
        // `regex: "*"` is presence in withoutHeaders only.
        (routed("match: [{withoutHeaders: {x-a: {regex: '*'}}}]"), &[]),
        (routed("match: [{sourceNamespace: Bad_ns}]"), &["error spec.http[0].match[0].sourceNamespace: sourceNamespace match Bad_ns is invalid"]),
    ]);
}

#[test]
fn faults_as_istio_judges_them() {
    check(vec![
        (routed("fault: {abort: {httpStatus: 600, percentage: {value: 0.0001}}}"), &[]),
        (routed("fault: {abort: {grpcStatus: NOT_FOUND}, delay: {fixedDelay: 5ms, percentage: {value: 100}}}"), &[]),
        (routed("fault: {}"), &["error spec.http[0].fault: HTTP fault injection must have an abort and/or a delay"]),
        (routed("fault: {abort: {httpStatus: 199}}"), &["error spec.http[0].fault.abort.httpStatus: HTTP status 199 is not in range 200-599"]),
        (routed("fault: {abort: {grpcStatus: NOPE}}"), &["error spec.http[0].fault.abort.grpcStatus: gRPC status \"NOPE\" is not supported. See https://github.com/grpc/grpc/blob/master/doc/statuscodes.md for a list of supported codes, for example 'NOT_FOUND'"]),
        (routed("fault: {abort: {http2Error: PROTOCOL_ERROR}}"), &["error spec.http[0].fault.abort.http2Error: HTTP/2 abort fault injection not supported yet"]),
        // Istio only warns about an abort of no kind.
        (routed("fault: {abort: {percentage: {value: 5}}}"), &["warning spec.http[0].fault.abort: abort configured, but error type not set"]),
        (routed("fault: {abort: {httpStatus: 503, percentage: {value: 0.00001}}}"), &["error spec.http[0].fault.abort.percentage.value: percentage 0.00001 is neither 0.0, nor in range [0.0001, 100.0]"]),
        (routed("fault: {delay: {fixedDelay: 500us}}"), &["error spec.http[0].fault.delay.fixedDelay: duration must be greater than 1ms"]),
        (routed("fault: {delay: {fixedDelay: 1500us}}"), &["error spec.http[0].fault.delay.fixedDelay: only durations to ms precision are supported"]),
        (routed("fault: {delay: {percentage: {value: 50}}}"), &["warning spec.http[0].fault.delay.fixedDelay: delay configured without fixedDelay: no delay is injected"]),
        (routed("fault: {delay: {exponentialDelay: 1s}}"), &["error spec.http[0].fault.delay.exponentialDelay: exponentialDelay not supported yet"]),
        (routed("fault: {delay: {percentage: {value: 101}, fixedDelay: 1s}}"), &["error spec.http[0].fault.delay.percentage.value: percentage 101 is neither 0.0, nor in range [0.0001, 100.0]"]),
    ]);
}

#[test]
fn retries_as_istio_judges_them() {
    check(vec![
        (routed("retries: {attempts: 3, perTryTimeout: 2s, retryOn: '5xx,503,connect-failure,unavailable', backoff: 25ms}"), &[]),
        (routed("retries: {attempts: 0}"), &[]),
        (routed("retries: {attempts: -1}"), &["error spec.http[0].retries.attempts: attempts cannot be negative"]),
        // Unset attempts is 0: a policy beside it is refused.
        (routed("retries: {retryOn: 5xx}"), &["error spec.http[0].retries: http retry policy configured when attempts are set to 0 (disabled)"]),
        (routed("retries: {attempts: 0, perTryTimeout: 1s}"), &["error spec.http[0].retries: http retry policy configured when attempts are set to 0 (disabled)"]),
        (routed("retries: {attempts: 2, retryOn: '5xx,bogus,306'}"), &["error spec.http[0].retries.retryOn: \"bogus\" is not a valid retryOn policy", "error spec.http[0].retries.retryOn: \"306\" is not a valid retryOn policy"]),
        (routed("retries: {attempts: 2, perTryTimeout: 100us}"), &["error spec.http[0].retries.perTryTimeout: duration must be greater than 1ms"]),
        (routed("retries: {attempts: 2, backoff: 1.5ms}"), &["error spec.http[0].retries.backoff: only durations to ms precision are supported"]),
    ]);
}

#[test]
fn cors_as_istio_judges_it() {
    check(vec![
        (routed("corsPolicy: {allowOrigins: [{exact: 'https://a.example.com'}, {regex: 'https://.*[.]example[.]com'}], allowMethods: [GET, POST, '*'], allowHeaders: [x-a, '*'], exposeHeaders: [x-b], maxAge: 24h}"), &[]),
        (routed("corsPolicy: {allowOrigins: [{exact: ''}]}"), &["error spec.http[0].corsPolicy.allowOrigins[0]: '' is not a valid match type for CORS allow origins"]),
        (routed("corsPolicy: {allowOrigins: [{}]}"), &["error spec.http[0].corsPolicy.allowOrigins[0]: '' is not a valid match type for CORS allow origins"]),
        (routed("corsPolicy: {allowMethods: [get]}"), &["error spec.http[0].corsPolicy.allowMethods[0]: \"get\" is not a supported HTTP method"]),
        (routed("corsPolicy: {allowHeaders: ['']}"), &["error spec.http[0].corsPolicy.allowHeaders[0]: header name cannot be empty"]),
        (routed("corsPolicy: {exposeHeaders: ['x b']}"), &["error spec.http[0].corsPolicy.exposeHeaders[0]: header name x b is not a valid header name"]),
        (routed("corsPolicy: {maxAge: 1500ms}"), &["error spec.http[0].corsPolicy.maxAge: max_age duration is accurate only to seconds precision"]),
        (routed("corsPolicy: {maxAge: 0s}"), &["error spec.http[0].corsPolicy.maxAge: duration must be greater than 1ms"]),
    ]);
}

#[test]
fn mirrors_and_timeouts_as_istio_judges_them() {
    check(vec![
        (routed("mirror: {host: web.example.com}\n    mirrorPercentage: {value: 50}\n    timeout: 10s"), &[]),
        (routed("mirror: {host: web.example.com}\n    mirrorPercentage: {value: 150}"), &["error spec.http[0].mirrorPercentage.value: mirror_percentage must have a max value of 100 (it has 150.000000)"]),
        (routed("mirror: {host: web.example.com}\n    mirrorPercentage: {value: -1}"), &["error spec.http[0].mirrorPercentage.value: mirror_percentage must have a min value of 0 (it has -1.000000)"]),
        (routed("mirror: {host: web.example.com}\n    mirrorPercent: 101"), &["error spec.http[0].mirrorPercent: mirror_percent must have a max value of 100 (it has 101)", "warning spec.http[0].mirrorPercent: using deprecated setting \"mirrorPercent\", use \"mirrorPercentage\" instead"]),
        (routed("mirror: {host: web.example.com}\n    mirrorPercent: 50"), &["warning spec.http[0].mirrorPercent: using deprecated setting \"mirrorPercent\", use \"mirrorPercentage\" instead"]),
        (routed("mirrors: [{destination: {host: web.example.com}, percentage: {value: 100.5}}]"), &["error spec.http[0].mirrors[0].percentage.value: mirror percentage must have a max value of 100 (it has 100.500000)"]),
        (routed("mirror: {host: web.example.com}\n    mirrors: [{destination: {host: web.example.com}}]"), &["error spec.http[0]: HTTP route cannot contain both mirror and mirrors"]),
        (routed("mirror: {host: '*'}"), &["error spec.http[0].mirror.host: invalid destination host *"]),
        (routed("mirror: {host: web.example.com, subset: Bad_Subset}"), &["error spec.http[0].mirror.subset: subset name is invalid: Bad_Subset"]),
        (routed("timeout: 0s"), &["error spec.http[0].timeout: duration must be greater than 1ms"]),
        (routed("timeout: 1500us"), &["error spec.http[0].timeout: only durations to ms precision are supported"]),
    ]);
}
