//! SARIF 2.1.0, in the subset GitHub code scanning reads: one run, the tool's rules with a
//! `security-severity`, results with a physical location relative to `%SRCROOT%` and a
//! partial fingerprint so that alerts follow code that moves.

use std::collections::BTreeMap;
use std::io::{self, Write};

use rampart_core::Severity;
use serde_json::{Value, json};

use crate::finding::{Finding, Report};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Where findings without a file are attributed in SARIF.
const FALLBACK_URI: &str = "rampart.toml";

/// SARIF `level` for a severity.
fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low => "note",
    }
}

/// GitHub's `security-severity` (0-10): above 9 critical, 7-8.9 high, 4-6.9 medium.
fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "2.0",
    }
}

/// FNV-1a over the finding's identity (rule, file, redacted evidence, variable, package):
/// stable across line moves, never derived from a whole secret.
fn fingerprint(f: &Finding) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [
        Some(f.rule.as_str()),
        f.file.as_deref(),
        f.evidence.as_deref(),
        f.variable.as_deref(),
        f.package.as_deref(),
        f.advisory.as_deref(),
    ] {
        for b in part.unwrap_or("").bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

pub(super) fn render(report: &Report, version: &str, out: &mut impl Write) -> io::Result<()> {
    // One rule entry per rule id, at the worst severity seen for it.
    let mut rules: BTreeMap<&str, (&Finding, Severity)> = BTreeMap::new();
    for f in &report.findings {
        let e = rules.entry(f.rule.as_str()).or_insert((f, f.severity));
        e.1 = e.1.max(f.severity);
    }
    let index: BTreeMap<&str, usize> = rules.keys().enumerate().map(|(i, k)| (*k, i)).collect();
    let rule_docs: Vec<Value> = rules
        .iter()
        .map(|(id, (f, sev))| {
            json!({
                "id": id,
                "name": id,
                "shortDescription": {"text": f.message},
                "defaultConfiguration": {"level": level(*sev)},
                "properties": {
                    "security-severity": security_severity(*sev),
                    "tags": ["security", report.command],
                },
            })
        })
        .collect();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| result(f, index[f.rule.as_str()]))
        .collect();
    let doc = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "rampart",
                "informationUri": "https://example.invalid/rampart",
                "version": version,
                "semanticVersion": version,
                "rules": rule_docs,
            }},
            "automationDetails": {"id": format!("rampart/{}/", report.command)},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

fn result(f: &Finding, rule_index: usize) -> Value {
    let mut text = f.message.clone();
    if let Some(e) = &f.evidence {
        text.push_str(&format!(" ({e})"));
    }
    if let Some(Value::String(c)) = f.extra.get("commit") {
        text.push_str(&format!(" in commit {c}"));
    }
    let mut r = json!({
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": {"text": text},
        "partialFingerprints": {"rampartFindingHash/v1": fingerprint(f)},
    });
    if let Some(file) = &f.file {
        let mut physical = json!({
            "artifactLocation": {"uri": uri(file), "uriBaseId": "%SRCROOT%"},
        });
        if let Some(line) = f.line {
            let mut region = json!({"startLine": line.max(1)});
            if let Some(c) = f.column {
                region["startColumn"] = json!(c.max(1));
            }
            physical["region"] = region;
        }
        r["locations"] = json!([{"physicalLocation": physical}]);
    } else {
        // Code scanning rejects a result without an artifact location ("expected artifact
        // location"): a finding about the environment or a package, with no file of its own,
        // is attributed to the project's configuration, and named logically.
        let mut loc = json!({
            "physicalLocation": {
                "artifactLocation": {"uri": FALLBACK_URI, "uriBaseId": "%SRCROOT%"},
            },
        });
        if let Some(name) = f.variable.as_deref().or(f.package.as_deref()) {
            loc["logicalLocations"] = json!([{"name": name}]);
        }
        r["locations"] = json!([loc]);
    }
    if !f.extra.is_empty() {
        r["properties"] = json!(f.extra);
    }
    r
}

/// A relative path as a URI reference: `/` separators, spaces and reserved characters
/// percent-encoded.
fn uri(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Format;
    use crate::report::tests::rendered;

    #[test]
    fn sarif_has_what_code_scanning_requires() {
        let v: Value = serde_json::from_str(&rendered(Format::Sarif, true)).unwrap();
        assert_eq!(v["version"], "2.1.0");
        let run = &v["runs"][0];
        assert_eq!(run["tool"]["driver"]["name"], "rampart");
        let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
        assert_eq!(rules.len(), 4);
        let results = run["results"].as_array().unwrap();
        assert_eq!(results.len(), 4);
        for r in results {
            let i = r["ruleIndex"].as_u64().unwrap() as usize;
            assert_eq!(rules[i]["id"], r["ruleId"]);
            assert!(r["partialFingerprints"].as_object().unwrap().len() == 1);
            let uri = &r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"];
            assert!(!uri.as_str().unwrap().is_empty(), "every result has a file");
        }
        let env = results
            .iter()
            .find(|r| r["ruleId"] == "missing_required")
            .unwrap();
        assert_eq!(
            env["locations"][0]["logicalLocations"][0]["name"],
            "CSRF_SECRET"
        );
        let stripe = results
            .iter()
            .find(|r| r["ruleId"] == "stripe_secret_key")
            .unwrap();
        assert_eq!(stripe["level"], "error");
        let loc = &stripe["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "src/pay.ts");
        assert_eq!(loc["region"]["startLine"], 12);
        let jwt = results.iter().find(|r| r["ruleId"] == "jwt").unwrap();
        assert_eq!(
            jwt["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "docs/a%7Cb.md"
        );
        assert_eq!(jwt["level"], "note");
    }

    #[test]
    fn fingerprints_ignore_the_line() {
        let a = Finding::new("r", Severity::High, "m")
            .at("f", Some(1))
            .evidence("x…");
        let b = Finding::new("r", Severity::High, "m")
            .at("f", Some(9))
            .evidence("x…");
        assert_eq!(fingerprint(&a), fingerprint(&b));
        assert_ne!(fingerprint(&a), fingerprint(&b.evidence("y…")));
    }
}
