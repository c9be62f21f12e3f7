//! Is a local env file git-ignored, and is it tracked?
//!
//! The ignore test is a pattern test, as `git check-ignore --no-index` does: a tracked file can
//! still match a pattern, and plain `git check-ignore` would call it "not ignored". Patterns come
//! from `.gitignore` files between the repository root and the file, and `.git/info/exclude`;
//! the user's global excludes file is left out on purpose, since it does not protect teammates.
//! Negation (`!.env.local`) is honoured: the last matching pattern wins, deeper files first.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One pattern line of a `.gitignore`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    glob: String,
    negated: bool,
    dir_only: bool,
    /// Contains a `/` before its end: matched against the whole relative path.
    anchored: bool,
}

/// The patterns of one ignore file, relative to the directory it applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IgnoreFile {
    base: PathBuf,
    patterns: Vec<Pattern>,
}

impl IgnoreFile {
    /// Parses ignore-file text whose patterns apply under `base`.
    pub(crate) fn parse(base: &Path, text: &str) -> Self {
        let patterns = text.lines().filter_map(parse_line).collect();
        IgnoreFile {
            base: base.to_path_buf(),
            patterns,
        }
    }

    /// `Some(true)` ignored, `Some(false)` re-included by a negation, `None` no pattern matched.
    fn decide(&self, path: &Path, is_dir: bool) -> Option<bool> {
        let rel = path.strip_prefix(&self.base).ok()?;
        let rel = rel.to_string_lossy().replace('\\', "/");
        if rel.is_empty() {
            return None;
        }
        let name = rel.rsplit('/').next().unwrap_or(&rel);
        self.patterns.iter().rev().find_map(|p| {
            if p.dir_only && !is_dir {
                return None;
            }
            let hit = if p.anchored {
                glob_match(p.glob.as_bytes(), rel.as_bytes())
            } else {
                glob_match(p.glob.as_bytes(), name.as_bytes())
            };
            hit.then_some(!p.negated)
        })
    }
}

fn parse_line(line: &str) -> Option<Pattern> {
    let mut s = line.trim_end_matches('\r');
    // Trailing spaces are dropped unless escaped.
    while s.ends_with(' ') && !s.ends_with("\\ ") {
        s = &s[..s.len() - 1];
    }
    if s.is_empty() || s.starts_with('#') {
        return None;
    }
    let (negated, s) = match s.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (
            false,
            s.strip_prefix('\\')
                .filter(|r| r.starts_with(['#', '!']))
                .unwrap_or(s),
        ),
    };
    let (dir_only, s) = match s.strip_suffix('/') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if s.is_empty() {
        return None;
    }
    let mut anchored = s.contains('/');
    let mut glob = s.strip_prefix('/').unwrap_or(s);
    // `**/x` matches x at any depth: the same as an unanchored `x` when x has no slash.
    if let Some(rest) = glob.strip_prefix("**/")
        && !rest.contains('/')
    {
        glob = rest;
        anchored = false;
    }
    Some(Pattern {
        glob: glob.replace("\\ ", " "),
        negated,
        dir_only,
        anchored,
    })
}

/// Gitignore glob: `*` and `?` stop at `/`, `[...]` classes (with `!`/`^` negation and
/// ranges), `**` crosses directories, `\x` escapes.
fn glob_match(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') if p.get(1) == Some(&b'*') => {
            let rest = &p[2..];
            let rest = rest.strip_prefix(b"/").unwrap_or(rest);
            // `**` matches zero or more whole segments.
            (0..=s.len())
                .any(|i| (i == 0 || s[i - 1] == b'/' || i == s.len()) && glob_match(rest, &s[i..]))
                || (rest.is_empty())
        }
        Some(b'*') => (0..=s.len())
            .take_while(|&i| i == 0 || s[i - 1] != b'/')
            .any(|i| glob_match(&p[1..], &s[i..])),
        Some(b'?') => s.first().is_some_and(|&c| c != b'/') && glob_match(&p[1..], &s[1..]),
        Some(b'[') => match (s.first(), class_end(p)) {
            (Some(&c), Some(end)) if c != b'/' => {
                class_matches(&p[1..end], c) && glob_match(&p[end + 1..], &s[1..])
            }
            (Some(&c), None) => c == b'[' && glob_match(&p[1..], &s[1..]),
            _ => false,
        },
        Some(b'\\') if p.len() > 1 => s.first() == Some(&p[1]) && glob_match(&p[2..], &s[1..]),
        Some(&c) => s.first() == Some(&c) && glob_match(&p[1..], &s[1..]),
    }
}

fn class_end(p: &[u8]) -> Option<usize> {
    let start = if matches!(p.get(1), Some(b'!' | b'^')) {
        2
    } else {
        1
    };
    // A `]` right after the opening (or negation) is literal.
    let from = start + usize::from(p.get(start) == Some(&b']'));
    p.iter()
        .skip(from)
        .position(|&c| c == b']')
        .map(|i| i + from)
}

fn class_matches(class: &[u8], c: u8) -> bool {
    let (neg, body) = match class.first() {
        Some(b'!' | b'^') => (true, &class[1..]),
        _ => (false, class),
    };
    let mut hit = false;
    let mut i = 0;
    while i < body.len() {
        if i + 2 < body.len() && body[i + 1] == b'-' {
            hit |= (body[i]..=body[i + 2]).contains(&c);
            i += 3;
        } else {
            hit |= body[i] == c;
            i += 1;
        }
    }
    hit != neg
}

/// The repository root above `dir` (the directory holding `.git`), if any.
pub(crate) fn repo_root(dir: &Path) -> Option<PathBuf> {
    let dir = dir.canonicalize().ok()?;
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

/// The ignore files that apply to `dir`, shallowest first.
pub(crate) fn ignore_files_for(dir: &Path) -> std::io::Result<Vec<IgnoreFile>> {
    let dir = dir.canonicalize()?;
    let root = repo_root(&dir);
    let mut dirs: Vec<&Path> = match &root {
        Some(r) => dir.ancestors().take_while(|d| d.starts_with(r)).collect(),
        None => vec![dir.as_path()],
    };
    dirs.reverse();
    let mut out = Vec::new();
    if let Some(r) = &root {
        let exclude = r.join(".git/info/exclude");
        if let Ok(text) = std::fs::read_to_string(&exclude) {
            out.push(IgnoreFile::parse(r, &text));
        }
    }
    for d in dirs {
        match std::fs::read_to_string(d.join(".gitignore")) {
            Ok(text) => out.push(IgnoreFile::parse(d, &text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// Whether `file` (absolute, canonical directory) matches an ignore pattern: a parent directory
/// that is ignored ignores it too (git cannot re-include inside an excluded directory).
pub(crate) fn is_ignored(files: &[IgnoreFile], file: &Path) -> bool {
    let decide = |path: &Path, is_dir: bool| {
        // Deeper ignore files override shallower ones; `.git/info/exclude` is the shallowest.
        files.iter().rev().find_map(|f| f.decide(path, is_dir))
    };
    let mut parents: Vec<&Path> = file.ancestors().skip(1).collect();
    parents.reverse();
    parents.into_iter().any(|p| decide(p, true) == Some(true)) || decide(file, false) == Some(true)
}

/// Which of `names` (files in `dir`) git tracks. `None` when `dir` is not in a git work tree or
/// git cannot run: "tracked" is then unknown, never assumed.
pub(crate) fn tracked(dir: &Path, names: &[String]) -> Option<Vec<String>> {
    if names.is_empty() {
        return Some(Vec::new());
    }
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["ls-files", "-z", "--"])
        .args(names)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let listed = String::from_utf8_lossy(&out.stdout);
    Some(
        listed
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(|s| s.rsplit('/').next().unwrap_or(s).to_string())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignored(gitignore: &str, rel: &str) -> bool {
        let base = Path::new("/repo");
        let files = vec![IgnoreFile::parse(base, gitignore)];
        is_ignored(&files, &base.join(rel))
    }

    #[test]
    fn next_js_default_patterns() {
        assert!(ignored(".env*.local\n", ".env.local"));
        assert!(ignored(".env*.local\n", ".env.production.local"));
        assert!(ignored(".env*.local\n", "app/.env.local"));
        assert!(!ignored(".env*.local\n", ".env.production"));
        assert!(ignored(".env\n", ".env"));
        assert!(!ignored(".env\n", ".env.local"));
        assert!(ignored(".env*\n", ".env.local"));
        assert!(ignored("*.local\n", ".env.local"));
        assert!(ignored("/.env.local\n", ".env.local"));
        assert!(!ignored("/.env.local\n", "app/.env.local"));
        assert!(ignored("**/.env.local\n", "a/b/.env.local"));
        assert!(ignored(".env.[a-z]*\n", ".env.local"));
    }

    #[test]
    fn negation_and_comments() {
        assert!(!ignored(".env*\n!.env.local\n", ".env.local"));
        assert!(ignored("!.env.local\n.env*\n", ".env.local"));
        assert!(!ignored("# .env.local\n", ".env.local"));
        assert!(!ignored("\\#.env.local\n", ".env.local"));
        assert!(!ignored(".env.local/\n", ".env.local"));
    }

    #[test]
    fn ignored_parent_directory_ignores_the_file() {
        assert!(ignored("app/\n", "app/.env.local"));
        assert!(ignored("/app\n", "app/.env.local"));
        assert!(!ignored("/app\n", "web/app2/.env.local"));
    }

    #[test]
    fn deeper_files_win() {
        let root = IgnoreFile::parse(Path::new("/repo"), ".env*.local\n");
        let app = IgnoreFile::parse(Path::new("/repo/app"), "!.env.local\n");
        let files = vec![root, app];
        assert!(!is_ignored(&files, Path::new("/repo/app/.env.local")));
        assert!(is_ignored(
            &files,
            Path::new("/repo/app/.env.development.local")
        ));
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"a*c", b"abbc"));
        assert!(!glob_match(b"a*c", b"a/c"));
        assert!(glob_match(b"a/**/c", b"a/c"));
        assert!(glob_match(b"a/**/c", b"a/x/y/c"));
        assert!(glob_match(b"a/**", b"a/x/y"));
        assert!(glob_match(b"[!a]x", b"bx"));
        assert!(!glob_match(b"[!a]x", b"ax"));
        assert!(glob_match(b"[", b"["));
    }
}
