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
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;

async fn hello() -> &'static str {
    "Hello, World!"
}

/// The servers this bench can run.
const MODES: &str =
    "bare|identity|rampart|rampart_client_ip|client_ip|tower_governor|tower_governor_headers";

/// The one quota every limiter gets: one request per nanosecond, bursts of 10^9. GCRA with
/// these parameters in both crates; no load test on one core comes near it, so every request
/// takes the pass path (the script checks that every response was a 2xx).
const PER_SECOND: u32 = 1_000_000_000;

fn app(mode: &str) -> Option<Router> {
    let bare = Router::new().route("/", get(hello));
    Some(match mode {
        "bare" => bare,
        // Keyed by the socket peer, as `tower_governor` keys by default: the same work.
        "rampart" => {
            let quota = Quota::new(NonZeroU32::new(PER_SECOND)?, Duration::from_secs(1));
            bare.layer(RateLimitLayer::new(
                RateLimiter::memory("/", quota),
                KeyBy::custom(|_, ext| {
                    let peer = ext.get::<ConnectInfo<SocketAddr>>()?;
                    Some(RateKey::ip(peer.0.ip(), 64))
                }),
            ))
        }
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
        "tower_governor" => {
            let config = GovernorConfigBuilder::default()
                .per_nanosecond(1)
                .burst_size(PER_SECOND)
                .finish()?;
            bare.layer(GovernorLayer::new(config))
        }
        // The same, with `x-ratelimit-limit`/`x-ratelimit-remaining` on every response: the
        // variant that, like Rampart, tells clients their quota.
        "tower_governor_headers" => {
            let config = GovernorConfigBuilder::default()
                .per_nanosecond(1)
                .burst_size(PER_SECOND)
                .use_headers()
                .finish()?;
            bare.layer(GovernorLayer::new(config))
        }
        _ => return None,
    })
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
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        if let Err(e) = axum::serve(listener, app).await {
            eprintln!("http_server: {e}");
        }
    });
}
