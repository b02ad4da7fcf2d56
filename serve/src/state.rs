//! The config being served: the last accepted version, rendered per proxy.
//!
//! A [`Snapshot`] is immutable and published through a `tokio::sync::watch`
//! channel: every stream sees the latest one (intermediate versions are
//! skipped by a slow stream, never half-applied). Renderings are cached per
//! [`NodeIdentity::key`], so a hundred identical proxies cost one rendering.

use crate::endpoints::{host_endpoints, overrides, skeleton, HostEndpoints};
use crate::node::{NodeIdentity, Role};
use crate::source::{to_config_text, validate, Document};
use crate::trim::trim;
use envoy_types::pb::envoy::config::core::v3::{
    async_data_source, data_source, AsyncDataSource, DataSource, TypedExtensionConfig,
};
use envoy_types::pb::envoy::extensions::filters::http::wasm::v3::Wasm;
use envoy_types::pb::envoy::extensions::wasm::v3::{plugin_config, PluginConfig, VmConfig};
use envoy_types::pb::google::protobuf::{Any, StringValue};
use prost::Message;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use weir_core::config::kube::Options;
use weir_core::Diagnostic;

/// The ECDS type URL of the resource served.
pub const TYPED_EXTENSION_CONFIG: &str =
    "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig";
/// The type inside it: the wasm HTTP filter.
pub const WASM_FILTER: &str = "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm";

/// How the served filter is configured (server-wide).
#[derive(Debug, Clone)]
pub struct FilterOptions {
    /// The resource name (the `HttpFilter` name in the bootstrap).
    pub name: String,
    /// The `.wasm` path as the Envoys see it.
    pub wasm: String,
    /// `vm_id`: Envoy keeps a VM across plugin configs with the same VM
    /// config, which is what lets the filter keep its engine.
    pub vm_id: String,
    /// Plugin options every proxy gets (a node's `WEIR_PLUGIN` wins).
    pub plugin: Map<String, Value>,
    pub kube: Options,
}

impl Default for FilterOptions {
    fn default() -> Self {
        FilterOptions {
            name: "weir".into(),
            wasm: String::new(),
            vm_id: "weir".into(),
            plugin: Map::new(),
            kube: Options::default(),
        }
    }
}

/// One proxy's resource.
#[derive(Debug)]
pub struct Rendered {
    /// The plugin configuration (the JSON the filter parses).
    pub plugin_json: String,
    /// The TypedExtensionConfig, encoded.
    pub resource: Any,
    /// Derived from the content: the same content has the same version,
    /// also across server restarts.
    pub version: String,
    /// What was kept, as `Kind ns/name` (for `--dry-run`).
    pub kept: Vec<String>,
    pub gateways: Vec<String>,
}

/// An accepted config.
#[derive(Debug)]
pub struct Snapshot {
    /// Counts accepted configs (1 is the first).
    pub generation: u64,
    /// The config last pushed whole: what the filter's `config` carries.
    pub base: Vec<Document>,
    /// Endpoint overrides since the base (hosts → endpoint list).
    pub overrides: BTreeMap<String, Vec<Value>>,
    /// The accepted documents themselves.
    pub current: Vec<Document>,
    base_skeleton: Vec<Value>,
    base_endpoints: HostEndpoints,
    pub options: Arc<FilterOptions>,
    cache: Mutex<HashMap<String, Arc<Rendered>>>,
}

/// How an accepted change travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The whole config (routes compiled again).
    Full,
    /// Endpoint overrides on the same base.
    EndpointsOnly,
    /// Nothing changed.
    Same,
}

impl Snapshot {
    fn new(
        generation: u64,
        docs: Vec<Document>,
        options: Arc<FilterOptions>,
        endpoints: HostEndpoints,
    ) -> Snapshot {
        Snapshot {
            generation,
            base_skeleton: skeleton(&docs),
            base: docs.clone(),
            overrides: BTreeMap::new(),
            current: docs,
            base_endpoints: endpoints,
            options,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The next snapshot for accepted `docs`, endpoint-only when it can be.
    fn next(&self, docs: Vec<Document>) -> (Snapshot, ChangeKind) {
        if docs == self.current {
            return (
                Snapshot {
                    generation: self.generation,
                    base: self.base.clone(),
                    overrides: self.overrides.clone(),
                    current: docs,
                    base_skeleton: self.base_skeleton.clone(),
                    base_endpoints: self.base_endpoints.clone(),
                    options: self.options.clone(),
                    cache: Mutex::new(HashMap::new()),
                },
                ChangeKind::Same,
            );
        }
        let endpoints = host_endpoints(&docs, &self.options.kube);
        if skeleton(&docs) == self.base_skeleton {
            if let Some(o) = overrides(&self.base_endpoints, &endpoints, &self.overrides) {
                return (
                    Snapshot {
                        generation: self.generation + 1,
                        base: self.base.clone(),
                        overrides: o,
                        current: docs,
                        base_skeleton: self.base_skeleton.clone(),
                        base_endpoints: self.base_endpoints.clone(),
                        options: self.options.clone(),
                        cache: Mutex::new(HashMap::new()),
                    },
                    ChangeKind::EndpointsOnly,
                );
            }
        }
        (
            Snapshot::new(self.generation + 1, docs, self.options.clone(), endpoints),
            ChangeKind::Full,
        )
    }

    /// The resource for `node` (cached per node key).
    pub fn render(&self, node: &NodeIdentity) -> Arc<Rendered> {
        let key = node.key();
        if let Some(r) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return r;
        }
        let r = Arc::new(self.render_uncached(node));
        if let Ok(mut c) = self.cache.lock() {
            c.insert(key, r.clone());
        }
        r
    }

    fn render_uncached(&self, node: &NodeIdentity) -> Rendered {
        let opts = &self.options;
        let trimmed = trim(&self.base, node, &opts.kube.cluster_domain);
        let mut plugin = opts.plugin.clone();
        match node.role {
            Role::Gateway => {
                if trimmed.gateways.len() > 1 {
                    eprintln!(
                        "weir serve: node {} matches {} Gateways; its filter decides as {}",
                        node.id,
                        trimmed.gateways.len(),
                        trimmed.gateways[0]
                    );
                }
                if let Some(g) = trimmed.gateways.first() {
                    plugin.insert("gateway".into(), Value::String(g.clone()));
                }
                if let Some(p) = trimmed.gateway_port {
                    plugin.entry("port").or_insert(Value::from(p));
                }
            }
            Role::Sidecar => {
                plugin.insert(
                    "source_namespace".into(),
                    Value::String(node.namespace.clone()),
                );
                plugin.insert("source_labels".into(), serde_json::json!(node.labels));
            }
        }
        for (k, v) in &node.plugin {
            plugin.insert(k.clone(), v.clone());
        }
        plugin.insert(
            "config".into(),
            Value::String(to_config_text(&trimmed.docs)),
        );
        let endpoints: Map<String, Value> = self
            .overrides
            .iter()
            .filter(|(h, _)| {
                trimmed
                    .service_hosts
                    .as_ref()
                    .is_none_or(|s| s.contains(*h))
            })
            .map(|(h, e)| (h.clone(), Value::Array(e.clone())))
            .collect();
        if !endpoints.is_empty() {
            plugin.insert("endpoints".into(), Value::Object(endpoints));
        }
        let plugin_json = Value::Object(plugin).to_string();
        let resource = typed_extension_config(opts, &plugin_json);
        Rendered {
            version: format!("{:016x}", fnv1a(&resource.value)),
            plugin_json,
            resource,
            kept: trimmed.docs.iter().map(|d| d.reference()).collect(),
            gateways: trimmed.gateways,
        }
    }
}

/// FNV-1a 64: a content hash that is the same in every build (versions must
/// survive a server restart; std's hasher promises no such thing).
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn any<M: Message>(type_url: &str, m: &M) -> Any {
    Any {
        type_url: type_url.into(),
        value: m.encode_to_vec(),
    }
}

/// TypedExtensionConfig{name, Wasm{config: PluginConfig{vm_config, configuration}}}.
fn typed_extension_config(opts: &FilterOptions, plugin_json: &str) -> Any {
    let vm = VmConfig {
        vm_id: opts.vm_id.clone(),
        runtime: "envoy.wasm.runtime.v8".into(),
        code: Some(AsyncDataSource {
            specifier: Some(async_data_source::Specifier::Local(DataSource {
                specifier: Some(data_source::Specifier::Filename(opts.wasm.clone())),
                ..DataSource::default()
            })),
        }),
        ..VmConfig::default()
    };
    let plugin = PluginConfig {
        name: opts.name.clone(),
        root_id: "weir".into(),
        configuration: Some(any(
            "type.googleapis.com/google.protobuf.StringValue",
            &StringValue {
                value: plugin_json.into(),
            },
        )),
        vm: Some(plugin_config::Vm::VmConfig(vm)),
        ..PluginConfig::default()
    };
    let wasm = Wasm {
        config: Some(plugin),
    };
    any(
        TYPED_EXTENSION_CONFIG,
        &TypedExtensionConfig {
            name: opts.name.clone(),
            typed_config: Some(any(WASM_FILTER, &wasm)),
        },
    )
}

/// Holds the snapshot in force and publishes accepted changes.
#[derive(Debug)]
pub struct Store {
    tx: watch::Sender<Option<Arc<Snapshot>>>,
    options: Arc<FilterOptions>,
}

/// What [`Store::offer`] did.
#[derive(Debug)]
pub enum Offered {
    Accepted {
        generation: u64,
        kind: ChangeKind,
        warnings: Vec<Diagnostic>,
    },
    /// Rejected: nothing published, the previous snapshot stays.
    Rejected(Vec<Diagnostic>),
}

impl Store {
    pub fn new(options: FilterOptions) -> Store {
        Store {
            tx: watch::Sender::new(None),
            options: Arc::new(options),
        }
    }

    /// A receiver of snapshots (None until the first accepted config).
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Snapshot>>> {
        self.tx.subscribe()
    }

    /// The snapshot in force.
    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.tx.borrow().clone()
    }

    /// Validates `docs` whole and publishes them when accepted.
    pub fn offer(&self, docs: Vec<Document>) -> Offered {
        let warnings = match validate(&docs, &self.options.kube) {
            Ok(w) => w,
            Err(diags) => return Offered::Rejected(diags),
        };
        let (snapshot, kind) = match self.current() {
            None => {
                let endpoints = host_endpoints(&docs, &self.options.kube);
                (
                    Snapshot::new(1, docs, self.options.clone(), endpoints),
                    ChangeKind::Full,
                )
            }
            Some(cur) => cur.next(docs),
        };
        let generation = snapshot.generation;
        if kind != ChangeKind::Same {
            self.tx.send_replace(Some(Arc::new(snapshot)));
        }
        Offered::Accepted {
            generation,
            kind,
            warnings,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::{documents, Files};

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

    fn docs(text: &str) -> Vec<Document> {
        documents(&Files {
            texts: vec![("c.yaml".into(), text.into())],
        })
        .expect("parses")
    }

    fn plugin(store: &Store) -> Value {
        let node = NodeIdentity::from_json(
            &serde_json::json!({"id": "sidecar~1~a.default~default.svc.cluster.local"}),
        )
        .expect("node");
        let r = store.current().expect("accepted").render(&node);
        serde_json::from_str(&r.plugin_json).expect("json")
    }

    #[test]
    fn changes_are_full_endpoint_only_same_or_rejected() {
        let store = Store::new(FilterOptions::default());
        assert!(matches!(
            store.offer(docs(SE)),
            Offered::Accepted {
                generation: 1,
                kind: ChangeKind::Full,
                ..
            }
        ));
        let first = plugin(&store);
        assert!(first.get("endpoints").is_none());
        assert!(matches!(
            store.offer(docs(&SE.replace("10.0.0.1", "10.0.0.9"))),
            Offered::Accepted {
                generation: 2,
                kind: ChangeKind::EndpointsOnly,
                ..
            }
        ));
        let second = plugin(&store);
        assert_eq!(
            second["config"], first["config"],
            "the base config travels unchanged"
        );
        assert_eq!(second["endpoints"]["web.test"][0]["address"], "10.0.0.9");
        assert!(matches!(
            store.offer(docs(&SE.replace("10.0.0.1", "10.0.0.9"))),
            Offered::Accepted {
                generation: 2,
                kind: ChangeKind::Same,
                ..
            }
        ));
        let bad = SE.replace("host: web.test}}]", "host: web.test}, weight: -1}]");
        assert!(matches!(store.offer(docs(&bad)), Offered::Rejected(_)));
        assert_eq!(store.current().map(|s| s.generation), Some(2));
        assert!(matches!(
            store.offer(docs(&SE.replace(
                "hosts: [web.test]\n  http",
                "hosts: [web.test, www.test]\n  http"
            ))),
            Offered::Accepted {
                generation: 3,
                kind: ChangeKind::Full,
                ..
            }
        ));
        assert!(plugin(&store).get("endpoints").is_none());
    }

    #[test]
    fn versions_follow_content() {
        let a = Store::new(FilterOptions::default());
        let b = Store::new(FilterOptions::default());
        a.offer(docs(SE));
        b.offer(docs(SE));
        let node = NodeIdentity::from_json(&serde_json::json!({})).expect("node");
        let (ra, rb) = (
            a.current().expect("a").render(&node),
            b.current().expect("b").render(&node),
        );
        assert_eq!(ra.version, rb.version);
        a.offer(docs(&SE.replace("10.0.0.1", "10.0.0.2")));
        assert_ne!(a.current().expect("a").render(&node).version, ra.version);
    }
}
