//! One positive and one negative case for every rule in the table, assembled at run time.
//! A rule added without cases fails `every_rule_has_cases`.

use super::{Options, Scanner, rules::RULES};

fn c(parts: &[&str]) -> String {
    parts.concat()
}

const A24: &str = "4Xq9Lm2Zt7Rb1Nc8Vw3Ky6Pd";
const A36: &str = "k3Jd9Qz7Lm2Xv8Rt4Np6Wb1Yc5Hs0Fg2Ea9U";
const H32: &str = "9f2c7e1b8d3f6a0c5e9b2d7f1a4c8e3b";
const H40: &str = "9f2c7e1b8d3f6a0c5e9b2d7f1a4c8e3b5d7a9c1e";
const B40: &str = "Q2x7/Lm9Zt4Rb1Nc8Vw3Ky6Pd+Hs0Fg5Ea2Jk7Wx";

/// (rule, file, positive line, negative line).
fn cases() -> Vec<(&'static str, &'static str, String, String)> {
    let pem_body = c(&["MIIEpAIBAAKCAQEA", B40, A36, A24]);
    vec![
        (
            "private_key",
            "k.pem",
            format!("-----BEGIN RSA {}-----\n{pem_body}\n", "PRIVATE KEY"),
            format!("-----BEGIN RSA {}-----\n...\n", "PRIVATE KEY"),
        ),
        (
            "encrypted_private_key",
            "k.pem",
            format!("-----BEGIN ENCRYPTED {}-----\n{pem_body}\n", "PRIVATE KEY"),
            format!("-----BEGIN {}-----\n{pem_body}\n", "CERTIFICATE"),
        ),
        (
            "clerk_secret_key",
            ".env",
            format!("CLERK_SECRET_KEY={}", c(&["sk_", "live_", A36])),
            format!("CLERK_PUBLISHABLE_KEY={}", c(&["pk_", "live_", A36])),
        ),
        (
            "stripe_secret_key",
            "a.js",
            format!("k='{}'", c(&["sk_", "live_", A24])),
            format!("k='{}'", c(&["pk_", "live_", A24])),
        ),
        (
            "stripe_restricted_key",
            "a.js",
            format!("k='{}'", c(&["rk_", "live_", A24])),
            format!("k='{}'", c(&["rk_", "live_", "XXXXXXXXXXXXXXXXXXXXXXXX"])),
        ),
        (
            "stripe_test_secret_key",
            "a.js",
            format!("k='{}'", c(&["sk_", "test_", A24])),
            format!("k='{}'", c(&["sk_", "test_", "4eC39HqLyjWDarjtT1zdp7dc"])),
        ),
        (
            "stripe_test_restricted_key",
            "a.js",
            format!("k='{}'", c(&["rk_", "test_", A24])),
            "k='rk_test_...'".into(),
        ),
        (
            "webhook_signing_secret",
            "a.js",
            format!("s='{}'", c(&["whsec_", A36])),
            "s='whsec_your_webhook_secret_here'".into(),
        ),
        (
            "aws_access_key_id",
            "a.py",
            format!("k='{}'", c(&["AKIA", "Q3ZT7W2LMX4RB5NP"])),
            format!("k='{}'", c(&["AKIA", "IOSFODNN7", "EXAMPLE"])),
        ),
        (
            "aws_secret_access_key",
            "a.py",
            format!("aws_secret_access_key='{B40}'"),
            "aws_secret_access_key=os.environ['AWS_SECRET']".into(),
        ),
        (
            "github_token",
            "a.sh",
            format!("T={}", c(&["ghp_", A36])),
            "T=${{ secrets.GITHUB_TOKEN }}".into(),
        ),
        (
            "github_fine_grained_token",
            "a.sh",
            format!(
                "T={}",
                c(&[
                    "github_",
                    "pat_",
                    "11ABCDEFG0a1b2c3d4e5f6_",
                    A36,
                    "q4Mx8Bv3Nc6Zr1Wd9Ky5Lp2"
                ])
            ),
            "T=github_pat_...".into(),
        ),
        (
            "slack_token",
            "a.js",
            format!("t='{}'", c(&["xox", "b-", "2817364950-7392018465-", A24])),
            "t='xoxb-your-bot-token'".into(),
        ),
        (
            "slack_webhook_url",
            "a.js",
            format!(
                "u='https://{}/services/T0A1B2C3D/B4E5F6G7H/{A24}'",
                c(&["hooks.", "slack.com"])
            ),
            "u='https://hooks.slack.com/services/T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX'".into(),
        ),
        (
            "google_api_key",
            "a.js",
            format!(
                "k='{}'",
                c(&["AI", "za", "SyD4x9Lm2Zt7Rb1Nc8Vw3Ky6Pd0Hs5Fg2Ea"])
            ),
            "k='AIzaSyXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX'".into(),
        ),
        (
            "anthropic_api_key",
            "a.py",
            format!("k='{}'", c(&["sk-", "ant-", "api03-", A36, A36, A24])),
            "k='sk-ant-api03-...'".into(),
        ),
        (
            "openai_api_key",
            "a.py",
            format!("k='{}'", c(&["sk-", "proj-", A36, A24])),
            "k='sk-proj-...'".into(),
        ),
        (
            "sendgrid_api_key",
            "a.js",
            format!(
                "k='{}'",
                c(&["SG", ".", "Zq9Xv2Lm7Rt4Nb1Kc8Wd3Y", ".", A36, "Xk2Lm9R"])
            ),
            "k='SG.xxxxxxxx'".into(),
        ),
        (
            "twilio_api_key",
            "a.js",
            format!("k='{}'", c(&["S", "K", H32])),
            "k='SK00000000000000000000000000000000'".into(),
        ),
        (
            "twilio_auth_token",
            "a.js",
            format!("TWILIO_AUTH_TOKEN='{H32}'"),
            "TWILIO_AUTH_TOKEN=process.env.TWILIO_AUTH_TOKEN".into(),
        ),
        (
            "npm_token",
            ".npmrc",
            format!("//r/:_authToken={}", c(&["npm", "_", A36])),
            "//r/:_authToken=${NPM_TOKEN}".into(),
        ),
        (
            "npmrc_auth",
            ".npmrc",
            format!("//r/:_authToken={A36}"),
            "//r/:_authToken=${NPM_TOKEN}".into(),
        ),
        (
            "pypi_token",
            ".pypirc",
            format!("password = {}", c(&["pypi-", "AgEIcHlwaS5vcmc", A36, A36])),
            "password = <your token>".into(),
        ),
        (
            "gitlab_token",
            "a.sh",
            format!("T={}", c(&["gl", "pat-", A24])),
            "T=glpat-xxxxxxxxxxxxxxxxxxxx".into(),
        ),
        (
            "shopify_token",
            "a.js",
            format!("t='{}'", c(&["shp", "at_", H32])),
            "t='shpat_00000000000000000000000000000000'".into(),
        ),
        (
            "huggingface_token",
            "a.py",
            format!(
                "t='{}'",
                c(&["hf", "_", "kQzXvLmRtNbKcWdYpHsFgEaJkTqMxBvNcZ"])
            ),
            "t='hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'".into(),
        ),
        (
            "digitalocean_token",
            "a.sh",
            format!("T={}", c(&["do", "p_v1_", H32, H32])),
            "T=dop_v1_...".into(),
        ),
        (
            "mailgun_api_key",
            "a.js",
            format!("k='{}'", c(&["key", "-", H32])),
            "k='key-value-store'".into(),
        ),
        (
            "square_token",
            "a.js",
            format!("k='{}'", c(&["sq0", "atp-", A24])),
            "k='sq0atp-XXXXXXXXXXXXXXXXXXXXXX'".into(),
        ),
        (
            "telegram_bot_token",
            "a.py",
            format!(
                "T='{}'",
                c(&["8264019375", ":AA", "Hk2Lm9Qz7Rt4Nb1Kc8Wd3Yp6Hs0Fg5Ea2"])
            ),
            "T='123456789:AAxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'".into(),
        ),
        (
            "discord_webhook_url",
            "a.js",
            format!(
                "u='https://{}/api/webhooks/112233445566778899/{}'",
                c(&["discord", ".com"]),
                c(&[A36, A24, "Xk9"])
            ),
            "u='https://discord.com/api/webhooks/{id}/{token}'".into(),
        ),
        (
            "sentry_auth_token",
            "a.sh",
            format!("T={}", c(&["sntrys", "_", A36, A24])),
            "T=sntrys_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".into(),
        ),
        (
            "vault_token",
            "a.sh",
            format!("T={}", c(&["hv", "s.", A36])),
            "T=hvs.XXXXXXXXXXXXXXXXXXXXXXXX".into(),
        ),
        (
            "doppler_token",
            "a.sh",
            format!("T={}", c(&["dp", ".pt.", A36, "Xk9Lm2"])),
            "T=dp.pt.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".into(),
        ),
        (
            "resend_api_key",
            "a.ts",
            format!("k='{}'", c(&["re", "_", "Xk9Lm2Zt", "_", A24])),
            "const re_match = re_compile(x);".into(),
        ),
        (
            "postman_api_key",
            "a.sh",
            format!(
                "K={}",
                c(&["PM", "AK-", "9f2c7e1b8d3f6a0c5e9b2d7f", "-", H32, "a1"])
            ),
            "K=PMAK-xxxxxxxx".into(),
        ),
        (
            "age_secret_key",
            "k.txt",
            c(&[
                "AGE-SECRET",
                "-KEY-1",
                "QZ7RT4NB1KC8WD3YP6HS0FG5EA2JK7TQ4MX8BV3NC6ZR1WD9KY5LP2HS0F",
            ]),
            "AGE-SECRET-KEY-1XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX".into(),
        ),
        (
            "mapbox_secret_token",
            "a.js",
            format!(
                "t='{}'",
                c(&["sk", ".eyJ", "1IjoiYWNtZSIsImEiOiJjbGZ4", ".", A24])
            ),
            "t='pk.eyJ1IjoiYWNtZSIsImEiOiJjbGZ4.4Xq9Lm2Zt7Rb1Nc8Vw3Ky6Pd'".into(),
        ),
        (
            "supabase_secret_key",
            "a.sh",
            format!("K={}", c(&["sb", "p_", H40])),
            "K=sbp_0000000000000000000000000000000000000000".into(),
        ),
        (
            "linear_api_key",
            "a.sh",
            format!("K={}", c(&["lin", "_api_", A36, "Xk9L"])),
            "K=lin_api_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".into(),
        ),
        (
            "planetscale_token",
            "a.sh",
            format!("P={}", c(&["pscale", "_pw_", A36])),
            "P=pscale_pw_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".into(),
        ),
        (
            "databricks_token",
            "a.sh",
            format!("T={}", c(&["da", "pi", H32])),
            "T=dapi00000000000000000000000000000000".into(),
        ),
        (
            "azure_storage_key",
            "a.cs",
            format!(
                "var c = \"DefaultEndpointsProtocol=https;AccountName=acme;{}={}{}{}==\";",
                "AccountKey", B40, B40, "Zq9Xv2"
            ),
            "var c = \"AccountKey=<key>\";".into(),
        ),
        (
            "rubygems_api_key",
            "a.sh",
            format!("K={}", c(&["ruby", "gems_", H40, "a1b2c3d4"])),
            "K=rubygems_xxx".into(),
        ),
        (
            "dockerhub_token",
            "a.sh",
            format!("T={}", c(&["dckr", "_pat_", "Xk9Lm2Zt7Rb1Nc8Vw3Ky6Pd0Hs7"])),
            "T=dckr_pat_xxxxxxxxxxxxxxxxxxxxxxxxxxx".into(),
        ),
        (
            "cli_password",
            "a.sh",
            format!("mysqldump -u root -p{} shop > dump.sql", "Vq8rT2xLm9Zk"),
            "mysql -u root -p\"$MYSQL_PASSWORD\" shop".into(),
        ),
        (
            "dsn_password",
            "a.go",
            format!("dsn := \"app:{}@tcp(db:3306)/shop\"", "Vq8rT2xLm9Zk"),
            "dsn := fmt.Sprintf(\"%s:%s@tcp(%s)/%s\", u, p, h, d)".into(),
        ),
        (
            "netrc_password",
            ".netrc",
            format!("machine api.acme.io login ops password {}", "Vq8rT2xLm9Zk"),
            "machine api.acme.io login ops password changeme".into(),
        ),
        (
            "connection_string_password",
            "a.py",
            format!("u='redis://:{}@cache:6379'", "Vq8rT2xLm9Zk"),
            "u='redis://localhost:6379'".into(),
        ),
        (
            "basic_auth_credentials",
            "a.sh",
            format!("curl -u ops:{} https://x.test", "Vq8rT2xLm9Zk"),
            "curl -u \"$U:$P\" https://x.test".into(),
        ),
        (
            "basic_auth_header",
            "a.sh",
            format!(
                "curl -H 'Authorization: Basic {}' x",
                "b3BzOlZxOHJUMnhMbTlaaw=="
            ),
            "curl -H 'Authorization: Basic $CREDS' x".into(),
        ),
        (
            "bearer_token",
            "a.js",
            format!("h = {{ Authorization: 'Bearer {A36}' }}"),
            "h = { Authorization: `Bearer ${token}` }".into(),
        ),
        (
            "jwt",
            "a.js",
            format!(
                "t='{}.{}.{A36}'",
                "eyJhbGciOiJIUzI1NiJ9", "eyJzdWIiOiJ1c2VyXzJaeDhMazMiLCJleHAiOjE5OTk5OTk5OTl9"
            ),
            format!(
                "NEXT_PUBLIC_SUPABASE_ANON_KEY={}.{}.{A36}",
                "eyJhbGciOiJIUzI1NiJ9", "eyJyb2xlIjoiYW5vbiIsImV4cCI6MTk5OTk5OTk5OX0"
            ),
        ),
        (
            "generic_secret",
            ".env",
            format!("SESSION_SECRET={A36}"),
            "SESSION_SECRET=change-me-please".into(),
        ),
        (
            "xml_secret",
            "web.config",
            format!(
                "<add key=\"StripeApiKey\" value=\"{A36}\" />\n<password>{}</password>",
                "Vq8rT2xLm9Zk"
            ),
            "<add key=\"ApiKeyHeader\" value=\"X-Api-Key\" />\n<password>${DB_PASSWORD}</password>"
                .into(),
        ),
        ("env_list_secret", "deploy.yaml", format!("        - name: DB_PASSWORD\n          value: \"{}\"", "Vq8rT2xLm9Zk"), "        - name: DB_PASSWORD\n          valueFrom:\n            secretKeyRef: {name: db, key: password}".into()),
        ("clerk_test_secret_key", ".env", format!("CLERK_SECRET_KEY={}", c(&["sk_", "test_", A36])), format!("NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY={}", c(&["pk_", "test_", A36]))),
    ]
}

#[test]
fn every_rule_has_cases() {
    let cases = cases();
    for r in RULES {
        assert!(
            cases.iter().any(|(id, ..)| *id == r.id),
            "no cases for {}",
            r.id
        );
    }
}

#[test]
fn each_rule_finds_its_positive_and_not_its_negative() {
    let s = Scanner::new(&Options::new(".")).unwrap();
    let mut failures = Vec::new();
    for (rule, file, pos, neg) in cases() {
        let found: Vec<String> = s
            .scan_bytes(file, pos.as_bytes())
            .into_iter()
            .map(|f| f.finding.rule)
            .collect();
        if !found.iter().any(|f| f == rule) {
            failures.push(format!("{rule}: positive {pos:?} gave {found:?}"));
        }
        let found: Vec<String> = s
            .scan_bytes(file, neg.as_bytes())
            .into_iter()
            .map(|f| f.finding.rule)
            .collect();
        if !found.is_empty() {
            failures.push(format!("{rule}: negative {neg:?} gave {found:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
