//! Istio's rules for names and addresses, with its reasons as the messages:
//! DNS-1123 labels, FQDNs, wildcard domains, IPs and subnets, port names
//! and protocols. Re-derived from pkg/config/validation/agent/validation.go
//! (`ValidateFQDN`, `ValidateWildcardDomain`, `ValidatePartialWildCard`,
//! `ValidateIPSubnet`, `ValidatePort`), pkg/config/labels/instance.go
//! (`IsDNS1123Label`, `IsWildcardDNS1123Label`) and
//! pkg/config/validation/validation.go (`ValidatePortName`,
//! `ValidateProtocol`).

use std::net::IpAddr;

/// `[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?`, at most 63 characters (Istio
/// accepts upper case, as its regex does).
pub(super) fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// A DNS-1123 label that may start with `*` or `*-` (`*`, `*foo`, `*-foo`).
fn is_wildcard_dns1123_label(s: &str) -> bool {
    if s == "*" {
        return true;
    }
    let rest = s
        .strip_prefix("*-")
        .or_else(|| s.strip_prefix('*'))
        .unwrap_or(s);
    s.len() <= 63 && is_dns1123_label(rest)
}

fn dns1123_preconditions(name: &str) -> Result<(), String> {
    if name.len() > 255 {
        return Err(format!("domain name {name:?} too long (max 255)"));
    }
    if name.is_empty() {
        return Err("empty domain name not allowed".into());
    }
    Ok(())
}

/// Each dot-separated label valid (a trailing dot allowed), the last not
/// all digits.
fn dns1123_labels(domain: &str) -> Result<(), String> {
    let parts: Vec<&str> = domain.split('.').collect();
    let top = parts[parts.len() - 1];
    if !top.is_empty() && top.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "domain name {domain:?} invalid (top level domain {top:?} cannot be all-numeric)"
        ));
    }
    for (i, label) in parts.iter().enumerate() {
        if i == parts.len() - 1 && label.is_empty() {
            return Ok(());
        }
        if !is_dns1123_label(label) {
            return Err(format!(
                "domain name {domain:?} invalid (label {label:?} invalid)"
            ));
        }
    }
    Ok(())
}

/// A fully qualified domain name (no wildcard).
pub(super) fn validate_fqdn(name: &str) -> Result<(), String> {
    dns1123_preconditions(name)?;
    dns1123_labels(name)
}

/// A domain whose first label may be a wildcard (`*.example.com`, `*`).
pub(super) fn validate_wildcard_domain(domain: &str) -> Result<(), String> {
    dns1123_preconditions(domain)?;
    let (first, rest) = match domain.split_once('.') {
        Some((first, rest)) => (first, Some(rest)),
        None => (domain, None),
    };
    if !is_wildcard_dns1123_label(first) {
        return Err(format!(
            "domain name {domain:?} invalid (label {first:?} invalid)"
        ));
    }
    rest.map_or(Ok(()), dns1123_labels)
}

/// `*` alone or `*.` first; `*foo.com` is a partial wildcard.
pub(super) fn validate_partial_wildcard(host: &str) -> Result<(), String> {
    if host.contains('*') && host.len() != 1 && !host.starts_with("*.") {
        return Err(format!("partial wildcard {host:?} not allowed"));
    }
    Ok(())
}

pub(super) fn is_ip(text: &str) -> bool {
    text.parse::<IpAddr>().is_ok()
}

/// An IP, or a CIDR block (`10.0.0.0/8`, `2001:1::1/64`).
pub(super) fn validate_ip_subnet(subnet: &str) -> Result<(), String> {
    if subnet.matches('/').count() == 1 {
        if crate::route::Cidr::parse(subnet).is_none() {
            return Err(format!("{subnet} is not a valid CIDR block"));
        }
        return Ok(());
    }
    if !is_ip(subnet) {
        return Err(format!("{subnet} is not a valid IP"));
    }
    Ok(())
}

pub(super) fn validate_port(port: u32) -> Result<(), String> {
    if !(1..=65535).contains(&port) {
        return Err(format!("port number {port} must be in the range 1..65535"));
    }
    Ok(())
}

pub(super) fn validate_port_name(name: &str) -> Result<(), String> {
    if !is_dns1123_label(name) {
        return Err(format!("invalid port name: {name}"));
    }
    Ok(())
}

/// The protocols Istio parses (pkg/config/protocol), case-insensitive;
/// empty means sniffed.
pub(super) fn validate_protocol(protocol: &str) -> Result<(), String> {
    const KNOWN: [&str; 12] = [
        "GRPC",
        "GRPC-WEB",
        "HTTP",
        "HTTP_PROXY",
        "HTTP2",
        "HTTPS",
        "TCP",
        "TLS",
        "UDP",
        "MONGO",
        "REDIS",
        "MYSQL",
    ];
    if !protocol.is_empty() && !KNOWN.iter().any(|k| k.eq_ignore_ascii_case(protocol)) {
        return Err(format!("unsupported protocol: {protocol}"));
    }
    Ok(())
}

/// Protocols Istio counts as HTTP (`Instance.IsHTTP`).
pub(super) fn is_http_protocol(protocol: &str) -> bool {
    ["HTTP", "HTTP2", "GRPC", "GRPC-WEB", "HTTP_PROXY"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(protocol))
}

/// Protocols Istio counts as TLS (`Instance.IsTLS`).
pub(super) fn is_tls_protocol(protocol: &str) -> bool {
    ["HTTPS", "TLS"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(protocol))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_as_istio_judges_them() {
        let ok = |r: Result<(), String>| r.is_ok();
        let cases: &[(&str, bool, bool, bool)] = &[
            // (text, FQDN, wildcard domain, IP or subnet)
            ("example.com", true, true, false),
            ("Example.COM", true, true, false),
            ("example.com.", true, true, false),
            ("*.example.com", false, true, false),
            ("*", false, true, false),
            ("*foo.example.com", false, true, false),
            ("foo.*.com", false, false, false),
            ("a_b.example.com", false, false, false),
            ("-a.example.com", false, false, false),
            ("example.123", false, false, false),
            ("10.0.0.1", false, false, true),
            ("10.0.0.0/8", false, false, true),
            ("2001:db8::/32", false, false, true),
            ("10.0.0.0/33", false, false, false),
            ("", false, false, false),
        ];
        for (text, fqdn, wildcard, subnet) in cases {
            assert_eq!(ok(validate_fqdn(text)), *fqdn, "fqdn {text}");
            assert_eq!(
                ok(validate_wildcard_domain(text)),
                *wildcard,
                "wildcard {text}"
            );
            assert_eq!(ok(validate_ip_subnet(text)), *subnet, "subnet {text}");
        }
        assert_eq!(
            validate_partial_wildcard("*foo.com"),
            Err("partial wildcard \"*foo.com\" not allowed".into())
        );
        assert!(validate_partial_wildcard("*.foo.com").is_ok());
        assert!(validate_port_name("HTTP-web").is_ok());
        assert_eq!(
            validate_port_name("http_web"),
            Err("invalid port name: http_web".into())
        );
        assert!(validate_protocol("grpc-web").is_ok());
        assert_eq!(
            validate_protocol("SCTP"),
            Err("unsupported protocol: SCTP".into())
        );
        assert_eq!(
            validate_port(0),
            Err("port number 0 must be in the range 1..65535".into())
        );
    }
}
