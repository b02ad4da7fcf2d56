//! Delegate VirtualServices: a root VirtualService's `http[].delegate` names a
//! VirtualService without `hosts` whose `http[]` routes take that route's
//! place, each with the root route's match and settings merged in.
//!
//! Istio's rules, re-derived from `mergeVirtualServicesIfNeeded` and
//! `mergeHTTPRoute` in pilot/pkg/model/virtualservice.go:
//! - a VirtualService with no `hosts` is a delegate; it is only ever used
//!   through a root, never bound on its own;
//! - a delegate route that is missing, is not a delegate (it has hosts), or
//!   is not exported to the root's namespace is skipped (the validator warns);
//! - each delegate route keeps its own settings and takes the root route's
//!   where it sets none (rewrite, direct response, timeout, retries, fault,
//!   mirrors, CORS, headers); names join as `root-delegate`;
//! - matches merge pairwise: every delegate match must fall inside some root
//!   match (a prefix inside the root's prefix, the same exact value, no
//!   regex against a literal, the same port and source namespace, a subset
//!   of its gateways and source labels), and the route is dropped when one
//!   does not. Each compatible pair gives the delegate match with the root
//!   match's fields filled in.
//!
//! Destination hosts in a delegate are short names of the delegate's
//! namespace; they are expanded there before the routes move to the root.

use super::model::{Destination, HttpMatchRequest, HttpRoute, StringMatch, VirtualServiceSpec};
use super::names::expand_host;
use super::Resource;
use std::collections::{BTreeMap, HashMap};

type VirtualService = Resource<VirtualServiceSpec>;

/// True for a VirtualService used only through a root's `delegate`.
pub fn is_delegate(vs: &VirtualService) -> bool {
    vs.spec.hosts.is_empty()
}

/// The namespace a `delegate` reference points into (the root's by default).
pub fn delegate_namespace<'a>(root: &'a VirtualService, route: &'a HttpRoute) -> Option<&'a str> {
    let d = route.delegate.as_ref()?;
    Some(d.namespace.as_deref().unwrap_or(&root.namespace))
}

/// What a root route's `delegate` reference finds.
#[derive(Debug)]
pub enum Lookup<'c> {
    /// A delegate exported to the root's namespace.
    Found(&'c VirtualService),
    /// No VirtualService of that name and namespace.
    Missing,
    /// It exists but has hosts: a root or ordinary VirtualService.
    NotDelegate,
    /// It exists but its `exportTo` hides it from the root's namespace.
    NotExported,
}

impl super::Config {
    /// This config with [`merged`] VirtualServices, or `None` when no
    /// VirtualService delegates (use the config as it is).
    pub fn with_delegates_merged(&self) -> Option<super::Config> {
        let virtual_services = merged(&self.virtual_services)?;
        Some(super::Config {
            virtual_services,
            ..self.clone()
        })
    }
}

/// The VirtualServices of a config by namespace and name.
#[derive(Debug)]
pub struct Delegates<'c> {
    by_name: HashMap<(&'c str, &'c str), &'c VirtualService>,
}

impl<'c> Delegates<'c> {
    pub fn new(all: &'c [VirtualService]) -> Self {
        let by_name = all
            .iter()
            .map(|vs| ((vs.namespace.as_str(), vs.name.as_str()), vs))
            .collect();
        Delegates { by_name }
    }

    /// Resolves `namespace/name` for a root in `root_namespace`.
    pub fn lookup(&self, namespace: &str, name: &str, root_namespace: &str) -> Lookup<'c> {
        let Some(&vs) = self.by_name.get(&(namespace, name)) else {
            return Lookup::Missing;
        };
        if !is_delegate(vs) {
            return Lookup::NotDelegate;
        }
        if !exported_to(&vs.spec.export_to, &vs.namespace, root_namespace) {
            return Lookup::NotExported;
        }
        Lookup::Found(vs)
    }
}

/// Whether an `exportTo` is public: empty (Istio's default) or with `*`.
pub fn exported_everywhere(export_to: &[String]) -> bool {
    export_to.is_empty() || export_to.iter().any(|e| e == "*")
}

/// Istio's visibility test: empty or `*` is everywhere, `.` the owner's
/// namespace, `~` nowhere, other entries the namespaces they name.
pub fn exported_to(export_to: &[String], owner: &str, namespace: &str) -> bool {
    exported_everywhere(export_to)
        || export_to
            .iter()
            .any(|e| (e == "." && owner == namespace) || e == namespace)
}

/// The order in which a proxy in namespace `ns` takes the VirtualServices it
/// sees (istiod's `VirtualServicesForGateway` and sidecar egress listeners):
/// its namespace's private ones (`.` or the namespace itself), then those
/// exported to it by name, then the public ones; creation order within each.
/// The first to claim a host keeps it, so a namespace's own VirtualService
/// overrides a public one for its workloads.
pub fn visibility_rank(export_to: &[String], owner: &str, ns: &str) -> u8 {
    if exported_everywhere(export_to) {
        2
    } else if owner == ns && export_to.iter().any(|e| e == "." || e == ns) {
        0
    } else {
        1
    }
}

/// The VirtualServices as the compiler sees them: roots with their delegate
/// routes merged in, delegates themselves left out. `None` when no
/// VirtualService is a delegate or uses one (the config is used as it is).
pub fn merged(all: &[VirtualService]) -> Option<Vec<VirtualService>> {
    let uses_delegates = all
        .iter()
        .any(|vs| is_delegate(vs) || vs.spec.http.iter().any(|h| h.delegate.is_some()));
    if !uses_delegates {
        return None;
    }
    let index = Delegates::new(all);
    let out = all
        .iter()
        .filter(|vs| !is_delegate(vs))
        .map(|vs| {
            if !vs.spec.http.iter().any(|h| h.delegate.is_some()) {
                return vs.clone();
            }
            let mut root = vs.clone();
            root.spec.http = vs
                .spec
                .http
                .iter()
                .flat_map(|route| expand_route(&index, vs, route))
                .collect();
            root
        })
        .collect();
    Some(out)
}

/// One root route: itself, or its delegate's routes merged with it.
fn expand_route(index: &Delegates<'_>, root: &VirtualService, route: &HttpRoute) -> Vec<HttpRoute> {
    let Some(d) = route.delegate.as_ref() else {
        return vec![route.clone()];
    };
    let namespace = d.namespace.as_deref().unwrap_or(&root.namespace);
    let Lookup::Found(delegate) = index.lookup(namespace, &d.name, &root.namespace) else {
        return Vec::new();
    };
    delegate
        .spec
        .http
        .iter()
        // A delegate's own delegate routes are rejected by the validator.
        .filter(|sub| sub.delegate.is_none())
        .filter_map(|sub| merge_route(route, &in_namespace(sub, &delegate.namespace)))
        .collect()
}

/// `route` with its destination hosts expanded in `namespace`.
fn in_namespace(route: &HttpRoute, namespace: &str) -> HttpRoute {
    let expand = |d: &mut Destination| d.host = expand_host(&d.host, namespace);
    let mut route = route.clone();
    for dest in route.route.iter_mut().flatten() {
        expand(&mut dest.destination);
    }
    if let Some(m) = route.mirror.as_mut() {
        expand(m);
    }
    for m in route.mirrors.iter_mut().flatten() {
        expand(&mut m.destination);
    }
    route
}

/// The delegate route `sub` under the root route `root`, or `None` when
/// their matches conflict.
fn merge_route(root: &HttpRoute, sub: &HttpRoute) -> Option<HttpRoute> {
    let matches = merge_matches(root.matches.as_deref(), sub.matches.as_deref())?;
    let mut out = sub.clone();
    out.matches = matches;
    out.name = join_names(root.name.as_deref(), sub.name.as_deref());
    macro_rules! inherit {
        ($($field:ident),*) => {$(
            if out.$field.is_none() {
                out.$field = root.$field.clone();
            }
        )*};
    }
    inherit!(
        rewrite,
        direct_response,
        timeout,
        retries,
        fault,
        mirror,
        mirror_percent,
        mirror_percentage,
        cors_policy,
        mirrors,
        headers
    );
    Some(out)
}

fn join_names(root: Option<&str>, sub: Option<&str>) -> Option<String> {
    match (
        root.filter(|s| !s.is_empty()),
        sub.filter(|s| !s.is_empty()),
    ) {
        (Some(r), Some(s)) => Some(format!("{r}-{s}")),
        (r, s) => s.or(r).map(str::to_string),
    }
}

/// Merged matches (`Some(None)`: no match, every request), or `None` when
/// some delegate match falls inside no root match.
fn merge_matches(
    root: Option<&[HttpMatchRequest]>,
    sub: Option<&[HttpMatchRequest]>,
) -> Option<Option<Vec<HttpMatchRequest>>> {
    let root = root.unwrap_or_default();
    let sub = sub.unwrap_or_default();
    if root.is_empty() {
        return Some(some_if_any(sub));
    }
    if sub.is_empty() {
        return Some(some_if_any(root));
    }
    let mut out = Vec::new();
    for leaf in sub {
        let before = out.len();
        for r in root.iter().filter(|r| !conflicts(r, leaf)) {
            out.push(merge_match(r, leaf));
        }
        if out.len() == before {
            return None;
        }
    }
    Some(Some(out))
}

fn some_if_any(m: &[HttpMatchRequest]) -> Option<Vec<HttpMatchRequest>> {
    (!m.is_empty()).then(|| m.to_vec())
}

/// The delegate match with the root match's fields where it sets none;
/// header, query and source-label maps are unions (the delegate's value
/// wins a shared key).
fn merge_match(root: &HttpMatchRequest, leaf: &HttpMatchRequest) -> HttpMatchRequest {
    let mut out = leaf.clone();
    out.name = join_names(root.name.as_deref(), leaf.name.as_deref());
    macro_rules! inherit {
        ($($field:ident),*) => {$(
            if out.$field.is_none() {
                out.$field = root.$field.clone();
            }
        )*};
    }
    inherit!(
        uri,
        scheme,
        method,
        authority,
        port,
        source_namespace,
        stat_prefix
    );
    let union = |r: &BTreeMap<String, StringMatch>, l: &BTreeMap<String, StringMatch>| {
        let mut m = r.clone();
        m.extend(l.iter().map(|(k, v)| (k.clone(), v.clone())));
        m
    };
    out.headers = union(&root.headers, &leaf.headers);
    out.without_headers = union(&root.without_headers, &leaf.without_headers);
    out.query_params = union(&root.query_params, &leaf.query_params);
    let mut labels = root.source_labels.clone();
    labels.extend(
        leaf.source_labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    out.source_labels = labels;
    if out.gateways.is_empty() {
        out.gateways = root.gateways.clone();
    }
    out
}

/// True when `leaf` cannot be narrowed from `root` (Istio's `hasConflict`).
fn conflicts(root: &HttpMatchRequest, leaf: &HttpMatchRequest) -> bool {
    let pairs = [
        (&root.uri, &leaf.uri),
        (&root.scheme, &leaf.scheme),
        (&root.method, &leaf.method),
        (&root.authority, &leaf.authority),
    ];
    if pairs
        .iter()
        .any(|(r, l)| string_conflict(r.as_ref(), l.as_ref()))
    {
        return true;
    }
    let maps = [
        (&root.headers, &leaf.headers),
        (&root.without_headers, &leaf.without_headers),
        (&root.query_params, &leaf.query_params),
    ];
    if maps
        .iter()
        .any(|(r, l)| l.iter().any(|(k, v)| string_conflict(r.get(k), Some(v))))
    {
        return true;
    }
    if root.ignore_uri_case != leaf.ignore_uri_case {
        return true;
    }
    if let (Some(r), Some(l)) = (root.port, leaf.port) {
        if r > 0 && l > 0 && r != l {
            return true;
        }
    }
    if let Some(ns) = root.source_namespace.as_deref().filter(|s| !s.is_empty()) {
        if leaf.source_namespace.as_deref() != Some(ns) {
            return true;
        }
    }
    if leaf
        .source_labels
        .iter()
        .any(|(k, v)| root.source_labels.get(k).is_some_and(|rv| rv != v))
    {
        return true;
    }
    !root.gateways.is_empty()
        && !leaf.gateways.is_empty()
        && leaf.gateways.iter().any(|g| !root.gateways.contains(g))
}

/// A string match's value, when set and not empty.
fn set(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|v| !v.is_empty())
}

/// Istio's `stringMatchConflict`: can the leaf's string match narrow the
/// root's? Either side absent never conflicts.
fn string_conflict(root: Option<&StringMatch>, leaf: Option<&StringMatch>) -> bool {
    let (Some(root), Some(leaf)) = (root, leaf) else {
        return false;
    };
    let literal = |m: &StringMatch| set(&m.exact).is_some() || set(&m.prefix).is_some();
    if set(&root.regex).is_some() && (set(&leaf.regex).is_some() || literal(leaf)) {
        return true;
    }
    if set(&leaf.regex).is_some() && (set(&root.regex).is_some() || literal(root)) {
        return true;
    }
    if let Some(exact) = set(&root.exact) {
        return set(&leaf.prefix).is_some() || set(&leaf.exact) != Some(exact);
    }
    if let Some(prefix) = set(&root.prefix) {
        if let Some(p) = set(&leaf.prefix) {
            return !p.starts_with(prefix);
        }
        if let Some(e) = set(&leaf.exact) {
            return !e.starts_with(prefix);
        }
    }
    // A root regex against a leaf that is only a presence test, or a root
    // that is only a presence test: Istio counts both as conflicts.
    true
}
