//! The CSRF token format: `base64url(nonce ‖ expiry) "." base64url(HMAC-SHA256)`.
//!
//! The MAC covers a version label, the session id the token is bound to, a 16-byte random
//! nonce and the expiry (Unix seconds, big-endian), keyed by `CSRF_SECRET`. A token stolen for
//! one session is useless with another session's cookie; the nonce makes each token unique,
//! so a single-use store can remember it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

const LABEL: &[u8] = b"rampart-csrf-v1\0";
/// Bytes of randomness in a token.
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
    // Decoded into stack buffers: a token is verified on every mutation.
    let mut payload = [0u8; PAYLOAD_LEN + 3];
    let mut tag = [0u8; 32 + 3];
    let payload_len = URL_SAFE_NO_PAD
        .decode_slice(p, &mut payload)
        .map_err(|_| TokenError::Malformed)?;
    let tag_len = URL_SAFE_NO_PAD
        .decode_slice(t, &mut tag)
        .map_err(|_| TokenError::Malformed)?;
    if payload_len != PAYLOAD_LEN || tag_len != 32 {
        return Err(TokenError::Malformed);
    }
    let (payload, tag) = (&payload[..PAYLOAD_LEN], &tag[..32]);
    let expected = mac(key, session, payload);
    if !bool::from(expected.ct_eq(tag)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> TokenKey {
        TokenKey::new(b"0123456789abcdef0123456789abcdef")
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
