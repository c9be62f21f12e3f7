//! The in-process store: sharded, exact, and bounded without help from callers.
//!
//! Keys are spread over shards by hash; each shard is a read-write lock around an
//! open-addressing table of `(key, TAT)` with the TAT in an atomic. A decision for a known key
//! is one hash, a shared lock, one probe and, when admitted, one compare-and-swap of the TAT:
//! exact under any concurrency (every admission moves the TAT it saw), and a refusal writes
//! nothing, so clients hammering one key do not fight over a cache line. Only a new key takes
//! the shard's exclusive lock.
//!
//! Memory: a key whose TAT is in the past is forgotten (GCRA says its bucket is full). A shard
//! sweeps those out whenever it has doubled since its last sweep and at least once per
//! [`MemoryStore::SWEEP_EVERY`] while it grows, so memory follows the number of keys active
//! within one quota period, not the number ever seen. A hard cap (`max_keys`) bounds even a
//! flood of fresh keys: past it, the keys closest to full buckets are dropped first, so the
//! clients that are most over their quota are the last to be forgotten.

use std::hash::BuildHasher;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use hashbrown::HashTable;

use super::super::RateKey;
use super::super::gcra::{Decision, Gcra};

const SHARDS: usize = 64;
const MIN_SWEEP_LEN: usize = 64;

/// Sharded in-memory GCRA state.
#[derive(Debug)]
pub struct MemoryStore {
    shards: Box<[RwLock<Shard>]>,
    hasher: foldhash::fast::RandomState,
    max_per_shard: usize,
}

#[derive(Debug)]
struct Shard {
    table: HashTable<(RateKey, AtomicU64)>,
    /// Sweep when the table reaches this many keys.
    sweep_len: usize,
    /// Or when an insert happens after this time.
    sweep_time: u64,
}

impl MemoryStore {
    /// How often (nanoseconds) a growing shard sweeps idle keys at the latest.
    pub const SWEEP_EVERY: u64 = 10_000_000_000;

    /// The default bound on keys held.
    pub const DEFAULT_MAX_KEYS: usize = 1 << 21;

    /// A store holding at most [`Self::DEFAULT_MAX_KEYS`] keys.
    pub fn new() -> Self {
        Self::with_max_keys(Self::DEFAULT_MAX_KEYS)
    }

    /// A store holding at most about `max_keys` keys.
    pub fn with_max_keys(max_keys: usize) -> Self {
        MemoryStore {
            shards: (0..SHARDS)
                .map(|_| {
                    RwLock::new(Shard {
                        table: HashTable::new(),
                        sweep_len: MIN_SWEEP_LEN,
                        sweep_time: 0,
                    })
                })
                .collect(),
            hasher: foldhash::fast::RandomState::default(),
            max_per_shard: (max_keys / SHARDS).max(MIN_SWEEP_LEN),
        }
    }

    /// Decides one request for `key` at `now` and records it when admitted.
    #[inline]
    pub fn decide(&self, gcra: &Gcra, key: &RateKey, now: u64) -> Decision {
        let hash = self.hasher.hash_one(key);
        // hashbrown uses the low bits for the slot and the top 7 for its tag: shard on others.
        let shard = &self.shards[(hash >> 32) as usize % SHARDS];
        {
            let read = shard.read().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = read.table.find(hash, |e| e.0 == *key) {
                return decide_cas(gcra, &entry.1, now);
            }
        }
        let mut shard = shard.write().unwrap_or_else(|p| p.into_inner());
        // Another request may have inserted the key between the two locks.
        if let Some(entry) = shard.table.find(hash, |e| e.0 == *key) {
            return decide_cas(gcra, &entry.1, now);
        }
        let (d, new) = gcra.decide(None, now);
        if let Some(tat) = new {
            if shard.table.len() >= shard.sweep_len || now >= shard.sweep_time {
                shard.sweep(now, self.max_per_shard, &self.hasher);
            }
            let hasher = &self.hasher;
            shard
                .table
                .insert_unique(hash, (key.clone(), AtomicU64::new(tat)), |e| {
                    hasher.hash_one(&e.0)
                });
        }
        d
    }

    /// Keys currently held (idle ones may linger until their shard's next sweep).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().map(|s| s.table.len()).unwrap_or(0))
            .sum()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every key whose bucket is full at `now`, in every shard.
    pub fn purge(&self, now: u64) {
        for s in self.shards.iter() {
            s.write().unwrap_or_else(|p| p.into_inner()).sweep(
                now,
                self.max_per_shard,
                &self.hasher,
            );
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

/// One decision on a stored TAT: a refusal only reads; an admission swaps in the new TAT,
/// retrying if another thread moved it first.
#[inline]
fn decide_cas(gcra: &Gcra, tat: &AtomicU64, now: u64) -> Decision {
    let mut seen = tat.load(Ordering::Acquire);
    loop {
        let (d, new) = gcra.decide(Some(seen), now);
        let Some(new) = new else { return d };
        match tat.compare_exchange_weak(seen, new, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return d,
            Err(actual) => seen = actual,
        }
    }
}

impl Shard {
    fn sweep(&mut self, now: u64, max: usize, hasher: &foldhash::fast::RandomState) {
        self.table.retain(|e| *e.1.get_mut() > now);
        if self.table.len() >= max {
            // Keep the half with the most state: the clients furthest over their quota.
            let mut tats: Vec<u64> = self.table.iter_mut().map(|e| *e.1.get_mut()).collect();
            let keep = max / 2;
            let cut = tats.len() - keep;
            let (_, threshold, _) = tats.select_nth_unstable(cut);
            let threshold = *threshold;
            // Strictly later: ties at the threshold go too, so equal states cannot defeat the cap.
            self.table.retain(|e| *e.1.get_mut() > threshold);
        }
        let len = self.table.len();
        if self.table.capacity() > 4 * len.max(MIN_SWEEP_LEN) {
            self.table.shrink_to(2 * len, |e| hasher.hash_one(&e.0));
        }
        self.sweep_len = (2 * len).clamp(MIN_SWEEP_LEN, max);
        self.sweep_time = now.saturating_add(MemoryStore::SWEEP_EVERY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    const S: u64 = 1_000_000_000;

    fn ip_key(i: u32) -> RateKey {
        RateKey::Ip(IpAddr::V4(Ipv4Addr::from(i)))
    }

    #[test]
    fn exactly_n_of_many_concurrent_requests_pass() {
        let store = Arc::new(MemoryStore::new());
        let gcra = Gcra::new(&"50/hour".parse().unwrap());
        let passed = Arc::new(AtomicU32::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (store, passed) = (store.clone(), passed.clone());
                std::thread::spawn(move || {
                    for _ in 0..500 {
                        if store.decide(&gcra, &ip_key(7), 100 * S).allowed {
                            passed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(passed.load(Ordering::Relaxed), 50);
    }

    #[test]
    fn keys_are_independent() {
        let store = MemoryStore::new();
        let gcra = Gcra::new(&"1/min".parse().unwrap());
        assert!(store.decide(&gcra, &ip_key(1), S).allowed);
        assert!(!store.decide(&gcra, &ip_key(1), S).allowed);
        assert!(store.decide(&gcra, &ip_key(2), S).allowed);
        assert!(
            store
                .decide(&gcra, &RateKey::Text("user-1".into()), S)
                .allowed
        );
    }

    #[test]
    fn millions_of_distinct_keys_do_not_grow_memory_without_bound() {
        let store = MemoryStore::with_max_keys(1 << 16);
        let gcra = Gcra::new(&"10/sec".parse().unwrap());
        // Two million fresh keys, 1 µs apart: each key's state lives 100 ms, so about 100k
        // would be live at any time; the cap holds even that down.
        let mut now = 10 * S;
        for i in 0..2_000_000u32 {
            now += 1_000;
            store.decide(&gcra, &ip_key(i), now);
        }
        assert!(store.len() <= 1 << 16, "held {} keys", store.len());
        // Once everything is idle, a purge leaves nothing.
        store.purge(now + S);
        assert!(store.is_empty());
    }

    #[test]
    fn idle_keys_are_swept_without_a_cap() {
        let store = MemoryStore::new();
        let gcra = Gcra::new(&"1/sec".parse().unwrap());
        // 1M keys at 1k new keys per simulated second: ~1k live at a time.
        let mut now = 10 * S;
        for i in 0..1_000_000u32 {
            now += 1_000_000;
            store.decide(&gcra, &ip_key(i), now);
        }
        assert!(store.len() < 64 * 1_000, "held {} keys", store.len());
    }

    #[test]
    fn the_cap_keeps_the_most_limited_clients() {
        let store = MemoryStore::with_max_keys(64 * SHARDS);
        let gcra = Gcra::new(&"5/min".parse().unwrap());
        let abuser = ip_key(u32::MAX);
        for _ in 0..5 {
            store.decide(&gcra, &abuser, S);
        }
        for i in 0..100_000u32 {
            store.decide(&gcra, &ip_key(i), S);
        }
        assert!(!store.decide(&gcra, &abuser, S).allowed);
    }
}
