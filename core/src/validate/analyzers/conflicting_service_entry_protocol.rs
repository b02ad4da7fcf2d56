//! IST0177 ConflictingServiceEntryProtocol: ServiceEntries visible in one
//! namespace that give the same host and port different protocols. Istio's
//! `serviceentry/conflictingserviceentries.go`: entries are keyed by export
//! scope (`*` for everywhere, else each namespace, `.` being the entry's
//! own), host as written and port number; a namespace key also sees the `*`
//! entries; each ServiceEntry is reported once.

use super::Analysis;
use crate::config::model::ServiceEntrySpec;
use crate::config::{Kind, Resource};
use crate::diagnostic::{Diagnostic, Severity};
use hashbrown::HashSet;
use std::collections::{BTreeMap, BTreeSet};

/// `(scope, host, port)`.
type Key<'a> = (&'a str, &'a str, u32);

pub(super) fn analyze(a: &Analysis<'_>, out: &mut Vec<Diagnostic>) {
    let mut index: BTreeMap<Key<'_>, Vec<(String, &Resource<ServiceEntrySpec>)>> = BTreeMap::new();
    for se in &a.config.service_entries {
        for scope in scopes(se) {
            for host in &se.spec.hosts {
                for port in &se.spec.ports {
                    index
                        .entry((scope, host, port.number))
                        .or_default()
                        .push((port.protocol.to_ascii_uppercase(), se));
                }
            }
        }
    }
    let mut reported: HashSet<(&str, &str)> = HashSet::new();
    for (&(scope, host, port), entries) in &index {
        let everywhere = if scope == "*" {
            None
        } else {
            index.get(&("*", host, port))
        };
        let all: Vec<&(String, &Resource<ServiceEntrySpec>)> = entries
            .iter()
            .chain(everywhere.into_iter().flatten())
            .collect();
        let protocols: BTreeSet<&str> = all.iter().map(|(p, _)| p.as_str()).collect();
        if protocols.len() < 2 {
            continue;
        }
        let names: BTreeSet<String> = all
            .iter()
            .map(|(_, se)| format!("{}/{}", se.namespace, se.name))
            .collect();
        let message = format!(
            "Multiple ServiceEntries ({}) define the same host {host:?} and port {port} with \
             conflicting protocols ({}).",
            names.into_iter().collect::<Vec<_>>().join(", "),
            protocols.into_iter().collect::<Vec<_>>().join(", ")
        );
        for (_, se) in all {
            if reported.insert((&se.namespace, &se.name)) {
                out.push(Diagnostic::new(
                    "IST0177",
                    Severity::Warning,
                    se.reference(Kind::ServiceEntry),
                    "metadata.name",
                    message.clone(),
                ));
            }
        }
    }
}

/// Where an entry is visible: `*`, or the namespaces of its `exportTo`.
fn scopes(se: &Resource<ServiceEntrySpec>) -> BTreeSet<&str> {
    let export_to = &se.spec.export_to;
    if export_to.is_empty() || export_to.iter().any(|e| e == "*") {
        return BTreeSet::from(["*"]);
    }
    export_to
        .iter()
        .map(|e| {
            if e == "." {
                se.namespace.as_str()
            } else {
                e.as_str()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::run;

    fn se(name: &str, ns: &str, protocol: &str, export_to: &str) -> String {
        format!(
            "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: {name}\n  namespace: {ns}\nspec:\n  hosts: [api.example.com]\n  addresses: [10.1.0.1]\n{export_to}  location: MESH_EXTERNAL\n  resolution: NONE\n  ports:\n  - number: 443\n    name: p\n    protocol: {protocol}\n"
        )
    }

    #[test]
    fn conflicting_protocols_by_scope() {
        let cases = [
            (
                vec![se("a", "x", "TLS", ""), se("b", "y", "HTTPS", "")],
                vec!["ServiceEntry x/a", "ServiceEntry y/b"],
            ),
            (
                vec![se("a", "x", "TLS", ""), se("b", "y", "tls", "")],
                vec![],
            ),
            // Exported to different namespaces: never visible together.
            (
                vec![
                    se("a", "x", "TLS", "  exportTo: [.]\n"),
                    se("b", "y", "HTTPS", "  exportTo: [.]\n"),
                ],
                vec![],
            ),
            // A namespace-scoped entry conflicts with one exported everywhere.
            (
                vec![
                    se("a", "x", "TLS", "  exportTo: [.]\n"),
                    se("b", "y", "HTTPS", "  exportTo: ['*']\n"),
                ],
                vec!["ServiceEntry x/a", "ServiceEntry y/b"],
            ),
            (
                vec![
                    se("a", "x", "TLS", "  exportTo: [x]\n"),
                    se("b", "y", "HTTPS", "  exportTo: [x]\n"),
                ],
                vec!["ServiceEntry x/a", "ServiceEntry y/b"],
            ),
        ];
        for (docs, want) in cases {
            let yaml = docs.concat();
            let got = run(&yaml, "IST0177");
            let resources: Vec<&str> = got.iter().map(|(r, _, _)| r.as_str()).collect();
            assert_eq!(resources, want, "{yaml}");
        }
        let got = run(
            &[se("a", "x", "TLS", ""), se("b", "y", "HTTPS", "")].concat(),
            "IST0177",
        );
        assert_eq!(
            got[0].2,
            "Multiple ServiceEntries (x/a, y/b) define the same host \"api.example.com\" and port 443 \
             with conflicting protocols (HTTPS, TLS)."
        );
    }
}
