//! Tower layers that put the right protection on each route.
//!
//! Each control is one module with tower-http's shape (layer, service, future). A layer that
//! refuses a request answers it with a JSON error and puts a [`refusal::Refusal`] in the
//! response extensions; [`events::EventsLayer`], outermost, turns each refusal into exactly one
//! [`rampart_core::SecurityEvent`] for an [`events::EventSink`].

pub mod auth;
pub mod client_ip;
mod cookie;
pub mod csrf;
pub mod errors;
pub mod events;
pub mod future;
pub mod headers;
pub mod limits;
pub mod policy;
pub mod rate_limit;
pub mod refusal;
pub mod replay;
mod static_value;
pub mod webhook;

pub use client_ip::ClientIp;
pub use events::{EventSink, EventsLayer};
pub use policy::{PolicyConfig, policy, try_policy};
pub use refusal::Refusal;
