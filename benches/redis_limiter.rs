//! Throughput of the Redis limiter, for `benches/redis_limiter.sh`, which runs it against the
//! same redis-server as `redis-benchmark` running the same script with `EVALSHA`.
//!
//! `redis_limiter --url redis://127.0.0.1:PORT/ [--concurrency 50] [--requests 200000]
//! [--keys 100000]` makes that many decisions with that many in flight, on one thread, and
//! prints `decisions/s`. Run without `--url` (as `cargo bench` does) it only says how to use it.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use rampart_layers::rate_limit::store::RedisStore;
use rampart_layers::rate_limit::{Outcome, RateKey, RateLimiter};

fn arg(args: &[String], name: &str, default: u64) -> u64 {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[allow(clippy::disallowed_methods)] // a benchmark measures wall time
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(url) = args
        .iter()
        .position(|a| a == "--url")
        .and_then(|i| args.get(i + 1))
    else {
        eprintln!(
            "redis_limiter: load generator for benches/redis_limiter.sh; usage: redis_limiter --url URL [--concurrency N] [--requests N] [--keys N]"
        );
        return;
    };
    let concurrency = arg(&args, "--concurrency", 50);
    let requests = arg(&args, "--requests", 200_000);
    let keys = arg(&args, "--keys", 100_000).max(1);
    let store = match RedisStore::new(url) {
        Ok(s) => s.timeout(std::time::Duration::from_secs(5)),
        Err(e) => {
            eprintln!("redis_limiter: {e}");
            std::process::exit(2);
        }
    };
    let limiter = RateLimiter::redis(
        "bench",
        "50/min".parse().unwrap_or_else(|_| unreachable!()),
        store,
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    rt.block_on(async move {
        // Connect and load the script before timing.
        let _ = limiter.check(&RateKey::Text("warm-up".into())).await;
        let next = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let tasks: Vec<_> = (0..concurrency)
            .map(|_| {
                let (limiter, next, failed) = (limiter.clone(), next.clone(), failed.clone());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= requests {
                            break;
                        }
                        let n = (i.wrapping_mul(2_654_435_761) % keys) as u32;
                        let key = RateKey::Ip(IpAddr::V4(Ipv4Addr::from(n)));
                        if let Outcome::Degraded { .. } = limiter.check(&key).await {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{:.0} decisions/s ({requests} decisions, {concurrency} in flight, {} failed)",
            requests as f64 / secs,
            failed.load(Ordering::Relaxed)
        );
    });
}
