//! Rampart's shared vocabulary.
//!
//! Every other Rampart crate speaks in these types: [`event::SecurityEvent`] is what the
//! protective layers emit and the monitor consumes, [`route::RouteKind`] carries the
//! decision matrix, [`config`] loads `rampart.toml`, [`clock::Clock`] is the only source of
//! time, and [`secret`] / [`redact`] keep credentials out of logs.

pub mod clock;
pub mod config;
pub mod env;
pub mod event;
pub mod net;
pub mod redact;
pub mod route;
pub mod secret;
pub mod units;

pub use clock::{Clock, ManualClock, SystemClock};
pub use event::{EventKind, SecurityEvent, Severity};
pub use route::{Control, RouteKind};
