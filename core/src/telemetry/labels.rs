//! The labels of Istio's standard metrics, and how one series' labels pack
//! into a `u64` so recording never touches a string.
//!
//! Label names and meanings follow Istio's "Istio Standard Metrics" page and
//! the stats plugin of istio/proxy (`source/extensions/filters/http/istio_stats`).

use crate::compile::Cluster;
use crate::decision::{Decision, Outcome};

/// Which side of the request reports the metric (Istio's `reporter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u32)]
pub enum Reporter {
    /// The client side (a sidecar's outbound traffic, a gateway).
    #[default]
    Source = 0,
    /// The server side (a sidecar's inbound traffic).
    Destination = 1,
}

impl Reporter {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Reporter::Source => "source",
            Reporter::Destination => "destination",
        }
    }
}

/// The workload the proxy runs for: the `source_*` labels (every series a
/// proxy records has the same source, so they are not part of a series key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Workload name (the Deployment's), `unknown` when not known.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Its `app` label.
    pub app: String,
    /// Its `version` label.
    pub version: String,
}

impl Default for Workload {
    fn default() -> Self {
        Workload {
            name: UNKNOWN.into(),
            namespace: UNKNOWN.into(),
            app: UNKNOWN.into(),
            version: UNKNOWN.into(),
        }
    }
}

/// What Istio writes for a label it has no value for.
pub const UNKNOWN: &str = "unknown";

/// `request_protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
#[repr(u32)]
pub enum Protocol {
    /// HTTP/1.1 or HTTP/2 that is not gRPC.
    #[default]
    Http = 0,
    /// gRPC (`content-type: application/grpc…`).
    Grpc = 1,
    /// A TCP connection.
    Tcp = 2,
}

impl Protocol {
    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "http",
            Protocol::Grpc => "grpc",
            Protocol::Tcp => "tcp",
        }
    }

    /// `Grpc` when `content_type` is gRPC's: `application/grpc`, or it
    /// followed by `+` or `;` (Envoy's `Grpc::Common::hasGrpcContentType`,
    /// source/common/grpc/common.cc; gRPC-Web is not gRPC there).
    pub fn of_content_type(content_type: Option<&str>) -> Protocol {
        const GRPC: &str = "application/grpc";
        let Some(ct) = content_type else {
            return Protocol::Http;
        };
        let b = ct.as_bytes();
        if b.len() >= GRPC.len()
            && b[..GRPC.len()].eq_ignore_ascii_case(GRPC.as_bytes())
            && matches!(b.get(GRPC.len()), None | Some(b'+' | b';'))
        {
            Protocol::Grpc
        } else {
            Protocol::Http
        }
    }

    fn from_bits(bits: u64) -> Protocol {
        match bits {
            1 => Protocol::Grpc,
            2 => Protocol::Tcp,
            _ => Protocol::Http,
        }
    }
}

/// Envoy's response flags (`%RESPONSE_FLAGS%`), the ones Weir can know, as a
/// bit set. Rendered comma-separated in the order of Envoy's
/// `source/common/stream_info/utility.cc` table, `-` when empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct ResponseFlags(pub u16);

impl ResponseFlags {
    /// No healthy upstream (`UH`).
    pub const NO_HEALTHY_UPSTREAM: ResponseFlags = ResponseFlags(1);
    /// Upstream connection failure (`UF`).
    pub const UPSTREAM_CONNECTION_FAILURE: ResponseFlags = ResponseFlags(1 << 1);
    /// Upstream overflow: circuit breaking (`UO`).
    pub const UPSTREAM_OVERFLOW: ResponseFlags = ResponseFlags(1 << 2);
    /// No route (`NR`).
    pub const NO_ROUTE: ResponseFlags = ResponseFlags(1 << 3);
    /// Upstream request timeout (`UT`).
    pub const UPSTREAM_REQUEST_TIMEOUT: ResponseFlags = ResponseFlags(1 << 4);
    /// Downstream connection termination (`DC`).
    pub const DOWNSTREAM_CONNECTION_TERMINATION: ResponseFlags = ResponseFlags(1 << 5);
    /// Fault delay injected (`DI`).
    pub const DELAY_INJECTED: ResponseFlags = ResponseFlags(1 << 6);
    /// Fault abort injected (`FI`).
    pub const FAULT_INJECTED: ResponseFlags = ResponseFlags(1 << 7);
    /// Rate limited locally (`RL`).
    pub const RATE_LIMITED: ResponseFlags = ResponseFlags(1 << 8);
    /// No cluster found (`NC`).
    pub const NO_CLUSTER_FOUND: ResponseFlags = ResponseFlags(1 << 9);
    /// Upstream retry limit exceeded (`URX`).
    pub const UPSTREAM_RETRY_LIMIT_EXCEEDED: ResponseFlags = ResponseFlags(1 << 10);

    /// Every flag with its Envoy short name, in Envoy's order.
    pub const NAMES: [(ResponseFlags, &'static str); 11] = [
        (Self::NO_HEALTHY_UPSTREAM, "UH"),
        (Self::UPSTREAM_CONNECTION_FAILURE, "UF"),
        (Self::UPSTREAM_OVERFLOW, "UO"),
        (Self::NO_ROUTE, "NR"),
        (Self::UPSTREAM_REQUEST_TIMEOUT, "UT"),
        (Self::DOWNSTREAM_CONNECTION_TERMINATION, "DC"),
        (Self::DELAY_INJECTED, "DI"),
        (Self::FAULT_INJECTED, "FI"),
        (Self::RATE_LIMITED, "RL"),
        (Self::NO_CLUSTER_FOUND, "NC"),
        (Self::UPSTREAM_RETRY_LIMIT_EXCEEDED, "URX"),
    ];

    /// Both sets.
    pub const fn union(self, other: ResponseFlags) -> ResponseFlags {
        ResponseFlags(self.0 | other.0)
    }

    /// True when every flag of `other` is set.
    pub const fn contains(self, other: ResponseFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// The flags a decision implies: its local-reply kind and an injected delay.
    pub fn of_decision(d: &Decision<'_>) -> ResponseFlags {
        Self::of_outcome(d.outcome, d.delay.is_some())
    }

    /// The flags of an outcome alone.
    const fn of_outcome_alone(outcome: Outcome) -> ResponseFlags {
        match outcome {
            Outcome::NoRoute => Self::NO_ROUTE,
            Outcome::NoCluster => Self::NO_CLUSTER_FOUND,
            Outcome::NoHealthyUpstream => Self::NO_HEALTHY_UPSTREAM,
            Outcome::Overflow => Self::UPSTREAM_OVERFLOW,
            Outcome::FaultAbort => Self::FAULT_INJECTED,
            Outcome::Route | Outcome::Redirect | Outcome::DirectResponse => ResponseFlags(0),
        }
    }

    /// The flags of an outcome, with `DI` when a delay was injected: one
    /// table load (the request path makes them for every record).
    #[inline]
    pub fn of_outcome(outcome: Outcome, delayed: bool) -> ResponseFlags {
        const BY_OUTCOME: [u16; 8] = {
            let all = [
                Outcome::Route,
                Outcome::Redirect,
                Outcome::DirectResponse,
                Outcome::FaultAbort,
                Outcome::NoRoute,
                Outcome::NoCluster,
                Outcome::NoHealthyUpstream,
                Outcome::Overflow,
            ];
            let mut t = [0u16; 8];
            let mut i = 0;
            while i < all.len() {
                t[all[i] as usize] = ResponseFlags::of_outcome_alone(all[i]).0;
                i += 1;
            }
            t
        };
        let delay = if delayed { Self::DELAY_INJECTED.0 } else { 0 };
        ResponseFlags(BY_OUTCOME[outcome as usize & 7] | delay)
    }

    /// Writes the flags as Envoy prints them (`-` for none).
    ///
    /// # Errors
    /// Only those of `out`.
    pub fn write_to(self, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        if self.0 == 0 {
            return out.write_str("-");
        }
        let mut first = true;
        for (flag, name) in Self::NAMES {
            if self.contains(flag) {
                if !first {
                    out.write_char(',')?;
                }
                out.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// The `destination_*` labels of one cluster, made once per cluster when a
/// table is published (never on the request path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationLabels {
    /// The cluster these labels were made for (`outbound|PORT|SUBSET|HOST`).
    pub cluster: Box<str>,
    /// `destination_service`: the service's FQDN.
    pub service: Box<str>,
    /// `destination_service_name`.
    pub service_name: Box<str>,
    /// `destination_service_namespace` (and `destination_workload_namespace`).
    pub service_namespace: Box<str>,
    /// `destination_workload`: not known from routing config, so `unknown`
    /// unless the subset's labels carry a workload name.
    pub workload: Box<str>,
    /// `destination_app`: the subset's `app` label.
    pub app: Box<str>,
    /// `destination_version`: the subset's `version` label.
    pub version: Box<str>,
}

impl DestinationLabels {
    /// Every label `unknown`: requests with no destination (no route, …).
    pub fn unknown() -> DestinationLabels {
        DestinationLabels {
            cluster: "".into(),
            service: UNKNOWN.into(),
            service_name: UNKNOWN.into(),
            service_namespace: UNKNOWN.into(),
            workload: UNKNOWN.into(),
            app: UNKNOWN.into(),
            version: UNKNOWN.into(),
        }
    }

    /// The labels of `cluster`: a Kubernetes host `name.ns.svc.…` gives
    /// name and namespace (istiod's `destination_service_name` rules); any
    /// other host is its own name, namespace unknown. App and version are the
    /// subset's pod labels, which select the destination's pods.
    pub fn of_cluster(cluster: &Cluster) -> DestinationLabels {
        let host = &*cluster.host;
        let (name, namespace) = match host.split_once('.') {
            Some((name, rest)) if rest.contains(".svc.") || rest.ends_with(".svc") => {
                let ns = rest.split('.').next().unwrap_or(UNKNOWN);
                (name, ns)
            }
            _ => (host, UNKNOWN),
        };
        let label = |key: &str| -> Box<str> {
            cluster
                .subset_labels
                .iter()
                .find(|(k, _)| k == key)
                .map_or(UNKNOWN, |(_, v)| v.as_str())
                .into()
        };
        let workload = cluster
            .subset_labels
            .iter()
            .find(|(k, _)| k == "service.istio.io/workload-name")
            .map_or(UNKNOWN, |(_, v)| v.as_str());
        DestinationLabels {
            cluster: cluster.name.clone(),
            service: host.into(),
            service_name: name.into(),
            service_namespace: namespace.into(),
            workload: workload.into(),
            app: label("app"),
            version: label("version"),
        }
    }
}

/// One series' labels beyond the source and destination, packed with the
/// destination's id into a non-zero `u64`:
/// bits 0..20 destination id, 20..22 protocol, 22..32 response code,
/// 32..48 response flags, 48..53 gRPC status + 1 (0: none), bit 63 set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    /// Index into the destination registry (0: unknown).
    pub destination: u32,
    /// `request_protocol`.
    pub protocol: Protocol,
    /// `response_code` (0 for TCP; codes above 999 are recorded as 0).
    pub response_code: u16,
    /// `response_flags`.
    pub flags: ResponseFlags,
    /// `grpc_response_status` (0..=16), `None` when not gRPC.
    pub grpc_status: Option<u8>,
}

/// Most destinations a registry can number (20 bits).
pub const MAX_DESTINATION_ID: u32 = (1 << 20) - 1;

impl SeriesKey {
    /// The packed form (never 0).
    #[inline]
    pub fn pack(self) -> u64 {
        let code = if self.response_code > 999 {
            0
        } else {
            self.response_code
        };
        let grpc = match self.grpc_status {
            Some(s) if s <= 16 => u64::from(s) + 1,
            _ => 0,
        };
        u64::from(self.destination & MAX_DESTINATION_ID)
            | (self.protocol as u64) << 20
            | u64::from(code) << 22
            | u64::from(self.flags.0) << 32
            | grpc << 48
            | 1 << 63
    }

    /// Back from [`pack`](Self::pack).
    pub fn unpack(packed: u64) -> SeriesKey {
        let grpc = (packed >> 48) & 0x1f;
        SeriesKey {
            destination: (packed & u64::from(MAX_DESTINATION_ID)) as u32,
            protocol: Protocol::from_bits((packed >> 20) & 0x3),
            response_code: ((packed >> 22) & 0x3ff) as u16,
            flags: ResponseFlags((packed >> 32) as u16),
            grpc_status: (grpc != 0).then(|| (grpc - 1) as u8),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        let rows = [
            SeriesKey {
                destination: 0,
                protocol: Protocol::Http,
                response_code: 200,
                flags: ResponseFlags(0),
                grpc_status: None,
            },
            SeriesKey {
                destination: MAX_DESTINATION_ID,
                protocol: Protocol::Grpc,
                response_code: 999,
                flags: ResponseFlags(0x7ff),
                grpc_status: Some(16),
            },
            SeriesKey {
                destination: 7,
                protocol: Protocol::Tcp,
                response_code: 0,
                flags: ResponseFlags::NO_ROUTE,
                grpc_status: Some(0),
            },
        ];
        for key in rows {
            assert_ne!(key.pack(), 0);
            assert_eq!(SeriesKey::unpack(key.pack()), key);
        }
    }

    #[test]
    fn flags_print_as_envoy() {
        let rows = [
            (ResponseFlags(0), "-"),
            (ResponseFlags::NO_ROUTE, "NR"),
            (
                ResponseFlags::FAULT_INJECTED.union(ResponseFlags::DELAY_INJECTED),
                "DI,FI",
            ),
            (
                ResponseFlags::NO_HEALTHY_UPSTREAM.union(ResponseFlags::NO_CLUSTER_FOUND),
                "UH,NC",
            ),
        ];
        for (flags, want) in rows {
            let mut s = String::new();
            flags.write_to(&mut s).unwrap();
            assert_eq!(s, want);
        }
    }

    #[test]
    fn grpc_content_types() {
        let rows = [
            (None, Protocol::Http),
            (Some("application/json"), Protocol::Http),
            (Some("application/grpc"), Protocol::Grpc),
            (Some("application/grpc+proto"), Protocol::Grpc),
            (Some("Application/GRPC;charset=utf-8"), Protocol::Grpc),
            (Some("application/grpc-web"), Protocol::Http),
            (Some("application/grp"), Protocol::Http),
        ];
        for (ct, want) in rows {
            assert_eq!(Protocol::of_content_type(ct), want, "{ct:?}");
        }
    }
}
