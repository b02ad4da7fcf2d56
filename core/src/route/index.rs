//! A first-match index over one virtual host's routes.
//!
//! Istio keeps routes in written order and the first match wins, so an index
//! may only skip routes that cannot match; it must never reorder. The index
//! splits the routes into candidate lists by their uri condition — exact
//! paths (hash lookup), literal prefixes (one hash lookup per distinct prefix
//! length), and the rest (always candidates) — each list sorted by route
//! position. The answer is the smallest position that fully matches, found by
//! scanning each list only up to the best position seen so far.

use super::{RouteMatch, StringMatcher};
use hashbrown::HashMap;

/// Below this many routes a plain scan is as fast as the index.
const SCAN_BELOW: usize = 8;

/// Candidate lists for first-match lookup.
#[derive(Debug, Clone, Default)]
pub struct RouteIndex {
    scan: bool,
    always: Box<[u32]>,
    exact: HashMap<Box<str>, Box<[u32]>>,
    prefix: HashMap<Box<str>, Box<[u32]>>,
    prefix_lens: Box<[usize]>,
}

impl RouteIndex {
    /// Builds the index over `matches` (route positions are their indices).
    pub fn build<'m>(matches: impl ExactSizeIterator<Item = &'m RouteMatch>) -> Self {
        let n = matches.len();
        if n < SCAN_BELOW {
            return RouteIndex {
                scan: true,
                ..Default::default()
            };
        }
        let mut always = Vec::new();
        let mut exact: HashMap<Box<str>, Vec<u32>> = HashMap::new();
        let mut prefix: HashMap<Box<str>, Vec<u32>> = HashMap::new();
        for (i, m) in matches.enumerate() {
            let i = i as u32;
            let key = if m.ignore_uri_case {
                None
            } else {
                m.uri.as_ref()
            };
            match key {
                Some(StringMatcher::Exact(p)) => exact.entry(p.clone()).or_default().push(i),
                Some(StringMatcher::Prefix(p)) => prefix.entry(p.clone()).or_default().push(i),
                Some(StringMatcher::Regex(r)) => match literal_prefix(r.as_str()) {
                    Some(p) => prefix.entry(p.into()).or_default().push(i),
                    None => always.push(i),
                },
                _ => always.push(i),
            }
        }
        let mut prefix_lens: Vec<usize> = prefix.keys().map(|k| k.len()).collect();
        prefix_lens.sort_unstable();
        prefix_lens.dedup();
        RouteIndex {
            scan: false,
            always: always.into(),
            exact: exact.into_iter().map(|(k, v)| (k, v.into())).collect(),
            prefix: prefix.into_iter().map(|(k, v)| (k, v.into())).collect(),
            prefix_lens: prefix_lens.into(),
        }
    }

    /// The first route position `p < n` for which `is_match(p)` holds, given
    /// the request path without its query.
    #[inline]
    pub fn first_match(
        &self,
        n: usize,
        path: &str,
        mut is_match: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        if self.scan {
            return (0..n).find(|&i| is_match(i));
        }
        let mut best = u32::MAX;
        let mut scan = |list: &[u32], best: &mut u32| {
            for &i in list {
                if i >= *best {
                    break;
                }
                if is_match(i as usize) {
                    *best = i;
                    break;
                }
            }
        };
        scan(&self.always, &mut best);
        if let Some(list) = self.exact.get(path) {
            scan(list, &mut best);
        }
        for &len in self.prefix_lens.iter() {
            if len > path.len() {
                break;
            }
            if !path.is_char_boundary(len) {
                continue;
            }
            if let Some(list) = self.prefix.get(&path[..len]) {
                scan(list, &mut best);
            }
        }
        (best != u32::MAX).then_some(best as usize)
    }
}

/// The literal text every full match of `pattern` must start with, if any.
///
/// `pattern` is the anchored form `^(?:…)$` the compiler builds. Conservative:
/// any alternation, group or flag gives no prefix; a quantifier drops the
/// character it applies to.
fn literal_prefix(anchored: &str) -> Option<String> {
    let inner = anchored.strip_prefix("^(?:")?.strip_suffix(")$")?;
    if inner.contains('|') {
        return None;
    }
    let mut out = String::new();
    for c in inner.chars() {
        match c {
            '?' | '*' | '{' => {
                out.pop();
                break;
            }
            '\\' | '.' | '+' | '(' | ')' | '[' | ']' | '}' | '^' | '$' => break,
            _ => out.push(c),
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_prefixes() {
        let cases = [
            ("^(?:/static/v[0-9]+/.*)$", Some("/static/v")),
            ("^(?:/ab?c)$", Some("/a")),
            ("^(?:/a|/b)$", None),
            ("^(?:(?i)/a)$", None),
            ("^(?:.*)$", None),
            ("^(?:/x+)$", Some("/x")),
        ];
        for (p, want) in cases {
            assert_eq!(literal_prefix(p).as_deref(), want, "{p}");
        }
    }

    fn prefix(p: &str) -> RouteMatch {
        RouteMatch {
            uri: Some(StringMatcher::Prefix(p.into())),
            ..Default::default()
        }
    }

    #[test]
    fn index_keeps_first_match_order() {
        let mut routes: Vec<RouteMatch> = (0..20).map(|i| prefix(&format!("/r{i}/"))).collect();
        routes.insert(3, prefix("/"));
        routes.push(RouteMatch {
            uri: Some(StringMatcher::Exact("/r5/x".into())),
            ..Default::default()
        });
        let index = RouteIndex::build(routes.iter());
        let path_matches = |path: &str, i: usize| {
            let r = &routes[i];
            r.uri.as_ref().is_none_or(|u| u.matches(path, false))
        };
        for path in ["/r1/a", "/r5/x", "/r19/", "/zzz", "/r0/"] {
            let linear = (0..routes.len()).find(|&i| path_matches(path, i));
            let indexed = index.first_match(routes.len(), path, |i| path_matches(path, i));
            assert_eq!(indexed, linear, "{path}");
        }
    }
}
