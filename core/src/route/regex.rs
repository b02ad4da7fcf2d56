//! Regexes as Istio and Envoy take them: RE2 semantics (the `regex` crate,
//! linear time), a length limit and a compiled-size limit.

use ::regex::Regex;
use std::collections::HashMap;

/// Largest regex Istio accepts.
pub(crate) const MAX_REGEX_LEN: usize = 1024;
/// Compiled-size limit for every regex (linear-time engine, bounded memory).
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a pattern for a full match (RE2 semantics, anchored both ends).
pub(crate) fn full_match_regex(pattern: &str) -> Result<Regex, String> {
    if pattern.len() > MAX_REGEX_LEN {
        return Err(format!(
            "regex is {} characters long; the limit is {MAX_REGEX_LEN}",
            pattern.len()
        ));
    }
    ::regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| one_line(&e.to_string()))
}

/// Compiles a pattern for search-and-replace (not anchored).
pub(crate) fn search_regex(pattern: &str) -> Result<Regex, String> {
    if pattern.len() > MAX_REGEX_LEN {
        return Err(format!(
            "regex is {} characters long; the limit is {MAX_REGEX_LEN}",
            pattern.len()
        ));
    }
    ::regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| one_line(&e.to_string()))
}

fn one_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every regex of one config, compiled once per pattern: validation builds
/// them, compilation takes them (a `Regex` clone shares the compiled
/// program), so no pattern is compiled twice in an apply.
#[derive(Debug, Default)]
pub struct Regexes {
    full: HashMap<Box<str>, Result<Regex, String>>,
    search: HashMap<Box<str>, Result<Regex, String>>,
}

impl Regexes {
    /// [`full_match_regex`] of `pattern`, compiled on first use.
    ///
    /// # Errors
    /// Why the pattern is not a regex Istio accepts.
    pub fn full_match(&mut self, pattern: &str) -> Result<Regex, String> {
        cached(&mut self.full, pattern, full_match_regex)
    }

    /// [`search_regex`] of `pattern`, compiled on first use.
    ///
    /// # Errors
    /// As [`Regexes::full_match`].
    pub fn search(&mut self, pattern: &str) -> Result<Regex, String> {
        cached(&mut self.search, pattern, search_regex)
    }
}

fn cached(
    map: &mut HashMap<Box<str>, Result<Regex, String>>,
    pattern: &str,
    build: fn(&str) -> Result<Regex, String>,
) -> Result<Regex, String> {
    if let Some(found) = map.get(pattern) {
        return found.clone();
    }
    let built = build(pattern);
    map.insert(pattern.into(), built.clone());
    built
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pattern is compiled once, and its error kept as well.
    #[test]
    fn regexes_compile_each_pattern_once() {
        let mut set = Regexes::default();
        let a = set.full_match("/a.*").unwrap();
        let b = set.full_match("/a.*").unwrap();
        assert!(a.is_match("/abc") && !a.is_match("x/abc"));
        assert_eq!(a.as_str(), b.as_str());
        assert_eq!(set.full.len(), 1);
        assert!(set.full_match("(").is_err());
        assert!(set.full_match("(").is_err());
        assert_eq!(set.full.len(), 2);
        assert!(set.search("b+").unwrap().is_match("abbc"));
    }
}
