//! Starts the real `secure_app` example on a free port, speaks plain HTTP/1.1 to it, and
//! starts real `redis-server` instances.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// The example binary, built once if `cargo test` did not build it already.
fn example_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        // target/<profile>/deps/secure_app-<hash> → target/<profile>/examples/secure_app
        let profile_dir = exe.parent().unwrap().parent().unwrap();
        let bin = profile_dir.join("examples").join("secure_app");
        let status = Command::new(env!("CARGO"))
            .args(["build", "--example", "secure_app"])
            .args(if profile_dir.ends_with("release") {
                vec!["--release"]
            } else {
                vec![]
            })
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "building the example failed");
        bin
    })
    .clone()
}

/// A running app; killed on drop.
pub struct App {
    child: Child,
    pub addr: SocketAddr,
}

/// What a startup that failed printed and returned.
pub struct Failed {
    pub code: i32,
    pub stderr: String,
}

fn command(env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(example_bin());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RAMPART_") {
            cmd.env_remove(k);
        }
    }
    // The app refuses to start without its two required secrets; tests that check that
    // pass them empty.
    cmd.env("CSRF_SECRET", "test-csrf-secret-0123456789abcdefghijkl")
        .env("SESSION_SECRET", "test-session-secret-0123456789abcdefghij");
    cmd.envs(env.iter().copied());
    cmd
}

impl App {
    /// Starts the app on a free port with `env`.
    pub fn start(env: &[(&str, &str)]) -> App {
        let mut child = command(env)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .rsplit("http://")
            .next()
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        App { child, addr }
    }

    /// Runs the app expecting it to refuse to start.
    pub fn fail(env: &[(&str, &str)]) -> Failed {
        let out = command(env)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .output()
            .unwrap();
        Failed {
            code: out.status.code().unwrap_or(-1),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `GET path` with extra headers.
    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        request(self.addr, "GET", path, headers)
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status, headers (lowercase names), body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    send(addr, method, path, headers, b"")
}

/// One HTTP/1.1 request with a body on a fresh connection.
pub fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer 413 and close before reading a large body.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_string(),
    }
}

// The same real `redis-server` harness the limiter's own tests use.
pub use crate::redis_server::{RedisServer as Redis, free_port};
