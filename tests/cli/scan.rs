//! `rampart scan`. Credential-shaped strings are assembled from pieces at run time.

use std::process::Command;

use crate::harness::Rampart;

fn stripe_key() -> String {
    ["sk_", "live_", "4Xq9Lm2Zt7Rb1Nc8Vw3Ky6Pd"].concat()
}

fn github_token() -> String {
    ["gh", "p_", "k3Jd9Qz7Lm2Xv8Rt4Np6Wb1Yc5Hs0Fg2Ea9U"].concat()
}

fn git(dir: &std::path::Path, args: &[&str]) {
    let ok = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .output()
        .expect("git")
        .status
        .success();
    assert!(ok, "git {args:?}");
}

#[test]
fn a_clean_tree_exits_0() {
    let mut r = Rampart::new();
    r.write(
        "src/app.ts",
        "export const secret = process.env.SESSION_SECRET;\n",
    );
    let run = r.run(&["scan"]);
    run.code(0);
    assert!(run.stdout.contains("no findings"), "{}", run.stdout);
}

#[test]
fn a_planted_key_exits_1_with_its_place_and_never_the_key() {
    let mut r = Rampart::new();
    r.write(
        "src/pay.ts",
        &format!("// pay\nconst k = '{}';\n", stripe_key()),
    );
    let run = r.run(&["scan", "--color", "never"]);
    run.code(1);
    assert!(run.stdout.contains("src/pay.ts"), "{}", run.stdout);
    assert!(run.stdout.contains("2:12"), "{}", run.stdout);
    assert!(run.stdout.contains("stripe_secret_key"));
    assert!(!run.stdout.contains(&stripe_key()));
    assert!(!run.stderr.contains(&stripe_key()));
}

#[test]
fn json_is_the_only_thing_on_stdout() {
    let mut r = Rampart::new();
    r.write(
        ".npmrc",
        &format!("//registry.npmjs.org/:_authToken={}\n", github_token()),
    );
    let run = r.run(&["scan", "--format", "json"]);
    run.code(1);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).expect("one JSON document");
    assert_eq!(v["command"], "scan");
    let f = &v["findings"][0];
    assert_eq!(f["file"], ".npmrc");
    assert_eq!(f["line"], 1);
    assert_eq!(f["rule"], "github_token");
    assert!(f["evidence"].as_str().unwrap().ends_with('…'));
    assert_eq!(v["summary"]["total"], 1);
    assert!(v["summary"]["files"].as_u64().unwrap() >= 1);
    assert!(!run.stdout.contains(&github_token()));
    assert!(run.stderr.contains("1 finding(s)"), "{}", run.stderr);
}

#[test]
fn sarif_for_code_scanning() {
    let mut r = Rampart::new();
    r.write("a.py", &format!("KEY = '{}'\n", stripe_key()));
    let run = r.run(&["scan", "--format", "sarif"]);
    run.code(1);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let res = &v["runs"][0]["results"][0];
    assert_eq!(res["ruleId"], "stripe_secret_key");
    assert_eq!(
        res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "a.py"
    );
}

#[test]
fn gitignored_files_are_skipped_but_ignored_env_files_are_low() {
    let mut r = Rampart::new();
    r.write(".gitignore", "build/\n.env*.local\n");
    r.write("build/out.js", &format!("var k='{}';\n", stripe_key()));
    r.write(
        ".env.local",
        &format!("STRIPE_SECRET_KEY={}\n", stripe_key()),
    );
    let run = r.run(&["scan", "--format", "json"]);
    run.code(0);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{}", run.stdout);
    assert_eq!(findings[0]["file"], ".env.local");
    assert_eq!(findings[0]["severity"], "low");
    assert_eq!(findings[0]["extra"]["ignored"], true);
    // --fail-on low makes it fail; --no-ignore scans build/ too.
    r.run(&["scan", "--fail-on", "low"]).code(1);
    let run = r.run(&["scan", "--no-ignore", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 2, "{}", run.stdout);
}

#[test]
fn config_excludes_and_disables() {
    let mut r = Rampart::new();
    r.write("fixtures/keys.txt", &format!("{}\n", stripe_key()));
    r.write("src/gh.sh", &format!("T={}\n", github_token()));
    r.write(
        "rampart.toml",
        "[scan]\nexclude = [\"fixtures/\"]\ndisable = [\"github_token\"]\n",
    );
    r.run(&["scan"]).code(0);
    r.write("rampart.toml", "[scan]\ndisable = [\"github_tokens\"]\n");
    let run = r.run(&["scan"]);
    run.code(2);
    assert!(
        run.stderr.contains("did you mean \"github_token\""),
        "{}",
        run.stderr
    );
}

#[test]
fn inline_allow_comments() {
    let mut r = Rampart::new();
    r.write(
        "a.ts",
        &format!(
            "const a = '{}'; // rampart:allow\n// rampart:allow-next-line\nconst b = '{}';\n",
            stripe_key(),
            github_token()
        ),
    );
    r.run(&["scan"]).code(0);
}

#[test]
fn baseline_accepts_known_findings_only() {
    let mut r = Rampart::new();
    r.write("a.ts", &format!("const a = '{}';\n", stripe_key()));
    let run = r.run(&["scan", "--write-baseline", "baseline.json"]);
    run.code(0);
    let text = r.read("baseline.json");
    assert!(
        !text.contains(&stripe_key()),
        "the baseline holds no secret"
    );
    r.run(&["scan", "--baseline", "baseline.json"]).code(0);
    // Moving the line keeps it accepted; a new secret is not.
    r.write("a.ts", &format!("\n\nconst a = '{}';\n", stripe_key()));
    r.run(&["scan", "--baseline", "baseline.json"]).code(0);
    r.write("b.ts", &format!("const b = '{}';\n", github_token()));
    let run = r.run(&["scan", "--baseline", "baseline.json", "--format", "json"]);
    run.code(1);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["findings"].as_array().unwrap().len(), 1);
    assert_eq!(v["summary"]["baselined"], 1);
    // The config key works too; a broken baseline is an error naming it.
    r.write("rampart.toml", "[scan]\nbaseline = \"baseline.json\"\n");
    r.write("b.ts", "");
    r.run(&["scan"]).code(0);
    r.write("baseline.json", "{not json");
    let run = r.run(&["scan"]);
    run.code(2);
    assert!(run.stderr.contains("baseline.json"), "{}", run.stderr);
}

#[test]
fn history_finds_a_removed_secret_and_names_the_commit() {
    let mut r = Rampart::new();
    let dir = r.dir().to_path_buf();
    git(&dir, &["init", "-q"]);
    r.write(
        "config.js",
        &format!("module.exports = {{ key: '{}' }};\n", stripe_key()),
    );
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-qm", "add config"]);
    r.write("config.js", "module.exports = { key: process.env.KEY };\n");
    git(&dir, &["commit", "-qam", "use env"]);
    r.run(&["scan"]).code(0);
    let run = r.run(&["scan", "--history", "--format", "json"]);
    run.code(1);
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    let f = &v["findings"][0];
    assert_eq!(f["file"], "config.js");
    assert_eq!(f["rule"], "stripe_secret_key");
    let commit = f["extra"]["commit"].as_str().unwrap();
    assert_eq!(commit.len(), 40);
    assert!(v["summary"]["blobs"].as_u64().unwrap() >= 2);
}

#[test]
fn history_outside_a_repository_is_an_error() {
    let run = Rampart::new().run(&["scan", "--history"]);
    run.code(2);
    assert!(
        run.stderr.contains("not a git repository"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_missing_path_is_an_error() {
    let run = Rampart::new().run(&["scan", "nope"]);
    run.code(2);
    assert!(run.stderr.contains("nope"), "{}", run.stderr);
}

#[test]
fn help_says_what_is_skipped() {
    let run = Rampart::new().run(&["scan", "--help"]);
    run.code(0);
    let help = run.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(help.contains("Skipped: the .git directory"), "{help}");
    assert!(help.contains("--no-ignore"));
}

#[test]
fn markdown_and_the_rule_list() {
    let mut r = Rampart::new();
    r.write("a.ts", &format!("const a = '{}';\n", stripe_key()));
    let run = r.run(&["scan", "--format", "markdown"]);
    run.code(1);
    assert!(run.stdout.starts_with("## rampart scan"), "{}", run.stdout);
    assert!(
        run.stdout
            .contains("| critical | `stripe_secret_key` | a.ts:1 |"),
        "{}",
        run.stdout
    );
    let run = r.run(&["scan", "--list-rules"]);
    run.code(0);
    for id in [
        "stripe_secret_key",
        "aws_access_key_id",
        "private_key",
        "generic_secret",
    ] {
        assert!(run.stdout.contains(id), "{id}");
    }
}
