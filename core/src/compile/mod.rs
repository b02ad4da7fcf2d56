//! (in progress)
/// Table placeholder.
#[derive(Debug)]
pub struct Table;
