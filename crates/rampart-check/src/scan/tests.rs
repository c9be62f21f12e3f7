//! Per-rule positive and negative cases. Every credential-shaped string is assembled at run
//! time from pieces, so that this file holds none.

use super::*;

/// One compiled scanner for every test (compiling the rules is the slow part).
fn scanner() -> &'static Scanner {
    static SCANNER: std::sync::OnceLock<Scanner> = std::sync::OnceLock::new();
    SCANNER.get_or_init(|| Scanner::new(&Options::new(".")).unwrap())
}

fn rules_in(path: &str, text: &str) -> Vec<String> {
    scanner()
        .scan_bytes(path, text.as_bytes())
        .into_iter()
        .map(|f| f.finding.rule)
        .collect()
}

/// Joins pieces: `k(&["sk_", "live_", "..."])`.
fn k(parts: &[&str]) -> String {
    parts.concat()
}

const R24: &str = "4Xq9Lm2Zt7Rb1Nc8Vw3Ky6Pd";
const R36: &str = "k3Jd9Qz7Lm2Xv8Rt4Np6Wb1Yc5Hs0Fg2Ea9U";
const R40: &str = "Q2x7/Lm9Zt4Rb1Nc8Vw3Ky6Pd+Hs0Fg5Ea2Jk7Wx";
/// Passwords, kept apart from any secret-looking name so that this file scans clean.
const PW1: &str = "Vq8rT2xLm9Zk";
const PW2: &str = "s3cr3tRedisPw9";
const PW3: &str = "Hx7Lq2Vt9Rm4";
const PW4: &str = "Xk9#mP2$vL7q";
const R43: &str = "Zq9Xv2Lm7Rt4Nb1Kc8Wd3Yp6Hs0Fg5Ea2Jk7Tq4Mx8B";

#[track_caller]
fn positive(rule: &str, path: &str, text: &str) {
    let got = rules_in(path, text);
    assert!(
        got.iter().any(|r| r == rule),
        "{rule} not found in {path}: {text:?} (got {got:?})"
    );
}

#[track_caller]
fn negative(path: &str, text: &str) {
    let got = rules_in(path, text);
    assert!(got.is_empty(), "unexpected {got:?} in {path}: {text:?}");
}

#[test]
fn private_keys() {
    let body = format!("MIIEpAIBAAKCAQEA{R40}{R43}");
    positive(
        "private_key",
        "id_rsa",
        &format!(
            "-----BEGIN RSA {}-----\n{body}\n-----END RSA PRIVATE KEY-----\n",
            "PRIVATE KEY"
        ),
    );
    positive(
        "private_key",
        "key.js",
        &format!(
            "const k = \"-----BEGIN {}-----\\n{body}\\n\";",
            "OPENSSH PRIVATE KEY"
        ),
    );
    negative(
        "README.md",
        &format!("-----BEGIN {}-----\n...\n", "PRIVATE KEY"),
    );
    negative(
        "a.pem",
        &format!("-----BEGIN {}-----\n{body}\n", "PUBLIC KEY"),
    );
}

#[test]
fn stripe_keys() {
    positive(
        "stripe_secret_key",
        "a.ts",
        &format!("const s = '{}';", k(&["sk_", "live_", R24])),
    );
    positive(
        "stripe_restricted_key",
        "a.py",
        &format!("k = \"{}\"", k(&["rk_", "live_", R24])),
    );
    positive(
        "stripe_test_secret_key",
        ".env",
        &format!("STRIPE_KEY={}", k(&["sk_", "test_", R24])),
    );
    positive(
        "stripe_test_restricted_key",
        "a.rb",
        &format!("x = '{}'", k(&["rk_", "test_", R24])),
    );
    negative(
        "a.ts",
        &format!("const p = '{}';", k(&["pk_", "live_", R24])),
    );
    negative(
        "a.ts",
        &format!(
            "const s = '{}';",
            k(&["sk_", "live_", "xxxxxxxxxxxxxxxxxxxxxxxx"])
        ),
    );
    negative(
        "a.ts",
        &format!(
            "const s = '{}';",
            k(&["sk_", "test_", "4eC39HqLyjWDarjtT1zdp7dc"])
        ),
    );
    negative("a.ts", "const s = process.env.STRIPE_SECRET_KEY;");
    negative("a.md", &format!("Set `{}...`", k(&["sk_", "live_"])));
}

#[test]
fn clerk_and_webhook_secrets() {
    positive(
        "clerk_secret_key",
        ".env",
        &format!("CLERK_SECRET_KEY={}", k(&["sk_", "live_", R36])),
    );
    positive(
        "webhook_signing_secret",
        "a.ts",
        &format!("const w = \"{}\";", k(&["whsec_", R43])),
    );
    negative(
        ".env",
        &format!(
            "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY={}",
            k(&["pk_", "live_", R36])
        ),
    );
    negative(
        ".env.example",
        "CLERK_WEBHOOK_SECRET=whsec_your_secret_here",
    );
}

#[test]
fn aws_keys() {
    positive(
        "aws_access_key_id",
        "a.py",
        &format!("id = '{}'", k(&["AKIA", "Q3ZT7W2LMX4RB5NP"])),
    );
    positive(
        "aws_secret_access_key",
        "credentials",
        &format!("aws_secret_access_key = {R40}"),
    );
    negative(
        "a.py",
        &format!("id = '{}'", k(&["AKIA", "IOSFODNN7", "EXAMPLE"])),
    );
    negative(
        "a.py",
        &format!(
            "aws_secret_access_key = '{}'",
            k(&["wJalrXUtnFEMI/K7MDENG/bPxRfiCY", "EXAMPLEKEY"])
        ),
    );
}

#[test]
fn github_tokens() {
    for p in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"] {
        positive("github_token", "a.yml", &format!("token: {}", k(&[p, R36])));
    }
    positive(
        "github_fine_grained_token",
        "a.sh",
        &format!(
            "GH={}",
            k(&[
                "github_",
                "pat_",
                "11ABCDEFG0",
                "a1b2c3d4e5f6_",
                "Xk2Lm9Qz7Rt4Nb1Kc8Wd3Yp6Hs0Fg5Ea2Jk7T",
                "q4Mx8Bv3Nc6Zr1Wd9Ky5Lp"
            ])
        ),
    );
    negative("a.yml", "token: ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    negative("a.yml", "token: ${{ secrets.GITHUB_TOKEN }}");
}

#[test]
fn slack() {
    positive(
        "slack_token",
        "a.js",
        &format!("t = '{}'", k(&["xox", "b-", "2817364950-7392018465-", R24])),
    );
    positive(
        "slack_webhook_url",
        "a.js",
        &format!(
            "u = 'https://{}/services/T0A1B2C3D/B4E5F6G7H/{}'",
            k(&["hooks.", "slack.com"]),
            R24
        ),
    );
    negative(
        "a.js",
        "u = 'https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX'",
    );
}

#[test]
fn google_openai_anthropic() {
    positive(
        "google_api_key",
        "a.js",
        &format!(
            "key: '{}'",
            k(&["AI", "za", "Sy", "D4x9Lm2Zt7Rb1Nc8Vw3Ky6Pd0Hs5Fg2Ea"])
        ),
    );
    positive(
        "openai_api_key",
        ".env",
        &format!("OPENAI_API_KEY={}", k(&["sk-", "proj-", R43, R24])),
    );
    positive(
        "openai_api_key",
        "a.py",
        &format!(
            "k = '{}'",
            k(&[
                "sk-",
                "Zq9Xv2Lm7Rt4Nb1Kc8Wd",
                "T3Blbk",
                "FJ",
                "Hs0Fg5Ea2Jk7Tq4Mx9Ab"
            ])
        ),
    );
    positive(
        "anthropic_api_key",
        "a.py",
        &format!("k = '{}'", k(&["sk-", "ant-", "api03-", R43, R43, "AA"])),
    );
    negative("a.py", "k = 'sk-ant-api03-...'");
}

#[test]
fn sendgrid_twilio_npm_pypi() {
    positive(
        "sendgrid_api_key",
        "a.js",
        &format!(
            "k='{}'",
            k(&["SG", ".", "Zq9Xv2Lm7Rt4Nb1Kc8Wd3Y", ".", R43])
        ),
    );
    positive(
        "twilio_api_key",
        "a.js",
        &format!("k='{}'", k(&["S", "K", "4f9a2c7e1b8d3f6a0c5e9b2d7f1a4c8e"])),
    );
    positive(
        "twilio_auth_token",
        "a.js",
        &format!("TWILIO_AUTH_TOKEN='{}'", "9f2c7e1b8d3f6a0c5e9b2d7f1a4c8e3b"),
    );
    positive(
        "npm_token",
        ".npmrc",
        &format!("//registry.npmjs.org/:_authToken={}", k(&["npm", "_", R36])),
    );
    positive(
        "npmrc_auth",
        ".npmrc",
        &format!("//npm.pkg.github.com/:_authToken={}", R36),
    );
    negative(".npmrc", "//registry.npmjs.org/:_authToken=${NPM_TOKEN}");
    positive(
        "pypi_token",
        ".pypirc",
        &format!("password = {}", k(&["pypi-", "AgEIcHlwaS5vcmc", R43, R24])),
    );
}

#[test]
fn jwts() {
    use base64::Engine;
    let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let jwt = format!(
        "{}.{}.{}",
        b(r#"{"alg":"HS256","typ":"JWT"}"#),
        b(r#"{"sub":"user_2NNEqL2nrIRdJ194","role":"admin","exp":1900000000}"#),
        "Xk2Lm9Qz7Rt4Nb1Kc8Wd3Yp6Hs0Fg5Ea2Jk7T"
    );
    positive("jwt", "a.http", &format!("token={jwt}"));
    let sample = format!(
        "{}.{}.{}",
        b(r#"{"alg":"HS256","typ":"JWT"}"#),
        b(r#"{"sub":"1234567890","name":"John Doe","iat":1516239022}"#),
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    );
    negative("a.md", &format!("example: {sample}"));
}

#[test]
fn connection_urls() {
    positive(
        "connection_string_password",
        ".env",
        &format!("DATABASE_URL=postgres://app:{PW1}@db.internal:5432/app"),
    );
    positive(
        "connection_string_password",
        "a.py",
        &format!("r = redis.from_url('redis://:{PW2}@cache.internal:6379/0')"),
    );
    positive(
        "connection_string_password",
        "a.js",
        &format!("const u = 'mongodb+srv://admin:{PW3}@cluster0.abcd.mongodb.net/db'"),
    );
    negative("a.md", "postgres://user:password@localhost:5432/db");
    negative("a.md", "postgres://postgres:postgres@localhost/db");
    negative("a.ts", "const u = `postgres://${user}:${pass}@${host}/db`;");
    negative("a.md", "https://example.com/path?x=1");
}

#[test]
fn command_line_credentials() {
    positive(
        "basic_auth_credentials",
        "deploy.sh",
        &format!("curl -u deploy:{PW1} https://api.internal/x"),
    );
    positive(
        "basic_auth_credentials",
        "README.md",
        &format!("curl --user admin:{PW3} https://x.test"),
    );
    negative(
        "deploy.sh",
        "curl -u \"$USER:$TOKEN\" https://api.internal/x",
    );
    negative("deploy.sh", "curl -u user:pass https://api.internal/x");
}

#[test]
fn authorization_headers() {
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("deploy:Zt7Rb1Nc8Vw3");
    positive(
        "basic_auth_header",
        "a.sh",
        &format!("curl -H 'Authorization: Basic {basic}' x"),
    );
    positive(
        "bearer_token",
        "a.js",
        &format!("headers: {{ Authorization: 'Bearer {R43}' }}"),
    );
    negative("a.js", "headers: { Authorization: `Bearer ${token}` }");
}

#[test]
fn generic_assignments() {
    positive("generic_secret", ".env", &format!("SESSION_SECRET={R43}"));
    positive(
        "generic_secret",
        "config.yml",
        &format!("api_key: \"{R36}\""),
    );
    positive(
        "generic_secret",
        "settings.py",
        &format!("DB_PASSWORD = '{PW4}'"),
    );
    positive(
        "generic_secret",
        "a.json",
        &format!("{{\"client_secret\": \"{R36}\"}}"),
    );
    negative("a.ts", "const secret = process.env.SESSION_SECRET;");
    negative("a.ts", "const password = req.body.password;");
    negative(
        ".env.example",
        "SESSION_SECRET=change-me-to-a-random-string",
    );
    negative(".env", "SESSION_SECRET=your-session-secret-here");
    negative("a.rs", "let token = next_token(&mut lexer);");
    negative("a.ts", "const tokenType = 'Bearer';");
    negative("a.ts", "<input type=\"password\" name=\"password\" />");
}

#[test]
fn allow_comments_and_disabled_rules() {
    let key = k(&["sk_", "live_", R24]);
    assert!(rules_in("a.ts", &format!("const s = '{key}'; // rampart:allow")).is_empty());
    assert!(
        rules_in(
            "a.ts",
            &format!("// rampart:allow-next-line\nconst s = '{key}';")
        )
        .is_empty()
    );
    assert_eq!(
        rules_in("a.ts", &format!("// ok\nconst s = '{key}';")),
        ["stripe_secret_key"]
    );
    let mut o = Options::new(".");
    o.disable = vec!["stripe_secret_key".into()];
    let s = Scanner::new(&o).unwrap();
    assert!(
        s.scan_bytes("a.ts", format!("x = '{key}'").as_bytes())
            .is_empty()
    );
    o.disable = vec!["stripe_secret_keys".into()];
    let e = Scanner::new(&o).unwrap_err().to_string();
    assert!(e.contains("did you mean \"stripe_secret_key\""), "{e}");
}

#[test]
fn findings_are_located_and_redacted() {
    let key = k(&["sk_", "live_", R24]);
    let f = &scanner().scan_bytes(
        "src/a.ts",
        format!("// one\n  const s = '{key}';\n").as_bytes(),
    )[0];
    assert_eq!(f.finding.line, Some(2));
    assert_eq!(f.finding.column, Some(14));
    assert_eq!(f.finding.file.as_deref(), Some("src/a.ts"));
    let ev = f.finding.evidence.as_deref().unwrap();
    assert!(
        ev.starts_with("sk_live_") && ev.ends_with('…') && ev.len() < 20,
        "{ev}"
    );
    assert_eq!(f.fingerprint, fingerprint("stripe_secret_key", &key));
}

#[test]
fn binary_data_is_skipped() {
    let key = k(&["sk_", "live_", R24]);
    assert!(
        scanner()
            .scan_bytes("a.bin", format!("\0\0{key}").as_bytes())
            .is_empty()
    );
}

#[test]
fn identifiers_and_fixtures_in_real_code_are_not_secrets() {
    // From real crates: type annotations, handshake nonces, RFC examples, test JWTs.
    negative(
        "a.rs",
        "pub const X_SIGNATURE_KEY: X509HardwareKeyUsageFlags = 3i32;",
    );
    negative(
        "a.rs",
        "fn f(private_key_info: pkcs8::PrivateKeyInfo<'_>) {}",
    );
    negative(
        "a.rs",
        ".header(\"sec-websocket-key\", \"6D69KGBOr4Re+Nj6zx9aQA==\")",
    );
    negative(
        "a.rs",
        "let p = \"https://Aladdin:opensesame@localhost:8887\";",
    );
    negative(
        "a.rs",
        "let n = \"redis://sentinel_user:sentinel_pass@127.0.0.1\";",
    );
    negative(
        "a.rs",
        "let token = \"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.wrong\";",
    );
}

#[test]
fn implicit_concatenation_is_joined() {
    let key = k(&["sk_", "live_", R24]);
    let (a, b) = key.split_at(12);
    positive(
        "stripe_secret_key",
        "a.py",
        &format!("KEY = (\"{a}\"\n       \"{b}\")\n"),
    );
    positive(
        "stripe_secret_key",
        "a.c",
        &format!("char *k = \"{a}\" \"{b}\";\n"),
    );
    negative("a.py", "x = (\"hello\"\n     \"world\")\n");
}

#[test]
fn documented_examples_data_uris_and_encrypted_values_are_not_secrets() {
    negative(
        "README.md",
        &format!(
            "GITHUB_TOKEN={}",
            k(&["ghp_", "16C7e42F292c6912E7710c838347Ae178B4a"])
        ),
    );
    negative(
        "a.js",
        &format!(
            "key: '{}'",
            k(&["AI", "za", "SyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe"])
        ),
    );
    negative(
        "a.json",
        "{\"icon_token\": \"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAE2\"}",
    );
    negative(
        "secrets.yaml",
        "db_password: ENC[AES256_GCM,data:Tr3x9Q==,iv:q7Vx2mP0,tag:Zk1=,type:str]",
    );
}

mod hostile {
    use super::*;
    use proptest::prelude::*;

    /// Fragments that trigger every part of the engine: keywords, concatenation markers,
    /// quotes, separators, newlines, non-UTF-8 bytes.
    const PIECES: &[&str] = &[
        "sk_live_",
        "ghp_",
        "-----BEGIN ",
        "PRIVATE KEY-----",
        "\" + \"",
        "'\n'",
        "password",
        "secret",
        "_key",
        "=",
        ": ",
        "\"",
        "'",
        "\n",
        "://",
        "@",
        "curl -u ",
        "eyJ",
        ".",
        "\\n",
        "AKIA",
        "whsec_",
        "\u{e9}",
        "\u{1F600}",
        "<password>",
        "</",
        "name: ",
        "value: ",
    ];

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
            let _ = scanner().scan_bytes("a.env", &data);
        }

        #[test]
        fn keyword_soup_never_panics(
            parts in proptest::collection::vec((0..PIECES.len(), "[A-Za-z0-9+/_-]{0,40}"), 0..64)
        ) {
            let mut text = String::new();
            for (i, filler) in parts {
                text.push_str(PIECES[i]);
                text.push_str(&filler);
            }
            for path in ["a.ts", ".env", "k.pem"] {
                for f in scanner().scan_bytes(path, text.as_bytes()) {
                    let ev = f.finding.evidence.unwrap();
                    prop_assert!(ev.ends_with('…'));
                }
            }
        }
    }
}

#[test]
fn browser_keys_are_public() {
    negative(
        ".env",
        "ALGOLIA_SEARCH_KEY=4f9a2c7e1b8d3f6a0c5e9b2d7f1a4c8e",
    );
    negative(".env", &format!("POSTHOG_KEY={}", k(&["phc_", R36])));
    negative(".env", &format!("RECAPTCHA_SITE_KEY={}", k(&["6Lc", R36])));
    positive(
        "generic_secret",
        ".env",
        "ALGOLIA_ADMIN_KEY=4f9a2c7e1b8d3f6a0c5e9b2d7f1a4c8e",
    );
}
