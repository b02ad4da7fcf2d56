//! Match blocks: Istio's HTTPMatchRequest compiled to a [`RouteMatch`].

use crate::config::model::{self, HttpMatchRequest};
use crate::route::regex::Regexes;
use crate::route::{HeaderMatcher, PseudoHeader, QueryMatcher, RouteMatch, StringMatcher};

/// A StringMatch compiled (`None`: no condition, or `{}` where presence is
/// not allowed), its regex taken from `regexes`.
///
/// # Errors
/// Why its regex cannot be built.
pub(crate) fn string_matcher(
    m: &model::StringMatch,
    presence_ok: bool,
    regexes: &mut Regexes,
) -> Result<Option<StringMatcher>, String> {
    if let Some(e) = &m.exact {
        return Ok(Some(StringMatcher::Exact(e.as_str().into())));
    }
    if let Some(p) = &m.prefix {
        return Ok(Some(StringMatcher::Prefix(p.as_str().into())));
    }
    if let Some(r) = &m.regex {
        if presence_ok && r == "*" {
            return Ok(Some(StringMatcher::Present));
        }
        return regexes
            .full_match(r)
            .map(|re| Some(StringMatcher::Regex(re)))
            .map_err(|e| format!("invalid regex {r:?}: {e}"));
    }
    Ok(presence_ok.then_some(StringMatcher::Present))
}

/// One header condition; a pseudo-header reads the request line.
fn header_matcher(name: &str, matcher: StringMatcher, invert: bool) -> HeaderMatcher {
    let name = name.to_ascii_lowercase();
    HeaderMatcher {
        pseudo: PseudoHeader::parse(&name),
        name: name.into(),
        missing_as_empty: invert && !matches!(matcher, StringMatcher::Present),
        matcher,
        invert,
    }
}

/// A match block compiled for a listener.
///
/// # Errors
/// Why one of its regexes cannot be built.
pub(crate) fn compile_match(
    m: &HttpMatchRequest,
    gateway_scoped: bool,
    regexes: &mut Regexes,
) -> Result<RouteMatch, String> {
    let mut headers: Vec<HeaderMatcher> = Vec::new();
    for (name, sm) in &m.headers {
        if let Some(matcher) = string_matcher(sm, true, regexes)? {
            headers.push(header_matcher(name, matcher, false));
        }
    }
    for (name, sm) in &m.without_headers {
        if let Some(matcher) = string_matcher(sm, true, regexes)? {
            headers.push(header_matcher(name, matcher, true));
        }
    }
    // A block scoped to gateways ignores sourceLabels / sourceNamespace
    // (istiod `sourceMatchHTTP`).
    let (source_labels, source_namespace) = if gateway_scoped {
        (Box::default(), None)
    } else {
        (
            m.source_labels
                .iter()
                .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                .collect(),
            m.source_namespace.clone().map(Into::into),
        )
    };
    let mut one = |sm: &Option<model::StringMatch>| match sm {
        Some(sm) => string_matcher(sm, false, regexes),
        None => Ok(None),
    };
    let (uri, scheme, method, authority) = (
        one(&m.uri)?,
        one(&m.scheme)?,
        one(&m.method)?,
        one(&m.authority)?,
    );
    let mut query = Vec::with_capacity(m.query_params.len());
    for (k, v) in &m.query_params {
        if let Some(matcher) = string_matcher(v, true, regexes)? {
            query.push(QueryMatcher {
                name: k.as_str().into(),
                matcher,
            });
        }
    }
    Ok(RouteMatch {
        uri,
        ignore_uri_case: m.ignore_uri_case,
        scheme,
        method,
        authority,
        headers: headers.into(),
        query: query.into(),
        port: m.port.map(|p| p as u16),
        source_labels,
        source_namespace,
    })
}
