//! Kubernetes objects in, Istio's service model out: Services, EndpointSlices,
//! Endpoints, Pods, Namespaces, Secrets and workloads, each read as a cluster
//! prints it, and the decisions made on them.

mod common;

use weir_core::compile::EndpointSpec;
use weir_core::config::Loaded;
use weir_core::request::{HeaderList, Request, Source};
use weir_core::validate::validate;
use weir_core::{Diagnostic, Engine, Outcome, Severity};

/// A Service `name` in `ns` on port 9080 (named `http`) selecting `app: name`.
fn service(name: &str, ns: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  selector: {{app: {name}}}\n  ports: [{{name: http, port: 9080, targetPort: 9080}}]\n"
    )
}

/// A running pod with labels `app`, `version` and an IP; `ready` sets its Ready condition.
fn pod(name: &str, ns: &str, app: &str, version: &str, ip: &str, ready: bool) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}, labels: {{app: {app}, version: {version}}}}}\nspec:\n  containers: [{{name: c, ports: [{{name: web, containerPort: 8080}}]}}]\nstatus:\n  phase: Running\n  podIP: {ip}\n  conditions: [{{type: Ready, status: \"{}\"}}]\n",
        if ready { "True" } else { "False" }
    )
}

const SUBSETS: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
"#;

fn docs(parts: &[&str]) -> String {
    parts.join("\n---\n")
}

fn engine(text: &str) -> Engine {
    let e = Engine::new();
    if let Err(err) = e.apply_str(text) {
        panic!("rejected: {err}");
    }
    e
}

fn diagnostics(text: &str) -> Vec<Diagnostic> {
    let loaded = Loaded::from_source("t.yaml", text);
    let mut d = loaded.diagnostics.clone();
    validate(&loaded.config, &mut d);
    d
}

fn has(d: &[Diagnostic], code: &str, severity: Severity, field: &str) -> bool {
    d.iter()
        .any(|x| x.code == code && x.severity == severity && x.field == field)
}

/// Endpoint addresses of cluster `name`, sorted.
fn endpoints_of(e: &Engine, name: &str) -> Vec<String> {
    let t = e.snapshot();
    let Some(i) = t.cluster_index(name) else {
        return Vec::new();
    };
    let mut v: Vec<String> = t
        .endpoints(i)
        .iter()
        .map(|e| e.address.to_string())
        .collect();
    v.sort();
    v
}

const REVIEWS_SLICE: &str = r#"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: reviews-abcde
  namespace: shop
  labels: {kubernetes.io/service-name: reviews}
addressType: IPv4
ports: [{name: http, port: 9080, protocol: TCP}]
endpoints:
- addresses: [10.0.0.1]
  conditions: {ready: true, serving: true, terminating: false}
  zone: z1
  nodeName: n1
  targetRef: {kind: Pod, name: r1, namespace: shop}
- addresses: [10.0.0.2]
  conditions: {ready: true}
  targetRef: {kind: Pod, name: r2, namespace: shop}
- addresses: [10.0.0.3]
  conditions: {ready: false, serving: true, terminating: true}
  targetRef: {kind: Pod, name: r3, namespace: shop}
- addresses: [10.0.0.4]
  conditions: {ready: false}
  targetRef: {kind: Pod, name: r4, namespace: shop}
- addresses: [10.0.0.5]
  targetRef: {kind: Pod, name: r5, namespace: shop}
"#;

fn reviews_cluster() -> String {
    docs(&[
        &service("reviews", "shop"),
        REVIEWS_SLICE,
        &pod("r1", "shop", "reviews", "v1", "10.0.0.1", true),
        &pod("r2", "shop", "reviews", "v2", "10.0.0.2", true),
        &pod("r3", "shop", "reviews", "v2", "10.0.0.3", true),
        &pod("r4", "shop", "reviews", "v1", "10.0.0.4", false),
        &pod("r5", "shop", "reviews", "v1", "10.0.0.5", true),
        SUBSETS,
    ])
}

#[test]
fn endpoint_slices_give_ready_endpoints_with_their_pods_labels() {
    let e = engine(&reviews_cluster());
    let host = "reviews.shop.svc.cluster.local";
    // (cluster, endpoints): terminating (r3) and not ready (r4) excluded;
    // an absent `ready` (r5) means ready.
    let cases: [(&str, &[&str]); 3] = [
        (
            "outbound|9080||reviews.shop.svc.cluster.local",
            &["10.0.0.1:9080", "10.0.0.2:9080", "10.0.0.5:9080"],
        ),
        (
            "outbound|9080|v1|reviews.shop.svc.cluster.local",
            &["10.0.0.1:9080", "10.0.0.5:9080"],
        ),
        (
            "outbound|9080|v2|reviews.shop.svc.cluster.local",
            &["10.0.0.2:9080"],
        ),
    ];
    let vs = format!(
        "{}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: r, namespace: shop}}\nspec:\n  hosts: [reviews]\n  http:\n  - route:\n    - {{destination: {{host: reviews, subset: v1}}, weight: 50}}\n    - {{destination: {{host: reviews, subset: v2}}, weight: 50}}\n",
        reviews_cluster()
    );
    let e2 = engine(&vs);
    for (cluster, want) in cases {
        let got = endpoints_of(if cluster.contains("||") { &e } else { &e2 }, cluster);
        assert_eq!(got, want, "{cluster}");
    }
    let t = e2.snapshot();
    let i = t
        .cluster_index("outbound|9080|v1|reviews.shop.svc.cluster.local")
        .unwrap();
    let ep = t
        .endpoints(i)
        .iter()
        .find(|e| &*e.address == "10.0.0.1:9080")
        .unwrap();
    assert_eq!(&*ep.pod, "shop/r1");
    assert_eq!(&*ep.source, "EndpointSlice shop/reviews-abcde");
    assert_eq!(&*ep.locality, "z1");
    let _ = host;
}

#[test]
fn without_endpoint_objects_the_selector_picks_ready_pods() {
    let text = docs(&[
        &service("reviews", "shop"),
        &pod("r1", "shop", "reviews", "v1", "10.0.0.1", true),
        &pod("r2", "shop", "reviews", "v2", "10.0.0.2", false),
        &pod("other", "shop", "ratings", "v1", "10.0.0.9", true),
        &pod("elsewhere", "prod", "reviews", "v1", "10.0.0.8", true),
    ]);
    let e = engine(&text);
    assert_eq!(
        endpoints_of(&e, "outbound|9080||reviews.shop.svc.cluster.local"),
        ["10.0.0.1:9080"]
    );
}

#[test]
fn legacy_endpoints_are_read_when_there_is_no_slice() {
    let eps = r#"
apiVersion: v1
kind: Endpoints
metadata: {name: reviews, namespace: shop}
subsets:
- addresses:
  - {ip: 10.0.1.1, targetRef: {kind: Pod, name: r1}}
  notReadyAddresses:
  - {ip: 10.0.1.2}
  ports: [{name: http, port: 9081}]
"#;
    let e = engine(&docs(&[
        &service("reviews", "shop"),
        eps,
        &pod("r1", "shop", "reviews", "v1", "10.0.1.1", true),
    ]));
    let t = e.snapshot();
    let i = t
        .cluster_index("outbound|9080||reviews.shop.svc.cluster.local")
        .unwrap();
    let list: Vec<_> = t
        .endpoints(i)
        .iter()
        .map(|e| (e.address.to_string(), e.pod.to_string()))
        .collect();
    assert_eq!(list, [("10.0.1.1:9081".to_string(), "shop/r1".to_string())]);
}

#[test]
fn named_target_ports_resolve_per_endpoint() {
    let svc = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: web}]\n";
    // From pods: the container port named `web` (8080).
    let e = engine(&docs(&[
        svc,
        &pod("w1", "shop", "web", "v1", "10.0.2.1", true),
    ]));
    assert_eq!(
        endpoints_of(&e, "outbound|80||web.shop.svc.cluster.local"),
        ["10.0.2.1:8080"]
    );
    // From a slice: the slice's port of that name (the controller resolved it).
    let slice = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nports: [{name: http, port: 8443}]\nendpoints: [{addresses: [10.0.2.2]}]\n";
    let e = engine(&docs(&[svc, slice]));
    assert_eq!(
        endpoints_of(&e, "outbound|80||web.shop.svc.cluster.local"),
        ["10.0.2.2:8443"]
    );
    // A pod without that port name gets no traffic, with a warning.
    let bare = "apiVersion: v1\nkind: Pod\nmetadata: {name: w2, namespace: shop, labels: {app: web}}\nspec: {containers: [{name: c}]}\nstatus: {phase: Running, podIP: 10.0.2.3, conditions: [{type: Ready, status: \"True\"}]}\n";
    let text = docs(&[svc, bare]);
    assert!(has(
        &diagnostics(&text),
        "WEIR0108",
        Severity::Warning,
        "spec.ports[0].targetPort"
    ));
    let e = engine(&text);
    assert!(endpoints_of(&e, "outbound|80||web.shop.svc.cluster.local").is_empty());
}

#[test]
fn external_name_and_headless_services() {
    let ext = "apiVersion: v1\nkind: Service\nmetadata: {name: db, namespace: shop}\nspec: {type: ExternalName, externalName: db.example.com, ports: [{name: tcp, port: 5432}]}\n";
    let headless = "apiVersion: v1\nkind: Service\nmetadata: {name: hl, namespace: shop}\nspec: {clusterIP: None, selector: {app: hl}, ports: [{name: http, port: 80}]}\n";
    let e = engine(&docs(&[
        ext,
        headless,
        &pod("h1", "shop", "hl", "v1", "10.0.3.1", true),
    ]));
    assert_eq!(
        endpoints_of(&e, "outbound|5432||db.shop.svc.cluster.local"),
        ["db.example.com:5432"]
    );
    let t = e.snapshot();
    let d = t.decide(&Request::get("hl.shop.svc.cluster.local", "/"), 0);
    assert_eq!(d.outcome, Outcome::Route);
    assert!(d.original_destination, "headless: original destination");
}

#[test]
fn service_entry_and_service_for_one_host_merge() {
    // Same host and namespace: one service (the Kubernetes one's ports), endpoints of both.
    let se = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: vm, namespace: shop}\nspec:\n  hosts: [reviews.shop.svc.cluster.local]\n  ports: [{number: 9080, name: http, protocol: HTTP}]\n  resolution: STATIC\n  endpoints: [{address: 10.9.0.1, labels: {version: v1}}]\n";
    let text = docs(&[
        &service("reviews", "shop"),
        &pod("r1", "shop", "reviews", "v1", "10.0.0.1", true),
        se,
        SUBSETS,
    ]);
    let e = engine(&text);
    let t = e.snapshot();
    let services: Vec<_> = t
        .clusters()
        .iter()
        .filter(|c| c.subset.is_empty())
        .map(|c| c.name.to_string())
        .collect();
    assert_eq!(services, ["outbound|9080||reviews.shop.svc.cluster.local"]);
    assert_eq!(
        endpoints_of(&e, "outbound|9080||reviews.shop.svc.cluster.local"),
        ["10.0.0.1:9080", "10.9.0.1:9080"]
    );
}

#[test]
fn set_endpoints_replaces_a_services_endpoints() {
    let e = engine(&reviews_cluster());
    e.set_endpoints(
        "reviews.shop.svc.cluster.local",
        &[EndpointSpec {
            address: "10.7.0.1".into(),
            port: None,
            labels: [("version".to_string(), "v1".to_string())].into(),
            weight: 1,
            locality: String::new(),
        }],
    )
    .unwrap();
    // The Service's target port applies to the new endpoint.
    assert_eq!(
        endpoints_of(&e, "outbound|9080||reviews.shop.svc.cluster.local"),
        ["10.7.0.1:9080"]
    );
}

#[test]
fn bookinfo_dump_splits_reviews_90_10_over_the_pods() {
    let mut loaded = Loaded::default();
    for f in ["bookinfo/cluster.yaml", "bookinfo/istio.yaml"] {
        let path = common::example_configs().join(f);
        loaded.add_source(f, &std::fs::read_to_string(path).unwrap());
    }
    let e = Engine::new();
    let diagnostics = e.apply(loaded).unwrap();
    // Only the ingress gateway's status port, whose protocol Istio sniffs.
    let codes: Vec<(&str, &str)> = diagnostics
        .iter()
        .map(|d| (d.code, d.resource.name.as_str()))
        .collect();
    assert_eq!(
        codes,
        [("WEIR0105", "istio-ingressgateway")],
        "{diagnostics:#?}"
    );
    let t = e.snapshot();
    let source = Source {
        namespace: "default",
        ..Source::MESH
    };
    let mut v1 = 0;
    let mut pods = std::collections::BTreeSet::new();
    for entropy in 0..1000u64 {
        let req = Request {
            source: &source,
            ..Request::get("reviews:9080", "/reviews/0")
        };
        let d = t.decide(&req, entropy);
        let c = d.cluster.unwrap();
        // Envoy's weighted pick: entropy % 100 < 90 → the first destination.
        let want = if entropy % 100 < 90 { "v1" } else { "v2" };
        assert_eq!(&*c.subset, want, "entropy {entropy}");
        let ep = d.endpoint.unwrap();
        assert!(
            ep.pod.starts_with(&format!("default/reviews-{want}-")),
            "{}",
            ep.pod
        );
        assert!(
            ep.source.starts_with("EndpointSlice default/reviews-"),
            "{}",
            ep.source
        );
        pods.insert(ep.pod.to_string());
        v1 += usize::from(want == "v1");
    }
    assert_eq!(v1, 900);
    // Both v1 replicas and the v2 pod; never the terminating v2 pod or v3.
    assert_eq!(pods.len(), 3, "{pods:?}");
    // jason: v3; ratings for jason: 7 s delay.
    let jason = HeaderList(&[("end-user", "jason")]);
    let req = Request {
        source: &source,
        headers: &jason,
        ..Request::get("reviews:9080", "/")
    };
    assert_eq!(&*t.decide(&req, 0).cluster.unwrap().subset, "v3");
    let req = Request {
        source: &source,
        headers: &jason,
        ..Request::get("ratings:9080", "/")
    };
    assert_eq!(
        t.decide(&req, 0).delay,
        Some(std::time::Duration::from_secs(7))
    );
    // The ingress gateway serves /productpage.
    let gw = Source {
        gateway: Some("default/bookinfo-gateway"),
        ..Source::MESH
    };
    let req = Request {
        source: &gw,
        port: 8080,
        ..Request::get("bookinfo.example.com", "/productpage")
    };
    let d = t.decide(&req, 0);
    assert_eq!(
        &*d.cluster.unwrap().name,
        "outbound|9080||productpage.default.svc.cluster.local"
    );
    assert!(d
        .endpoint
        .unwrap()
        .pod
        .starts_with("default/productpage-v1-"));
}

#[test]
fn every_kind_loads_and_unknown_ones_are_skipped() {
    let text = r#"
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata: {name: shop, labels: {istio-injection: enabled}}
- apiVersion: v1
  kind: Secret
  metadata: {name: tls-cred, namespace: istio-system}
  type: kubernetes.io/tls
  data: {tls.crt: U0VDUkVULUNFUlQ=, tls.key: U0VDUkVULUtFWQ==}
  stringData: {password: hunter2-plaintext}
- apiVersion: apps/v1
  kind: Deployment
  metadata: {name: reviews-v1, namespace: shop}
  spec:
    replicas: 3
    selector: {matchLabels: {app: reviews, version: v1}}
    template:
      metadata: {labels: {app: reviews, version: v1}}
      spec: {containers: [{name: reviews, image: x, ports: [{containerPort: 9080}]}]}
- apiVersion: apps/v1
  kind: StatefulSet
  metadata: {name: db, namespace: shop}
  spec: {replicas: 2, template: {metadata: {labels: {app: db}}}}
- apiVersion: apps/v1
  kind: ReplicaSet
  metadata: {name: rs, namespace: shop}
  spec: {template: {metadata: {labels: {app: rs}}}}
- apiVersion: apps/v1
  kind: DaemonSet
  metadata: {name: ds, namespace: shop}
  spec: {template: {metadata: {labels: {app: ds}}}}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: cm, namespace: shop}
  data: {a: b}
"#;
    let l = Loaded::from_source("t.yaml", text);
    let k = &l.config.kube;
    assert_eq!(k.namespaces.len(), 1);
    assert_eq!(k.namespaces[0].name, "shop");
    assert_eq!(k.namespaces[0].labels["istio-injection"], "enabled");
    assert_eq!(k.secrets.len(), 1);
    assert_eq!(k.secrets[0].spec.secret_type, "kubernetes.io/tls");
    assert_eq!(k.workloads.len(), 4);
    // Only the ConfigMap is skipped, once, as a warning.
    assert_eq!(l.diagnostics.len(), 1, "{:?}", l.diagnostics);
    assert_eq!(l.diagnostics[0].code, "WEIR0002");
    assert_eq!(l.diagnostics[0].severity, Severity::Warning);
    // A Secret's data appears nowhere: not in the config, not in any diagnostic.
    let printed = format!("{:?} {:?}", l.config, diagnostics(text));
    for secret in ["U0VDUkVULUNFUlQ=", "U0VDUkVULUtFWQ==", "hunter2"] {
        assert!(!printed.contains(secret), "{secret} leaked");
    }
}

#[test]
fn synthesized_pods_only_with_the_option() {
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: reviews-v2, namespace: shop}\nspec:\n  replicas: 2\n  template:\n    metadata: {labels: {app: reviews, version: v2}}\n    spec: {containers: [{name: c, ports: [{name: web, containerPort: 9080}]}]}\n";
    let text = docs(&[&service("reviews", "shop"), deploy, SUBSETS]);
    // Without the flag: no pods, no endpoints.
    let e = engine(&text);
    assert!(endpoints_of(&e, "outbound|9080||reviews.shop.svc.cluster.local").is_empty());
    // With it: two pods at documentation addresses, said so in an info diagnostic.
    let mut loaded = Loaded::default();
    loaded.config.kube_options.synthesize_pods = true;
    loaded.add_source("t.yaml", &text);
    let e = Engine::new();
    let notes = e.apply(loaded).unwrap();
    assert!(
        notes
            .iter()
            .any(|d| d.code == "WEIR0107" && d.message.contains("192.0.2.1")),
        "{notes:#?}"
    );
    assert_eq!(
        endpoints_of(&e, "outbound|9080||reviews.shop.svc.cluster.local"),
        ["192.0.2.1:9080", "192.0.2.2:9080"]
    );
    let t = e.snapshot();
    let i = t
        .cluster_index("outbound|9080||reviews.shop.svc.cluster.local")
        .unwrap();
    assert_eq!(&*t.endpoints(i)[0].pod, "shop/reviews-v2-weir-0");
}

#[test]
fn bad_kubernetes_input_is_named() {
    // (what, config, code, severity, field)
    let conflict = "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: shop}\nspec:\n  ports: [{name: http, port: 80}, {name: http, port: 80}]\n";
    let unnamed = "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: shop}\nspec:\n  ports: [{name: http, port: 80}, {port: 81}]\n";
    let orphan = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: gone-1, namespace: shop, labels: {kubernetes.io/service-name: gone}}\naddressType: IPv4\nendpoints: []\n";
    let no_ip = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nstatus: {phase: Pending}\n";
    let bad_type = "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: shop}\nspec:\n  ports: [{name: http, port: eighty}]\n";
    let sniffed = "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: shop}\nspec:\n  ports: [{name: web, port: 80}]\n";
    let external = "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: shop}\nspec: {type: ExternalName}\n";
    let cases = [
        (
            "duplicate port",
            conflict,
            "WEIR0102",
            Severity::Error,
            "spec.ports[1].port",
        ),
        (
            "duplicate name",
            conflict,
            "WEIR0102",
            Severity::Error,
            "spec.ports[1].name",
        ),
        (
            "unnamed port",
            unnamed,
            "WEIR0102",
            Severity::Error,
            "spec.ports[1].name",
        ),
        (
            "slice without service",
            orphan,
            "WEIR0103",
            Severity::Warning,
            "metadata.labels[kubernetes.io/service-name]",
        ),
        (
            "pod without IP",
            no_ip,
            "WEIR0104",
            Severity::Warning,
            "status.podIP",
        ),
        (
            "wrong type",
            bad_type,
            "WEIR0101",
            Severity::Error,
            "spec.ports[0].port",
        ),
        (
            "sniffed port",
            sniffed,
            "WEIR0105",
            Severity::Info,
            "spec.ports[0]",
        ),
        (
            "external name missing",
            external,
            "WEIR0102",
            Severity::Error,
            "spec.externalName",
        ),
    ];
    for (what, text, code, severity, field) in cases {
        let d = diagnostics(text);
        assert!(has(&d, code, severity, field), "{what}: {d:#?}");
        let resource = &d.iter().find(|x| x.code == code).unwrap().resource;
        assert_eq!(resource.namespace, "shop", "{what}");
    }
    // A rejected dump changes nothing.
    let e = engine(&reviews_cluster());
    assert!(e.apply_str(&docs(&[&reviews_cluster(), conflict])).is_err());
    assert_eq!(
        endpoints_of(&e, "outbound|9080||reviews.shop.svc.cluster.local").len(),
        3
    );
}

#[test]
fn a_new_dump_updates_endpoints_through_apply() {
    let e = engine(&reviews_cluster());
    let moved = reviews_cluster().replace("10.0.0.2", "10.0.0.22");
    e.apply_str(&moved).unwrap();
    assert_eq!(
        endpoints_of(&e, "outbound|9080||reviews.shop.svc.cluster.local"),
        ["10.0.0.1:9080", "10.0.0.22:9080", "10.0.0.5:9080"]
    );
}
