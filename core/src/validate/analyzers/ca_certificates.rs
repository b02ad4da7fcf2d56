//! IST0128 / IST0129 NoServerCertificateVerification: a DestinationRule
//! originating TLS (`SIMPLE` or `MUTUAL`) without `caCertificates` does not
//! verify the server. Istio's `destinationrule/ca-certificates.go`: a
//! `credentialName` counts only together with a `workloadSelector`.

use super::Analysis;
use crate::config::Kind;
use crate::diagnostic::{Diagnostic, Severity};
use serde_json::Value;

pub(super) fn analyze(a: &Analysis<'_>, out: &mut Vec<Diagnostic>) {
    for dr in &a.config.destination_rules {
        let Some(policy) = &dr.spec.traffic_policy else {
            continue;
        };
        let selected = dr.spec.workload_selector.is_some();
        let full_name = format!("{}/{}", dr.namespace, dr.name);
        let message = |mode: &str, at: &str| {
            format!(
                "DestinationRule {full_name} in namespace {} has TLS mode set to {mode} but no \
                 caCertificates are set to validate server identity for host: {}{at}",
                dr.namespace, dr.spec.host
            )
        };
        if let Some(mode) = unverified(policy.tls.as_ref(), selected) {
            out.push(Diagnostic::new(
                "IST0128",
                Severity::Warning,
                dr.reference(Kind::DestinationRule),
                "spec.trafficPolicy.tls.caCertificates",
                message(mode, ""),
            ));
        }
        for (i, p) in policy.port_level_settings.iter().enumerate() {
            if let Some(mode) = unverified(p.tls.as_ref(), selected) {
                let port = p.port.as_ref().and_then(|s| s.number).unwrap_or(0);
                out.push(Diagnostic::new(
                    "IST0129",
                    Severity::Warning,
                    dr.reference(Kind::DestinationRule),
                    &format!("spec.trafficPolicy.portLevelSettings[{i}].tls.caCertificates"),
                    message(mode, &format!(" at port number:{port}")),
                ));
            }
        }
    }
}

/// The TLS mode when `tls` originates TLS without verifying the server.
fn unverified(tls: Option<&Value>, workload_selector: bool) -> Option<&str> {
    let tls = tls?;
    let text = |key: &str| tls.get(key).and_then(Value::as_str).unwrap_or("");
    let mode = tls.get("mode").and_then(Value::as_str)?;
    let originates = matches!(mode, "SIMPLE" | "MUTUAL");
    let credential_counts = !text("credentialName").is_empty() && workload_selector;
    (originates && text("caCertificates").is_empty() && !credential_counts).then_some(mode)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::run;

    const HEAD: &str = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata:\n  name: r\n  namespace: ns\nspec:\n  host: a.example.com\n";

    #[test]
    fn tls_without_ca_certificates() {
        let dest = |code| {
            (
                "DestinationRule ns/r".to_string(),
                format!("spec.trafficPolicy.{code}"),
            )
        };
        type Case = (&'static str, &'static str, Vec<(String, String)>);
        let cases: [Case; 9] = [
            ("IST0128", "  trafficPolicy:\n    tls:\n      mode: SIMPLE\n", vec![dest("tls.caCertificates")]),
            ("IST0128", "  trafficPolicy:\n    tls:\n      mode: MUTUAL\n      clientCertificate: /c\n      privateKey: /k\n", vec![dest("tls.caCertificates")]),
            ("IST0128", "  trafficPolicy:\n    tls:\n      mode: SIMPLE\n      caCertificates: /ca.pem\n", vec![]),
            ("IST0128", "  trafficPolicy:\n    tls:\n      mode: ISTIO_MUTUAL\n", vec![]),
            // A credentialName alone still warns; with a workloadSelector it does not.
            ("IST0128", "  trafficPolicy:\n    tls:\n      mode: SIMPLE\n      credentialName: c\n", vec![dest("tls.caCertificates")]),
            ("IST0128", "  workloadSelector:\n    matchLabels:\n      app: a\n  trafficPolicy:\n    tls:\n      mode: SIMPLE\n      credentialName: c\n", vec![]),
            ("IST0129", "  trafficPolicy:\n    portLevelSettings:\n    - port:\n        number: 443\n      tls:\n        mode: SIMPLE\n", vec![dest("portLevelSettings[0].tls.caCertificates")]),
            ("IST0129", "  trafficPolicy:\n    portLevelSettings:\n    - port:\n        number: 443\n      tls:\n        mode: SIMPLE\n        caCertificates: /ca.pem\n", vec![]),
            ("IST0129", "  trafficPolicy:\n    portLevelSettings:\n    - port:\n        number: 443\n      tls:\n        mode: ISTIO_MUTUAL\n", vec![]),
        ];
        for (code, body, want) in cases {
            let got: Vec<(String, String)> = run(&format!("{HEAD}{body}"), code)
                .into_iter()
                .map(|(r, f, _)| (r, f))
                .collect();
            assert_eq!(got, want, "{body}");
        }
        let got = run(&format!("{HEAD}  trafficPolicy:\n    portLevelSettings:\n    - port:\n        number: 443\n      tls:\n        mode: MUTUAL\n"), "IST0129");
        assert_eq!(
            got[0].2,
            "DestinationRule ns/r in namespace ns has TLS mode set to MUTUAL but no caCertificates \
             are set to validate server identity for host: a.example.com at port number:443"
        );
    }
}
