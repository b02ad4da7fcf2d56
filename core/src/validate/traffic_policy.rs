//! A DestinationRule's traffic policies (top level, per subset, per port)
//! as Istio's `validateTrafficPolicy` and the functions it calls
//! (pkg/config/validation/validation.go; `ValidateTLS` and
//! `ValidateDuration` in agent/validation.go), Istio's reasons as the
//! messages. Fields Weir reads but leaves to the proxy (keepalives,
//! warmup) are accepted with an info note (WEIR0020).

use super::fields::*;
use super::Reporter;
use crate::balance::maglev::is_prime;
use crate::balance::ring_hash::{validate_ring_sizes, RingHash};
use crate::config::model::*;
use crate::config::names::parse_duration;
use crate::diagnostic::Severity;
use hashbrown::HashSet;
use serde_json::Value;

pub(super) fn traffic_policy(tp: &TrafficPolicy, field: &str, r: &mut Reporter<'_>) {
    let empty = tp.load_balancer.is_none()
        && tp.connection_pool.is_none()
        && tp.outlier_detection.is_none()
        && tp.tls.is_none()
        && tp.port_level_settings.is_empty()
        && tp.tunnel.is_none()
        && tp.proxy_protocol.is_none()
        && tp.retry_budget.is_none();
    if empty {
        r.error(field, "traffic policy must have at least one field".into());
        return;
    }
    if tp.tunnel.is_some() && tp.proxy_protocol.is_some() {
        r.error(
            field,
            "tunnel and proxyProtocol must not be set together".into(),
        );
    }
    policy_parts(
        tp.load_balancer.as_ref(),
        tp.outlier_detection.as_ref(),
        tp.connection_pool.as_ref(),
        tp.tls.as_ref(),
        field,
        r,
    );
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
            None => r.error(
                &format!("{f}.port"),
                "portTrafficPolicy must have valid port".into(),
            ),
        }
        if pl.load_balancer.is_none()
            && pl.outlier_detection.is_none()
            && pl.connection_pool.is_none()
            && pl.tls.is_none()
        {
            r.error(
                &f,
                "port traffic policy must have at least one field".into(),
            );
            continue;
        }
        policy_parts(
            pl.load_balancer.as_ref(),
            pl.outlier_detection.as_ref(),
            pl.connection_pool.as_ref(),
            pl.tls.as_ref(),
            &f,
            r,
        );
    }
}

fn policy_parts(
    lb: Option<&LoadBalancerSettings>,
    od: Option<&OutlierDetection>,
    cp: Option<&ConnectionPoolSettings>,
    tls: Option<&Value>,
    field: &str,
    r: &mut Reporter<'_>,
) {
    if let Some(lb) = lb {
        load_balancer(lb, &format!("{field}.loadBalancer"), r);
    }
    if let Some(od) = od {
        outlier(od, &format!("{field}.outlierDetection"), r);
    }
    if let Some(cp) = cp {
        connection_pool(cp, &format!("{field}.connectionPool"), r);
    }
    if let Some(tls) = tls {
        client_tls(tls, &format!("{field}.tls"), r);
    }
}

fn duration(text: &str, field: &str, r: &mut Reporter<'_>) {
    ms_duration(text, field, r);
}

/// Accepted, but the proxy's business: an info note saying so.
fn not_acted_on(field: &str, what: &str, r: &mut Reporter<'_>) {
    r.push(
        "WEIR0020",
        Severity::Info,
        field,
        format!("{what} is understood but not applied by Weir: it belongs to the proxy's own connections"),
    );
}

fn load_balancer(lb: &LoadBalancerSettings, field: &str, r: &mut Reporter<'_>) {
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
        consistent_hash(ch, &format!("{field}.consistentHash"), r);
    }
    if lb.locality_lb_setting.is_some() && lb.zone_aware_lb_setting.is_some() {
        r.error(
            field,
            "only one of localityLbSetting and zoneAwareLbSetting can be set".into(),
        );
    }
    if let Some(w) = &lb.warmup {
        let f = format!("{field}.warmup");
        match &w.duration {
            None => r.error(&format!("{f}.duration"), "duration is required".into()),
            Some(d) => duration(d, &format!("{f}.duration"), r),
        }
        if w.minimum_percent.is_some_and(|p| p > 100.0) {
            r.error(
                &format!("{f}.minimumPercent"),
                "minimumPercent value should be less than or equal to 100".into(),
            );
        }
        if w.aggression.is_some_and(|a| a <= 0.0) {
            r.error(
                &format!("{f}.aggression"),
                "aggression should be greater than 0".into(),
            );
        }
        not_acted_on(&f, "warmup (slow start)", r);
    }
    if let Some(d) = &lb.warmup_duration_secs {
        duration(d, &format!("{field}.warmupDurationSecs"), r);
        not_acted_on(
            &format!("{field}.warmupDurationSecs"),
            "warmupDurationSecs (slow start)",
            r,
        );
    }
}

fn consistent_hash(ch: &ConsistentHashLb, f: &str, r: &mut Reporter<'_>) {
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
        r.error(f, "only one of httpHeaderName, httpCookie, useSourceIp or httpQueryParameterName may be set".into());
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
                "name required for HttpCookie".into(),
            );
        }
        if let Some(t) = &c.ttl {
            check_duration(t, &format!("{f}.httpCookie.ttl"), r);
        }
        let mut names = HashSet::new();
        for (i, a) in c.attributes.iter().enumerate() {
            let name = a.get("name").and_then(Value::as_str).unwrap_or("");
            let af = format!("{f}.httpCookie.attributes[{i}].name");
            if name.is_empty() {
                r.error(&af, "cookie attribute name cannot be empty".into());
            } else if !names.insert(name) {
                r.error(&af, format!("duplicate cookie attribute name: {name}"));
            }
        }
    }
    if ch.ring_hash.is_some() && ch.maglev.is_some() {
        r.error(f, "only one of ringHash or maglev may be set".into());
    }
    if let Some(size) = ch.minimum_ring_size.filter(|&m| m != 0) {
        r.push(
            "IST0133",
            Severity::Warning,
            &format!("{f}.minimumRingSize"),
            "consistent hash MinimumRingSize is deprecated, use ConsistentHashLB's RingHash configuration instead".into(),
        );
        if ch.ring_hash.is_some() || ch.maglev.is_some() {
            r.error(
                &format!("{f}.minimumRingSize"),
                "only one of MinimumRingSize or Maglev/Ringhash can be specified".into(),
            );
        }
        ring_size(size, &format!("{f}.minimumRingSize"), r);
    }
    if let Some(size) = ch.ring_hash.as_ref().and_then(|rh| rh.minimum_ring_size) {
        ring_size(size, &format!("{f}.ringHash.minimumRingSize"), r);
    }
    if let Some(m) = &ch.maglev {
        let tf = format!("{f}.maglev.tableSize");
        let size = m.table_size.unwrap_or(0);
        if size == 0 {
            r.error(&tf, "tableSize must be set for maglev".into());
        } else if size >= 5_000_011 {
            r.error(&tf, "tableSize must be less than 5000011 for maglev".into());
        } else if !is_prime(size) {
            r.error(&tf, "tableSize must be a prime number for maglev".into());
        }
    }
}

/// The balancer's own check, against Envoy's maximum ring size (Istio
/// leaves it to Envoy, which refuses the cluster).
fn ring_size(size: u64, field: &str, r: &mut Reporter<'_>) {
    if let Err(why) = validate_ring_sizes(size, RingHash::MAX_RING_SIZE) {
        r.error(field, format!("minimum ring size {size}: {why}"));
    }
}

fn outlier(od: &OutlierDetection, field: &str, r: &mut Reporter<'_>) {
    if let Some(d) = &od.base_ejection_time {
        duration(d, &format!("{field}.baseEjectionTime"), r);
    }
    if od.consecutive_errors.is_some_and(|e| e != 0) {
        r.push(
            "IST0133",
            Severity::Warning,
            &format!("{field}.consecutiveErrors"),
            "outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead".into(),
        );
    }
    if od.split_external_local_origin_errors != Some(true)
        && od.consecutive_local_origin_failures.is_some_and(|n| n > 0)
    {
        r.error(
            &format!("{field}.consecutiveLocalOriginFailures"),
            "outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false".into(),
        );
    }
    if let Some(d) = &od.interval {
        duration(d, &format!("{field}.interval"), r);
    }
    for (name, v) in [
        ("maxEjectionPercent", od.max_ejection_percent),
        ("minHealthPercent", od.min_health_percent),
    ] {
        if let Some(v) = v.filter(|v| !(0..=100).contains(v)) {
            r.error(
                &format!("{field}.{name}"),
                format!("percentage {v} is not in range 0..100"),
            );
        }
    }
}

fn connection_pool(cp: &ConnectionPoolSettings, field: &str, r: &mut Reporter<'_>) {
    if cp.http.is_none() && cp.tcp.is_none() {
        r.error(field, "connection pool must have at least one field".into());
        return;
    }
    let mut negative = |name: &str, what: &str, v: Option<i64>| {
        if v.is_some_and(|v| v < 0) {
            r.error(
                &format!("{field}.{name}"),
                format!("{what} must be non-negative"),
            );
        }
    };
    if let Some(h) = &cp.http {
        negative(
            "http.http1MaxPendingRequests",
            "http1 max pending requests",
            h.http1_max_pending_requests,
        );
        negative(
            "http.http2MaxRequests",
            "http2 max requests",
            h.http2_max_requests,
        );
        negative(
            "http.maxRequestsPerConnection",
            "max requests per connection",
            h.max_requests_per_connection,
        );
        negative("http.maxRetries", "max retries", h.max_retries);
        negative(
            "http.maxConcurrentStreams",
            "max concurrent streams",
            h.max_concurrent_streams,
        );
    }
    if let Some(t) = &cp.tcp {
        negative("tcp.maxConnections", "max connections", t.max_connections);
    }
    if let Some(h) = &cp.http {
        let f = format!("{field}.http");
        if let Some(d) = &h.idle_timeout {
            duration(d, &format!("{f}.idleTimeout"), r);
        }
        if let Some(p) = h.h2_upgrade_policy.as_deref() {
            if !matches!(p, "DEFAULT" | "DO_NOT_UPGRADE" | "UPGRADE") {
                r.error(
                    &format!("{f}.h2UpgradePolicy"),
                    format!("unknown h2UpgradePolicy {p:?}: DEFAULT, DO_NOT_UPGRADE or UPGRADE"),
                );
            }
            if p == "UPGRADE" && h.use_client_protocol == Some(true) {
                r.error(
                    &format!("{f}.useClientProtocol"),
                    "use client protocol must not be true when H2UpgradePolicy is UPGRADE".into(),
                );
            }
        }
        if let Some(k) = &h.http2_keep_alive {
            let kf = format!("{f}.http2KeepAlive");
            for (name, value) in [("interval", &k.interval), ("timeout", &k.timeout)] {
                match value {
                    None => r.error(
                        &format!("{kf}.{name}"),
                        format!("http2 keepalive {name} is required"),
                    ),
                    Some(d) => duration(d, &format!("{kf}.{name}"), r),
                }
            }
            not_acted_on(&kf, "http2KeepAlive", r);
        }
    }
    if let Some(t) = &cp.tcp {
        let f = format!("{field}.tcp");
        if let Some(d) = &t.connect_timeout {
            duration(d, &format!("{f}.connectTimeout"), r);
        }
        if let Some(d) = &t.max_connection_duration {
            duration(d, &format!("{f}.maxConnectionDuration"), r);
        }
        if let Some(d) = &t.idle_timeout {
            // 0s turns the timeout off.
            if parse_duration(d).map_or(true, |d| d.as_millis() != 0) {
                duration(d, &format!("{f}.idleTimeout"), r);
            }
        }
        if let Some(k) = &t.tcp_keepalive {
            let kf = format!("{f}.tcpKeepalive");
            for (name, value) in [("time", &k.time), ("interval", &k.interval)] {
                if let Some(d) = value {
                    duration(d, &format!("{kf}.{name}"), r);
                }
            }
            not_acted_on(&kf, "tcpKeepalive", r);
        }
    }
}

/// `ClientTLSSettings` as Istio's `ValidateTLS`: the mode, and which
/// certificate fields each mode and `credentialName` allow.
fn client_tls(tls: &Value, field: &str, r: &mut Reporter<'_>) {
    let text = |k: &str| tls.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let mode = text("mode").unwrap_or("DISABLE");
    if !matches!(mode, "DISABLE" | "SIMPLE" | "MUTUAL" | "ISTIO_MUTUAL") {
        r.error(
            &format!("{field}.mode"),
            format!("unknown TLS mode {mode:?}: DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL"),
        );
        return;
    }
    let sans = tls
        .get("subjectAltNames")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    let credential = text("credentialName");
    if tls.get("insecureSkipVerify").and_then(Value::as_bool) == Some(true) {
        if mode == "SIMPLE" && (text("caCertificates").is_some() || credential.is_some() || sans) {
            r.error(
                field,
                "cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true".into(),
            );
        }
        if mode == "MUTUAL" && (text("caCertificates").is_some() || sans) {
            r.error(
                field,
                "cannot specify CaCertificates or SubjectAltNames when InsecureSkipVerify is set true".into(),
            );
        }
    }
    if (mode == "SIMPLE" || mode == "MUTUAL") && credential.is_some() {
        let files = ["clientCertificate", "caCertificates", "privateKey", "caCrl"];
        if files.iter().any(|k| text(k).is_some()) {
            r.error(
                field,
                "cannot specify client certificates or CA certificate or CA CRL If credentialName is set".into(),
            );
        }
        return;
    }
    if mode == "MUTUAL" {
        if text("clientCertificate").is_none() {
            r.error(
                &format!("{field}.clientCertificate"),
                "client certificate required for mutual tls".into(),
            );
        }
        if text("privateKey").is_none() {
            r.error(
                &format!("{field}.privateKey"),
                "private key required for mutual tls".into(),
            );
        }
    }
}
