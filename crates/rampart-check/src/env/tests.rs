use std::process::Command;

use rampart_core::config::EnvConfig;

use super::*;

/// A 43-character value assembled at run time.
fn secret(seed: char) -> String {
    std::iter::repeat_n(seed, 20)
        .chain("Ab3-_xYz9Qr7Lm2Np5Ks8Tu".chars())
        .collect()
}

fn key(kind: &str, mode: &str) -> String {
    format!("{kind}_{mode}_{}", "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe")
}

fn run(dir: &Path, profile: Option<Profile>, preset: &str) -> Report {
    let rules = Rules::from_config(&EnvConfig::default(), Some(preset), &[]).unwrap();
    let mut o = Options::new(dir, rules);
    o.profile = profile;
    check(&o).unwrap()
}

/// (rule, file, line, variable) of a finding.
type Id = (String, Option<String>, Option<usize>, Option<String>);

fn ids(r: &Report) -> Vec<Id> {
    r.findings
        .iter()
        .map(|f| (f.rule.clone(), f.file.clone(), f.line, f.variable.clone()))
        .collect()
}

fn has(r: &Report, rule: &str, file: Option<&str>, line: Option<usize>, var: Option<&str>) -> bool {
    ids(r).contains(&(rule.into(), file.map(Into::into), line, var.map(Into::into)))
}

fn good_dev(dir: &Path) {
    let text = format!(
        "CSRF_SECRET={}\nSESSION_SECRET={}\nNEXT_PUBLIC_CLERK_PUBLISHABLE_KEY={}\nCLERK_SECRET_KEY={}\nNEXT_PUBLIC_CONVEX_URL=https://happy-otter-123.convex.cloud\n",
        secret('a'),
        secret('b'),
        key("pk", "test"),
        key("sk", "test")
    );
    std::fs::write(dir.join(".env.local"), text).unwrap();
    std::fs::write(dir.join(".gitignore"), ".env*.local\n").unwrap();
}

#[test]
fn a_clean_development_setup_reports_nothing() {
    let d = tempfile::tempdir().unwrap();
    good_dev(d.path());
    let r = run(d.path(), None, "nextjs-clerk-convex");
    assert_eq!(ids(&r), vec![], "{}", r.to_json());
    assert_eq!(r.summary["profiles"], serde_json::json!(["development"]));
}

#[test]
fn missing_short_placeholder_and_public_secret() {
    let d = tempfile::tempdir().unwrap();
    let sk = key("sk", "test");
    std::fs::write(
        d.path().join(".env"),
        format!("CSRF_SECRET=tooshort\nSESSION_SECRET=changeme\nNEXT_PUBLIC_STRIPE_KEY={sk}\nCLERK_SECRET_KEY=<your clerk key>\n"),
    )
    .unwrap();
    let r = run(d.path(), None, "nextjs-clerk-convex");
    assert!(
        has(
            &r,
            "secret_too_short",
            Some(".env"),
            Some(1),
            Some("CSRF_SECRET")
        ),
        "{}",
        r.to_json()
    );
    assert!(has(
        &r,
        "placeholder_value",
        Some(".env"),
        Some(2),
        Some("SESSION_SECRET")
    ));
    assert!(has(
        &r,
        "placeholder_value",
        Some(".env"),
        Some(4),
        Some("CLERK_SECRET_KEY")
    ));
    assert!(has(
        &r,
        "secret_in_public_var",
        Some(".env"),
        Some(3),
        Some("NEXT_PUBLIC_STRIPE_KEY")
    ));
    assert!(has(
        &r,
        "missing_required",
        None,
        None,
        Some("NEXT_PUBLIC_CONVEX_URL")
    ));
    assert!(!ids(&r).iter().any(
        |(rule, _, _, v)| rule == "secret_too_short" && v.as_deref() == Some("SESSION_SECRET")
    ));
    let json = r.to_json();
    assert!(!json.contains("tooshort"), "values are redacted: {json}");
    assert!(!json.contains(&sk), "values are redacted");
    assert_eq!(r.summary["profiles"], serde_json::json!(["default"]));
}

#[test]
fn layering_lets_later_files_win() {
    let d = tempfile::tempdir().unwrap();
    good_dev(d.path());
    // .env has a short secret, but .env.local overrides it in development.
    std::fs::write(d.path().join(".env"), "CSRF_SECRET=short\n").unwrap();
    let r = run(d.path(), Some(Profile::Development), "nextjs-clerk-convex");
    assert_eq!(ids(&r), vec![], "{}", r.to_json());
    // Production does not read .env.local: the short value and the missing names surface.
    let r = run(d.path(), Some(Profile::Production), "nextjs-clerk-convex");
    assert!(
        has(
            &r,
            "secret_too_short",
            Some(".env"),
            Some(1),
            Some("CSRF_SECRET")
        ),
        "{}",
        r.to_json()
    );
    assert!(has(
        &r,
        "missing_required",
        None,
        None,
        Some("SESSION_SECRET")
    ));
}

#[test]
fn keys_per_mode_and_reuse() {
    let d = tempfile::tempdir().unwrap();
    good_dev(d.path());
    let prod = format!(
        "CSRF_SECRET={}\nSESSION_SECRET={}\nNEXT_PUBLIC_CLERK_PUBLISHABLE_KEY={}\nCLERK_SECRET_KEY={}\nNEXT_PUBLIC_CONVEX_URL=https://x.convex.cloud\n",
        secret('a'),
        secret('c'),
        key("pk", "test"),
        key("sk", "live"),
    );
    std::fs::write(d.path().join(".env.production"), prod).unwrap();
    std::fs::write(
        d.path().join(".env.development"),
        format!("STRIPE_SECRET_KEY={}\n", key("sk", "live")),
    )
    .unwrap();
    let r = run(d.path(), None, "nextjs-clerk-convex");
    assert_eq!(
        r.summary["profiles"],
        serde_json::json!(["development", "production"])
    );
    assert!(
        has(
            &r,
            "test_key_in_production",
            Some(".env.production"),
            Some(3),
            Some("NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY")
        ),
        "{}",
        r.to_json()
    );
    assert!(has(
        &r,
        "live_key_in_development",
        Some(".env.development"),
        Some(1),
        Some("STRIPE_SECRET_KEY")
    ));
    assert!(has(
        &r,
        "dev_prod_secret_reuse",
        Some(".env.production"),
        Some(1),
        Some("CSRF_SECRET")
    ));
    assert!(!has(
        &r,
        "dev_prod_secret_reuse",
        Some(".env.production"),
        Some(2),
        Some("SESSION_SECRET")
    ));
    assert!(!has(
        &r,
        "test_key_in_production",
        Some(".env.production"),
        Some(4),
        Some("CLERK_SECRET_KEY")
    ));
}

#[test]
fn malformed_and_duplicate_lines() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join(".env"), "A=1\nnot a line\nA=2\nB=\"open\n").unwrap();
    let r = run(d.path(), None, "none");
    assert!(
        has(&r, "malformed_line", Some(".env"), Some(2), None),
        "{}",
        r.to_json()
    );
    assert!(has(&r, "malformed_line", Some(".env"), Some(4), None));
    assert!(has(&r, "duplicate_key", Some(".env"), Some(3), Some("A")));
    assert_eq!(r.findings.len(), 3);
}

#[test]
fn templates_are_never_checked() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join(".env.example"),
        "CSRF_SECRET=changeme\nbroken line\n",
    )
    .unwrap();
    std::fs::write(d.path().join(".env.local.example"), "X=1\n").unwrap();
    let r = run(d.path(), None, "none");
    assert_eq!(ids(&r), vec![]);
}

#[test]
fn process_env_wins_for_known_names() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join(".env"), "CSRF_SECRET=short\n").unwrap();
    let rules = Rules::from_config(
        &EnvConfig::default(),
        Some("none"),
        &["CSRF_SECRET".into(), "OTHER".into()],
    )
    .unwrap();
    let mut o = Options::new(d.path(), rules);
    let mut env = EnvMap::new();
    env.insert("CSRF_SECRET".into(), secret('q'));
    env.insert("UNRELATED_TOKEN".into(), "x".into());
    o.process_env = Some(env);
    let r = check(&o).unwrap();
    assert_eq!(
        ids(&r),
        vec![("missing_required".into(), None, None, Some("OTHER".into()))],
        "{}",
        r.to_json()
    );
}

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.email=t@example.com", "-c", "user.name=t"])
        .args(args)
        .output()
        .unwrap()
        .status
        .success();
    assert!(ok, "git {args:?}");
}

#[test]
fn local_files_must_be_ignored_and_untracked() {
    let d = tempfile::tempdir().unwrap();
    git(d.path(), &["init", "-q"]);
    std::fs::write(d.path().join(".env.local"), "A=1\n").unwrap();
    std::fs::write(d.path().join(".env.production.local"), "B=1\n").unwrap();
    std::fs::write(d.path().join(".gitignore"), ".env.local\n").unwrap();
    let r = run(d.path(), None, "none");
    assert!(
        has(
            &r,
            "env_file_not_ignored",
            Some(".env.production.local"),
            None,
            None
        ),
        "{}",
        r.to_json()
    );
    assert!(!has(
        &r,
        "env_file_not_ignored",
        Some(".env.local"),
        None,
        None
    ));
    // Committed before the ignore rule existed: ignored by pattern, yet tracked.
    git(d.path(), &["add", "-f", ".env.local"]);
    git(d.path(), &["commit", "-qm", "oops"]);
    let r = run(d.path(), None, "none");
    assert!(
        has(&r, "env_file_committed", Some(".env.local"), None, None),
        "{}",
        r.to_json()
    );
    assert_eq!(r.summary["git"], "checked");
    // Negation re-includes it.
    std::fs::write(d.path().join(".gitignore"), ".env*.local\n!.env.local\n").unwrap();
    let r = run(d.path(), None, "none");
    assert!(
        has(&r, "env_file_not_ignored", Some(".env.local"), None, None),
        "{}",
        r.to_json()
    );
}

#[test]
fn hostile_files_give_clear_errors_or_findings() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join(".env"),
        [0xff, 0xfe, b'\n', b'A', b'=', 0x80, b'\n'],
    )
    .unwrap();
    let r = run(d.path(), None, "none");
    assert!(
        has(&r, "malformed_line", Some(".env"), Some(1), None),
        "{}",
        r.to_json()
    );
    std::fs::create_dir(d.path().join(".env.local")).unwrap();
    let _ = run(d.path(), None, "none");
    let big = tempfile::tempdir().unwrap();
    let f = std::fs::File::create(big.path().join(".env")).unwrap();
    f.set_len(MAX_ENV_FILE + 1).unwrap();
    let rules = Rules::from_config(&EnvConfig::default(), Some("none"), &[]).unwrap();
    let e = check(&Options::new(big.path(), rules))
        .unwrap_err()
        .to_string();
    assert!(e.contains(".env is") && e.contains("limit"), "{e}");
}
