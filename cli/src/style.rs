//! Colour on a terminal only: piped output (scripts, CI logs, `| grep`) stays plain text.

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

/// A diagnostic's line, its severity coloured (red error, yellow warning, cyan info).
pub fn diagnostic(d: &Diagnostic, colour: bool) -> String {
    let line = d.to_string();
    if !colour {
        return line;
    }
    let code = match d.severity {
        Severity::Error => "1;31",
        Severity::Warning => "1;33",
        Severity::Info => "36",
    };
    let severity = d.severity.as_str();
    match line.strip_prefix(severity) {
        Some(rest) => format!("\x1b[{code}m{severity}\x1b[0m{rest}"),
        None => line,
    }
}
