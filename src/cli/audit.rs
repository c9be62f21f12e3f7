//! `rampart audit`: known-vulnerable dependencies in lockfiles, from a local OSV database.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use rampart_check::audit::{self, Ecosystem, Options, Registries, update};
use rampart_check::report::Format;
use rampart_core::Severity;

use super::{Context, Outcome};

/// `rampart audit --help`: what is read, where advisories come from, what needs the network.
pub(crate) const LONG_ABOUT: &str = "Audit lockfiles against OSV advisories, from a local database.\n\n\
Lockfiles: package-lock.json (v1-v3), npm-shrinkwrap.json, yarn.lock (classic and berry), \
pnpm-lock.yaml, Cargo.lock, poetry.lock, requirements*.txt (pinned lines). PATH is walked for \
them, skipping node_modules, target, .git, vendor and virtualenvs.\n\n\
The database (--db, [audit] db, default ~/.cache/rampart/osv) holds OSV JSON records and/or \
OSV's per-ecosystem zip exports; --update downloads the exports for the ecosystems found \
(conditional GET: unchanged exports are not downloaded again) and indexes them. Without \
--offline, direct dependencies are also compared with the latest releases on the npm registry, \
crates.io and PyPI; when those cannot be reached the check reports \"skipped: offline\".";

/// Audit lockfiles against OSV advisories.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A project directory or one lockfile.
    #[arg(default_value = ".")]
    path: PathBuf,
    /// The advisory database directory.
    #[arg(long, value_name = "DIR")]
    db: Option<PathBuf>,
    /// No network: use the local database only and skip the outdated check.
    #[arg(long, conflicts_with = "update")]
    offline: bool,
    /// Download (when changed) the OSV exports of the ecosystems found, then audit.
    #[arg(long)]
    update: bool,
    /// Exit 1 when a finding is at or above this severity (default: [audit] fail_on, high).
    #[arg(long, value_name = "SEVERITY", value_parser = ["low", "medium", "high", "critical"])]
    fail_on: Option<String>,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = ["text", "json", "sarif", "markdown"])]
    format: String,
}

pub(crate) fn run(ctx: &Context, args: Args) -> anyhow::Result<Outcome> {
    let config = ctx.load_config(Some(&args.path))?;
    let env = rampart_core::config::process_env();
    let cfg = &config.audit;
    let db = args
        .db
        .clone()
        .or_else(|| cfg.db.clone())
        .unwrap_or_else(|| audit::default_db(&env));
    if !args.path.exists() {
        anyhow::bail!("{}: no such file or directory", args.path.display());
    }
    let timeout = Duration::from_secs(20);
    if args.update {
        let ecosystems = ecosystems_in(&args.path)?;
        let mut err = std::io::stderr().lock();
        for eco in ecosystems {
            let outcome = update::update(&db, &cfg.osv_url, eco, timeout)
                .with_context(|| format!("updating the {eco} advisories in {}", db.display()))?;
            let what = match outcome {
                update::Updated::Downloaded(n) => format!("downloaded {n} bytes"),
                update::Updated::NotModified => "up to date".to_string(),
            };
            writeln!(
                err,
                "{eco} advisories: {what} ({})",
                update::zip_path(&db, eco).display()
            )?;
        }
    }
    let opts = Options {
        path: args.path.clone(),
        db,
        outdated: !args.offline,
        registries: Registries {
            npm: cfg.npm_registry.clone(),
            crates: cfg.crates_index.clone(),
            pypi: cfg.pypi_url.clone(),
        },
        timeout: Duration::from_secs(5),
        ignore: cfg.ignore.clone(),
        git: true,
    };
    let report = audit::audit(&opts)?;
    if report.summary["lockfiles"]
        .as_array()
        .is_some_and(Vec::is_empty)
    {
        writeln!(
            std::io::stderr(),
            "rampart audit: no lockfile found under {} (looked for {})",
            args.path.display(),
            audit::lockfile::LOCKFILE_NAMES.join(", ")
        )?;
    }
    let format: Format = args.format.parse()?;
    let threshold: Severity = match &args.fail_on {
        Some(s) => s.parse()?,
        None => cfg.fail_on,
    };
    super::print_report(&report, format, threshold)
}

/// The ecosystems of the lockfiles under `path` (what `--update` fetches).
fn ecosystems_in(path: &Path) -> anyhow::Result<Vec<Ecosystem>> {
    let mut ecos = Vec::new();
    for p in
        audit::lockfile::find(path).with_context(|| format!("cannot read {}", path.display()))?
    {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let eco = match name {
            "Cargo.lock" => Ecosystem::CratesIo,
            "poetry.lock" => Ecosystem::PyPi,
            n if n.starts_with("requirements") => Ecosystem::PyPi,
            _ => Ecosystem::Npm,
        };
        if !ecos.contains(&eco) {
            ecos.push(eco);
        }
    }
    Ok(ecos)
}
