use super::*;
use crate::events::{EventsLayer, MemorySink};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use proptest::prelude::*;
use rampart_core::ManualClock;
use std::convert::Infallible;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use tower::{ServiceBuilder, ServiceExt, service_fn};

const NOW: u64 = 1_700_000_000;

/// Keys generated at test time with the openssl CLI; never committed.
struct Keys {
    dir: PathBuf,
}

impl Keys {
    fn get() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("rampart-auth-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let run = |args: &[&str]| {
                let ok = Command::new("openssl")
                    .args(args)
                    .current_dir(&dir)
                    .output()
                    .unwrap();
                assert!(
                    ok.status.success(),
                    "{}",
                    String::from_utf8_lossy(&ok.stderr)
                );
            };
            for name in ["rsa", "rsa2"] {
                run(&[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                    "-out",
                    &format!("{name}.key"),
                ]);
                run(&[
                    "pkey",
                    "-in",
                    &format!("{name}.key"),
                    "-pubout",
                    "-out",
                    &format!("{name}.pub"),
                ]);
            }
            run(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                "ec.key",
            ]);
            run(&["pkey", "-in", "ec.key", "-pubout", "-out", "ec.pub"]);
            Keys { dir }
        })
    }

    fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join(name)).unwrap()
    }

    /// The RSA public key as a JWK (n, e) with `kid`.
    fn jwk(&self, name: &str, kid: &str) -> serde_json::Value {
        use base64::Engine;
        let out = Command::new("openssl")
            .args([
                "rsa",
                "-pubin",
                "-in",
                &format!("{name}.pub"),
                "-noout",
                "-modulus",
            ])
            .current_dir(&self.dir)
            .output()
            .unwrap();
        let hex = String::from_utf8(out.stdout).unwrap();
        let hex = hex.trim().trim_start_matches("Modulus=");
        let n: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        serde_json::json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(n), "e": "AQAB"
        })
    }
}

fn token(alg: Algorithm, key_file: &str, kid: Option<&str>, claims: serde_json::Value) -> String {
    let pem = Keys::get().read(key_file);
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(&pem).unwrap(),
        _ => EncodingKey::from_rsa_pem(&pem).unwrap(),
    };
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    encode(&header, &claims, &key).unwrap()
}

fn claims(exp: u64) -> serde_json::Value {
    serde_json::json!({"sub": "user_2abc", "exp": exp, "iss": "https://clerk.example.com", "azp": "https://app.example.com"})
}

fn auth(pub_file: &str) -> Authenticator {
    Authenticator::from_pem(&Keys::get().read(pub_file))
        .unwrap()
        .clock(Arc::new(ManualClock::new(NOW * 1_000_000_000)))
}

async fn call(
    a: &Authenticator,
    bearer: Option<&str>,
) -> (StatusCode, Option<String>, Vec<rampart_core::SecurityEvent>) {
    let sink = MemorySink::new();
    let svc = ServiceBuilder::new()
        .layer(EventsLayer::new(Arc::new(sink.clone())))
        .layer(a.layer())
        .service(service_fn(|req: Request<()>| async move {
            let sub = req
                .extensions()
                .get::<Claims>()
                .and_then(|c| c.sub().map(str::to_string));
            Ok::<_, Infallible>(Response::new(Bytes::from(sub.unwrap_or_default())))
        }));
    let mut req = Request::get("/api/me");
    if let Some(t) = bearer {
        req = req.header(AUTHORIZATION, format!("Bearer {t}"));
    }
    let res = svc.oneshot(req.body(()).unwrap()).await.unwrap();
    let status = res.status();
    let reason = res.extensions().get::<Refusal>().and_then(|r| {
        r.event
            .metadata
            .get("reason")
            .and_then(|v| v.as_str().map(str::to_string))
    });
    (status, reason, sink.take())
}

#[tokio::test]
async fn valid_token_reaches_the_handler_with_claims() {
    let a = auth("rsa.pub")
        .issuer("https://clerk.example.com")
        .authorized_party("https://app.example.com");
    let t = token(Algorithm::RS256, "rsa.key", None, claims(NOW + 60));
    let (status, reason, events) = call(&a, Some(&t)).await;
    assert_eq!((status, reason), (StatusCode::OK, None));
    assert!(events.is_empty());
}

#[tokio::test]
async fn refusals_are_401_with_one_event_and_a_reason() {
    let a = auth("rsa.pub");
    let cases = [
        (None, "missing_token"),
        (
            Some(token(Algorithm::RS256, "rsa.key", None, claims(NOW - 31))),
            "expired",
        ),
        (
            Some(token(Algorithm::RS256, "rsa2.key", None, claims(NOW + 60))),
            "bad_signature",
        ),
        (Some("not.a.jwt".to_string()), "malformed_token"),
        (Some(alg_none(claims(NOW + 60))), "alg_none"),
        (
            Some(hs256_with_public_key("rsa.pub", claims(NOW + 60))),
            "algorithm_not_allowed",
        ),
        (
            Some(token(
                Algorithm::RS256,
                "rsa.key",
                None,
                serde_json::json!({"sub": "u"}),
            )),
            "missing_exp",
        ),
    ];
    for (t, want) in cases {
        let (status, reason, events) = call(&a, t.as_deref()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{want}");
        assert_eq!(reason.as_deref(), Some(want));
        assert_eq!(events.len(), 1, "{want}");
        assert_eq!(events[0].kind, EventKind::JwtValidationFailed);
    }
}

#[tokio::test]
async fn leeway_issuer_audience_party() {
    let a = auth("rsa.pub");
    let t = token(Algorithm::RS256, "rsa.key", None, claims(NOW - 29));
    assert_eq!(
        call(&a, Some(&t)).await.0,
        StatusCode::OK,
        "inside the 30 s leeway"
    );
    let nbf = serde_json::json!({"sub": "u", "exp": NOW + 600, "nbf": NOW + 120});
    let t = token(Algorithm::RS256, "rsa.key", None, nbf);
    assert_eq!(call(&a, Some(&t)).await.1.as_deref(), Some("not_yet_valid"));

    let t = token(Algorithm::RS256, "rsa.key", None, claims(NOW + 60));
    let wrong_iss = auth("rsa.pub").issuer("https://other.example.com");
    assert_eq!(
        call(&wrong_iss, Some(&t)).await.1.as_deref(),
        Some("wrong_issuer")
    );
    let aud = auth("rsa.pub").audience("api");
    assert_eq!(
        call(&aud, Some(&t)).await.1.as_deref(),
        Some("wrong_audience")
    );
    let party = auth("rsa.pub").authorized_party("https://evil.example");
    assert_eq!(
        call(&party, Some(&t)).await.1.as_deref(),
        Some("unauthorized_party")
    );
}

#[tokio::test]
async fn cached_tokens_are_not_shared_with_stricter_clones_and_still_expire() {
    let clock = ManualClock::new(NOW * 1_000_000_000);
    let loose = Authenticator::from_pem(&Keys::get().read("rsa.pub"))
        .unwrap()
        .clock(Arc::new(clock.clone()));
    let t = token(Algorithm::RS256, "rsa.key", None, claims(NOW + 60));
    assert_eq!(call(&loose, Some(&t)).await.0, StatusCode::OK);
    // The second time it comes from the verified-token cache.
    assert_eq!(call(&loose, Some(&t)).await.0, StatusCode::OK);
    // Clones given rules the token fails check them, whatever the loose one cached.
    let iss = loose.clone().issuer("https://other.example.com");
    assert_eq!(
        call(&iss, Some(&t)).await.1.as_deref(),
        Some("wrong_issuer")
    );
    let aud = loose.clone().audience("api");
    assert_eq!(
        call(&aud, Some(&t)).await.1.as_deref(),
        Some("wrong_audience")
    );
    let party = loose.clone().authorized_party("https://evil.example");
    assert_eq!(
        call(&party, Some(&t)).await.1.as_deref(),
        Some("unauthorized_party")
    );
    // Past `exp` and the leeway the cached token is refused.
    clock.advance(std::time::Duration::from_secs(60 + 31));
    assert_eq!(call(&loose, Some(&t)).await.1.as_deref(), Some("expired"));
}

#[tokio::test]
async fn es256_and_clerk_session_cookie() {
    let a = auth("ec.pub").session_cookie("__session");
    let t = token(Algorithm::ES256, "ec.key", None, claims(NOW + 60));
    assert_eq!(call(&a, Some(&t)).await.0, StatusCode::OK);
    // An RS256 token is refused by an ES256-pinned key.
    let rs = token(Algorithm::RS256, "rsa.key", None, claims(NOW + 60));
    assert_eq!(
        call(&a, Some(&rs)).await.1.as_deref(),
        Some("algorithm_not_allowed")
    );
    let headers = {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            HeaderValue::from_str(&format!("__session={t}")).unwrap(),
        );
        h
    };
    assert!(a.authenticate(&headers).await.is_ok());
}

#[tokio::test]
async fn jwks_file_follows_rotation() {
    let keys = Keys::get();
    let path = keys.dir.join("jwks.json");
    let write = |jwks: Vec<serde_json::Value>| {
        std::fs::write(&path, serde_json::json!({ "keys": jwks }).to_string()).unwrap()
    };
    write(vec![keys.jwk("rsa", "k1")]);
    let clock = Arc::new(ManualClock::new(NOW * 1_000_000_000));
    let cache = JwksCache::new(Arc::new(FileJwks(path.clone())), clock.clone())
        .min_interval(std::time::Duration::from_secs(0));
    assert_eq!(cache.refresh().await.unwrap(), 1);
    let a = Authenticator::from_jwks(cache).clock(clock);
    let t1 = token(Algorithm::RS256, "rsa.key", Some("k1"), claims(NOW + 60));
    assert_eq!(call(&a, Some(&t1)).await.0, StatusCode::OK);
    let t2 = token(Algorithm::RS256, "rsa2.key", Some("k2"), claims(NOW + 60));
    assert_eq!(
        call(&a, Some(&t2)).await.1.as_deref(),
        Some("algorithm_not_allowed")
    );
    // Rotation: the provider publishes k2; a token naming it triggers a refetch.
    write(vec![keys.jwk("rsa", "k1"), keys.jwk("rsa2", "k2")]);
    assert_eq!(call(&a, Some(&t2)).await.0, StatusCode::OK);
}

/// A JWKS served over plain HTTP on 127.0.0.1, fetched by [`UrlJwks`].
#[cfg(feature = "jwks-url")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_url_is_fetched_and_cached() {
    use std::io::{Read, Write};
    use std::sync::atomic::{AtomicUsize, Ordering};
    let keys = Keys::get();
    let doc = serde_json::json!({ "keys": [keys.jwk("rsa", "k1")] }).to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let served = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { break };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            served.fetch_add(1, Ordering::SeqCst);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{doc}",
                doc.len()
            );
        }
    });
    let clock = Arc::new(ManualClock::new(NOW * 1_000_000_000));
    let cache = JwksCache::new(
        Arc::new(UrlJwks::new(format!("http://{addr}/.well-known/jwks.json"))),
        clock.clone(),
    );
    let a = Authenticator::from_jwks(cache).clock(clock);
    let t = token(Algorithm::RS256, "rsa.key", Some("k1"), claims(NOW + 60));
    assert_eq!(call(&a, Some(&t)).await.0, StatusCode::OK);
    let t2 = token(Algorithm::RS256, "rsa.key", Some("k1"), claims(NOW + 61));
    assert_eq!(call(&a, Some(&t2)).await.0, StatusCode::OK);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the second token used the cached keys"
    );
}

#[test]
fn jwks_skips_symmetric_and_encryption_keys() {
    let doc = serde_json::json!({"keys": [
        {"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"},
    ]});
    assert!(matches!(
        parse_jwks(&doc.to_string()),
        Err(KeyError::NoKeys)
    ));
    assert!(parse_jwks("not json").is_err());
    assert!(
        VerifyKey::from_pem(b"-----BEGIN PUBLIC KEY-----\ngarbage\n-----END PUBLIC KEY-----\n")
            .is_err()
    );
}

fn b64(v: &serde_json::Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

fn alg_none(claims: serde_json::Value) -> String {
    format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
        b64(&claims)
    )
}

/// The classic confusion attack: HMAC keyed with the server's public key bytes.
fn hs256_with_public_key(pub_file: &str, claims: serde_json::Value) -> String {
    let secret = Keys::get().read(pub_file);
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(&secret),
    )
    .unwrap()
}

proptest! {
    #[test]
    fn arbitrary_tokens_never_panic(t in "\\PC{0,400}") {
        let _ = jwt::verify(&t, &[], &JwtRules::default(), NOW);
    }

    #[test]
    fn arbitrary_dotted_tokens_never_verify(a in "[A-Za-z0-9_-]{0,60}", b in "[A-Za-z0-9_-]{0,60}", c in "[A-Za-z0-9_-]{0,60}") {
        let t = format!("{a}.{b}.{c}");
        prop_assert!(jwt::verify(&t, &[], &JwtRules::default(), NOW).is_err());
    }
}
