//! Findings: the one shape every check reports in.
//!
//! JSON (the contract): `{"command", "findings": [{"rule", "severity", "message", "file"?,
//! "line"?, "variable"?, "package"?, "version"?, "advisory"?, "evidence"?}], "summary": {...}}`.

use std::collections::BTreeMap;

use rampart_core::Severity;
use serde::{Deserialize, Serialize};

/// One problem found by a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule id (`missing_required`, `stripe_secret_key`, ...).
    pub rule: String,
    /// How bad it is.
    pub severity: Severity,
    /// A sentence for people.
    pub message: String,
    /// The file, relative to the scanned root, with `/` separators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// 1-based line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// 1-based column, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// The environment variable concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variable: Option<String>,
    /// The dependency concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// Its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The advisory id (OSV/GHSA/RUSTSEC/CVE).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advisory: Option<String>,
    /// What was matched, redacted: never a whole secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
    /// Extra machine-readable detail (commit for history findings, fixed versions, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Finding {
    /// A finding of `rule` with a message; locate it with the builder methods.
    pub fn new(rule: impl Into<String>, severity: Severity, message: impl Into<String>) -> Self {
        Finding {
            rule: rule.into(),
            severity,
            message: message.into(),
            file: None,
            line: None,
            column: None,
            variable: None,
            package: None,
            version: None,
            advisory: None,
            evidence: None,
            extra: BTreeMap::new(),
        }
    }

    /// Sets the file (relative, `/`-separated) and 1-based line.
    #[must_use]
    pub fn at(mut self, file: impl Into<String>, line: Option<usize>) -> Self {
        self.file = Some(file.into());
        self.line = line;
        self
    }

    /// Sets the variable.
    #[must_use]
    pub fn variable(mut self, name: impl Into<String>) -> Self {
        self.variable = Some(name.into());
        self
    }

    /// Sets redacted evidence. Callers pass already-redacted text
    /// (see [`rampart_core::redact::redact_secret`]).
    #[must_use]
    pub fn evidence(mut self, redacted: impl Into<String>) -> Self {
        self.evidence = Some(redacted.into());
        self
    }

    /// Adds an extra field.
    #[must_use]
    pub fn extra(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }
}

/// The result of one command: what every output format renders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The command that produced it (`scan`, `env`, `audit`, ...).
    pub command: String,
    /// Everything found, in a stable order.
    pub findings: Vec<Finding>,
    /// Counts and command-specific totals.
    pub summary: serde_json::Map<String, serde_json::Value>,
}

impl Report {
    /// A report with a summary of counts per severity plus `total`; add command-specific
    /// totals to `summary` afterwards.
    pub fn new(command: impl Into<String>, mut findings: Vec<Finding>) -> Self {
        findings.sort_by(|a, b| {
            (&a.file, a.line, &a.rule, &a.variable).cmp(&(&b.file, b.line, &b.rule, &b.variable))
        });
        let mut summary = serde_json::Map::new();
        summary.insert("total".into(), findings.len().into());
        for sev in [
            Severity::Critical,
            Severity::High,
            Severity::Medium,
            Severity::Low,
        ] {
            let n = findings.iter().filter(|f| f.severity == sev).count();
            summary.insert(sev.as_str().into(), n.into());
        }
        Report {
            command: command.into(),
            findings,
            summary,
        }
    }

    /// Whether any finding is at or above `threshold` (exit code 1).
    pub fn fails(&self, threshold: Severity) -> bool {
        self.findings.iter().any(|f| f.severity >= threshold)
    }

    /// The report as one JSON document.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_the_contract_shape() {
        let f = Finding::new("missing_required", Severity::High, "CSRF_SECRET is not set")
            .at(".env.production", Some(3))
            .variable("CSRF_SECRET");
        let r = Report::new("env", vec![f]);
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["command"], "env");
        assert_eq!(v["findings"][0]["rule"], "missing_required");
        assert_eq!(v["findings"][0]["severity"], "high");
        assert_eq!(v["findings"][0]["file"], ".env.production");
        assert_eq!(v["findings"][0]["line"], 3);
        assert_eq!(v["findings"][0]["variable"], "CSRF_SECRET");
        assert!(v["findings"][0].get("package").is_none());
        assert_eq!(v["summary"]["total"], 1);
        assert_eq!(v["summary"]["high"], 1);
    }

    #[test]
    fn threshold_decides_failure() {
        let r = Report::new("scan", vec![Finding::new("x", Severity::Medium, "m")]);
        assert!(r.fails(Severity::Medium));
        assert!(!r.fails(Severity::High));
        assert!(!Report::new("scan", vec![]).fails(Severity::Low));
    }
}
