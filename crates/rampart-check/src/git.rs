//! Git: hygiene findings (env files tracked now or in history, or not ignored; lockfiles
//! missing or untracked) and the plumbing secret scanning uses to read history.
//!
//! Rampart runs the `git` command rather than linking a git library: history reading is
//! `git log --raw` plus one `git cat-file --batch` process, which is as fast as git itself and
//! costs nothing to build.
//!
//! Rule ids: `env_file_committed`, `env_file_in_history`, `env_file_not_ignored`,
//! `lockfile_missing`, `lockfile_untracked`.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rampart_core::Severity;

use crate::finding::Finding;
use crate::scan::{Scanner, is_env_file};

/// Why a git question could not be answered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `git` failed or could not be started.
    #[error("git in {dir}: {message}")]
    Git {
        /// Where it ran.
        dir: PathBuf,
        /// What it said.
        message: String,
    },
}

/// Runs `git -C dir args...` and returns its standard output.
pub(crate) fn run(dir: &Path, args: &[&str]) -> Result<Vec<u8>, Error> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "core.quotepath=off"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::Git {
            dir: dir.to_path_buf(),
            message: format!("cannot run git: {e}"),
        })?;
    if !out.status.success() {
        return Err(Error::Git {
            dir: dir.to_path_buf(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(out.stdout)
}

/// Whether `dir` is inside a git work tree.
pub fn is_repo(dir: &Path) -> bool {
    run(dir, &["rev-parse", "--is-inside-work-tree"]).is_ok_and(|o| o.starts_with(b"true"))
}

/// One blob version of a path, and the commit that introduced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlobRef {
    /// The blob's object id.
    pub(crate) sha: String,
    /// The path, relative to `dir` as given to [`history_blobs`].
    pub(crate) path: String,
    /// The first commit (oldest first) that holds this blob at this path.
    pub(crate) commit: String,
}

/// Every blob version reachable from any ref, under `dir` (paths relative to it), each with
/// the oldest commit that introduced it, restricted to `pathspecs` when given.
pub(crate) fn history_blobs(dir: &Path, pathspecs: &[&str]) -> Result<Vec<BlobRef>, Error> {
    let mut args = vec![
        "log",
        "--all",
        "--reverse",
        "--raw",
        "--no-abbrev",
        "--no-renames",
        "--root",
        "--relative",
        "--format=%x01%H",
        "-z",
    ];
    if !pathspecs.is_empty() {
        args.push("--");
        args.extend_from_slice(pathspecs);
    }
    let out = match run(dir, &args) {
        Ok(o) => o,
        // A repository without commits has no history.
        Err(Error::Git { message, .. })
            if message.contains("does not have any commits") || message.is_empty() =>
        {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e),
    };
    let mut seen = HashSet::new();
    let mut blobs = Vec::new();
    let mut commit = String::new();
    let mut tokens = out.split(|&b| b == 0);
    while let Some(tok) = tokens.next() {
        let tok = tok.strip_prefix(b"\n").unwrap_or(tok);
        if let Some(c) = tok.strip_prefix(b"\x01") {
            commit = String::from_utf8_lossy(c).trim().to_string();
        } else if tok.first() == Some(&b':') {
            let meta = String::from_utf8_lossy(tok);
            let Some(path) = tokens.next() else { break };
            let f: Vec<&str> = meta.split(' ').collect();
            if f.len() < 5 || f[1] == "160000" {
                continue;
            }
            let sha = f[3];
            if sha.bytes().all(|b| b == b'0') {
                continue;
            }
            let path = String::from_utf8_lossy(path).into_owned();
            if seen.insert((sha.to_string(), path.clone())) {
                blobs.push(BlobRef {
                    sha: sha.to_string(),
                    path,
                    commit: commit.clone(),
                });
            }
        }
    }
    Ok(blobs)
}

/// Reads blobs with one `git cat-file --batch`, calling `f` with each one's contents
/// (`None` when larger than `max_size`).
pub(crate) fn read_blobs(
    dir: &Path,
    blobs: &[BlobRef],
    max_size: u64,
    mut f: impl FnMut(&BlobRef, Option<&[u8]>),
) -> Result<(), Error> {
    let err = |message: String| Error::Git {
        dir: dir.to_path_buf(),
        message,
    };
    let mut child = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| err(format!("cannot run git cat-file: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let shas: Vec<String> = blobs.iter().map(|b| b.sha.clone()).collect();
    // Feed ids from another thread so that neither pipe fills up and blocks the other.
    let feeder = std::thread::spawn(move || {
        for s in shas {
            if writeln!(stdin, "{s}").is_err() {
                break;
            }
        }
    });
    let mut out = BufReader::with_capacity(1 << 16, child.stdout.take().expect("piped stdout"));
    let mut header = String::new();
    let mut buf = Vec::new();
    for b in blobs {
        header.clear();
        out.read_line(&mut header)
            .map_err(|e| err(format!("reading git cat-file: {e}")))?;
        let parts: Vec<&str> = header.split_whitespace().collect();
        if parts.len() != 3 || parts[1] != "blob" {
            // `<sha> missing` (a shallow clone): nothing to read.
            continue;
        }
        let size: u64 = parts[2]
            .parse()
            .map_err(|_| err(format!("unexpected git cat-file header {header:?}")))?;
        buf.clear();
        (&mut out)
            .take(size + 1)
            .read_to_end(&mut buf)
            .map_err(|e| err(format!("reading blob {}: {e}", b.sha)))?;
        buf.truncate(size as usize);
        f(b, (size <= max_size).then_some(&buf[..]));
    }
    let _ = feeder.join();
    let _ = child.wait();
    Ok(())
}

/// Paths tracked in the index, relative to `dir`.
fn tracked(dir: &Path) -> Result<HashSet<String>, Error> {
    let out = run(dir, &["ls-files", "-z", "--full-name", "--", "."])?;
    let prefix = String::from_utf8_lossy(&run(dir, &["rev-parse", "--show-prefix"])?)
        .trim()
        .to_string();
    Ok(out
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let p = String::from_utf8_lossy(p);
            p.strip_prefix(&prefix).unwrap_or(&p).to_string()
        })
        .collect())
}

/// Whether a `.gitignore` pattern ignores `rel` (tracked or not, as the pattern reads).
fn ignored(dir: &Path, rel: &str, repo: bool) -> bool {
    if repo {
        return run(dir, &["check-ignore", "--no-index", "-q", "--", rel]).is_ok();
    }
    let mut b = ignore::gitignore::GitignoreBuilder::new(dir);
    b.add(dir.join(".gitignore"));
    b.build()
        .map(|g| g.matched_path_or_any_parents(rel, false).is_ignore())
        .unwrap_or(false)
}

fn is_local_env(name: &str) -> bool {
    is_env_file(name) && name.to_ascii_lowercase().ends_with(".local")
}

fn file_name(rel: &str) -> &str {
    rel.rsplit('/').next().unwrap_or(rel)
}

/// Env files on disk under `dir` (dependencies and build output left out), relative paths.
fn env_files_on_disk(dir: &Path) -> Vec<String> {
    const SKIP: &[&str] = &[
        ".git",
        "node_modules",
        "target",
        "vendor",
        ".next",
        "dist",
        "build",
    ];
    let mut b = ignore::WalkBuilder::new(dir);
    b.standard_filters(false)
        .max_depth(Some(6))
        .filter_entry(|e| {
            !(e.file_type().is_some_and(|t| t.is_dir())
                && SKIP.contains(&e.file_name().to_string_lossy().as_ref()))
        });
    let mut out: Vec<String> = b
        .build()
        .flatten()
        .filter(|e| e.file_type().is_some_and(|t| t.is_file()))
        .filter(|e| is_env_file(&e.file_name().to_string_lossy()))
        .filter_map(|e| {
            e.path()
                .strip_prefix(dir)
                .ok()
                .map(|p| p.to_string_lossy().replace('\\', "/"))
        })
        .collect();
    out.sort();
    out
}

/// Whether the scanner finds a secret in `data` (the file holds secrets).
fn holds_secrets(scanner: &Scanner, rel: &str, data: &[u8]) -> bool {
    !scanner.scan_bytes(rel, data).is_empty()
}

/// Git hygiene of the project in `dir`: env files committed now or in history, env files a
/// `.gitignore` does not cover, lockfiles missing or untracked. `scanner` decides whether an
/// env file other than `.env*.local` holds secrets (those always count).
pub fn hygiene(dir: &Path, scanner: &Scanner) -> Result<Vec<Finding>, Error> {
    let repo = is_repo(dir);
    let mut findings = Vec::new();
    let tracked = if repo { tracked(dir)? } else { HashSet::new() };
    let holds =
        |rel: &str| std::fs::read(dir.join(rel)).is_ok_and(|d| holds_secrets(scanner, rel, &d));

    // Tracked now.
    let mut tracked_env: Vec<&String> = tracked
        .iter()
        .filter(|p| is_env_file(file_name(p)))
        .collect();
    tracked_env.sort();
    for rel in &tracked_env {
        let local = is_local_env(file_name(rel));
        if local || holds(rel) {
            let why = if local {
                "a local env file is committed: remove it from git (git rm --cached) and rotate its secrets"
            } else {
                "an env file holding secrets is committed: remove it from git and rotate its secrets"
            };
            findings.push(
                Finding::new("env_file_committed", Severity::Critical, why).at(rel.as_str(), None),
            );
        }
    }

    // On disk, not ignored (and not tracked: that is reported above).
    for rel in env_files_on_disk(dir) {
        if tracked.contains(&rel) || ignored(dir, &rel, repo) {
            continue;
        }
        let local = is_local_env(file_name(&rel));
        if local || holds(&rel) {
            findings.push(
                Finding::new(
                    "env_file_not_ignored",
                    Severity::High,
                    "an env file holding secrets is not covered by .gitignore: add `.env*.local` (or the file) to .gitignore",
                )
                .at(rel, None),
            );
        }
    }
    // The pattern itself, for projects with env files or a package.json.
    let has_env_project = dir.join("package.json").exists() || !env_files_on_disk(dir).is_empty();
    if has_env_project
        && !ignored(dir, ".env.local", repo)
        && !findings.iter().any(|f| f.rule == "env_file_not_ignored")
        && !tracked.contains(".env.local")
    {
        findings.push(
            Finding::new(
                "env_file_not_ignored",
                Severity::Medium,
                ".gitignore does not ignore .env.local: add `.env*.local`",
            )
            .at(".gitignore", None),
        );
    }

    // In history, no longer tracked.
    if repo {
        let blobs = history_blobs(dir, &[":(glob)**/.env*", ":(glob).env*"])?;
        let mut first: BTreeMap<String, String> = BTreeMap::new();
        let mut candidates = Vec::new();
        for b in &blobs {
            if !is_env_file(file_name(&b.path)) || tracked.contains(&b.path) {
                continue;
            }
            if is_local_env(file_name(&b.path)) {
                first
                    .entry(b.path.clone())
                    .or_insert_with(|| b.commit.clone());
            } else {
                candidates.push(b.clone());
            }
        }
        read_blobs(dir, &candidates, 1 << 20, |b, data| {
            if data.is_some_and(|d| holds_secrets(scanner, &b.path, d)) {
                first
                    .entry(b.path.clone())
                    .or_insert_with(|| b.commit.clone());
            }
        })?;
        for (path, commit) in first {
            findings.push(
                Finding::new(
                    "env_file_in_history",
                    Severity::High,
                    format!(
                        "an env file with secrets is in git history (commit {}): rotate its secrets; rewriting history is not enough",
                        &commit[..commit.len().min(12)]
                    ),
                )
                .at(path, None)
                .extra("commit", commit),
            );
        }
    }

    lockfiles(dir, repo, &tracked, &mut findings);
    Ok(findings)
}

/// Manifests and the lockfiles that pin them.
const LOCKFILES: &[(&str, &[&str])] = &[
    (
        "package.json",
        &[
            "package-lock.json",
            "npm-shrinkwrap.json",
            "yarn.lock",
            "pnpm-lock.yaml",
            "bun.lock",
            "bun.lockb",
        ],
    ),
    ("Cargo.toml", &["Cargo.lock"]),
    ("Pipfile", &["Pipfile.lock"]),
    ("Gemfile", &["Gemfile.lock"]),
    ("composer.json", &["composer.lock"]),
    ("go.mod", &["go.sum"]),
];

fn lockfiles(dir: &Path, repo: bool, tracked: &HashSet<String>, findings: &mut Vec<Finding>) {
    for (manifest, locks) in LOCKFILES {
        if !dir.join(manifest).is_file() {
            continue;
        }
        // A go.mod without requirements has no go.sum.
        if *manifest == "go.mod"
            && !std::fs::read_to_string(dir.join(manifest)).is_ok_and(|t| t.contains("require"))
        {
            continue;
        }
        let present: Vec<&str> = locks
            .iter()
            .copied()
            .filter(|l| dir.join(l).is_file())
            .collect();
        if present.is_empty() {
            findings.push(
                Finding::new(
                    "lockfile_missing",
                    Severity::High,
                    format!(
                        "{manifest} has no lockfile ({}): builds are not reproducible and audits cannot see what is installed",
                        locks.join(", ")
                    ),
                )
                .at(*manifest, None),
            );
        } else if repo && !present.iter().any(|l| tracked.contains(*l)) {
            findings.push(
                Finding::new(
                    "lockfile_untracked",
                    Severity::High,
                    format!("{} is not committed: commit it", present[0]),
                )
                .at(present[0], None),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::Options;

    fn git(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .current_dir(dir)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
            .args(args)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    }

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn rules(dir: &Path) -> Vec<(String, String)> {
        let scanner = Scanner::new(&Options::new(dir)).unwrap();
        hygiene(dir, &scanner)
            .unwrap()
            .into_iter()
            .map(|f| (f.rule, f.file.unwrap_or_default()))
            .collect()
    }

    fn secret_line() -> String {
        format!(
            "STRIPE_SECRET_KEY={}\n",
            ["sk_", "live_", "4Xq9Lm2Zt7Rb1Nc8Vw3Ky6Pd"].concat()
        )
    }

    fn pair(rule: &str, file: &str) -> (String, String) {
        (rule.to_string(), file.to_string())
    }

    #[test]
    fn committed_local_env_file_is_critical() {
        let d = tempfile::tempdir().unwrap();
        git(d.path(), &["init", "-q"]);
        write(d.path(), ".env.local", "SESSION_SECRET=x\n");
        git(d.path(), &["add", "-f", ".env.local"]);
        git(d.path(), &["commit", "-qm", "oops"]);
        let found = rules(d.path());
        assert!(
            found.contains(&pair("env_file_committed", ".env.local")),
            "{found:?}"
        );
    }

    #[test]
    fn env_files_must_be_ignored() {
        let d = tempfile::tempdir().unwrap();
        git(d.path(), &["init", "-q"]);
        write(d.path(), ".env.local", "SESSION_SECRET=x\n");
        assert!(rules(d.path()).contains(&pair("env_file_not_ignored", ".env.local")));
        write(d.path(), ".gitignore", ".env*.local\n");
        assert!(rules(d.path()).is_empty(), "{:?}", rules(d.path()));
        // Negation is honoured.
        write(d.path(), ".gitignore", ".env*.local\n!.env.local\n");
        assert!(rules(d.path()).contains(&pair("env_file_not_ignored", ".env.local")));
    }

    #[test]
    fn the_pattern_is_checked_even_without_the_file() {
        let d = tempfile::tempdir().unwrap();
        git(d.path(), &["init", "-q"]);
        write(d.path(), "package.json", "{}\n");
        write(d.path(), "package-lock.json", "{}\n");
        git(d.path(), &["add", "."]);
        git(d.path(), &["commit", "-qm", "init"]);
        assert_eq!(
            rules(d.path()),
            [pair("env_file_not_ignored", ".gitignore")]
        );
    }

    #[test]
    fn an_env_file_with_secrets_in_history_names_its_commit() {
        let d = tempfile::tempdir().unwrap();
        git(d.path(), &["init", "-q"]);
        write(d.path(), ".gitignore", ".env*.local\n");
        write(d.path(), ".env", &secret_line());
        write(
            d.path(),
            ".env.production",
            "NEXT_PUBLIC_SITE=https://acme.io\n",
        );
        git(d.path(), &["add", "."]);
        git(d.path(), &["commit", "-qm", "add env"]);
        // Tracked now, with a secret: committed. Without a secret (.env.production): fine.
        assert_eq!(rules(d.path()), [pair("env_file_committed", ".env")]);
        git(d.path(), &["rm", "-q", "--cached", ".env"]);
        write(d.path(), ".gitignore", ".env*.local\n.env\n");
        git(d.path(), &["commit", "-qam", "untrack env"]);
        let scanner = Scanner::new(&Options::new(d.path())).unwrap();
        let found = hygiene(d.path(), &scanner).unwrap();
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].rule, "env_file_in_history");
        assert_eq!(found[0].file.as_deref(), Some(".env"));
        assert_eq!(found[0].extra["commit"].as_str().unwrap().len(), 40);
    }

    #[test]
    fn lockfiles_missing_or_untracked() {
        let d = tempfile::tempdir().unwrap();
        git(d.path(), &["init", "-q"]);
        write(d.path(), ".gitignore", ".env*.local\n");
        write(d.path(), "package.json", "{}\n");
        assert_eq!(rules(d.path()), [pair("lockfile_missing", "package.json")]);
        write(d.path(), "pnpm-lock.yaml", "lockfileVersion: '9.0'\n");
        assert_eq!(
            rules(d.path()),
            [pair("lockfile_untracked", "pnpm-lock.yaml")]
        );
        git(d.path(), &["add", "."]);
        assert!(rules(d.path()).is_empty());
    }

    #[test]
    fn outside_a_repository_gitignore_is_read_directly() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), ".env.local", "SESSION_SECRET=x\n");
        write(d.path(), "Cargo.toml", "[package]\n");
        write(d.path(), "Cargo.lock", "version = 4\n");
        assert_eq!(
            rules(d.path()),
            [pair("env_file_not_ignored", ".env.local")]
        );
        write(d.path(), ".gitignore", ".env*.local\n");
        assert!(rules(d.path()).is_empty());
    }
}
