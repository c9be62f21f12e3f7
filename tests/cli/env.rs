use crate::harness::Rampart;

fn secret(seed: char) -> String {
    std::iter::repeat_n(seed, 20)
        .chain("Ab3-_xYz9Qr7Lm2Np5Ks8Tu".chars())
        .collect()
}

fn json(stdout: &str) -> serde_json::Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{stdout}"))
}

fn rules(v: &serde_json::Value) -> Vec<(String, String)> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["variable"]
                    .as_str()
                    .or(f["file"].as_str())
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn clean_project_exits_0() {
    let mut r = Rampart::new();
    r.write(
        ".env.local",
        &format!(
            "CSRF_SECRET={}\nSESSION_SECRET={}\n",
            secret('a'),
            secret('b')
        ),
    )
    .write(".gitignore", ".env*.local\n");
    let run = r.run(&[
        "env",
        "check",
        "--preset",
        "none",
        "--require",
        "CSRF_SECRET",
        "--format",
        "json",
    ]);
    run.code(0);
    let v = json(&run.stdout);
    assert_eq!(v["command"], "env");
    assert_eq!(v["summary"]["total"], 0);
}

#[test]
fn findings_name_variable_file_and_line() {
    let mut r = Rampart::new();
    r.write("app/.env", "CSRF_SECRET=tiny5\nbroken\n");
    let run = r.run(&["env", "check", "--dir", "app", "--format", "json"]);
    run.code(1);
    let v = json(&run.stdout);
    let got = rules(&v);
    for want in [
        ("secret_too_short", "CSRF_SECRET"),
        ("malformed_line", ".env"),
        ("missing_required", "SESSION_SECRET"),
        ("missing_required", "CLERK_SECRET_KEY"),
        ("missing_required", "NEXT_PUBLIC_CONVEX_URL"),
    ] {
        assert!(
            got.contains(&(want.0.to_string(), want.1.to_string())),
            "{want:?} in {got:?}"
        );
    }
    let short = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "secret_too_short")
        .unwrap();
    assert_eq!(short["file"], ".env");
    assert_eq!(short["line"], 1);
    assert!(!run.stdout.contains("tiny5"), "value is redacted");
}

#[test]
fn fail_on_and_text_output() {
    let mut r = Rampart::new();
    r.write(".env", "A=1\nA=2\n");
    r.run(&["env", "check", "--preset", "none"]).code(0);
    let run = r.run(&["env", "check", "--preset", "none", "--fail-on", "low"]);
    run.code(1);
    assert!(run.stdout.contains("duplicate_key"), "{}", run.stdout);
}

#[test]
fn rampart_toml_declares_the_rules() {
    let mut r = Rampart::new();
    r.write(
        "rampart.toml",
        "[env]\npreset = \"none\"\nrequire = [\"DATABASE_URL\"]\nsecrets = [\"DSN\"]\n",
    )
    .write(".env", "DSN=abc\n");
    let run = r.run(&["env", "check", "--format", "json"]);
    run.code(1);
    let got = rules(&json(&run.stdout));
    assert!(
        got.contains(&("missing_required".into(), "DATABASE_URL".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&("secret_too_short".into(), "DSN".into())),
        "{got:?}"
    );
}

#[test]
fn process_env_counts_with_the_flag() {
    let mut r = Rampart::new();
    r.env("CSRF_SECRET", &secret('z'));
    r.run(&[
        "env",
        "check",
        "--preset",
        "none",
        "--require",
        "CSRF_SECRET",
    ])
    .code(1);
    r.run(&[
        "env",
        "check",
        "--preset",
        "none",
        "--require",
        "CSRF_SECRET",
        "--process-env",
    ])
    .code(0);
}

#[test]
fn bad_input_exits_2_with_one_line() {
    let mut r = Rampart::new();
    let run = r.run(&["env", "check", "--preset", "nextjs-clerk-convx"]);
    run.code(2);
    assert!(
        run.stderr.contains("did you mean `nextjs-clerk-convex`?"),
        "{}",
        run.stderr
    );
    let run = r.run(&["env", "check", "--dir", "nope"]);
    run.code(2);
    assert!(run.stderr.contains("nope"), "{}", run.stderr);
    let run = r.run(&["env", "check", "--require", "1BAD"]);
    run.code(2);
    assert!(run.stderr.contains("1BAD"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn committed_local_file_and_production_profile() {
    let mut r = Rampart::new();
    let git = |dir: &std::path::Path, args: &[&str]| {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
            .args(args)
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    r.write(".env.local", &format!("CSRF_SECRET={}\n", secret('c')))
        .write(".env.production", "SESSION_SECRET=changeme\n");
    git(r.dir(), &["init", "-q"]);
    git(r.dir(), &["add", ".env.local"]);
    git(r.dir(), &["commit", "-qm", "oops"]);
    let run = r.run(&[
        "env",
        "check",
        "--preset",
        "none",
        "--profile",
        "production",
        "--format",
        "json",
    ]);
    run.code(1);
    let v = json(&run.stdout);
    let got = rules(&v);
    assert!(
        got.contains(&("env_file_committed".into(), ".env.local".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&("env_file_not_ignored".into(), ".env.local".into())),
        "{got:?}"
    );
    assert!(
        got.contains(&("placeholder_value".into(), "SESSION_SECRET".into())),
        "{got:?}"
    );
    assert_eq!(v["summary"]["profiles"], serde_json::json!(["production"]));
}
