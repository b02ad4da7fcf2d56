//! Endpoint sets: a cluster's endpoints with their balancer, built at
//! compile time and again when `set_endpoints` changes a host.

use super::*;
use crate::balance::maglev::Maglev;
use crate::balance::ring_hash::RingHash;
use crate::balance::weighted::{AliasTable, WeightedChoice};
use crate::config::model::ServicePort;
use crate::config::registry::{endpoint_port, RegistryEndpoint, Service};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

impl Table {
    /// A new table with the endpoint sets of `host` rebuilt from `endpoints`;
    /// routes, clusters and every other set are shared with `self`.
    pub fn with_endpoints(
        &self,
        host: &str,
        endpoints: &[RegistryEndpoint],
        config_service: Option<&Service>,
    ) -> Table {
        // Every other set is shared: only this host's clusters are rebuilt.
        let mut sets = self.sets.to_vec();
        let mut sets_bytes = self.sets_bytes;
        let service = Service {
            host: host.to_string(),
            namespace: String::new(),
            entry: String::new(),
            ports: config_service.map(|s| s.ports.clone()).unwrap_or_default(),
            endpoints: endpoints.to_vec(),
            ..config_service.cloned().unwrap_or_default()
        };
        for &i in self
            .routing
            .clusters_by_host
            .get(host)
            .into_iter()
            .flatten()
        {
            let c = &self.routing.clusters[i as usize];
            let bytes = super::budget::cluster_bytes(c, Some(&service));
            let set = build_endpoint_set(c, Some(&service), Some(self), bytes);
            sets_bytes = (sets_bytes + set.bytes).saturating_sub(sets[i as usize].bytes);
            sets[i as usize] = Arc::new(set);
        }
        Table {
            id: crate::table::new_table_id(),
            routing: self.routing.clone(),
            sets: sets.into(),
            sets_bytes,
        }
    }
}

/// Builds the endpoints of `cluster` from its service, reusing live state;
/// `bytes` is its budget estimate ([`super::budget::cluster_bytes`]).
pub(crate) fn build_endpoint_set(
    cluster: &Cluster,
    service: Option<&Service>,
    previous: Option<&Table>,
    bytes: usize,
) -> EndpointSet {
    // The previous table's same cluster: the variant shaped by the same
    // rules (a namespace's own DestinationRule makes one), else the one of
    // that name.
    let previous_index = previous.and_then(|prev| {
        let routing = &*prev.routing;
        let same = |i: usize| {
            let c = &routing.clusters[i];
            c.name == cluster.name && c.rules == cluster.rules
        };
        let by_name = prev.cluster_index(&cluster.name)?;
        if same(by_name) {
            return Some(by_name);
        }
        routing
            .clusters_by_host
            .get(&cluster.host)
            .and_then(|ids| ids.iter().map(|&i| i as usize).find(|&i| same(i)))
            .or(Some(by_name))
    });
    let old_state = |address: &str| -> Option<Arc<EndpointState>> {
        let prev = previous?;
        let idx = previous_index?;
        prev.endpoints(idx)
            .iter()
            .find(|e| &*e.address == address)
            .map(|e| e.state.clone())
    };
    let mut endpoints = Vec::with_capacity(service.map_or(0, |s| s.endpoints.len()));
    if let Some(service) = service {
        let sp = ServicePort {
            number: u32::from(cluster.port),
            protocol: String::new(),
            name: cluster.port_name.clone(),
            target_port: cluster.target_port,
        };
        for ep in &service.endpoints {
            let labels_ok = cluster
                .subset_labels
                .iter()
                .all(|(k, v)| ep.labels.get(k) == Some(v));
            if !labels_ok {
                continue;
            }
            // A run-time endpoint's explicit port has the empty name.
            let port = ep
                .ports
                .iter()
                .find(|(n, _)| n.is_empty())
                .map(|&(_, p)| p)
                .unwrap_or_else(|| endpoint_port(ep, &sp));
            if port == 0 {
                continue; // not an endpoint of this port (a Kubernetes named target port it lacks)
            }
            let ip: Option<std::net::IpAddr> = ep.address.parse().ok();
            let address = match ip {
                Some(std::net::IpAddr::V6(v6)) => format!("[{v6}]:{port}"),
                // An IPv4 address parses only from its one dotted form
                // (no leading zeros): the text as given is how it prints.
                Some(_) | None => address_text(&ep.address, port),
            };
            let state = old_state(&address).unwrap_or_default();
            endpoints.push(Endpoint {
                address: address.into(),
                ip,
                port: port as u16,
                weight: ep.weight.max(1),
                locality: ep.locality.clone(),
                source: ep.source.clone(),
                pod: ep.pod.clone(),
                state,
            });
        }
    }
    let weights: Vec<u32> = endpoints.iter().map(|e| e.weight).collect();
    let keys: Vec<(&str, u32)> = endpoints.iter().map(|e| (&*e.address, e.weight)).collect();
    let equal = weights.windows(2).all(|w| w[0] == w[1]);
    let balancer = match cluster.policy.lb {
        LbKind::RoundRobin => Balancer::RoundRobin {
            cursor: AtomicU64::new(0),
            weights: (!equal).then(|| WeightedChoice::new(&weights)),
        },
        LbKind::Random => Balancer::Random {
            weights: AliasTable::new(&weights),
        },
        LbKind::LeastRequest => Balancer::LeastRequest {
            weights: AliasTable::new(&weights),
            equal,
        },
        LbKind::Passthrough => Balancer::Passthrough,
        LbKind::RingHash { minimum_ring_size } => Balancer::Ring(RingHash::build(
            &keys,
            minimum_ring_size,
            RingHash::MAX_RING_SIZE,
        )),
        LbKind::Maglev { table_size } => Balancer::Maglev(Maglev::build(&keys, table_size)),
    };
    EndpointSet {
        endpoints: endpoints.into(),
        balancer,
        bytes,
    }
}

/// `host:port` in one allocation, without the formatting machinery (a
/// cluster dump has an endpoint per pod and port).
fn address_text(host: &str, port: u32) -> String {
    let mut digits = [0u8; 10];
    let mut n = port;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let mut out = String::with_capacity(host.len() + 1 + digits.len() - i);
    out.push_str(host);
    out.push(':');
    // ASCII digits.
    out.push_str(std::str::from_utf8(&digits[i..]).unwrap_or_default());
    out
}

#[cfg(test)]
mod address_tests {
    use super::address_text;

    #[test]
    fn address_text_is_what_format_prints() {
        for port in [0, 1, 9, 10, 80, 8080, 65535, u32::MAX] {
            assert_eq!(address_text("10.0.0.1", port), format!("10.0.0.1:{port}"));
        }
        for text in ["10.0.0.1", "0.0.0.0", "255.255.255.255", "192.168.10.100"] {
            let ip: std::net::Ipv4Addr = text.parse().unwrap();
            assert_eq!(ip.to_string(), text);
        }
        for text in ["010.0.0.1", "1.2.3", "1.2.3.256"] {
            assert!(text.parse::<std::net::Ipv4Addr>().is_err(), "{text}");
        }
    }
}
