//! Secret scanning: hard-coded credentials in a tree (and, on request, in its git history).
//!
//! One versioned rule table ([`rules::RULES`]), one Aho-Corasick pass per file to find rule
//! keywords, regexes only near them, value checks that drop documented examples,
//! placeholders and references. The walk is parallel and `.gitignore`-aware; it visits
//! dotfiles (`.env.local`, `.npmrc`, `.github/`) and skips only `.git/`, files git ignores,
//! binary files and files above the size limit.
//!
//! Env files (`.env*`, `.npmrc`, `.pypirc`, `.netrc`) that git ignores are still scanned: they
//! hold real secrets on disk, which is where secrets belong, so their findings are `low` (they
//! do not fail a scan by default) and say the file is ignored. Whether such files are tracked
//! or ignored is [`crate::git`]'s business.
//!
//! ```
//! use rampart_check::scan::{Options, Scanner};
//!
//! let scanner = Scanner::new(&Options::new("."))?;
//! let key = format!("{}{}", "ghp_", "k3Jd9Qz7Lm2Xv8Rt4Np6Wb1Yc5Hs0Fg2Ea9U");
//! let found = scanner.scan_bytes("src/deploy.sh", format!("TOKEN={key}\n").as_bytes());
//! assert_eq!(found[0].finding.rule, "github_token");
//! assert!(!found[0].finding.evidence.as_deref().unwrap().contains(&key));
//! # Ok::<_, rampart_check::scan::Error>(())
//! ```

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use rampart_core::Severity;
use rampart_core::redact::redact_secret;
use sha2::{Digest, Sha256};

use crate::finding::Finding;

pub mod baseline;
mod engine;
mod filters;
mod history;
pub mod rules;
mod walk;

pub use baseline::Baseline;

/// Files larger than this are skipped unless configured otherwise (`[scan] max_file_size`).
pub const DEFAULT_MAX_FILE_SIZE: u64 = 32 << 20;

/// Markers that allow-list the line they are on.
const ALLOW_MARKERS: &[&[u8]] = &[
    b"rampart:allow",
    b"pragma: allowlist secret",
    b"gitleaks:allow",
];
/// Marker that allow-lists the following line.
const ALLOW_NEXT_LINE: &[u8] = b"rampart:allow-next-line";

/// Why a scan could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A path to scan does not exist.
    #[error("{0}: no such file or directory")]
    NotFound(PathBuf),
    /// A rule id in `[scan] disable` is not a rule.
    #[error("unknown rule {id:?} in [scan] disable{suggestion}")]
    UnknownRule {
        /// The id given.
        id: String,
        /// `, did you mean "…"?` or empty.
        suggestion: String,
    },
    /// An `[scan] exclude` glob does not parse.
    #[error("invalid [scan] exclude glob {glob:?}: {message}")]
    Exclude {
        /// The glob.
        glob: String,
        /// Why.
        message: String,
    },
    /// The baseline file cannot be read, parsed or written.
    #[error("baseline {path}: {message}")]
    Baseline {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Git could not be run or its history read.
    #[error("git history of {path}: {message}")]
    Git {
        /// The directory.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The rule table does not compile (a bug).
    #[error("secret rules: {0}")]
    Rules(String),
}

/// What to scan and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Files and directories to scan.
    pub roots: Vec<PathBuf>,
    /// Findings name files relative to this directory.
    pub base: PathBuf,
    /// Globs (gitignore syntax, relative to `base`) never scanned.
    pub exclude: Vec<String>,
    /// Rule ids turned off.
    pub disable: Vec<String>,
    /// Files larger than this (bytes) are skipped.
    pub max_file_size: u64,
    /// Skip what `.gitignore`/`.ignore` files ignore (env files excepted, see the module docs).
    pub respect_ignore: bool,
    /// Also scan every blob reachable in git history.
    pub history: bool,
    /// Worker threads for the walk (0: one per CPU).
    pub threads: usize,
    /// Counters a progress display can read while the scan runs.
    pub progress: Option<Arc<Progress>>,
}

impl Options {
    /// Scan `root`, reporting paths relative to it, with the defaults.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        Options {
            roots: vec![root.clone()],
            base: root,
            exclude: Vec::new(),
            disable: Vec::new(),
            max_file_size: DEFAULT_MAX_FILE_SIZE,
            respect_ignore: true,
            history: false,
            threads: 0,
            progress: None,
        }
    }
}

/// Live counters of a running scan.
#[derive(Debug, Default)]
pub struct Progress {
    /// Files (or blobs) scanned so far.
    pub files: AtomicU64,
    /// Bytes scanned so far.
    pub bytes: AtomicU64,
}

/// A finding plus what the baseline needs to recognise it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanFinding {
    /// The finding, evidence redacted.
    pub finding: Finding,
    /// SHA-256 of the rule id and the secret, hex: stable across line moves, reveals nothing.
    pub fingerprint: String,
}

/// What a scan found and covered.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Findings, in a stable order.
    pub findings: Vec<ScanFinding>,
    /// Files scanned.
    pub files: u64,
    /// Bytes scanned.
    pub bytes: u64,
    /// Files skipped as binary.
    pub skipped_binary: u64,
    /// Files skipped as larger than the limit.
    pub skipped_large: u64,
    /// Git blobs scanned (with `history`).
    pub blobs: u64,
    /// Files that could not be read; the scan went on without them.
    pub errors: Vec<String>,
}

/// The compiled rules and filters, shared by every worker.
#[derive(Debug)]
pub struct Scanner {
    engine: engine::Engine,
    exclude: Gitignore,
}

impl Scanner {
    /// Compiles the rules left after `options.disable`, and the exclude globs.
    pub fn new(options: &Options) -> Result<Scanner, Error> {
        for id in &options.disable {
            if !rules::RULES.iter().any(|r| r.id == id) {
                let best = rules::RULES
                    .iter()
                    .map(|r| (strsim::jaro_winkler(id, r.id), r.id))
                    .max_by(|a, b| a.0.total_cmp(&b.0))
                    .filter(|(score, _)| *score > 0.8);
                return Err(Error::UnknownRule {
                    id: id.clone(),
                    suggestion: best
                        .map(|(_, r)| format!(", did you mean {r:?}?"))
                        .unwrap_or_default(),
                });
            }
        }
        let active: Vec<&'static rules::Rule> = rules::RULES
            .iter()
            .filter(|r| !options.disable.iter().any(|d| d == r.id))
            .collect();
        let engine = engine::Engine::new(&active).map_err(Error::Rules)?;
        let mut gb = GitignoreBuilder::new("");
        for glob in &options.exclude {
            gb.add_line(None, glob).map_err(|e| Error::Exclude {
                glob: glob.clone(),
                message: e.to_string(),
            })?;
        }
        let exclude = gb.build().map_err(|e| Error::Exclude {
            glob: options.exclude.join(", "),
            message: e.to_string(),
        })?;
        Ok(Scanner { engine, exclude })
    }

    /// Whether `rel` (relative to the base, `/`-separated) is excluded by `[scan] exclude`.
    pub fn is_excluded(&self, rel: &str, is_dir: bool) -> bool {
        !rel.is_empty()
            && self
                .exclude
                .matched_path_or_any_parents(rel, is_dir)
                .is_ignore()
    }

    /// The literal keywords the rules search for.
    pub fn literals(&self) -> Vec<String> {
        self.engine
            .literals()
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect()
    }

    /// Findings in one file's contents; `rel` names it (and decides whether it is a
    /// configuration file, where unquoted values are literals). Binary data yields nothing.
    pub fn scan_bytes(&self, rel: &str, data: &[u8]) -> Vec<ScanFinding> {
        if is_binary(data) {
            return Vec::new();
        }
        let hits = self.engine.scan(data, is_config_path(rel));
        let mut out = Vec::with_capacity(hits.len());
        let (mut pos, mut line) = (0usize, 1usize);
        for h in hits {
            line += memchr::memchr_iter(b'\n', &data[pos..h.start]).count();
            pos = h.start;
            let ls = memchr::memrchr(b'\n', &data[..h.start]).map_or(0, |i| i + 1);
            let le = memchr::memchr(b'\n', &data[h.end..]).map_or(data.len(), |i| h.end + i);
            if allowed(&data[ls..le]) || allowed_by_previous_line(data, ls) {
                continue;
            }
            let rule = self.engine.rule(h.rule);
            let column = String::from_utf8_lossy(&data[ls..h.start]).chars().count() + 1;
            let mut finding = Finding::new(
                rule.id,
                rule.severity,
                format!("Hard-coded secret: {}", rule.description),
            )
            .at(rel, Some(line))
            .evidence(redact_secret(&h.secret));
            finding.column = Some(column);
            out.push(ScanFinding {
                finding,
                fingerprint: fingerprint(rule.id, &h.secret),
            });
        }
        out
    }
}

fn allowed(line: &[u8]) -> bool {
    ALLOW_MARKERS
        .iter()
        .any(|m| memchr::memmem::find(line, m).is_some())
}

fn allowed_by_previous_line(data: &[u8], line_start: usize) -> bool {
    if line_start == 0 {
        return false;
    }
    let prev_start = memchr::memrchr(b'\n', &data[..line_start - 1]).map_or(0, |i| i + 1);
    memchr::memmem::find(&data[prev_start..line_start], ALLOW_NEXT_LINE).is_some()
}

/// SHA-256 of `rule`, a NUL and `secret`, as 64 hex digits.
pub fn fingerprint(rule: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(rule.as_bytes());
    h.update([0u8]);
    h.update(secret.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A NUL byte in the first 8 KiB marks a binary file (git and ripgrep use the same sniff).
pub fn is_binary(data: &[u8]) -> bool {
    memchr::memchr(0, &data[..data.len().min(8192)]).is_some()
}

/// Whether a file name is an env file: `.env`, `.env.local`, `.env.production`, ...
/// (templates `.env.example`/`.sample`/`.template` are not).
pub fn is_env_file(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    if !(lower == ".env" || lower.starts_with(".env.") || lower.ends_with(".env")) {
        return false;
    }
    ![
        ".example",
        ".sample",
        ".template",
        ".dist",
        ".defaults",
        ".schema",
    ]
    .iter()
    .any(|t| lower.ends_with(t))
}

/// Whether a file holds credentials for tools by convention: env files, `.npmrc`, `.pypirc`,
/// `.netrc`, `.dev.vars`.
pub fn is_credentials_file(name: &str) -> bool {
    is_env_file(name) || matches!(name, ".npmrc" | ".pypirc" | ".netrc" | ".dev.vars")
}

/// Files whose unquoted values are literals: env, ini, yaml, toml, properties, shell.
fn is_config_path(rel: &str) -> bool {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    if is_credentials_file(name) || name.starts_with(".env") || name == "Dockerfile" {
        return true;
    }
    let Some(ext) = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()) else {
        // No extension: `credentials`, `Makefile`, `Procfile`, `config`.
        return true;
    };
    matches!(
        ext.as_str(),
        "env"
            | "ini"
            | "cfg"
            | "conf"
            | "cnf"
            | "config"
            | "properties"
            | "yaml"
            | "yml"
            | "toml"
            | "sh"
            | "bash"
            | "zsh"
            | "tfvars"
            | "hcl"
            | "txt"
            | "md"
            | "npmrc"
            | "pypirc"
            | "local"
            | "development"
            | "production"
            | "staging"
            | "test"
            | "vars"
            | "dockerfile"
            | "mk"
            | "service"
    )
}

/// Runs a scan: the walk, then history when asked. Findings of the same secret in the same
/// file are reported once, the working tree's before history's.
pub fn scan(options: &Options) -> Result<Outcome, Error> {
    for root in &options.roots {
        if !root.exists() {
            return Err(Error::NotFound(root.clone()));
        }
    }
    let scanner = Scanner::new(options)?;
    let mut outcome = walk::walk(&scanner, options)?;
    if options.history {
        history::scan_history(&scanner, options, &mut outcome)?;
    }
    // One finding per (rule, file, secret): keep the first (the working tree, then the
    // oldest commit).
    let mut seen = HashMap::new();
    let mut findings = Vec::with_capacity(outcome.findings.len());
    for f in std::mem::take(&mut outcome.findings) {
        let key = (
            f.finding.rule.clone(),
            f.finding.file.clone(),
            f.fingerprint.clone(),
            f.finding.line,
        );
        let in_history = f.finding.extra.contains_key("commit");
        let loose = (key.0.clone(), key.1.clone(), key.2.clone());
        if in_history && seen.contains_key(&loose) {
            continue;
        }
        seen.entry(loose).or_insert(key.3);
        findings.push(f);
    }
    findings.sort_by(|a, b| {
        (
            &a.finding.file,
            a.finding.line,
            a.finding.column,
            &a.finding.rule,
        )
            .cmp(&(
                &b.finding.file,
                b.finding.line,
                b.finding.column,
                &b.finding.rule,
            ))
    });
    outcome.findings = findings;
    Ok(outcome)
}

/// Counts a scanned file or blob in the progress counters.
fn tick(progress: Option<&Arc<Progress>>, bytes: usize) {
    if let Some(p) = progress {
        p.files.fetch_add(1, Ordering::Relaxed);
        p.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }
}

/// `path` relative to `base`, `/`-separated (`./` dropped).
fn relative(path: &Path, base: &Path) -> String {
    let rel = path.strip_prefix(base).unwrap_or(path);
    let s = rel.to_string_lossy().replace('\\', "/");
    let s = s.strip_prefix("./").unwrap_or(&s).to_string();
    if s.is_empty() {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        s
    }
}

/// Marks a finding as coming from a file git ignores: low severity, said in the message.
fn mark_ignored(f: &mut ScanFinding) {
    f.finding.severity = Severity::Low;
    f.finding.message.push_str(
        " in a file git ignores (not committed: keep it that way, and out of images and logs)",
    );
    f.finding.extra.insert("ignored".into(), true.into());
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod corpus;

#[cfg(test)]
mod rule_cases;
