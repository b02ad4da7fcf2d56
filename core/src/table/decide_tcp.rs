//! Deciding on a [`Table`] for a TCP or TLS connection: the `tcp[]` and
//! `tls[]` rules, and Istio's default TCP proxy. Nothing here allocates.

use super::*;
use crate::decision::{Decision, Outcome};
use crate::request::{Connection, Request};
use crate::route::with_lowercase;
use std::sync::atomic::Ordering;

static NO_HEADERS: crate::request::NoHeaders = crate::request::NoHeaders;

impl Table {
    /// Decides for a TCP or TLS connection: the first `tcp[]` (or, with an
    /// SNI, `tls[]`) rule that matches.
    pub fn decide_tcp<'a>(&'a self, conn: &Connection<'a>, entropy: u64) -> Decision<'a> {
        let Some(listener) = self.listener_for_source(conn.source, conn.port) else {
            return Decision::local(Outcome::NoRoute, 0, "");
        };
        let port = conn.effective_port();
        // The service's ports by protocol (mesh): on an HTTP port `tcp[]`
        // rules do not apply; on a TCP port with no matching rule, Istio's
        // default TCP proxy sends the connection to the service.
        let service = match (conn.source.gateway, conn.host) {
            (None, Some(h)) if !listener.services.is_empty() => {
                with_lowercase(h, |h| listener.services.get(h)).flatten()
            }
            _ => None,
        };
        if service.is_some_and(|s| s.http.contains(&port)) {
            return Decision::local(Outcome::NoRoute, 0, "");
        }
        let rule = listener.tcp.iter().find(|r| {
            if r.tls != conn.sni.is_some() {
                return false;
            }
            if conn.source.gateway.is_none() {
                if let Some(h) = conn.host {
                    if !r
                        .hosts
                        .iter()
                        .any(|p| crate::config::names::host_matches(p, h))
                    {
                        return false;
                    }
                }
            }
            r.matches.is_empty() || r.matches.iter().any(|m| l4_matches(m, conn, port))
        });
        let req = Request {
            authority: conn.sni.unwrap_or(""),
            method: "",
            path: "",
            scheme: "",
            port,
            remote: conn.remote,
            source: conn.source,
            headers: &NO_HEADERS,
        };
        let Some(rule) = rule else {
            let default = service.and_then(|s| s.opaque.iter().find(|(p, _)| *p == port));
            let Some(&(_, ci)) = default else {
                return Decision::local(Outcome::NoRoute, 0, "");
            };
            let mut d = Decision::local(Outcome::Route, 0, "");
            let mut rng = entropy;
            self.finish_upstream(&mut d, ci as usize, &req, &mut rng);
            return d;
        };
        rule.hits.fetch_add(1, Ordering::Relaxed);
        let mut d = Decision::local(Outcome::Route, 0, "");
        let Some(di) = rule.choice.pick(entropy) else {
            d.outcome = Outcome::NoCluster;
            return d;
        };
        let dest = &rule.destinations[di];
        dest.hits.fetch_add(1, Ordering::Relaxed);
        d.destination_index = Some(di);
        let cluster = match &dest.cluster {
            ClusterChoice::Fixed(c) => Some(*c),
            ClusterChoice::ByPort(list) => list.iter().find(|(p, _)| *p == port).map(|&(_, c)| c),
            ClusterChoice::Missing(_) => None,
        };
        let Some(ci) = cluster else {
            d.outcome = Outcome::NoCluster;
            return d;
        };
        let mut rng = entropy;
        self.finish_upstream(&mut d, ci as usize, &req, &mut rng);
        d.l4_rule = Some(rule);
        d
    }
}

fn l4_matches(m: &L4Match, conn: &Connection<'_>, port: u16) -> bool {
    if m.port.is_some_and(|p| p != port) {
        return false;
    }
    if !m.destination_subnets.is_empty() {
        let Some(dst) = conn.destination else {
            return false;
        };
        if !m.destination_subnets.iter().any(|c| c.contains(dst.ip())) {
            return false;
        }
    }
    if !m.sni_hosts.is_empty() {
        let Some(sni) = conn.sni else { return false };
        let sni_matches = with_lowercase(sni, |sni| {
            m.sni_hosts
                .iter()
                .any(|p| crate::config::names::host_matches(p, sni))
        });
        if sni_matches != Some(true) {
            return false;
        }
    }
    if !m.source_labels.iter().all(|(k, v)| {
        conn.source
            .labels
            .iter()
            .any(|(lk, lv)| *lk == &**k && *lv == &**v)
    }) {
        return false;
    }
    m.source_namespace
        .as_deref()
        .is_none_or(|ns| conn.source.namespace == ns)
}
