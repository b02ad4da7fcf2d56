//! Building a [`Table`] from a validated [`Config`].

use super::endpoints::*;
use super::*;
use crate::config::destination_rules::DestinationRuleIndex;
use crate::config::registry::{Registry, RegistryEndpoint, Service};
use crate::config::Config;
use crate::validate::Validated;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// An endpoint given at run time through `set_endpoints`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointSpec {
    /// IP address.
    pub address: String,
    /// Endpoint port; `None` uses the service port's target port.
    pub port: Option<u32>,
    /// Labels (subsets select on them).
    pub labels: BTreeMap<String, String>,
    /// LB weight (0 counts as 1).
    pub weight: u32,
    /// `region/zone/subzone`.
    pub locality: String,
}

impl EndpointSpec {
    pub(crate) fn to_registry(&self) -> RegistryEndpoint {
        RegistryEndpoint {
            address: self.address.clone(),
            ports: self
                .port
                .map(|p| [(String::new(), p)].into())
                .unwrap_or_else(|| crate::config::registry::shared::ports(&[])),
            labels: crate::config::registry::shared::labels(&self.labels.clone().into()),
            weight: self.weight.max(1),
            locality: crate::config::registry::shared::text(&self.locality),
            ..RegistryEndpoint::default()
        }
    }
}

/// Compiles a validated config. `overrides` replaces the endpoints of the
/// hosts it names (from `set_endpoints`); `previous` lends endpoint state
/// (active requests, ejections) to endpoints that survive.
///
/// # Errors
/// A [`CompileError`] when something cannot be built (never silently left out).
pub fn compile(
    config: &Config,
    overrides: &HashMap<String, Vec<RegistryEndpoint>>,
    previous: Option<&Table>,
) -> Result<Table, CompileError> {
    let validated = Validated {
        registry: Registry::build(config),
        ..Validated::default()
    };
    compile_validated(config, validated, overrides, previous)
}

/// [`compile`] with what [`crate::validate::validate_for_compile`] built for
/// `config`, the registry and the regexes (what `Engine::apply` does: each
/// built once per apply).
///
/// # Errors
/// As [`compile`]; with no budget, never [`CompileError::OverBudget`].
pub fn compile_validated(
    config: &Config,
    validated: Validated,
    overrides: &HashMap<String, Vec<RegistryEndpoint>>,
    previous: Option<&Table>,
) -> Result<Table, CompileError> {
    compile_with_registry(config, validated, overrides, previous, usize::MAX)
        .map(|(table, _)| table)
}

/// [`compile`] with the service registry and regexes of `config` already
/// built (once per apply: validation used them too), handing the registry
/// back with the overrides applied, so the engine keeps it for endpoint
/// changes.
///
/// # Errors
/// When the endpoint sets would take more than `budget` bytes
/// ([`super::budget`]), or something cannot be built: nothing is built.
pub(crate) fn compile_with_registry(
    config: &Config,
    validated: Validated,

    overrides: &HashMap<String, Vec<RegistryEndpoint>>,
    previous: Option<&Table>,
    budget: usize,
) -> Result<(Table, Registry), CompileError> {
    // Roots with their delegates' routes in place (a copy of the config,
    // only when some VirtualService delegates).
    let merged_config;
    let config = match config.with_delegates_merged() {
        Some(merged) => {
            merged_config = merged;
            &merged_config
        }
        None => config,
    };
    let Validated {
        mut registry,
        regexes,
    } = validated;
    // The registry reads ServiceEntries, WorkloadEntries and Kubernetes
    // kinds only, which merging delegates leaves as they are.
    for s in &mut registry.services {
        if let Some(eps) = overrides.get(&s.host) {
            s.endpoints = eps.clone();
        }
    }
    // Hosts known only through set_endpoints (as Kubernetes Services would be).
    for (host, eps) in overrides {
        if registry.find(host).is_none_or(|s| &s.host != host) {
            registry.services.push(Service {
                host: host.clone(),
                namespace: String::new(),
                entry: String::new(),
                ports: Vec::new(),
                endpoints: eps.clone(),
                ..Service::default()
            });
        }
    }
    registry.reindex();
    let destination_rules = DestinationRuleIndex::with_root(
        &config.destination_rules,
        &config.kube_options.root_namespace,
    );
    let mut b = Builder {
        config,
        registry: &registry,
        destination_rules,
        clusters: Vec::new(),
        cluster_ids: hashbrown::HashMap::new(),
        regexes,
        unbuildable: Vec::new(),
        reuse: None,
        reuse_missed: false,
    };
    // Every service port gets its default cluster (empty subset): room
    // for those at least, as growing a vector of clusters copies them.
    b.clusters
        .reserve(registry.services.iter().map(|s| s.ports.len()).sum());
    for s in &registry.services {
        if s.host.starts_with('*') {
            continue;
        }
        for sp in &s.ports {
            b.cluster(&s.host, "", sp.number as u16);
        }
    }
    let mesh = b.mesh_listener(None);
    // Sidecars in the namespaces an `exportTo` names see their own view.
    let mesh_scoped: HashMap<Box<str>, Listener> = b
        .export_scopes()
        .into_iter()
        .map(|ns| {
            let listener = b.mesh_listener(Some(&ns));
            (ns.into_boxed_str(), listener)
        })
        .collect();
    let mut gateways = HashMap::new();
    let mut gateway_default_port = HashMap::new();
    for gw in &config.gateways {
        let key = format!("{}/{}", gw.namespace, gw.name);
        let mut ports: Vec<u16> = gw
            .spec
            .servers
            .iter()
            .filter_map(|s| s.port.as_ref().map(|p| p.number as u16))
            .collect();
        ports.dedup();
        if let Some(&first) = ports.first() {
            gateway_default_port.insert(key.clone(), first);
        }
        for port in ports {
            gateways.insert((key.clone(), port), b.gateway_listener(gw, &key, port));
        }
    }
    if let Some(first) = b.unbuildable.drain(..).next() {
        return Err(CompileError::Unbuildable(Box::new(first)));
    }
    let scoped_clusters = b.scoped_clusters();
    let clusters: Box<[Cluster]> = std::mem::take(&mut b.clusters).into();
    // Its maps (hashbrown's, which run their drop while borrowing) let go
    // of the registry here, before it is handed back.
    drop(b);
    let mut clusters_by_host: HashMap<Box<str>, Vec<u32>> = HashMap::new();
    let mut cluster_by_name: HashMap<Box<str>, u32> = HashMap::with_capacity(clusters.len());
    for (i, c) in clusters.iter().enumerate() {
        cluster_by_name.entry(c.name.clone()).or_insert(i as u32);
        clusters_by_host
            .entry(c.host.clone())
            .or_default()
            .push(i as u32);
    }
    let (estimates, sets_bytes) = super::budget::estimate_sets(&clusters, &registry, budget)
        .map_err(CompileError::OverBudget)?;
    let sets = clusters
        .iter()
        .zip(estimates)
        .map(|(c, bytes)| {
            Arc::new(build_endpoint_set(
                c,
                registry.find(&c.host),
                previous,
                bytes,
            ))
        })
        .collect();
    let table = Table {
        id: crate::table::new_table_id(),
        routing: Arc::new(Routing {
            mesh,
            mesh_scoped: Arc::new(mesh_scoped),
            gateways: Arc::new(gateways),
            gateway_default_port: Arc::new(gateway_default_port),
            clusters: clusters.into(),
            scoped_clusters: Arc::new(scoped_clusters),
            clusters_by_host: Arc::new(clusters_by_host),
            cluster_by_name: Arc::new(cluster_by_name),
            clock_ms: AtomicU64::new(previous.map_or(0, |p| {
                p.routing
                    .clock_ms
                    .load(std::sync::atomic::Ordering::Relaxed)
            })),
        }),
        sets,
        sets_bytes,
    };
    Ok((table, registry))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Loaded;

    /// Compiled without validation, what cannot be built is an error naming
    /// the resource and field, never a rule left out or a condition dropped
    /// (a dropped uri regex would match every path).
    #[test]
    fn unbuildable_fields_are_errors_not_drops() {
        let head = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: v, namespace: ns}\nspec:\n  hosts: [web.example.com]\n  http:\n";
        let route = "    route: [{destination: {host: web.example.com}}]\n";
        let cases = [
            ("  - match: [{uri: {regex: '('}}]\n", "spec.http[0].match[0]"),
            (
                "  - match: [{uri: {prefix: /}}]\n    rewrite: {uriRegexRewrite: {match: '(', rewrite: /x}}\n",
                "spec.http[0].rewrite.uriRegexRewrite.match",
            ),
            (
                "  - corsPolicy: {allowOrigins: [{regex: '('}]}\n",
                "spec.http[0].corsPolicy.allowOrigins",
            ),
            (
                "  - fault: {delay: {fixedDelay: soon, percentage: {value: 1}}}\n",
                "spec.http[0].fault.delay.fixedDelay",
            ),
        ];
        for (http, field) in cases {
            let loaded = Loaded::from_source("t.yaml", &format!("{head}{http}{route}"));
            assert!(
                !crate::diagnostic::has_errors(&loaded.diagnostics),
                "{http}"
            );
            let err = compile(&loaded.config, &HashMap::new(), None).unwrap_err();
            let d = err.diagnostic();
            assert!(matches!(err, CompileError::Unbuildable(_)), "{http}");
            assert_eq!((d.code, d.field.as_str()), ("WEIR0012", field), "{http}");
            assert_eq!(d.resource.to_string(), "VirtualService ns/v");
        }
        let fine = format!("{head}  - match: [{{uri: {{regex: '/a.*'}}}}]\n{route}");
        let loaded = Loaded::from_source("t.yaml", &fine);
        assert!(compile(&loaded.config, &HashMap::new(), None).is_ok());
    }
}
