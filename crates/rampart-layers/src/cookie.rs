//! Reading and writing cookies, the little this crate needs of RFC 6265.

use http::HeaderMap;
use http::header::COOKIE;

/// The value of cookie `name` in the request's `Cookie` headers, if present and non-empty.
pub(crate) fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
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
