//! Loading the resources users `kubectl apply`: multi-document YAML, JSON,
//! `kind: List`, apiVersion `networking.istio.io/{v1alpha3,v1beta1,v1}`.
//!
//! Loading never stops at the first problem: every document is read, and every
//! unknown field, type error, syntax error or unknown kind becomes a
//! [`Diagnostic`]. Documents that cannot be read are skipped; the validator
//! then decides whether the config as a whole is accepted.

pub mod base64;
pub(crate) mod block_yaml;
pub mod delegates;
pub mod destination_rules;
pub mod kube;
pub mod model;
pub mod names;
pub mod registry;

use crate::diagnostic::{Diagnostic, ResourceRef, Severity};
use model::*;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The kinds Weir reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    VirtualService,
    DestinationRule,
    Gateway,
    ServiceEntry,
    WorkloadEntry,
}

impl Kind {
    /// The Kubernetes kind name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::VirtualService => "VirtualService",
            Kind::DestinationRule => "DestinationRule",
            Kind::Gateway => "Gateway",
            Kind::ServiceEntry => "ServiceEntry",
            Kind::WorkloadEntry => "WorkloadEntry",
        }
    }

    fn parse(kind: &str) -> Option<Kind> {
        Some(match kind {
            "VirtualService" => Kind::VirtualService,
            "DestinationRule" => Kind::DestinationRule,
            "Gateway" => Kind::Gateway,
            "ServiceEntry" => Kind::ServiceEntry,
            "WorkloadEntry" => Kind::WorkloadEntry,
            _ => return None,
        })
    }
}

/// Where a resource came from, for messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// File name as given (or `<input>`).
    pub file: String,
    /// 1-based document number in that file.
    pub document: usize,
}

/// One loaded resource with its metadata resolved.
#[derive(Debug, Clone)]
pub struct Resource<S> {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, `default` when absent (as `kubectl apply` does).
    pub namespace: String,
    /// `metadata.creationTimestamp`, when present (RFC 3339 text).
    pub created: Option<String>,
    /// Position among all loaded resources: the tie-breaker when timestamps are absent.
    pub order: usize,
    /// `metadata.labels` (WorkloadEntry selection uses them).
    pub labels: StringMap,
    /// The spec.
    pub spec: S,
    /// Where it came from.
    pub origin: Origin,
}

impl<S> Resource<S> {
    /// `kind namespace/name`, for diagnostics.
    pub fn reference(&self, kind: Kind) -> ResourceRef {
        ResourceRef {
            kind: kind.as_str().to_string(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// Istio's precedence among resources of one kind: oldest creation
    /// timestamp first, then name, then namespace; document order when no
    /// timestamps are given.
    pub fn precedence_key(&self) -> (u8, &str, &str, &str, usize) {
        match &self.created {
            Some(t) => (
                0,
                t.as_str(),
                self.name.as_str(),
                self.namespace.as_str(),
                0,
            ),
            None => (1, "", "", "", self.order),
        }
    }
}

/// Everything loaded from one or more inputs.
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub virtual_services: Vec<Resource<VirtualServiceSpec>>,
    pub destination_rules: Vec<Resource<DestinationRuleSpec>>,
    pub gateways: Vec<Resource<GatewaySpec>>,
    pub service_entries: Vec<Resource<ServiceEntrySpec>>,
    pub workload_entries: Vec<Resource<WorkloadEntrySpec>>,
    /// Kubernetes objects (Services, EndpointSlices, Pods…).
    pub kube: kube::Objects,
    /// How Kubernetes objects are read (cluster domain, root namespace,
    /// synthesized pods). Set before applying.
    pub kube_options: kube::Options,
    loaded: usize,
}

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
            self.config.kube.add(kind, meta, obj, &mut self.diagnostics);
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
        for chunk in chunks {
            if !self.add_yaml_documents(file, &chunk.text, chunk.document, chunk.line, chunk.column)
            {
                // As in one stream: nothing after a syntax error is trusted.
                break;
            }
        }
    }

    /// Parses the documents of `text`, numbered from `first_document`;
    /// `line` and `column` place `text` in its file (for syntax errors).
    /// False when it stopped at a syntax error.
    fn add_yaml_documents(
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

/// Reads one document and adds what it holds as it goes: a resource, a
/// sequence of documents, or a list whose `items` are added one by one.
///
/// A mapping with a top-level `items` sequence is taken as a list whatever
/// its `kind` (`List`, `ServiceList`, …): kubectl prints `items` before
/// `kind`, and no kind Weir reads has a top-level `items` field.
/// A piece of a YAML stream parsed on its own: a document, or one item of a
/// `kind: List` document, moved left by `column` spaces.
struct Chunk {
    text: String,
    /// Index of the document it belongs to.
    document: usize,
    /// Lines and columns before it in the file.
    line: usize,
    column: usize,
}

/// The stream split into documents, with each `kind: List` document laid
/// out as kubectl prints it (`items:` at column 0, each item a `- ` block)
/// split into its items; `None` (parse the stream whole) for anything else
/// it cannot split with certainty: directives, `...`, content on a `---`
/// line, a List in another layout.
fn kubectl_chunks(text: &str) -> Option<Vec<Chunk>> {
    // Cheap test first: only streams with a List at column 0 are split.
    if !text.contains("\nkind: List") && !text.starts_with("kind: List") {
        return None;
    }
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    // Documents as the parser numbers them: what precedes the first `---`
    // only if it has content, every document between markers (empty ones
    // too), and what follows the last marker if it has content.
    let mut docs: Vec<(usize, &[&str])> = Vec::new();
    let mut start = 0;
    let mut seen_marker = false;
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_end();
        if t.starts_with('%') || t == "..." || (t.starts_with("---") && t != "---") {
            return None;
        }
        if t == "---" {
            let segment = &lines[start..i];
            if seen_marker || !segment.iter().all(|l| is_blank(l)) {
                docs.push((start, segment));
            }
            seen_marker = true;
            start = i + 1;
        }
    }
    let tail = &lines[start..];
    if !tail.iter().all(|l| is_blank(l)) {
        docs.push((start, tail));
    }
    let mut chunks = Vec::new();
    for (document, (first_line, doc)) in docs.into_iter().enumerate() {
        split_document(doc, first_line, document, &mut chunks)?;
    }
    Some(chunks)
}

/// `message` with every "line L column C" in it moved by `line` lines and
/// `column` columns: the parser's places within a chunk, made the file's.
fn shift_locations(message: &str, line: usize, column: usize) -> String {
    if line == 0 && column == 0 {
        return message.to_string();
    }
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("line ") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 5..];
        let l_len = after.bytes().take_while(u8::is_ascii_digit).count();
        let tail = &after[l_len..];
        let c_len = tail
            .strip_prefix(" column ")
            .map_or(0, |t| t.bytes().take_while(u8::is_ascii_digit).count());
        match (after[..l_len].parse::<usize>(), c_len) {
            (Ok(l), c_len) if c_len > 0 => {
                let c: usize = tail[8..8 + c_len].parse().unwrap_or(0);
                out.push_str(&format!("line {} column {}", l + line, c + column));
                rest = &tail[8 + c_len..];
            }
            _ => {
                out.push_str("line ");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_blank(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Adds document `doc` (lines `first_line..`) to `chunks`: whole, or item by
/// item when it is a kubectl List.
fn split_document(
    doc: &[&str],
    first_line: usize,
    document: usize,
    chunks: &mut Vec<Chunk>,
) -> Option<()> {
    let whole = |chunks: &mut Vec<Chunk>| {
        chunks.push(Chunk {
            text: doc.concat(),
            document,
            line: first_line,
            column: 0,
        })
    };
    let is_list = doc.iter().any(|l| {
        matches!(
            l.trim_end(),
            "kind: List" | "kind: \"List\"" | "kind: 'List'"
        )
    });
    let items_at = doc.iter().position(|l| l.trim_end() == "items:");
    let (true, Some(items_at)) = (is_list, items_at) else {
        whole(chunks);
        return Some(());
    };
    let mut item_start: Option<usize> = None;
    let mut end = doc.len();
    for (j, l) in doc.iter().enumerate().skip(items_at + 1) {
        if l.starts_with("- ") || l.trim_end() == "-" {
            if let Some(s) = item_start {
                chunks.push(item_chunk(&doc[s..j], first_line + s, document)?);
            }
            item_start = Some(j);
        } else if l.starts_with("  ") || is_blank(l) {
            if item_start.is_none() && !is_blank(l) {
                // Items indented under `items:`: not kubectl's layout.
                return None;
            }
        } else {
            end = j;
            break;
        }
    }
    if let Some(s) = item_start {
        chunks.push(item_chunk(&doc[s..end], first_line + s, document)?);
    }
    // The List's other top-level keys (`apiVersion`, `kind`, `metadata`,
    // before or after the items) carry nothing Weir reads.
    Some(())
}

/// One `- ` item, moved two columns left so it parses as its own document.
fn item_chunk(lines: &[&str], line: usize, document: usize) -> Option<Chunk> {
    let mut text = String::with_capacity(lines.iter().map(|l| l.len()).sum());
    for (k, l) in lines.iter().enumerate() {
        if k == 0 {
            text.push_str(l.get(2..).unwrap_or("\n"));
            if l.trim_end() == "-" {
                text.push('\n');
            }
        } else if let Some(rest) = l.strip_prefix("  ") {
            text.push_str(rest);
        } else if is_blank(l) {
            text.push_str(l.trim_start_matches(' '));
        } else {
            return None;
        }
    }
    Some(Chunk {
        text,
        document,
        line,
        column: 2,
    })
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

    /// A cluster dump as kubectl prints it, with Istio documents around it.
    const KUBECTL_LIST: &str = "# kubectl get svc,pods -o yaml
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: web, namespace: shop}
spec: {host: web, subsets: [{name: v1, labels: {version: v1}}]}
---
apiVersion: v1
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: web
    namespace: shop
  spec:
    ports:
    - {name: http, port: 80, targetPort: 8080}
    selector: {app: web}

- apiVersion: v1
  kind: Pod
  metadata:
    labels: {app: web, version: v1}
    name: web-0
    namespace: shop
  spec:
    containers:
    - name: web
      args:
      - |
        a block scalar
        ---
        not a document marker
  status:
    conditions: [{type: Ready, status: \"True\"}]
    phase: Running
    podIP: 10.1.0.1
kind: List
metadata:
  resourceVersion: \"\"
---
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: shop}
spec:
  hosts: [web]
  http: [{route: [{destination: {host: web, subset: v1}}]}]
";

    /// Parses `text` as one stream, without the kubectl split.
    fn whole(text: &str) -> Loaded {
        let mut loaded = Loaded::default();
        loaded.add_yaml_documents("t.yaml", text, 0, 0, 0);
        loaded
    }

    fn summary(l: &Loaded) -> String {
        format!(
            "{:?} {:?} {} {:?}",
            l.config
                .destination_rules
                .iter()
                .map(|r| (&r.name, r.origin.document))
                .collect::<Vec<_>>(),
            l.config
                .virtual_services
                .iter()
                .map(|r| (&r.name, r.origin.document))
                .collect::<Vec<_>>(),
            l.config.kube.len(),
            l.diagnostics
                .iter()
                .map(|d| (&d.code, d.line, d.column, &d.message))
                .collect::<Vec<_>>(),
        )
    }

    /// A stream the fast reader takes only in part: serde_yaml_ng reads
    /// it from the first document the fast reader leaves (an anchor here),
    /// with the same resources, document numbers and error location as when
    /// it reads the whole stream (a tab in a comment sends it all there; the
    /// comment goes on an existing line, so line numbers stay).
    #[test]
    fn a_stream_handed_over_midway_loads_as_serde_yaml_ng_alone_loads_it() {
        let vs = |name: &str| {
            format!("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: {name}, namespace: ns}}\nspec:\n  hosts: [h]\n  http:\n  - route: [{{destination: {{host: h}}}}]\n")
        };
        let text = format!(
            "{}---\n{}---\n{}---\n{}---\nbroken: [unterminated\n",
            vs("fast"),
            vs("anchored").replace("hosts: [h]", "hosts: &h [h]"),
            vs("after"),
            vs("more"),
        );
        let mixed = whole(&text);
        let serde_only = whole(&text.replacen("/v1\n", "/v1 # a\ttab\n", 1));
        assert_eq!(summary(&mixed), summary(&serde_only));
        let names: Vec<&str> = mixed
            .config
            .virtual_services
            .iter()
            .map(|v| v.name.as_str())
            .collect();
        assert_eq!(names, ["fast", "anchored", "after", "more"]);
        let error = mixed
            .diagnostics
            .iter()
            .find(|d| d.code == "WEIR0001")
            .expect("a syntax error");
        assert!(error.line.is_some_and(|l| l >= 29), "{error:?}");
    }

    /// The fast reader's documents are added as serde_yaml_ng's are: the
    /// same resources, lists and diagnostics (a tab in a comment on an
    /// existing line sends the stream to serde_yaml_ng).
    #[test]
    fn fast_and_serde_yaml_ng_documents_load_the_same() {
        for text in [
            KUBECTL_LIST,
            "- kind: VirtualService\n  apiVersion: networking.istio.io/v1\n  metadata: {name: a, namespace: n}\n  spec: {hosts: [h]}\n- 3\n---\njust text\n---\ntrue\n---\nkind: ServiceList\nitems: [{kind: Service, apiVersion: v1, metadata: {name: s, namespace: n}}]\n",
        ] {
            let serde_only = text.replacen('\n', " # a\ttab\n", 1);
            assert_eq!(summary(&whole(text)), summary(&whole(&serde_only)), "{text}");
        }
    }

    #[test]
    fn a_kubectl_list_is_read_item_by_item_with_the_same_result() {
        assert!(kubectl_chunks(KUBECTL_LIST).is_some_and(|c| c.len() == 5));
        let split = Loaded::from_source("t.yaml", KUBECTL_LIST);
        assert_eq!(summary(&split), summary(&whole(KUBECTL_LIST)));
        assert_eq!(split.config.kube.len(), 2, "{}", summary(&split));
        assert_eq!(split.config.virtual_services[0].origin.document, 4);
        // A syntax error inside an item is placed in the file as a whole
        // parse places it, message included.
        let broken = KUBECTL_LIST.replace("    podIP: 10.1.0.1", "    podIP: [10.1.0.1");
        let (split, whole) = (Loaded::from_source("t.yaml", &broken), whole(&broken));
        let syntax = |l: &Loaded| {
            l.diagnostics
                .iter()
                .find(|d| d.code == "WEIR0001")
                .map(|d| (d.line, d.column, d.message.clone(), d.file.clone()))
        };
        let (s, w) = (syntax(&split).unwrap(), syntax(&whole).unwrap());
        // The same line; the parser's column at the failure may differ, as
        // the chunk ends where the item does.
        assert_eq!((s.0, &s.3), (w.0, &w.3));
        assert!(
            s.2.contains("while parsing a flow sequence at line 36 column 12"),
            "{}",
            s.2
        );
        assert!(split.config.virtual_services.is_empty());
    }

    #[test]
    fn streams_it_cannot_split_safely_are_parsed_whole() {
        for text in [
            "%YAML 1.2\n---\nkind: List\nitems:\n- {kind: Pod}\n",
            "kind: List\nitems:\n  - kind: Pod\n",
            "--- {kind: List}\n",
            "kind: List\nitems:\n- kind: Pod\n...\n",
        ] {
            assert!(kubectl_chunks(text).is_none(), "{text:?}");
        }
        assert!(kubectl_chunks("kind: VirtualService\n").is_none());
    }

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
