//! Tokens whose signature already verified, so a client's every request does not pay for an
//! RSA or ECDSA verification again.
//!
//! Keyed by the whole token (signature included): only the exact bytes that verified hit. An entry lives until the token's `exp`, and at most five minutes, so a key
//! removed from a JWKS stops being honoured within that time; `exp` and `nbf` are still
//! checked on every hit (kept as numbers beside the claims, so a hit looks nothing up in
//! them); issuer, audience and party passed when the entry was made and cannot change. When full, the cache is emptied (bounded memory, no LRU
//! bookkeeping on the request path).

use std::hash::BuildHasher;
use std::sync::Mutex;

use hashbrown::HashTable;

use foldhash::fast::RandomState;
use serde_json::Value;

use super::jwt::Claims;

/// Entries kept before the cache is emptied.
pub(super) const DEFAULT_CAPACITY: usize = 10_000;
/// The longest an entry lives, in seconds.
const MAX_AGE: u64 = 300;

#[derive(Debug)]
pub(super) struct VerifiedCache {
    capacity: usize,
    hasher: RandomState,
    map: Mutex<HashTable<(Box<str>, Entry)>>,
}

/// How many bytes at the end of a token its hash covers.
const HASHED_TAIL: usize = 64;

/// The claims, when the entry stops being used (seconds), and the token's times.
type Entry = (Claims, u64, Times);

/// A cached token's `exp` and `nbf`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Times {
    pub(super) exp: f64,
    pub(super) nbf: Option<f64>,
}

impl VerifiedCache {
    pub(super) fn new(capacity: usize) -> Self {
        VerifiedCache {
            capacity,
            hasher: RandomState::default(),
            map: Mutex::new(HashTable::new()),
        }
    }

    /// The hash of a token: its length and its last bytes (the signature's), not the whole
    /// JWT, which is hundreds of bytes. Only verified tokens are ever stored, so nobody can
    /// fill a bucket with chosen collisions; a lookup still compares the whole token.
    fn hash(&self, token: &[u8]) -> u64 {
        let tail = &token[token.len().saturating_sub(HASHED_TAIL)..];
        self.hasher.hash_one((token.len(), tail))
    }

    /// The claims of `token` (its bytes: a match is a token verified before, so it needs no
    /// UTF-8 check of its own).
    pub(super) fn get(&self, token: &[u8], now: u64) -> Option<(Claims, Times)> {
        let hash = self.hash(token);
        let map = self.map.lock().ok()?;
        match map.find(hash, |e| e.0.as_bytes() == token) {
            Some((_, (claims, until, times))) if now < *until => Some((claims.clone(), *times)),
            _ => None,
        }
    }

    pub(super) fn insert(&self, token: &str, claims: &Claims, now: u64) {
        // Only verified claims come here, and they have a numeric `exp`.
        let Some(exp) = claims.map().get("exp").and_then(Value::as_f64) else {
            return;
        };
        let until = (now + MAX_AGE).min(exp.max(0.0) as u64 + 1);
        if until <= now {
            return;
        }
        let times = Times {
            exp,
            nbf: claims.map().get("nbf").and_then(Value::as_f64),
        };
        let hash = self.hash(token.as_bytes());
        let entry = (claims.clone(), until, times);
        if let Ok(mut map) = self.map.lock() {
            if map.len() >= self.capacity {
                map.clear();
            }
            match map.find_mut(hash, |e| &*e.0 == token) {
                Some(e) => e.1 = entry,
                None => {
                    map.insert_unique(hash, (token.into(), entry), |e| self.hash(e.0.as_bytes()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: u64) -> Claims {
        Claims::new(
            serde_json::json!({"sub": "u", "exp": exp})
                .as_object()
                .unwrap()
                .clone(),
        )
    }

    #[test]
    fn entries_expire_with_the_token_or_after_five_minutes() {
        let c = VerifiedCache::new(10);
        c.insert("a", &claims(1_000), 900);
        assert!(c.get(b"a", 950).is_some());
        assert!(c.get(b"a", 1_001).is_none());
        c.insert("b", &claims(100_000), 0);
        assert!(c.get(b"b", MAX_AGE - 1).is_some());
        assert!(c.get(b"b", MAX_AGE).is_none());
        assert!(c.get(b"other", 0).is_none());
    }

    #[test]
    fn tokens_that_share_their_hashed_tail_are_still_told_apart() {
        let c = VerifiedCache::new(10);
        let tail = "s".repeat(HASHED_TAIL);
        let (a, b) = (
            format!("{}{tail}", "a".repeat(300)),
            format!("{}{tail}", "b".repeat(300)),
        );
        assert_eq!(c.hash(a.as_bytes()), c.hash(b.as_bytes()));
        c.insert(&a, &claims(1_000), 0);
        assert!(
            c.get(b.as_bytes(), 1).is_none(),
            "a token that never verified must not hit"
        );
        c.insert(&b, &claims(2_000), 0);
        assert_eq!(c.get(a.as_bytes(), 1).unwrap().1.exp, 1_000.0);
        assert_eq!(c.get(b.as_bytes(), 1).unwrap().1.exp, 2_000.0);
        // A short token hashes whole.
        c.insert("short", &claims(500), 0);
        assert!(c.get(b"short", 1).is_some() && c.get(b"shorT", 1).is_none());
    }

    #[test]
    fn bounded() {
        let c = VerifiedCache::new(2);
        for t in ["a", "b", "c"] {
            c.insert(t, &claims(1_000), 0);
        }
        assert!(c.map.lock().unwrap().len() <= 2);
    }
}
