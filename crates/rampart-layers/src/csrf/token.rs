//! The CSRF token format: `base64url(nonce ‖ expiry) "." base64url(HMAC-SHA256)`.
//!
//! The MAC covers a version label, the session id the token is bound to, a 16-byte nonce
//! (random to the eye; see `csrf::nonce`) and the expiry (Unix seconds, big-endian), keyed
//! by `CSRF_SECRET`. A token stolen for one session is useless with another session's cookie;
//! the nonce makes each token unique, so a single-use store can remember it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

const LABEL: &[u8] = b"rampart-csrf-v1\0";
/// Bytes of nonce in a token.
pub(crate) const NONCE_LEN: usize = crate::replay::NONCE_LEN;
const PAYLOAD_LEN: usize = NONCE_LEN + 8;
/// The longest token text accepted; anything longer is refused before decoding.
const MAX_TOKEN_LEN: usize = 128;

/// Why a token did not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenError {
    /// Not `payload.mac` in base64url, or the wrong length.
    Malformed,
    /// The MAC does not match (forged, another session's, or another secret's).
    BadSignature,
    /// Past its expiry.
    Expired,
}

impl TokenError {
    /// The reason recorded in the event.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed_token",
            TokenError::BadSignature => "invalid_token",
            TokenError::Expired => "expired_token",
        }
    }
}

/// A verified token's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    /// The nonce, base64url: the token's identity for single-use.
    pub nonce: String,
    /// Expiry, Unix seconds.
    pub expires_at: u64,
}

/// The HMAC key, with its inner and outer pads computed once rather than per token.
#[derive(Clone)]
pub struct TokenKey(HmacSha256);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(<redacted>)")
    }
}

impl TokenKey {
    /// The key for `secret` (`CSRF_SECRET`).
    pub fn new(secret: &[u8]) -> Self {
        // HMAC accepts keys of any length, so this cannot fail.
        TokenKey(<HmacSha256 as Mac>::new_from_slice(secret).expect("hmac takes any key length"))
    }
}

fn mac(key: &TokenKey, session: &str, payload: &[u8]) -> [u8; 32] {
    let mut m = key.0.clone();
    m.update(LABEL);
    m.update(&(session.len() as u64).to_be_bytes());
    m.update(session.as_bytes());
    m.update(payload);
    m.finalize().into_bytes().into()
}

/// Makes a token bound to `session`, valid until `expires_at` (Unix seconds).
pub fn issue(key: &TokenKey, session: &str, nonce: &[u8; NONCE_LEN], expires_at: u64) -> String {
    let mut payload = [0u8; PAYLOAD_LEN];
    payload[..NONCE_LEN].copy_from_slice(nonce);
    payload[NONCE_LEN..].copy_from_slice(&expires_at.to_be_bytes());
    let tag = mac(key, session, &payload);
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// Checks `token` against `session` at `now` (Unix seconds). The MAC compare is constant-time.
pub fn verify(
    key: &TokenKey,
    session: &str,
    token: &[u8],
    now: u64,
) -> Result<VerifiedToken, TokenError> {
    let (nonce, expires_at) = verify_raw(key, session, token, now)?;
    Ok(VerifiedToken {
        nonce: URL_SAFE_NO_PAD.encode(nonce),
        expires_at,
    })
}

/// [`verify`] without allocating: the raw nonce and the expiry (the layer's hot path).
pub(crate) fn verify_raw(
    key: &TokenKey,
    session: &str,
    token: &[u8],
    now: u64,
) -> Result<([u8; NONCE_LEN], u64), TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let dot = token
        .iter()
        .position(|&b| b == b'.')
        .ok_or(TokenError::Malformed)?;
    let (p, t) = (&token[..dot], &token[dot + 1..]);
    // Decoded into stack buffers, by a decoder for exactly these lengths: a token is verified
    // on every mutation.
    let mut payload = [0u8; PAYLOAD_LEN];
    let mut tag = [0u8; 32];
    if !decode_exact(p, &mut payload) || !decode_exact(t, &mut tag) {
        return Err(TokenError::Malformed);
    }
    let expected = mac(key, session, &payload);
    if !tags_equal(&expected, &tag) {
        return Err(TokenError::BadSignature);
    }
    let mut exp = [0u8; 8];
    exp.copy_from_slice(&payload[NONCE_LEN..]);
    let expires_at = u64::from_be_bytes(exp);
    if now >= expires_at {
        return Err(TokenError::Expired);
    }
    let mut nonce = [0u8; NONCE_LEN];
    nonce.copy_from_slice(&payload[..NONCE_LEN]);
    Ok((nonce, expires_at))
}

/// Compares two MACs in constant time: their words are XOR-ed and OR-ed together with no
/// early exit, and one comparison with zero, behind `subtle`'s optimisation barrier, decides.
/// (`subtle`'s slice comparison puts a barrier on every byte, which costs more than the
/// rest of the check.)
fn tags_equal(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u64;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let word = |c: &[u8]| u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]));
        diff |= word(x) ^ word(y);
    }
    diff.ct_eq(&0).into()
}

/// Unpadded base64url of exactly `out.len()` bytes into `out`; false on any other length, a
/// character outside the alphabet, or non-zero trailing bits (so every token has one spelling).
fn decode_exact(text: &[u8], out: &mut [u8]) -> bool {
    const INVALID: u8 = 0xff;
    const TABLE: [u8; 256] = {
        let mut t = [INVALID; 256];
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut i = 0;
        while i < 64 {
            t[alphabet[i] as usize] = i as u8;
            i += 1;
        }
        t
    };
    if text.len() != (out.len() * 4).div_ceil(3) {
        return false;
    }
    // Values are < 64; INVALID has the top bits set, so OR-ing them all finds any.
    let mut seen = 0u8;
    let mut o = 0;
    let mut quads = text.chunks_exact(4);
    for q in &mut quads {
        let v = [q[0], q[1], q[2], q[3]].map(|c| TABLE[c as usize]);
        seen |= v[0] | v[1] | v[2] | v[3];
        let n = u32::from(v[0] & 63) << 18
            | u32::from(v[1] & 63) << 12
            | u32::from(v[2] & 63) << 6
            | u32::from(v[3] & 63);
        out[o..o + 3].copy_from_slice(&n.to_be_bytes()[1..]);
        o += 3;
    }
    // 2 characters carry one byte (4 spare bits), 3 carry two (2 spare bits).
    let rest = quads.remainder();
    let mut n = 0u32;
    for &c in rest {
        let v = TABLE[c as usize];
        seen |= v;
        n = n << 6 | u32::from(v & 63);
    }
    let ok = match rest.len() {
        0 => true,
        2 => {
            out[o] = (n >> 4) as u8;
            n & 0xf == 0
        }
        3 => {
            out[o..o + 2].copy_from_slice(&((n >> 2) as u16).to_be_bytes());
            n & 0x3 == 0
        }
        _ => false,
    };
    ok && seen & 0xc0 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> TokenKey {
        TokenKey::new(b"0123456789abcdef0123456789abcdef")
    }

    #[test]
    fn tags_differing_in_any_byte_or_bit_are_unequal() {
        let a = [0x5au8; 32];
        assert!(tags_equal(&a, &a));
        for i in 0..32 {
            for bit in [0x01u8, 0x80] {
                let mut b = a;
                b[i] ^= bit;
                assert!(!tags_equal(&a, &b), "byte {i}, bit {bit:#x}");
            }
        }
    }

    #[test]
    fn the_decoder_agrees_with_the_base64_crate() {
        for len in [1usize, 2, 3, 16, 24, 31, 32] {
            for seed in 0..50u8 {
                let bytes: Vec<u8> = (0..len)
                    .map(|i| {
                        seed.wrapping_mul(37)
                            .wrapping_add((i as u8).wrapping_mul(91))
                    })
                    .collect();
                let text = URL_SAFE_NO_PAD.encode(&bytes);
                let mut out = vec![0u8; len];
                assert!(decode_exact(text.as_bytes(), &mut out));
                assert_eq!(out, bytes);
                // Wrong length, padding, a foreign character, stray trailing bits: refused.
                let mut out = vec![0u8; len + 1];
                assert!(!decode_exact(text.as_bytes(), &mut out));
                let mut out = vec![0u8; len];
                assert!(!decode_exact(format!("{text}=").as_bytes(), &mut out));
                let mut t = text.clone().into_bytes();
                t[0] = b'+';
                assert!(!decode_exact(&t, &mut out));
                if len % 3 != 0 {
                    let mut t = text.clone().into_bytes();
                    let last = t.len() - 1;
                    t[last] = if t[last] == b'_' { b'-' } else { b'_' };
                    let strict = URL_SAFE_NO_PAD.decode(&t).is_ok();
                    assert_eq!(
                        decode_exact(&t, &mut out),
                        strict,
                        "{}",
                        String::from_utf8_lossy(&t)
                    );
                }
            }
        }
    }

    #[test]
    fn round_trip_and_binding() {
        let t = issue(&key(), "sess-a", &[7; NONCE_LEN], 1_000);
        let v = verify(&key(), "sess-a", t.as_bytes(), 999).unwrap();
        assert_eq!(v.expires_at, 1_000);
        assert_eq!(
            verify(&key(), "sess-b", t.as_bytes(), 999),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            verify(
                &TokenKey::new(b"another secret, just as long...."),
                "sess-a",
                t.as_bytes(),
                999
            ),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            verify(&key(), "sess-a", t.as_bytes(), 1_000),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn tampered_expiry_is_caught_by_the_mac() {
        let t = issue(&key(), "s", &[1; NONCE_LEN], 1_000);
        let (p, tag) = t.split_once('.').unwrap();
        let mut payload = URL_SAFE_NO_PAD.decode(p).unwrap();
        payload[NONCE_LEN..].copy_from_slice(&u64::MAX.to_be_bytes());
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(payload));
        assert_eq!(
            verify(&key(), "s", forged.as_bytes(), 2_000),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn garbage_is_malformed() {
        for t in ["", ".", "abc", "a.b", "é.é", &"A".repeat(500)] {
            assert_eq!(
                verify(&key(), "s", t.as_bytes(), 0),
                Err(TokenError::Malformed),
                "{t}"
            );
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(token in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = verify(&key(), "s", &token, 0);
        }

        #[test]
        fn arbitrary_dotted_base64_never_verifies(a in "[A-Za-z0-9_-]{0,40}", b in "[A-Za-z0-9_-]{0,50}") {
            let t = format!("{a}.{b}");
            prop_assert!(verify(&key(), "s", t.as_bytes(), 0).is_err());
        }
    }
}
