//! proxy-wasm filter (in progress).
