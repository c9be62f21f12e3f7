use std::path::PathBuf;

use super::*;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/audit/"
    ))
    .join(rel)
}

fn pkgs(rel: &str) -> (String, Vec<(String, String, bool)>) {
    let l = parse_file(&fixture(rel)).unwrap();
    (
        l.kind,
        l.packages
            .into_iter()
            .map(|p| (p.name, p.version, p.direct))
            .collect(),
    )
}

fn p(n: &str, v: &str, d: bool) -> (String, String, bool) {
    (n.into(), v.into(), d)
}

#[test]
fn npm_v3_keeps_nested_copies_once() {
    let (kind, got) = pkgs("vulnerable/npm-v3/package-lock.json");
    assert_eq!(kind, "package-lock.json v3");
    assert_eq!(
        got,
        vec![
            p("lodash", "4.17.11", true),
            p("minimist", "0.0.8", true),
            p("minimist", "1.2.5", false),
            p("mkdirp", "0.5.5", true),
        ]
    );
}

#[test]
fn npm_v1_walks_the_tree() {
    let (kind, got) = pkgs("vulnerable/npm-v1/package-lock.json");
    assert_eq!(kind, "package-lock.json v1");
    assert_eq!(
        got,
        vec![
            p("lodash", "4.17.4", true),
            p("minimist", "0.0.8", false),
            p("mkdirp", "0.5.1", true),
        ]
    );
}

#[test]
fn yarn_classic_and_berry() {
    let (kind, got) = pkgs("vulnerable/yarn-classic/yarn.lock");
    assert_eq!(kind, "yarn.lock (classic)");
    assert_eq!(
        got,
        vec![
            p("@babel/code-frame", "7.0.0", false),
            p("lodash", "4.17.11", false),
            p("minimist", "1.2.0", false),
        ]
    );
    let (kind, got) = pkgs("vulnerable/yarn-berry/yarn.lock");
    assert_eq!(kind, "yarn.lock (berry)");
    assert_eq!(
        got,
        vec![p("lodash", "4.17.4", false), p("minimist", "1.2.0", false)]
    );
}

#[test]
fn pnpm_v5_v6_v9() {
    let (kind, got) = pkgs("vulnerable/pnpm-v9/pnpm-lock.yaml");
    assert_eq!(kind, "pnpm-lock.yaml v9.0");
    assert_eq!(
        got,
        vec![
            p("@types/node", "20.1.0", false),
            p("lodash", "4.17.11", false),
            p("minimist", "1.2.5", false),
        ]
    );
    for v in ["v5", "v6"] {
        let (_, got) = pkgs(&format!("vulnerable/pnpm-{v}/pnpm-lock.yaml"));
        assert_eq!(
            got,
            vec![
                p("@scope/pkg", "1.0.0", false),
                p("lodash", "4.17.11", false)
            ],
            "{v}"
        );
    }
}

#[test]
fn cargo_poetry_requirements() {
    let (kind, got) = pkgs("vulnerable/cargo/Cargo.lock");
    assert_eq!(kind, "Cargo.lock v3");
    assert_eq!(
        got,
        vec![
            p("libc", "0.2.150", false),
            p("smallvec", "0.6.9", true),
            p("time", "0.1.44", true),
            p("time", "0.2.22", true),
        ]
    );
    let (_, got) = pkgs("vulnerable/poetry/poetry.lock");
    assert_eq!(
        got,
        vec![
            p("certifi", "2024.2.2", false),
            p("requests", "2.19.1", false)
        ]
    );
    let (_, got) = pkgs("vulnerable/python/requirements.txt");
    assert_eq!(
        got,
        vec![p("Requests", "2.19.1", true), p("urllib3", "1.26.18", true)]
    );
}

#[test]
fn find_skips_node_modules() {
    let found = find(&fixture("clean")).unwrap();
    let names: Vec<String> = found
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec!["Cargo.lock", "package-lock.json", "requirements.txt"]
    );
}

fn err(name: &str, text: &str) -> String {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join(name);
    std::fs::write(&path, text).unwrap();
    parse_file(&path).unwrap_err().to_string()
}

#[test]
fn hostile_lockfiles_give_clear_errors() {
    let e = err(
        "package-lock.json",
        "{\"lockfileVersion\": 3, \"packages\": {\"node_modules/a\": {\"version\": ",
    );
    assert!(e.contains("package-lock.json:1:"), "{e}");
    assert!(e.contains("EOF"), "{e}");
    let e = err("package-lock.json", r#"{"lockfileVersion": "3"}"#);
    assert!(
        e.contains("lockfileVersion: expected a number, found a string"),
        "{e}"
    );
    let e = err(
        "package-lock.json",
        r#"{"lockfileVersion": 3, "packages": {"node_modules/a": {"version": 7}}}"#,
    );
    assert!(
        e.contains(r#"packages["node_modules/a"].version: expected a string, found a number"#),
        "{e}"
    );
    let e = err("package-lock.json", r#"{"packages": []}"#);
    assert!(
        e.contains("packages: expected an object, found an array"),
        "{e}"
    );
    let e = err("package-lock.json", "[1, 2]");
    assert!(e.contains("expected a JSON object"), "{e}");
    let e = err("Cargo.lock", "[[package]]\nname = \"a\"\nversion = 3\n");
    assert!(e.contains("Cargo.lock:3:"), "{e}");
    let e = err("Cargo.lock", "[[package]]\nname = \"a\"\nversion = \"1");
    assert!(e.contains("Cargo.lock:3:"), "{e}");
    let e = err(
        "yarn.lock",
        "lodash@^1:\n  version \"1.0.0\"\ngarbage line\n",
    );
    assert!(e.contains("yarn.lock:3: expected a package header"), "{e}");
    let e = err(
        "pnpm-lock.yaml",
        "lockfileVersion: '9.0'\npackages:\n  nonsense:\n",
    );
    assert!(e.contains("pnpm-lock.yaml:3: cannot read a package"), "{e}");
    let e = err("requirements.txt", "ok==1.0\nbad!name==1.0\n");
    assert!(e.contains("requirements.txt:2: invalid requirement"), "{e}");
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("poetry.lock"), [0xff, 0xfe, 0x00]).unwrap();
    let e = parse_file(&d.path().join("poetry.lock"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not UTF-8"), "{e}");
}

#[test]
fn huge_lockfile_is_refused_before_reading() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("package-lock.json");
    std::fs::File::create(&path)
        .unwrap()
        .set_len(MAX_LOCKFILE + 1)
        .unwrap();
    let e = parse_file(&path).unwrap_err().to_string();
    assert!(e.contains("lockfile limit"), "{e}");
}

#[test]
fn deeply_nested_v1_is_an_error_not_a_stack_overflow() {
    let mut s = String::from(r#"{"lockfileVersion":1,"dependencies":"#);
    for _ in 0..100 {
        s.push_str(r#"{"a":{"version":"1.0.0","dependencies":"#);
    }
    s.push_str("{}");
    for _ in 0..100 {
        s.push_str("}}");
    }
    s.push('}');
    // serde_json refuses nesting past 128 levels itself; either way a clear error, no crash.
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("package-lock.json");
    std::fs::write(&path, s).unwrap();
    let e = parse_file(&path).unwrap_err().to_string();
    assert!(e.contains("package-lock.json:"), "{e}");
}

proptest::proptest! {
    #[test]
    fn no_lockfile_text_panics(s in "\\PC{0,300}") {
        for name in ["package-lock.json", "yarn.lock", "pnpm-lock.yaml", "Cargo.lock", "poetry.lock", "requirements.txt"] {
            let _ = parse_str(name, &s);
        }
    }
}

#[test]
fn yarn_and_pnpm_take_direct_dependencies_from_package_json() {
    let d = tempfile::tempdir().unwrap();
    std::fs::copy(
        fixture("vulnerable/yarn-classic/yarn.lock"),
        d.path().join("yarn.lock"),
    )
    .unwrap();
    std::fs::write(
        d.path().join("package.json"),
        r#"{"dependencies": {"lodash": "^4.17.10"}, "devDependencies": {"minimist": "1.2.0"}}"#,
    )
    .unwrap();
    let l = parse_file(&d.path().join("yarn.lock")).unwrap();
    let direct: Vec<&str> = l
        .packages
        .iter()
        .filter(|p| p.direct)
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(direct, vec!["lodash", "minimist"]);
    std::fs::write(d.path().join("package.json"), "not json").unwrap();
    let l = parse_file(&d.path().join("yarn.lock")).unwrap();
    assert!(l.packages.iter().all(|p| !p.direct));
}

#[test]
fn yarn_classic_aliases_resolve_to_the_real_package() {
    let text = "\"string-width-cjs@npm:string-width@^4.2.0\":\n  version \"4.2.3\"\n\n\"@scope/x@npm:@scope/real@^1\":\n  version \"1.0.1\"\n";
    let (_, got) = parse_str("yarn.lock", text).unwrap();
    let names: Vec<(&str, &str)> = got
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str()))
        .collect();
    assert_eq!(
        names,
        vec![("string-width", "4.2.3"), ("@scope/real", "1.0.1")]
    );
}

#[test]
fn packages_carry_the_line_that_declares_them() {
    for (rel, name, needle) in [
        (
            "vulnerable/npm-v3/package-lock.json",
            "lodash",
            "\"node_modules/lodash\"",
        ),
        (
            "vulnerable/cargo/Cargo.lock",
            "smallvec",
            "name = \"smallvec\"",
        ),
        (
            "vulnerable/poetry/poetry.lock",
            "requests",
            "name = \"requests\"",
        ),
        (
            "vulnerable/yarn-classic/yarn.lock",
            "lodash",
            "lodash@^4.17.10",
        ),
        (
            "vulnerable/pnpm-v9/pnpm-lock.yaml",
            "lodash",
            "lodash@4.17.11:",
        ),
        (
            "vulnerable/python/requirements.txt",
            "Requests",
            "Requests==2.19.1",
        ),
    ] {
        let text = std::fs::read_to_string(fixture(rel)).unwrap();
        let l = parse_file(&fixture(rel)).unwrap();
        let p = l.packages.iter().find(|p| p.name == name).unwrap();
        let line = p.line.unwrap_or_else(|| panic!("{rel}: no line"));
        assert!(
            text.lines().nth(line - 1).unwrap().contains(needle),
            "{rel}: line {line}"
        );
    }
}
