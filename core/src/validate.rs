//! (in progress)
/// Severity placeholder.
#[derive(Debug)]
pub enum Severity { Error }
/// Diagnostic placeholder.
#[derive(Debug)]
pub struct Diagnostic;
