//! Environment variables: the `.env` format, the guide's presets, and startup validation.
//!
//! Apps call [`validate`] once at startup with the process environment; it lists every
//! missing or too-short variable at once instead of failing on the first.
//!
//! ```
//! use rampart_core::config::EnvMap;
//! use rampart_core::env::{Spec, validate};
//!
//! let spec = Spec::new().secret("CSRF_SECRET").secret("SESSION_SECRET").optional("RAMPART_EVENTS");
//! let mut env = EnvMap::new();
//! env.insert("CSRF_SECRET".into(), "short".into());
//! let err = validate(&spec, &env).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "invalid environment: CSRF_SECRET is 5 characters, at least 32 are required; SESSION_SECRET is not set"
//! );
//! ```

mod parse;

use std::fmt;

pub use parse::{Entry, EnvFile, LineError, is_valid_key, parse};

use crate::config::EnvMap;
use crate::secret::MIN_SECRET_LEN;

/// A built-in rule set: which variables a stack needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preset {
    /// The name used with `--preset` and `[env] preset`.
    pub name: &'static str,
    /// Variables that must be set.
    pub required: &'static [&'static str],
    /// Variables that may be set.
    pub optional: &'static [&'static str],
    /// Name prefixes exposed to the browser.
    pub public_prefixes: &'static [&'static str],
}

/// The guide's stack: Next.js, Clerk and Convex (plus Stripe and webhooks, optional).
pub const NEXTJS_CLERK_CONVEX: Preset = Preset {
    name: "nextjs-clerk-convex",
    required: &[
        "CSRF_SECRET",
        "SESSION_SECRET",
        "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY",
        "CLERK_SECRET_KEY",
        "NEXT_PUBLIC_CONVEX_URL",
    ],
    optional: &[
        "CONVEX_DEPLOYMENT",
        "NEXT_PUBLIC_CLERK_FRONTEND_API_URL",
        "STRIPE_SECRET_KEY",
        "NEXT_PUBLIC_STRIPE_PUBLISHABLE_KEY",
        "CLERK_WEBHOOK_SECRET",
        "STRIPE_WEBHOOK_SECRET",
    ],
    public_prefixes: &["NEXT_PUBLIC_"],
};

/// No required variables: only the generic rules apply.
pub const NONE: Preset = Preset {
    name: "none",
    required: &[],
    optional: &[],
    public_prefixes: &["NEXT_PUBLIC_"],
};

/// Every built-in preset.
pub const PRESETS: &[Preset] = &[NEXTJS_CLERK_CONVEX, NONE];

/// Looks a preset up by name.
pub fn preset(name: &str) -> Option<Preset> {
    PRESETS.iter().copied().find(|p| p.name == name)
}

/// Name fragments that make a variable a secret.
pub const SECRET_NAME_PARTS: &[&str] = &["SECRET", "PASSWORD", "PRIVATE", "TOKEN", "API_KEY"];

/// Value prefixes that make a variable a secret (provider secret keys and webhook secrets).
pub const SECRET_VALUE_PREFIXES: &[&str] =
    &["sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_"];

/// Whether a variable holds a secret, by the contract's rule: its name contains `SECRET`,
/// `PASSWORD`, `PRIVATE`, `TOKEN` or `API_KEY`, or its value starts with a secret-key prefix;
/// publishable keys (`pk_*`, names with `PUBLISHABLE`) never are.
pub fn is_secret(name: &str, value: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    if upper.contains("PUBLISHABLE") || value.starts_with("pk_") {
        return false;
    }
    SECRET_NAME_PARTS.iter().any(|p| upper.contains(p))
        || SECRET_VALUE_PREFIXES.iter().any(|p| value.starts_with(p))
}

/// Whether a value is a placeholder someone forgot to replace: `changeme`, `todo`, `xxx`,
/// `<...>`, `your-...`, `..._here`.
pub fn is_placeholder(value: &str) -> bool {
    let v = value.trim().to_ascii_lowercase();
    if v.is_empty() {
        return false;
    }
    let core = v.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    matches!(
        core,
        "changeme"
            | "change_me"
            | "change-me"
            | "todo"
            | "tbd"
            | "fixme"
            | "placeholder"
            | "replace_me"
    ) || (v.len() >= 3 && v.chars().all(|c| c == 'x' || c == '*'))
        || v.contains("xxxx")
        || (v.starts_with('<') && v.ends_with('>'))
        || v.starts_with("your-")
        || v.starts_with("your_")
        || v.ends_with("_here")
        || v.ends_with("-here")
}

/// What an app needs from its environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Spec {
    vars: Vec<VarSpec>,
}

/// One variable of a [`Spec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarSpec {
    /// The name.
    pub name: String,
    /// Whether it must be set.
    pub required: bool,
    /// The minimum length when set (0: any).
    pub min_len: usize,
}

impl Spec {
    /// An empty spec.
    pub fn new() -> Self {
        Spec::default()
    }

    /// The preset's required variables (secrets among them need 32+ characters).
    pub fn from_preset(preset: &Preset) -> Self {
        let mut spec = Spec::new();
        for name in preset.required {
            spec = if is_secret(name, "") {
                spec.secret(name)
            } else {
                spec.require(name)
            };
        }
        for name in preset.optional {
            spec = if is_secret(name, "") {
                spec.optional_secret(name)
            } else {
                spec.optional(name)
            };
        }
        spec
    }

    fn with(mut self, name: &str, required: bool, min_len: usize) -> Self {
        self.vars.retain(|v| v.name != name);
        self.vars.push(VarSpec {
            name: name.to_string(),
            required,
            min_len,
        });
        self
    }

    /// `name` must be set and non-empty.
    #[must_use]
    pub fn require(self, name: &str) -> Self {
        self.with(name, true, 1)
    }

    /// `name` must be set, with at least [`MIN_SECRET_LEN`] characters.
    #[must_use]
    pub fn secret(self, name: &str) -> Self {
        self.with(name, true, MIN_SECRET_LEN)
    }

    /// `name` may be unset; when set, it needs at least [`MIN_SECRET_LEN`] characters.
    #[must_use]
    pub fn optional_secret(self, name: &str) -> Self {
        self.with(name, false, MIN_SECRET_LEN)
    }

    /// `name` may be set or not.
    #[must_use]
    pub fn optional(self, name: &str) -> Self {
        self.with(name, false, 0)
    }

    /// `name` must be set, with at least `min_len` characters.
    #[must_use]
    pub fn min_len(self, name: &str, min_len: usize) -> Self {
        self.with(name, true, min_len)
    }

    /// The variables, in the order they were added.
    pub fn vars(&self) -> &[VarSpec] {
        &self.vars
    }
}

/// One variable that fails its [`Spec`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Required and unset (or empty).
    Missing(String),
    /// Set but shorter than required.
    TooShort {
        /// The variable.
        name: String,
        /// Its length in characters.
        len: usize,
        /// The minimum.
        min: usize,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Missing(name) => write!(f, "{name} is not set"),
            Violation::TooShort { name, len, min } => {
                write!(f, "{name} is {len} characters, at least {min} are required")
            }
        }
    }
}

/// Startup validation failed: every violation, in spec order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid environment: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct EnvError(pub Vec<Violation>);

impl EnvError {
    /// The names of the variables at fault.
    pub fn names(&self) -> Vec<&str> {
        self.0
            .iter()
            .map(|v| match v {
                Violation::Missing(n) | Violation::TooShort { name: n, .. } => n.as_str(),
            })
            .collect()
    }
}

/// Checks `env` against `spec`, reporting every missing or short variable at once.
/// Values are never included in the error.
pub fn validate(spec: &Spec, env: &EnvMap) -> Result<(), EnvError> {
    let mut violations = Vec::new();
    for var in &spec.vars {
        match env.get(&var.name).map(String::as_str) {
            None | Some("") if var.required => {
                violations.push(Violation::Missing(var.name.clone()))
            }
            None | Some("") => {}
            Some(v) => {
                let len = v.chars().count();
                if len < var.min_len {
                    violations.push(Violation::TooShort {
                        name: var.name.clone(),
                        len,
                        min: var.min_len,
                    });
                }
            }
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(EnvError(violations))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> EnvMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn secrets_by_name_and_value() {
        assert!(is_secret("CSRF_SECRET", ""));
        assert!(is_secret("DB_PASSWORD", ""));
        assert!(is_secret("github_token", ""));
        assert!(is_secret("OPENAI_API_KEY", ""));
        assert!(is_secret("STRIPE_KEY", "sk_live_abc"));
        assert!(is_secret("HOOK", "whsec_abc"));
        assert!(!is_secret("NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY", "pk_live_x"));
        assert!(!is_secret("CLERK_KEY", "pk_test_x"));
        assert!(!is_secret(
            "NEXT_PUBLIC_CONVEX_URL",
            "https://x.convex.cloud"
        ));
    }

    #[test]
    fn placeholders() {
        for p in [
            "changeme",
            "CHANGEME",
            "todo",
            "xxx",
            "XXXXXXXX",
            "<your secret>",
            "your-secret-key",
            "secret_here",
            "sk_test_xxxxxxxxxxxx",
        ] {
            assert!(is_placeholder(p), "{p}");
        }
        for p in [
            "",
            "abc",
            "https://example.com",
            "hunter2hunter2",
            "Xylophone",
        ] {
            assert!(!is_placeholder(p), "{p}");
        }
    }

    #[test]
    fn validate_lists_everything_at_once() {
        let spec = Spec::from_preset(&NEXTJS_CLERK_CONVEX);
        let e = validate(
            &spec,
            &env(&[("CSRF_SECRET", "short"), ("STRIPE_WEBHOOK_SECRET", "x")]),
        )
        .unwrap_err();
        assert_eq!(
            e.names(),
            vec![
                "CSRF_SECRET",
                "SESSION_SECRET",
                "NEXT_PUBLIC_CLERK_PUBLISHABLE_KEY",
                "CLERK_SECRET_KEY",
                "NEXT_PUBLIC_CONVEX_URL",
                "STRIPE_WEBHOOK_SECRET"
            ]
        );
        assert!(!e.to_string().contains("short"), "values never appear: {e}");
    }

    #[test]
    fn validate_passes_good_env() {
        let long = "a".repeat(43);
        let spec = Spec::new()
            .secret("CSRF_SECRET")
            .require("URL")
            .optional("X");
        assert_eq!(
            validate(&spec, &env(&[("CSRF_SECRET", &long), ("URL", "u")])),
            Ok(())
        );
        let e = validate(&spec, &env(&[("CSRF_SECRET", &long), ("URL", "")])).unwrap_err();
        assert_eq!(e.0, vec![Violation::Missing("URL".into())]);
    }

    #[test]
    fn presets_by_name() {
        assert_eq!(preset("nextjs-clerk-convex"), Some(NEXTJS_CLERK_CONVEX));
        assert_eq!(preset("none").unwrap().required.len(), 0);
        assert_eq!(preset("rails"), None);
    }
}
