//! Which DestinationRules apply to a host: one answer, shared by validation
//! and compilation, in time independent of how many rules there are.
//!
//! Istio picks the rules of the most specific host match (an exact host
//! before any wildcard, a longer wildcard before a shorter one, `*` last);
//! several rules for that same host merge, oldest first (istiod's
//! `mostSpecificHostMatch` in pilot/pkg/model/push_context.go).
//!
//! Which rules a client sees depends on its namespace, in istiod's order
//! (`PushContext.destinationRule`): the rules of the client's own namespace,
//! then those the service's namespace exports to it, then those the root
//! namespace (`istio-system`) exports to it. A rule in any other namespace
//! never applies. Validation asks the mesh-wide question ([`for_host`]:
//! could any client see a rule defining this subset).
//!
//! [`for_host`]: DestinationRuleIndex::for_host

use super::delegates::{exported_everywhere, exported_to};
use super::model::DestinationRuleSpec;
use super::names::{expand_host, host_matches};
use super::Resource;
use hashbrown::HashMap;

type Rule = Resource<DestinationRuleSpec>;

/// Rules indexed by their expanded host, for most-specific matching.
#[derive(Debug, Default)]
struct HostIndex<'c> {
    /// Concrete hosts → their rules, oldest first.
    exact: HashMap<String, Vec<&'c Rule>>,
    /// Wildcard hosts (`*.suffix`, `*`) and their rules, oldest first; the
    /// longest host first, so the first that matches is the most specific.
    wildcards: Vec<(String, Vec<&'c Rule>)>,
}

impl<'c> HostIndex<'c> {
    fn new<'r>(rules: impl Iterator<Item = &'r &'c Rule>) -> Self
    where
        'c: 'r,
    {
        let mut exact: HashMap<String, Vec<&'c Rule>> = HashMap::new();
        let mut wildcards: HashMap<String, Vec<&'c Rule>> = HashMap::new();
        for &dr in rules {
            let host = expand_host(&dr.spec.host, &dr.namespace);
            let by_host = if host.starts_with('*') {
                &mut wildcards
            } else {
                &mut exact
            };
            by_host.entry(host).or_default().push(dr);
        }
        for list in exact.values_mut().chain(wildcards.values_mut()) {
            list.sort_by(|a, b| a.precedence_key().cmp(&b.precedence_key()));
        }
        let mut wildcards: Vec<_> = wildcards.into_iter().collect();
        // Longest first; equal lengths in name order, so the order is stable.
        wildcards.sort_by(|(a, _), (b, _)| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        HostIndex { exact, wildcards }
    }

    /// The rules of the most specific host match for `host`, oldest first.
    fn for_host(&self, host: &str) -> &[&'c Rule] {
        if let Some(list) = self.exact.get(host) {
            return list;
        }
        self.wildcards
            .iter()
            .find(|(pattern, _)| host_matches(pattern, host))
            .map_or(&[], |(_, list)| list)
    }

    /// Every host pattern indexed, with its rules.
    fn patterns(&self) -> impl Iterator<Item = (&str, &[&'c Rule])> {
        self.exact
            .iter()
            .map(|(h, l)| (h.as_str(), l.as_slice()))
            .chain(
                self.wildcards
                    .iter()
                    .map(|(h, l)| (h.as_str(), l.as_slice())),
            )
    }
}

/// The DestinationRules of a config, indexed mesh-wide and per namespace.
#[derive(Debug, Default)]
pub struct DestinationRuleIndex<'c> {
    /// Every rule: the mesh-wide view validation uses.
    all: HostIndex<'c>,
    /// Per namespace, the rules its clients look at first: those exported to
    /// it, `.`, or everywhere (istiod's `namespaceLocal`).
    local: HashMap<String, HostIndex<'c>>,
    /// Per namespace, the rules it exports to others: all but the
    /// private-only ones (istiod's `exportedByNamespace`).
    exported: HashMap<String, HostIndex<'c>>,
    /// The root namespace's private-only rules: what its own clients look
    /// at first (istiod's `rootNamespaceLocal`).
    root_private: HostIndex<'c>,
    root_namespace: String,
}

/// True when a rule's `exportTo` keeps it to its own namespace.
fn private_only(dr: &Rule) -> bool {
    if dr.spec.workload_selector.is_some() {
        return true;
    }
    match dr.spec.export_to.as_slice() {
        [only] => only == "." || *only == dr.namespace,
        _ => false,
    }
}

/// The rules visible to their own namespace's clients.
fn locally_visible(dr: &Rule) -> bool {
    let e = &dr.spec.export_to;
    dr.spec.workload_selector.is_some()
        || e.is_empty()
        || e.iter().any(|x| x == "*" || x == "." || *x == dr.namespace)
}

/// A rule's `exportTo` as istiod reads it (a workload-selector rule stays in
/// its namespace).
fn visible_to(dr: &Rule, namespace: &str) -> bool {
    if dr.spec.workload_selector.is_some() {
        return dr.namespace == namespace;
    }
    exported_to(&dr.spec.export_to, &dr.namespace, namespace)
}

impl<'c> DestinationRuleIndex<'c> {
    /// Indexes `rules` (each host expanded in its rule's namespace), with
    /// `istio-system` as the root namespace.
    pub fn new(rules: &'c [Rule]) -> Self {
        Self::with_root(rules, "istio-system")
    }

    /// Indexes `rules` with `root_namespace` as the mesh's root namespace.
    pub fn with_root(rules: &'c [Rule], root_namespace: &str) -> Self {
        let all: Vec<&'c Rule> = rules.iter().collect();
        let mut local: HashMap<&str, Vec<&'c Rule>> = HashMap::new();
        let mut exported: HashMap<&str, Vec<&'c Rule>> = HashMap::new();
        let mut root_private = Vec::new();
        for dr in rules {
            if locally_visible(dr) {
                local.entry(&dr.namespace).or_default().push(dr);
            }
            if !private_only(dr) {
                exported.entry(&dr.namespace).or_default().push(dr);
            } else if dr.namespace == root_namespace {
                root_private.push(dr);
            }
        }
        let by_namespace = |m: HashMap<&str, Vec<&'c Rule>>| {
            m.into_iter()
                .map(|(ns, list)| (ns.to_string(), HostIndex::new(list.iter())))
                .collect()
        };
        DestinationRuleIndex {
            all: HostIndex::new(all.iter()),
            local: by_namespace(local),
            exported: by_namespace(exported),
            root_private: HostIndex::new(root_private.iter()),
            root_namespace: root_namespace.to_string(),
        }
    }

    /// The rules that apply to `host` (an FQDN, or a ServiceEntry's wildcard
    /// host) mesh-wide, ignoring namespaces, oldest first; empty when none.
    pub fn for_host(&self, host: &str) -> &[&'c Rule] {
        self.all.for_host(host)
    }

    /// True when some rule that applies to `host` defines `subset`.
    pub fn defines_subset(&self, host: &str, subset: &str) -> bool {
        self.for_host(host)
            .iter()
            .any(|dr| dr.spec.subsets.iter().any(|s| s.name == subset))
    }

    /// The rules a client in `client` (`None`: a namespace with no rules of
    /// its own and named in no `exportTo`) sees for `host`, whose service
    /// lives in `service_namespace`: its own namespace's, else the service
    /// namespace's exported to it, else the root namespace's.
    pub fn for_client(
        &self,
        host: &str,
        client: Option<&str>,
        service_namespace: &str,
    ) -> Vec<&'c Rule> {
        if let Some(ns) = client {
            let list = if ns == self.root_namespace {
                self.root_private.for_host(host)
            } else {
                self.local
                    .get(ns)
                    .map_or(&[][..], |index| index.for_host(host))
            };
            if !list.is_empty() {
                return list.to_vec();
            }
        }
        for owner in [service_namespace, self.root_namespace.as_str()] {
            let Some(index) = self.exported.get(owner) else {
                continue;
            };
            let visible: Vec<&'c Rule> = index
                .for_host(host)
                .iter()
                .copied()
                .filter(|dr| match client {
                    Some(ns) => visible_to(dr, ns),
                    None => exported_everywhere(&dr.spec.export_to),
                })
                .collect();
            if !visible.is_empty() {
                return visible;
            }
        }
        Vec::new()
    }

    /// The namespaces whose clients may see other rules than the default
    /// answer, each with the host patterns concerned: a namespace with
    /// rules of its own, and a namespace a rule's `exportTo` names.
    pub fn scoped_namespaces(&self) -> Vec<(&str, Vec<&str>)> {
        let mut out: HashMap<&str, Vec<&str>> = HashMap::new();
        for (ns, index) in &self.local {
            out.entry(ns)
                .or_default()
                .extend(index.patterns().map(|(h, _)| h));
        }
        for (h, list) in self.all.patterns() {
            for dr in list {
                for e in &dr.spec.export_to {
                    if !matches!(e.as_str(), "*" | "." | "~") {
                        out.entry(e).or_default().push(h);
                    }
                }
            }
        }
        for (h, _) in self.root_private.patterns() {
            out.entry(&self.root_namespace).or_default().push(h);
        }
        let mut out: Vec<_> = out.into_iter().collect();
        for (_, hosts) in &mut out {
            hosts.sort_unstable();
            hosts.dedup();
        }
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Loaded;

    fn rules(yaml: &str) -> Vec<Rule> {
        let loaded = Loaded::from_source("t.yaml", yaml);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        loaded.config.destination_rules
    }

    fn dr(name: &str, ns: &str, host: &str) -> String {
        format!(
            "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
             metadata: {{name: {name}, namespace: {ns}}}\n\
             spec: {{host: \"{host}\", subsets: [{{name: {name}, labels: {{v: {name}}}}}]}}\n"
        )
    }

    /// Exact, wildcard, overlapping wildcards, `*`, short names, several
    /// rules for one host, and hosts no rule covers.
    #[test]
    fn most_specific_host_match() {
        let yaml = [
            dr("exact", "default", "a.example.com"),
            dr("wide", "default", "*.example.com"),
            dr("narrow", "default", "*.b.example.com"),
            dr("all", "default", "*"),
            dr("short", "team", "reviews"),
            dr("first", "default", "twice.example.com"),
            dr("second", "default", "twice.example.com"),
        ]
        .concat();
        let all = rules(&yaml);
        let index = DestinationRuleIndex::new(&all);
        let names = |host: &str| -> Vec<&str> {
            index
                .for_host(host)
                .iter()
                .map(|dr| dr.name.as_str())
                .collect()
        };
        let cases: &[(&str, &[&str])] = &[
            ("a.example.com", &["exact"]),
            ("c.example.com", &["wide"]),
            ("x.b.example.com", &["narrow"]),
            ("b.example.com", &["wide"]),
            ("*.b.example.com", &["narrow"]),
            ("*.example.com", &["wide"]),
            ("reviews.team.svc.cluster.local", &["short"]),
            ("reviews.default.svc.cluster.local", &["all"]),
            ("elsewhere.org", &["all"]),
            ("twice.example.com", &["first", "second"]),
        ];
        for (host, want) in cases {
            assert_eq!(names(host), *want, "rules for {host}");
        }
        assert!(index.defines_subset("c.example.com", "wide"));
        assert!(!index.defines_subset("c.example.com", "exact"));
        let none = rules(&dr("only", "default", "a.example.com"));
        let index = DestinationRuleIndex::new(&none);
        assert!(index.for_host("b.example.com").is_empty());
    }
}
