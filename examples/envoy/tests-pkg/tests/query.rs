//! Query parameters match as Envoy's router matches them: on the text as
//! sent, not percent-decoded. Istio hands `queryParams` to Envoy as route
//! `query_parameters`, and Envoy's `RouteEntryImplBase::matchRoute`
//! (source/common/router/config_impl.cc) parses them with
//! `QueryParamsMulti::parseQueryString`, which does not decode.
//!
//! One Envoy, two listeners: Envoy's own router with those matchers, and the
//! Weir filter with the equivalent VirtualService. The same requests go to
//! both; the rule each answers with must be the same, and the expected one.

use weir_envoy_tests::harness::*;

/// `(rule, Istio queryParams block, Envoy query_parameters entry)`, in order.
const RULES: &[(&str, &str, &str)] = &[
    (
        "decoded-exact",
        r#"{q: {exact: "a b"}}"#,
        r#"{name: q, string_match: {exact: "a b"}}"#,
    ),
    (
        "raw-exact",
        r#"{q: {exact: "a%20b"}}"#,
        r#"{name: q, string_match: {exact: "a%20b"}}"#,
    ),
    (
        "raw-prefix",
        r#"{q: {prefix: "x%2F"}}"#,
        r#"{name: q, string_match: {prefix: "x%2F"}}"#,
    ),
    (
        "decoded-regex",
        r#"{q: {regex: "café"}}"#,
        r#"{name: q, string_match: {safe_regex: {regex: "café"}}}"#,
    ),
    (
        "raw-regex",
        r#"{q: {regex: "caf%[cC]3%[aA]9"}}"#,
        r#"{name: q, string_match: {safe_regex: {regex: "caf%[cC]3%[aA]9"}}}"#,
    ),
    (
        "raw-name",
        r#"{"k%20y": {exact: "1"}}"#,
        r#"{name: "k%20y", string_match: {exact: "1"}}"#,
    ),
];

/// `(path, the rule both must answer with)`.
const CASES: &[(&str, &str)] = &[
    ("/?q=a%20b", "raw-exact"),
    ("/?q=a+b", "none"),
    ("/?q=a%2520b", "none"),
    ("/?q=x%2Fy", "raw-prefix"),
    ("/?q=x%2fy", "none"),
    ("/?q=x/y", "none"),
    ("/?q=caf%C3%A9", "raw-regex"),
    ("/?q=caf%c3%a9", "raw-regex"),
    ("/?k%20y=1", "raw-name"),
    ("/?k+y=1", "none"),
    ("/?other=1&q=a%20b", "raw-exact"),
];

fn virtual_service() -> String {
    let mut http = String::new();
    for (rule, istio, _) in RULES {
        http += &format!(
            "  - name: {rule}\n    match: [{{queryParams: {istio}}}]\n    \
             directResponse: {{status: 200, body: {{string: {rule}}}}}\n"
        );
    }
    http += "  - name: none\n    directResponse: {status: 404, body: {string: none}}\n";
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
         metadata: {{name: q, namespace: default}}\nspec:\n  hosts: [q.test]\n  http:\n{http}"
    )
}

fn envoy_routes() -> String {
    let mut routes = String::new();
    for (rule, _, envoy) in RULES {
        routes += &format!(
            "\n              - match: {{prefix: \"/\", query_parameters: [{envoy}]}}\n                \
             direct_response: {{status: 200, body: {{inline_string: {rule}}}}}"
        );
    }
    routes += "\n              - match: {prefix: \"/\"}\n                \
               direct_response: {status: 404, body: {inline_string: none}}";
    routes
}

#[test]
fn query_parameters_match_undecoded_as_envoy_does() {
    let wasm = filter_wasm();
    let plugin = serde_json::json!({ "config": virtual_service() }).to_string();
    let (admin, weir, native) = (free_port(), free_port(), free_port());
    let yaml = format!(
        r#"admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
static_resources:
  listeners:
  - name: weir
    address: {{socket_address: {{address: 127.0.0.1, port_value: {weir}}}}}
    filter_chains:
    - filters:{hcm}
  - name: native
    address: {{socket_address: {{address: 127.0.0.1, port_value: {native}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: native
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:{routes}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:{clusters}
"#,
        hcm = weir_hcm(&plugin, &wasm, "x-weir-cluster"),
        routes = envoy_routes(),
        clusters = override_host_cluster("unused", &[1], "x-weir-endpoint"),
    );
    let _envoy = Envoy::start(&scratch_dir("query"), &yaml, admin);
    for (path, want) in CASES {
        let envoy = get(native, "q.test", path, &[]);
        let weir = get(weir, "q.test", path, &[]);
        assert_eq!(envoy.body.trim(), *want, "Envoy's router on {path}");
        assert_eq!(weir.body.trim(), *want, "Weir on {path}");
        assert_eq!(weir.status, envoy.status, "{path}");
    }
}
