//! A fast reader for the YAML people feed Weir — `kubectl get -o yaml`
//! dumps and hand-written Istio resources: block mappings and sequences,
//! flow collections on one or more lines, plain, quoted and block scalars,
//! comments. Anything else (anchors, aliases, tags, directives, complex
//! keys, tabs, CR line ends, explicit indentation indicators…) gives `None`
//! and the caller parses the stream with serde_yaml_ng instead, so the
//! answer is always the one serde_yaml_ng gives; this only gets there
//! without its event buffers (the load phase was mostly libyaml's scanner
//! and its allocations).
//!
//! Documents come out as [`Node`]s, each the `serde_json::Value` the
//! loader builds from serde_yaml_ng's events (`DocumentSeed`) without its
//! allocations (the model deserializes from them directly), so plain
//! scalars are resolved
//! as serde_yaml_ng resolves them (its `visit_untagged_scalar` in de.rs:
//! null, bools, integers, floats, else strings) and a scalar it would read
//! as something a JSON value cannot hold (`.inf`, `0x1F`, a 128-bit
//! integer) falls back.

mod block;
mod de;
mod flow;
mod node;
mod scalar;
#[cfg(test)]
mod tests;

pub(crate) use node::{to_map, Node};
use serde_json::Value;
use std::borrow::Cow;

/// Nesting deeper than this falls back (serde_yaml_ng stops at 128).
const MAX_DEPTH: usize = 64;

/// The documents of `text`, numbered as serde_yaml_ng numbers them, or
/// `None` when `text` uses YAML this reader does not handle.
pub(crate) fn documents(text: &str) -> Option<Vec<Value>> {
    Documents::new(text)?
        .map(|d| d.ok().map(|n| n.to_value()))
        .collect()
}

/// Where the reader stopped: the stream from `offset` (a document's first
/// line, `line` lines into the text) is left to serde_yaml_ng.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rest {
    pub offset: usize,
    pub line: usize,
}

/// The documents of a stream one at a time, so that only one document's
/// tree is alive at once (all of a 30 000-document stream at once left the
/// heap fragmented for the phases after loading).
pub(crate) struct Documents<'a> {
    lines: Vec<&'a str>,
    /// Byte offset of each line in the text.
    starts: Vec<usize>,
    /// Line ranges of the documents, empty edges already dropped.
    ranges: std::vec::IntoIter<(usize, usize)>,
    pool: Pool<'a>,
}

impl<'a> Documents<'a> {
    /// `None` when the stream as a whole uses what this reader leaves to
    /// serde_yaml_ng (tabs, CR, a BOM, directives, `...`, content on `---`).
    pub(crate) fn new(text: &'a str) -> Option<Documents<'a>> {
        if text.contains(['\t', '\r']) || text.starts_with('\u{feff}') {
            return None;
        }
        let mut lines = Vec::new();
        let mut starts = Vec::new();
        let mut at = 0;
        for l in text.split_inclusive('\n') {
            starts.push(at);
            at += l.len();
            lines.push(l.strip_suffix('\n').unwrap_or(l));
        }
        Documents::from_lines(lines, starts)
    }

    /// The documents of a text already split into `lines` (without their
    /// line ends; no tab, CR or BOM in them), `starts` their byte offsets in
    /// that text (a [`Rest`] past them has offset `usize::MAX`). Loading
    /// hands a `kind: List` item over this way, its lines moved left in
    /// place instead of copied (see `config::chunks`).
    pub(crate) fn from_lines(lines: Vec<&'a str>, starts: Vec<usize>) -> Option<Documents<'a>> {
        // Document boundaries: `---` lines (a comment may follow).
        let mut bounds = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            if l.starts_with('%') || l.starts_with("...") {
                return None;
            }
            if let Some(rest) = l.strip_prefix("---") {
                let rest = rest.trim_start_matches(' ');
                if !(rest.is_empty() || rest.starts_with('#')) {
                    return None; // content on a marker line, or `---x`
                }
                bounds.push(i);
            }
        }
        let mut all: Vec<(usize, usize)> = Vec::new();
        let mut start = 0;
        for &b in &bounds {
            all.push((start, b));
            start = b + 1;
        }
        all.push((start, lines.len()));
        let last = all.len() - 1;
        let mut ranges = Vec::with_capacity(all.len());
        for (k, &(from, to)) in all.iter().enumerate() {
            let has_content = lines[from..to].iter().any(|l| !is_blank(l));
            // Before the first marker and after the last one, only a part
            // with content is a document; between markers every part is one.
            let edge = !bounds.is_empty() && (k == 0 || k == last);
            if !edge || has_content {
                ranges.push((from, to));
            }
        }
        Some(Documents {
            lines,
            starts,
            ranges: ranges.into_iter(),
            pool: Pool::default(),
        })
    }
}

impl<'t> Iterator for Documents<'t> {
    /// A document, or where to hand the rest of the stream over.
    type Item = Result<Node<'t>, Rest>;

    fn next(&mut self) -> Option<Self::Item> {
        let (from, to) = self.ranges.next()?;
        let mut p = Parser {
            lines: &self.lines[from..to],
            line: 0,
            col: 0,
            depth: 0,
            pool: std::mem::take(&mut self.pool),
        };
        let document = p.document();
        self.pool = p.pool;
        Some(document.ok_or(Rest {
            offset: self.starts.get(from).copied().unwrap_or(usize::MAX),
            line: from,
        }))
    }
}

fn is_blank(line: &str) -> bool {
    let t = line.trim_start_matches(' ');
    t.is_empty() || t.starts_with('#')
}

/// A block sequence entry: `-` alone or followed by a space.
fn is_entry(s: &str) -> bool {
    s == "-" || s.starts_with("- ")
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// The cursor over a document's lines `'l` of a text `'t`.
struct Parser<'l, 't> {
    lines: &'l [&'t str],
    line: usize,
    col: usize,
    depth: usize,
    pool: Pool<'t>,
}

/// Scratch vectors, one per open collection and reused across documents:
/// each collection is then allocated once at its size, not grown push by
/// push (growth was a tenth of loading a cluster dump).
#[derive(Default)]
struct Pool<'t> {
    seqs: Vec<Vec<Node<'t>>>,
    maps: Vec<Vec<(Cow<'t, str>, Node<'t>)>>,
}

impl<'t> Parser<'_, 't> {
    fn scratch_seq(&mut self) -> Vec<Node<'t>> {
        self.pool.seqs.pop().unwrap_or_default()
    }

    fn scratch_map(&mut self) -> Vec<(Cow<'t, str>, Node<'t>)> {
        self.pool.maps.pop().unwrap_or_default()
    }

    /// The sequence of `scratch`'s items, `scratch` back in the pool.
    fn seq(&mut self, mut scratch: Vec<Node<'t>>) -> Node<'t> {
        let mut items = Vec::with_capacity(scratch.len());
        items.append(&mut scratch); // `scratch` keeps its capacity
        self.pool.seqs.push(scratch);
        Node::Seq(items)
    }

    /// The mapping of `scratch`'s entries, `scratch` back in the pool.
    fn map(&mut self, mut scratch: Vec<(Cow<'t, str>, Node<'t>)>) -> Node<'t> {
        let mut entries = Vec::with_capacity(scratch.len());
        entries.append(&mut scratch);
        self.pool.maps.push(scratch);
        Node::mapping(entries)
    }
}

/// `None`: fall back to serde_yaml_ng.
type R<T> = Option<T>;
