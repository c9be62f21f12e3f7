//! The command line: one module per subcommand, no logic a library crate should own.
//!
//! Exit codes, every command: `0` ran and found nothing at or above the failure threshold,
//! `1` ran and found something, `2` could not run (usage, configuration, unreadable input).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

mod audit;
mod completions;
mod env;
mod init;
mod scan;
mod secret;

/// Security operations for web applications: protect, check, watch.
#[derive(Debug, Parser)]
#[command(
    name = "rampart",
    version,
    about = "Security operations for web applications: protect, check, watch.",
    long_about = "Rampart puts the right protection on every route (rate limits, CSRF, JWT auth, \
webhook signatures, security headers), checks a deployment before it ships (secrets, env rules, \
vulnerable dependencies, live probes) and watches it for attacks.\n\n\
Exit codes: 0 nothing found at or above the failure threshold; 1 findings; 2 could not run.",
    propagate_version = true
)]
pub(crate) struct Cli {
    /// Configuration file (default: rampart.toml in the given directory, else in the current one).
    #[arg(long, global = true, value_name = "FILE", env = "RAMPART_CONFIG")]
    pub(crate) config: Option<PathBuf>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Set up a project: rampart.toml, a .env.local with fresh secrets, .gitignore entries.
    Init(init::Args),
    /// Print fresh random secrets (base64url, unpadded).
    Secret(secret::Args),
    /// Print shell completions.
    Completions(completions::Args),
    /// Hard-coded secrets in files and, with --history, in git history.
    #[command(long_about = scan::LONG_ABOUT)]
    Scan(scan::Args),
    /// Environment rules: check the .env files of a project.
    Env(env::Args),
    /// Known-vulnerable dependencies in lockfiles, from a local OSV database.
    #[command(long_about = audit::LONG_ABOUT)]
    Audit(audit::Args),
}

/// What a command found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Nothing at or above the failure threshold.
    Clean,
    /// Something at or above the failure threshold.
    #[allow(dead_code)] // the checking commands return it
    Findings,
}

/// Runs the command line and returns the process exit code.
pub(crate) fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version print to stdout and succeed; usage errors exit 2.
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Findings) => ExitCode::from(1),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "rampart: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<Outcome> {
    let ctx = Context {
        config: cli.config.clone(),
    };
    match cli.command {
        Command::Init(args) => init::run(&ctx, args),
        Command::Secret(args) => secret::run(args),
        Command::Completions(args) => completions::run(args, &mut Cli::command()),
        Command::Scan(args) => scan::run(&ctx, args),
        Command::Env(args) => env::run(&ctx, args),
        Command::Audit(args) => audit::run(&ctx, args),
    }
}

/// What every subcommand may need from the global flags.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    /// `--config`.
    pub(crate) config: Option<PathBuf>,
}

impl Context {
    /// Loads the configuration for a command working on `dir`: `--config`, else
    /// `dir/rampart.toml`, else `./rampart.toml`, else the built-in defaults.
    #[allow(dead_code)]
    pub(crate) fn load_config(
        &self,
        dir: Option<&std::path::Path>,
    ) -> anyhow::Result<rampart_core::config::ValidConfig> {
        let cwd = std::env::current_dir()?;
        let env = rampart_core::config::process_env();
        Ok(rampart_core::config::load(
            self.config.as_deref(),
            dir,
            &cwd,
            &env,
        )?)
    }
}

/// Prints `report` on stdout in `format`; findings at or above `threshold` make the outcome
/// [`Outcome::Findings`] (exit 1).
pub(crate) fn print_report(
    report: &rampart_check::finding::Report,
    format: rampart_check::report::Format,
    threshold: rampart_core::Severity,
) -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout().lock();
    rampart_check::report::render(report, format, &mut out)?;
    out.flush()?;
    Ok(if report.fails(threshold) {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
