//! The filter's plugin configuration carrying Kubernetes objects as
//! `kubectl get svc,endpointslices,pods -o yaml` prints them, next to the
//! Istio resources: a real Envoy routes to the pods the EndpointSlices list.

use weir_envoy_tests::harness::*;

/// A Service, two EndpointSlices (the v1 pods, and the v2 pods with one
/// terminating), their Pods, the DestinationRule subsets and a 90/10 split
/// with a header rule. `{V1A}`… are upstream ports: every pod is on
/// 127.0.0.1, each listening on its own port (an EndpointSlice per port, as
/// the EndpointSlice controller writes them when pods differ in ports).
const DUMP: &str = r#"
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: reviews, namespace: default, labels: {app: reviews}}
  spec:
    clusterIP: 10.48.3.61
    selector: {app: reviews}
    ports: [{name: http, port: 9080, protocol: TCP, targetPort: http}]
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata:
    name: reviews-a1
    namespace: default
    labels: {kubernetes.io/service-name: reviews}
  addressType: IPv4
  ports: [{name: http, port: {V1A}, protocol: TCP}]
  endpoints:
  - addresses: [127.0.0.1]
    conditions: {ready: true, serving: true, terminating: false}
    targetRef: {kind: Pod, name: reviews-v1-a, namespace: default}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata:
    name: reviews-b2
    namespace: default
    labels: {kubernetes.io/service-name: reviews}
  addressType: IPv4
  ports: [{name: http, port: {V1B}, protocol: TCP}]
  endpoints:
  - addresses: [127.0.0.1]
    conditions: {ready: true, serving: true, terminating: false}
    targetRef: {kind: Pod, name: reviews-v1-b, namespace: default}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata:
    name: reviews-c3
    namespace: default
    labels: {kubernetes.io/service-name: reviews}
  addressType: IPv4
  ports: [{name: http, port: {V2}, protocol: TCP}]
  endpoints:
  - addresses: [127.0.0.1]
    conditions: {ready: true, serving: true, terminating: false}
    targetRef: {kind: Pod, name: reviews-v2-a, namespace: default}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata:
    name: reviews-d4
    namespace: default
    labels: {kubernetes.io/service-name: reviews}
  addressType: IPv4
  ports: [{name: http, port: {GONE}, protocol: TCP}]
  endpoints:
  - addresses: [127.0.0.1]
    conditions: {ready: false, serving: true, terminating: true}
    targetRef: {kind: Pod, name: reviews-v2-old, namespace: default}
- apiVersion: v1
  kind: Pod
  metadata: {name: reviews-v1-a, namespace: default, labels: {app: reviews, version: v1}}
  status: {phase: Running, podIP: 127.0.0.1, conditions: [{type: Ready, status: "True"}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: reviews-v1-b, namespace: default, labels: {app: reviews, version: v1}}
  status: {phase: Running, podIP: 127.0.0.1, conditions: [{type: Ready, status: "True"}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: reviews-v2-a, namespace: default, labels: {app: reviews, version: v2}}
  status: {phase: Running, podIP: 127.0.0.1, conditions: [{type: Ready, status: "True"}]}
- apiVersion: v1
  kind: Pod
  metadata: {name: reviews-v2-old, namespace: default, labels: {app: reviews, version: v2}}
  status: {phase: Running, podIP: 127.0.0.1, conditions: [{type: Ready, status: "False"}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 90}
    - {destination: {host: reviews, subset: v2}, weight: 10}
"#;

const REVIEWS: &str = "reviews.default.svc.cluster.local";

#[test]
fn kubernetes_objects_in_the_plugin_config_route_to_the_pods() {
    let wasm = filter_wasm();
    let (v1a, v1b, v2, gone) = (
        Upstream::start("v1a"),
        Upstream::start("v1b"),
        Upstream::start("v2"),
        Upstream::start("gone"),
    );
    let dump = DUMP
        .replace("{V1A}", &v1a.port.to_string())
        .replace("{V1B}", &v1b.port.to_string())
        .replace("{V2}", &v2.port.to_string())
        .replace("{GONE}", &gone.port.to_string());
    let plugin = serde_json::json!({"config": dump, "source_namespace": "default"}).to_string();
    // The v2 cluster has the terminating pod too: had Weir named it, Envoy
    // would have sent the request there.
    let clusters = [
        override_host_cluster(
            &format!("outbound|9080|v1|{REVIEWS}"),
            &[v1a.port, v1b.port],
            "x-weir-endpoint",
        ),
        override_host_cluster(
            &format!("outbound|9080|v2|{REVIEWS}"),
            &[v2.port, gone.port],
            "x-weir-endpoint",
        ),
    ]
    .concat();
    let (admin, port) = (free_port(), free_port());
    let yaml = bootstrap(admin, port, &plugin, &wasm, &clusters);
    let _envoy = Envoy::start(&scratch_dir("kubernetes"), &yaml, admin);

    const N: usize = 400;
    let responses: Vec<_> = (0..N)
        .map(|_| get(port, "reviews:9080", "/reviews/0", &[]))
        .collect();
    assert!(
        responses.iter().all(|r| r.status == 200),
        "{:?}",
        responses.iter().find(|r| r.status != 200)
    );
    let t = tally(&responses);
    let to_v2 = t.get("v2").copied().unwrap_or(0);
    // Binomial(400, 0.1): mean 40, sd 6; ±5 sd.
    assert!((10..=70).contains(&to_v2), "v2 {to_v2} of {N}: {t:?}");
    // Both v1 pods serve (round robin or least request over two: far from 0).
    assert!(t.get("v1a").copied().unwrap_or(0) > 100, "{t:?}");
    assert!(t.get("v1b").copied().unwrap_or(0) > 100, "{t:?}");
    // jason: v2, always the ready pod.
    for _ in 0..20 {
        let r = get(port, "reviews:9080", "/", &[("end-user", "jason")]);
        assert_eq!((r.status, r.upstream()), (200, Some("v2")), "{r:?}");
    }
    // The terminating pod got nothing; every upstream saw the endpoint
    // header naming itself (the pod Weir chose from the EndpointSlice).
    assert_eq!(gone.seen().len(), 0);
    for up in [&v1a, &v1b, &v2] {
        for s in up.seen() {
            assert_eq!(
                s.header("x-weir-endpoint"),
                Some(format!("127.0.0.1:{}", up.port).as_str()),
                "{}",
                up.name
            );
        }
    }
}

#[test]
fn a_bad_kubernetes_object_keeps_envoy_from_starting() {
    let wasm = filter_wasm();
    // Two ports named alike: the API server would refuse this Service.
    let bad = r#"
apiVersion: v1
kind: Service
metadata: {name: reviews, namespace: default}
spec:
  ports: [{name: http, port: 9080}, {name: http, port: 9081}]
"#;
    let plugin = serde_json::json!({ "config": bad }).to_string();
    let (admin, port) = (free_port(), free_port());
    let clusters = override_host_cluster("x", &[1], "x-weir-endpoint");
    let yaml = bootstrap(admin, port, &plugin, &wasm, &clusters);
    let mut envoy = Envoy::spawn(&scratch_dir("kubernetes-bad"), &yaml, admin);
    let status = envoy.wait_exit(std::time::Duration::from_secs(30));
    let log = envoy.log();
    assert!(
        status.is_some_and(|s| !s.success()),
        "Envoy should refuse the plugin; status {status:?}\n{log}"
    );
    assert!(
        log.contains("WEIR0102") && log.contains("reviews") && log.contains("spec.ports[1]"),
        "the log must name the resource and the field:\n{log}"
    );
}
