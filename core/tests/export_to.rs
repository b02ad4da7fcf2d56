//! `exportTo` is checked as Istio's webhook checks it: `.`, `*` or namespace
//! names; no duplicates (`.` is the resource's own namespace); `*` alone;
//! `~` (visible to nobody) only on a ServiceEntry, and alone; a
//! DestinationRule with a workload selector names only its own namespace. A bad entry
//! rejects the whole config and the engine keeps the previous one.

use weir_core::config::Loaded;
use weir_core::request::Request;
use weir_core::validate::{validate, Severity};
use weir_core::{Engine, Outcome};

fn virtual_service(export_to: &str) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop, namespace: front}}
spec:
  hosts: [shop.example.com]
  exportTo: {export_to}
  http:
  - route: [{{destination: {{host: shop.example.com}}}}]
"#
    )
}

fn destination_rule(export_to: &str) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: shop, namespace: front}}
spec:
  host: shop.example.com
  exportTo: {export_to}
"#
    )
}

fn service_entry(export_to: &str) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: shop, namespace: front}}
spec:
  hosts: [shop.example.com]
  exportTo: {export_to}
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints: [{{address: 10.0.0.1}}]
"#
    )
}

/// The exportTo errors of `yaml`: (kind, field, message).
fn export_errors(yaml: &str) -> Vec<(String, String, String)> {
    let loaded = Loaded::from_source("t.yaml", yaml);
    let mut out = loaded.diagnostics.clone();
    validate(&loaded.config, &mut out);
    out.into_iter()
        .filter(|d| d.severity == Severity::Error && d.field.starts_with("spec.exportTo"))
        .map(|d| (d.resource.kind.to_string(), d.field, d.message))
        .collect()
}

#[test]
fn valid_export_to_lists_pass() {
    let se = service_entry("[]");
    for list in [
        "[]",
        "['.']",
        "['*']",
        "[front]",
        "['.', team]",
        "[team, other]",
    ] {
        for yaml in [
            virtual_service(list),
            destination_rule(list),
            service_entry(list),
        ] {
            let yaml = format!("{se}\n---\n{yaml}");
            assert_eq!(export_errors(&yaml), vec![], "exportTo {list}");
        }
    }
    assert_eq!(export_errors(&service_entry("['~']")), vec![]);
}

#[test]
fn bad_export_to_lists_are_errors_naming_the_entry() {
    // (exportTo, field, part of the message)
    let cases = [
        (
            "[front, '.']",
            "spec.exportTo[1]",
            "\".\" and the current namespace \"front\"",
        ),
        (
            "[team, team]",
            "spec.exportTo[1]",
            "duplicate entry \"team\"",
        ),
        (
            "['.', front]",
            "spec.exportTo[1]",
            "duplicate entry \"front\"",
        ),
        (
            "['*', team]",
            "spec.exportTo",
            "both public (*) and non-public",
        ),
        (
            "[Team]",
            "spec.exportTo[0]",
            "\"Team\" is not an exportTo entry",
        ),
        ("['']", "spec.exportTo[0]", "\"\" is not an exportTo entry"),
        (
            "['a.b']",
            "spec.exportTo[0]",
            "a namespace name (a DNS-1123 label)",
        ),
        ("['~']", "spec.exportTo[0]", "only . or *"),
    ];
    for (list, field, message) in cases {
        for (kind, yaml) in [
            ("VirtualService", virtual_service(list)),
            ("DestinationRule", destination_rule(list)),
        ] {
            let errors = export_errors(&yaml);
            assert!(
                errors
                    .iter()
                    .any(|(k, f, m)| k == kind && f == field && m.contains(message)),
                "{kind} exportTo {list}: {errors:?}"
            );
        }
    }
    let errors = export_errors(&service_entry("['~', team]"));
    assert!(
        errors
            .iter()
            .any(|(_, f, m)| f == "spec.exportTo" && m.contains("no one (~) and to someone")),
        "{errors:?}"
    );
    let errors = export_errors(&service_entry("['~', '*']"));
    assert_eq!(errors.len(), 2, "{errors:?}");
}

/// A DestinationRule with a `workloadSelector` applies to its own
/// namespace's workloads only: its exportTo may name that namespace, once.
#[test]
fn a_rule_with_a_workload_selector_stays_in_its_namespace() {
    let with_selector = |export_to: &str| {
        destination_rule(export_to).replace(
            "  host: shop.example.com\n",
            "  host: shop.example.com\n  workloadSelector: {matchLabels: {app: web}}\n",
        )
    };
    for ok in ["[]", "['.']", "[front]"] {
        let errors = export_errors(&with_selector(ok));
        assert!(errors.is_empty(), "exportTo {ok}: {errors:?}");
    }
    let cases = [
        ("['*']", "beyond current namespace"),
        ("[team]", "beyond current namespace"),
        ("['.', team]", "cannot have multiple entries"),
        ("[team, front]", "cannot have multiple entries"),
    ];
    for (list, message) in cases {
        let errors = export_errors(&with_selector(list));
        assert!(
            errors.iter().any(|(k, f, m)| k == "DestinationRule"
                && f == "spec.exportTo"
                && m.contains(message)),
            "exportTo {list}: {errors:?}"
        );
        // The same list without a selector is fine.
        let without = export_errors(&destination_rule(list));
        assert!(
            without.is_empty(),
            "exportTo {list} without a selector: {without:?}"
        );
    }
}

#[test]
fn a_bad_export_to_keeps_the_previous_table() {
    let engine = Engine::new();
    let good = format!(
        "{}\n---\n{}",
        service_entry("['*']"),
        virtual_service("['*']")
    );
    engine.apply_str(&good).unwrap();
    let bad = format!(
        "{}\n---\n{}",
        service_entry("['*']"),
        virtual_service("['*', front]")
    );
    let err = engine.apply_str(&bad).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("VirtualService")
            && text.contains("front/shop")
            && text.contains("spec.exportTo"),
        "{text}"
    );
    let request = Request::get("shop.example.com", "/");
    let table = engine.snapshot();
    let decision = table.decide(&request, 1);
    assert_eq!(decision.outcome, Outcome::Route, "{decision:?}");
    assert_eq!(
        decision.endpoint.map(|e| e.address.to_string()).as_deref(),
        Some("10.0.0.1:80")
    );
}
