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

/// Envoy's lopsided locality case: localities weighted 127:1, the first key
/// alone in the heavy one, the rest (1023 in Envoy's tests) sharing the light
/// one; normalised weights computed in Envoy's order.
pub fn lopsided(keys: &[String]) -> Vec<(&str, f64)> {
    let heavy = (1.0 * (127.0 / 128.0)) / 1.0;
    let light = (1.0 * (1.0 / 128.0)) / (keys.len() - 1) as f64;
    keys.iter()
        .enumerate()
        .map(|(i, k)| (k.as_str(), if i == 0 { heavy } else { light }))
        .collect()
}
