//! `rampart completions`: shell completion scripts.

use clap_complete::Shell;

use super::Outcome;

/// Prints a completion script for SHELL; e.g. `rampart completions bash > /etc/bash_completion.d/rampart`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// bash, zsh, fish, elvish or powershell.
    shell: Shell,
}

pub(crate) fn run(args: Args, cmd: &mut clap::Command) -> anyhow::Result<Outcome> {
    clap_complete::generate(args.shell, cmd, "rampart", &mut std::io::stdout());
    Ok(Outcome::Clean)
}
