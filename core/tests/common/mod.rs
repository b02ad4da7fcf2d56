//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use weir_core::config::Loaded;
use weir_core::Engine;

/// The example configs the repository ships, `examples/configs`.
pub fn example_configs() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/configs")
}

/// Loads an example config file by name.
pub fn load(name: &str) -> Loaded {
    let path = example_configs().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Loaded::from_source(name, &text)
}

/// An engine serving an example config (panics with the diagnostics if rejected).
pub fn engine(name: &str) -> Engine {
    let engine = Engine::new();
    if let Err(e) = engine.apply(load(name)) {
        panic!("{name} rejected: {e}");
    }
    engine
}

/// An engine serving several example files as one config (e.g. a cluster
/// dump and the Istio configs applied to it).
pub fn engine_of(names: &[&str]) -> Engine {
    let mut loaded = Loaded::default();
    for name in names {
        let path = example_configs().join(name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        loaded.add_source(name, &text);
    }
    let engine = Engine::new();
    if let Err(e) = engine.apply(loaded) {
        panic!("{names:?} rejected: {e}");
    }
    engine
}
