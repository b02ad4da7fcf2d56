//! IST0101 (selector) and IST0162 GatewayPortNotDefinedOnService: a
//! Gateway's selector must select pods, and each server port must be a port
//! (or target port) of a Service selecting those pods, or clients going
//! through the Service cannot reach it. Istio's `gateway/gateway.go`
//! (IngressGatewayPortAnalyzer): Services of the pod's namespace, TCP ports;
//! as there, a Service without a selector counts as selecting every pod of
//! its namespace. Runs only when the input has pods.

use super::{selector_text, selects, Analysis};
use crate::config::kube::model::IntOrString;
use crate::config::Kind;
use crate::diagnostic::{Diagnostic, Severity};
use hashbrown::HashSet;

pub(super) fn analyze(a: &Analysis<'_>, out: &mut Vec<Diagnostic>) {
    if a.pods.is_empty() {
        return;
    }
    for gw in &a.config.gateways {
        let selector = &gw.spec.selector;
        let mut reachable: HashSet<i64> = HashSet::new();
        let mut selected = false;
        for pod in a.pods.iter().filter(|p| selects(selector, &p.labels)) {
            selected = true;
            let services = a.config.kube.services.iter().filter(|s| {
                s.namespace == pod.namespace
                    && s.spec
                        .spec
                        .selector
                        .as_ref()
                        .is_none_or(|sel| selects(sel, &pod.labels))
            });
            for svc in services {
                for port in &svc.spec.spec.ports {
                    if port.protocol.as_deref().unwrap_or("TCP") != "TCP" {
                        continue;
                    }
                    // Kubernetes' `IntValue()`: a name counts as no number.
                    match &port.target_port {
                        Some(IntOrString::Int(target)) if *target != 0 => {
                            reachable.insert(*target);
                            reachable.insert(port.port);
                        }
                        _ => {
                            reachable.insert(port.port);
                        }
                    }
                }
            }
        }
        let text = selector_text(selector);
        if !selected {
            out.push(
                Diagnostic::new(
                    "IST0101",
                    Severity::Warning,
                    gw.reference(Kind::Gateway),
                    "spec.selector",
                    format!("Referenced selector not found: {text:?}"),
                )
                .with_istio_severity(Severity::Error),
            );
            continue;
        }
        for server in &gw.spec.servers {
            let Some(port) = &server.port else { continue };
            if !reachable.contains(&i64::from(port.number)) {
                out.push(Diagnostic::new(
                    "IST0162",
                    Severity::Warning,
                    gw.reference(Kind::Gateway),
                    "spec.selector",
                    format!(
                        "The gateway is listening on a target port (port {}) that is not defined \
                         in the Service associated with its workload instances (Pod selector \
                         {text}). If you need to access the gateway port through the gateway \
                         Service, it will not be available.",
                        port.number
                    ),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::run;

    const GATEWAY: &str = "---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n  namespace: ns\nspec:\n  selector:\n    istio: ingressgateway\n  servers:\n  - port:\n      number: 8080\n      name: http\n      protocol: HTTP\n    hosts: ['*']\n";

    fn pod(labels: &str) -> String {
        format!("---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: istio-system\n  labels:\n    {labels}\nstatus:\n  podIP: 10.0.0.9\n")
    }

    fn service(ports: &str) -> String {
        format!("---\napiVersion: v1\nkind: Service\nmetadata:\n  name: istio-ingressgateway\n  namespace: istio-system\nspec:\n  selector:\n    istio: ingressgateway\n  ports:\n{ports}")
    }

    #[test]
    fn selector_and_ports() {
        let ingress = pod("istio: ingressgateway");
        let cases = [
            // No pods in the input: nothing is known, nothing reported.
            (String::new(), "IST0101", 0),
            (pod("app: other"), "IST0101", 1),
            (ingress.clone(), "IST0101", 0),
            // Selected, but no Service exposes 8080.
            (ingress.clone(), "IST0162", 1),
            (
                format!(
                    "{ingress}{}",
                    service("  - name: http\n    port: 80\n    targetPort: 8080\n")
                ),
                "IST0162",
                0,
            ),
            (
                format!("{ingress}{}", service("  - name: http\n    port: 8080\n")),
                "IST0162",
                0,
            ),
            (
                format!(
                    "{ingress}{}",
                    service("  - name: http\n    port: 80\n    targetPort: 9090\n")
                ),
                "IST0162",
                1,
            ),
            (
                format!(
                    "{ingress}{}",
                    service("  - name: http\n    port: 8080\n    protocol: UDP\n")
                ),
                "IST0162",
                1,
            ),
        ];
        for (objects, code, want) in cases {
            let yaml = format!("{GATEWAY}{objects}");
            let got = run(&yaml, code);
            assert_eq!(got.len(), want, "{code} {objects}");
            assert!(got
                .iter()
                .all(|(r, f, _)| r == "Gateway ns/gw" && f == "spec.selector"));
        }
        let got = run(&format!("{GATEWAY}{}", pod("app: other")), "IST0101");
        assert_eq!(
            got[0].2,
            "Referenced selector not found: \"istio=ingressgateway\""
        );
    }
}
