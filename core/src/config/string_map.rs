//! [`StringMap`]: labels, selectors and header edits — a few string pairs
//! kept sorted in one vector.
//!
//! The maps of a config are small (one to five pairs) and there are many of
//! them (one per endpoint): a `BTreeMap<String, String>` allocates a
//! 540-byte node for even one pair, which made label maps most of a
//! 50 000-service mesh's memory (issue 20). The API is the part of
//! `BTreeMap`'s the code uses, with the same order, equality, `Debug` and
//! serde forms, so the two read and print alike.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::fmt;

/// String keys to string values, sorted by key, each key once.
#[derive(Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StringMap {
    /// Sorted by key; keys unique.
    entries: Vec<(String, String)>,
}

impl StringMap {
    /// An empty map (no allocation).
    pub const fn new() -> StringMap {
        StringMap {
            entries: Vec::new(),
        }
    }

    fn position<Q>(&self, key: &Q) -> Result<usize, usize>
    where
        String: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    /// The value of `key`.
    pub fn get<Q>(&self, key: &Q) -> Option<&String>
    where
        String: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.position(key).ok().map(|i| &self.entries[i].1)
    }

    /// Whether `key` has a value.
    pub fn contains_key<Q>(&self, key: &Q) -> bool
    where
        String: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.position(key).is_ok()
    }

    /// Sets `key` to `value`, returning the value it replaces.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self.position(key.as_str()) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Removes `key`, returning its value.
    pub fn remove<Q>(&mut self, key: &Q) -> Option<String>
    where
        String: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.position(key).ok().map(|i| self.entries.remove(i).1)
    }

    /// The number of pairs.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The pairs in key order.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.entries.iter())
    }

    /// The keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values in key order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }
}

/// The pairs of a [`StringMap`] in key order, as `BTreeMap::iter` gives them.
#[derive(Debug, Clone)]
pub struct Iter<'a>(std::slice::Iter<'a, (String, String)>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a String, &'a String);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k, v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (k, v))
    }
}

impl ExactSizeIterator for Iter<'_> {}

impl<'a> IntoIterator for &'a StringMap {
    type Item = (&'a String, &'a String);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl IntoIterator for StringMap {
    type Item = (String, String);
    type IntoIter = std::vec::IntoIter<(String, String)>;
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

impl Extend<(String, String)> for StringMap {
    fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, pairs: I) {
        for (k, v) in pairs {
            self.insert(k, v);
        }
    }
}

impl FromIterator<(String, String)> for StringMap {
    /// As `BTreeMap` collects: a later pair for a key replaces an earlier one.
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> StringMap {
        let mut entries: Vec<(String, String)> = pairs.into_iter().collect();
        // Stable: among equal keys the last one written stays last.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let mut unique: Vec<(String, String)> = Vec::with_capacity(entries.len());
        for pair in entries {
            match unique.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => unique.push(pair),
            }
        }
        StringMap { entries: unique }
    }
}

impl<const N: usize> From<[(String, String); N]> for StringMap {
    fn from(pairs: [(String, String); N]) -> StringMap {
        pairs.into_iter().collect()
    }
}

impl From<BTreeMap<String, String>> for StringMap {
    fn from(map: BTreeMap<String, String>) -> StringMap {
        StringMap {
            entries: map.into_iter().collect(),
        }
    }
}

impl From<&StringMap> for BTreeMap<String, String> {
    fn from(map: &StringMap) -> BTreeMap<String, String> {
        map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

impl<Q> std::ops::Index<&Q> for StringMap
where
    String: Borrow<Q>,
    Q: Ord + ?Sized,
{
    type Output = String;

    /// # Panics
    /// When `key` is absent, as `BTreeMap`'s index does (tests use it).
    fn index(&self, key: &Q) -> &String {
        self.get(key).expect("no entry found for key")
    }
}

impl fmt::Debug for StringMap {
    /// As a `BTreeMap` prints: `{"k": "v"}` (diagnostics quote it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for StringMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for StringMap {
    /// A mapping of strings, as `BTreeMap<String, String>` reads one (the
    /// same errors; a repeated key keeps its last value).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<StringMap, D::Error> {
        struct Pairs;
        impl<'de> Visitor<'de> for Pairs {
            type Value = StringMap;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<StringMap, A::Error> {
                let mut map = StringMap {
                    entries: Vec::with_capacity(access.size_hint().unwrap_or(0).min(64)),
                };
                while let Some((k, v)) = access.next_entry::<String, String>()? {
                    map.insert(k, v);
                }
                Ok(map)
            }
        }
        d.deserialize_map(Pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Built any way, it holds, orders, compares and prints what the
    /// `BTreeMap` it replaces did.
    #[test]
    fn reads_as_the_btree_map_it_replaces() {
        let rows: [&[(&str, &str)]; 4] = [
            &[],
            &[("version", "v1")],
            &[("b", "2"), ("a", "1"), ("c", "3")],
            &[("k", "first"), ("a", "x"), ("k", "last")],
        ];
        for row in rows {
            let ours: StringMap = pairs(row).into_iter().collect();
            let btree: BTreeMap<String, String> = pairs(row).into_iter().collect();
            assert_eq!(format!("{ours:?}"), format!("{btree:?}"));
            assert_eq!(BTreeMap::from(&ours), btree);
            assert_eq!(ours.len(), btree.len());
            let mut inserted = StringMap::new();
            inserted.extend(pairs(row));
            assert_eq!(inserted, ours);
            for (k, v) in &btree {
                assert_eq!(ours.get(k.as_str()), Some(v));
            }
            assert_eq!(ours.get("absent"), None);
        }
    }

    /// The same values and the same errors as `BTreeMap<String, String>`
    /// from YAML, JSON and serde_json values.
    #[test]
    fn deserializes_as_a_btree_map() {
        for text in [
            "{a: '1', b: x}",
            "{b: x, a: y, b: z}",
            "{}",
            "{a: 1}",
            "[a]",
            "{a: [x]}",
            "null",
        ] {
            let ours = serde_yaml_ng::from_str::<StringMap>(text)
                .map(|m| BTreeMap::from(&m))
                .map_err(|e| e.to_string());
            let theirs = serde_yaml_ng::from_str::<BTreeMap<String, String>>(text)
                .map_err(|e| e.to_string());
            assert_eq!(ours, theirs, "{text}");
            let value: Result<serde_json::Value, _> = serde_yaml_ng::from_str(text);
            if let Ok(value) = value {
                let ours = serde_json::from_value::<StringMap>(value.clone())
                    .map(|m| BTreeMap::from(&m))
                    .map_err(|e| e.to_string());
                let theirs = serde_json::from_value::<BTreeMap<String, String>>(value)
                    .map_err(|e| e.to_string());
                assert_eq!(ours, theirs, "{text}");
            }
        }
        let json = serde_json::to_string(&StringMap::from(
            pairs(&[("b", "2"), ("a", "1")])
                .into_iter()
                .collect::<BTreeMap<_, _>>(),
        ))
        .unwrap();
        assert_eq!(json, r#"{"a":"1","b":"2"}"#);
    }

    #[test]
    fn insert_and_remove_keep_keys_sorted_and_unique() {
        let mut m = StringMap::new();
        assert_eq!(m.insert("b".into(), "1".into()), None);
        assert_eq!(m.insert("a".into(), "2".into()), None);
        assert_eq!(m.insert("b".into(), "3".into()), Some("1".into()));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(m.values().collect::<Vec<_>>(), ["2", "3"]);
        assert!(m.contains_key("a"));
        assert_eq!(m.remove("a"), Some("2".into()));
        assert_eq!(m.remove("a"), None);
        assert_eq!(m.len(), 1);
        assert!(!m.is_empty());
    }
}
