//! The service registry Weir knows: ServiceEntry hosts, their ports and their
//! endpoints (inline, or WorkloadEntries chosen by `workloadSelector`).

use crate::config::model::{ServicePort, StringMap, WorkloadEntrySpec};
use crate::config::names::{expand_host, host_matches};
use crate::config::Config;
use hashbrown::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// One endpoint of a service, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryEndpoint {
    /// IP address (or host name for DNS resolution) as written.
    pub address: String,
    /// Port name → endpoint port (overrides the service port's target port);
    /// shared by the endpoints of one EndpointSlice.
    pub ports: Arc<[(String, u32)]>,
    /// Labels, for subsets; shared by the endpoints whose pods carry the
    /// same ones (a ReplicaSet's pods do).
    pub labels: Arc<StringMap>,
    /// LB weight; 0 or unset counts as 1.
    pub weight: u32,
    /// `region/zone/subzone` (a Kubernetes endpoint's zone). The texts are
    /// shared (with the compiled table's endpoints too): a cluster dump has
    /// one per endpoint, and copying them was much of the build's time.
    pub locality: Arc<str>,
    /// Where it came from (`EndpointSlice ns/name`, `Endpoints ns/name`…),
    /// for `weir routes` and `explain`; empty when configured inline.
    pub source: Arc<str>,
    /// The pod behind it (`ns/name`), when known.
    pub pod: Arc<str>,
}

impl Default for RegistryEndpoint {
    /// Empty, with the shared empty texts and maps (no allocation).
    fn default() -> Self {
        RegistryEndpoint {
            address: String::new(),
            ports: shared::ports(&[]),
            labels: shared::labels(&StringMap::new()),
            weight: 0,
            locality: shared::text(""),
            source: shared::text(""),
            pod: shared::text(""),
        }
    }
}

/// The shared texts and maps of endpoints: the empty ones made once per
/// process, so that the many endpoints without them allocate nothing.
pub(crate) mod shared {
    use super::{Arc, StringMap};
    use std::sync::OnceLock;

    /// `text` shared: the empty one is made once.
    pub fn text(text: &str) -> Arc<str> {
        static EMPTY: OnceLock<Arc<str>> = OnceLock::new();
        if text.is_empty() {
            return EMPTY.get_or_init(|| Arc::from("")).clone();
        }
        text.into()
    }

    /// `labels` shared: the empty map is made once.
    pub fn labels(labels: &StringMap) -> Arc<StringMap> {
        static EMPTY: OnceLock<Arc<StringMap>> = OnceLock::new();
        if labels.is_empty() {
            return EMPTY.get_or_init(|| Arc::new(StringMap::new())).clone();
        }
        Arc::new(labels.clone())
    }

    /// `ports` shared: the empty list is made once.
    pub fn ports(ports: &[(String, u32)]) -> Arc<[(String, u32)]> {
        static EMPTY: OnceLock<Arc<[(String, u32)]>> = OnceLock::new();
        if ports.is_empty() {
            return EMPTY.get_or_init(|| Arc::from(Vec::new())).clone();
        }
        ports.into()
    }
}

/// One service host.
#[derive(Debug, Clone, Default)]
pub struct Service {
    /// The host (lower-case; may be a wildcard).
    pub host: String,
    /// The ServiceEntry's namespace.
    pub namespace: String,
    /// The ServiceEntry's name.
    pub entry: String,
    /// Service ports.
    pub ports: Vec<ServicePort>,
    /// Endpoints.
    pub endpoints: Vec<RegistryEndpoint>,
    /// `resolution: NONE` (or a headless Service): original destination.
    pub passthrough: bool,
    /// `ServiceEntry`, `Service` (Kubernetes) or `""` (set_endpoints only).
    pub kind: &'static str,
    /// `exportTo` (a Service's `networking.istio.io/exportTo` annotation);
    /// empty: everywhere.
    pub export_to: Vec<String>,
}

impl Service {
    /// The service port for a destination that names `port` (or none).
    ///
    /// With no port: the only port, else the listener port (`fallback`).
    pub fn port(&self, port: Option<u32>, fallback: u16) -> Option<&ServicePort> {
        match port {
            Some(p) => self.ports.iter().find(|sp| sp.number == p),
            None if self.ports.len() == 1 => self.ports.first(),
            None => self
                .ports
                .iter()
                .find(|sp| sp.number == u32::from(fallback)),
        }
    }
}

/// All services, in config order.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub services: Vec<Service>,
    /// Concrete host → its first service in `services`.
    by_host: HashMap<String, usize>,
    /// Services with wildcard hosts, longest host first.
    wildcards: Vec<usize>,
}

impl Registry {
    /// Collects the services of `config`.
    pub fn build(config: &Config) -> Registry {
        Self::build_except(config, &[], &[])
    }

    /// Collects the services of `config`, leaving out the ServiceEntries
    /// and WorkloadEntries whose index is `true` in `rejected_entries` /
    /// `rejected_workloads` (validation refused them: they never reach
    /// istiod, so they neither provide hosts nor endpoints).
    pub fn build_except(
        config: &Config,
        rejected_entries: &[bool],
        rejected_workloads: &[bool],
    ) -> Registry {
        if config.kube.services.is_empty() {
            return Self::build_with(config, rejected_entries, rejected_workloads, Vec::new());
        }
        let synthesized = crate::config::kube::services::synthesized_pods(config);
        let index = crate::config::kube::services::Index::new(&config.kube, &synthesized);
        let kube = crate::config::kube::services::build_with(config, &index);
        Self::build_with(config, rejected_entries, rejected_workloads, kube)
    }

    /// [`build_except`](Self::build_except) with the services of the
    /// Kubernetes objects already built (validation builds them with the
    /// index its Kubernetes checks share).
    pub(crate) fn build_with(
        config: &Config,
        rejected_entries: &[bool],
        rejected_workloads: &[bool],
        kube: Vec<Service>,
    ) -> Registry {
        let mut services = Vec::new();
        // Each set of endpoint labels once (a service's endpoints repeat a
        // few versions).
        let mut label_sets: HashMap<&StringMap, Arc<StringMap>> = HashMap::new();
        // WorkloadEntries by namespace, their labels merged once: a selector
        // looks at its own namespace's entries only.
        let mut workloads: HashMap<&str, Vec<(&WorkloadEntrySpec, StringMap)>> = HashMap::new();
        for (i, we) in config.workload_entries.iter().enumerate() {
            if rejected_workloads.get(i) == Some(&true) {
                continue;
            }
            let labels = merged_labels(&we.labels, &we.spec.labels);
            workloads
                .entry(we.namespace.as_str())
                .or_default()
                .push((&we.spec, labels));
        }
        for (i, se) in config.service_entries.iter().enumerate() {
            if rejected_entries.get(i) == Some(&true) {
                continue;
            }
            let mut endpoints: Vec<RegistryEndpoint> = se
                .spec
                .endpoints
                .iter()
                .map(|e| to_endpoint(e, &mut label_sets))
                .collect();
            if let Some(sel) = &se.spec.workload_selector {
                let candidates = workloads
                    .get(se.namespace.as_str())
                    .map_or(&[][..], Vec::as_slice);
                for (spec, labels) in candidates {
                    if labels_select(&sel.labels, labels) {
                        let mut ep = to_endpoint(spec, &mut label_sets);
                        ep.labels = shared::labels(labels);
                        endpoints.push(ep);
                    }
                }
            }
            let passthrough = se.spec.resolution.as_deref() == Some("NONE");
            let last = se.spec.hosts.len().saturating_sub(1);
            for (k, host) in se.spec.hosts.iter().enumerate() {
                // The last host takes the endpoints; the others copy them.
                let endpoints = if k == last {
                    std::mem::take(&mut endpoints)
                } else {
                    endpoints.clone()
                };
                services.push(Service {
                    host: expand_host(host, &se.namespace),
                    namespace: se.namespace.clone(),
                    entry: se.name.clone(),
                    ports: se.spec.ports.clone(),
                    endpoints,
                    passthrough,
                    kind: "ServiceEntry",
                    export_to: se.spec.export_to.clone(),
                });
            }
        }
        let services = crate::config::kube::services::merge(kube, services);
        let mut registry = Registry {
            services,
            by_host: HashMap::new(),
            wildcards: Vec::new(),
        };
        registry.reindex();
        registry
    }

    /// Rebuilds the host index; call after changing `services`.
    pub fn reindex(&mut self) {
        self.by_host.clear();
        self.by_host.reserve(self.services.len());
        self.wildcards.clear();
        for (i, s) in self.services.iter().enumerate() {
            if s.host.starts_with('*') {
                self.wildcards.push(i);
            } else {
                self.by_host.entry(s.host.clone()).or_insert(i);
            }
        }
        let services = &self.services;
        // Longest first; a stable sort keeps config order among equals.
        self.wildcards
            .sort_by(|&a, &b| services[b].host.len().cmp(&services[a].host.len()));
    }

    /// The service for a destination host: exact first, then the most
    /// specific wildcard ServiceEntry host covering it.
    pub fn find(&self, host: &str) -> Option<&Service> {
        if let Some(&i) = self.by_host.get(host) {
            return Some(&self.services[i]);
        }
        // A wildcard host asked for itself is in `wildcards` too.
        self.wildcards
            .iter()
            .map(|&i| &self.services[i])
            .find(|s| s.host == host || host_matches(&s.host, host))
    }

    /// [`find`](Self::find) as the registry of the config alone answers:
    /// services only `set_endpoints` made (kind `""`, appended after the
    /// config's) passed over, as validation of the config never sees them.
    pub fn find_configured(&self, host: &str) -> Option<&Service> {
        if let Some(&i) = self.by_host.get(host) {
            if !self.services[i].kind.is_empty() {
                return Some(&self.services[i]);
            }
        }
        self.wildcards
            .iter()
            .map(|&i| &self.services[i])
            .filter(|s| !s.kind.is_empty())
            .find(|s| s.host == host || host_matches(&s.host, host))
    }

    /// The services whose hosts fall under `pattern` (a concrete host: that
    /// host's service; a wildcard: a scan, as wildcard patterns are few).
    pub fn under<'r>(&'r self, pattern: &'r str) -> Box<dyn Iterator<Item = &'r Service> + 'r> {
        if pattern.starts_with('*') {
            return Box::new(
                self.services
                    .iter()
                    .filter(move |s| host_matches(pattern, &s.host)),
            );
        }
        Box::new(
            self.by_host
                .get(pattern)
                .map(|&i| &self.services[i])
                .into_iter(),
        )
    }

    /// True when some service host falls under `pattern` (a DR host may be a wildcard).
    pub fn any_matching(&self, pattern: &str) -> bool {
        if pattern.starts_with('*') {
            // Wildcard rule hosts are few: a scan.
            return self
                .services
                .iter()
                .any(|s| host_matches(pattern, &s.host) || host_matches(&s.host, pattern));
        }
        self.find(pattern).is_some()
    }
}

/// True when `labels` ⊇ `selector`.
pub fn labels_select(selector: &StringMap, labels: &StringMap) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn merged_labels(meta: &StringMap, spec: &StringMap) -> StringMap {
    let mut all = meta.clone();
    all.extend(spec.iter().map(|(k, v)| (k.clone(), v.clone())));
    all
}

/// `we` as an endpoint, its labels shared through `labels`.
fn to_endpoint<'a>(
    we: &'a WorkloadEntrySpec,
    labels: &mut HashMap<&'a StringMap, Arc<StringMap>>,
) -> RegistryEndpoint {
    RegistryEndpoint {
        address: we.address.clone(),
        ports: if we.ports.is_empty() {
            shared::ports(&[])
        } else {
            we.ports.iter().map(|(k, v)| (k.clone(), *v)).collect()
        },
        labels: if we.labels.is_empty() {
            shared::labels(&we.labels)
        } else {
            labels
                .entry(&we.labels)
                .or_insert_with(|| Arc::new(we.labels.clone()))
                .clone()
        },
        weight: we.weight.filter(|&w| w > 0).unwrap_or(1),
        locality: shared::text(we.locality.as_deref().unwrap_or_default()),
        ..RegistryEndpoint::default()
    }
}

/// The endpoint port for service port `sp`: the endpoint's own mapping by
/// port name, else the target port, else the port number.
pub fn endpoint_port(ep: &RegistryEndpoint, sp: &ServicePort) -> u32 {
    ep.ports
        .iter()
        .find(|(name, _)| *name == sp.name)
        .map(|&(_, p)| p)
        .or(sp.target_port)
        .unwrap_or(sp.number)
}

/// Parses an endpoint address as an IP, if it is one.
pub fn endpoint_ip(ep: &RegistryEndpoint) -> Option<IpAddr> {
    ep.address.parse().ok()
}
