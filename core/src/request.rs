//! The borrowed view of a request (or a TCP/TLS connection) that Weir decides on.
//!
//! Everything here borrows from the caller: a proxy builds a `Request` from the
//! buffers it already has, so deciding costs no copy and no allocation.

use std::net::SocketAddr;

/// Read access to a request's headers.
///
/// Names passed in are lower-case; implementations compare names
/// ASCII-case-insensitively so callers can hand over headers as received.
pub trait Headers {
    /// The first value of header `name`, if present.
    fn get(&self, name: &str) -> Option<&str>;
    /// Calls `f` with every value of header `name`, in header-map order.
    fn for_each(&self, name: &str, f: &mut dyn FnMut(&str));
}

/// Headers as a borrowed list of `(name, value)` pairs, the form proxies,
/// the C ABI and the wasm filter all have at hand.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeaderList<'a>(pub &'a [(&'a str, &'a str)]);

impl Headers for HeaderList<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, v)| v)
    }

    fn for_each(&self, name: &str, f: &mut dyn FnMut(&str)) {
        for &(n, v) in self.0 {
            if n.eq_ignore_ascii_case(name) {
                f(v);
            }
        }
    }
}

/// No headers at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHeaders;

impl Headers for NoHeaders {
    fn get(&self, _name: &str) -> Option<&str> {
        None
    }
    fn for_each(&self, _name: &str, _f: &mut dyn FnMut(&str)) {}
}

/// Where the proxy deciding sits: a sidecar (Istio's `mesh`) or a named
/// gateway (`namespace/name`), and the workload it serves.
///
/// The same for every request a listener sees, so a proxy makes it once and
/// each request borrows it (deciding copies none of it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Source<'a> {
    /// `None` for a sidecar (`mesh`); `Some("ns/name")` for a gateway listener.
    pub gateway: Option<&'a str>,
    /// The address the listener accepts on (for generated hash cookies).
    pub local: Option<SocketAddr>,
    /// The client workload's namespace (`sourceNamespace` matches).
    pub namespace: &'a str,
    /// The client workload's labels (`sourceLabels` matches).
    pub labels: &'a [(&'a str, &'a str)],
}

impl Source<'_> {
    /// A sidecar (`mesh`) with no namespace, labels or address.
    pub const MESH: Source<'static> = Source {
        gateway: None,
        local: None,
        namespace: "",
        labels: &[],
    };
}

/// One HTTP request, borrowed.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// `:authority` / `Host`, as sent (port included if the client sent one).
    pub authority: &'a str,
    /// `:method`.
    pub method: &'a str,
    /// `:path`, with the query string.
    pub path: &'a str,
    /// `:scheme` (`http` or `https`).
    pub scheme: &'a str,
    /// The listener (service) port the request arrived on; 0 when unknown,
    /// in which case the port in `authority`, if any, stands in.
    pub port: u16,
    /// The client's address (TCP peer, or the trusted client address).
    pub remote: Option<SocketAddr>,
    /// The proxy and client context, borrowed: made once per listener.
    pub source: &'a Source<'a>,
    /// The request headers.
    pub headers: &'a dyn Headers,
}

impl std::fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("authority", &self.authority)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("scheme", &self.scheme)
            .field("port", &self.port)
            .field("remote", &self.remote)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<'a> Request<'a> {
    /// A GET with no headers, for tests and tools.
    pub fn get(authority: &'a str, path: &'a str) -> Self {
        Request {
            authority,
            method: "GET",
            path,
            scheme: "http",
            port: 0,
            remote: None,
            source: &Source::MESH,
            headers: &NoHeaders,
        }
    }

    /// The path without its query string.
    pub fn path_only(&self) -> &'a str {
        match find_byte(self.path, b'?') {
            Some(i) => &self.path[..i],
            None => self.path,
        }
    }

    /// The query string after `?`, without the fragment, or `""`.
    pub fn query(&self) -> &'a str {
        match find_byte(self.path, b'?') {
            Some(i) => {
                let q = &self.path[i + 1..];
                match find_byte(q, b'#') {
                    Some(j) => &q[..j],
                    None => q,
                }
            }
            None => "",
        }
    }

    /// The authority without a port (`reviews:9080` → `reviews`; IPv6 brackets kept).
    pub fn host_without_port(&self) -> &'a str {
        split_host_port(self.authority).0
    }

    /// The port deciding uses: the listener port, else the port in the authority.
    pub fn effective_port(&self) -> u16 {
        if self.port != 0 {
            return self.port;
        }
        split_host_port(self.authority).1.unwrap_or(0)
    }
}

/// The first position of the ASCII byte `b` in `s` (a char boundary).
///
/// A plain byte loop: request lines are short, and `str::find(char)` pays
/// for a char searcher and a `memchr` call on every use (perf on the
/// decide path).
#[inline]
pub(crate) fn find_byte(s: &str, b: u8) -> Option<usize> {
    s.bytes().position(|c| c == b)
}

/// Splits `host[:port]` (and `[v6]:port`).
pub fn split_host_port(authority: &str) -> (&str, Option<u16>) {
    if authority.starts_with('[') {
        if let Some(end) = authority.find(']') {
            let host = &authority[..=end];
            let port = authority[end + 1..]
                .strip_prefix(':')
                .and_then(|p| p.parse().ok());
            return (host, port);
        }
        return (authority, None);
    }
    // The port is the digits (with the `+` `u16::from_str` allows) after the
    // last ':'. Scanning back over them finds that ':' without reading the
    // host; most authorities have no port and stop at their last byte.
    let b = authority.as_bytes();
    let mut i = b.len();
    while i > 0 && b[i - 1].is_ascii_digit() {
        i -= 1;
    }
    if i > 0 && b[i - 1] == b'+' {
        i -= 1;
    }
    if i == 0 || b[i - 1] != b':' {
        return (authority, None);
    }
    let colon = i - 1;
    if find_byte(&authority[..colon], b':').is_some() {
        return (authority, None);
    }
    match authority[colon + 1..].parse() {
        Ok(p) => (&authority[..colon], Some(p)),
        Err(_) => (authority, None),
    }
}

/// One TCP or TLS connection, borrowed: what L4 routes (`tcp[]`, `tls[]`) match on.
#[derive(Debug, Clone, Copy)]
pub struct Connection<'a> {
    /// The original destination address (what the client dialled).
    pub destination: Option<SocketAddr>,
    /// The listener port (0: the destination's port).
    pub port: u16,
    /// The TLS SNI, for `tls[]` routes.
    pub sni: Option<&'a str>,
    /// The service host the client connected to, when the proxy knows it
    /// (a sidecar's outbound listener); `None` skips the VirtualService host check.
    pub host: Option<&'a str>,
    /// The client's address (TCP peer).
    pub remote: Option<SocketAddr>,
    /// The proxy and client context, borrowed: made once per listener.
    pub source: &'a Source<'a>,
}

impl Default for Connection<'_> {
    /// A sidecar's connection with nothing known about it.
    fn default() -> Self {
        Connection {
            destination: None,
            port: 0,
            sni: None,
            host: None,
            remote: None,
            source: &Source::MESH,
        }
    }
}

impl Connection<'_> {
    /// The port deciding uses: the listener port, else the destination's.
    pub fn effective_port(&self) -> u16 {
        if self.port != 0 {
            self.port
        } else {
            self.destination.map(|d| d.port()).unwrap_or(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_split() {
        let cases = [
            ("reviews:9080", ("reviews", Some(9080))),
            ("reviews", ("reviews", None)),
            ("[::1]:80", ("[::1]", Some(80))),
            ("[::1]", ("[::1]", None)),
            ("::1", ("::1", None)),
            ("a:b", ("a:b", None)),
        ];
        for (input, want) in cases {
            assert_eq!(split_host_port(input), want, "{input}");
        }
    }

    /// The backward scan agrees with the plain definition (the last ':',
    /// no other ':' before it, a suffix that parses as a u16) on edge cases.
    #[test]
    fn host_port_split_matches_its_definition() {
        fn by_definition(a: &str) -> (&str, Option<u16>) {
            match a.rfind(':') {
                Some(i) if a[..i].find(':').is_none() => match a[i + 1..].parse() {
                    Ok(p) => (&a[..i], Some(p)),
                    Err(_) => (a, None),
                },
                _ => (a, None),
            }
        }
        let cases = [
            "",
            ":",
            "h:",
            ":80",
            "h:80",
            "h:+80",
            "h:++80",
            "h:8+0",
            "h:+",
            "h:65535",
            "h:65536",
            "h:0000080",
            "a:b:80",
            "h:80:",
            "h80",
            "h.example.com:8080",
            "h:x80",
            "é:80",
            "h:٣",
            "h:-1",
        ];
        for a in cases {
            assert_eq!(split_host_port(a), by_definition(a), "{a:?}");
        }
    }

    #[test]
    fn path_and_query() {
        let r = Request::get("h", "/a/b?x=1&y#frag");
        assert_eq!(r.path_only(), "/a/b");
        assert_eq!(r.query(), "x=1&y");
        assert_eq!(Request::get("h", "/").query(), "");
    }

    #[test]
    fn header_list_is_case_insensitive_and_multi_valued() {
        let h = HeaderList(&[("Cookie", "a=1"), ("x", "y"), ("cookie", "b=2")]);
        assert_eq!(h.get("cookie"), Some("a=1"));
        let mut seen = Vec::new();
        h.for_each("cookie", &mut |v| seen.push(v.to_string()));
        assert_eq!(seen, ["a=1", "b=2"]);
    }
}
