//! DestinationRule checks: host, subsets and their traffic policies.

use super::fields::*;
use super::{Context, Reporter};
use crate::balance::maglev::validate_table_size;
use crate::balance::ring_hash::{validate_ring_sizes, RingHash};
use crate::config::model::*;
use crate::config::Resource;
use std::collections::HashSet;

impl Context<'_> {
    pub(super) fn destination_rule(
        &self,
        dr: &Resource<DestinationRuleSpec>,
        r: &mut Reporter<'_>,
    ) {
        let spec = &dr.spec;
        let of = if spec.workload_selector.is_some() {
            ExportToOf::DestinationRuleWithSelector
        } else {
            ExportToOf::DestinationRule
        };
        export_to(&spec.export_to, &dr.namespace, of, r);
        if spec.host.is_empty() {
            r.error("spec.host", "host is required".into());
            return;
        }
        if let Some(tp) = &spec.traffic_policy {
            traffic_policy(tp, "spec.trafficPolicy", r);
        }
        let mut names = HashSet::new();
        for (i, subset) in spec.subsets.iter().enumerate() {
            let f = format!("spec.subsets[{i}]");
            if subset.name.is_empty() {
                r.error(&format!("{f}.name"), "subset name is required".into());
            } else if !is_dns1123_label(&subset.name) {
                r.error(
                    &format!("{f}.name"),
                    format!(
                        "subset name {:?} is not a valid DNS-1123 label",
                        subset.name
                    ),
                );
            }
            if !names.insert(subset.name.as_str()) {
                r.error(
                    &format!("{f}.name"),
                    format!("duplicate subset name {:?}", subset.name),
                );
            }
            if let Some(tp) = &subset.traffic_policy {
                traffic_policy(tp, &format!("{f}.trafficPolicy"), r);
            }
        }
    }
}

pub(super) fn traffic_policy(tp: &TrafficPolicy, field: &str, r: &mut Reporter<'_>) {
    if let Some(lb) = &tp.load_balancer {
        load_balancer(lb, &format!("{field}.loadBalancer"), r);
    }
    if let Some(od) = &tp.outlier_detection {
        outlier(od, &format!("{field}.outlierDetection"), r);
    }
    if let Some(cp) = &tp.connection_pool {
        connection_pool(cp, &format!("{field}.connectionPool"), r);
    }
    let mut ports = HashSet::new();
    for (i, pl) in tp.port_level_settings.iter().enumerate() {
        let f = format!("{field}.portLevelSettings[{i}]");
        match pl.port.as_ref().and_then(|p| p.number) {
            Some(p) => {
                check_port(p, &format!("{f}.port.number"), r);
                if !ports.insert(p) {
                    r.error(
                        &format!("{f}.port.number"),
                        format!("duplicate port level settings for port {p}"),
                    );
                }
            }
            None => r.error(&format!("{f}.port"), "port is required".into()),
        }
        if let Some(lb) = &pl.load_balancer {
            load_balancer(lb, &format!("{f}.loadBalancer"), r);
        }
        if let Some(od) = &pl.outlier_detection {
            outlier(od, &format!("{f}.outlierDetection"), r);
        }
        if let Some(cp) = &pl.connection_pool {
            connection_pool(cp, &format!("{f}.connectionPool"), r);
        }
    }
}

pub(super) fn load_balancer(lb: &LoadBalancerSettings, field: &str, r: &mut Reporter<'_>) {
    if lb.simple.is_some() && lb.consistent_hash.is_some() {
        r.error(
            field,
            "only one of simple or consistentHash may be set".into(),
        );
    }
    if let Some(s) = &lb.simple {
        if !matches!(
            s.as_str(),
            "UNSPECIFIED"
                | "LEAST_CONN"
                | "LEAST_REQUEST"
                | "RANDOM"
                | "PASSTHROUGH"
                | "ROUND_ROBIN"
        ) {
            r.error(
                &format!("{field}.simple"),
                format!("unknown load balancer {s:?}"),
            );
        }
    }
    if let Some(ch) = &lb.consistent_hash {
        let f = format!("{field}.consistentHash");
        let keys = [
            ch.http_header_name.is_some(),
            ch.http_cookie.is_some(),
            ch.use_source_ip == Some(true),
            ch.http_query_parameter_name.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if keys > 1 {
            r.error(&f, "only one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName may be set".into());
        }
        if ch.http_header_name.as_deref() == Some("") {
            r.error(
                &format!("{f}.httpHeaderName"),
                "header name must not be empty".into(),
            );
        }
        if ch.http_query_parameter_name.as_deref() == Some("") {
            r.error(
                &format!("{f}.httpQueryParameterName"),
                "query parameter name must not be empty".into(),
            );
        }
        if let Some(c) = &ch.http_cookie {
            if c.name.is_empty() {
                r.error(
                    &format!("{f}.httpCookie.name"),
                    "cookie name is required".into(),
                );
            }
            if let Some(t) = &c.ttl {
                check_duration(t, &format!("{f}.httpCookie.ttl"), r);
            }
        }
        if ch.ring_hash.is_some() && ch.maglev.is_some() {
            r.error(&f, "only one of ringHash or maglev may be set".into());
        }
        let ring_min = ch
            .ring_hash
            .as_ref()
            .and_then(|rh| rh.minimum_ring_size)
            .map(|m| (m, "ringHash.minimumRingSize"));
        for (size, name) in ring_min
            .into_iter()
            .chain(ch.minimum_ring_size.map(|m| (m, "minimumRingSize")))
        {
            // The balancer's own check, against Envoy's maximum ring size.
            if let Err(why) = validate_ring_sizes(size, RingHash::MAX_RING_SIZE) {
                r.error(
                    &format!("{f}.{name}"),
                    format!("minimum ring size {size}: {why}"),
                );
            }
        }
        if let Some(size) = ch
            .maglev
            .as_ref()
            .and_then(|m| m.table_size)
            .filter(|&s| s != 0)
        {
            if let Err(why) = validate_table_size(size) {
                r.error(
                    &format!("{f}.maglev.tableSize"),
                    format!("table size {size}: {why}"),
                );
            }
        }
    }
}

pub(super) fn outlier(od: &OutlierDetection, field: &str, r: &mut Reporter<'_>) {
    for (name, v) in [
        ("maxEjectionPercent", od.max_ejection_percent),
        ("minHealthPercent", od.min_health_percent),
    ] {
        if let Some(v) = v {
            if !(0..=100).contains(&v) {
                r.error(
                    &format!("{field}.{name}"),
                    format!("{name} {v} must be within 0-100"),
                );
            }
        }
    }
    for (name, d) in [
        ("interval", &od.interval),
        ("baseEjectionTime", &od.base_ejection_time),
    ] {
        if let Some(d) = d {
            check_duration(d, &format!("{field}.{name}"), r);
        }
    }
}

pub(super) fn connection_pool(cp: &ConnectionPoolSettings, field: &str, r: &mut Reporter<'_>) {
    let mut check = |name: &str, v: Option<i64>| {
        if let Some(v) = v {
            if v < 0 {
                r.error(
                    &format!("{field}.{name}"),
                    format!("{v} must not be negative"),
                );
            }
        }
    };
    if let Some(h) = &cp.http {
        check("http.http1MaxPendingRequests", h.http1_max_pending_requests);
        check("http.http2MaxRequests", h.http2_max_requests);
        check(
            "http.maxRequestsPerConnection",
            h.max_requests_per_connection,
        );
        check("http.maxRetries", h.max_retries);
    }
    if let Some(t) = &cp.tcp {
        check("tcp.maxConnections", t.max_connections);
    }
}
