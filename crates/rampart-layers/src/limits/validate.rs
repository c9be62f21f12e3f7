//! JSON validation: parse a body into a type and check its fields, answering 400 with
//! field-level errors (`{"error": "Validation failed", "details": {"title": ["..."]}}`).
//!
//! ```
//! use rampart_layers::limits::{FieldErrors, Validate};
//! #[derive(serde::Deserialize)]
//! struct Contact { name: String, email: String }
//! impl Validate for Contact {
//!     fn validate(&self, v: &mut FieldErrors) {
//!         v.length("name", &self.name, 1, 100);
//!         v.email("email", &self.email);
//!     }
//! }
//! let c: Contact = rampart_layers::limits::parse_json(br#"{"name":"Jo","email":"jo@example.com"}"#).unwrap();
//! # let _ = c;
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use http::header::CONTENT_TYPE;
use http::{Extensions, HeaderMap, Request, StatusCode};
use rampart_core::EventKind;
use serde::de::DeserializeOwned;

use crate::refusal::Refusal;

/// Field name → what is wrong with it, in the order found. Serializes as a JSON object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// True when every field passed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Records `message` against `field`.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_default()
            .push(message.into());
    }

    /// `value` must have between `min` and `max` characters (after trimming whitespace).
    pub fn length(&mut self, field: &str, value: &str, min: usize, max: usize) {
        let n = value.trim().chars().count();
        if n < min || n > max {
            if min > 0 && n == 0 {
                self.add(field, "is required");
            } else {
                self.add(field, format!("must be {min}-{max} characters"));
            }
        }
    }

    /// `value` must look like an email address (one `@`, a dot in the domain, no spaces).
    pub fn email(&mut self, field: &str, value: &str) {
        let ok = value.len() <= 254
            && !value.contains(char::is_whitespace)
            && value.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
            });
        if !ok {
            self.add(field, "must be a valid email address");
        }
    }

    /// `items` may hold at most `max` entries, each of `min_len`-`max_len` characters.
    pub fn list(
        &mut self,
        field: &str,
        items: &[String],
        max: usize,
        min_len: usize,
        max_len: usize,
    ) {
        if items.len() > max {
            self.add(field, format!("must have at most {max} items"));
        }
        for (i, item) in items.iter().enumerate() {
            let n = item.trim().chars().count();
            if n < min_len || n > max_len {
                self.add(
                    &format!("{field}[{i}]"),
                    format!("must be {min_len}-{max_len} characters"),
                );
            }
        }
    }

    /// The errors as a JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(&self.0).unwrap_or_default()
    }

    /// The 400 refusal carrying these errors, with an `input_validation_failed` event.
    pub fn refusal<B>(&self, req: &Request<B>) -> Refusal {
        let fields: Vec<&str> = self.0.keys().map(String::as_str).collect();
        Refusal::new(
            req,
            StatusCode::BAD_REQUEST,
            "Validation failed",
            EventKind::InputValidationFailed,
            format!("invalid fields: {}", fields.join(", ")),
        )
        .details(self.to_json())
        .meta("fields", fields)
    }
}

/// A type whose fields can be checked after parsing.
pub trait Validate {
    /// Adds an error to `errors` for each field that is wrong.
    fn validate(&self, errors: &mut FieldErrors);
}

/// True for `application/json` and `application/*+json`, with or without parameters.
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(v) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let m = v.split(';').next().unwrap_or("").trim();
    m.eq_ignore_ascii_case("application/json")
        || (m.len() > 17
            && m[..12].eq_ignore_ascii_case("application/")
            && m[m.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Parses `body` as `T` and validates it; every problem comes back as a field error.
pub fn parse_json<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, FieldErrors> {
    let mut errors = FieldErrors::new();
    let value: T = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            let msg = e.to_string();
            if let Some(field) = between(&msg, "missing field `", "`") {
                errors.add(field, "is required");
            } else if let Some(field) = between(&msg, "unknown field `", "`") {
                errors.add(field, "is not allowed");
            } else {
                errors.add("body", msg);
            }
            return Err(errors);
        }
    };
    value.validate(&mut errors);
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(errors)
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = &s[s.find(start)? + start.len()..];
    Some(&rest[..rest.find(end)?])
}

type CheckFn = dyn Fn(&HeaderMap, &[u8], &mut Extensions) -> Result<(), FieldErrors> + Send + Sync;

/// A type-erased check run on a buffered body: parses, validates, and puts the value in the
/// request extensions for the handler.
#[derive(Clone)]
pub struct JsonValidator {
    check: Arc<CheckFn>,
    type_name: &'static str,
}

impl std::fmt::Debug for JsonValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonValidator")
            .field("type", &self.type_name)
            .finish()
    }
}

/// The parsed, validated body, in request extensions (`Extension<Valid<T>>` in axum).
#[derive(Debug, Clone)]
pub struct Valid<T>(pub T);

impl JsonValidator {
    /// Checks bodies against `T`; the handler finds [`Valid<T>`] in the request extensions.
    pub fn new<T>() -> Self
    where
        T: DeserializeOwned + Validate + Clone + Send + Sync + 'static,
    {
        JsonValidator {
            check: Arc::new(|headers, body, ext| {
                if !is_json(headers) {
                    let mut e = FieldErrors::new();
                    e.add("body", "must be JSON (Content-Type: application/json)");
                    return Err(e);
                }
                let v = parse_json::<T>(body)?;
                ext.insert(Valid(v));
                Ok(())
            }),
            type_name: std::any::type_name::<T>(),
        }
    }

    /// Runs the check.
    pub fn check(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        ext: &mut Extensions,
    ) -> Result<(), FieldErrors> {
        (self.check)(headers, body, ext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone, serde::Deserialize)]
    struct Post {
        title: String,
        content: String,
        #[serde(default)]
        tags: Vec<String>,
    }

    impl Validate for Post {
        fn validate(&self, v: &mut FieldErrors) {
            v.length("title", &self.title, 1, 200);
            v.length("content", &self.content, 1, 5000);
            v.list("tags", &self.tags, 5, 1, 100);
        }
    }

    #[test]
    fn field_errors_name_each_field() {
        let body = br#"{"title":"","content":"ok","tags":["a","b","c","d","e","f"]}"#;
        let e = parse_json::<Post>(body).unwrap_err();
        assert_eq!(e.0["title"], vec!["is required"]);
        assert_eq!(e.0["tags"], vec!["must have at most 5 items"]);
        assert!(!e.0.contains_key("content"));

        let e = parse_json::<Post>(br#"{"title":"x"}"#).unwrap_err();
        assert_eq!(e.0["content"], vec!["is required"]);
        let e = parse_json::<Post>(b"not json").unwrap_err();
        assert!(e.0.contains_key("body"));
        assert!(parse_json::<Post>(br#"{"title":"t","content":"c"}"#).is_ok());
    }

    #[test]
    fn emails() {
        let mut e = FieldErrors::new();
        for good in ["a@b.co", "first.last+tag@example.com"] {
            e.email("email", good);
        }
        assert!(e.is_empty());
        for bad in ["", "a", "a@b", "@b.co", "a@@b.co", "a b@c.co", "a@.co"] {
            let mut e = FieldErrors::new();
            e.email("email", bad);
            assert!(!e.is_empty(), "{bad}");
        }
    }

    #[test]
    fn json_content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        h.insert(
            CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        assert!(is_json(&h));
        h.insert(
            CONTENT_TYPE,
            "application/merge-patch+json".parse().unwrap(),
        );
        assert!(is_json(&h));
        h.insert(CONTENT_TYPE, "text/plain".parse().unwrap());
        assert!(!is_json(&h));
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse_json::<Post>(&body);
        }
    }
}
