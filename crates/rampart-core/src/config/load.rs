//! Loading: file → `RAMPART_*` overrides → validation → [`ValidConfig`].

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{ConfigError, Problem};
use super::schema::{ALERT_RULES, Config, LimiterStore, RouteConfig};
use crate::route::RouteKind;

/// Environment variables, passed in rather than read, so loading is testable.
pub type EnvMap = BTreeMap<String, String>;

/// The name of the configuration file looked for in a directory.
pub const FILE_NAME: &str = "rampart.toml";

/// The process environment. The only place outside the clock that reads process state.
pub fn process_env() -> EnvMap {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// A configuration that parsed and passed validation: the only form other crates accept.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidConfig {
    config: Config,
    source: Option<PathBuf>,
}

impl ValidConfig {
    /// The file it came from, if any (built-in defaults have none).
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Built-in defaults with `RAMPART_*` overrides applied.
    pub fn defaults(env: &EnvMap) -> Result<Self, ConfigError> {
        load_str("", "built-in defaults", env).map(|mut c| {
            c.source = None;
            c
        })
    }
}

impl std::ops::Deref for ValidConfig {
    type Target = Config;
    fn deref(&self) -> &Config {
        &self.config
    }
}

/// Finds the configuration file: `explicit` if given, else `rampart.toml` in `dir`, else in
/// `cwd`. Returns `None` when there is none to load (defaults apply).
pub fn discover(explicit: Option<&Path>, dir: Option<&Path>, cwd: &Path) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    let in_dir = dir.map(|d| {
        if d.is_dir() {
            d.join(FILE_NAME)
        } else {
            d.with_file_name(FILE_NAME)
        }
    });
    [in_dir, Some(cwd.join(FILE_NAME))]
        .into_iter()
        .flatten()
        .find(|p| p.is_file())
}

/// Loads the configuration `discover` finds, or the defaults when there is none. An
/// `explicit` path that does not exist is an error.
pub fn load(
    explicit: Option<&Path>,
    dir: Option<&Path>,
    cwd: &Path,
    env: &EnvMap,
) -> Result<ValidConfig, ConfigError> {
    match discover(explicit, dir, cwd) {
        Some(path) => load_file(&path, env),
        None => ValidConfig::defaults(env),
    }
}

/// Loads and validates one file.
pub fn load_file(path: &Path, env: &EnvMap) -> Result<ValidConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut cfg = load_str(&text, &path.display().to_string(), env)?;
    cfg.source = Some(path.to_path_buf());
    Ok(cfg)
}

/// Loads and validates configuration text; `origin` names it in errors.
pub fn load_str(text: &str, origin: &str, env: &EnvMap) -> Result<ValidConfig, ConfigError> {
    let mut table: toml::Table =
        toml::from_str(text).map_err(|e| invalid(toml_problem(origin, text, &e)))?;
    let mut config: Config =
        toml::from_str(text).map_err(|e| invalid(toml_problem(origin, text, &e)))?;

    let overrides = env_overrides(env);
    if !overrides.is_empty() {
        let defaults = toml::Table::try_from(Config::default()).unwrap_or_default();
        let mut problems = Vec::new();
        for ov in &overrides {
            let value = typed_value(
                &ov.raw,
                defaults.get(&ov.section).and_then(|s| s.get(&ov.key)),
            );
            let mut alone = table.clone();
            insert(&mut alone, ov, value.clone());
            match toml::Value::Table(alone).try_into::<Config>() {
                Ok(_) => insert(&mut table, ov, value),
                Err(e) => {
                    let (message, help) = explain(e.message());
                    problems.push(
                        Problem::new(format!("environment variable {}", ov.var), message)
                            .help(help),
                    );
                }
            }
        }
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems));
        }
        config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| {
                invalid(Problem::new("environment overrides", e.message()))
            })?;
    }

    let problems = validate(&config, text, origin);
    if problems.is_empty() {
        Ok(ValidConfig {
            config,
            source: None,
        })
    } else {
        Err(ConfigError::Invalid(problems))
    }
}

fn invalid(p: Problem) -> ConfigError {
    ConfigError::Invalid(vec![p])
}

/// Sections that `RAMPART_<SECTION>_<KEY>` may override.
const SECTIONS: &[&str] = &[
    "server", "limiter", "events", "monitor", "alerts", "env", "scan", "check", "audit",
];

/// Names the reference app documents that map onto a config key.
const ALIASES: &[(&str, &str, &str)] = &[("RAMPART_LIMITER_ON_ERROR", "limiter", "on_store_error")];

#[derive(Debug)]
struct Override {
    var: String,
    section: String,
    key: String,
    raw: String,
}

fn env_overrides(env: &EnvMap) -> Vec<Override> {
    env.iter()
        .filter_map(|(var, raw)| {
            if let Some((_, section, key)) = ALIASES.iter().find(|(v, _, _)| v == var) {
                return Some(Override {
                    var: var.clone(),
                    section: section.to_string(),
                    key: key.to_string(),
                    raw: raw.clone(),
                });
            }
            let rest = var.strip_prefix("RAMPART_")?.to_ascii_lowercase();
            let section = SECTIONS.iter().find(|s| {
                rest.len() > s.len() + 1 && rest.starts_with(*s) && rest.as_bytes()[s.len()] == b'_'
            })?;
            Some(Override {
                var: var.clone(),
                section: section.to_string(),
                key: rest[section.len() + 1..].to_string(),
                raw: raw.clone(),
            })
        })
        .collect()
}

/// Types an environment value like the default it replaces: numbers, booleans and arrays are
/// parsed as TOML, everything else stays a string.
fn typed_value(raw: &str, default: Option<&toml::Value>) -> toml::Value {
    let parsed = || {
        toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
    };
    match default {
        Some(toml::Value::String(_)) | None if raw.trim_start().starts_with('[') => {
            parsed().unwrap_or_else(|| toml::Value::String(raw.to_string()))
        }
        Some(toml::Value::String(_)) => toml::Value::String(raw.to_string()),
        _ => parsed()
            .filter(|v| !v.is_str() || default.is_none())
            .unwrap_or_else(|| toml::Value::String(raw.to_string())),
    }
}

fn insert(table: &mut toml::Table, ov: &Override, value: toml::Value) {
    let section = table
        .entry(ov.section.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if let toml::Value::Table(t) = section {
        t.insert(ov.key.clone(), value);
    }
}

fn toml_problem(origin: &str, text: &str, e: &toml::de::Error) -> Problem {
    let (message, help) = explain(e.message());
    let p = Problem::new(origin, message).help(help);
    match e.span() {
        Some(span) => p.at_offset(text, span.start),
        None => p,
    }
}

/// Rewords serde's "unknown field" and "unknown variant" messages and adds a did-you-mean.
fn explain(message: &str) -> (String, Option<String>) {
    let message = message.trim().to_string();
    let ticked: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    let unknown = message.starts_with("unknown field") || message.starts_with("unknown variant");
    if unknown && let Some((given, candidates)) = ticked.split_first() {
        let message = message.replacen("unknown field", "unknown key", 1);
        return (message, did_you_mean(given, candidates.iter().copied()));
    }
    (message, None)
}

/// Suggests the closest candidate, if one is close enough to be a typo.
pub fn did_you_mean<'a>(
    given: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(given, c), c))
        .filter(|(d, c)| *d <= (c.len().max(given.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

#[derive(Deserialize)]
struct RouteSpans {
    #[serde(default)]
    route: Vec<BTreeMap<String, toml::Spanned<toml::Value>>>,
}

/// Cross-field rules that serde cannot express. Every problem is collected.
fn validate(config: &Config, text: &str, origin: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let spans = toml::from_str::<RouteSpans>(text)
        .map(|s| s.route)
        .unwrap_or_default();
    let at = |i: usize, keys: &[&str], message: String| {
        let p = Problem::new(origin, message);
        let span = spans
            .get(i)
            .and_then(|r| keys.iter().find_map(|k| r.get(*k)))
            .map(|v| v.span().start);
        match span {
            Some(offset) => p.at_offset(text, offset),
            None => p,
        }
    };
    let find = |needle: &str, message: String| {
        let p = Problem::new(origin, message);
        match text.find(needle) {
            Some(offset) => p.at_offset(text, offset),
            None => p,
        }
    };

    let server = &config.server;
    if !(server.upstream.starts_with("http://") || server.upstream.starts_with("https://")) {
        problems.push(find(
            "upstream",
            format!(
                "[server] upstream {:?} must be an http:// or https:// URL",
                server.upstream
            ),
        ));
    }
    if server.listen == server.admin_listen {
        problems.push(find(
            "admin_listen",
            format!("[server] listen and admin_listen are both {}; the admin listener needs its own address", server.listen),
        ));
    }
    if !server.csrf_token_path.starts_with('/') {
        problems.push(find(
            "csrf_token_path",
            format!(
                "[server] csrf_token_path {:?} must start with '/'",
                server.csrf_token_path
            ),
        ));
    }
    for cidr in &server.trusted_proxies {
        if let Err(e) = crate::net::Cidr::parse(cidr) {
            problems.push(find(cidr, format!("[server] trusted_proxies: {e}")));
        }
    }

    let limiter = &config.limiter;
    if limiter.store == LimiterStore::Redis {
        match &limiter.redis_url {
            None => problems.push(find(
                "store",
                "[limiter] store = \"redis\" needs redis_url (such as \"redis://127.0.0.1:6379\")"
                    .to_string(),
            )),
            Some(url)
                if !["redis://", "rediss://", "redis+unix://", "unix://"]
                    .iter()
                    .any(|s| url.starts_with(s)) =>
            {
                problems.push(find(
                    "redis_url",
                    format!(
                        "[limiter] redis_url must start with redis:// or rediss://, not {:?}",
                        crate::redact::cap(url, 12)
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    if limiter.ipv6_prefix > 128 {
        problems.push(find(
            "ipv6_prefix",
            format!("[limiter] ipv6_prefix {} is over 128", limiter.ipv6_prefix),
        ));
    }

    let store = &config.events.store;
    if !(store.starts_with("sqlite:")
        || store.starts_with("postgres://")
        || store.starts_with("postgresql://"))
    {
        problems.push(find(
            "store",
            "[events] store must be \"sqlite:PATH\" or a postgres:// URL".to_string(),
        ));
    }

    let mut seen = HashSet::new();
    for (i, route) in config.routes.iter().enumerate() {
        problems.extend(validate_route(i, route, &at));
        let mut methods = route
            .methods
            .iter()
            .map(|m| m.to_ascii_uppercase())
            .collect::<Vec<_>>();
        methods.sort();
        if !seen.insert((route.path.as_str().to_string(), methods)) {
            problems.push(at(
                i,
                &["path"],
                format!(
                    "route {} is declared twice with the same methods",
                    route.path
                ),
            ));
        }
    }

    for (name, rule) in &config.monitor.rules {
        if !ALERT_RULES.iter().any(|(id, _)| id == name) {
            problems.push(
                find(
                    &format!("rules.{name}"),
                    format!("[monitor.rules] unknown rule `{name}`"),
                )
                .help(did_you_mean(name, ALERT_RULES.iter().map(|(id, _)| *id))),
            );
        }
        for cidr in &rule.allow {
            if let Err(e) = crate::net::Cidr::parse(cidr) {
                problems.push(find(cidr, format!("[monitor.rules.{name}] allow: {e}")));
            }
        }
    }
    for cidr in &config.monitor.allow {
        if let Err(e) = crate::net::Cidr::parse(cidr) {
            problems.push(find(cidr, format!("[monitor] allow: {e}")));
        }
    }
    if let Some(h) = config.alerts.digest_hour
        && h > 23
    {
        problems.push(find(
            "digest_hour",
            format!("[alerts] digest_hour {h} must be 0-23"),
        ));
    }
    problems
}

const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT",
];

fn validate_route(
    i: usize,
    route: &RouteConfig,
    at: &impl Fn(usize, &[&str], String) -> Problem,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    let name = format!("route {}", route.path);
    for m in &route.methods {
        if !METHODS.contains(&m.to_ascii_uppercase().as_str()) {
            problems.push(
                at(i, &["methods"], format!("{name}: unknown method {m:?}")).help(did_you_mean(
                    &m.to_ascii_uppercase(),
                    METHODS.iter().copied(),
                )),
            );
        }
    }
    match (route.kind, &route.webhook) {
        (RouteKind::Webhook, None) => problems.push(at(
            i,
            &["kind"],
            format!("{name}: kind = \"webhook\" needs webhook = {{ scheme = \"standard-webhooks\" | \"stripe\", secret_env = \"NAME\" }}"),
        )),
        (kind, Some(_)) if kind != RouteKind::Webhook => problems.push(at(
            i,
            &["webhook"],
            format!("{name}: a webhook table only applies to kind = \"webhook\", not {kind:?}", kind = kind.as_str()),
        )),
        (_, Some(w)) if w.secret_env.trim().is_empty() => {
            problems.push(at(i, &["webhook"], format!("{name}: webhook.secret_env is empty")))
        }
        _ => {}
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::schema::{Environment, OnStoreError};

    fn env(pairs: &[(&str, &str)]) -> EnvMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn err(text: &str) -> String {
        load_str(text, "rampart.toml", &EnvMap::new())
            .unwrap_err()
            .to_string()
    }

    const CONTRACT_EXAMPLE: &str = r#"
[server]
listen = "127.0.0.1:8080"          # the gateway
upstream = "http://127.0.0.1:3000" # the protected app
admin_listen = "127.0.0.1:9090"
environment = "production"
csrf_token_path = "/api/csrf"

[limiter]
store = "memory"
redis_url = "redis://127.0.0.1:6379"
on_store_error = "deny"

[events]
store = "sqlite:rampart-events.db"

[[route]]
path = "/api/contact"
methods = ["POST"]
kind = "public-form"
rate_limit = "5/min"

[[route]]
path = "/api/webhooks/clerk"
kind = "webhook"
webhook = { scheme = "standard-webhooks", secret_env = "CLERK_WEBHOOK_SECRET" }
"#;

    #[test]
    fn the_contract_example_loads() {
        let cfg = load_str(CONTRACT_EXAMPLE, "rampart.toml", &EnvMap::new()).unwrap();
        assert_eq!(cfg.server.environment, Environment::Production);
        assert_eq!(cfg.routes.len(), 2);
        assert_eq!(cfg.routes[0].kind, RouteKind::PublicForm);
        assert_eq!(cfg.routes[0].rate_limit.unwrap().to_string(), "5/min");
        assert_eq!(
            cfg.routes[1].webhook.as_ref().unwrap().secret_env,
            "CLERK_WEBHOOK_SECRET"
        );
    }

    #[test]
    fn empty_file_gives_defaults() {
        let cfg = load_str("", "rampart.toml", &EnvMap::new()).unwrap();
        assert_eq!(*cfg.config(), Config::default());
    }

    #[test]
    fn unknown_key_names_position_and_suggests() {
        let e = err("[server]\nlistn = \"127.0.0.1:1\"\n");
        assert!(
            e.starts_with("rampart.toml:2:1: unknown key `listn`"),
            "{e}"
        );
        assert!(e.contains("did you mean `listen`?"), "{e}");
    }

    #[test]
    fn unknown_section_suggests() {
        let e = err("[limitter]\nstore = \"memory\"\n");
        assert!(e.contains("rampart.toml:1:"), "{e}");
        assert!(e.contains("did you mean `limiter`?"), "{e}");
    }

    #[test]
    fn wrong_types_and_values_name_the_line() {
        let e = err("[server]\nlisten = 8080\n");
        assert!(e.starts_with("rampart.toml:2:10:"), "{e}");
        let e = err("[limiter]\nstore = \"redsi\"\n");
        assert!(e.starts_with("rampart.toml:2:"), "{e}");
        assert!(e.contains("did you mean `redis`?"), "{e}");
        let e = err(
            "[[route]]\npath = \"/a\"\nkind = \"public-form\"\nrate_limit = \"5 per minute\"\n",
        );
        assert!(e.starts_with("rampart.toml:4:"), "{e}");
        assert!(e.contains("expected a quota"), "{e}");
    }

    #[test]
    fn malformed_toml_names_the_line() {
        let e = err("[server\nlisten = 1\n");
        assert!(e.starts_with("rampart.toml:1:"), "{e}");
    }

    #[test]
    fn cross_field_rules_are_all_reported() {
        let text = "[limiter]\nstore = \"redis\"\n\n[[route]]\npath = \"/hook\"\nkind = \"webhook\"\n\n[[route]]\npath = \"/a\"\nmethods = [\"PSOT\"]\nkind = \"public-form\"\n";
        let e = load_str(text, "rampart.toml", &EnvMap::new()).unwrap_err();
        let problems = e.problems();
        assert_eq!(problems.len(), 3, "{e}");
        let s = e.to_string();
        assert!(s.contains("needs redis_url"), "{s}");
        assert!(
            s.contains("rampart.toml:6:8: route /hook: kind = \"webhook\" needs webhook"),
            "{s}"
        );
        assert!(
            s.contains(
                "rampart.toml:10:11: route /a: unknown method \"PSOT\"; did you mean `POST`?"
            ),
            "{s}"
        );
    }

    #[test]
    fn unknown_monitor_rule_suggests() {
        let e = err("[monitor.rules.csrf_atack]\nthreshold = 5\n");
        assert!(e.contains("rampart.toml:1:"), "{e}");
        assert!(e.contains("did you mean `csrf_attack`?"), "{e}");
        assert!(
            load_str(
                "[monitor.rules.csrf_attack]\nthreshold = 5\n",
                "x",
                &EnvMap::new()
            )
            .is_ok()
        );
    }

    #[test]
    fn environment_overrides_apply_with_types() {
        let e = env(&[
            ("RAMPART_SERVER_LISTEN", "0.0.0.0:9999"),
            ("RAMPART_LIMITER_ON_ERROR", "allow"),
            ("RAMPART_LIMITER_IPV6_PREFIX", "56"),
            ("RAMPART_SCAN_EXCLUDE", "[\"fixtures/**\"]"),
            ("RAMPART_REDIS_URL", "ignored: not a config key"),
            ("RAMPART_ENV", "production"),
        ]);
        let cfg = load_str(CONTRACT_EXAMPLE, "rampart.toml", &e).unwrap();
        assert_eq!(cfg.server.listen.to_string(), "0.0.0.0:9999");
        assert_eq!(cfg.limiter.on_store_error, OnStoreError::Allow);
        assert_eq!(cfg.limiter.ipv6_prefix, 56);
        assert_eq!(cfg.scan.exclude, vec!["fixtures/**".to_string()]);
    }

    #[test]
    fn bad_environment_override_names_the_variable() {
        let e = load_str(
            "",
            "rampart.toml",
            &env(&[("RAMPART_LIMITER_STORE", "redsi")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("environment variable RAMPART_LIMITER_STORE:"),
            "{e}"
        );
        assert!(e.contains("did you mean `redis`?"), "{e}");
        let e = load_str("", "rampart.toml", &env(&[("RAMPART_SERVER_LISTN", "x")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("RAMPART_SERVER_LISTN"), "{e}");
        assert!(e.contains("did you mean `listen`?"), "{e}");
    }

    #[test]
    fn bad_cidr_is_reported() {
        let e = err("[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n");
        assert!(e.starts_with("rampart.toml:2:"), "{e}");
        assert!(e.contains("10.0.0.0/33"), "{e}");
    }

    #[test]
    fn discover_prefers_explicit_then_dir_then_cwd() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = tempfile::tempdir().unwrap();
        assert_eq!(discover(None, Some(dir.path()), cwd.path()), None);
        std::fs::write(cwd.path().join(FILE_NAME), "").unwrap();
        assert_eq!(
            discover(None, Some(dir.path()), cwd.path()),
            Some(cwd.path().join(FILE_NAME))
        );
        std::fs::write(dir.path().join(FILE_NAME), "").unwrap();
        assert_eq!(
            discover(None, Some(dir.path()), cwd.path()),
            Some(dir.path().join(FILE_NAME))
        );
        let explicit = Path::new("/nonexistent/x.toml");
        assert_eq!(
            discover(Some(explicit), Some(dir.path()), cwd.path()),
            Some(explicit.to_path_buf())
        );
        let e = load(Some(explicit), None, cwd.path(), &EnvMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("cannot read /nonexistent/x.toml"), "{e}");
    }
}
