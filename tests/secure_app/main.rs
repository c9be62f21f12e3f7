//! The reference app over real HTTP on 127.0.0.1: limits, refusals, events, startup errors.
#![allow(unreachable_pub)] // test-only modules share helpers with `pub`

#[allow(dead_code)] // not every test uses every helper
mod harness;
mod protect;
mod rate_limit;
#[allow(dead_code)]
#[path = "../../crates/rampart-layers/tests/redis_server.rs"]
mod redis_server;
