//! Lockfiles: what is installed, by exact version.
//!
//! npm `package-lock.json` v1-v3 and `npm-shrinkwrap.json`, `yarn.lock` (classic and berry),
//! `pnpm-lock.yaml` (v5-v9), `Cargo.lock`, `poetry.lock` and pinned `requirements*.txt`.
//! Each package is reported once per (name, version), however many paths install it.

mod cargo;
mod npm;
mod pnpm;
mod python;
mod yarn;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::Ecosystem;

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Package {
    /// Its ecosystem.
    pub ecosystem: Ecosystem,
    /// The name as the lockfile writes it.
    pub name: String,
    /// The exact version.
    pub version: String,
    /// A direct dependency of the project (when the lockfile says).
    pub direct: bool,
    /// The 1-based line where the lockfile declares it, when known.
    pub line: Option<usize>,
}

/// A parsed lockfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lockfile {
    /// The file, as found.
    pub path: PathBuf,
    /// Its format (`package-lock.json v3`, `yarn.lock (berry)`, ...).
    pub kind: String,
    /// The packages, sorted, one per (name, version).
    pub packages: Vec<Package>,
}

/// Why a lockfile could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockfileError {
    /// Unreadable.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Larger than [`MAX_LOCKFILE`].
    #[error("{} is {size} bytes, over the {MAX_LOCKFILE}-byte lockfile limit", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// Not valid for its format; `at` is `line:col` or a JSON/TOML path.
    #[error("{}:{at}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Where in it.
        at: String,
        /// What is wrong.
        message: String,
    },
}

/// The largest lockfile read (the biggest real ones are tens of megabytes).
pub const MAX_LOCKFILE: u64 = 256 << 20;

/// File names recognised as lockfiles.
pub const LOCKFILE_NAMES: &[&str] = &[
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "Cargo.lock",
    "poetry.lock",
    "requirements.txt",
];

/// Directories never entered while looking for lockfiles.
pub const SKIPPED_DIRS: &[&str] = &[
    "node_modules",
    "target",
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    ".yarn",
    ".pnpm-store",
    "vendor",
];

/// Whether `name` is a lockfile name (`requirements*.txt` included).
pub fn is_lockfile_name(name: &str) -> bool {
    LOCKFILE_NAMES.contains(&name) || (name.starts_with("requirements") && name.ends_with(".txt"))
}

/// Finds lockfiles under `root` (or `root` itself when it is a file), skipping
/// [`SKIPPED_DIRS`], sorted by path.
pub fn find(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    if root.is_file() {
        return Ok(vec![root.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if depth > 0 => {
                let _ = e; // an unreadable subdirectory is skipped, the root is not
                continue;
            }
            Err(e) => return Err(e),
        };
        for entry in rd.filter_map(Result::ok) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(ft) = entry.file_type() else { continue };
            if ft.is_dir() {
                if depth < 12 && !SKIPPED_DIRS.contains(&name.as_str()) {
                    stack.push((entry.path(), depth + 1));
                }
            } else if ft.is_file() && is_lockfile_name(&name) {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads and parses one lockfile, by its name.
pub fn parse_file(path: &Path) -> Result<Lockfile, LockfileError> {
    let read_err = |source| LockfileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let meta = std::fs::metadata(path).map_err(read_err)?;
    if meta.len() > MAX_LOCKFILE {
        return Err(LockfileError::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
        });
    }
    let bytes = std::fs::read(path).map_err(read_err)?;
    let text = String::from_utf8(bytes).map_err(|e| LockfileError::Invalid {
        path: path.to_path_buf(),
        at: format!("byte {}", e.utf8_error().valid_up_to()),
        message: "not UTF-8 text".to_string(),
    })?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    parse_str(name, &text)
        .map_err(|(at, message)| LockfileError::Invalid {
            path: path.to_path_buf(),
            at,
            message,
        })
        .map(|(kind, mut packages)| {
            if matches!(name, "yarn.lock" | "pnpm-lock.yaml") {
                mark_direct_from_manifest(path, &mut packages);
            }
            Lockfile {
                path: path.to_path_buf(),
                kind,
                packages: dedupe(packages),
            }
        })
}

/// yarn and pnpm lockfiles do not say which packages the project itself depends on: the
/// `package.json` next to them does. Unreadable or odd manifests leave everything transitive.
fn mark_direct_from_manifest(lockfile: &Path, packages: &mut [Package]) {
    let manifest = lockfile.with_file_name("package.json");
    let Ok(meta) = std::fs::metadata(&manifest) else {
        return;
    };
    if meta.len() > 16 << 20 {
        return;
    }
    let Ok(text) = std::fs::read_to_string(&manifest) else {
        return;
    };
    let Ok(serde_json::Value::Object(doc)) = serde_json::from_str(&text) else {
        return;
    };
    let direct: BTreeSet<&str> = ["dependencies", "devDependencies", "optionalDependencies"]
        .iter()
        .filter_map(|k| doc.get(*k).and_then(serde_json::Value::as_object))
        .flat_map(|m| m.keys().map(String::as_str))
        .collect();
    for p in packages.iter_mut() {
        p.direct |= direct.contains(p.name.as_str());
    }
}

/// 1-based line numbers of `name = "N"` followed by `version = "V"` in a TOML lockfile
/// (Cargo.lock, poetry.lock), by (name, version).
pub(crate) fn toml_package_lines(text: &str) -> std::collections::HashMap<(&str, &str), usize> {
    let mut out = std::collections::HashMap::new();
    let mut prev: Option<(usize, &str)> = None;
    for (i, line) in text.lines().enumerate() {
        let value = |key: &str| {
            line.strip_prefix(key)
                .map(str::trim_start)
                .and_then(|r| r.strip_prefix('='))
                .map(|r| r.trim().trim_matches('"'))
        };
        if let Some(n) = value("name") {
            prev = Some((i + 1, n));
        } else if let (Some(v), Some((l, n))) = (value("version"), prev.take()) {
            out.entry((n, v)).or_insert(l);
        }
    }
    out
}

/// A parse failure: where (`line:col` or a path into the document) and what.
pub(crate) type ParseError = (String, String);

/// Parses lockfile text by its file name → (kind, packages).
pub fn parse_str(name: &str, text: &str) -> Result<(String, Vec<Package>), (String, String)> {
    match name {
        "package-lock.json" | "npm-shrinkwrap.json" => npm::parse(text),
        "yarn.lock" => yarn::parse(text),
        "pnpm-lock.yaml" => pnpm::parse(text),
        "Cargo.lock" => cargo::parse(text),
        "poetry.lock" => python::parse_poetry(text),
        n if is_lockfile_name(n) => python::parse_requirements(text),
        _ => Err(("1".into(), format!("{name} is not a known lockfile"))),
    }
}

fn dedupe(mut packages: Vec<Package>) -> Vec<Package> {
    packages.sort();
    // Direct wins over transitive for the same (name, version).
    let mut out: Vec<Package> = Vec::with_capacity(packages.len());
    let mut seen = BTreeSet::new();
    for p in packages.into_iter().rev() {
        if seen.insert((p.ecosystem, p.name.clone(), p.version.clone())) {
            out.push(p);
        }
    }
    out.reverse();
    out
}

fn toml_error(text: &str, e: &toml::de::Error) -> ParseError {
    let at = match e.span() {
        Some(span) => {
            let (l, c) = rampart_core::config::line_col(text, span.start);
            format!("{l}:{c}")
        }
        None => "1".to_string(),
    };
    (at, e.message().trim().to_string())
}

#[cfg(test)]
mod tests;
