//! Reading documents into a [`Config`]: YAML streams (a fast reader for
//! block YAML, serde_yaml_ng for the rest), JSON, `kind: List`, and every
//! problem found as a [`Diagnostic`].

use super::chunks::{kubectl_chunks, shift_locations};
use super::*;
use crate::diagnostic::{Diagnostic, ResourceRef, Severity};
use serde::de::DeserializeOwned;
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
        // Only a VirtualService that reaches the config keeps its own hash.
        let mut virtual_service = false;
        self.add_object_content(kind_name, &mut obj, origin, &mut virtual_service);
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
        let namespace = meta
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".to_string());
        let reference = ResourceRef {
            kind: if kind_name.is_empty() {
                "<no kind>".into()
            } else {
                kind_name.into()
            },
            namespace: namespace.clone(),
            name: meta.name.clone(),
        };
        if let Some(kind) = kube::KubeKind::parse(kind_name, &api_version) {
            let order = self.config.loaded;
            self.config.loaded += 1;
            let annotations = meta.other.get("annotations");
            let meta = kube::Meta {
                // A Namespace has no namespace: its name is one.
                namespace: &namespace,
                name: &meta.name,
                created: meta.creation_timestamp.as_deref(),
                labels: &meta.labels,
                annotations,
                order,
                origin,
            };
            self.config
                .kube
                .add(kind, meta, std::mem::take(obj), &mut self.diagnostics);
            return;
        }
        if self.add_policy_object(kind_name, &api_version, &reference, obj) {
            return;
        }
        let kind = match Kind::parse(kind_name) {
            Some(k) if is_istio_networking(&api_version) => k,
            Some(_) => {
                self.diagnostics.push(Diagnostic::new(
                    "WEIR0002",
                    Severity::Warning,
                    reference,
                    "apiVersion",
                    format!(
                        "apiVersion {api_version:?} is not networking.istio.io/v1, v1beta1 or v1alpha3; resource skipped"
                    ),
                ));
                return;
            }
            None => {
                self.diagnostics.push(Diagnostic::new(
                    "WEIR0002",
                    Severity::Warning,
                    reference,
                    "kind",
                    format!("unknown kind {kind_name:?} ({api_version}); resource skipped"),
                ));
                return;
            }
        };
        if meta.name.is_empty() {
            self.diagnostics.push(Diagnostic::new(
                "IST0106",
                Severity::Error,
                reference.clone(),
                "metadata.name",
                "metadata.name is required".to_string(),
            ));
        }
        for key in obj.keys() {
            if !matches!(key.as_str(), "apiVersion" | "kind" | "spec" | "status") {
                self.diagnostics.push(Diagnostic::new(
                    "IST0106",
                    Severity::Error,
                    reference.clone(),
                    key,
                    format!("unknown field {key:?}"),
                ));
            }
        }
        let spec = obj
            .remove("spec")
            .unwrap_or(Value::Object(Default::default()));
        let order = self.config.loaded;
        self.config.loaded += 1;
        macro_rules! push {
            ($field:ident) => {{
                if let Some(spec) = parse_spec(spec, &reference, &mut self.diagnostics) {
                    *virtual_service = kind == Kind::VirtualService;
                    self.config.$field.push(Resource {
                        name: meta.name.clone(),
                        namespace,
                        created: meta.creation_timestamp.clone(),
                        order,
                        labels: meta.labels.clone(),
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

fn is_istio_networking(api_version: &str) -> bool {
    matches!(
        api_version,
        "networking.istio.io/v1" | "networking.istio.io/v1beta1" | "networking.istio.io/v1alpha3"
    )
}

/// Parses a spec, reporting every unknown field and the first type error.
fn parse_spec<T: DeserializeOwned>(
    spec: Value,
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

/// WEIR0001 for document `index` (0-based) of `file`, at `(line, column)`.
fn syntax_error(
    file: &str,
    index: usize,
    message: String,
    at: Option<(usize, usize)>,
) -> Diagnostic {
    let origin = Origin {
        file: file.to_string(),
        document: index + 1,
    };
    let mut d = Diagnostic::load_error("WEIR0001", &origin.file, "", message);
    d.line = at.map(|(l, _)| l);
    d.column = at.map(|(_, c)| c);
    d
}

impl Loaded {
    fn add_yaml_stream(&mut self, file: &str, text: &str) {
        // A `kind: List` as kubectl prints it is read item by item: the YAML
        // parser holds a whole document's events in memory, which for a
        // cluster dump (one List document) is gigabytes.
        let Some(chunks) = kubectl_chunks(text) else {
            self.add_yaml_documents(file, text, 0, 0, 0);
            return;
        };
        let mut buf = String::new();
        for chunk in chunks {
            let chunk_text = chunk.text(text, &mut buf);
            if !self.add_yaml_documents(file, chunk_text, chunk.document, chunk.line, chunk.column)
            {
                // As in one stream: nothing after a syntax error is trusted.
                break;
            }
        }
    }

    /// Parses the documents of `text`, numbered from `first_document`;
    /// `line` and `column` place `text` in its file (for syntax errors).
    /// False when it stopped at a syntax error.
    pub(super) fn add_yaml_documents(
        &mut self,
        file: &str,
        text: &str,
        first_document: usize,
        line: usize,
        column: usize,
    ) -> bool {
        // The common YAML without serde_yaml_ng's event buffers; anything
        // else (and every syntax error, with its location) goes to it, from
        // the first document the fast reader does not take.
        if let Some(documents) = block_yaml::Documents::new(text) {
            for (i, document) in documents.enumerate() {
                let index = first_document + i;
                let document = match document {
                    Ok(d) => d,
                    Err(rest) => {
                        let Some(tail) = text.get(rest.offset..) else {
                            return false;
                        };
                        return self.add_yaml_with_serde(
                            file,
                            tail,
                            index,
                            line + rest.line,
                            column,
                        );
                    }
                };
                let origin = Origin {
                    file: file.to_string(),
                    document: index + 1,
                };
                self.add_document_value(document, &origin);
            }
            return true;
        }
        self.add_yaml_with_serde(file, text, first_document, line, column)
    }

    /// A document's mapping once its `items` (if any) are added: a list
    /// adds nothing more, anything else is a resource.
    fn add_mapping(&mut self, obj: serde_json::Map<String, Value>, list: bool, origin: &Origin) {
        let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
        if list || kind.ends_with("List") {
            return;
        }
        let kind = kind.to_string();
        self.add_object(&kind, obj, origin);
    }

    /// A document the fast reader built, added as [`DocumentSeed`] adds
    /// one from serde_yaml_ng's events: a resource, a sequence of
    /// documents, or a list whose `items` are added one by one; the tree is
    /// moved in, not copied.
    fn add_document_value(&mut self, document: Value, origin: &Origin) {
        let found = match document {
            Value::Null => return,
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(items) => {
                for item in items {
                    self.add_document_value(item, origin);
                }
                return;
            }
            Value::Object(mut obj) => {
                let list = match obj.remove("items") {
                    Some(items) => {
                        self.add_document_value(items, origin);
                        true
                    }
                    None => false,
                };
                self.add_mapping(obj, list, origin);
                return;
            }
        };
        DocumentSeed {
            loaded: self,
            origin,
        }
        .not_a_mapping(found);
    }

    /// [`add_yaml_documents`](Self::add_yaml_documents) with serde_yaml_ng.
    fn add_yaml_with_serde(
        &mut self,
        file: &str,
        text: &str,
        first_document: usize,
        line: usize,
        column: usize,
    ) -> bool {
        for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let index = first_document + i;
            let origin = Origin {
                file: file.to_string(),
                document: index + 1,
            };
            let seed = DocumentSeed {
                loaded: self,
                origin: &origin,
            };
            if let Err(e) = serde::de::DeserializeSeed::deserialize(seed, de) {
                let message = shift_locations(&format!("malformed YAML: {e}"), line, column);
                let at = e.location().map(|l| (l.line() + line, l.column() + column));
                self.diagnostics
                    .push(syntax_error(file, index, message, at));
                // A syntax error leaves the parser without a sound position:
                // later documents cannot be trusted.
                return false;
            }
        }
        true
    }

    fn add_json_stream(&mut self, file: &str, text: &str) {
        let mut de = serde_json::Deserializer::from_str(text);
        for i in 0.. {
            // Whitespace only is left once every value has been read.
            if de.end().is_ok() {
                break;
            }
            let origin = Origin {
                file: file.to_string(),
                document: i + 1,
            };
            let seed = DocumentSeed {
                loaded: self,
                origin: &origin,
            };
            if let Err(e) = serde::de::DeserializeSeed::deserialize(seed, &mut de) {
                let at = Some((e.line(), e.column()));
                self.diagnostics
                    .push(syntax_error(file, i, format!("malformed JSON: {e}"), at));
                break;
            }
        }
    }
}

struct DocumentSeed<'l> {
    loaded: &'l mut Loaded,
    origin: &'l Origin,
}

impl<'de> serde::de::DeserializeSeed<'de> for DocumentSeed<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl DocumentSeed<'_> {
    fn not_a_mapping(self, found: &str) {
        self.loaded.diagnostics.push(Diagnostic::load_error(
            "WEIR0003",
            &self.origin.file,
            "",
            format!("a document must be a mapping, found {found}"),
        ));
    }
}

impl<'de> serde::de::Visitor<'de> for DocumentSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a resource, a list of resources, or a kind: List")
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        self.not_a_mapping("a boolean");
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        self.not_a_mapping("a number");
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        self.not_a_mapping("a number");
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        self.not_a_mapping("a number");
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        self.not_a_mapping("a string");
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(DocumentSeed {
                loaded: &mut *self.loaded,
                origin: self.origin,
            })?
            .is_some()
        {}
        Ok(())
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut obj = serde_json::Map::new();
        let mut list = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" {
                list = true;
                map.next_value_seed(DocumentSeed {
                    loaded: &mut *self.loaded,
                    origin: self.origin,
                })?;
            } else {
                let value: Value = map.next_value()?;
                obj.insert(key, value);
            }
        }
        self.loaded.add_mapping(obj, list, self.origin);
        Ok(())
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
