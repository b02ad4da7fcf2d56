//! The panic boundary: every export runs its body through [`boundary`], so a
//! panic becomes `WEIR_RESULT_PANIC` instead of unwinding into C (which is
//! undefined behaviour). Native builds keep `panic = "unwind"` for this.

use crate::error::weir_result;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `f`, turning `Err(code)` into `code` and a panic into `Panic`.
///
/// `AssertUnwindSafe` is sound here: after a panic the only state a caller can
/// observe is behind handles whose invariants hold between statements (the
/// engine's writer lock recovers from poisoning; decisions are refilled on the
/// next call).
#[inline(always)]
pub(crate) fn boundary<F>(f: F) -> weir_result
where
    F: FnOnce() -> Result<(), weir_result>,
{
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => weir_result::Ok,
        Ok(Err(code)) => code,
        Err(_) => weir_result::Panic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body run inside the boundary and the code it must come out as.
    type Case = (fn() -> Result<(), weir_result>, weir_result);

    #[test]
    fn panics_become_a_result_code() {
        let cases: [Case; 3] = [
            (|| Ok(()), weir_result::Ok),
            (|| Err(weir_result::InvalidUtf8), weir_result::InvalidUtf8),
            (|| panic!("bug"), weir_result::Panic),
        ];
        for (f, want) in cases {
            assert_eq!(boundary(f), want);
        }
    }
}
