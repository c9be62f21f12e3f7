//! OSV records (<https://ossf.github.io/osv-schema/>): parsing, range evaluation, severity.

use std::cmp::Ordering;

use rampart_core::Severity;
use serde::Deserialize;

use super::Ecosystem;

/// The parts of an OSV record an audit uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Record {
    /// `GHSA-…`, `RUSTSEC-…`, `PYSEC-…`, `MAL-…`.
    pub id: String,
    /// Other ids for the same vulnerability.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// A one-line summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// Set when the advisory was withdrawn: it is then ignored.
    #[serde(default)]
    pub withdrawn: Option<String>,
    /// Severity scores (CVSS vectors).
    #[serde(default)]
    pub severity: Vec<Score>,
    /// Affected packages.
    #[serde(default)]
    pub affected: Vec<Affected>,
    /// Source-specific fields (GHSA's `severity`, RUSTSEC's `informational`).
    #[serde(default)]
    pub database_specific: Option<serde_json::Value>,
}

/// One `severity[]` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct Score {
    /// `CVSS_V3`, `CVSS_V4`, ...
    #[serde(rename = "type")]
    pub kind: String,
    /// The vector string.
    pub score: String,
}

/// One `affected[]` entry.
#[derive(Debug, Clone, Deserialize)]
pub struct Affected {
    /// The package.
    pub package: Option<PackageRef>,
    /// Version ranges.
    #[serde(default)]
    pub ranges: Vec<Range>,
    /// Explicitly listed affected versions.
    #[serde(default)]
    pub versions: Vec<String>,
    /// Per-package severity, where the source gives one.
    #[serde(default)]
    pub severity: Vec<Score>,
    /// Source-specific fields (RUSTSEC `affects`, GHSA `severity` in some exports).
    #[serde(default)]
    pub ecosystem_specific: Option<serde_json::Value>,
}

/// `affected[].package`.
#[derive(Debug, Clone, Deserialize)]
pub struct PackageRef {
    /// OSV ecosystem name.
    pub ecosystem: String,
    /// Package name.
    pub name: String,
}

/// `affected[].ranges[]`.
#[derive(Debug, Clone, Deserialize)]
pub struct Range {
    /// `SEMVER`, `ECOSYSTEM` or `GIT` (ignored: commits are not versions).
    #[serde(rename = "type")]
    pub kind: String,
    /// Events in any order.
    #[serde(default)]
    pub events: Vec<Event>,
}

/// One range event; exactly one field is set.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Event {
    /// Affected from this version (`0`: from the beginning).
    pub introduced: Option<String>,
    /// Fixed in this version.
    pub fixed: Option<String>,
    /// Affected up to and including this version.
    pub last_affected: Option<String>,
    /// Not affected from this version on (a range end without a fix).
    pub limit: Option<String>,
}

/// A match: the record's affected entry covers the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    /// The lowest fixed version above the installed one, when there is one.
    pub fixed: Option<String>,
}

impl Record {
    /// Parses one record.
    pub fn from_json(bytes: &[u8]) -> Result<Record, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Whether `version` of `name` in `eco` is affected, and the fix.
    pub fn matches(&self, eco: Ecosystem, name: &str, version: &str) -> Option<Hit> {
        let norm = eco.normalize(name);
        let mut hit: Option<Hit> = None;
        for a in &self.affected {
            let Some(p) = &a.package else { continue };
            if Ecosystem::from_osv(&p.ecosystem) != Some(eco) || eco.normalize(&p.name) != norm {
                continue;
            }
            if let Some(h) = affected_hit(eco, a, version) {
                hit = Some(match hit {
                    Some(prev) => Hit {
                        fixed: lowest(eco, prev.fixed, h.fixed),
                    },
                    None => h,
                });
            }
        }
        hit
    }

    /// RustSec's informational kind (`unmaintained`, `unsound`, `notice`): not a
    /// vulnerability, reported under its own rule.
    pub fn informational(&self) -> Option<&str> {
        self.database_specific
            .as_ref()?
            .get("informational")?
            .as_str()
            .filter(|s| !s.is_empty())
    }

    /// The severity: CVSS v3 base score where present, else the source's own rating
    /// (GHSA `severity`), informational RUSTSEC advisories low, malicious packages critical,
    /// anything unrated high (an unknown vulnerability must not pass the default threshold).
    pub fn severity(&self) -> Severity {
        self.rated_severity().unwrap_or(Severity::High)
    }

    /// The severity the record states (CVSS, source rating, informational, malicious), if any.
    pub fn rated_severity(&self) -> Option<Severity> {
        if self.id.starts_with("MAL-") {
            return Some(Severity::Critical);
        }
        let scores = self
            .severity
            .iter()
            .chain(self.affected.iter().flat_map(|a| &a.severity));
        let best = scores
            .filter(|s| s.kind.starts_with("CVSS_V3"))
            .filter_map(|s| super::cvss::base_score_v3(&s.score))
            .fold(None::<f64>, |m, s| Some(m.map_or(s, |m| m.max(s))));
        if let Some(score) = best {
            return Some(super::cvss::rating(score));
        }
        let specific = self.database_specific.iter().chain(
            self.affected
                .iter()
                .filter_map(|a| a.ecosystem_specific.as_ref()),
        );
        for d in specific {
            if d.get("informational").is_some_and(|v| !v.is_null()) {
                return Some(Severity::Low);
            }
            if let Some(s) = d.get("severity").and_then(|v| v.as_str()) {
                match s.to_ascii_uppercase().as_str() {
                    "CRITICAL" => return Some(Severity::Critical),
                    "HIGH" => return Some(Severity::High),
                    "MODERATE" | "MEDIUM" => return Some(Severity::Medium),
                    "LOW" => return Some(Severity::Low),
                    _ => {}
                }
            }
        }
        None
    }
}

fn lowest(eco: Ecosystem, a: Option<String>, b: Option<String>) -> Option<String> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if eco.compare(&b, &a) == Some(Ordering::Less) {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    }
}

fn affected_hit(eco: Ecosystem, a: &Affected, version: &str) -> Option<Hit> {
    let listed = a.versions.iter().any(|v| v == version);
    let mut hit = None;
    for r in &a.ranges {
        if r.kind != "SEMVER" && r.kind != "ECOSYSTEM" {
            continue;
        }
        if let Some(h) = range_hit(eco, &r.events, version) {
            hit = Some(match hit {
                Some(Hit { fixed }) => Hit {
                    fixed: lowest(eco, fixed, h.fixed),
                },
                None => h,
            });
        }
    }
    match hit {
        Some(h) => Some(h),
        None if listed => Some(Hit { fixed: None }),
        None => None,
    }
}

/// OSV's evaluation: events sorted by version; the version is affected when the last event at
/// or below it is an `introduced` (a `last_affected` counts when strictly below it).
fn range_hit(eco: Ecosystem, events: &[Event], version: &str) -> Option<Hit> {
    // A version that does not parse cannot be placed in the range.
    eco.compare(version, version)?;
    let mut evs: Vec<(&str, u8)> = Vec::with_capacity(events.len());
    for e in events {
        if let Some(v) = &e.introduced {
            evs.push((v, 0));
        }
        if let Some(v) = &e.fixed {
            evs.push((v, 1));
        }
        if let Some(v) = &e.last_affected {
            evs.push((v, 2));
        }
        if let Some(v) = &e.limit {
            evs.push((v, 3));
        }
    }
    fn key(v: &str) -> Option<&str> {
        if v == "0" { None } else { Some(v) }
    }
    let cmp = |a: &str, b: &str| match (key(a), key(b)) {
        (None, None) => Ordering::Equal,
        (None, _) => Ordering::Less,
        (_, None) => Ordering::Greater,
        (Some(a), Some(b)) => eco.compare(a, b).unwrap_or(Ordering::Equal),
    };
    evs.sort_by(|a, b| cmp(a.0, b.0).then(a.1.cmp(&b.1)));
    let mut affected = false;
    let mut fixed = None;
    for &(v, kind) in &evs {
        let order = cmp(v, version);
        if key(v).is_some() && eco.compare(v, v).is_none() {
            continue; // an event version that does not parse is skipped, not guessed
        }
        match kind {
            0 if order != Ordering::Greater => affected = true,
            1 | 3 if order != Ordering::Greater => affected = false,
            2 if order == Ordering::Less => affected = false,
            1 if affected && fixed.is_none() => fixed = Some(v.to_string()),
            _ => {}
        }
        if order == Ordering::Greater && kind == 0 {
            break;
        }
    }
    affected.then_some(Hit { fixed })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(json: &str) -> Record {
        Record::from_json(json.as_bytes()).unwrap()
    }

    const MINIMIST: &str = r#"{"id":"GHSA-xvch-5gv4-984h","aliases":["CVE-2021-44906"],
      "affected":[{"package":{"ecosystem":"npm","name":"minimist"},
        "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"0.2.4"}]}]},
       {"package":{"ecosystem":"npm","name":"minimist"},
        "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"1.0.0"},{"fixed":"1.2.6"}]}]}],
      "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}"#;

    #[test]
    fn several_affected_entries_and_fixes() {
        let r = rec(MINIMIST);
        let e = Ecosystem::Npm;
        assert_eq!(
            r.matches(e, "minimist", "0.0.8"),
            Some(Hit {
                fixed: Some("0.2.4".into())
            })
        );
        assert_eq!(
            r.matches(e, "minimist", "1.2.5"),
            Some(Hit {
                fixed: Some("1.2.6".into())
            })
        );
        assert_eq!(r.matches(e, "minimist", "1.2.6"), None);
        assert_eq!(r.matches(e, "minimist", "0.2.4"), None);
        assert_eq!(r.matches(e, "minimist", "0.2.5"), None);
        assert_eq!(
            r.matches(e, "minimist", "1.2.6-beta.1"),
            Some(Hit {
                fixed: Some("1.2.6".into())
            })
        );
        assert_eq!(r.matches(e, "other", "1.0.0"), None);
        assert_eq!(r.severity(), Severity::Critical);
    }

    #[test]
    fn last_affected_limit_and_versions() {
        let r = rec(
            r#"{"id":"X","affected":[{"package":{"ecosystem":"crates.io","name":"a"},
            "ranges":[{"type":"SEMVER","events":[{"introduced":"1.0.0"},{"last_affected":"1.4.0"}]},
                      {"type":"GIT","events":[{"introduced":"abc"}]}],
            "versions":["0.9.1"]}]}"#,
        );
        let e = Ecosystem::CratesIo;
        assert!(r.matches(e, "a", "1.4.0").is_some());
        assert!(r.matches(e, "a", "1.4.1").is_none());
        assert!(r.matches(e, "a", "0.9.1").is_some());
        assert!(r.matches(e, "a", "0.9.0").is_none());
        assert_eq!(r.severity(), Severity::High, "unrated is high");
    }

    #[test]
    fn pypi_ranges_use_pep440() {
        let r = rec(
            r#"{"id":"PYSEC-2018-28","affected":[{"package":{"ecosystem":"PyPI","name":"Requests"},
            "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"2.20.0"}]}]}],
            "database_specific":{"severity":"MODERATE"}}"#,
        );
        let e = Ecosystem::PyPi;
        assert!(r.matches(e, "requests", "2.19.1").is_some());
        assert!(r.matches(e, "requests", "2.20.0rc1").is_some());
        assert!(r.matches(e, "requests", "2.20.0").is_none());
        assert_eq!(r.severity(), Severity::Medium);
    }

    #[test]
    fn informational_is_low() {
        let r = rec(
            r#"{"id":"RUSTSEC-2020-0016","affected":[],"database_specific":{"informational":"unmaintained"}}"#,
        );
        assert_eq!(r.severity(), Severity::Low);
    }
}
