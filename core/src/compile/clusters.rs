//! Clusters: (host, subset, port) as the DestinationRules a client sees
//! shape them (subset labels, load balancer, pool limits, outlier detection).

use super::*;
use super::{Builder, Rules};
use crate::balance::hash_policy::HashPolicy;
use crate::balance::maglev::Maglev;
use crate::balance::ring_hash::RingHash;
use crate::config::model::{
    ConnectionPoolSettings, Destination, LoadBalancerSettings, OutlierDetection, PortTrafficPolicy,
    TrafficPolicy,
};
use crate::config::names::{expand_host, host_matches, parse_duration};
use crate::config::registry::Service;
use hashbrown::HashMap;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

impl<'c> Builder<'c> {
    /// The cluster for (host, subset, port) as a client with no rules of its
    /// own sees it, created on first use.
    pub(crate) fn cluster(&mut self, host: &str, subset: &str, port: u16) -> u32 {
        let rules = self.rules_for(host, None);
        self.cluster_with(host, subset, port, &rules)
    }

    /// The DestinationRules a client in `client` (`None`: the default
    /// answer) sees for `host`.
    pub(crate) fn rules_for(&self, host: &str, client: Option<&str>) -> Rules<'c> {
        let service_ns = self
            .registry
            .find(host)
            .map(|s| s.namespace.as_str())
            .filter(|ns| !ns.is_empty())
            .or_else(|| kube_namespace_of(host))
            .unwrap_or("");
        self.destination_rules.for_client(host, client, service_ns)
    }

    /// The cluster for (host, subset, port) shaped by `rules`.
    pub(crate) fn cluster_with(
        &mut self,
        host: &str,
        subset: &str,
        port: u16,
        rules: &Rules<'c>,
    ) -> u32 {
        let ids: Vec<usize> = rules.iter().map(|r| *r as *const _ as usize).collect();
        if let Some(&id) = self
            .cluster_ids
            .get(&ClusterKeyRef(host, subset, port, &ids))
        {
            return id;
        }
        let key = (host.to_string(), subset.to_string(), port, ids);
        let service = self.registry.find(host);
        let sp = service.and_then(|s| s.ports.iter().find(|p| p.number == u32::from(port)));
        let (subset_labels, policy) = self.policy_for(rules, subset, port, service);
        let subset_missing = !subset.is_empty() && subset_labels.is_none();
        let subset_labels = subset_labels.unwrap_or_default();
        let cluster = Cluster {
            name: cluster_name(port, subset, host).into(),
            host: host.into(),
            subset: subset.into(),
            port,
            policy,
            subset_labels,
            subset_missing,
            port_name: sp.map(|p| p.name.clone()).unwrap_or_default(),
            target_port: sp.and_then(|p| p.target_port),
            rules: rules
                .iter()
                .map(|r| format!("{}/{}", r.namespace, r.name))
                .collect::<Vec<_>>()
                .join(",")
                .into(),
            active: AtomicU32::new(0),
            metrics_id: std::sync::atomic::AtomicU64::new(0),
        };
        let lent = match self.reuse {
            Some(reuse) => match reuse.same_cluster(&cluster) {
                Some(id) => {
                    self.cluster_ids.insert(key, id);
                    return id;
                }
                None => {
                    self.reuse_missed = true;
                    reuse.clusters.len() as u32
                }
            },
            None => 0,
        };
        let id = lent + self.clusters.len() as u32;
        self.clusters.push(cluster);
        self.cluster_ids.insert(key, id);
        id
    }

    /// Per client namespace, the clusters it sees shaped by other
    /// DestinationRules than the default answer: (namespace, default
    /// cluster → its own). Only namespaces with rules of their own or named
    /// in an `exportTo`, and only the hosts those rules cover, are visited.
    pub(crate) fn scoped_clusters(
        &mut self,
    ) -> std::collections::HashMap<Box<str>, std::collections::HashMap<u32, u32>> {
        let defaults = self.clusters.len() as u32;
        let mut by_host: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, c) in self.clusters.iter().enumerate() {
            by_host
                .entry(c.host.to_string())
                .or_default()
                .push(i as u32);
        }
        // The table's type (std's map).
        let mut out: std::collections::HashMap<Box<str>, std::collections::HashMap<u32, u32>> =
            std::collections::HashMap::new();
        let scoped: Vec<(String, Vec<String>)> = self
            .destination_rules
            .scoped_namespaces()
            .into_iter()
            .map(|(ns, hosts)| {
                (
                    ns.to_string(),
                    hosts.into_iter().map(str::to_string).collect(),
                )
            })
            .collect();
        for (ns, patterns) in scoped {
            let mut ids: Vec<u32> = Vec::new();
            for pattern in &patterns {
                if pattern.starts_with('*') {
                    ids.extend(
                        by_host
                            .iter()
                            .filter(|(h, _)| host_matches(pattern, h))
                            .flat_map(|(_, v)| v.iter().copied()),
                    );
                } else if let Some(v) = by_host.get(pattern) {
                    ids.extend(v);
                }
            }
            ids.sort_unstable();
            ids.dedup();
            for id in ids.into_iter().filter(|&id| id < defaults) {
                let c = self.cluster_at(id);
                let (host, subset, port) = (c.host.to_string(), c.subset.to_string(), c.port);
                let rules = self.rules_for(&host, Some(&ns));
                let own = self.cluster_with(&host, &subset, port, &rules);
                if own != id {
                    out.entry(ns.as_str().into()).or_default().insert(id, own);
                }
            }
        }
        out
    }

    /// Subset labels (`None`: the rules define no such subset) and the
    /// effective policy (Istio's `MergeSubsetTrafficPolicy`).
    pub(crate) fn policy_for(
        &self,
        drs: &Rules<'c>,
        subset: &str,
        port: u16,
        service: Option<&Service>,
    ) -> (Option<Vec<(String, String)>>, ClusterPolicy) {
        let top: Option<&TrafficPolicy> =
            drs.iter().find_map(|dr| dr.spec.traffic_policy.as_deref());
        let subset_def = drs
            .iter()
            .flat_map(|dr| dr.spec.subsets.iter())
            .find(|s| s.name == subset);
        // 1. DR level, or its port entry (replaces the four fields whole).
        let mut lb = top.and_then(|t| t.load_balancer.clone());
        let mut pool = top.and_then(|t| t.connection_pool.clone());
        let mut outlier = top.and_then(|t| t.outlier_detection.clone());
        if let Some(pl) = top.and_then(|t| port_level(t, port)) {
            lb = pl.load_balancer.clone();
            pool = pl.connection_pool.clone();
            outlier = pl.outlier_detection.clone();
        }
        // 2. Subset policy: its port entry replaces, else each set field overrides.
        if let Some(sp) = subset_def.and_then(|s| s.traffic_policy.as_deref()) {
            if let Some(pl) = port_level(sp, port) {
                lb = pl.load_balancer.clone();
                pool = pl.connection_pool.clone();
                outlier = pl.outlier_detection.clone();
            } else {
                if sp.load_balancer.is_some() {
                    lb = sp.load_balancer.clone();
                }
                if sp.connection_pool.is_some() {
                    pool = sp.connection_pool.clone();
                }
                if sp.outlier_detection.is_some() {
                    outlier = sp.outlier_detection.clone();
                }
            }
        }
        let labels = subset_def.map(|s| {
            s.labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        });
        let passthrough = service.is_some_and(|s| s.passthrough);
        (
            labels,
            compile_policy(lb.as_ref(), pool.as_ref(), outlier.as_ref(), passthrough),
        )
    }

    /// How a destination picks its cluster.
    pub(crate) fn cluster_choice(
        &mut self,
        dest: &Destination,
        namespace: &str,
    ) -> (String, ClusterChoice) {
        let host = expand_host(&dest.host, namespace);
        let subset = dest.subset.clone().unwrap_or_default();
        let Some(service) = self.registry.find(&host) else {
            // Named as Istio names it: the destination's port when it gives
            // one (0 otherwise: the listener's is not known here).
            let port = dest.port.as_ref().and_then(|p| p.number).unwrap_or(0) as u16;
            return (
                host.clone(),
                ClusterChoice::Missing(cluster_name(port, &subset, &host).into()),
            );
        };
        if !subset.is_empty() && !self.destination_rules.defines_subset(&host, &subset) {
            let port = match (
                dest.port.as_ref().and_then(|p| p.number),
                &service.ports[..],
            ) {
                (Some(p), _) => p as u16,
                (None, [only]) => only.number as u16,
                _ => 0,
            };
            return (
                host.clone(),
                ClusterChoice::Missing(cluster_name(port, &subset, &host).into()),
            );
        }
        let ports: Vec<u16> = service.ports.iter().map(|p| p.number as u16).collect();
        let choice = match dest.port.as_ref().and_then(|p| p.number) {
            Some(p) => ClusterChoice::Fixed(self.cluster(&host, &subset, p as u16)),
            None if ports.len() == 1 => {
                ClusterChoice::Fixed(self.cluster(&host, &subset, ports[0]))
            }
            // A service without declared ports (endpoints from set_endpoints):
            // port 80 unless the destination names one.
            None if ports.is_empty() => ClusterChoice::Fixed(self.cluster(&host, &subset, 80)),
            None => ClusterChoice::ByPort(
                ports
                    .iter()
                    .map(|&p| (p, self.cluster(&host, &subset, p)))
                    .collect(),
            ),
        };
        (host, choice)
    }
}

pub(crate) fn port_level(tp: &TrafficPolicy, port: u16) -> Option<&PortTrafficPolicy> {
    tp.port_level_settings
        .iter()
        .find(|p| p.port.as_ref().and_then(|p| p.number) == Some(u32::from(port)))
}

pub(crate) fn compile_policy(
    lb: Option<&LoadBalancerSettings>,
    pool: Option<&ConnectionPoolSettings>,
    outlier: Option<&OutlierDetection>,
    passthrough: bool,
) -> ClusterPolicy {
    let (kind, hash) = match lb {
        Some(LoadBalancerSettings {
            consistent_hash: Some(ch),
            ..
        }) => {
            let kind = match (&ch.maglev, &ch.ring_hash) {
                (Some(m), _) => LbKind::Maglev {
                    table_size: m
                        .table_size
                        .filter(|&t| t != 0)
                        .unwrap_or(Maglev::DEFAULT_TABLE_SIZE),
                },
                (None, Some(r)) => LbKind::RingHash {
                    minimum_ring_size: r
                        .minimum_ring_size
                        .filter(|&m| m != 0)
                        .unwrap_or(RingHash::DEFAULT_MIN_RING_SIZE),
                },
                (None, None) => LbKind::RingHash {
                    minimum_ring_size: ch
                        .minimum_ring_size
                        .filter(|&m| m != 0)
                        .unwrap_or(RingHash::DEFAULT_MIN_RING_SIZE),
                },
            };
            let hash = if let Some(h) = &ch.http_header_name {
                Some(HashPolicy::Header {
                    name: h.to_ascii_lowercase(),
                })
            } else if let Some(c) = &ch.http_cookie {
                Some(HashPolicy::Cookie {
                    name: c.name.clone(),
                    path: c.path.clone().unwrap_or_default(),
                    ttl: c.ttl.as_deref().and_then(|t| parse_duration(t).ok()),
                })
            } else if ch.use_source_ip == Some(true) {
                Some(HashPolicy::SourceIp)
            } else {
                ch.http_query_parameter_name
                    .as_ref()
                    .map(|q| HashPolicy::QueryParameter { name: q.clone() })
            };
            (kind, hash)
        }
        Some(LoadBalancerSettings {
            simple: Some(s), ..
        }) => (
            match s.as_str() {
                "ROUND_ROBIN" => LbKind::RoundRobin,
                "RANDOM" => LbKind::Random,
                "PASSTHROUGH" => LbKind::Passthrough,
                _ => LbKind::LeastRequest,
            },
            None,
        ),
        _ => (LbKind::LeastRequest, None),
    };
    let kind = if passthrough {
        LbKind::Passthrough
    } else {
        kind
    };
    let to_u32 = |v: Option<i64>| {
        v.filter(|&v| v > 0)
            .map(|v| v.min(i64::from(u32::MAX)) as u32)
    };
    let pool = PoolLimits {
        http1_max_pending_requests: to_u32(
            pool.and_then(|p| p.http.as_ref())
                .and_then(|h| h.http1_max_pending_requests),
        ),
        http2_max_requests: to_u32(
            pool.and_then(|p| p.http.as_ref())
                .and_then(|h| h.http2_max_requests),
        ),
        max_requests_per_connection: to_u32(
            pool.and_then(|p| p.http.as_ref())
                .and_then(|h| h.max_requests_per_connection),
        ),
        max_connections: to_u32(
            pool.and_then(|p| p.tcp.as_ref())
                .and_then(|t| t.max_connections),
        ),
    };
    let outlier = outlier.map(|o| OutlierPolicy {
        consecutive_5xx: o
            .consecutive_5xx_errors
            .or(o.consecutive_errors.map(|v| v.max(0) as u32))
            .or(Some(5))
            .filter(|&v| v > 0),
        consecutive_gateway_errors: o.consecutive_gateway_errors.filter(|&v| v > 0),
        interval: o
            .interval
            .as_deref()
            .and_then(|d| parse_duration(d).ok())
            .unwrap_or(Duration::from_secs(10)),
        base_ejection_time: o
            .base_ejection_time
            .as_deref()
            .and_then(|d| parse_duration(d).ok())
            .unwrap_or(Duration::from_secs(30)),
        max_ejection_percent: o.max_ejection_percent.unwrap_or(10).clamp(0, 100) as u32,
        min_health_percent: o.min_health_percent.unwrap_or(0).clamp(0, 100) as u32,
    });
    ClusterPolicy {
        lb: kind,
        hash,
        outlier,
        pool,
    }
}
