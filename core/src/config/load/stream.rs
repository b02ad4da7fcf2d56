//! The documents of an input: YAML streams (the fast block-YAML reader,
//! serde_yaml_ng for the rest), JSON streams, lists and `kind: List`
//! items, each mapping handed to [`Loaded`]'s object reading.

use super::super::block_yaml::{self, Node};
use super::super::chunks::{kubectl_chunks, shift_locations, Chunk, Chunks};
use super::super::fingerprint;
use super::super::Origin;
use super::Loaded;
use crate::diagnostic::Diagnostic;
use serde_json::Value;

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
    pub(super) fn add_yaml_stream(&mut self, file: &str, text: &str) {
        // A `kind: List` as kubectl prints it is read item by item: the YAML
        // parser holds a whole document's events in memory, which for a
        // cluster dump (one List document) is gigabytes.
        let Some(chunks) = kubectl_chunks(text) else {
            self.add_yaml_documents(file, text, 0, 0, 0);
            return;
        };
        #[cfg(not(target_family = "wasm"))]
        if text.len() >= PARSE_ON_A_THREAD {
            self.add_chunks_on_threads(file, text, &chunks);
            return;
        }
        self.add_chunks(file, text, &chunks);
    }

    /// [`add_yaml_stream`](Self::add_yaml_stream)'s chunks, on this thread.
    fn add_chunks(&mut self, file: &str, text: &str, chunks: &Chunks<'_>) {
        let mut buf = String::new();
        for chunk in &chunks.list {
            let parsed = parse_chunk(chunks, chunk);
            if !self.add_parsed_chunk(file, text, chunk, parsed.as_deref(), &mut buf) {
                break;
            }
        }
    }

    /// [`add_yaml_stream`](Self::add_yaml_stream)'s chunks, parsed on
    /// other threads while this one reads the objects out of them. Parsing
    /// takes about twice as long as reading, so two parsers take turns (a
    /// batch each) and a cluster dump loads in about half the time on two
    /// cores. The chunks are added in order, as on one thread, so the
    /// result is the same.
    #[cfg(not(target_family = "wasm"))]
    fn add_chunks_on_threads(&mut self, file: &str, text: &str, chunks: &Chunks<'_>) {
        use std::sync::mpsc::{channel, sync_channel, Receiver, Sender};
        type Batch<'t> = Vec<ParsedChunk<'t>>;
        // Batches, so the threads meet once per few hundred objects, not
        // once per object; a few in flight, so at most those are alive.
        const BATCH: usize = 256;
        // Two where there are two cores or more: this thread waits on them.
        let parsers = std::thread::available_parallelism().map_or(1, |n| n.get().min(2));
        std::thread::scope(|scope| {
            let mut parsed: Vec<Receiver<Batch<'_>>> = Vec::new();
            // Read batches go back to be dropped where they were allocated:
            // freed on this thread, the allocator's locking took as long
            // as the parsing saved.
            let mut give_back: Vec<Sender<Batch<'_>>> = Vec::new();
            for parser in 0..parsers {
                let (send, receive) = sync_channel::<Batch<'_>>(2);
                let (give, returned) = channel::<Batch<'_>>();
                parsed.push(receive);
                give_back.push(give);
                scope.spawn(move || {
                    let turns = chunks.list.chunks(BATCH).skip(parser).step_by(parsers);
                    for batch in turns {
                        returned.try_iter().for_each(drop);
                        let batch = batch.iter().map(|c| parse_chunk(chunks, c)).collect();
                        // An error: the reader stopped (a syntax error).
                        if send.send(batch).is_err() {
                            break;
                        }
                    }
                    drop(send);
                    returned.iter().for_each(drop);
                });
            }
            let mut buf = String::new();
            'batches: for (turn, list) in chunks.list.chunks(BATCH).enumerate() {
                let Ok(batch) = parsed[turn % parsers].recv() else {
                    break;
                };
                for (parsed, chunk) in batch.iter().zip(list) {
                    if !self.add_parsed_chunk(file, text, chunk, parsed.as_deref(), &mut buf) {
                        break 'batches;
                    }
                }
                // Ignored if the parser is gone: the batch is dropped here.
                let _ = give_back[turn % parsers].send(batch);
            }
            // Stops the parsers when a syntax error ended the stream early.
            drop(parsed);
            drop(give_back);
        });
    }

    /// Adds one chunk's documents, parsed by [`parse_chunk`]; a chunk the
    /// fast reader left is read from its text by
    /// [`add_yaml_documents`](Self::add_yaml_documents). False when it
    /// stopped at a syntax error (nothing after it is trusted).
    fn add_parsed_chunk(
        &mut self,
        file: &str,
        text: &str,
        chunk: &Chunk,
        parsed: Option<&[ParsedDocument<'_>]>,
        buf: &mut String,
    ) -> bool {
        let Some(documents) = parsed else {
            let chunk_text = chunk.text(text, buf);
            return self.add_yaml_documents(
                file,
                chunk_text,
                chunk.document,
                chunk.line,
                chunk.column,
            );
        };
        for (i, (document, content)) in documents.iter().enumerate() {
            let origin = Origin {
                file: file.to_string(),
                document: chunk.document + i + 1,
            };
            self.add_document_node(document, *content, &origin);
        }
        true
    }

    /// Parses the documents of `text`, numbered from `first_document`;
    /// `line` and `column` place `text` in its file (for syntax errors).
    /// False when it stopped at a syntax error.
    pub(in crate::config) fn add_yaml_documents(
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
                self.add_document_node(&document, None, &origin);
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
    /// documents, or a list whose `items` are added one by one.
    ///
    /// `content` is a resource's content hash, when the parser computed it.
    fn add_document_node(&mut self, document: &Node<'_>, content: Option<u64>, origin: &Origin) {
        let found = match document {
            Node::Null => return,
            Node::Bool(_) => "a boolean",
            Node::U64(_) | Node::I64(_) | Node::F64(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(items) => {
                for item in items {
                    self.add_document_node(item, None, origin);
                }
                return;
            }
            Node::Map(_) => {
                // With `items` it is a list, and adds nothing more.
                if let Some(items) = document.get("items") {
                    self.add_document_node(items, None, origin);
                    return;
                }
                let kind = document.get("kind").and_then(Node::as_str).unwrap_or("");
                if !kind.ends_with("List") {
                    self.add_node_object(kind, document, content, origin);
                }
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

    pub(super) fn add_json_stream(&mut self, file: &str, text: &str) {
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

/// Inputs this large are parsed on other threads (a few megabytes: a
/// thread costs tens of microseconds, a megabyte of YAML milliseconds).
#[cfg(not(target_family = "wasm"))]
const PARSE_ON_A_THREAD: usize = 4 << 20;

/// A chunk's documents as the fast reader read them, or `None` when it
/// leaves the chunk to serde_yaml_ng (from its first document on).
type ParsedChunk<'t> = Option<Vec<ParsedDocument<'t>>>;

/// A document, with its content hash when it is a resource (a mapping that
/// is not a list).
type ParsedDocument<'t> = (Node<'t>, Option<u64>);

/// Parses `chunk` with the fast reader, borrowing the stream.
fn parse_chunk<'t>(chunks: &Chunks<'t>, chunk: &Chunk) -> ParsedChunk<'t> {
    let lines = chunks.lines_of(chunk)?.to_vec();
    let documents = block_yaml::Documents::from_lines(lines, Vec::new())?;
    documents
        .map(|document| {
            let document = document.ok()?;
            let resource = matches!(document, Node::Map(_)) && document.get("items").is_none();
            let content = resource.then(|| fingerprint::node_content_hash(&document));
            Some((document, content))
        })
        .collect()
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

    /// `text` loaded by the fast reader's nodes, and by serde_yaml_ng's
    /// values.
    fn both_ways(text: &str) -> (String, String) {
        let (mut fast, mut values) = (Loaded::default(), Loaded::default());
        fast.add_yaml_documents("t.yaml", text, 0, 0, 0);
        values.add_yaml_with_serde("t.yaml", text, 0, 0, 0);
        (format!("{fast:?}"), format!("{values:?}"))
    }

    /// Every YAML file the repository ships loads into the same resources,
    /// fingerprints and diagnostics (codes, fields, messages) both ways.
    #[test]
    fn nodes_load_as_values_do_on_the_repository_yaml() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut stack = vec![root.join("examples"), root.join("core/tests")];
        let mut compared = 0;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                if !path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if block_yaml::documents(&text).is_none() {
                    continue; // not the fast reader's (or malformed on purpose)
                }
                let (fast, values) = both_ways(&text);
                assert_eq!(fast, values, "{}", path.display());
                compared += 1;
            }
        }
        assert!(compared >= 20, "{compared}");
    }

    /// A cluster dump of `services` Services as kubectl prints it, with a
    /// syntax error in item `broken` if given.
    fn dump(services: usize, broken: Option<usize>) -> String {
        let mut text = String::from("apiVersion: v1\nitems:\n");
        for i in 0..services {
            let ns = format!("team-{}", i % 7);
            text.push_str(&format!(
                "- apiVersion: v1\n  kind: Service\n  metadata:\n    name: s{i}\n    namespace: {ns}\n  spec:\n    ports: [{{name: http, port: 80, targetPort: 8080}}]\n    selector: {{app: s{i}}}\n"
            ));
            if broken == Some(i) {
                text.push_str("  status: {a: [b}\n");
            }
            for p in 0..3 {
                text.push_str(&format!(
                    "- apiVersion: v1\n  kind: Pod\n  metadata:\n    labels: {{app: s{i}, version: v{p}}}\n    name: s{i}-{p}\n    namespace: {ns}\n  status:\n    conditions:\n    - {{status: \"True\", type: Ready}}\n    phase: Running\n    podIP: 10.{}.{}.{p}\n", i / 256, i % 256
                ));
            }
        }
        text.push_str("kind: List\nmetadata:\n  resourceVersion: \"\"\n");
        text
    }

    /// A dump large enough to be parsed on other threads loads exactly as
    /// on one: the same objects in the same order, the same diagnostics, and
    /// nothing after a syntax error.
    #[cfg(not(target_family = "wasm"))]
    #[test]
    fn threads_load_what_one_does() {
        for broken in [None, Some(9_000)] {
            let text = dump(12_000, broken);
            assert!(text.len() >= PARSE_ON_A_THREAD, "{}", text.len());
            let chunks = kubectl_chunks(&text).expect("a kubectl List");
            let (mut one, mut two) = (Loaded::default(), Loaded::default());
            one.add_chunks("d.yaml", &text, &chunks);
            two.add_chunks_on_threads("d.yaml", &text, &chunks);
            assert_eq!(format!("{one:?}"), format!("{two:?}"));
            let loaded = Loaded::from_source("d.yaml", &text);
            assert_eq!(format!("{one:?}"), format!("{loaded:?}"));
            let kube = &loaded.config.kube;
            match broken {
                None => {
                    assert_eq!((kube.services.len(), kube.pods.len()), (12_000, 36_000));
                    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
                }
                Some(at) => {
                    // Every object before the broken Service, none after it.
                    assert_eq!((kube.services.len(), kube.pods.len()), (at, at * 3));
                    let codes: Vec<&str> = loaded.diagnostics.iter().map(|d| d.code).collect();
                    assert_eq!(codes, ["WEIR0001"]);
                }
            }
        }
    }

    /// Bad specs: the same diagnostics, message for message, both ways.
    #[test]
    fn nodes_report_errors_as_values_do() {
        let vs = |spec: &str| {
            format!("apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: a, namespace: n}}\nspec:\n{spec}")
        };
        for text in [
            vs("  hosts: [x]\n  http:\n  - timeout: 5\n"),
            vs("  hosts: x\n"),
            vs("  hosts: [x]\n  htp: []\n  http:\n  - match:\n    - uri: {prefx: /a}\n    route:\n    - destination: {host: x}\n      weight: -3\n"),
            vs("  http: [{route: [{destination: {host: x, port: {number: many}}}]}]\n"),
            vs("  hosts: [x]\n  http: [{fault: {abort: {httpStatus: 1.5}}}]\n"),
            "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nextra: 1\nspec: {host: h, subsets: [{name: v1, labels: {version: 1}}]}\n".to_string(),
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: [s]}\nspec: {hosts: [h], ports: [{number: 80, name: http}], endpoints: [{address: 1.1.1.1, ports: {http: x}}]}\n".to_string(),
            "apiVersion: networking.istio.io/v2\nkind: Gateway\nmetadata: {name: g}\n---\nkind: Nope\n---\n- 1\n- [a]\n---\nkind: List\nitems:\n- apiVersion: networking.istio.io/v1\n  kind: WorkloadEntry\n  metadata: {name: w}\n  spec: {address: 1.2.3.4, weight: x}\n".to_string(),
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n".to_string(),
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: n, labels: {app: a}}\nstatus: {podIP: [x]}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: s, annotations: {networking.istio.io/exportTo: '.'}}\nspec: {ports: 80}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: t}\nspec:\n".to_string(),
            "apiVersion: v1\nkind: Secret\nmetadata: {name: c}\ntype: kubernetes.io/tls\ndata: {tls.crt: x}\n---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\nendpoints: [{addresses: 1.2.3.4}]\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {}\nspec: {replicas: x}\n".to_string(),
        ] {
            let (fast, values) = both_ways(&text);
            assert_eq!(fast, values, "{text}");
            let loaded = Loaded::from_source("t.yaml", &text);
            assert!(!loaded.diagnostics.is_empty(), "{text}");
        }
    }
}
