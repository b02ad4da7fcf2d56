//! WorkloadEntry checks, also run on a ServiceEntry's inline endpoints, as
//! Istio's `validateWorkloadEntry` (pkg/config/validation/validation.go):
//! an address (unless a `network` says it is reached through a gateway)
//! that is `unix://path` (then no ports), an IP, or where allowed an FQDN;
//! ports with DNS-1123 names and numbers in 1..65535, defined by the
//! ServiceEntry when there is one; label keys and values Kubernetes takes.

use super::hostnames::{is_ip, validate_fqdn, validate_port, validate_port_name};
use super::Reporter;
use crate::config::model::WorkloadEntrySpec;
use crate::diagnostic::Severity;
use hashbrown::HashSet;

/// Where an endpoint is checked: a WorkloadEntry resource, or a
/// ServiceEntry endpoint with its port names and resolution.
pub(super) struct EndpointRules<'a> {
    /// The ServiceEntry's port names; `None` for a WorkloadEntry.
    pub service_ports: Option<&'a HashSet<&'a str>>,
    /// DNS names allowed as the address (not under STATIC resolution).
    pub allow_fqdn: bool,
}

/// Checks `we` (at `field`: `spec`, or `spec.endpoints[i]`).
pub(super) fn workload_entry(
    we: &WorkloadEntrySpec,
    rules: &EndpointRules<'_>,
    field: &str,
    r: &mut Reporter<'_>,
) {
    let address = we.address.as_str();
    let at = |f: &str| format!("{field}.{f}");
    if address.is_empty() {
        match we.network.as_deref().filter(|n| !n.is_empty()) {
            None => {
                r.error(&at("address"), "address is required".into());
                return;
            }
            Some(network) => r.push(
                "IST0133",
                Severity::Warning,
                &at("address"),
                format!("address is unset with network {network:?}"),
            ),
        }
    }
    let unix = address.strip_prefix("unix://");
    if let Some(path) = unix {
        if path.is_empty() {
            r.error(&at("address"), "unix address must not be empty".into());
        } else if !path.starts_with('@') && (!path.starts_with('/') || path.ends_with('/')) {
            r.error(
                &at("address"),
                format!("{path} is not an absolute path to a file"),
            );
        }
        if !we.ports.is_empty() {
            r.error(
                &at("ports"),
                format!("unix endpoint {address} must not include ports"),
            );
        }
    } else if !address.is_empty() && !is_ip(address) {
        if !rules.allow_fqdn {
            r.error(
                &at("address"),
                format!("endpoint address {address:?} is not a valid IP address"),
            );
        } else if validate_fqdn(address).is_err() {
            r.error(
                &at("address"),
                format!("endpoint address {address:?} is not a valid FQDN or an IP address"),
            );
        }
    }
    for (name, port) in &we.ports {
        let f = at(&format!("ports.{name}"));
        if let Some(defined) = rules.service_ports {
            if !defined.contains(name.as_str()) {
                r.error(
                    &f,
                    format!("endpoint port {port} is not defined by the service entry"),
                );
            }
        }
        for check in [validate_port_name(name), validate_port(*port)] {
            if let Err(e) = check {
                r.error(&f, e);
            }
        }
    }
    for (key, value) in we.labels.iter() {
        if let Err(e) = label(key, value) {
            r.error(&at(&format!("labels.{key}")), e);
        }
    }
    if unix.is_some() && rules.service_ports.is_some_and(|p| p.len() != 1) {
        r.error(
            &at("address"),
            "exactly 1 service port required for unix endpoints".into(),
        );
    }
}

/// A Kubernetes label: an optional DNS prefix and `/`, a name of at most
/// 63 alphanumerics, `-`, `_` or `.` starting and ending alphanumeric; a
/// value of the same form or empty (pkg/config/labels `Validate`).
pub(super) fn label(key: &str, value: &str) -> Result<(), String> {
    let qualified = |s: &str| {
        let b = s.as_bytes();
        !b.is_empty()
            && b.len() <= 63
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
    };
    let name = match key.rsplit_once('/') {
        Some((prefix, name)) => {
            if prefix.len() > 253 || super::hostnames::validate_fqdn(prefix).is_err() {
                return Err(format!("invalid tag key: {key:?}"));
            }
            name
        }
        None => key,
    };
    if !qualified(name) {
        return Err(format!("invalid tag key: {key:?}"));
    }
    if !value.is_empty() && !qualified(value) {
        return Err(format!("invalid tag value: {value:?}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::Loaded;

    /// `severity field: message` of a WorkloadEntry's own diagnostics.
    fn diagnostics(spec: &str) -> Vec<String> {
        let yaml = format!(
            "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {{name: we, namespace: shop}}\nspec:\n{spec}"
        );
        let loaded = Loaded::from_source("t.yaml", &yaml);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let mut out = Vec::new();
        crate::validate::validate(&loaded.config, &mut out);
        out.iter()
            .filter(|d| d.resource.kind == "WorkloadEntry")
            .map(|d| format!("{} {}: {}", d.severity.as_str(), d.field, d.message))
            .collect()
    }

    #[test]
    fn workload_entries_as_istios_webhook_judges_them() {
        let cases: &[(&str, &[&str])] = &[
            ("  address: 10.0.0.1\n  ports: {http: 8080}\n  labels: {app: a, version: v1}\n", &[]),
            ("  address: 2001:db8::1\n", &[]),
            ("  address: vm-1.example.com\n  weight: 3\n", &[]),
            ("  address: unix:///var/run/app.sock\n", &[]),
            ("  address: unix://@abstract\n", &[]),
            ("  network: remote\n", &["warning spec.address: address is unset with network \"remote\""]),
            ("  ports: {http: 80}\n", &["error spec.address: address is required"]),
            ("  address: not an address!\n", &["error spec.address: endpoint address \"not an address!\" is not a valid FQDN or an IP address"]),
            ("  address: unix://relative.sock\n", &["error spec.address: relative.sock is not an absolute path to a file"]),
            ("  address: unix:///var/run/app.sock\n  ports: {http: 80}\n", &["error spec.ports: unix endpoint unix:///var/run/app.sock must not include ports"]),
            ("  address: 10.0.0.1\n  ports: {http: 70000}\n", &["error spec.ports.http: port number 70000 must be in the range 1..65535"]),
            ("  address: 10.0.0.1\n  ports: {http_a: 80}\n", &["error spec.ports.http_a: invalid port name: http_a"]),
            ("  address: 10.0.0.1\n  labels: {'-bad': v}\n", &["error spec.labels.-bad: invalid tag key: \"-bad\""]),
            ("  address: 10.0.0.1\n  labels: {app: 'a b'}\n", &["error spec.labels.app: invalid tag value: \"a b\""]),
            ("  address: 10.0.0.1\n  labels: {app.kubernetes.io/name: a}\n", &[]),
        ];
        for (spec, want) in cases {
            assert_eq!(diagnostics(spec), *want, "{spec}");
        }
    }

    /// Endpoints the registry validation builds gives `host`: their addresses.
    fn endpoints(workload_entries: &str, host: &str) -> (Vec<String>, Vec<String>) {
        let yaml = format!(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: app, namespace: shop}}\nspec:\n  hosts: [app.example.com]\n  ports: [{{number: 80, name: http, protocol: HTTP}}]\n  resolution: STATIC\n  workloadSelector: {{labels: {{app: a}}}}\n{workload_entries}"
        );
        let loaded = Loaded::from_source("t.yaml", &yaml);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let mut out = Vec::new();
        let validated = crate::validate::validate_for_compile(&loaded.config, &mut out);
        let addresses = validated
            .registry
            .find(host)
            .map(|s| s.endpoints.iter().map(|e| e.address.clone()).collect())
            .unwrap_or_default();
        let errors = out
            .iter()
            .filter(|d| d.is_error())
            .map(|d| format!("{} {}", d.resource, d.field))
            .collect();
        (addresses, errors)
    }

    #[test]
    fn a_rejected_workload_entry_stays_out_of_the_registry() {
        let we = |name: &str, address: &str| {
            format!("---\napiVersion: networking.istio.io/v1\nkind: WorkloadEntry\nmetadata: {{name: {name}, namespace: shop}}\nspec:\n  address: {address}\n  labels: {{app: a}}\n")
        };
        // Accepted: the selector takes it.
        let (addresses, errors) = endpoints(&we("good", "10.0.0.1"), "app.example.com");
        assert_eq!(addresses, ["10.0.0.1"]);
        assert!(errors.is_empty(), "{errors:?}");
        // Refused (not an address): reported, and selected by nobody.
        let both = format!(
            "{}{}",
            we("good", "10.0.0.1"),
            we("bad", "'not an address!'")
        );
        let (addresses, errors) = endpoints(&both, "app.example.com");
        assert_eq!(addresses, ["10.0.0.1"]);
        assert_eq!(errors, ["WorkloadEntry shop/bad spec.address"]);
    }
}
