//! Header values fixed at start-up, made `'static` so that responses copy a pointer.
//!
//! A `HeaderValue` built from a `String` shares one reference count among every response that
//! carries it: each response adds and drops a reference, an atomic operation on a cache line
//! that every core serving responses writes. A value made with `HeaderValue::from_static`
//! has no count. Values are interned: the same text is stored once per process, so building
//! layers again (tests, reloads) does not grow memory; what is kept is bounded by the
//! distinct values an app configures.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use http::HeaderValue;

/// `value` as a header value without a reference count, or `None` if it is not a valid
/// header value.
pub(crate) fn static_value(value: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(value).ok()?;
    static TEXTS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut texts = match TEXTS.get_or_init(Mutex::default).lock() {
        Ok(t) => t,
        Err(p) => p.into_inner(),
    };
    let text = match texts.get(value) {
        Some(t) => *t,
        None => {
            let t: &'static str = Box::leak(value.to_owned().into_boxed_str());
            texts.insert(t);
            t
        }
    };
    Some(HeaderValue::from_static(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_is_stored_once_and_invalid_values_are_refused() {
        let a = static_value("same-origin").unwrap();
        let b = static_value(&String::from("same-origin")).unwrap();
        assert_eq!(a, "same-origin");
        assert_eq!(a.as_bytes().as_ptr(), b.as_bytes().as_ptr());
        assert!(static_value("bad\nvalue").is_none());
    }
}
