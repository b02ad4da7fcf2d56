//! What compiling a validated config can fail with.

use crate::diagnostic::Diagnostic;
use std::fmt;

/// Why [`super::compile`] built no table. Validation runs first, so these
/// are limits (the budget) or a resource validation let through that cannot
/// be built: named, never silently left out of the table.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CompileError {
    /// The endpoint sets would take more than the compile budget (WEIR0011).
    OverBudget(Box<Diagnostic>),
    /// Something of a resource cannot be built (WEIR0012): the resource and
    /// field are in the diagnostic.
    Unbuildable(Box<Diagnostic>),
}

impl CompileError {
    /// The diagnostic that says why, for a [`crate::diagnostic::Rejected`].
    pub fn into_diagnostic(self) -> Diagnostic {
        match self {
            CompileError::OverBudget(d) | CompileError::Unbuildable(d) => *d,
        }
    }

    /// The diagnostic that says why.
    pub fn diagnostic(&self) -> &Diagnostic {
        match self {
            CompileError::OverBudget(d) | CompileError::Unbuildable(d) => d,
        }
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "config not compiled: {}", self.diagnostic())
    }
}

impl std::error::Error for CompileError {}
