//! CSP nonces without a system call per response.
//!
//! A nonce must be unpredictable and never repeat. Each layer draws a 32-byte key from the
//! operating system once; the nonce of response `n` is the first 16 bytes of
//! HMAC-SHA256(key, n), with `n` from the layer's atomic counter. HMAC is a PRF, so
//! without the key the nonces are indistinguishable from random, and the counter never
//! repeats a value. If the system's random source fails at start-up, every response falls
//! back to drawing its nonce from the system, as before.

use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of entropy in a nonce.
const NONCE_LEN: usize = 16;

/// Makes the per-response nonces of one security-headers layer.
pub(super) struct NonceSource {
    key: Option<HmacSha256>,
    counter: AtomicU64,
}

impl std::fmt::Debug for NonceSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceSource")
            .field("seeded", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

impl NonceSource {
    /// A source keyed from the operating system's random source.
    pub(super) fn new() -> Self {
        let key = rampart_core::secret::random_bytes(32)
            .ok()
            .and_then(|seed| HmacSha256::new_from_slice(&seed).ok());
        NonceSource {
            key,
            counter: AtomicU64::new(0),
        }
    }

    /// A fresh nonce, base64 (standard alphabet, as CSP expects).
    pub(super) fn next(&self) -> String {
        let Some(key) = &self.key else {
            return rampart_core::secret::random_bytes(NONCE_LEN)
                .map(|b| STANDARD.encode(b))
                .unwrap_or_default();
        };
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut mac = key.clone();
        mac.update(&n.to_be_bytes());
        let out = mac.finalize().into_bytes();
        STANDARD.encode(&out[..NONCE_LEN])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_distinct_and_sized() {
        let s = NonceSource::new();
        let a = s.next();
        let b = s.next();
        assert_ne!(a, b);
        assert_eq!(STANDARD.decode(&a).unwrap().len(), NONCE_LEN);
        // Another layer (another key) does not produce the same sequence.
        assert_ne!(NonceSource::new().next(), a);
    }
}
