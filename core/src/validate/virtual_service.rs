//! VirtualService checks: hosts, gateways, delegates, TCP and TLS routes.

use super::fields::*;
use super::hostnames::{is_ip, validate_ip_subnet, validate_wildcard_domain};
use super::{Context, Reporter};
use crate::config::delegates;
use crate::config::model::*;
use crate::config::names::{expand_host, hosts_intersect, resolve_gateway};
use crate::config::Resource;
use crate::diagnostic::Severity;

impl Context<'_> {
    /// A root route's `delegate`: what it names must be a delegate exported
    /// to the root's namespace (else the route is skipped, as istiod does),
    /// and delegation is one level deep.
    pub(super) fn delegate(
        &self,
        vs: &Resource<VirtualServiceSpec>,
        d: &Delegate,
        has_action: bool,
        field: &str,
        r: &mut Reporter<'_>,
    ) {
        let field = format!("{field}.delegate");
        let ns = d.namespace.as_deref().unwrap_or(&vs.namespace);
        let target = format!("{ns}/{}", d.name);
        if d.name.is_empty() {
            r.error(&format!("{field}.name"), "delegate name is required".into());
        } else if delegates::is_delegate(vs) {
            r.error(
                &field,
                format!("a delegate VirtualService cannot delegate again (to {target:?}): delegation is one level deep"),
            );
        } else if has_action {
            r.error(
                &field,
                "delegate cannot be combined with route, redirect or direct_response: the delegate's routes replace this one".into(),
            );
        } else if ns == vs.namespace && d.name == vs.name {
            r.error(
                &field,
                format!("VirtualService {target} delegates to itself"),
            );
        } else {
            let skipped = match self.delegates.lookup(ns, &d.name, &vs.namespace) {
                delegates::Lookup::Found(_) => return,
                delegates::Lookup::Missing => {
                    format!("Referenced delegate VirtualService not found: {target:?}")
                }
                delegates::Lookup::NotDelegate => {
                    format!("VirtualService {target} has hosts, so it is not a delegate")
                }
                delegates::Lookup::NotExported => format!(
                    "delegate VirtualService {target} is not exported to namespace {:?}",
                    vs.namespace
                ),
            };
            r.push(
                "IST0101",
                Severity::Warning,
                &field,
                format!("{skipped}; this route is skipped"),
            );
        }
    }

    pub(super) fn virtual_service(&self, vs: &Resource<VirtualServiceSpec>, r: &mut Reporter<'_>) {
        let spec = &vs.spec;
        let gateways: Vec<String> = if spec.gateways.is_empty() {
            vec!["mesh".into()]
        } else {
            spec.gateways
                .iter()
                .map(|g| resolve_gateway(g, &vs.namespace))
                .collect()
        };
        let mesh_bound = gateways.iter().any(|g| g == "mesh");
        export_to(
            &spec.export_to,
            &vs.namespace,
            ExportToOf::VirtualService,
            r,
        );
        if delegates::is_delegate(vs) {
            // A delegate: its routes are used through a root's
            // `http[].delegate`, in the root's hosts and gateways.
            let only_http = "a delegate VirtualService (one without hosts) takes only http routes";
            if !spec.gateways.is_empty() {
                r.error(
                    "spec.gateways",
                    "a delegate VirtualService (one without hosts) must not name gateways: its root's apply".into(),
                );
            }
            if !spec.tls.is_empty() {
                r.error("spec.tls", only_http.into());
            }
            if !spec.tcp.is_empty() {
                r.error("spec.tcp", only_http.into());
            }
        }
        let mut seen = Vec::<String>::new();
        for (i, host) in spec.hosts.iter().enumerate() {
            let field = format!("spec.hosts[{i}]");
            let expanded = expand_host(host, &vs.namespace);
            // Istio's rule: a wildcard domain or an IP (`ValidateVirtualService`).
            if let Err(e) = validate_wildcard_domain(host) {
                if !is_ip(host) {
                    r.error(&field, e);
                }
            } else if host == "*" && mesh_bound {
                r.error(
                    &field,
                    "wildcard host * is not allowed for virtual services bound to the mesh gateway"
                        .into(),
                );
            }
            if seen.iter().any(|h| hosts_intersect(h, &expanded)) {
                r.error(
                    &field,
                    format!(
                        "duplicate hosts in virtual service: {host:?} overlaps an earlier host"
                    ),
                );
            }
            seen.push(expanded);
        }
        if spec.http.is_empty() && spec.tcp.is_empty() && spec.tls.is_empty() {
            r.error(
                "spec",
                "http, tcp or tls must be provided in virtual service".into(),
            );
        }
        for (i, g) in spec.gateways.iter().enumerate() {
            let resolved = resolve_gateway(g, &vs.namespace);
            if resolved == "mesh" {
                continue;
            }
            let field = format!("spec.gateways[{i}]");
            if !g.contains('/') && g.contains('.') {
                r.push(
                    "KIA1108",
                    Severity::Info,
                    &field,
                    "Preferred nomenclature: <gateway namespace>/<gateway name>".into(),
                );
            }
        }
        for (i, route) in spec.http.iter().enumerate() {
            self.http_route(vs, route, &format!("spec.http[{i}]"), r);
        }
        for (i, tcp) in spec.tcp.iter().enumerate() {
            let field = format!("spec.tcp[{i}]");
            for (j, m) in tcp.matches.iter().enumerate() {
                subnets(&m.destination_subnets, &format!("{field}.match[{j}]"), r);
                if let Some(p) = m.port {
                    check_port(p, &format!("{field}.match[{j}].port"), r);
                }
            }
            if tcp.route.is_empty() {
                r.error(&format!("{field}.route"), "TCP route is required".into());
            }
            let dests: Vec<(&Destination, Option<i64>)> = tcp
                .route
                .iter()
                .map(|d| (&d.destination, d.weight))
                .collect();
            self.destinations(vs, &dests, &format!("{field}.route"), r);
        }
        for (i, tls) in spec.tls.iter().enumerate() {
            let field = format!("spec.tls[{i}]");
            if tls.matches.is_empty() {
                r.error(
                    &format!("{field}.match"),
                    "TLS route must have at least one match condition".into(),
                );
            }
            for (j, m) in tls.matches.iter().enumerate() {
                if m.sni_hosts.is_empty() {
                    r.error(
                        &format!("{field}.match[{j}].sniHosts"),
                        "TLS match must have at least one SNI host".into(),
                    );
                }
                for (k, sni) in m.sni_hosts.iter().enumerate() {
                    sni_host(vs, sni, &format!("{field}.match[{j}].sniHosts[{k}]"), r);
                }
                subnets(&m.destination_subnets, &format!("{field}.match[{j}]"), r);
                if let Some(p) = m.port {
                    check_port(p, &format!("{field}.match[{j}].port"), r);
                }
            }
            if tls.route.is_empty() {
                r.error(&format!("{field}.route"), "TLS route is required".into());
            }
            let dests: Vec<(&Destination, Option<i64>)> = tls
                .route
                .iter()
                .map(|d| (&d.destination, d.weight))
                .collect();
            self.destinations(vs, &dests, &format!("{field}.route"), r);
        }
    }
}

/// An L4 match's `destinationSubnets`: IPs or CIDR blocks.
fn subnets(list: &[String], field: &str, r: &mut Reporter<'_>) {
    for (k, subnet) in list.iter().enumerate() {
        if let Err(e) = validate_ip_subnet(subnet) {
            r.error(&format!("{field}.destinationSubnets[{k}]"), e);
        }
    }
}

/// An SNI host, as Istio's `validateSniHost`: a wildcard domain within one
/// of the VirtualService's hosts; an IP is only warned about (SNI carries
/// names, and most clients send none for an IP).
fn sni_host(vs: &Resource<VirtualServiceSpec>, sni: &str, field: &str, r: &mut Reporter<'_>) {
    if let Err(e) = validate_wildcard_domain(sni) {
        if is_ip(sni) {
            r.push(
                "IST0133",
                Severity::Warning,
                field,
                format!("using an IP address ({sni:?}) goes against SNI spec and most clients do not support this"),
            );
        } else {
            r.error(field, e);
        }
        return;
    }
    let sni_e = expand_host(sni, &vs.namespace);
    let covered = vs
        .spec
        .hosts
        .iter()
        .any(|h| crate::config::names::host_matches(&expand_host(h, &vs.namespace), &sni_e));
    if !covered {
        r.error(
            field,
            format!(
                "SNI host {sni:?} is not a compatible subset of any of the virtual service hosts: [{}]",
                vs.spec.hosts.join(", ")
            ),
        );
    }
}
