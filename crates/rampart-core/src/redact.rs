//! Redaction: personal data and secrets never leave Rampart whole.
//!
//! Emails become `j***e@example.com`, identifiers are truncated, long fields are capped and
//! secrets keep at most a short, non-secret prefix (`sk_live_ab…`). [`Redacted`] wraps a value
//! whose `Debug` and `Display` never print it.

use std::fmt;

/// The ellipsis appended to anything cut short.
pub const ELLIPSIS: char = '…';

/// Cuts `s` to at most `max` characters, appending `…` when it was longer.
pub fn cap(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((idx, _)) => {
            let mut out = s[..idx].to_string();
            out.push(ELLIPSIS);
            out
        }
    }
}

/// Masks an email address as the guide does: first and last character of the local part.
///
/// `john.doe@example.com` → `j***e@example.com`; a one-character local part becomes `*`.
/// Input without an `@` is treated as an identifier and truncated.
pub fn redact_email(email: &str) -> String {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return truncate_id(email);
    };
    let mut chars = local.chars();
    let masked = match (chars.next(), chars.next_back()) {
        (Some(first), Some(last)) => format!("{first}***{last}"),
        (Some(_), None) => "*".to_string(),
        _ => String::new(),
    };
    format!("{masked}@{}", cap(domain, 253))
}

/// How many leading characters of an identifier are kept.
pub const ID_KEEP: usize = 12;

/// Truncates a user or session identifier to its first [`ID_KEEP`] characters.
pub fn truncate_id(id: &str) -> String {
    cap(id, ID_KEEP)
}

/// Redacts a secret for display: a value of 20+ characters keeps a recognisable provider prefix
/// (up to and including the last `_` or `-` within its first 11 characters, e.g. `sk_live_`),
/// then at most four more characters and never more than a quarter of the rest. The remainder
/// becomes `…`.
///
/// ```
/// use rampart_core::redact::redact_secret;
/// assert_eq!(redact_secret("acme_key_0123456789abcdefghij"), "acme_key_0123…");
/// assert_eq!(redact_secret("hunter2"), "h…");
/// ```
pub fn redact_secret(secret: &str) -> String {
    let n = secret.chars().count();
    let prefix_len = if n >= 20 {
        secret
            .chars()
            .take(11)
            .enumerate()
            .filter(|(_, c)| *c == '_' || *c == '-')
            .map(|(i, _)| i + 1)
            .last()
            .unwrap_or(0)
    } else {
        0
    };
    let keep = prefix_len + ((n - prefix_len) / 4).min(4);
    let mut out: String = secret.chars().take(keep).collect();
    out.push(ELLIPSIS);
    out
}

/// Redacts strings inside a JSON value: emails are masked, other strings capped at
/// [`crate::event::MAX_FIELD_LEN`]. Nested arrays and objects are walked.
pub fn redact_json(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) if looks_like_email(&s) => Value::String(redact_email(&s)),
        Value::String(s) => Value::String(cap(&s, crate::event::MAX_FIELD_LEN)),
        Value::Array(items) => Value::Array(items.into_iter().map(redact_json).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, redact_json(v))).collect())
        }
        other => other,
    }
}

fn looks_like_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty() && domain.contains('.') && !s.contains(char::is_whitespace) && s.len() <= 320
}

/// A value that must never be printed: `Debug` and `Display` show `[redacted]`.
///
/// Use [`Redacted::expose`] where the value is really needed (to compute an HMAC, say).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Redacted(value)
    }

    /// The secret value itself; call only where it is used, never to print it.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the secret value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> From<T> for Redacted<T> {
    fn from(value: T) -> Self {
        Redacted(value)
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn emails_keep_first_and_last_character() {
        assert_eq!(redact_email("john.doe@example.com"), "j***e@example.com");
        assert_eq!(redact_email("jane@example.com"), "j***e@example.com");
        assert_eq!(redact_email("a@example.com"), "*@example.com");
        assert_eq!(redact_email("@example.com"), "@example.com");
    }

    #[test]
    fn ids_are_truncated() {
        assert_eq!(
            truncate_id("user_2NNEqL2nrIRdJ194ndJqAHwEfxC"),
            "user_2NNEqL2…"
        );
        assert_eq!(truncate_id("short"), "short");
    }

    #[test]
    fn cap_respects_char_boundaries() {
        assert_eq!(cap("héllo wörld", 4), "héll…");
        assert_eq!(cap("abc", 3), "abc");
        assert_eq!(cap("", 0), "");
    }

    #[test]
    fn secrets_keep_only_a_prefix() {
        let key = format!("{}{}", "sk_live_", "51HqLyjWDarjtT1zdp7dcQWERTY");
        let shown = redact_secret(&key);
        assert_eq!(shown, "sk_live_51Hq…");
        let generic = "Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OTA";
        assert_eq!(redact_secret(generic), "Zm9v…");
        assert_eq!(redact_secret(""), "…");
        assert_eq!(redact_secret("abc"), "…");
    }

    #[test]
    fn json_strings_are_redacted_deeply() {
        let v = serde_json::json!({"a": ["x@y.io", {"b": "k".repeat(2000)}], "n": 5});
        let r = redact_json(v);
        assert_eq!(r["a"][0], "x@y.io".replace("x@", "*@"));
        assert!(r["a"][1]["b"].as_str().unwrap().chars().count() <= 513);
        assert_eq!(r["n"], 5);
    }

    #[test]
    fn redacted_never_prints_its_value() {
        let r = Redacted::new("hunter2-very-secret".to_string());
        assert_eq!(format!("{r}"), "[redacted]");
        assert_eq!(format!("{r:?}"), "[redacted]");
        assert_eq!(r.expose(), "hunter2-very-secret");
    }

    proptest! {
        #[test]
        fn redacted_secret_reveals_at_most_a_quarter(s in "\\PC{0,200}") {
            let shown = redact_secret(&s);
            let n = s.chars().count();
            let kept = shown.chars().count() - 1;
            prop_assert!(kept <= 11 + (n / 4).min(4));
            if n >= 1 {
                prop_assert!(kept < n, "{} of {} characters shown", kept, n);
            }
        }

        #[test]
        fn cap_never_exceeds_limit(s in "\\PC{0,300}", max in 0usize..100) {
            let c = cap(&s, max);
            prop_assert!(c.chars().count() <= max + 1);
            prop_assert!(s.starts_with(c.trim_end_matches(ELLIPSIS)));
        }
    }
}
