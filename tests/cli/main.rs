//! Integration tests: the real `rampart` binary, run in temporary directories.
#![allow(unreachable_pub)] // test-only modules share helpers with `pub`

mod audit;
mod env;
#[allow(dead_code)] // not every command's tests use every helper
mod harness;
mod init;
mod scan;
mod secret;
mod usage;
