//! The decision matrix as a layer: `policy(RouteKind, &PolicyConfig)` builds a route's whole
//! stack in the guide's order, so it cannot be assembled wrong.
//!
//! Order, outermost first: (events) → rate limit → webhook signature or CSRF → authentication
//! → body limit and validation → handler. Which of them a route gets is
//! [`RouteKind::stack`]: a `public-form` gets rate limit, CSRF and the body limit; a `webhook`
//! rate limit and signature, never CSRF; and so on. The client-IP layer, security headers and
//! safe errors go around the whole router, since they apply to every response.
//!
//! A route's stack is one service, [`Policy`], whatever the kind: the controls run in turn
//! inside one future (no layer per control, no boxed service), and the handler always
//! receives a buffered `Request<Full<Bytes>>` whose size the limit has checked.
//!
//! A kind whose required control is missing from the config fails closed: every request gets
//! a 500 and a `server_error` event naming the missing control. [`try_policy`] reports the
//! same problem as an error at startup.
//!
//! ```
//! use rampart_core::RouteKind;
//! use rampart_layers::csrf::{Csrf, CsrfConfig};
//! use rampart_layers::policy::{PolicyConfig, policy};
//! let csrf = Csrf::new(CsrfConfig::new("a-csrf-secret-of-at-least-32-characters"))?;
//! let cfg = PolicyConfig::new().csrf(csrf);
//! let layer = policy(RouteKind::PublicForm, &cfg); // post(contact).layer(layer)
//! # let _ = layer;
//! # Ok::<_, rampart_layers::csrf::CsrfError>(())
//! ```

mod handle;
mod service;

use std::fmt;
use std::sync::Arc;

use rampart_core::{Control, RouteKind};
use serde::de::DeserializeOwned;
use tower::Layer;

pub use service::Policy;

use crate::auth::Authenticator;
use crate::csrf::Csrf;
use crate::events::{EventSink, EventsLayer};
use crate::limits::{JsonValidator, Validate};
use crate::rate_limit::RateLimitLayer;
use crate::webhook::WebhookVerifier;

/// The default body limit of every policy route (1 MiB).
pub const DEFAULT_BODY_LIMIT: u64 = 1 << 20;

/// The controls a route's stack is built from. Build one for the app, then derive per-route
/// variants with the builder methods (they return a modified copy).
#[derive(Clone, Default)]
pub struct PolicyConfig {
    events: Option<Arc<dyn EventSink>>,
    rate_limit: Option<RateLimitLayer>,
    csrf: Option<Csrf>,
    auth: Option<Authenticator>,
    webhook: Option<WebhookVerifier>,
    body_limit: Option<u64>,
    validator: Option<JsonValidator>,
}

impl fmt::Debug for PolicyConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyConfig")
            .field("events", &self.events.is_some())
            .field("rate_limit", &self.rate_limit)
            .field("csrf", &self.csrf.is_some())
            .field("auth", &self.auth.is_some())
            .field("webhook", &self.webhook)
            .field("body_limit", &self.body_limit)
            .field("validator", &self.validator)
            .finish()
    }
}

impl PolicyConfig {
    /// No controls yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Emits the stack's events to `sink` (not needed when an [`EventsLayer`] wraps the app:
    /// a refusal is emitted once either way).
    #[must_use]
    pub fn events(mut self, sink: Arc<dyn EventSink>) -> Self {
        self.events = Some(sink);
        self
    }

    /// The route's rate limit.
    #[must_use]
    pub fn rate_limit(mut self, layer: RateLimitLayer) -> Self {
        self.rate_limit = Some(layer);
        self
    }

    /// CSRF verification, for kinds that mutate from a browser.
    #[must_use]
    pub fn csrf(mut self, csrf: Csrf) -> Self {
        self.csrf = Some(csrf);
        self
    }

    /// Authentication, for protected kinds.
    #[must_use]
    pub fn auth(mut self, auth: Authenticator) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The route's webhook signature scheme and secret.
    #[must_use]
    pub fn webhook(mut self, verifier: WebhookVerifier) -> Self {
        self.webhook = Some(verifier);
        self
    }

    /// The route's body limit in bytes (default 1 MiB).
    #[must_use]
    pub fn body_limit(mut self, bytes: u64) -> Self {
        self.body_limit = Some(bytes);
        self
    }

    /// Validates the JSON body as `T`; the handler finds
    /// [`Valid<T>`](crate::limits::Valid) in the request extensions.
    #[must_use]
    pub fn json<T>(mut self) -> Self
    where
        T: DeserializeOwned + Validate + Clone + Send + Sync + 'static,
    {
        self.validator = Some(JsonValidator::new::<T>());
        self
    }

    /// The controls `kind` requires that this config lacks.
    pub fn missing(&self, kind: RouteKind) -> Vec<Control> {
        kind.stack(self.rate_limit.is_some())
            .into_iter()
            .filter(|c| match c {
                Control::RateLimit => self.rate_limit.is_none(),
                Control::Csrf => self.csrf.is_none(),
                Control::Auth => self.auth.is_none(),
                Control::WebhookSignature => self.webhook.is_none(),
                _ => false,
            })
            .collect()
    }
}

/// A required control is missing for a route kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a {kind} route needs {}, which the policy config does not have", names(.missing))]
pub struct PolicyError {
    /// The kind asked for.
    pub kind: RouteKind,
    /// What it lacks.
    pub missing: Vec<Control>,
}

fn names(c: &[Control]) -> String {
    c.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
}

/// The stack for `kind` (see the [module docs](self)); fails closed when a required control
/// is missing.
pub fn policy(kind: RouteKind, cfg: &PolicyConfig) -> PolicyLayer {
    PolicyLayer {
        stack: Arc::new(Stack::new(kind, cfg)),
    }
}

/// The stack for `kind`, or an error naming the controls the config lacks.
pub fn try_policy(kind: RouteKind, cfg: &PolicyConfig) -> Result<PolicyLayer, PolicyError> {
    let missing = cfg.missing(kind);
    if missing.is_empty() {
        Ok(policy(kind, cfg))
    } else {
        Err(PolicyError { kind, missing })
    }
}

/// The layer [`policy`] returns.
#[derive(Debug, Clone)]
pub struct PolicyLayer {
    stack: Arc<Stack>,
}

impl<S> Layer<S> for PolicyLayer {
    type Service = Policy<S>;

    fn layer(&self, inner: S) -> Policy<S> {
        Policy::new(self.stack.clone(), inner)
    }
}

/// The controls a kind gets from a config, in the matrix's order; what every clone of a
/// route's [`Policy`] shares.
struct Stack {
    kind: RouteKind,
    /// Required controls the config lacks: every request is refused (fail closed).
    missing: Vec<Control>,
    events: Option<EventsLayer>,
    rate_limit: Option<RateLimitLayer>,
    webhook: Option<WebhookVerifier>,
    csrf: Option<Csrf>,
    auth: Option<Authenticator>,
    body_limit: u64,
    validator: Option<JsonValidator>,
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stack")
            .field("kind", &self.kind)
            .field("missing", &self.missing)
            .field("events", &self.events.is_some())
            .field("rate_limit", &self.rate_limit)
            .field("webhook", &self.webhook)
            .field("csrf", &self.csrf.is_some())
            .field("auth", &self.auth.is_some())
            .field("body_limit", &self.body_limit)
            .field("validator", &self.validator)
            .finish()
    }
}

impl Stack {
    fn new(kind: RouteKind, cfg: &PolicyConfig) -> Self {
        let stack = kind.stack(cfg.rate_limit.is_some());
        let has = |c: Control| stack.contains(&c);
        let webhook = cfg
            .webhook
            .clone()
            .filter(|_| has(Control::WebhookSignature));
        Stack {
            kind,
            missing: cfg.missing(kind),
            events: cfg.events.as_ref().map(|s| EventsLayer::new(s.clone())),
            rate_limit: cfg.rate_limit.clone().filter(|_| has(Control::RateLimit)),
            csrf: cfg.csrf.clone().filter(|_| has(Control::Csrf)),
            auth: cfg.auth.clone().filter(|_| has(Control::Auth)),
            webhook,
            body_limit: cfg.body_limit.unwrap_or(DEFAULT_BODY_LIMIT),
            validator: cfg.validator.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csrf::{CsrfConfig, HEADER, SESSION_COOKIE};
    use crate::events::MemorySink;
    use crate::limits::{FieldErrors, Valid};
    use crate::rate_limit::{KeyBy, RateLimiter};
    use bytes::Bytes;
    use http::HeaderMap;
    use http::header::{CONTENT_TYPE, COOKIE};
    use http::{Request, Response, StatusCode};
    use http_body_util::Full;
    use rampart_core::EventKind;
    use rampart_core::units::Quota;
    use std::convert::Infallible;
    use std::num::NonZeroU32;
    use tower::Service;
    use tower::{ServiceExt, service_fn};

    #[derive(Debug, Clone, serde::Deserialize)]
    struct Contact {
        name: String,
    }
    impl Validate for Contact {
        fn validate(&self, v: &mut FieldErrors) {
            v.length("name", &self.name, 1, 10);
        }
    }

    fn handler() -> impl Service<
        Request<Full<Bytes>>,
        Response = Response<Bytes>,
        Error = Infallible,
        Future = impl Send,
    > + Clone
    + Send
    + Sync
    + 'static {
        service_fn(|req: Request<Full<Bytes>>| async move {
            let name = req
                .extensions()
                .get::<Valid<Contact>>()
                .map(|v| v.0.name.clone())
                .unwrap_or_default();
            Ok::<_, Infallible>(Response::new(Bytes::from(name)))
        })
    }

    fn cfg(sink: &MemorySink) -> (PolicyConfig, Csrf) {
        let csrf = Csrf::new(CsrfConfig::new("p".repeat(40))).unwrap();
        let limiter = RateLimiter::memory("t", Quota::per_minute(NonZeroU32::new(2).unwrap()));
        let cfg = PolicyConfig::new()
            .events(Arc::new(sink.clone()))
            .csrf(csrf.clone())
            .rate_limit(RateLimitLayer::new(limiter, KeyBy::client_ip()))
            .json::<Contact>();
        (cfg, csrf)
    }

    fn post(csrf: &Csrf, body: &'static str) -> Request<Full<Bytes>> {
        let issued = csrf.issue(&HeaderMap::new()).unwrap();
        Request::post("/api/contact")
            .header(HEADER, issued.token)
            .header(COOKIE, format!("{SESSION_COOKIE}={}", issued.session))
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .unwrap()
    }

    #[tokio::test]
    async fn public_form_runs_rate_limit_then_csrf_then_validation() {
        let sink = MemorySink::new();
        let (cfg, csrf) = cfg(&sink);
        let svc = policy(RouteKind::PublicForm, &cfg).layer(handler());

        let res = svc
            .clone()
            .oneshot(post(&csrf, r#"{"name":"Jo"}"#))
            .await
            .unwrap();
        assert_eq!(res.body().as_ref(), b"Jo");
        let res = svc
            .clone()
            .oneshot(post(&csrf, r#"{"name":"far too long a name"}"#))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        // The quota (2) is spent: the third request is refused before CSRF is even looked at.
        let res = svc
            .oneshot(
                Request::post("/api/contact")
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        let kinds: Vec<_> = sink.take().into_iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![
                EventKind::InputValidationFailed,
                EventKind::RateLimitExceeded
            ]
        );
    }

    #[tokio::test]
    async fn later_refusals_carry_the_rate_limit_fields_and_one_event() {
        let sink = MemorySink::new();
        let (cfg, csrf) = cfg(&sink);
        let svc = policy(RouteKind::PublicForm, &cfg).layer(handler());
        // No token: CSRF refuses after the limiter has counted the request.
        let res = svc
            .clone()
            .oneshot(
                Request::post("/api/contact")
                    .body(Full::new(Bytes::new()))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(res.headers()["ratelimit-policy"], "\"t\";q=2;w=60");
        assert!(res.headers()["ratelimit"].to_str().unwrap().contains("r=1"));
        let events = sink.take();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::CsrfValidationFailed);
        // An admitted request gets them too, with the quota spent.
        let res = svc.oneshot(post(&csrf, r#"{"name":"Jo"}"#)).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert!(res.headers()["ratelimit"].to_str().unwrap().contains("r=0"));
    }

    #[tokio::test]
    async fn missing_controls_fail_closed() {
        let sink = MemorySink::new();
        let cfg = PolicyConfig::new().events(Arc::new(sink.clone()));
        let err = try_policy(RouteKind::ProtectedMutation, &cfg).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a protected-mutation route needs rate_limit, csrf, auth, which the policy config does not have"
        );
        let svc = policy(RouteKind::ProtectedMutation, &cfg).layer(handler());
        let res = svc
            .oneshot(Request::post("/x").body(Full::new(Bytes::new())).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(sink.take()[0].kind, EventKind::ServerError);
        assert!(try_policy(RouteKind::PublicRead, &cfg).is_ok());
    }

    #[tokio::test]
    async fn public_read_only_limits_the_body() {
        let cfg = PolicyConfig::new().body_limit(4);
        let svc = policy(RouteKind::PublicRead, &cfg).layer(handler());
        let res = svc
            .oneshot(
                Request::post("/x")
                    .body(Full::new(Bytes::from_static(b"12345")))
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
