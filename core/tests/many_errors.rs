//! A mesh with thousands of errors reports every one of them, each naming
//! its resource and field, and the config is refused whole: the previous
//! table keeps serving. (That each diagnostic costs O(1) to emit is measured
//! by the `mesh_errors` group of benches/benches/scale.rs, not timed here.)

use std::collections::HashMap;
use weir_core::config::Loaded;
use weir_core::diagnostic::has_errors;
use weir_core::request::Request;
use weir_core::{Engine, Outcome};

/// `services` services, each a ServiceEntry, a DestinationRule (subsets v1,
/// v2) and a VirtualService; with `broken`, every service carries three
/// errors: an unknown DestinationRule field (load), an invalid uri regex
/// and a subset no DestinationRule defines (validation).
fn mesh(services: usize, broken: bool) -> String {
    let mut out = String::new();
    for i in 0..services {
        let host = format!("svc-{i}.shop.svc.cluster.local");
        let (unknown, regex, subset) = if broken {
            ("  tarfficPolicy: {}\n", "'(unclosed'", "v3")
        } else {
            ("", "'/api/.*'", "v2")
        };
        out.push_str(&format!(
            "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: svc-{i}, namespace: shop}}
spec:
  hosts: [{host}]
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints:
  - {{address: 10.{}.{}.1, labels: {{version: v1}}}}
  - {{address: 10.{}.{}.2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: svc-{i}, namespace: shop}}
spec:
  host: {host}
{unknown}  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: svc-{i}, namespace: shop}}
spec:
  hosts: [{host}]
  http:
  - match: [{{uri: {{regex: {regex}}}}}]
    route: [{{destination: {{host: {host}, subset: v1}}}}]
  - route:
    - {{destination: {{host: {host}, subset: v1}}, weight: 90}}
    - {{destination: {{host: {host}, subset: {subset}}}, weight: 10}}
---
",
            i / 250,
            i % 250,
            i / 250,
            i % 250,
        ));
    }
    out
}

const SERVICES: usize = 2_000;

/// Every error of every resource is reported: three per service, each once,
/// at its field; nothing is dropped after the first thousand.
#[test]
fn thousands_of_errors_are_all_reported() {
    let mut loaded = Loaded::from_source("broken.yaml", &mesh(SERVICES, true));
    let mut diagnostics = std::mem::take(&mut loaded.diagnostics);
    weir_core::validate::validate(&loaded.config, &mut diagnostics);
    // (resource, field) → how often it was reported as an error.
    let mut errors: HashMap<(String, String), usize> = HashMap::new();
    for d in diagnostics.iter().filter(|d| d.is_error()) {
        *errors
            .entry((d.resource.to_string(), d.field.clone()))
            .or_default() += 1;
    }
    for i in 0..SERVICES {
        for (kind, field) in [
            ("DestinationRule", "spec.tarfficPolicy"),
            ("VirtualService", "spec.http[0].match[0].uri.regex"),
            ("VirtualService", "spec.http[1].route[1].destination.subset"),
        ] {
            let key = (format!("{kind} shop/svc-{i}"), field.to_string());
            assert_eq!(
                errors.get(&key),
                Some(&1),
                "{key:?} in {} errors",
                errors.len()
            );
        }
    }
    assert_eq!(
        errors.values().sum::<usize>(),
        3 * SERVICES,
        "errors beyond the three per service: {:?}",
        errors.keys().take(5).collect::<Vec<_>>()
    );
    // The same mesh without the mistakes is clean: the errors are the
    // mistakes', not the shape's.
    let mut clean = Loaded::from_source("clean.yaml", &mesh(SERVICES, false));
    weir_core::validate::validate(&clean.config, &mut clean.diagnostics);
    assert!(
        !has_errors(&clean.diagnostics),
        "{:?}",
        clean.diagnostics.first()
    );
}

/// Applied, the broken mesh is refused whole with every error, and the
/// previous table keeps serving.
#[test]
fn a_mesh_of_errors_is_refused_whole() {
    let engine = Engine::new();
    engine
        .apply_str(&mesh(10, false))
        .expect("the clean mesh applies");
    let before = engine.current_table_id();
    let rejected = engine
        .apply(Loaded::from_source("broken.yaml", &mesh(SERVICES, true)))
        .expect_err("the broken mesh applied");
    let errors = rejected.diagnostics.iter().filter(|d| d.is_error()).count();
    assert_eq!(errors, 3 * SERVICES);
    assert_eq!(
        engine.current_table_id(),
        before,
        "a refused config published"
    );
    let table = engine.snapshot();
    let served = table.decide(&Request::get("svc-3.shop.svc.cluster.local", "/"), 7);
    assert_eq!(served.outcome, Outcome::Route, "{served:?}");
    // Only the ten services of the config in force are known.
    let unknown = table.decide(&Request::get("svc-11.shop.svc.cluster.local", "/"), 7);
    assert_ne!(unknown.outcome, Outcome::Route, "{unknown:?}");
}
