//! [`Node`]: a document as the fast reader reads it, its scalars borrowed
//! from the text where they are written plainly.
//!
//! It holds what the `serde_json::Value` the loader used to build holds
//! (the same scalars, mappings in key order with a repeated key's last
//! value), so [`Node::to_value`] is that value, and deserializing from a
//! node (`de.rs`) gives the same results and errors as from the value — at
//! a fraction of the allocations: one vector per collection, no string for
//! a plain scalar, no B-tree node per mapping (issue 20).

use serde_json::{Map, Number, Value};
use std::borrow::Cow;

/// One YAML node, resolved as serde_yaml_ng resolves untagged scalars.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node<'t> {
    Null,
    Bool(bool),
    /// A non-negative integer.
    U64(u64),
    /// A negative integer.
    I64(i64),
    /// A finite float.
    F64(f64),
    Str(Cow<'t, str>),
    Seq(Vec<Node<'t>>),
    /// Sorted by key, each key once (see [`Node::mapping`]).
    Map(Vec<(Cow<'t, str>, Node<'t>)>),
}

impl<'t> Node<'t> {
    /// A mapping from its entries in document order: sorted by key, a
    /// repeated key keeping its last value — what inserting them into a
    /// `serde_json::Map` (a B-tree) gave.
    pub(crate) fn mapping(mut entries: Vec<(Cow<'t, str>, Node<'t>)>) -> Node<'t> {
        let sorted = entries.windows(2).all(|w| w[0].0 < w[1].0);
        if !sorted {
            // Stable: of equal keys the last written stays last.
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            let mut unique: Vec<(Cow<'t, str>, Node<'t>)> = Vec::with_capacity(entries.len());
            for entry in entries {
                match unique.last_mut() {
                    Some(last) if last.0 == entry.0 => *last = entry,
                    _ => unique.push(entry),
                }
            }
            entries = unique;
        }
        Node::Map(entries)
    }

    /// The value of `key` in a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Node<'t>> {
        match self {
            Node::Map(entries) => entries
                .binary_search_by(|(k, _)| k.as_ref().cmp(key))
                .ok()
                .map(|i| &entries[i].1),
            _ => None,
        }
    }

    /// The text of a string node.
    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Node::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The `serde_json::Value` the loader builds from serde_yaml_ng's
    /// events for the same document.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::U64(u) => Value::Number((*u).into()),
            Node::I64(i) => Value::Number((*i).into()),
            Node::F64(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Node::Str(s) => Value::String(s.to_string()),
            Node::Seq(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Node::Map(entries) => Value::Object(to_map(entries)),
        }
    }
}

/// A mapping's entries as a `serde_json::Map`.
pub(crate) fn to_map(entries: &[(Cow<'_, str>, Node<'_>)]) -> Map<String, Value> {
    entries
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_value()))
        .collect()
}
