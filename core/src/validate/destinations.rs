//! A route's destinations: weights, hosts, subsets and ports.

use super::fields::*;
use super::hostnames::validate_wildcard_domain;
use super::{Context, Reporter};
use crate::config::model::*;
use crate::config::names::expand_host;
use crate::config::Resource;
use crate::diagnostic::Severity;
use hashbrown::HashSet;

impl Context<'_> {
    /// Weights, hosts, subsets and ports of a route's destinations.
    pub(super) fn destinations(
        &self,
        vs: &Resource<VirtualServiceSpec>,
        dests: &[(&Destination, Option<i64>)],
        field: &str,
        r: &mut Reporter<'_>,
    ) {
        if dests.is_empty() {
            return;
        }
        let mut total = 0i64;
        for (i, (_, w)) in dests.iter().enumerate() {
            let w = w.unwrap_or(0);
            if w < 0 {
                r.error(
                    &format!("{field}[{i}].weight"),
                    format!("weight {w} is negative; weights must be 0 or more"),
                );
            } else {
                total += w;
            }
        }
        if dests.len() > 1 && total == 0 {
            r.error(
                &format!("{field}[*].weight"),
                "total destination weight = 0: with several destinations at least one needs a positive weight".into(),
            );
        }
        if dests.len() == 1 {
            if let Some(w) = dests[0].1.filter(|&w| w > 0 && w < 100) {
                r.push(
                    "KIA1104",
                    Severity::Warning,
                    &format!("{field}[0].weight"),
                    format!("The weight is assumed to be 100 because there is only one route destination (weight {w} is ignored)"),
                );
            }
        }
        let mut seen = HashSet::new();
        for (i, (d, _)) in dests.iter().enumerate() {
            let f = format!("{field}[{i}].destination");
            if !destination_fields(d, &f, r) {
                continue;
            }
            let host = expand_host(&d.host, &vs.namespace);
            if !seen.insert((host.clone(), d.subset.clone())) {
                r.push(
                    "KIA1105",
                    Severity::Warning,
                    &f,
                    "This host subset combination is already referenced in another route destination".into(),
                );
            }
            if let Some(subset) = &d.subset {
                if !self.defines_subset(&host, subset) {
                    r.push(
                        "IST0101",
                        Severity::Error,
                        &format!("{f}.subset"),
                        format!(
                            "Referenced host+subset in destinationrule not found: \"{host}+{subset}\""
                        ),
                    );
                }
            }
            let Some(service) = self.registry.find_configured(&host) else {
                // Endpoints may still arrive at run time (set_endpoints), as
                // Kubernetes Services would; until then requests get 503 NC.
                r.push(
                    "IST0101",
                    Severity::Warning,
                    &format!("{f}.host"),
                    format!(
                        "Referenced host not found: {host:?}; requests to it get 503 (no cluster) until a ServiceEntry or set_endpoints provides it"
                    ),
                );
                continue;
            };
            if let Some(p) = d.port.as_ref().and_then(|p| p.number) {
                if !service.ports.is_empty() && !service.ports.iter().any(|sp| sp.number == p) {
                    r.push(
                        "IST0101",
                        Severity::Error,
                        &format!("{f}.port.number"),
                        format!("Referenced host:port not found: \"{host}:{p}\""),
                    );
                }
            }
        }
    }
}

/// A destination as Istio's `validateDestination` checks it: a host (any
/// wildcard domain but `*`), a subset name that is a DNS-1123 label, a
/// valid port. False when the host is unusable (no reference to check).
pub(super) fn destination_fields(d: &Destination, f: &str, r: &mut Reporter<'_>) -> bool {
    if let Some(subset) = &d.subset {
        if subset.is_empty() {
            r.error(&format!("{f}.subset"), "subset name cannot be empty".into());
        } else if !is_dns1123_label(subset) {
            r.error(
                &format!("{f}.subset"),
                format!("subset name is invalid: {subset}"),
            );
        }
    }
    if let Some(p) = d.port.as_ref().and_then(|p| p.number) {
        check_port(p, &format!("{f}.port.number"), r);
    }
    if d.host.is_empty() {
        r.error(&format!("{f}.host"), "destination host is required".into());
        return false;
    }
    if d.host == "*" {
        r.error(
            &format!("{f}.host"),
            format!("invalid destination host {}", d.host),
        );
        return false;
    }
    if let Err(e) = validate_wildcard_domain(&d.host) {
        r.error(&format!("{f}.host"), e);
        return false;
    }
    true
}
