//! The HTTP servers `benches/http_limiter.sh` loads with wrk: an axum hello handler bare,
//! behind Rampart's rate-limit layer (keyed by the socket peer, like `tower_governor`), behind
//! Rampart's client-IP + rate-limit layers (as `secure_app` has them), and behind
//! `tower_governor` without and with its `x-ratelimit-*` headers.
//!
//! `http_server --serve MODE 127.0.0.1:PORT` serves on one thread (the script pins it to one
//! core); MODE is one of [`MODES`]. Run without `--serve` (as `cargo bench` does) it only says
//! how to use it.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use rampart_core::units::Quota;
use rampart_layers::client_ip::{ClientIpLayer, TrustedProxies};
use rampart_layers::rate_limit::{KeyBy, RateKey, RateLimitLayer, RateLimiter};
use tower::Layer;
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;

async fn hello() -> &'static str {
    "Hello, World!"
}

/// The servers this bench can run.
const MODES: &str = "bare|identity|rampart|rampart_client_ip|client_ip|tower_governor|\
    tower_governor_headers|rampart_around|tower_governor_around|tower_governor_headers_around";

/// The one quota every limiter gets: one request per nanosecond, bursts of 10^9. GCRA with
/// these parameters in both crates; no load test on one core comes near it, so every request
/// takes the pass path (the script checks that every response was a 2xx).
const PER_SECOND: u32 = 1_000_000_000;

/// Rampart's limiter keyed by the socket peer (the key `tower_governor` uses by default).
fn rampart_peer_layer() -> Option<RateLimitLayer> {
    let quota = Quota::new(NonZeroU32::new(PER_SECOND)?, Duration::from_secs(1));
    Some(RateLimitLayer::new(
        RateLimiter::memory("/", quota),
        KeyBy::custom(|_, ext| {
            let peer = ext.get::<ConnectInfo<SocketAddr>>()?;
            Some(RateKey::ip(peer.0.ip(), 64))
        }),
    ))
}

fn app(mode: &str) -> Option<Router> {
    let bare = Router::new().route("/", get(hello));
    Some(match mode {
        "bare" => bare,
        // Keyed by the socket peer, as `tower_governor` keys by default: the same work.
        "rampart" => bare.layer(rampart_peer_layer()?),
        // As `secure_app` has it: the client-IP layer (fail closed, `ClientIp` for handlers and
        // events), then the limiter keyed by it.
        "rampart_client_ip" => {
            let quota = Quota::new(NonZeroU32::new(PER_SECOND)?, Duration::from_secs(1));
            bare.layer(
                // One `Router::layer` for the whole stack: axum boxes each layer it is given.
                tower::ServiceBuilder::new()
                    .layer(
                        ClientIpLayer::new(TrustedProxies::none()).peer_from(|ext| {
                            ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
                        }),
                    )
                    .layer(RateLimitLayer::new(
                        RateLimiter::memory("/", quota),
                        KeyBy::client_ip(),
                    )),
            )
        }
        // A layer that does nothing, through the same `Router::layer`: what axum's boxing of a
        // layered route costs any layer, Rampart's or a peer's.
        "identity" => bare.layer(tower::layer::util::Identity::new()),
        // The client-IP layer alone, to split the cost between the two layers.
        "client_ip" => bare.layer(
            ClientIpLayer::new(TrustedProxies::none())
                .peer_from(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())),
        ),
        // Keyed by peer IP (tower_governor's default key), like Rampart's client IP with no
        // trusted proxies.
        "tower_governor" => bare.layer(GovernorLayer::new(governor_config().finish()?)),
        // The same, with `x-ratelimit-limit`/`x-ratelimit-remaining` on every response: the
        // variant that, like Rampart, tells clients their quota.
        "tower_governor_headers" => bare.layer(GovernorLayer::new(
            governor_config().use_headers().finish()?,
        )),
        // The `_around` modes wrap the router in the layer instead (see `main`): no boxing
        // of the layered route, for Rampart and tower_governor alike.
        m if m.ends_with("_around") => bare,
        _ => return None,
    })
}

/// `tower_governor`'s config with the same quota.
fn governor_config() -> GovernorConfigBuilder<
    tower_governor::key_extractor::PeerIpKeyExtractor,
    governor::middleware::NoOpMiddleware,
> {
    let mut builder = GovernorConfigBuilder::default();
    builder.per_nanosecond(1).burst_size(PER_SECOND);
    builder
}

/// Serves `svc` (with the peer address, as the Router modes get it) until killed.
async fn serve<S>(listener: tokio::net::TcpListener, svc: S)
where
    S: tower::Service<
            axum::http::Request<axum::body::Body>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send,
{
    use axum::ServiceExt;
    let svc = svc.into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, svc).await {
        eprintln!("http_server: {e}");
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, addr) = match args.as_slice() {
        [flag, mode, addr] if flag == "--serve" => (mode.clone(), addr.clone()),
        _ => {
            eprintln!(
                "http_server: load target for benches/http_limiter.sh; usage: http_server --serve {MODES} ADDR"
            );
            return;
        }
    };
    let Some(app) = app(&mode) else {
        eprintln!("http_server: unknown mode {mode:?}");
        std::process::exit(2);
    };
    let Ok(addr) = addr.parse::<SocketAddr>() else {
        eprintln!("http_server: invalid address {addr:?}");
        std::process::exit(2);
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("http_server: {e}");
            std::process::exit(2);
        }
    };
    rt.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("http_server: {addr}: {e}");
                std::process::exit(2);
            }
        };
        let around = || {
            let config = governor_config().finish();
            config.map(GovernorLayer::new)
        };
        match mode.as_str() {
            "rampart_around" => match rampart_peer_layer() {
                Some(layer) => serve(listener, layer.layer(app)).await,
                None => eprintln!("http_server: bad quota"),
            },
            "tower_governor_around" => match around() {
                Some(layer) => serve(listener, layer.layer(app)).await,
                None => eprintln!("http_server: bad quota"),
            },
            "tower_governor_headers_around" => match governor_config().use_headers().finish() {
                Some(config) => serve(listener, GovernorLayer::new(config).layer(app)).await,
                None => eprintln!("http_server: bad quota"),
            },
            // Router modes as `axum::serve` users write them.
            _ => {
                let app = app.into_make_service_with_connect_info::<SocketAddr>();
                if let Err(e) = axum::serve(listener, app).await {
                    eprintln!("http_server: {e}");
                }
            }
        }
    });
}
