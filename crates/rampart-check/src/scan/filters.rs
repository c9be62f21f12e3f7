//! Value checks: what separates a leaked credential from a documented example, a placeholder,
//! a reference to the environment or a look-alike. They act on the matched value and its own
//! assignment, never on the rest of the line (a minified bundle is one line).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rampart_core::secret::shannon_entropy;

use super::rules::Candidate;

/// Values published in providers' documentation, assembled so that this file holds none.
fn documented_examples() -> [&'static str; 6] {
    [
        concat!("sk_test_", "4eC39HqLyjWDarjtT1zdp7dc"),
        concat!("sk_test_", "BQokikJOvBiI2HlWgH4olfQ2"),
        concat!("pk_test_", "TYooMQauvdEDq54NiTphI7jx"),
        concat!("ghp_", "16C7e42F292c6912E7710c838347Ae178B4a"),
        concat!("xoxb-", "17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"),
        concat!("AIza", "SyDaGmWKa4JsXZ-HjGw7ISLn_3namBGewQe"),
    ]
}

/// Substrings that mark a value as a placeholder or an example (lowercase).
const PLACEHOLDER_MARKS: &[&str] = &[
    "example",
    "xxxx",
    "****",
    "....",
    "…",
    "<",
    ">",
    "${",
    "{{",
    "}}",
    "%s",
    "your_",
    "your-",
    "yourkey",
    "yoursecret",
    "yourtoken",
    "yourpass",
    "_here",
    "-here",
    "changeme",
    "change_me",
    "change-me",
    "changethis",
    "placeholder",
    "dummy",
    "redacted",
    "replace",
    "insert",
    "fake",
    "sample",
    "notreal",
    "not_real",
    "not-a-real",
    "notasecret",
    "0123456789",
    "123456789",
    "abcdefgh",
    "qwerty",
];

/// Whole values that are placeholders (lowercase).
const PLACEHOLDER_VALUES: &[&str] = &[
    "password",
    "passw0rd",
    "p@ssw0rd",
    "secret",
    "mysecret",
    "mypassword",
    "pass",
    "passwd",
    "postgres",
    "root",
    "admin",
    "administrator",
    "user",
    "username",
    "guest",
    "test",
    "testing",
    "demo",
    "default",
    "null",
    "none",
    "undefined",
    "true",
    "false",
    "token",
    "apikey",
    "api_key",
    "todo",
    "tbd",
    "n/a",
    "empty",
    "hunter2",
    "letmein",
    "secretpassword",
    "supersecret",
    "password123",
    "mysql",
    "redis",
    "guest",
    "rabbitmq",
];

/// Whether `v` is a placeholder, a documented example or a templating hole.
pub(crate) fn is_placeholder(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    if PLACEHOLDER_VALUES.contains(&lower.as_str()) {
        return true;
    }
    if PLACEHOLDER_MARKS.iter().any(|m| lower.contains(m)) {
        return true;
    }
    if documented_examples().contains(&v) {
        return true;
    }
    // A run of one character (`aaaaaa`, `000000`) is filler.
    longest_run(v.as_bytes()) >= 6
}

fn longest_run(b: &[u8]) -> usize {
    let mut best = 0;
    let mut run = 0;
    let mut prev = None;
    for &c in b {
        if Some(c) == prev {
            run += 1;
        } else {
            run = 1;
            prev = Some(c);
        }
        best = best.max(run);
    }
    best
}

/// Whether `v` refers to a value kept elsewhere (environment, config, template) rather than
/// holding it.
pub(crate) fn is_reference(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    const STARTS: &[&str] = &[
        "$",
        "%",
        "{",
        "<",
        "[",
        "@",
        "process.env",
        "import.meta",
        "os.environ",
        "os.getenv",
        "env.",
        "env(",
        "env[",
        "getenv",
        "system.getenv",
        "config.",
        "settings.",
        "self.",
        "this.",
        "args.",
        "opts.",
        "options.",
        "params.",
        "req.",
        "request.",
        "secrets.",
        "vault:",
        "ssm:",
        "arn:",
        "op://",
        "sm://",
        "file:",
        "/",
        "./",
        "../",
        "~/",
        "http://",
        "https://",
    ];
    // `data:` URIs are inline files; `ENC[...]` is a SOPS-encrypted value.
    STARTS.iter().any(|s| lower.starts_with(s))
        || lower.starts_with("data:")
        || v.starts_with("ENC[")
        || v.contains("()")
        || v.contains("${")
}

/// Counts character classes: lowercase, uppercase, digit, other.
fn classes(v: &str) -> usize {
    let mut c = [false; 4];
    for b in v.bytes() {
        let i = match b {
            b'a'..=b'z' => 0,
            b'A'..=b'Z' => 1,
            b'0'..=b'9' => 2,
            _ => 3,
        };
        c[i] = true;
    }
    c.iter().filter(|x| **x).count()
}

fn has_digit(v: &str) -> bool {
    v.bytes().any(|b| b.is_ascii_digit())
}

fn has_alpha(v: &str) -> bool {
    v.bytes().any(|b| b.is_ascii_alphabetic())
}

fn is_hex(v: &str) -> bool {
    v.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The part of a provider key after its prefix (`sk_live_`, `ghp_`, `SG.`).
fn body(secret: &str) -> &str {
    let head = &secret.as_bytes()[..secret.len().min(16)];
    let cut = head
        .iter()
        .rposition(|&b| b == b'_' || b == b'-' || b == b'.')
        .map_or(0, |i| i + 1);
    // SendGrid keys carry a dot in the middle: keep what follows the first one.
    if let Some(rest) = secret.strip_prefix("SG.") {
        return rest;
    }
    &secret[cut..]
}

/// Provider keys: the random part is not a placeholder, has a digit and looks random.
pub(crate) fn prefixed_body(c: &Candidate<'_>) -> bool {
    let b = body(c.secret);
    !is_placeholder(c.secret)
        && b.len() >= 16
        && has_digit(b)
        && has_alpha(b)
        && shannon_entropy(b) >= 3.0
}

/// Hex keys (Twilio): digits and letters both, random-looking.
pub(crate) fn hex_body(c: &Candidate<'_>) -> bool {
    let b = c
        .secret
        .strip_prefix("SK")
        .filter(|_| c.secret.len() == 34)
        .unwrap_or(c.secret);
    !is_placeholder(c.secret)
        && b.bytes().any(|x| x.is_ascii_digit())
        && b.bytes().any(|x| x.is_ascii_alphabetic())
        && shannon_entropy(b) >= 3.0
}

/// Letters-only keys (Hugging Face): mixed case, random-looking.
pub(crate) fn letters_body(c: &Candidate<'_>) -> bool {
    let b = body(c.secret);
    !is_placeholder(c.secret)
        && b.bytes().any(|x| x.is_ascii_uppercase())
        && b.bytes().any(|x| x.is_ascii_lowercase())
        && shannon_entropy(b) >= 3.5
}

/// AWS key ids: documented examples end in `EXAMPLE`.
pub(crate) fn aws_key_id(c: &Candidate<'_>) -> bool {
    !is_placeholder(c.secret) && shannon_entropy(c.secret) >= 3.0
}

/// 40-character AWS secret keys: random base64, not AWS's documented example.
pub(crate) fn high_entropy_40(c: &Candidate<'_>) -> bool {
    !is_placeholder(c.secret) && classes(c.secret) >= 3 && shannon_entropy(c.secret) >= 4.0
}

/// Private key bodies (after the `-----BEGIN … PRIVATE KEY-----` line): real base64, not
/// `MIIE...` shortened with dots.
pub(crate) fn keyed_body(c: &Candidate<'_>) -> bool {
    let body = c
        .secret
        .rsplit("-----")
        .next()
        .unwrap_or("")
        .replace("\\n", "")
        .replace("\\r", "");
    let body =
        body.trim_start_matches(|ch: char| !ch.is_ascii_alphanumeric() && ch != '+' && ch != '/');
    body.len() >= 40 && !is_placeholder(body) && shannon_entropy(body) >= 4.0
}

/// A password given after a keyword (`.netrc`): not a placeholder or reference.
pub(crate) fn plain_password(c: &Candidate<'_>) -> bool {
    password_like(c.secret)
}

/// Slack webhook paths: `T…/B…/secret` with a random tail.
pub(crate) fn slack_webhook(c: &Candidate<'_>) -> bool {
    let tail = c.secret.rsplit('/').next().unwrap_or("");
    !is_placeholder(c.secret) && tail.len() >= 16 && shannon_entropy(tail) >= 3.0
}

/// JWTs: a header that decodes to JSON naming an `alg`, and not jwt.io's famous example.
pub(crate) fn jwt(c: &Candidate<'_>) -> bool {
    let mut parts = c.secret.split('.');
    let (Some(h), Some(p)) = (parts.next(), parts.next()) else {
        return false;
    };
    let Ok(header) = URL_SAFE_NO_PAD.decode(h.trim_end_matches('=')) else {
        return false;
    };
    let Ok(payload) = URL_SAFE_NO_PAD.decode(p.trim_end_matches('=')) else {
        return false;
    };
    let header = String::from_utf8_lossy(&header);
    let payload = String::from_utf8_lossy(&payload);
    if !header.contains("\"alg\"") || header.contains("\"none\"") {
        return false;
    }
    // Public by design: Supabase's anon key, values of browser-exposed variables.
    let compact: String = payload.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.contains("\"role\":\"anon\"") || c.assigned_to.is_some_and(public_name) {
        return false;
    }
    // jwt.io's sample token and its variants.
    !(payload.contains("John Doe") || payload.contains("1234567890"))
}

/// Plain values (an `.npmrc` token): not a reference, not a placeholder, random-looking.
pub(crate) fn plain_value(c: &Candidate<'_>) -> bool {
    !is_reference(c.secret)
        && !is_placeholder(c.secret)
        && shannon_entropy(c.secret) >= 3.0
        && has_digit(c.secret)
}

/// A password: long enough, not a word, not a placeholder or reference.
fn password_like(v: &str) -> bool {
    v.len() >= 6
        && !is_placeholder(v)
        && !is_reference(v)
        && !v.contains(char::is_whitespace)
        && classes(v) >= 2
        && shannon_entropy(v) >= 2.3
}

/// Passwords in connection URLs (`redis://:pw@host`, `postgres://u:pw@host/db`).
pub(crate) fn url_password(c: &Candidate<'_>) -> bool {
    let pw = c.secret;
    let user = c.key.unwrap_or("");
    if pw.starts_with('$') || pw.starts_with('%') || pw.starts_with('{') || pw.starts_with(':') {
        return false;
    }
    // `user:pass`, `user:password`, `postgres:postgres` are the documentation's defaults.
    if pw.eq_ignore_ascii_case(user) && !user.is_empty() {
        return false;
    }
    // RFC 7617's example, and fixture words (`sentinel_pass`, `testpassword`).
    if pw == "opensesame" || has_placeholder_word(pw) || pw.to_ascii_lowercase().contains("pass") {
        return false;
    }
    // `password2`, `secret1`, `pass123`: fixtures.
    let stem = pw
        .trim_end_matches(|ch: char| ch.is_ascii_digit())
        .to_ascii_lowercase();
    if PLACEHOLDER_VALUES.contains(&stem.as_str()) {
        return false;
    }
    pw.len() >= 6 && !is_placeholder(pw) && (classes(pw) >= 2 || pw.len() >= 10)
}

/// `curl -u user:pass`: a literal password, not `$TOKEN`.
pub(crate) fn cli_password(c: &Candidate<'_>) -> bool {
    let pw = c.secret;
    !pw.starts_with('$') && !is_placeholder(pw) && !is_reference(pw) && pw.len() >= 4
}

/// `Authorization: Basic …`: decodes to `user:password` with a real password.
pub(crate) fn basic_header(c: &Candidate<'_>) -> bool {
    let Ok(raw) = STANDARD.decode(c.secret) else {
        return false;
    };
    let text = String::from_utf8_lossy(&raw);
    match text.split_once(':') {
        Some((_, pw)) => pw.len() >= 4 && !is_placeholder(pw),
        None => false,
    }
}

/// `Authorization: Bearer …` with a literal, random-looking token.
pub(crate) fn bearer(c: &Candidate<'_>) -> bool {
    !is_placeholder(c.secret)
        && !is_reference(c.secret)
        && has_digit(c.secret)
        && shannon_entropy(c.secret) >= 3.5
}

/// Words that make an assigned value a test fixture or a placeholder rather than a secret
/// (provider keys are not judged by these: `sk_test_` is a real key).
fn has_placeholder_word(v: &str) -> bool {
    const WORDS: &[&str] = &[
        "test",
        "demo",
        "mock",
        "fake",
        "dummy",
        "sample",
        "example",
        "secret",
        "password",
        "passwd",
        "token",
        "apikey",
        "api_key",
        "api-key",
        "local",
        "default",
        "development",
        "staging",
        "changeme",
        "foobar",
        "lorem",
        "12345",
    ];
    let lower = v.to_ascii_lowercase();
    WORDS.iter().any(|w| lower.contains(w))
}

/// Words that make a name secret on their own (a bare `*_key` needs more evidence).
const STRONG_NAME_WORDS: &[&str] = &[
    "secret",
    "pass",
    "pwd",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "api.key",
    "access_key",
    "accesskey",
    "access-key",
    "access.key",
    "private",
    "auth_key",
    "authkey",
    "auth-key",
    "credential",
    "signing",
    "encryption",
    "master",
];

/// `*_key` names that hold identifiers, not secrets.
fn weak_key_name_ok(key: &str) -> bool {
    const NOT_SECRET: &[&str] = &[
        "primary",
        "foreign",
        "search",
        "websocket",
        "ws_key",
        "sort",
        "partition",
        "hash",
        "cache",
        "idempot",
        "dedup",
        "lookup",
        "storage_key",
        "public",
        "publishable",
        "site",
        "map_key",
        "unique",
        "i18n",
        "translation",
        "route",
        "query",
        "object",
        "bucket",
        "cursor",
        "sequence",
        "next",
        "prev",
        "key_id",
        "row",
        "column",
        "table",
        "index",
        "shortcut",
        "hot",
        "react",
        "list",
        "dict",
        "field",
        "group",
        "entry",
        "license_key_id",
        "dataset",
        "event",
        "metric",
        "label",
        "item",
    ];
    !NOT_SECRET.iter().any(|w| key.contains(w))
}

/// Key names that hold public or non-secret values despite their words.
fn public_name(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    let key = key.as_str();
    const PUBLIC: &[&str] = &["public", "publishable", "pubkey", "pub_key", "anon"];
    const SUFFIXES: &[&str] = &[
        "_type",
        "_name",
        "_names",
        "_length",
        "_len",
        "_size",
        "_count",
        "_path",
        "_file",
        "_dir",
        "_url",
        "_uri",
        "_endpoint",
        "_header",
        "_field",
        "_param",
        "_prefix",
        "_env",
        "_var",
        "_id",
        "_ids",
        "_ttl",
        "_expiry",
        "_expires",
        "_expires_in",
        "_hint",
        "_label",
        "_format",
        "_mode",
        "_policy",
        "_algorithm",
        "_alg",
        "_version",
        "_regex",
        "_pattern",
        "_enabled",
        "_required",
        "_cookie",
        "_storage",
        "_location",
        "_kind",
        "_ref",
        "_arn",
        "_limit",
        "_hash",
        "_digest",
        "_strength",
        "_timeout",
        "_rotation",
        "type",
        "name",
        "length",
        "size",
        "count",
        "path",
        "file",
        "url",
        "uri",
        "endpoint",
        "header",
        "field",
        "param",
        "prefix",
        "ids",
        "label",
        "format",
        "mode",
        "policy",
        "version",
        "pattern",
        "enabled",
        "required",
        "cookie",
        "storage",
        "ref",
        "limit",
        "hash",
        "digest",
        "timeout",
        "regex",
    ];
    PUBLIC.iter().any(|p| key.contains(p)) || SUFFIXES.iter().any(|s| key.ends_with(s))
}

/// XML elements and `<add key="…" value="…"/>` entries: judged as quoted assignments.
pub(crate) fn xml(c: &Candidate<'_>) -> bool {
    generic(&Candidate {
        quoted: true,
        separator: Some("="),
        ..*c
    })
}

/// Assignments to secret-looking names, gated by the value's shape and entropy.
pub(crate) fn generic(c: &Candidate<'_>) -> bool {
    let v = c.secret;
    let key = c.key.unwrap_or("").to_ascii_lowercase();
    let key = key.trim_matches(|ch: char| ch == '.' || ch == '-' || ch == '_');
    if public_name(key) {
        return false;
    }
    // `("api_key", "value")` pairs a quoted name with its value; a bare comma lists words.
    if c.separator == Some(",") && !(c.quoted && c.key_quoted) {
        return false;
    }
    if is_reference(v) || is_placeholder(v) || v.contains(char::is_whitespace) {
        return false;
    }
    let strong = STRONG_NAME_WORDS.iter().any(|w| key.contains(w));
    if !strong && !weak_key_name_ok(key) {
        return false;
    }
    // Unquoted in code is an expression (`token = next_token`, `key: KeyType`); only
    // configuration files, URL queries and connection strings hold bare literals.
    if !c.quoted && !c.config_file && !c.inline {
        return false;
    }
    // JWTs are the jwt rule's: it decodes them (and knows the public ones). Publishable keys
    // are public wherever they are assigned.
    if has_placeholder_word(v)
        || v.starts_with("eyJ")
        || v.starts_with("pk_")
        || v.starts_with("pk.")
        || v.starts_with("phc_")
    {
        return false;
    }
    let password = key.contains("pass") || key.contains("pwd");
    if password {
        // Identifiers (`newPassword`, `password_confirmation`) are field names, not values.
        let identifier = v
            .bytes()
            .all(|b| b.is_ascii_alphabetic() || b == b'_' || b == b'-');
        return !identifier && password_like(v);
    }
    if !strong {
        // Only `*_key`: a random-looking literal, nothing path- or id-like.
        return v.len() >= 20
            && has_digit(v)
            && has_alpha(v)
            && !v.contains(['/', ':', '.', '@'])
            && shannon_entropy(v) >= 3.7;
    }
    if is_hex(v) {
        return v.len() >= 20 && has_digit(v) && has_alpha(v) && shannon_entropy(v) >= 3.0;
    }
    v.len() >= 16 && has_digit(v) && has_alpha(v) && classes(v) >= 2 && shannon_entropy(v) >= 3.2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(secret: &str) -> Candidate<'_> {
        Candidate {
            secret,
            key: None,
            quoted: true,
            separator: Some("="),
            key_quoted: false,
            config_file: false,
            inline: false,
            assigned_to: None,
        }
    }

    #[test]
    fn placeholders_are_recognised() {
        for v in [
            "YOUR_API_KEY_HERE",
            "changeme",
            "${STRIPE_KEY}",
            "{{ secret }}",
            "<token>",
            "xxxxxxxxxxxxxxxx",
            "AKIAIOSFODNN7EXAMPLE",
            "aaaaaaaaaaaa",
            "password",
        ] {
            assert!(is_placeholder(v), "{v}");
        }
        assert!(!is_placeholder("q8Zr4TfLw2NbY7mKc3Vd"));
        assert!(is_placeholder(documented_examples()[0]));
    }

    #[test]
    fn references_are_not_values() {
        for v in [
            "process.env.STRIPE_SECRET_KEY",
            "os.environ['X']",
            "$TOKEN",
            "%(password)s",
            "getenv(\"X\")",
        ] {
            assert!(is_reference(v), "{v}");
        }
        assert!(!is_reference("q8Zr4TfLw2NbY7mKc3Vd"));
    }

    #[test]
    fn generic_gates_on_shape() {
        let random = ["q8Zr4TfLw2", "NbY7mKc3Vd"].concat();
        let pw = ["Tr0ub4", "dor&3"].concat();
        let mut c = cand(&random);
        c.key = Some("JWT_SECRET");
        assert!(generic(&c));
        c.secret = "this is a sentence";
        assert!(!generic(&c));
        c.secret = "accessTokenCookie";
        assert!(!generic(&c));
        c.key = Some("db_password");
        c.secret = &pw;
        assert!(generic(&c));
        c.secret = "newPassword";
        assert!(!generic(&c));
        c.key = Some("NEXT_PUBLIC_API_KEY");
        c.secret = &random;
        assert!(!generic(&c));
        c.key = Some("token");
        c.quoted = false;
        c.secret = "self.next_token";
        assert!(!generic(&c));
    }

    #[test]
    fn provider_bodies_must_look_random() {
        assert!(prefixed_body(&cand(&format!(
            "{}{}",
            "sk_live_", "4Xq9Lm2Zt7Rb1Nc8Vw3Ky6Pd"
        ))));
        assert!(!prefixed_body(&cand(&format!(
            "{}{}",
            "sk_live_", "ThisIsNotARealKeyJustText"
        ))));
        assert!(!prefixed_body(&cand(&format!(
            "{}{}",
            "sk_live_", "000000000000000000000000"
        ))));
    }
}
