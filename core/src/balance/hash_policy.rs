//! Request hashing for consistent-hash load balancing, bit-for-bit with Envoy.
//!
//! Matches Envoy `source/common/http/hash_policy.cc` (the route hash policies),
//! `source/common/router/router.h` (cookie generation from the connection's
//! addresses), `source/common/http/utility.cc` (cookie and query-string parsing,
//! `makeSetCookieValue`) and `source/common/common/hash.h` (XXH64, seed-chained
//! for multi-valued headers).
//!
//! Everything on this path runs per request, so nothing here touches the heap:
//! multi-valued headers are sorted in a stack buffer (or, past its size, in
//! fixed windows over repeated passes), addresses are formatted into stack
//! buffers, and cookies and query strings are scanned in place.

pub use crate::balance::address_text::StackBuf;
use crate::balance::address_text::{write_ip, write_socket_addr};
use crate::balance::header_hash::hash_header;
use crate::balance::request_text::{find_cookie, find_query_parameter};
use crate::balance::xxh64::xxh64;
pub use crate::balance::xxh64::xxh64_chain;
use crate::request::Request;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// One of Istio's `consistentHash` hash keys, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashPolicy {
    /// `httpHeaderName` (stored lower-case).
    Header { name: String },
    /// `httpCookie {name, path, ttl}`; with a ttl a missing cookie is generated.
    Cookie {
        name: String,
        path: String,
        ttl: Option<Duration>,
    },
    /// `useSourceIp`.
    SourceIp,
    /// `httpQueryParameterName`.
    QueryParameter { name: String },
}

/// What a hash policy made of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestHash {
    /// The request carried the key; this is its hash.
    Hash(u64),
    /// The cookie was missing and has been generated (lower-case hex, 16 bytes);
    /// `hash` is the hash of that value; the response must set the cookie.
    GeneratedCookie { value: [u8; 16], hash: u64 },
    /// The key is absent: Envoy picks a random host.
    Missing,
}

impl RequestHash {
    /// The hash to balance on, if any.
    pub fn hash(&self) -> Option<u64> {
        match *self {
            RequestHash::Hash(h) | RequestHash::GeneratedCookie { hash: h, .. } => Some(h),
            RequestHash::Missing => None,
        }
    }
}

impl HashPolicy {
    /// Hashes `request` the way Envoy's route hash policy does.
    ///
    /// Allocates nothing.
    pub fn hash_request(&self, request: &Request<'_>) -> RequestHash {
        match self {
            HashPolicy::Header { name } => match hash_header(request.headers, name) {
                Some(h) => RequestHash::Hash(h),
                None => RequestHash::Missing,
            },
            HashPolicy::Cookie { name, ttl, .. } => {
                match find_cookie(request.headers, name) {
                    // An empty value counts as missing (Envoy `CookieHashMethod`).
                    Some(v) if !v.is_empty() => return RequestHash::Hash(v.hash),
                    _ => {}
                }
                // Without a ttl Envoy never generates: the host is random.
                if ttl.is_none() {
                    return RequestHash::Missing;
                }
                match (request.remote, request.source.local) {
                    (Some(remote), Some(local)) => {
                        let value = generated_cookie_value(remote, local);
                        RequestHash::GeneratedCookie {
                            value,
                            hash: xxh64(&value, 0),
                        }
                    }
                    // Envoy always knows both addresses; a caller that does not
                    // cannot reproduce its cookie, so the key is missing.
                    _ => RequestHash::Missing,
                }
            }
            HashPolicy::SourceIp => match request.remote {
                Some(remote) => {
                    let mut buf = StackBuf::<64>::new();
                    // Writing an IP never exceeds 45 bytes.
                    let _ = write_ip(&mut buf, remote.ip());
                    RequestHash::Hash(xxh64(buf.as_bytes(), 0))
                }
                None => RequestHash::Missing,
            },
            HashPolicy::QueryParameter { name } => match find_query_parameter(request.path, name) {
                Some(v) => RequestHash::Hash(xxh64(v.as_bytes(), 0)),
                None => RequestHash::Missing,
            },
        }
    }

    /// Writes the `Set-Cookie` value for a cookie this policy generated
    /// (see [`write_set_cookie`]); does nothing for other policies.
    ///
    /// # Errors
    /// Only those of `out`.
    pub fn write_set_cookie(&self, value: &[u8; 16], out: &mut dyn fmt::Write) -> fmt::Result {
        match self {
            HashPolicy::Cookie { name, path, ttl } => {
                // The value is lower-case hex, always valid UTF-8.
                let value = std::str::from_utf8(value).unwrap_or("");
                write_set_cookie(out, name, value, ttl.unwrap_or(Duration::ZERO), path)
            }
            _ => Ok(()),
        }
    }
}

/// Hashes `request` with several policies, combined the way Envoy's route
/// does when a route lists more than one (`HashPolicyImpl::generateHash`):
/// each hash that exists is folded in with [`combine_hash`]; policies yielding
/// nothing are skipped. Istio only ever sets one policy, for which this equals
/// [`HashPolicy::hash_request`]. None of Istio's policies are `terminal`.
///
/// If a cookie policy generated a cookie, the first generated value is
/// returned with the combined hash. Allocates nothing.
pub fn hash_request_all(policies: &[HashPolicy], request: &Request<'_>) -> RequestHash {
    let mut acc: Option<u64> = None;
    let mut generated: Option<[u8; 16]> = None;
    for policy in policies {
        let h = match policy.hash_request(request) {
            RequestHash::Hash(h) => h,
            RequestHash::GeneratedCookie { value, hash } => {
                generated.get_or_insert(value);
                hash
            }
            RequestHash::Missing => continue,
        };
        acc = Some(combine_hash(acc, h));
    }
    match (acc, generated) {
        (Some(hash), Some(value)) => RequestHash::GeneratedCookie { value, hash },
        (Some(h), None) => RequestHash::Hash(h),
        (None, _) => RequestHash::Missing,
    }
}

/// Folds one policy's hash into the running hash: the first hash is taken as
/// is, later ones as `rotl64(acc, 1) ^ next` (Envoy `HashPolicyImpl::generateHash`).
#[inline]
pub fn combine_hash(acc: Option<u64>, next: u64) -> u64 {
    match acc {
        None => next,
        Some(a) => a.rotate_left(1) ^ next,
    }
}

/// Writes a `Set-Cookie` header value the way Envoy's `makeSetCookieValue`
/// does for a generated hash cookie:
/// `name="value"[; Max-Age=N][; Path=p]; HttpOnly`. `Max-Age` (whole seconds,
/// truncated) is left out for a zero ttl, a session cookie; `Path` for an
/// empty path.
///
/// # Errors
/// Only those of `out`.
pub fn write_set_cookie(
    out: &mut dyn fmt::Write,
    name: &str,
    value: &str,
    ttl: Duration,
    path: &str,
) -> fmt::Result {
    write!(out, "{name}=\"{value}\"")?;
    let secs = ttl.as_secs();
    if secs != 0 {
        write!(out, "; Max-Age={secs}")?;
    }
    if !path.is_empty() {
        write!(out, "; Path={path}")?;
    }
    out.write_str("; HttpOnly")
}

/// The cookie Envoy generates for a request without one:
/// lower-case hex (16 digits, big-endian) of XXH64 of
/// `remote.to_string() + local.to_string()`, both `ip:port` (IPv6 `[ip]:port`).
/// Matches Envoy `router.h` (`addDownstreamSetCookie`) and `hex.cc`
/// (`Hex::uint64ToHex`).
pub fn generated_cookie_value(remote: SocketAddr, local: SocketAddr) -> [u8; 16] {
    // Two IPv6 socket addresses are at most 2 * 53 bytes.
    let mut buf = StackBuf::<128>::new();
    let _ = write_socket_addr(&mut buf, remote);
    let _ = write_socket_addr(&mut buf, local);
    hex16(xxh64(buf.as_bytes(), 0))
}

/// `v` as 16 lower-case hex digits, most significant first.
fn hex16(v: u64) -> [u8; 16] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 16];
    for (i, o) in out.iter_mut().enumerate() {
        *o = DIGITS[((v >> (60 - 4 * i)) & 0xf) as usize];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{HeaderList, Source};

    fn request<'a>(headers: &'a HeaderList<'a>, path: &'a str) -> Request<'a> {
        Request {
            path,
            headers,
            ..Request::get("svc", path)
        }
    }

    fn header(name: &str) -> HashPolicy {
        HashPolicy::Header { name: name.into() }
    }

    fn cookie(name: &str, ttl: Option<Duration>) -> HashPolicy {
        HashPolicy::Cookie {
            name: name.into(),
            path: String::new(),
            ttl,
        }
    }

    #[test]
    fn multi_valued_header_seed_chains_sorted_values() {
        // (header values in map order, expected hash) — spec §5 and §8.3.
        let cases: &[(&[&str], u64)] = &[
            // Sorted first: XXH64("foo", XXH64("bar")) (checked with python-xxhash).
            (&["foo", "bar"], 6648465492906218751),
            (&["bar", "foo"], 6648465492906218751),
            (&["b", "a"], 8564053812407216358),
            (&["a", "b"], 8564053812407216358),
            (&["alice"], 8332761332120969289),
            (&[""], 17241709254077376921),
        ];
        for &(values, want) in cases {
            let pairs: Vec<(&str, &str)> = values.iter().map(|v| ("X-User", *v)).collect();
            let headers = HeaderList(&pairs);
            assert_eq!(
                header("x-user").hash_request(&request(&headers, "/")),
                RequestHash::Hash(want),
                "{values:?}"
            );
        }
    }

    #[test]
    fn multi_valued_header_is_order_independent_past_the_stack_buffer() {
        // Many values, some duplicated, some long: the windowed path must give
        // the same result as a plain sort, whatever the order.
        let mut values: Vec<String> = (0..150).map(|i| format!("v{}", (i * 37) % 101)).collect();
        values.push("z".repeat(2000));
        values.push(String::new());
        let mut sorted = values.clone();
        sorted.sort();
        let want = sorted.iter().fold(0u64, |acc, v| xxh64(v.as_bytes(), acc));
        for rotate in [0, 1, 77] {
            let mut order = values.clone();
            order.rotate_left(rotate);
            order.reverse();
            let pairs: Vec<(&str, &str)> = order
                .iter()
                .map(|v| ("x-k", v.as_str()))
                .chain([("other", "zzz")])
                .collect();
            let headers = HeaderList(&pairs);
            assert_eq!(
                header("x-k").hash_request(&request(&headers, "/")),
                RequestHash::Hash(want)
            );
        }
        // Just over the stack limits in count and in bytes.
        for n in [16, 17, 64, 65, 130] {
            let vals: Vec<String> = (0..n).map(|i| format!("{:03}", n - i)).collect();
            let pairs: Vec<(&str, &str)> = vals.iter().map(|v| ("x-k", v.as_str())).collect();
            let mut sorted = vals.clone();
            sorted.sort();
            let want = sorted.iter().fold(0u64, |acc, v| xxh64(v.as_bytes(), acc));
            let headers = HeaderList(&pairs);
            assert_eq!(
                header("x-k").hash_request(&request(&headers, "/")),
                RequestHash::Hash(want),
                "{n}"
            );
        }
        // One long value.
        let long = "q".repeat(5000);
        let pairs = [("x-k", long.as_str())];
        let headers = HeaderList(&pairs);
        assert_eq!(
            header("x-k").hash_request(&request(&headers, "/")),
            RequestHash::Hash(xxh64(long.as_bytes(), 0))
        );
    }

    #[test]
    fn missing_header_is_missing() {
        let headers = HeaderList(&[("x-other", "a")]);
        assert_eq!(
            header("x-user").hash_request(&request(&headers, "/")),
            RequestHash::Missing
        );
    }

    #[test]
    fn cookie_parsing_edge_cases() {
        // (cookie header lines, expected value hashed, or None for missing)
        let cases: &[(&[&str], Option<&str>)] = &[
            (&["sess=abc"], Some("abc")),
            (&["a=1; sess=abc; b=2"], Some("abc")),
            (&["a=1;sess=abc"], Some("abc")),
            (&["   sess=abc"], Some("abc")),
            (&["sess=\"abc\""], Some("abc")),
            (&["sess=\"\"abc\"\""], Some("\"abc\"")),
            (&["sess=\""], Some("\"")),
            (&["sess=\"abc"], Some("\"abc")),
            (&["sess=abc "], Some("abc ")),
            (&["sess=a=b"], Some("a=b")),
            // The key is not right-trimmed and is case-sensitive.
            (&["sess =abc"], None),
            (&["Sess=abc"], None),
            (&["sess"], None),
            (&["xsess=abc"], None),
            // First match wins, across header lines too.
            (&["sess=one; sess=two"], Some("one")),
            (&["a=1", "sess=second-line"], Some("second-line")),
            (&["sess=first", "sess=second"], Some("first")),
            // An empty value is missing, and stops the search.
            (&["sess="], None),
            (&["sess=\"\""], None),
            (&["sess=; sess=later"], None),
            (&[], None),
        ];
        for &(lines, want) in cases {
            let pairs: Vec<(&str, &str)> = lines.iter().map(|l| ("Cookie", *l)).collect();
            let headers = HeaderList(&pairs);
            let got = cookie("sess", None).hash_request(&request(&headers, "/"));
            let want = match want {
                Some(v) => RequestHash::Hash(xxh64(v.as_bytes(), 0)),
                None => RequestHash::Missing,
            };
            assert_eq!(got, want, "{lines:?}");
        }
    }

    #[test]
    fn cookie_is_generated_with_a_ttl() {
        let headers = HeaderList(&[("cookie", "other=1")]);
        let source = Source {
            local: Some("10.0.0.1:80".parse().unwrap()),
            ..Source::MESH
        };
        let req = Request {
            remote: Some("10.0.0.99:54321".parse().unwrap()),
            source: &source,
            ..request(&headers, "/")
        };
        // Spec §8.3: value 946c0e4ce91a7d06, request hash 5347015257607982784.
        let want = RequestHash::GeneratedCookie {
            value: *b"946c0e4ce91a7d06",
            hash: 5347015257607982784,
        };
        for ttl in [Duration::ZERO, Duration::from_secs(3600)] {
            assert_eq!(cookie("sess", Some(ttl)).hash_request(&req), want);
        }
        // No ttl: no generation.
        assert_eq!(
            cookie("sess", None).hash_request(&req),
            RequestHash::Missing
        );
        // An empty cookie is also regenerated.
        let headers = HeaderList(&[("cookie", "sess=")]);
        let req2 = Request {
            headers: &headers,
            ..req
        };
        assert_eq!(
            cookie("sess", Some(Duration::ZERO)).hash_request(&req2),
            want
        );
        // The hash of the cookie when sent back equals the generated hash.
        let headers = HeaderList(&[("cookie", "sess=\"946c0e4ce91a7d06\"")]);
        let req3 = Request {
            headers: &headers,
            ..req
        };
        assert_eq!(
            cookie("sess", Some(Duration::ZERO)).hash_request(&req3),
            RequestHash::Hash(5347015257607982784)
        );
        // Without addresses nothing can be generated.
        let req4 = Request {
            remote: None,
            source: &Source::MESH,
            ..req
        };
        assert_eq!(
            cookie("sess", Some(Duration::ZERO)).hash_request(&req4),
            RequestHash::Missing
        );
    }

    #[test]
    fn set_cookie_value_format() {
        // (ttl, path, expected)
        let cases: &[(Duration, &str, &str)] = &[
            (Duration::ZERO, "", "sess=\"946c0e4ce91a7d06\"; HttpOnly"),
            (
                Duration::from_secs(60),
                "",
                "sess=\"946c0e4ce91a7d06\"; Max-Age=60; HttpOnly",
            ),
            (
                Duration::from_millis(90_500),
                "/api",
                "sess=\"946c0e4ce91a7d06\"; Max-Age=90; Path=/api; HttpOnly",
            ),
            (
                Duration::ZERO,
                "/",
                "sess=\"946c0e4ce91a7d06\"; Path=/; HttpOnly",
            ),
        ];
        for &(ttl, path, want) in cases {
            let mut out = StackBuf::<128>::new();
            let policy = HashPolicy::Cookie {
                name: "sess".into(),
                path: path.into(),
                ttl: Some(ttl),
            };
            policy
                .write_set_cookie(b"946c0e4ce91a7d06", &mut out)
                .unwrap();
            assert_eq!(out.as_str(), want);
        }
    }

    #[test]
    fn query_parameter_hashes_the_first_value_even_empty() {
        // The parsing itself is tested in `request_text`.
        let headers = HeaderList(&[]);
        let policy = HashPolicy::QueryParameter {
            name: "user".into(),
        };
        for (path, want) in [
            (
                "/p?a=1&user=alice&user=bob",
                RequestHash::Hash(xxh64(b"alice", 0)),
            ),
            // Spec §1.2: an empty value still hashes.
            ("/p?user=", RequestHash::Hash(17241709254077376921)),
            ("/p?User=alice", RequestHash::Missing),
        ] {
            assert_eq!(
                policy.hash_request(&request(&headers, path)),
                want,
                "{path}"
            );
        }
    }

    #[test]
    fn source_ip_hashes_the_ip_text() {
        let cases: &[(&str, &str)] = &[
            ("192.168.1.10:5555", "192.168.1.10"),
            ("[2001:db8::1]:80", "2001:db8::1"),
            ("[::1]:80", "::1"),
            ("[::]:80", "::"),
            ("[::ffff:10.1.2.3]:80", "::ffff:10.1.2.3"),
            ("[::10.1.2.3]:80", "::10.1.2.3"),
            ("[::2]:80", "::2"),
            ("[::0.1.0.0]:80", "::0.1.0.0"),
            ("[1:0:0:2:0:0:0:0]:80", "1:0:0:2::"),
            ("[1:0:0:2:3:0:0:4]:80", "1::2:3:0:0:4"),
            ("[2001:db8:0:1:0:0:0:1]:80", "2001:db8:0:1::1"),
            ("[2001:0:0:1:0:0:0:1]:80", "2001:0:0:1::1"),
            ("[2001:db8:1:1:1:1:0:1]:80", "2001:db8:1:1:1:1:0:1"),
            ("[fe80::abcd:0:0:1]:80", "fe80::abcd:0:0:1"),
            ("[1::]:80", "1::"),
        ];
        let headers = HeaderList(&[]);
        for &(addr, text) in cases {
            let mut req = request(&headers, "/");
            req.remote = Some(addr.parse().unwrap());
            assert_eq!(
                HashPolicy::SourceIp.hash_request(&req),
                RequestHash::Hash(xxh64(text.as_bytes(), 0)),
                "{addr}"
            );
        }
        let req = request(&headers, "/");
        assert_eq!(
            HashPolicy::SourceIp.hash_request(&req),
            RequestHash::Missing
        );
    }

    #[test]
    fn policies_combine_with_rotl_xor() {
        // Spec §8.3: header `alice` ⊕ source_ip 192.168.1.10.
        let headers = HeaderList(&[("x-user", "alice")]);
        let mut req = request(&headers, "/");
        req.remote = Some("192.168.1.10:40000".parse().unwrap());
        let policies = [header("x-user"), HashPolicy::SourceIp];
        assert_eq!(
            hash_request_all(&policies, &req),
            RequestHash::Hash(5683702491454375104)
        );
        // A policy yielding nothing is skipped; one alone is its own hash.
        let policies = [header("x-absent"), header("x-user")];
        assert_eq!(
            hash_request_all(&policies, &req),
            RequestHash::Hash(8332761332120969289)
        );
        assert_eq!(hash_request_all(&[], &req), RequestHash::Missing);
        assert_eq!(combine_hash(Some(1 << 63), 0), 1);
    }

    #[test]
    fn hex16_is_big_endian_lower_case() {
        assert_eq!(&hex16(0), b"0000000000000000");
        assert_eq!(&hex16(0x0123_4567_89ab_cdef), b"0123456789abcdef");
        assert_eq!(&hex16(u64::MAX), b"ffffffffffffffff");
    }
}
