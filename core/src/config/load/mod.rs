//! Reading resources into a [`Config`]: each object's kind, metadata and
//! spec, every problem found as a [`Diagnostic`]; the documents come from
//! [`stream`] (YAML with a fast reader for block YAML and serde_yaml_ng for
//! the rest, JSON, `kind: List`).

mod stream;

use super::block_yaml::{self, Node};
use super::*;
use crate::diagnostic::{Diagnostic, ResourceRef, Severity};
use serde::Deserialize;
use serde_json::Value;

/// The result of loading: the resources read and the problems found.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub config: Config,
    pub diagnostics: Vec<Diagnostic>,
}

impl Loaded {
    /// Loads one input (YAML or JSON) and adds its resources.
    ///
    /// Documents stream: each resource, and each item of a `kind: List`, is
    /// added as soon as it is read, so a cluster dump is never held as one
    /// tree of values (a 5 000-Service dump would take gigabytes).
    pub fn add_source(&mut self, file: &str, text: &str) {
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            self.add_json_stream(file, text);
        } else {
            self.add_yaml_stream(file, text);
        }
    }

    /// Loads one input and returns everything read from it.
    pub fn from_source(file: &str, text: &str) -> Loaded {
        let mut loaded = Loaded::default();
        loaded.add_source(file, text);
        loaded
    }

    fn add_object(
        &mut self,
        kind_name: &str,
        mut obj: serde_json::Map<String, Value>,
        origin: &Origin,
    ) {
        let hash = fingerprint::object_hash(
            kind_name,
            &obj,
            &origin.file,
            origin.document,
            self.config.loaded,
        );
        let mut virtual_service = false;
        self.add_object_content(kind_name, &mut obj, origin, &mut virtual_service);
        self.add_fingerprint(hash, virtual_service);
    }

    /// Records an object's hash: only a VirtualService that reaches the
    /// config keeps its own.
    fn add_fingerprint(&mut self, hash: u64, virtual_service: bool) {
        let fingerprints = &mut self.config.fingerprints;
        if virtual_service {
            fingerprints.add_virtual_service(hash);
        } else {
            fingerprints.add_other(hash);
        }
    }

    fn add_object_content(
        &mut self,
        kind_name: &str,
        obj: &mut serde_json::Map<String, Value>,
        origin: &Origin,
        virtual_service: &mut bool,
    ) {
        let api_version = obj
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let meta: Metadata = obj
            .remove("metadata")
            .and_then(|m| serde_json::from_value(m).ok())
            .unwrap_or_default();
        let namespace = namespace_of(&meta);
        let reference = reference_of(kind_name, &namespace, &meta);
        if let Some(kind) = kube::KubeKind::parse(kind_name, &api_version) {
            self.add_kube(kind, &meta, &namespace, &*obj, origin);
            return;
        }
        if self.add_policy_object(kind_name, &api_version, &reference, obj) {
            return;
        }
        let Some(kind) = self.networking_kind(kind_name, &api_version, &reference) else {
            return;
        };
        let spec = obj
            .remove("spec")
            .unwrap_or(Value::Object(Default::default()));
        let keys = obj.keys().map(String::as_str);
        let resource = Networking {
            kind,
            meta,
            namespace,
            reference,
        };
        self.add_networking(resource, keys, spec, origin, virtual_service);
    }

    /// A Kubernetes object, its metadata read.
    fn add_kube<S: kube::Source>(
        &mut self,
        kind: kube::KubeKind,
        meta: &Metadata,
        namespace: &str,
        obj: &S,
        origin: &Origin,
    ) {
        let order = self.config.loaded;
        self.config.loaded += 1;
        let meta = kube::Meta {
            // A Namespace has no namespace: its name is one.
            namespace,
            name: &meta.name,
            created: meta.creation_timestamp.as_deref(),
            labels: &meta.labels,
            annotations: meta.annotations.as_ref(),
            order,
            origin,
        };
        self.config.kube.add(kind, meta, obj, &mut self.diagnostics);
    }

    /// A mapping the fast block-YAML reader built: a networking resource or
    /// a Kubernetes object deserializes straight from it (no `Value` tree,
    /// issue 20); any other kind is read from its value, as from
    /// serde_yaml_ng's.
    ///
    /// `content` is the object's [`fingerprint::node_content_hash`] when
    /// the parser computed it already.
    pub(super) fn add_node_object(
        &mut self,
        kind_name: &str,
        object: &Node<'_>,
        content: Option<u64>,
        origin: &Origin,
    ) {
        let Node::Map(entries) = object else {
            return;
        };
        let api_version = object
            .get("apiVersion")
            .and_then(Node::as_str)
            .unwrap_or("");
        let kube_kind = kube::KubeKind::parse(kind_name, api_version);
        let networking = Kind::parse(kind_name)
            .filter(|_| is_istio_networking(api_version) && kube_kind.is_none());
        if kube_kind.is_none() && networking.is_none() {
            self.add_object(kind_name, block_yaml::to_map(entries), origin);
            return;
        }
        let content = content.unwrap_or_else(|| fingerprint::node_content_hash(object));
        let hash = fingerprint::placed_hash(
            kind_name,
            &origin.file,
            origin.document,
            self.config.loaded,
            content,
        );
        let meta: Metadata = object
            .get("metadata")
            .and_then(|m| Metadata::deserialize(m).ok())
            .unwrap_or_default();
        let namespace = namespace_of(&meta);
        let Some(kind) = networking else {
            if let Some(kind) = kube_kind {
                self.add_kube(kind, &meta, &namespace, object, origin);
            }
            self.add_fingerprint(hash, false);
            return;
        };
        let reference = reference_of(kind_name, &namespace, &meta);
        let empty = Node::Map(Vec::new());
        let spec = object.get("spec").unwrap_or(&empty);
        let keys = entries
            .iter()
            .map(|(k, _)| k.as_ref())
            .filter(|k| *k != "metadata");
        let resource = Networking {
            kind,
            meta,
            namespace,
            reference,
        };
        let mut virtual_service = false;
        self.add_networking(resource, keys, spec, origin, &mut virtual_service);
        self.add_fingerprint(hash, virtual_service);
    }

    /// The networking kind of `kind_name`, or `None` with a warning that the
    /// resource is skipped (another apiVersion, an unknown kind).
    fn networking_kind(
        &mut self,
        kind_name: &str,
        api_version: &str,
        reference: &ResourceRef,
    ) -> Option<Kind> {
        let (field, message) = match Kind::parse(kind_name) {
            Some(k) if is_istio_networking(api_version) => return Some(k),
            Some(_) => (
                "apiVersion",
                format!(
                    "apiVersion {api_version:?} is not networking.istio.io/v1, v1beta1 or v1alpha3; resource skipped"
                ),
            ),
            None => (
                "kind",
                format!("unknown kind {kind_name:?} ({api_version}); resource skipped"),
            ),
        };
        self.diagnostics.push(Diagnostic::new(
            "WEIR0002",
            Severity::Warning,
            reference.clone(),
            field,
            message,
        ));
        None
    }

    /// Adds a networking resource: its top-level `keys` (without
    /// `metadata`) checked, its `spec` parsed.
    fn add_networking<'de, D: serde::Deserializer<'de>>(
        &mut self,
        resource: Networking,
        keys: impl Iterator<Item = &'de str>,
        spec: D,
        origin: &Origin,
        virtual_service: &mut bool,
    ) {
        let Networking {
            kind,
            meta,
            namespace,
            reference,
        } = resource;
        if meta.name.is_empty() {
            self.diagnostics.push(Diagnostic::new(
                "IST0106",
                Severity::Error,
                reference.clone(),
                "metadata.name",
                "metadata.name is required".to_string(),
            ));
        }
        for key in keys {
            if !matches!(key, "apiVersion" | "kind" | "spec" | "status") {
                self.diagnostics.push(Diagnostic::new(
                    "IST0106",
                    Severity::Error,
                    reference.clone(),
                    key,
                    format!("unknown field {key:?}"),
                ));
            }
        }
        let order = self.config.loaded;
        self.config.loaded += 1;
        macro_rules! push {
            ($field:ident) => {{
                if let Some(spec) = parse_spec(spec, &reference, &mut self.diagnostics) {
                    *virtual_service = kind == Kind::VirtualService;
                    self.config.$field.push(Resource {
                        name: meta.name,
                        namespace,
                        created: meta.creation_timestamp,
                        order,
                        labels: meta.labels,
                        spec,
                        origin: origin.clone(),
                    });
                }
            }};
        }
        match kind {
            Kind::VirtualService => push!(virtual_services),
            Kind::DestinationRule => push!(destination_rules),
            Kind::Gateway => push!(gateways),
            Kind::ServiceEntry => push!(service_entries),
            Kind::WorkloadEntry => push!(workload_entries),
        }
    }
}

/// A networking resource's kind and metadata, read before its spec.
struct Networking {
    kind: Kind,
    meta: Metadata,
    namespace: String,
    reference: ResourceRef,
}

/// `metadata.namespace`, `default` when absent or empty.
fn namespace_of(meta: &Metadata) -> String {
    meta.namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "default".to_string())
}

fn reference_of(kind_name: &str, namespace: &str, meta: &Metadata) -> ResourceRef {
    ResourceRef {
        kind: if kind_name.is_empty() {
            "<no kind>".into()
        } else {
            kind_name.into()
        },
        namespace: namespace.to_string(),
        name: meta.name.clone(),
    }
}

fn is_istio_networking(api_version: &str) -> bool {
    matches!(
        api_version,
        "networking.istio.io/v1" | "networking.istio.io/v1beta1" | "networking.istio.io/v1alpha3"
    )
}

/// Parses a spec (a `Value`, or a block-YAML [`Node`]: the same results
/// and messages), reporting every unknown field and the first type error.
fn parse_spec<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    spec: D,
    reference: &ResourceRef,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<T> {
    let mut unknown = Vec::new();
    let mut on_ignored = |path: serde_ignored::Path<'_>| unknown.push(format_ignored_path(&path));
    let de = serde_ignored::Deserializer::new(spec, &mut on_ignored);
    let result: Result<T, _> = serde_path_to_error::deserialize(de);
    for path in unknown {
        let field = path.rsplit('.').next().unwrap_or(&path).to_string();
        diagnostics.push(Diagnostic::new(
            "IST0106",
            Severity::Error,
            reference.clone(),
            &format!("spec.{path}"),
            format!("unknown field {field:?}"),
        ));
    }
    match result {
        Ok(spec) => Some(spec),
        Err(e) => {
            let path = e.path().to_string();
            let field = if path == "." || path.is_empty() {
                "spec".to_string()
            } else {
                format!("spec.{path}")
            };
            diagnostics.push(Diagnostic::new(
                "IST0106",
                Severity::Error,
                reference.clone(),
                &field,
                e.into_inner().to_string(),
            ));
            None
        }
    }
}

fn format_ignored_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match path {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", format_ignored_path(parent)),
        Path::Map { parent, key } => {
            let p = format_ignored_path(parent);
            if p.is_empty() {
                key.to_string()
            } else {
                format!("{p}.{key}")
            }
        }
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => format_ignored_path(parent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_multi_document_yaml_list_and_json() {
        let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec: {hosts: [x]}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: networking.istio.io/v1beta1\n  kind: DestinationRule\n  metadata: {name: b, namespace: ns}\n  spec: {host: x}\n";
        let l = Loaded::from_source("t.yaml", yaml);
        assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
        assert_eq!(l.config.virtual_services.len(), 1);
        assert_eq!(l.config.virtual_services[0].namespace, "default");
        assert_eq!(l.config.destination_rules[0].namespace, "ns");
        let json = r#"{"apiVersion":"networking.istio.io/v1alpha3","kind":"Gateway","metadata":{"name":"g"},"spec":{"servers":[]}}"#;
        let l = Loaded::from_source("t.json", json);
        assert_eq!(l.config.gateways.len(), 1, "{:?}", l.diagnostics);
    }

    /// kubectl prints a List's `items` before its `kind`; documents stream
    /// either way, a bare array of resources too, and a scalar document is
    /// named.
    #[test]
    fn lists_stream_in_any_key_order() {
        let vs = r#"{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"a"},"spec":{"hosts":["x"]}}"#;
        let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"ns"},"status":{"podIP":"10.0.0.1"}}"#;
        let cases = [
            (
                format!(
                    r#"{{"apiVersion":"v1","items":[{vs},{pod}],"kind":"List","metadata":{{}}}}"#
                ),
                1,
                1,
                0,
            ),
            (format!("[{vs}, {pod}]"), 1, 1, 0),
            (
                format!(r#"{{"kind":"PodList","items":[{pod},{pod}]}}"#),
                0,
                2,
                0,
            ),
            (format!("{vs}\n{vs}"), 2, 0, 0),
            (
                "apiVersion: v1\nkind: List\nitems: []\n---\n42\n".to_string(),
                0,
                0,
                1,
            ),
        ];
        for (text, vss, pods, diags) in cases {
            let l = Loaded::from_source("t", &text);
            assert_eq!(l.config.virtual_services.len(), vss, "{text}");
            assert_eq!(l.config.kube.pods.len(), pods, "{text}");
            assert_eq!(l.diagnostics.len(), diags, "{text}: {:?}", l.diagnostics);
        }
    }

    #[test]
    fn unknown_kind_is_a_warning_and_others_load() {
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: s}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec: {hosts: [x]}\n";
        let l = Loaded::from_source("t.yaml", yaml);
        assert_eq!(l.config.virtual_services.len(), 1);
        assert_eq!(l.diagnostics.len(), 1);
        assert_eq!(l.diagnostics[0].severity, Severity::Warning);
        assert_eq!(l.diagnostics[0].code, "WEIR0002");
    }

    #[test]
    fn every_unknown_field_is_reported_with_its_path() {
        let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n  hosts: [x]\n  htp: []\n  http:\n  - match:\n    - uri: {prefx: /a}\n    route:\n    - destination: {host: x}\n";
        let l = Loaded::from_source("t.yaml", yaml);
        let fields: Vec<_> = l.diagnostics.iter().map(|d| d.field.as_str()).collect();
        assert!(fields.contains(&"spec.htp"), "{fields:?}");
        assert!(
            fields.contains(&"spec.http[0].match[0].uri.prefx"),
            "{fields:?}"
        );
    }

    #[test]
    fn type_errors_name_the_field() {
        let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n  hosts: [x]\n  http:\n  - timeout: 5\n";
        let l = Loaded::from_source("t.yaml", yaml);
        assert_eq!(l.diagnostics.len(), 1, "{:?}", l.diagnostics);
        assert_eq!(l.diagnostics[0].field, "spec.http[0].timeout");
    }

    #[test]
    fn malformed_yaml_has_line_and_column() {
        let l = Loaded::from_source(
            "bad.yaml",
            "kind: VirtualService\nspec:\n  hosts: [web\n  http:\n",
        );
        assert_eq!(l.diagnostics.len(), 1);
        let d = &l.diagnostics[0];
        assert_eq!(d.code, "WEIR0001");
        assert!(d.line.is_some() && d.column.is_some(), "{d:?}");
    }
}
