//! IST0002 Deprecated: the fields Istio's `deprecation/deprecation.go`
//! reports that Weir reads: `fault.delay.percent`, replaced by `percentage`.

use crate::config::model::VirtualServiceSpec;
use crate::config::{Kind, Resource};
use crate::diagnostic::{Diagnostic, Severity};

/// One VirtualService's deprecated fields (the analyzer reads nothing else).
pub(super) fn virtual_service(vs: &Resource<VirtualServiceSpec>, out: &mut Vec<Diagnostic>) {
    for (i, http) in vs.spec.http.iter().enumerate() {
        let delay = http.fault.as_ref().and_then(|f| f.delay.as_ref());
        if delay.and_then(|d| d.percent).is_some_and(|p| p > 0) {
            out.push(Diagnostic::new(
                "IST0002",
                Severity::Warning,
                vs.reference(Kind::VirtualService),
                &format!("spec.http[{i}].fault.delay.percent"),
                "Deprecated: HTTPRoute.fault.delay.percent is deprecated; use \
                 HTTPRoute.fault.delay.percentage"
                    .into(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::run;

    #[test]
    fn delay_percent_is_deprecated() {
        let vs = |delay: &str| {
            format!(
                "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: r\n  namespace: ns\nspec:\n  hosts: [r.example.com]\n  http:\n  - fault:\n      delay:\n        fixedDelay: 1s\n{delay}    route:\n    - destination:\n        host: r.example.com\n"
            )
        };
        let cases = [
            (
                vs("        percent: 50\n"),
                vec!["spec.http[0].fault.delay.percent"],
            ),
            (vs("        percent: 0\n"), vec![]),
            (vs("        percentage:\n          value: 50\n"), vec![]),
        ];
        for (yaml, want) in cases {
            let got = run(&yaml, "IST0002");
            let fields: Vec<&str> = got.iter().map(|(_, f, _)| f.as_str()).collect();
            assert_eq!(fields, want, "{yaml}");
        }
    }
}
