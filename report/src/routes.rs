//! The compiled route table as data (`weir routes`, like
//! `istioctl proxy-config routes` and `clusters`).

use serde::Serialize;
use weir_core::compile::{ClusterChoice, Listener, Rule, RuleAction};
use weir_core::route::{RouteMatch, StringMatcher};
use weir_core::Table;

/// One HTTP route of a virtual host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct HttpRouteRow {
    pub domain: String,
    /// The match, for people: `/api*`, `method=GET`, `!x-user=ann`, …
    #[serde(rename = "match")]
    pub matcher: String,
    /// `namespace/name http[i]`, or `(default route)`.
    pub rule: String,
    /// Clusters with their weights, or the redirect or direct response.
    pub action: String,
}

/// One TCP or TLS rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct TcpRouteRow {
    /// `tcp` or `tls`.
    pub kind: String,
    pub match_blocks: usize,
    /// `namespace/name [i]`.
    pub rule: String,
    /// `host|subset (weight)` each.
    pub destinations: Vec<String>,
}

/// A listener: the sidecars' (`mesh`) or a gateway's port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct ListenerReport {
    /// `mesh` or `namespace/name:port`.
    pub name: String,
    pub https_redirect: bool,
    pub http: Vec<HttpRouteRow>,
    pub tcp: Vec<TcpRouteRow>,
}

/// One endpoint of a cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct EndpointReport {
    pub address: String,
    /// `namespace/name` of its pod, `""` when not from Kubernetes.
    pub pod: String,
    /// Where it was read from.
    pub source: String,
}

/// One cluster and its endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct ClusterReport {
    pub name: String,
    /// The load balancer: `round_robin`, `ring_hash`, `maglev`, …
    pub lb: String,
    pub endpoints: Vec<EndpointReport>,
}

/// The whole table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct RouteTable {
    pub listeners: Vec<ListenerReport>,
    pub clusters: Vec<ClusterReport>,
}

/// The table's listeners (only gateway `only`, or `mesh`, when given) and clusters.
pub fn route_table(table: &Table, only: Option<&str>) -> RouteTable {
    let mut listeners: Vec<(String, &Listener)> = Vec::new();
    if only.is_none_or(|g| g == "mesh") {
        for (namespace, listener) in table.mesh_views() {
            let name = match namespace {
                None => "mesh".to_string(),
                Some(ns) => format!("mesh (sidecars in {ns})"),
            };
            listeners.push((name, listener));
        }
    }
    for (g, port, l) in table.gateways() {
        if only.is_none_or(|o| o == g) {
            listeners.push((format!("{g}:{port}"), l));
        }
    }
    let listeners = listeners
        .into_iter()
        .map(|(name, listener)| ListenerReport {
            name,
            https_redirect: listener.https_redirect,
            http: listener
                .virtual_hosts
                .iter()
                .flat_map(|vh| {
                    vh.routes.iter().map(|route| HttpRouteRow {
                        domain: vh.domain.to_string(),
                        matcher: describe_match(&route.matcher),
                        rule: match route.rule.index {
                            Some(i) => format!(
                                "{}/{} http[{i}]",
                                route.rule.namespace, route.rule.virtual_service
                            ),
                            None => "(default route)".into(),
                        },
                        action: describe_action(table, &route.rule),
                    })
                })
                .collect(),
            tcp: listener
                .tcp
                .iter()
                .map(|rule| TcpRouteRow {
                    kind: if rule.tls { "tls" } else { "tcp" }.into(),
                    match_blocks: rule.matches.len(),
                    rule: format!(
                        "{}/{} [{}]",
                        rule.namespace, rule.virtual_service, rule.index
                    ),
                    destinations: rule
                        .destinations
                        .iter()
                        .map(|d| format!("{}|{} ({})", d.host, d.subset, d.weight))
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let clusters = table
        .clusters()
        .iter()
        .enumerate()
        .map(|(i, c)| ClusterReport {
            name: c.name.to_string(),
            lb: c.policy.lb.as_str().to_string(),
            endpoints: table
                .endpoints(i)
                .iter()
                .map(|e| EndpointReport {
                    address: e.address.to_string(),
                    pod: e.pod.to_string(),
                    source: e.source.to_string(),
                })
                .collect(),
        })
        .collect();
    RouteTable {
        listeners,
        clusters,
    }
}

fn describe_string(m: &StringMatcher) -> String {
    match m {
        StringMatcher::Exact(e) => format!("={e}"),
        StringMatcher::Prefix(p) => format!("{p}*"),
        StringMatcher::Regex(r) => format!(
            "~{}",
            r.as_str().trim_start_matches("^(?:").trim_end_matches(")$")
        ),
        StringMatcher::Present => "present".into(),
    }
}

/// A route's match, for people.
pub fn describe_match(m: &RouteMatch) -> String {
    let mut parts = vec![m.uri.as_ref().map_or("/*".to_string(), describe_string)];
    if let Some(x) = &m.method {
        parts.push(format!("method{}", describe_string(x)));
    }
    if let Some(x) = &m.authority {
        parts.push(format!("authority{}", describe_string(x)));
    }
    for h in m.headers.iter() {
        parts.push(format!(
            "{}{}{}",
            if h.invert { "!" } else { "" },
            h.name,
            describe_string(&h.matcher)
        ));
    }
    for q in m.query.iter() {
        parts.push(format!("?{}{}", q.name, describe_string(&q.matcher)));
    }
    if let Some(p) = m.port {
        parts.push(format!("port={p}"));
    }
    parts.join(" ")
}

/// A rule's action, for people.
pub fn describe_action(table: &Table, rule: &Rule) -> String {
    match &rule.action {
        RuleAction::Redirect(r) => format!("redirect {}", r.code),
        RuleAction::Direct { status, .. } => format!("direct response {status}"),
        RuleAction::Forward { destinations, .. } => destinations
            .iter()
            .map(|d| {
                let cluster = match &d.cluster {
                    ClusterChoice::Fixed(i) => table.clusters()[*i as usize].name.to_string(),
                    ClusterChoice::ByPort(list) => list
                        .iter()
                        .map(|(_, i)| table.clusters()[*i as usize].name.to_string())
                        .collect::<Vec<_>>()
                        .join("|by port|"),
                    ClusterChoice::Missing(name) => format!("{name} (missing: 503)"),
                };
                if destinations.len() > 1 {
                    format!("{cluster} ({})", d.weight)
                } else {
                    cluster
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}
