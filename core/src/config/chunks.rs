//! A `kind: List` as kubectl prints it, split into its items so a cluster
//! dump is never parsed as one document.

/// Reads one document and adds what it holds as it goes: a resource, a
/// sequence of documents, or a list whose `items` are added one by one.
///
/// A mapping with a top-level `items` sequence is taken as a list whatever
/// its `kind` (`List`, `ServiceList`, …): kubectl prints `items` before
/// `kind`, and no kind Weir reads has a top-level `items` field.
/// A piece of a YAML stream parsed on its own: a document, or one item of a
/// `kind: List` document, moved left by `column` spaces.
pub(super) struct Chunk {
    /// Where its lines are in the stream (bytes).
    span: std::ops::Range<usize>,
    /// A `- ` item, whose text is its lines moved two columns left.
    item: bool,
    /// Index of the document it belongs to.
    pub(super) document: usize,
    /// Lines and columns before it in the file.
    pub(super) line: usize,
    /// Its lines' indices in the stream.
    lines: std::ops::Range<usize>,
    pub(super) column: usize,
}

impl Chunk {
    /// The chunk's text: borrowed from `stream` when it is a whole document,
    /// else written into `buf`. The chunks are made one at a time this way,
    /// so a cluster dump is never held twice.
    pub(super) fn text<'b>(&self, stream: &'b str, buf: &'b mut String) -> &'b str {
        let lines = &stream[self.span.clone()];
        if !self.item {
            return lines;
        }
        buf.clear();
        for (k, l) in lines.split_inclusive('\n').enumerate() {
            if k == 0 {
                buf.push_str(l.get(2..).unwrap_or("\n"));
                if l.trim_end() == "-" {
                    buf.push('\n');
                }
            } else if let Some(rest) = l.strip_prefix("  ") {
                buf.push_str(rest);
            } else {
                // Blank (item_chunk let nothing else through).
                buf.push_str(l.trim_start_matches(' '));
            }
        }
        buf
    }
}

/// A stream's chunks, and its lines as the fast reader takes them: without
/// line ends, an item's moved two columns left by slicing (not copying), so
/// what the reader builds from them borrows the stream and outlives the
/// chunk.
pub(super) struct Chunks<'t> {
    pub(super) list: Vec<Chunk>,
    /// `None` when the stream holds a tab or a CR (left to serde_yaml_ng).
    lines: Option<Vec<&'t str>>,
}

impl<'t> Chunks<'t> {
    /// The lines of `chunk`'s [`text`](Chunk::text); `None` when the fast
    /// reader leaves them to serde_yaml_ng (a tab, a CR, a BOM).
    pub(super) fn lines_of(&self, chunk: &Chunk) -> Option<&[&'t str]> {
        let lines = self.lines.as_ref()?.get(chunk.lines.clone())?;
        if lines.first().is_some_and(|l| l.starts_with('\u{feff}')) {
            return None;
        }
        Some(lines)
    }
}

/// `lines` (each with its line end) as [`Chunks::lines_of`] gives them.
fn reader_lines<'t>(mut lines: Vec<&'t str>, chunks: &[Chunk]) -> Vec<&'t str> {
    for l in &mut lines {
        *l = l.strip_suffix('\n').unwrap_or(l);
    }
    for chunk in chunks.iter().filter(|c| c.item) {
        for (k, l) in lines[chunk.lines.clone()].iter_mut().enumerate() {
            *l = if k == 0 {
                // `- x` is `x`; a lone `-` an empty line (as `text` writes).
                l.get(2..).unwrap_or("")
            } else if let Some(rest) = l.strip_prefix("  ") {
                rest
            } else {
                l.trim_start_matches(' ')
            };
        }
    }
    lines
}

/// `text.split_inclusive('\n')`, found with memchr's vector search and
/// stored in a vector sized first: a dump has millions of short lines, and
/// the standard splitter and the vector's growth were most of chunking.
fn lines_of(text: &str) -> Vec<&str> {
    let ends = memchr::memchr_iter(b'\n', text.as_bytes());
    let mut lines = Vec::with_capacity(ends.count() + 1);
    let mut start = 0;
    for end in memchr::memchr_iter(b'\n', text.as_bytes()) {
        lines.push(&text[start..=end]);
        start = end + 1;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

/// Where `lines` (lines of `stream`, in order) are in it, in bytes.
fn span_of(stream: &str, lines: &[&str]) -> std::ops::Range<usize> {
    let offset = |l: &str| l.as_ptr() as usize - stream.as_ptr() as usize;
    match (lines.first(), lines.last()) {
        (Some(first), Some(last)) => offset(first)..offset(last) + last.len(),
        _ => 0..0,
    }
}

/// The stream split into documents, with each `kind: List` document laid
/// out as kubectl prints it (`items:` at column 0, each item a `- ` block)
/// split into its items; `None` (parse the stream whole) for anything else
/// it cannot split with certainty: directives, `...`, content on a `---`
/// line, a List in another layout.
pub(super) fn kubectl_chunks(text: &str) -> Option<Chunks<'_>> {
    // Cheap test first: only streams with a List at column 0 are split.
    if !text.contains("\nkind: List") && !text.starts_with("kind: List") {
        return None;
    }
    let lines = lines_of(text);
    // Documents as the parser numbers them: what precedes the first `---`
    // only if it has content, every document between markers (empty ones
    // too), and what follows the last marker if it has content.
    let mut docs: Vec<(usize, &[&str])> = Vec::new();
    let mut start = 0;
    let mut seen_marker = false;
    for (i, l) in lines.iter().enumerate() {
        // Only lines starting `%`, `.` or `-` can be markers or directives.
        if !matches!(l.as_bytes().first(), Some(b'%' | b'.' | b'-')) {
            continue;
        }
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
        split_document(text, doc, first_line, document, &mut chunks)?;
    }
    let plain = memchr::memchr2(b'\t', b'\r', text.as_bytes()).is_none();
    Some(Chunks {
        lines: plain.then(|| reader_lines(lines, &chunks)),
        list: chunks,
    })
}

/// `message` with every "line L column C" in it moved by `line` lines and
/// `column` columns: the parser's places within a chunk, made the file's.
pub(super) fn shift_locations(message: &str, line: usize, column: usize) -> String {
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
    if line
        .as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii() && !b.is_ascii_whitespace() && *b != b'#')
    {
        return false;
    }
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Adds document `doc` (lines `first_line..`) to `chunks`: whole, or item by
/// item when it is a kubectl List.
fn split_document(
    stream: &str,
    doc: &[&str],
    first_line: usize,
    document: usize,
    chunks: &mut Vec<Chunk>,
) -> Option<()> {
    let whole = |chunks: &mut Vec<Chunk>| {
        chunks.push(Chunk {
            span: span_of(stream, doc),
            item: false,
            document,
            line: first_line,
            lines: first_line..first_line + doc.len(),
            column: 0,
        })
    };
    let is_list = doc.iter().any(|l| {
        l.starts_with("kind: ")
            && matches!(
                l.trim_end(),
                "kind: List" | "kind: \"List\"" | "kind: 'List'"
            )
    });
    let items_at = doc
        .iter()
        .position(|l| l.starts_with("items:") && l.trim_end() == "items:");
    let (true, Some(items_at)) = (is_list, items_at) else {
        whole(chunks);
        return Some(());
    };
    let mut item_start: Option<usize> = None;
    let mut end = doc.len();
    for (j, l) in doc.iter().enumerate().skip(items_at + 1) {
        if l.starts_with("- ") || (l.starts_with('-') && l.trim_end() == "-") {
            if let Some(s) = item_start {
                chunks.push(item_chunk(stream, &doc[s..j], first_line + s, document)?);
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
        chunks.push(item_chunk(stream, &doc[s..end], first_line + s, document)?);
    }
    // The List's other top-level keys (`apiVersion`, `kind`, `metadata`,
    // before or after the items) carry nothing Weir reads.
    Some(())
}

/// One `- ` item, moved two columns left so it parses as its own document.
fn item_chunk(stream: &str, lines: &[&str], line: usize, document: usize) -> Option<Chunk> {
    // Every line after the first indented two spaces, or blank: else it is
    // not kubectl's layout.
    let laid_out = lines
        .iter()
        .skip(1)
        .all(|l| l.starts_with("  ") || is_blank(l));
    laid_out.then(|| Chunk {
        span: span_of(stream, lines),
        item: true,
        document,
        line,
        lines: line..line + lines.len(),
        column: 2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_as_split_inclusive_does() {
        for text in [
            "",
            "a",
            "a\n",
            "\n",
            "\n\n",
            "a\nb",
            "a\nb\n",
            "é\n\nxyz\n  - q",
        ] {
            let expected: Vec<&str> = text.split_inclusive('\n').collect();
            assert_eq!(lines_of(text), expected, "{text:?}");
        }
    }
    use crate::config::Loaded;

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
        assert!(kubectl_chunks(KUBECTL_LIST).is_some_and(|c| c.list.len() == 5));
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
}
