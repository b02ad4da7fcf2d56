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
//! Documents come out as the `serde_json::Value` the loader builds from
//! serde_yaml_ng's events (`DocumentSeed`), so plain scalars are resolved
//! as serde_yaml_ng resolves them (its `visit_untagged_scalar` in de.rs:
//! null, bools, integers, floats, else strings) and a scalar it would read
//! as something a JSON value cannot hold (`.inf`, `0x1F`, a 128-bit
//! integer) falls back.

use serde_json::{Map, Number, Value};

/// Nesting deeper than this falls back (serde_yaml_ng stops at 128).
const MAX_DEPTH: usize = 64;

/// The documents of `text`, numbered as serde_yaml_ng numbers them, or
/// `None` when `text` uses YAML this reader does not handle.
pub(crate) fn documents(text: &str) -> Option<Vec<Value>> {
    Documents::new(text)?.map(|d| d.ok()).collect()
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
        })
    }
}

impl Iterator for Documents<'_> {
    /// A document, or where to hand the rest of the stream over.
    type Item = Result<Value, Rest>;

    fn next(&mut self) -> Option<Self::Item> {
        let (from, to) = self.ranges.next()?;
        let mut p = Parser {
            lines: &self.lines[from..to],
            line: 0,
            col: 0,
            depth: 0,
        };
        Some(p.document().ok_or(Rest {
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

struct Parser<'a> {
    lines: &'a [&'a str],
    line: usize,
    col: usize,
    depth: usize,
}

/// `None`: fall back to serde_yaml_ng.
type R<T> = Option<T>;

impl<'a> Parser<'a> {
    fn document(&mut self) -> R<Value> {
        if !self.next_content_line() {
            return Some(Value::Null);
        }
        let indent = indent_of(self.lines[self.line]);
        self.col = indent;
        let v = self.block_node(indent)?;
        // Nothing may follow the top node.
        if self.next_content_line() {
            return None;
        }
        Some(v)
    }

    /// Moves to the next line with content (from the current line if it has
    /// content at or after `col`... callers only call this at line ends).
    fn next_content_line(&mut self) -> bool {
        while self.line < self.lines.len() && is_blank(self.lines[self.line]) {
            self.line += 1;
        }
        self.col = 0;
        self.line < self.lines.len()
    }

    fn rest(&self) -> &'a str {
        &self.lines[self.line][self.col..]
    }

    /// After a node: the rest of the line must be blank or a comment; then
    /// moves to the next line.
    fn end_line(&mut self) -> R<()> {
        let rest = self.rest();
        let t = rest.trim_start_matches(' ');
        if !(t.is_empty() || (t.starts_with('#') && t.len() < rest.len())) {
            return None;
        }
        self.line += 1;
        self.col = 0;
        Some(())
    }

    /// The node starting at the cursor (column `self.col`), in a block
    /// whose entries sit at `indent` (the node's own column).
    fn block_node(&mut self, indent: usize) -> R<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let rest = self.rest();
        let v = if is_entry(rest) {
            self.block_sequence(indent)
        } else if key_end(rest).is_some() {
            self.block_mapping(indent)
        } else {
            self.inline_value(indent.checked_sub(1).map_or(-1, |i| i as isize))
        };
        self.depth -= 1;
        v
    }

    /// A block sequence whose `-` are at column `indent`, the first at the
    /// cursor.
    fn block_sequence(&mut self, indent: usize) -> R<Value> {
        let mut items = Vec::new();
        loop {
            // At a `-`.
            self.col += 1;
            let after = self.rest();
            let spaces = indent_of(after);
            let content = &after[spaces..];
            if content.is_empty() || content.starts_with('#') {
                self.line += 1;
                // The item is on the following lines, more indented, or empty.
                if self.next_content_line() && indent_of(self.lines[self.line]) > indent {
                    let i = indent_of(self.lines[self.line]);
                    self.col = i;
                    items.push(self.block_node(i)?);
                } else {
                    items.push(Value::Null);
                }
            } else {
                self.col += spaces;
                let c = self.col;
                items.push(self.block_node(c)?);
            }
            // The next entry: a `-` at the same column.
            if !self.next_content_line() {
                break;
            }
            let line = self.lines[self.line];
            let i = indent_of(line);
            if i != indent || !is_entry(&line[i..]) {
                if i > indent {
                    return None; // misaligned
                }
                break;
            }
            self.col = i;
        }
        Some(Value::Array(items))
    }

    /// A block mapping whose keys are at column `indent`, the first at the
    /// cursor.
    fn block_mapping(&mut self, indent: usize) -> R<Value> {
        let mut map = Map::new();
        loop {
            let rest = self.rest();
            let end = key_end(rest)?;
            let key = scalar_key(&rest[..end])?;
            self.col += end + 1; // past the `:`
            let after = self.rest();
            let spaces = indent_of(after);
            let content = &after[spaces..];
            let value = if content.is_empty() || content.starts_with('#') {
                if !content.is_empty() && spaces == 0 {
                    return None; // `key:#…`
                }
                self.line += 1;
                if self.next_content_line() {
                    let line = self.lines[self.line];
                    let i = indent_of(line);
                    if i > indent || (i == indent && is_entry(&line[i..])) {
                        self.col = i;
                        self.block_node(i)?
                    } else {
                        Value::Null
                    }
                } else {
                    Value::Null
                }
            } else {
                self.col += spaces;
                self.inline_value(indent as isize)?
            };
            map.insert(key, value);
            if !self.next_content_line() {
                break;
            }
            let line = self.lines[self.line];
            let i = indent_of(line);
            if i != indent {
                if i > indent {
                    return None;
                }
                break;
            }
            if is_entry(&line[i..]) {
                break; // a sequence at the parent's level (compact form)
            }
            self.col = i;
        }
        Some(Value::Object(map))
    }

    /// A value that starts mid-line: a flow collection, a quoted, block or
    /// plain scalar. Continuation lines must be indented more than `parent`.
    /// Leaves the cursor at the start of the next line.
    fn inline_value(&mut self, parent: isize) -> R<Value> {
        let rest = self.rest();
        let first = rest.as_bytes().first().copied()?;
        match first {
            b'[' | b'{' => {
                let v = self.flow_node()?;
                self.end_line()?;
                Some(v)
            }
            b'"' | b'\'' => {
                let s = self.quoted(parent)?;
                self.end_line()?;
                Some(Value::String(s))
            }
            b'|' | b'>' => self.block_scalar(parent),
            b'&' | b'*' | b'!' | b'%' | b'@' | b'`' | b'?' | b',' | b']' | b'}' | b'#' => None,
            b'-' if is_entry(rest) => None,
            _ => {
                let s = self.plain_multiline(parent)?;
                resolve(&s)
            }
        }
    }

    /// A plain scalar in block context, possibly folded over lines indented
    /// more than `parent`.
    fn plain_multiline(&mut self, parent: isize) -> R<String> {
        let rest = self.rest();
        let (text, tail) = plain_in_line(rest);
        if tail.starts_with(':') {
            return None; // an implicit key where a value was expected
        }
        let mut out = text.to_string();
        self.col += text.len();
        self.end_line()?;
        // Continuation lines: more indented than the parent, not comments.
        let mut blank_run = 0usize;
        while self.line < self.lines.len() {
            let line = self.lines[self.line];
            let t = line.trim_start_matches(' ');
            if t.is_empty() {
                blank_run += 1;
                self.line += 1;
                continue;
            }
            let i = indent_of(line) as isize;
            if i <= parent || t.starts_with('#') {
                break;
            }
            let (more, tail) = plain_in_line(t);
            if more.len() != t.trim_end_matches(' ').len() || !tail.trim_start().is_empty() {
                return None; // `: `, ` #` or an indicator inside: let the full parser decide
            }
            if is_entry(t) {
                return None;
            }
            if blank_run > 0 {
                out.extend(std::iter::repeat_n('\n', blank_run));
            } else {
                out.push(' ');
            }
            blank_run = 0;
            out.push_str(more);
            self.line += 1;
        }
        // Blank lines after the scalar belong to no one: step back over them.
        self.line -= blank_run;
        self.col = 0;
        Some(out)
    }

    /// A `'…'` or `"…"` scalar from the cursor, possibly over several lines
    /// (each indented more than `parent`): a line break is a space, empty
    /// lines are line feeds, an escaped break (`\` at the end) is nothing.
    fn quoted(&mut self, parent: isize) -> R<String> {
        let quote = self.rest().as_bytes()[0];
        self.col += 1;
        let mut out = String::new();
        loop {
            let line = self.lines[self.line];
            let b = line.as_bytes();
            let (mut i, mut start) = (self.col, self.col);
            let mut escaped_break = false;
            while i < b.len() {
                if b[i] == quote {
                    if quote == b'\'' && b.get(i + 1) == Some(&b'\'') {
                        out.push_str(&line[start..=i]);
                        i += 2;
                        start = i;
                        continue;
                    }
                    out.push_str(&line[start..i]);
                    self.col = i + 1;
                    return Some(out);
                }
                if quote == b'"' && b[i] == b'\\' {
                    out.push_str(&line[start..i]);
                    match escape(&line[i + 1..])? {
                        (Some(c), used) => {
                            out.push(c);
                            i += 1 + used;
                            start = i;
                        }
                        (None, _) => {
                            escaped_break = true;
                            start = b.len();
                            break;
                        }
                    }
                    continue;
                }
                i += 1;
            }
            out.push_str(line[start..].trim_end_matches(' '));
            // Fold into the next line with content.
            self.line += 1;
            let mut breaks = 0;
            while self
                .lines
                .get(self.line)?
                .trim_start_matches(' ')
                .is_empty()
            {
                breaks += 1;
                self.line += 1;
            }
            let indent = indent_of(self.lines[self.line]);
            if indent as isize <= parent || (escaped_break && breaks > 0) {
                return None;
            }
            if !escaped_break {
                if breaks == 0 {
                    out.push(' ');
                } else {
                    out.extend(std::iter::repeat_n('\n', breaks));
                }
            }
            self.col = indent;
        }
    }

    /// `|` or `>` with an optional chomping indicator; the content lines are
    /// indented more than `parent` (the first one sets the indentation).
    fn block_scalar(&mut self, parent: isize) -> R<Value> {
        let header = self.rest();
        let folded = header.starts_with('>');
        let mut chars = header[1..].chars();
        let mut chomp = ' ';
        let mut consumed = 1;
        if let Some(c @ ('-' | '+')) = chars.clone().next() {
            chomp = c;
            chars.next();
            consumed += 1;
        }
        if chars.clone().next().is_some_and(|c| c.is_ascii_digit()) {
            return None; // explicit indentation
        }
        self.col += consumed;
        self.end_line()?;
        // Content: lines indented more than parent, or blank.
        let mut content: Vec<&str> = Vec::new();
        let mut indent = None;
        while self.line < self.lines.len() {
            let line = self.lines[self.line];
            let blank = line.trim_start_matches(' ').is_empty();
            if blank {
                content.push("");
                self.line += 1;
                continue;
            }
            let i = indent_of(line);
            let want = match indent {
                Some(n) => n,
                None => {
                    if (i as isize) <= parent {
                        break;
                    }
                    indent = Some(i);
                    i
                }
            };
            if i < want {
                break;
            }
            if folded && i > want {
                return None; // more-indented lines in a folded scalar
            }
            content.push(&line[want..]);
            self.line += 1;
        }
        // Trailing blank lines: kept (`+`), else dropped; they may belong to
        // the document's blank lines, so step back over them for the parser.
        let trailing = content.iter().rev().take_while(|l| l.is_empty()).count();
        let body = &content[..content.len() - trailing];
        let mut out = String::new();
        if folded {
            let mut prev_blank = false;
            for (k, l) in body.iter().enumerate() {
                if l.is_empty() {
                    out.push('\n');
                    prev_blank = true;
                    continue;
                }
                if k > 0 && !prev_blank {
                    out.push(' ');
                }
                prev_blank = false;
                out.push_str(l);
            }
        } else {
            out = body.join("\n");
        }
        match chomp {
            '-' => {}
            '+' => {
                if !body.is_empty() {
                    out.push('\n');
                }
                out.extend(std::iter::repeat_n('\n', trailing));
            }
            _ => {
                if !body.is_empty() {
                    out.push('\n');
                }
            }
        }
        // With `+` the trailing blank lines are content; else they are
        // given back to the parser.
        if chomp != '+' {
            self.line -= trailing;
        }
        self.col = 0;
        Some(Value::String(out))
    }

    /// A flow collection or scalar at the cursor, maybe over several lines.
    fn flow_node(&mut self) -> R<Value> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.flow_space()?;
        let rest = self.rest();
        let v = match rest.as_bytes().first()? {
            b'[' => {
                self.col += 1;
                let mut items = Vec::new();
                loop {
                    self.flow_space()?;
                    if self.rest().starts_with(']') {
                        self.col += 1;
                        break;
                    }
                    let item = self.flow_node()?;
                    self.flow_space()?;
                    if self.rest().starts_with(':') {
                        return None; // a single-pair mapping in a sequence
                    }
                    items.push(item);
                    self.flow_space()?;
                    if self.rest().starts_with(',') {
                        self.col += 1;
                    } else if !self.rest().starts_with(']') {
                        return None;
                    }
                }
                Value::Array(items)
            }
            b'{' => {
                self.col += 1;
                let mut map = Map::new();
                loop {
                    self.flow_space()?;
                    if self.rest().starts_with('}') {
                        self.col += 1;
                        break;
                    }
                    let key = match self.flow_node()? {
                        Value::String(s) => s,
                        _ => return None, // keys as serde_yaml_ng reads them: only strings here
                    };
                    self.flow_space()?;
                    if !self.rest().starts_with(':') {
                        return None; // `{a}`: a key with no value
                    }
                    self.col += 1;
                    self.flow_space()?;
                    let value = if self.rest().starts_with([',', '}']) {
                        Value::Null
                    } else {
                        self.flow_node()?
                    };
                    map.insert(key, value);
                    self.flow_space()?;
                    if self.rest().starts_with(',') {
                        self.col += 1;
                    } else if !self.rest().starts_with('}') {
                        return None;
                    }
                }
                Value::Object(map)
            }
            b'"' | b'\'' => Value::String(self.quoted(-1)?),
            _ => {
                let (text, _) = plain_in_flow(rest);
                if text.is_empty()
                    || text.starts_with(['&', '*', '!', '|', '>', '%', '@', '`', '?', '#'])
                {
                    return None;
                }
                self.col += text.len();
                // Keys stay strings; values resolve. A key is followed by `:`.
                if self.rest().trim_start_matches(' ').starts_with(':') {
                    Value::String(text.to_string())
                } else {
                    resolve(text)?
                }
            }
        };
        self.depth -= 1;
        Some(v)
    }

    /// Skips spaces, comments and line breaks inside a flow collection.
    fn flow_space(&mut self) -> R<()> {
        loop {
            let rest = self.rest();
            let t = rest.trim_start_matches(' ');
            // A `#` starts a comment after a space or at the start of a line.
            let comment = t.starts_with('#') && (self.col == 0 || rest.len() > t.len());
            self.col += rest.len() - t.len();
            if t.is_empty() || comment {
                self.line += 1;
                self.col = 0;
                if self.line >= self.lines.len() {
                    return None; // unterminated
                }
                continue;
            }
            return Some(());
        }
    }
}

/// Where a mapping key ends on `line` (the `:` followed by a space or the
/// end of the line), for a plain or quoted key; `None` if it is no key.
fn key_end(line: &str) -> Option<usize> {
    let b = line.as_bytes();
    match b.first()? {
        b'"' | b'\'' => {
            let q = b[0];
            let mut i = 1;
            while i < b.len() {
                if b[i] == b'\\' && q == b'"' {
                    i += 2;
                    continue;
                }
                if b[i] == q {
                    if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                        i += 2;
                        continue;
                    }
                    let after = &line[i + 1..];
                    let t = after.trim_start_matches(' ');
                    let colon = i + 1 + (after.len() - t.len());
                    let at = t.as_bytes();
                    return (at.first() == Some(&b':') && (at.len() == 1 || at[1] == b' '))
                        .then_some(colon);
                }
                i += 1;
            }
            None
        }
        b'[' | b'{' | b'&' | b'*' | b'!' | b'|' | b'>' | b'%' | b'@' | b'`' | b'#' | b',' => None,
        b'?' if b.len() == 1 || b[1] == b' ' => None,
        b'-' if b.len() == 1 || b[1] == b' ' => None,
        _ => {
            let mut i = 0;
            while i < b.len() {
                match b[i] {
                    b':' if i + 1 == b.len() || b[i + 1] == b' ' => return Some(i),
                    b'#' if i > 0 && b[i - 1] == b' ' => return None,
                    _ => {}
                }
                i += 1;
            }
            None
        }
    }
}

/// The key text (a plain key as written, trailing spaces off; a quoted one
/// unquoted).
fn scalar_key(raw: &str) -> Option<String> {
    let raw = raw.trim_end_matches(' ');
    match raw.as_bytes().first()? {
        b'"' | b'\'' => {
            let lines = [raw];
            let mut p = Parser {
                lines: &lines,
                line: 0,
                col: 0,
                depth: 0,
            };
            let s = p.quoted(-1)?;
            (p.line == 0 && p.col == raw.len()).then_some(s)
        }
        _ => Some(raw.to_string()),
    }
}

/// A plain scalar on one line in block context: up to ` #`, `: ` or a final
/// `:`; returns it (trailing spaces off) and what follows.
fn plain_in_line(s: &str) -> (&str, &str) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' if i > 0 && b[i - 1] == b' ' => break,
            b':' if i + 1 == b.len() || b[i + 1] == b' ' => break,
            _ => {}
        }
        i += 1;
    }
    (s[..i].trim_end_matches(' '), &s[i..])
}

/// A plain scalar inside a flow collection: also ends at `,[]{}` and `: `.
fn plain_in_flow(s: &str) -> (&str, &str) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b',' | b'[' | b']' | b'{' | b'}' => break,
            b'#' if i > 0 && b[i - 1] == b' ' => break,
            b':' if i + 1 == b.len() || matches!(b[i + 1], b' ' | b',' | b']' | b'}') => break,
            _ => {}
        }
        i += 1;
    }
    (s[..i].trim_end_matches(' '), &s[i..])
}

/// A double-quoted escape after the `\`: the character and the bytes used;
/// `(None, 0)` for an escaped line break (the `\` ends the line).
fn escape(s: &str) -> Option<(Option<char>, usize)> {
    let Some(c) = s.chars().next() else {
        return Some((None, 0));
    };
    let simple = match c {
        '0' => Some('\0'),
        'a' => Some('\u{7}'),
        'b' => Some('\u{8}'),
        't' => Some('\t'),
        'n' => Some('\n'),
        'v' => Some('\u{b}'),
        'f' => Some('\u{c}'),
        'r' => Some('\r'),
        'e' => Some('\u{1b}'),
        ' ' => Some(' '),
        '"' => Some('"'),
        '/' => Some('/'),
        '\\' => Some('\\'),
        'N' => Some('\u{85}'),
        '_' => Some('\u{a0}'),
        'L' => Some('\u{2028}'),
        'P' => Some('\u{2029}'),
        _ => None,
    };
    if let Some(ch) = simple {
        return Some((Some(ch), 1));
    }
    let digits = match c {
        'x' => 2,
        'u' => 4,
        'U' => 8,
        _ => return None,
    };
    let hex = s.get(1..1 + digits)?;
    let code = u32::from_str_radix(hex, 16).ok()?;
    Some((Some(char::from_u32(code)?), 1 + digits))
}

/// A plain scalar's value as serde_yaml_ng resolves it for
/// `deserialize_any` (de.rs `visit_untagged_scalar`); `None` for the forms
/// this reader leaves to it (other radixes, infinities, NaN, 128-bit ints).
fn resolve(s: &str) -> Option<Value> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Value::Null),
        "true" | "True" | "TRUE" => return Some(Value::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Value::Bool(false)),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Some(Value::String(s.to_string()));
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    if unsigned.starts_with("0x") || unsigned.starts_with("0o") || unsigned.starts_with("0b") {
        return None;
    }
    if unsigned.starts_with(['+', '-']) {
        return Some(Value::String(s.to_string()));
    }
    // Leading zeros and digits only: a string (YAML 1.2).
    if unsigned.len() > 1
        && unsigned.starts_with('0')
        && unsigned.bytes().all(|b| b.is_ascii_digit())
    {
        return Some(Value::String(s.to_string()));
    }
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        let text = s.strip_prefix('+').unwrap_or(s);
        if let Ok(u) = text.parse::<u64>() {
            return Some(Value::Number(u.into()));
        }
        if let Ok(i) = text.parse::<i64>() {
            return Some(Value::Number(i.into()));
        }
        return None; // 128-bit
    }
    match unsigned {
        ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN" => return None,
        _ => {}
    }
    match s.strip_prefix('+').unwrap_or(s).parse::<f64>() {
        Ok(f) if f.is_finite() => Number::from_f64(f).map(Value::Number),
        Ok(_) => Some(Value::String(s.to_string())),
        Err(_) => Some(Value::String(s.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// serde_yaml_ng's documents, as the loader reads them.
    fn reference(text: &str) -> Result<Vec<Value>, String> {
        serde_yaml_ng::Deserializer::from_str(text)
            .map(|d| Value::deserialize(d).map_err(|e| e.to_string()))
            .collect()
    }

    /// Whenever this reader answers, it answers as serde_yaml_ng does.
    fn same(text: &str) -> bool {
        match documents(text) {
            None => false,
            Some(fast) => {
                let want = reference(text)
                    .unwrap_or_else(|e| panic!("reference failed ({e}) on:\n{text}"));
                assert_eq!(fast, want, "on:\n{text}");
                true
            }
        }
    }

    #[test]
    fn block_structures_scalars_and_flows_read_as_serde_yaml_ng_reads_them() {
        let cases = [
            "a: 1\nb: two\nc:\nd: ~\ne: null\nf: true\ng: False\nh: 1.5\ni: -3\nj: 007\nk: +4\nl: 1e3\nm: '1'\nn: \"x\\ty\\u00e9\"\n",
            "list:\n- a\n- b: 1\n  c: 2\n- - x\n  - y\n-\n- [1, two, {k: v}]\n",
            "compact:\n- a\n- b\nnext: 1\n",
            "nested:\n  deeper:\n    deepest: [a, b]\n  back: x\ntop: y\n",
            "# comment\nkey: value # trailing\n\n\nother: 'it''s'\n",
            "plain: this is\n  folded over\n\n  lines\nafter: 1\n",
            "dq: \"one\n  two\n\n  three\"\nsq: 'a\n  b'\n",
            "esc: \"no \\\n  space\"\n",
            "lit: |\n  line 1\n  line 2\n\nfold: >\n  a\n  b\n\n  c\nstrip: |-\n  x\nkeep: |+\n  y\n\nz: 1\n",
            "flow: {a: [1, 2], 'b c': \"d\", e: {f: null}}\nmulti: [\n  a,\n  b, # c\n  {x: 1}\n]\n",
            "url: http://example.com:8080/path\ntime: 12:30\nweird: a:b\nk: -x\ncolon: 'a: b'\n",
            "---\na: 1\n---\n---\nb: 2\n",
            "a: 1\n---\n# only a comment\n---\nc: 3\n",
            "\"quoted key\": 1\n'single': 2\nkey with spaces: 3\n",
            "items:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    labels:\n      app: web\n      version: \"1\"\n    name: web-0\n  status:\n    podIPs:\n    - ip: 10.0.0.1\nkind: List\n",
            "empty_map: {}\nempty_seq: []\nnum_key: {1: a}\n",
            "- top\n- level\n",
            "just a scalar\n",
            "",
            "   \n# nothing\n",
        ];
        for text in cases {
            assert!(same(text), "fell back on:\n{text}");
        }
    }

    #[test]
    fn unusual_yaml_falls_back() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "%YAML 1.2\n---\na: 1\n",
            "a:\n\tb: 1\n",
            "a: 1\r\nb: 2\r\n",
            "? complex\n: key\n",
            "a: 0x1F\n",
            "a: .inf\n",
            "a: 123456789012345678901234567890\n",
            "a: |2\n   x\n",
            "a: [b: c]\n",
            "a: 1\n...\n",
            "bad: [unterminated\n",
            "a: b: c\n",
            "a:\n  - x\n - y\n",
        ] {
            assert_eq!(documents(text), None, "{text:?}");
        }
    }

    /// Every YAML file the repository ships reads the same both ways, and
    /// the Kubernetes dumps and Istio configs take the fast path.
    #[test]
    fn repository_yaml_reads_the_same() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut stack = vec![root.join("examples"), root.join("core/tests")];
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
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
                if reference(&text).is_err() {
                    // Malformed on purpose: nothing to compare.
                    assert!(
                        documents(&text).is_none() || text.contains("weir-expect"),
                        "{}",
                        path.display()
                    );
                    continue;
                }
                if same(&text) {
                    fast.push(path);
                } else {
                    slow.push(path);
                }
            }
        }
        assert!(fast.len() >= 20, "fast: {fast:?}, slow: {slow:?}");
        eprintln!("slow: {slow:?}");
        let must_be_fast = [
            "bookinfo/cluster.yaml",
            "fleetman-canary.yaml",
            "tcp-echo.yaml",
        ];
        for name in must_be_fast {
            assert!(
                fast.iter().any(|p| p.ends_with(name)),
                "{name} fell back; slow: {slow:?}"
            );
        }
    }
}
