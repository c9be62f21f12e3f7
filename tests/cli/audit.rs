use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};

use crate::harness::Rampart;

fn fixture(rel: &str) -> String {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/crates/rampart-check/tests/fixtures/audit/"
    ))
    .join(rel)
    .display()
    .to_string()
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

fn advisories(v: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "vulnerable_dependency")
        .map(|f| {
            format!(
                "{}@{} {} fixed {}",
                f["package"].as_str().unwrap(),
                f["version"].as_str().unwrap(),
                f["advisory"].as_str().unwrap(),
                f["extra"]["fixed"].as_str().unwrap_or("-")
            )
        })
        .collect();
    ids.sort();
    ids
}

#[test]
fn vulnerable_lockfiles_exit_1_with_ids_and_fixes() {
    let mut r = Rampart::new();
    let run = r.run(&[
        "audit",
        &fixture("vulnerable"),
        "--db",
        &fixture("osv"),
        "--offline",
        "--format",
        "json",
    ]);
    run.code(1);
    let v = json(&run.stdout);
    assert_eq!(v["command"], "audit");
    let ids = advisories(&v);
    for want in [
        "lodash@4.17.11 GHSA-jf85-cpcp-j695 fixed 4.17.12",
        "minimist@1.2.5 GHSA-xvch-5gv4-984h fixed 1.2.6",
        "smallvec@0.6.9 RUSTSEC-2021-0003 fixed 0.6.14",
        "time@0.2.22 RUSTSEC-2020-0071 fixed 0.2.23",
        "requests@2.19.1 GHSA-x84v-xcm2-53pg fixed 2.20.0",
    ] {
        assert!(ids.iter().any(|i| i == want), "{want} not in {ids:#?}");
    }
    let f = &v["findings"][0];
    assert!(
        f["file"].as_str().unwrap().starts_with("cargo/")
            || f["file"].as_str().unwrap().contains('/')
    );
    assert_eq!(v["summary"]["outdated"]["status"], "skipped: offline");
}

#[test]
fn clean_project_exits_0() {
    let mut r = Rampart::new();
    // A copy outside any git repository: the lockfile-committed check is then skipped.
    for f in ["package-lock.json", "Cargo.lock", "requirements.txt"] {
        std::fs::copy(fixture(&format!("clean/{f}")), r.path(f)).unwrap();
    }
    let run = r.run(&[
        "audit",
        ".",
        "--db",
        &fixture("osv"),
        "--offline",
        "--format",
        "json",
    ]);
    run.code(0);
    assert_eq!(json(&run.stdout)["summary"]["total"], 0);
}

#[test]
fn fail_on_threshold() {
    let mut r = Rampart::new();
    // time's advisory is medium: it fails only at --fail-on medium or lower.
    std::fs::write(
        r.path("Cargo.lock"),
        "version = 3\n[[package]]\nname = \"time\"\nversion = \"0.2.22\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n",
    )
    .unwrap();
    let db = fixture("osv");
    r.run(&["audit", "--db", &db, "--offline"]).code(0);
    let run = r.run(&["audit", "--db", &db, "--offline", "--fail-on", "medium"]);
    run.code(1);
    assert!(run.stdout.contains("RUSTSEC-2020-0071"), "{}", run.stdout);
}

#[test]
fn hostile_lockfile_and_missing_database_exit_2() {
    let mut r = Rampart::new();
    r.write(
        "package-lock.json",
        "{\"lockfileVersion\": 3, \"packages\": {",
    );
    let run = r.run(&["audit", "--db", &fixture("osv"), "--offline"]);
    run.code(2);
    assert!(
        run.stderr.contains("package-lock.json:1:"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    let mut r = Rampart::new();
    r.write("requirements.txt", "requests==2.19.1\n");
    let run = r.run(&["audit", "--db", "empty-db", "--offline"]);
    run.code(2);
    assert!(
        run.stderr.contains("rampart audit --update"),
        "{}",
        run.stderr
    );
    let run = r.run(&["audit", "--offline", "--update"]);
    run.code(2);
}

/// Serves `body` at `path` with an ETag, answering 304 to a matching `If-None-Match`; counts
/// requests.
fn serve(
    path: &'static str,
    body: Vec<u8>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let hits2 = hits.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            hits2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let resp = if !head.starts_with(&format!("GET {path} ")) {
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
            } else if head.to_ascii_lowercase().contains("if-none-match: \"e1\"") {
                b"HTTP/1.1 304 Not Modified\r\nETag: \"e1\"\r\nConnection: close\r\n\r\n".to_vec()
            } else {
                let mut r = format!(
                    "HTTP/1.1 200 OK\r\nETag: \"e1\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                r.extend_from_slice(&body);
                r
            };
            let _ = stream.write_all(&resp);
        }
    });
    (url, hits)
}

/// A zip (stored, no compression) of the crates.io fixture records, written by hand so the test
/// does not share the code under test.
fn stored_zip(dir: &Path) -> Vec<u8> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let mut data = Vec::new();
        std::fs::File::open(&p)
            .unwrap()
            .read_to_end(&mut data)
            .unwrap();
        files.push((p.file_name().unwrap().to_string_lossy().into_owned(), data));
    }
    let crc = |d: &[u8]| {
        let mut c = 0xffff_ffffu32;
        for &b in d {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0xedb8_8320
                } else {
                    c >> 1
                };
            }
        }
        !c
    };
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, data) in &files {
        let offset = out.len() as u32;
        let (c, n, l) = (crc(data), name.len() as u16, data.len() as u32);
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for v in [c, l, l] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&n.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&[20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        for v in [c, l, l] {
            central.extend_from_slice(&v.to_le_bytes());
        }
        central.extend_from_slice(&n.to_le_bytes());
        central.extend_from_slice(&[0; 12]);
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let (cd_offset, cd_len, count) = (out.len() as u32, central.len() as u32, files.len() as u16);
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&cd_len.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

#[test]
fn update_fetches_the_export_once_then_audits_offline() {
    let zip = stored_zip(Path::new(&fixture("osv/crates.io")));
    let (url, hits) = serve("/crates.io/all.zip", zip);
    let mut r = Rampart::new();
    r.write(
        "rampart.toml",
        &format!("[audit]\nosv_url = \"{url}\"\nnpm_registry = \"{url}\"\ncrates_index = \"{url}\"\npypi_url = \"{url}\"\n"),
    );
    std::fs::copy(fixture("vulnerable/cargo/Cargo.lock"), r.path("Cargo.lock")).unwrap();
    let run = r.run(&["audit", "--update", "--db", "db", "--format", "json"]);
    run.code(1);
    assert!(
        run.stderr.contains("crates.io advisories: downloaded"),
        "{}",
        run.stderr
    );
    let v = json(&run.stdout);
    assert!(advisories(&v).contains(&"smallvec@0.6.9 RUSTSEC-2021-0003 fixed 0.6.14".to_string()));
    // Outdated look-ups reached the local "registry" (404s: nothing to report), so checked.
    assert_eq!(
        v["summary"]["outdated"]["status"], "checked",
        "{}",
        run.stdout
    );
    let before = hits.load(std::sync::atomic::Ordering::SeqCst);
    let run = r.run(&["audit", "--update", "--db", "db", "--offline"]);
    run.code(2); // --offline and --update conflict
    let run = r.run(&["audit", "--update", "--db", "db", "--format", "json"]);
    run.code(1);
    assert!(run.stderr.contains("up to date"), "{}", run.stderr);
    assert!(hits.load(std::sync::atomic::Ordering::SeqCst) > before);
    let run = r.run(&["audit", "--db", "db", "--offline", "--format", "json"]);
    run.code(1);
    assert_eq!(advisories(&json(&run.stdout)), advisories(&v));
}

#[test]
fn unreachable_registries_are_skipped_offline() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let mut r = Rampart::new();
    r.write(
        "rampart.toml",
        &format!(
            "[audit]\nnpm_registry = \"{url}\"\ncrates_index = \"{url}\"\npypi_url = \"{url}\"\n"
        ),
    );
    std::fs::copy(
        fixture("clean/package-lock.json"),
        r.path("package-lock.json"),
    )
    .unwrap();
    let run = r.run(&["audit", "--db", &fixture("osv"), "--format", "json"]);
    run.code(0);
    let status = json(&run.stdout)["summary"]["outdated"]["status"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(status.starts_with("skipped: offline"), "{status}");
}

#[test]
fn no_lockfile_is_said_on_stderr() {
    let mut r = Rampart::new();
    let run = r.run(&[
        "audit",
        "--db",
        &fixture("osv"),
        "--offline",
        "--format",
        "json",
    ]);
    run.code(0);
    assert!(run.stderr.contains("no lockfile found"), "{}", run.stderr);
    assert_eq!(json(&run.stdout)["summary"]["packages"], 0);
}

#[test]
fn default_database_lives_in_the_cache_directory() {
    let mut r = Rampart::new();
    r.write("requirements.txt", "requests==2.19.1\n");
    let cache = r.path("cache");
    let osv = cache.join("rampart/osv/PyPI");
    std::fs::create_dir_all(&osv).unwrap();
    std::fs::copy(
        fixture("osv/PyPI/PYSEC-2018-28.json"),
        osv.join("PYSEC-2018-28.json"),
    )
    .unwrap();
    r.env("XDG_CACHE_HOME", cache.to_str().unwrap());
    let run = r.run(&["audit", "--offline", "--format", "json"]);
    run.code(1);
    assert!(run.stdout.contains("PYSEC-2018-28"), "{}", run.stdout);
}
