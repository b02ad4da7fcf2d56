//! C ABI for Weir: `libweir` (static and shared) and `include/weir.h`.
//!
//! Conventions follow rustls-ffi (see `DESIGN.md`, "C ABI conventions"):
//! - symbols `weir_<noun>_<verb>`, types `weir_<noun>`, opaque handles;
//! - every function returns a [`weir_result`] (`OK = 0`, numbers never reused) and
//!   writes its outputs through out-pointers only on success;
//! - inputs are borrowed `ptr + len` UTF-8 (not NUL-terminated), never retained;
//!   `(NULL, 0)` is the empty string, `NULL` with a length is an error;
//! - every export runs inside the panic boundary ([`panic`]); pointers are
//!   checked in one place ([`cast`]); each C object has its own file.
//!
//! The hot path (`weir_engine_snapshot` → `weir_snapshot_decide` →
//! `weir_snapshot_free`) allocates nothing once the caller's `weir_decision`
//! is warm: the snapshot handle is the table's `Arc` itself and the decision
//! renders its strings into buffers it keeps.
#![allow(non_camel_case_types)]

pub mod access_log;
pub mod address;
mod cast;
pub mod decision;
pub mod diagnostics;
pub mod engine;
pub mod error;
pub mod feedback;
pub mod local_rate_limit;
mod panic;
pub mod request;
pub mod slice;
pub mod snapshot;
pub mod source;
pub mod stats;
pub mod telemetry;
pub mod view;

pub use access_log::*;
pub use address::*;
pub use decision::*;
pub use diagnostics::*;
pub use engine::*;
pub use error::*;
pub use feedback::*;
pub use local_rate_limit::*;
pub use request::*;
pub use slice::*;
pub use snapshot::*;
pub use source::*;
pub use stats::*;
pub use telemetry::*;
pub use view::*;

/// Writes the library version (`"0.1.0"`, the `weir-ffi` crate version) into `*out`.
///
/// The string is static: valid for the life of the process. Thread-safe.
///
/// # Safety
/// `out` must be NULL (an error) or point to writable memory for a `weir_str`.
#[no_mangle]
pub unsafe extern "C" fn weir_version(out: *mut weir_str) -> weir_result {
    panic::boundary(|| {
        let out = cast::try_out(out)?;
        *out = weir_str::from_static(env!("CARGO_PKG_VERSION"));
        Ok(())
    })
}
