//! Baselines: findings a team has accepted, so that CI fails only on new ones.
//!
//! A baseline is JSON: `{"version": 1, "findings": [{"rule", "file", "line", "fingerprint"}]}`.
//! A finding matches an entry with the same rule, file and fingerprint (a SHA-256 of the rule
//! and the secret, never the secret): moving the line does not make it new, a different
//! secret in the same place does.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Error, ScanFinding};

/// The format version written and understood.
pub const BASELINE_VERSION: u32 = 1;

/// One accepted finding.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// Rule id.
    pub rule: String,
    /// File, relative to the scanned root.
    pub file: String,
    /// Line when the baseline was written (informative; not used to match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Commit, for a finding in history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// SHA-256 of the rule and the secret.
    pub fingerprint: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct File {
    version: u32,
    #[serde(default)]
    findings: Vec<Entry>,
}

/// A loaded baseline.
#[derive(Debug, Clone, Default)]
pub struct Baseline {
    keys: HashSet<(String, String, String)>,
}

impl Baseline {
    /// Reads a baseline file.
    pub fn load(path: &Path) -> Result<Baseline, Error> {
        let err = |message: String| Error::Baseline {
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        let file: File = serde_json::from_str(&text)
            .map_err(|e| err(format!("line {}:{}: {e}", e.line(), e.column())))?;
        if file.version != BASELINE_VERSION {
            return Err(err(format!(
                "version {} is not supported (expected {BASELINE_VERSION})",
                file.version
            )));
        }
        Ok(Baseline {
            keys: file
                .findings
                .into_iter()
                .map(|e| (e.rule, e.file, e.fingerprint))
                .collect(),
        })
    }

    /// Whether `f` is accepted.
    pub fn contains(&self, f: &ScanFinding) -> bool {
        self.keys.contains(&(
            f.finding.rule.clone(),
            f.finding.file.clone().unwrap_or_default(),
            f.fingerprint.clone(),
        ))
    }

    /// How many entries it holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Writes `findings` as a baseline to `path`.
pub fn write(path: &Path, findings: &[ScanFinding]) -> Result<(), Error> {
    let file = File {
        version: BASELINE_VERSION,
        findings: findings
            .iter()
            .map(|f| Entry {
                rule: f.finding.rule.clone(),
                file: f.finding.file.clone().unwrap_or_default(),
                line: f.finding.line,
                commit: f
                    .finding
                    .extra
                    .get("commit")
                    .and_then(|c| c.as_str())
                    .map(str::to_string),
                fingerprint: f.fingerprint.clone(),
            })
            .collect(),
    };
    let mut text = serde_json::to_string_pretty(&file).map_err(|e| Error::Baseline {
        path: PathBuf::from(path),
        message: e.to_string(),
    })?;
    text.push('\n');
    std::fs::write(path, text).map_err(|e| Error::Baseline {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
