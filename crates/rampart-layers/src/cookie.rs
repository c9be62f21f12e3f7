//! Reading and writing cookies, the little this crate needs of RFC 6265.

use http::HeaderMap;
use http::header::COOKIE;

/// The value of cookie `name` in the request's `Cookie` headers, if present and non-empty.
pub(crate) fn get<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    // A name with `=` never matches (the pair's name ends at its first `=`).
    if name.contains('=') {
        return None;
    }
    // Over bytes, and only the value found is checked for UTF-8: a `Cookie` header can be
    // kilobytes (session JWTs and their chunks), and this runs on every mutation (CSRF) and
    // every cookie-authenticated request.
    for value in headers.get_all(COOKIE) {
        for pair in value.as_bytes().split(|&b| b == b';') {
            if let Some(v) = pair
                .trim_ascii()
                .strip_prefix(name.as_bytes())
                .and_then(|r| r.strip_prefix(b"="))
            {
                // The first pair with this name decides, as before.
                let v = v.trim_ascii();
                let v = v.strip_prefix(b"\"").unwrap_or(v);
                let v = v.strip_suffix(b"\"").unwrap_or(v);
                return std::str::from_utf8(v).ok().filter(|v| !v.is_empty());
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
    fn a_long_header_and_bytes_that_are_not_text() {
        let mut big = String::new();
        for i in 0..200 {
            big.push_str(&format!("c{i}={}; ", "x".repeat(40)));
        }
        big.push_str("rampart_session=abc");
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_str(&big).unwrap());
        assert_eq!(get(&h, "rampart_session"), Some("abc"));
        assert_eq!(get(&h, "c199").map(str::len), Some(40));
        // A value that is not UTF-8 is absent (and does not panic); others still read.
        let mut h = HeaderMap::new();
        h.append(COOKIE, HeaderValue::from_bytes(b"a=\xff\xfe; b=2").unwrap());
        assert_eq!(get(&h, "a"), None);
        assert_eq!(get(&h, "b"), Some("2"));
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
