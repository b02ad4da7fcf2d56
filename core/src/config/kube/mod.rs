//! Kubernetes objects, read the way istiod's Kubernetes registry reads them
//! (istio/istio `pilot/pkg/serviceregistry/kube/controller`): Services with
//! their ports and selectors, EndpointSlices (or legacy Endpoints) with
//! their ready addresses, Pods with labels and IPs, Namespaces, Secrets
//! (metadata only) and workloads (Deployment, StatefulSet, ReplicaSet,
//! DaemonSet).
//!
//! [`services`] turns them into registry services, so a VirtualService
//! routing to `reviews` and a DestinationRule subset `version: v2` find the
//! pods a cluster dump lists. [`check`] reports what is wrong with them.

pub mod check;
pub mod model;
pub mod protocol;
mod secret;
pub mod services;

use super::block_yaml::{to_map, Node};
use super::{Origin, Resource};
use crate::diagnostic::{Diagnostic, ResourceRef, Severity};
use model::*;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The Kubernetes kinds Weir reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KubeKind {
    Service,
    EndpointSlice,
    Endpoints,
    Pod,
    Namespace,
    Secret,
    Deployment,
    StatefulSet,
    ReplicaSet,
    DaemonSet,
}

impl KubeKind {
    /// The kind for `kind` under `apiVersion`, if Weir reads it.
    pub fn parse(kind: &str, api_version: &str) -> Option<KubeKind> {
        let core = api_version == "v1";
        let apps = api_version == "apps/v1";
        Some(match kind {
            "Service" if core => KubeKind::Service,
            "Endpoints" if core => KubeKind::Endpoints,
            "Pod" if core => KubeKind::Pod,
            "Namespace" if core => KubeKind::Namespace,
            "Secret" if core => KubeKind::Secret,
            "EndpointSlice"
                if matches!(
                    api_version,
                    "discovery.k8s.io/v1" | "discovery.k8s.io/v1beta1"
                ) =>
            {
                KubeKind::EndpointSlice
            }
            "Deployment" if apps => KubeKind::Deployment,
            "StatefulSet" if apps => KubeKind::StatefulSet,
            "ReplicaSet" if apps => KubeKind::ReplicaSet,
            "DaemonSet" if apps => KubeKind::DaemonSet,
            _ => return None,
        })
    }

    /// The Kubernetes kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            KubeKind::Service => "Service",
            KubeKind::EndpointSlice => "EndpointSlice",
            KubeKind::Endpoints => "Endpoints",
            KubeKind::Pod => "Pod",
            KubeKind::Namespace => "Namespace",
            KubeKind::Secret => "Secret",
            KubeKind::Deployment => "Deployment",
            KubeKind::StatefulSet => "StatefulSet",
            KubeKind::ReplicaSet => "ReplicaSet",
            KubeKind::DaemonSet => "DaemonSet",
        }
    }
}

/// How Kubernetes names and scopes are read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The cluster DNS domain: a Service `reviews` in `default` is
    /// `reviews.default.svc.<domain>`. Default `cluster.local`.
    pub cluster_domain: String,
    /// Istio's root namespace (DestinationRules there apply mesh-wide).
    /// Default `istio-system`.
    pub root_namespace: String,
    /// Make `replicas` pods for every workload (with documentation-range
    /// addresses), for manifests with no cluster behind them.
    pub synthesize_pods: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cluster_domain: "cluster.local".into(),
            root_namespace: "istio-system".into(),
            synthesize_pods: false,
        }
    }
}

/// A Service: its spec and the annotations Istio reads.
#[derive(Debug, Clone, Default)]
pub struct ServiceObject {
    pub spec: ServiceSpec,
    /// `networking.istio.io/exportTo`, split at commas; empty: exported everywhere.
    pub export_to: Vec<String>,
}

/// A workload: which kind, and its replicas and pod template.
#[derive(Debug, Clone)]
pub struct Workload {
    pub kind: KubeKind,
    pub spec: WorkloadSpec,
}

/// The Kubernetes objects of a config.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    pub services: Vec<Resource<ServiceObject>>,
    pub endpoint_slices: Vec<Resource<EndpointSliceSpec>>,
    pub endpoints: Vec<Resource<EndpointsSpec>>,
    pub pods: Vec<Resource<PodObject>>,
    /// `metadata.name` is the namespace; its labels are the resource's.
    pub namespaces: Vec<Resource<()>>,
    /// Name, namespace and `type` only.
    pub secrets: Vec<Resource<SecretMeta>>,
    pub workloads: Vec<Resource<Workload>>,
}

/// The part of an object's metadata every kind shares, already resolved.
pub(crate) struct Meta<'a> {
    pub name: &'a str,
    pub namespace: &'a str,
    pub created: Option<&'a str>,
    pub labels: &'a crate::config::model::StringMap,
    pub annotations: Option<&'a Value>,
    pub order: usize,
    pub origin: &'a Origin,
}

impl Objects {
    /// Adds one object of `kind`. Fields Weir does not read are ignored (a
    /// dump prints many); a field of the wrong type is an error naming it.
    pub(crate) fn add<S: Source>(
        &mut self,
        kind: KubeKind,
        meta: Meta<'_>,
        obj: &S,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        let reference = ResourceRef {
            kind: kind.as_str().into(),
            namespace: meta.namespace.into(),
            name: meta.name.into(),
        };
        if meta.name.is_empty() {
            diagnostics.push(Diagnostic::new(
                "WEIR0101",
                Severity::Error,
                reference.clone(),
                "metadata.name",
                "metadata.name is required".into(),
            ));
            return;
        }
        match kind {
            KubeKind::Service => {
                let Some(spec) = obj.read_spec::<ServiceSpec>(&reference, diagnostics) else {
                    return;
                };
                let export_to = meta
                    .annotations
                    .and_then(|a| a.get("networking.istio.io/exportTo"))
                    .and_then(Value::as_str)
                    .map(|s| {
                        s.split(',')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default();
                self.services
                    .push(resource(&meta, ServiceObject { spec, export_to }));
            }
            KubeKind::EndpointSlice => {
                if let Some(s) = obj.read_whole(&reference, diagnostics) {
                    self.endpoint_slices.push(resource(&meta, s));
                }
            }
            KubeKind::Endpoints => {
                if let Some(s) = obj.read_whole(&reference, diagnostics) {
                    self.endpoints.push(resource(&meta, s));
                }
            }
            KubeKind::Pod => {
                if let Some(p) = obj.read_whole(&reference, diagnostics) {
                    self.pods.push(resource(&meta, p));
                }
            }
            KubeKind::Namespace => self.namespaces.push(resource(&meta, ())),
            KubeKind::Secret => {
                // Only `type` and the shape of the TLS keys are read: the
                // data never leaves the input text.
                let obj = obj.to_map();
                let secret_type = obj
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("Opaque")
                    .to_string();
                let tls_problem = secret::tls_problem(&obj);
                self.secrets.push(resource(
                    &meta,
                    SecretMeta {
                        secret_type,
                        tls_problem,
                    },
                ));
            }
            KubeKind::Deployment
            | KubeKind::StatefulSet
            | KubeKind::ReplicaSet
            | KubeKind::DaemonSet => {
                if let Some(spec) = obj.read_spec::<WorkloadSpec>(&reference, diagnostics) {
                    self.workloads
                        .push(resource(&meta, Workload { kind, spec }));
                }
            }
        }
    }

    /// How many objects there are.
    pub fn len(&self) -> usize {
        self.services.len()
            + self.endpoint_slices.len()
            + self.endpoints.len()
            + self.pods.len()
            + self.namespaces.len()
            + self.secrets.len()
            + self.workloads.len()
    }

    /// True when there is no Kubernetes object at all.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
            && self.endpoint_slices.is_empty()
            && self.endpoints.is_empty()
            && self.pods.is_empty()
            && self.namespaces.is_empty()
            && self.secrets.is_empty()
            && self.workloads.is_empty()
    }
}

fn resource<S>(meta: &Meta<'_>, spec: S) -> Resource<S> {
    Resource {
        name: meta.name.to_string(),
        namespace: meta.namespace.to_string(),
        created: meta.created.map(str::to_string),
        order: meta.order,
        labels: meta.labels.clone(),
        spec,
        origin: meta.origin.clone(),
    }
}

/// An object as loading hands it over, `metadata` read already: a map of
/// values (JSON, serde_yaml_ng) or a block-YAML node, read in place either
/// way (with the same results and messages).
pub(crate) trait Source {
    /// `spec` as `T` (absent or null: an empty mapping); a type error
    /// becomes a diagnostic naming the field.
    fn read_spec<T: DeserializeOwned>(
        &self,
        reference: &ResourceRef,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<T>;

    /// The whole object as `T` (its `metadata` is not read).
    fn read_whole<T: DeserializeOwned>(
        &self,
        reference: &ResourceRef,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<T>;

    /// The object as values.
    fn to_map(&self) -> Cow<'_, Map<String, Value>>;
}

impl Source for Map<String, Value> {
    fn read_spec<T: DeserializeOwned>(
        &self,
        reference: &ResourceRef,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<T> {
        let empty = Value::Object(Map::new());
        let spec = self.get("spec").filter(|s| !s.is_null()).unwrap_or(&empty);
        read(spec, "spec", reference, diagnostics)
    }

    fn read_whole<T: DeserializeOwned>(
        &self,
        reference: &ResourceRef,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<T> {
        read(self, "", reference, diagnostics)
    }

    fn to_map(&self) -> Cow<'_, Map<String, Value>> {
        Cow::Borrowed(self)
    }
}

impl Source for Node<'_> {
    fn read_spec<T: DeserializeOwned>(
        &self,
        reference: &ResourceRef,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<T> {
        let empty = Node::Map(Vec::new());
        let spec = self
            .get("spec")
            .filter(|s| **s != Node::Null)
            .unwrap_or(&empty);
        read(spec, "spec", reference, diagnostics)
    }

    fn read_whole<T: DeserializeOwned>(
        &self,
        reference: &ResourceRef,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Option<T> {
        read(self, "", reference, diagnostics)
    }

    fn to_map(&self) -> Cow<'_, Map<String, Value>> {
        match self {
            Node::Map(entries) => Cow::Owned(to_map(entries)),
            _ => Cow::Owned(Map::new()),
        }
    }
}

/// Reads `T` from `de`; a type error becomes a diagnostic with its path
/// under `prefix`.
fn read<'de, T: DeserializeOwned, D: serde::Deserializer<'de> + Copy>(
    de: D,
    prefix: &str,
    reference: &ResourceRef,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<T> {
    // Tracking the path costs a third of reading a Pod: it is only needed
    // for the message, so an object that reads is read without it.
    if let Ok(v) = T::deserialize(de) {
        return Some(v);
    }
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Some(v),
        Err(e) => {
            let path = e.path().to_string();
            let field = match (prefix, path.as_str()) {
                (p, "." | "") => p.to_string(),
                ("", p) => p.to_string(),
                (pre, p) => format!("{pre}.{p}"),
            };
            diagnostics.push(Diagnostic::new(
                "WEIR0101",
                Severity::Error,
                reference.clone(),
                &field,
                format!("cannot read this object: {}", e.into_inner()),
            ));
            None
        }
    }
}
