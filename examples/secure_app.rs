//! The reference app: the security-operations guide's example routes, in axum, on Rampart's
//! layers. Each route gets its protection from one line: `policy(RouteKind, &cfg)`.
//!
//! ```text
//! cargo run --release --example secure_app -- --listen 127.0.0.1:3000
//! ```
//!
//! Environment (read once at startup; a missing or invalid value exits 2 naming it):
//! `CSRF_SECRET`, `SESSION_SECRET` (required, 32+ characters), `CLERK_WEBHOOK_SECRET`
//! (`whsec_...`), `STRIPE_WEBHOOK_SECRET`, `RAMPART_JWT_PUBLIC_KEY` (PEM file: RS256/ES256
//! bearer tokens), `RAMPART_JWT_ISSUER`, `RAMPART_JWT_AUDIENCE`, `RAMPART_REDIS_URL` (limiter
//! state in Redis, shared by every instance), `RAMPART_TRUSTED_PROXIES` (CIDRs whose
//! `X-Forwarded-For` is believed), `RAMPART_LIMITER_ON_ERROR` (`deny`, the default, or
//! `allow`), `RAMPART_EVENTS` (security events appended as JSON lines; stderr otherwise),
//! `RAMPART_ENV` (`production`: HSTS, Secure cookies, no error detail).
//!
//! Layers around every route, outermost first: events → security headers → safe errors →
//! client IP. Then per route, from the decision matrix: rate limit → signature or CSRF →
//! authentication → body limit and validation → handler.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::process::ExitCode;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Extension};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{MethodRouter, get, post};
use axum::{Json, Router};
use rampart_core::config::{EnvMap, Environment, OnStoreError, process_env};
use rampart_core::env::Spec;
use rampart_core::units::Quota;
use rampart_core::{RouteKind, SecurityEvent};
use rampart_layers::auth::{Authenticator, Claims};
use rampart_layers::client_ip::{ClientIpLayer, TrustedProxies};
use rampart_layers::csrf::{Csrf, CsrfConfig};
use rampart_layers::errors::SafeErrorsLayer;
use rampart_layers::events::{EventSink, EventsLayer, JsonLinesSink};
use rampart_layers::headers::SecurityHeaders;
use rampart_layers::limits::{FieldErrors, Valid, Validate};
use rampart_layers::policy::{PolicyConfig, policy};
use rampart_layers::rate_limit::store::RedisStore;
use rampart_layers::rate_limit::{KeyBy, RateLimitLayer, RateLimiter};
use rampart_layers::webhook::WebhookVerifier;
use serde::Deserialize;
use serde_json::{Value, json};

/// Startup settings, validated before anything listens.
pub(crate) struct Settings {
    pub(crate) listen: SocketAddr,
    pub(crate) env: Environment,
    pub(crate) trusted: TrustedProxies,
    pub(crate) redis: Option<RedisStore>,
    pub(crate) on_store_error: OnStoreError,
    pub(crate) events: Arc<dyn EventSink>,
    pub(crate) csrf: Csrf,
    pub(crate) auth: Option<Authenticator>,
    pub(crate) clerk: Option<WebhookVerifier>,
    pub(crate) stripe: Option<WebhookVerifier>,
}

/// A startup problem: printed once, exit status 2.
pub(crate) struct StartupError(pub(crate) String);

pub(crate) fn settings(args: &[String], env: &EnvMap) -> Result<Settings, StartupError> {
    let err = |s: String| StartupError(s);
    let mut listen: SocketAddr = ([127, 0, 0, 1], 3000).into();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let value = match arg.as_str() {
            "--listen" => it.next().map(String::as_str),
            a if a.starts_with("--listen=") => a.strip_prefix("--listen="),
            "-h" | "--help" => {
                println!("usage: secure_app [--listen ADDR]");
                std::process::exit(0);
            }
            other => {
                return Err(err(format!(
                    "unexpected argument {other:?} (usage: secure_app [--listen ADDR])"
                )));
            }
        };
        let value =
            value.ok_or_else(|| err("--listen needs an address such as 127.0.0.1:3000".into()))?;
        listen = value.parse().map_err(|_| {
            err(format!(
                "--listen: invalid address {value:?}, expected IP:PORT"
            ))
        })?;
    }
    let var = |name: &str| env.get(name).map(|v| v.trim()).filter(|v| !v.is_empty());

    // The guide's two required secrets: report every one that is missing or short at once.
    let secrets = Spec::new().secret("CSRF_SECRET").secret("SESSION_SECRET");
    rampart_core::env::validate(&secrets, env).map_err(|e| {
        let bad: Vec<String> = e.0.iter().map(ToString::to_string).collect();
        err(format!(
            "{} (generate one with `rampart secret`)",
            bad.join("; ")
        ))
    })?;
    let env_kind = match var("RAMPART_ENV") {
        None | Some("development") => Environment::Development,
        Some("production") => Environment::Production,
        Some(other) => {
            return Err(err(format!(
                "RAMPART_ENV: expected \"production\" or \"development\", got {other:?}"
            )));
        }
    };
    let csrf_secret = var("CSRF_SECRET").unwrap_or_default();
    let csrf = Csrf::new(CsrfConfig::new(csrf_secret).secure_cookie(env_kind.is_production()))
        .map_err(|e| err(format!("CSRF_SECRET: {e}")))?;

    let auth = match var("RAMPART_JWT_PUBLIC_KEY") {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| err(format!("RAMPART_JWT_PUBLIC_KEY: cannot read {path:?}: {e}")))?;
            let mut auth = Authenticator::from_pem(&pem)
                .map_err(|e| err(format!("RAMPART_JWT_PUBLIC_KEY: {path:?}: {e}")))?
                .session_cookie("__session");
            if let Some(iss) = var("RAMPART_JWT_ISSUER") {
                auth = auth.issuer(iss);
            }
            if let Some(aud) = var("RAMPART_JWT_AUDIENCE") {
                auth = auth.audience(aud);
            }
            Some(auth)
        }
        None => None,
    };
    let webhook = |name: &str, make: fn(&str) -> Result<WebhookVerifier, _>| match var(name) {
        Some(secret) => make(secret)
            .map(Some)
            .map_err(|e: rampart_layers::webhook::SecretError| err(format!("{name}: {e}"))),
        None => Ok(None),
    };
    let clerk = webhook("CLERK_WEBHOOK_SECRET", WebhookVerifier::standard)?;
    let stripe = webhook("STRIPE_WEBHOOK_SECRET", WebhookVerifier::stripe)?;

    let trusted = match var("RAMPART_TRUSTED_PROXIES") {
        Some(v) => TrustedProxies::parse_list(v)
            .map_err(|e| err(format!("RAMPART_TRUSTED_PROXIES: {e}")))?,
        None => TrustedProxies::none(),
    };
    let redis = match var("RAMPART_REDIS_URL") {
        Some(url) => {
            Some(RedisStore::new(url).map_err(|e| err(format!("RAMPART_REDIS_URL: {e}")))?)
        }
        None => None,
    };
    let on_store_error = match var("RAMPART_LIMITER_ON_ERROR") {
        None | Some("deny") => OnStoreError::Deny,
        Some("allow") => OnStoreError::Allow,
        Some(other) => {
            return Err(err(format!(
                "RAMPART_LIMITER_ON_ERROR: expected \"deny\" or \"allow\", got {other:?}"
            )));
        }
    };
    let events: Arc<dyn EventSink> = match var("RAMPART_EVENTS") {
        Some(path) => Arc::new(JsonLinesSink::open(path.as_ref()).map_err(|e| {
            err(format!(
                "RAMPART_EVENTS: cannot open {path:?} for appending: {e}"
            ))
        })?),
        None => Arc::new(StderrSink),
    };
    Ok(Settings {
        listen,
        env: env_kind,
        trusted,
        redis,
        on_store_error,
        events,
        csrf,
        auth,
        clerk,
        stripe,
    })
}

/// Events as JSON lines on stderr when no file is configured.
#[derive(Debug)]
struct StderrSink;

impl EventSink for StderrSink {
    fn emit(&self, event: SecurityEvent) {
        eprintln!("{}", event.to_json_line());
    }
}

/// Builds each route's protection from the settings.
struct Protect<'a> {
    settings: &'a Settings,
    base: PolicyConfig,
}

impl<'a> Protect<'a> {
    fn new(settings: &'a Settings) -> Self {
        let mut base = PolicyConfig::new().csrf(settings.csrf.clone());
        if let Some(auth) = &settings.auth {
            base = base.auth(auth.clone());
        }
        Protect { settings, base }
    }

    /// A rate limit of `per_minute` per client IP, counted under the route's own name (a
    /// burst of as many, then refilling smoothly), in Redis when configured.
    fn limit(&self, route: &str, per_minute: u32) -> RateLimitLayer {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        let limiter = match &self.settings.redis {
            Some(store) => RateLimiter::redis(route, quota, store.clone()),
            None => RateLimiter::memory(route, quota),
        };
        RateLimitLayer::new(
            limiter.on_store_error(self.settings.on_store_error),
            KeyBy::client_ip(),
        )
    }

    /// The base config plus the default 60/min limit of `route`.
    fn cfg(&self, route: &str) -> PolicyConfig {
        self.base.clone().rate_limit(self.limit(route, 60))
    }

    fn webhook(&self, route: &str, verifier: &Option<WebhookVerifier>) -> PolicyConfig {
        let cfg = self.cfg(route);
        match verifier {
            Some(v) => cfg.webhook(v.clone()),
            None => cfg, // no secret: the route fails closed (500 + server_error event)
        }
    }
}

pub(crate) fn app(s: &Settings) -> Router {
    use RouteKind::*;
    let p = Protect::new(s);
    let csrf = s.csrf.clone();
    let route = |kind, cfg: PolicyConfig, h: MethodRouter| h.layer(policy(kind, &cfg));
    let routes = Router::new()
        .route("/health", get(health))
        .route("/api/csrf", get(move |h: HeaderMap| csrf_token(csrf, h)))
        .route(
            "/api/test-rate-limit",
            get(test_rate_limit).layer(p.limit("/api/test-rate-limit", 5)),
        )
        .route(
            "/api/example-protected",
            route(
                PublicForm,
                p.cfg("/api/example-protected").json::<ExamplePost>(),
                post(example_protected),
            ),
        )
        .route(
            "/api/contact",
            route(
                PublicForm,
                p.cfg("/api/contact").json::<Contact>(),
                post(contact),
            ),
        )
        .route(
            "/api/public/items",
            route(PublicRead, p.base.clone(), get(public_items)),
        )
        .route("/api/me", route(ProtectedRead, p.cfg("/api/me"), get(me)))
        .route(
            "/api/items",
            route(
                ProtectedMutation,
                p.cfg("/api/items").json::<NewItem>(),
                post(create_item),
            ),
        )
        .route(
            "/api/webhooks/clerk",
            route(
                Webhook,
                p.webhook("/api/webhooks/clerk", &s.clerk),
                post(webhook_received),
            ),
        )
        .route(
            "/api/webhooks/stripe",
            route(
                Webhook,
                p.webhook("/api/webhooks/stripe", &s.stripe),
                post(webhook_received),
            ),
        )
        .route(
            "/api/upload",
            route(
                FileUpload,
                p.cfg("/api/upload").body_limit(1 << 20),
                post(upload),
            ),
        );
    // The app-wide layers wrap the whole router once (404s and 405s included). Through
    // `Router::layer` each route would be boxed once per layer and every box cloned on
    // every request; this way a request pays for one clone of the chain. `with_state` turns
    // each handler into its route now: a router used as a service without it rebuilds the
    // route of the matched handler on every request.
    let routes = routes.with_state(());
    let app_wide = tower::ServiceBuilder::new()
        .layer(EventsLayer::new(s.events.clone()))
        .layer(SecurityHeaders::new(s.env).layer())
        .layer(SafeErrorsLayer::new(s.env))
        .layer(
            ClientIpLayer::new(s.trusted.clone())
                .peer_from(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())),
        )
        .service(routes);
    Router::new().fallback_service(app_wide)
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn csrf_token(csrf: Csrf, headers: HeaderMap) -> Response {
    csrf.token_response(&headers)
}

async fn test_rate_limit() -> Json<Value> {
    Json(json!({"message": "Request allowed", "limit": "5 per minute"}))
}

/// The guide's example mutation: `title` 1-200, `content` 1-5000, `tags` at most 5 of 1-100.
#[derive(Debug, Clone, Deserialize)]
struct ExamplePost {
    title: String,
    content: String,
    #[serde(default)]
    tags: Vec<String>,
}

impl Validate for ExamplePost {
    fn validate(&self, v: &mut FieldErrors) {
        v.length("title", &self.title, 1, 200);
        v.length("content", &self.content, 1, 5000);
        v.list("tags", &self.tags, 5, 1, 100);
    }
}

async fn example_protected(Extension(Valid(post)): Extension<Valid<ExamplePost>>) -> Json<Value> {
    Json(
        json!({"success": true, "data": {"title": post.title, "content": post.content, "tags": post.tags}}),
    )
}

#[derive(Debug, Clone, Deserialize)]
struct Contact {
    name: String,
    email: String,
    subject: String,
    message: String,
}

impl Validate for Contact {
    fn validate(&self, v: &mut FieldErrors) {
        v.length("name", &self.name, 1, 100);
        v.email("email", &self.email);
        v.length("subject", &self.subject, 1, 200);
        v.length("message", &self.message, 1, 5000);
    }
}

async fn contact(Extension(Valid(c)): Extension<Valid<Contact>>) -> Json<Value> {
    Json(json!({"success": true, "message": format!("Thanks, {}: we will answer soon", c.name)}))
}

async fn public_items() -> Json<Value> {
    Json(json!({"items": [{"id": 1, "name": "Public item"}]}))
}

async fn me(Extension(claims): Extension<Claims>) -> Json<Value> {
    Json(json!({"userId": claims.sub()}))
}

#[derive(Debug, Clone, Deserialize)]
struct NewItem {
    name: String,
}

impl Validate for NewItem {
    fn validate(&self, v: &mut FieldErrors) {
        v.length("name", &self.name, 1, 200);
    }
}

async fn create_item(
    Extension(claims): Extension<Claims>,
    Extension(Valid(item)): Extension<Valid<NewItem>>,
) -> Json<Value> {
    Json(json!({"success": true, "item": {"name": item.name, "owner": claims.sub()}}))
}

async fn webhook_received(body: axum::body::Bytes) -> Json<Value> {
    let event: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Json(json!({"received": true, "type": event.get("type")}))
}

async fn upload(body: axum::body::Bytes) -> Json<Value> {
    Json(json!({"success": true, "bytes": body.len()}))
}

async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let settings = match settings(&args, &process_env()) {
        Ok(s) => s,
        Err(StartupError(msg)) => {
            eprintln!("secure_app: {msg}");
            return ExitCode::from(2);
        }
    };
    for (name, missing) in [
        ("RAMPART_JWT_PUBLIC_KEY", settings.auth.is_none()),
        ("CLERK_WEBHOOK_SECRET", settings.clerk.is_none()),
        ("STRIPE_WEBHOOK_SECRET", settings.stripe.is_none()),
    ] {
        if missing {
            eprintln!(
                "secure_app: warning: {name} is not set; the routes that need it refuse every request"
            );
        }
    }
    let listener = match tokio::net::TcpListener::bind(settings.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("secure_app: --listen {}: {e}", settings.listen);
            return ExitCode::from(2);
        }
    };
    let addr = listener.local_addr().unwrap_or(settings.listen);
    println!("secure_app listening on http://{addr}");
    let app = app(&settings).into_make_service_with_connect_info::<SocketAddr>();
    match axum::serve(listener, app)
        .with_graceful_shutdown(shutdown())
        .await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("secure_app: {e}");
            ExitCode::FAILURE
        }
    }
}
