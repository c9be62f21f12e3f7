//! Authentication: Bearer JWTs verified against a PEM key or a JWKS.
//!
//! [`AuthLayer`] takes the token from `Authorization: Bearer ...` (or, for Clerk's same-origin
//! requests, from the `__session` cookie when [`Authenticator::session_cookie`] is set),
//! verifies it (algorithm pinned per key; `exp` required with 30 s leeway; `nbf`; issuer,
//! audience and Clerk's `azp` when configured) and puts the [`Claims`] in the request
//! extensions for the handler. Anything else is refused with 401
//! `{"error": "Unauthorized"}`, `WWW-Authenticate: Bearer`, and one `jwt_validation_failed`
//! event whose `reason` says why.
//!
//! ```no_run
//! use rampart_layers::auth::Authenticator;
//! let pem = std::fs::read("jwt-public.pem")?;
//! let auth = Authenticator::from_pem(&pem)?.issuer("https://clerk.example.com");
//! let layer = auth.layer();
//! # let _ = layer;
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

mod cache;
pub mod jwks;
pub mod jwt;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use http::{HeaderMap, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use rampart_core::{Clock, EventKind};
use tower::{Layer, Service};

#[cfg(feature = "jwks-url")]
pub use jwks::UrlJwks;
pub use jwks::{FileJwks, JwksCache, JwksFetch, parse_jwks};
pub use jwt::{Claims, JwtFailure, JwtRules, KeyError, VerifyKey};

use crate::cookie;
use crate::future::{BoxFuture, RefusedOrInner};
use crate::rate_limit::FastClock;
use crate::refusal::Refusal;

#[derive(Debug)]
enum Keys {
    Static(Arc<Vec<VerifyKey>>),
    Jwks(Arc<JwksCache>),
}

/// A cache of its own for every set of rules: a hit skips the issuer, audience and party
/// checks, so a clone given stricter rules must not see the entries of a looser one.
fn fresh_cache() -> Arc<cache::VerifiedCache> {
    Arc::new(cache::VerifiedCache::new(cache::DEFAULT_CAPACITY))
}

/// Verifies bearer tokens. Cheap to clone.
#[derive(Clone)]
pub struct Authenticator {
    keys: Arc<Keys>,
    rules: Arc<JwtRules>,
    cookie: Option<Arc<str>>,
    clock: Arc<dyn Clock>,
    cache: Arc<cache::VerifiedCache>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("keys", &self.keys)
            .field("rules", &self.rules)
            .field("cookie", &self.cookie)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    /// Tokens signed by a PEM public key (RSA: RS256, EC P-256: ES256, Ed25519: EdDSA).
    pub fn from_pem(pem: &[u8]) -> Result<Self, KeyError> {
        Ok(Self::from_keys(vec![VerifyKey::from_pem(pem)?]))
    }

    /// Tokens signed by any of `keys`.
    pub fn from_keys(keys: Vec<VerifyKey>) -> Self {
        Self::with_keys(Keys::Static(Arc::new(keys)))
    }

    /// Tokens signed by the keys of a JWKS (file or URL), following rotation.
    pub fn from_jwks(cache: JwksCache) -> Self {
        Self::with_keys(Keys::Jwks(Arc::new(cache)))
    }

    fn with_keys(keys: Keys) -> Self {
        Authenticator {
            keys: Arc::new(keys),
            rules: Arc::new(JwtRules::default()),
            cookie: None,
            // Wall time through the CPU's counter, as the limiter and CSRF read it.
            clock: Arc::new(FastClock::new()),
            cache: fresh_cache(),
        }
    }

    /// Requires `iss` to be `issuer`.
    #[must_use]
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.rules).issuer = Some(issuer.into());
        self.cache = fresh_cache();
        self
    }

    /// Requires `aud` to include `audience`.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.rules).audience = Some(audience.into());
        self.cache = fresh_cache();
        self
    }

    /// Accepts Clerk tokens whose `azp` is `origin` (call once per origin).
    #[must_use]
    pub fn authorized_party(mut self, origin: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.rules)
            .authorized_parties
            .push(origin.into());
        self.cache = fresh_cache();
        self
    }

    /// Clock skew allowed on `exp`/`nbf`, in seconds (default 30).
    #[must_use]
    pub fn leeway(mut self, secs: u64) -> Self {
        Arc::make_mut(&mut self.rules).leeway = secs;
        self
    }

    /// Also reads the token from this cookie when there is no `Authorization` header
    /// (`__session` for Clerk).
    #[must_use]
    pub fn session_cookie(mut self, name: impl Into<String>) -> Self {
        self.cookie = Some(Arc::from(name.into()));
        self
    }

    /// The clock `exp`/`nbf` are checked against.
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The layer that requires a valid token.
    pub fn layer(&self) -> AuthLayer {
        AuthLayer { auth: self.clone() }
    }

    fn token<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        // `to_str` checks a JWT-sized value byte by byte; `from_utf8` checks it a word at a
        // time. A token with non-ASCII letters gets past here and then fails verification.
        let bearer = headers
            .get(AUTHORIZATION)
            .map(HeaderValue::as_bytes)
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            });
        bearer.or_else(|| self.cookie.as_deref().and_then(|c| cookie::get(headers, c)))
    }

    /// The token as [`Self::token`] finds it, before any UTF-8 check: enough to look it up
    /// among verified tokens (only a miss needs the checked text).
    fn raw_token<'a>(&self, headers: &'a HeaderMap) -> Option<&'a [u8]> {
        let bearer = headers.get(AUTHORIZATION).and_then(|v| {
            let v = v.as_bytes().trim_ascii();
            let space = v.iter().position(|&b| b == b' ')?;
            let (scheme, rest) = v.split_at(space);
            scheme
                .eq_ignore_ascii_case(b"bearer")
                .then(|| rest.trim_ascii())
        });
        bearer.or_else(|| {
            self.cookie
                .as_deref()
                .and_then(|c| cookie::get(headers, c))
                .map(str::as_bytes)
        })
    }

    fn now(&self) -> u64 {
        self.clock.now_nanos() / 1_000_000_000
    }

    /// Verifies a token with static keys; `None` when the keys come from a JWKS (use
    /// [`Authenticator::authenticate`]).
    pub(crate) fn verify_sync(&self, headers: &HeaderMap) -> Option<Result<Claims, JwtFailure>> {
        let Keys::Static(keys) = &*self.keys else {
            return None;
        };
        let now = self.now();
        if let Some(hit) = self.raw_token(headers).and_then(|t| self.cached(t, now)) {
            return Some(hit);
        }
        let Some(token) = self.token(headers) else {
            return Some(Err(JwtFailure::Missing));
        };
        Some(self.remember(token, jwt::verify(token, keys, &self.rules, now), now))
    }

    /// A token whose signature and claims were verified before: only `exp` and `nbf` are
    /// checked again (the rules gave the same answer when it was cached).
    fn cached(&self, token: &[u8], now: u64) -> Option<Result<Claims, JwtFailure>> {
        let (claims, times) = self.cache.get(token, now)?;
        Some(jwt::check_times(times.exp, times.nbf, &self.rules, now).map(|()| claims))
    }

    fn remember(
        &self,
        token: &str,
        verified: Result<Claims, JwtFailure>,
        now: u64,
    ) -> Result<Claims, JwtFailure> {
        if let Ok(claims) = &verified {
            self.cache.insert(token, claims, now);
        }
        verified
    }

    /// Verifies the request's token.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Claims, JwtFailure> {
        if let Some(r) = self.verify_sync(headers) {
            return r;
        }
        let Keys::Jwks(cache) = &*self.keys else {
            return Err(JwtFailure::KeysUnavailable);
        };
        let token = self.token(headers).ok_or(JwtFailure::Missing)?;
        let now = self.now();
        if let Some(hit) = self.cached(token.as_bytes(), now) {
            return hit;
        }
        let kid = peek_kid(token);
        let keys = cache
            .keys_for(kid.as_deref())
            .await
            .map_err(|_| JwtFailure::KeysUnavailable)?;
        self.remember(token, jwt::verify(token, &keys, &self.rules, now), now)
    }

    pub(crate) fn refusal<B>(req: &Request<B>, f: JwtFailure) -> Refusal {
        let challenge = if f == JwtFailure::Missing {
            "Bearer"
        } else {
            "Bearer error=\"invalid_token\""
        };
        Refusal::new(
            req,
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            EventKind::JwtValidationFailed,
            format!("bearer token refused: {}", f.as_str().replace('_', " ")),
        )
        .header(WWW_AUTHENTICATE, HeaderValue::from_static(challenge))
        .meta("reason", f.as_str())
    }
}

fn peek_kid(token: &str) -> Option<String> {
    use base64::Engine;
    let first = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(first)
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("kid")?.as_str().map(str::to_string)
}

/// Requires a valid bearer token (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct AuthLayer {
    auth: Authenticator,
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            auth: self.auth.clone(),
        }
    }
}

/// The service [`AuthLayer`] makes.
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    auth: Authenticator,
}

fn admit<B>(req: &mut Request<B>, claims: Claims) {
    req.extensions_mut().insert(claims);
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for AuthService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    ReqBody: Send + 'static,
    ResBody: From<Bytes> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = AuthFuture<S::Future, ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        match self.auth.verify_sync(req.headers()) {
            Some(Ok(claims)) => {
                admit(&mut req, claims);
                AuthFuture::Sync {
                    fut: RefusedOrInner::inner(self.inner.call(req)),
                }
            }
            Some(Err(f)) => AuthFuture::Sync {
                fut: RefusedOrInner::refused(Authenticator::refusal(&req, f).into_response()),
            },
            None => {
                let auth = self.auth.clone();
                let clone = self.inner.clone();
                let mut inner = std::mem::replace(&mut self.inner, clone);
                AuthFuture::Async {
                    fut: Box::pin(async move {
                        match auth.authenticate(req.headers()).await {
                            Ok(claims) => {
                                admit(&mut req, claims);
                                inner.call(req).await
                            }
                            Err(f) => Ok(Authenticator::refusal(&req, f).into_response()),
                        }
                    }),
                }
            }
        }
    }
}

pin_project! {
    /// The future [`AuthService`] returns: no allocation with static keys.
    #[project = AuthFutureProj]
    #[allow(missing_docs)]
    pub enum AuthFuture<F, B, E> {
        Sync { #[pin] fut: RefusedOrInner<F, B> },
        Async { fut: BoxFuture<Result<Response<B>, E>> },
    }
}

impl<F, B, E> fmt::Debug for AuthFuture<F, B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AuthFuture")
    }
}

impl<F, B, E> Future for AuthFuture<F, B, E>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AuthFutureProj::Sync { fut } => fut.poll(cx),
            AuthFutureProj::Async { fut } => fut.as_mut().poll(cx),
        }
    }
}

#[cfg(test)]
mod tests;
