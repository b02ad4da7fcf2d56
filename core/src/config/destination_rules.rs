//! Which DestinationRules apply to a host: one answer, shared by validation
//! and compilation, in time independent of how many rules there are.
//!
//! Istio picks the rules of the most specific host match (an exact host
//! before any wildcard, a longer wildcard before a shorter one, `*` last);
//! several rules for that same host merge, oldest first (istiod's
//! `mostSpecificHostMatch` in pilot/pkg/model/push_context.go).

use super::model::DestinationRuleSpec;
use super::names::{expand_host, host_matches};
use super::Resource;
use std::collections::HashMap;

type Rule = Resource<DestinationRuleSpec>;

/// The DestinationRules of a config, indexed by their expanded host.
#[derive(Debug, Default)]
pub struct DestinationRuleIndex<'c> {
    /// Concrete hosts → their rules, oldest first.
    exact: HashMap<String, Vec<&'c Rule>>,
    /// Wildcard hosts (`*.suffix`, `*`) and their rules, oldest first; the
    /// longest host first, so the first that matches is the most specific.
    wildcards: Vec<(String, Vec<&'c Rule>)>,
}

impl<'c> DestinationRuleIndex<'c> {
    /// Indexes `rules` (each host expanded in its rule's namespace).
    pub fn new(rules: &'c [Rule]) -> Self {
        let mut exact: HashMap<String, Vec<&'c Rule>> = HashMap::with_capacity(rules.len());
        let mut wildcards: HashMap<String, Vec<&'c Rule>> = HashMap::new();
        for dr in rules {
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
        DestinationRuleIndex { exact, wildcards }
    }

    /// The rules that apply to `host` (an FQDN, or a ServiceEntry's wildcard
    /// host), oldest first; empty when none does.
    pub fn for_host(&self, host: &str) -> &[&'c Rule] {
        if let Some(list) = self.exact.get(host) {
            return list;
        }
        self.wildcards
            .iter()
            .find(|(pattern, _)| host_matches(pattern, host))
            .map_or(&[], |(_, list)| list)
    }

    /// True when some rule that applies to `host` defines `subset`.
    pub fn defines_subset(&self, host: &str, subset: &str) -> bool {
        self.for_host(host)
            .iter()
            .any(|dr| dr.spec.subsets.iter().any(|s| s.name == subset))
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
