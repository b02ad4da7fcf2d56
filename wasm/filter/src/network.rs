//! The network filter's part that needs no host: what a connection's
//! decision asks of Envoy, and the argument of the `set_envoy_filter_state`
//! foreign function that tells it.
//!
//! Envoy's `tcp_proxy` takes its cluster from the connection's filter state
//! `envoy.tcp_proxy.cluster` when a filter before it set one (and its own
//! `cluster`, not `weighted_clusters`, is configured); an `ORIGINAL_DST`
//! cluster connects to the filter state
//! `envoy.network.transport_socket.original_dst_address`. A proxy-wasm module
//! sets both through the foreign function Envoy registers in
//! source/extensions/common/wasm/foreign.cc (Envoy 1.28+).

use crate::settings::{Settings, UpstreamMode};
use weir_core::decision::Outcome;
use weir_core::Decision;

/// The filter state key `tcp_proxy` reads its cluster from.
pub const TCP_PROXY_CLUSTER: &str = "envoy.tcp_proxy.cluster";
/// The filter state key an `ORIGINAL_DST` cluster reads its address from.
pub const ORIGINAL_DST_ADDRESS: &str = "envoy.network.transport_socket.original_dst_address";

/// What Envoy must do with a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionAction<'a> {
    /// Hand it to `tcp_proxy`: this cluster and, for an `ORIGINAL_DST`
    /// cluster, this `ip:port`.
    Forward {
        cluster: &'a str,
        original_dst: Option<&'a str>,
    },
    /// Close it; the outcome says why (counted and logged).
    Close(Outcome),
}

/// The action for a connection's decision.
pub fn connection_action<'a>(settings: &'a Settings, d: &Decision<'a>) -> ConnectionAction<'a> {
    if d.outcome != Outcome::Route {
        return ConnectionAction::Close(d.outcome);
    }
    let Some(cluster) = d.cluster else {
        return ConnectionAction::Close(Outcome::NoCluster);
    };
    match (settings.upstream, settings.original_dst_cluster.as_deref()) {
        (UpstreamMode::OriginalDst, Some(odst)) => {
            let endpoint = d.endpoint.map(|e| &*e.address);
            match endpoint {
                // Passthrough: the cluster connects to where the client dialled.
                _ if d.original_destination => ConnectionAction::Forward {
                    cluster: odst,
                    original_dst: None,
                },
                Some(ep) => ConnectionAction::Forward {
                    cluster: odst,
                    original_dst: Some(ep),
                },
                // Without an address the ORIGINAL_DST cluster would connect
                // back to this listener.
                None => ConnectionAction::Close(Outcome::NoHealthyUpstream),
            }
        }
        // The Istio-named cluster; Envoy's balancer picks its endpoint.
        _ => ConnectionAction::Forward {
            cluster: &cluster.name,
            original_dst: None,
        },
    }
}

/// `LifeSpan.DownstreamConnection` of set_envoy_filter_state.proto: the
/// state lives as long as the connection.
const SPAN_DOWNSTREAM_CONNECTION: u64 = 2;

/// The protobuf encoding of `SetEnvoyFilterStateArguments { path, value,
/// span: DownstreamConnection }` (fields 1 and 2 strings, 3 an enum), written
/// by hand: three fields do not justify a protobuf dependency.
pub fn filter_state_arguments(path: &str, value: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len() + value.len() + 8);
    for (tag, s) in [(1u64, path), (2, value)] {
        varint(&mut out, tag << 3 | 2);
        varint(&mut out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    varint(&mut out, 3 << 3);
    varint(&mut out, SPAN_DOWNSTREAM_CONNECTION);
    out
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::{Connection, Source};

    #[test]
    fn filter_state_arguments_are_protobuf() {
        assert_eq!(
            filter_state_arguments("k", "vv"),
            [0x0a, 1, b'k', 0x12, 2, b'v', b'v', 0x18, 2]
        );
        // A length of 200 is the two-byte varint c8 01.
        let long = "x".repeat(200);
        let b = filter_state_arguments("k", &long);
        assert_eq!(&b[..5], &[0x0a, 1, b'k', 0x12, 0xc8]);
        assert_eq!(b[5], 0x01);
        assert_eq!(b.len(), 3 + 3 + 200 + 2);
        assert_eq!(&b[b.len() - 2..], &[0x18, 2]);
    }

    const TCP: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: ns}
spec:
  selector: {istio: gw}
  servers:
  - port: {number: 31400, name: tcp, protocol: TCP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: ns}
spec:
  hosts: ["*"]
  gateways: [gw]
  tcp:
  - match:
    - port: 31400
    route:
    - destination: {host: echo.ns.svc.cluster.local, port: {number: 2701}}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: echo, namespace: ns}
spec:
  hosts: [echo.ns.svc.cluster.local]
  ports: [{number: 2701, name: tcp, protocol: TCP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
"#;

    fn settings(extra: serde_json::Value) -> Settings {
        let mut cfg = serde_json::json!({"config": TCP, "filter": "network", "gateway": "ns/gw", "port": 31400});
        if let (Some(o), Some(e)) = (cfg.as_object_mut(), extra.as_object()) {
            o.extend(e.clone());
        }
        Settings::from_json(&serde_json::to_vec(&cfg).unwrap_or_default()).expect("valid")
    }

    fn action_for(s: &Settings, port: u16) -> String {
        let table = s.table.as_deref().expect("table");
        let source = Source {
            gateway: s.gateway.as_deref(),
            ..Source::MESH
        };
        let conn = Connection {
            port,
            source: &source,
            ..Connection::default()
        };
        format!("{:?}", connection_action(s, &table.decide_tcp(&conn, 7)))
    }

    #[test]
    fn a_routed_connection_names_the_istio_cluster() {
        let s = settings(serde_json::json!({}));
        assert_eq!(
            action_for(&s, 31400),
            r#"Forward { cluster: "outbound|2701||echo.ns.svc.cluster.local", original_dst: None }"#
        );
        assert_eq!(action_for(&s, 31401), "Close(NoRoute)");
    }

    #[test]
    fn original_dst_names_the_endpoint() {
        let s = settings(
            serde_json::json!({"upstream": "original_dst", "original_dst_cluster": "odst"}),
        );
        assert_eq!(
            action_for(&s, 31400),
            r#"Forward { cluster: "odst", original_dst: Some("10.0.0.1:2701") }"#
        );
    }
}
