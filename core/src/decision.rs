//! (in progress)
/// Placeholder.
#[derive(Debug)]
pub struct Decision;
/// Placeholder.
#[derive(Debug)]
pub enum Outcome {}
