//! Regexes as Istio and Envoy take them: RE2 semantics (the `regex` crate,
//! linear time), a length limit and a compiled-size limit.

/// Largest regex Istio accepts.
pub(crate) const MAX_REGEX_LEN: usize = 1024;
/// Compiled-size limit for every regex (linear-time engine, bounded memory).
pub(crate) const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Compiles a pattern for a full match (RE2 semantics, anchored both ends).
pub(crate) fn full_match_regex(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > MAX_REGEX_LEN {
        return Err(format!(
            "regex is {} characters long; the limit is {MAX_REGEX_LEN}",
            pattern.len()
        ));
    }
    regex::RegexBuilder::new(&format!("^(?:{pattern})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|e| one_line(&e.to_string()))
}

/// Compiles a pattern for search-and-replace (not anchored).
pub(crate) fn search_regex(pattern: &str) -> Result<regex::Regex, String> {
    if pattern.len() > MAX_REGEX_LEN {
        return Err(format!(
            "regex is {} characters long; the limit is {MAX_REGEX_LEN}",
            pattern.len()
        ));
    }
    regex::RegexBuilder::new(pattern)
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
