//! Rendering a [`Report`]: text for people, JSON per the contract, SARIF 2.1.0 for code
//! scanning, Markdown for pull requests and job summaries.
//!
//! Findings are data; this module only prints them (ripgrep keeps its searcher apart from its
//! printer the same way). Every format prints evidence as the finding carries it, already
//! redacted.
//!
//! ```
//! use rampart_check::finding::{Finding, Report};
//! use rampart_check::report::{render, Format};
//! use rampart_core::Severity;
//!
//! let report = Report::new("scan", vec![Finding::new("x", Severity::High, "m").at("a.txt", Some(1))]);
//! let mut out = Vec::new();
//! render(&report, Format::Json, &mut out)?;
//! assert!(String::from_utf8(out).unwrap().contains("\"command\": \"scan\""));
//! Ok::<_, std::io::Error>(())
//! ```

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use crate::finding::Report;

mod json;
mod markdown;
mod sarif;
mod text;

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// Grouped by file, for a terminal (colored when [`Options::color`] is set).
    #[default]
    Text,
    /// One JSON document in the contract's shape.
    Json,
    /// SARIF 2.1.0, as GitHub code scanning accepts it.
    Sarif,
    /// A Markdown table, for pull-request comments and CI job summaries.
    Markdown,
}

impl Format {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [Format; 4] = [Format::Text, Format::Json, Format::Sarif, Format::Markdown];

    /// The name used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Sarif => "sarif",
            Format::Markdown => "markdown",
        }
    }

    /// Whether the format is a machine-readable document (stdout must then hold only it).
    pub fn is_machine(self) -> bool {
        matches!(self, Format::Json | Format::Sarif)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a format name that is not one of [`Format::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown format {0:?}, expected one of text, json, sarif, markdown")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(Format::Text),
            "json" => Ok(Format::Json),
            "sarif" => Ok(Format::Sarif),
            "markdown" | "md" => Ok(Format::Markdown),
            _ => Err(UnknownFormat(s.to_string())),
        }
    }
}

/// How to render, beyond the format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// ANSI colors in text output (callers decide: a terminal, `--color`, `NO_COLOR`).
    pub color: bool,
    /// The version reported as the SARIF tool driver's.
    pub tool_version: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            color: false,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// Renders `report` in `format` without colors.
pub fn render(report: &Report, format: Format, out: &mut impl Write) -> io::Result<()> {
    render_with(report, format, &Options::default(), out)
}

/// Renders `report` in `format` with `options`.
pub fn render_with(
    report: &Report,
    format: Format,
    options: &Options,
    out: &mut impl Write,
) -> io::Result<()> {
    match format {
        Format::Text => text::render(report, options.color, out),
        Format::Json => json::render(report, out),
        Format::Sarif => sarif::render(report, &options.tool_version, out),
        Format::Markdown => markdown::render(report, out),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::finding::Finding;
    use rampart_core::Severity;

    /// A report with one finding of each severity, one without a file.
    pub(crate) fn sample() -> Report {
        Report::new(
            "scan",
            vec![
                Finding::new(
                    "stripe_secret_key",
                    Severity::Critical,
                    "Stripe live secret key",
                )
                .at("src/pay.ts", Some(12))
                .evidence("sk_live_51Hq…"),
                Finding::new("generic_secret", Severity::Medium, "secret-looking value")
                    .at("src/pay.ts", Some(40))
                    .evidence("Zm9v…"),
                Finding::new("jwt", Severity::Low, "a JSON Web Token")
                    .at("docs/a|b.md", Some(3))
                    .evidence("eyJh…"),
                Finding::new("missing_required", Severity::High, "CSRF_SECRET is not set")
                    .variable("CSRF_SECRET"),
            ],
        )
    }

    pub(crate) fn rendered(format: Format, color: bool) -> String {
        let mut out = Vec::new();
        let options = Options {
            color,
            ..Options::default()
        };
        render_with(&sample(), format, &options, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats_parse_and_print_their_names() {
        for f in Format::ALL {
            assert_eq!(f.as_str().parse::<Format>().unwrap(), f);
        }
        assert_eq!("MD".parse::<Format>().unwrap(), Format::Markdown);
        assert!("xml".parse::<Format>().is_err());
        assert!(Format::Sarif.is_machine() && !Format::Markdown.is_machine());
    }

    #[test]
    fn every_format_renders_every_finding() {
        for f in Format::ALL {
            let s = rendered(f, false);
            for rule in [
                "stripe_secret_key",
                "generic_secret",
                "jwt",
                "missing_required",
            ] {
                assert!(s.contains(rule), "{f}: {rule} missing in\n{s}");
            }
            assert!(s.contains("sk_live_51Hq…"), "{f}: evidence missing");
        }
    }
}
