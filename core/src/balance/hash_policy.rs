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

use crate::balance::xxh64::xxh64;
use crate::request::{find_byte, Headers, Request};
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
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

// ---------------------------------------------------------------------------
// Header values

/// How many header values, and how many of their bytes, are sorted on the
/// stack. Past either, the slower allocation-free windowed sort takes over.
const SORT_VALUES: usize = 16;
const SORT_BYTES: usize = 1024;

/// XXH64 of every value of header `name`, sorted bytewise, seed-chained
/// (`HashUtil::xxHash64(absl::Span<string_view>)`): `acc = XXH64(v, acc)`
/// from `acc = 0`. `None` without the header. Duplicates count each time.
fn hash_header(headers: &dyn Headers, name: &str) -> Option<u64> {
    let mut stack = SortBuf::new();
    headers.for_each(name, &mut |v| stack.push(v.as_bytes()));
    match stack.count {
        0 => None,
        // One value (the usual case): its hash, whatever its size.
        1 if stack.overflow => headers.get(name).map(|v| xxh64(v.as_bytes(), 0)),
        _ if !stack.overflow => Some(stack.sorted_chain_hash()),
        n => Some(windowed_chain_hash(headers, name, n)),
    }
}

/// XXH64 seed-chained over `values` in the order given (Envoy
/// `HashUtil::xxHash64(absl::Span<absl::string_view>, seed)`):
/// `acc = seed; for v in values: acc = XXH64(v, acc)`.
pub fn xxh64_chain<'a>(values: impl IntoIterator<Item = &'a [u8]>, seed: u64) -> u64 {
    values.into_iter().fold(seed, |acc, v| xxh64(v, acc))
}

/// Up to [`SORT_VALUES`] header values copied to the stack for sorting.
struct SortBuf {
    bytes: [u8; SORT_BYTES],
    /// `(start, len)` into `bytes`.
    spans: [(u16, u16); SORT_VALUES],
    used: usize,
    count: usize,
    overflow: bool,
}

impl SortBuf {
    fn new() -> Self {
        SortBuf {
            bytes: [0; SORT_BYTES],
            spans: [(0, 0); SORT_VALUES],
            used: 0,
            count: 0,
            overflow: false,
        }
    }

    fn push(&mut self, v: &[u8]) {
        if !self.overflow && self.count < SORT_VALUES && SORT_BYTES - self.used >= v.len() {
            self.bytes[self.used..self.used + v.len()].copy_from_slice(v);
            // Both fit in u16: SORT_BYTES < 65536.
            self.spans[self.count] = (self.used as u16, v.len() as u16);
            self.used += v.len();
        } else {
            self.overflow = true;
        }
        self.count += 1;
    }

    fn value(&self, span: (u16, u16)) -> &[u8] {
        let start = usize::from(span.0);
        &self.bytes[start..start + usize::from(span.1)]
    }

    fn sorted_chain_hash(&mut self) -> u64 {
        let mut spans = self.spans;
        let spans = &mut spans[..self.count];
        // Insertion sort: at most 16 short values.
        for i in 1..spans.len() {
            let mut j = i;
            while j > 0 && self.value(spans[j - 1]) > self.value(spans[j]) {
                spans.swap(j - 1, j);
                j -= 1;
            }
        }
        spans.iter().fold(0u64, |acc, &s| xxh64(self.value(s), acc))
    }
}

/// The sorted seed-chain hash for more values than fit on the stack, with no
/// allocation: values are ranked by (bytes, position) with nested passes over
/// the header map, a window of [`WINDOW`] ranks at a time, then hashed in rank
/// order. Quadratic in the number of values, which the proxy bounds (Envoy's
/// default `max_headers_count` is 100); only hostile requests get here.
fn windowed_chain_hash(headers: &dyn Headers, name: &str, n: usize) -> u64 {
    const WINDOW: usize = 64;
    let mut acc = 0u64;
    let mut base = 0usize;
    while base < n {
        // position_of[r - base] = header-map position of the value ranked r.
        let mut position_of = [usize::MAX; WINDOW];
        let mut i = 0usize;
        headers.for_each(name, &mut |vi| {
            let mut rank = 0usize;
            let mut j = 0usize;
            headers.for_each(name, &mut |vj| {
                if vj < vi || (vj == vi && j < i) {
                    rank += 1;
                }
                j += 1;
            });
            if rank >= base && rank < base + WINDOW {
                position_of[rank - base] = i;
            }
            i += 1;
        });
        for &pos in position_of.iter().take(n.saturating_sub(base).min(WINDOW)) {
            let mut k = 0usize;
            headers.for_each(name, &mut |v| {
                if k == pos {
                    acc = xxh64(v.as_bytes(), acc);
                }
                k += 1;
            });
        }
        base += WINDOW;
    }
    acc
}

// ---------------------------------------------------------------------------
// Cookies and query strings

/// The value of the first cookie called `name` across all `cookie` headers,
/// surrounding double quotes removed. Matches Envoy `utility.cc`
/// (`forEachCookie`/`parseCookieValue`): entries split on `;`, tokens
/// without `=` skipped, the key runs from the first non-space character to
/// the first `=` (case-sensitive, not right-trimmed), the value is the rest.
///
/// The header callback's borrow ends with the callback, so the value's hash
/// is taken inside it: the scan copies nothing.
fn find_cookie(headers: &dyn Headers, name: &str) -> Option<CookieValue> {
    let mut found: Option<CookieValue> = None;
    headers.for_each("cookie", &mut |line| {
        if found.is_some() {
            return;
        }
        for token in line.split(';') {
            if let Some(v) = cookie_value(token, name) {
                found = Some(CookieValue::of(v));
                return;
            }
        }
    });
    found
}

/// The value of `token` if it is the cookie `name`.
fn cookie_value<'a>(token: &'a str, name: &str) -> Option<&'a str> {
    let eq = token.find('=')?;
    // The first non-space is at or before `=`, which is not a space.
    let start = token.bytes().position(|b| b != b' ').unwrap_or(eq);
    if &token[start..eq] != name {
        return None;
    }
    let v = &token[eq + 1..];
    let b = v.as_bytes();
    if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' {
        Some(&v[1..v.len() - 1])
    } else {
        Some(v)
    }
}

/// A cookie value found inside a header callback: its hash (computed while
/// the borrow lasts) and whether it was empty.
#[derive(Debug, Clone, Copy)]
struct CookieValue {
    hash: u64,
    empty: bool,
}

impl CookieValue {
    fn of(v: &str) -> Self {
        CookieValue {
            hash: xxh64(v.as_bytes(), 0),
            empty: v.is_empty(),
        }
    }

    fn is_empty(&self) -> bool {
        self.empty
    }
}

/// The first value of query parameter `name` in `path`, undecoded. Matches
/// Envoy `utility.cc` (`QueryParamsMulti::parseQueryString` + `getFirstValue`):
/// everything after the first `?` split on `&`, each piece at its first `=`,
/// a piece without `=` having value `""`. The fragment is not special (Envoy
/// rejects paths with one before routing).
fn find_query_parameter<'a>(path: &'a str, name: &str) -> Option<&'a str> {
    let query = &path[find_byte(path, b'?')? + 1..];
    for piece in query.split('&') {
        let (k, v) = match piece.find('=') {
            Some(eq) => (&piece[..eq], &piece[eq + 1..]),
            None => (piece, ""),
        };
        if k == name {
            // Envoy's parser stops at the end of the string, so a trailing
            // `&` yields no empty parameter; only an empty `name` could
            // tell, and Istio rejects those.
            return Some(v);
        }
    }
    None
}

// ---------------------------------------------------------------------------
// Address formatting on the stack

/// A fixed-capacity `fmt::Write` target on the stack; writes past capacity fail.
#[derive(Debug)]
pub struct StackBuf<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> StackBuf<N> {
    /// An empty buffer.
    pub fn new() -> Self {
        StackBuf {
            buf: [0; N],
            len: 0,
        }
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// The text written so far (only `&str`s are ever written).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl<const N: usize> Default for StackBuf<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> fmt::Write for StackBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        if end > N {
            return Err(fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// `ip:port`, IPv6 as `[ip]:port`, like Envoy's `Address::Instance::asString()`.
pub fn write_socket_addr(out: &mut dyn fmt::Write, addr: SocketAddr) -> fmt::Result {
    match addr {
        SocketAddr::V4(a) => write!(out, "{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => {
            out.write_char('[')?;
            write_ipv6(out, a.ip())?;
            write!(out, "]:{}", a.port())
        }
    }
}

/// The IP as Envoy's `addressAsString()` writes it (no port, no brackets).
pub fn write_ip(out: &mut dyn fmt::Write, ip: IpAddr) -> fmt::Result {
    match ip {
        IpAddr::V4(a) => write!(out, "{a}"),
        IpAddr::V6(a) => write_ipv6(out, &a),
    }
}

/// IPv6 text exactly as glibc's `inet_ntop`, which Envoy's
/// `Ipv6Instance::makeFriendlyAddress` calls: the longest run (first on ties)
/// of two or more zero groups becomes `::`, groups are lower-case hex without
/// leading zeros, and IPv4-mapped (`::ffff:a.b.c.d`) and IPv4-compatible
/// (`::a.b.c.d`, both last groups non-zero) addresses end in a dotted quad.
/// Rust's `Display` differs on the IPv4-compatible form.
fn write_ipv6(out: &mut dyn fmt::Write, ip: &Ipv6Addr) -> fmt::Result {
    let w = ip.segments();
    // Longest run of zero groups.
    let (mut best_base, mut best_len) = (usize::MAX, 0usize);
    let mut i = 0;
    while i < 8 {
        if w[i] == 0 {
            let start = i;
            while i < 8 && w[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best_base = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    if best_len < 2 {
        best_base = usize::MAX;
    }
    let mut i = 0;
    while i < 8 {
        if i == best_base {
            out.write_char(':')?;
            i += best_len;
            continue;
        }
        if i != 0 {
            out.write_char(':')?;
        }
        let embedded_v4 =
            i == 6 && best_base == 0 && (best_len == 6 || (best_len == 5 && w[5] == 0xffff));
        if embedded_v4 {
            return write!(
                out,
                "{}.{}.{}.{}",
                w[6] >> 8,
                w[6] & 0xff,
                w[7] >> 8,
                w[7] & 0xff
            );
        }
        write!(out, "{:x}", w[i])?;
        i += 1;
    }
    if best_base != usize::MAX && best_base + best_len == 8 {
        out.write_char(':')?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{HeaderList, Source};
    use std::fmt::Write as _;

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
    fn xxh64_matches_envoy_hash_test() {
        // Envoy test/common/common/hash_test.cc (spec §5).
        let cases: &[(&str, u64)] = &[
            ("foo", 3728699739546630719),
            ("bar", 5234164152756840025),
            ("foo\nbar", 8917841378505826757),
            ("lyft", 4400747396090729504),
            ("", 17241709254077376921),
        ];
        for &(input, want) in cases {
            assert_eq!(xxh64(input.as_bytes(), 0), want, "{input:?}");
        }
    }

    #[test]
    fn xxh64_chain_matches_envoy_hash_test() {
        // hash_test.cc: xxHash64({"foo","bar"}), in the order given, is not
        // the hash of the concatenation.
        let cases: &[(&[&str], u64)] = &[
            (&["foo", "bar"], 17745830980996999794),
            (&["foobar"], 11721187498075204345),
            (&["a", "b"], 8564053812407216358),
            (&["foo"], 3728699739546630719),
            (&[], 0),
        ];
        for &(values, want) in cases {
            assert_eq!(
                xxh64_chain(values.iter().map(|v| v.as_bytes()), 0),
                want,
                "{values:?}"
            );
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
    fn query_parameter_parsing() {
        // (path, expected value hashed, or None)
        let cases: &[(&str, Option<&str>)] = &[
            ("/p?user=alice", Some("alice")),
            ("/p?a=1&user=alice&b=2", Some("alice")),
            ("/p?user=alice&user=bob", Some("alice")),
            ("/p?user=", Some("")),
            ("/p?user", Some("")),
            ("/p?x=1&user", Some("")),
            ("/p?user=a%20b", Some("a%20b")),
            ("/p?user=a+b", Some("a+b")),
            ("/p?user=a=b", Some("a=b")),
            ("/p?user=x#frag", Some("x#frag")),
            ("/p?a=1?user=z", None),
            ("/p?User=alice", None),
            ("/p?users=alice", None),
            ("/p", None),
            ("/p?", None),
            ("/user=alice", None),
        ];
        for &(path, want) in cases {
            let headers = HeaderList(&[]);
            let policy = HashPolicy::QueryParameter {
                name: "user".into(),
            };
            let want = match want {
                Some(v) => RequestHash::Hash(xxh64(v.as_bytes(), 0)),
                None => RequestHash::Missing,
            };
            assert_eq!(
                policy.hash_request(&request(&headers, path)),
                want,
                "{path}"
            );
        }
        // Spec §1.2: an empty value still hashes.
        assert_eq!(
            find_query_parameter("/?q=", "q").map(|v| xxh64(v.as_bytes(), 0)),
            Some(17241709254077376921)
        );
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
    fn socket_addresses_format_like_envoy() {
        let cases: &[(&str, &str)] = &[
            ("10.0.0.99:54321", "10.0.0.99:54321"),
            ("[2001:db8::1]:8080", "[2001:db8::1]:8080"),
            ("[::ffff:127.0.0.1]:1", "[::ffff:127.0.0.1]:1"),
        ];
        for &(addr, want) in cases {
            let mut out = StackBuf::<64>::new();
            write_socket_addr(&mut out, addr.parse().unwrap()).unwrap();
            assert_eq!(out.as_str(), want);
        }
        let mut tiny = StackBuf::<4>::new();
        assert!(tiny.write_str("hello").is_err());
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
