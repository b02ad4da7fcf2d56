//! Host selection: which virtual host a request's host lands on, in Envoy's
//! domain order (exact, then the longest wildcard suffix, then `*`), and the
//! short names a sidecar also accepts for a service. Allocation-free.

use super::MAX_HOST;

/// The domains of one listener, indexed for lookup by a lower-case host
/// without port. Answers are positions in the listener's virtual hosts.
#[derive(Debug, Default)]
pub struct HostIndex {
    exact: hashbrown::HashMap<Box<str>, u32>,
    /// `(suffix after '*', position)`, longest suffix first.
    wildcards: Box<[(Box<str>, u32)]>,
    star: Option<u32>,
}

impl HostIndex {
    /// Indexes `domains` by position; the first of equal domains wins.
    pub fn build<'a>(domains: impl IntoIterator<Item = &'a str>) -> HostIndex {
        let mut exact = hashbrown::HashMap::new();
        let mut wildcards = Vec::new();
        let mut star = None;
        for (i, domain) in domains.into_iter().enumerate() {
            let i = i as u32;
            if domain == "*" {
                star.get_or_insert(i);
            } else if let Some(suffix) = domain.strip_prefix('*') {
                wildcards.push((Box::<str>::from(suffix), i));
            } else {
                exact.entry(Box::<str>::from(domain)).or_insert(i);
            }
        }
        // Stable: among equal lengths the first listed stays first.
        wildcards.sort_by_key(|w| std::cmp::Reverse(w.0.len()));
        HostIndex {
            exact,
            wildcards: wildcards.into(),
            star,
        }
    }

    /// The domain for a lower-case host without port: exact, then the
    /// longest wildcard suffix, then `*`.
    pub fn find(&self, host: &str) -> Option<u32> {
        self.exact.get(host).copied().or_else(|| {
            self.wildcards
                .iter()
                .find(|(suffix, _)| host.len() > suffix.len() && host.ends_with(&**suffix))
                .map(|&(_, i)| i)
                .or(self.star)
        })
    }

    /// Like [`HostIndex::find`], also trying the names a sidecar accepts for
    /// a service: `name` (in the client's namespace), `name.ns`, `name.ns.svc`.
    pub fn find_mesh(&self, host: &str, client_namespace: &str) -> Option<u32> {
        if let Some(&i) = self.exact.get(host) {
            return Some(i);
        }
        let mut buf = [0u8; MAX_HOST];
        let dots = host.bytes().filter(|&b| b == b'.').count();
        let ns = if client_namespace.is_empty() {
            "default"
        } else {
            client_namespace
        };
        let expanded = match dots {
            0 => join(&mut buf, &[host, ".", ns, ".svc.cluster.local"]),
            1 => join(&mut buf, &[host, ".svc.cluster.local"]),
            2 if host.ends_with(".svc") => join(&mut buf, &[host, ".cluster.local"]),
            _ => None,
        };
        if let Some(&i) = expanded.and_then(|e| self.exact.get(e)) {
            return Some(i);
        }
        self.find(host)
    }
}

/// Concatenates `parts` into `buf` without allocating.
fn join<'b>(buf: &'b mut [u8], parts: &[&str]) -> Option<&'b str> {
    let mut len = 0;
    for p in parts {
        let end = len + p.len();
        if end > buf.len() {
            return None;
        }
        buf[len..end].copy_from_slice(p.as_bytes());
        len = end;
    }
    std::str::from_utf8(&buf[..len]).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Envoy's order and a sidecar's short names, one row per lookup.
    #[test]
    fn finds_domains_in_envoy_order() {
        let index = HostIndex::build([
            "a.example.com",
            "*.example.com",
            "*.b.example.com",
            "*",
            "reviews.shop.svc.cluster.local",
        ]);
        let cases: &[(&str, &str, Option<u32>)] = &[
            ("a.example.com", "", Some(0)),
            ("x.example.com", "", Some(1)),
            ("x.b.example.com", "", Some(2)),
            ("example.com", "", Some(3)),
            ("other.org", "", Some(3)),
            ("reviews", "shop", Some(4)),
            ("reviews.shop", "", Some(4)),
            ("reviews.shop.svc", "", Some(4)),
            ("reviews", "default", Some(3)),
        ];
        for &(host, ns, want) in cases {
            assert_eq!(index.find_mesh(host, ns), want, "{host} from {ns:?}");
        }
        assert_eq!(index.find("reviews"), Some(3));
        assert_eq!(HostIndex::build(["a"]).find("b"), None);
    }
}
