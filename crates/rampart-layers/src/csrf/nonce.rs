//! Token nonces: numbered inside, random outside.
//!
//! A nonce is one AES-128 block over `magic ‖ issuer ‖ sequence`: the issuer is 6 random bytes
//! per [`Csrf`](super::Csrf) value, the sequence counts the tokens it has issued. Encrypted,
//! nonces look random: they reveal neither how many tokens were issued nor in what order.
//! Decrypted when a token is checked, they let the single-use store keep one bit per token in
//! a bitmap of consecutive numbers ([`Sequenced`]). Tokens are used in roughly the order they
//! were issued, so that bitmap stays in cache, where a table of random nonces costs a cache
//! miss per mutation once a few hundred thousand tokens are live.
//!
//! The AES key is derived from `CSRF_SECRET`, so every instance with the secret decodes every
//! other's nonces alike. A nonce that does not decrypt to the magic (a token from before this
//! scheme) is remembered whole, as before. Uniqueness does not depend on the cipher: distinct
//! `(issuer, sequence)` pairs encrypt to distinct blocks.

use std::sync::atomic::{AtomicU64, Ordering};

use aes::Aes128;
use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::replay::{NONCE_LEN, Sequenced};

/// Marks a decrypted block as a numbered nonce (a random block has it with chance 2^-16).
const MAGIC: [u8; 2] = *b"r1";
/// Domain separation: the nonce key is not the token MAC key.
const KEY_LABEL: &[u8] = b"rampart-csrf-nonce-key-v1";

/// Makes and reads numbered nonces for one issuer.
pub(crate) struct NonceCodec {
    cipher: Aes128,
    issuer: [u8; 6],
    next: AtomicU64,
}

impl NonceCodec {
    /// A codec keyed from `secret`, with the random issuer id `issuer`.
    pub(crate) fn new(secret: &[u8], issuer: [u8; 6]) -> Self {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("hmac takes any key length");
        mac.update(KEY_LABEL);
        let derived = mac.finalize().into_bytes();
        NonceCodec {
            cipher: Aes128::new_from_slice(&derived[..16]).expect("a 16-byte AES-128 key"),
            issuer,
            next: AtomicU64::new(0),
        }
    }

    /// The next nonce.
    pub(crate) fn next(&self) -> [u8; NONCE_LEN] {
        let seq = self.next.fetch_add(1, Ordering::Relaxed);
        let mut block = [0u8; NONCE_LEN];
        block[..2].copy_from_slice(&MAGIC);
        block[2..8].copy_from_slice(&self.issuer);
        block[8..].copy_from_slice(&seq.to_be_bytes());
        let mut b = block.into();
        self.cipher.encrypt_block(&mut b);
        b.into()
    }

    /// The issuer and sequence number inside `nonce`, if it is a numbered nonce.
    pub(crate) fn open(&self, nonce: &[u8; NONCE_LEN]) -> Option<Sequenced> {
        let mut b = (*nonce).into();
        self.cipher.decrypt_block(&mut b);
        let block: [u8; NONCE_LEN] = b.into();
        if block[..2] != MAGIC {
            return None;
        }
        let mut issuer = [0u8; 8];
        issuer[2..].copy_from_slice(&block[2..8]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&block[8..]);
        Some(Sequenced {
            issuer: u64::from_be_bytes(issuer),
            seq: u64::from_be_bytes(seq),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"a-csrf-secret-of-at-least-32-characters";

    #[test]
    fn nonces_round_trip_and_count_up() {
        let c = NonceCodec::new(SECRET, [1, 2, 3, 4, 5, 6]);
        let a = c.next();
        let b = c.next();
        assert_ne!(a, b);
        let issuer = 0x0102_0304_0506;
        assert_eq!(c.open(&a), Some(Sequenced { issuer, seq: 0 }));
        assert_eq!(c.open(&b), Some(Sequenced { issuer, seq: 1 }));
        // Consecutive numbers do not show in the nonces: about half their bits differ.
        let differing: u32 = a.iter().zip(&b).map(|(x, y)| (x ^ y).count_ones()).sum();
        assert!((32..=96).contains(&differing), "{differing} bits differ");
    }

    #[test]
    fn another_instance_with_the_secret_reads_the_nonce() {
        let a = NonceCodec::new(SECRET, [9; 6]);
        let b = NonceCodec::new(SECRET, [7; 6]);
        let n = a.next();
        assert_eq!(b.open(&n), a.open(&n));
        // Another secret decrypts to noise, which almost never carries the magic.
        let other = NonceCodec::new(b"another-secret-of-at-least-32-characters", [9; 6]);
        assert_ne!(other.open(&n), a.open(&n));
    }

    #[test]
    fn random_nonces_are_not_numbered() {
        let c = NonceCodec::new(SECRET, [0; 6]);
        // Old-format nonces are random: only about 1 in 65,536 decrypts to the magic.
        let numbered = (0u128..2000)
            .filter(|i| {
                c.open(
                    &i.wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)
                        .to_le_bytes(),
                )
                .is_some()
            })
            .count();
        assert!(numbered <= 1, "{numbered}");
    }
}
