//! Namespace-scoped Gateway server hosts (`ns/host`, `./host`, `*/host`):
//! a server host binds only the VirtualServices of its namespace, as istiod
//! selects them for a gateway.

use weir_core::request::{Request, Source};
use weir_core::{Engine, Outcome};

const CONFIG: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["prod/*.example.com", "./internal.example.com", "*/open.example.org"]
"#;

fn vs(name: &str, namespace: &str, host: &str) -> String {
    format!(
        r#"---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  hosts: ["{host}"]
  gateways: [istio-system/edge]
  http: [{{directResponse: {{status: 200, body: {{string: {name}}}}}}}]
"#
    )
}

#[test]
fn a_server_host_binds_only_its_namespaces_virtual_services() {
    let config = [
        CONFIG.to_string(),
        vs("shop", "prod", "shop.example.com"),
        vs("stray", "dev", "dev.example.com"),
        vs("internal", "istio-system", "internal.example.com"),
        vs("sneaky", "prod", "internal.example.com"),
        vs("open", "dev", "open.example.org"),
    ]
    .concat();
    let engine = Engine::new();
    engine.apply_str(&config).unwrap();
    let table = engine.snapshot();
    let edge = Source {
        gateway: Some("istio-system/edge"),
        ..Source::MESH
    };
    // (authority, the VirtualService answering, or None for a 404)
    let cases = [
        ("shop.example.com", Some("shop")),
        ("dev.example.com", None),
        ("internal.example.com", Some("internal")),
        ("open.example.org", Some("open")),
    ];
    for (authority, want) in cases {
        let req = Request {
            source: &edge,
            port: 80,
            ..Request::get(authority, "/")
        };
        let d = table.decide(&req, 0);
        match want {
            Some(name) => {
                assert_eq!(d.outcome, Outcome::DirectResponse, "{authority}");
                assert_eq!(d.body(), name.as_bytes(), "{authority}");
            }
            None => assert_eq!(
                (d.outcome, d.status),
                (Outcome::NoRoute, 404),
                "{authority}"
            ),
        }
    }
}

/// Validation agrees: IST0132 for a VirtualService whose namespace no server
/// host admits, none for one that is admitted.
#[test]
fn validation_honours_the_scope() {
    use weir_core::config::Loaded;
    use weir_core::validate::validate;
    let config = [
        CONFIG.to_string(),
        vs("shop", "prod", "shop.example.com"),
        vs("stray", "dev", "dev.example.com"),
    ]
    .concat();
    let loaded = Loaded::from_source("t.yaml", &config);
    let mut diagnostics = loaded.diagnostics.clone();
    validate(&loaded.config, &mut diagnostics);
    let not_in_gateway: Vec<&str> = diagnostics
        .iter()
        .filter(|d| d.code == "IST0132")
        .map(|d| d.resource.name.as_str())
        .collect();
    assert_eq!(not_in_gateway, ["stray"], "{diagnostics:?}");
}
