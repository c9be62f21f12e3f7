//! `rampart env check`: the environment rules over a project's `.env*` files.

use std::path::PathBuf;

use anyhow::Context as _;
use rampart_check::env::{Options, Profile, Rules, check};
use rampart_check::report::Format;
use rampart_core::Severity;

use super::{Context, Outcome};

/// Environment rules.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: EnvCommand,
}

#[derive(Debug, clap::Subcommand)]
enum EnvCommand {
    /// Check .env, .env.local, .env.development*, .env.production* against the rules.
    #[command(
        long_about = "Check the .env files of a project against the environment rules: \
required variables, secrets of 32+ characters, placeholders, live keys only in production and \
test keys only in development, no secret shared between development and production, no secret \
in a browser-exposed (NEXT_PUBLIC_*) variable, .env.local and .env.*.local git-ignored and never \
committed, malformed lines and duplicate keys.\n\n\
Files are layered as Next.js does: development = .env < .env.development < .env.local < \
.env.development.local; production = .env < .env.production < .env.production.local. Without \
--profile, each mode that has a file of its own is checked (neither: .env alone). Templates \
(.env.example, .env.sample, .env.template) are never read. Rules come from the preset \
(default nextjs-clerk-convex, or [env] preset in rampart.toml) plus [env] require/secrets/\
public_prefixes and --require."
    )]
    Check(CheckArgs),
}

#[derive(Debug, clap::Args)]
struct CheckArgs {
    /// The directory holding the .env files.
    #[arg(long, default_value = ".", value_name = "DIR")]
    dir: PathBuf,
    /// Check one profile only.
    #[arg(long, value_parser = ["development", "production"])]
    profile: Option<String>,
    /// The rule preset (nextjs-clerk-convex, none); default from rampart.toml.
    #[arg(long, value_name = "NAME")]
    preset: Option<String>,
    /// Also require this variable (repeatable).
    #[arg(long, value_name = "VAR")]
    require: Vec<String>,
    /// Layer the process environment over every profile (it wins, as in Next.js).
    #[arg(long)]
    process_env: bool,
    /// Output format.
    #[arg(long, default_value = "text", value_parser = ["text", "json", "sarif", "markdown"])]
    format: String,
    /// Exit 1 when a finding is at or above this severity (default: [check] fail_on, high).
    #[arg(long, value_name = "SEVERITY", value_parser = ["low", "medium", "high", "critical"])]
    fail_on: Option<String>,
}

pub(crate) fn run(ctx: &Context, args: Args) -> anyhow::Result<Outcome> {
    let EnvCommand::Check(args) = args.command;
    let config = ctx.load_config(Some(&args.dir))?;
    let rules = Rules::from_config(&config.env, args.preset.as_deref(), &args.require)?;
    let profile = args
        .profile
        .as_deref()
        .map(str::parse::<Profile>)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let opts = Options {
        dir: args.dir.clone(),
        profile,
        rules,
        process_env: args.process_env.then(rampart_core::config::process_env),
    };
    let report = check(&opts).with_context(|| format!("env check of {}", args.dir.display()))?;
    let format: Format = args.format.parse()?;
    let threshold: Severity = match &args.fail_on {
        Some(s) => s.parse()?,
        None => config.check.fail_on,
    };
    super::print_report(&report, format, threshold)
}
