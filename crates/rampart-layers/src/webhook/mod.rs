//! Webhook signatures over the raw body: Standard Webhooks / Svix and Stripe.
//!
//! [`WebhookLayer`] reads the body (up to the route's limit: 413 beyond), verifies the
//! signature and its timestamp (5 minutes' tolerance either way by default) and remembers the
//! delivery id for the tolerance window. A missing, wrong or stale signature is refused with 401
//! `{"error": "Invalid webhook signature"}` and a `webhook_signature_invalid` event; an id
//! already accepted with 409 `{"error": "Webhook already processed"}` and a `replay_detected`
//! event, and never reaches the handler. When the handler fails (non-2xx), the id is forgotten
//! so the provider's retry of the same delivery goes through.
//!
//! ```
//! use rampart_layers::webhook::WebhookVerifier;
//! let secret = format!("whsec_{}", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
//! let clerk = WebhookVerifier::standard(&secret)?;
//! let layer = clerk.layer();
//! # let _ = layer;
//! # Ok::<_, rampart_layers::webhook::SecretError>(())
//! ```

pub mod standard;
pub mod stripe;

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use rampart_core::config::WebhookScheme;
use rampart_core::{Clock, EventKind, SystemClock};
use tower::{Layer, Service};

use crate::future::BoxFuture;
use crate::limits::{self, BoxError};
use crate::refusal::Refusal;
use crate::replay::{MemoryReplayStore, ReplayStore};

/// Why a delivery's signature did not verify (recorded as the event's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A required header is absent.
    MissingHeader(&'static str),
    /// A header is not in the scheme's format.
    Malformed,
    /// The timestamp is older than the tolerance.
    Stale,
    /// The timestamp is further in the future than the tolerance.
    Future,
    /// No signature matches any configured secret.
    NoValidSignature,
}

impl Failure {
    /// The reason recorded in the event.
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::MissingHeader(_) => "missing_header",
            Failure::Malformed => "malformed_header",
            Failure::Stale => "stale_timestamp",
            Failure::Future => "future_timestamp",
            Failure::NoValidSignature => "no_valid_signature",
        }
    }
}

/// Errors in a configured webhook secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The secret is empty.
    #[error("webhook secret is empty")]
    Empty,
    /// A `whsec_` secret whose key is not base64.
    #[error("webhook secret is not whsec_ followed by base64")]
    NotBase64,
    /// The key is too short to be a real signing secret.
    #[error("webhook secret key is {0} bytes, expected at least 16")]
    TooShort(usize),
}

pub(crate) fn check_timestamp(ts: i64, now: i64, tolerance: i64) -> Result<(), Failure> {
    if now.saturating_sub(ts) > tolerance {
        Err(Failure::Stale)
    } else if ts.saturating_sub(now) > tolerance {
        Err(Failure::Future)
    } else {
        Ok(())
    }
}

/// The default size limit of a webhook body.
pub const DEFAULT_BODY_LIMIT: u64 = 1 << 20;

struct Inner {
    scheme: WebhookScheme,
    keys: Vec<Vec<u8>>,
    tolerance: Duration,
    body_limit: u64,
    store: Arc<dyn ReplayStore>,
    clock: Arc<dyn Clock>,
}

/// Verifies one endpoint's deliveries. Cheap to clone; clones share the replay store.
#[derive(Clone)]
pub struct WebhookVerifier {
    inner: Arc<Inner>,
}

impl fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("scheme", &self.inner.scheme)
            .field("secrets", &self.inner.keys.len())
            .field("tolerance", &self.inner.tolerance)
            .finish_non_exhaustive()
    }
}

impl WebhookVerifier {
    /// Standard Webhooks / Svix with one or more space-separated `whsec_` secrets.
    pub fn standard(secrets: &str) -> Result<Self, SecretError> {
        let keys = secrets
            .split_whitespace()
            .map(standard::decode_secret)
            .collect::<Result<Vec<_>, _>>()?;
        Self::build(WebhookScheme::StandardWebhooks, keys)
    }

    /// Stripe with one or more space-separated endpoint secrets.
    pub fn stripe(secrets: &str) -> Result<Self, SecretError> {
        let keys: Vec<Vec<u8>> = secrets
            .split_whitespace()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        if let Some(k) = keys.iter().find(|k| k.len() < 16) {
            return Err(SecretError::TooShort(k.len()));
        }
        Self::build(WebhookScheme::Stripe, keys)
    }

    /// The verifier for `scheme`.
    pub fn new(scheme: WebhookScheme, secrets: &str) -> Result<Self, SecretError> {
        match scheme {
            WebhookScheme::StandardWebhooks => Self::standard(secrets),
            WebhookScheme::Stripe => Self::stripe(secrets),
        }
    }

    fn build(scheme: WebhookScheme, keys: Vec<Vec<u8>>) -> Result<Self, SecretError> {
        if keys.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(WebhookVerifier {
            inner: Arc::new(Inner {
                scheme,
                keys,
                tolerance: Duration::from_secs(300),
                body_limit: DEFAULT_BODY_LIMIT,
                store: Arc::new(MemoryReplayStore::new()),
                clock: Arc::new(SystemClock::new()),
            }),
        })
    }

    fn with(self, f: impl FnOnce(&mut Inner)) -> Self {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|arc| Inner {
            scheme: arc.scheme,
            keys: arc.keys.clone(),
            tolerance: arc.tolerance,
            body_limit: arc.body_limit,
            store: arc.store.clone(),
            clock: arc.clock.clone(),
        });
        f(&mut inner);
        WebhookVerifier {
            inner: Arc::new(inner),
        }
    }

    /// How far a signature's timestamp may be from now (default 5 minutes).
    #[must_use]
    pub fn tolerance(self, tolerance: Duration) -> Self {
        self.with(|i| i.tolerance = tolerance)
    }

    /// The largest body accepted (default 1 MiB).
    #[must_use]
    pub fn body_limit(self, limit: u64) -> Self {
        self.with(|i| i.body_limit = limit)
    }

    /// Where accepted ids are remembered.
    #[must_use]
    pub fn store(self, store: Arc<dyn ReplayStore>) -> Self {
        self.with(|i| i.store = store)
    }

    /// The clock timestamps are checked against.
    #[must_use]
    pub fn clock(self, clock: Arc<dyn Clock>) -> Self {
        self.with(|i| i.clock = clock)
    }

    /// The scheme verified.
    pub fn scheme(&self) -> WebhookScheme {
        self.inner.scheme
    }

    /// Verifies a delivery and returns its replay key (it does not record it).
    pub fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<String, Failure> {
        let i = &self.inner;
        let now = (i.clock.now_nanos() / 1_000_000_000) as i64;
        let tol = i.tolerance.as_secs() as i64;
        match i.scheme {
            WebhookScheme::StandardWebhooks => {
                standard::verify(&i.keys, headers, body, now, tol).map(|id| format!("wh:std:{id}"))
            }
            WebhookScheme::Stripe => {
                stripe::verify(&i.keys, headers, body, now, tol).map(|k| format!("wh:stripe:{k}"))
            }
        }
    }

    /// The layer that verifies every request.
    pub fn layer(&self) -> WebhookLayer {
        WebhookLayer {
            verifier: self.clone(),
        }
    }

    /// Verifies a buffered delivery (`body` is `req`'s) and records its id: the replay key,
    /// or the refusal (401 for a bad signature, 409 for an id already accepted).
    pub(crate) fn admit<B>(&self, req: &Request<B>, body: &[u8]) -> Result<String, Box<Refusal>> {
        let key = self
            .verify(req.headers(), body)
            .map_err(|f| Box::new(self.invalid(req, f)))?;
        let i = &self.inner;
        let now = i.clock.now_nanos();
        let window = 2 * i.tolerance.as_nanos().min(u64::MAX as u128 / 2) as u64;
        if !i.store.first_use(&key, now.saturating_add(window), now) {
            return Err(Box::new(
                Refusal::new(
                    req,
                    StatusCode::CONFLICT,
                    "Webhook already processed",
                    EventKind::ReplayDetected,
                    "webhook delivery replayed: its id was already accepted",
                )
                .meta("scheme", scheme_name(i.scheme)),
            ));
        }
        Ok(key)
    }

    /// After the handler: a delivery it did not accept is forgotten, so the provider's retry
    /// (same id) is not refused as a replay.
    pub(crate) fn settle<B, E>(&self, key: &str, res: &Result<Response<B>, E>) {
        if !matches!(res, Ok(r) if r.status().is_success()) {
            self.inner.store.forget(key);
        }
    }

    /// The delivery body limit.
    pub(crate) fn limit(&self) -> u64 {
        self.inner.body_limit
    }

    fn invalid<B>(&self, req: &Request<B>, f: Failure) -> Refusal {
        let mut r = Refusal::new(
            req,
            StatusCode::UNAUTHORIZED,
            "Invalid webhook signature",
            EventKind::WebhookSignatureInvalid,
            format!(
                "webhook signature refused: {}",
                f.as_str().replace('_', " ")
            ),
        )
        .meta("reason", f.as_str())
        .meta("scheme", scheme_name(self.inner.scheme));
        if let Failure::MissingHeader(h) = f {
            r = r.meta("header", h);
        }
        r
    }
}

fn scheme_name(s: WebhookScheme) -> &'static str {
    match s {
        WebhookScheme::StandardWebhooks => "standard-webhooks",
        WebhookScheme::Stripe => "stripe",
    }
}

/// Verifies webhook signatures (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct WebhookLayer {
    verifier: WebhookVerifier,
}

impl<S> Layer<S> for WebhookLayer {
    type Service = WebhookService<S>;
    fn layer(&self, inner: S) -> WebhookService<S> {
        WebhookService {
            inner,
            verifier: self.verifier.clone(),
        }
    }
}

/// The service [`WebhookLayer`] makes; the handler receives the verified body as
/// `Request<Full<Bytes>>`.
#[derive(Debug, Clone)]
pub struct WebhookService<S> {
    inner: S,
    verifier: WebhookVerifier,
}

impl<S, B, ResBody> Service<Request<B>> for WebhookService<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResBody: From<Bytes> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let v = self.verifier.clone();
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (parts, bytes) = match limits::buffer(req, v.limit()).await {
                Ok(buffered) => buffered,
                Err(refusal) => return Ok(refusal.into_response()),
            };
            let req = Request::from_parts(parts, Full::new(bytes.clone()));
            let key = match v.admit(&req, &bytes) {
                Ok(k) => k,
                Err(refusal) => return Ok(refusal.into_response()),
            };
            let res = inner.call(req).await;
            v.settle(&key, &res);
            res
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventsLayer, MemorySink};
    use rampart_core::ManualClock;
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    fn secret() -> String {
        format!(
            "{}{}",
            standard::SECRET_PREFIX,
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        )
    }

    fn delivery(id: &str, ts: i64, body: &'static [u8], sig: &str) -> Request<Full<Bytes>> {
        Request::post("/api/webhooks/clerk")
            .header("svix-id", id)
            .header("svix-timestamp", ts.to_string())
            .header("svix-signature", sig)
            .body(Full::new(Bytes::from_static(body)))
            .unwrap()
    }

    #[tokio::test]
    async fn valid_tampered_stale_replayed_and_retried() {
        let now = 1_700_000_000i64;
        let clock = ManualClock::new(now as u64 * 1_000_000_000);
        let v = WebhookVerifier::standard(&secret())
            .unwrap()
            .clock(Arc::new(clock.clone()));
        let key = standard::decode_secret(&secret()).unwrap();
        let sink = MemorySink::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let fail_next = Arc::new(AtomicUsize::new(0));
        let (c, f) = (calls.clone(), fail_next.clone());
        let svc = ServiceBuilder::new()
            .layer(EventsLayer::new(Arc::new(sink.clone())))
            .layer(v.layer())
            .service(service_fn(move |_r: Request<Full<Bytes>>| {
                c.fetch_add(1, Ordering::SeqCst);
                let fail = f.swap(0, Ordering::SeqCst) == 1;
                async move {
                    let mut res = Response::new(Bytes::from_static(b"{}"));
                    if fail {
                        *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    Ok::<_, Infallible>(res)
                }
            }));
        let body: &'static [u8] = br#"{"type":"user.created"}"#;
        let sig = standard::sign(&key, "msg_1", now, body);

        // The handler fails once: the provider's retry with the same id must pass.
        fail_next.store(1, Ordering::SeqCst);
        let r = svc
            .clone()
            .oneshot(delivery("msg_1", now, body, &sig))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let r = svc
            .clone()
            .oneshot(delivery("msg_1", now, body, &sig))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(calls.load(Ordering::SeqCst), 2);
        assert!(sink.take().is_empty());

        let r = svc
            .clone()
            .oneshot(delivery("msg_1", now, body, &sig))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CONFLICT);
        let r = svc
            .clone()
            .oneshot(delivery("msg_2", now, br#"{"type":"user.deleted"}"#, &sig))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        clock.advance(Duration::from_secs(301));
        let stale_sig = standard::sign(&key, "msg_3", now, body);
        let r = svc
            .oneshot(delivery("msg_3", now, body, &stale_sig))
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(calls.load(Ordering::SeqCst), 2);

        let kinds: Vec<_> = sink.take().into_iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![
                EventKind::ReplayDetected,
                EventKind::WebhookSignatureInvalid,
                EventKind::WebhookSignatureInvalid
            ]
        );
    }

    #[tokio::test]
    async fn stripe_through_the_layer() {
        let now = 1_700_000_000i64;
        let secret = format!("{}{}", "whsec_", "rampart-stripe-fixture-0123456789");
        let v = WebhookVerifier::stripe(&secret)
            .unwrap()
            .clock(Arc::new(ManualClock::new(now as u64 * 1_000_000_000)));
        let svc = v
            .layer()
            .layer(service_fn(|_r: Request<Full<Bytes>>| async {
                Ok::<_, Infallible>(Response::new(Bytes::from_static(b"{}")))
            }));
        let body = br#"{"id":"evt_1"}"#;
        let req = |sig: String| {
            Request::post("/api/webhooks/stripe")
                .header(stripe::HEADER, sig)
                .body(Full::new(Bytes::from_static(body)))
                .unwrap()
        };
        let sig = stripe::sign(secret.as_bytes(), now, body);
        assert_eq!(
            svc.clone()
                .oneshot(req(sig.clone()))
                .await
                .unwrap()
                .status(),
            StatusCode::OK
        );
        assert_eq!(
            svc.clone().oneshot(req(sig)).await.unwrap().status(),
            StatusCode::CONFLICT
        );
        let bad = stripe::sign(b"whsec_another-secret-entirely-xx", now, body);
        assert_eq!(
            svc.oneshot(req(bad)).await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }

    #[test]
    fn secrets_are_validated() {
        assert_eq!(
            WebhookVerifier::standard("").unwrap_err(),
            SecretError::Empty
        );
        assert_eq!(
            WebhookVerifier::standard("whsec_%%%").unwrap_err(),
            SecretError::NotBase64
        );
        assert_eq!(
            WebhookVerifier::stripe("short").unwrap_err(),
            SecretError::TooShort(5)
        );
    }
}
