//! Block structure: documents, block mappings and sequences, plain
//! scalars over lines, `|` and `>` scalars.

use super::node::Node;
use super::scalar::{key_end, plain_in_line, resolve, scalar_key};
use super::{indent_of, is_blank, is_entry, Parser, MAX_DEPTH, R};
use std::borrow::Cow;

impl<'t> Parser<'_, 't> {
    pub(super) fn document(&mut self) -> R<Node<'t>> {
        if !self.next_content_line() {
            return Some(Node::Null);
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
    pub(super) fn next_content_line(&mut self) -> bool {
        while self.line < self.lines.len() && is_blank(self.lines[self.line]) {
            self.line += 1;
        }
        self.col = 0;
        self.line < self.lines.len()
    }

    pub(super) fn rest(&self) -> &'t str {
        &self.lines[self.line][self.col..]
    }

    /// After a node: the rest of the line must be blank or a comment; then
    /// moves to the next line.
    pub(super) fn end_line(&mut self) -> R<()> {
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
    pub(super) fn block_node(&mut self, indent: usize) -> R<Node<'t>> {
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
    pub(super) fn block_sequence(&mut self, indent: usize) -> R<Node<'t>> {
        let mut items = self.scratch_seq();
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
                    items.push(Node::Null);
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
        Some(self.seq(items))
    }

    /// A block mapping whose keys are at column `indent`, the first at the
    /// cursor.
    pub(super) fn block_mapping(&mut self, indent: usize) -> R<Node<'t>> {
        let mut map = self.scratch_map();
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
                        Node::Null
                    }
                } else {
                    Node::Null
                }
            } else {
                self.col += spaces;
                self.inline_value(indent as isize)?
            };
            map.push((key, value));
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
        Some(self.map(map))
    }

    /// A value that starts mid-line: a flow collection, a quoted, block or
    /// plain scalar. Continuation lines must be indented more than `parent`.
    /// Leaves the cursor at the start of the next line.
    pub(super) fn inline_value(&mut self, parent: isize) -> R<Node<'t>> {
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
                Some(Node::Str(s))
            }
            b'|' | b'>' => self.block_scalar(parent),
            b'&' | b'*' | b'!' | b'%' | b'@' | b'`' | b'?' | b',' | b']' | b'}' | b'#' => None,
            b'-' if is_entry(rest) => None,
            _ => {
                let s = self.plain_multiline(parent)?;
                resolve(s)
            }
        }
    }

    /// A plain scalar in block context, possibly folded over lines indented
    /// more than `parent`.
    pub(super) fn plain_multiline(&mut self, parent: isize) -> R<Cow<'t, str>> {
        let rest = self.rest();
        let (text, tail) = plain_in_line(rest);
        if tail.starts_with(':') {
            return None; // an implicit key where a value was expected
        }
        // Borrowed from the text unless it folds over lines.
        let mut out = Cow::Borrowed(text);
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
                out.to_mut().extend(std::iter::repeat_n('\n', blank_run));
            } else {
                out.to_mut().push(' ');
            }
            blank_run = 0;
            out.to_mut().push_str(more);
            self.line += 1;
        }
        // Blank lines after the scalar belong to no one: step back over them.
        self.line -= blank_run;
        self.col = 0;
        Some(out)
    }

    /// `|` or `>` with an optional chomping indicator; the content lines are
    /// indented more than `parent` (the first one sets the indentation).
    pub(super) fn block_scalar(&mut self, parent: isize) -> R<Node<'t>> {
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
        Some(Node::Str(Cow::Owned(out)))
    }
}
