//! Scalars on one line: where keys and plain scalars end, escapes, and
//! how a plain scalar resolves.

use super::node::Node;
use super::Parser;
use std::borrow::Cow;

/// Where a mapping key ends on `line` (the `:` followed by a space or the
/// end of the line), for a plain or quoted key; `None` if it is no key.
pub(super) fn key_end(line: &str) -> Option<usize> {
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
pub(super) fn scalar_key(raw: &str) -> Option<Cow<'_, str>> {
    let raw = raw.trim_end_matches(' ');
    match raw.as_bytes().first()? {
        b'"' | b'\'' => {
            let lines = [raw];
            let mut p = Parser {
                lines: &lines,
                line: 0,
                col: 0,
                depth: 0,
                pool: Default::default(),
            };
            let s = p.quoted(-1)?;
            (p.line == 0 && p.col == raw.len()).then_some(s)
        }
        _ => Some(Cow::Borrowed(raw)),
    }
}

/// A plain scalar on one line in block context: up to ` #`, `: ` or a final
/// `:`; returns it (trailing spaces off) and what follows.
pub(super) fn plain_in_line(s: &str) -> (&str, &str) {
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
pub(super) fn plain_in_flow(s: &str) -> (&str, &str) {
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
pub(super) fn escape(s: &str) -> Option<(Option<char>, usize)> {
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
pub(super) fn resolve(s: Cow<'_, str>) -> Option<Node<'_>> {
    Some(match resolve_str(&s)? {
        Resolved::Null => Node::Null,
        Resolved::Bool(b) => Node::Bool(b),
        Resolved::U64(u) => Node::U64(u),
        Resolved::I64(i) => Node::I64(i),
        Resolved::F64(f) => Node::F64(f),
        Resolved::Str => Node::Str(s),
    })
}

/// What a plain scalar resolves to; a string is the scalar itself.
enum Resolved {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str,
}

fn resolve_str(s: &str) -> Option<Resolved> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Resolved::Null),
        "true" | "True" | "TRUE" => return Some(Resolved::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Resolved::Bool(false)),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Some(Resolved::Str);
    }
    let unsigned = s.strip_prefix(['-', '+']).unwrap_or(s);
    if unsigned.starts_with("0x") || unsigned.starts_with("0o") || unsigned.starts_with("0b") {
        return None;
    }
    if unsigned.starts_with(['+', '-']) {
        return Some(Resolved::Str);
    }
    // Leading zeros and digits only: a string (YAML 1.2).
    if unsigned.len() > 1
        && unsigned.starts_with('0')
        && unsigned.bytes().all(|b| b.is_ascii_digit())
    {
        return Some(Resolved::Str);
    }
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        let text = s.strip_prefix('+').unwrap_or(s);
        if let Ok(u) = text.parse::<u64>() {
            return Some(Resolved::U64(u));
        }
        if let Ok(i) = text.parse::<i64>() {
            // serde_json keeps `-0` as the unsigned 0.
            return Some(if i >= 0 {
                Resolved::U64(i as u64)
            } else {
                Resolved::I64(i)
            });
        }
        return None; // 128-bit
    }
    match unsigned {
        ".inf" | ".Inf" | ".INF" | ".nan" | ".NaN" | ".NAN" => return None,
        _ => {}
    }
    match s.strip_prefix('+').unwrap_or(s).parse::<f64>() {
        Ok(f) if f.is_finite() => Some(Resolved::F64(f)),
        Ok(_) => Some(Resolved::Str),
        Err(_) => Some(Resolved::Str),
    }
}
