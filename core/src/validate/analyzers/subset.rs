//! A DestinationRule's host and subsets against the services, as Istio's
//! `destinationrule/subset.go` (PodNotSelectedAnalyzer) checks them:
//!
//! - IST0174 UnknownDestinationRuleHost: the host matches no service;
//! - IST0173 DestinationRuleSubsetNotSelectPods: a subset whose labels,
//!   merged with the service's workload selector (a Kubernetes Service's
//!   `selector`, a ServiceEntry's `workloadSelector`), select no pod.
//!
//! Pods are judged when the input carries them (`kubectl get … -o yaml`
//! of a cluster); without them the service's configured endpoints are
//! (ServiceEntry endpoints, WorkloadEntries, EndpointSlices), where Istio
//! would find no pod and report every subset. Weir warns where Istio errs
//! (`--istio-severity` gives the error): pods may yet arrive.

use super::{selects, Analysis};
use crate::config::kube::model::PodObject;
use crate::config::model::{DestinationRuleSpec, StringMap};
use crate::config::names::expand_host;
use crate::config::registry::Service;
use crate::config::{Kind, Resource};
use crate::diagnostic::{Diagnostic, Severity};
use hashbrown::HashMap;

pub(super) fn analyze(a: &Analysis<'_>, out: &mut Vec<Diagnostic>) {
    let selectors = Selectors::new(a);
    // Built when a subset is first judged by pods: most are selected by
    // their endpoints already.
    let pods = LazyPods {
        pods: &a.pods,
        index: std::cell::OnceCell::new(),
    };
    for dr in &a.config.destination_rules {
        subsets(a, &selectors, &pods, dr, out);
    }
}

fn subsets(
    a: &Analysis<'_>,
    selectors: &Selectors<'_>,
    pods: &LazyPods<'_, '_>,
    dr: &Resource<DestinationRuleSpec>,
    out: &mut Vec<Diagnostic>,
) {
    if dr.spec.host.is_empty() {
        return; // a schema error, reported with the fields
    }
    let host = expand_host(&dr.spec.host, &dr.namespace);
    if !a.registry.any_matching(&host) {
        out.push(Diagnostic::new(
            "IST0174",
            Severity::Warning,
            dr.reference(Kind::DestinationRule),
            "spec.host",
            format!("The host {host} defined in the DestinationRule does not match any services in the mesh."),
        ));
        return;
    }
    for (i, subset) in dr.spec.subsets.iter().enumerate() {
        let mut by_pods = false;
        let selected = a.registry.under(&host).any(|service| {
            let endpoints = service
                .endpoints
                .iter()
                .any(|ep| selects(&subset.labels, &ep.labels));
            // Selected by endpoints: `by_pods` only shapes the message of
            // a subset nothing selects.
            if endpoints {
                return true;
            }
            match selectors.of(service) {
                Some(selector) if !a.pods.is_empty() => {
                    by_pods = true;
                    pods.get()
                        .any_selected(&service.namespace, selector, &subset.labels)
                }
                _ => false,
            }
        });
        if selected {
            continue;
        }
        let message = if by_pods {
            format!(
                "The Subset {} defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream).",
                subset.name
            )
        } else {
            format!(
                "The Subset {} defined in the DestinationRule does not select any endpoints, which leads to 503 UH (NoHealthyUpstream) until endpoints with labels {:?} exist.",
                subset.name, subset.labels
            )
        };
        out.push(
            Diagnostic::new(
                "IST0173",
                Severity::Warning,
                dr.reference(Kind::DestinationRule),
                &format!("spec.subsets[{i}].labels"),
                message,
            )
            .with_istio_severity(Severity::Error),
        );
    }
}

/// The pod index, made on first use.
struct LazyPods<'p, 'a> {
    pods: &'p [&'a Resource<PodObject>],
    index: std::cell::OnceCell<PodIndex<'a>>,
}

impl<'a> LazyPods<'_, 'a> {
    fn get(&self) -> &PodIndex<'a> {
        self.index.get_or_init(|| PodIndex::new(self.pods))
    }
}

/// Pods by namespace and by each of their labels: a subset's pods are
/// looked for among those carrying one of its labels (the fewest), where a
/// scan of every pod per subset was quadratic in a cluster dump.
struct PodIndex<'a> {
    by_namespace: HashMap<&'a str, Vec<&'a Resource<PodObject>>>,
    by_label: HashMap<(&'a str, &'a str, &'a str), Vec<&'a Resource<PodObject>>>,
}

impl<'a> PodIndex<'a> {
    fn new(pods: &[&'a Resource<PodObject>]) -> Self {
        let mut by_namespace: HashMap<&str, Vec<_>> = HashMap::new();
        let mut by_label: HashMap<(&str, &str, &str), Vec<_>> = HashMap::new();
        for &p in pods {
            by_namespace
                .entry(p.namespace.as_str())
                .or_default()
                .push(p);
            for (k, v) in p.labels.iter() {
                let key = (p.namespace.as_str(), k.as_str(), v.as_str());
                by_label.entry(key).or_default().push(p);
            }
        }
        PodIndex {
            by_namespace,
            by_label,
        }
    }

    /// Whether a pod of `namespace` carries every label of `selector` and
    /// of `subset`.
    fn any_selected(&self, namespace: &str, selector: &StringMap, subset: &StringMap) -> bool {
        let mut candidates = self.by_namespace.get(namespace);
        for (k, v) in selector.iter().chain(subset.iter()) {
            let with = self.by_label.get(&(namespace, k.as_str(), v.as_str()));
            match (with, candidates) {
                (None, _) => return false,
                (Some(w), Some(c)) if w.len() < c.len() => candidates = Some(w),
                _ => {}
            }
        }
        candidates.is_some_and(|pods| {
            pods.iter()
                .any(|p| selects(selector, &p.labels) && selects(subset, &p.labels))
        })
    }
}

/// The workload selector of each service: `(kind, namespace, name)` → labels.
struct Selectors<'a> {
    by_service: HashMap<(&'static str, &'a str, &'a str), &'a StringMap>,
}

impl<'a> Selectors<'a> {
    fn new(a: &Analysis<'a>) -> Self {
        let mut by_service = HashMap::new();
        for s in &a.config.kube.services {
            if let Some(selector) = s.spec.spec.selector.as_ref().filter(|s| !s.is_empty()) {
                by_service.insert(("Service", s.namespace.as_str(), s.name.as_str()), selector);
            }
        }
        for se in &a.config.service_entries {
            if let Some(w) = &se.spec.workload_selector {
                by_service.insert(
                    ("ServiceEntry", se.namespace.as_str(), se.name.as_str()),
                    &w.labels,
                );
            }
        }
        Selectors { by_service }
    }

    fn of(&self, service: &Service) -> Option<&'a StringMap> {
        self.by_service
            .get(&(
                service.kind,
                service.namespace.as_str(),
                service.entry.as_str(),
            ))
            .copied()
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::run;

    const SERVICE: &str = "apiVersion: v1\nkind: Service\nmetadata: {name: reviews, namespace: shop}\nspec:\n  selector: {app: reviews}\n  ports: [{name: http, port: 9080}]\n";

    fn pod(name: &str, labels: &str) -> String {
        format!("---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: shop, labels: {labels}}}\nspec:\n  containers: [{{name: app, image: x}}]\nstatus: {{podIP: 10.0.0.1, phase: Running}}\n")
    }

    fn rule(host: &str, subsets: &str) -> String {
        format!("---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {{name: r, namespace: shop}}\nspec:\n  host: {host}\n  subsets: {subsets}\n")
    }

    #[test]
    fn subsets_judged_by_pods_when_the_input_has_them() {
        let v1 = "[{name: v1, labels: {version: v1}}]";
        let cases: Vec<(String, &[&str])> = vec![
            // A pod of the Service with the subset's labels.
            (format!("{SERVICE}{}{}", pod("a", "{app: reviews, version: v1}"), rule("reviews", v1)), &[]),
            // The pod has the labels but is not the Service's.
            (format!("{SERVICE}{}{}", pod("a", "{app: ratings, version: v1}"), rule("reviews", v1)), &["spec.subsets[0].labels"]),
            // The Service's pod has another version.
            (format!("{SERVICE}{}{}", pod("a", "{app: reviews, version: v2}"), rule("reviews", v1)), &["spec.subsets[0].labels"]),
            // Only the second of two subsets is missing.
            (
                format!("{SERVICE}{}{}", pod("a", "{app: reviews, version: v1}"), rule("reviews", "[{name: v1, labels: {version: v1}}, {name: v3, labels: {version: v3}}]")),
                &["spec.subsets[1].labels"],
            ),
            // Without pods and endpoints nothing is selected.
            (format!("{SERVICE}{}", rule("reviews", v1)), &["spec.subsets[0].labels"]),
            // Endpoints of a ServiceEntry select by their labels.
            (
                format!("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {{name: vm, namespace: shop}}\nspec:\n  hosts: [vm.example.com]\n  ports: [{{number: 80, name: http, protocol: HTTP}}]\n  resolution: STATIC\n  endpoints: [{{address: 10.0.0.9, labels: {{version: v1}}}}]\n{}", rule("vm.example.com", v1)),
                &[],
            ),
        ];
        for (yaml, want) in cases {
            let got: Vec<String> = run(&yaml, "IST0173")
                .into_iter()
                .map(|(_, f, _)| f)
                .collect();
            assert_eq!(got, want, "{yaml}");
        }
        let yaml = format!(
            "{SERVICE}{}{}",
            pod("a", "{app: reviews}"),
            rule("reviews", v1)
        );
        assert_eq!(
            run(&yaml, "IST0173")[0].2,
            "The Subset v1 defined in the DestinationRule does not select any pods. Which may lead to 503 UH (NoHealthyUpstream)."
        );
    }

    #[test]
    fn unknown_hosts() {
        for (host, want) in [
            ("reviews", 0),
            ("nothing-here", 1),
            ("'*.shop.svc.cluster.local'", 0),
            ("'*.example.com'", 1),
        ] {
            let got = run(&format!("{SERVICE}{}", rule(host, "[]")), "IST0174");
            assert_eq!(got.len(), want, "{host}: {got:?}");
        }
        let got = run(&rule("nothing-here", "[]"), "IST0174");
        assert_eq!(got[0].2, "The host nothing-here.shop.svc.cluster.local defined in the DestinationRule does not match any services in the mesh.");
    }
}

#[cfg(test)]
mod pod_index_tests {
    use super::{selects, PodIndex};
    use crate::config::kube::model::PodObject;
    use crate::config::model::StringMap;
    use crate::config::Resource;

    /// The index answers as a scan of every pod of the namespace does, over
    /// seeded pods and selectors (shared labels, missing ones, empty ones).
    #[test]
    fn the_index_answers_as_a_scan() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let labels = |count: u64, next: &mut dyn FnMut(u64) -> u64| -> StringMap {
            (0..count)
                .map(|_| (format!("k{}", next(3)), format!("v{}", next(3))))
                .collect()
        };
        let pods: Vec<Resource<PodObject>> = (0..300)
            .map(|i| Resource {
                name: format!("p{i}"),
                namespace: format!("ns{}", next(3)),
                created: None,
                order: i,
                labels: labels(next(4), &mut next),
                spec: PodObject::default(),
                origin: Default::default(),
            })
            .collect();
        let refs: Vec<&Resource<PodObject>> = pods.iter().collect();
        let index = PodIndex::new(&refs);
        let (mut found, mut missed) = (0, 0);
        for _ in 0..2_000 {
            let namespace = format!("ns{}", next(4));
            let selector = labels(next(3), &mut next);
            let subset = labels(next(3), &mut next);
            let scan = refs.iter().any(|p| {
                p.namespace == namespace
                    && selects(&selector, &p.labels)
                    && selects(&subset, &p.labels)
            });
            assert_eq!(
                index.any_selected(&namespace, &selector, &subset),
                scan,
                "{namespace} {selector:?} {subset:?}"
            );
            if scan {
                found += 1
            } else {
                missed += 1
            }
        }
        assert!(
            found > 100 && missed > 100,
            "{found} found, {missed} missed"
        );
    }
}
