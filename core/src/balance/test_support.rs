//! Host lists for the ring-hash and Maglev tests, as Envoy's tests build them.

/// Keys `127.0.0.1:PORT` for each port in `range`.
pub fn ports(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|p| format!("127.0.0.1:{p}")).collect()
}

/// `(key, weight)` pairs; weights beyond the given ones are 1.
pub fn hosts<'a>(keys: &'a [String], weights: &[u32]) -> Vec<(&'a str, u32)> {
    keys.iter()
        .zip(weights.iter().copied().chain(std::iter::repeat(1)))
        .map(|(k, w)| (k.as_str(), w))
        .collect()
}
