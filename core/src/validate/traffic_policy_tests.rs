//! Table tests of the DestinationRule rules against Istio's webhook
//! (`ValidateDestinationRule`, `validateTrafficPolicy` and friends): rows
//! Istio accepts pass, rows it rejects fail with its reason.

use crate::config::Loaded;

/// `severity field: message` of a DestinationRule's IST0106/IST0133/WEIR0020
/// diagnostics for `spec` (YAML under `spec:`).
fn diagnostics(spec: &str) -> Vec<String> {
    let yaml = format!(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: web, namespace: shop}}\nspec:\n  hosts: [web.example.com, a.example.com]\n  ports: [{{number: 80, name: http, protocol: HTTP}}]\n  resolution: NONE\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: d, namespace: shop}}\nspec:\n{spec}"
    );
    let loaded = Loaded::from_source("t.yaml", &yaml);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let mut out = Vec::new();
    crate::validate::validate(&loaded.config, &mut out);
    out.iter()
        .filter(|d| {
            d.resource.kind == "DestinationRule"
                && matches!(d.code, "IST0106" | "IST0133" | "WEIR0020")
        })
        .map(|d| format!("{} {}: {}", d.severity.as_str(), d.field, d.message))
        .collect()
}

fn policy(yaml: &str) -> String {
    format!("  host: web.example.com\n  trafficPolicy:\n{yaml}")
}

#[test]
fn rules_istio_accepts_pass() {
    let cases: &[(&str, &[&str])] = &[
        // The rows: a workloadSelector, a wildcard host.
        ("  host: web.example.com\n  workloadSelector: {matchLabels: {app: client}}\n  trafficPolicy: {tls: {mode: ISTIO_MUTUAL}}\n", &[]),
        ("  host: '*.example.com'\n  trafficPolicy: {loadBalancer: {simple: RANDOM}}\n", &[]),
        ("  host: web.example.com\n  subsets: [{name: V1, labels: {version: v1}}]\n", &[]),
        (
            "  host: web.example.com\n  trafficPolicy:\n    connectionPool:\n      http: {http2MaxRequests: 100, maxRequestsPerConnection: 10, idleTimeout: 30s, h2UpgradePolicy: UPGRADE, maxConcurrentStreams: 100}\n      tcp: {maxConnections: 100, connectTimeout: 30ms, maxConnectionDuration: 1h, idleTimeout: 0s}\n",
            &[],
        ),
        (
            "  host: web.example.com\n  trafficPolicy:\n    outlierDetection: {consecutive5xxErrors: 7, consecutiveGatewayErrors: 3, consecutiveLocalOriginFailures: 5, splitExternalLocalOriginErrors: true, interval: 5m, baseEjectionTime: 15m, maxEjectionPercent: 50, minHealthPercent: 30}\n",
            &[],
        ),
        ("  host: web.example.com\n  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user, maglev: {tableSize: 65537}}}}\n", &[]),
        ("  host: web.example.com\n  trafficPolicy: {tls: {mode: MUTUAL, credentialName: client-cert}}\n", &[]),
        ("  host: web.example.com\n  trafficPolicy: {tls: {mode: MUTUAL, clientCertificate: /c.pem, privateKey: /k.pem}}\n", &[]),
        ("  host: web.example.com\n  trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: true}}\n", &[]),
        // Understood but left to the proxy: an info note, never a rejection.
        (
            "  host: web.example.com\n  trafficPolicy: {connectionPool: {http: {http2KeepAlive: {interval: 10s, timeout: 5s}}}}\n",
            &["info spec.trafficPolicy.connectionPool.http.http2KeepAlive: http2KeepAlive is understood but not applied by Weir: it belongs to the proxy's own connections"],
        ),
        (
            "  host: web.example.com\n  trafficPolicy: {connectionPool: {tcp: {tcpKeepalive: {time: 7200s, interval: 75s, probes: 9}}}}\n",
            &["info spec.trafficPolicy.connectionPool.tcp.tcpKeepalive: tcpKeepalive is understood but not applied by Weir: it belongs to the proxy's own connections"],
        ),
        (
            "  host: web.example.com\n  trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST, warmup: {duration: 60s, minimumPercent: 10, aggression: 2}}}\n",
            &["info spec.trafficPolicy.loadBalancer.warmup: warmup (slow start) is understood but not applied by Weir: it belongs to the proxy's own connections"],
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(diagnostics(spec), *want, "{spec}");
    }
}

#[test]
fn rules_istio_rejects_fail_with_its_reason() {
    let cases: Vec<(String, &[&str])> = vec![
        (policy("    {}\n").replace(":\n    {}", ": {}"), &["error spec.trafficPolicy: traffic policy must have at least one field"]),
        ("  host: 'a_b.example.com'\n".into(), &["error spec.host: domain name \"a_b.example.com\" invalid (label \"a_b\" invalid)"]),
        (
            "  host: web.example.com\n  workloadSelector: {matchLabels: {app: '*'}}\n".into(),
            &["error spec.workloadSelector.matchLabels.app: wildcard is not supported in selector: \"app=*\""],
        ),
        (
            "  host: web.example.com\n  workloadSelector: {}\n".into(),
            &["warning spec.workloadSelector: workload selector specified without labels"],
        ),
        (
            "  host: web.example.com\n  subsets: [{name: v1, labels: {version: v1}}, {name: v1, labels: {version: v2}}]\n".into(),
            &["error spec.subsets[1].name: duplicate subset names: v1"],
        ),
        (
            "  host: web.example.com\n  subsets: [{name: v_1, labels: {version: v1}}]\n".into(),
            &["error spec.subsets[0].name: subset name is invalid: v_1"],
        ),
        // Connection pools.
        (policy("    connectionPool: {}\n"), &["error spec.trafficPolicy.connectionPool: connection pool must have at least one field"]),
        (policy("    connectionPool: {http: {http1MaxPendingRequests: -1}}\n"), &["error spec.trafficPolicy.connectionPool.http.http1MaxPendingRequests: http1 max pending requests must be non-negative"]),
        (policy("    connectionPool: {http: {maxConcurrentStreams: -1}}\n"), &["error spec.trafficPolicy.connectionPool.http.maxConcurrentStreams: max concurrent streams must be non-negative"]),
        (policy("    connectionPool: {tcp: {maxConnections: -5}}\n"), &["error spec.trafficPolicy.connectionPool.tcp.maxConnections: max connections must be non-negative"]),
        (policy("    connectionPool: {http: {idleTimeout: 500us}}\n"), &["error spec.trafficPolicy.connectionPool.http.idleTimeout: duration must be greater than 1ms"]),
        (policy("    connectionPool: {tcp: {connectTimeout: 1500us}}\n"), &["error spec.trafficPolicy.connectionPool.tcp.connectTimeout: only durations to ms precision are supported"]),
        (
            policy("    connectionPool: {http: {h2UpgradePolicy: UPGRADE, useClientProtocol: true}}\n"),
            &["error spec.trafficPolicy.connectionPool.http.useClientProtocol: use client protocol must not be true when H2UpgradePolicy is UPGRADE"],
        ),
        (
            policy("    connectionPool: {http: {http2KeepAlive: {interval: 10s}}}\n"),
            &[
                "error spec.trafficPolicy.connectionPool.http.http2KeepAlive.timeout: http2 keepalive timeout is required",
                "info spec.trafficPolicy.connectionPool.http.http2KeepAlive: http2KeepAlive is understood but not applied by Weir: it belongs to the proxy's own connections",
            ],
        ),
        // Outlier detection.
        (
            policy("    outlierDetection: {consecutiveLocalOriginFailures: 3}\n"),
            &["error spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures: outlier detection consecutive local origin failures is specified, but split external local origin errors is set to false"],
        ),
        (policy("    outlierDetection: {maxEjectionPercent: 101}\n"), &["error spec.trafficPolicy.outlierDetection.maxEjectionPercent: percentage 101 is not in range 0..100"]),
        (policy("    outlierDetection: {interval: 0s}\n"), &["error spec.trafficPolicy.outlierDetection.interval: duration must be greater than 1ms"]),
        (
            policy("    outlierDetection: {consecutiveErrors: 5}\n"),
            &["warning spec.trafficPolicy.outlierDetection.consecutiveErrors: outlier detection consecutive errors is deprecated, use consecutiveGatewayErrors or consecutive5xxErrors instead"],
        ),
        // Load balancers.
        (policy("    loadBalancer: {consistentHash: {httpCookie: {ttl: 0s}}}\n"), &["error spec.trafficPolicy.loadBalancer.consistentHash.httpCookie.name: name required for HttpCookie"]),
        (policy("    loadBalancer: {consistentHash: {httpHeaderName: x, maglev: {tableSize: 65536}}}\n"), &["error spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize: tableSize must be a prime number for maglev"]),
        (policy("    loadBalancer: {consistentHash: {httpHeaderName: x, maglev: {}}}\n"), &["error spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize: tableSize must be set for maglev"]),
        (
            policy("    loadBalancer: {warmup: {minimumPercent: 120}}\n"),
            &[
                "error spec.trafficPolicy.loadBalancer.warmup.duration: duration is required",
                "error spec.trafficPolicy.loadBalancer.warmup.minimumPercent: minimumPercent value should be less than or equal to 100",
                "info spec.trafficPolicy.loadBalancer.warmup: warmup (slow start) is understood but not applied by Weir: it belongs to the proxy's own connections",
            ],
        ),
        (
            policy("    loadBalancer: {localityLbSetting: {enabled: true}, zoneAwareLbSetting: {}}\n"),
            &["error spec.trafficPolicy.loadBalancer: only one of localityLbSetting and zoneAwareLbSetting can be set"],
        ),
        // Port level settings.
        (policy("    portLevelSettings: [{port: {number: 80}}]\n"), &["error spec.trafficPolicy.portLevelSettings[0]: port traffic policy must have at least one field"]),
        (policy("    portLevelSettings: [{loadBalancer: {simple: RANDOM}}]\n"), &["error spec.trafficPolicy.portLevelSettings[0].port: portTrafficPolicy must have valid port"]),
        // TLS modes and credentials.
        (policy("    tls: {mode: MUTUAL}\n"), &[
            "error spec.trafficPolicy.tls.clientCertificate: client certificate required for mutual tls",
            "error spec.trafficPolicy.tls.privateKey: private key required for mutual tls",
        ]),
        (
            policy("    tls: {mode: SIMPLE, credentialName: c, caCertificates: /ca.pem}\n"),
            &["error spec.trafficPolicy.tls: cannot specify client certificates or CA certificate or CA CRL If credentialName is set"],
        ),
        (
            policy("    tls: {mode: SIMPLE, insecureSkipVerify: true, subjectAltNames: [a]}\n"),
            &["error spec.trafficPolicy.tls: cannot specify CaCertificates or CredentialName or SubjectAltNames when InsecureSkipVerify is set true"],
        ),
        (policy("    tls: {mode: STRICT}\n"), &["error spec.trafficPolicy.tls.mode: unknown TLS mode \"STRICT\": DISABLE, SIMPLE, MUTUAL or ISTIO_MUTUAL"]),
    ];
    for (spec, want) in cases {
        assert_eq!(diagnostics(&spec), want, "{spec}");
    }
}
