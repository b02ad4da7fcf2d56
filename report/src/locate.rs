//! Lines for diagnostics: which line of a YAML text a resource's field is
//! on, so an editor (the playground, `weir check`) can point at it.
//!
//! The parser keeps no positions for values, so this reads the text's
//! block structure itself: documents split at `---`, keys by indentation,
//! sequence items by their dashes. Flow style (`{…}`, `[…]`) and JSON
//! resolve to the deepest key found, at worst the resource's `kind:` line.

/// One line's shape: where its first character is, and where its content
/// starts once any `- ` sequence markers are stripped.
#[derive(Debug, Clone, Copy)]
struct Shape<'a> {
    first: usize,
    content_at: usize,
    content: &'a str,
    dash: bool,
}

fn shape(line: &str) -> Option<Shape<'_>> {
    let first = line.len() - line.trim_start_matches(' ').len();
    let mut content = &line[first..];
    if content.is_empty() || content.starts_with('#') {
        return None;
    }
    let mut at = first;
    let dash = content == "-" || content.starts_with("- ");
    while content == "-" || content.starts_with("- ") {
        let rest = content[1..].trim_start_matches(' ');
        at += content.len() - rest.len();
        content = rest;
    }
    Some(Shape {
        first,
        content_at: at,
        content,
        dash,
    })
}

/// The key a `key: value` (or `"key": value`) content starts with.
fn key_of(content: &str) -> Option<&str> {
    let (key, _) = content.split_once(':')?;
    let key = key.trim().trim_matches(['"', '\'']);
    (!key.is_empty() && !key.contains(' ')).then_some(key)
}

/// One YAML document of the text.
#[derive(Debug)]
struct Document<'a> {
    /// Index of its first line in the text.
    start: usize,
    lines: Vec<Option<Shape<'a>>>,
    kind: &'a str,
    namespace: &'a str,
    name: &'a str,
}

/// The documents of a YAML text, for looking up the line of a resource's field.
#[derive(Debug)]
pub struct Documents<'a> {
    documents: Vec<Document<'a>>,
}

impl<'a> Documents<'a> {
    pub fn new(text: &'a str) -> Self {
        let mut documents = Vec::new();
        let mut start = 0;
        let mut lines: Vec<Option<Shape<'a>>> = Vec::new();
        let all: Vec<&str> = text.lines().collect();
        for (i, line) in all.iter().enumerate() {
            if line.starts_with("---") {
                if !lines.is_empty() {
                    documents.push(Document::new(start, std::mem::take(&mut lines)));
                }
                start = i + 1;
                continue;
            }
            lines.push(shape(line));
        }
        if !lines.is_empty() {
            documents.push(Document::new(start, lines));
        }
        Documents { documents }
    }

    /// The 1-based line of `field` (a path like `spec.http[0].route[1].weight`)
    /// in the resource `kind` `namespace/name`: the deepest part of the path
    /// found; `None` when no document is that resource.
    pub fn line_of(&self, kind: &str, namespace: &str, name: &str, field: &str) -> Option<usize> {
        let doc = self.documents.iter().find(|d| {
            d.kind == kind
                && d.name == name
                && (d.namespace == namespace || (d.namespace.is_empty() && namespace == "default"))
        })?;
        Some(doc.start + doc.line_of(field) + 1)
    }
}

/// A path segment: a key, or an index into a sequence.
enum Segment<'p> {
    Key(&'p str),
    Index(usize),
}

fn segments(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        while let Some(end) = rest.find(']') {
            match rest[1..end].parse() {
                Ok(i) => out.push(Segment::Index(i)),
                Err(_) => return out,
            }
            rest = &rest[end + 1..];
        }
    }
    out
}

impl<'a> Document<'a> {
    fn new(start: usize, lines: Vec<Option<Shape<'a>>>) -> Self {
        let mut doc = Document {
            start,
            lines,
            kind: "",
            namespace: "",
            name: "",
        };
        let all = 0..doc.lines.len();
        doc.kind = doc.value(doc.find_key(all.clone(), "kind"));
        if let Some(meta) = doc.find_key(all, "metadata") {
            let inside = doc.value_range(meta);
            doc.name = doc.value(doc.find_key(inside.clone(), "name"));
            doc.namespace = doc.value(doc.find_key(inside, "namespace"));
        }
        doc
    }

    /// The scalar after `key:` on line `at`.
    fn value(&self, at: Option<usize>) -> &'a str {
        at.and_then(|i| self.lines[i])
            .and_then(|s| s.content.split_once(':'))
            .map(|(_, v)| {
                v.split(" #")
                    .next()
                    .unwrap_or("")
                    .trim()
                    .trim_matches(['"', '\''])
            })
            .unwrap_or("")
    }

    /// The content indentation of the first meaningful line of `range`.
    fn level(&self, range: &std::ops::Range<usize>) -> Option<usize> {
        self.lines[range.clone()]
            .iter()
            .flatten()
            .next()
            .map(|s| s.content_at)
    }

    /// The line of `key` at the top level of `range`.
    fn find_key(&self, range: std::ops::Range<usize>, key: &str) -> Option<usize> {
        let level = self.level(&range)?;
        range.into_iter().find(|&i| {
            self.lines[i].is_some_and(|s| s.content_at == level && key_of(s.content) == Some(key))
        })
    }

    /// The lines holding the value of the key on line `at`.
    fn value_range(&self, at: usize) -> std::ops::Range<usize> {
        let Some(key) = self.lines[at] else {
            return at + 1..at + 1;
        };
        let c = key.content_at;
        let end = (at + 1..self.lines.len())
            .find(|&i| self.lines[i].is_some_and(|s| s.first < c || (s.first == c && !s.dash)))
            .unwrap_or(self.lines.len());
        at + 1..end
    }

    /// The lines of item `index` of the sequence in `range`, and its first line.
    fn item(
        &self,
        range: std::ops::Range<usize>,
        index: usize,
    ) -> Option<(usize, std::ops::Range<usize>)> {
        let dash_at = self.lines[range.clone()]
            .iter()
            .flatten()
            .find(|s| s.dash)?
            .first;
        let starts: Vec<usize> = range
            .clone()
            .filter(|&i| self.lines[i].is_some_and(|s| s.dash && s.first == dash_at))
            .collect();
        let first = *starts.get(index)?;
        let end = starts.get(index + 1).copied().unwrap_or(range.end);
        // The item's own content begins on its dash line.
        Some((first, first..end))
    }

    /// The index (in `lines`) of the deepest part of `field` found.
    fn line_of(&self, field: &str) -> usize {
        let mut best = self.find_key(0..self.lines.len(), "kind").unwrap_or(0);
        let mut range = 0..self.lines.len();
        for segment in segments(field) {
            match segment {
                Segment::Key(key) => match self.find_key(range.clone(), key) {
                    Some(at) => {
                        best = at;
                        range = self.value_range(at);
                    }
                    None => break,
                },
                Segment::Index(i) => match self.item(range.clone(), i) {
                    Some((at, item)) => {
                        best = at;
                        range = item;
                    }
                    None => break,
                },
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
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
kind: DestinationRule
metadata:
  name: web
spec:
  host: web
  subsets:
    - name: v1
      labels: {version: v1}
";

    fn line(kind: &str, ns: &str, name: &str, field: &str) -> Option<usize> {
        Documents::new(TEXT).line_of(kind, ns, name, field)
    }

    #[test]
    fn fields_resolve_to_their_lines() {
        assert_eq!(
            line("VirtualService", "shop", "web", "spec.hosts[0]"),
            Some(7)
        );
        assert_eq!(
            line(
                "VirtualService",
                "shop",
                "web",
                "spec.http[0].match[0].uri.prefix"
            ),
            Some(11)
        );
        assert_eq!(
            line(
                "VirtualService",
                "shop",
                "web",
                "spec.http[0].route[1].destination.subset"
            ),
            Some(18)
        );
        assert_eq!(
            line(
                "VirtualService",
                "shop",
                "web",
                "spec.http[0].route[1].weight"
            ),
            Some(19)
        );
        assert_eq!(
            line(
                "VirtualService",
                "shop",
                "web",
                "spec.http[0].route[0].weight"
            ),
            Some(15)
        );
        assert_eq!(
            line(
                "DestinationRule",
                "default",
                "web",
                "spec.subsets[0].labels"
            ),
            Some(28)
        );
        assert_eq!(
            line("DestinationRule", "default", "web", "spec.subsets[0].name"),
            Some(27)
        );
    }

    #[test]
    fn a_missing_part_stops_at_the_deepest_found() {
        assert_eq!(
            line("VirtualService", "shop", "web", "spec.http[3].route"),
            Some(8)
        );
        assert_eq!(line("VirtualService", "shop", "web", ""), Some(2));
        assert_eq!(line("VirtualService", "other", "web", "spec"), None);
        assert_eq!(line("Gateway", "shop", "web", "spec"), None);
    }
}
