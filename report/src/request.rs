//! Requests and connections as data: what the CLI builds from its
//! arguments and the JS API receives, owned, with the borrowed
//! [`Request`]/[`Connection`] view the core decides on.

use serde::Deserialize;
use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};
use weir_core::request::{Connection, HeaderList, Request, Source};

/// Headers as an object (`{"user-agent": "curl"}`) or as ordered pairs
/// (`[["x-a", "1"], ["x-a", "2"]]`, for repeated names).
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(untagged)]
pub enum HeadersInput {
    Pairs(Vec<(String, String)>),
    Map(std::collections::BTreeMap<String, String>),
}

/// The client workload and the proxy's listener.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(default, deny_unknown_fields)]
pub struct SourceInput {
    /// Decide as this gateway (`namespace/name`); absent or `mesh`: a sidecar.
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub gateway: Option<String>,
    /// The client workload's namespace (`sourceNamespace` matches).
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub namespace: Option<String>,
    /// The client workload's labels (`sourceLabels` matches).
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub labels: Option<std::collections::BTreeMap<String, String>>,
    /// The client's address, `ip` or `ip:port`.
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub ip: Option<String>,
    /// The address the listener accepts on, `ip:port` (generated hash
    /// cookies hash it); absent: unknown.
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub local: Option<String>,
}

/// An HTTP request to decide: `{method, url, headers, source}`.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(deny_unknown_fields)]
pub struct RequestInput {
    /// `GET` when absent.
    #[serde(default)]
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub method: Option<String>,
    /// `http://host[:port]/path?query` (the scheme may be left out).
    pub url: String,
    #[serde(default)]
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub headers: Option<HeadersInput>,
    /// The listener port; absent: the URL's.
    #[serde(default)]
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub port: Option<u16>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub source: Option<SourceInput>,
}

/// A TCP or TLS connection to decide.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionInput {
    /// The original destination, `ip:port`.
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub destination: Option<String>,
    /// The listener port; absent: the destination's.
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub port: Option<u16>,
    /// The TLS server name (only `tls[]` rules match one).
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub sni: Option<String>,
    /// The service host connected to, when the proxy knows it.
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub host: Option<String>,
    #[cfg_attr(feature = "ts", tsify(optional))]
    pub source: Option<SourceInput>,
}

/// `http://host:port/path?q` → (scheme, authority, path).
///
/// # Errors
/// As [`split_url`].
pub fn parse_url(url: &str) -> Result<(String, String, String), String> {
    let (scheme, authority, path) = split_url(url)?;
    Ok((
        scheme.into_owned(),
        authority.to_string(),
        path.into_owned(),
    ))
}

/// [`parse_url`] borrowing `url` where it can: the scheme is copied only
/// when it holds capitals, the path only when it starts with `?` (or is
/// empty, which reads as `/`).
///
/// # Errors
/// A URL with no host, with whitespace or control characters, or with a
/// scheme that is not letters, digits, `+`, `-` or `.`.
pub fn split_url(url: &str) -> Result<(Cow<'_, str>, &str, Cow<'_, str>), String> {
    // Byte scans: this runs on every request the JS API reads (a word-wise
    // ASCII check, then byte loops; one combined loop measured slower in wasm).
    let bad = |c: char| c.is_whitespace() || c.is_control();
    let has_bad = match unprintable_ascii(url.as_bytes()) {
        Some(found) => found,
        None => url.chars().any(bad),
    };
    if has_bad {
        return Err(format!("URL {url:?}: whitespace or control characters"));
    }
    // The first "://" (a scan for ':' then a look behind it: windows(3)
    // costs more than the decision in wasm).
    let bytes = url.as_bytes();
    let separator = bytes
        .iter()
        .enumerate()
        .filter(|&(_, &b)| b == b':')
        .map(|(i, _)| i)
        .find(|&i| bytes[i + 1..].starts_with(b"//"));
    let (scheme, rest) = match separator {
        Some(i) => (&url[..i], &url[i + 3..]),
        None => ("http", url),
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return Err(format!("URL {url:?}: {scheme:?} is not a scheme"));
    }
    let end = rest
        .bytes()
        .position(|b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.is_empty() {
        return Err(format!("URL {url:?}: no host"));
    }
    let path = match path.bytes().position(|b| b == b'#') {
        Some(i) => &path[..i],
        None => path,
    };
    let path = match path.as_bytes().first() {
        None => Cow::Borrowed("/"),
        Some(b'?') => Cow::Owned(format!("/{path}")),
        Some(_) => Cow::Borrowed(path),
    };
    let scheme = if scheme.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(scheme.to_ascii_lowercase())
    } else {
        Cow::Borrowed(scheme)
    };
    Ok((scheme, authority, path))
}

/// Whether `bytes` hold a space, an ASCII control or DEL; `None` when they
/// are not all ASCII (the caller then checks by characters). Eight bytes
/// at a time: wasm has 64-bit integers but no vector unit here, and this
/// runs on every URL the JS API reads.
fn unprintable_ascii(bytes: &[u8]) -> Option<bool> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let mut words = bytes.chunks_exact(8);
    let mut found = false;
    for chunk in &mut words {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_ne_bytes(word);
        if w & HIGH != 0 {
            return None;
        }
        // Bytes below 0x21 (`w - 0x21..` borrows into their high bit) and
        // bytes equal to 0x7f (zero after the xor): exact for ASCII bytes.
        let below = w.wrapping_sub(ONES * 0x21) & !w & HIGH;
        let del = w ^ (ONES * 0x7f);
        let del = del.wrapping_sub(ONES) & !del & HIGH;
        found |= below | del != 0;
    }
    for &b in words.remainder() {
        if b >= 0x80 {
            return None;
        }
        found |= b <= b' ' || b == 0x7f;
    }
    Some(found)
}

/// A header as a request may carry it: a name that is a token, a value
/// without CR, LF or NUL.
///
/// # Errors
/// Which of the two it is not.
pub fn check_header(name: &str, value: &str) -> Result<(), String> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("header name {name:?} is not a token"));
    }
    if value.chars().any(|c| c == '\r' || c == '\n' || c == '\0') {
        return Err(format!("header {name:?}: the value holds CR, LF or NUL"));
    }
    Ok(())
}

/// A method is a token of letters, digits, `-` and `_`.
///
/// # Errors
/// When it is not.
pub fn check_method(method: &str) -> Result<(), String> {
    if method.is_empty()
        || !method
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_".contains(c))
    {
        return Err(format!("method {method:?} is not a token"));
    }
    Ok(())
}

/// The gateway a source names: `None` (a sidecar) for absent, empty or `mesh`.
pub fn gateway_of(gateway: Option<&str>) -> Option<&str> {
    gateway.filter(|g| *g != "mesh" && !g.is_empty())
}

/// `ip` or `ip:port` (`[v6]:port` too).
///
/// # Errors
/// When `s` is neither; the message starts with `what`.
pub fn parse_address(what: &str, s: &str) -> Result<SocketAddr, String> {
    s.parse::<SocketAddr>()
        .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 0)))
        .map_err(|_| format!("{what} {s:?} is not an IP address"))
}

/// [`parse_address`] of an optional field: `None` when it is absent.
///
/// # Errors
/// As [`parse_address`].
pub fn optional_address(what: &str, text: Option<&str>) -> Result<Option<SocketAddr>, String> {
    text.map(|s| parse_address(what, s)).transpose()
}

/// The owned source a request or connection is decided with.
#[derive(Debug, Clone, Default)]
pub struct OwnedSource {
    pub gateway: Option<String>,
    pub namespace: String,
    pub labels: Vec<(String, String)>,
    pub remote: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
}

impl OwnedSource {
    /// # Errors
    /// An address that does not parse.
    pub fn new(input: &SourceInput) -> Result<Self, String> {
        Ok(OwnedSource {
            gateway: gateway_of(input.gateway.as_deref()).map(str::to_string),
            namespace: input.namespace.clone().unwrap_or_default(),
            labels: input
                .labels
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            remote: optional_address("source ip", input.ip.as_deref())?,
            local: optional_address("source local", input.local.as_deref())?,
        })
    }

    fn with<R>(&self, f: impl FnOnce(&Source<'_>) -> R) -> R {
        let labels: Vec<(&str, &str)> = self
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        f(&Source {
            gateway: self.gateway.as_deref(),
            local: self.local,
            namespace: &self.namespace,
            labels: &labels,
        })
    }
}

/// Owned request data the borrowed [`Request`] points into.
#[derive(Debug, Clone)]
pub struct OwnedRequest {
    pub method: String,
    pub scheme: String,
    pub authority: String,
    pub path: String,
    /// Lowercase names, in order.
    pub headers: Vec<(String, String)>,
    pub port: u16,
    pub source: OwnedSource,
}

impl OwnedRequest {
    /// # Errors
    /// A malformed URL or address, or a bad header name.
    pub fn new(input: &RequestInput) -> Result<Self, String> {
        let (scheme, authority, path) = parse_url(&input.url)?;
        let headers: Vec<(String, String)> = match &input.headers {
            None => Vec::new(),
            Some(HeadersInput::Pairs(p)) => p.clone(),
            Some(HeadersInput::Map(m)) => m.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        };
        let mut lowered = Vec::with_capacity(headers.len());
        for (name, value) in headers {
            check_header(&name, &value)?;
            lowered.push((name.to_ascii_lowercase(), value));
        }
        let method = input.method.clone().unwrap_or_else(|| "GET".to_string());
        check_method(&method)?;
        Ok(OwnedRequest {
            method,
            scheme,
            authority,
            path,
            headers: lowered,
            port: input.port.unwrap_or(0),
            source: OwnedSource::new(input.source.as_ref().unwrap_or(&SourceInput::default()))?,
        })
    }

    /// Runs `f` with the borrowed view the core decides on.
    pub fn with<R>(&self, f: impl FnOnce(&Request<'_>) -> R) -> R {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let list = HeaderList(&headers);
        self.source.with(|source| {
            f(&Request {
                authority: &self.authority,
                method: &self.method,
                path: &self.path,
                scheme: &self.scheme,
                port: self.port,
                remote: self.source.remote,
                source,
                headers: &list,
            })
        })
    }
}

/// Owned connection data the borrowed [`Connection`] points into.
#[derive(Debug, Clone, Default)]
pub struct OwnedConnection {
    pub destination: Option<SocketAddr>,
    pub port: u16,
    pub sni: Option<String>,
    pub host: Option<String>,
    pub source: OwnedSource,
}

impl OwnedConnection {
    /// # Errors
    /// An address that does not parse.
    pub fn new(input: &ConnectionInput) -> Result<Self, String> {
        Ok(OwnedConnection {
            destination: optional_address("destination", input.destination.as_deref())?,
            port: input.port.unwrap_or(0),
            sni: input.sni.clone().filter(|s| !s.is_empty()),
            host: input.host.clone().filter(|s| !s.is_empty()),
            source: OwnedSource::new(input.source.as_ref().unwrap_or(&SourceInput::default()))?,
        })
    }

    /// Runs `f` with the borrowed view the core decides on.
    pub fn with<R>(&self, f: impl FnOnce(&Connection<'_>) -> R) -> R {
        self.source.with(|source| {
            f(&Connection {
                destination: self.destination,
                port: self.port,
                sni: self.sni.as_deref(),
                host: self.host.as_deref(),
                remote: self.source.remote,
                source,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn urls() {
        let ok = |u: &str| parse_url(u).unwrap();
        assert_eq!(
            ok("http://a.b:8080/x?y=1"),
            ("http".into(), "a.b:8080".into(), "/x?y=1".into())
        );
        assert_eq!(ok("a.b"), ("http".into(), "a.b".into(), "/".into()));
        assert_eq!(
            ok("HTTPS://a?q"),
            ("https".into(), "a".into(), "/?q".into())
        );
        assert_eq!(
            ok("http://a/p#frag"),
            ("http".into(), "a".into(), "/p".into())
        );
        for bad in [
            "http://",
            "http:///x",
            "://a",
            "1x://a",
            "http://a b/",
            "http://a/\n",
            "",
        ] {
            assert!(parse_url(bad).is_err(), "{bad:?} accepted");
        }
        // The first "://" splits; Unicode whitespace and controls refuse.
        assert_eq!(ok("h://a://b"), ("h".into(), "a:".into(), "//b".into()));
        assert_eq!(
            ok("http://caf\u{e9}/\u{e9}"),
            ("http".into(), "caf\u{e9}".into(), "/\u{e9}".into())
        );
        for bad in ["http://a\u{a0}b/", "http://a/\u{85}", "http://a/\u{2028}"] {
            assert!(parse_url(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn unprintable_ascii_is_found_in_every_position() {
        use super::unprintable_ascii;
        for len in 0..20 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = b;
                    let want = (b < 0x80).then_some(b <= b' ' || b == 0x7f);
                    assert_eq!(unprintable_ascii(&bytes), want, "{b:#x} at {at} of {len}");
                }
            }
            assert_eq!(unprintable_ascii(&vec![b'~'; len]), Some(false));
        }
        // Two bytes in one word: a borrow from one must not hide the other.
        assert_eq!(unprintable_ascii(b"\x20\x21aaaaaa"), Some(true));
        assert_eq!(unprintable_ascii(b"\x21\x20aaaaaa"), Some(true));
        assert_eq!(unprintable_ascii(b"\x00\x7faaaaaa"), Some(true));
    }

    /// The split as it reads in words, one scan per rule.
    fn reference(url: &str) -> Option<(String, String, String)> {
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return None;
        }
        let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
        let mut chars = scheme.chars();
        let first = chars.next()?;
        if !first.is_ascii_alphabetic()
            || !chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return None;
        }
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.is_empty() {
            return None;
        }
        let path = path.split('#').next().unwrap_or("");
        let path = match path.chars().next() {
            None => "/".to_string(),
            Some('?') => format!("/{path}"),
            Some(_) => path.to_string(),
        };
        Some((scheme.to_ascii_lowercase(), authority.to_string(), path))
    }

    #[test]
    fn urls_split_as_the_rules_read() {
        let alphabet: Vec<char> = "hH:/?#a1.+- \u{e9}\u{a0}\u{7f}\u{85}\tx".chars().collect();
        // A fixed-seed xorshift: the same strings every run.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..20_000 {
            let mut url = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for k in 0..(state % 12) {
                let pick = (state >> (4 * k + 8)) as usize % alphabet.len();
                url.push(alphabet[pick]);
            }
            assert_eq!(parse_url(&url).ok(), reference(&url), "{url:?}");
        }
    }
}
