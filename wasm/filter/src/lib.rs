//! Weir as a proxy-wasm HTTP filter for Envoy (V8 runtime, `wasm32-wasip1`).
//!
//! The root context parses the plugin configuration ([`settings`]) once per
//! VM and compiles the Istio resources into a [`weir_core::Table`]; each
//! request is decided in `on_http_request_headers` and Envoy is told what to
//! do through headers (cluster, endpoint, timeouts, retries), local replies
//! (aborts, redirects, direct responses, 404/503), pauses (delays) and
//! `dispatch_http_call` (mirrors). See README.md for the options and the two
//! `envoy.yaml` variants.

// The filter reads it on wasm32; the parser is tested natively too.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
mod header_map;
pub mod kept_engine;
pub mod network;
pub mod outcome;
pub mod settings;
pub mod telemetry;

#[cfg(target_arch = "wasm32")]
mod connection;
#[cfg(target_arch = "wasm32")]
mod filter;
#[cfg(target_arch = "wasm32")]
mod http;
#[cfg(target_arch = "wasm32")]
mod recorder;
#[cfg(target_arch = "wasm32")]
mod reply;
#[cfg(target_arch = "wasm32")]
mod router_headers;

// `proxy_wasm::main!` exports `_initialize` with `#[no_mangle]` (and calls the
// WASI constructors): the one place the crate needs `unsafe_code`.
#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod entry {
    proxy_wasm::main! {{
        proxy_wasm::set_log_level(proxy_wasm::types::LogLevel::Info);
        proxy_wasm::set_root_context(|id| -> Box<dyn proxy_wasm::traits::RootContext> {
            Box::new(crate::filter::Root::new(id))
        });
    }}
}
