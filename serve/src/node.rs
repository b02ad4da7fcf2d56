//! Who an Envoy is, from its xDS node: a gateway (with its labels and
//! namespace) or a sidecar, read the way istiod reads it.
//!
//! Istio's node id is `TYPE~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local`
//! with TYPE `router` for gateways and `sidecar` for sidecars; the metadata
//! carries `NAMESPACE` and `LABELS` (istiod's `pkg/model/context.go`,
//! `ParseServiceNodeWithMetadata`). Weir adds two optional keys:
//! `WEIR_ROLE` (`gateway` or `sidecar`, over the id's type) and
//! `WEIR_PLUGIN`, plugin options for this proxy's filter (e.g. `port`).

use envoy_types::pb::envoy::config::core::v3::Node;
use envoy_types::pb::google::protobuf::{value::Kind, Struct, Value as PbValue};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What a proxy is for trimming.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Serves the mesh (VirtualServices bound to `mesh`).
    Sidecar,
    /// Serves the Gateways whose selector matches its labels.
    Gateway,
}

/// A proxy's identity, as trimming and rendering need it.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeIdentity {
    /// The node id, for logs.
    pub id: String,
    pub role: Role,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    /// Plugin options from `WEIR_PLUGIN` (the reserved ones removed).
    pub plugin: Map<String, Value>,
}

/// Plugin fields the server owns: a node cannot set them.
pub const RESERVED_PLUGIN_FIELDS: [&str; 5] = [
    "config",
    "endpoints",
    "gateway",
    "source_namespace",
    "source_labels",
];

impl NodeIdentity {
    /// From an xDS request's node.
    pub fn from_node(node: &Node) -> NodeIdentity {
        let metadata = node
            .metadata
            .as_ref()
            .map(struct_to_json)
            .unwrap_or_default();
        NodeIdentity::from_parts(&node.id, &metadata)
    }

    /// From a `NODE.json` (`{"id": …, "metadata": {…}}`, the shape of a
    /// bootstrap's `node`), for `--dry-run`.
    ///
    /// # Errors
    /// Not an object, or `metadata` not an object.
    pub fn from_json(v: &Value) -> Result<NodeIdentity, String> {
        let obj = v.as_object().ok_or("node: not a JSON object")?;
        let id = obj.get("id").and_then(Value::as_str).unwrap_or("");
        let metadata = match obj.get("metadata") {
            None => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err("node field `metadata`: not an object".into()),
        };
        Ok(NodeIdentity::from_parts(id, &metadata))
    }

    fn from_parts(id: &str, metadata: &Map<String, Value>) -> NodeIdentity {
        let parts: Vec<&str> = id.split('~').collect();
        let mut role = match parts.first() {
            Some(&"router") => Role::Gateway,
            _ => Role::Sidecar,
        };
        match metadata.get("WEIR_ROLE").and_then(Value::as_str) {
            Some("gateway") => role = Role::Gateway,
            Some("sidecar") => role = Role::Sidecar,
            _ => {}
        }
        let from_id = parts
            .get(2)
            .and_then(|p| p.split_once('.'))
            .map(|(_, ns)| ns.to_string());
        let namespace = metadata
            .get("NAMESPACE")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or(from_id)
            .unwrap_or_else(|| "default".into());
        let labels = metadata
            .get("LABELS")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        let mut plugin = metadata
            .get("WEIR_PLUGIN")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for f in RESERVED_PLUGIN_FIELDS {
            plugin.remove(f);
        }
        NodeIdentity {
            id: id.to_string(),
            role,
            namespace,
            labels,
            plugin,
        }
    }

    /// What the rendered config depends on (not the id): proxies with the
    /// same key share one rendering.
    pub fn key(&self) -> String {
        let role = match self.role {
            Role::Sidecar => "sidecar",
            Role::Gateway => "gateway",
        };
        serde_json::json!([role, self.namespace, self.labels, self.plugin]).to_string()
    }
}

/// A protobuf `Struct` as JSON (numbers as f64, as protobuf has them).
pub fn struct_to_json(s: &Struct) -> Map<String, Value> {
    s.fields
        .iter()
        .map(|(k, v)| (k.clone(), value_to_json(v)))
        .collect()
}

fn value_to_json(v: &PbValue) -> Value {
    match &v.kind {
        None | Some(Kind::NullValue(_)) => Value::Null,
        Some(Kind::NumberValue(n)) => {
            // Integral numbers stay integers (a port is 80, not 80.0).
            if n.fract() == 0.0 && n.abs() < 9.0e15 {
                Value::from(*n as i64)
            } else {
                serde_json::Number::from_f64(*n).map_or(Value::Null, Value::Number)
            }
        }
        Some(Kind::StringValue(s)) => Value::String(s.clone()),
        Some(Kind::BoolValue(b)) => Value::Bool(*b),
        Some(Kind::StructValue(s)) => Value::Object(struct_to_json(s)),
        Some(Kind::ListValue(l)) => Value::Array(l.values.iter().map(value_to_json).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn identities_from_ids_and_metadata() {
        type Row<'a> = (Value, Role, &'a str, &'a [(&'a str, &'a str)]);
        let rows: &[Row<'_>] = &[
            (
                json!({"id": "router~10.0.0.1~ingress-1.istio-system~istio-system.svc.cluster.local",
                       "metadata": {"LABELS": {"istio": "ingressgateway"}}}),
                Role::Gateway,
                "istio-system",
                &[("istio", "ingressgateway")],
            ),
            (
                json!({"id": "sidecar~10.0.0.2~web-1.shop~shop.svc.cluster.local"}),
                Role::Sidecar,
                "shop",
                &[],
            ),
            (
                json!({"id": "anything", "metadata": {"WEIR_ROLE": "gateway", "NAMESPACE": "edge"}}),
                Role::Gateway,
                "edge",
                &[],
            ),
            (json!({}), Role::Sidecar, "default", &[]),
        ];
        for (v, role, ns, labels) in rows {
            let n = NodeIdentity::from_json(v).expect("object");
            assert_eq!((n.role, n.namespace.as_str()), (*role, *ns), "{v}");
            let want: BTreeMap<String, String> = labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert_eq!(n.labels, want, "{v}");
        }
    }

    #[test]
    fn a_node_cannot_set_the_fields_the_server_owns() {
        let n = NodeIdentity::from_json(&json!({"metadata": {"WEIR_PLUGIN":
            {"port": 80, "config": "stolen", "gateway": "x/y", "endpoints": {}}}}))
        .expect("object");
        assert_eq!(Value::Object(n.plugin), json!({"port": 80}));
    }

    #[test]
    fn protobuf_struct_metadata_reads_as_json() {
        let mut inner = Struct::default();
        inner.fields.insert(
            "app".into(),
            PbValue {
                kind: Some(Kind::StringValue("web".into())),
            },
        );
        let mut md = Struct::default();
        md.fields.insert(
            "LABELS".into(),
            PbValue {
                kind: Some(Kind::StructValue(inner)),
            },
        );
        md.fields.insert(
            "WEIR_PLUGIN".into(),
            PbValue {
                kind: Some(Kind::StructValue({
                    let mut p = Struct::default();
                    p.fields.insert(
                        "port".into(),
                        PbValue {
                            kind: Some(Kind::NumberValue(80.0)),
                        },
                    );
                    p
                })),
            },
        );
        let node = Node {
            id: "sidecar~1~web.shop~shop.svc.cluster.local".into(),
            metadata: Some(md),
            ..Node::default()
        };
        let n = NodeIdentity::from_node(&node);
        assert_eq!(n.labels.get("app").map(String::as_str), Some("web"));
        assert_eq!(n.plugin.get("port"), Some(&json!(80)));
        assert_eq!(n.namespace, "shop");
    }
}
