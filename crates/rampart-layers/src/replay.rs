//! Replay stores: remember ids (webhook message ids, single-use CSRF tokens) until they expire.
//!
//! A store answers one question atomically: "is this the first time I see `key`?". Entries
//! carry their own expiry (the end of the window in which a replay could still verify), so
//! the store stays bounded by the traffic of one window and never needs a caller to prune it.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

use foldhash::fast::RandomState;

/// Remembers keys until their expiry. Shared by every request of a route (or of an app).
pub trait ReplayStore: Send + Sync + fmt::Debug + 'static {
    /// Records `key` until `expires_at` (nanoseconds since the epoch) and returns `true` if it
    /// was not already recorded and unexpired at `now`; returns `false` for a replay.
    fn first_use(&self, key: &str, expires_at: u64, now: u64) -> bool;

    /// Forgets `key`, so that a delivery the handler failed can be retried with the same id.
    fn forget(&self, key: &str);
}

/// The smallest map that is ever swept.
const SWEEP_EVERY: usize = 1024;

/// A [`ReplayStore`] in this process's memory (one instance; use one per app, not per request).
#[derive(Default)]
pub struct MemoryReplayStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    // foldhash: fast on short keys and seeded per process, so ids cannot be chosen to collide.
    seen: HashMap<Box<str>, u64, RandomState>,
    next_sweep: usize,
}

impl fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.inner.lock().map(|i| i.seen.len()).unwrap_or(0);
        f.debug_struct("MemoryReplayStore")
            .field("entries", &len)
            .finish()
    }
}

impl MemoryReplayStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many keys are remembered (expired ones included until the next sweep).
    pub fn len(&self) -> usize {
        self.inner.lock().map(|i| i.seen.len()).unwrap_or(0)
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ReplayStore for MemoryReplayStore {
    fn first_use(&self, key: &str, expires_at: u64, now: u64) -> bool {
        // A poisoned lock means another request panicked mid-insert; refusing (fail closed)
        // would lock every client out, and the map itself is still consistent.
        let mut inner = match self.inner.lock() {
            Ok(i) => i,
            Err(p) => p.into_inner(),
        };
        // Sweep when the map has doubled since the last sweep: amortised O(1) per insert,
        // and the map never holds more than twice the live entries (plus SWEEP_EVERY).
        if inner.seen.len() >= inner.next_sweep {
            inner.seen.retain(|_, exp| *exp > now);
            inner.next_sweep = (inner.seen.len() * 2).max(SWEEP_EVERY);
        }
        match inner.seen.get_mut(key) {
            Some(exp) if *exp > now => false,
            Some(exp) => {
                *exp = expires_at;
                true
            }
            None => {
                inner.seen.insert(key.into(), expires_at);
                true
            }
        }
    }

    fn forget(&self, key: &str) {
        let mut inner = match self.inner.lock() {
            Ok(i) => i,
            Err(p) => p.into_inner(),
        };
        inner.seen.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_use_within_window_is_a_replay() {
        let s = MemoryReplayStore::new();
        assert!(s.first_use("msg_1", 100, 10));
        assert!(!s.first_use("msg_1", 100, 50));
        assert!(s.first_use("msg_2", 100, 50));
        // After expiry the id is forgotten: a signature that old no longer verifies anyway.
        assert!(s.first_use("msg_1", 300, 150));
    }

    #[test]
    fn forget_allows_a_retry() {
        let s = MemoryReplayStore::new();
        assert!(s.first_use("k", 100, 0));
        s.forget("k");
        assert!(s.first_use("k", 100, 0));
    }

    #[test]
    fn expired_entries_are_swept() {
        let s = MemoryReplayStore::new();
        for i in 0..(SWEEP_EVERY * 3) {
            assert!(s.first_use(&format!("k{i}"), i as u64 + 1, i as u64));
        }
        // Every sweep dropped the entries expired by then, so the map stays near one window.
        assert!(s.len() <= 2 * SWEEP_EVERY, "{} entries kept", s.len());
    }
}
