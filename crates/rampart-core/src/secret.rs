//! Secret generation and entropy.
//!
//! Secrets are random bytes from the operating system's CSPRNG, encoded base64url without
//! padding: 32 bytes give the 43-character secrets the guide asks for.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The default number of random bytes in a secret.
pub const DEFAULT_BYTES: usize = 32;
/// The largest secret `generate` makes, in bytes.
pub const MAX_BYTES: usize = 4096;
/// The minimum length, in characters, of a configured secret.
pub const MIN_SECRET_LEN: usize = 32;

/// Errors from secret generation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The requested size is 0 or above [`MAX_BYTES`].
    #[error("a secret must have between 1 and {MAX_BYTES} random bytes, not {0}")]
    InvalidSize(usize),
    /// The operating system's random source failed.
    #[error("the operating system's random source failed: {0}")]
    Rng(String),
}

/// Fills a buffer with `n` random bytes from the OS.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, SecretError> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| SecretError::Rng(e.to_string()))?;
    Ok(buf)
}

/// A new secret of `bytes` random bytes, base64url-encoded without padding.
pub fn generate(bytes: usize) -> Result<String, SecretError> {
    if bytes == 0 || bytes > MAX_BYTES {
        return Err(SecretError::InvalidSize(bytes));
    }
    Ok(URL_SAFE_NO_PAD.encode(random_bytes(bytes)?))
}

/// The Shannon entropy of `s`, in bits per character (0 for an empty string).
///
/// Random base64 reaches about 5.5-6 bits per character over long strings, hex about 4;
/// English words and placeholders stay well below.
pub fn shannon_entropy(s: &str) -> f64 {
    shannon_entropy_bytes(s.as_bytes())
}

/// The Shannon entropy of a byte string, in bits per byte.
pub fn shannon_entropy_bytes(bytes: &[u8]) -> f64 {
    if bytes.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[b as usize] += 1;
    }
    let len = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    #[test]
    fn default_secret_is_43_url_safe_characters() {
        let s = generate(DEFAULT_BYTES).unwrap();
        assert_eq!(s.len(), 43);
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert!(s.len() >= MIN_SECRET_LEN);
    }

    #[test]
    fn sizes_out_of_range_are_refused() {
        assert!(matches!(generate(0), Err(SecretError::InvalidSize(0))));
        assert!(matches!(
            generate(MAX_BYTES + 1),
            Err(SecretError::InvalidSize(_))
        ));
        assert!(generate(MAX_BYTES).is_ok());
    }

    #[test]
    fn entropy_of_known_strings() {
        assert_eq!(shannon_entropy(""), 0.0);
        assert_eq!(shannon_entropy("aaaa"), 0.0);
        assert!((shannon_entropy("ab") - 1.0).abs() < 1e-9);
        assert!((shannon_entropy("0123456789abcdef") - 4.0).abs() < 1e-9);
        let random = generate(64).unwrap();
        assert!(shannon_entropy(&random) > 5.0);
        assert!(shannon_entropy("changeme_changeme") < 3.5);
    }

    proptest! {
        #[test]
        fn generated_secrets_decode_to_requested_length(n in 1usize..512) {
            let s = generate(n).unwrap();
            prop_assert!(!s.contains('='));
            let decoded = URL_SAFE_NO_PAD.decode(&s).unwrap();
            prop_assert_eq!(decoded.len(), n);
        }

        #[test]
        fn generated_secrets_never_repeat(n in 16usize..64) {
            let set: HashSet<String> = (0..64).map(|_| generate(n).unwrap()).collect();
            prop_assert_eq!(set.len(), 64);
        }
    }
}
