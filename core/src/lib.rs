//! Weir's engine: Istio networking config in, routing decisions out.
//!
//! Two phases, always apart:
//! - **build**: [`config`] loads the resources users `kubectl apply`, [`validate`]
//!   reports every problem at once, [`compile`] turns a valid config into an
//!   immutable [`Table`];
//! - **decide**: [`Table::decide`] takes a borrowed [`Request`] and returns a
//!   [`Decision`] borrowing the table, with no allocation.
//!
//! [`Engine`] publishes tables with arc-swap so readers never block.

// The C ABI's casts live in ffi; the engine itself needs none.
#![forbid(unsafe_code)]

pub mod balance;
pub mod compile;
pub mod config;
pub mod decision;
pub mod diagnostic;
pub mod engine;
#[doc(hidden)]
pub mod fuzzing;
pub mod request;
pub mod route;
pub mod table;
pub mod telemetry;
pub mod validate;

pub use decision::{Decision, Outcome};
pub use diagnostic::{Diagnostic, Rejected, Severity};
pub use engine::Engine;
pub use request::{Connection, HeaderList, Headers, Request, Source};
pub use table::Table;
