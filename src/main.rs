//! The `rampart` command: parse the command line, run, map the outcome to an exit code.

use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    cli::main()
}
