//! `weir_diagnostics`: every problem `weir_engine_apply` found.

use crate::cast;
use crate::error::weir_result;
use crate::panic;
use crate::slice::weir_str;
use weir_core::{Diagnostic, Severity};

/// A list of diagnostics, filled by `weir_engine_apply`.
///
/// Thread safety: not synchronised; use one per applying thread (or lock).
#[derive(Debug, Default)]
pub struct weir_diagnostics {
    list: Vec<Diagnostic>,
}

impl weir_diagnostics {
    pub(crate) fn replace(&mut self, list: Vec<Diagnostic>) {
        self.list = list;
    }
}

/// How bad a problem is.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum weir_severity {
    /// Rejects the whole config.
    Error = 0,
    /// Reported; the config still applies.
    Warning = 1,
    /// For information.
    Info = 2,
}

/// One diagnostic. Strings borrow the `weir_diagnostics` object: valid until
/// it is next filled by `weir_engine_apply` or freed.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct weir_diagnostic {
    /// `IST0101`, `KIA1104`, `WEIR0001`, … (static).
    pub code: weir_str,
    /// Error, warning or info.
    pub severity: weir_severity,
    /// The resource's kind (`VirtualService`, …); empty for an unparsable file.
    pub resource_kind: weir_str,
    /// The resource's namespace.
    pub resource_namespace: weir_str,
    /// The resource's name.
    pub resource_name: weir_str,
    /// Field path, e.g. `spec.http[0].match[0].uri.regex`.
    pub field: weir_str,
    /// What is wrong, for a person.
    pub message: weir_str,
    /// The input's name as given to `weir_engine_apply` (may be empty).
    pub file: weir_str,
    /// 1-based line of a syntax error; 0 when unknown.
    pub line: usize,
    /// 1-based column of a syntax error; 0 when unknown.
    pub column: usize,
}

/// Creates an empty diagnostics list and writes it to `*out`. Free it with
/// `weir_diagnostics_free`.
///
/// # Safety
/// `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_diagnostics_new(out: *mut *mut weir_diagnostics) -> weir_result {
    panic::boundary(|| {
        let out = cast::try_out(out)?;
        *out = cast::new_handle(weir_diagnostics::default());
        Ok(())
    })
}

/// Frees a diagnostics list. NULL is a no-op; freeing twice gives
/// `WEIR_RESULT_INVALID_HANDLE`.
///
/// # Safety
/// `diagnostics` NULL or from `weir_diagnostics_new`, not in use elsewhere.
#[no_mangle]
pub unsafe extern "C" fn weir_diagnostics_free(diagnostics: *mut weir_diagnostics) -> weir_result {
    panic::boundary(|| cast::free_handle(diagnostics))
}

/// Writes the number of diagnostics to `*out`.
///
/// # Safety
/// `diagnostics` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_diagnostics_count(
    diagnostics: *const weir_diagnostics,
    out: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(diagnostics)?;
        let out = cast::try_out(out)?;
        *out = d.list.len();
        Ok(())
    })
}

/// Writes the number of error-severity diagnostics to `*out`.
///
/// # Safety
/// `diagnostics` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_diagnostics_error_count(
    diagnostics: *const weir_diagnostics,
    out: *mut usize,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(diagnostics)?;
        let out = cast::try_out(out)?;
        *out = d.list.iter().filter(|d| d.is_error()).count();
        Ok(())
    })
}

/// Writes diagnostic `index` (0-based) to `*out`; `WEIR_RESULT_INDEX_OUT_OF_RANGE`
/// past the end. The strings borrow `diagnostics` (see `weir_diagnostic`).
///
/// # Safety
/// `diagnostics` live; `out` writable.
#[no_mangle]
pub unsafe extern "C" fn weir_diagnostics_get(
    diagnostics: *const weir_diagnostics,
    index: usize,
    out: *mut weir_diagnostic,
) -> weir_result {
    panic::boundary(|| {
        let d = cast::try_ref(diagnostics)?;
        let out = cast::try_out(out)?;
        let diag = d.list.get(index).ok_or(weir_result::IndexOutOfRange)?;
        *out = weir_diagnostic {
            code: weir_str::new(diag.code),
            severity: match diag.severity {
                Severity::Error => weir_severity::Error,
                Severity::Warning => weir_severity::Warning,
                Severity::Info => weir_severity::Info,
            },
            resource_kind: weir_str::new(&diag.resource.kind),
            resource_namespace: weir_str::new(&diag.resource.namespace),
            resource_name: weir_str::new(&diag.resource.name),
            field: weir_str::new(&diag.field),
            message: weir_str::new(&diag.message),
            file: weir_str::new(diag.file.as_deref().unwrap_or("")),
            line: diag.line.unwrap_or(0),
            column: diag.column.unwrap_or(0),
        };
        Ok(())
    })
}
