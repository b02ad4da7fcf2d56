//! Diagnostics as data.

use serde::Serialize;
use weir_core::Diagnostic;

/// The resource a diagnostic is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct ResourceReport {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

/// One diagnostic: what `weir check --json` prints for each.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(tsify::Tsify))]
pub struct DiagnosticReport {
    /// `IST0101`, `WEIR0001`, …
    pub code: String,
    /// `error`, `warning` or `info`.
    pub severity: String,
    /// `null` for a file that could not be parsed.
    pub resource: Option<ResourceReport>,
    /// Field path, e.g. `spec.http[0].match[0].uri.regex`.
    pub field: String,
    pub message: String,
    pub file: Option<String>,
    /// 1-based line in `file` (syntax errors, and resources found by
    /// [`crate::locate`]).
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl DiagnosticReport {
    pub fn new(d: &Diagnostic) -> Self {
        DiagnosticReport {
            code: d.code.to_string(),
            severity: d.severity.as_str().to_string(),
            resource: (!d.resource.kind.is_empty()).then(|| ResourceReport {
                kind: d.resource.kind.to_string(),
                namespace: d.resource.namespace.to_string(),
                name: d.resource.name.to_string(),
            }),
            field: d.field.clone(),
            message: d.message.clone(),
            file: d.file.clone(),
            line: d.line,
            column: d.column,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == "error"
    }
}

/// Every diagnostic of `list` as a report, located in `sources` (file name,
/// text) by the resources' `origins` where it has no line yet.
pub fn located(
    list: &[Diagnostic],
    origins: &crate::locate::Origins,
    sources: &[(&str, &str)],
) -> Vec<DiagnosticReport> {
    let mut list = list.to_vec();
    crate::locate::locate_diagnostics(&mut list, origins, sources);
    list.iter().map(DiagnosticReport::new).collect()
}
