//! Trimming per proxy, after istiod's `PILOT_FILTER_GATEWAY_CLUSTER_CONFIG`:
//! a gateway receives only the Gateways whose selector matches its labels,
//! the VirtualServices bound to them (and their delegates), and the
//! DestinationRules, services and endpoints of the hosts those route to.
//! A sidecar receives everything but Gateways and gateway-only
//! VirtualServices.

use crate::node::{NodeIdentity, Role};
use crate::source::Document;
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use weir_core::config::names::{expand_host, host_matches};

/// What one proxy receives.
#[derive(Debug, Clone)]
pub struct Trimmed<'a> {
    /// The documents, in the order of the directory.
    pub docs: Vec<&'a Document>,
    /// `ns/name` of the Gateways selected (gateways only), sorted.
    pub gateways: Vec<String>,
    /// The service hosts (FQDN) whose documents were kept; `None`: all.
    pub service_hosts: Option<BTreeSet<String>>,
    /// The one server port of the selected Gateways, when they agree.
    pub gateway_port: Option<u64>,
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `spec.gateways` of a VirtualService, resolved to `ns/name` (or `mesh`);
/// none written means `mesh`.
fn bound_gateways(vs: &Document) -> Vec<String> {
    let list = strings(&vs.spec()["gateways"]);
    if list.is_empty() {
        return vec!["mesh".into()];
    }
    list.into_iter()
        .map(|g| match g {
            "mesh" => "mesh".into(),
            g if g.contains('/') => g.to_string(),
            g => format!("{}/{g}", vs.namespace),
        })
        .collect()
}

/// True when a Gateway's `selector` selects a workload with `labels`.
fn selects(gateway: &Document, node: &NodeIdentity) -> bool {
    let Some(selector) = gateway.spec()["selector"].as_object() else {
        return true; // no selector: every gateway workload (Istio's default)
    };
    selector.iter().all(|(k, v)| {
        v.as_str()
            .is_some_and(|v| node.labels.get(k).map(String::as_str) == Some(v))
    })
}

/// The destination hosts a VirtualService routes or mirrors to, expanded.
fn destination_hosts(vs: &Document, out: &mut BTreeSet<String>) {
    let spec = vs.spec();
    let mut add = |d: &Value| {
        if let Some(h) = d["host"].as_str() {
            out.insert(expand_host(h, &vs.namespace));
        }
    };
    for section in ["http", "tcp", "tls"] {
        for rule in spec[section].as_array().into_iter().flatten() {
            for r in rule["route"].as_array().into_iter().flatten() {
                add(&r["destination"]);
            }
            add(&rule["mirror"]);
            for m in rule["mirrors"].as_array().into_iter().flatten() {
                add(&m["destination"]);
            }
        }
    }
}

/// `(namespace, name)` of the delegates a VirtualService's routes name.
fn delegates(vs: &Document) -> Vec<(String, String)> {
    vs.spec()["http"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let d = r.get("delegate")?;
            let name = d["name"].as_str()?.to_string();
            let ns = d["namespace"].as_str().unwrap_or(&vs.namespace).to_string();
            Some((ns, name))
        })
        .collect()
}

fn wanted(hosts: &BTreeSet<String>, host: &str) -> bool {
    hosts.contains(host)
        || hosts
            .iter()
            .any(|h| host_matches(host, h) || host_matches(h, host))
}

/// The documents `node` receives.
pub fn trim<'a>(docs: &'a [Document], node: &NodeIdentity, cluster_domain: &str) -> Trimmed<'a> {
    let is = |d: &Document, kind: &str| d.kind == kind;
    let gateways: BTreeSet<String> = match node.role {
        Role::Sidecar => BTreeSet::new(),
        Role::Gateway => docs
            .iter()
            .filter(|d| is(d, "Gateway") && selects(d, node))
            .map(|d| format!("{}/{}", d.namespace, d.name))
            .collect(),
    };
    let bound_here = |vs: &Document| {
        bound_gateways(vs).iter().any(|g| match node.role {
            Role::Sidecar => g == "mesh",
            Role::Gateway => gateways.contains(g),
        })
    };
    // VirtualServices bound here, then their delegates (to a fixpoint:
    // Istio allows one level, but a chain costs nothing to follow).
    let mut kept_vs: HashSet<usize> = docs
        .iter()
        .enumerate()
        .filter(|(_, d)| is(d, "VirtualService") && bound_here(d))
        .map(|(i, _)| i)
        .collect();
    let mut frontier: Vec<usize> = kept_vs.iter().copied().collect();
    while let Some(i) = frontier.pop() {
        for (ns, name) in delegates(&docs[i]) {
            if let Some(j) = docs
                .iter()
                .position(|d| is(d, "VirtualService") && d.namespace == ns && d.name == name)
            {
                if kept_vs.insert(j) {
                    frontier.push(j);
                }
            }
        }
    }
    let gateway_port = {
        let ports: BTreeSet<u64> = docs
            .iter()
            .filter(|d| {
                is(d, "Gateway") && gateways.contains(&format!("{}/{}", d.namespace, d.name))
            })
            .flat_map(|d| {
                d.spec()["servers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|s| s["port"]["number"].as_u64())
            })
            .collect();
        (ports.len() == 1).then(|| ports.into_iter().next().unwrap_or(0))
    };
    let gateway_list: Vec<String> = gateways.iter().cloned().collect();

    if node.role == Role::Sidecar {
        let docs = docs
            .iter()
            .enumerate()
            .filter(|(i, d)| match d.kind.as_str() {
                "Gateway" => false,
                "VirtualService" => kept_vs.contains(i),
                _ => true,
            })
            .map(|(_, d)| d)
            .collect();
        return Trimmed {
            docs,
            gateways: gateway_list,
            service_hosts: None,
            gateway_port: None,
        };
    }

    let mut hosts = BTreeSet::new();
    for &i in &kept_vs {
        destination_hosts(&docs[i], &mut hosts);
    }
    let kube_host = |d: &Document| format!("{}.{}.svc.{cluster_domain}", d.name, d.namespace);
    let mut service_hosts = BTreeSet::new();
    let mut entry_namespaces = BTreeSet::new();
    let mut services: BTreeSet<(String, String)> = BTreeSet::new();
    for d in docs {
        match d.kind.as_str() {
            "ServiceEntry" => {
                let se_hosts: Vec<String> = strings(&d.spec()["hosts"])
                    .into_iter()
                    .map(|h| expand_host(h, &d.namespace))
                    .collect();
                if se_hosts.iter().any(|h| wanted(&hosts, h)) {
                    service_hosts.extend(se_hosts);
                    entry_namespaces.insert(d.namespace.clone());
                }
            }
            "Service" => {
                let h = kube_host(d);
                if wanted(&hosts, &h) {
                    service_hosts.insert(h);
                    services.insert((d.namespace.clone(), d.name.clone()));
                }
            }
            _ => {}
        }
    }
    let service_namespaces: BTreeSet<&str> = services.iter().map(|(ns, _)| ns.as_str()).collect();
    let kept = docs
        .iter()
        .enumerate()
        .filter(|(i, d)| match d.kind.as_str() {
            "Gateway" => gateways.contains(&format!("{}/{}", d.namespace, d.name)),
            "VirtualService" => kept_vs.contains(i),
            "DestinationRule" => d.spec()["host"]
                .as_str()
                .is_some_and(|h| wanted(&hosts, &expand_host(h, &d.namespace))),
            "ServiceEntry" => strings(&d.spec()["hosts"])
                .iter()
                .any(|h| service_hosts.contains(&expand_host(h, &d.namespace))),
            "WorkloadEntry" => entry_namespaces.contains(&d.namespace),
            "Service" => services.contains(&(d.namespace.clone(), d.name.clone())),
            "Endpoints" => services.contains(&(d.namespace.clone(), d.name.clone())),
            "EndpointSlice" => d
                .label("kubernetes.io/service-name")
                .is_some_and(|s| services.contains(&(d.namespace.clone(), s.to_string()))),
            "Pod" => service_namespaces.contains(d.namespace.as_str()),
            // Namespaces, Secrets, workloads: small, and what the rest means.
            _ => true,
        })
        .map(|(_, d)| d)
        .collect();
    Trimmed {
        docs: kept,
        gateways: gateway_list,
        service_hosts: Some(service_hosts),
        gateway_port,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{documents, Files};

    const CONFIG: &str = r#"
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: edge}
spec:
  selector: {istio: ingress-public}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: partner, namespace: edge}
spec:
  selector: {istio: ingress-partner}
  servers: [{port: {number: 8080, name: http, protocol: HTTP}, hosts: ["*"]}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: edge}
spec:
  hosts: [shop.example.com]
  gateways: [public]
  http:
  - delegate: {name: shop-routes, namespace: shop}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop-routes, namespace: shop}
spec:
  http:
  - route: [{destination: {host: web}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: partner, namespace: edge}
spec:
  hosts: [api.partner.com]
  gateways: [edge/partner]
  http:
  - route: [{destination: {host: api.partner.svc.cluster.local}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web-mesh, namespace: shop}
spec:
  hosts: [web]
  http:
  - route: [{destination: {host: web}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: shop}
spec: {host: web}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: partner}
spec: {host: api}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec: {ports: [{port: 80, name: http}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}
endpoints: [{addresses: [10.0.0.1]}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: partner}
spec: {ports: [{port: 80, name: http}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: api-1, namespace: partner, labels: {kubernetes.io/service-name: api}}
endpoints: [{addresses: [10.0.1.1]}]
"#;

    fn names(t: &Trimmed<'_>) -> Vec<String> {
        t.docs
            .iter()
            .map(|d| format!("{} {}/{}", d.kind, d.namespace, d.name))
            .collect()
    }

    fn node(v: serde_json::Value) -> NodeIdentity {
        NodeIdentity::from_json(&v).expect("node")
    }

    #[test]
    fn each_proxy_gets_only_its_part() {
        let docs = documents(&Files {
            texts: vec![("c.yaml".into(), CONFIG.into())],
        })
        .expect("parses");
        let public = node(
            serde_json::json!({"id": "router~1~gw.edge~edge.svc.cluster.local",
            "metadata": {"LABELS": {"istio": "ingress-public"}}}),
        );
        let t = trim(&docs, &public, "cluster.local");
        assert_eq!(
            names(&t),
            [
                "Gateway edge/public",
                "VirtualService edge/shop",
                "VirtualService shop/shop-routes",
                "DestinationRule shop/web",
                "Service shop/web",
                "EndpointSlice shop/web-1",
            ]
        );
        assert_eq!(t.gateways, ["edge/public"]);
        assert_eq!(t.gateway_port, Some(80));

        let partner = node(
            serde_json::json!({"id": "router~1~gw.edge~edge.svc.cluster.local",
            "metadata": {"LABELS": {"istio": "ingress-partner"}}}),
        );
        let t = trim(&docs, &partner, "cluster.local");
        assert_eq!(
            names(&t),
            [
                "Gateway edge/partner",
                "VirtualService edge/partner",
                "DestinationRule partner/api",
                "Service partner/api",
                "EndpointSlice partner/api-1",
            ]
        );

        let nobody = node(serde_json::json!({"id": "router~1~x.y~y.svc.cluster.local",
            "metadata": {"LABELS": {"istio": "other"}}}));
        assert!(trim(&docs, &nobody, "cluster.local").docs.is_empty());

        let sidecar = node(serde_json::json!({"id": "sidecar~1~web.shop~shop.svc.cluster.local"}));
        let t = trim(&docs, &sidecar, "cluster.local");
        let n = names(&t);
        assert!(!n.iter().any(|n| n.starts_with("Gateway")), "{n:?}");
        assert!(
            n.contains(&"VirtualService shop/web-mesh".to_string()),
            "{n:?}"
        );
        assert!(
            !n.contains(&"VirtualService edge/shop".to_string()),
            "{n:?}"
        );
        assert!(
            n.contains(&"EndpointSlice partner/api-1".to_string()),
            "{n:?}"
        );
    }
}
