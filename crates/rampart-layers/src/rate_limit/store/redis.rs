//! The Redis store: one atomic Lua script per decision, shared by every instance.
//!
//! The script reads the time itself (`TIME`), so instances with skewed clocks still agree;
//! it stores the TAT with `PX` set to the time left until the bucket is full, so idle keys
//! expire on their own; and it touches one key, wrapped in a hash tag, so it runs unchanged on
//! Redis Cluster. It is sent as `EVALSHA` (one round trip; `EVAL` once if the server lost it)
//! over a multiplexed connection that reconnects by itself.
//!
//! Every call has a deadline (100 ms by default). A failure opens a short circuit breaker:
//! while it is open decisions do not wait on Redis at all, and the next call after it closes
//! tries Redis again, so a store that comes back is used again within the breaker's window.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rampart_core::config::{LimiterConfig, LimiterStore};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::super::RateKey;
use super::super::gcra::{Decision, Gcra};

/// The GCRA decision as a Redis Lua script, in microseconds: KEYS[1] = state key,
/// ARGV[1] = emission interval, ARGV[2] = burst × interval; returns
/// `{admitted, retry_after, reset}`. Published so that benchmarks and operators can load the
/// exact script (`redis-cli SCRIPT LOAD`).
pub const GCRA_SCRIPT: &str = include_str!("gcra.lua");

/// The Redis store could not decide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedisStoreError {
    /// The URL did not parse.
    #[error("invalid redis url: {0}")]
    Url(String),
    /// No answer within the deadline.
    #[error("redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Redis answered with an error, or the connection failed.
    #[error("redis: {0}")]
    Redis(String),
    /// The breaker is open after a recent failure.
    #[error("redis unavailable (retrying shortly)")]
    CircuitOpen,
}

/// A Redis connection for limiters; clones share it.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    script: redis::Script,
    prefix: String,
    timeout: Duration,
    breaker: Duration,
    /// Clock nanoseconds until which the breaker is open.
    open_until: AtomicU64,
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may carry a password: never printed.
        f.debug_struct("RedisStore")
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store for `url` (`redis://[:password@]host:port[/db]`). Connects lazily, on the
    /// first decision, so an app starts even while Redis is away.
    pub fn new(url: &str) -> Result<Self, RedisStoreError> {
        // The error text is not shown: it could echo the URL, password included.
        let client = redis::Client::open(url).map_err(|_| {
            RedisStoreError::Url("expected redis://[:password@]host[:port][/db]".into())
        })?;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                client,
                conn: OnceCell::new(),
                script: redis::Script::new(GCRA_SCRIPT),
                prefix: "rampart".into(),
                timeout: Duration::from_millis(100),
                breaker: Duration::from_millis(500),
                open_until: AtomicU64::new(0),
            }),
        })
    }

    /// The store `[limiter]` describes (URL, key prefix, timeout), or `None` for
    /// `store = "memory"`. Pair it with `on_store_error` and `ipv6_prefix` from the same section.
    pub fn from_config(cfg: &LimiterConfig) -> Result<Option<Self>, RedisStoreError> {
        match cfg.store {
            LimiterStore::Memory => Ok(None),
            LimiterStore::Redis => {
                let url = cfg.redis_url.as_deref().ok_or_else(|| {
                    RedisStoreError::Url("[limiter] store = \"redis\" needs redis_url".into())
                })?;
                Ok(Some(
                    RedisStore::new(url)?
                        .key_prefix(&cfg.key_prefix)
                        .timeout(cfg.timeout.0),
                ))
            }
        }
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            f(inner);
        }
        self
    }

    /// Prefixes every key with `prefix` (default `rampart`). Call before cloning.
    #[must_use]
    pub fn key_prefix(self, prefix: &str) -> Self {
        let prefix = prefix.to_string();
        self.edit(|i| i.prefix = prefix)
    }

    /// Gives each call at most `timeout` (default 100 ms). Call before cloning.
    #[must_use]
    pub fn timeout(self, timeout: Duration) -> Self {
        self.edit(|i| i.timeout = timeout)
    }

    /// The state key of `key` under limiter `name`: the variable part inside a hash tag, so a
    /// Cluster routes it by the whole identity.
    pub fn state_key(&self, name: &str, key: &RateKey) -> String {
        format!("{}:rl:{{{name}|{key}}}", self.inner.prefix)
    }

    async fn connection(&self) -> Result<ConnectionManager, RedisStoreError> {
        let inner = &self.inner;
        inner
            .conn
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(inner.timeout))
                    .set_response_timeout(Some(inner.timeout))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500));
                ConnectionManager::new_lazy_with_config(inner.client.clone(), config)
                    .map_err(|e| RedisStoreError::Redis(e.to_string()))
            })
            .await
            .cloned()
    }

    /// Decides one request for `key` under limiter `name`, in one round trip. `now` (clock
    /// nanoseconds) only drives the circuit breaker: the decision uses Redis's own time.
    pub async fn decide(
        &self,
        name: &str,
        gcra: &Gcra,
        key: &RateKey,
        now: u64,
    ) -> Result<Decision, RedisStoreError> {
        if now < self.inner.open_until.load(Ordering::Relaxed) {
            return Err(RedisStoreError::CircuitOpen);
        }
        let result = tokio::time::timeout(self.inner.timeout, self.call(name, gcra, key)).await;
        let result = match result {
            Ok(r) => r,
            Err(_) => Err(RedisStoreError::Timeout(self.inner.timeout)),
        };
        if result.is_err() {
            let until = now + self.inner.breaker.as_nanos() as u64;
            self.inner.open_until.store(until, Ordering::Relaxed);
        }
        result
    }

    async fn call(
        &self,
        name: &str,
        gcra: &Gcra,
        key: &RateKey,
    ) -> Result<Decision, RedisStoreError> {
        let mut conn = self.connection().await?;
        let interval = (gcra.interval().as_micros() as u64).max(1);
        let limit = gcra.limit().as_micros() as u64;
        let (allowed, retry_us, reset_us): (i64, i64, i64) = self
            .inner
            .script
            .key(self.state_key(name, key))
            .arg(interval)
            .arg(limit)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| RedisStoreError::Redis(e.to_string()))?;
        let us = |v: i64| Duration::from_micros(v.max(0) as u64);
        Ok(gcra.from_remote(allowed == 1, us(retry_us), us(reset_us)))
    }
}
