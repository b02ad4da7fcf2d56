//! A generated cluster dump at scale: what `kubectl get svc,endpointslices,pods -A -o yaml`
//! prints for `services` Services with `pods` pods each, plus the Istio resources people apply
//! to them (a VirtualService and a DestinationRule per Service).
//!
//! Objects are shaped as the API server prints them (the fields Weir reads, and the usual
//! metadata around them: uid, resourceVersion, ownerReferences, nodeName, zone), spread over
//! 50 namespaces.

use std::fmt::Write as _;

/// Namespaces the services are spread over.
pub const NAMESPACES: usize = 50;

/// The namespace of service `i`.
pub fn namespace(i: usize) -> String {
    format!("team-{:02}", i % NAMESPACES)
}

/// The name of service `i`.
pub fn service_name(i: usize) -> String {
    format!("svc-{i:05}")
}

/// The FQDN of service `i`.
pub fn service_host(i: usize) -> String {
    format!("{}.{}.svc.cluster.local", service_name(i), namespace(i))
}

/// The IP of pod `p` of service `i`, shifted by `generation` (a new rollout moves every pod).
pub fn pod_ip(i: usize, p: usize, generation: usize) -> String {
    let n = i * 64 + p + generation * 16;
    format!("10.{}.{}.{}", 64 + (n >> 16) % 128, (n >> 8) & 255, n & 255)
}

/// The Kubernetes objects of service `i` (Service, EndpointSlice, Pods) as YAML `List` items.
pub fn kube_items(out: &mut String, i: usize, pods: usize, generation: usize) {
    let (name, ns) = (service_name(i), namespace(i));
    let _ = write!(
        out,
        r#"- apiVersion: v1
  kind: Service
  metadata:
    creationTimestamp: "2026-11-30T09:14:31Z"
    labels: {{app: {name}, service: {name}}}
    name: {name}
    namespace: {ns}
    resourceVersion: "{rv}"
    uid: 9daa37e5-b3dc-4c15-aa6e-{i:012x}
  spec:
    clusterIP: 10.48.{a}.{b}
    clusterIPs: [10.48.{a}.{b}]
    internalTrafficPolicy: Cluster
    ipFamilies: [IPv4]
    ipFamilyPolicy: SingleStack
    ports:
    - {{name: http, port: 9080, protocol: TCP, targetPort: 8080}}
    selector: {{app: {name}}}
    sessionAffinity: None
    type: ClusterIP
  status:
    loadBalancer: {{}}
- addressType: IPv4
  apiVersion: discovery.k8s.io/v1
  endpoints:
"#,
        rv = 1000 + i,
        a = (i >> 8) & 255,
        b = i & 255,
    );
    for p in 0..pods {
        let _ = write!(
            out,
            r#"  - addresses: [{ip}]
    conditions: {{ready: true, serving: true, terminating: false}}
    nodeName: gke-pool-1-node-{node:03}
    targetRef: {{kind: Pod, name: {name}-{v}-{p:02}, namespace: {ns}, uid: 0af4a5a4-a0df-48f5-{i:04x}-{p:012x}}}
    zone: europe-west1-{zone}
"#,
            ip = pod_ip(i, p, generation),
            node = (i + p) % 300,
            v = version(p),
            zone = ["b", "c", "d"][p % 3],
        );
    }
    let _ = write!(
        out,
        r#"  kind: EndpointSlice
  metadata:
    creationTimestamp: "2026-11-30T09:14:31Z"
    generateName: {name}-
    generation: {g}
    labels: {{endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io, kubernetes.io/service-name: {name}}}
    name: {name}-x7k2p
    namespace: {ns}
    ownerReferences:
    - {{apiVersion: v1, blockOwnerDeletion: true, controller: true, kind: Service, name: {name}, uid: 9daa37e5-b3dc-4c15-aa6e-{i:012x}}}
    resourceVersion: "{rv}"
    uid: 634d0cd9-190b-408e-a314-{i:012x}
  ports:
  - {{name: http, port: 8080, protocol: TCP}}
"#,
        g = generation + 1,
        rv = 2000 + i + generation,
    );
    for p in 0..pods {
        let _ = write!(
            out,
            r#"- apiVersion: v1
  kind: Pod
  metadata:
    creationTimestamp: "2026-11-30T09:14:31Z"
    generateName: {name}-{v}-
    labels: {{app: {name}, version: {v}, pod-template-hash: 7cdff27e9f}}
    name: {name}-{v}-{p:02}
    namespace: {ns}
    ownerReferences:
    - {{apiVersion: apps/v1, blockOwnerDeletion: true, controller: true, kind: ReplicaSet, name: {name}-{v}-7cdff27e9f, uid: 5f0c1a1e-3d6b-4a7e-{i:04x}-{p:012x}}}
    resourceVersion: "{rv}"
    uid: 0af4a5a4-a0df-48f5-{i:04x}-{p:012x}
  spec:
    containers:
    - image: registry.example/{name}:1.20.2
      name: {name}
      ports: [{{containerPort: 8080, name: http, protocol: TCP}}]
    nodeName: gke-pool-1-node-{node:03}
    serviceAccountName: {name}
  status:
    conditions:
    - {{lastTransitionTime: "2026-11-30T09:15:02Z", status: "True", type: Initialized}}
    - {{lastTransitionTime: "2026-11-30T09:15:40Z", status: "True", type: Ready}}
    - {{lastTransitionTime: "2026-11-30T09:15:40Z", status: "True", type: ContainersReady}}
    - {{lastTransitionTime: "2026-11-30T09:15:02Z", status: "True", type: PodScheduled}}
    hostIP: 10.132.0.{h}
    phase: Running
    podIP: {ip}
    podIPs: [{{ip: {ip}}}]
    qosClass: BestEffort
    startTime: "2026-11-30T09:15:02Z"
"#,
            v = version(p),
            rv = 3000 + i * pods + p,
            node = (i + p) % 300,
            h = (i + p) % 250,
            ip = pod_ip(i, p, generation),
        );
    }
}

/// Half the pods of a service run v1, half v2.
fn version(p: usize) -> &'static str {
    if p % 2 == 0 {
        "v1"
    } else {
        "v2"
    }
}

/// The whole dump: a `kind: List` of every Kubernetes object, then one VirtualService (a header
/// rule to v2, then 90/10 between v1 and v2) and one DestinationRule (subsets v1, v2) per
/// Service, as multi-document YAML.
pub fn cluster_dump(services: usize, pods: usize) -> String {
    let mut out = String::with_capacity(services * (1_500 + pods * 1_400));
    out.push_str("apiVersion: v1\nkind: List\nmetadata: {resourceVersion: \"\"}\nitems:\n");
    for i in 0..services {
        kube_items(&mut out, i, pods, 0);
    }
    for i in 0..services {
        let (name, ns) = (service_name(i), namespace(i));
        let _ = write!(
            out,
            r#"---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {ns}}}
spec:
  hosts: [{name}]
  http:
  - match: [{{headers: {{end-user: {{exact: jason}}}}}}]
    route: [{{destination: {{host: {name}, subset: v2}}}}]
  - route:
    - {{destination: {{host: {name}, subset: v1}}, weight: 90}}
    - {{destination: {{host: {name}, subset: v2}}, weight: 10}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: {ns}}}
spec:
  host: {name}
  trafficPolicy: {{loadBalancer: {{simple: LEAST_REQUEST}}}}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
"#
        );
    }
    out
}

/// The Kubernetes objects of service `i` alone, as a later dump prints them after a rollout
/// (`generation` moves every pod to new addresses).
pub fn service_update(i: usize, pods: usize, generation: usize) -> String {
    let mut out = String::from("apiVersion: v1\nkind: List\nitems:\n");
    kube_items(&mut out, i, pods, generation);
    out
}

/// A mesh of `services` ServiceEntries (10 endpoints with two version labels each), a
/// DestinationRule (two subsets) and a VirtualService (a prefix rule, then 90/10) per service,
/// in one multi-document file: the shape of the build-phase scale issue.
pub fn mesh_config(services: usize) -> String {
    let mut out = String::with_capacity(services * 1_600);
    for i in 0..services {
        let (name, ns) = (service_name(i), namespace(i));
        let host = format!("{name}.{ns}.svc.cluster.local");
        let _ = write!(
            out,
            r#"---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {{name: {name}, namespace: {ns}}}
spec:
  hosts: [{host}]
  location: MESH_INTERNAL
  ports: [{{number: 80, name: http, protocol: HTTP}}]
  resolution: STATIC
  endpoints:
"#
        );
        for p in 0..10 {
            let _ = writeln!(
                out,
                "  - {{address: {}, labels: {{app: {name}, version: {}}}}}",
                pod_ip(i, p, 0),
                version(p)
            );
        }
        let _ = write!(
            out,
            r#"---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: {name}, namespace: {ns}}}
spec:
  host: {host}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: {ns}}}
spec:
  hosts: [{host}]
  http:
  - match: [{{uri: {{prefix: /api/v2}}}}]
    route: [{{destination: {{host: {host}, subset: v2}}}}]
  - route:
    - {{destination: {{host: {host}, subset: v1}}, weight: 90}}
    - {{destination: {{host: {host}, subset: v2}}, weight: 10}}
"#
        );
    }
    out
}

/// [`mesh_config`] with three errors per service: an unknown DestinationRule
/// field (found by load), an invalid uri regex and a subset no
/// DestinationRule defines (found by validation). For the cost of reporting
/// thousands of diagnostics.
pub fn mesh_config_with_errors(services: usize) -> String {
    mesh_config(services)
        .replace("{prefix: /api/v2}", "{regex: '(unclosed'}")
        .replace("subset: v2}, weight: 10}", "subset: v3}, weight: 10}")
        .replace("spec:\n  host: ", "spec:\n  tarfficPolicy: {}\n  host: ")
}
