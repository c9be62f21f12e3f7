//! Stripe: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]`, HMAC-SHA256 over
//! `t.body` keyed by the endpoint secret's own bytes (the whole `whsec_...` string).

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::Failure;

/// The header Stripe signs in.
pub const HEADER: &str = "stripe-signature";
const MAX_HEADER: usize = 4096;

fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("hmac takes any key length");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().into()
}

/// The `Stripe-Signature` value Stripe would send (for tests and local tooling).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex(&mac(secret, timestamp, body)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if s.len() % 2 != 0 || !s.is_ascii() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}

/// Verifies a delivery against any of `secrets`. Returns the replay key: the timestamp and the
/// first matching signature (Stripe sends no id header; an identical resend repeats both).
pub fn verify(
    secrets: &[Vec<u8>],
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<String, Failure> {
    let value = headers
        .get(HEADER)
        .ok_or(Failure::MissingHeader("stripe-signature"))?
        .to_str()
        .map_err(|_| Failure::Malformed)?;
    if value.len() > MAX_HEADER {
        return Err(Failure::Malformed);
    }
    let mut timestamp = None;
    let mut sigs = Vec::new();
    for item in value.split(',') {
        match item.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t.parse::<i64>().map_err(|_| Failure::Malformed)?),
            Some(("v1", s)) => sigs.extend(unhex(s)),
            _ => {} // v0 (test-mode legacy) and unknown schemes are ignored, as Stripe's libraries do
        }
    }
    let timestamp = timestamp.ok_or(Failure::Malformed)?;
    if sigs.is_empty() {
        return Err(Failure::NoValidSignature);
    }
    super::check_timestamp(timestamp, now, tolerance)?;
    for secret in secrets {
        let expected = mac(secret, timestamp, body);
        let mut matched = subtle::Choice::from(0);
        let mut which = 0;
        for (i, s) in sigs.iter().enumerate() {
            let m = expected.ct_eq(s.as_slice());
            which = if bool::from(m) { i } else { which };
            matched |= m;
        }
        if bool::from(matched) {
            return Ok(format!("{timestamp}:{}", hex(&sigs[which])));
        }
    }
    Err(Failure::NoValidSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    fn secret() -> Vec<u8> {
        format!("{}{}", "whsec_", "rampart-stripe-fixture-0123456789").into_bytes()
    }
    const BODY: &[u8] = br#"{"id":"evt_1","object":"event"}"#;
    const TS: i64 = 1_700_000_000;

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HEADER, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn matches_an_independent_hmac() {
        // Computed with `printf '1700000000.{"id":"evt_1","object":"event"}' |
        // openssl dgst -sha256 -hmac "$SECRET"`, independently of this code.
        assert_eq!(
            sign(&secret(), TS, BODY),
            "t=1700000000,v1=81cd9b381d4cd814a0a326b25b2fd014394caf9384d8a180bf4745553f7821a3"
        );
    }

    #[test]
    fn valid_tampered_stale() {
        let s = vec![secret()];
        let header = sign(&secret(), TS, BODY);
        assert!(verify(&s, &with(&header), BODY, TS + 5, 300).is_ok());
        assert_eq!(
            verify(&s, &with(&header), br#"{"id":"evt_2"}"#, TS, 300),
            Err(Failure::NoValidSignature)
        );
        assert_eq!(
            verify(&s, &with(&header), BODY, TS + 301, 300),
            Err(Failure::Stale)
        );
        // A signature among several, and a v0 that is ignored.
        let multi = format!("{header},v1=00ff,v0=abcd");
        let multi = multi.replacen(",v1=", ",v1=deadbeef,v1=", 1);
        assert!(verify(&s, &with(&multi), BODY, TS, 300).is_ok());
        assert_eq!(
            verify(&s, &with("v1=00"), BODY, TS, 300),
            Err(Failure::Malformed)
        );
        assert_eq!(
            verify(&s, &HeaderMap::new(), BODY, TS, 300),
            Err(Failure::MissingHeader("stripe-signature"))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_headers_never_panic(v in "[ -~]{0,300}", body in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(hv) = HeaderValue::from_str(&v) {
                let mut h = HeaderMap::new();
                h.insert(HEADER, hv);
                prop_assert!(verify(&[secret()], &h, &body, TS, 300).is_err());
            }
        }
    }
}
