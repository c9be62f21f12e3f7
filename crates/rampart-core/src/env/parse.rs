//! The `.env` file format, as dotenv and Next.js read it.
//!
//! `KEY=value` (or `KEY: value`), optional `export ` prefix, `#` comments on their own line or
//! after whitespace, values single-quoted (literal), double-quoted (`\n`, `\r`, `\t`, `\"`,
//! `\\` escapes) or back-quoted, quoted values may span lines. `${VAR}` interpolation is left
//! literal: Rampart checks what is written, not what a loader would expand it to.
//!
//! A malformed line is an error with its 1-based number and parsing goes on with the next
//! line, so one typo does not hide every later variable.

use std::fmt;

/// One `KEY=value` assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The variable name.
    pub key: String,
    /// The value, unquoted and unescaped.
    pub value: String,
    /// The 1-based line the assignment starts on.
    pub line: usize,
}

/// A line that is not a valid assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// A parsed `.env` file: every assignment in order (duplicates kept) and every bad line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvFile {
    /// Assignments, in file order; a key set twice appears twice.
    pub entries: Vec<Entry>,
    /// Lines that could not be parsed, skipped.
    pub errors: Vec<LineError>,
}

impl EnvFile {
    /// The value a loader would use for `key`: the last assignment wins, as in dotenv.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    }

    /// The last assignment of `key`.
    pub fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }
}

/// Whether `name` is a valid variable name: `[A-Za-z_][A-Za-z0-9_.-]*` (dotenv accepts `.` and `-`).
pub fn is_valid_key(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Parses `.env` text. Never fails: bad lines land in [`EnvFile::errors`].
pub fn parse(text: &str) -> EnvFile {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = EnvFile::default();
    let mut i = 0;
    while i < lines.len() {
        let line_no = i + 1;
        let line = lines[i].strip_suffix('\r').unwrap_or(lines[i]);
        i += 1;
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let rest = trimmed
            .strip_prefix("export")
            .filter(|r| r.starts_with([' ', '\t']))
            .map_or(trimmed, str::trim_start);
        let Some((key, after)) = split_key(rest) else {
            out.errors.push(LineError {
                line: line_no,
                message: if rest.contains('=') {
                    format!("invalid variable name {:?}", shown_key(rest))
                } else {
                    "expected KEY=value".to_string()
                },
            });
            continue;
        };
        let value = after.trim_start_matches([' ', '\t']);
        match value.chars().next() {
            Some(q @ ('"' | '\'' | '`')) => {
                match quoted(&value[1..], q, &lines, &mut i) {
                    Ok((v, tail)) => {
                        let tail = tail.trim();
                        if !tail.is_empty() && !tail.starts_with('#') {
                            out.errors.push(LineError {
                                line: i,
                                message: format!(
                                    "unexpected text after the closing quote of {key}"
                                ),
                            });
                            continue;
                        }
                        out.entries.push(Entry {
                            key: key.to_string(),
                            value: v,
                            line: line_no,
                        });
                    }
                    Err(()) => {
                        // Unterminated: report the opening line, then read on after it, so a
                        // stray quote costs one variable, not the rest of the file.
                        out.errors.push(LineError {
                            line: line_no,
                            message: format!("unterminated {q} quote in the value of {key}"),
                        });
                        i = line_no;
                    }
                }
            }
            _ => out.entries.push(Entry {
                key: key.to_string(),
                value: unquoted(value),
                line: line_no,
            }),
        }
    }
    out
}

/// `KEY=` or `KEY:` → (key, text after the separator).
fn split_key(s: &str) -> Option<(&str, &str)> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
        .unwrap_or(s.len());
    let key = &s[..end];
    if !is_valid_key(key) {
        return None;
    }
    let rest = s[end..].trim_start_matches([' ', '\t']);
    if let Some(v) = rest.strip_prefix('=') {
        Some((key, v))
    } else if let Some(v) = rest.strip_prefix(':') {
        // YAML-style `KEY: value` needs the space, as in dotenv.
        (v.is_empty() || v.starts_with([' ', '\t'])).then_some((key, v))
    } else {
        None
    }
}

fn shown_key(s: &str) -> String {
    crate::redact::cap(s.split('=').next().unwrap_or("").trim(), 40)
}

/// An unquoted value ends at a `#` that follows whitespace; surrounding whitespace is trimmed.
fn unquoted(v: &str) -> String {
    let mut end = v.len();
    let bytes = v.as_bytes();
    for (idx, &b) in bytes.iter().enumerate() {
        if b == b'#' && (idx == 0 || bytes[idx - 1] == b' ' || bytes[idx - 1] == b'\t') {
            end = idx;
            break;
        }
    }
    v[..end].trim().to_string()
}

/// Reads a quoted value starting after the opening quote, continuing onto later lines
/// (advancing `*next`) until the closing quote. Returns the value and what follows the quote.
fn quoted<'a>(
    first: &'a str,
    q: char,
    lines: &[&'a str],
    next: &mut usize,
) -> Result<(String, &'a str), ()> {
    let mut value = String::new();
    let mut current: &'a str = first;
    loop {
        let mut chars = current.char_indices();
        while let Some((idx, c)) = chars.next() {
            if c == q {
                return Ok((value, &current[idx + 1..]));
            }
            if c == '\\' && q == '"' {
                match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, 'r')) => value.push('\r'),
                    Some((_, 't')) => value.push('\t'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, other)) => {
                        value.push('\\');
                        value.push(other);
                    }
                    None => value.push('\\'),
                }
            } else if c == '\\' && current[idx + 1..].starts_with(q) {
                // An escaped closing quote inside single or back quotes stays literal text.
                value.push(q);
                chars.next();
            } else {
                value.push(c);
            }
        }
        let Some(line) = lines.get(*next) else {
            return Err(());
        };
        *next += 1;
        value.push('\n');
        current = line.strip_suffix('\r').unwrap_or(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(f: &EnvFile) -> Vec<(&str, &str, usize)> {
        f.entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str(), e.line))
            .collect()
    }

    #[test]
    fn plain_quoted_exported_and_commented() {
        let f = parse(
            "# comment\nA=1\nexport B = two words  # trailing\nC='single # not a comment'\nD=\"x\\ny\"\n\nE=\nF: yaml\nG=a#b\n",
        );
        assert_eq!(f.errors, vec![]);
        assert_eq!(
            kv(&f),
            vec![
                ("A", "1", 2),
                ("B", "two words", 3),
                ("C", "single # not a comment", 4),
                ("D", "x\ny", 5),
                ("E", "", 7),
                ("F", "yaml", 8),
                ("G", "a#b", 9),
            ]
        );
    }

    #[test]
    fn multi_line_values_keep_their_start_line() {
        let text = "KEY=\"-----BEGIN X-----\nabc\n-----END X-----\"\nNEXT=1\r\nS='a\nb'\n";
        let f = parse(text);
        assert_eq!(f.errors, vec![]);
        assert_eq!(
            kv(&f),
            vec![
                ("KEY", "-----BEGIN X-----\nabc\n-----END X-----", 1),
                ("NEXT", "1", 4),
                ("S", "a\nb", 5)
            ]
        );
    }

    #[test]
    fn interpolation_is_left_literal() {
        let f = parse("A=${B}\nC=\"$HOME/x\"\n");
        assert_eq!(f.get("A"), Some("${B}"));
        assert_eq!(f.get("C"), Some("$HOME/x"));
    }

    #[test]
    fn malformed_lines_are_reported_and_skipped() {
        let f = parse("GOOD=1\njust text\n1BAD=2\nQ=\"open\nLATER=3\nT='x' y\nexport\n");
        assert_eq!(
            f.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            vec![2, 3, 4, 6, 7]
        );
        assert!(f.errors[1].message.contains("invalid variable name"));
        assert!(f.errors[2].message.contains("unterminated"));
        assert_eq!(kv(&f), vec![("GOOD", "1", 1), ("LATER", "3", 5)]);
    }

    #[test]
    fn last_assignment_wins() {
        let f = parse("A=1\nA=2\n");
        assert_eq!(f.get("A"), Some("2"));
        assert_eq!(f.entry("A").unwrap().line, 2);
        assert_eq!(f.entries.len(), 2);
    }

    #[test]
    fn hostile_input_never_panics() {
        for text in [
            "\"",
            "A=\"\\",
            "A='",
            "=",
            "A=\u{feff}",
            "\u{feff}A=1",
            "A=\"é\\é\"",
        ] {
            let _ = parse(text);
        }
        assert_eq!(parse("\u{feff}A=1").get("A"), Some("1"));
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_without_panic(s in "\\PC{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn simple_values_round_trip(k in "[A-Z_][A-Z0-9_]{0,20}", v in "[A-Za-z0-9_./:+-]{0,40}") {
            let f = parse(&format!("{k}={v}\n"));
            proptest::prop_assert_eq!(f.get(&k), Some(v.as_str()));
            let f = parse(&format!("{k}=\"{v}\"\n"));
            proptest::prop_assert_eq!(f.get(&k), Some(v.as_str()));
        }
    }
}
