//! HTTP throughput of an axum handler behind the full `protected-mutation` stack against the
//! same handler bare, measured with wrk on 127.0.0.1 in the same run.
//!
//! `cargo bench --bench protect_http` (needs `wrk` and `openssl`); the built binary takes
//! `--bench` for the same run, `--in-process` for the table without sockets, `--serve` to
//! keep the servers up for a profiler. Without any of them (as `cargo test` runs it) it only
//! checks that every route answers a few requests. The server runs on one
//! tokio thread pinned to CPU 0, wrk on CPU 1 (`taskset`); rounds alternate bare and
//! protected. The protected route runs client IP → rate limit → CSRF (single-use tokens: each
//! request carries a fresh one from a pre-issued pool) → RS256 JWT → body limit and JSON
//! validation, inside events, security headers and safe errors, as in `secure_app`. Both
//! routes get the same request (headers and body), so wrk's cost is the same for both.
//!
//! `/bare-json` is the fair baseline: the same handler without Rampart still parses and
//! validates its JSON body (axum's `Json` extractor, the same field checks).
//!
//! First, without sockets, each route is called in-process to split the stack's cost:
//! `/bare` (handler alone), `/bare-json` (handler parsing its body), `/shell` (plus client IP, safe errors, headers, events),
//! `/validated` (plus body limit and JSON validation), `/csrf`, `/csrf-auth`, `/layered` (the
//! `/policy` controls as plain tower layers, without `policy()`), `/protected`
//! (the whole `protected-mutation` policy, rate limit included). Over wrk, `/policy` is the
//! route-level stack alone (client IP and the policy, without the app-wide layers), and
//! `/layered` the same controls as separate layers. `--serve` re-issues the token pool
//! whenever its file is deleted, so that an outside script can run wrk again and again.

use std::io::Write;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::process::{Command, Stdio};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Extension};
use axum::routing::post;
use axum::{Json, Router};
use rampart_core::config::Environment;
use rampart_core::units::Quota;
use rampart_core::{Clock, RouteKind, SystemClock};
use rampart_layers::auth::Authenticator;
use rampart_layers::client_ip::{ClientIpLayer, TrustedProxies};
use rampart_layers::csrf::{Csrf, CsrfConfig};
use rampart_layers::errors::SafeErrorsLayer;
use rampart_layers::events::{EventsLayer, NullSink};
use rampart_layers::headers::SecurityHeaders;
use rampart_layers::limits::{FieldErrors, Valid, Validate};
use rampart_layers::policy::{PolicyConfig, policy};
use rampart_layers::rate_limit::{KeyBy, RateLimitLayer, RateLimiter};
use serde_json::{Value, json};

/// Rounds of wrk runs (the routes take turns in each); short runs, many rounds: the machine
/// this was tuned on changes speed every few seconds, and pairing within a round absorbs that.
const ROUNDS: usize = 8;
const SECONDS: u64 = 2;
const CONNECTIONS: usize = 32;
/// Fresh single-use CSRF tokens issued before each protected round: more than wrk can send in
/// one run on an idle machine (about 100,000 requests/s), or the last token is replayed and
/// cheap 403s inflate the figures.
const TOKENS: usize = 500_000;
const SESSION: &str = "benchsession0123456789abcdefghijkl";
const BODY: &str = r#"{"name":"a pen"}"#;

#[derive(Debug, Clone, serde::Deserialize)]
struct NewItem {
    name: String,
}

impl Validate for NewItem {
    fn validate(&self, v: &mut FieldErrors) {
        v.length("name", &self.name, 1, 200);
    }
}

async fn bare(_body: axum::body::Bytes) -> Json<Value> {
    Json(json!({"success": true}))
}

/// The fair baseline for a protected mutation: what its handler does without Rampart (parse
/// the JSON body into the type and validate it), and nothing more.
async fn bare_json(Json(item): Json<NewItem>) -> Result<Json<Value>, axum::http::StatusCode> {
    let mut errors = FieldErrors::new();
    item.validate(&mut errors);
    if !errors.is_empty() {
        return Err(axum::http::StatusCode::BAD_REQUEST);
    }
    Ok(Json(json!({"success": !item.name.is_empty()})))
}

async fn protected(Extension(Valid(item)): Extension<Valid<NewItem>>) -> Json<Value> {
    Json(json!({"success": !item.name.is_empty()}))
}

fn openssl(dir: &std::path::Path, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("openssl not found");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl {args:?} failed");
    out.stdout
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

/// A fresh RSA key pair (made at run time) and a token signed by it.
fn jwt(dir: &std::path::Path) -> (Vec<u8>, String) {
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "k.pem",
        ],
        b"",
    );
    let public = openssl(dir, &["pkey", "-in", "k.pem", "-pubout"], b"");
    let exp = SystemClock::new().now_nanos() / 1_000_000_000 + 3600;
    let input = format!(
        "{}.{}",
        b64url(br#"{"alg":"RS256","typ":"JWT"}"#),
        b64url(
            json!({"sub": "user_bench", "exp": exp})
                .to_string()
                .as_bytes()
        )
    );
    let sig = openssl(
        dir,
        &["dgst", "-sha256", "-sign", "k.pem"],
        input.as_bytes(),
    );
    (public, format!("{input}.{}", b64url(&sig)))
}

/// Every route, each served as its own app with one router, so that each pays for path
/// routing once (an earlier version nested the stacks behind a second router's fallback,
/// which charged the protected routes for two routings and the baselines for one).
const ROUTES: [&str; 9] = [
    "/layered",
    "/bare",
    "/bare-json",
    "/shell",
    "/validated",
    "/csrf",
    "/csrf-auth",
    "/policy",
    "/protected",
];

/// A router with one route, its handler's route built once (`with_state`), as `serve` does.
fn routed(path: &str, route: axum::routing::MethodRouter) -> Router {
    Router::new().route(path, route).with_state(())
}

/// The app `route` names, bound to `$app` for `$body` (each app has its own concrete type).
/// The app-wide layers wrap the router once, as in `secure_app`.
macro_rules! with_app {
    ($route:expr, $csrf:expr, $auth:expr, |$app:ident| $body:expr) => {{
        let (csrf, auth): (&Csrf, &Authenticator) = (&$csrf, &$auth);
        let limiter = RateLimiter::memory("/protected", Quota::per_minute(NonZeroU32::MAX));
        let cfg = PolicyConfig::new()
            .csrf(csrf.clone())
            .auth(auth.clone())
            .rate_limit(RateLimitLayer::new(limiter, KeyBy::client_ip()))
            .json::<NewItem>();
        let env = Environment::Production;
        let body_only = PolicyConfig::new().json::<NewItem>();
        let validated = || {
            post(protected)
                .layer::<_, std::convert::Infallible>(policy(RouteKind::PublicRead, &body_only))
        };
        let client_ip = || {
            ClientIpLayer::new(TrustedProxies::none())
                .peer_from(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()))
        };
        let app_wide = tower::ServiceBuilder::new()
            .layer(EventsLayer::new(Arc::new(NullSink)))
            .layer(SecurityHeaders::new(env).layer())
            .layer(SafeErrorsLayer::new(env))
            .layer(client_ip());
        match $route {
            "/bare" => {
                let $app = routed("/bare", post(bare));
                $body
            }
            "/bare-json" => {
                let $app = routed("/bare-json", post(bare_json));
                $body
            }
            "/shell" => {
                let $app = app_wide.service(routed("/shell", post(bare)));
                $body
            }
            "/validated" => {
                let $app = app_wide.service(routed("/validated", validated()));
                $body
            }
            "/csrf" => {
                let route = validated().layer::<_, std::convert::Infallible>(csrf.layer());
                let $app = app_wide.service(routed("/csrf", route));
                $body
            }
            "/csrf-auth" => {
                let route = validated()
                    .layer::<_, std::convert::Infallible>(auth.layer())
                    .layer::<_, std::convert::Infallible>(csrf.layer());
                let $app = app_wide.service(routed("/csrf-auth", route));
                $body
            }
            // The route-level stack alone: client IP (the limiter's key) and the policy,
            // without the app-wide headers, safe errors and events.
            "/policy" => {
                let route = post(protected).layer(policy(RouteKind::ProtectedMutation, &cfg));
                let $app = tower::ServiceBuilder::new()
                    .layer(client_ip())
                    .service(routed("/policy", route));
                $body
            }
            // `/policy`'s controls stacked by hand as separate tower layers: what running them
            // in `policy()`'s one service saves.
            "/layered" => {
                let limiter = RateLimiter::memory("/protected", Quota::per_minute(NonZeroU32::MAX));
                let route = post(protected).layer(
                    tower::ServiceBuilder::new()
                        .layer(RateLimitLayer::new(limiter, KeyBy::client_ip()))
                        .layer(csrf.layer())
                        .layer(auth.layer())
                        .layer(
                            rampart_layers::limits::BodyLimitLayer::new(1 << 20)
                                .validate(rampart_layers::limits::JsonValidator::new::<NewItem>()),
                        ),
                );
                let $app = tower::ServiceBuilder::new()
                    .layer(client_ip())
                    .service(routed("/layered", route));
                $body
            }
            "/protected" => {
                let route = post(protected).layer(policy(RouteKind::ProtectedMutation, &cfg));
                let $app = app_wide.service(routed("/protected", route));
                $body
            }
            other => panic!("unknown route {other}"),
        }
    }};
}

/// Serves `app` on a new port of `rt` (with the peer address, as `secure_app` does).
fn serve<S>(rt: &tokio::runtime::Runtime, app: S) -> SocketAddr
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
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    addr
}

/// This process's CPU time so far, in seconds (user + system, from /proc; 10 ms ticks).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs wrk against `path`: requests/s, non-2xx count, server CPU microseconds per request.
fn wrk(addr: SocketAddr, path: &str, script: &std::path::Path) -> (f64, u64, f64) {
    let cpu = cpu_seconds();
    let out = Command::new("taskset")
        .args(["-c", "1", "wrk", "-t1"])
        .arg(format!("-c{CONNECTIONS}"))
        .arg(format!("-d{SECONDS}s"))
        .arg("-s")
        .arg(script)
        .arg(format!("http://{addr}{path}"))
        .output()
        .expect("wrk not found");
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk output:\n{text}"));
    let non2xx = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let total = rps * SECONDS as f64;
    (rps, non2xx, (cpu_seconds() - cpu) * 1e6 / total)
}

/// Calls `app` once per request, in order. Not inlined, so that
/// `valgrind --tool=callgrind --toggle-collect='*drive*'` counts the requests alone.
#[inline(never)]
fn drive<S>(rt: &tokio::runtime::Runtime, app: &S, reqs: Vec<axum::http::Request<axum::body::Body>>)
where
    S: tower::Service<
            axum::http::Request<axum::body::Body>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone,
{
    use tower::ServiceExt;
    rt.block_on(async {
        for r in reqs {
            let res = app.clone().oneshot(r).await.unwrap();
            assert!(res.status().is_success(), "{}", res.status());
        }
    });
}

/// The stack's own cost, without sockets: `app` (serving `path`) called in-process `n` times;
/// returns nanoseconds per request.
fn in_process<S>(
    app: S,
    path: &str,
    jwt: &str,
    csrf: &Csrf,
    headers: &axum::http::HeaderMap,
    n: usize,
) -> f64
where
    S: tower::Service<
            axum::http::Request<axum::body::Body>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Clone,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let peer = ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000)));
    let req = |token: &str| {
        let mut r = axum::http::Request::post(path)
            .header("content-type", "application/json")
            .header("cookie", format!("rampart_session={SESSION}"))
            .header("authorization", format!("Bearer {jwt}"))
            .header("x-csrf-token", token)
            .body(axum::body::Body::from(BODY))
            .unwrap();
        r.extensions_mut().insert(peer);
        r
    };
    let clock = SystemClock::new();
    // Fresh single-use tokens for every route.
    let reqs: Vec<_> = (0..n)
        .map(|_| req(&csrf.issue(headers).unwrap().token))
        .collect();
    let start = clock.now_nanos();
    drive(&rt, &app, reqs);
    (clock.now_nanos() - start) as f64 / n as f64
}

/// One protected request must pass before anything is measured.
fn check(addr: SocketAddr, jwt: &str, csrf: &Csrf, headers: &axum::http::HeaderMap) {
    let path = "/protected";
    use std::io::Read;
    let t = csrf.issue(headers).unwrap().token;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nCookie: rampart_session={SESSION}\r\nAuthorization: Bearer {jwt}\r\nX-CSRF-Token: {t}\r\nContent-Length: {}\r\n\r\n{BODY}",
        BODY.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.starts_with("HTTP/1.1 200"),
        "the protected route refused the bench request:\n{out}"
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo bench` passes `--bench`; `cargo test` runs this target without it. Then it only
    // checks that every route's stack answers a few requests in process: no wrk, no timing.
    let smoke = !args
        .iter()
        .any(|a| a == "--bench" || a == "--serve" || a == "--in-process");
    // Pin this process (the server) to CPU 0; wrk runs on CPU 1.
    let pid = std::process::id().to_string();
    let _ = Command::new("taskset")
        .args(["-a", "-p", "-c", "0", &pid])
        .output();

    let dir = std::env::temp_dir().join(format!("rampart-bench-{pid}"));
    std::fs::create_dir_all(&dir).unwrap();
    let (public, token) = jwt(&dir);
    let csrf = Csrf::new(CsrfConfig::new("bench-csrf-secret-0123456789abcdefghijkl")).unwrap();
    let auth = Authenticator::from_pem(&public).unwrap();

    let mut headers = axum::http::HeaderMap::new();
    headers.insert(
        axum::http::header::COOKIE,
        format!("rampart_session={SESSION}").parse().unwrap(),
    );
    let tokens_path = dir.join("tokens.txt");
    // Written aside, then renamed: whoever waits for the file never reads half a pool.
    let issue_tokens = |csrf: &Csrf| {
        let part = tokens_path.with_extension("part");
        let mut f = std::io::BufWriter::new(std::fs::File::create(&part).unwrap());
        for _ in 0..TOKENS {
            writeln!(f, "{}", csrf.issue(&headers).unwrap().token).unwrap();
        }
        f.into_inner().unwrap().sync_all().unwrap();
        std::fs::rename(&part, &tokens_path).unwrap();
    };
    if !smoke {
        issue_tokens(&csrf);
    }
    let script = dir.join("bench.lua");
    std::fs::write(
        &script,
        format!(
            r#"
-- Requests are built once, at start-up, so that wrk spends its time sending them.
local reqs = {{}}
local i = 0
init = function(args)
  for line in io.lines("{tokens}") do
    reqs[#reqs + 1] = wrk.format("POST", nil, {{
      ["Content-Type"] = "application/json",
      ["Cookie"] = "rampart_session={SESSION}",
      ["Authorization"] = "Bearer {token}",
      ["X-CSRF-Token"] = line,
    }}, '{BODY}')
  end
end
request = function()
  i = i + 1
  return reqs[i] or reqs[#reqs]
end
"#,
            tokens = tokens_path.display()
        ),
    )
    .unwrap();

    // In-process, no sockets: what each part of the stack costs per request.
    println!("| in-process route (no sockets) | µs/request |");
    println!("|---|---|");
    // `--in-process` stops after this table; `--requests=N` and `--route=/x` (repeatable)
    // narrow it, e.g. for a run under callgrind. `--serve` serves the routes over sockets
    // until killed instead of running wrk.
    let n = args
        .iter()
        .find_map(|a| a.strip_prefix("--requests="))
        .map_or(if smoke { 20 } else { 100_000 }, |v| {
            v.parse().expect("--requests=N")
        });
    let named: Vec<&str> = args
        .iter()
        .filter_map(|a| a.strip_prefix("--route="))
        .collect();
    for route in ROUTES {
        if !named.is_empty() && !named.contains(&route) {
            continue;
        }
        let ns = with_app!(route, csrf, auth, |app| in_process(
            app, route, &token, &csrf, &headers, n
        ));
        println!("| {route} | {:.2} |", ns / 1e3);
    }
    if smoke || args.iter().any(|a| a == "--in-process") {
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }

    // Over sockets: each route's app on its own port, all on one tokio thread.
    let routes = ["/bare", "/bare-json", "/policy", "/protected", "/layered"];
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let addrs: Vec<SocketAddr> = routes
        .iter()
        .map(|&route| with_app!(route, csrf, auth, |app| serve(&rt, app)))
        .collect();
    std::thread::spawn(move || rt.block_on(std::future::pending::<()>()));
    std::thread::sleep(std::time::Duration::from_millis(200));
    check(addrs[3], &token, &csrf, &headers);
    // `--serve`: keep serving, for a profiler attached to this process; prints where.
    if args.iter().any(|a| a == "--serve") {
        issue_tokens(&csrf);
        for (route, addr) in routes.iter().zip(&addrs) {
            println!("serving {route} on http://{addr}{route}");
        }
        println!("wrk script (fresh tokens): {}", script.display());
        println!("delete {} for a fresh pool", tokens_path.display());
        loop {
            if !tokens_path.exists() {
                issue_tokens(&csrf);
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    let mut results: Vec<Vec<(f64, f64)>> = vec![Vec::new(); routes.len()];
    for round in 1..=ROUNDS {
        let mut line = format!("round {round}:");
        for (i, route) in routes.iter().enumerate() {
            // Tokens are single-use: every run gets a freshly issued pool.
            issue_tokens(&csrf);
            let (rps, bad, cpu) = wrk(addrs[i], route, &script);
            line.push_str(&format!(
                " {route} {rps:.0} req/s ({bad} non-2xx, {cpu:.1} µs CPU/req);"
            ));
            results[i].push((rps, cpu));
        }
        println!("{line}");
    }
    let median = |mut x: Vec<f64>| {
        x.sort_by(|a, b| a.total_cmp(b));
        x[x.len() / 2]
    };
    let best = |x: &[(f64, f64)]| x.iter().map(|r| r.0).fold(0.0, f64::max);
    let fair_best = best(&results[1]);
    println!(
        "| route | requests/s (median of {ROUNDS}) | server CPU/request (median) | ratio to /bare-json, paired per round (median) | best round / /bare-json's best round |"
    );
    println!("|---|---|---|---|---|");
    for (route, r) in routes.iter().zip(&results) {
        let rps = median(r.iter().map(|r| r.0).collect());
        let cpu = median(r.iter().map(|r| r.1).collect());
        let paired = median(r.iter().zip(&results[1]).map(|(a, b)| a.0 / b.0).collect());
        println!(
            "| {route} | {rps:.0} | {cpu:.1} µs | {paired:.2} | {:.2} |",
            best(r) / fair_best
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
