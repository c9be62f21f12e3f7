//! [`RateLimiter`]: a named quota, its store, a clock and a failure policy.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use http::HeaderValue;
use rampart_core::Clock;
use rampart_core::config::OnStoreError;
use rampart_core::units::Quota;

use super::clock::FastClock;
use super::field_cache::{self, Field};
use super::gcra::{Decision, Gcra};
use super::headers::{policy_header, quoted, rate_limit_header, state_seconds};
use super::key::RateKey;
use super::store::MemoryStore;
#[cfg(feature = "redis")]
use super::store::RedisStore;
use crate::static_value::static_value;

/// Limiter ids, for the field cache.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// A boxed store answer.
type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// One quota on one store. Clones share state.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    /// Tells this limiter's cached field values from other limiters' (see `field_cache`).
    id: u64,
    name: String,
    quoted: String,
    quota: Quota,
    gcra: Gcra,
    policy: HeaderValue,
    backend: Backend,
    clock: Arc<dyn Clock>,
    on_error: OnStoreError,
    degraded_allowed: AtomicU64,
    degraded_denied: AtomicU64,
    /// Metric handles, registered once so the hot path neither allocates nor looks them up.
    refused_metric: metrics::Counter,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // only remote stores degrade
    degraded_allow_metric: metrics::Counter,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    degraded_deny_metric: metrics::Counter,
}

enum Backend {
    Memory(MemoryStore),
    #[cfg(feature = "redis")]
    Redis(RedisStore),
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let store = match self.inner.backend {
            Backend::Memory(_) => "memory",
            #[cfg(feature = "redis")]
            Backend::Redis(_) => "redis",
        };
        f.debug_struct("RateLimiter")
            .field("name", &self.inner.name)
            .field("quota", &self.inner.quota.to_string())
            .field("store", &store)
            .field("on_store_error", &self.inner.on_error)
            .finish()
    }
}

/// What the limiter answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The store decided.
    Decided(Decision),
    /// The store could not answer; the failure policy decided.
    Degraded {
        /// Whether the request goes through (`allow`) or not (`deny`).
        allowed: bool,
        /// Why the store could not answer (never contains credentials).
        reason: String,
    },
}

/// Degraded decisions since the limiter was built. Through the `metrics` facade the limiter
/// also exports `rampart_limiter_degraded_total{policy,decision}` and
/// `rampart_rate_limit_refused_total{policy}` (refusals are not counted here: a shared counter
/// would be the one write on the refusal path). The handles are registered when the limiter is
/// built: install the metrics recorder first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimiterStats {
    /// Requests let through by `on_store_error = allow` while the store was away.
    pub degraded_allowed: u64,
    /// Requests refused by `on_store_error = deny` while the store was away.
    pub degraded_denied: u64,
}

/// A pending or immediate [`Outcome`]: in memory the answer is ready at once, with Redis it is
/// one round trip away.
pub enum Check {
    /// Decided already.
    Ready(Option<Outcome>),
    /// Waiting for the store.
    Pending(BoxFuture<Outcome>),
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Check::Ready(o) => f.debug_tuple("Check::Ready").field(o).finish(),
            Check::Pending(_) => f.write_str("Check::Pending"),
        }
    }
}

impl Future for Check {
    type Output = Outcome;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Outcome> {
        match self.get_mut() {
            Check::Ready(o) => match o.take() {
                Some(o) => Poll::Ready(o),
                None => Poll::Pending,
            },
            Check::Pending(f) => f.as_mut().poll(cx),
        }
    }
}

impl RateLimiter {
    fn build(name: impl Into<String>, quota: Quota, backend: Backend) -> Self {
        let name = name.into();
        RateLimiter {
            inner: Arc::new(Inner {
                id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
                quoted: quoted(&name),
                policy: {
                    // Static: every response carries it, and a shared reference count would
                    // be written by every core serving them.
                    let v = policy_header(&name, &quota);
                    v.to_str().ok().and_then(static_value).unwrap_or(v)
                },
                gcra: Gcra::new(&quota),
                quota,
                backend,
                clock: Arc::new(FastClock::new()),
                on_error: OnStoreError::Deny,
                degraded_allowed: AtomicU64::new(0),
                degraded_denied: AtomicU64::new(0),
                refused_metric: metrics::counter!(
                    "rampart_rate_limit_refused_total", "policy" => name.clone()
                ),
                degraded_allow_metric: metrics::counter!(
                    "rampart_limiter_degraded_total", "policy" => name.clone(), "decision" => "allow"
                ),
                degraded_deny_metric: metrics::counter!(
                    "rampart_limiter_degraded_total", "policy" => name.clone(), "decision" => "deny"
                ),
                name,
            }),
        }
    }

    /// `quota` for the policy `name` (a route, say), with state in this process.
    pub fn memory(name: impl Into<String>, quota: Quota) -> Self {
        Self::build(name, quota, Backend::Memory(MemoryStore::new()))
    }

    /// `quota` for `name` with state in this process, in `store` (e.g. with a key cap).
    pub fn with_memory_store(name: impl Into<String>, quota: Quota, store: MemoryStore) -> Self {
        Self::build(name, quota, Backend::Memory(store))
    }

    /// `quota` for `name` with state in Redis, shared with every instance using the same name.
    /// Fails closed when Redis is away unless [`Self::on_store_error`] says otherwise.
    #[cfg(feature = "redis")]
    pub fn redis(name: impl Into<String>, quota: Quota, store: RedisStore) -> Self {
        Self::build(name, quota, Backend::Redis(store))
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        match Arc::get_mut(&mut self.inner) {
            Some(inner) => f(inner),
            None => debug_assert!(false, "configure a RateLimiter before cloning it"),
        }
        self
    }

    /// Reads time from `clock` (tests step a `ManualClock`). Call before cloning.
    #[must_use]
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        self.edit(|i| i.clock = clock)
    }

    /// What to do when the store cannot answer (default: deny). Call before cloning.
    #[must_use]
    pub fn on_store_error(self, policy: OnStoreError) -> Self {
        self.edit(|i| i.on_error = policy)
    }

    /// The policy name (used in headers, events and store keys).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The quota.
    pub fn quota(&self) -> &Quota {
        &self.inner.quota
    }

    /// The `RateLimit-Policy` value.
    pub fn policy_header(&self) -> &HeaderValue {
        &self.inner.policy
    }

    pub(crate) fn quoted_name(&self) -> &str {
        &self.inner.quoted
    }

    /// The `RateLimit-Policy` value, from this thread's field cache.
    pub(crate) fn policy_field(&self) -> HeaderValue {
        self.inner.policy.clone()
    }

    /// The `RateLimit` value for `d`, from this thread's field cache when it was seen before.
    pub(crate) fn state_field(&self, d: &Decision) -> HeaderValue {
        let field = Field {
            r: d.remaining,
            t: state_seconds(d),
        };
        field_cache::value(self.inner.id, field, || {
            rate_limit_header(&self.inner.quoted, d)
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> LimiterStats {
        LimiterStats {
            degraded_allowed: self.inner.degraded_allowed.load(Ordering::Relaxed),
            degraded_denied: self.inner.degraded_denied.load(Ordering::Relaxed),
        }
    }

    /// Decides one request for `key`.
    #[inline]
    pub fn check(&self, key: &RateKey) -> Check {
        match &self.inner.backend {
            Backend::Memory(store) => {
                let d = store.decide(&self.inner.gcra, key, self.inner.clock.now_nanos());
                if !d.allowed {
                    self.inner.refused_metric.increment(1);
                }
                Check::Ready(Some(Outcome::Decided(d)))
            }
            #[cfg(feature = "redis")]
            Backend::Redis(store) => {
                let (inner, store, key) = (self.inner.clone(), store.clone(), key.clone());
                Check::Pending(Box::pin(async move {
                    let now = inner.clock.now_nanos();
                    let outcome = match store.decide(&inner.name, &inner.gcra, &key, now).await {
                        Ok(d) => Outcome::Decided(d),
                        Err(e) => Outcome::Degraded {
                            allowed: inner.on_error == OnStoreError::Allow,
                            reason: e.to_string(),
                        },
                    };
                    inner.count(outcome)
                }))
            }
        }
    }

    /// Decides one request for `key` when the answer is immediate (the memory store);
    /// `None` for a remote store.
    #[inline]
    pub fn check_now(&self, key: &RateKey) -> Option<Outcome> {
        match self.check(key) {
            Check::Ready(o) => o,
            Check::Pending(_) => None,
        }
    }
}

impl Inner {
    #[cfg_attr(not(feature = "redis"), allow(dead_code))] // only remote stores degrade
    fn count(&self, outcome: Outcome) -> Outcome {
        match &outcome {
            Outcome::Decided(d) if d.allowed => {}
            Outcome::Decided(_) => self.refused_metric.increment(1),
            Outcome::Degraded { allowed, .. } => {
                let (counter, metric) = if *allowed {
                    (&self.degraded_allowed, &self.degraded_allow_metric)
                } else {
                    (&self.degraded_denied, &self.degraded_deny_metric)
                };
                counter.fetch_add(1, Ordering::Relaxed);
                metric.increment(1);
            }
        }
        outcome
    }
}
