//! Flow collections (`[…]`, `{…}`) and quoted scalars, on one line or
//! over several.

use super::node::Node;
use super::scalar::{escape, plain_in_flow, resolve};
use super::{indent_of, Parser, MAX_DEPTH, R};
use std::borrow::Cow;

impl<'t> Parser<'_, 't> {
    /// A `'…'` or `"…"` scalar from the cursor, possibly over several lines
    /// (each indented more than `parent`): a line break is a space, empty
    /// lines are line feeds, an escaped break (`\` at the end) is nothing.
    pub(super) fn quoted(&mut self, parent: isize) -> R<Cow<'t, str>> {
        let quote = self.rest().as_bytes()[0];
        self.col += 1;
        // Most quoted scalars (timestamps, `"True"`, versions) end on their
        // line with no escape: borrowed from the text, not copied.
        let line = self.lines[self.line];
        let body = &line.as_bytes()[self.col..];
        if let Some(end) = body.iter().position(|&b| b == quote || b == b'\\') {
            let closes =
                body[end] == quote && !(quote == b'\'' && body.get(end + 1) == Some(&b'\''));
            if closes {
                let text = &line[self.col..self.col + end];
                self.col += end + 1;
                return Some(Cow::Borrowed(text));
            }
        }
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
                    return Some(Cow::Owned(out));
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

    /// A flow collection or scalar at the cursor, maybe over several lines.
    pub(super) fn flow_node(&mut self) -> R<Node<'t>> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        self.flow_space()?;
        let rest = self.rest();
        let v = match rest.as_bytes().first()? {
            b'[' => {
                self.col += 1;
                let mut items = self.scratch_seq();
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
                self.seq(items)
            }
            b'{' => {
                self.col += 1;
                let mut map = self.scratch_map();
                loop {
                    self.flow_space()?;
                    if self.rest().starts_with('}') {
                        self.col += 1;
                        break;
                    }
                    let key = match self.flow_node()? {
                        Node::Str(s) => s,
                        _ => return None, // keys as serde_yaml_ng reads them: only strings here
                    };
                    self.flow_space()?;
                    if !self.rest().starts_with(':') {
                        return None; // `{a}`: a key with no value
                    }
                    self.col += 1;
                    self.flow_space()?;
                    let value = if self.rest().starts_with([',', '}']) {
                        Node::Null
                    } else {
                        self.flow_node()?
                    };
                    map.push((key, value));
                    self.flow_space()?;
                    if self.rest().starts_with(',') {
                        self.col += 1;
                    } else if !self.rest().starts_with('}') {
                        return None;
                    }
                }
                self.map(map)
            }
            b'"' | b'\'' => Node::Str(self.quoted(-1)?),
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
                    Node::Str(Cow::Borrowed(text))
                } else {
                    resolve(Cow::Borrowed(text))?
                }
            }
        };
        self.depth -= 1;
        Some(v)
    }

    /// Skips spaces, comments and line breaks inside a flow collection.
    pub(super) fn flow_space(&mut self) -> R<()> {
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
