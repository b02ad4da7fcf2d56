//! The fuzzed pipeline, shared by the cargo-fuzz target and the test that
//! replays committed crash inputs and seeds.

use crate::compile::RequestOutcome;
use crate::request::{HeaderList, Request, Source};
use crate::Engine;

/// load → validate → compile → decide → feedback on arbitrary bytes.
///
/// The input is split at the first NUL: config text before it, request
/// lines after it (authority, path, a header value, entropy). Must never panic.
pub fn pipeline(data: &[u8]) {
    let (config, rest) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(config) else {
        return;
    };
    let engine = Engine::new();
    let _ = engine.apply_str(text);
    let rest = String::from_utf8_lossy(rest);
    let mut parts = rest.splitn(4, '\n');
    let authority = parts.next().unwrap_or("");
    let path = parts.next().unwrap_or("/");
    let header = parts.next().unwrap_or("");
    let entropy = parts.next().map_or(0, |s| {
        s.bytes().fold(0u64, |a, b| a.rotate_left(5) ^ u64::from(b))
    });
    let headers = [
        ("x-myval", header),
        ("cookie", header),
        ("end-user", header),
    ];
    let list = HeaderList(&headers);
    let table = engine.table();
    for gateway in [
        None,
        Some("default/gt-gateway"),
        Some("default/app-gateway"),
    ] {
        let req = Request {
            source: &Source {
                gateway,
                ..Source::MESH
            },
            headers: &list,
            ..Request::get(authority, path)
        };
        let d = table.decide(&req, entropy);
        let _ = d.upstream_path.to_string();
        let _ = d.location.map(|l| l.to_string());
        let ticket = table.begin(&d);
        table.finish(ticket, RequestOutcome::Status(503), entropy);
    }
}

/// A YAML stream read by the loader's fast reader (`None`: it leaves the
/// stream to serde_yaml_ng) and by serde_yaml_ng, as the loader reads
/// documents: for tests that hold the two to the same answer.
#[allow(clippy::type_complexity)]
pub fn yaml_both_ways(
    text: &str,
) -> (
    Option<Vec<serde_json::Value>>,
    Result<Vec<serde_json::Value>, String>,
) {
    use serde::Deserialize;
    let reference = serde_yaml_ng::Deserializer::from_str(text)
        .map(|d| serde_json::Value::deserialize(d).map_err(|e| e.to_string()))
        .collect();
    (crate::config::block_yaml::documents(text), reference)
}
