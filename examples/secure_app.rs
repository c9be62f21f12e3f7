//! The reference app: the security-operations guide's example routes, in axum, on Rampart's
//! layers.
//!
//! ```text
//! cargo run --release --example secure_app -- --listen 127.0.0.1:3000
//! ```
//!
//! Environment (read once at startup; an invalid value exits 2 naming the variable):
//! `RAMPART_REDIS_URL` (limiter state in Redis, shared by every instance),
//! `RAMPART_TRUSTED_PROXIES` (CIDRs whose `X-Forwarded-For` is believed),
//! `RAMPART_LIMITER_ON_ERROR` (`deny`, the default, or `allow` when the store is unreachable),
//! `RAMPART_EVENTS` (security events appended as JSON lines; stderr otherwise).
//!
//! Layer order, outermost first: events → client IP → per route (rate limit → ...) → handler.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::process::ExitCode;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::routing::{MethodRouter, get};
use axum::{Json, Router};
use rampart_core::SecurityEvent;
use rampart_core::config::{EnvMap, OnStoreError, process_env};
use rampart_core::units::Quota;
use rampart_layers::client_ip::{ClientIpLayer, TrustedProxies};
use rampart_layers::events::{EventSink, EventsLayer, JsonLinesSink};
use rampart_layers::rate_limit::store::RedisStore;
use rampart_layers::rate_limit::{KeyBy, RateLimitLayer, RateLimiter};
use serde_json::{Value, json};

/// Startup settings, validated before anything listens.
struct Settings {
    listen: SocketAddr,
    trusted: TrustedProxies,
    redis: Option<RedisStore>,
    on_store_error: OnStoreError,
    events: Arc<dyn EventSink>,
}

/// A startup problem: printed once, exit status 2.
struct StartupError(String);

fn settings(args: &[String], env: &EnvMap) -> Result<Settings, StartupError> {
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
        trusted,
        redis,
        on_store_error,
        events,
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
}

impl Protect<'_> {
    /// A limiter named after its route, in Redis when configured (shared by every instance).
    fn limiter(&self, name: &str, quota: Quota) -> RateLimiter {
        let limiter = match &self.settings.redis {
            Some(store) => RateLimiter::redis(name, quota, store.clone()),
            None => RateLimiter::memory(name, quota),
        };
        limiter.on_store_error(self.settings.on_store_error)
    }

    /// `route` limited to `per_minute` requests a minute per client IP (a burst of as many,
    /// then refilling smoothly), counted under `name`.
    fn rate_limited(&self, name: &str, per_minute: u32, route: MethodRouter) -> MethodRouter {
        let quota = Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN));
        route.layer(RateLimitLayer::new(
            self.limiter(name, quota),
            KeyBy::client_ip(),
        ))
    }
}

fn app(settings: &Settings) -> Router {
    let p = Protect { settings };
    Router::new()
        .route("/health", get(health))
        .route(
            "/api/test-rate-limit",
            p.rate_limited("/api/test-rate-limit", 5, get(test_rate_limit)),
        )
        .layer(
            ClientIpLayer::new(settings.trusted.clone())
                .peer_from(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())),
        )
        .layer(EventsLayer::new(settings.events.clone()))
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

async fn test_rate_limit() -> Json<Value> {
    Json(json!({"message": "Request allowed", "limit": "5 per minute"}))
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
