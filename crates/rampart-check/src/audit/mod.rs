//! `rampart audit`: known-vulnerable dependencies in lockfiles, against OSV advisories.
//!
//! Lockfiles are found by walking the project ([`lockfile::find`]), parsed to exact versions,
//! and looked up in a local OSV database ([`db::Database`]): a directory of OSV JSON records
//! and/or OSV's per-ecosystem zip exports, which `--update` downloads and compiles into an
//! index. Ranges are evaluated with each ecosystem's version order ([`version`]); advisories
//! that alias each other (GHSA, CVE, RUSTSEC, PYSEC) become one finding per package version.
//! The network is only needed for `--update` and the outdated check.
//!
//! ```
//! use rampart_check::audit::{audit, Options};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("requirements.txt"), "requests==2.19.1\n")?;
//! std::fs::create_dir(dir.path().join("db"))?;
//! std::fs::write(dir.path().join("db/PYSEC-2018-28.json"), r#"{"id": "PYSEC-2018-28",
//!   "affected": [{"package": {"ecosystem": "PyPI", "name": "requests"},
//!   "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.20.0"}]}]}]}"#)?;
//! let report = audit(&Options::offline(dir.path(), &dir.path().join("db")))?;
//! assert_eq!(report.findings[0].advisory.as_deref(), Some("PYSEC-2018-28"));
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

pub mod cvss;
pub mod db;
mod http;
pub mod lockfile;
pub mod osv;
pub mod outdated;
pub mod update;
pub mod version;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rampart_core::Severity;

use crate::finding::{Finding, Report};

pub use db::{Database, DbError};
pub use lockfile::{Lockfile, LockfileError, Package};
pub use outdated::{Outdated, Registries};
pub use version::Ecosystem;

/// Why an audit could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The project could not be walked.
    #[error("cannot read {}: {source}", path.display())]
    Walk {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A lockfile is unreadable or invalid.
    #[error(transparent)]
    Lockfile(#[from] LockfileError),
    /// The advisory database is unreadable.
    #[error(transparent)]
    Db(#[from] DbError),
    /// There are packages but no advisories to check them against.
    #[error("no advisories in {}: run `rampart audit --update` (needs network) or pass --db DIR with OSV records", .0.display())]
    EmptyDatabase(PathBuf),
}

/// What to audit and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// A project directory (walked for lockfiles) or one lockfile.
    pub path: PathBuf,
    /// The advisory database directory.
    pub db: PathBuf,
    /// Look up newer releases of direct dependencies (needs the network).
    pub outdated: bool,
    /// The registries for the outdated check.
    pub registries: Registries,
    /// Network timeout.
    pub timeout: Duration,
    /// Advisory ids (or aliases) not reported.
    pub ignore: Vec<String>,
    /// Check that lockfiles are committed (runs `git ls-files`).
    pub git: bool,
}

impl Options {
    /// Audits `path` against `db` without any network access.
    pub fn offline(path: &Path, db: &Path) -> Options {
        Options {
            path: path.to_path_buf(),
            db: db.to_path_buf(),
            outdated: false,
            registries: Registries::default(),
            timeout: Duration::from_secs(10),
            ignore: Vec::new(),
            git: true,
        }
    }
}

/// The default database directory: `$XDG_CACHE_HOME/rampart/osv`, else
/// `$HOME/.cache/rampart/osv`, from the environment passed in.
pub fn default_db(env: &rampart_core::config::EnvMap) -> PathBuf {
    let cache = env
        .get("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("rampart").join("osv")
}

/// The primary id of a group of aliased advisories: the ecosystem's own database first.
fn id_rank(eco: Ecosystem, id: &str) -> u8 {
    let order: &[&str] = match eco {
        Ecosystem::CratesIo => &["RUSTSEC-", "GHSA-", "CVE-"],
        Ecosystem::Npm => &["GHSA-", "MAL-", "CVE-"],
        Ecosystem::PyPi => &["GHSA-", "PYSEC-", "CVE-"],
    };
    order
        .iter()
        .position(|p| id.starts_with(p))
        .unwrap_or(order.len()) as u8
}

/// One matched advisory group for one package version.
#[derive(Debug)]
struct Vuln {
    id: String,
    aliases: BTreeSet<String>,
    summary: Option<String>,
    severity: Severity,
    fixed: Option<String>,
    /// RustSec informational kind, when every record of the group is one.
    informational: Option<String>,
}

/// A matched record and the fix it names.
type Matched = (Arc<osv::Record>, Option<String>);

/// Merges records that share an id or alias into one finding each.
fn merge(eco: Ecosystem, hits: Vec<Matched>) -> Vec<Vuln> {
    let mut groups: Vec<(BTreeSet<String>, Vec<Matched>)> = Vec::new();
    for (rec, fixed) in hits {
        let ids: BTreeSet<String> = std::iter::once(rec.id.clone())
            .chain(rec.aliases.iter().cloned())
            .collect();
        let mut merged = (ids, vec![(rec, fixed)]);
        // Pull in every group this one touches (transitively, since groups are disjoint).
        let mut i = 0;
        while i < groups.len() {
            if !groups[i].0.is_disjoint(&merged.0) {
                let (ids, recs) = groups.swap_remove(i);
                merged.0.extend(ids);
                merged.1.extend(recs);
            } else {
                i += 1;
            }
        }
        groups.push(merged);
    }
    groups
        .into_iter()
        .map(|(ids, recs)| {
            let id = recs
                .iter()
                .map(|(r, _)| r.id.clone())
                .min_by_key(|id| (id_rank(eco, id), id.clone()))
                .unwrap_or_default();
            let rated: Vec<Severity> = recs
                .iter()
                .filter_map(|(r, _)| r.rated_severity())
                .collect();
            let severity = rated.into_iter().max().unwrap_or(Severity::High);
            let summary = recs
                .iter()
                .find(|(r, _)| r.id == id)
                .and_then(|(r, _)| r.summary.clone())
                .or_else(|| recs.iter().find_map(|(r, _)| r.summary.clone()));
            // The fix that closes every advisory of the group: the highest of their fixes.
            let fixed = recs
                .iter()
                .filter_map(|(_, f)| f.clone())
                .max_by(|a, b| eco.compare(a, b).unwrap_or(std::cmp::Ordering::Equal));
            let aliases = ids.into_iter().filter(|a| *a != id).collect();
            let informational = recs
                .iter()
                .map(|(r, _)| r.informational())
                .collect::<Option<Vec<&str>>>()
                .and_then(|kinds| kinds.first().map(|k| k.to_string()));
            Vuln {
                id,
                aliases,
                summary,
                severity,
                fixed,
                informational,
            }
        })
        .collect()
}

fn rel(root: &Path, p: &Path) -> String {
    let base = if root.is_file() {
        root.parent().unwrap_or(root)
    } else {
        root
    };
    p.strip_prefix(base)
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Runs the audit; the report's command is `audit`.
pub fn audit(opts: &Options) -> Result<Report, Error> {
    let paths = lockfile::find(&opts.path).map_err(|source| Error::Walk {
        path: opts.path.clone(),
        source,
    })?;
    let mut lockfiles = Vec::new();
    for p in &paths {
        lockfiles.push(lockfile::parse_file(p)?);
    }
    let total: usize = lockfiles.iter().map(|l| l.packages.len()).sum();
    let db = Database::open(&opts.db)?;
    if total > 0 && db.record_count() == 0 {
        return Err(Error::EmptyDatabase(opts.db.clone()));
    }
    let mut findings = Vec::new();
    let mut vulnerable = 0usize;
    for lf in &lockfiles {
        let file = rel(&opts.path, &lf.path);
        for pkg in &lf.packages {
            let mut hits = Vec::new();
            for rec in db.advisories(pkg.ecosystem, &pkg.name)? {
                if let Some(h) = rec.matches(pkg.ecosystem, &pkg.name, &pkg.version) {
                    hits.push((rec, h.fixed));
                }
            }
            if hits.is_empty() {
                continue;
            }
            let mut any = false;
            for v in merge(pkg.ecosystem, hits) {
                if opts
                    .ignore
                    .iter()
                    .any(|i| *i == v.id || v.aliases.contains(i))
                {
                    continue;
                }
                any |= v.informational.is_none();
                findings.push(vuln_finding(&file, pkg, v));
            }
            vulnerable += usize::from(any);
        }
    }

    let mut summary = serde_json::Map::new();
    let outdated_status = if opts.outdated {
        let direct: Vec<Package> = lockfiles
            .iter()
            .flat_map(|l| l.packages.iter().filter(|p| p.direct).cloned())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        match outdated::check(&direct, &opts.registries, opts.timeout) {
            Outdated::Checked(list) => {
                for (p, latest) in &list {
                    let file = lockfiles
                        .iter()
                        .find(|l| l.packages.contains(p))
                        .map(|l| rel(&opts.path, &l.path))
                        .unwrap_or_default();
                    let mut f = Finding::new(
                        "outdated_dependency",
                        Severity::Low,
                        format!(
                            "{} {} is behind the latest release {latest}",
                            p.name, p.version
                        ),
                    )
                    .at(file, None)
                    .extra("latest", latest.as_str())
                    .extra("ecosystem", p.ecosystem.osv_name());
                    f.package = Some(p.name.clone());
                    f.version = Some(p.version.clone());
                    findings.push(f);
                }
                serde_json::json!({"status": "checked", "direct_dependencies": direct.len(), "outdated": list.len()})
            }
            Outdated::Skipped(why) => serde_json::json!({"status": format!("skipped: {why}")}),
        }
    } else {
        serde_json::json!({"status": "skipped: offline"})
    };
    summary.insert("outdated".into(), outdated_status);

    let committed = if opts.git {
        lockfile_committed(opts, &lockfiles, &mut findings)
    } else {
        "skipped".to_string()
    };
    summary.insert("lockfile_committed".into(), committed.into());

    // A stable order whatever order the database returned records in.
    findings.sort_by(|a, b| {
        (&a.file, &a.rule, &a.package, &a.version, &a.advisory).cmp(&(
            &b.file,
            &b.rule,
            &b.package,
            &b.version,
            &b.advisory,
        ))
    });
    let mut report = Report::new("audit", findings);
    report.summary.insert("packages".into(), total.into());
    report
        .summary
        .insert("vulnerable_packages".into(), vulnerable.into());
    report
        .summary
        .insert("advisories_available".into(), db.record_count().into());
    report.summary.insert(
        "lockfiles".into(),
        lockfiles
            .iter()
            .map(|l| serde_json::json!({"path": rel(&opts.path, &l.path), "kind": l.kind, "packages": l.packages.len()}))
            .collect::<Vec<_>>()
            .into(),
    );
    report.summary.extend(summary);
    Ok(report)
}

fn vuln_finding(file: &str, pkg: &Package, v: Vuln) -> Finding {
    let what = v
        .summary
        .clone()
        .unwrap_or_else(|| "known vulnerability".to_string());
    let fix = match &v.fixed {
        Some(f) => format!("; fixed in {f}"),
        None => "; no fixed version".to_string(),
    };
    // RustSec informational advisories are not vulnerabilities: their own rule, as cargo
    // audit lists them as warnings.
    let rule = match v.informational.as_deref() {
        None => "vulnerable_dependency",
        Some("unmaintained") => "unmaintained_dependency",
        Some("unsound") => "unsound_dependency",
        Some(_) => "dependency_notice",
    };
    let mut f = Finding::new(
        rule,
        v.severity,
        format!(
            "{} {}: {} ({}){fix}",
            pkg.name,
            pkg.version,
            rampart_core::redact::cap(&what, 200),
            v.id
        ),
    )
    .at(file, pkg.line)
    .extra("ecosystem", pkg.ecosystem.osv_name())
    .extra("aliases", v.aliases.into_iter().collect::<Vec<_>>())
    .extra("direct", pkg.direct);
    if let Some(fixed) = v.fixed {
        f = f.extra("fixed", fixed);
    }
    f.package = Some(pkg.name.clone());
    f.version = Some(pkg.version.clone());
    f.advisory = Some(v.id);
    f
}

/// `lockfile_committed`: every lockfile found is tracked by git.
fn lockfile_committed(opts: &Options, lockfiles: &[Lockfile], out: &mut Vec<Finding>) -> String {
    if lockfiles.is_empty() {
        return "skipped: no lockfile".into();
    }
    let mut by_dir: BTreeMap<PathBuf, Vec<(String, &Lockfile)>> = BTreeMap::new();
    for l in lockfiles {
        let dir = l
            .path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        let name = l
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        by_dir.entry(dir).or_default().push((name, l));
    }
    for (dir, files) in by_dir {
        let dir = if dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            dir
        };
        if crate::env::repo_root(&dir).is_none() {
            return "skipped: not a git repository".into();
        }
        let names: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
        let Some(tracked) = crate::env::tracked(&dir, &names) else {
            return "skipped: git unavailable".into();
        };
        for (name, l) in files {
            if !tracked.contains(&name) {
                out.push(
                    Finding::new(
                        "lockfile_not_committed",
                        Severity::Medium,
                        format!("{name} is not committed: installs are not reproducible and audits see a different tree than CI"),
                    )
                    .at(rel(&opts.path, &l.path), None),
                );
            }
        }
    }
    "checked".into()
}

#[cfg(test)]
mod tests;
