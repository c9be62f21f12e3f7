//! `rampart init`: set up a project for Rampart.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use rampart_core::secret::{DEFAULT_BYTES, generate};

use super::{Context, Outcome};

/// The commented configuration `init` writes.
pub(crate) const TEMPLATE: &str = include_str!("init_template.toml");

/// The secrets `init` puts in `.env.local`.
const SECRETS: [&str; 2] = ["CSRF_SECRET", "SESSION_SECRET"];

/// The `.gitignore` pattern that keeps every local env file out of git.
const IGNORE_PATTERN: &str = ".env*.local";

/// Writes `rampart.toml`, a `.env.local` with fresh CSRF_SECRET and SESSION_SECRET (mode 0600)
/// and a `.gitignore` entry for `.env*.local`. Existing files are kept: a missing secret is
/// added to `.env.local`, nothing is overwritten unless `--force` is given.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The project directory (created if missing).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// Overwrite rampart.toml and regenerate the two secrets in .env.local (other lines kept).
    #[arg(long)]
    force: bool,
}

/// One file `init` would write, and what it says about it.
struct Plan {
    path: PathBuf,
    contents: String,
    mode: Option<u32>,
    note: String,
}

pub(crate) fn run(_ctx: &Context, args: Args) -> anyhow::Result<Outcome> {
    let dir = &args.dir;
    if dir.exists() && !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    fs::create_dir_all(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;

    // Decide everything before writing anything, so a failure leaves no half-done setup.
    let config = plan_config(dir, args.force);
    let plans = [plan_env(dir, args.force)?, plan_gitignore(dir)?];
    let mut err = std::io::stderr().lock();
    let config_path = dir.join(rampart_core::config::FILE_NAME);
    if config.is_none() {
        writeln!(
            err,
            "kept {} (use --force to overwrite)",
            config_path.display()
        )?;
    }
    for p in config.into_iter().chain(plans.into_iter().flatten()) {
        write_atomically(&p.path, &p.contents, p.mode)?;
        writeln!(err, "{}", p.note)?;
    }
    Ok(Outcome::Clean)
}

fn plan_config(dir: &Path, force: bool) -> Option<Plan> {
    let path = dir.join(rampart_core::config::FILE_NAME);
    if path.exists() && !force {
        return None;
    }
    let note = format!("wrote {}", path.display());
    Some(Plan {
        path,
        contents: TEMPLATE.to_string(),
        mode: None,
        note,
    })
}

fn plan_env(dir: &Path, force: bool) -> anyhow::Result<Option<Plan>> {
    let path = dir.join(".env.local");
    let existing = match fs::read(&path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            anyhow::anyhow!("{} is not UTF-8 text; not touching it", path.display())
        })?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut lines: Vec<String> = existing.lines().map(str::to_string).collect();
    let mut changed = Vec::new();
    for name in SECRETS {
        let defined = lines.iter().position(|l| defines(l, name));
        match defined {
            Some(i) if force => {
                lines[i] = format!("{name}={}", generate(DEFAULT_BYTES)?);
                changed.push(format!("regenerated {name}"));
            }
            Some(_) => {}
            None => {
                lines.push(format!("{name}={}", generate(DEFAULT_BYTES)?));
                changed.push(format!("added {name}"));
            }
        }
    }
    if changed.is_empty() {
        return Ok(None);
    }
    let mut contents = lines.join("\n");
    contents.push('\n');
    let note = format!("{} in {} (mode 0600)", changed.join(", "), path.display());
    Ok(Some(Plan {
        path,
        contents,
        mode: Some(0o600),
        note,
    }))
}

/// Whether an env-file line assigns `name` (`NAME=`, `export NAME=`, spaces allowed).
fn defines(line: &str, name: &str) -> bool {
    let l = line.trim_start();
    let l = l.strip_prefix("export ").unwrap_or(l).trim_start();
    l.strip_prefix(name)
        .is_some_and(|rest| rest.trim_start().starts_with('='))
}

fn plan_gitignore(dir: &Path) -> anyhow::Result<Option<Plan>> {
    let path = dir.join(".gitignore");
    let existing = match fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    if ignores_local_env(&existing) {
        return Ok(None);
    }
    let mut contents = existing.clone();
    if !contents.is_empty() && !contents.ends_with('\n') {
        contents.push('\n');
    }
    contents.push_str("# local env files hold secrets (rampart init)\n");
    contents.push_str(IGNORE_PATTERN);
    contents.push('\n');
    let note = format!("added {IGNORE_PATTERN} to {}", path.display());
    Ok(Some(Plan {
        path,
        contents,
        mode: None,
        note,
    }))
}

/// Whether the last matching `.gitignore` rule ignores both `.env.local` and
/// `.env.production.local` (negations such as `!.env.local` are honoured).
fn ignores_local_env(gitignore: &str) -> bool {
    [".env.local", ".env.production.local"].iter().all(|name| {
        let mut ignored = false;
        for line in gitignore.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negated, pattern) = match line.strip_prefix('!') {
                Some(p) => (true, p),
                None => (false, line),
            };
            let pattern = pattern.trim_start_matches("**/").trim_start_matches('/');
            if glob_match(pattern.as_bytes(), name.as_bytes()) {
                ignored = !negated;
            }
        }
        ignored
    })
}

/// `*` and `?` globbing within one path component.
fn glob_match(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            glob_match(&pattern[1..], name)
                || (!name.is_empty() && name[0] != b'/' && glob_match(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => glob_match(&pattern[1..], &name[1..]),
        (Some(p), Some(n)) if p == n => glob_match(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// Writes `contents` to a temporary file beside `path`, then renames it into place, so the
/// file is either the old one or the complete new one.
fn write_atomically(path: &Path, contents: &str, mode: Option<u32>) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = dir.join(format!(".{name}.rampart-tmp"));
    let result = (|| -> std::io::Result<()> {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if let Some(mode) = mode {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        let mut f = options.open(&tmp)?;
        f.write_all(contents.as_bytes())?;
        f.sync_all()?;
        #[cfg(unix)]
        if let Some(mode) = mode {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))?;
        }
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_is_a_valid_configuration() {
        let cfg = rampart_core::config::load_str(
            TEMPLATE,
            "init_template.toml",
            &rampart_core::config::EnvMap::new(),
        )
        .unwrap();
        assert_eq!(cfg.routes.len(), 6);
    }

    #[test]
    fn gitignore_detection_honours_globs_and_negation() {
        assert!(ignores_local_env(".env*.local\n"));
        assert!(ignores_local_env("node_modules\n.env*\n"));
        assert!(ignores_local_env("**/.env*.local\n"));
        assert!(!ignores_local_env(".env.local\n"));
        assert!(!ignores_local_env(".env*.local\n!.env.local\n"));
        assert!(!ignores_local_env("# .env*.local\n"));
    }

    #[test]
    fn defines_recognises_assignments() {
        assert!(defines("CSRF_SECRET=abc", "CSRF_SECRET"));
        assert!(defines("export CSRF_SECRET = abc", "CSRF_SECRET"));
        assert!(!defines("CSRF_SECRET_OLD=abc", "CSRF_SECRET"));
        assert!(!defines("# CSRF_SECRET=abc", "CSRF_SECRET"));
    }
}
