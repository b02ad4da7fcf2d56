//! IST0101 (credentialName) and IST0161 InvalidGatewayCredential: a
//! gateway server's `credentialName` must name a Secret in the namespace of
//! the gateway's workload holding a certificate and key. Istio's
//! `gateway/secret.go`; the Secret's shape is judged at load
//! (`config::kube::secret`). Runs only when the input has pods and Secrets:
//! without them Weir cannot tell a missing Secret from one not dumped.

use super::Analysis;
use crate::config::Kind;
use crate::diagnostic::{Diagnostic, Severity};

pub(super) fn analyze(a: &Analysis<'_>, out: &mut Vec<Diagnostic>) {
    let secrets = &a.config.kube.secrets;
    if a.pods.is_empty() || secrets.is_empty() {
        return;
    }
    for gw in &a.config.gateways {
        // No selected pod: `gateway_port` reports the selector.
        let Some(namespace) = a.workload_namespace(&gw.spec.selector) else {
            continue;
        };
        for (i, server) in gw.spec.servers.iter().enumerate() {
            let credential = server
                .tls
                .as_ref()
                .and_then(|t| t.other.get("credentialName"))
                .and_then(|v| v.as_str())
                .unwrap_or("");
            if credential.is_empty() {
                continue;
            }
            let (ns, name) = credential
                .split_once('/')
                .unwrap_or((namespace, credential));
            let field = format!("spec.servers[{i}].tls.credentialName");
            match secrets.iter().find(|s| s.namespace == ns && s.name == name) {
                None => out.push(
                    Diagnostic::new(
                        "IST0101",
                        Severity::Warning,
                        gw.reference(Kind::Gateway),
                        &field,
                        format!("Referenced credentialName not found: {credential:?}"),
                    )
                    .with_istio_severity(Severity::Error),
                ),
                Some(secret) => {
                    if let Some(problem) = &secret.spec.tls_problem {
                        out.push(
                            Diagnostic::new(
                                "IST0161",
                                Severity::Warning,
                                gw.reference(Kind::Gateway),
                                &field,
                                format!(
                                    "The credential referenced by the Gateway {} in namespace \
                                     {namespace} is invalid, which can cause the traffic not to \
                                     work as expected ({problem}).",
                                    gw.name
                                ),
                            )
                            .with_istio_severity(Severity::Error),
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::run;

    const GATEWAY: &str = "---\napiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata:\n  name: gw\n  namespace: ns\nspec:\n  selector:\n    istio: ingressgateway\n  servers:\n  - port:\n      number: 443\n      name: https\n      protocol: HTTPS\n    hosts: ['*']\n    tls:\n      mode: SIMPLE\n      credentialName: cert\n";
    const POD: &str = "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  namespace: istio-system\n  labels:\n    istio: ingressgateway\nstatus:\n  podIP: 10.0.0.9\n";
    const PEM: &str =
        "-----BEGIN CERTIFICATE-----\n    MIIBszCCAVmgAwIBAgIU\n    -----END CERTIFICATE-----";

    fn secret(name: &str, ns: &str, data: &str) -> String {
        format!("---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\ntype: kubernetes.io/tls\nstringData:\n{data}")
    }

    #[test]
    fn credential_secrets() {
        let good = format!("  tls.crt: |\n    {PEM}\n  tls.key: k\n");
        let cases = [
            (
                format!("{POD}{}", secret("cert", "istio-system", &good)),
                vec![],
            ),
            // In the gateway resource's namespace, not the workload's: not found.
            (
                format!("{POD}{}", secret("cert", "ns", &good)),
                vec!["IST0101"],
            ),
            (
                format!("{POD}{}", secret("cert", "istio-system", "  ca.crt: x\n")),
                vec!["IST0161"],
            ),
            // No pods, or no Secrets at all: nothing known.
            (secret("other", "istio-system", &good), vec![]),
            (POD.to_string(), vec![]),
        ];
        for (objects, want) in cases {
            let yaml = format!("{GATEWAY}{objects}");
            let mut got: Vec<String> = Vec::new();
            for code in ["IST0101", "IST0161"] {
                got.extend(run(&yaml, code).into_iter().map(|(_, f, _)| {
                    assert_eq!(f, "spec.servers[0].tls.credentialName");
                    code.to_string()
                }));
            }
            assert_eq!(got, want, "{objects}");
        }
    }
}
