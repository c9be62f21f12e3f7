//! Integration tests of the layers against real services (tests start their own instances on
//! free 127.0.0.1 ports).
#![allow(unreachable_pub)] // test-only modules share helpers with `pub`

#[cfg(feature = "redis")]
mod redis_limiter;
#[cfg(feature = "redis")]
mod redis_server;
