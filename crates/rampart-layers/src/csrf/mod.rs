//! CSRF protection: HMAC tokens bound to a session cookie, checked on every mutation.
//!
//! `GET /api/csrf` (served by [`Csrf::token_response`]) answers `{"csrfToken": "..."}` and sets
//! the session cookie the token is bound to (`HttpOnly`, `SameSite=Strict`, `Secure` in
//! production); a new session id is issued when the request has none. Mutations then send the
//! token in `X-CSRF-Token`. [`CsrfLayer`] refuses, with 403 `{"error": "Invalid CSRF token"}`
//! and one `csrf_validation_failed` event (critical), a mutation that:
//!
//! - comes cross-site (`Sec-Fetch-Site: cross-site`, or an `Origin` that is neither the
//!   request's own host nor a trusted origin), even with a valid token;
//! - lacks the header or the cookie, or carries a token that is malformed, forged, bound to
//!   another session, or expired (tokens live one hour by default);
//! - reuses a token already accepted (tokens are single-use by default).
//!
//! GET, HEAD, OPTIONS and TRACE are never checked.
//!
//! ```
//! use std::sync::Arc;
//! use rampart_layers::csrf::{Csrf, CsrfConfig};
//! let csrf = Csrf::new(CsrfConfig::new("a-csrf-secret-of-at-least-32-characters"))?;
//! let layer = csrf.layer(); // .layer(layer) on the mutating routes
//! # let _ = layer;
//! # Ok::<_, rampart_layers::csrf::CsrfError>(())
//! ```
//!
//! Deployment caveat: the `Origin` check compares with the `Host` header the app receives. A
//! proxy that rewrites `Host` must be listed in [`CsrfConfig::trusted_origin`] by the public
//! origin, or every cross-checked mutation is refused.

mod layer;
mod nonce;
pub mod token;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HOST, ORIGIN, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use rampart_core::route::is_mutating_method;
use rampart_core::{Clock, EventKind, Severity};

pub use layer::{CsrfLayer, CsrfService};

use crate::cookie::{self, CookieAttrs};
use crate::rate_limit::FastClock;
use crate::refusal::Refusal;
use crate::replay::{MemoryReplayStore, ReplayStore};

/// The header mutations carry the token in.
pub const HEADER: &str = "x-csrf-token";
/// The default session cookie name.
pub const SESSION_COOKIE: &str = "rampart_session";
/// The shortest `CSRF_SECRET` accepted.
pub const MIN_SECRET_LEN: usize = 32;
/// Parsed once: a `&str` key would be parsed and lowercased on every mutation.
const SEC_FETCH_SITE: HeaderName = HeaderName::from_static("sec-fetch-site");
/// The client-facing error text of every CSRF refusal.
pub const ERROR: &str = "Invalid CSRF token";

/// Errors building a [`Csrf`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsrfError {
    /// The secret is shorter than [`MIN_SECRET_LEN`].
    #[error("CSRF_SECRET must be at least {MIN_SECRET_LEN} characters, got {0}")]
    SecretTooShort(usize),
    /// A trusted origin is not `scheme://host[:port]`.
    #[error("invalid trusted origin {0:?}: expected scheme://host[:port]")]
    InvalidOrigin(String),
    /// The operating system's random source failed.
    #[error("random source failed: {0}")]
    Random(String),
}

/// Settings for [`Csrf`].
pub struct CsrfConfig {
    secret: Vec<u8>,
    ttl: Duration,
    single_use: bool,
    cookie_name: String,
    secure_cookie: bool,
    trusted_origins: Vec<String>,
    store: Arc<dyn ReplayStore>,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for CsrfConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CsrfConfig")
            .field("secret", &"<redacted>")
            .field("ttl", &self.ttl)
            .field("single_use", &self.single_use)
            .field("cookie_name", &self.cookie_name)
            .field("secure_cookie", &self.secure_cookie)
            .field("trusted_origins", &self.trusted_origins)
            .finish_non_exhaustive()
    }
}

impl CsrfConfig {
    /// Tokens keyed by `secret` (`CSRF_SECRET`), valid one hour, single-use, cookie
    /// `rampart_session` without `Secure`, wall-clock time (read through the CPU's counter,
    /// as the rate limiter does), in-memory single-use store.
    pub fn new(secret: impl AsRef<[u8]>) -> Self {
        CsrfConfig {
            secret: secret.as_ref().to_vec(),
            ttl: Duration::from_secs(3600),
            single_use: true,
            cookie_name: SESSION_COOKIE.to_string(),
            secure_cookie: false,
            trusted_origins: Vec::new(),
            store: Arc::new(MemoryReplayStore::new()),
            clock: Arc::new(FastClock::new()),
        }
    }

    /// How long a token stays valid.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Whether a token is refused the second time (default true).
    #[must_use]
    pub fn single_use(mut self, yes: bool) -> Self {
        self.single_use = yes;
        self
    }

    /// The session cookie the token is bound to.
    #[must_use]
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// Marks cookies `Secure` (production).
    #[must_use]
    pub fn secure_cookie(mut self, yes: bool) -> Self {
        self.secure_cookie = yes;
        self
    }

    /// Accepts mutations whose `Origin` is `origin` (`https://app.example.com`), besides the
    /// request's own host.
    #[must_use]
    pub fn trusted_origin(mut self, origin: impl Into<String>) -> Self {
        self.trusted_origins.push(origin.into());
        self
    }

    /// Where used tokens are remembered (share one store between instances for single-use
    /// across them).
    #[must_use]
    pub fn store(mut self, store: Arc<dyn ReplayStore>) -> Self {
        self.store = store;
        self
    }

    /// The clock expiry is measured with.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

/// A token issued by [`Csrf::issue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The token for the `X-CSRF-Token` header.
    pub token: String,
    /// The session id it is bound to.
    pub session: String,
    /// True when the session id is new and its cookie must be set.
    pub new_session: bool,
}

/// Why a mutation was refused (recorded as the event's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfFailure {
    /// `Sec-Fetch-Site: cross-site`.
    CrossSite,
    /// `Origin` is `null` or another site.
    OriginMismatch,
    /// No `X-CSRF-Token` header.
    MissingToken,
    /// No session cookie.
    MissingSession,
    /// The token did not verify.
    Token(token::TokenError),
    /// The token was already used.
    Replayed,
}

impl CsrfFailure {
    /// The reason recorded in the event.
    pub fn as_str(self) -> &'static str {
        match self {
            CsrfFailure::CrossSite => "cross_site",
            CsrfFailure::OriginMismatch => "origin_mismatch",
            CsrfFailure::MissingToken => "missing_token",
            CsrfFailure::MissingSession => "missing_session",
            CsrfFailure::Token(e) => e.as_str(),
            CsrfFailure::Replayed => "replayed_token",
        }
    }
}

struct Inner {
    cfg: CsrfConfig,
    key: token::TokenKey,
    nonces: nonce::NonceCodec,
    header: HeaderName,
}

/// Issues and verifies CSRF tokens. Cheap to clone.
#[derive(Clone)]
pub struct Csrf {
    inner: Arc<Inner>,
}

impl fmt::Debug for Csrf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Csrf").field(&self.inner.cfg).finish()
    }
}

impl Csrf {
    /// Validates `cfg`: the secret must have 32+ characters and trusted origins must parse.
    pub fn new(cfg: CsrfConfig) -> Result<Self, CsrfError> {
        if cfg.secret.len() < MIN_SECRET_LEN {
            return Err(CsrfError::SecretTooShort(cfg.secret.len()));
        }
        for o in &cfg.trusted_origins {
            if origin_authority(o).is_none() {
                return Err(CsrfError::InvalidOrigin(o.clone()));
            }
        }
        let mut issuer = [0u8; 6];
        getrandom_fill(&mut issuer)?;
        Ok(Csrf {
            inner: Arc::new(Inner {
                key: token::TokenKey::new(&cfg.secret),
                nonces: nonce::NonceCodec::new(&cfg.secret, issuer),
                cfg,
                header: HeaderName::from_static(HEADER),
            }),
        })
    }

    /// The layer that checks mutations.
    pub fn layer(&self) -> CsrfLayer {
        CsrfLayer::new(self.clone())
    }

    fn now_secs(&self) -> u64 {
        self.inner.cfg.clock.now_nanos() / 1_000_000_000
    }

    /// A token bound to the request's session cookie, or to a new session id.
    pub fn issue(&self, headers: &HeaderMap) -> Result<IssuedToken, CsrfError> {
        let cfg = &self.inner.cfg;
        let existing = cookie::get(headers, &cfg.cookie_name).filter(|s| valid_session_id(s));
        let (session, new_session) = match existing {
            Some(s) => (s.to_string(), false),
            None => (random_b64(32)?, true),
        };
        let nonce = self.inner.nonces.next();
        let expires_at = self.now_secs() + cfg.ttl.as_secs();
        let token = token::issue(&self.inner.key, &session, &nonce, expires_at);
        Ok(IssuedToken {
            token,
            session,
            new_session,
        })
    }

    /// The token endpoint's answer: 200 `{"csrfToken": ...}`, `Cache-Control: no-store`, and
    /// the session cookie (set again so its lifetime follows the newest token).
    pub fn token_response<B: From<Bytes>>(&self, headers: &HeaderMap) -> Response<B> {
        let issued = match self.issue(headers) {
            Ok(i) => i,
            Err(_) => {
                let mut res = Response::new(B::from(Bytes::from_static(
                    br#"{"error":"Internal server error"}"#,
                )));
                *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                return res;
            }
        };
        let body = serde_json::json!({ "csrfToken": issued.token }).to_string();
        let mut res = Response::new(B::from(Bytes::from(body)));
        let h = res.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        let cfg = &self.inner.cfg;
        let cookie = cookie::set_cookie(
            &cfg.cookie_name,
            &issued.session,
            CookieAttrs {
                max_age: cfg.ttl.as_secs().max(86_400),
                secure: cfg.secure_cookie,
            },
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.append(SET_COOKIE, v);
        }
        res
    }

    /// Checks a request: `Ok` for safe methods and for mutations with a valid, fresh,
    /// same-site token; the failure otherwise. A valid single-use token is consumed.
    pub fn verify(&self, method: &Method, headers: &HeaderMap) -> Result<(), CsrfFailure> {
        if !is_mutating_method(method.as_str()) {
            return Ok(());
        }
        let cfg = &self.inner.cfg;
        if headers
            .get(SEC_FETCH_SITE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"cross-site"))
        {
            return Err(CsrfFailure::CrossSite);
        }
        if let Some(origin) = headers.get(ORIGIN) {
            let origin = origin.to_str().map_err(|_| CsrfFailure::OriginMismatch)?;
            if !self.origin_allowed(origin, headers) {
                return Err(CsrfFailure::OriginMismatch);
            }
        }
        let token = headers
            .get(&self.inner.header)
            .ok_or(CsrfFailure::MissingToken)?;
        let session = cookie::get(headers, &cfg.cookie_name).ok_or(CsrfFailure::MissingSession)?;
        // One clock read serves the expiry and the replay store.
        let now_nanos = cfg.clock.now_nanos();
        let (nonce, expires_at) = token::verify_raw(
            &self.inner.key,
            session,
            token.as_bytes(),
            now_nanos / 1_000_000_000,
        )
        .map_err(CsrfFailure::Token)?;
        if cfg.single_use {
            let expires = expires_at.saturating_mul(1_000_000_000);
            let first = match self.inner.nonces.open(&nonce) {
                Some(n) => cfg.store.first_use_sequenced(&nonce, n, expires, now_nanos),
                None => cfg.store.first_use_nonce(&nonce, expires, now_nanos),
            };
            if !first {
                return Err(CsrfFailure::Replayed);
            }
        }
        Ok(())
    }

    fn origin_allowed(&self, origin: &str, headers: &HeaderMap) -> bool {
        let Some(authority) = origin_authority(origin) else {
            return false; // "null", opaque or garbage origins
        };
        let host = headers.get(HOST).and_then(|h| h.to_str().ok());
        if host.is_some_and(|h| h.eq_ignore_ascii_case(authority)) {
            return true;
        }
        self.inner
            .cfg
            .trusted_origins
            .iter()
            .any(|t| t.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }

    /// The refusal for `failure`: 403 `{"error": "Invalid CSRF token"}`, critical event.
    pub fn refusal<B>(&self, req: &Request<B>, failure: CsrfFailure) -> Refusal {
        Refusal::new(
            req,
            StatusCode::FORBIDDEN,
            ERROR,
            EventKind::CsrfValidationFailed,
            format!("CSRF check failed: {}", failure.as_str().replace('_', " ")),
        )
        .severity(Severity::Critical)
        .meta("reason", failure.as_str())
    }
}

/// `host[:port]` of an `Origin` value like `https://app.example.com:8443`; `None` for `null`
/// and anything that is not `scheme://authority`.
fn origin_authority(origin: &str) -> Option<&str> {
    let (scheme, rest) = origin.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+')
    {
        return None;
    }
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    Some(rest)
}

fn valid_session_id(s: &str) -> bool {
    (16..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn getrandom_fill(buf: &mut [u8]) -> Result<(), CsrfError> {
    let bytes = rampart_core::secret::random_bytes(buf.len())
        .map_err(|e| CsrfError::Random(e.to_string()))?;
    buf.copy_from_slice(&bytes);
    Ok(())
}

fn random_b64(n: usize) -> Result<String, CsrfError> {
    let bytes =
        rampart_core::secret::random_bytes(n).map_err(|e| CsrfError::Random(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rampart_core::ManualClock;

    const SECRET: &str = "test-csrf-secret-0123456789abcdef-xyz";

    fn csrf(clock: &ManualClock) -> Csrf {
        Csrf::new(CsrfConfig::new(SECRET).clock(Arc::new(clock.clone()))).unwrap()
    }

    fn mutation(token: &str, session: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HOST, HeaderValue::from_static("app.example.com"));
        h.insert(HEADER, HeaderValue::from_str(token).unwrap());
        h.insert(
            http::header::COOKIE,
            HeaderValue::from_str(&format!("{SESSION_COOKIE}={session}")).unwrap(),
        );
        h
    }

    #[test]
    fn short_secret_is_refused_at_build() {
        assert!(matches!(
            Csrf::new(CsrfConfig::new("short")),
            Err(CsrfError::SecretTooShort(5))
        ));
        assert!(matches!(
            Csrf::new(CsrfConfig::new(SECRET).trusted_origin("not an origin")),
            Err(CsrfError::InvalidOrigin(_))
        ));
    }

    #[test]
    fn valid_once_then_replayed() {
        let clock = ManualClock::new(1_700_000_000_000_000_000);
        let c = csrf(&clock);
        let issued = c.issue(&HeaderMap::new()).unwrap();
        assert!(issued.new_session);
        let h = mutation(&issued.token, &issued.session);
        assert_eq!(c.verify(&Method::POST, &h), Ok(()));
        assert_eq!(c.verify(&Method::POST, &h), Err(CsrfFailure::Replayed));
    }

    #[test]
    fn tokens_stay_single_use_across_instances_sharing_a_store() {
        let clock = ManualClock::new(1_700_000_000_000_000_000);
        let store = Arc::new(MemoryReplayStore::new());
        let make = || {
            Csrf::new(
                CsrfConfig::new(SECRET)
                    .clock(Arc::new(clock.clone()))
                    .store(store.clone()),
            )
            .unwrap()
        };
        let (a, b) = (make(), make());
        let issued: Vec<_> = (0..200)
            .map(|i| {
                if i % 2 == 0 { &a } else { &b }
                    .issue(&HeaderMap::new())
                    .unwrap()
            })
            .collect();
        // Used out of order, each on the instance that did not issue it, then replayed on both.
        for t in issued.iter().rev() {
            let h = mutation(&t.token, &t.session);
            assert_eq!(b.verify(&Method::POST, &h), Ok(()));
        }
        for t in &issued {
            let h = mutation(&t.token, &t.session);
            assert_eq!(a.verify(&Method::POST, &h), Err(CsrfFailure::Replayed));
            assert_eq!(b.verify(&Method::POST, &h), Err(CsrfFailure::Replayed));
        }
        assert_eq!(store.len(), 200);
    }

    #[test]
    fn tokens_with_random_nonces_are_still_single_use() {
        // Tokens issued before nonces were numbered carry random ones.
        let clock = ManualClock::new(1_700_000_000_000_000_000);
        let c = csrf(&clock);
        let session = "abcdefghijklmnopqrstuvwxyz";
        let token = token::issue(
            &token::TokenKey::new(SECRET.as_bytes()),
            session,
            &[0x5a; token::NONCE_LEN],
            1_700_000_000 + 60,
        );
        let h = mutation(&token, session);
        assert_eq!(c.verify(&Method::POST, &h), Ok(()));
        assert_eq!(c.verify(&Method::POST, &h), Err(CsrfFailure::Replayed));
    }

    #[test]
    fn reuses_the_session_cookie() {
        let clock = ManualClock::new(0);
        let c = csrf(&clock);
        let mut h = HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            HeaderValue::from_static("rampart_session=abcdefghijklmnopqrstuvwxyz"),
        );
        let issued = c.issue(&h).unwrap();
        assert!(!issued.new_session);
        assert_eq!(issued.session, "abcdefghijklmnopqrstuvwxyz");
    }

    #[test]
    fn expired_after_an_hour() {
        let clock = ManualClock::new(1_700_000_000_000_000_000);
        let c = csrf(&clock);
        let issued = c.issue(&HeaderMap::new()).unwrap();
        clock.advance(Duration::from_secs(3601));
        let h = mutation(&issued.token, &issued.session);
        assert_eq!(
            c.verify(&Method::POST, &h),
            Err(CsrfFailure::Token(token::TokenError::Expired))
        );
    }

    #[test]
    fn other_sessions_token_is_refused() {
        let clock = ManualClock::new(0);
        let c = csrf(&clock);
        let issued = c.issue(&HeaderMap::new()).unwrap();
        let h = mutation(&issued.token, "another-session-id-0000000");
        assert_eq!(
            c.verify(&Method::POST, &h),
            Err(CsrfFailure::Token(token::TokenError::BadSignature))
        );
    }

    #[test]
    fn cross_site_refused_even_with_a_valid_token() {
        let clock = ManualClock::new(0);
        let c = csrf(&clock);
        let issued = c.issue(&HeaderMap::new()).unwrap();
        let mut h = mutation(&issued.token, &issued.session);
        h.insert(ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert_eq!(
            c.verify(&Method::POST, &h),
            Err(CsrfFailure::OriginMismatch)
        );
        h.insert(ORIGIN, HeaderValue::from_static("null"));
        assert_eq!(
            c.verify(&Method::POST, &h),
            Err(CsrfFailure::OriginMismatch)
        );
        h.remove(ORIGIN);
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert_eq!(c.verify(&Method::POST, &h), Err(CsrfFailure::CrossSite));
        // Same origin passes, and the token was not consumed by the refusals.
        h.insert("sec-fetch-site", HeaderValue::from_static("same-origin"));
        h.insert(ORIGIN, HeaderValue::from_static("https://app.example.com"));
        assert_eq!(c.verify(&Method::POST, &h), Ok(()));
    }

    #[test]
    fn trusted_origin_passes() {
        let c = Csrf::new(
            CsrfConfig::new(SECRET)
                .trusted_origin("https://www.example.com")
                .clock(Arc::new(ManualClock::new(0))),
        )
        .unwrap();
        let issued = c.issue(&HeaderMap::new()).unwrap();
        let mut h = mutation(&issued.token, &issued.session);
        h.insert(ORIGIN, HeaderValue::from_static("https://www.example.com"));
        assert_eq!(c.verify(&Method::POST, &h), Ok(()));
    }

    #[test]
    fn safe_methods_are_never_checked() {
        let c = csrf(&ManualClock::new(0));
        for m in [Method::GET, Method::HEAD, Method::OPTIONS] {
            assert_eq!(c.verify(&m, &HeaderMap::new()), Ok(()));
        }
        assert_eq!(
            c.verify(&Method::DELETE, &HeaderMap::new()),
            Err(CsrfFailure::MissingToken)
        );
    }

    #[test]
    fn token_response_sets_a_strict_cookie() {
        let c = Csrf::new(
            CsrfConfig::new(SECRET)
                .secure_cookie(true)
                .clock(Arc::new(ManualClock::new(0))),
        )
        .unwrap();
        let res: Response<Bytes> = c.token_response(&HeaderMap::new());
        assert_eq!(res.status(), StatusCode::OK);
        let v: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
        assert!(v["csrfToken"].as_str().unwrap().contains('.'));
        let cookie = res.headers()[SET_COOKIE].to_str().unwrap();
        assert!(cookie.starts_with("rampart_session="));
        for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
            assert!(cookie.contains(attr), "{cookie}");
        }
        assert_eq!(res.headers()[CACHE_CONTROL], "no-store");
    }
}
