//! Configuration errors that name where the problem is.

use std::fmt;
use std::path::PathBuf;

/// One problem in a configuration, with its position when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file (or `environment variable RAMPART_X`) the problem is in.
    pub origin: String,
    /// 1-based line, when the problem has a position in a file.
    pub line: Option<usize>,
    /// 1-based column.
    pub col: Option<usize>,
    /// What is wrong and what was expected.
    pub message: String,
    /// A suggestion, such as the key that was probably meant.
    pub help: Option<String>,
}

impl Problem {
    /// A problem without a position.
    pub fn new(origin: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            origin: origin.into(),
            line: None,
            col: None,
            message: message.into(),
            help: None,
        }
    }

    /// Sets the position from a byte offset into `text`.
    #[must_use]
    pub fn at_offset(mut self, text: &str, offset: usize) -> Self {
        let (line, col) = line_col(text, offset);
        self.line = Some(line);
        self.col = Some(col);
        self
    }

    /// Adds a suggestion.
    #[must_use]
    pub fn help(mut self, help: Option<String>) -> Self {
        self.help = help;
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.col {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": {}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, "; {help}")?;
        }
        Ok(())
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let mut start = offset;
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let before = &text[..start];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file was read but is not a valid configuration; every problem found is listed.
    #[error("{}", join(.0))]
    Invalid(Vec<Problem>),
}

impl ConfigError {
    /// The problems, for an invalid configuration.
    pub fn problems(&self) -> &[Problem] {
        match self {
            ConfigError::Invalid(p) => p,
            _ => &[],
        }
    }
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 9), (2, 3));
        assert_eq!(line_col(text, 999), (3, 1));
    }

    #[test]
    fn display_names_file_line_and_column() {
        let p = Problem::new("rampart.toml", "unknown key `listn`")
            .at_offset("[server]\nlistn = 1", 9)
            .help(Some("did you mean `listen`?".into()));
        assert_eq!(
            p.to_string(),
            "rampart.toml:2:1: unknown key `listn`; did you mean `listen`?"
        );
    }
}
