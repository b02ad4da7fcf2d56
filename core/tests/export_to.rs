//! `exportTo` is checked as Istio's webhook checks it: `.`, `*` or namespace
//! names; no duplicates (`.` is the resource's own namespace); `*` alone;
//! `~` (visible to nobody) only on a ServiceEntry, and alone; a
//! DestinationRule with a workload selector names only its own namespace. A bad entry
//! rejects the whole config and the engine keeps the previous one.

use weir_core::config::Loaded;
use weir_core::request::Request;
use weir_core::validate::{validate, Severity};
use weir_core::{Engine, Outcome};

fn virtual_service(export_to: &str) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop, namespace: front}}
spec:
  hosts: [shop.example.com]
  exportTo: {export_to}
  http:
  - route: [{{destination: {{host: shop.example.com}}}}]
"#
    )
}

fn destination_rule(export_to: &str) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: shop, namespace: front}}
spec:
  host: shop.example.com
  exportTo: {export_to}
"#
    )
}

fn service_entry(export_to: &str) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: shop, namespace: front}}
spec:
  hosts: [shop.example.com]
  exportTo: {export_to}
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints: [{{address: 10.0.0.1}}]
"#
    )
}

/// The exportTo errors of `yaml`: (kind, field, message).
fn export_errors(yaml: &str) -> Vec<(String, String, String)> {
    let loaded = Loaded::from_source("t.yaml", yaml);
    let mut out = loaded.diagnostics.clone();
    validate(&loaded.config, &mut out);
    out.into_iter()
        .filter(|d| d.severity == Severity::Error && d.field.starts_with("spec.exportTo"))
        .map(|d| (d.resource.kind.to_string(), d.field, d.message))
        .collect()
}

#[test]
fn valid_export_to_lists_pass() {
    let se = service_entry("[]");
    for list in [
        "[]",
        "['.']",
        "['*']",
        "[front]",
        "['.', team]",
        "[team, other]",
        // Istio's DNS-1123 label admits upper case (labels.IsDNS1123Label).
        "[Team]",
    ] {
        for yaml in [
            virtual_service(list),
            destination_rule(list),
            service_entry(list),
        ] {
            let yaml = format!("{se}\n---\n{yaml}");
            assert_eq!(export_errors(&yaml), vec![], "exportTo {list}");
        }
    }
    assert_eq!(export_errors(&service_entry("['~']")), vec![]);
}

#[test]
fn bad_export_to_lists_are_errors_naming_the_entry() {
    // (exportTo, field, part of the message)
    let cases = [
        (
            "[front, '.']",
            "spec.exportTo[1]",
            "\".\" and the current namespace \"front\"",
        ),
        (
            "[team, team]",
            "spec.exportTo[1]",
            "duplicate entry \"team\"",
        ),
        (
            "['.', front]",
            "spec.exportTo[1]",
            "duplicate entry \"front\"",
        ),
        (
            "['*', team]",
            "spec.exportTo",
            "both public (*) and non-public",
        ),
        ("['']", "spec.exportTo[0]", "\"\" is not an exportTo entry"),
        (
            "['a.b']",
            "spec.exportTo[0]",
            "a namespace name (a DNS-1123 label)",
        ),
        ("['~']", "spec.exportTo[0]", "only . or *"),
    ];
    for (list, field, message) in cases {
        for (kind, yaml) in [
            ("VirtualService", virtual_service(list)),
            ("DestinationRule", destination_rule(list)),
        ] {
            let errors = export_errors(&yaml);
            assert!(
                errors
                    .iter()
                    .any(|(k, f, m)| k == kind && f == field && m.contains(message)),
                "{kind} exportTo {list}: {errors:?}"
            );
        }
    }
    let errors = export_errors(&service_entry("['~', team]"));
    assert!(
        errors
            .iter()
            .any(|(_, f, m)| f == "spec.exportTo" && m.contains("no one (~) and to someone")),
        "{errors:?}"
    );
    let errors = export_errors(&service_entry("['~', '*']"));
    assert_eq!(errors.len(), 2, "{errors:?}");
}

/// A DestinationRule with a `workloadSelector` applies to its own
/// namespace's workloads only: its exportTo may name that namespace, once.
#[test]
fn a_rule_with_a_workload_selector_stays_in_its_namespace() {
    let with_selector = |export_to: &str| {
        destination_rule(export_to).replace(
            "  host: shop.example.com\n",
            "  host: shop.example.com\n  workloadSelector: {matchLabels: {app: web}}\n",
        )
    };
    for ok in ["[]", "['.']", "[front]"] {
        let errors = export_errors(&with_selector(ok));
        assert!(errors.is_empty(), "exportTo {ok}: {errors:?}");
    }
    let cases = [
        ("['*']", "beyond current namespace"),
        ("[team]", "beyond current namespace"),
        ("['.', team]", "cannot have multiple entries"),
        ("[team, front]", "cannot have multiple entries"),
    ];
    for (list, message) in cases {
        let errors = export_errors(&with_selector(list));
        assert!(
            errors.iter().any(|(k, f, m)| k == "DestinationRule"
                && f == "spec.exportTo"
                && m.contains(message)),
            "exportTo {list}: {errors:?}"
        );
        // The same list without a selector is fine.
        let without = export_errors(&destination_rule(list));
        assert!(
            without.is_empty(),
            "exportTo {list} without a selector: {without:?}"
        );
    }
}

#[test]
fn a_bad_export_to_keeps_the_previous_table() {
    let engine = Engine::new();
    let good = format!(
        "{}\n---\n{}",
        service_entry("['*']"),
        virtual_service("['*']")
    );
    engine.apply_str(&good).unwrap();
    let bad = format!(
        "{}\n---\n{}",
        service_entry("['*']"),
        virtual_service("['*', front]")
    );
    let err = engine.apply_str(&bad).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("VirtualService")
            && text.contains("front/shop")
            && text.contains("spec.exportTo"),
        "{text}"
    );
    let request = Request::get("shop.example.com", "/");
    let table = engine.snapshot();
    let decision = table.decide(&request, 1);
    assert_eq!(decision.outcome, Outcome::Route, "{decision:?}");
    assert_eq!(
        decision.endpoint.map(|e| e.address.to_string()).as_deref(),
        Some("10.0.0.1:80")
    );
}

/// What a client sees when routing: a sidecar in namespace `ns` (or, with
/// `gateway`, that gateway's listener) asks for `host`; the cluster it gets,
/// or the outcome when it gets none.
fn routed(config: &str, ns: &str, gateway: Option<&str>, host: &str) -> String {
    let engine = Engine::new();
    engine.apply_str(config).unwrap_or_else(|e| panic!("{e}"));
    let table = engine.snapshot();
    let source = weir_core::Source {
        gateway,
        namespace: ns,
        ..weir_core::Source::MESH
    };
    let request = Request {
        source: &source,
        ..Request::get(host, "/")
    };
    let d = table.decide(&request, 1);
    match d.cluster {
        Some(c) if d.outcome == Outcome::Route => c.name.to_string(),
        _ => d.outcome.as_str().to_string(),
    }
}

/// Two services in `front`: shop (the VirtualService under test sends it to
/// subset `v2`) and its subsets; without the VirtualService a client gets
/// the default route (no subset).
fn mesh_with(vs_export: &str, se_export: &str) -> String {
    format!(
        r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: shop, namespace: front}}
spec:
  hosts: [shop.example.com]
  exportTo: {se_export}
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints: [{{address: 10.0.0.1, labels: {{v: "1"}}}}, {{address: 10.0.0.2, labels: {{v: "2"}}}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: shop, namespace: front}}
spec:
  host: shop.example.com
  subsets: [{{name: v2, labels: {{v: "2"}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop, namespace: front}}
spec:
  hosts: [shop.example.com]
  exportTo: {vs_export}
  http:
  - route: [{{destination: {{host: shop.example.com, subset: v2}}}}]
"#
    )
}

const VS_ROUTE: &str = "outbound|80|v2|shop.example.com";
const DEFAULT_ROUTE: &str = "outbound|80||shop.example.com";

/// A VirtualService's `exportTo`, in each form, decides which sidecars'
/// requests it routes; the others get the service's default route.
#[test]
fn virtual_service_export_to_scopes_routing() {
    // (exportTo, client namespace, expected cluster)
    let cases = [
        ("[]", "front", VS_ROUTE),
        ("[]", "back", VS_ROUTE),
        ("['*']", "back", VS_ROUTE),
        ("['.']", "front", VS_ROUTE),
        ("['.']", "back", DEFAULT_ROUTE),
        ("['.']", "", DEFAULT_ROUTE),
        ("[back]", "back", VS_ROUTE),
        ("[back]", "front", DEFAULT_ROUTE),
        ("[back]", "other", DEFAULT_ROUTE),
        ("['.', back]", "front", VS_ROUTE),
        ("['.', back]", "back", VS_ROUTE),
        ("['.', back]", "other", DEFAULT_ROUTE),
    ];
    for (export_to, ns, want) in cases {
        assert_eq!(
            routed(&mesh_with(export_to, "[]"), ns, None, "shop.example.com"),
            want,
            "VirtualService exportTo {export_to}, client in {ns:?}"
        );
    }
}

/// A ServiceEntry's `exportTo` hides the service from the other
/// namespaces' sidecars: no virtual host for it there.
#[test]
fn service_entry_export_to_scopes_routing() {
    // The VirtualService is exported to a namespace no client here is in,
    // so only the service's visibility differs.
    let cases = [
        ("['.']", "front", DEFAULT_ROUTE),
        ("['.']", "back", "no_route"),
        ("['~']", "front", "no_route"),
        ("[back]", "back", DEFAULT_ROUTE),
        ("[back]", "front", "no_route"),
        ("['*']", "back", DEFAULT_ROUTE),
    ];
    for (export_to, ns, want) in cases {
        assert_eq!(
            routed(
                &mesh_with("[elsewhere]", export_to),
                ns,
                None,
                "shop.example.com"
            ),
            want,
            "ServiceEntry exportTo {export_to}, client in {ns:?}"
        );
    }
}

/// A gateway routes by the VirtualServices exported to its own namespace.
#[test]
fn gateways_see_virtual_services_exported_to_their_namespace() {
    let gateway = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: edge}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*/shop.example.com"]}]
"#;
    let bound = |export_to: &str| {
        format!(
            "{gateway}---\n{}",
            mesh_with(export_to, "[]").replace("\n  http:\n", "\n  gateways: [edge/gw]\n  http:\n")
        )
    };
    for (export_to, want) in [
        ("[]", VS_ROUTE),
        ("['*']", VS_ROUTE),
        ("[edge]", VS_ROUTE),
        ("['.']", "no_route"),
        ("[back]", "no_route"),
    ] {
        let config = bound(export_to);
        assert_eq!(
            routed(&config, "", Some("edge/gw"), "shop.example.com"),
            want,
            "exportTo {export_to}"
        );
    }
}

/// A namespace's own private VirtualService for a host overrides the
/// public one for that namespace's sidecars (istiod takes private, then
/// exported-to, then public, and the first to claim a host keeps it), even
/// when the public one comes first in creation order (`front` sorts before
/// `zoo`); other namespaces keep the public one.
#[test]
fn a_private_virtual_service_overrides_the_public_one_in_its_namespace() {
    let public = mesh_with("['*']", "['*']")
        .replace("subset: v2", "subset: v1")
        .replace(
            "subsets: [{name: v2, labels: {v: \"2\"}}]",
            "subsets: [{name: v1, labels: {v: \"1\"}}, {name: v2, labels: {v: \"2\"}}]",
        );
    let private = r#"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop-for-zoo, namespace: zoo}
spec:
  hosts: [shop.example.com]
  exportTo: ['.']
  http:
  - route: [{destination: {host: shop.example.com, subset: v2}}]
"#;
    let config = format!("{public}{private}");
    assert_eq!(routed(&config, "zoo", None, "shop.example.com"), VS_ROUTE);
    assert_eq!(
        routed(&config, "front", None, "shop.example.com"),
        "outbound|80|v1|shop.example.com"
    );
    assert_eq!(
        routed(&config, "other", None, "shop.example.com"),
        "outbound|80|v1|shop.example.com"
    );
}

/// IST0109 keys VirtualServices by the namespaces they are exported to, as
/// istioctl does: two private ones in different namespaces do not conflict;
/// a private one meets the public ones for its host, and the message says
/// which takes the host there.
#[test]
fn conflicting_hosts_are_scoped_by_export_to() {
    let vs = |ns: &str, export_to: &str| {
        format!(
            r#"
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop, namespace: {ns}}}
spec:
  hosts: [shop.example.com]
  exportTo: {export_to}
  http:
  - route: [{{destination: {{host: shop.example.com}}}}]
"#
        )
    };
    let conflicts = |yaml: String| -> Vec<String> {
        let loaded = Loaded::from_source("t.yaml", &format!("{}{yaml}", service_entry("[]")));
        let mut out = loaded.diagnostics.clone();
        validate(&loaded.config, &mut out);
        out.into_iter()
            .filter(|d| d.code == "IST0109")
            .map(|d| {
                format!(
                    "{}/{}: {}",
                    d.resource.namespace, d.resource.name, d.message
                )
            })
            .collect()
    };
    assert_eq!(
        conflicts(vs("a", "['.']") + &vs("b", "['.']")),
        Vec::<String>::new()
    );
    assert_eq!(
        conflicts(vs("a", "[x]") + &vs("b", "[y]")),
        Vec::<String>::new()
    );
    // Every VirtualService of a conflict is reported (as istioctl does).
    let both_to_x = conflicts(vs("a", "[x]") + &vs("b", "[x]"));
    assert_eq!(both_to_x.len(), 2, "{both_to_x:?}");
    let private_and_public = conflicts(vs("a", "['*']") + &vs("z", "['.']"));
    assert_eq!(private_and_public.len(), 2, "{private_and_public:?}");
    assert!(
        private_and_public
            .iter()
            .all(|m| m.contains("Weir applies z/shop for sidecars in namespace z")),
        "{private_and_public:?}"
    );
    let public_twice = conflicts(vs("a", "[]") + &vs("b", "['*']"));
    assert_eq!(public_twice.len(), 2, "{public_twice:?}");
    assert!(
        public_twice
            .iter()
            .all(|m| m.contains("Weir applies the oldest, a/shop.")),
        "{public_twice:?}"
    );
}

/// Tools list every view of the mesh: the public one, then one per
/// namespace an `exportTo` names.
#[test]
fn mesh_views_are_the_public_one_then_each_named_namespace() {
    let engine = Engine::new();
    engine
        .apply_str(&mesh_with("[back, other]", "[]"))
        .unwrap_or_else(|e| panic!("{e}"));
    let table = engine.snapshot();
    let views: Vec<Option<&str>> = table.mesh_views().iter().map(|(ns, _)| *ns).collect();
    assert_eq!(views, [None, Some("back"), Some("other")]);
}
