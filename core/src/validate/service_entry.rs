//! ServiceEntry checks, run first: a rejected entry stays out of the registry.

use super::fields::*;
use super::Reporter;
use crate::config::model::*;
use crate::config::Resource;
use std::collections::HashSet;

pub(super) fn service_entry(se: &Resource<ServiceEntrySpec>, r: &mut Reporter<'_>) {
    export_to(
        &se.spec.export_to,
        &se.namespace,
        ExportToOf::ServiceEntry,
        r,
    );
    if se.spec.hosts.is_empty() {
        r.error(
            "spec.hosts",
            "ServiceEntry must have at least one host".into(),
        );
    }
    for (i, h) in se.spec.hosts.iter().enumerate() {
        if h == "*" {
            r.error(
                &format!("spec.hosts[{i}]"),
                "ServiceEntry host may not be *".into(),
            );
        } else if !valid_host(h) {
            r.error(&format!("spec.hosts[{i}]"), format!("invalid host {h:?}"));
        }
    }
    let mut numbers = HashSet::new();
    for (i, p) in se.spec.ports.iter().enumerate() {
        check_port(p.number, &format!("spec.ports[{i}].number"), r);
        if !numbers.insert(p.number) {
            r.error(
                &format!("spec.ports[{i}].number"),
                format!("port number {} is not unique", p.number),
            );
        }
    }
    let resolution = se.spec.resolution.as_deref().unwrap_or("NONE");
    if !matches!(
        resolution,
        "NONE" | "STATIC" | "DNS" | "DNS_ROUND_ROBIN" | "DYNAMIC_DNS"
    ) {
        r.error(
            "spec.resolution",
            format!("unknown resolution {resolution:?}"),
        );
    }
    for (i, ep) in se.spec.endpoints.iter().enumerate() {
        let f = format!("spec.endpoints[{i}]");
        if resolution == "STATIC"
            && ep.address.parse::<std::net::IpAddr>().is_err()
            && !ep.address.starts_with("unix://")
        {
            r.error(
                &format!("{f}.address"),
                format!(
                    "endpoint address {:?} is not an IP address (resolution STATIC)",
                    ep.address
                ),
            );
        }
        for (name, port) in &ep.ports {
            check_port(*port, &format!("{f}.ports.{name}"), r);
        }
    }
}
