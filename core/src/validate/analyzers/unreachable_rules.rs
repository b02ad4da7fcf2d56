//! IST0130 VirtualServiceUnreachableRule and IST0131
//! VirtualServiceIneffectiveMatch: rules and match blocks that earlier
//! rules of the same VirtualService already take, for HTTP, TCP and TLS
//! routes alike. Istio finds them during validation
//! (pkg/config/validation/validation.go, `analyzeUnreachableHTTPRules`,
//! `…TCPRules`, `…TLSRules`) and `istioctl analyze` reports them through
//! its schema analyzer; the messages are its templates.
//!
//! Istio compares match blocks for equality (and HTTP prefixes that cover
//! later ones); Weir also sees a later exact or prefix uri under an earlier
//! prefix with the same other conditions, and reports a rule all of whose
//! blocks are covered as unreachable, as Istio does for duplicates.

use crate::config::model::*;
use crate::config::{Kind, Resource};
use crate::diagnostic::{Diagnostic, ResourceRef, Severity};
use hashbrown::HashMap;

/// One VirtualService's rules (the analyzer compares only rules of one).
pub(super) fn virtual_service(vs: &Resource<VirtualServiceSpec>, out: &mut Vec<Diagnostic>) {
    let mut report = Report {
        out,
        resource: vs.reference(Kind::VirtualService),
    };
    http_rules(&vs.spec.http, &mut report);
    let tcp: Vec<Vec<String>> = vs.spec.tcp.iter().map(|r| keys(&r.matches)).collect();
    l4_rules("tcp", &tcp, &mut report);
    let tls: Vec<Vec<String>> = vs.spec.tls.iter().map(|r| keys(&r.matches)).collect();
    l4_rules("tls", &tls, &mut report);
}

struct Report<'o> {
    out: &'o mut Vec<Diagnostic>,
    resource: ResourceRef,
}

impl Report<'_> {
    /// IST0130, Istio's `VirtualService rule %v not used (%s).`
    fn unused(&mut self, field: String, rule: &str, reason: &str) {
        self.out.push(Diagnostic::new(
            "IST0130",
            Severity::Warning,
            self.resource.clone(),
            &field,
            format!("VirtualService rule {rule} not used ({reason})."),
        ));
    }

    /// IST0131, Istio's `VirtualService rule %v match %v is not used
    /// (duplicate/overlapping match in rule %v).`
    fn ineffective(&mut self, field: String, rule: &str, matched: &str, earlier: &str) {
        self.out.push(Diagnostic::new(
            "IST0131",
            Severity::Info,
            self.resource.clone(),
            &field,
            format!(
                "VirtualService rule {rule} match {matched} is not used (duplicate/overlapping match in rule {earlier})."
            ),
        ));
    }
}

/// A rule as Istio names it: its quoted name, else `#index` (`routeName`).
fn rule_name(name: Option<&str>, index: usize) -> String {
    match name.filter(|n| !n.is_empty()) {
        Some(n) => format!("{n:?}"),
        None => format!("#{index}"),
    }
}

/// The reason Istio gives for a rule after one without matches.
const AFTER_CATCH_ALL: &str = "route without matches defined before";

fn http_rules(rules: &[HttpRoute], r: &mut Report<'_>) {
    let name_of = |i: usize| rule_name(rules[i].name.as_deref(), i);
    let mut earlier = EarlierMatches::default();
    let mut catch_all_at: Option<usize> = None;
    for (i, rule) in rules.iter().enumerate() {
        let field = format!("spec.http[{i}]");
        let matches = rule.matches.as_deref().unwrap_or_default();
        if let Some(at) = catch_all_at {
            let reason = if matches.is_empty() {
                "only the last rule can have no matches".to_string()
            } else {
                format!(
                    "{AFTER_CATCH_ALL}: rule {} matches every request",
                    name_of(at)
                )
            };
            r.unused(field, &name_of(i), &reason);
            continue;
        }
        if matches.is_empty() {
            catch_all_at = Some(i);
            continue;
        }
        let mut covered = 0;
        for (j, m) in matches.iter().enumerate() {
            if let Some((ei, _)) = earlier.covering(m) {
                covered += 1;
                let matched = rule_name(m.name.as_deref(), j);
                r.ineffective(
                    format!("{field}.match[{j}]"),
                    &name_of(i),
                    &matched,
                    &name_of(ei),
                );
            }
        }
        if covered == matches.len() {
            r.unused(field, &name_of(i), "all matches used by prior rules");
        }
        for (j, m) in matches.iter().enumerate() {
            if m.is_catch_all(false) {
                catch_all_at = Some(i);
            }
            earlier.add(m, (i, j));
        }
    }
}

/// Each match block as a comparable key (Istio compares their JSON).
fn keys<M: std::fmt::Debug>(matches: &[M]) -> Vec<String> {
    matches.iter().map(|m| format!("{m:?}")).collect()
}

/// TCP and TLS rules, given as their match blocks' keys: a rule after one
/// without matches, and blocks equal to an earlier rule's.
fn l4_rules(kind: &str, rules: &[Vec<String>], r: &mut Report<'_>) {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    let mut catch_all_at: Option<usize> = None;
    for (i, matches) in rules.iter().enumerate() {
        let field = format!("spec.{kind}[{i}]");
        let name = rule_name(None, i);
        if let Some(at) = catch_all_at {
            let reason = if matches.is_empty() {
                "only the last rule can have no matches".to_string()
            } else {
                format!("{AFTER_CATCH_ALL}: rule #{at} matches every connection")
            };
            r.unused(field, &name, &reason);
            continue;
        }
        if matches.is_empty() {
            catch_all_at = Some(i);
            continue;
        }
        let mut duplicates = 0;
        for (j, key) in matches.iter().enumerate() {
            match seen.get(key.as_str()) {
                Some(&earlier) => {
                    duplicates += 1;
                    r.ineffective(
                        format!("{field}.match[{j}]"),
                        &name,
                        &format!("#{j}"),
                        &format!("#{earlier}"),
                    );
                }
                None => {
                    seen.insert(key, i);
                }
            }
        }
        if duplicates == matches.len() {
            r.unused(field, &name, "all matches used by prior rules");
        }
    }
}

/// The uri conditions of earlier match blocks that share the same other
/// conditions: what a later block with those conditions is covered by.
#[derive(Default)]
struct UriCover {
    /// A block with no uri (or `.*`): covers every uri.
    all: Option<(usize, usize)>,
    exact: HashMap<String, (usize, usize)>,
    prefix: HashMap<String, (usize, usize)>,
    regex: HashMap<String, (usize, usize)>,
}

/// Earlier match blocks grouped by their non-uri conditions, so checking a
/// block costs lookups, not a comparison with every earlier block (a
/// VirtualService may carry thousands of rules).
#[derive(Default)]
struct EarlierMatches {
    groups: HashMap<(String, bool), UriCover>,
}

impl EarlierMatches {
    fn add(&mut self, m: &HttpMatchRequest, at: (usize, usize)) {
        let g = self
            .groups
            .entry((others_key(m), m.ignore_uri_case))
            .or_default();
        let keep = |slot: &mut (usize, usize)| *slot = (*slot).min(at);
        match &m.uri {
            None => keep(g.all.get_or_insert(at)),
            Some(u) if u.regex.as_deref() == Some(".*") => keep(g.all.get_or_insert(at)),
            Some(u) => {
                if let Some(x) = &u.exact {
                    keep(g.exact.entry(x.clone()).or_insert(at));
                } else if let Some(p) = &u.prefix {
                    keep(g.prefix.entry(p.clone()).or_insert(at));
                } else if let Some(re) = &u.regex {
                    keep(g.regex.entry(re.clone()).or_insert(at));
                }
            }
        }
    }

    /// The earliest block that takes every request `m` takes, if any.
    fn covering(&self, m: &HttpMatchRequest) -> Option<(usize, usize)> {
        let own = (others_key(m), m.ignore_uri_case);
        let unconditional = (others_key(&HttpMatchRequest::default()), m.ignore_uri_case);
        [own, unconditional]
            .iter()
            .filter_map(|key| self.groups.get(key))
            .filter_map(|g| g.covering(m.uri.as_ref()))
            .min()
    }
}

impl UriCover {
    fn covering(&self, uri: Option<&StringMatch>) -> Option<(usize, usize)> {
        let by_prefix = |text: &str| {
            text.char_indices()
                .map(|(i, _)| i)
                .chain([text.len()])
                .filter(|&i| i > 0)
                .filter_map(|i| self.prefix.get(&text[..i]).copied())
                .min()
        };
        let found = match uri {
            None => None,
            Some(u) => match (&u.exact, &u.prefix, &u.regex) {
                (Some(x), _, _) => [self.exact.get(x).copied(), by_prefix(x)]
                    .into_iter()
                    .flatten()
                    .min(),
                (None, Some(p), _) => by_prefix(p),
                (None, None, Some(re)) => self.regex.get(re).copied(),
                _ => None,
            },
        };
        [self.all, found].into_iter().flatten().min()
    }
}

/// The conditions of a block other than its uri, as a comparable key.
fn others_key(m: &HttpMatchRequest) -> String {
    format!("{:?}", without_uri(m))
}

/// The conditions of a block other than its uri, for comparison.
fn without_uri(m: &HttpMatchRequest) -> impl PartialEq + std::fmt::Debug + '_ {
    (
        &m.scheme,
        &m.method,
        &m.authority,
        &m.headers,
        &m.without_headers,
        &m.query_params,
        m.port,
        &m.source_labels,
        &m.source_namespace,
        &m.gateways,
    )
}

#[cfg(test)]
mod tests {
    use super::super::test_support::run;

    /// Codes and fields of IST0130/IST0131 for a VirtualService with `rules`
    /// (YAML under `spec:`).
    fn unreachable(rules: &str) -> Vec<(String, String)> {
        let yaml = format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: v}}\nspec:\n  hosts: [web.example.com]\n{rules}"
        );
        let mut got: Vec<(String, String)> = ["IST0130", "IST0131"]
            .iter()
            .flat_map(|code| {
                run(&yaml, code)
                    .into_iter()
                    .map(|(_, f, _)| (code.to_string(), f))
            })
            .collect();
        got.sort();
        got
    }

    #[test]
    fn shadowed_http_rules_and_matches() {
        let route = "    route: [{destination: {host: web.example.com}}]\n";
        let cases: &[(&str, &[(&str, &str)])] = &[
            // A longer prefix after a shorter one is shadowed.
            ("  - match: [{uri: {prefix: /a}}]\nR  - match: [{uri: {prefix: /ab}}]\nR", &[("IST0130", "spec.http[1]"), ("IST0131", "spec.http[1].match[0]")]),
            // The other way round is fine.
            ("  - match: [{uri: {prefix: /ab}}]\nR  - match: [{uri: {prefix: /a}}]\nR", &[]),
            // An exact path under an earlier prefix; one of two blocks covered.
            (
                "  - match: [{uri: {prefix: /a}}]\nR  - match: [{uri: {exact: /a/x}}, {uri: {exact: /b}}]\nR",
                &[("IST0131", "spec.http[1].match[0]")],
            ),
            // Extra conditions on the earlier block: the later one is reachable.
            ("  - match: [{uri: {prefix: /a}, headers: {x: {exact: y}}}]\nR  - match: [{uri: {prefix: /a/b}}]\nR", &[]),
            // Same extra conditions: shadowed.
            (
                "  - match: [{uri: {prefix: /a}, headers: {x: {exact: y}}}]\nR  - match: [{uri: {prefix: /a/b}, headers: {x: {exact: y}}}]\nR",
                &[("IST0130", "spec.http[1]"), ("IST0131", "spec.http[1].match[0]")],
            ),
            // Identical regex.
            ("  - match: [{uri: {regex: /r.*}}]\nR  - match: [{uri: {regex: /r.*}}]\nR", &[("IST0130", "spec.http[1]"), ("IST0131", "spec.http[1].match[0]")]),
            // A rule without match before others shadows them, the last one too.
            ("  - route: [{destination: {host: web.example.com}}]\n  - match: [{uri: {prefix: /z}}]\nR", &[("IST0130", "spec.http[1]")]),
            ("  - match: [{uri: {prefix: /z}}]\nR  - route: [{destination: {host: web.example.com}}]\n", &[]),
            ("  - route: [{destination: {host: web.example.com}}]\n  - route: [{destination: {host: web.example.com}}]\n", &[("IST0130", "spec.http[1]")]),
            // ignoreUriCase differs: not covered.
            ("  - match: [{uri: {prefix: /a}, ignoreUriCase: true}]\nR  - match: [{uri: {prefix: /a/b}}]\nR", &[]),
        ];
        for (http, want) in cases {
            let got = unreachable(&format!("  http:\n{}", http.replace('R', route)));
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(c, f)| (c.to_string(), f.to_string()))
                .collect();
            assert_eq!(got, want, "{http}");
        }
    }

    #[test]
    fn shadowed_tcp_and_tls_rules() {
        let to = "route: [{destination: {host: web.example.com}}]";
        let cases: Vec<(String, Vec<(&str, &str)>)> = vec![
            // The same port twice: the second rule is never used.
            (format!("  tcp:\n  - match: [{{port: 80}}]\n    {to}\n  - match: [{{port: 80}}]\n    {to}\n"), vec![("IST0130", "spec.tcp[1]"), ("IST0131", "spec.tcp[1].match[0]")]),
            (format!("  tcp:\n  - match: [{{port: 80}}]\n    {to}\n  - match: [{{port: 81}}]\n    {to}\n"), vec![]),
            // One of two blocks repeated: only that block.
            (format!("  tcp:\n  - match: [{{port: 80}}]\n    {to}\n  - match: [{{port: 80}}, {{port: 81}}]\n    {to}\n"), vec![("IST0131", "spec.tcp[1].match[0]")]),
            // A rule without matches takes every connection after it.
            (format!("  tcp:\n  - {to}\n  - match: [{{port: 81}}]\n    {to}\n"), vec![("IST0130", "spec.tcp[1]")]),
            (format!("  tls:\n  - match: [{{sniHosts: [web.example.com]}}]\n    {to}\n  - match: [{{sniHosts: [web.example.com]}}]\n    {to}\n"), vec![("IST0130", "spec.tls[1]"), ("IST0131", "spec.tls[1].match[0]")]),
            (format!("  tls:\n  - match: [{{sniHosts: [web.example.com], port: 443}}]\n    {to}\n  - match: [{{sniHosts: [web.example.com]}}]\n    {to}\n"), vec![]),
        ];
        for (rules, want) in cases {
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(c, f)| (c.to_string(), f.to_string()))
                .collect();
            assert_eq!(unreachable(&rules), want, "{rules}");
        }
    }

    #[test]
    fn messages_are_istios_templates() {
        let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n  hosts: [web.example.com]\n  http:\n  - name: first\n    match: [{uri: {prefix: /a}}]\n    route: [{destination: {host: web.example.com}}]\n  - match: [{name: again, uri: {prefix: /a}}]\n    route: [{destination: {host: web.example.com}}]\n";
        assert_eq!(
            run(yaml, "IST0130")[0].2,
            "VirtualService rule #1 not used (all matches used by prior rules)."
        );
        assert_eq!(
            run(yaml, "IST0131")[0].2,
            "VirtualService rule #1 match \"again\" is not used (duplicate/overlapping match in rule \"first\")."
        );
    }
}
