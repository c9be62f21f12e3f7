//! JSON Web Key Sets: parsing, and a cache that follows key rotation.
//!
//! [`JwksCache`] keeps the keys of a JWKS document from a file or a URL (through a
//! [`JwksFetch`] the application provides: its own HTTP client, with TLS). Keys are refetched
//! when older than the TTL, and at once when a token names a `kid` the cache does not know (a
//! rotation), but never more often than the minimum interval, so a flood of tokens with made-up
//! `kid`s cannot turn into a flood of fetches.

use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use rampart_core::Clock;

use super::jwt::{KeyError, VerifyKey};
use crate::future::BoxFuture;

/// The signing keys of a JWKS document; encryption keys and symmetric keys are skipped.
pub fn parse_jwks(json: &str) -> Result<Vec<VerifyKey>, KeyError> {
    let set: JwkSet = serde_json::from_str(json).map_err(|e| KeyError::Jwks(e.to_string()))?;
    let mut keys = Vec::new();
    for jwk in &set.keys {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let inferred = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Some(Algorithm::RS256),
            AlgorithmParameters::EllipticCurve(p) => match p.curve {
                EllipticCurve::P256 => Some(Algorithm::ES256),
                EllipticCurve::P384 => Some(Algorithm::ES384),
                _ => None,
            },
            AlgorithmParameters::OctetKeyPair(_) => Some(Algorithm::EdDSA),
            // A shared secret in a public key set would let anyone mint tokens.
            AlgorithmParameters::OctetKey(_) => None,
        };
        let alg = match jwk.common.key_algorithm {
            Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
            Some(KeyAlgorithm::RS384) => Some(Algorithm::RS384),
            Some(KeyAlgorithm::RS512) => Some(Algorithm::RS512),
            Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
            Some(KeyAlgorithm::PS384) => Some(Algorithm::PS384),
            Some(KeyAlgorithm::PS512) => Some(Algorithm::PS512),
            Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
            Some(KeyAlgorithm::ES384) => Some(Algorithm::ES384),
            Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
            None => inferred,
            Some(_) => None,
        };
        let Some(alg) = alg.filter(|a| {
            inferred.is_some_and(|i| super::jwt::family_name(i) == super::jwt::family_name(*a))
        }) else {
            continue;
        };
        let Ok(key) = DecodingKey::from_jwk(jwk) else {
            continue;
        };
        keys.push(VerifyKey {
            kid: jwk.common.key_id.clone(),
            alg,
            key,
        });
    }
    if keys.is_empty() {
        return Err(KeyError::NoKeys);
    }
    Ok(keys)
}

/// Fetches a JWKS document (an HTTP GET of the `jwks_uri`, with the application's client).
pub trait JwksFetch: Send + Sync + fmt::Debug + 'static {
    /// The document's text, or an error message.
    fn fetch(&self) -> BoxFuture<Result<String, String>>;
}

/// Reads the JWKS from a file on each refresh (rotate keys by replacing the file).
#[derive(Debug, Clone)]
pub struct FileJwks(pub PathBuf);

impl JwksFetch for FileJwks {
    fn fetch(&self) -> BoxFuture<Result<String, String>> {
        let path = self.0.clone();
        Box::pin(async move {
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))
        })
    }
}

struct State {
    keys: Arc<Vec<VerifyKey>>,
    fetched_at: Option<u64>,
    attempted_at: Option<u64>,
}

/// Cached keys of a JWKS source (see the [module docs](self)).
pub struct JwksCache {
    fetch: Arc<dyn JwksFetch>,
    clock: Arc<dyn Clock>,
    ttl: Duration,
    min_interval: Duration,
    state: Mutex<State>,
}

impl fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwksCache")
            .field("fetch", &self.fetch)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl JwksCache {
    /// A cache over `fetch`: TTL 10 minutes, refetch for an unknown `kid` at most every 30 s.
    pub fn new(fetch: Arc<dyn JwksFetch>, clock: Arc<dyn Clock>) -> Self {
        JwksCache {
            fetch,
            clock,
            ttl: Duration::from_secs(600),
            min_interval: Duration::from_secs(30),
            state: Mutex::new(State {
                keys: Arc::new(Vec::new()),
                fetched_at: None,
                attempted_at: None,
            }),
        }
    }

    /// How long keys are used before a refetch.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The shortest time between two fetches.
    #[must_use]
    pub fn min_interval(mut self, d: Duration) -> Self {
        self.min_interval = d;
        self
    }

    /// Fetches now; for startup, so that a bad source fails before serving.
    pub async fn refresh(&self) -> Result<usize, String> {
        let now = self.clock.now_nanos();
        if let Ok(mut s) = self.state.lock() {
            s.attempted_at = Some(now);
        }
        let text = self.fetch.fetch().await?;
        let keys = parse_jwks(&text).map_err(|e| e.to_string())?;
        let n = keys.len();
        if let Ok(mut s) = self.state.lock() {
            s.keys = Arc::new(keys);
            s.fetched_at = Some(now);
        }
        Ok(n)
    }

    /// The keys to try for a token with `kid`, refetching if they are stale or `kid` is new.
    pub async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<Vec<VerifyKey>>, String> {
        let now = self.clock.now_nanos();
        let (keys, need) = {
            let s = self
                .state
                .lock()
                .map_err(|_| "key cache poisoned".to_string())?;
            let stale = s
                .fetched_at
                .is_none_or(|t| now.saturating_sub(t) >= self.ttl.as_nanos() as u64);
            let unknown =
                kid.is_some_and(|k| !s.keys.iter().any(|key| key.kid.as_deref() == Some(k)));
            let may = s
                .attempted_at
                .is_none_or(|t| now.saturating_sub(t) >= self.min_interval.as_nanos() as u64);
            (s.keys.clone(), (stale || unknown) && may)
        };
        if need {
            match self.refresh().await {
                Ok(_) => {}
                // Keep serving the keys we have when a refetch fails.
                Err(e) if keys.is_empty() => return Err(e),
                Err(_) => return Ok(keys),
            }
            return self
                .state
                .lock()
                .map(|s| s.keys.clone())
                .map_err(|_| "key cache poisoned".to_string());
        }
        Ok(keys)
    }
}

/// Fetches a JWKS over HTTPS (`https://<clerk-frontend-api>/.well-known/jwks.json`, say) with
/// a blocking client on tokio's blocking pool; 5 s timeouts, 1 MiB at most, the system trust
/// store.
#[cfg(feature = "jwks-url")]
#[derive(Debug, Clone)]
pub struct UrlJwks {
    url: String,
    agent: ureq::Agent,
}

#[cfg(feature = "jwks-url")]
impl UrlJwks {
    /// A fetcher for `url` (`http://` is accepted for tests and private networks).
    pub fn new(url: impl Into<String>) -> Self {
        let timeout = Some(Duration::from_secs(5));
        let agent = ureq::Agent::config_builder()
            .timeout_connect(timeout)
            .timeout_recv_response(timeout)
            .timeout_recv_body(timeout)
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                    .build(),
            )
            .build()
            .into();
        UrlJwks {
            url: url.into(),
            agent,
        }
    }
}

#[cfg(feature = "jwks-url")]
impl JwksFetch for UrlJwks {
    fn fetch(&self) -> BoxFuture<Result<String, String>> {
        let this = self.clone();
        Box::pin(async move {
            let url = this.url.clone();
            let fetched = tokio::task::spawn_blocking(move || {
                this.agent
                    .get(&this.url)
                    .call()
                    .and_then(|mut r| r.body_mut().with_config().limit(1 << 20).read_to_string())
            })
            .await;
            match fetched {
                Ok(Ok(text)) => Ok(text),
                Ok(Err(e)) => Err(format!("{url}: {e}")),
                Err(e) => Err(format!("{url}: {e}")),
            }
        })
    }
}
