//! The rule set an env check applies: a preset, `rampart.toml`'s `[env]`, and `--require`.

use rampart_core::config::{EnvConfig, did_you_mean};
use rampart_core::env::{self as core_env, PRESETS};
use rampart_core::secret::MIN_SECRET_LEN;

use super::Error;

/// Default value prefixes of test-mode keys (Stripe, Clerk).
pub const TEST_KEY_PREFIXES: &[&str] = &["pk_test_", "sk_test_", "rk_test_"];
/// Default value prefixes of live keys (Stripe, Clerk).
pub const LIVE_KEY_PREFIXES: &[&str] = &["pk_live_", "sk_live_", "rk_live_"];

/// What the check requires and how it recognises secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// The preset's name (for the summary).
    pub preset: String,
    /// Variables that must be set.
    pub required: Vec<String>,
    /// Variables that may be set (known to the rule set).
    pub optional: Vec<String>,
    /// Names that hold secrets beyond the name/value heuristics.
    pub secrets: Vec<String>,
    /// Name prefixes exposed to the browser.
    pub public_prefixes: Vec<String>,
    /// Minimum secret length.
    pub min_secret_len: usize,
    /// Value prefixes refused in production.
    pub test_key_prefixes: Vec<String>,
    /// Value prefixes flagged in development.
    pub live_key_prefixes: Vec<String>,
}

impl Rules {
    /// The rules of `[env]`, with the preset replaced by `preset` when given and `require`
    /// added to the required names.
    pub fn from_config(
        cfg: &EnvConfig,
        preset: Option<&str>,
        require: &[String],
    ) -> Result<Rules, Error> {
        let name = preset.unwrap_or(&cfg.preset);
        let p = core_env::preset(name).ok_or_else(|| Error::UnknownPreset {
            name: name.to_string(),
            help: did_you_mean(name, PRESETS.iter().map(|p| p.name))
                .unwrap_or_else(|| format!("known presets: {}", preset_names())),
        })?;
        let owned = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let mut required = owned(p.required);
        for r in cfg.require.iter().chain(require) {
            if !core_env::is_valid_key(r) {
                return Err(Error::InvalidName(r.clone()));
            }
            if !required.contains(r) {
                required.push(r.clone());
            }
        }
        let mut optional = owned(p.optional);
        optional.extend(cfg.optional.iter().cloned());
        optional.retain(|o| !required.contains(o));
        let or_default = |given: &[String], default: &[&str]| {
            if given.is_empty() {
                owned(default)
            } else {
                given.to_vec()
            }
        };
        Ok(Rules {
            preset: p.name.to_string(),
            required,
            optional,
            secrets: cfg.secrets.clone(),
            public_prefixes: or_default(&cfg.public_prefixes, p.public_prefixes),
            min_secret_len: cfg.min_secret_len.unwrap_or(MIN_SECRET_LEN),
            test_key_prefixes: or_default(&cfg.test_key_prefixes, TEST_KEY_PREFIXES),
            live_key_prefixes: or_default(&cfg.live_key_prefixes, LIVE_KEY_PREFIXES),
        })
    }

    /// Whether `name` (with `value`) is a secret under these rules.
    pub fn is_secret(&self, name: &str, value: &str) -> bool {
        self.secrets.iter().any(|s| s == name) || core_env::is_secret(name, value)
    }

    /// Whether `name` is exposed to the browser.
    pub fn is_public(&self, name: &str) -> bool {
        self.public_prefixes
            .iter()
            .any(|p| name.starts_with(p.as_str()))
    }

    /// Whether the rule set names `name` (required, optional or a declared secret).
    pub fn knows(&self, name: &str) -> bool {
        self.required
            .iter()
            .chain(&self.optional)
            .chain(&self.secrets)
            .any(|n| n == name)
    }
}

fn preset_names() -> String {
    PRESETS
        .iter()
        .map(|p| p.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preset_plus_config_plus_flags() {
        let cfg = EnvConfig {
            require: vec!["DATABASE_URL".into()],
            secrets: vec!["DSN".into()],
            ..EnvConfig::default()
        };
        let r = Rules::from_config(&cfg, None, &["REDIS_URL".into()]).unwrap();
        assert_eq!(r.required.len(), 7);
        assert!(r.required.contains(&"CSRF_SECRET".to_string()));
        assert!(r.required.contains(&"REDIS_URL".to_string()));
        assert!(r.is_secret("DSN", "x"));
        assert!(r.is_public("NEXT_PUBLIC_X"));
        let none = Rules::from_config(&cfg, Some("none"), &[]).unwrap();
        assert_eq!(none.required, vec!["DATABASE_URL".to_string()]);
    }

    #[test]
    fn unknown_preset_suggests() {
        let e = Rules::from_config(&EnvConfig::default(), Some("nextjs-clerk-convx"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean `nextjs-clerk-convex`?"), "{e}");
        let e = Rules::from_config(&EnvConfig::default(), Some("rails"), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("known presets"), "{e}");
    }
}
