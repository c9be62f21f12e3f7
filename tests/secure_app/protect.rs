//! The request-side controls of the reference app over real HTTP: CSRF, JWT, webhooks, body
//! limit, validation, headers, startup validation, and one event per refusal.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rampart_core::Clock;
use rampart_layers::webhook::{standard, stripe};
use serde_json::{Value, json};

use crate::harness::{App, Response, send};

fn json_of(r: &Response) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|_| panic!("not JSON: {r:?}"))
}

fn events(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn kinds(path: &Path) -> Vec<String> {
    events(path)
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

/// A CSRF token and the cookie it is bound to.
struct Token {
    token: String,
    cookie: String,
}

fn csrf_token(app: &App) -> Token {
    let r = app.get("/api/csrf", &[]);
    assert_eq!(r.status, 200, "{r:?}");
    let set_cookie = r.header("set-cookie").unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attr), "{set_cookie}");
    }
    Token {
        token: json_of(&r)["csrfToken"].as_str().unwrap().to_string(),
        cookie: set_cookie.split(';').next().unwrap().to_string(),
    }
}

fn post_json(
    app: &App,
    path: &str,
    t: Option<&Token>,
    extra: &[(&str, &str)],
    body: &Value,
) -> Response {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(t) = t {
        headers.push(("X-CSRF-Token", &t.token));
        headers.push(("Cookie", &t.cookie));
    }
    headers.extend_from_slice(extra);
    send(
        app.addr,
        "POST",
        path,
        &headers,
        body.to_string().as_bytes(),
    )
}

fn log_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("events.jsonl");
    (dir, log)
}

#[test]
fn csrf_missing_wrong_replayed_cross_site_and_valid() {
    let (_dir, log) = log_dir();
    let app = App::start(&[("RAMPART_EVENTS", log.to_str().unwrap())]);
    let form =
        json!({"name": "Jo", "email": "jo@example.com", "subject": "Hi", "message": "Hello"});

    let missing = post_json(&app, "/api/contact", None, &[], &form);
    assert_eq!(missing.status, 403);
    assert_eq!(json_of(&missing), json!({"error": "Invalid CSRF token"}));

    let t = csrf_token(&app);
    // A genuine token, but bound to another session than the cookie sent with it.
    let wrong = Token {
        token: csrf_token(&app).token,
        cookie: t.cookie.clone(),
    };
    assert_eq!(
        post_json(&app, "/api/contact", Some(&wrong), &[], &form).status,
        403
    );

    let valid = post_json(&app, "/api/contact", Some(&t), &[], &form);
    assert_eq!(valid.status, 200, "{valid:?}");
    assert_eq!(json_of(&valid)["success"], true);
    let replayed = post_json(&app, "/api/contact", Some(&t), &[], &form);
    assert_eq!(replayed.status, 403);

    let fresh = csrf_token(&app);
    let cross = post_json(
        &app,
        "/api/contact",
        Some(&fresh),
        &[("Origin", "https://evil.example")],
        &form,
    );
    assert_eq!(cross.status, 403);
    let cross = post_json(
        &app,
        "/api/contact",
        Some(&fresh),
        &[("Sec-Fetch-Site", "cross-site")],
        &form,
    );
    assert_eq!(cross.status, 403);
    // Same-origin with the still-unused token passes.
    let origin = format!("http://{}", app.addr);
    let same = post_json(
        &app,
        "/api/contact",
        Some(&fresh),
        &[("Origin", &origin)],
        &form,
    );
    assert_eq!(same.status, 200, "{same:?}");

    let ev = events(&log);
    assert_eq!(ev.len(), 5, "one event per refusal: {ev:?}");
    let reasons: Vec<&str> = ev
        .iter()
        .map(|e| e["metadata"]["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "missing_token",
            "invalid_token",
            "replayed_token",
            "origin_mismatch",
            "cross_site"
        ]
    );
    for e in &ev {
        assert_eq!(e["kind"], "csrf_validation_failed");
        assert_eq!(e["severity"], "critical");
        assert_eq!(e["status"], 403);
        assert_eq!(e["endpoint"], "/api/contact");
        assert_eq!(e["ip"], "127.0.0.1");
    }
    // GET is never checked.
    assert_eq!(app.get("/api/public/items", &[]).status, 200);
}

#[test]
fn validation_answers_400_with_field_errors_and_bodies_over_the_limit_413() {
    let (_dir, log) = log_dir();
    let app = App::start(&[("RAMPART_EVENTS", log.to_str().unwrap())]);
    let t = csrf_token(&app);
    let bad = json!({"title": "", "content": "ok", "tags": ["a", "b", "c", "d", "e", "f"]});
    let r = post_json(&app, "/api/example-protected", Some(&t), &[], &bad);
    assert_eq!(r.status, 400);
    let body = json_of(&r);
    assert_eq!(body["error"], "Validation failed");
    assert_eq!(body["details"]["title"][0], "is required");
    assert_eq!(body["details"]["tags"][0], "must have at most 5 items");

    let t = csrf_token(&app);
    let good = json!({"title": "Hello", "content": "World", "tags": ["x"]});
    let r = post_json(&app, "/api/example-protected", Some(&t), &[], &good);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(json_of(&r)["data"]["title"], "Hello");

    // 413 comes before any content-type check: this body is not even JSON.
    let t = csrf_token(&app);
    let big = vec![b'x'; (1 << 20) + 1];
    let r = send(
        app.addr,
        "POST",
        "/api/contact",
        &[
            ("X-CSRF-Token", &t.token),
            ("Cookie", &t.cookie),
            ("Content-Type", "text/plain"),
        ],
        &big,
    );
    assert_eq!(r.status, 413, "{r:?}");
    assert_eq!(json_of(&r), json!({"error": "Payload too large"}));
    assert_eq!(
        kinds(&log),
        ["input_validation_failed", "payload_too_large"]
    );
}

/// RSA and EC keys made with the openssl CLI in a temp dir; tokens signed by openssl too,
/// independently of the library under test.
struct Jwt {
    dir: tempfile::TempDir,
}

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

impl Jwt {
    fn new() -> Jwt {
        let dir = tempfile::tempdir().unwrap();
        for name in ["good", "other"] {
            openssl(
                dir.path(),
                &[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                    "-out",
                    &format!("{name}.key"),
                ],
            );
            openssl(
                dir.path(),
                &[
                    "pkey",
                    "-in",
                    &format!("{name}.key"),
                    "-pubout",
                    "-out",
                    &format!("{name}.pub"),
                ],
            );
        }
        Jwt { dir }
    }

    fn public_key(&self) -> String {
        self.dir
            .path()
            .join("good.pub")
            .to_string_lossy()
            .into_owned()
    }

    fn rs256(&self, key: &str, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64url(json!({"alg": "RS256", "typ": "JWT"}).to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let key = self.dir.path().join(format!("{key}.key"));
        let mut child = Command::new("openssl")
            .args(["dgst", "-sha256", "-sign"])
            .arg(&key)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        format!("{input}.{}", b64url(&out.stdout))
    }

    fn alg_none(&self, claims: &Value) -> String {
        format!(
            "{}.{}.",
            b64url(json!({"alg": "none"}).to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        )
    }

    /// HS256 "signed" with the server's public key as the HMAC secret.
    fn hs256_with_public_key(&self, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            b64url(json!({"alg": "HS256", "typ": "JWT"}).to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let secret = std::fs::read_to_string(self.public_key()).unwrap();
        let out = Command::new("openssl")
            .args(["dgst", "-sha256", "-binary", "-hmac", &secret])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(input.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        format!("{input}.{}", b64url(&out.stdout))
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn now() -> u64 {
    rampart_core::SystemClock::new().now_nanos() / 1_000_000_000
}

#[test]
fn jwt_valid_expired_wrong_key_alg_none_and_hs_with_public_key() {
    let jwt = Jwt::new();
    let (_dir, log) = log_dir();
    let app = App::start(&[
        ("RAMPART_EVENTS", log.to_str().unwrap()),
        ("RAMPART_JWT_PUBLIC_KEY", &jwt.public_key()),
    ]);
    let claims = |exp: u64| json!({"sub": "user_2xyz", "exp": exp});
    let bearer = |t: &str| format!("Bearer {t}");

    let ok = jwt.rs256("good", &claims(now() + 300));
    let r = app.get("/api/me", &[("Authorization", &bearer(&ok))]);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(json_of(&r)["userId"], "user_2xyz");

    let refused = [
        ("", "missing_token"),
        (&jwt.rs256("good", &claims(now() - 120)) as &str, "expired"),
        (&jwt.rs256("other", &claims(now() + 300)), "bad_signature"),
        (&jwt.alg_none(&claims(now() + 300)), "alg_none"),
        (
            &jwt.hs256_with_public_key(&claims(now() + 300)),
            "algorithm_not_allowed",
        ),
    ];
    for (token, _) in &refused {
        let headers: Vec<(&str, String)> = if token.is_empty() {
            vec![]
        } else {
            vec![("Authorization", bearer(token))]
        };
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let r = app.get("/api/me", &h);
        assert_eq!(r.status, 401, "{r:?}");
        assert_eq!(json_of(&r), json!({"error": "Unauthorized"}));
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
    }
    let ev = events(&log);
    assert_eq!(ev.len(), refused.len(), "{ev:?}");
    for (e, (_, reason)) in ev.iter().zip(refused) {
        assert_eq!(e["kind"], "jwt_validation_failed");
        assert_eq!(e["metadata"]["reason"], reason);
        assert_eq!(e["status"], 401);
    }

    // A protected mutation needs both the token and CSRF; an upload also its size limit.
    let t = csrf_token(&app);
    let r = post_json(
        &app,
        "/api/items",
        Some(&t),
        &[("Authorization", &bearer(&ok))],
        &json!({"name": "pen"}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(json_of(&r)["item"]["owner"], "user_2xyz");
    let t = csrf_token(&app);
    let r = post_json(&app, "/api/items", Some(&t), &[], &json!({"name": "pen"}));
    assert_eq!(r.status, 401);
    let t = csrf_token(&app);
    let auth = bearer(&ok);
    let upload = |t: &Token, n: usize| {
        send(
            app.addr,
            "POST",
            "/api/upload",
            &[
                ("X-CSRF-Token", &t.token),
                ("Cookie", &t.cookie),
                ("Authorization", &auth),
            ],
            &vec![0u8; n],
        )
    };
    assert_eq!(upload(&t, 1 << 20).status, 200);
    assert_eq!(upload(&csrf_token(&app), (1 << 20) + 1).status, 413);
}

#[test]
fn webhooks_valid_tampered_stale_and_replayed() {
    let key: Vec<u8> = (0u8..32)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let clerk_secret = format!("{}{}", standard::SECRET_PREFIX, b64std(&key));
    let stripe_secret = format!("{}{}", "whsec_", "fixture0123456789abcdefghijklmn");
    let (_dir, log) = log_dir();
    let app = App::start(&[
        ("RAMPART_EVENTS", log.to_str().unwrap()),
        ("CLERK_WEBHOOK_SECRET", &clerk_secret),
        ("STRIPE_WEBHOOK_SECRET", &stripe_secret),
    ]);
    let body = br#"{"type":"user.created","data":{"id":"user_1"}}"#;
    let deliver = |id: &str, ts: u64, body: &[u8], sig: &str| {
        let ts = ts.to_string();
        send(
            app.addr,
            "POST",
            "/api/webhooks/clerk",
            &[
                ("svix-id", id),
                ("svix-timestamp", &ts),
                ("svix-signature", sig),
            ],
            body,
        )
    };
    let t = now() as i64;
    let sig = standard::sign(&key, "msg_1", t, body);
    let r = deliver("msg_1", t as u64, body, &sig);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(json_of(&r)["type"], "user.created");
    let r = deliver("msg_1", t as u64, body, &sig);
    assert_eq!(r.status, 409);
    assert_eq!(json_of(&r), json!({"error": "Webhook already processed"}));
    let tampered = br#"{"type":"user.created","data":{"id":"user_2"}}"#;
    assert_eq!(
        deliver(
            "msg_2",
            t as u64,
            tampered,
            &standard::sign(&key, "msg_2", t, body)
        )
        .status,
        401
    );
    let old = t - 400;
    assert_eq!(
        deliver(
            "msg_3",
            old as u64,
            body,
            &standard::sign(&key, "msg_3", old, body)
        )
        .status,
        401
    );
    // No CSRF on webhooks: a signed delivery passes without any token.

    let stripe_body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
    let stripe_sig = stripe::sign(stripe_secret.as_bytes(), t, stripe_body);
    let post_stripe = |sig: &str| {
        send(
            app.addr,
            "POST",
            "/api/webhooks/stripe",
            &[("Stripe-Signature", sig)],
            stripe_body,
        )
    };
    assert_eq!(post_stripe(&stripe_sig).status, 200);
    assert_eq!(post_stripe(&stripe_sig).status, 409);
    let stale = stripe::sign(stripe_secret.as_bytes(), t - 400, stripe_body);
    assert_eq!(post_stripe(&stale).status, 401);

    assert_eq!(
        kinds(&log),
        [
            "replay_detected",
            "webhook_signature_invalid",
            "webhook_signature_invalid",
            "replay_detected",
            "webhook_signature_invalid"
        ]
    );
    let ev = events(&log);
    assert_eq!(ev[0]["status"], 409);
    assert_eq!(ev[2]["metadata"]["reason"], "stale_timestamp");
}

fn b64std(bytes: &[u8]) -> String {
    let mut s = b64url(bytes).replace('-', "+").replace('_', "/");
    while s.len() % 4 != 0 {
        s.push('=');
    }
    s
}

#[test]
fn security_headers_everywhere_and_hsts_and_hidden_errors_in_production() {
    let dev = App::start(&[]);
    for path in ["/health", "/api/public/items", "/nowhere"] {
        let r = dev.get(path, &[]);
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{path}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
        assert_eq!(
            r.header("referrer-policy"),
            Some("strict-origin-when-cross-origin")
        );
        assert_eq!(r.header("cross-origin-opener-policy"), Some("same-origin"));
        assert_eq!(
            r.header("cross-origin-resource-policy"),
            Some("same-origin")
        );
        assert!(r.header("permissions-policy").is_some());
        assert!(
            r.header("content-security-policy")
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert!(r.header("strict-transport-security").is_none());
    }
    let prod = App::start(&[("RAMPART_ENV", "production")]);
    let r = prod.get("/health", &[]);
    assert_eq!(
        r.header("strict-transport-security"),
        Some("max-age=63072000; includeSubDomains")
    );
    // The webhook route without a secret fails closed, and production shows no detail.
    let r = send(prod.addr, "POST", "/api/webhooks/clerk", &[], b"{}");
    assert_eq!(r.status, 500);
    assert_eq!(json_of(&r), json!({"error": "Internal server error"}));
    let t = csrf_token(&prod);
    assert!(
        prod.get("/api/csrf", &[])
            .header("set-cookie")
            .unwrap()
            .contains("Secure"),
        "{}",
        t.cookie
    );
}

#[test]
fn startup_validation_exits_2_naming_what_is_wrong() {
    let f = App::fail(&[("CSRF_SECRET", ""), ("SESSION_SECRET", "short")]);
    assert_eq!(f.code, 2);
    assert!(f.stderr.contains("CSRF_SECRET is not set"), "{}", f.stderr);
    assert!(
        f.stderr.contains("SESSION_SECRET is 5 characters"),
        "{}",
        f.stderr
    );
    assert_eq!(f.stderr.lines().count(), 1, "{}", f.stderr);

    let f = App::fail(&[("CLERK_WEBHOOK_SECRET", "whsec_%%%")]);
    assert_eq!(f.code, 2);
    assert!(f.stderr.contains("CLERK_WEBHOOK_SECRET"), "{}", f.stderr);
    let f = App::fail(&[("RAMPART_JWT_PUBLIC_KEY", "/nonexistent/key.pem")]);
    assert_eq!(f.code, 2);
    assert!(f.stderr.contains("RAMPART_JWT_PUBLIC_KEY"), "{}", f.stderr);
    let f = App::fail(&[("RAMPART_ENV", "staging")]);
    assert_eq!(f.code, 2);
    assert!(f.stderr.contains("RAMPART_ENV"), "{}", f.stderr);
}

/// With the limiter in Redis, a policy route waits for the store before its other controls:
/// the refusals and the admitted request all carry the route's rate-limit fields.
#[test]
fn policy_routes_behind_a_redis_limiter() {
    let redis = crate::harness::Redis::start();
    let jwt = Jwt::new();
    let app = App::start(&[
        ("RAMPART_REDIS_URL", &redis.url()),
        ("RAMPART_JWT_PUBLIC_KEY", &jwt.public_key()),
    ]);
    let body =
        json!({"name": "Ada", "email": "ada@example.com", "subject": "Hi", "message": "Hello"});
    let refused = post_json(&app, "/api/contact", None, &[], &body);
    assert_eq!(refused.status, 403, "{refused:?}");
    let t = csrf_token(&app);
    let ok = post_json(&app, "/api/contact", Some(&t), &[], &body);
    assert_eq!(ok.status, 200, "{ok:?}");
    let replayed = post_json(&app, "/api/contact", Some(&t), &[], &body);
    assert_eq!(replayed.status, 403, "{replayed:?}");
    for r in [&refused, &ok, &replayed] {
        assert_eq!(
            r.header("ratelimit-policy"),
            Some("\"/api/contact\";q=60;w=60"),
            "{r:?}"
        );
    }
    let remaining: Vec<_> = [&refused, &ok, &replayed]
        .iter()
        .map(|r| r.header("ratelimit").unwrap().to_string())
        .collect();
    assert!(remaining[0].contains("r=59"), "{remaining:?}");
    assert!(remaining[2].contains("r=57"), "{remaining:?}");
    // A protected read without a token: the limiter, then authentication, refuses with 401.
    let me = app.get("/api/me", &[]);
    assert_eq!(me.status, 401, "{me:?}");
    assert!(me.header("ratelimit").is_some(), "{me:?}");
}
