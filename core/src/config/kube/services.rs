//! Kubernetes Services → registry services, as istiod's Kubernetes
//! registry builds them (istio/istio
//! `pilot/pkg/serviceregistry/kube/controller/{controller,endpointslice}.go`,
//! `pilot/pkg/serviceregistry/kube/conversion.go`).
//!
//! - host `name.namespace.svc.<cluster domain>`; ports with the protocol
//!   Istio selects ([`super::protocol`]);
//! - endpoints from the Service's EndpointSlices (label
//!   `kubernetes.io/service-name`), else its legacy Endpoints, else (a
//!   manifest with no cluster behind it) its selector over the ready pods;
//!   only ready endpoints, as Istio sends only healthy ones;
//! - an endpoint's labels are its pod's, reached through `targetRef`: they
//!   are what DestinationRule subsets select on;
//! - `ExternalName`: one endpoint, the DNS name; headless (`clusterIP:
//!   None`): passthrough to the original destination.

use super::model::*;
use super::protocol;
use super::{KubeKind, Objects, Options, ServiceObject, Workload};
use crate::config::model::{ServicePort, StringMap};
use crate::config::registry::{RegistryEndpoint, Service};
use crate::config::{Config, Resource};
use hashbrown::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

/// The label that ties an EndpointSlice to its Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The host of Service `name` in `namespace`.
pub fn service_host(name: &str, namespace: &str, options: &Options) -> String {
    format!(
        "{}.{}.svc.{}",
        name.to_ascii_lowercase(),
        namespace.to_ascii_lowercase(),
        options.cluster_domain
    )
}

/// Lookups over the objects, built once per registry.
pub(crate) struct Index<'a> {
    // namespace → name → object: nested so lookups borrow any `&str`.
    slices: HashMap<&'a str, HashMap<&'a str, Vec<&'a Resource<EndpointSliceSpec>>>>,
    endpoints: HashMap<&'a str, HashMap<&'a str, &'a Resource<EndpointsSpec>>>,
    pods: HashMap<&'a str, HashMap<&'a str, &'a Resource<PodObject>>>,
    pods_by_namespace: HashMap<&'a str, Vec<&'a Resource<PodObject>>>,
}

impl<'a> Index<'a> {
    pub fn new(objects: &'a Objects, synthesized: &'a [Resource<PodObject>]) -> Index<'a> {
        let mut slices: HashMap<_, HashMap<_, Vec<_>>> = HashMap::new();
        for s in &objects.endpoint_slices {
            if let Some(svc) = s.labels.get(SERVICE_NAME_LABEL) {
                slices
                    .entry(s.namespace.as_str())
                    .or_default()
                    .entry(svc.as_str())
                    .or_default()
                    .push(s);
            }
        }
        let mut endpoints: HashMap<_, HashMap<_, _>> = HashMap::new();
        for e in &objects.endpoints {
            endpoints
                .entry(e.namespace.as_str())
                .or_default()
                .insert(e.name.as_str(), e);
        }
        let mut pods: HashMap<_, HashMap<_, _>> = HashMap::new();
        let mut pods_by_namespace: HashMap<_, Vec<_>> = HashMap::new();
        for p in objects.pods.iter().chain(synthesized) {
            pods.entry(p.namespace.as_str())
                .or_default()
                .insert(p.name.as_str(), p);
            pods_by_namespace
                .entry(p.namespace.as_str())
                .or_default()
                .push(p);
        }
        Index {
            slices,
            endpoints,
            pods,
            pods_by_namespace,
        }
    }

    /// The EndpointSlices of Service `namespace/name`.
    pub fn slices(&self, namespace: &str, name: &str) -> &[&'a Resource<EndpointSliceSpec>] {
        self.slices
            .get(namespace)
            .and_then(|m| m.get(name))
            .map_or(&[], Vec::as_slice)
    }

    /// The legacy Endpoints of Service `namespace/name`.
    pub fn endpoints(&self, namespace: &str, name: &str) -> Option<&'a Resource<EndpointsSpec>> {
        self.endpoints.get(namespace)?.get(name).copied()
    }

    /// The pod `namespace/name`.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<&'a Resource<PodObject>> {
        self.pods.get(namespace)?.get(name).copied()
    }

    /// The pods of `namespace`.
    pub fn pods_in(&self, namespace: &str) -> &[&'a Resource<PodObject>] {
        self.pods_by_namespace
            .get(namespace)
            .map_or(&[], Vec::as_slice)
    }

    /// The pod a `targetRef` names, if it is a pod in the input.
    fn target_pod(
        &self,
        target: Option<&ObjectReference>,
        namespace: &str,
    ) -> Option<&'a Resource<PodObject>> {
        let t = target.filter(|t| t.kind == "Pod")?;
        self.pod(t.namespace.as_deref().unwrap_or(namespace), &t.name)
    }
}

/// A pod receives traffic when it runs, is Ready and has an IP.
pub fn pod_ready(pod: &PodObject) -> bool {
    pod.status.phase.as_deref() == Some("Running")
        && pod
            .status
            .conditions
            .iter()
            .any(|c| c.condition_type == "Ready" && c.status == "True")
}

/// The pod's IPs (`status.podIPs`, else `status.podIP`).
pub fn pod_ips(pod: &PodObject) -> Vec<&str> {
    let ips: Vec<&str> = pod
        .status
        .pod_ips
        .iter()
        .map(|p| p.ip.as_str())
        .filter(|ip| !ip.is_empty())
        .collect();
    if !ips.is_empty() {
        return ips;
    }
    pod.status
        .pod_ip
        .as_deref()
        .filter(|ip| !ip.is_empty())
        .into_iter()
        .collect()
}

/// Whether [`pod_ips`] has any (without collecting them).
pub fn pod_has_ip(pod: &PodObject) -> bool {
    pod.status.pod_ips.iter().any(|p| !p.ip.is_empty())
        || pod
            .status
            .pod_ip
            .as_deref()
            .is_some_and(|ip| !ip.is_empty())
}

/// An EndpointSlice endpoint receives traffic when ready (absent means
/// ready) and not terminating.
pub fn slice_endpoint_ready(c: &Conditions) -> bool {
    c.ready != Some(false) && c.terminating != Some(true)
}

/// Pods made up for workloads (`--synthesize-pods`): `replicas` pods each
/// (one for a DaemonSet), named `<workload>-weir-<n>`, Running and Ready,
/// with the template's labels and containers and addresses from the
/// documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
/// then 2001:db8::/32), so they can never be mistaken for real ones.
pub fn synthesize_pods(workloads: &[Resource<Workload>]) -> Vec<Resource<PodObject>> {
    let mut out = Vec::new();
    let mut n = 0u32;
    for w in workloads {
        let replicas = match w.spec.kind {
            KubeKind::DaemonSet => 1,
            _ => w.spec.spec.replicas.unwrap_or(1).clamp(0, 10_000),
        };
        for i in 0..replicas {
            let address = documentation_address(n);
            n += 1;
            out.push(Resource {
                name: format!("{}-weir-{i}", w.name),
                namespace: w.namespace.clone(),
                created: None,
                order: w.order,
                labels: w.spec.spec.template.metadata.labels.clone(),
                spec: PodObject {
                    spec: w.spec.spec.template.spec.clone(),
                    status: PodStatus {
                        phase: Some("Running".into()),
                        pod_ip: Some(address.to_string()),
                        pod_ips: Vec::new(),
                        conditions: vec![PodCondition {
                            condition_type: "Ready".into(),
                            status: "True".into(),
                        }],
                    },
                },
                origin: w.origin.clone(),
            });
        }
    }
    out
}

/// The `n`th documentation address (RFC 5737, then RFC 3849).
fn documentation_address(n: u32) -> IpAddr {
    const V4: [[u8; 3]; 3] = [[192, 0, 2], [198, 51, 100], [203, 0, 113]];
    // .1 to .254 of each /24.
    let (block, host) = ((n / 254) as usize, (n % 254) as u8 + 1);
    match V4.get(block) {
        Some(&[a, b, c]) => IpAddr::V4(Ipv4Addr::new(a, b, c, host)),
        None => {
            let k = n - 3 * 254 + 1;
            IpAddr::V6(Ipv6Addr::new(
                0x2001,
                0xdb8,
                0,
                0,
                0,
                0,
                (k >> 16) as u16,
                k as u16,
            ))
        }
    }
}

/// The pods `--synthesize-pods` makes for `config`'s workloads (none
/// without it).
pub(crate) fn synthesized_pods(config: &Config) -> Vec<Resource<PodObject>> {
    if config.kube_options.synthesize_pods {
        synthesize_pods(&config.kube.workloads)
    } else {
        Vec::new()
    }
}

/// The registry services of `config`'s Kubernetes Services.
pub fn build(config: &Config) -> Vec<Service> {
    if config.kube.services.is_empty() {
        return Vec::new();
    }
    let synthesized = synthesized_pods(config);
    let index = Index::new(&config.kube, &synthesized);
    build_with(config, &index)
}

/// [`build`] with the index of `config`'s objects already made (validation
/// shares one with [`super::check::check_with`]).
pub(crate) fn build_with<'a>(config: &'a Config, index: &Index<'a>) -> Vec<Service> {
    let mut texts = Texts::default();
    config
        .kube
        .services
        .iter()
        .map(|svc| service(svc, index, &config.kube_options, &mut texts))
        .collect()
}

/// The service port list Istio makes of a Service's ports.
pub fn service_ports(spec: &ServiceSpec) -> Vec<ServicePort> {
    spec.ports
        .iter()
        .map(|p| ServicePort {
            number: p.port.clamp(0, i64::from(u32::MAX)) as u32,
            protocol: protocol::select(
                p.port,
                &p.name,
                p.protocol.as_deref(),
                p.app_protocol.as_deref(),
            )
            .as_str()
            .to_string(),
            name: p.name.clone(),
            // A named target port is resolved per endpoint (the slice's
            // named port, or the pod's container port of that name).
            target_port: match &p.target_port {
                Some(IntOrString::Int(n)) if *n > 0 => u32::try_from(*n).ok(),
                Some(IntOrString::Str(s)) => s.parse().ok(),
                _ => u32::try_from(p.port).ok(),
            },
        })
        .collect()
}

/// The texts endpoints share: each zone's once, each set of pod labels
/// once (a ReplicaSet's pods carry the same), and the empty ones.
struct Texts<'a> {
    zones: HashMap<&'a str, Arc<str>>,
    labels: HashMap<&'a StringMap, Arc<StringMap>>,
    empty: Arc<str>,
    no_labels: Arc<StringMap>,
}

impl Default for Texts<'_> {
    fn default() -> Self {
        Texts {
            zones: HashMap::new(),
            labels: HashMap::new(),
            empty: crate::config::registry::shared::text(""),
            no_labels: crate::config::registry::shared::labels(&StringMap::new()),
        }
    }
}

impl<'a> Texts<'a> {
    /// The labels of `pod` (none without one).
    fn labels(&mut self, pod: Option<&'a Resource<PodObject>>) -> Arc<StringMap> {
        match pod {
            Some(p) if !p.labels.is_empty() => self
                .labels
                .entry(&p.labels)
                .or_insert_with(|| Arc::new(p.labels.clone()))
                .clone(),
            _ => self.no_labels.clone(),
        }
    }

    fn zone(&mut self, zone: Option<&'a str>) -> Arc<str> {
        match zone {
            None | Some("") => self.empty.clone(),
            Some(z) => self.zones.entry(z).or_insert_with(|| z.into()).clone(),
        }
    }
}

fn service<'a>(
    svc: &'a Resource<ServiceObject>,
    index: &Index<'a>,
    options: &Options,
    texts: &mut Texts<'a>,
) -> Service {
    let spec = &svc.spec.spec;
    let host = service_host(&svc.name, &svc.namespace, options);
    let ports = service_ports(spec);
    let external = spec.service_type.as_deref() == Some("ExternalName");
    let headless = spec
        .cluster_ip
        .as_deref()
        .is_some_and(|ip| ip.eq_ignore_ascii_case("None"));
    let endpoints = if external {
        // Istio resolves the external name by DNS: one endpoint, the name.
        spec.external_name
            .iter()
            .map(|name| RegistryEndpoint {
                address: name.to_ascii_lowercase(),
                source: format!("ExternalName {name}").into(),
                ..RegistryEndpoint::default()
            })
            .collect()
    } else {
        endpoints_of(svc, index, texts)
    };
    Service {
        host,
        namespace: svc.namespace.clone(),
        entry: svc.name.clone(),
        ports,
        endpoints,
        passthrough: headless && !external,
        kind: "Service",
        export_to: svc.spec.export_to.clone(),
    }
}

/// The ready endpoints of a Service: slices, else Endpoints, else selector.
///
/// The texts of a slice (its ports, its `source`) are made once and shared
/// by its endpoints; a cluster dump has tens of thousands of them.
fn endpoints_of<'a>(
    svc: &'a Resource<ServiceObject>,
    index: &Index<'a>,
    texts: &mut Texts<'a>,
) -> Vec<RegistryEndpoint> {
    let ns = svc.namespace.as_str();
    let slices = index.slices(ns, &svc.name);
    let mut out = Vec::new();
    let mut pod_text = String::new();
    if !slices.is_empty() {
        for slice in slices {
            let ports: Arc<[(String, u32)]> =
                slice_ports(slice.spec.ports.as_deref().unwrap_or(&[])).into();
            let source: Arc<str> = format!("EndpointSlice {ns}/{}", slice.name).into();
            out.reserve(slice.spec.endpoints.len());
            for ep in &slice.spec.endpoints {
                if !slice_endpoint_ready(&ep.conditions) {
                    continue;
                }
                let pod = index.target_pod(ep.target_ref.as_ref(), ns);
                let locality = texts.zone(ep.zone.as_deref());
                for address in &ep.addresses {
                    out.push(RegistryEndpoint {
                        address: address.clone(),
                        ports: ports.clone(),
                        labels: texts.labels(pod),
                        weight: 1,
                        locality: locality.clone(),
                        source: source.clone(),
                        pod: pod_name(&mut pod_text, pod, ep.target_ref.as_ref(), ns, texts),
                    });
                }
            }
        }
        return out;
    }
    if let Some(eps) = index.endpoints(ns, &svc.name) {
        let source: Arc<str> = format!("Endpoints {ns}/{}", eps.name).into();
        for subset in &eps.spec.subsets {
            let ports: Arc<[(String, u32)]> = slice_ports(&subset.ports).into();
            for a in &subset.addresses {
                let pod = index.target_pod(a.target_ref.as_ref(), ns);
                out.push(RegistryEndpoint {
                    address: a.ip.clone(),
                    ports: ports.clone(),
                    labels: texts.labels(pod),
                    weight: 1,
                    locality: texts.empty.clone(),
                    source: source.clone(),
                    pod: pod_name(&mut pod_text, pod, a.target_ref.as_ref(), ns, texts),
                });
            }
        }
        return out;
    }
    // No endpoint objects: what the cluster would compute from the selector.
    let Some(selector) = svc.spec.spec.selector.as_ref().filter(|s| !s.is_empty()) else {
        return out;
    };
    let source: Arc<str> = format!("selector of Service {ns}/{}", svc.name).into();
    for pod in index.pods_in(ns) {
        if !selects(selector, &pod.labels) || !pod_ready(&pod.spec) {
            continue;
        }
        let ports: Arc<[(String, u32)]> = svc
            .spec
            .spec
            .ports
            .iter()
            // Port 0: the pod has no container port of that name, and
            // Kubernetes leaves it out of that port's endpoints.
            .map(|p| (p.name.clone(), target_port(p, &pod.spec).unwrap_or(0)))
            .collect();
        let name = pod_name(&mut pod_text, Some(pod), None, ns, texts);
        let labels = texts.labels(Some(pod));
        for ip in pod_ips(&pod.spec) {
            out.push(RegistryEndpoint {
                address: ip.to_string(),
                ports: ports.clone(),
                labels: labels.clone(),
                weight: 1,
                locality: texts.empty.clone(),
                source: source.clone(),
                pod: name.clone(),
            });
        }
    }
    out
}

/// The pod port a Service port sends to: its number, or the container port
/// with its name. `None` for a name no container has (Kubernetes leaves the
/// pod out of that port's endpoints).
pub fn target_port(port: &KubeServicePort, pod: &PodObject) -> Option<u32> {
    match &port.target_port {
        None => u32::try_from(port.port).ok(),
        Some(IntOrString::Int(n)) => u32::try_from(*n).ok(),
        Some(IntOrString::Str(name)) => match name.parse::<u32>() {
            Ok(n) => Some(n),
            Err(_) => pod
                .spec
                .containers
                .iter()
                .flat_map(|c| c.ports.iter())
                .find(|cp| cp.name.as_deref() == Some(name.as_str()))
                .and_then(|cp| u32::try_from(cp.container_port).ok()),
        },
    }
}

fn slice_ports(ports: &[SlicePort]) -> Vec<(String, u32)> {
    ports
        .iter()
        .filter_map(|p| {
            Some((
                p.name.clone().unwrap_or_default(),
                u32::try_from(p.port?).ok()?,
            ))
        })
        .collect()
}

/// The `pod` text of an endpoint: `ns/name`, a note when the pod is not in
/// the input, else empty; written in `scratch` first, so that the shared
/// text is the one allocation.
fn pod_name(
    scratch: &mut String,
    pod: Option<&Resource<PodObject>>,
    target: Option<&ObjectReference>,
    namespace: &str,
    texts: &Texts<'_>,
) -> Arc<str> {
    scratch.clear();
    match (pod, target) {
        (Some(p), _) => {
            scratch.push_str(&p.namespace);
            scratch.push('/');
            scratch.push_str(&p.name);
        }
        (None, Some(t)) if t.kind == "Pod" => {
            scratch.push_str(t.namespace.as_deref().unwrap_or(namespace));
            scratch.push('/');
            scratch.push_str(&t.name);
            scratch.push_str(" (not in the input)");
        }
        _ => return texts.empty.clone(),
    }
    scratch.as_str().into()
}

/// True when `labels` ⊇ `selector`.
pub(crate) fn selects(selector: &StringMap, labels: &StringMap) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Merges the registry's ServiceEntry services with the Kubernetes ones.
///
/// Istio keeps one service per host and namespace, the Kubernetes Service
/// winning over a ServiceEntry for the same host; endpoints are kept per
/// host and namespace from every registry, so a ServiceEntry's endpoints in
/// the Service's namespace join the Service's.
pub fn merge(kube: Vec<Service>, entries: Vec<Service>) -> Vec<Service> {
    if kube.is_empty() {
        return entries;
    }
    let mut by_host: HashMap<(String, String), usize> = HashMap::new();
    let mut out = kube;
    for (i, s) in out.iter().enumerate() {
        by_host.insert((s.host.clone(), s.namespace.clone()), i);
    }
    for se in entries {
        match by_host.get(&(se.host.clone(), se.namespace.clone())) {
            Some(&i) => out[i].endpoints.extend(se.endpoints),
            None => out.push(se),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documentation_addresses_are_distinct_and_reserved() {
        let cases = [
            (0, "192.0.2.1"),
            (253, "192.0.2.254"),
            (254, "198.51.100.1"),
            (508, "203.0.113.1"),
            (762, "2001:db8::1"),
            (763, "2001:db8::2"),
        ];
        for (n, want) in cases {
            assert_eq!(documentation_address(n).to_string(), want, "{n}");
        }
        let all: std::collections::HashSet<_> = (0..2000).map(documentation_address).collect();
        assert_eq!(all.len(), 2000);
    }

    #[test]
    fn slice_conditions() {
        let c = |ready, terminating| Conditions {
            ready,
            serving: None,
            terminating,
        };
        let cases = [
            (c(None, None), true),
            (c(Some(true), None), true),
            (c(Some(false), None), false),
            (c(Some(true), Some(true)), false),
            (c(Some(false), Some(true)), false),
            (c(None, Some(false)), true),
        ];
        for (cond, want) in cases {
            assert_eq!(slice_endpoint_ready(&cond), want, "{cond:?}");
        }
    }
}
