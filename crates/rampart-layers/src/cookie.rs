//! Reading and writing cookies, the little this crate needs of RFC 6265.

use http::HeaderMap;
use http::header::COOKIE;

/// The value of cookie `name` in the request's `Cookie` headers, if present and non-empty.
pub(crate) fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    // A name with `=` never matches (the pair's name ends at its first `=`).
    if name.contains('=') {
        return None;
    }
    // Plain loops rather than an iterator chain: this runs on every mutation (CSRF).
    for value in headers.get_all(COOKIE) {
        let Ok(value) = value.to_str() else { continue };
        for pair in value.split(';') {
            if let Some(v) = pair
                .trim()
                .strip_prefix(name)
                .and_then(|r| r.strip_prefix('='))
            {
                // The first pair with this name decides, as before.
                let v = v.trim().trim_matches('"');
                return (!v.is_empty()).then_some(v);
            }
        }
    }
    None
}

/// Attributes of a cookie Rampart sets: always `Path=/`, `HttpOnly` and `SameSite=Strict`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CookieAttrs {
    /// Seconds until the browser drops it.
    pub(crate) max_age: u64,
    /// Adds `Secure` (production: the site is served over HTTPS).
    pub(crate) secure: bool,
}

/// A `Set-Cookie` value.
pub(crate) fn set_cookie(name: &str, value: &str, attrs: CookieAttrs) -> String {
    let mut s = format!(
        "{name}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict",
        attrs.max_age
    );
    if attrs.secure {
        s.push_str("; Secure");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn finds_a_cookie_among_several_headers() {
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_static("a=1; theme=dark"));
        h.append(COOKIE, HeaderValue::from_static("rampart_session=abc; b=2"));
        assert_eq!(get(&h, "rampart_session"), Some("abc"));
        assert_eq!(get(&h, "theme"), Some("dark"));
        assert_eq!(get(&h, "missing"), None);
        // A name is matched whole, up to its `=`.
        assert_eq!(get(&h, "rampart"), None);
        assert_eq!(get(&h, "a=1"), None);
    }

    #[test]
    fn quoted_empty_and_repeated_values() {
        let mut h = HeaderMap::new();
        h.append(
            COOKIE,
            HeaderValue::from_static(" s = x ; q=\"v\"; e=; e=2"),
        );
        // `s ` is not `s`: no trimming inside a pair's name.
        assert_eq!(get(&h, "s"), None);
        assert_eq!(get(&h, "q"), Some("v"));
        // The first `e` is empty: absent, the later one is not looked at.
        assert_eq!(get(&h, "e"), None);
    }

    #[test]
    fn set_cookie_is_strict() {
        let v = set_cookie(
            "s",
            "v",
            CookieAttrs {
                max_age: 60,
                secure: true,
            },
        );
        assert_eq!(
            v,
            "s=v; Path=/; Max-Age=60; HttpOnly; SameSite=Strict; Secure"
        );
    }
}
