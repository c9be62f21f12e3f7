//! In-memory limiter throughput: Rampart's sharded GCRA store against `governor`'s keyed
//! limiter (dashmap), with 1, 10k and 1M distinct client keys, on one and two threads.
//!
//! `cargo bench --bench rate_limit` (pin it: `taskset -c 0,1`). Both limiters use the same
//! quota and the same pre-built `IpAddr` keys, visited in a scrambled order, and each its
//! default clock.
//!
//! The `layer` group calls an axum hello router in process (no sockets): bare, behind
//! Rampart's client-IP + rate-limit layers (the pass path, with its `RateLimit` fields), and
//! behind `tower_governor` without and with its `x-ratelimit-*` headers, all with the same
//! quota: what each adds to a request, free of loopback noise.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rampart_layers::rate_limit::{RateKey, RateLimiter};

const QUOTA_PER_SEC: u32 = 50;

fn keys(n: usize) -> Arc<Vec<IpAddr>> {
    // A multiplicative scramble so consecutive checks do not walk memory in order.
    Arc::new(
        (0..n as u32)
            .map(|i| IpAddr::V4(Ipv4Addr::from(i.wrapping_mul(2_654_435_761) | 0x0a00_0000)))
            .collect(),
    )
}

fn rampart(n: usize) -> (RateLimiter, Arc<Vec<RateKey>>) {
    let quota = rampart_core::units::Quota::new(
        NonZeroU32::new(QUOTA_PER_SEC).unwrap(),
        Duration::from_secs(1),
    );
    let keys = keys(n).iter().map(|ip| RateKey::Ip(*ip)).collect();
    (RateLimiter::memory("bench", quota), Arc::new(keys))
}

type Governor = governor::DefaultKeyedRateLimiter<IpAddr>;

fn governor(n: usize) -> (Arc<Governor>, Arc<Vec<IpAddr>>) {
    let quota = governor::Quota::per_second(NonZeroU32::new(QUOTA_PER_SEC).unwrap());
    (Arc::new(governor::RateLimiter::keyed(quota)), keys(n))
}

/// Runs `iters` checks split over `threads` threads and returns the wall time.
#[allow(clippy::disallowed_methods)] // a benchmark measures wall time
fn on_threads(iters: u64, threads: usize, check: impl Fn(usize) + Send + Sync + Clone) -> Duration {
    let per = (iters as usize).div_ceil(threads);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let check = check.clone();
            s.spawn(move || {
                // Threads start at different offsets, as different clients would.
                let base = t.wrapping_mul(7_919);
                for i in 0..per {
                    check(base.wrapping_add(i));
                }
            });
        }
    });
    start.elapsed()
}

fn limiter(c: &mut Criterion) {
    let mut group = c.benchmark_group("limiter");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(4));
    group.warm_up_time(Duration::from_secs(1));
    for (label, n) in [("1", 1usize), ("10k", 10_000), ("1M", 1_000_000)] {
        for threads in [1usize, 2] {
            let id = format!("{label}_keys/{threads}_threads");
            let (ours, our_keys) = rampart(n);
            group.bench_function(BenchmarkId::new("rampart", &id), |b| {
                b.iter_custom(|iters| {
                    let (ours, our_keys) = (&ours, &our_keys);
                    on_threads(iters, threads, move |i| {
                        black_box(ours.check_now(&our_keys[i % our_keys.len()]));
                    })
                })
            });
            let (gov, gov_keys) = governor(n);
            group.bench_function(BenchmarkId::new("governor", &id), |b| {
                b.iter_custom(|iters| {
                    let (gov, gov_keys) = (&gov, &gov_keys);
                    on_threads(iters, threads, move |i| {
                        let _ = black_box(gov.check_key(&gov_keys[i % gov_keys.len()]));
                    })
                })
            });
        }
    }
    group.finish();
}

/// Polls a future that is ready at once (every route here answers without waiting).
fn ready<F: std::future::Future>(fut: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => unreachable!("the hello route answers at once"),
    }
}

fn layer(c: &mut Criterion) {
    use axum::Router;
    use axum::body::Body;
    use axum::extract::ConnectInfo;
    use axum::routing::get;
    use rampart_layers::client_ip::{ClientIpLayer, TrustedProxies};
    use rampart_layers::rate_limit::{KeyBy, RateLimitLayer};
    use std::net::SocketAddr;
    use tower::Service;

    let bare = Router::new().route("/", get(|| async { "Hello, World!" }));
    // The quota `benches/http_server.rs` gives every limiter: 10^9/s, bursts of 10^9.
    let per_second = 1_000_000_000;
    let quota = rampart_core::units::Quota::new(
        NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MAX),
        Duration::from_secs(1),
    );
    let rampart = bare.clone().layer(
        // One `Router::layer` for the whole stack: axum boxes each layer it is given.
        tower::ServiceBuilder::new()
            .layer(
                ClientIpLayer::new(TrustedProxies::none())
                    .peer_from(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())),
            )
            .layer(RateLimitLayer::new(
                RateLimiter::memory("/", quota),
                KeyBy::client_ip(),
            )),
    );
    let governor = tower_governor::governor::GovernorConfigBuilder::default()
        .per_nanosecond(1)
        .burst_size(per_second)
        .finish()
        .map(|config| {
            bare.clone()
                .layer(tower_governor::GovernorLayer::new(config))
        });
    // With `x-ratelimit-limit`/`x-ratelimit-remaining` on every response, as Rampart sends
    // its fields.
    let governor_headers = tower_governor::governor::GovernorConfigBuilder::default()
        .per_nanosecond(1)
        .burst_size(per_second)
        .use_headers()
        .finish()
        .map(|config| {
            bare.clone()
                .layer(tower_governor::GovernorLayer::new(config))
        });
    let peer = SocketAddr::from(([127, 0, 0, 1], 40_000));
    let mut group = c.benchmark_group("layer");
    group.throughput(Throughput::Elements(1));
    group.measurement_time(Duration::from_secs(4));
    let routes = [
        ("bare", Some(bare)),
        ("rampart", Some(rampart)),
        ("tower_governor", governor),
        ("tower_governor_headers", governor_headers),
    ];
    for (name, router) in routes {
        // Finalised as `axum::serve` does, so layers are applied once, not per call.
        let Some(mut router) = router.map(|r| r.with_state::<()>(())) else {
            continue;
        };
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut req = axum::http::Request::get("/")
                    .body(Body::empty())
                    .unwrap_or_default();
                req.extensions_mut().insert(ConnectInfo(peer));
                let res = ready(router.call(req));
                black_box(res.map(|r| r.status()))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, limiter, layer);
criterion_main!(benches);
