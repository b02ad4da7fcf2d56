//! IST0134 ServiceEntryAddressesRequired: a ServiceEntry with a TCP (or
//! unset) protocol port and no `addresses` cannot be told apart from other
//! TCP traffic on that port. Istio's `serviceentry/protocoladdresses.go`;
//! one message per such port. (Istio skips this when the mesh auto-allocates
//! addresses through DNS capture; Weir has no mesh config, so it always checks.)

use super::Analysis;
use crate::config::Kind;
use crate::diagnostic::{Diagnostic, Severity};

pub(super) fn analyze(a: &Analysis<'_>, out: &mut Vec<Diagnostic>) {
    for se in &a.config.service_entries {
        if !se.spec.addresses.is_empty() {
            continue;
        }
        for (i, port) in se.spec.ports.iter().enumerate() {
            if port.protocol.is_empty() || port.protocol == "TCP" {
                out.push(Diagnostic::new(
                    "IST0134",
                    Severity::Warning,
                    se.reference(Kind::ServiceEntry),
                    &format!("spec.ports[{i}]"),
                    "ServiceEntry addresses are required for this protocol.".into(),
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::run;

    #[test]
    fn tcp_ports_need_addresses() {
        let se = |addresses: &str, ports: &str| {
            format!(
                "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata:\n  name: db\n  namespace: ns\nspec:\n  hosts: [db.example.com]\n{addresses}  resolution: DNS\n  ports:\n{ports}"
            )
        };
        let tcp = "  - number: 5432\n    name: pg\n    protocol: TCP\n";
        let unset = "  - number: 5433\n    name: other\n";
        let http = "  - number: 80\n    name: http\n    protocol: HTTP\n";
        let cases = [
            (se("", tcp), vec!["spec.ports[0]"]),
            (se("", &format!("{http}{unset}")), vec!["spec.ports[1]"]),
            (
                se("", &format!("{tcp}{unset}")),
                vec!["spec.ports[0]", "spec.ports[1]"],
            ),
            (se("", http), vec![]),
            (se("  addresses: [10.0.0.5]\n", tcp), vec![]),
        ];
        for (yaml, want) in cases {
            let got = run(&yaml, "IST0134");
            let fields: Vec<&str> = got.iter().map(|(_, f, _)| f.as_str()).collect();
            assert_eq!(fields, want, "{yaml}");
            assert!(got.iter().all(|(r, _, m)| r == "ServiceEntry ns/db"
                && m == "ServiceEntry addresses are required for this protocol."));
        }
    }
}
