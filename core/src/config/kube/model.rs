//! Serde types of the Kubernetes objects Weir reads, as `kubectl get -o yaml`
//! prints them.
//!
//! Only the fields Istio's service model uses are typed; everything else a
//! cluster prints (`managedFields`, `status.loadBalancer`, container images…)
//! is ignored without a diagnostic, since dumps are full of it. A Secret's
//! `data` and `stringData` have no field here at all: they are never read,
//! kept or printed.

use crate::config::model::StringMap;
use serde::Deserialize;

/// An int-or-string, such as a Service's `targetPort`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// A port number.
    Int(i64),
    /// A port name (a container port's `name`).
    Str(String),
}

// ---------------------------------------------------------------- Service

/// `Service.spec` (core/v1).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    #[serde(default)]
    pub ports: Vec<KubeServicePort>,
    /// Absent or empty: the Service has no selector (its endpoints are
    /// managed by hand, through EndpointSlices or Endpoints).
    #[serde(default)]
    pub selector: Option<StringMap>,
    /// `ClusterIP`, `NodePort`, `LoadBalancer` or `ExternalName`.
    #[serde(rename = "type", default)]
    pub service_type: Option<String>,
    /// `None` for a headless Service.
    #[serde(rename = "clusterIP", default)]
    pub cluster_ip: Option<String>,
    /// The DNS name of an `ExternalName` Service.
    #[serde(default)]
    pub external_name: Option<String>,
}

/// `ServicePort`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeServicePort {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub port: i64,
    /// Defaults to `port`.
    pub target_port: Option<IntOrString>,
    /// `TCP` (default), `UDP` or `SCTP`.
    pub protocol: Option<String>,
    pub app_protocol: Option<String>,
}

// ---------------------------------------------------------------- EndpointSlice / Endpoints

/// An `EndpointSlice` (discovery.k8s.io/v1). It has no `spec`: its fields sit
/// at the top level of the object.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSliceSpec {
    /// `IPv4`, `IPv6` or `FQDN`.
    #[serde(default)]
    pub address_type: Option<String>,
    #[serde(default)]
    pub endpoints: Vec<SliceEndpoint>,
    /// `None`: no ports (a Service without ports); the slice's ports apply
    /// to every endpoint in it.
    #[serde(default)]
    pub ports: Option<Vec<SlicePort>>,
}

/// `Endpoint` of an EndpointSlice.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SliceEndpoint {
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default)]
    pub conditions: Conditions,
    pub hostname: Option<String>,
    pub node_name: Option<String>,
    pub zone: Option<String>,
    pub target_ref: Option<ObjectReference>,
}

/// `EndpointConditions`. An absent `ready` means ready (the API says to read
/// nil as true).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Conditions {
    pub ready: Option<bool>,
    pub serving: Option<bool>,
    pub terminating: Option<bool>,
}

/// `EndpointPort`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SlicePort {
    pub name: Option<String>,
    pub port: Option<i64>,
    pub protocol: Option<String>,
    pub app_protocol: Option<String>,
}

/// `ObjectReference` (an endpoint's `targetRef`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectReference {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    pub namespace: Option<String>,
}

/// Legacy `Endpoints` (core/v1): fields at the top level, like a slice.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointsSpec {
    #[serde(default)]
    pub subsets: Vec<EndpointSubset>,
}

/// `EndpointSubset`: ready `addresses`, `notReadyAddresses`, shared ports.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointSubset {
    #[serde(default)]
    pub addresses: Vec<EndpointAddress>,
    #[serde(default)]
    pub not_ready_addresses: Vec<EndpointAddress>,
    #[serde(default)]
    pub ports: Vec<SlicePort>,
}

/// `EndpointAddress`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndpointAddress {
    #[serde(default)]
    pub ip: String,
    pub hostname: Option<String>,
    pub node_name: Option<String>,
    pub target_ref: Option<ObjectReference>,
}

// ---------------------------------------------------------------- Pod

/// A Pod's `spec` and `status`, the parts Istio's model reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodObject {
    #[serde(default)]
    pub spec: PodSpec,
    #[serde(default)]
    pub status: PodStatus,
}

/// `PodSpec`: the containers (for named target ports) and the node.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default)]
    pub containers: Vec<Container>,
    pub node_name: Option<String>,
}

/// A container's ports.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    #[serde(default)]
    pub ports: Vec<ContainerPort>,
}

/// `ContainerPort`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    pub name: Option<String>,
    #[serde(default)]
    pub container_port: i64,
}

/// `PodStatus`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    pub phase: Option<String>,
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
    #[serde(rename = "podIPs", default)]
    pub pod_ips: Vec<PodIp>,
    #[serde(default)]
    pub conditions: Vec<PodCondition>,
}

/// One of `status.podIPs`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodIp {
    #[serde(default)]
    pub ip: String,
}

/// `PodCondition` (Weir reads `Ready`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodCondition {
    #[serde(rename = "type", default)]
    pub condition_type: String,
    #[serde(default)]
    pub status: String,
}

// ---------------------------------------------------------------- workloads

/// `Deployment`, `StatefulSet`, `ReplicaSet` or `DaemonSet` `.spec`: the
/// replica count and the pod template.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadSpec {
    /// Absent: 1 (a DaemonSet has none; Weir makes one pod for it).
    pub replicas: Option<i64>,
    #[serde(default)]
    pub template: PodTemplate,
}

/// `PodTemplateSpec`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodTemplate {
    #[serde(default)]
    pub metadata: TemplateMetadata,
    #[serde(default)]
    pub spec: PodSpec,
}

/// A template's metadata: its labels.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TemplateMetadata {
    #[serde(default)]
    pub labels: StringMap,
}

// ---------------------------------------------------------------- Secret

/// What Weir keeps of a Secret: its `type` and whether it can serve as a
/// gateway's TLS credential. Its data is never kept or printed.
#[derive(Debug, Clone, Default)]
pub struct SecretMeta {
    pub secret_type: String,
    /// `None` when it holds a usable certificate and key, else why not.
    pub tls_problem: Option<String>,
}
