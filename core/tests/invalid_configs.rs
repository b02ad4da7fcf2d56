//! Every file in examples/configs/invalid gets the outcome it states, and a
//! rejected config leaves the previous table serving.

mod common;

use common::{engine, load};
use weir_core::{Outcome, Request, Severity};

fn diagnostics(name: &str) -> Vec<weir_core::Diagnostic> {
    let loaded = load(name);
    let mut d = loaded.diagnostics.clone();
    weir_core::validate::validate(&loaded.config, &mut d);
    d
}

fn errors(name: &str) -> Vec<weir_core::Diagnostic> {
    diagnostics(name)
        .into_iter()
        .filter(|d| d.severity == Severity::Error)
        .collect()
}

#[test]
fn bad_regex_is_rejected_at_its_field() {
    let e = errors("invalid/bad-regex.yaml");
    assert!(
        e.iter()
            .any(|d| d.field == "spec.http[0].match[0].uri.regex"
                && d.resource.to_string() == "VirtualService default/broken-regex"
                && d.message.contains("/users/([0-9]+")),
        "{e:#?}"
    );
}

#[test]
fn bad_weights_are_rejected_negative_and_all_zero() {
    let e = errors("invalid/bad-weights.yaml");
    assert!(
        e.iter()
            .any(|d| d.field == "spec.http[0].route[0].weight" && d.message.contains("negative")),
        "{e:#?}"
    );
    assert!(
        e.iter()
            .any(|d| d.message.contains("total destination weight = 0")),
        "{e:#?}"
    );
}

#[test]
fn malformed_yaml_reports_line_and_column() {
    let e = errors("invalid/malformed.yaml");
    assert_eq!(e.len(), 1, "{e:#?}");
    assert_eq!(e[0].code, "WEIR0001");
    assert!(e[0].line.is_some() && e[0].column.is_some());
    assert!(
        e[0].to_string().contains("invalid/malformed.yaml:"),
        "{}",
        e[0]
    );
}

#[test]
fn shadowed_route_is_a_warning_and_applies() {
    let d = diagnostics("invalid/shadowed-route.yaml");
    assert!(d.iter().all(|d| d.severity != Severity::Error), "{d:#?}");
    assert!(
        d.iter().any(|d| d.code == "IST0130"
            && d.field == "spec.http[1]"
            && d.severity == Severity::Warning),
        "{d:#?}"
    );
    let e = engine("invalid/shadowed-route.yaml");
    let req = Request {
        source: &weir_core::Source {
            gateway: Some("default/gt-gateway"),
            ..weir_core::Source::MESH
        },
        ..Request::get("x.example.com", "/api/members")
    };
    let t = e.snapshot();
    let d = t.decide(&req, 0);
    assert_eq!(
        &*d.cluster.unwrap().host,
        "bk-gateway.default.svc.cluster.local"
    );
}

#[test]
fn unknown_subset_is_rejected() {
    let e = errors("invalid/unknown-subset.yaml");
    assert!(
        e.iter().any(|d| d.code == "IST0101"
            && d.field == "spec.http[0].route[1].destination.subset"
            && d.message.contains("risky-group")),
        "{e:#?}"
    );
}

#[test]
fn rejected_config_keeps_the_previous_table() {
    let e = engine("fleetman-canary.yaml");
    let before = e.table();
    for bad in [
        "invalid/bad-regex.yaml",
        "invalid/bad-weights.yaml",
        "invalid/malformed.yaml",
        "invalid/unknown-subset.yaml",
    ] {
        let err = e.apply(load(bad)).expect_err(bad);
        assert!(err.diagnostics.iter().any(|d| d.is_error()));
        assert!(
            std::sync::Arc::ptr_eq(&before, &e.table()),
            "{bad} replaced the table"
        );
    }
    let t = e.snapshot();
    let d = t.decide(
        &Request::get("fleetman-staff-service.default.svc.cluster.local", "/"),
        0,
    );
    assert_eq!(d.outcome, Outcome::Route);
}

/// The outcome a config file states in its `# weir-expect:` line:
/// `accepted`, or `error|warning [CODE] [FIELD]`.
fn stated_outcome(text: &str) -> Option<Vec<&str>> {
    text.lines()
        .find_map(|l| l.strip_prefix("# weir-expect:"))
        .map(|rest| rest.split_whitespace().collect())
}

/// Every file under examples/configs says what Weir must make of it, and gets it.
#[test]
fn every_example_config_gets_the_outcome_it_states() {
    let dir = common::example_configs();
    let mut files: Vec<String> = Vec::new();
    for sub in ["", "invalid"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "yaml") {
                let name = path.file_name().unwrap().to_str().unwrap();
                files.push(if sub.is_empty() {
                    name.to_string()
                } else {
                    format!("{sub}/{name}")
                });
            }
        }
    }
    assert!(files.len() >= 11, "{files:?}");
    for name in files {
        let text = std::fs::read_to_string(dir.join(&name)).unwrap();
        let stated = stated_outcome(&text).unwrap_or_else(|| panic!("{name}: no weir-expect"));
        let d = diagnostics(&name);
        let has_error = d.iter().any(|d| d.severity == Severity::Error);
        let (want_severity, rest) = match stated[0] {
            "accepted" => {
                assert!(!has_error, "{name} must be accepted: {d:#?}");
                continue;
            }
            "error" => (Severity::Error, &stated[1..]),
            "warning" => {
                assert!(!has_error, "{name} must only warn: {d:#?}");
                (Severity::Warning, &stated[1..])
            }
            other => panic!("{name}: unknown outcome {other}"),
        };
        let matches = |x: &&weir_core::Diagnostic| {
            x.severity == want_severity
                && rest.iter().all(|want| {
                    if want.starts_with("spec.") {
                        x.field == *want
                    } else {
                        x.code == *want
                    }
                })
        };
        assert!(
            d.iter().any(|x| matches(&x)),
            "{name}: want {stated:?}, got {d:#?}"
        );
    }
}

/// A rejected ServiceEntry never enters the service registry: one with
/// `hosts: ["*"]` must not make every missing host look known.
#[test]
fn a_rejected_service_entry_hides_no_missing_host() {
    let text = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: all, namespace: default}
spec:
  hosts: ["*"]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: vs, namespace: default}
spec:
  hosts: [a.example.com]
  http: [{route: [{destination: {host: nowhere.example.com}}]}]
"#;
    let loaded = weir_core::config::Loaded::from_source("t.yaml", text);
    let mut d = loaded.diagnostics.clone();
    weir_core::validate::validate(&loaded.config, &mut d);
    assert!(
        d.iter()
            .any(|x| x.severity == Severity::Error && x.field == "spec.hosts[0]"),
        "{d:#?}"
    );
    assert!(
        d.iter().any(|x| x.code == "IST0101"
            && x.resource.name == "vs"
            && x.message.contains("nowhere.example.com")),
        "{d:#?}"
    );
}
