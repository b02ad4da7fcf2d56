//! Endpoint-only changes: told apart from the rest so the filter can apply
//! them with `Engine::set_endpoints` instead of compiling its routes again.
//!
//! A change is endpoint-only when the documents, with what only carries
//! endpoints taken out (a ServiceEntry's `endpoints`, EndpointSlices,
//! Endpoints, WorkloadEntries, Pods), are the same as those of the base (the
//! config last pushed whole). The endpoints of every host are then read from
//! weir-core's registry for both, and the hosts that differ travel as the
//! plugin's `endpoints` overrides, on top of the unchanged base `config`.

use crate::source::{load, Document};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use weir_core::compile::registry::{endpoint_port, Registry, RegistryEndpoint, Service};
use weir_core::config::kube::Options;

/// The kinds that only carry endpoints.
const ENDPOINT_KINDS: [&str; 4] = ["EndpointSlice", "Endpoints", "WorkloadEntry", "Pod"];

/// The documents with their endpoint-only content removed.
pub fn skeleton(docs: &[Document]) -> Vec<Value> {
    docs.iter()
        .filter(|d| !ENDPOINT_KINDS.contains(&d.kind.as_str()))
        .map(|d| {
            let mut v = d.value.clone();
            if d.kind == "ServiceEntry" {
                if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
                    spec.remove("endpoints");
                }
            }
            json!([d.file, v])
        })
        .collect()
}

/// The endpoints of every service host: as the registry has them (to
/// compare), and as the plugin's `endpoints` field writes them (`None` for a
/// host whose endpoints a plain list cannot say: an endpoint with its own
/// port for one of several service ports).
pub type HostEndpoints = BTreeMap<String, (Vec<RegistryEndpoint>, Option<Vec<Value>>)>;

/// Reads every host's endpoints through weir-core's registry.
pub fn host_endpoints(docs: &[Document], options: &Options) -> HostEndpoints {
    let loaded = load(docs, options);
    let registry = Registry::build(&loaded.config);
    registry
        .services
        .iter()
        .map(|s| {
            (
                s.host.clone(),
                (s.endpoints.clone(), as_plugin_endpoints(s)),
            )
        })
        .collect()
}

fn as_plugin_endpoints(service: &Service) -> Option<Vec<Value>> {
    service
        .endpoints
        .iter()
        .map(|ep| {
            // An explicit port must be the same for every cluster of the
            // host; with one service port it is, else only "none".
            let port = match service.ports.as_slice() {
                [sp] => Some(endpoint_port(ep, sp)),
                _ if ep.ports.is_empty() => None,
                _ => return None,
            };
            let mut v = json!({"address": ep.address, "weight": ep.weight.max(1)});
            if let Some(p) = port {
                v["port"] = json!(p);
            }
            if !ep.labels.is_empty() {
                v["labels"] = json!(&*ep.labels);
            }
            if !ep.locality.is_empty() {
                v["locality"] = json!(&*ep.locality);
            }
            Some(v)
        })
        .collect()
}

/// The overrides that turn `base` into `new`, on top of `previous`
/// (overrides are cumulative since the base: a host once overridden stays,
/// since the filter cannot take an override back); `None` when some
/// changed host's endpoints cannot travel as a list.
pub fn overrides(
    base: &HostEndpoints,
    new: &HostEndpoints,
    previous: &BTreeMap<String, Vec<Value>>,
) -> Option<BTreeMap<String, Vec<Value>>> {
    if base.keys().ne(new.keys()) {
        return None; // a service came or went: not endpoints only
    }
    let mut out = previous.clone();
    for (host, (raw, list)) in new {
        let same_as_base = base.get(host).is_some_and(|(b, _)| b == raw);
        if !same_as_base || previous.contains_key(host) {
            out.insert(host.clone(), list.clone()?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{documents, Files};

    fn docs(text: &str) -> Vec<Document> {
        documents(&Files {
            texts: vec![("c.yaml".into(), text.into())],
        })
        .expect("parses")
    }

    const SE: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: default}
spec:
  hosts: [web.test]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1, ports: {http: 8080}, labels: {v: a}}]
"#;

    #[test]
    fn an_endpoint_change_keeps_the_skeleton_and_names_its_host() {
        let options = Options::default();
        let before = docs(SE);
        let after = docs(&SE.replace("10.0.0.1", "10.0.0.2"));
        assert_eq!(skeleton(&before), skeleton(&after));
        let (b, a) = (
            host_endpoints(&before, &options),
            host_endpoints(&after, &options),
        );
        let o = overrides(&b, &a, &BTreeMap::new()).expect("representable");
        assert_eq!(
            serde_json::to_value(&o).unwrap_or_default(),
            json!({"web.test": [{"address": "10.0.0.2", "port": 8080, "weight": 1, "labels": {"v": "a"}}]})
        );
        // Back to the base: the host stays overridden (with the base's list).
        let o2 = overrides(&b, &b, &o).expect("representable");
        assert_eq!(o2["web.test"][0]["address"], "10.0.0.1");
        // A route change is not endpoint-only.
        let other = docs(&SE.replace("number: 80", "number: 81"));
        assert_ne!(skeleton(&before), skeleton(&other));
    }

    #[test]
    fn per_port_endpoint_ports_of_a_multi_port_service_are_not_a_list() {
        let two = SE.replace(
            "ports: [{number: 80, name: http, protocol: HTTP}]",
            "ports: [{number: 80, name: http, protocol: HTTP}, {number: 81, name: admin, protocol: HTTP}]",
        );
        let options = Options::default();
        let b = host_endpoints(&docs(&two), &options);
        let a = host_endpoints(&docs(&two.replace("10.0.0.1", "10.0.0.2")), &options);
        assert_eq!(overrides(&b, &a, &BTreeMap::new()), None);
    }
}
