//! Which routes apply on which service port, after Istio's protocol
//! selection: `http[]` routes only on HTTP-family ports (HTTP, HTTP2, gRPC,
//! gRPC-Web, and sniffed ports, which Weir takes as HTTP); `tcp[]`/`tls[]`
//! routes on the others, where a service without a matching rule gets
//! Istio's default TCP proxy to `outbound|PORT||HOST`
//! (istio/istio `pilot/pkg/networking/core/listener.go`: the HTTP or TCP
//! filter chain is chosen by the port's protocol).

use crate::config::kube::protocol::Protocol;
use crate::config::model::ServicePort;
use crate::config::registry::Registry;
pub use crate::table::L4Ports;
use crate::table::VirtualHost;

/// The protocol of a registry port (ServiceEntry spelling, or the one the
/// Kubernetes Service's port got).
pub fn port_protocol(sp: &ServicePort) -> Protocol {
    Protocol::parse(&sp.protocol).unwrap_or(Protocol::Sniffed)
}

/// Marks the mesh listener's virtual hosts of services with non-HTTP ports
/// (before the listener shares them).
pub fn mark_opaque_ports(virtual_hosts: &mut [VirtualHost], registry: &Registry) {
    for vh in virtual_hosts {
        vh.mark_opaque_ports(registry);
    }
}

impl VirtualHost {
    /// Records which of its service's ports are not HTTP (none when its
    /// domain is no registry service).
    pub(crate) fn mark_opaque_ports(&mut self, registry: &Registry) {
        let Some(service) = registry
            .find(&self.domain)
            .filter(|s| *s.host == *self.domain)
        else {
            return;
        };
        let opaque: Vec<u16> = service
            .ports
            .iter()
            .filter(|p| !port_protocol(p).is_http())
            .map(|p| p.number as u16)
            .collect();
        self.opaque_only = !service.ports.is_empty() && opaque.len() == service.ports.len();
        self.opaque_ports = opaque.into();
    }
}

/// Every service's ports for TCP decisions; `cluster` gives the default
/// cluster of (host, port).
pub fn service_ports(
    registry: &Registry,
    cluster: &mut dyn FnMut(&str, u16) -> u32,
) -> hashbrown::HashMap<Box<str>, L4Ports> {
    let mut services = hashbrown::HashMap::new();
    for service in &registry.services {
        if service.host.starts_with('*') || service.ports.is_empty() {
            continue;
        }
        let mut ports = L4Ports::default();
        let (http, opaque): (Vec<&ServicePort>, Vec<&ServicePort>) = service
            .ports
            .iter()
            .partition(|p| port_protocol(p).is_http());
        ports.http = http.iter().map(|p| p.number as u16).collect();
        ports.opaque = opaque
            .iter()
            .map(|p| (p.number as u16, cluster(&service.host, p.number as u16)))
            .collect();
        services
            .entry(service.host.as_str().into())
            .or_insert(ports);
    }
    services
}

/// True when a gateway server terminates HTTP: protocol HTTP, HTTPS, HTTP2,
/// GRPC or GRPC-WEB, and not TLS passthrough. TCP, TLS and Mongo servers
/// (and PASSTHROUGH ones) route connections by `tcp[]`/`tls[]` only.
pub fn server_serves_http(server: &crate::config::model::Server) -> bool {
    let Some(port) = &server.port else {
        return false;
    };
    let http = matches!(
        port.protocol.to_ascii_uppercase().as_str(),
        "HTTP" | "HTTPS" | "HTTP2" | "GRPC" | "GRPC-WEB"
    );
    let passthrough = server
        .tls
        .as_ref()
        .and_then(|t| t.mode.as_deref())
        .is_some_and(|m| matches!(m, "PASSTHROUGH" | "AUTO_PASSTHROUGH"));
    http && !passthrough
}

impl super::VirtualHost {
    /// True when `port` (0: unknown) of this service is not an HTTP port, so
    /// its `http[]` routes do not apply to a request there.
    #[inline]
    pub fn is_opaque_port(&self, port: u16) -> bool {
        self.opaque_only || (port != 0 && self.opaque_ports.contains(&port))
    }
}
