//! Weir's answers as plain data: diagnostics, decisions, rule traces, the
//! route table and simulated distributions, in the shapes `weir … --json`
//! prints and the JS API returns. One definition, so the CLI, the browser
//! and Node agree field for field; with the `ts` feature each shape also
//! gets its TypeScript declaration.

pub mod decision;
pub mod diagnostic;
pub mod locate;
pub mod request;
pub mod routes;
pub mod simulation;
pub mod trace;

pub use decision::DecisionReport;
pub use diagnostic::DiagnosticReport;
pub use request::{ConnectionInput, OwnedConnection, OwnedRequest, RequestInput};
pub use routes::RouteTable;
pub use simulation::Simulation;
pub use trace::Trace;
