//! (in progress)
/// Placeholder.
#[derive(Debug)]
pub struct Engine;
