//! Istio's protocol selection for a Kubernetes Service port.
//!
//! Matches istiod's `kube.ConvertProtocol` and `protocol.Parse`
//! (istio/istio `pkg/config/kube/conversion.go`, `pkg/config/protocol/instance.go`):
//! UDP stays UDP; otherwise `appProtocol` if set (with Kubernetes' own
//! `kubernetes.io/h2c`, `kubernetes.io/ws`, `kubernetes.io/wss` names), else
//! the port name; `grpc-web…` is checked whole, any other name up to its
//! first `-`; the prefix is compared case-insensitively. A name that is no
//! protocol leaves the port *unsupported*: Istio sniffs it, except on the
//! well-known ports 25, 53, 3306 and 27017, which are TCP.

/// The protocol Istio gives a service port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    Http,
    Http2,
    Grpc,
    GrpcWeb,
    HttpProxy,
    Https,
    Tcp,
    Tls,
    Udp,
    Mongo,
    Redis,
    MySql,
    /// No protocol in the name or `appProtocol`: Istio sniffs the first
    /// bytes. Weir cannot sniff at config time and treats it as HTTP.
    Sniffed,
}

impl Protocol {
    /// Istio's spelling (`protocol.Instance`), as a ServiceEntry port writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Http => "HTTP",
            Protocol::Http2 => "HTTP2",
            Protocol::Grpc => "GRPC",
            Protocol::GrpcWeb => "GRPC-Web",
            Protocol::HttpProxy => "HTTP_PROXY",
            Protocol::Https => "HTTPS",
            Protocol::Tcp => "TCP",
            Protocol::Tls => "TLS",
            Protocol::Udp => "UDP",
            Protocol::Mongo => "Mongo",
            Protocol::Redis => "Redis",
            Protocol::MySql => "MySQL",
            Protocol::Sniffed => "UnsupportedProtocol",
        }
    }

    /// Istio's `protocol.Parse`: a protocol name, any case.
    pub fn parse(name: &str) -> Option<Protocol> {
        Some(match name.to_ascii_lowercase().as_str() {
            "http" => Protocol::Http,
            "http2" => Protocol::Http2,
            "grpc" => Protocol::Grpc,
            "grpc-web" => Protocol::GrpcWeb,
            "http_proxy" => Protocol::HttpProxy,
            "https" => Protocol::Https,
            "tcp" => Protocol::Tcp,
            "tls" => Protocol::Tls,
            "udp" => Protocol::Udp,
            "mongo" => Protocol::Mongo,
            "redis" => Protocol::Redis,
            "mysql" => Protocol::MySql,
            _ => return None,
        })
    }

    /// HTTP routes (`http[]`) apply on this port (Istio's `IsHTTP`, plus
    /// sniffed ports, where Istio builds both an HTTP and a TCP chain and
    /// Weir takes the HTTP one).
    pub fn is_http(self) -> bool {
        matches!(
            self,
            Protocol::Http
                | Protocol::Http2
                | Protocol::Grpc
                | Protocol::GrpcWeb
                | Protocol::HttpProxy
                | Protocol::Sniffed
        )
    }
}

/// The protocol of a Kubernetes Service port.
pub fn select(
    port: i64,
    name: &str,
    ip_protocol: Option<&str>,
    app_protocol: Option<&str>,
) -> Protocol {
    if ip_protocol.is_some_and(|p| p.eq_ignore_ascii_case("UDP")) {
        return Protocol::Udp;
    }
    let name = match app_protocol {
        Some("kubernetes.io/h2c") => return Protocol::Http2,
        Some("kubernetes.io/ws" | "kubernetes.io/wss") => return Protocol::Http,
        Some(app) => app,
        None => name,
    };
    if name.len() >= 8 && name[..8].eq_ignore_ascii_case("grpc-web") {
        return Protocol::GrpcWeb;
    }
    let prefix = name.split('-').next().unwrap_or(name);
    match Protocol::parse(prefix) {
        // A name cannot make a TCP port UDP.
        Some(Protocol::Udp) | None => {
            if matches!(port, 25 | 53 | 3306 | 27017) {
                Protocol::Tcp
            } else {
                Protocol::Sniffed
            }
        }
        Some(p) => p,
    }
}

/// The protocol of a ServiceEntry port, as written (`protocol.Parse`).
pub fn of_service_entry(protocol: &str) -> Protocol {
    Protocol::parse(protocol).unwrap_or(Protocol::Sniffed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (port, name, protocol, appProtocol, expected)
    type Case = (
        i64,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Protocol,
    );

    #[test]
    fn istio_protocol_selection() {
        use Protocol::*;
        let cases: &[Case] = &[
            (9080, "http", None, None, Http),
            (9080, "http-web", None, None, Http),
            (9080, "HTTP-web", None, None, Http),
            (9080, "http2", None, None, Http2),
            (9080, "grpc", None, None, Grpc),
            (9080, "grpc-web", None, None, GrpcWeb),
            (9080, "grpc-web-x", None, None, GrpcWeb),
            (9080, "tcp-db", None, None, Tcp),
            (443, "tls", None, None, Tls),
            (443, "https", None, None, Https),
            (27017, "mongo", None, None, Mongo),
            (6379, "redis-main", None, None, Redis),
            (3306, "mysql", None, None, MySql),
            (9080, "web", None, None, Sniffed),
            (9080, "", None, None, Sniffed),
            (9080, "httpx", None, None, Sniffed),
            (3306, "", None, None, Tcp),
            (53, "dns", None, None, Tcp),
            (9080, "http", Some("UDP"), None, Udp),
            (9080, "udp", Some("TCP"), None, Sniffed),
            // appProtocol wins over the name, and replaces it entirely.
            (9080, "tcp", None, Some("http"), Http),
            (9080, "http", None, Some("grpc"), Grpc),
            (9080, "http", None, Some("kubernetes.io/h2c"), Http2),
            (9080, "tcp", None, Some("kubernetes.io/ws"), Http),
            (9080, "http", None, Some("custom"), Sniffed),
        ];
        for &(port, name, proto, app, want) in cases {
            assert_eq!(
                select(port, name, proto, app),
                want,
                "{port} {name:?} {proto:?} {app:?}"
            );
        }
    }

    #[test]
    fn http_family() {
        for p in [
            Protocol::Http,
            Protocol::Grpc,
            Protocol::Http2,
            Protocol::Sniffed,
        ] {
            assert!(p.is_http(), "{p:?}");
        }
        for p in [
            Protocol::Tcp,
            Protocol::Tls,
            Protocol::Https,
            Protocol::Mongo,
            Protocol::Udp,
        ] {
            assert!(!p.is_http(), "{p:?}");
        }
    }
}
