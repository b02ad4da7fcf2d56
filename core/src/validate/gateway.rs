//! Gateway checks: servers, ports, protocols, hosts.

use super::fields::*;
use super::Reporter;
use crate::config::model::*;
use crate::config::Resource;

pub(super) fn gateway(gw: &Resource<GatewaySpec>, r: &mut Reporter<'_>) {
    if gw.spec.servers.is_empty() {
        r.error(
            "spec.servers",
            "gateway must have at least one server".into(),
        );
    }
    for (i, s) in gw.spec.servers.iter().enumerate() {
        let f = format!("spec.servers[{i}]");
        match &s.port {
            None => r.error(&format!("{f}.port"), "port is required".into()),
            Some(p) => {
                check_port(p.number, &format!("{f}.port.number"), r);
                let proto = p.protocol.to_ascii_uppercase();
                if !matches!(
                    proto.as_str(),
                    "HTTP" | "HTTPS" | "GRPC" | "GRPC-WEB" | "HTTP2" | "MONGO" | "TCP" | "TLS"
                ) {
                    r.error(
                        &format!("{f}.port.protocol"),
                        format!("unknown protocol {:?}", p.protocol),
                    );
                }
            }
        }
        if s.hosts.is_empty() {
            r.error(
                &format!("{f}.hosts"),
                "server must have at least one host".into(),
            );
        }
    }
}
