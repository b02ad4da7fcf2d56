//! What a loaded config is made of, by content hash: so an apply can tell
//! which resources differ from the config in force without comparing trees.
//!
//! Every object loading reads gets a 64-bit xxh3 hash of its place (file,
//! document, load position) and its whole text as parsed (kind, apiVersion,
//! metadata, spec). The VirtualServices' hashes are kept one per resource;
//! every other object (other kinds, Kubernetes and policy objects, skipped
//! ones) is folded into one running hash. Two configs loaded the same way
//! with equal fingerprints hold the same resources (up to a 64-bit hash
//! collision, which nothing here guards against).
//!
//! Only loading writes fingerprints: a [`Config`] built or edited by hand
//! has none that match its resources, and [`changed_virtual_services`]
//! answers `None` for it (the caller then compiles from scratch).

use super::block_yaml::Node;
use super::Config;
use serde_json::{Map, Value};
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

/// The content hashes of a loaded config.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Fingerprints {
    /// One per entry of [`Config::virtual_services`], in order.
    virtual_services: Vec<u64>,
    /// Every other object read, folded in load order.
    others: u64,
    /// Objects folded into `others`.
    other_count: usize,
}

impl Fingerprints {
    /// Records a VirtualService pushed onto the config.
    pub(crate) fn add_virtual_service(&mut self, hash: u64) {
        self.virtual_services.push(hash);
    }

    /// Records any other object read.
    pub(crate) fn add_other(&mut self, hash: u64) {
        let mut h = Xxh3::new();
        h.update(&self.others.to_le_bytes());
        h.update(&hash.to_le_bytes());
        self.others = h.digest();
        self.other_count += 1;
    }
}

/// The hash of one object as loading read it, with its place in the stream.
pub(crate) fn object_hash(
    kind: &str,
    obj: &Map<String, Value>,
    file: &str,
    document: usize,
    order: usize,
) -> u64 {
    let content = Bytes::hash(|h| write_map(h, obj));
    placed_hash(kind, file, document, order, content)
}

/// The content hash of a block-YAML [`Node`] mapping: that of the same
/// tree as values ([`object_hash`]'s), so the two paths hash alike. The
/// parser threads compute it (a tenth of loading a dump, left to the
/// thread that reads the objects, made it wait).
pub(crate) fn node_content_hash(object: &Node<'_>) -> u64 {
    Bytes::hash(|h| write_node(h, object))
}

/// An object's hash from its content hash and its place in the stream.
pub(crate) fn placed_hash(
    kind: &str,
    file: &str,
    document: usize,
    order: usize,
    content: u64,
) -> u64 {
    Bytes::hash(|h| {
        write_place(h, kind, file, document, order);
        h.update(&content.to_le_bytes());
    })
}

fn write_place(h: &mut Bytes, kind: &str, file: &str, document: usize, order: usize) {
    write_str(h, file);
    h.update(&(document as u64).to_le_bytes());
    h.update(&(order as u64).to_le_bytes());
    write_str(h, kind);
}

/// The indexes of the VirtualServices of `new` that differ from those of
/// `old`, when that is all that differs; `None` when anything else does
/// (another kind, a resource added, removed or moved, the Kubernetes
/// options) or either config has no fingerprints of its resources.
pub(crate) fn changed_virtual_services(old: &Config, new: &Config) -> Option<Vec<usize>> {
    let (a, b) = (&old.fingerprints, &new.fingerprints);
    let whole = |c: &Config| c.fingerprints.virtual_services.len() == c.virtual_services.len();
    if !whole(old) || !whole(new) || old.loaded == 0 || new.loaded == 0 {
        return None;
    }
    if a.others != b.others
        || a.other_count != b.other_count
        || a.virtual_services.len() != b.virtual_services.len()
        || old.kube_options != new.kube_options
    {
        return None;
    }
    Some(
        a.virtual_services
            .iter()
            .zip(&b.virtual_services)
            .enumerate()
            .filter(|(_, (x, y))| x != y)
            .map(|(i, _)| i)
            .collect(),
    )
}

/// An object's bytes, hashed at once: one `xxh3_64` over a buffer is
/// faster than streaming each short string into `Xxh3` (a tenth of loading
/// a cluster dump). The buffer is the thread's, reused: growing a fresh
/// one per object cost as much again in page faults.
struct Bytes(Vec<u8>);

thread_local! {
    static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl Bytes {
    /// The hash of what `write` writes.
    fn hash(write: impl FnOnce(&mut Bytes)) -> u64 {
        let mut h = Bytes(BUFFER.with(|b| std::mem::take(&mut *b.borrow_mut())));
        h.0.clear();
        write(&mut h);
        let hash = xxh3_64(&h.0);
        // Kept unless one huge object grew it.
        if h.0.capacity() <= 1 << 20 {
            BUFFER.with(|b| *b.borrow_mut() = h.0);
        }
        hash
    }

    fn update(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

fn write_str(h: &mut Bytes, s: &str) {
    h.update(&(s.len() as u64).to_le_bytes());
    h.update(s.as_bytes());
}

fn write_map(h: &mut Bytes, map: &Map<String, Value>) {
    h.update(b"{");
    h.update(&(map.len() as u64).to_le_bytes());
    for (k, v) in map {
        write_str(h, k);
        write_value(h, v);
    }
}

/// A tagged, length-prefixed walk: distinct trees feed distinct bytes.
fn write_value(h: &mut Bytes, v: &Value) {
    match v {
        Value::Null => h.update(b"n"),
        Value::Bool(b) => h.update(if *b { b"t" } else { b"f" }),
        Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => write_u64(h, u),
            (None, Some(i), _) => write_i64(h, i),
            (None, None, f) => write_f64(h, f.unwrap_or(0.0)),
        },
        Value::String(s) => {
            h.update(b"s");
            write_str(h, s);
        }
        Value::Array(items) => {
            h.update(b"[");
            h.update(&(items.len() as u64).to_le_bytes());
            for item in items {
                write_value(h, item);
            }
        }
        Value::Object(map) => write_map(h, map),
    }
}

/// Numbers as `serde_json::Number` holds them (an unsigned, a negative or
/// a float), in binary: printing each one allocated a string.
fn write_u64(h: &mut Bytes, u: u64) {
    h.update(b"u");
    h.update(&u.to_le_bytes());
}

fn write_i64(h: &mut Bytes, i: i64) {
    h.update(b"i");
    h.update(&i.to_le_bytes());
}

fn write_f64(h: &mut Bytes, f: f64) {
    h.update(b"f");
    h.update(&f.to_bits().to_le_bytes());
}

/// [`write_value`] of the value `node` stands for.
fn write_node(h: &mut Bytes, node: &Node<'_>) {
    match node {
        Node::Null => h.update(b"n"),
        Node::Bool(b) => h.update(if *b { b"t" } else { b"f" }),
        Node::U64(u) => write_u64(h, *u),
        Node::I64(i) => write_i64(h, *i),
        Node::F64(f) => write_f64(h, *f),
        Node::Str(s) => {
            h.update(b"s");
            write_str(h, s);
        }
        Node::Seq(items) => {
            h.update(b"[");
            h.update(&(items.len() as u64).to_le_bytes());
            for item in items {
                write_node(h, item);
            }
        }
        Node::Map(entries) => {
            h.update(b"{");
            h.update(&(entries.len() as u64).to_le_bytes());
            for (k, v) in entries {
                write_str(h, k);
                write_node(h, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Loaded;

    const VS: &str = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: NAME}\nspec:\n  hosts: [NAME.example.com]\n  http: [{route: [{destination: {host: NAME.example.com}, weight: W}]}]\n";
    const DR: &str = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: d}\nspec: {host: a.example.com, subsets: [{name: v1, labels: {v: S}}]}\n";

    fn config(weights: [u32; 2], subset_label: &str) -> Config {
        let vs = |name: &str, w: u32| VS.replace("NAME", name).replace('W', &w.to_string());
        let text = format!(
            "{}---\n{}---\n{}",
            vs("a", weights[0]),
            DR.replace('S', subset_label),
            vs("b", weights[1])
        );
        Loaded::from_source("t.yaml", &text).config
    }

    /// Which VirtualServices changed, or that something else did.
    #[test]
    fn changed_virtual_services_finds_edits_and_refuses_the_rest() {
        let base = config([100, 100], "one");
        let cases: [(&str, Config, Option<Vec<usize>>); 4] = [
            ("same text", config([100, 100], "one"), Some(vec![])),
            ("second VS edited", config([100, 7], "one"), Some(vec![1])),
            ("both edited", config([3, 7], "one"), Some(vec![0, 1])),
            ("DR edited", config([100, 100], "two"), None),
        ];
        for (what, new, expected) in cases {
            assert_eq!(changed_virtual_services(&base, &new), expected, "{what}");
        }
        let mut fewer = config([100, 100], "one");
        fewer.virtual_services.pop();
        assert_eq!(
            changed_virtual_services(&base, &fewer),
            None,
            "edited by hand"
        );
        let mut other_options = config([100, 100], "one");
        other_options.kube_options.cluster_domain = "corp.local".into();
        assert_eq!(changed_virtual_services(&base, &other_options), None);
        assert_eq!(
            changed_virtual_services(&Config::default(), &Config::default()),
            None,
            "configs not loaded"
        );
        let vs = VS.replace("NAME", "a").replace('W', "1");
        let renamed = Loaded::from_source("other.yaml", &vs).config;
        let original = Loaded::from_source("t.yaml", &vs).config;
        assert_eq!(
            changed_virtual_services(&original, &renamed),
            Some(vec![0]),
            "the file name is part of a resource's place"
        );
    }
}
