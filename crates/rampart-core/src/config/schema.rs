//! The `rampart.toml` schema.
//!
//! Every table rejects unknown keys, so a typo is an error with a suggestion rather than a
//! setting silently ignored. Field doc comments are the reference for each key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::event::Severity;
use crate::route::RouteKind;
use crate::units::{ByteSize, HumanDuration, PathPattern, Quota};

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The gateway and admin listeners.
    pub server: ServerConfig,
    /// Where rate-limit state lives and what happens when it is unreachable.
    pub limiter: LimiterConfig,
    /// Where security events are stored.
    pub events: EventsConfig,
    /// Routes and their kinds (`[[route]]` tables).
    #[serde(rename = "route", skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteConfig>,
    /// Detection rules and their thresholds.
    pub monitor: MonitorConfig,
    /// Where alerts go.
    pub alerts: AlertsConfig,
    /// Environment rules for `rampart env check`.
    pub env: EnvConfig,
    /// Secret scanning.
    pub scan: ScanConfig,
    /// The pre-deployment checklist.
    pub check: CheckConfig,
    /// Dependency audit (`rampart audit`).
    pub audit: AuditConfig,
}

/// Whether this deployment is production.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// Local development: detailed errors, no HSTS, ephemeral secrets allowed.
    #[default]
    Development,
    /// Production: HSTS, generic errors, secrets required.
    Production,
}

impl Environment {
    /// True in production.
    pub fn is_production(self) -> bool {
        self == Environment::Production
    }
}

/// `[server]`: the gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address the gateway listens on.
    pub listen: SocketAddr,
    /// The protected application, as an `http://` or `https://` URL.
    pub upstream: String,
    /// Address of the dashboard, JSON API and `/metrics`; keep it private.
    pub admin_listen: SocketAddr,
    /// `production` or `development`.
    pub environment: Environment,
    /// Path where the gateway itself issues CSRF tokens.
    pub csrf_token_path: String,
    /// Proxies (CIDRs) whose `X-Forwarded-For`/`Forwarded`/`X-Real-IP` headers are believed.
    pub trusted_proxies: Vec<String>,
    /// The largest request body accepted on any route.
    pub body_limit: ByteSize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            upstream: "http://127.0.0.1:3000".to_string(),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 9090)),
            environment: Environment::Development,
            csrf_token_path: "/api/csrf".to_string(),
            trusted_proxies: Vec::new(),
            body_limit: ByteSize(1 << 20),
        }
    }
}

/// Where the limiter keeps its state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LimiterStore {
    /// In this process: one instance only.
    #[default]
    Memory,
    /// Redis: shared by every instance.
    Redis,
}

/// What the limiter does when its store cannot answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnStoreError {
    /// Refuse with 503 and `Retry-After` (fail closed).
    #[default]
    Deny,
    /// Let the request through (fail open).
    Allow,
}

/// `[limiter]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimiterConfig {
    /// `memory` or `redis`.
    pub store: LimiterStore,
    /// `redis://` URL, required with `store = "redis"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    /// `deny` (default) or `allow` when the store is unreachable.
    pub on_store_error: OnStoreError,
    /// How long one store call may take before it counts as a failure.
    pub timeout: HumanDuration,
    /// IPv6 clients are keyed by this prefix length (a /64 is one subscriber).
    pub ipv6_prefix: u8,
    /// Prefix of every Redis key.
    pub key_prefix: String,
}

impl Default for LimiterConfig {
    fn default() -> Self {
        LimiterConfig {
            store: LimiterStore::Memory,
            redis_url: None,
            on_store_error: OnStoreError::Deny,
            timeout: HumanDuration(std::time::Duration::from_millis(100)),
            ipv6_prefix: 64,
            key_prefix: "rampart".to_string(),
        }
    }
}

/// `[events]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EventsConfig {
    /// `sqlite:PATH` or `postgres://user:pass@host/db`.
    pub store: String,
    /// Also append every event as a JSON line to this file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Events older than this are deleted.
    pub retention: HumanDuration,
}

impl Default for EventsConfig {
    fn default() -> Self {
        EventsConfig {
            store: "sqlite:rampart-events.db".to_string(),
            file: None,
            retention: HumanDuration(std::time::Duration::from_secs(90 * 86400)),
        }
    }
}

/// A webhook signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WebhookScheme {
    /// Standard Webhooks / Svix (`webhook-*` or `svix-*` headers, `whsec_` secrets).
    StandardWebhooks,
    /// Stripe (`Stripe-Signature: t=…,v1=…`).
    Stripe,
}

/// A route's webhook verification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `standard-webhooks` or `stripe`.
    pub scheme: WebhookScheme,
    /// The environment variable holding the signing secret.
    pub secret_env: String,
    /// How old a signature may be.
    #[serde(default = "default_tolerance")]
    pub tolerance: HumanDuration,
}

fn default_tolerance() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(300))
}

/// One `[[route]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// An exact path or a prefix ending in `/*`.
    pub path: PathPattern,
    /// The methods this entry covers; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    /// The route's kind in the decision matrix.
    pub kind: RouteKind,
    /// A quota like `5/min` or `10/sec burst 20`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<Quota>,
    /// Webhook verification, required for `kind = "webhook"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookConfig>,
    /// Body limit for this route (file uploads default to 1 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_limit: Option<ByteSize>,
}

/// Alert priority: when an alert is delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Delivered at once.
    Immediate,
    /// Collected into the daily digest.
    Daily,
    /// Collected into the weekly report.
    Weekly,
}

/// The alert rule ids of the contract, with their default priorities.
pub const ALERT_RULES: &[(&str, Priority)] = &[
    ("rate_limit_abuse", Priority::Immediate),
    ("distributed_rate_limit", Priority::Immediate),
    ("credential_stuffing", Priority::Immediate),
    ("csrf_attack", Priority::Immediate),
    ("csrf_spike", Priority::Immediate),
    ("csrf_bypass", Priority::Immediate),
    ("auth_failure_spike", Priority::Immediate),
    ("forbidden_spike", Priority::Daily),
    ("enumeration", Priority::Immediate),
    ("server_error_spike", Priority::Immediate),
    ("input_attack", Priority::Daily),
    ("unusual_geo", Priority::Daily),
    ("error_rate_high", Priority::Immediate),
    ("rate_limit_volume", Priority::Immediate),
    ("server_error_volume", Priority::Immediate),
];

/// Overrides for one detection rule; unset fields keep the rule's defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuleConfig {
    /// Turn the rule off with `false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// How many matching records fire it (a ratio in percent for `error_rate_high`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// The window the threshold applies to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<HumanDuration>,
    /// When its alerts are delivered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// Client addresses or CIDRs this rule never fires for (an office NAT, a monitor).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
}

/// `[monitor]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Per-rule overrides, keyed by rule id (`[monitor.rules.rate_limit_abuse]`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rules: BTreeMap<String, RuleConfig>,
    /// Addresses or CIDRs no rule fires for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// A MaxMind `.mmdb` or DB-IP-style CSV for `unusual_geo`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub geoip: Option<PathBuf>,
    /// Countries (ISO codes) normal traffic comes from; empty: learned from traffic.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub baseline_countries: Vec<String>,
    /// Paths that count as login endpoints for `credential_stuffing`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub login_paths: Vec<String>,
}

/// A generic JSON webhook sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSinkConfig {
    /// Where alerts are POSTed as JSON.
    pub url: String,
    /// Extra headers (an auth token, say); values may be `${ENV_VAR}`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

/// A Slack incoming-webhook sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSinkConfig {
    /// The environment variable holding the incoming-webhook URL (it is a secret).
    pub webhook_url_env: String,
}

/// An SMTP email sink.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSinkConfig {
    /// `smtp://host:port` or `smtps://…`; credentials come from `password_env`.
    pub smtp_url: String,
    /// The sender address.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// SMTP user name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The environment variable holding the SMTP password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
}

/// `[alerts]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// JSON webhooks (`[[alerts.webhook]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub webhook: Vec<WebhookSinkConfig>,
    /// Slack (`[[alerts.slack]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub slack: Vec<SlackSinkConfig>,
    /// Email (`[[alerts.email]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub email: Vec<EmailSinkConfig>,
    /// The same rule and source alert at most once per this period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedupe: Option<HumanDuration>,
    /// Hour of day (UTC, 0-23) the daily digest goes out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest_hour: Option<u8>,
}

/// `[env]`: environment rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EnvConfig {
    /// A built-in rule set (`nextjs-clerk-convex`, `none`).
    pub preset: String,
    /// Variables that must be set, on top of the preset's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub require: Vec<String>,
    /// Variables that may be set, on top of the preset's.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub optional: Vec<String>,
    /// Extra names that hold secrets (beyond the name and prefix heuristics).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<String>,
    /// Name prefixes that are exposed to the browser (`NEXT_PUBLIC_`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub public_prefixes: Vec<String>,
    /// The minimum length of a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_secret_len: Option<usize>,
    /// Value prefixes of test-mode keys, refused in production (default `pk_test_`,
    /// `sk_test_`, `rk_test_`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test_key_prefixes: Vec<String>,
    /// Value prefixes of live keys, flagged in development (default `pk_live_`, `sk_live_`,
    /// `rk_live_`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub live_key_prefixes: Vec<String>,
}

impl Default for EnvConfig {
    fn default() -> Self {
        EnvConfig {
            preset: "nextjs-clerk-convex".to_string(),
            require: Vec::new(),
            optional: Vec::new(),
            secrets: Vec::new(),
            public_prefixes: Vec::new(),
            min_secret_len: None,
            test_key_prefixes: Vec::new(),
            live_key_prefixes: Vec::new(),
        }
    }
}

/// `[scan]`: secret scanning.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScanConfig {
    /// Globs (gitignore syntax) never scanned, such as test fixtures.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Rule ids turned off.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub disable: Vec<String>,
    /// A baseline file of accepted findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<PathBuf>,
    /// Files larger than this are skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_file_size: Option<ByteSize>,
}

/// `[check]`: the pre-deployment checklist.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckConfig {
    /// Command that builds the app (`npm run build`); unset: the `build` item is skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<String>,
    /// Command that runs the app's tests; unset: the `tests` item is skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tests: Option<String>,
    /// Path probed for security headers.
    pub headers_path: String,
    /// Path probed for rate limiting.
    pub rate_limit_path: String,
    /// Requests the rate-limit probe sends.
    pub rate_limit_requests: u32,
    /// How many of them must succeed.
    pub rate_limit_expect: u32,
    /// A mutation the CSRF probe posts to.
    pub csrf_path: String,
    /// Where the CSRF probe gets a token.
    pub csrf_token_path: String,
    /// Findings at or above this severity fail the run.
    pub fail_on: Severity,
}

impl Default for CheckConfig {
    fn default() -> Self {
        CheckConfig {
            build: None,
            tests: None,
            headers_path: "/".to_string(),
            rate_limit_path: "/api/test-rate-limit".to_string(),
            rate_limit_requests: 10,
            rate_limit_expect: 5,
            csrf_path: "/api/example-protected".to_string(),
            csrf_token_path: "/api/csrf".to_string(),
            fail_on: Severity::High,
        }
    }
}

/// `[audit]`: the dependency audit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// The advisory database directory (OSV JSON files and/or OSV zip exports); default:
    /// `$XDG_CACHE_HOME/rampart/osv` (`~/.cache/rampart/osv`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db: Option<PathBuf>,
    /// Where `--update` downloads `{ecosystem}/all.zip` from.
    pub osv_url: String,
    /// The npm registry, for the outdated check.
    pub npm_registry: String,
    /// The crates.io sparse index, for the outdated check.
    pub crates_index: String,
    /// PyPI, for the outdated check.
    pub pypi_url: String,
    /// Advisory ids (or aliases) accepted and not reported.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// Findings at or above this severity fail `rampart audit`.
    pub fail_on: Severity,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            db: None,
            osv_url: "https://osv-vulnerabilities.storage.googleapis.com".to_string(),
            npm_registry: "https://registry.npmjs.org".to_string(),
            crates_index: "https://index.crates.io".to_string(),
            pypi_url: "https://pypi.org".to_string(),
            ignore: Vec::new(),
            fail_on: Severity::High,
        }
    }
}
