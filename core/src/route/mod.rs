//! Request matching: virtual-host selection and the compiled HTTPMatchRequest.
//!
//! Everything here is built once at compile time and evaluated per request
//! with no allocation.

pub mod host;
pub mod index;
pub mod regex;

use crate::request::{Headers, Request};
use ::regex::Regex;
use std::net::IpAddr;

/// A compiled StringMatch.
#[derive(Debug, Clone)]
pub enum StringMatcher {
    /// Whole value equal.
    Exact(Box<str>),
    /// Value starts with.
    Prefix(Box<str>),
    /// RE2 full match.
    Regex(Regex),
    /// `{}` or `regex: "*"`: the value is present (for headers, query params).
    Present,
}

impl StringMatcher {
    /// Tests `value`; `ignore_case` applies to exact and prefix only.
    #[inline]
    pub fn matches(&self, value: &str, ignore_case: bool) -> bool {
        match self {
            StringMatcher::Exact(e) => {
                if ignore_case {
                    e.eq_ignore_ascii_case(value)
                } else {
                    **e == *value
                }
            }
            StringMatcher::Prefix(p) => {
                if ignore_case {
                    value.len() >= p.len()
                        && value.as_bytes()[..p.len()].eq_ignore_ascii_case(p.as_bytes())
                } else {
                    value.starts_with(&**p)
                }
            }
            StringMatcher::Regex(r) => r.is_match(value),
            StringMatcher::Present => true,
        }
    }

    /// How much of the path a uri match consumed, for `rewrite.uri`: the
    /// prefix length for prefix matches, the whole path otherwise (Envoy's
    /// prefix_rewrite replaces the matched prefix, or the whole path).
    pub fn matched_len(&self, path: &str) -> usize {
        match self {
            StringMatcher::Prefix(p) => p.len().min(path.len()),
            _ => path.len(),
        }
    }
}

/// A header condition (from `headers` or `withoutHeaders`).
#[derive(Debug, Clone)]
pub struct HeaderMatcher {
    /// Lower-case name.
    pub name: Box<str>,
    pub matcher: StringMatcher,
    /// `withoutHeaders`: the request must *not* carry a matching value.
    pub invert: bool,
    /// A missing header is matched as an empty value: Istio sets Envoy's
    /// `treat_missing_header_as_empty` on every `withoutHeaders` condition
    /// but a presence one (TranslateRouteMatch), so a request without the
    /// header fails `withoutHeaders: {x: {prefix: ""}}`.
    pub missing_as_empty: bool,
    /// Set when `name` is a pseudo-header: its value is the request's.
    pub pseudo: Option<PseudoHeader>,
}

/// The HTTP/2 pseudo-headers a match may name (Istio accepts them,
/// pkg/config/validation/validation.go `pseudoHeaders`); Envoy matches
/// them against the request line, as Weir does against [`Request`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PseudoHeader {
    /// `:authority`: the host as sent.
    Authority,
    /// `:method`.
    Method,
    /// `:path`: the path with its query string.
    Path,
    /// `:scheme`.
    Scheme,
    /// `:status`: a response's, never on a request.
    Status,
}

impl PseudoHeader {
    /// The pseudo-header `name` (lower case) stands for, if any.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            ":authority" => PseudoHeader::Authority,
            ":method" => PseudoHeader::Method,
            ":path" => PseudoHeader::Path,
            ":scheme" => PseudoHeader::Scheme,
            ":status" => PseudoHeader::Status,
            _ => return None,
        })
    }

    /// Its value on `req` (`None` for `:status`).
    #[inline]
    pub fn value<'r>(self, req: &Request<'r>) -> Option<&'r str> {
        match self {
            PseudoHeader::Authority => Some(req.authority),
            PseudoHeader::Method => Some(req.method),
            PseudoHeader::Path => Some(req.path),
            PseudoHeader::Scheme => Some(req.scheme),
            PseudoHeader::Status => None,
        }
    }
}

/// A query-parameter condition.
#[derive(Debug, Clone)]
pub struct QueryMatcher {
    pub name: Box<str>,
    pub matcher: StringMatcher,
}

/// Why a route was skipped, for `weir explain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch {
    Uri,
    Scheme,
    Method,
    Authority,
    Header,
    WithoutHeader,
    QueryParam,
    Port,
    SourceLabels,
    SourceNamespace,
}

impl Mismatch {
    /// The HTTPMatchRequest field that did not match.
    pub fn field(self) -> &'static str {
        match self {
            Mismatch::Uri => "uri",
            Mismatch::Scheme => "scheme",
            Mismatch::Method => "method",
            Mismatch::Authority => "authority",
            Mismatch::Header => "headers",
            Mismatch::WithoutHeader => "withoutHeaders",
            Mismatch::QueryParam => "queryParams",
            Mismatch::Port => "port",
            Mismatch::SourceLabels => "sourceLabels",
            Mismatch::SourceNamespace => "sourceNamespace",
        }
    }
}

/// One compiled HTTPMatchRequest (AND of its fields).
#[derive(Debug, Clone, Default)]
pub struct RouteMatch {
    pub uri: Option<StringMatcher>,
    pub ignore_uri_case: bool,
    pub scheme: Option<StringMatcher>,
    pub method: Option<StringMatcher>,
    pub authority: Option<StringMatcher>,
    pub headers: Box<[HeaderMatcher]>,
    pub query: Box<[QueryMatcher]>,
    pub port: Option<u16>,
    pub source_labels: Box<[(Box<str>, Box<str>)]>,
    pub source_namespace: Option<Box<str>>,
}

impl RouteMatch {
    /// Tests every condition; the first failing one is returned.
    pub fn check(&self, req: &Request<'_>) -> Result<(), Mismatch> {
        if let Some(u) = &self.uri {
            if !u.matches(req.path_only(), self.ignore_uri_case) {
                return Err(Mismatch::Uri);
            }
        }
        if let Some(p) = self.port {
            if req.effective_port() != p {
                return Err(Mismatch::Port);
            }
        }
        if let Some(m) = &self.method {
            if !m.matches(req.method, false) {
                return Err(Mismatch::Method);
            }
        }
        if let Some(m) = &self.scheme {
            if !m.matches(req.scheme, false) {
                return Err(Mismatch::Scheme);
            }
        }
        if let Some(m) = &self.authority {
            if !m.matches(req.authority, false) {
                return Err(Mismatch::Authority);
            }
        }
        for h in self.headers.iter() {
            let matched = match h.pseudo {
                None => header_matches(req.headers, &h.name, &h.matcher, h.missing_as_empty),
                Some(p) => pseudo_matches(p, req, &h.matcher),
            };
            if matched == h.invert {
                return Err(if h.invert {
                    Mismatch::WithoutHeader
                } else {
                    Mismatch::Header
                });
            }
        }
        if !self.query.is_empty() {
            let q = req.query();
            for qm in self.query.iter() {
                match query_value(q, &qm.name) {
                    Some(v) if qm.matcher.matches(v, false) => {}
                    _ => return Err(Mismatch::QueryParam),
                }
            }
        }
        if !self.source_labels.is_empty() {
            let labels = req.source.labels;
            let ok = self
                .source_labels
                .iter()
                .all(|(k, v)| labels.iter().any(|(lk, lv)| *lk == &**k && *lv == &**v));
            if !ok {
                return Err(Mismatch::SourceLabels);
            }
        }
        if let Some(ns) = &self.source_namespace {
            if req.source.namespace != &**ns {
                return Err(Mismatch::SourceNamespace);
            }
        }
        Ok(())
    }

    /// True when the request satisfies every condition.
    #[inline]
    pub fn matches(&self, req: &Request<'_>) -> bool {
        self.check(req).is_ok()
    }
}

/// A pseudo-header condition: rare, so out of line, keeping [`RouteMatch::check`]
/// as small as it was.
#[cold]
#[inline(never)]
fn pseudo_matches(p: PseudoHeader, req: &Request<'_>, matcher: &StringMatcher) -> bool {
    p.value(req).is_some_and(|v| matcher.matches(v, false))
}

/// Longest joined header value Weir matches on without allocating.
const JOIN_BUFFER: usize = 2048;

/// Envoy matches a header that appears several times against its values
/// joined with `,`; the join is built on the stack.
fn header_matches(
    headers: &dyn Headers,
    name: &str,
    matcher: &StringMatcher,
    missing_as_empty: bool,
) -> bool {
    let mut count = 0usize;
    let mut first: Option<bool> = None;
    let mut buf = [0u8; JOIN_BUFFER];
    let mut len = 0usize;
    let mut overflow = false;
    headers.for_each(name, &mut |v| {
        if count == 0 {
            first = Some(matcher.matches(v, false));
        }
        if count > 0 && len < JOIN_BUFFER {
            buf[len] = b',';
            len += 1;
        }
        if len + v.len() <= JOIN_BUFFER {
            buf[len..len + v.len()].copy_from_slice(v.as_bytes());
            len += v.len();
        } else {
            overflow = true;
        }
        count += 1;
    });
    match count {
        0 => missing_as_empty && matcher.matches("", false),
        1 => first.unwrap_or(false),
        _ if overflow => first.unwrap_or(false),
        _ => std::str::from_utf8(&buf[..len]).is_ok_and(|joined| matcher.matches(joined, false)),
    }
}

/// The value of the first query parameter `name`, as sent: not
/// percent-decoded, as Envoy's router matches `query_parameters`
/// (`RouteEntryImplBase::matchRoute` parses with `parseQueryString`, which
/// does not decode; examples/envoy/tests-pkg/tests/query.rs checks Weir
/// against it). `Some("")` for a key with no value.
pub fn query_value<'q>(query: &'q str, name: &str) -> Option<&'q str> {
    query.split('&').find_map(|pair| {
        let (k, v) = match pair.find('=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, ""),
        };
        (k == name && !pair.is_empty()).then_some(v)
    })
}

/// An IPv4 or IPv6 CIDR block (`destinationSubnets`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n`, `v6/n`, or a bare address (full length).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// True when `ip` is inside the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }
}

/// Longest host name Weir looks up (DNS allows 253).
pub const MAX_HOST: usize = 256;

/// Calls `f` with `host` lower-cased, or gives `None` when `host` is longer
/// than [`MAX_HOST`]. A host that has no upper-case letter (nearly every one)
/// is passed as it is: copying it to the stack and hashing the copy right
/// away stalls on store-to-load forwarding (perf, benches/ffi.rs).
#[inline(always)]
pub fn with_lowercase<R>(host: &str, f: impl FnOnce(&str) -> R) -> Option<R> {
    if host.len() > MAX_HOST {
        return None;
    }
    // A fold, not `any`: no early exit, so it runs 16 bytes at a time.
    let upper = host
        .bytes()
        .fold(0u8, |any, b| any | u8::from(b.is_ascii_uppercase()));
    if upper == 0 {
        return Some(f(host));
    }
    with_lowercase_copy(host, f)
}

/// [`with_lowercase`] for a host with an upper-case letter: lower-cased
/// into a stack buffer.
#[cold]
#[inline(never)]
fn with_lowercase_copy<R>(host: &str, f: impl FnOnce(&str) -> R) -> Option<R> {
    let mut buf = [0u8; MAX_HOST];
    let lower = &mut buf[..host.len()];
    for (d, s) in lower.iter_mut().zip(host.bytes()) {
        *d = s.to_ascii_lowercase();
    }
    // ASCII lower-casing keeps UTF-8 valid; checked rather than assumed.
    std::str::from_utf8(lower).ok().map(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::HeaderList;

    #[test]
    fn query_values() {
        let cases = [
            ("a=1&b=2", "b", Some("2")),
            ("a=1&a=2", "a", Some("1")),
            ("key", "key", Some("")),
            ("key=", "key", Some("")),
            ("ANIMAL=Whale", "animal", None),
            ("", "a", None),
            ("x=%41", "x", Some("%41")),
        ];
        for (q, name, want) in cases {
            assert_eq!(query_value(q, name), want, "{q} {name}");
        }
    }

    /// Lower-case hosts pass as they are, others are folded, and a host
    /// over `MAX_HOST` bytes is refused either way.
    #[test]
    fn hosts_are_lowercased_within_the_limit() {
        let long_lower = "a".repeat(MAX_HOST);
        let too_long = "a".repeat(MAX_HOST + 1);
        let too_long_upper = "A".repeat(MAX_HOST + 1);
        let cases: [(&str, Option<&str>); 7] = [
            ("", Some("")),
            ("reviews.prod.svc", Some("reviews.prod.svc")),
            ("Reviews.PROD.svc", Some("reviews.prod.svc")),
            ("[::1]", Some("[::1]")),
            (&long_lower, Some(&long_lower)),
            (&too_long, None),
            (&too_long_upper, None),
        ];
        for (host, want) in cases {
            let got = with_lowercase(host, |h| h.to_string());
            assert_eq!(got.as_deref(), want, "{host}");
        }
        // Every position of an upper-case letter is seen (the check runs
        // 16 bytes at a time).
        for n in 1..70 {
            for at in 0..n {
                let mut h = vec![b'a'; n];
                h[at] = b'Z';
                let h = String::from_utf8(h).unwrap();
                let got = with_lowercase(&h, |l| l.to_string()).unwrap();
                assert_eq!(got, h.to_ascii_lowercase(), "len {n}, upper at {at}");
            }
        }
    }

    #[test]
    fn multi_valued_headers_match_joined() {
        let h = HeaderList(&[("x", "a"), ("x", "b")]);
        assert!(header_matches(
            &h,
            "x",
            &StringMatcher::Exact("a,b".into()),
            false
        ));
        assert!(!header_matches(
            &h,
            "x",
            &StringMatcher::Exact("a".into()),
            false
        ));
        assert!(!header_matches(&h, "y", &StringMatcher::Present, false));
        // A missing header read as "" only where asked.
        assert!(!header_matches(
            &h,
            "y",
            &StringMatcher::Prefix("".into()),
            false
        ));
        assert!(header_matches(
            &h,
            "y",
            &StringMatcher::Prefix("".into()),
            true
        ));
        assert!(!header_matches(
            &h,
            "y",
            &StringMatcher::Exact("a".into()),
            true
        ));
    }

    #[test]
    fn cidr() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.2.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("::/0")
            .unwrap()
            .contains("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn ignore_case_applies_to_exact_and_prefix() {
        assert!(StringMatcher::Prefix("/API".into()).matches("/api/x", true));
        assert!(!StringMatcher::Prefix("/API".into()).matches("/api/x", false));
        assert!(StringMatcher::Exact("/A".into()).matches("/a", true));
    }
}
