//! Validation and compilation answer "which DestinationRules apply to this
//! host" with one lookup (Istio's most specific host match, wildcards
//! included): a subset defined only by a wildcard DestinationRule is accepted
//! by validation and routed by the compiled table, and a subset no rule
//! that applies defines is refused by both.

use weir_core::config::Loaded;
use weir_core::request::Request;
use weir_core::validate::{has_errors, validate};
use weir_core::{Engine, Outcome};

fn config(subset: &str) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: a, namespace: default}}
spec:
  hosts: [a.example.com]
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints: [{{address: 10.0.0.1, labels: {{version: v1}}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: wide, namespace: default}}
spec:
  host: "*.example.com"
  subsets: [{{name: v1, labels: {{version: v1}}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: other, namespace: default}}
spec:
  host: b.example.com
  subsets: [{{name: only-b, labels: {{version: v1}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: a, namespace: default}}
spec:
  hosts: [a.example.com]
  http: [{{route: [{{destination: {{host: a.example.com, subset: {subset}}}}}]}}]
"#
    )
}

#[test]
fn a_wildcard_rules_subset_is_accepted_and_routed() {
    let loaded = Loaded::from_source("t.yaml", &config("v1"));
    let mut diagnostics = loaded.diagnostics.clone();
    validate(&loaded.config, &mut diagnostics);
    assert!(!has_errors(&diagnostics), "{diagnostics:?}");
    let engine = Engine::new();
    engine.apply(loaded).unwrap();
    let table = engine.snapshot();
    let d = table.decide(&Request::get("a.example.com", "/"), 0);
    assert_eq!(d.outcome, Outcome::Route);
    assert_eq!(
        d.cluster.map(|c| &*c.name),
        Some("outbound|80|v1|a.example.com")
    );
}

#[test]
fn a_subset_only_another_hosts_rule_defines_is_refused() {
    let loaded = Loaded::from_source("t.yaml", &config("only-b"));
    let mut diagnostics = loaded.diagnostics.clone();
    validate(&loaded.config, &mut diagnostics);
    let refusal = diagnostics
        .iter()
        .find(|d| d.is_error())
        .unwrap_or_else(|| panic!("accepted: {diagnostics:?}"));
    assert_eq!(refusal.code, "IST0101");
    assert!(refusal.field.ends_with("destination.subset"), "{refusal:?}");
    assert!(Engine::new().apply(loaded).is_err());
}
