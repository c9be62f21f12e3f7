//! `rampart env check`: the guide's environment rules over a project's `.env*` files.
//!
//! Files are layered per profile as Next.js and dotenv do ([`Profile`]); each profile's merged
//! view is checked (required names, secret length, placeholders, live/test keys), each file on
//! its own (malformed lines, duplicate keys, secrets in browser-exposed names), the two modes
//! against each other (a secret reused between development and production), and local files
//! against git (ignored by a pattern, not tracked). Templates (`.env.example`, ...) are never
//! read. Values never appear in findings except redacted.
//!
//! ```
//! use rampart_check::env::{check, Options, Rules};
//! use rampart_core::config::EnvConfig;
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join(".env"), "CSRF_SECRET=short\n")?;
//! let rules = Rules::from_config(&EnvConfig::default(), Some("none"), &[])?;
//! let report = check(&Options::new(dir.path(), rules))?;
//! assert_eq!(report.findings[0].rule, "secret_too_short");
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

mod files;
mod gitignore;
mod rules;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rampart_core::Severity;
use rampart_core::config::EnvMap;
use rampart_core::env::{EnvFile, is_placeholder};
use rampart_core::redact::{cap, redact_secret};

use crate::finding::{Finding, Report};

pub use files::{MAX_ENV_FILE, Profile, TEMPLATE_SUFFIXES};
pub(crate) use gitignore::{repo_root, tracked};
pub use rules::{LIVE_KEY_PREFIXES, Rules, TEST_KEY_PREFIXES};

/// Why an env check could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A `.env` file is too large to be one.
    #[error("{} is {size} bytes, over the {MAX_ENV_FILE}-byte limit for a .env file", path.display())]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// No preset by that name.
    #[error("unknown env preset {name:?}; {help}")]
    UnknownPreset {
        /// The name given.
        name: String,
        /// A suggestion or the list of presets.
        help: String,
    },
    /// A required name is not a valid variable name.
    #[error(
        "invalid variable name {0:?} (expected letters, digits and _, not starting with a digit)"
    )]
    InvalidName(String),
}

/// What to check.
#[derive(Debug, Clone)]
pub struct Options {
    /// The directory holding the `.env*` files.
    pub dir: PathBuf,
    /// One profile, or each mode that has files of its own.
    pub profile: Option<Profile>,
    /// The rules.
    pub rules: Rules,
    /// The process environment, layered over every profile (it wins, as in Next.js).
    pub process_env: Option<EnvMap>,
}

impl Options {
    /// Checks `dir` with `rules`, every profile present, files only.
    pub fn new(dir: &Path, rules: Rules) -> Self {
        Options {
            dir: dir.to_path_buf(),
            profile: None,
            rules,
            process_env: None,
        }
    }
}

/// Where a merged value came from.
#[derive(Debug, Clone)]
struct Source<'a> {
    value: &'a str,
    /// `None`: the process environment.
    file: Option<&'static str>,
    line: usize,
}

impl Source<'_> {
    fn locate(&self, f: Finding) -> Finding {
        match self.file {
            Some(file) => f.at(file, Some(self.line)),
            None => f.extra("source", "process environment"),
        }
    }
}

/// Runs the env rules; the report's command is `env`.
pub fn check(opts: &Options) -> Result<Report, Error> {
    let dir = &opts.dir;
    if !dir.is_dir() {
        return Err(Error::Read {
            path: dir.clone(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        });
    }
    let files = files::read_all(dir)?;
    let profiles = files::profiles_to_check(opts.profile, &files);
    let rules = &opts.rules;
    let mut findings = Vec::new();

    for (&name, file) in &files {
        per_file(name, file, rules, &mut findings);
    }

    let mut views = BTreeMap::new();
    for &p in &profiles {
        let view = merge(p, &files, opts.process_env.as_ref(), rules);
        per_profile(p, &view, rules, &mut findings);
        views.insert(p, view);
    }
    // Reuse needs both modes; compute the development view even when only production was
    // asked for, since reuse is a production problem.
    let has_dev = Profile::Development
        .own_files()
        .iter()
        .any(|f| files.contains_key(f));
    let has_prod = Profile::Production
        .own_files()
        .iter()
        .any(|f| files.contains_key(f));
    if has_dev && has_prod && profiles.contains(&Profile::Production) {
        let dev = views
            .get(&Profile::Development)
            .cloned()
            .unwrap_or_else(|| merge(Profile::Development, &files, None, rules));
        reuse(&dev, &views[&Profile::Production], rules, &mut findings);
    }

    let git = git_rules(dir, &mut findings)?;

    let mut seen = BTreeSet::new();
    findings.retain(|f| {
        seen.insert((
            f.rule.clone(),
            f.file.clone(),
            f.line,
            f.variable.clone(),
            f.extra.get("profile").map(ToString::to_string),
        ))
    });
    let mut report = Report::new("env", findings);
    let s = &mut report.summary;
    s.insert("preset".into(), rules.preset.clone().into());
    s.insert(
        "profiles".into(),
        profiles
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .into(),
    );
    s.insert(
        "files".into(),
        files.keys().copied().collect::<Vec<_>>().into(),
    );
    s.insert("git".into(), git.into());
    Ok(report)
}

fn per_file(name: &'static str, file: &EnvFile, rules: &Rules, out: &mut Vec<Finding>) {
    for e in &file.errors {
        out.push(
            Finding::new(
                "malformed_line",
                Severity::Medium,
                format!("{name}:{}: {} (line skipped)", e.line, e.message),
            )
            .at(name, Some(e.line)),
        );
    }
    let mut first_line = BTreeMap::new();
    for e in &file.entries {
        if let Some(first) = first_line.get(e.key.as_str()) {
            out.push(
                Finding::new(
                    "duplicate_key",
                    Severity::Low,
                    format!(
                        "{} is set again (first at line {first}); the later value wins",
                        e.key
                    ),
                )
                .at(name, Some(e.line))
                .variable(&e.key),
            );
        } else {
            first_line.insert(e.key.as_str(), e.line);
        }
        let public_secret = rules.is_public(&e.key)
            && !e.value.is_empty()
            && !is_placeholder(&e.value)
            && rules.is_secret(&e.key, &e.value);
        if public_secret {
            out.push(
                Finding::new(
                    "secret_in_public_var",
                    Severity::Critical,
                    format!(
                        "{} holds a secret but is exposed to the browser by its prefix",
                        e.key
                    ),
                )
                .at(name, Some(e.line))
                .variable(&e.key)
                .evidence(redact_secret(&e.value)),
            );
        }
    }
}

/// The merged view of one profile: the last file (or the process env) wins.
fn merge<'a>(
    p: Profile,
    files: &'a BTreeMap<&'static str, EnvFile>,
    process: Option<&'a EnvMap>,
    rules: &Rules,
) -> BTreeMap<&'a str, Source<'a>> {
    let mut view = BTreeMap::new();
    for &name in p.files() {
        if let Some((&fname, file)) = files.get_key_value(name) {
            for e in &file.entries {
                view.insert(
                    e.key.as_str(),
                    Source {
                        value: &e.value,
                        file: Some(fname),
                        line: e.line,
                    },
                );
            }
        }
    }
    if let Some(env) = process {
        // Only names the rules know: the process env carries many unrelated variables.
        for (k, v) in env {
            if rules.knows(k) {
                view.insert(
                    k.as_str(),
                    Source {
                        value: v,
                        file: None,
                        line: 0,
                    },
                );
            }
        }
    }
    view
}

fn per_profile(
    p: Profile,
    view: &BTreeMap<&str, Source<'_>>,
    rules: &Rules,
    out: &mut Vec<Finding>,
) {
    for name in &rules.required {
        let set = view
            .get(name.as_str())
            .is_some_and(|s| !s.value.trim().is_empty());
        if !set {
            let mut f = Finding::new(
                "missing_required",
                Severity::High,
                format!(
                    "{name} is not set ({p} profile reads {})",
                    p.files().join(", ")
                ),
            )
            .variable(name)
            .extra("profile", p.as_str());
            if let Some(s) = view.get(name.as_str()) {
                f = s.locate(f);
            }
            out.push(f);
        }
    }
    for (&name, src) in view {
        let value = src.value;
        if value.is_empty() {
            continue;
        }
        let secret = rules.is_secret(name, value);
        let important = secret || rules.required.iter().any(|r| r == name);
        if is_placeholder(value) {
            let sev = if important {
                Severity::High
            } else {
                Severity::Medium
            };
            out.push(
                src.locate(
                    Finding::new(
                        "placeholder_value",
                        sev,
                        format!("{name} still holds a placeholder value"),
                    )
                    .variable(name)
                    .evidence(cap(value, 24))
                    .extra("profile", p.as_str()),
                ),
            );
            continue;
        }
        if secret && !rules.is_public(name) && value.chars().count() < rules.min_secret_len {
            out.push(src.locate(
                Finding::new(
                    "secret_too_short",
                    Severity::High,
                    format!(
                        "{name} is {} characters, secrets need at least {} (generate one: rampart secret)",
                        value.chars().count(),
                        rules.min_secret_len
                    ),
                )
                .variable(name)
                .evidence(redact_secret(value))
                .extra("profile", p.as_str()),
            ));
        }
        let starts = |prefixes: &[String]| {
            prefixes
                .iter()
                .find(|x| value.starts_with(x.as_str()))
                .cloned()
        };
        match p {
            Profile::Production => {
                if let Some(prefix) = starts(&rules.test_key_prefixes) {
                    out.push(
                        src.locate(
                            Finding::new(
                                "test_key_in_production",
                                Severity::High,
                                format!("{name} is a test key ({prefix}…) in production"),
                            )
                            .variable(name)
                            .evidence(redact_secret(value))
                            .extra("profile", p.as_str()),
                        ),
                    );
                }
            }
            Profile::Development => {
                if let Some(prefix) = starts(&rules.live_key_prefixes) {
                    out.push(
                        src.locate(
                            Finding::new(
                                "live_key_in_development",
                                Severity::Medium,
                                format!("{name} is a live key ({prefix}…) in development"),
                            )
                            .variable(name)
                            .evidence(redact_secret(value))
                            .extra("profile", p.as_str()),
                        ),
                    );
                }
            }
            Profile::Default => {}
        }
    }
}

fn reuse(
    dev: &BTreeMap<&str, Source<'_>>,
    prod: &BTreeMap<&str, Source<'_>>,
    rules: &Rules,
    out: &mut Vec<Finding>,
) {
    for (&name, p) in prod {
        let Some(d) = dev.get(name) else { continue };
        if p.value.is_empty()
            || is_placeholder(p.value)
            || !rules.is_secret(name, p.value)
            || rules.is_public(name)
        {
            continue;
        }
        if d.value == p.value {
            let from = match d.file {
                Some(f) => format!("{f}:{}", d.line),
                None => "the process environment".to_string(),
            };
            out.push(
                p.locate(
                    Finding::new(
                        "dev_prod_secret_reuse",
                        Severity::High,
                        format!("{name} has the same value in production and development ({from})"),
                    )
                    .variable(name)
                    .evidence(redact_secret(p.value)),
                ),
            );
        }
    }
}

/// `.env.local`/`.env.*.local` must match an ignore pattern and not be tracked. Returns what
/// the summary says about git.
fn git_rules(dir: &Path, out: &mut Vec<Finding>) -> Result<&'static str, Error> {
    let locals = files::local_files(dir)?;
    let canonical = dir.canonicalize().map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    let ignore = gitignore::ignore_files_for(&canonical).map_err(|source| Error::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for name in &locals {
        if !gitignore::is_ignored(&ignore, &canonical.join(name)) {
            out.push(
                Finding::new(
                    "env_file_not_ignored",
                    Severity::High,
                    format!(
                        "{name} matches no .gitignore pattern; add `.env*.local` to .gitignore"
                    ),
                )
                .at(name.as_str(), None),
            );
        }
    }
    if gitignore::repo_root(dir).is_none() {
        return Ok("not a git repository");
    }
    match gitignore::tracked(dir, &locals) {
        Some(tracked) => {
            for name in tracked {
                out.push(
                    Finding::new(
                        "env_file_committed",
                        Severity::Critical,
                        format!("{name} is tracked by git: remove it (git rm --cached {name}) and rotate its secrets"),
                    )
                    .at(name, None),
                );
            }
            Ok("checked")
        }
        None => Ok("git unavailable: tracked files not checked"),
    }
}

#[cfg(test)]
mod tests;
