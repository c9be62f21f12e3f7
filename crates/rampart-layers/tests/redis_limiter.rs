//! The Redis limiter against a real redis-server: exactness across instances, failure policy,
//! recovery.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use rampart_core::EventKind;
use rampart_layers::client_ip::ClientIp;
use rampart_layers::events::{EventsLayer, MemorySink};
use rampart_layers::rate_limit::store::RedisStore;
use rampart_layers::rate_limit::{
    KeyBy, OnStoreError, Outcome, RateKey, RateLimitLayer, RateLimiter,
};
use tower::{ServiceBuilder, ServiceExt, service_fn};

use crate::redis_server::RedisServer;

fn key() -> RateKey {
    RateKey::ip("203.0.113.50".parse().unwrap(), 64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_sharing_redis_admit_exactly_n_of_many_concurrent() {
    let redis = RedisServer::start();
    let quota = "25/hour".parse().unwrap();
    // Two limiters on two connections: what two app instances would be.
    let a = RateLimiter::redis("/api/exact", quota, RedisStore::new(&redis.url()).unwrap());
    let b = RateLimiter::redis("/api/exact", quota, RedisStore::new(&redis.url()).unwrap());
    // Warm both connections so the burst below is not spread by connection setup.
    for l in [&a, &b] {
        let _ = l.check(&RateKey::Text("warm-up".into())).await;
    }
    let tasks: Vec<_> = (0..400)
        .map(|i| {
            let l = if i % 2 == 0 { a.clone() } else { b.clone() };
            tokio::spawn(async move { l.check(&key()).await })
        })
        .collect();
    let (mut admitted, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Outcome::Decided(d) if d.allowed => admitted += 1,
            Outcome::Decided(_) => refused += 1,
            other => panic!("store failed: {other:?}"),
        }
    }
    assert_eq!(admitted, 25);
    assert_eq!(refused, 375);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_answers_429_with_fields_through_redis() {
    let redis = RedisServer::start();
    let sink = MemorySink::new();
    let limiter = RateLimiter::redis(
        "/api/test-rate-limit",
        "5/min".parse().unwrap(),
        RedisStore::new(&redis.url()).unwrap(),
    );
    let svc = ServiceBuilder::new()
        .layer(EventsLayer::new(Arc::new(sink.clone())))
        .layer(RateLimitLayer::new(limiter, KeyBy::client_ip()))
        .service(service_fn(|_r: Request<()>| async {
            Ok::<_, Infallible>(Response::new(Bytes::from_static(b"{}")))
        }));
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let mut req = Request::get("/api/test-rate-limit").body(()).unwrap();
        req.extensions_mut()
            .insert(ClientIp("198.51.100.9".parse().unwrap()));
        let res = svc.clone().oneshot(req).await.unwrap();
        assert!(res.headers().contains_key("ratelimit-policy"));
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=12).contains(&retry));
        }
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
    let events = sink.take();
    assert_eq!(events.len(), 2);
    assert!(
        events
            .iter()
            .all(|e| e.kind == EventKind::RateLimitExceeded)
    );
}

/// Waits until `limiter` decides through the store again, polling every 50 ms for at most
/// 5 s; returns how many polls failed first.
async fn polls_until_decided(limiter: &RateLimiter) -> Option<u32> {
    for i in 0..100 {
        if let Outcome::Decided(_) = limiter.check(&RateKey::Text("probe".into())).await {
            return Some(i);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Waits (bounded) until `limiter` decides through the store again.
async fn until_decided(limiter: &RateLimiter) -> bool {
    for _ in 0..100 {
        if let Outcome::Decided(_) = limiter.check(&RateKey::Text("probe".into())).await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_mid_run_applies_the_policy_and_recovers_by_itself() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let quota = "1000/min".parse().unwrap();
    let store = RedisStore::new(&redis.url()).unwrap();
    let deny = RateLimiter::redis("/api/deny", quota, store.clone());
    let allow = RateLimiter::redis("/api/allow", quota, store).on_store_error(OnStoreError::Allow);
    assert!(until_decided(&deny).await);

    redis.kill();
    // Every decision while it is away follows the policy, promptly, without a panic.
    for _ in 0..20 {
        match deny.check(&key()).await {
            Outcome::Degraded { allowed, .. } => assert!(!allowed),
            other => panic!("expected degraded, got {other:?}"),
        }
        match allow.check(&key()).await {
            Outcome::Degraded { allowed, .. } => assert!(allowed),
            other => panic!("expected degraded, got {other:?}"),
        }
    }
    assert_eq!(deny.stats().degraded_denied, 20);
    assert_eq!(allow.stats().degraded_allowed, 20);

    // Back on the same port: used again without anyone reconnecting by hand.
    let _redis = RedisServer::start_on(port);
    // The contract: a returning store is used again within 2 s (40 polls of 50 ms).
    let failed = polls_until_decided(&deny).await;
    assert!(
        matches!(failed, Some(n) if n <= 40),
        "recovered after {failed:?} polls"
    );
    assert!(until_decided(&allow).await, "the limiter did not recover");
}

#[tokio::test]
async fn keys_expire_by_themselves_and_use_one_hash_tag() {
    let redis = RedisServer::start();
    let store = RedisStore::new(&redis.url()).unwrap();
    let k = store.state_key("/api/x", &key());
    assert_eq!(k, "rampart:rl:{/api/x|ip:203.0.113.50}");
    let limiter = RateLimiter::redis("/api/x", "2/sec".parse().unwrap(), store);
    assert!(matches!(limiter.check(&key()).await, Outcome::Decided(d) if d.allowed));
    // The PX on the key is at most the time to refill: 500 ms for one request at 2/sec.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&k)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!((1..=500).contains(&pttl), "pttl {pttl}");
}

/// `INFO commandstats` count of a command.
async fn calls(conn: &mut redis::aio::MultiplexedConnection, cmd: &str) -> u64 {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(conn)
        .await
        .unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("cmdstat_{cmd}:calls=")))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn one_decision_is_one_evalsha_round_trip() {
    let redis = RedisServer::start();
    let limiter = RateLimiter::redis(
        "/api/rt",
        "100/min".parse().unwrap(),
        RedisStore::new(&redis.url()).unwrap(),
    );
    // The first call loads the script (EVALSHA, NOSCRIPT, then EVAL or SCRIPT LOAD).
    let _ = limiter.check(&key()).await;
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query_async(&mut conn)
        .await
        .unwrap();
    for _ in 0..20 {
        assert!(matches!(limiter.check(&key()).await, Outcome::Decided(_)));
    }
    assert_eq!(calls(&mut conn, "evalsha").await, 20);
    assert_eq!(calls(&mut conn, "eval").await, 0);
    assert_eq!(calls(&mut conn, "script|load").await, 0);
}

#[test]
fn the_store_follows_the_limiter_section() {
    use rampart_core::config::{LimiterConfig, LimiterStore};
    let mut cfg = LimiterConfig::default();
    assert!(RedisStore::from_config(&cfg).unwrap().is_none());
    cfg.store = LimiterStore::Redis;
    assert!(RedisStore::from_config(&cfg).is_err());
    cfg.redis_url = Some("redis://127.0.0.1:1/".into());
    cfg.key_prefix = "shop".into();
    let store = RedisStore::from_config(&cfg).unwrap().unwrap();
    assert!(store.state_key("/x", &key()).starts_with("shop:rl:{"));
}
