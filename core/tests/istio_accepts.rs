//! Inputs Istio's webhook accepts, decided as istiod programs Envoy for them.

use weir_core::request::Request;
use weir_core::Engine;

const CONFIG: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: default}
spec:
  hosts: [web.default.svc.cluster.local]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web]
  http:
  - fault:
      delay: {percentage: {value: 100}}
      abort: {httpStatus: 418, percentage: {value: 100}}
    route: [{destination: {host: web}}]
"#;

/// A fault delay with neither `fixedDelay` nor `exponentialDelay`: istiod
/// programs no delay (TranslateFault drops it), so Weir accepts it with a
/// warning and delays nothing, while a sibling abort still applies.
#[test]
fn a_delay_of_no_kind_is_accepted_and_delays_nothing() {
    let engine = Engine::new();
    let report = engine.apply_str(CONFIG).expect("Istio accepts it");
    let warning = report
        .iter()
        .find(|d| d.field == "spec.http[0].fault.delay.fixedDelay")
        .expect("a warning names the missing fixedDelay");
    assert_eq!(warning.code, "IST0133");
    let table = engine.table();
    let req = Request {
        port: 80,
        ..Request::get("web", "/")
    };
    for entropy in [0, 7, u64::MAX] {
        let d = table.decide(&req, entropy);
        assert_eq!(d.delay, None);
        assert_eq!(d.status, 418);
    }
}

/// `port: 0` in a match is proto3's unset: accepted, and every port matches.
#[test]
fn a_match_on_port_zero_matches_every_port() {
    let config = CONFIG.replace(
        "  - fault:\n      delay: {percentage: {value: 100}}\n      abort: {httpStatus: 418, percentage: {value: 100}}\n",
        "  - match: [{port: 0, uri: {prefix: /p}}]\n    fault: {abort: {httpStatus: 418, percentage: {value: 100}}}\n",
    );
    assert!(config.contains("port: 0"));
    let engine = Engine::new();
    let report = engine.apply_str(&config).expect("Istio accepts port 0");
    assert!(report.is_empty(), "{report:?}");
    let table = engine.table();
    for port in [80, 8080] {
        let req = Request {
            port,
            ..Request::get("web", "/p")
        };
        assert_eq!(table.decide(&req, 0).status, 418, "port {port}");
    }
}
