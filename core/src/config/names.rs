//! Istio's name rules: short-name expansion, wildcard hosts, gateway
//! references and durations.

use std::time::Duration;

/// The cluster DNS suffix Istio assumes.
pub const DOMAIN_SUFFIX: &str = "svc.cluster.local";

/// Expands a short host name (no dot) in `namespace`:
/// `reviews` → `reviews.<namespace>.svc.cluster.local`.
///
/// Names with a dot, wildcards and `*` are taken as written (Istio's
/// `ResolveShortnameToFQDN`). Hosts are lower-cased.
pub fn expand_host(host: &str, namespace: &str) -> String {
    let host = host.to_ascii_lowercase();
    if host.starts_with('*') || host.contains('.') || host.is_empty() {
        return host;
    }
    format!("{host}.{namespace}.{DOMAIN_SUFFIX}")
}

/// True when `name` (a concrete host or a wildcard) falls under `pattern`
/// (`*`, `*.suffix` or exact): `*.foo.com` covers `a.foo.com` and `a.b.foo.com`
/// but not `foo.com`.
pub fn host_matches(pattern: &str, name: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if let Some(suffix) = pattern.strip_prefix('*') {
        // suffix starts with '.'
        if let Some(name_suffix) = name.strip_prefix('*') {
            return name_suffix.len() >= suffix.len() && name_suffix.ends_with(suffix);
        }
        return name.len() > suffix.len() && name.ends_with(suffix);
    }
    pattern == name
}

/// True when two host patterns can both match some name.
pub fn hosts_intersect(a: &str, b: &str) -> bool {
    host_matches(a, b) || host_matches(b, a)
}

/// Resolves a gateway reference from a VirtualService in `namespace`:
/// `mesh` stays, `gw` → `namespace/gw`, `ns/gw` stays, the legacy
/// `gw.ns.svc.cluster.local` → `ns/gw`.
pub fn resolve_gateway(reference: &str, namespace: &str) -> String {
    if reference == "mesh" || reference.contains('/') {
        return reference.to_string();
    }
    let mut parts = reference.split('.');
    match (parts.next(), parts.next()) {
        (Some(name), Some(ns)) if !ns.is_empty() => format!("{ns}/{name}"),
        _ => format!("{namespace}/{reference}"),
    }
}

/// Parses a duration as Istio and Go write it: `7s`, `0.5s`, `100ms`, `1m30s`,
/// `1h`, `250us`, `10ns`.
///
/// # Errors
/// A message saying what is wrong with the text.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let s = text.trim();
    if s.is_empty() {
        return Err("empty duration".into());
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("duration {text:?} lacks a unit (s, ms, m, h…)"))?;
        if num_len == 0 {
            return Err(format!(
                "duration {text:?} is not a number followed by a unit"
            ));
        }
        let value: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("duration {text:?} has a bad number"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            u => return Err(format!("duration {text:?} has an unknown unit {u:?}")),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    if !total.is_finite() || total > 315_576_000_000.0 {
        return Err(format!("duration {text:?} is out of range"));
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_expand_in_the_rule_namespace() {
        let cases = [
            ("reviews", "shop", "reviews.shop.svc.cluster.local"),
            ("Reviews", "shop", "reviews.shop.svc.cluster.local"),
            ("reviews.default", "shop", "reviews.default"),
            ("*.example.com", "shop", "*.example.com"),
            ("*", "shop", "*"),
        ];
        for (host, ns, want) in cases {
            assert_eq!(expand_host(host, ns), want);
        }
    }

    #[test]
    fn wildcards() {
        let cases = [
            ("*.foo.com", "a.foo.com", true),
            ("*.foo.com", "a.b.foo.com", true),
            ("*.foo.com", "foo.com", false),
            ("*", "anything", true),
            ("*.com", "x.foo.com", true),
            ("a.foo.com", "a.foo.com", true),
            ("a.foo.com", "b.foo.com", false),
            ("*.foo.com", "*.a.foo.com", true),
            ("*.a.foo.com", "*.foo.com", false),
        ];
        for (p, n, want) in cases {
            assert_eq!(host_matches(p, n), want, "{p} {n}");
        }
        assert!(hosts_intersect("*.a.foo.com", "*.foo.com"));
    }

    #[test]
    fn gateway_references() {
        assert_eq!(resolve_gateway("mesh", "ns"), "mesh");
        assert_eq!(resolve_gateway("gw", "ns"), "ns/gw");
        assert_eq!(resolve_gateway("other/gw", "ns"), "other/gw");
        assert_eq!(
            resolve_gateway("gw.other.svc.cluster.local", "ns"),
            "other/gw"
        );
    }

    #[test]
    fn durations() {
        let cases = [
            ("7s", 7000),
            ("0.5s", 500),
            ("100ms", 100),
            ("1m30s", 90_000),
            ("1h", 3_600_000),
            ("0s", 0),
            ("0", 0),
        ];
        for (t, ms) in cases {
            assert_eq!(parse_duration(t).unwrap().as_millis(), ms, "{t}");
        }
        for bad in ["", "5", "s", "5x", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
