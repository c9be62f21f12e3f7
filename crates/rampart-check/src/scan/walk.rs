//! The parallel, `.gitignore`-aware walk (the `ignore` crate, ripgrep's walker).

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use ignore::{WalkBuilder, WalkState};

use super::{
    Error, Options, Outcome, ScanFinding, Scanner, is_binary, is_credentials_file, mark_ignored,
    relative, tick,
};

/// Directories the second look for ignored env files never enters: dependencies and build
/// output, where an env file is someone else's.
const NOT_APP_DIRS: &[&str] = &[
    ".git",
    "node_modules",
    "target",
    "vendor",
    ".next",
    ".nuxt",
    ".svelte-kit",
    ".vercel",
    ".turbo",
    "dist",
    "build",
    "out",
    ".venv",
    "venv",
    "__pycache__",
    ".cache",
];

#[derive(Default)]
struct Shared {
    findings: Mutex<Vec<ScanFinding>>,
    errors: Mutex<Vec<String>>,
    /// Credentials files the main walk scanned (so the second look skips them).
    seen_credentials: Mutex<HashSet<PathBuf>>,
    files: AtomicU64,
    bytes: AtomicU64,
    binary: AtomicU64,
    large: AtomicU64,
}

pub(super) fn walk(scanner: &Scanner, options: &Options) -> Result<Outcome, Error> {
    let shared = Shared::default();
    let mut builder = WalkBuilder::new(&options.roots[0]);
    for r in &options.roots[1..] {
        builder.add(r);
    }
    let threads = if options.threads == 0 {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    } else {
        options.threads
    };
    builder
        .hidden(false)
        .parents(options.respect_ignore)
        .ignore(options.respect_ignore)
        .git_ignore(options.respect_ignore)
        .git_global(options.respect_ignore)
        .git_exclude(options.respect_ignore)
        .require_git(false)
        .follow_links(false)
        .threads(threads);
    let base = options.base.clone();
    let exclude = scanner.exclude.clone();
    builder.filter_entry(move |e| {
        if e.file_name() == ".git" {
            return false;
        }
        // Prune excluded directories here; files are checked in the worker.
        let is_dir = e.file_type().is_some_and(|t| t.is_dir());
        if !is_dir || exclude.is_empty() {
            return true;
        }
        let rel = relative(e.path(), &base);
        rel.is_empty() || !exclude.matched_path_or_any_parents(rel, true).is_ignore()
    });
    let base = &options.base;
    builder.build_parallel().run(|| {
        let shared = &shared;
        let mut buf = Vec::with_capacity(1 << 16);
        Box::new(move |entry| {
            let Ok(entry) = entry else {
                if let Err(e) = entry {
                    shared.errors.lock().unwrap().push(e.to_string());
                }
                return WalkState::Continue;
            };
            if !entry.file_type().is_some_and(|t| t.is_file()) {
                return WalkState::Continue;
            }
            let rel = relative(entry.path(), base);
            if scanner.is_excluded(&rel, false) {
                return WalkState::Continue;
            }
            if is_credentials_file(&entry.file_name().to_string_lossy()) {
                shared
                    .seen_credentials
                    .lock()
                    .unwrap()
                    .insert(entry.path().to_path_buf());
            }
            if let Some(found) = scan_file(scanner, options, shared, entry.path(), &rel, &mut buf)
                && !found.is_empty()
            {
                shared.findings.lock().unwrap().extend(found);
            }
            WalkState::Continue
        })
    });
    if options.respect_ignore {
        ignored_credentials_files(scanner, options, &shared);
    }
    Ok(Outcome {
        findings: shared.findings.into_inner().unwrap(),
        files: shared.files.into_inner(),
        bytes: shared.bytes.into_inner(),
        skipped_binary: shared.binary.into_inner(),
        skipped_large: shared.large.into_inner(),
        blobs: 0,
        errors: shared.errors.into_inner().unwrap(),
    })
}

/// Reads and scans one file; `None` when it was skipped or unreadable.
fn scan_file(
    scanner: &Scanner,
    options: &Options,
    shared: &Shared,
    path: &std::path::Path,
    rel: &str,
    buf: &mut Vec<u8>,
) -> Option<Vec<ScanFinding>> {
    let read = (|| -> std::io::Result<bool> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        if len > options.max_file_size {
            return Ok(false);
        }
        buf.clear();
        f.read_to_end(buf)?;
        Ok(true)
    })();
    match read {
        Ok(true) => {}
        Ok(false) => {
            shared.large.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        Err(e) => {
            shared
                .errors
                .lock()
                .unwrap()
                .push(format!("{}: {e}", path.display()));
            return None;
        }
    }
    if is_binary(buf) {
        shared.binary.fetch_add(1, Ordering::Relaxed);
        return None;
    }
    shared.files.fetch_add(1, Ordering::Relaxed);
    shared.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
    tick(options.progress.as_ref(), buf.len());
    Some(scanner.scan_bytes(rel, buf))
}

/// Env and credentials files that git ignores: scanned anyway (they hold real secrets), their
/// findings low severity.
fn ignored_credentials_files(scanner: &Scanner, options: &Options, shared: &Shared) {
    let seen = shared.seen_credentials.lock().unwrap().clone();
    let mut buf = Vec::new();
    for root in &options.roots {
        if !root.is_dir() {
            continue;
        }
        let mut b = WalkBuilder::new(root);
        b.standard_filters(false)
            .max_depth(Some(8))
            .filter_entry(|e| {
                !(e.file_type().is_some_and(|t| t.is_dir())
                    && NOT_APP_DIRS.contains(&e.file_name().to_string_lossy().as_ref()))
            });
        for entry in b.build().flatten() {
            if !entry.file_type().is_some_and(|t| t.is_file())
                || !is_credentials_file(&entry.file_name().to_string_lossy())
                || seen.contains(entry.path())
            {
                continue;
            }
            let rel = relative(entry.path(), &options.base);
            if scanner.is_excluded(&rel, false) {
                continue;
            }
            if let Some(mut found) =
                scan_file(scanner, options, shared, entry.path(), &rel, &mut buf)
            {
                found.iter_mut().for_each(mark_ignored);
                shared.findings.lock().unwrap().extend(found);
            }
        }
    }
}
