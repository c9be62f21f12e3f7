//! Bearer JWT verification with keys pinned to one algorithm each.
//!
//! Each [`VerifyKey`] carries the one algorithm it verifies: a token whose header names
//! another algorithm is refused before any cryptography (no `none`, and no HS256 token
//! "signed" with an RSA public key used as an HMAC secret). Time claims are checked here
//! against the injected clock, with leeway: `exp` is required, `nbf` honoured when present.

use std::str::FromStr;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

/// The longest token accepted; longer ones are refused before parsing.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Errors loading a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The PEM is not an RSA, EC (P-256) or Ed25519 public key.
    #[error("not an RSA, EC or Ed25519 public key in PEM form")]
    UnsupportedPem,
    /// A JWKS document could not be parsed.
    #[error("invalid JWKS: {0}")]
    Jwks(String),
    /// A JWKS holds no usable signing key.
    #[error("JWKS has no usable public signing key")]
    NoKeys,
    /// The algorithm cannot be used with this key.
    #[error("algorithm {alg} does not match a {family} key")]
    AlgorithmMismatch {
        /// The algorithm asked for.
        alg: String,
        /// The key's family.
        family: &'static str,
    },
}

/// A public key and the single algorithm it verifies.
#[derive(Clone)]
pub struct VerifyKey {
    pub(crate) kid: Option<String>,
    pub(crate) alg: Algorithm,
    pub(crate) key: DecodingKey,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The key family an algorithm needs.
pub(crate) fn family_name(alg: Algorithm) -> &'static str {
    use Algorithm::*;
    match alg {
        HS256 | HS384 | HS512 => "HMAC",
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => "RSA",
        ES256 | ES384 => "EC",
        EdDSA => "Ed25519",
    }
}

impl VerifyKey {
    /// A public key from PEM: RSA keys verify RS256, EC keys ES256, Ed25519 keys EdDSA
    /// (change it with [`VerifyKey::with_alg`]).
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        let text = String::from_utf8_lossy(pem);
        if text.contains("PRIVATE KEY") {
            return Err(KeyError::UnsupportedPem);
        }
        let (key, alg) = if let Ok(k) = DecodingKey::from_rsa_pem(pem) {
            (k, Algorithm::RS256)
        } else if let Ok(k) = DecodingKey::from_ec_pem(pem) {
            (k, Algorithm::ES256)
        } else if let Ok(k) = DecodingKey::from_ed_pem(pem) {
            (k, Algorithm::EdDSA)
        } else {
            return Err(KeyError::UnsupportedPem);
        };
        Ok(VerifyKey {
            kid: None,
            alg,
            key,
        })
    }

    /// Pins another algorithm of the same family (RS384, PS256, ES384, ...).
    pub fn with_alg(mut self, alg: Algorithm) -> Result<Self, KeyError> {
        if family_name(alg) != family_name(self.alg) {
            return Err(KeyError::AlgorithmMismatch {
                alg: format!("{alg:?}"),
                family: family_name(self.alg),
            });
        }
        self.alg = alg;
        Ok(self)
    }

    /// Only tokens whose header carries this `kid` use this key.
    #[must_use]
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The algorithm this key verifies.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

/// What a verified token says, available to handlers in the request extensions. Cheap to
/// clone.
#[derive(Debug, Clone, PartialEq)]
pub struct Claims(Arc<Map<String, Value>>);

impl Claims {
    /// Claims from a JSON object.
    pub fn new(map: Map<String, Value>) -> Self {
        Claims(Arc::new(map))
    }

    /// Every claim.
    pub fn map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The subject (`sub`): the user id.
    pub fn sub(&self) -> Option<&str> {
        self.get_str("sub")
    }

    /// A string claim.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(Value::as_str)
    }
}

/// Checks besides the signature.
#[derive(Debug, Clone)]
pub struct JwtRules {
    /// Required `iss`, when set.
    pub issuer: Option<String>,
    /// Required `aud` member, when set.
    pub audience: Option<String>,
    /// Accepted `azp` values (Clerk's authorized parties), when non-empty.
    pub authorized_parties: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway: u64,
}

impl Default for JwtRules {
    fn default() -> Self {
        JwtRules {
            issuer: None,
            audience: None,
            authorized_parties: Vec::new(),
            leeway: 30,
        }
    }
}

/// Why a token was refused (recorded as the event's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtFailure {
    /// No bearer token (nor session cookie).
    Missing,
    /// Not a JWT.
    Malformed,
    /// The header says `alg: none`.
    AlgNone,
    /// No key verifies the header's algorithm (or its `kid`).
    AlgorithmNotAllowed,
    /// The signature does not verify with any candidate key.
    BadSignature,
    /// `exp` is absent or not a number.
    MissingExp,
    /// Past `exp` + leeway.
    Expired,
    /// Before `nbf` - leeway.
    NotYetValid,
    /// `iss` differs from the configured issuer.
    WrongIssuer,
    /// `aud` does not include the configured audience.
    WrongAudience,
    /// `azp` is not an authorized party.
    WrongParty,
    /// The key set could not be fetched.
    KeysUnavailable,
}

impl JwtFailure {
    /// The reason recorded in the event.
    pub fn as_str(self) -> &'static str {
        match self {
            JwtFailure::Missing => "missing_token",
            JwtFailure::Malformed => "malformed_token",
            JwtFailure::AlgNone => "alg_none",
            JwtFailure::AlgorithmNotAllowed => "algorithm_not_allowed",
            JwtFailure::BadSignature => "bad_signature",
            JwtFailure::MissingExp => "missing_exp",
            JwtFailure::Expired => "expired",
            JwtFailure::NotYetValid => "not_yet_valid",
            JwtFailure::WrongIssuer => "wrong_issuer",
            JwtFailure::WrongAudience => "wrong_audience",
            JwtFailure::WrongParty => "unauthorized_party",
            JwtFailure::KeysUnavailable => "keys_unavailable",
        }
    }
}

/// The header's `alg` and `kid`, read without trusting anything.
fn peek_header(token: &str) -> Result<(Algorithm, Option<String>), JwtFailure> {
    let first = token.split('.').next().unwrap_or("");
    let bytes = URL_SAFE_NO_PAD
        .decode(first.trim_end_matches('='))
        .map_err(|_| JwtFailure::Malformed)?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| JwtFailure::Malformed)?;
    let alg = v
        .get("alg")
        .and_then(Value::as_str)
        .ok_or(JwtFailure::Malformed)?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(JwtFailure::AlgNone);
    }
    let alg = Algorithm::from_str(alg).map_err(|_| JwtFailure::AlgorithmNotAllowed)?;
    let kid = v.get("kid").and_then(Value::as_str).map(str::to_string);
    Ok((alg, kid))
}

/// Verifies `token` with the candidate `keys` at `now` (Unix seconds).
pub fn verify(
    token: &str,
    keys: &[VerifyKey],
    rules: &JwtRules,
    now: u64,
) -> Result<Claims, JwtFailure> {
    if token.len() > MAX_TOKEN_LEN || token.split('.').count() != 3 {
        return Err(JwtFailure::Malformed);
    }
    let (alg, kid) = peek_header(token)?;
    let mut candidates = keys
        .iter()
        .filter(|k| match (&kid, &k.kid) {
            (Some(want), Some(have)) => want == have,
            _ => true,
        })
        .filter(|k| k.alg == alg)
        .peekable();
    if candidates.peek().is_none() {
        return Err(JwtFailure::AlgorithmNotAllowed);
    }
    let mut validation = Validation::new(alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let mut claims = None;
    for key in candidates {
        match jsonwebtoken::decode::<Map<String, Value>>(token, &key.key, &validation) {
            Ok(data) => {
                claims = Some(data.claims);
                break;
            }
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind;
                match e.kind() {
                    ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => continue,
                    ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidRsaKey(_) => continue,
                    _ => return Err(JwtFailure::Malformed),
                }
            }
        }
    }
    let claims = claims.ok_or(JwtFailure::BadSignature)?;
    check_claims(&claims, rules, now)?;
    Ok(Claims::new(claims))
}

/// The checks that depend on the time: `exp` and `nbf`, with the leeway. All a token from
/// the verified-token cache needs, since it passed every other check when it was cached.
pub(crate) fn check_times(
    exp: f64,
    nbf: Option<f64>,
    rules: &JwtRules,
    now: u64,
) -> Result<(), JwtFailure> {
    let now_f = now as f64;
    if now_f > exp + rules.leeway as f64 {
        return Err(JwtFailure::Expired);
    }
    if let Some(nbf) = nbf
        && now_f + (rules.leeway as f64) < nbf
    {
        return Err(JwtFailure::NotYetValid);
    }
    Ok(())
}

pub(crate) fn check_claims(
    c: &Map<String, Value>,
    rules: &JwtRules,
    now: u64,
) -> Result<(), JwtFailure> {
    let exp = c
        .get("exp")
        .and_then(Value::as_f64)
        .ok_or(JwtFailure::MissingExp)?;
    check_times(exp, c.get("nbf").and_then(Value::as_f64), rules, now)?;
    if let Some(iss) = &rules.issuer
        && c.get("iss").and_then(Value::as_str) != Some(iss.as_str())
    {
        return Err(JwtFailure::WrongIssuer);
    }
    if let Some(aud) = &rules.audience {
        let ok = match c.get("aud") {
            Some(Value::String(s)) => s == aud,
            Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(aud.as_str())),
            _ => false,
        };
        if !ok {
            return Err(JwtFailure::WrongAudience);
        }
    }
    if !rules.authorized_parties.is_empty()
        && let Some(azp) = c.get("azp").and_then(Value::as_str)
        && !rules.authorized_parties.iter().any(|p| p == azp)
    {
        return Err(JwtFailure::WrongParty);
    }
    Ok(())
}
