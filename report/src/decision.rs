//! Decisions as data: the fields of `weir explain --json`.

use serde::Serialize;
use weir_core::balance::hash_policy::{HashPolicy, RequestHash};
use weir_core::compile::HeaderOps;
use weir_core::decision::HashUse;
use weir_core::{Decision, Outcome, Request};

/// The rule that matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct RouteReport {
    /// `namespace/name` of the VirtualService.
    pub virtual_service: String,
    /// `http`, `tcp` or `tls`: which list the rule is in.
    pub kind: String,
    /// Index in that list; `null` for the default route of a service.
    pub rule: Option<usize>,
    /// The rule's `name`.
    pub name: Option<String>,
    /// Which of the rule's `match` blocks matched (HTTP).
    #[serde(rename = "match")]
    pub match_index: Option<usize>,
}

/// The destination picked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct DestinationReport {
    pub host: String,
    /// `""` for no subset.
    pub subset: String,
    pub port: u16,
}

/// Where an endpoint came from (Kubernetes inputs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct EndpointOriginReport {
    /// `namespace/name` of the pod.
    pub pod: String,
    /// The EndpointSlice, Endpoints or ServiceEntry it was read from.
    pub source: String,
}

/// Header edits, in the order they apply: remove, then set, then add.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct HeaderOpsReport {
    /// `[name, value]` pairs.
    pub set: Vec<(String, String)>,
    pub add: Vec<(String, String)>,
    pub remove: Vec<String>,
}

impl HeaderOpsReport {
    fn new(o: &HeaderOps) -> Self {
        let pairs = |list: &[(Box<str>, Box<str>)]| {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        HeaderOpsReport {
            set: pairs(&o.set),
            add: pairs(&o.add),
            remove: o.remove.iter().map(|r| r.to_string()).collect(),
        }
    }
}

/// The retry policy (Istio's defaults filled in).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct RetriesReport {
    pub attempts: u32,
    pub per_try_timeout_ms: Option<u64>,
    pub retry_on: String,
    pub retriable_status_codes: Vec<u16>,
}

/// A cluster the request is copied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct MirrorReport {
    pub cluster: String,
    pub host: String,
    /// Share mirrored, parts per million.
    pub per_million: u32,
}

/// How a consistent-hash balancer hashed the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct HashReport {
    /// `header x-user`, `cookie user`, `source ip`, `query parameter u`.
    pub policy: String,
    /// `present`, `generated cookie` or `absent (random)`.
    pub input: String,
    /// The key read from the request, for people.
    pub key: String,
    /// The 64-bit hash, in decimal (a JS number cannot hold it).
    pub value: String,
}

/// One decision: what to do with one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct DecisionReport {
    /// `route`, `redirect`, `direct_response`, `fault_abort`, `no_route`,
    /// `no_cluster`, `no_healthy_upstream` or `overflow`.
    pub outcome: String,
    /// The status of a local reply; `null` when routed.
    pub status: Option<u16>,
    /// A gRPC fault abort: answer 200 with this grpc-status.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub grpc_status: Option<u32>,
    pub route: Option<RouteReport>,
    /// Index of the route destination picked.
    pub destination_index: Option<usize>,
    /// `outbound|PORT|SUBSET|HOST`.
    pub cluster: Option<String>,
    pub destination: Option<DestinationReport>,
    /// `ip:port`.
    pub endpoint: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub endpoint_origin: Option<EndpointOriginReport>,
    /// PASSTHROUGH: forward to the address the client dialled.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub original_destination: bool,
    pub upstream_path: String,
    pub upstream_authority: Option<String>,
    pub location: Option<String>,
    pub request_headers: HeaderOpsReport,
    pub response_headers: HeaderOpsReport,
    pub delay_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub retries: Option<RetriesReport>,
    pub mirrors: Vec<MirrorReport>,
    /// A direct response's body.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub hash: Option<HashReport>,
    pub set_cookie: Option<String>,
}

fn millis(d: std::time::Duration) -> u64 {
    d.as_millis() as u64
}

impl DecisionReport {
    /// The report of `d`, made for `req` (`None` for a connection).
    pub fn new(d: &Decision<'_>, req: Option<&Request<'_>>) -> Self {
        let route = match (d.route, d.l4_rule) {
            (Some(r), _) => Some(RouteReport {
                virtual_service: format!("{}/{}", r.rule.namespace, r.rule.virtual_service),
                kind: "http".into(),
                rule: r.rule.index,
                name: r.rule.name.as_deref().map(str::to_string),
                match_index: r.match_index,
            }),
            (None, Some(r)) => Some(RouteReport {
                virtual_service: format!("{}/{}", r.namespace, r.virtual_service),
                kind: if r.tls { "tls" } else { "tcp" }.into(),
                rule: Some(r.index),
                name: None,
                match_index: None,
            }),
            (None, None) => None,
        };
        DecisionReport {
            outcome: d.outcome.as_str().into(),
            status: (d.outcome != Outcome::Route).then_some(d.status),
            grpc_status: d.grpc_status,
            route,
            destination_index: d.destination_index,
            cluster: d.cluster.map(|c| c.name.to_string()),
            destination: d.cluster.map(|c| DestinationReport {
                host: c.host.to_string(),
                subset: c.subset.to_string(),
                port: c.port,
            }),
            endpoint: d.endpoint.map(|e| e.address.to_string()),
            endpoint_origin: d
                .endpoint
                .filter(|e| !e.pod.is_empty() || !e.source.is_empty())
                .map(|e| EndpointOriginReport {
                    pod: e.pod.to_string(),
                    source: e.source.to_string(),
                }),
            original_destination: d.original_destination,
            upstream_path: d.upstream_path.to_string(),
            upstream_authority: d.upstream_authority.map(str::to_string),
            location: d.location.as_ref().map(|l| l.to_string()),
            request_headers: HeaderOpsReport::new(d.request_headers),
            response_headers: HeaderOpsReport::new(d.response_headers),
            delay_ms: d.delay.map(millis),
            timeout_ms: d.timeout().map(millis),
            retries: d.retries().map(|r| RetriesReport {
                attempts: r.attempts,
                per_try_timeout_ms: r.per_try_timeout.map(millis),
                retry_on: r.retry_on.to_string(),
                retriable_status_codes: r.retriable_status_codes.to_vec(),
            }),
            mirrors: d
                .mirrors
                .iter()
                .map(|m| MirrorReport {
                    cluster: m.cluster_name.to_string(),
                    host: m.host.to_string(),
                    per_million: m.per_million,
                })
                .collect(),
            body: (d.outcome == Outcome::DirectResponse)
                .then(|| String::from_utf8_lossy(d.body()).into_owned()),
            hash: d.hash.as_ref().map(|h| HashReport {
                policy: hash_policy(h.policy),
                input: match h.input {
                    RequestHash::Hash(_) => "present",
                    RequestHash::GeneratedCookie { .. } => "generated cookie",
                    RequestHash::Missing => "absent (random)",
                }
                .into(),
                key: req.map(|r| hash_input(h, r)).unwrap_or_default(),
                value: h.value.to_string(),
            }),
            set_cookie: d.set_cookie.as_ref().map(|c| c.to_string()),
        }
    }
}

/// Describes a hash policy for people.
pub fn hash_policy(p: &HashPolicy) -> String {
    match p {
        HashPolicy::Header { name } => format!("header {name}"),
        HashPolicy::Cookie { name, .. } => format!("cookie {name}"),
        HashPolicy::SourceIp => "source ip".to_string(),
        HashPolicy::QueryParameter { name } => format!("query parameter {name}"),
    }
}

/// The key a hash policy read from the request, for people.
pub fn hash_input(h: &HashUse<'_>, req: &Request<'_>) -> String {
    match h.input {
        RequestHash::Missing => "absent (random pick, as Envoy)".to_string(),
        RequestHash::GeneratedCookie { value, .. } => {
            format!("generated cookie {:?}", String::from_utf8_lossy(&value))
        }
        RequestHash::Hash(_) => match h.policy {
            HashPolicy::Header { name } => {
                let mut values = Vec::new();
                req.headers
                    .for_each(name, &mut |v| values.push(format!("{v:?}")));
                values.join(", ")
            }
            HashPolicy::Cookie { name, .. } => {
                let mut found = None;
                req.headers.for_each("cookie", &mut |line| {
                    for part in line.split(';') {
                        if let Some((k, v)) = part.trim_start().split_once('=') {
                            if k == name && found.is_none() {
                                found = Some(v.trim_matches('"').to_string());
                            }
                        }
                    }
                });
                format!("{:?}", found.unwrap_or_default())
            }
            HashPolicy::SourceIp => req.remote.map(|a| a.ip().to_string()).unwrap_or_default(),
            HashPolicy::QueryParameter { name } => format!(
                "{:?}",
                weir_core::route::query_value(req.query(), name).unwrap_or("")
            ),
        },
    }
}
