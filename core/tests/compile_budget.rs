//! A config whose compiled table would take more than the engine's compile
//! budget is refused before anything big is built: one error (WEIR0011)
//! naming a service and the sizes, and the previous table keeps serving.

use weir_core::request::Request;
use weir_core::{Engine, Outcome};

/// `services` ServiceEntries `svc-i.example.com` (one endpoint each), and
/// with `ring` a mesh-wide DestinationRule giving every one of them a ring
/// hash of `ring` entries.
fn mesh(services: usize, ring: Option<u64>) -> String {
    let mut out = String::new();
    for i in 0..services {
        out.push_str(&format!(
            "apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: svc-{i}, namespace: shop}}
spec:
  hosts: [svc-{i}.example.com]
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints: [{{address: 10.0.{}.{}}}]
---
",
            i / 256,
            i % 256
        ));
    }
    if let Some(size) = ring {
        out.push_str(&format!(
            "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: sticky, namespace: shop}}
spec:
  host: '*.example.com'
  trafficPolicy:
    loadBalancer:
      consistentHash:
        httpHeaderName: x-user
        ringHash: {{minimumRingSize: {size}}}
"
        ));
    }
    out
}

fn routes_to(engine: &Engine, host: &str, address: &str) {
    let table = engine.snapshot();
    let decision = table.decide(&Request::get(host, "/"), 7);
    assert_eq!(decision.outcome, Outcome::Route, "{decision:?}");
    assert_eq!(
        decision.endpoint.map(|e| e.address.to_string()).as_deref(),
        Some(address)
    );
}

#[test]
fn a_mesh_wide_giant_ring_is_refused_and_the_previous_table_stays() {
    let engine = Engine::new();
    engine.apply_str(&mesh(40, None)).unwrap();
    routes_to(&engine, "svc-3.example.com", "10.0.0.3:80");
    // 40 clusters × 8M ring entries × 16 bytes ≈ 5 GiB: over the default.
    let err = engine
        .apply_str(&mesh(40, Some(8 * 1024 * 1024)))
        .unwrap_err();
    let refused: Vec<_> = err.diagnostics.iter().filter(|d| d.is_error()).collect();
    assert_eq!(refused.len(), 1, "{err}");
    let d = refused[0];
    assert_eq!(d.code, "WEIR0011");
    assert_eq!(d.resource.kind, "ServiceEntry");
    assert_eq!(d.resource.namespace, "shop");
    assert!(d.resource.name.starts_with("svc-"), "{d}");
    assert!(
        d.message.contains(&format!(
            "over the compile budget of {} MiB",
            weir_core::compile::DEFAULT_COMPILE_BUDGET >> 20
        )) && d.message.contains("outbound|80||svc-"),
        "{d}"
    );
    routes_to(&engine, "svc-3.example.com", "10.0.0.3:80");
    // Envoy's default ring (1024) fits easily.
    engine.apply_str(&mesh(40, Some(1024))).unwrap();
}

#[test]
fn the_budget_is_the_engines_to_set() {
    let engine = Engine::new();
    let text = mesh(20, Some(65536));
    // 20 rings of 64Ki entries (16 bytes each): about 20 MiB.
    engine.set_compile_budget(8 << 20);
    let err = engine.apply_str(&text).unwrap_err();
    assert!(
        err.to_string().contains("over the compile budget of 8 MiB"),
        "{err}"
    );
    assert_eq!(engine.snapshot().clusters().len(), 0);
    engine.set_compile_budget(64 << 20);
    engine.apply_str(&text).unwrap();
    assert_eq!(engine.snapshot().clusters().len(), 20);
}

/// Endpoint updates are held to the budget too: an update that would grow
/// a service's rings past it is refused and the table in force stays.
#[test]
fn an_endpoint_update_over_the_budget_is_dropped() {
    use weir_core::compile::EndpointSpec;
    let engine = Engine::new();
    // Two services with weighted endpoints: rings scale with the ratio of
    // the heaviest weight to the lightest, so weights can blow them up.
    engine.apply_str(&mesh(2, Some(1024))).unwrap();
    engine.set_compile_budget(2 << 20);
    let before = engine.snapshot().id();
    let endpoint = |last: u8, weight: u32| EndpointSpec {
        address: format!("10.9.0.{last}"),
        port: Some(8080),
        weight,
        ..Default::default()
    };
    // One endpoint of weight 1 beside one of weight 1 000 000: the lighter
    // gets one ring entry, so the ring has about a million (16 MiB).
    let heavy = [endpoint(1, 1), endpoint(2, 1_000_000)];
    let err = engine
        .set_endpoints("svc-1.example.com", &heavy)
        .unwrap_err();
    assert!(
        err.diagnostics.iter().any(|d| d.code == "WEIR0011"
            && d.resource.name == "svc-1"
            && d.message.contains("endpoint update dropped")),
        "{err}"
    );
    assert_eq!(engine.snapshot().id(), before);
    routes_to(&engine, "svc-1.example.com", "10.0.0.1:80");
    // Within the budget it applies.
    engine
        .set_endpoints("svc-1.example.com", &[endpoint(3, 1)])
        .unwrap();
    routes_to(&engine, "svc-1.example.com", "10.9.0.3:8080");
}
