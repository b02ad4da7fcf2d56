//! Colour on a terminal only: piped output (scripts, CI logs, `| grep`) stays plain text.

use std::fmt::Write;
use std::io::IsTerminal;
use weir_core::{Diagnostic, Severity};

/// When to colour, as `--color` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum When {
    /// Only when standard output is a terminal and `NO_COLOR` is not set (no-color.org).
    Auto,
    Always,
    Never,
}

impl When {
    /// Whether this run colours its output.
    pub fn enabled(self) -> bool {
        match self {
            When::Always => true,
            When::Never => false,
            When::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
            }
        }
    }
}

/// How `weir check` prints a diagnostic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// As `istioctl analyze` prints it, the field path added:
    /// `Error [IST0101] (VirtualService default/reviews bookinfo.yaml:12 spec.http[0].route[0].destination.host) Referenced host not found: "reviews"`.
    Istio,
    /// Compiler style, `file:line:column` first for editors that jump to it:
    /// `error[IST0101] bookinfo.yaml:12:9 VirtualService default/reviews spec.http[0]…: …`.
    Compact,
}

/// A diagnostic's line in `output` form, its severity coloured (red error,
/// yellow warning, cyan info).
pub fn diagnostic(d: &Diagnostic, output: Output, colour: bool) -> String {
    let (line, severity) = match output {
        Output::Istio => (istio_line(d), istio_level(d.severity)),
        Output::Compact => (d.to_string(), d.severity.as_str()),
    };
    if !colour {
        return line;
    }
    let code = match d.severity {
        Severity::Error => "1;31",
        Severity::Warning => "1;33",
        Severity::Info => "36",
    };
    match line.strip_prefix(severity) {
        Some(rest) => format!("\x1b[{code}m{severity}\x1b[0m{rest}"),
        None => line,
    }
}

/// Istio's level names (pkg/config/analysis/diag/level.go).
fn istio_level(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "Error",
        Severity::Warning => "Warning",
        Severity::Info => "Info",
    }
}

/// `Level [CODE] (Kind ns/name file:line field) message`, as istioctl's
/// `Message.String` builds it (pkg/config/analysis/diag/message.go: the
/// origin's friendly name, then its reference `file:line`), with the field
/// path Weir knows added inside the parentheses. A diagnostic about no
/// resource (a file that does not parse) names only its file.
fn istio_line(d: &Diagnostic) -> String {
    let mut origin = Vec::new();
    if !d.resource.kind.is_empty() {
        origin.push(d.resource.to_string());
    }
    if let Some(file) = &d.file {
        let mut reference = file.clone();
        if let Some(line) = d.line {
            let _ = write!(reference, ":{line}");
        }
        origin.push(reference);
    }
    if !d.field.is_empty() {
        origin.push(d.field.clone());
    }
    let mut out = format!("{} [{}]", istio_level(d.severity), d.code);
    if !origin.is_empty() {
        let _ = write!(out, " ({})", origin.join(" "));
    }
    let _ = write!(out, " {}", d.message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_core::diagnostic::ResourceRef;

    fn reviews(file: Option<&str>, line: Option<usize>) -> Diagnostic {
        let mut d = Diagnostic::new(
            "IST0101",
            Severity::Error,
            ResourceRef {
                kind: "VirtualService".into(),
                namespace: "default".into(),
                name: "reviews".into(),
            },
            "spec.http[0].route[0].destination.host",
            "Referenced host not found: \"reviews\"".into(),
        );
        d.file = file.map(str::to_string);
        d.line = line;
        d.column = line.map(|_| 9);
        d
    }

    #[test]
    fn lines_as_istioctl_analyze_prints_them() {
        let load_error = Diagnostic {
            line: Some(3),
            ..Diagnostic::load_error("WEIR0001", "<stdin>", "", "bad YAML".into())
        };
        let cases = [
            (
                reviews(Some("bookinfo.yaml"), Some(12)),
                Output::Istio,
                "Error [IST0101] (VirtualService default/reviews bookinfo.yaml:12 spec.http[0].route[0].destination.host) Referenced host not found: \"reviews\"",
            ),
            (
                reviews(None, None),
                Output::Istio,
                "Error [IST0101] (VirtualService default/reviews spec.http[0].route[0].destination.host) Referenced host not found: \"reviews\"",
            ),
            (
                load_error.clone(),
                Output::Istio,
                "Error [WEIR0001] (<stdin>:3) bad YAML",
            ),
            (
                reviews(Some("bookinfo.yaml"), Some(12)),
                Output::Compact,
                "error[IST0101] bookinfo.yaml:12:9 VirtualService default/reviews spec.http[0].route[0].destination.host: Referenced host not found: \"reviews\"",
            ),
        ];
        for (d, output, want) in cases {
            assert_eq!(diagnostic(&d, output, false), want);
        }
        let d = Diagnostic {
            severity: Severity::Warning,
            ..reviews(None, None)
        };
        assert!(
            diagnostic(&d, Output::Istio, true).starts_with("\x1b[1;33mWarning\x1b[0m [IST0101] (")
        );
    }
}
