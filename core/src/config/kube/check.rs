//! What is wrong with the Kubernetes objects of a config, as diagnostics.
//!
//! Codes (Weir's own; Istio's analyzers have none for these):
//! - `WEIR0101` error: an object that cannot be read (reported by the loader);
//! - `WEIR0102` error: a Service's ports conflict (the API server would refuse it);
//! - `WEIR0103` warning: an EndpointSlice or Endpoints whose Service is not in the input;
//! - `WEIR0104` warning: a pod without an IP (it receives no traffic);
//! - `WEIR0105` info: a port whose protocol Istio sniffs (Weir treats it as HTTP);
//! - `WEIR0106` info: endpoints whose pods are not in the input (no labels, so
//!   no subset selects them);
//! - `WEIR0107` info: pods made up for a workload (`--synthesize-pods`);
//! - `WEIR0108` warning: a named target port no selected pod defines.

use super::model::IntOrString;
use super::protocol::{self, Protocol};
use super::services::{pod_has_ip, synthesized_pods, target_port, Index, SERVICE_NAME_LABEL};
use super::KubeKind;
use crate::config::{Config, Resource};
use crate::diagnostic::{Diagnostic, ResourceRef, Severity};
use hashbrown::HashSet;

fn reference<S>(kind: KubeKind, r: &Resource<S>) -> ResourceRef {
    ResourceRef {
        kind: kind.as_str().into(),
        namespace: r.namespace.clone(),
        name: r.name.clone(),
    }
}

/// Appends the diagnostics of `config`'s Kubernetes objects to `out`.
pub fn check(config: &Config, out: &mut Vec<Diagnostic>) {
    if config.kube.is_empty() {
        return;
    }
    let synthesized = synthesized_pods(config);
    let index = Index::new(&config.kube, &synthesized);
    check_with(config, &index, &synthesized, out);
}

/// [`check`] with the index of `config`'s objects (over `synthesized`, the
/// pods `--synthesize-pods` made) already built: validation builds it once
/// for the registry and these checks.
pub(crate) fn check_with(
    config: &Config,
    index: &Index<'_>,
    synthesized: &[Resource<super::model::PodObject>],
    out: &mut Vec<Diagnostic>,
) {
    let objects = &config.kube;
    if objects.is_empty() {
        return;
    }
    let services: HashSet<(&str, &str)> = objects
        .services
        .iter()
        .map(|s| (s.namespace.as_str(), s.name.as_str()))
        .collect();
    for svc in &objects.services {
        let r = reference(KubeKind::Service, svc);
        service_ports(svc, &r, index, out);
        let spec = &svc.spec.spec;
        if spec.service_type.as_deref() == Some("ExternalName")
            && spec.external_name.as_deref().is_none_or(str::is_empty)
        {
            out.push(Diagnostic::new(
                "WEIR0102",
                Severity::Error,
                r.clone(),
                "spec.externalName",
                "a Service of type ExternalName needs spec.externalName".into(),
            ));
        }
        let missing_pods = index
            .slices(&svc.namespace, &svc.name)
            .iter()
            .flat_map(|s| s.spec.endpoints.iter())
            .filter_map(|e| e.target_ref.as_ref())
            .filter(|t| t.kind == "Pod")
            .filter(|t| {
                index
                    .pod(t.namespace.as_deref().unwrap_or(&svc.namespace), &t.name)
                    .is_none()
            })
            .count();
        if missing_pods > 0 {
            out.push(Diagnostic::new(
                "WEIR0106",
                Severity::Info,
                r.clone(),
                "targetRef",
                format!("{missing_pods} endpoint(s) of this Service point at pods not in the input: they have no labels, so no DestinationRule subset selects them (add the pods: kubectl get pods -o yaml)"),
            ));
        }
    }
    for slice in &objects.endpoint_slices {
        let r = reference(KubeKind::EndpointSlice, slice);
        match slice.labels.get(SERVICE_NAME_LABEL) {
            None => out.push(Diagnostic::new(
                "WEIR0103",
                Severity::Warning,
                r,
                &format!("metadata.labels[{SERVICE_NAME_LABEL}]"),
                "this EndpointSlice names no Service; its endpoints are not used".into(),
            )),
            Some(name) if !services.contains(&(slice.namespace.as_str(), name.as_str())) => {
                out.push(Diagnostic::new(
                    "WEIR0103",
                    Severity::Warning,
                    r,
                    &format!("metadata.labels[{SERVICE_NAME_LABEL}]"),
                    format!("Service {}/{name} is not in the input; this EndpointSlice's endpoints are not used", slice.namespace),
                ))
            }
            Some(_) => {}
        }
    }
    for eps in &objects.endpoints {
        if !services.contains(&(eps.namespace.as_str(), eps.name.as_str())) {
            out.push(Diagnostic::new(
                "WEIR0103",
                Severity::Warning,
                reference(KubeKind::Endpoints, eps),
                "metadata.name",
                format!(
                    "Service {}/{} is not in the input; these Endpoints are not used",
                    eps.namespace, eps.name
                ),
            ));
        }
    }
    for pod in &objects.pods {
        if !pod_has_ip(&pod.spec) {
            out.push(Diagnostic::new(
                "WEIR0104",
                Severity::Warning,
                reference(KubeKind::Pod, pod),
                "status.podIP",
                format!(
                    "pod has no IP (phase {}); it receives no traffic",
                    pod.spec.status.phase.as_deref().unwrap_or("unknown")
                ),
            ));
        }
    }
    if config.kube_options.synthesize_pods {
        for w in &objects.workloads {
            let made: Vec<&Resource<_>> = synthesized
                .iter()
                .filter(|p| {
                    p.namespace == w.namespace && p.name.starts_with(&format!("{}-weir-", w.name))
                })
                .collect();
            let addresses: Vec<String> = made
                .iter()
                .filter_map(|p| p.spec.status.pod_ip.clone())
                .collect();
            out.push(Diagnostic::new(
                "WEIR0107",
                Severity::Info,
                reference(w.spec.kind, w),
                "spec.replicas",
                format!(
                    "--synthesize-pods: made {} pod(s) with the template's labels at documentation addresses [{}]; they are not real pods",
                    made.len(),
                    addresses.join(", ")
                ),
            ));
        }
    }
}

/// Port rules the API server enforces, and Istio's protocol notes.
fn service_ports(
    svc: &Resource<super::ServiceObject>,
    r: &ResourceRef,
    index: &Index<'_>,
    out: &mut Vec<Diagnostic>,
) {
    let ports = &svc.spec.spec.ports;
    let mut numbers = HashSet::new();
    let mut names = HashSet::new();
    for (i, p) in ports.iter().enumerate() {
        let field = format!("spec.ports[{i}]");
        let mut error = |field: String, message: String| {
            out.push(Diagnostic::new(
                "WEIR0102",
                Severity::Error,
                r.clone(),
                &field,
                message,
            ))
        };
        if !(1..=65535).contains(&p.port) {
            error(
                format!("{field}.port"),
                format!("port {} is not within 1-65535", p.port),
            );
        }
        let ip_protocol = p.protocol.as_deref().unwrap_or("TCP").to_ascii_uppercase();
        if !numbers.insert((p.port, ip_protocol.clone())) {
            error(
                format!("{field}.port"),
                format!(
                    "port {} ({ip_protocol}) is defined twice in this Service",
                    p.port
                ),
            );
        }
        if ports.len() > 1 && p.name.is_empty() {
            error(
                format!("{field}.name"),
                "a Service with several ports must name each of them".into(),
            );
        } else if !p.name.is_empty() && !names.insert(p.name.as_str()) {
            error(
                format!("{field}.name"),
                format!("port name {:?} is used twice in this Service", p.name),
            );
        }
        if let Some(IntOrString::Int(t)) = &p.target_port {
            if !(1..=65535).contains(t) {
                error(
                    format!("{field}.targetPort"),
                    format!("targetPort {t} is not within 1-65535"),
                );
            }
        }
        let proto = protocol::select(
            p.port,
            &p.name,
            p.protocol.as_deref(),
            p.app_protocol.as_deref(),
        );
        if proto == Protocol::Sniffed {
            out.push(Diagnostic::new(
                "WEIR0105",
                Severity::Info,
                r.clone(),
                &field,
                format!(
                    "port {} ({}) names no protocol (name prefix or appProtocol): Istio sniffs it; Weir treats it as HTTP",
                    p.port,
                    if p.name.is_empty() { "unnamed".to_string() } else { format!("name {:?}", p.name) }
                ),
            ));
        }
        if let Some(IntOrString::Str(name)) = &p.target_port {
            let selector = svc.spec.spec.selector.clone().unwrap_or_default();
            let selected: Vec<_> = index
                .pods_in(&svc.namespace)
                .iter()
                .filter(|pod| {
                    !selector.is_empty()
                        && selector.iter().all(|(k, v)| pod.labels.get(k) == Some(v))
                })
                .collect();
            let missing = selected
                .iter()
                .filter(|pod| target_port(p, &pod.spec).is_none())
                .count();
            if missing > 0 {
                out.push(Diagnostic::new(
                    "WEIR0108",
                    Severity::Warning,
                    r.clone(),
                    &format!("{field}.targetPort"),
                    format!("{missing} selected pod(s) have no container port named {name:?}: they get no traffic on port {}", p.port),
                ));
            }
        }
    }
}
