use crate::harness::Rampart;

fn env_value<'a>(env: &'a str, name: &str) -> Option<&'a str> {
    env.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
}

#[test]
fn init_writes_config_secrets_and_gitignore() {
    let mut r = Rampart::new();
    r.run(&["init", "app"]).code(0);
    let config = r.read("app/rampart.toml");
    assert!(config.contains("[[route]]"));
    let env = r.read("app/.env.local");
    for name in ["CSRF_SECRET", "SESSION_SECRET"] {
        let v = env_value(&env, name).unwrap_or_else(|| panic!("{name} missing:\n{env}"));
        assert_eq!(v.len(), 43, "{name}");
    }
    assert_ne!(
        env_value(&env, "CSRF_SECRET"),
        env_value(&env, "SESSION_SECRET")
    );
    assert!(r.read("app/.gitignore").lines().any(|l| l == ".env*.local"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(r.path("app/.env.local"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn init_is_idempotent_and_never_clobbers() {
    let mut r = Rampart::new();
    r.write(".gitignore", "node_modules\n");
    r.run(&["init"]).code(0);
    let config = r.read("rampart.toml");
    let env = r.read(".env.local");
    let ignore = r.read(".gitignore");
    assert!(ignore.starts_with("node_modules\n"));

    r.write("rampart.toml", &format!("{config}\n# my edit\n"));
    let run = r.run(&["init"]);
    run.code(0);
    assert!(run.stderr.contains("kept"), "{}", run.stderr);
    assert!(r.read("rampart.toml").ends_with("# my edit\n"));
    assert_eq!(r.read(".env.local"), env);
    assert_eq!(r.read(".gitignore"), ignore, ".gitignore entry duplicated");
}

#[test]
fn init_adds_missing_secret_and_keeps_other_lines() {
    let mut r = Rampart::new();
    r.write(
        ".env.local",
        "DATABASE_URL=postgres://localhost/app\nCSRF_SECRET=keep-me-keep-me-keep-me-keep-me-1234\n",
    );
    r.run(&["init"]).code(0);
    let env = r.read(".env.local");
    assert!(env.contains("DATABASE_URL=postgres://localhost/app"));
    assert_eq!(
        env_value(&env, "CSRF_SECRET"),
        Some("keep-me-keep-me-keep-me-keep-me-1234")
    );
    assert_eq!(env_value(&env, "SESSION_SECRET").map(str::len), Some(43));
}

#[test]
fn force_overwrites_config_and_regenerates_secrets() {
    let mut r = Rampart::new();
    r.run(&["init"]).code(0);
    let before = r.read(".env.local");
    r.write("rampart.toml", "# mine\n");
    r.run(&["init", "--force"]).code(0);
    assert!(r.read("rampart.toml").contains("[[route]]"));
    let after = r.read(".env.local");
    assert_ne!(
        env_value(&before, "CSRF_SECRET"),
        env_value(&after, "CSRF_SECRET")
    );
}

#[test]
fn unwritable_or_bad_dir_is_exit_2_and_writes_nothing() {
    let mut r = Rampart::new();
    r.write("afile", "x");
    let run = r.run(&["init", "afile"]);
    run.code(2);
    assert!(run.stderr.contains("afile"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);

    #[cfg(unix)]
    if !is_root() {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir(r.path("ro")).unwrap();
        std::fs::set_permissions(r.path("ro"), std::fs::Permissions::from_mode(0o500)).unwrap();
        let run = r.run(&["init", "ro"]);
        run.code(2);
        assert!(run.stderr.contains("ro"), "{}", run.stderr);
        assert!(!r.path("ro/rampart.toml").exists());
    }
}

#[test]
fn env_file_that_is_not_text_is_left_alone() {
    let mut r = Rampart::new();
    std::fs::write(r.path(".env.local"), [0xff, 0xfe, 0x00, 0x41]).unwrap();
    let run = r.run(&["init"]);
    run.code(2);
    assert!(run.stderr.contains(".env.local"), "{}", run.stderr);
    assert_eq!(
        std::fs::read(r.path(".env.local")).unwrap(),
        vec![0xff, 0xfe, 0x00, 0x41]
    );
    assert!(!r.path("rampart.toml").exists(), "half-written setup");
}

#[cfg(unix)]
fn is_root() -> bool {
    // Root ignores directory permissions; /proc/self/status tells the effective uid.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}
