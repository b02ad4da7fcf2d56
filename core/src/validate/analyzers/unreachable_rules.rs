//! IST0130 / IST0131: shadowed rules and redundant match blocks.

use super::Reporter;
use crate::config::model::*;
use crate::diagnostic::Severity;
use std::collections::HashMap;

/// IST0130 / IST0131: rules and match blocks earlier rules already take.
pub(super) fn reachability(rules: &[HttpRoute], r: &mut Reporter<'_>) {
    let mut earlier = EarlierMatches::default();
    let mut catch_all_at: Option<usize> = None;
    for (i, rule) in rules.iter().enumerate() {
        if let Some(at) = catch_all_at {
            r.push(
                "IST0130",
                Severity::Warning,
                &format!("spec.http[{i}]"),
                format!(
                    "VirtualService rule #{i} not used (route without matches defined before: rule #{at} matches every request, so this rule is shadowed)"
                ),
            );
            continue;
        }
        let Some(matches) = rule.matches.as_ref().filter(|m| !m.is_empty()) else {
            if i + 1 < rules.len() {
                catch_all_at = Some(i);
            }
            continue;
        };
        let mut covered = 0;
        for (j, m) in matches.iter().enumerate() {
            if let Some((ei, ej)) = earlier.covering(m) {
                covered += 1;
                if matches.len() > 1 {
                    r.push(
                        "IST0131",
                        Severity::Info,
                        &format!("spec.http[{i}].match[{j}]"),
                        format!("VirtualService rule #{i} match #{j} is not used (duplicate/overlapping match in rule #{ei} match #{ej})"),
                    );
                }
            }
        }
        if covered == matches.len() {
            r.push(
                "IST0130",
                Severity::Warning,
                &format!("spec.http[{i}]"),
                format!("VirtualService rule #{i} not used (all matches used by prior rules)"),
            );
        }
        for (j, m) in matches.iter().enumerate() {
            if m.is_catch_all(false) && i + 1 < rules.len() {
                catch_all_at = Some(i);
            }
            earlier.add(m, (i, j));
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
    pub(super) fn add(&mut self, m: &HttpMatchRequest, at: (usize, usize)) {
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
    pub(super) fn covering(&self, m: &HttpMatchRequest) -> Option<(usize, usize)> {
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
    pub(super) fn covering(&self, uri: Option<&StringMatch>) -> Option<(usize, usize)> {
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
pub(super) fn others_key(m: &HttpMatchRequest) -> String {
    format!("{:?}", without_uri(m))
}

/// The conditions of a block other than its uri, for comparison.
pub(super) fn without_uri(m: &HttpMatchRequest) -> impl PartialEq + std::fmt::Debug + '_ {
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
    use crate::config::Loaded;

    /// Codes and fields of the reachability diagnostics for `http` rules.
    fn reachability_of(http: &str) -> Vec<(String, String)> {
        let yaml = format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: v}}\nspec:\n  hosts: [web.example.com]\n  http:\n{http}"
        );
        let loaded = Loaded::from_source("t.yaml", &yaml);
        let mut out = loaded.diagnostics.clone();
        crate::validate::validate(&loaded.config, &mut out);
        out.into_iter()
            .filter(|d| d.code == "IST0130" || d.code == "IST0131")
            .map(|d| (d.code.to_string(), d.field))
            .collect()
    }

    #[test]
    fn shadowed_rules_and_matches() {
        let route = "    route: [{destination: {host: web.example.com}}]\n";
        let cases: &[(&str, &[(&str, &str)])] = &[
            // A longer prefix after a shorter one is shadowed.
            ("  - match: [{uri: {prefix: /a}}]\nR  - match: [{uri: {prefix: /ab}}]\nR", &[("IST0130", "spec.http[1]")]),
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
                &[("IST0130", "spec.http[1]")],
            ),
            // Identical regex.
            ("  - match: [{uri: {regex: /r.*}}]\nR  - match: [{uri: {regex: /r.*}}]\nR", &[("IST0130", "spec.http[1]")]),
            // A rule without match before others shadows them.
            ("  - route: [{destination: {host: web.example.com}}]\n  - match: [{uri: {prefix: /z}}]\nR", &[("IST0130", "spec.http[1]")]),
            // ignoreUriCase differs: not covered.
            ("  - match: [{uri: {prefix: /a}, ignoreUriCase: true}]\nR  - match: [{uri: {prefix: /a/b}}]\nR", &[]),
        ];
        for (http, want) in cases {
            let got = reachability_of(&http.replace('R', route));
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(c, f)| (c.to_string(), f.to_string()))
                .collect();
            assert_eq!(got, want, "{http}");
        }
    }
}
