//! Match blocks: Istio's HTTPMatchRequest compiled to a [`RouteMatch`].

use crate::config::model::{self, HttpMatchRequest};
use crate::route::{HeaderMatcher, QueryMatcher, RouteMatch, StringMatcher};
use crate::validate::full_match_regex;

pub(crate) fn string_matcher(m: &model::StringMatch, presence_ok: bool) -> Option<StringMatcher> {
    if let Some(e) = &m.exact {
        return Some(StringMatcher::Exact(e.as_str().into()));
    }
    if let Some(p) = &m.prefix {
        return Some(StringMatcher::Prefix(p.as_str().into()));
    }
    if let Some(r) = &m.regex {
        if presence_ok && r == "*" {
            return Some(StringMatcher::Present);
        }
        return full_match_regex(r).ok().map(StringMatcher::Regex);
    }
    presence_ok.then_some(StringMatcher::Present)
}

pub(crate) fn compile_match(m: &HttpMatchRequest, gateway_scoped: bool) -> RouteMatch {
    let mut headers: Vec<HeaderMatcher> = Vec::new();
    for (name, sm) in &m.headers {
        if matches!(name.as_str(), "uri" | "scheme" | "method" | "authority") {
            continue; // Istio ignores these keys in headers.
        }
        if let Some(matcher) = string_matcher(sm, true) {
            headers.push(HeaderMatcher {
                name: name.to_ascii_lowercase().into(),
                matcher,
                invert: false,
            });
        }
    }
    for (name, sm) in &m.without_headers {
        if let Some(matcher) = string_matcher(sm, true) {
            headers.push(HeaderMatcher {
                name: name.to_ascii_lowercase().into(),
                matcher,
                invert: true,
            });
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
    RouteMatch {
        uri: m.uri.as_ref().and_then(|u| string_matcher(u, false)),
        ignore_uri_case: m.ignore_uri_case,
        scheme: m.scheme.as_ref().and_then(|u| string_matcher(u, false)),
        method: m.method.as_ref().and_then(|u| string_matcher(u, false)),
        authority: m.authority.as_ref().and_then(|u| string_matcher(u, false)),
        headers: headers.into(),
        query: m
            .query_params
            .iter()
            .filter_map(|(k, v)| {
                Some(QueryMatcher {
                    name: k.as_str().into(),
                    matcher: string_matcher(v, true)?,
                })
            })
            .collect(),
        port: m.port.map(|p| p as u16),
        source_labels,
        source_namespace,
    }
}

/// Istio's `IsCatchAllRoute`: prefix `/` or regex `.*` (or no uri) with no
/// other condition.
pub(crate) fn is_catch_all(m: &RouteMatch) -> bool {
    let uri_all = match &m.uri {
        None => true,
        Some(StringMatcher::Prefix(p)) => &**p == "/",
        Some(StringMatcher::Regex(r)) => r.as_str() == "^(?:.*)$",
        _ => false,
    };
    uri_all
        && m.scheme.is_none()
        && m.method.is_none()
        && m.authority.is_none()
        && m.headers.is_empty()
        && m.query.is_empty()
        && m.port.is_none()
        && m.source_labels.is_empty()
        && m.source_namespace.is_none()
}
