//! What every build phase reports: a [`Diagnostic`] (code, severity,
//! resource, field, message) and [`Rejected`], the error of a config that
//! was refused. The lowest layer of the build phase: loading, validation
//! and compilation all report through it, and it depends on none of them.

use std::fmt;

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// Rejects the whole config.
    Error,
    /// Reported; the config still applies.
    Warning,
    /// For information.
    Info,
}

impl Severity {
    /// `error`, `warning` or `info`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }
}

/// `kind namespace/name` of the resource a diagnostic is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ResourceRef {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// One problem found in a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// `IST0101`, `KIA1104`, `WEIR0001`, …
    pub code: &'static str,
    pub severity: Severity,
    /// The resource (empty for a file that could not be parsed).
    pub resource: ResourceRef,
    /// Field path, e.g. `spec.http[0].match[0].uri.regex`.
    pub field: String,
    /// What is wrong, for a person.
    pub message: String,
    /// Input file, when known.
    pub file: Option<String>,
    /// 1-based line and column for syntax errors.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// Istio's severity for this code where Weir keeps another on purpose
    /// (an unknown host is a warning: endpoints may arrive at run time).
    pub istio_severity: Option<Severity>,
}

impl Diagnostic {
    /// A diagnostic about `resource`.
    pub fn new(
        code: &'static str,
        severity: Severity,
        resource: ResourceRef,
        field: &str,
        message: String,
    ) -> Self {
        Diagnostic {
            code,
            severity,
            resource,
            field: field.to_string(),
            message,
            file: None,
            line: None,
            column: None,
            istio_severity: None,
        }
    }

    /// This diagnostic, noting that `istioctl analyze` gives it `severity`.
    pub fn with_istio_severity(mut self, severity: Severity) -> Self {
        self.istio_severity = Some(severity);
        self
    }

    /// The severity `istioctl analyze` gives it (`weir check --istio-severity`).
    pub fn istio_severity(&self) -> Severity {
        self.istio_severity.unwrap_or(self.severity)
    }

    /// An error about input `file` that could not be read as resources.
    pub fn load_error(code: &'static str, file: &str, field: &str, message: String) -> Self {
        let mut d = Diagnostic::new(
            code,
            Severity::Error,
            ResourceRef::default(),
            field,
            message,
        );
        d.file = Some(file.to_string());
        d
    }

    /// True for errors.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}[{}]", self.severity.as_str(), self.code)?;
        if let Some(file) = &self.file {
            write!(f, " {file}")?;
            if let (Some(l), Some(c)) = (self.line, self.column) {
                write!(f, ":{l}:{c}")?;
            }
        }
        if !self.resource.kind.is_empty() {
            write!(f, " {}", self.resource)?;
        }
        if !self.field.is_empty() {
            write!(f, " {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// True when any diagnostic is an error.
pub fn has_errors(diagnostics: &[Diagnostic]) -> bool {
    diagnostics.iter().any(Diagnostic::is_error)
}

/// A config that was refused, by validation (it has errors) or by
/// compilation (it would exceed the compile budget): nothing changed and
/// the previous table keeps serving.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Rejected {
    /// Every problem found (errors and warnings).
    pub diagnostics: Vec<Diagnostic>,
}

impl Rejected {
    /// A refusal carrying `diagnostics`.
    pub fn new(diagnostics: Vec<Diagnostic>) -> Self {
        Rejected { diagnostics }
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let errors: Vec<_> = self.diagnostics.iter().filter(|d| d.is_error()).collect();
        write!(f, "config rejected with {} error(s)", errors.len())?;
        for d in errors {
            write!(f, "\n  {d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Rejected {}
