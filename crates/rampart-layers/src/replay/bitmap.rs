//! Used sequence numbers as bitmaps: one bit per issued number, in chunks of 65,536.
//!
//! CSRF nonces decode to `(issuer, sequence)` (see `csrf::nonce`). Numbers are handed out in
//! order and tokens are used in roughly that order, so the chunk a check touches is almost
//! always the one the last check touched: it stays in cache, where a table of 16-byte random
//! nonces misses the cache once it outgrows it. A chunk is 8 KiB, one bit per number its
//! issuer handed out (used or not); it is dropped once every token used from it has expired,
//! since a replay of an expired token is refused before the store is asked.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use super::Sequenced;

/// Numbers per chunk: 2^16.
const CHUNK_SHIFT: u32 = 16;
const CHUNK_WORDS: usize = 1 << (CHUNK_SHIFT - 6);
/// The fewest chunks that trigger a sweep for expired ones.
const SWEEP_AT: usize = 16;

struct Chunk {
    bits: [u64; CHUNK_WORDS],
    /// The latest expiry of a token used from this chunk: the chunk matters until then.
    last_expiry: u64,
    used: u32,
}

/// Used numbers of every issuer, by chunk.
pub(super) struct SeqBitmaps {
    chunks: HashMap<(u64, u64), Box<Chunk>, RandomState>,
    sweep_at: usize,
}

impl Default for SeqBitmaps {
    fn default() -> Self {
        SeqBitmaps {
            chunks: HashMap::default(),
            sweep_at: SWEEP_AT,
        }
    }
}

impl SeqBitmaps {
    /// Marks `n` used; false if it already was, within its token's life.
    pub(super) fn first_use(&mut self, n: Sequenced, expires_at: u64, now: u64) -> bool {
        if expires_at <= now {
            // Expired already: no later use can verify, so there is nothing to remember.
            return true;
        }
        let key = (n.issuer, n.seq >> CHUNK_SHIFT);
        if !self.chunks.contains_key(&key) && self.chunks.len() >= self.sweep_at {
            self.chunks.retain(|_, c| c.last_expiry > now);
            // Amortised: the next sweep waits until the live chunks have doubled.
            self.sweep_at = (self.chunks.len() * 2).max(SWEEP_AT);
        }
        let chunk = self.chunks.entry(key).or_insert_with(|| {
            Box::new(Chunk {
                bits: [0; CHUNK_WORDS],
                last_expiry: 0,
                used: 0,
            })
        });
        let bit = n.seq & ((1 << CHUNK_SHIFT) - 1);
        let (word, mask) = ((bit >> 6) as usize, 1u64 << (bit & 63));
        if chunk.bits[word] & mask != 0 {
            return false;
        }
        chunk.bits[word] |= mask;
        chunk.used += 1;
        chunk.last_expiry = chunk.last_expiry.max(expires_at);
        true
    }

    /// How many numbers are marked used.
    pub(super) fn len(&self) -> usize {
        self.chunks.values().map(|c| c.used as usize).sum()
    }

    /// How many chunks are held.
    #[cfg(test)]
    pub(super) fn chunks(&self) -> usize {
        self.chunks.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(issuer: u64, seq: u64) -> Sequenced {
        Sequenced { issuer, seq }
    }

    #[test]
    fn numbers_are_single_use_in_any_order() {
        let mut b = SeqBitmaps::default();
        for seq in [5, 1, 70_000, 0, 65_535, 65_536, u64::MAX] {
            assert!(b.first_use(n(1, seq), 100, 10), "{seq}");
        }
        for seq in [0, 1, 5, 65_535, 65_536, 70_000, u64::MAX] {
            assert!(!b.first_use(n(1, seq), 100, 20), "{seq} replayed");
        }
        // Another issuer's numbers are its own.
        assert!(b.first_use(n(2, 5), 100, 20));
        assert_eq!(b.len(), 8);
        // Expired tokens are neither refused nor remembered.
        assert!(b.first_use(n(1, 5), 100, 100));
        assert!(b.first_use(n(1, 6), 100, 150));
        assert_eq!(b.len(), 8);
    }

    #[test]
    fn chunks_are_dropped_once_their_tokens_expire() {
        let mut b = SeqBitmaps::default();
        // Tokens live 10 s; one chunk's worth of numbers is used each second for a minute.
        let s = 1_000_000_000u64;
        for t in 0..60u64 {
            let now = t * s;
            for i in 0..4 {
                let seq = (t << CHUNK_SHIFT) + i * 1000;
                assert!(b.first_use(n(7, seq), now + 10 * s, now));
                assert!(!b.first_use(n(7, seq), now + 10 * s, now + 1));
            }
        }
        // Only the chunks of the last ten seconds (and those since the last sweep) are kept.
        assert!(b.chunks() <= 2 * 11 + SWEEP_AT, "{} chunks", b.chunks());
        // A token of a dropped chunk could only be replayed expired, which the caller refuses;
        // a number never used from it is still accepted once.
        assert!(b.first_use(n(7, 3), 70 * s, 60 * s));
        assert!(!b.first_use(n(7, 3), 70 * s, 60 * s));
    }
}
