//! The engine of the configuration in force, kept VM-wide across plugin
//! configurations.
//!
//! Envoy keeps a VM when a new plugin configuration (an ECDS push from
//! `weir serve`) has the same VM config, and starts a new root context in
//! it. When the new configuration's Istio resources (`config`) are those in
//! force and only its `endpoints` overrides differ, the kept engine takes
//! them with `Engine::set_endpoints`, which rebuilds only those hosts'
//! endpoint sets: the routes are not compiled again.

use crate::settings::SettingsError;
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::Arc;
use weir_core::compile::EndpointSpec;
use weir_core::{Engine, Table};

/// One endpoint of an `endpoints` override, as `weir serve` writes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    pub address: String,
    /// `None`: the service port's target port.
    #[serde(default)]
    pub port: Option<u32>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default = "one")]
    pub weight: u32,
    #[serde(default)]
    pub locality: String,
}

fn one() -> u32 {
    1
}

impl EndpointConfig {
    fn to_spec(&self) -> EndpointSpec {
        EndpointSpec {
            address: self.address.clone(),
            port: self.port,
            labels: self.labels.clone(),
            weight: self.weight,
            locality: self.locality.clone(),
        }
    }
}

/// Host (FQDN) → its endpoints, replacing what `config` says.
pub type Endpoints = BTreeMap<String, Vec<EndpointConfig>>;

/// How the table of a configuration came to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// `config` compiled (validate, compile routes and endpoint sets).
    Compiled,
    /// Same `config`: these many hosts' endpoints replaced, routes kept.
    EndpointsUpdated(usize),
    /// The configuration in force, again.
    Unchanged,
}

struct Kept {
    config: String,
    endpoints: Endpoints,
    engine: Engine,
}

thread_local! {
    // One per VM: the filter is single-threaded inside a VM.
    static KEPT: RefCell<Option<Kept>> = const { RefCell::new(None) };
}

/// A compiled table: (table, warnings, how).
pub type Compiled = (Arc<Table>, Vec<String>, Applied);

/// The table for `config` with `endpoints` applied, reusing the kept
/// engine when only endpoints changed.
///
/// # Errors
/// The Istio resources are rejected, or an endpoint update would exceed the
/// compile budget; the kept engine then stays as it was (or is dropped, so
/// the next configuration compiles from scratch).
pub fn table_for(config: &str, endpoints: &Endpoints) -> Result<Compiled, SettingsError> {
    KEPT.with(|kept| {
        let mut kept = kept.borrow_mut();
        if let Some(k) = kept.as_mut().filter(|k| k.config == config) {
            // An override cannot be taken back: a host that lost its
            // override needs the whole config again.
            let dropped = k.endpoints.keys().any(|h| !endpoints.contains_key(h));
            if !dropped {
                let changed: Vec<(&String, &Vec<EndpointConfig>)> = endpoints
                    .iter()
                    .filter(|(h, e)| k.endpoints.get(*h) != Some(*e))
                    .collect();
                if changed.is_empty() {
                    return Ok((k.engine.table(), Vec::new(), Applied::Unchanged));
                }
                let n = changed.len();
                for (host, eps) in changed {
                    if let Err(e) = set(&k.engine, host, eps) {
                        *kept = None;
                        return Err(e);
                    }
                    k.endpoints.insert(host.clone(), eps.clone());
                }
                return Ok((k.engine.table(), Vec::new(), Applied::EndpointsUpdated(n)));
            }
        }
        let engine = Engine::new();
        let warnings = match engine.apply(weir_core::config::Loaded::from_source("config", config))
        {
            Ok(diags) => diags.iter().map(|d| d.to_string()).collect(),
            Err(e) => {
                return Err(SettingsError::Istio(
                    e.diagnostics
                        .iter()
                        .filter(|d| d.is_error())
                        .map(|d| d.to_string())
                        .collect(),
                ))
            }
        };
        for (host, eps) in endpoints {
            set(&engine, host, eps)?;
        }
        let table = engine.table();
        *kept = Some(Kept {
            config: config.to_string(),
            endpoints: endpoints.clone(),
            engine,
        });
        Ok((table, warnings, Applied::Compiled))
    })
}

fn set(engine: &Engine, host: &str, eps: &[EndpointConfig]) -> Result<(), SettingsError> {
    let specs: Vec<EndpointSpec> = eps.iter().map(EndpointConfig::to_spec).collect();
    engine.set_endpoints(host, &specs).map_err(|e| {
        SettingsError::Istio(
            e.diagnostics
                .iter()
                .map(|d| format!("endpoints of {host}: {d}"))
                .collect(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SE: &str = r#"
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: web, namespace: default}
spec:
  hosts: [web.test]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: STATIC
  endpoints: [{address: 10.0.0.1}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web.test]
  http: [{route: [{destination: {host: web.test}}]}]
"#;

    fn eps(addr: &str) -> Endpoints {
        let mut m = Endpoints::new();
        m.insert(
            "web.test".into(),
            vec![EndpointConfig {
                address: addr.into(),
                port: Some(9000),
                labels: BTreeMap::new(),
                weight: 1,
                locality: String::new(),
            }],
        );
        m
    }

    fn endpoint_of(table: &Table) -> String {
        let c = table
            .clusters()
            .iter()
            .position(|c| &*c.host == "web.test")
            .expect("cluster");
        table.endpoints(c)[0].address.to_string()
    }

    #[test]
    fn only_endpoints_changed_reuses_the_routes() {
        let (t1, _, how) = table_for(SE, &Endpoints::new()).expect("valid");
        assert_eq!(how, Applied::Compiled);
        assert_eq!(endpoint_of(&t1), "10.0.0.1:80");
        let (t2, _, how) = table_for(SE, &eps("10.0.0.2")).expect("valid");
        assert_eq!(how, Applied::EndpointsUpdated(1));
        assert_eq!(endpoint_of(&t2), "10.0.0.2:9000");
        assert!(
            std::ptr::eq(t1.clusters().as_ptr(), t2.clusters().as_ptr()),
            "the routes were compiled again"
        );
        let (_, _, how) = table_for(SE, &eps("10.0.0.2")).expect("valid");
        assert_eq!(how, Applied::Unchanged);
        // The override dropped: compiled again from the config.
        let (t3, _, how) = table_for(SE, &Endpoints::new()).expect("valid");
        assert_eq!(how, Applied::Compiled);
        assert_eq!(endpoint_of(&t3), "10.0.0.1:80");
        // A new config compiles; a bad one is refused and keeps the engine.
        let other = SE.replace("10.0.0.1", "10.0.0.7");
        let (_, _, how) = table_for(&other, &Endpoints::new()).expect("valid");
        assert_eq!(how, Applied::Compiled);
        let bad = other.replace("host: web.test}}]", "host: web.test}, weight: -5}]");
        assert!(table_for(&bad, &Endpoints::new()).is_err());
        let (_, _, how) = table_for(&other, &Endpoints::new()).expect("valid");
        assert_eq!(how, Applied::Unchanged);
    }
}
