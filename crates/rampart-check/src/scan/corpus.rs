//! A realistic corpus, generated at test time: planted credentials in the places web teams
//! leak them (env files, dotfiles, CI, scripts, code in several languages, a minified bundle,
//! split literals) and look-alike decoys (publishable keys, documented examples,
//! placeholders, references, hashes, ids). The test scans it and asserts recall and precision.

use std::collections::BTreeSet;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// A small deterministic generator (xorshift64*), so runs are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn pick(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize] as char)
            .collect()
    }
    fn alnum(&mut self, n: usize) -> String {
        self.pick(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            n,
        )
    }
    fn hex(&mut self, n: usize) -> String {
        self.pick(b"0123456789abcdef", n)
    }
    fn upper32(&mut self, n: usize) -> String {
        self.pick(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", n)
    }
    fn b64url(&mut self, bytes: usize) -> String {
        let raw: Vec<u8> = (0..bytes).map(|_| self.next() as u8).collect();
        URL_SAFE_NO_PAD.encode(raw)
    }
    fn b64(&mut self, bytes: usize) -> String {
        let raw: Vec<u8> = (0..bytes).map(|_| self.next() as u8).collect();
        STANDARD.encode(raw)
    }
    fn password(&mut self) -> String {
        let mut p = self.pick(
            b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789",
            10,
        );
        p.push(['!', '#', '%', '^', '*', '-'][(self.next() % 6) as usize]);
        p.push_str(&self.pick(b"23456789", 2));
        p
    }
}

/// Assembles provider prefixes so that this file holds no credential-shaped literal.
fn p(parts: &[&str]) -> String {
    parts.concat()
}

/// One file of the corpus: its lines, and which of them hold a planted secret.
struct Doc {
    path: String,
    lines: Vec<(String, bool)>,
}

impl Doc {
    fn new(path: &str) -> Self {
        Doc {
            path: path.to_string(),
            lines: Vec::new(),
        }
    }
    fn secret(mut self, line: String) -> Self {
        self.lines.push((line, true));
        self
    }
    fn decoy(mut self, line: impl Into<String>) -> Self {
        self.lines.push((line.into(), false));
        self
    }
}

fn jwt(rng: &mut Rng, payload: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(payload),
        rng.b64url(32)
    )
}

fn pem(rng: &mut Rng, kind: &str, escaped: bool) -> String {
    let nl = if escaped { "\\n" } else { "\n" };
    let body: Vec<String> = (0..6).map(|_| rng.b64(48)).collect();
    format!(
        "-----BEGIN {kind}{}-----{nl}{}{nl}-----END {kind}{}-----",
        "PRIVATE KEY",
        body.join(nl),
        "PRIVATE KEY"
    )
}

#[allow(clippy::too_many_lines)]
fn documents(rng: &mut Rng) -> Vec<Doc> {
    let sk_live = p(&["sk_", "live_"]);
    let sk_test = p(&["sk_", "test_"]);
    let rk_live = p(&["rk_", "live_"]);
    let rk_test = p(&["rk_", "test_"]);
    let pk_live = p(&["pk_", "live_"]);
    let pk_test = p(&["pk_", "test_"]);
    let whsec = p(&["wh", "sec_"]);
    let akia = p(&["AK", "IA"]);
    let ghp = p(&["gh", "p_"]);
    let gho = p(&["gh", "o_"]);
    let pat = p(&["github", "_pat_"]);
    let xoxb = p(&["xo", "xb-"]);
    let xoxp = p(&["xo", "xp-"]);
    let xapp = p(&["xa", "pp-"]);
    let aiza = p(&["AI", "za"]);
    let proj = p(&["sk-", "proj-"]);
    let ant = p(&["sk-", "ant-", "api03-"]);
    let sg = p(&["S", "G."]);
    let npm = p(&["np", "m_"]);
    let pypi = p(&["py", "pi-", "AgEIcHlwaS5vcmc"]);
    let slack_hooks = p(&["hooks.", "slack.com/services/"]);
    let begin = |k: &str| format!("-----BEGIN {k}");
    let mut docs = Vec::new();

    // Env files, committed or not.
    docs.push(
        Doc::new(".env.local")
            .decoy("# local secrets, never committed")
            .secret(format!("STRIPE_SECRET_KEY={sk_live}{}", rng.alnum(99)))
            .decoy(format!(
                "NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY={pk_live}{}",
                rng.alnum(99)
            ))
            .secret(format!("CLERK_SECRET_KEY={sk_test}{}", rng.alnum(40)))
            .decoy(format!(
                "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY={pk_test}{}",
                rng.b64url(24)
            ))
            .secret(format!("CSRF_SECRET={}", rng.b64url(32)))
            .secret(format!("SESSION_SECRET={}", rng.b64url(32)))
            .decoy("NEXT_PUBLIC_CONVEX_URL=https://happy-animal-123.convex.cloud"),
    );
    docs.push(
        Doc::new(".env.production")
            .secret(format!("CLERK_WEBHOOK_SECRET={whsec}{}", rng.b64(32)))
            .secret(format!("STRIPE_WEBHOOK_SECRET={whsec}{}", rng.alnum(32)))
            .secret(format!(
                "DATABASE_URL=postgresql://app_user:{}@db.prod.internal:5432/app",
                rng.password()
            ))
            .secret(format!("AWS_SECRET_ACCESS_KEY={}", rng.b64(30)))
            .decoy("CONVEX_DEPLOYMENT=prod:happy-animal-123")
            .decoy("TOKEN_EXPIRY_SECONDS=3600"),
    );
    docs.push(
        Doc::new(".env.development.local")
            .secret(format!("OPENAI_API_KEY={proj}{}", rng.b64url(96)))
            .secret(format!("SUPABASE_SERVICE_ROLE_KEY={}", jwt(rng, r#"{"iss":"supabase","ref":"qwpxtlbnrmzkvdyh","role":"service_role","iat":1700000000,"exp":2015000000}"#)))
            .decoy("NEXT_PUBLIC_SUPABASE_URL=https://qwpxtlbnrmzkvdyh.supabase.co"),
    );
    docs.push(
        Doc::new(".env.example")
            .decoy(format!("STRIPE_SECRET_KEY={sk_live}your_key_here"))
            .decoy("SESSION_SECRET=changeme")
            .decoy("CSRF_SECRET=<generate with rampart secret>")
            .decoy("DATABASE_URL=postgres://user:password@localhost:5432/app")
            .decoy(format!(
                "CLERK_WEBHOOK_SECRET={whsec}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
            ))
            .decoy("OPENAI_API_KEY=")
            .decoy("SESSION_SECRET="),
    );
    docs.push(Doc::new(".dev.vars").secret(format!("API_TOKEN={}", rng.hex(40))));
    // Dotfiles ripsecrets skips.
    docs.push(
        Doc::new(".npmrc")
            .secret(format!(
                "//registry.npmjs.org/:_authToken={npm}{}",
                rng.alnum(36)
            ))
            .decoy("//npm.pkg.github.com/:_authToken=${GITHUB_TOKEN}")
            .decoy("@acme:registry=https://npm.pkg.github.com"),
    );
    docs.push(
        Doc::new(".pypirc")
            .decoy("[pypi]")
            .decoy("username = __token__")
            .secret(format!("password = {pypi}{}", rng.b64url(60))),
    );
    docs.push(Doc::new(".netrc").secret(format!(
        "machine api.heroku.com login ops@acme.io password {}",
        rng.hex(32)
    )));
    docs.push(
        Doc::new("deploy/aws/credentials")
            .decoy("[default]")
            .secret(format!("aws_access_key_id = {akia}{}", rng.upper32(16)))
            .secret(format!("aws_secret_access_key = {}", rng.b64(30))),
    );
    // CI and scripts.
    docs.push(
        Doc::new(".github/workflows/deploy.yml")
            .decoy("name: deploy")
            .decoy("env:")
            .secret(format!("  GH_TOKEN: {ghp}{}", rng.alnum(36)))
            .decoy("  DB_PASSWORD: ${{ secrets.DB_PASSWORD }}")
            .decoy("  GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}")
            .decoy("  NODE_VERSION: 20"),
    );
    docs.push(
        Doc::new("scripts/release.sh")
            .decoy("#!/usr/bin/env bash")
            .secret(format!(
                "export GITHUB_TOKEN={pat}{}_{}",
                rng.alnum(22),
                rng.alnum(59)
            ))
            .secret(format!(
                "curl -u deploy:{} https://ci.internal.acme.io/api/trigger",
                rng.password()
            ))
            .decoy("curl -u \"$CI_USER:$CI_TOKEN\" https://ci.internal.acme.io/api/status")
            .decoy("curl -u user:pass https://example.com/api")
            .secret(format!(
                "curl -H \"Authorization: Basic {}\" https://registry.acme.io/v2/",
                STANDARD.encode(format!("robot:{}", rng.password()))
            )),
    );
    docs.push(
        Doc::new("docker-compose.yml")
            .decoy("services:")
            .decoy("  api:")
            .decoy("    environment:")
            .secret(format!(
                "      DATABASE_URL: postgres://api:{}@db:5432/api",
                rng.password()
            ))
            .decoy("      REDIS_URL: redis://cache:6379/0")
            .secret(format!("      POSTGRES_PASSWORD: {}", rng.password()))
            .decoy("      POSTGRES_USER: api"),
    );
    docs.push(
        Doc::new("infra/terraform.tfvars")
            .secret(format!("db_password = \"{}\"", rng.password()))
            .decoy("db_username = \"admin\"")
            .decoy("region = \"eu-west-1\""),
    );
    docs.push(
        Doc::new("k8s/secret.yaml")
            .decoy("apiVersion: v1")
            .decoy("kind: Secret")
            .decoy("stringData:")
            .secret(format!(
                "  SENDGRID_API_KEY: {sg}{}.{}",
                rng.b64url(16).replace(['-', '_'], "x"),
                rng.b64url(32)
            ))
            .secret(format!(
                "  RABBITMQ_URL: amqps://app:{}@mq.internal:5671/vhost",
                rng.password()
            )),
    );
    // Application code, several languages.
    docs.push(
        Doc::new("src/lib/stripe.ts")
            .decoy("import Stripe from 'stripe';")
            .decoy("export const stripe = new Stripe(process.env.STRIPE_SECRET_KEY!, { apiVersion: '2024-06-20' });")
            .secret(format!("export const legacy = new Stripe('{sk_live}{}');", rng.alnum(24)))
            .secret(format!("const restricted = \"{rk_live}{}\";", rng.alnum(99)))
            .decoy(format!("const publishable = '{pk_live}{}';", rng.alnum(99)))
            .decoy(format!("const docs = '{sk_test}{}';", "4eC39HqLyjWDarjtT1zdp7dc"))
            .decoy(format!("const placeholder = '{sk_live}xxxxxxxxxxxxxxxxxxxxxxxx';")),
    );
    let split_key = format!("{sk_live}{}", rng.alnum(32));
    let (a, b) = split_key.split_at(18);
    docs.push(
        Doc::new("src/lib/billing.js")
            .secret(format!("const key = \"{a}\" + \"{b}\";"))
            .decoy("const secret = generateSecret();")
            .decoy("const apiKey = process.env.OPENAI_API_KEY;")
            .decoy("const tokenizer = new Tokenizer({ lowercase: true });"),
    );
    docs.push(
        Doc::new("src/config.js")
            .decoy("module.exports = {")
            .decoy("  aws: {")
            .secret(format!("    accessKeyId: '{akia}{}',", rng.upper32(16)))
            .secret(format!("    secretAccessKey: '{}',", rng.b64(30)))
            .decoy("    region: 'us-east-1',")
            .decoy("  },")
            .decoy(format!("  example: {{ accessKeyId: '{akia}IOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' }},"))
            .decoy("};"),
    );
    docs.push(
        Doc::new("src/notify/slack.py")
            .decoy("import os")
            .secret(format!(
                "SLACK_BOT_TOKEN = \"{xoxb}{}-{}-{}\"",
                rng.pick(b"0123456789", 12),
                rng.pick(b"0123456789", 13),
                rng.alnum(24)
            ))
            .secret(format!(
                "WEBHOOK = \"https://{slack_hooks}T{}/B{}/{}\"",
                rng.upper32(8),
                rng.upper32(10),
                rng.alnum(24)
            ))
            .decoy("SLACK_SIGNING_SECRET = os.environ[\"SLACK_SIGNING_SECRET\"]")
            .decoy("token = os.getenv('SLACK_TOKEN')"),
    );
    docs.push(
        Doc::new("src/notify/socket.ts")
            .secret(format!(
                "const appToken = '{xapp}1-A{}-{}-{}';",
                rng.upper32(10),
                rng.pick(b"0123456789", 13),
                rng.hex(64)
            ))
            .secret(format!(
                "const userToken = '{xoxp}{}-{}-{}-{}';",
                rng.pick(b"0123456789", 12),
                rng.pick(b"0123456789", 12),
                rng.pick(b"0123456789", 13),
                rng.hex(32)
            )),
    );
    docs.push(
        Doc::new("src/ai/openai.py")
            .decoy("from openai import OpenAI")
            .secret(format!(
                "client = OpenAI(api_key=\"{proj}{}\")",
                rng.b64url(120)
            ))
            .decoy("other = OpenAI(api_key=os.environ[\"OPENAI_API_KEY\"])"),
    );
    docs.push(
        Doc::new("src/ai/claude.ts")
            .secret(format!(
                "const anthropic = new Anthropic({{ apiKey: '{ant}{}AA' }});",
                rng.b64url(70)
            ))
            .decoy("const fallback = new Anthropic({ apiKey: process.env.ANTHROPIC_API_KEY });"),
    );
    docs.push(
        Doc::new("src/mail/send.js")
            .secret(format!(
                "sgMail.setApiKey('{sg}{}.{}');",
                rng.alnum(22),
                rng.b64url(32)
            ))
            .decoy("sgMail.setApiKey(process.env.SENDGRID_API_KEY);"),
    );
    docs.push(
        Doc::new("src/sms/twilio.py")
            .decoy(format!("TWILIO_ACCOUNT_SID = \"AC{}\"", rng.hex(32)))
            .secret(format!("TWILIO_AUTH_TOKEN = \"{}\"", rng.hex(32)))
            .secret(format!("TWILIO_API_KEY = \"SK{}\"", rng.hex(32))),
    );
    docs.push(
        Doc::new("public/index.html")
            .decoy("<!doctype html>")
            .secret(format!(
                "<script>window.MAPS_KEY = \"{aiza}Sy{}\";</script>",
                &rng.b64url(25).replace(['-', '_'], "Q")[..33]
            ))
            .decoy("<input type=\"password\" name=\"password\" autocomplete=\"current-password\">"),
    );
    docs.push(
        Doc::new("android/app/src/main/res/values/strings.xml")
            .secret(format!("<string name=\"google_api_key\">{aiza}Sy{}</string>", rng.alnum(33)))
            .decoy("<string name=\"app_name\">Acme</string>")
            .decoy(format!("<string name=\"maps_key_placeholder\">{aiza}SyXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX</string>")),
    );
    docs.push(
        Doc::new("server/db.go")
            .decoy("package server")
            .secret(format!(
                "var dsn = \"mysql://root:{}@tcp(db:3306)/shop\"",
                rng.password()
            ))
            .secret(format!("\tpassword := \"{}\"", rng.password()))
            .decoy("\tpassword := os.Getenv(\"DB_PASSWORD\")")
            .decoy("\ttoken := \"test-token\""),
    );
    docs.push(
        Doc::new("server/cache.py")
            .secret(format!(
                "r = redis.from_url(\"redis://:{}@cache.internal:6379/0\")",
                rng.password()
            ))
            .decoy("r2 = redis.from_url(\"redis://localhost:6379\")")
            .secret(format!(
                "mongo = MongoClient(\"mongodb+srv://svc:{}@cluster0.x1y2z.mongodb.net/prod\")",
                rng.password()
            )),
    );
    docs.push(
        Doc::new("server/settings.py")
            .secret(format!(
                "SECRET_KEY = 'django-insecure-{}'",
                rng.pick(b"abcdefghijklmnopqrstuvwxyz0123456789!@#$%^&*(-_=+)", 50)
            ))
            .decoy("DEBUG = False")
            .decoy("PASSWORD_HASHERS = ['django.contrib.auth.hashers.Argon2PasswordHasher']")
            .decoy("AUTH_PASSWORD_VALIDATORS = []")
            .secret(format!("EMAIL_HOST_PASSWORD = '{}'", rng.password())),
    );
    docs.push(
        Doc::new("src/main/java/com/acme/Config.java")
            .secret(format!(
                "    private static final String API_KEY = \"{}\";",
                rng.alnum(32)
            ))
            .decoy("    private static final String API_KEY_HEADER = \"X-Api-Key\";")
            .decoy("    private static final int TOKEN_LENGTH = 32;"),
    );
    docs.push(
        Doc::new("web/wp-config.php")
            .secret(format!("define('DB_PASSWORD', '{}');", rng.password()))
            .decoy("define('DB_USER', 'wordpress');")
            .secret(format!("$stripe_secret = '{sk_live}{}';", rng.alnum(24))),
    );
    docs.push(
        Doc::new("config/app.json")
            .decoy("{")
            .secret(format!("  \"client_secret\": \"{}\",", rng.b64url(30)))
            .decoy("  \"client_id\": \"acme-web\",")
            .decoy("  \"integrity\": \"sha512-9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b\",")
            .decoy("  \"commit\": \"a94a8fe5ccb19ba61c4c0873d391e987982fbbd3\",")
            .decoy("  \"requestId\": \"550e8400-e29b-41d4-a716-446655440000\",")
            .secret(format!("  \"githubToken\": \"{gho}{}\",", rng.alnum(36)))
            .decoy("  \"token_type\": \"Bearer\"")
            .decoy("}"),
    );
    docs.push(
        Doc::new("config/settings.yaml")
            .secret(format!("api_key: {}", rng.alnum(40)))
            .decoy("api_key: YOUR_API_KEY")
            .decoy("password_min_length: 12")
            .secret(format!(
                "smtp_url: smtp://mailer:{}@smtp.mailgun.org:587",
                rng.password()
            )),
    );
    docs.push(
        Doc::new("config/ruby/secrets.rb")
            .secret(format!("config.secret_key_base = \"{}\"", rng.hex(128)))
            .decoy("config.secret_key_base = ENV[\"SECRET_KEY_BASE\"]")
            .secret(format!("Stripe.api_key = '{rk_test}{}'", rng.alnum(99))),
    );
    docs.push(
        Doc::new("test/setup.ts")
            .secret(format!("process.env.STRIPE_SECRET_KEY = '{sk_test}{}';", rng.alnum(99)))
            .secret(format!("const hook = '{whsec}{}';", rng.b64(24)))
            .decoy("const password = 'password';")
            .decoy(format!("const example = '{}';", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c")),
    );
    docs.push(
        Doc::new("test/api.http")
            .decoy("GET https://api.acme.io/v1/me")
            .secret(format!("Authorization: Bearer {}", rng.b64url(40)))
            .decoy("")
            .decoy("GET https://api.acme.io/v1/items")
            .decoy("Authorization: Bearer {{token}}")
            .secret(format!(
                "X-Session: {}",
                jwt(
                    rng,
                    r#"{"sub":"user_2Zx8Lk3","sid":"sess_9Qw2","exp":1999999999}"#
                )
            )),
    );
    docs.push(
        Doc::new("src/mobile/Api.kt")
            .secret(format!("val apiKey = \"{}\"", rng.alnum(32)))
            .decoy("val apiKeyName = \"x-api-key\"")
            .decoy("val passwordField = findViewById<EditText>(R.id.password)"),
    );
    docs.push(Doc::new("keys/deploy_key").secret(pem(rng, "OPENSSH ", false)));
    docs.push(
        Doc::new("src/auth/keys.py")
            .secret(format!("PRIVATE_KEY = \"{}\"", pem(rng, "EC ", true)))
            .decoy(format!("PUBLIC_KEY = \"{}PUBLIC KEY-----\\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE{}\\n-----END PUBLIC KEY-----\"", begin(""), rng.b64(48))),
    );
    docs.push(
        Doc::new("docs/setup.md")
            .decoy("# Setup")
            .decoy(format!(
                "Set `STRIPE_SECRET_KEY` to your `{sk_live}...` key from the dashboard."
            ))
            .decoy(format!("    {}PRIVATE KEY-----", begin("")))
            .decoy("    ...")
            .decoy("    -----END PRIVATE KEY-----")
            .decoy("Connect with `psql postgres://postgres:postgres@localhost:5432/dev`.")
            .decoy("The secret and the token are kept in your password manager.")
            .decoy(format!(
                "Example: `{ghp}XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX`"
            ))
            .decoy("curl -H 'Authorization: Basic dXNlcjpwYXNzd29yZA==' http://localhost:3000")
            .decoy("Use `http://admin:admin@localhost:8080` for the local console.")
            .decoy("Clone over https://user@github.com/acme/app.git"),
    );
    docs.push(
        Doc::new("src/styles/app.css")
            .decoy(".sk-button-primary { color: #1a2b3c; }")
            .decoy(".token-list { background: url(data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==); }"),
    );
    docs.push(
        Doc::new("src/i18n/en.json")
            .decoy("{")
            .decoy("  \"password\": \"Password\",")
            .decoy("  \"forgot_password\": \"Forgot your password?\",")
            .decoy("  \"api_key_hint\": \"Paste your API key here\",")
            .decoy("  \"token_expired\": \"Your session token expired, please sign in again\"")
            .decoy("}"),
    );
    docs.push(
        Doc::new("db/seed.sql")
            .decoy("INSERT INTO users (email, password_hash) VALUES ('a@acme.io', '$2b$12$KIXQ4ZyYq1Jk3e5Fh6Rz8uTg0w9cLxVb7nMpDs2aEo1iUyHr4tWq');")
            .decoy("-- password_reset_token_ttl = 3600"),
    );
    docs.push(
        Doc::new("k8s/deployment.yaml")
            .decoy("        env:")
            .decoy("        - name: DB_HOST\n          value: postgres.svc")
            .secret(format!("        - name: DB_PASSWORD\n          value: \"{}\"", rng.password()))
            .decoy("        - name: API_TOKEN\n          valueFrom:\n            secretKeyRef: {name: api, key: token}"),
    );
    docs.push(
        Doc::new("web/Web.config")
            .secret(format!(
                "    <add key=\"PaymentApiKey\" value=\"{}\" />",
                rng.alnum(32)
            ))
            .decoy("    <add key=\"ApiKeyHeaderName\" value=\"X-Api-Key\" />")
            .secret(format!(
                "    <smtpPassword>{}</smtpPassword>",
                rng.password()
            )),
    );
    let implicit = format!("{sk_live}{}", rng.alnum(30));
    let (c1, c2) = implicit.split_at(16);
    docs.push(
        Doc::new("tools/sync.py")
            .secret(format!(
                "os.environ[\"AWS_SECRET_ACCESS_KEY\"] = \"{}\"",
                rng.b64(30)
            ))
            .secret(format!(
                "ENCRYPTION_KEY = bytes.fromhex(\"{}\")",
                rng.hex(64)
            ))
            .secret(format!("STRIPE = (\"{c1}\"\n          \"{c2}\")"))
            .decoy("greeting = (\"hello \"\n            \"world\")")
            .decoy("headers[\"X-Api-Key\"] = api_key"),
    );
    // A minified bundle: one long line, a key deep inside it.
    let filler = "function(e,t){return e&&t?e+t:null},n=function(e){return e.token?e.token:void 0},r={password:\"\",secret:t.secret},";
    let line = format!(
        "!function(){{var a={{{}}};var cfg={{apiKey:\"{sk_live}{}\",env:\"prod\"}};{}}}();",
        filler.repeat(400),
        rng.alnum(24),
        filler.repeat(400)
    );
    docs.push(Doc::new("public/assets/app.4f9c2a.min.js").secret(line));
    docs
}

/// Writes the corpus under `root`; returns each planted secret as (file, first line, last
/// line): an entry may span lines (a PEM block, a name/value pair).
pub(crate) fn write(root: &Path, seed: u64) -> Vec<(String, usize, usize)> {
    let mut rng = Rng(seed | 1);
    let mut planted = Vec::new();
    for doc in documents(&mut rng) {
        let path = root.join(&doc.path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut text = String::new();
        let mut line_no = 1;
        for (line, is_secret) in &doc.lines {
            let span = line.matches('\n').count();
            if *is_secret {
                planted.push((doc.path.clone(), line_no, line_no + span));
            }
            text.push_str(line);
            text.push('\n');
            line_no += span + 1;
        }
        std::fs::write(path, text).unwrap();
    }
    planted
}

#[test]
fn recall_and_precision_on_the_corpus() {
    let mut total_tp = 0usize;
    let mut total_fp = 0usize;
    let mut total_planted = 0usize;
    for seed in [7u64, 42, 1234, 99_991] {
        let dir = tempfile::tempdir().unwrap();
        let planted = write(dir.path(), seed);
        let out = super::scan(&super::Options::new(dir.path())).unwrap();
        let found: BTreeSet<(String, usize)> = out
            .findings
            .iter()
            .map(|f| (f.finding.file.clone().unwrap(), f.finding.line.unwrap()))
            .collect();
        let within = |(file, line): &(String, usize), (pf, a, b): &(String, usize, usize)| {
            file == pf && (a..=b).contains(&line)
        };
        let tp = planted
            .iter()
            .filter(|p| found.iter().any(|f| within(f, p)))
            .count();
        let missed: Vec<_> = planted
            .iter()
            .filter(|p| !found.iter().any(|f| within(f, p)))
            .collect();
        let fps: Vec<_> = found
            .iter()
            .filter(|f| !planted.iter().any(|p| within(f, p)))
            .collect();
        if seed == 7 {
            eprintln!("seed {seed}: missed {missed:?}");
            eprintln!("seed {seed}: false positives {fps:?}");
        }
        total_tp += tp;
        total_fp += fps.len();
        total_planted += planted.len();
    }
    let recall = total_tp as f64 / total_planted as f64;
    let precision = total_tp as f64 / (total_tp + total_fp) as f64;
    eprintln!("planted {total_planted}, recall {recall:.3}, precision {precision:.3}");
    assert!(recall >= 0.95, "recall {recall:.3}");
    assert!(precision >= 0.95, "precision {precision:.3}");
}
