//! wasm-bindgen API (in progress).
