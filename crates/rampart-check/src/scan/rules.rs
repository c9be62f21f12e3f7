//! The rule table: one entry per credential format, versioned as a whole ([`RULES_VERSION`]).
//!
//! Each rule has literal keywords (found in one Aho-Corasick pass over the file; the regex only
//! runs near a keyword), a regex whose `s` group is the secret (and `k` the key name, for
//! assignments), and a check on the matched value that removes documented examples,
//! placeholders and references. Provider rules come first: where two rules match the same
//! bytes, the earlier one wins.

use rampart_core::Severity;

use super::filters;

/// Bumped whenever a rule is added or changes what it matches.
pub const RULES_VERSION: u32 = 1;

/// What the value check decides from.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    /// The secret (`s` group).
    pub secret: &'a str,
    /// The key name (`k` group), for assignments.
    pub key: Option<&'a str>,
    /// Whether the value was quoted in the source.
    pub quoted: bool,
    /// The separator between key and value (`=`, `:`, `,`, ...), for assignments.
    pub separator: Option<&'a str>,
    /// Whether the key name was itself a quoted string (`("api_key", "…")`).
    pub key_quoted: bool,
    /// Whether the file holds configuration (env, ini, yaml, ...) rather than code.
    pub config_file: bool,
    /// Whether the assignment sits in a URL query or a `k=v;` connection string
    /// (`?password=…&`), where unquoted values are literals even in code.
    pub inline: bool,
    /// The name the match is assigned to on its line (`NEXT_PUBLIC_SUPABASE_ANON_KEY` in
    /// `NEXT_PUBLIC_SUPABASE_ANON_KEY=eyJ…`), for rules without a key group.
    pub assigned_to: Option<&'a str>,
}

/// A check on the matched value: `true` keeps the finding.
pub type Check = fn(&Candidate<'_>) -> bool;

/// Where the regex looks around a keyword.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The keyword's line (a window of it, for very long lines).
    Line,
    /// The keyword's line and this many bytes after the keyword.
    LineAndFollowing(usize),
    /// From the keyword on, across lines, this many bytes.
    Following(usize),
}

/// One credential format.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The stable id findings carry (`stripe_secret_key`).
    pub id: &'static str,
    /// What it finds, for people.
    pub description: &'static str,
    /// How bad a finding is.
    pub severity: Severity,
    /// Literals at least one of which is in every match (ASCII case-insensitive unless
    /// `case_sensitive`).
    pub keywords: &'static [&'static str],
    /// Whether the keywords must match with their case.
    pub case_sensitive: bool,
    /// The regex; group `s` is the secret.
    pub pattern: &'static str,
    /// The value check.
    pub check: Check,
    /// Where the regex looks.
    pub reach: Reach,
}

const fn rule(
    id: &'static str,
    description: &'static str,
    severity: Severity,
    keywords: &'static [&'static str],
    pattern: &'static str,
    check: Check,
) -> Rule {
    Rule {
        id,
        description,
        severity,
        keywords,
        case_sensitive: true,
        pattern,
        check,
        reach: Reach::Line,
    }
}

use Severity::{Critical, High, Medium};

/// Every rule, most specific first.
pub static RULES: &[Rule] = &[
    Rule {
        id: "private_key",
        description: "a private key (PEM or OpenSSH)",
        severity: Critical,
        keywords: &["-----BEGIN"],
        case_sensitive: true,
        pattern: r"(?P<s>-----BEGIN (?:(?:RSA|DSA|EC|OPENSSH|PGP|SSH2|DH) )?PRIVATE KEY(?: BLOCK)?-----(?:\\[rn]|[\s'`,+]|\x22)*(?:[A-Za-z-]+: [^\n]*\n\s*)*[A-Za-z0-9+/=]{40,})",
        check: filters::keyed_body,
        reach: Reach::Following(256),
    },
    Rule {
        id: "encrypted_private_key",
        description: "a passphrase-protected private key",
        severity: Medium,
        keywords: &["-----BEGIN"],
        case_sensitive: true,
        pattern: r"(?P<s>-----BEGIN ENCRYPTED PRIVATE KEY-----(?:\\[rn]|[\s'`,+]|\x22)*[A-Za-z0-9+/=]{40,})",
        check: filters::keyed_body,
        reach: Reach::Following(256),
    },
    rule(
        "clerk_secret_key",
        "a Clerk production secret key",
        Critical,
        &["sk_live_"],
        r"(?i:clerk)[A-Za-z0-9_]*\x22?'?\s*[=:]\s*[\x22'`]?(?P<s>sk_live_[A-Za-z0-9]{20,128})",
        filters::prefixed_body,
    ),
    rule(
        "clerk_test_secret_key",
        "a Clerk development secret key",
        Medium,
        &["sk_test_"],
        r"(?i:clerk)[A-Za-z0-9_]*\x22?'?\s*[=:]\s*[\x22'`]?(?P<s>sk_test_[A-Za-z0-9]{20,128})",
        filters::prefixed_body,
    ),
    rule(
        "stripe_secret_key",
        "a Stripe live secret key",
        Critical,
        &["sk_live_"],
        r"\b(?P<s>sk_live_[0-9a-zA-Z]{20,247})\b",
        filters::prefixed_body,
    ),
    rule(
        "stripe_restricted_key",
        "a Stripe live restricted key",
        Critical,
        &["rk_live_"],
        r"\b(?P<s>rk_live_[0-9a-zA-Z]{20,247})\b",
        filters::prefixed_body,
    ),
    rule(
        "stripe_test_secret_key",
        "a Stripe test-mode secret key",
        Medium,
        &["sk_test_"],
        r"\b(?P<s>sk_test_[0-9a-zA-Z]{20,247})\b",
        filters::prefixed_body,
    ),
    rule(
        "stripe_test_restricted_key",
        "a Stripe test-mode restricted key",
        Medium,
        &["rk_test_"],
        r"\b(?P<s>rk_test_[0-9a-zA-Z]{20,247})\b",
        filters::prefixed_body,
    ),
    rule(
        "webhook_signing_secret",
        "a webhook signing secret (Standard Webhooks/Svix/Clerk/Stripe whsec_)",
        High,
        &["whsec_"],
        r"\b(?P<s>whsec_[A-Za-z0-9+/=_-]{24,128})",
        filters::prefixed_body,
    ),
    rule(
        "aws_access_key_id",
        "an AWS access key id",
        High,
        &["AKIA", "ASIA", "ABIA", "ACCA", "A3T"],
        r"\b(?P<s>(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z2-7]{16})\b",
        filters::aws_key_id,
    ),
    Rule {
        id: "aws_secret_access_key",
        description: "an AWS secret access key",
        severity: Critical,
        keywords: &["aws", "secret_access_key", "secretaccesskey"],
        case_sensitive: false,
        pattern: r"(?i:aws[A-Za-z0-9_.\-]{0,24}secret|secret_?access_?key)[A-Za-z0-9_.\-]{0,24}[\x22'`\]]{0,2}\s*(?:=|:|:=|=>|,)\s*[\x22'`]?(?P<s>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+=]|$)",
        check: filters::high_entropy_40,
        reach: Reach::Line,
    },
    rule(
        "github_token",
        "a GitHub token",
        Critical,
        &["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
        r"\b(?P<s>gh[pousr]_[A-Za-z0-9]{36,251})\b",
        filters::prefixed_body,
    ),
    rule(
        "github_fine_grained_token",
        "a GitHub fine-grained personal access token",
        Critical,
        &["github_pat_"],
        r"\b(?P<s>github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})\b",
        filters::prefixed_body,
    ),
    rule(
        "slack_token",
        "a Slack token",
        Critical,
        &[
            "xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xoxe.", "xapp-",
        ],
        r"\b(?P<s>(?:xox[bpars]|xoxe\.xox[bp]|xoxe|xapp)-[0-9A-Za-z-]{20,250})",
        filters::prefixed_body,
    ),
    rule(
        "slack_webhook_url",
        "a Slack incoming webhook URL",
        High,
        &["hooks.slack.com"],
        r"(?P<s>hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,120})",
        filters::slack_webhook,
    ),
    rule(
        "google_api_key",
        "a Google API key",
        High,
        &["AIza"],
        r"\b(?P<s>AIza[0-9A-Za-z_-]{35})(?:[^0-9A-Za-z_-]|$)",
        filters::prefixed_body,
    ),
    rule(
        "anthropic_api_key",
        "an Anthropic API key",
        Critical,
        &["sk-ant-"],
        r"\b(?P<s>sk-ant-(?:api|admin|sid)\d{2}-[A-Za-z0-9_-]{80,120})",
        filters::prefixed_body,
    ),
    rule(
        "openai_api_key",
        "an OpenAI API key",
        Critical,
        &["sk-proj-", "sk-svcacct-", "sk-admin-", "T3BlbkFJ"],
        r"\b(?P<s>sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,200}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}))(?:[^A-Za-z0-9_-]|$)",
        filters::prefixed_body,
    ),
    rule(
        "sendgrid_api_key",
        "a SendGrid API key",
        High,
        &["SG."],
        r"\b(?P<s>SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})(?:[^A-Za-z0-9_-]|$)",
        filters::prefixed_body,
    ),
    rule(
        "twilio_api_key",
        "a Twilio API key",
        High,
        &["SK"],
        r"\b(?P<s>SK[0-9a-f]{32})\b",
        filters::hex_body,
    ),
    Rule {
        id: "twilio_auth_token",
        description: "a Twilio auth token",
        severity: High,
        keywords: &["twilio"],
        case_sensitive: false,
        pattern: r"(?i:twilio)[A-Za-z0-9_.\-]{0,30}(?i:auth|token|secret)[A-Za-z0-9_.\-]{0,20}[\x22'`]?\s*(?:=|:|:=|=>|,)\s*[\x22'`]?(?P<s>[0-9a-f]{32})\b",
        check: filters::hex_body,
        reach: Reach::Line,
    },
    rule(
        "npm_token",
        "an npm access token",
        Critical,
        &["npm_"],
        r"\b(?P<s>npm_[A-Za-z0-9]{36})\b",
        filters::prefixed_body,
    ),
    Rule {
        id: "npmrc_auth",
        description: "registry credentials in an .npmrc",
        severity: High,
        keywords: &["_authtoken", "_auth", "_password"],
        case_sensitive: false,
        pattern: r"(?m)(?:^|:)(?P<k>_auth(?:Token)?|_password)\s*=\s*[\x22']?(?P<s>[^\s\x22']{12,})",
        check: filters::plain_value,
        reach: Reach::Line,
    },
    rule(
        "pypi_token",
        "a PyPI upload token",
        Critical,
        &["pypi-AgE"],
        r"\b(?P<s>pypi-AgE[A-Za-z0-9_-]{50,})",
        filters::prefixed_body,
    ),
    rule(
        "gitlab_token",
        "a GitLab personal access token",
        Critical,
        &["glpat-"],
        r"\b(?P<s>glpat-[A-Za-z0-9_-]{20,64})",
        filters::prefixed_body,
    ),
    rule(
        "shopify_token",
        "a Shopify access token or shared secret",
        Critical,
        &["shpat_", "shpca_", "shppa_", "shpss_"],
        r"\b(?P<s>shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})\b",
        filters::hex_body,
    ),
    rule(
        "huggingface_token",
        "a Hugging Face access token",
        High,
        &["hf_"],
        r"\b(?P<s>hf_[A-Za-z]{34})\b",
        filters::letters_body,
    ),
    rule(
        "digitalocean_token",
        "a DigitalOcean token",
        Critical,
        &["dop_v1_", "doo_v1_", "dor_v1_"],
        r"\b(?P<s>do[por]_v1_[a-f0-9]{64})\b",
        filters::hex_body,
    ),
    rule(
        "mailgun_api_key",
        "a Mailgun API key",
        High,
        &["key-"],
        r"\b(?P<s>key-[0-9a-f]{32})\b",
        filters::hex_body,
    ),
    rule(
        "square_token",
        "a Square access token or OAuth secret",
        Critical,
        &["sq0atp-", "sq0csp-"],
        r"\b(?P<s>sq0(?:atp|csp)-[0-9A-Za-z_-]{22,43})",
        filters::prefixed_body,
    ),
    rule(
        "telegram_bot_token",
        "a Telegram bot token",
        High,
        &[":AA"],
        r"\b(?P<s>[0-9]{8,10}:AA[0-9A-Za-z_-]{33})(?:[^0-9A-Za-z_-]|$)",
        filters::prefixed_body,
    ),
    Rule {
        id: "discord_webhook_url",
        description: "a Discord webhook URL",
        severity: High,
        keywords: &["discord"],
        case_sensitive: false,
        pattern: r"(?P<s>discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_-]{60,68})",
        check: filters::slack_webhook,
        reach: Reach::Line,
    },
    rule(
        "sentry_auth_token",
        "a Sentry auth token",
        High,
        &["sntrys_", "sntryu_"],
        r"\b(?P<s>sntr[yu]s?_[A-Za-z0-9+/=_-]{40,})",
        filters::prefixed_body,
    ),
    rule(
        "vault_token",
        "a HashiCorp Vault token",
        Critical,
        &["hvs.", "hvb."],
        r"\b(?P<s>hv[sb]\.[A-Za-z0-9_-]{24,})",
        filters::prefixed_body,
    ),
    rule(
        "doppler_token",
        "a Doppler token",
        Critical,
        &["dp.pt.", "dp.st.", "dp.sa.", "dp.ct."],
        r"\b(?P<s>dp\.(?:pt|st|sa|ct)\.[A-Za-z0-9]{40,44})\b",
        filters::prefixed_body,
    ),
    rule(
        "resend_api_key",
        "a Resend API key",
        High,
        &["re_"],
        r"\b(?P<s>re_[A-Za-z0-9]{8}_[A-Za-z0-9]{24})\b",
        filters::prefixed_body,
    ),
    rule(
        "postman_api_key",
        "a Postman API key",
        High,
        &["PMAK-"],
        r"\b(?P<s>PMAK-[a-f0-9]{24}-[a-f0-9]{34})\b",
        filters::hex_body,
    ),
    rule(
        "age_secret_key",
        "an age encryption secret key",
        Critical,
        &["AGE-SECRET-KEY-1"],
        r"\b(?P<s>AGE-SECRET-KEY-1[0-9A-Z]{58})\b",
        filters::prefixed_body,
    ),
    rule(
        "mapbox_secret_token",
        "a Mapbox secret access token",
        High,
        &["sk.eyJ"],
        r"\b(?P<s>sk\.eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,})",
        filters::prefixed_body,
    ),
    rule(
        "supabase_secret_key",
        "a Supabase secret or access key",
        Critical,
        &["sbp_", "sb_secret_"],
        r"\b(?P<s>sbp_[a-f0-9]{40}|sb_secret_[A-Za-z0-9_-]{20,64})\b",
        filters::prefixed_body,
    ),
    rule(
        "linear_api_key",
        "a Linear API key",
        High,
        &["lin_api_"],
        r"\b(?P<s>lin_api_[A-Za-z0-9]{40})\b",
        filters::prefixed_body,
    ),
    rule(
        "planetscale_token",
        "a PlanetScale password or token",
        Critical,
        &["pscale_"],
        r"\b(?P<s>pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.-]{32,64})",
        filters::prefixed_body,
    ),
    rule(
        "databricks_token",
        "a Databricks access token",
        High,
        &["dapi"],
        r"\b(?P<s>dapi[a-f0-9]{32})(?:-[0-9])?\b",
        filters::hex_body,
    ),
    Rule {
        id: "azure_storage_key",
        description: "an Azure storage account key",
        severity: Critical,
        keywords: &["accountkey="],
        case_sensitive: false,
        pattern: r"(?i:AccountKey)=(?P<s>[A-Za-z0-9+/]{86}==)",
        check: filters::high_entropy_40,
        reach: Reach::Line,
    },
    rule(
        "rubygems_api_key",
        "a RubyGems API key",
        High,
        &["rubygems_"],
        r"\b(?P<s>rubygems_[a-f0-9]{48})\b",
        filters::hex_body,
    ),
    rule(
        "dockerhub_token",
        "a Docker Hub personal access token",
        High,
        &["dckr_pat_"],
        r"\b(?P<s>dckr_pat_[A-Za-z0-9_-]{27,})",
        filters::prefixed_body,
    ),
    Rule {
        id: "cli_password",
        description: "a password on a command line (mysql -p, sshpass -p)",
        severity: High,
        keywords: &["mysql", "mysqldump", "mysqladmin", "sshpass"],
        case_sensitive: true,
        pattern: r"\b(?:mysql|mysqldump|mysqladmin)\b[^\n]*?\s-p(?P<s>[^\s\x22'$\-][^\s\x22']{3,127})|\bsshpass\s+-p\s*[\x22']?(?P<u>[^\s\x22'$][^\s\x22']{3,127})",
        check: filters::cli_password,
        reach: Reach::Line,
    },
    Rule {
        id: "dsn_password",
        description: "a password in a Go-style database DSN (user:pass@tcp(host))",
        severity: High,
        keywords: &["@tcp(", "@unix("],
        case_sensitive: true,
        pattern: r"(?P<k>[A-Za-z0-9_.\-]{1,64}):(?P<s>[^@\s\x22'/:]{4,128})@(?:tcp|unix)\(",
        check: filters::url_password,
        reach: Reach::Line,
    },
    Rule {
        id: "netrc_password",
        description: "a password in a .netrc entry",
        severity: High,
        keywords: &["machine "],
        case_sensitive: true,
        pattern: r"\bmachine\s+\S+\s+(?:login\s+\S+\s+)?password\s+(?P<s>\S{6,128})",
        check: filters::plain_password,
        reach: Reach::Following(512),
    },
    Rule {
        id: "connection_string_password",
        description: "a password in a connection URL",
        severity: High,
        keywords: &["://"],
        case_sensitive: true,
        pattern: r"(?i:\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|jdbc:[a-z]+|clickhouse|cockroachdb|couchdb|neo4j|ldaps?|s?ftp|smtps?|imaps?|https?|wss?|nats|kafka))://(?P<k>[^:@/\s\x22'`<>]{0,64}):(?P<s>[^@/\s\x22'`<>]{3,128})@[A-Za-z0-9._\-\[\]]+",
        check: filters::url_password,
        reach: Reach::Line,
    },
    Rule {
        id: "basic_auth_credentials",
        description: "user:password credentials on a command line (curl -u, --user)",
        severity: High,
        keywords: &["curl ", "wget "],
        case_sensitive: true,
        pattern: r"(?:^|[\s\x22'`(])(?:curl|wget|http|https)\b[^\n]*?\s(?:-u|--user|--http-user)(?:\s+|=)[\x22']?(?P<k>[^\s:\x22'`]{1,64}):(?P<s>[^\s\x22'`]{4,128})",
        check: filters::cli_password,
        reach: Reach::Line,
    },
    Rule {
        id: "basic_auth_header",
        description: "credentials in an Authorization: Basic header",
        severity: High,
        keywords: &["basic "],
        case_sensitive: false,
        pattern: r"(?i:authorization)[\x22']?\s*[:=,]\s*[\x22']?(?i:basic)\s+(?P<s>[A-Za-z0-9+/]{12,}={0,2})",
        check: filters::basic_header,
        reach: Reach::Line,
    },
    Rule {
        id: "bearer_token",
        description: "a hard-coded bearer token in an Authorization header",
        severity: High,
        keywords: &["bearer "],
        case_sensitive: false,
        pattern: r"(?i:authorization)[\x22']?\s*[:=,]\s*[\x22'`]?(?i:bearer)\s+(?P<s>[A-Za-z0-9._~+/=-]{20,})",
        check: filters::bearer,
        reach: Reach::Line,
    },
    rule(
        "jwt",
        "a JSON Web Token",
        Medium,
        &["eyJ"],
        r"\b(?P<s>eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{16,})",
        filters::jwt,
    ),
    Rule {
        id: "xml_secret",
        description: "a secret-looking value in an XML element or .NET appSettings entry",
        severity: High,
        keywords: &["secret", "passw", "token", "apikey", "api_key", "api-key"],
        case_sensitive: false,
        pattern: r"<(?P<k>(?i:[a-z0-9_.\-]*(?:secret|passw(?:or)?d|token|api[_\-]?key)[a-z0-9_.\-]*))>(?P<s>[^<\s]{6,256})</|(?i:key)=\x22(?P<k2>(?i:[a-z0-9_.:\-]*(?:secret|passw(?:or)?d|token|api[_\-]?key)[a-z0-9_.\-]*))\x22\s+(?i:value)=\x22(?P<u>[^\x22\s]{6,256})\x22",
        check: filters::xml,
        reach: Reach::Line,
    },
    Rule {
        id: "env_list_secret",
        description: "a secret-looking value in a name/value list (Kubernetes env, CI variables)",
        severity: High,
        keywords: &["secret", "passw", "token", "api_key", "apikey"],
        case_sensitive: false,
        pattern: r"(?:name|key):\s*[\x22']?(?P<k>(?i:[a-z0-9_.\-]*(?:secret|passw(?:or)?d|token|api_?key)[a-z0-9_.\-]*))[\x22']?\s*\r?\n\s*value:\s*(?:[\x22'](?P<s>[^\x22'\r\n]{6,256})[\x22']|(?P<u>[^\s\x22'#]{6,256}))",
        check: filters::generic,
        reach: Reach::LineAndFollowing(256),
    },
    Rule {
        id: "generic_secret",
        description: "a secret-looking value assigned to a secret-looking name",
        severity: High,
        keywords: &[
            "secret",
            "passw",
            "pwd",
            "token",
            "api_key",
            "apikey",
            "api-key",
            "api.key",
            "access_key",
            "accesskey",
            "access-key",
            "private_key",
            "privatekey",
            "auth_key",
            "authkey",
            "credential",
            "signing_key",
            "encryption_key",
            "master_key",
            "_key",
            "-key",
        ],
        case_sensitive: false,
        pattern: r"(?:(?P<q>[\x22'])|(?P<pre>[?&;]))?(?P<k>(?i:[a-z0-9_.\-]*(?:secret|passw(?:or)?d|pwd|token|api[_.\-]?key|access[_.\-]?key|private[_.\-]?key|auth[_.\-]?key|credentials?|signing[_.\-]?key|encryption[_.\-]?key|master[_.\-]?key|[a-z0-9]+[_\-]key)[a-z0-9_.\-]*))\\?[\x22'`\]]{0,2}\s*(?P<sep>=|:=|:|=>|\|\|=|\?\?=|,)\s*(?:(?:(?:[A-Za-z_][A-Za-z0-9_.]*\(\s*)?[a-zA-Z]*\\?[\x22'`](?P<s>[^\x22'`\r\n\\]{6,256})\\?[\x22'`])|(?P<u>[^\s\x22'`,;&)\]}<]{6,256}))",
        check: filters::generic,
        reach: Reach::Line,
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_snake_case_and_patterns_compile() {
        let mut seen = HashSet::new();
        for r in RULES {
            assert!(seen.insert(r.id), "duplicate rule id {}", r.id);
            assert!(
                r.id.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{}",
                r.id
            );
            let re = regex::bytes::Regex::new(r.pattern).unwrap();
            assert!(
                re.capture_names().any(|n| n == Some("s")),
                "{} has no s group",
                r.id
            );
            assert!(!r.keywords.is_empty());
        }
    }
}
