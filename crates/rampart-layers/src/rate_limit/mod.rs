//! Rate limiting: GCRA per key, in memory or in Redis, as a tower layer.
//!
//! [`RateLimiter`] holds one quota (`"5/min"`, `"100/hour burst 20"`) and a store;
//! [`RateLimitLayer`] puts it on a route, keyed by client IP (IPv6 by /64), an API-key header,
//! or anything a closure extracts. Every response of a limited route carries the IETF
//! `RateLimit-Policy` and `RateLimit` fields; a refused request gets 429 with `Retry-After`
//! and one `rate_limit_exceeded` event.
//!
//! ```
//! use rampart_layers::rate_limit::{KeyBy, RateLimitLayer, RateLimiter};
//!
//! let limiter = RateLimiter::memory("/api/test-rate-limit", "5/min".parse()?);
//! let layer = RateLimitLayer::new(limiter, KeyBy::client_ip());
//! # let _ = layer;
//! # Ok::<_, rampart_core::units::UnitError>(())
//! ```
//!
//! Several instances share limits through Redis (feature `redis`): one `EVALSHA` round trip
//! per decision, time read inside the script, keys that expire themselves. When the store
//! cannot answer within its deadline, the configured [`OnStoreError`] policy decides, and the
//! decision is itself a `limiter_degraded` event and a metric.

mod clock;
mod field_cache;
pub mod gcra;
mod headers;
mod key;
mod layer;
mod limiter;
pub mod store;

pub use clock::FastClock;
pub use gcra::{Decision, Gcra};
pub use headers::{policy_header, rate_limit_header};
pub use key::{KeyBy, RateKey};
pub(crate) use layer::Admitted;
pub use layer::{RateLimit, RateLimitFuture, RateLimitLayer};
pub use limiter::{Check, LimiterStats, Outcome, RateLimiter};
pub use rampart_core::config::OnStoreError;
