//! `/api/test-rate-limit`: 5 per minute per client IP, over real HTTP.

use crate::harness::{App, Redis};

const PATH: &str = "/api/test-rate-limit";

fn events(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn ten_requests_five_pass_five_get_429_with_retry_after_and_one_event_each() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.jsonl");
    let app = App::start(&[("RAMPART_EVENTS", log.to_str().unwrap())]);
    let responses: Vec<_> = (0..10).map(|_| app.get(PATH, &[])).collect();
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429, 429, 429]);
    for r in &responses {
        assert_eq!(
            r.header("ratelimit-policy"),
            Some("\"/api/test-rate-limit\";q=5;w=60")
        );
        assert!(r.header("ratelimit").is_some(), "{r:?}");
    }
    for r in &responses[5..] {
        let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=12).contains(&retry), "{retry}");
        let body: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["error"], "Too many requests");
    }
    // /health is not limited.
    assert_eq!(app.get("/health", &[]).status, 200);
    let events = events(&log);
    assert_eq!(events.len(), 5, "{events:?}");
    for e in &events {
        assert_eq!(e["kind"], "rate_limit_exceeded");
        assert_eq!(e["ip"], "127.0.0.1");
        assert_eq!(e["endpoint"], PATH);
        assert_eq!(e["status"], 429);
    }
}

#[test]
fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    let spoofed = |i: usize| format!("198.51.100.{i}");
    let app = App::start(&[]);
    let passed = (0..10)
        .filter(|i| app.get(PATH, &[("X-Forwarded-For", &spoofed(*i))]).status == 200)
        .count();
    assert_eq!(
        passed, 5,
        "a fresh X-Forwarded-For must not mint a fresh bucket"
    );

    let behind_proxy = App::start(&[("RAMPART_TRUSTED_PROXIES", "127.0.0.1/32")]);
    let passed = (0..10)
        .filter(|i| {
            behind_proxy
                .get(PATH, &[("X-Forwarded-For", &spoofed(*i))])
                .status
                == 200
        })
        .count();
    assert_eq!(
        passed, 10,
        "behind a trusted proxy each forwarded client has its own bucket"
    );
    // A trusted proxy that names no client: refused, fail closed.
    assert_eq!(behind_proxy.get(PATH, &[]).status, 400);
}

#[test]
fn invalid_settings_exit_2_naming_the_variable() {
    for (var, value) in [
        ("RAMPART_LIMITER_ON_ERROR", "maybe"),
        ("RAMPART_TRUSTED_PROXIES", "10.0.0.0/33"),
        ("RAMPART_REDIS_URL", "not a url"),
        ("RAMPART_EVENTS", "/nonexistent-dir/events.jsonl"),
    ] {
        let failed = App::fail(&[(var, value)]);
        assert_eq!(failed.code, 2, "{var}: {}", failed.stderr);
        assert!(failed.stderr.contains(var), "{var}: {}", failed.stderr);
        assert_eq!(failed.stderr.lines().count(), 1, "{}", failed.stderr);
    }
}

#[test]
fn two_instances_sharing_redis_admit_five_in_total() {
    let redis = Redis::start();
    let url = redis.url();
    let a = App::start(&[("RAMPART_REDIS_URL", &url)]);
    let b = App::start(&[("RAMPART_REDIS_URL", &url)]);
    let statuses: Vec<u16> = (0..10)
        .map(|i| if i % 2 == 0 { a.get(PATH, &[]) } else { b.get(PATH, &[]) }.status)
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        5,
        "{statuses:?}"
    );
}

#[test]
fn redis_down_denies_with_503_by_default_and_allows_when_configured() {
    let port = crate::harness::free_port();
    let url = format!("redis://127.0.0.1:{port}/");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.jsonl");
    let deny = App::start(&[
        ("RAMPART_REDIS_URL", &url),
        ("RAMPART_EVENTS", log.to_str().unwrap()),
    ]);
    let r = deny.get(PATH, &[]);
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("retry-after"), Some("1"));
    let allow = App::start(&[
        ("RAMPART_REDIS_URL", &url),
        ("RAMPART_LIMITER_ON_ERROR", "allow"),
        ("RAMPART_EVENTS", log.to_str().unwrap()),
    ]);
    assert_eq!(allow.get(PATH, &[]).status, 200);
    let kinds: Vec<_> = events(&log).iter().map(|e| e["kind"].clone()).collect();
    assert_eq!(kinds, ["limiter_degraded", "limiter_degraded"]);
}
