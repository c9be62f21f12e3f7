use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use super::*;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/audit/"
    ))
    .join(rel)
}

fn run(project: &str) -> Report {
    let mut o = Options::offline(&fixture(project), &fixture("osv"));
    o.git = false;
    audit(&o).unwrap()
}

/// (package, version, advisory, fixed, severity) of each vulnerability finding.
fn vulns(r: &Report) -> Vec<(String, String, String, Option<String>, Severity)> {
    r.findings
        .iter()
        .filter(|f| f.rule == "vulnerable_dependency")
        .map(|f| {
            (
                f.package.clone().unwrap(),
                f.version.clone().unwrap(),
                f.advisory.clone().unwrap(),
                f.extra
                    .get("fixed")
                    .and_then(|v| v.as_str())
                    .map(str::to_string),
                f.severity,
            )
        })
        .collect()
}

fn v(
    p: &str,
    ver: &str,
    id: &str,
    fixed: Option<&str>,
    s: Severity,
) -> (String, String, String, Option<String>, Severity) {
    (p.into(), ver.into(), id.into(), fixed.map(Into::into), s)
}

#[test]
fn npm_lodash_and_minimist() {
    let r = run("vulnerable/npm-v3");
    let mut got = vulns(&r);
    got.sort();
    assert_eq!(
        got,
        vec![
            v(
                "lodash",
                "4.17.11",
                "GHSA-jf85-cpcp-j695",
                Some("4.17.12"),
                Severity::Critical
            ),
            v(
                "minimist",
                "0.0.8",
                "GHSA-vh95-rmgr-6w4m",
                Some("0.2.1"),
                Severity::Medium
            ),
            v(
                "minimist",
                "0.0.8",
                "GHSA-xvch-5gv4-984h",
                Some("0.2.4"),
                Severity::Critical
            ),
            v(
                "minimist",
                "1.2.5",
                "GHSA-xvch-5gv4-984h",
                Some("1.2.6"),
                Severity::Critical
            ),
        ],
        "{}",
        r.to_json()
    );
    let lodash = &r
        .findings
        .iter()
        .find(|f| f.package.as_deref() == Some("lodash"))
        .unwrap();
    assert_eq!(lodash.file.as_deref(), Some("package-lock.json"));
    assert_eq!(
        lodash.extra["aliases"],
        serde_json::json!(["CVE-2019-10744"])
    );
    assert!(
        lodash.message.contains("Prototype Pollution"),
        "{}",
        lodash.message
    );
    assert_eq!(r.summary["vulnerable_packages"], 3);
    assert_eq!(r.summary["outdated"]["status"], "skipped: offline");
}

#[test]
fn every_npm_format_finds_lodash() {
    for project in [
        "npm-v1",
        "yarn-classic",
        "yarn-berry",
        "pnpm-v5",
        "pnpm-v6",
        "pnpm-v9",
    ] {
        let r = run(&format!("vulnerable/{project}"));
        assert!(
            vulns(&r)
                .iter()
                .any(|(p, _, id, _, _)| (p == "lodash" || p == "minimist")
                    && id.starts_with("GHSA-")),
            "{project}: {}",
            r.to_json()
        );
    }
    let got = vulns(&run("vulnerable/yarn-berry"));
    assert!(
        got.contains(&v(
            "lodash",
            "4.17.4",
            "GHSA-jf85-cpcp-j695",
            Some("4.17.12"),
            Severity::Critical
        )),
        "{got:?}"
    );
}

#[test]
fn rustsec_time_and_smallvec_with_aliases_merged() {
    let r = run("vulnerable/cargo");
    let mut got = vulns(&r);
    got.sort();
    assert_eq!(
        got,
        vec![
            v(
                "smallvec",
                "0.6.9",
                "RUSTSEC-2019-0009",
                Some("0.6.10"),
                Severity::Critical
            ),
            v(
                "smallvec",
                "0.6.9",
                "RUSTSEC-2021-0003",
                Some("0.6.14"),
                Severity::Critical
            ),
            v(
                "time",
                "0.1.44",
                "RUSTSEC-2020-0071",
                Some("0.2.0"),
                Severity::Medium
            ),
            v(
                "time",
                "0.2.22",
                "RUSTSEC-2020-0071",
                Some("0.2.23"),
                Severity::Medium
            ),
        ],
        "{}",
        r.to_json()
    );
    let smallvec = r
        .findings
        .iter()
        .find(|f| f.advisory.as_deref() == Some("RUSTSEC-2021-0003"))
        .unwrap();
    assert_eq!(
        smallvec.extra["aliases"],
        serde_json::json!(["CVE-2021-25900", "GHSA-43w2-9j62-hq99"])
    );
    let time = r
        .findings
        .iter()
        .find(|f| f.version.as_deref() == Some("0.2.22"))
        .unwrap();
    assert_eq!(
        time.extra["aliases"],
        serde_json::json!(["CVE-2020-26235", "GHSA-wcg3-cvx6-7396"])
    );
}

#[test]
fn python_requirements_and_poetry() {
    for project in ["vulnerable/python", "vulnerable/poetry"] {
        let got = vulns(&run(project));
        let name = if project.ends_with("python") {
            "Requests"
        } else {
            "requests"
        };
        assert_eq!(
            got,
            vec![v(
                name,
                "2.19.1",
                "GHSA-x84v-xcm2-53pg",
                Some("2.20.0"),
                Severity::High
            )],
            "{project}"
        );
    }
}

#[test]
fn clean_lockfiles_report_nothing() {
    let r = run("clean");
    assert_eq!(r.findings, vec![], "{}", r.to_json());
    assert_eq!(r.summary["packages"], 7);
    assert_eq!(
        r.summary["lockfiles"].as_array().unwrap().len(),
        3,
        "node_modules is skipped"
    );
}

#[test]
fn ignore_list_and_empty_database() {
    let mut o = Options::offline(&fixture("vulnerable/npm-v3"), &fixture("osv"));
    o.git = false;
    o.ignore = vec!["CVE-2019-10744".into(), "GHSA-xvch-5gv4-984h".into()];
    let got = vulns(&audit(&o).unwrap());
    assert_eq!(got.len(), 1, "{got:?}");
    let empty = tempfile::tempdir().unwrap();
    o.db = empty.path().to_path_buf();
    let e = audit(&o).unwrap_err().to_string();
    assert!(e.contains("rampart audit --update"), "{e}");
}

/// Every fixture record, zipped as OSV publishes an ecosystem export.
fn fixture_zip(path: &Path) {
    let mut records = Vec::new();
    for eco in ["npm", "crates.io", "PyPI"] {
        for e in std::fs::read_dir(fixture(&format!("osv/{eco}"))).unwrap() {
            let p = e.unwrap().path();
            records.push((
                p.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            ));
        }
    }
    records.sort();
    db::write_zip(path, &records).unwrap();
}

#[test]
fn zip_export_is_compiled_once_and_gives_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("npm")).unwrap();
    let zip = dir.path().join("npm/all.zip");
    fixture_zip(&zip);
    let mut o = Options::offline(&fixture("vulnerable/cargo"), dir.path());
    o.git = false;
    let first = vulns(&audit(&o).unwrap());
    assert!(PathBuf::from(format!("{}{}", zip.display(), db::INDEX_SUFFIX)).exists());
    let second = vulns(&audit(&o).unwrap());
    assert_eq!(first, second);
    assert_eq!(first, vulns(&run("vulnerable/cargo")));
    let db = Database::open(dir.path()).unwrap();
    assert_eq!(db.record_count(), 10, "the withdrawn record is dropped");
    assert_eq!(db.advisories(Ecosystem::Npm, "lodash").unwrap().len(), 1);
    assert_eq!(db.advisories(Ecosystem::PyPi, "REQUESTS").unwrap().len(), 2);
    assert!(db.advisories(Ecosystem::Npm, "lodas").unwrap().is_empty());
    assert!(db.advisories(Ecosystem::Npm, "lodash-es").unwrap().len() == 1);
}

#[test]
fn damaged_database_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("all.zip"), b"PK\x03\x04 truncated").unwrap();
    let e = Database::open(dir.path()).unwrap_err().to_string();
    assert!(e.contains("all.zip: not a readable OSV zip export"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("X.json"), b"{\"id\": 5}").unwrap();
    let e = Database::open(dir.path()).unwrap_err().to_string();
    assert!(e.contains("X.json: not an OSV record"), "{e}");
}

/// A one-route HTTP/1.1 server on 127.0.0.1 that answers `body` with an ETag and honours
/// `If-None-Match`; it records each request's headers.
struct Server {
    url: String,
    log: Arc<Mutex<Vec<String>>>,
}

fn serve(routes: Vec<(String, Vec<u8>, &'static str)>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
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
            log2.lock().unwrap().push(head.clone());
            let path = head.split_whitespace().nth(1).unwrap_or("").to_string();
            let found = routes.iter().find(|(p, _, _)| *p == path);
            let resp: Vec<u8> = match found {
                Some((_, _, etag))
                    if head
                        .to_ascii_lowercase()
                        .contains(&format!("if-none-match: {etag}").to_ascii_lowercase()) =>
                {
                    format!(
                        "HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nConnection: close\r\n\r\n"
                    )
                    .into_bytes()
                }
                Some((_, body, etag)) => {
                    let mut r = format!(
                        "HTTP/1.1 200 OK\r\nETag: {etag}\r\nLast-Modified: Wed, 01 Jan 2025 00:00:00 GMT\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    )
                    .into_bytes();
                    r.extend_from_slice(body);
                    r
                }
                None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    .to_vec(),
            };
            let _ = stream.write_all(&resp);
        }
    });
    Server { url, log }
}

#[test]
fn update_downloads_then_revalidates_with_etag() {
    let tmp = tempfile::tempdir().unwrap();
    let zip = tmp.path().join("export.zip");
    fixture_zip(&zip);
    let server = serve(vec![(
        "/crates.io/all.zip".into(),
        std::fs::read(&zip).unwrap(),
        "\"v1\"",
    )]);
    let db_dir = tmp.path().join("db");
    let timeout = Duration::from_secs(5);
    let first = update::update(&db_dir, &server.url, Ecosystem::CratesIo, timeout).unwrap();
    assert!(
        matches!(first, update::Updated::Downloaded(n) if n > 0),
        "{first:?}"
    );
    assert!(
        db_dir.join("crates.io/all.zip.rampart-idx").exists(),
        "compiled right after download"
    );
    let second = update::update(&db_dir, &server.url, Ecosystem::CratesIo, timeout).unwrap();
    assert_eq!(second, update::Updated::NotModified);
    let log = server.log.lock().unwrap().clone();
    assert_eq!(log.len(), 2);
    assert!(
        !log[0].to_ascii_lowercase().contains("if-none-match"),
        "{}",
        log[0]
    );
    assert!(
        log[1]
            .to_ascii_lowercase()
            .contains("if-none-match: \"v1\""),
        "{}",
        log[1]
    );
    assert!(
        log[1]
            .to_ascii_lowercase()
            .contains("if-modified-since: wed, 01 jan 2025"),
        "{}",
        log[1]
    );
    let mut o = Options::offline(&fixture("vulnerable/cargo"), &db_dir);
    o.git = false;
    assert_eq!(vulns(&audit(&o).unwrap()), vulns(&run("vulnerable/cargo")));
}

#[test]
fn update_errors_keep_the_cache() {
    let tmp = tempfile::tempdir().unwrap();
    let server = serve(vec![(
        "/npm/all.zip".into(),
        b"this is not a zip".to_vec(),
        "\"x\"",
    )]);
    let db_dir = tmp.path().join("db");
    let t = Duration::from_secs(5);
    let e = update::update(&db_dir, &server.url, Ecosystem::Npm, t)
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a zip archive"), "{e}");
    assert!(!db_dir.join("npm/all.zip").exists());
    let e = update::update(&db_dir, &server.url, Ecosystem::PyPi, t)
        .unwrap_err()
        .to_string();
    assert!(e.contains("HTTP 404"), "{e}");
    // A port nobody listens on: unreachable.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let e = update::update(&db_dir, &url, Ecosystem::Npm, t)
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot reach"), "{e}");
}

#[test]
fn outdated_against_local_registries_and_offline() {
    let npm = serde_json::json!({"name": "lodash", "dist-tags": {"latest": "4.17.21"}}).to_string();
    let crates = [
        r#"{"name":"time","vers":"0.3.36","yanked":false}"#,
        r#"{"name":"time","vers":"0.3.99","yanked":true}"#,
        r#"{"name":"time","vers":"0.4.0-alpha.1","yanked":false}"#,
    ]
    .join("\n");
    let server = serve(vec![
        ("/lodash".into(), npm.into_bytes(), "\"a\""),
        ("/ti/me/time".into(), crates.into_bytes(), "\"b\""),
        (
            "/sm/al/smallvec".into(),
            br#"{"name":"smallvec","vers":"0.6.9","yanked":false}"#.to_vec(),
            "\"c\"",
        ),
    ]);
    let reg = Registries {
        npm: server.url.clone(),
        crates: server.url.clone(),
        pypi: server.url.clone(),
    };
    let pkg = |e, n: &str, v: &str| Package {
        line: None,
        ecosystem: e,
        name: n.into(),
        version: v.into(),
        direct: true,
    };
    let list = vec![
        pkg(Ecosystem::Npm, "lodash", "4.17.11"),
        pkg(Ecosystem::CratesIo, "time", "0.1.44"),
        pkg(Ecosystem::CratesIo, "smallvec", "0.6.9"),
        pkg(Ecosystem::PyPi, "unknown-to-server", "1.0"),
    ];
    let got = outdated::check(&list, &reg, Duration::from_secs(5));
    assert_eq!(
        got,
        Outdated::Checked(vec![
            (list[0].clone(), "4.17.21".to_string()),
            (list[1].clone(), "0.3.36".to_string()),
        ])
    );
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let reg = Registries {
        npm: url.clone(),
        crates: url.clone(),
        pypi: url,
    };
    match outdated::check(&list, &reg, Duration::from_secs(5)) {
        Outdated::Skipped(why) => assert!(why.starts_with("offline"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn lockfile_committed_needs_git() {
    let d = tempfile::tempdir().unwrap();
    std::fs::copy(fixture("clean/Cargo.lock"), d.path().join("Cargo.lock")).unwrap();
    let o = Options::offline(d.path(), &fixture("osv"));
    assert_eq!(
        audit(&o).unwrap().summary["lockfile_committed"],
        "skipped: not a git repository"
    );
    let git = |args: &[&str]| {
        assert!(
            std::process::Command::new("git")
                .arg("-C")
                .arg(d.path())
                .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
                .args(args)
                .output()
                .unwrap()
                .status
                .success()
        );
    };
    git(&["init", "-q"]);
    let r = audit(&o).unwrap();
    assert_eq!(r.summary["lockfile_committed"], "checked");
    assert_eq!(r.findings[0].rule, "lockfile_not_committed");
    git(&["add", "Cargo.lock"]);
    git(&["commit", "-qm", "lock"]);
    assert_eq!(audit(&o).unwrap().findings, vec![]);
}

#[test]
fn large_loose_directories_are_indexed_and_reindexed_on_change() {
    let dir = tempfile::tempdir().unwrap();
    let write = |i: usize, fixed: &str| {
        let json = format!(
            r#"{{"id":"GHSA-loose-{i:04}","affected":[{{"package":{{"ecosystem":"npm","name":"p{i}"}},"ranges":[{{"type":"SEMVER","events":[{{"introduced":"0"}},{{"fixed":"{fixed}"}}]}}]}}]}}"#
        );
        std::fs::write(dir.path().join(format!("GHSA-loose-{i:04}.json")), json).unwrap();
    };
    for i in 0..db::COMPILE_LOOSE_FROM + 10 {
        write(i, "1.0.0");
    }
    let db = Database::open(dir.path()).unwrap();
    assert_eq!(db.record_count(), db::COMPILE_LOOSE_FROM + 10);
    assert!(
        dir.path()
            .join(format!(".rampart-osv{}", db::INDEX_SUFFIX))
            .exists()
    );
    let fixed = |db: &Database| {
        let r = db.advisories(Ecosystem::Npm, "p7").unwrap();
        r[0].matches(Ecosystem::Npm, "p7", "1.5.0")
            .and_then(|h| h.fixed)
    };
    assert_eq!(fixed(&db), None);
    drop(db);
    write(7, "2.0.0.0");
    write(7, "2.0.0");
    let db = Database::open(dir.path()).unwrap();
    assert_eq!(
        fixed(&db),
        Some("2.0.0".to_string()),
        "a changed file rebuilds the index"
    );
}

#[test]
fn the_last_index_line_is_found() {
    // Regression: the last entry of a compiled index kept its newline and was skipped.
    let dir = tempfile::tempdir().unwrap();
    let rec = |name: &str| {
        format!(
            r#"{{"id":"X-{name}","affected":[{{"package":{{"ecosystem":"crates.io","name":"{name}"}},"ranges":[{{"type":"SEMVER","events":[{{"introduced":"0"}}]}}]}}]}}"#
        )
        .into_bytes()
    };
    db::write_zip(
        &dir.path().join("all.zip"),
        &[("a.json".into(), rec("aaa")), ("z.json".into(), rec("zzz"))],
    )
    .unwrap();
    let db = Database::open(dir.path()).unwrap();
    assert_eq!(db.advisories(Ecosystem::CratesIo, "zzz").unwrap().len(), 1);
    assert_eq!(db.advisories(Ecosystem::CratesIo, "aaa").unwrap().len(), 1);
}

#[test]
fn informational_advisories_have_their_own_rule() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("RUSTSEC-2020-0016.json"),
        r#"{"id":"RUSTSEC-2020-0016","summary":"net2 crate has been deprecated; use socket2 instead",
            "affected":[{"package":{"ecosystem":"crates.io","name":"net2"},
            "ranges":[{"type":"SEMVER","events":[{"introduced":"0.0.0-0"}]}]}],
            "database_specific":{"informational":"unmaintained"}}"#,
    )
    .unwrap();
    let proj = tempfile::tempdir().unwrap();
    std::fs::write(
        proj.path().join("Cargo.lock"),
        "version = 3\n[[package]]\nname = \"net2\"\nversion = \"0.2.39\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n",
    )
    .unwrap();
    let mut o = Options::offline(proj.path(), dir.path());
    o.git = false;
    let r = audit(&o).unwrap();
    assert_eq!(r.findings.len(), 1);
    assert_eq!(r.findings[0].rule, "unmaintained_dependency");
    assert_eq!(r.findings[0].severity, Severity::Low);
    assert!(r.findings[0].message.contains("no fixed version"));
    assert_eq!(r.summary["vulnerable_packages"], 0);
}
