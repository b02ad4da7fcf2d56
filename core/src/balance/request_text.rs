//! Cookie and query-string values found in place, as Envoy's
//! `source/common/http/utility.cc` parses them, for the hash policies.

use crate::balance::xxh64::xxh64;
use crate::request::{find_byte, Headers};

/// The value of the first cookie called `name` across all `cookie` headers,
/// surrounding double quotes removed. Matches Envoy `utility.cc`
/// (`forEachCookie`/`parseCookieValue`): entries split on `;`, tokens
/// without `=` skipped, the key runs from the first non-space character to
/// the first `=` (case-sensitive, not right-trimmed), the value is the rest.
///
/// The header callback's borrow ends with the callback, so the value's hash
/// is taken inside it: the scan copies nothing.
pub(crate) fn find_cookie(headers: &dyn Headers, name: &str) -> Option<CookieValue> {
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
pub(crate) struct CookieValue {
    pub(crate) hash: u64,
    empty: bool,
}

impl CookieValue {
    fn of(v: &str) -> Self {
        CookieValue {
            hash: xxh64(v.as_bytes(), 0),
            empty: v.is_empty(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.empty
    }
}

/// The first value of query parameter `name` in `path`, undecoded. Matches
/// Envoy `utility.cc` (`QueryParamsMulti::parseQueryString` + `getFirstValue`):
/// everything after the first `?` split on `&`, each piece at its first `=`,
/// a piece without `=` having value `""`. The fragment is not special (Envoy
/// rejects paths with one before routing).
pub(crate) fn find_query_parameter<'a>(path: &'a str, name: &str) -> Option<&'a str> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameter_parsing() {
        // (path, the value of `user`, or None)
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
            assert_eq!(find_query_parameter(path, "user"), want, "{path}");
        }
    }
}
