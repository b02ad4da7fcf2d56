//! Gateway checks as Istio's `ValidateGateway` (pkg/config/validation/
//! validation.go: `validateServer`, `validateServerPort`,
//! `validateServerBind`, `validateTLSOptions`; hosts by agent's
//! `ValidateNamespaceSlashWildcardHostname`), its reasons as the messages.

use super::hostnames::*;
use super::Reporter;
use crate::config::model::*;
use crate::config::Resource;
use crate::diagnostic::Severity;
use hashbrown::HashSet;
use serde_json::Value;

pub(super) fn gateway(gw: &Resource<GatewaySpec>, r: &mut Reporter<'_>) {
    if !is_dns1123_label(&gw.name) {
        r.error(
            "metadata.name",
            format!("invalid gateway name: {:?}", gw.name),
        );
    }
    if gw.spec.servers.is_empty() {
        r.error(
            "spec.servers",
            "gateway must have at least one server".into(),
        );
    }
    let mut port_names = HashSet::new();
    for (i, s) in gw.spec.servers.iter().enumerate() {
        let f = format!("spec.servers[{i}]");
        server(s, &f, r);
        if let Some(p) = &s.port {
            if !port_names.insert(p.name.as_str()) {
                r.error(
                    &format!("{f}.port.name"),
                    format!(
                        "port names in servers must be unique: duplicate name {}",
                        p.name
                    ),
                );
            }
            let redirect = s.tls.as_ref().and_then(|t| t.https_redirect) == Some(true);
            if redirect && !is_http_protocol(&p.protocol) {
                r.push(
                    "IST0133",
                    Severity::Warning,
                    &format!("{f}.tls.httpsRedirect"),
                    "tls.httpsRedirect should only be used with http servers".into(),
                );
            }
        }
    }
}

fn server(s: &Server, f: &str, r: &mut Reporter<'_>) {
    if s.hosts.is_empty() {
        r.error(
            &format!("{f}.hosts"),
            "server config must contain at least one host".into(),
        );
    }
    for (j, h) in s.hosts.iter().enumerate() {
        for e in server_host(h) {
            r.error(&format!("{f}.hosts[{j}]"), e);
        }
    }
    let bind = s.bind.as_deref().unwrap_or("");
    let port_ok = match &s.port {
        None => {
            r.error(&format!("{f}.port"), "port is required".into());
            false
        }
        Some(p) => server_port(p, bind, &format!("{f}.port"), r),
    };
    if let Some(path) = bind.strip_prefix("unix://") {
        if path.is_empty() {
            r.error(
                &format!("{f}.bind"),
                "unix address must not be empty".into(),
            );
        } else if !path.starts_with('@') && (!path.starts_with('/') || path.ends_with('/')) {
            r.error(
                &format!("{f}.bind"),
                format!("{path} is not an absolute path to a file"),
            );
        }
        if s.port.as_ref().is_some_and(|p| p.number != 0) {
            r.error(
                &format!("{f}.port.number"),
                "port number must be 0 for unix domain socket".into(),
            );
        }
    } else if !bind.is_empty() && !is_ip(bind) {
        r.error(&format!("{f}.bind"), format!("{bind} is not a valid IP"));
    }
    if let Some(tls) = &s.tls {
        tls_options(tls, &format!("{f}.tls"), r);
    }
    let Some(p) = s.port.as_ref().filter(|_| port_ok) else {
        return;
    };
    let tls_port = is_tls_protocol(&p.protocol);
    match &s.tls {
        None if tls_port => r.error(
            &format!("{f}.tls"),
            "server must have TLS settings for HTTPS/TLS protocols".into(),
        ),
        Some(tls) if !tls_port => {
            // A plain HTTP port may carry only the redirect to HTTPS.
            let certificates = ["caCertificates", "privateKey", "serverCertificate"]
                .iter()
                .any(|k| text(tls, k).is_some());
            if !is_http_protocol(&p.protocol) {
                r.error(
                    &format!("{f}.tls"),
                    "server cannot have TLS settings for non HTTPS/TLS ports".into(),
                );
            } else if tls
                .mode
                .as_deref()
                .is_some_and(|m| m != "PASSTHROUGH" && m != "AUTO_PASSTHROUGH")
                || certificates
            {
                r.error(
                    &format!("{f}.tls"),
                    "server cannot have TLS settings for plain text HTTP ports".into(),
                );
            }
        }
        _ => {}
    }
}

/// A server host: `host` or `namespace/host`, the namespace `*`, `.` or a
/// DNS-1123 label; the host `*`, a wildcard domain or an IP, an FQDN (no
/// short names), no partial wildcard.
fn server_host(host: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let name = match host.split_once('/') {
        None => host,
        Some((ns, name)) => {
            if ns.is_empty() || name.is_empty() {
                errors.push("config namespace and dnsName in host entry cannot be empty".into());
            }
            if ns != "*" && ns != "." && !is_dns1123_label(ns) {
                errors.push(format!("invalid namespace value {ns:?} in gateway"));
            }
            name
        }
    };
    if name != "*" && !name.contains('.') {
        errors.push("short names (non FQDN) are not allowed".into());
    }
    if let Err(e) = validate_wildcard_domain(name) {
        if !is_ip(name) {
            errors.push(e);
        }
    }
    if let Err(e) = validate_partial_wildcard(name) {
        errors.push(e);
    }
    errors
}

/// The port; true when it is usable for the TLS checks that follow.
fn server_port(p: &ServerPort, bind: &str, f: &str, r: &mut Reporter<'_>) -> bool {
    let mut ok = true;
    if validate_protocol(&p.protocol).is_err() || p.protocol.is_empty() {
        r.error(
            &format!("{f}.protocol"),
            format!("invalid protocol {:?}, supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP", p.protocol),
        );
        ok = false;
    }
    if p.number > 0 || !bind.starts_with("unix://") {
        if let Err(e) = validate_port(p.number) {
            r.error(&format!("{f}.number"), e);
            ok = false;
        }
    }
    if p.target_port.is_some_and(|t| t > 0) {
        r.error(
            &format!("{f}.targetPort"),
            "targetPort has no impact on Gateways".into(),
        );
        ok = false;
    }
    if p.name.is_empty() {
        r.error(&format!("{f}.name"), "port name must be set".into());
        ok = false;
    }
    ok
}

fn text<'a>(tls: &'a ServerTls, key: &str) -> Option<&'a str> {
    tls.other
        .get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn non_empty_list(tls: &ServerTls, key: &str) -> bool {
    tls.other
        .get(key)
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

/// `ServerTLSSettings`: what each mode allows of certificates and
/// credentials.
fn tls_options(tls: &ServerTls, f: &str, r: &mut Reporter<'_>) {
    let mode = tls.mode.as_deref().unwrap_or("PASSTHROUGH");
    if !matches!(
        mode,
        "PASSTHROUGH"
            | "SIMPLE"
            | "MUTUAL"
            | "AUTO_PASSTHROUGH"
            | "ISTIO_MUTUAL"
            | "OPTIONAL_MUTUAL"
    ) {
        r.error(
            &format!("{f}.mode"),
            format!("unknown TLS mode {mode:?}: PASSTHROUGH, SIMPLE, MUTUAL, AUTO_PASSTHROUGH, ISTIO_MUTUAL or OPTIONAL_MUTUAL"),
        );
        return;
    }
    let server_cert = text(tls, "serverCertificate");
    let key = text(tls, "privateKey");
    let ca = text(tls, "caCertificates");
    let credential = text(tls, "credentialName");
    let credentials = non_empty_list(tls, "credentialNames");
    let certificates: Vec<&Value> = tls
        .other
        .get("tlsCertificates")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    if mode == "ISTIO_MUTUAL" {
        for (present, what) in [
            (server_cert.is_some(), "server certificate"),
            (key.is_some(), "private key"),
            (ca.is_some(), "CA bundle"),
            (!certificates.is_empty(), "tlsCertificates"),
            (credential.is_some(), "credentialName"),
            (credentials, "credentialNames"),
        ] {
            if present {
                r.error(f, format!("ISTIO_MUTUAL TLS cannot have associated {what}"));
            }
        }
        return;
    }
    let crl = text(tls, "caCrl");
    let any_certificate = crl.is_some()
        || server_cert.is_some()
        || key.is_some()
        || ca.is_some()
        || !certificates.is_empty()
        || credential.is_some()
        || credentials;
    if (mode == "PASSTHROUGH" || mode == "AUTO_PASSTHROUGH") && any_certificate {
        r.push(
            "IST0133",
            Severity::Warning,
            f,
            format!("{mode} mode does not use certificates, they will be ignored"),
        );
    }
    let sources = [
        server_cert.is_some() && key.is_some(),
        credential.is_some(),
        credentials,
        !certificates.is_empty(),
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if sources > 1 {
        r.error(
            f,
            "only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified".into(),
        );
    }
    let terminates = matches!(mode, "SIMPLE" | "MUTUAL" | "OPTIONAL_MUTUAL");
    if terminates && (credential.is_some() || credentials) {
        return; // fetched from the Secret
    }
    if terminates {
        let prefix = if mode == "SIMPLE" {
            "SIMPLE TLS"
        } else {
            "MUTUAL TLS"
        };
        if mode != "SIMPLE" && ca.is_none() {
            r.error(
                &format!("{f}.caCertificates"),
                format!("{prefix} requires a client CA bundle"),
            );
        }
        if certificates.len() > 2 {
            r.push(
                "IST0133",
                Severity::Warning,
                &format!("{f}.tlsCertificates"),
                format!("{prefix} can support up to 2 server certificates"),
            );
        }
        let pairs: Vec<(Option<&str>, Option<&str>)> = if certificates.is_empty() {
            vec![(server_cert, key)]
        } else {
            certificates
                .iter()
                .map(|c| {
                    let get = |k: &str| c.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
                    (get("serverCertificate"), get("privateKey"))
                })
                .collect()
        };
        for (cert, key) in pairs {
            if cert.is_none() {
                r.error(
                    &format!("{f}.serverCertificate"),
                    format!("{prefix} requires a server certificate"),
                );
            }
            if key.is_none() {
                r.error(
                    &format!("{f}.privateKey"),
                    format!("{prefix} requires a private key"),
                );
            }
        }
    }
    if crl.is_some() {
        if credential.is_some() {
            r.error(
                &format!("{f}.caCrl"),
                "CRL is not supported with credentialName. CRL has to be specified in the credential".into(),
            );
        }
        if mode == "SIMPLE" {
            r.error(
                &format!("{f}.caCrl"),
                "CRL is not supported with SIMPLE TLS".into(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Loaded;

    /// `severity field: message` of a Gateway's IST0106/IST0133 diagnostics.
    fn diagnostics(servers: &str) -> Vec<String> {
        let yaml = format!(
            "apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {{name: gw, namespace: edge}}\nspec:\n  selector: {{istio: ingressgateway}}\n  servers:\n{servers}"
        );
        let loaded = Loaded::from_source("t.yaml", &yaml);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let mut out = Vec::new();
        crate::validate::validate(&loaded.config, &mut out);
        out.iter()
            .filter(|d| d.resource.kind == "Gateway" && matches!(d.code, "IST0106" | "IST0133"))
            .map(|d| format!("{} {}: {}", d.severity.as_str(), d.field, d.message))
            .collect()
    }

    fn server(port: &str, hosts: &str, tls: &str) -> String {
        format!("  - port: {port}\n    hosts: {hosts}\n{tls}")
    }

    const HTTP: &str = "{number: 80, name: http, protocol: HTTP}";
    const HTTPS: &str = "{number: 443, name: https, protocol: HTTPS}";

    #[test]
    fn servers_as_istios_webhook_judges_them() {
        let cases: Vec<(String, &[&str])> = vec![
            // Accepted.
            (server(HTTP, "['*']", ""), &[]),
            (server(HTTP, "[shop/a.example.com, './b.example.com', '*/c.example.com', '*.example.com', 10.0.0.1]", ""), &[]),
            (server(HTTP, "[a.example.com]", "    tls: {httpsRedirect: true}\n"), &[]),
            (server(HTTPS, "[a.example.com]", "    tls: {mode: SIMPLE, credentialName: a-cert}\n"), &[]),
            (server(HTTPS, "[a.example.com]", "    tls: {mode: SIMPLE, serverCertificate: /c.pem, privateKey: /k.pem}\n"), &[]),
            (server(HTTPS, "[a.example.com]", "    tls: {mode: MUTUAL, credentialName: a-cert}\n"), &[]),
            (server("{number: 443, name: tls, protocol: TLS}", "[a.example.com]", "    tls: {mode: PASSTHROUGH}\n"), &[]),
            (server(HTTPS, "[a.example.com]", "    tls: {mode: ISTIO_MUTUAL}\n"), &[]),
            // Rejected, with Istio's reason.
            (server(HTTP, "[reviews]", ""), &["error spec.servers[0].hosts[0]: short names (non FQDN) are not allowed"]),
            (server(HTTP, "['a*.example.com']", ""), &[
                "error spec.servers[0].hosts[0]: domain name \"a*.example.com\" invalid (label \"a*\" invalid)",
                "error spec.servers[0].hosts[0]: partial wildcard \"a*.example.com\" not allowed",
            ]),
            (server(HTTP, "['Bad_NS/a.example.com']", ""), &["error spec.servers[0].hosts[0]: invalid namespace value \"Bad_NS\" in gateway"]),
            (server(HTTP, "[]", ""), &["error spec.servers[0].hosts: server config must contain at least one host"]),
            (server("{number: 80, protocol: HTTP}", "[a.example.com]", ""), &["error spec.servers[0].port.name: port name must be set"]),
            (server("{number: 80, name: x, protocol: SCTP}", "[a.example.com]", ""), &["error spec.servers[0].port.protocol: invalid protocol \"SCTP\", supported protocols are HTTP, HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP"]),
            (server("{number: 80, name: x, protocol: HTTP, targetPort: 8080}", "[a.example.com]", ""), &["error spec.servers[0].port.targetPort: targetPort has no impact on Gateways"]),
            (server(HTTPS, "[a.example.com]", ""), &["error spec.servers[0].tls: server must have TLS settings for HTTPS/TLS protocols"]),
            (server(HTTP, "[a.example.com]", "    tls: {mode: SIMPLE, credentialName: a}\n"), &["error spec.servers[0].tls: server cannot have TLS settings for plain text HTTP ports"]),
            (server("{number: 9000, name: tcp, protocol: TCP}", "[a.example.com]", "    tls: {mode: SIMPLE, credentialName: a}\n"), &["error spec.servers[0].tls: server cannot have TLS settings for non HTTPS/TLS ports"]),
            (server(HTTPS, "[a.example.com]", "    tls: {mode: SIMPLE}\n"), &[
                "error spec.servers[0].tls.serverCertificate: SIMPLE TLS requires a server certificate",
                "error spec.servers[0].tls.privateKey: SIMPLE TLS requires a private key",
            ]),
            (server(HTTPS, "[a.example.com]", "    tls: {mode: MUTUAL, serverCertificate: /c.pem, privateKey: /k.pem}\n"), &["error spec.servers[0].tls.caCertificates: MUTUAL TLS requires a client CA bundle"]),
            (server(HTTPS, "[a.example.com]", "    tls: {mode: ISTIO_MUTUAL, credentialName: a}\n"), &["error spec.servers[0].tls: ISTIO_MUTUAL TLS cannot have associated credentialName"]),
            (server(HTTPS, "[a.example.com]", "    tls: {mode: SIMPLE, credentialName: a, serverCertificate: /c.pem, privateKey: /k.pem}\n"), &["error spec.servers[0].tls: only one of credential_name, credential_names, server_certificate/private_key, tls_certificates should be specified"]),
            (server("{number: 443, name: tls, protocol: TLS}", "[a.example.com]", "    tls: {mode: PASSTHROUGH, credentialName: a}\n"), &["warning spec.servers[0].tls: PASSTHROUGH mode does not use certificates, they will be ignored"]),
            (server(HTTP, "[a.example.com]", "") + &server(HTTP, "[b.example.com]", ""), &["error spec.servers[1].port.name: port names in servers must be unique: duplicate name http"]),
            (server("{number: 9000, name: tcp, protocol: TCP}", "[a.example.com]", "    tls: {httpsRedirect: true}\n"), &[
                "error spec.servers[0].tls: server cannot have TLS settings for non HTTPS/TLS ports",
                "warning spec.servers[0].tls.httpsRedirect: tls.httpsRedirect should only be used with http servers",
            ]),
        ];
        for (servers, want) in cases {
            assert_eq!(diagnostics(&servers), want, "{servers}");
        }
    }
}
