//! Replay stores: remember ids (webhook message ids, single-use CSRF tokens) until they expire.
//!
//! A store answers one question atomically: "is this the first time I see `key`?". Entries
//! carry their own expiry (the end of the window in which a replay could still verify), so
//! the store stays bounded by the traffic of one window and never needs a caller to prune it.
//! [`MemoryReplayStore`] keeps single-use CSRF nonces apart: numbered ones (see
//! [`Sequenced`]) as one bit each in per-issuer bitmaps, others grouped by expiry (see
//! `NonceGroups`), 16 bytes each, dropped a group at a time.

mod bitmap;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use foldhash::fast::RandomState;

/// Remembers keys until their expiry. Shared by every request of a route (or of an app).
pub trait ReplayStore: Send + Sync + fmt::Debug + 'static {
    /// Records `key` until `expires_at` (nanoseconds since the epoch) and returns `true` if it
    /// was not already recorded and unexpired at `now`; returns `false` for a replay.
    fn first_use(&self, key: &str, expires_at: u64, now: u64) -> bool;

    /// Forgets `key`, so that a delivery the handler failed can be retried with the same id.
    fn forget(&self, key: &str);

    /// [`first_use`](Self::first_use) for a 16-byte random nonce (a single-use CSRF token's).
    /// The default records it as the key `csrf:` + base64url(nonce), so a store shared by
    /// several instances sees the same key from each; [`MemoryReplayStore`] keeps nonces
    /// as 16-byte keys instead (no string, no allocation per use).
    fn first_use_nonce(&self, nonce: &[u8; NONCE_LEN], expires_at: u64, now: u64) -> bool {
        // "csrf:" + base64url(nonce), built on the stack.
        let mut buf = [0u8; 5 + NONCE_LEN.div_ceil(3) * 4];
        buf[..5].copy_from_slice(b"csrf:");
        let Ok(n) = URL_SAFE_NO_PAD.encode_slice(nonce, &mut buf[5..]) else {
            return false;
        };
        match std::str::from_utf8(&buf[..5 + n]) {
            Ok(key) => self.first_use(key, expires_at, now),
            Err(_) => false,
        }
    }

    /// [`first_use_nonce`](Self::first_use_nonce) for a nonce known to decode to `n`. The
    /// default ignores `n` (a shared store keys by the nonce, which every instance sees
    /// alike); [`MemoryReplayStore`] sets one bit in a bitmap of `n`'s issuer instead.
    fn first_use_sequenced(
        &self,
        nonce: &[u8; NONCE_LEN],
        n: Sequenced,
        expires_at: u64,
        now: u64,
    ) -> bool {
        let _ = n;
        self.first_use_nonce(nonce, expires_at, now)
    }
}

/// What a numbered CSRF nonce decodes to: which issuer handed it out, and its number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequenced {
    /// The issuer's random id (48 bits).
    pub issuer: u64,
    /// The nonce's number among the issuer's, counting from 0.
    pub seq: u64,
}

/// The length of the nonces [`ReplayStore::first_use_nonce`] takes.
pub const NONCE_LEN: usize = 16;

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
    seen: Expiring,
    nonces: NonceGroups,
    numbered: bitmap::SeqBitmaps,
}

/// How long a span of expiry times one group of nonces covers: 2^36 ns, about 69 s.
const GROUP_SHIFT: u32 = 36;

/// Single-use nonces, grouped by the expiry of the token that carries them. A replayed token
/// carries the same expiry as the first use (nonce and expiry are both under the token's MAC),
/// so one group is searched; a group is dropped whole once everything in it has expired. Each
/// nonce is 16 bytes in its group's table, with no expiry beside it and no sweep over live
/// entries (a sweep of millions of entries would hold the lock for milliseconds).
#[derive(Default)]
struct NonceGroups {
    groups: BTreeMap<u64, HashSet<u128, RandomState>>,
}

impl NonceGroups {
    fn first_use(&mut self, nonce: u128, expires_at: u64, now: u64) -> bool {
        while let Some((&g, _)) = self.groups.first_key_value() {
            // The group's last possible expiry has passed: nothing in it can be replayed.
            if (g + 1).saturating_mul(1 << GROUP_SHIFT) <= now {
                self.groups.pop_first();
            } else {
                break;
            }
        }
        if expires_at <= now {
            // Expired already: no later use can verify, so there is nothing to remember.
            return true;
        }
        self.groups
            .entry(expires_at >> GROUP_SHIFT)
            .or_default()
            .insert(nonce)
    }

    fn len(&self) -> usize {
        self.groups.values().map(HashSet::len).sum()
    }
}

/// Keys with their expiry, swept when the map has doubled since the last sweep: amortised
/// O(1) per insert, and never more than twice the live entries (plus [`SWEEP_EVERY`]).
#[derive(Default)]
struct Expiring {
    map: HashMap<Box<str>, u64, RandomState>,
    next_sweep: usize,
}

impl Expiring {
    fn first_use(&mut self, key: &str, expires_at: u64, now: u64) -> bool {
        if self.map.len() >= self.next_sweep {
            self.map.retain(|_, exp| *exp > now);
            self.next_sweep = (self.map.len() * 2).max(SWEEP_EVERY);
        }
        match self.map.get_mut(key) {
            Some(exp) if *exp > now => false,
            Some(exp) => {
                *exp = expires_at;
                true
            }
            None => {
                self.map.insert(key.into(), expires_at);
                true
            }
        }
    }
}

impl fmt::Debug for MemoryReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let len = self.len();
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
        self.inner
            .lock()
            .map(|i| i.seen.map.len() + i.nonces.len() + i.numbered.len())
            .unwrap_or(0)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock means another request panicked mid-insert; refusing (fail closed)
        // would lock every client out, and the map itself is still consistent.
        match self.inner.lock() {
            Ok(i) => i,
            Err(p) => p.into_inner(),
        }
    }

    /// True when nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ReplayStore for MemoryReplayStore {
    fn first_use(&self, key: &str, expires_at: u64, now: u64) -> bool {
        self.lock().seen.first_use(key, expires_at, now)
    }

    fn forget(&self, key: &str) {
        self.lock().seen.map.remove(key);
    }

    fn first_use_nonce(&self, nonce: &[u8; NONCE_LEN], expires_at: u64, now: u64) -> bool {
        let key = u128::from_le_bytes(*nonce);
        self.lock().nonces.first_use(key, expires_at, now)
    }

    fn first_use_sequenced(
        &self,
        _nonce: &[u8; NONCE_LEN],
        n: Sequenced,
        expires_at: u64,
        now: u64,
    ) -> bool {
        self.lock().numbered.first_use(n, expires_at, now)
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
    fn nonces_are_single_use_until_they_expire() {
        let s = MemoryReplayStore::new();
        let a = [7u8; NONCE_LEN];
        let mut b = a;
        b[15] = 8;
        assert!(s.first_use_nonce(&a, 100, 10));
        assert!(!s.first_use_nonce(&a, 100, 50));
        assert!(!s.first_use_nonce(&a, 100, 99));
        assert!(s.first_use_nonce(&b, 100, 50));
        // Once its token has expired a nonce cannot be replayed: nothing is refused or kept.
        assert!(s.first_use_nonce(&a, 100, 100));
        assert!(s.first_use_nonce(&a, 100, 150));
        // Nonces and string keys do not collide.
        assert!(s.first_use("csrf:BwcHBwcHBwcHBwcHBwcHBw", 100, 10));
        assert_eq!(s.len(), 3);
        // Once time passes the end of their group, a and b are dropped with it.
        let later = 1 << GROUP_SHIFT;
        let c = [9u8; NONCE_LEN];
        assert!(s.first_use_nonce(&c, later + 100, later));
        assert_eq!(s.lock().nonces.len(), 1);
    }

    /// A store that only knows string keys, as one shared between instances would.
    #[derive(Debug, Default)]
    struct Strings(MemoryReplayStore);

    impl ReplayStore for Strings {
        fn first_use(&self, key: &str, expires_at: u64, now: u64) -> bool {
            assert_eq!(key, "csrf:BwcHBwcHBwcHBwcHBwcHBw");
            self.0.first_use(key, expires_at, now)
        }
        fn forget(&self, key: &str) {
            self.0.forget(key);
        }
    }

    #[test]
    fn default_nonce_key_is_the_base64url_string() {
        let s = Strings::default();
        assert!(s.first_use_nonce(&[7u8; NONCE_LEN], 100, 10));
        assert!(!s.first_use_nonce(&[7u8; NONCE_LEN], 100, 20));
    }

    #[test]
    fn expired_nonces_are_dropped_by_group() {
        let s = MemoryReplayStore::new();
        let group = 1u64 << GROUP_SHIFT;
        // A token a second for ten minutes' worth of groups, each valid for one group's span.
        for t in 0..600u64 {
            let now = t * 1_000_000_000;
            let n = u128::from(t).to_le_bytes();
            assert!(s.first_use_nonce(&n, now + group, now));
            assert!(!s.first_use_nonce(&n, now + group, now + 1));
        }
        // Only the tokens of the last two groups' spans can still be alive.
        let kept = s.lock().nonces.len();
        assert!(kept <= 2 * 70, "{kept} nonces kept");
        assert!(s.lock().nonces.groups.len() <= 3);
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
