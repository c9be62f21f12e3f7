//! `rampart secret`: fresh random secrets.

use std::io::Write;

use rampart_core::secret::{DEFAULT_BYTES, MAX_BYTES, generate};

use super::Outcome;

/// Prints K secrets of N random bytes each, base64url without padding, one per line.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Random bytes per secret (32 bytes = 43 characters).
    #[arg(long, short = 'b', default_value_t = DEFAULT_BYTES as u64, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..=MAX_BYTES as u64))]
    bytes: u64,
    /// How many secrets to print.
    #[arg(long, short = 'c', default_value_t = 1, value_name = "K",
          value_parser = clap::value_parser!(u64).range(1..=10_000))]
    count: u64,
}

pub(crate) fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut out = std::io::stdout().lock();
    for _ in 0..args.count {
        writeln!(out, "{}", generate(args.bytes as usize)?)?;
    }
    out.flush()?;
    Ok(Outcome::Clean)
}
