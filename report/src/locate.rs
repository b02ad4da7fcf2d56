//! Where a diagnostic's resource and field are in the input text, as
//! `istioctl analyze` prints them (`bookinfo.yaml:12`), for `weir check`
//! and the JS API alike.
//!
//! Loading streams documents into typed resources and keeps no positions,
//! so a diagnostic's line is found afterwards, from the text: each resource
//! keeps its [`Origin`] (file, document number), and the field path
//! (`spec.http[0].route[0].destination.host`) is walked over that
//! document's block YAML by indentation; a `kind: List` item is found by
//! its kind and name. Only diagnostics pay for it. A path that goes where
//! the walk cannot (flow collections, JSON) stops at the deepest key found,
//! as Istio falls back to the resource's line.

use std::collections::{HashMap, HashSet};
use weir_core::config::{Config, Origin, Resource};
use weir_core::diagnostic::{Diagnostic, ResourceRef};

/// One non-blank, non-comment line: its number (1-based), the column its
/// content starts at (0-based) and the content.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    number: usize,
    indent: usize,
    text: &'a str,
}

/// `(kind, namespace, name)` → where the resource was read. Owned, so it
/// can be taken from a [`Config`] before the config is handed on (the JS
/// `apply` gives its config to the engine).
#[derive(Debug, Clone, Default)]
pub struct Origins {
    map: HashMap<ResourceRef, Origin>,
}

impl Origins {
    /// The origin of every resource of `config`.
    pub fn of(config: &Config) -> Self {
        Self::collect(config, |_| true)
    }

    /// The origins of the resources `diagnostics` name: all a check needs,
    /// without copying the names of a 50 000-service config.
    pub fn for_diagnostics(config: &Config, diagnostics: &[Diagnostic]) -> Self {
        let named: HashSet<(&str, &str, &str)> = diagnostics
            .iter()
            .filter(|d| d.line.is_none() && !d.resource.kind.is_empty())
            .map(|d| key_of(&d.resource))
            .collect();
        if named.is_empty() {
            return Origins::default();
        }
        Self::collect(config, |key| named.contains(&key))
    }

    fn collect(config: &Config, wanted: impl Fn((&str, &str, &str)) -> bool) -> Self {
        fn add<S>(
            map: &mut HashMap<ResourceRef, Origin>,
            wanted: &impl Fn((&str, &str, &str)) -> bool,
            kind: &str,
            list: &[Resource<S>],
        ) {
            for r in list {
                if wanted((kind, &r.namespace, &r.name)) {
                    let key = ResourceRef {
                        kind: kind.to_string(),
                        namespace: r.namespace.clone(),
                        name: r.name.clone(),
                    };
                    map.entry(key).or_insert_with(|| r.origin.clone());
                }
            }
        }
        let mut map = HashMap::new();
        let m = &mut map;
        add(m, &wanted, "VirtualService", &config.virtual_services);
        add(m, &wanted, "DestinationRule", &config.destination_rules);
        add(m, &wanted, "Gateway", &config.gateways);
        add(m, &wanted, "ServiceEntry", &config.service_entries);
        add(m, &wanted, "WorkloadEntry", &config.workload_entries);
        let k = &config.kube;
        add(m, &wanted, "Service", &k.services);
        add(m, &wanted, "EndpointSlice", &k.endpoint_slices);
        add(m, &wanted, "Endpoints", &k.endpoints);
        add(m, &wanted, "Pod", &k.pods);
        add(m, &wanted, "Namespace", &k.namespaces);
        add(m, &wanted, "Secret", &k.secrets);
        Origins { map }
    }

    /// Where `resource` was read.
    pub fn get(&self, resource: &ResourceRef) -> Option<&Origin> {
        self.map.get(resource)
    }
}

fn key_of(r: &ResourceRef) -> (&str, &str, &str) {
    (r.kind.as_str(), r.namespace.as_str(), r.name.as_str())
}

/// Sets `file`, `line` and `column` of every diagnostic about a resource
/// whose origin `origins` knows and whose input text `sources` (file
/// name, text) holds. Diagnostics that already have a line (syntax
/// errors) keep it.
pub fn locate_diagnostics(
    diagnostics: &mut [Diagnostic],
    origins: &Origins,
    sources: &[(&str, &str)],
) {
    for d in diagnostics.iter_mut().filter(|d| d.line.is_none()) {
        let Some(origin) = origins.get(&d.resource) else {
            continue;
        };
        let Some((_, text)) = sources.iter().find(|(f, _)| *f == origin.file) else {
            continue;
        };
        d.file = Some(origin.file.clone());
        if let Some((line, column)) = locate(text, origin.document, &d.resource, &d.field) {
            d.line = Some(line);
            d.column = Some(column);
        }
    }
}

/// The 1-based line and column of `field` of `resource` in document
/// `document` (1-based) of `text`: the deepest part of the path found, the
/// resource's first line when none is.
pub fn locate(
    text: &str,
    document: usize,
    resource: &ResourceRef,
    field: &str,
) -> Option<(usize, usize)> {
    let lines = document_lines(text, document)?;
    // A `kind: List`: the item that is this resource.
    let mut block = match key_value(&lines, "items") {
        Some(items) => list_item(items, resource)?,
        None => lines,
    };
    let first = block.first()?;
    let mut at = (first.number, first.indent + 1);
    for segment in field.split('.').filter(|s| !s.is_empty()) {
        let (key, indices) = split_indices(segment);
        let Some((line, value)) = key_line(&block, key) else {
            break;
        };
        at = (line.number, line.indent + 1);
        block = value.to_vec();
        for index in indices {
            let Some(item) = sequence_item(&block, index) else {
                return Some(at);
            };
            at = (item[0].number, item[0].indent - 1);
            block = item;
        }
    }
    Some(at)
}

/// The lines of document `document` (1-based; documents split at `---`).
fn document_lines(text: &str, document: usize) -> Option<Vec<Line<'_>>> {
    if text.trim_start().starts_with('{') {
        return None;
    }
    let mut current = 1;
    let mut seen_content = false;
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        if raw.starts_with("---") {
            // A leading `---` opens the first document.
            if seen_content {
                current += 1;
            }
            seen_content = true;
            continue;
        }
        let trimmed = raw.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        seen_content = true;
        if current == document {
            out.push(Line {
                number: i + 1,
                indent: raw.len() - trimmed.len(),
                text: trimmed.trim_end(),
            });
        } else if current > document {
            break;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `http[0][1]` → (`http`, [0, 1]).
fn split_indices(segment: &str) -> (&str, Vec<usize>) {
    let key_end = segment.find('[').unwrap_or(segment.len());
    let indices = segment[key_end..]
        .split(['[', ']'])
        .filter_map(|s| s.parse().ok())
        .collect();
    (&segment[..key_end], indices)
}

/// The line of `key` at the block's own indentation and the lines of its
/// value (more indented, or a sequence at the key's indentation).
fn key_line<'l, 'a>(block: &'l [Line<'a>], key: &str) -> Option<(Line<'a>, &'l [Line<'a>])> {
    let indent = block.first()?.indent;
    let at = block
        .iter()
        .position(|l| l.indent == indent && is_key(l.text, key))?;
    let line = block[at];
    let rest = &block[at + 1..];
    let end = rest
        .iter()
        .position(|l| l.indent < indent || (l.indent == indent && !l.text.starts_with('-')))
        .unwrap_or(rest.len());
    // A sequence at the key's indentation ends at the next key there.
    let value = &rest[..end];
    let value = if value.first().is_some_and(|l| l.indent == indent) {
        value
    } else {
        let deeper = value
            .iter()
            .position(|l| l.indent <= indent)
            .unwrap_or(value.len());
        &value[..deeper]
    };
    Some((line, value))
}

fn key_value<'l, 'a>(lines: &'l [Line<'a>], key: &str) -> Option<&'l [Line<'a>]> {
    key_line(lines, key).map(|(_, v)| v)
}

/// True when `text` is the mapping entry `key:` (plain or quoted).
fn is_key(text: &str, key: &str) -> bool {
    let text = text.strip_prefix("- ").unwrap_or(text);
    [key.to_string(), format!("\"{key}\""), format!("'{key}'")]
        .iter()
        .any(|k| {
            text.strip_prefix(k.as_str())
                .is_some_and(|r| r.starts_with(':'))
        })
}

/// Item `index` of a block sequence, its first line turned into the first
/// line of the item's own block (the content after `- `).
fn sequence_item<'a>(block: &[Line<'a>], index: usize) -> Option<Vec<Line<'a>>> {
    let indent = block.first()?.indent;
    let starts: Vec<usize> = (0..block.len())
        .filter(|&i| {
            block[i].indent == indent && (block[i].text.starts_with("- ") || block[i].text == "-")
        })
        .collect();
    let start = *starts.get(index)?;
    let end = starts.get(index + 1).copied().unwrap_or(block.len());
    let first = block[start];
    let content = first.text[1..].trim_start();
    let mut item = Vec::with_capacity(end - start);
    if content.is_empty() {
        item.extend_from_slice(&block[start + 1..end]);
    } else {
        item.push(Line {
            number: first.number,
            indent: first.indent + (first.text.len() - content.len()),
            text: content,
        });
        item.extend_from_slice(&block[start + 1..end]);
    }
    (!item.is_empty()).then_some(item)
}

/// The item of a List's `items` that is `resource` (its kind and name).
fn list_item<'a>(items: &[Line<'a>], resource: &ResourceRef) -> Option<Vec<Line<'a>>> {
    let (kind, name) = (
        format!("kind: {}", resource.kind),
        format!("name: {}", resource.name),
    );
    (0..)
        .map_while(|i| sequence_item(items, i))
        .find(|item| item.iter().any(|l| l.text == kind) && item.iter().any(|l| l.text == name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
# a comment
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: a
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
  namespace: default
spec:
  hosts: [reviews]
  gateways:
  - mesh
  - default/gw
  http:
  - match:
    - uri:
        prefix: /a
    route:
    - destination:
        host: reviews
        subset: v1
      weight: 90
    - destination:
        host: reviews
        subset: v2
  - route:
    - destination:
        host: ratings
";

    fn reviews() -> ResourceRef {
        ResourceRef {
            kind: "VirtualService".into(),
            namespace: "default".into(),
            name: "reviews".into(),
        }
    }

    #[test]
    fn field_paths_to_lines() {
        let cases = [
            ("", (7, 1)),
            ("metadata.name", (10, 3)),
            ("spec.hosts", (13, 3)),
            ("spec.hosts[0]", (13, 3)),
            ("spec.gateways[1]", (16, 3)),
            ("spec.http[0].match[0].uri.prefix", (20, 9)),
            ("spec.http[0].route[0].destination.host", (23, 9)),
            ("spec.http[0].route[0].weight", (25, 7)),
            ("spec.http[0].route[1].destination.subset", (28, 9)),
            ("spec.http[1].route[0].destination.host", (31, 9)),
            // Missing parts: the deepest found.
            ("spec.http[0].timeout", (18, 3)),
            ("spec.http[5].route", (17, 3)),
        ];
        for (field, want) in cases {
            assert_eq!(locate(TEXT, 2, &reviews(), field), Some(want), "{field}");
        }
        assert_eq!(locate(TEXT, 3, &reviews(), "spec"), None);
        assert_eq!(locate("{\"kind\": \"X\"}", 1, &reviews(), "spec"), None);
    }

    #[test]
    fn list_items_by_kind_and_name() {
        let text = "\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: reviews
  spec:
    ports:
    - name: http
      port: 9080
- apiVersion: networking.istio.io/v1
  kind: VirtualService
  metadata:
    name: reviews
  spec:
    hosts: [reviews]
";
        assert_eq!(locate(text, 1, &reviews(), "spec.hosts"), Some((17, 5)));
        let service = ResourceRef {
            kind: "Service".into(),
            ..reviews()
        };
        assert_eq!(
            locate(text, 1, &service, "spec.ports[0].port"),
            Some((11, 7))
        );
    }

    /// Two documents, a key at the document's top level followed by a
    /// sequence indented under it, and a namespace left to its default.
    const TWO_DOCUMENTS: &str = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: web
  namespace: shop
spec:
  hosts: [web]
  http:
  - match:
    - uri:
        prefix: /a
    route:
    - destination:
        host: web
      weight: 90
    - destination:
        host: web
        subset: v2
      weight: 10
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata:
  name: web
spec:
  host: web
  subsets:
    - name: v1
      labels: {version: v1}
";

    #[test]
    fn lines_across_documents_and_indented_sequences() {
        let web = ResourceRef {
            kind: "VirtualService".into(),
            namespace: "shop".into(),
            name: "web".into(),
        };
        let cases = [
            (1, "spec.hosts[0]", 7),
            (1, "spec.http[0].match[0].uri.prefix", 11),
            (1, "spec.http[0].route[1].destination.subset", 18),
            (1, "spec.http[0].route[1].weight", 19),
            (1, "spec.http[0].route[0].weight", 15),
            (1, "spec.http[3].route", 8),
            (2, "spec.subsets[0].labels", 29),
            (2, "spec.subsets[0].name", 28),
            (2, "spec.host", 26),
        ];
        for (document, field, want) in cases {
            let got = locate(TWO_DOCUMENTS, document, &web, field).map(|(l, _)| l);
            assert_eq!(got, Some(want), "{document} {field}");
        }
    }

    #[test]
    fn diagnostics_are_located_by_their_resources_origin() {
        let loaded = weir_core::config::Loaded::from_source("shop.yaml", TWO_DOCUMENTS);
        let rule = ResourceRef {
            kind: "DestinationRule".into(),
            namespace: "default".into(),
            name: "web".into(),
        };
        let mut list = vec![
            Diagnostic::new(
                "IST0101",
                weir_core::Severity::Error,
                rule.clone(),
                "spec.subsets[0].name",
                "x".into(),
            ),
            Diagnostic::new(
                "IST0101",
                weir_core::Severity::Error,
                ResourceRef {
                    name: "absent".into(),
                    ..rule
                },
                "spec",
                "x".into(),
            ),
        ];
        let origins = Origins::for_diagnostics(&loaded.config, &list);
        locate_diagnostics(&mut list, &origins, &[("shop.yaml", TWO_DOCUMENTS)]);
        assert_eq!(list[0].file.as_deref(), Some("shop.yaml"));
        assert_eq!((list[0].line, list[0].column), (Some(28), Some(7)));
        // A resource the config does not hold stays unlocated.
        assert_eq!((list[1].file.as_deref(), list[1].line), (None, None));
        // Sources without the origin's file: unlocated, no guess.
        let mut other = list[..1].to_vec();
        other[0].file = None;
        other[0].line = None;
        locate_diagnostics(&mut other, &Origins::of(&loaded.config), &[("x.yaml", "")]);
        assert_eq!(other[0].line, None);
    }
}
