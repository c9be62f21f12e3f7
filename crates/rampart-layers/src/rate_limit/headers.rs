//! Response fields: `Retry-After` and the IETF `RateLimit-Policy` / `RateLimit` fields
//! (draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy: "name";q=5;w=60`,
//! `RateLimit: "name";r=4;t=12`).

use std::time::Duration;

use http::HeaderValue;
use http::header::HeaderName;
use rampart_core::units::Quota;

use super::gcra::Decision;

/// `RateLimit-Policy`.
pub(crate) static RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit`.
pub(crate) static RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// A policy name as a structured-field string: printable ASCII, quotes and backslashes escaped.
fn sf_string(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 2);
    s.push('"');
    for c in name.chars() {
        match c {
            '"' | '\\' => {
                s.push('\\');
                s.push(c);
            }
            ' '..='~' => s.push(c),
            _ => s.push('_'),
        }
    }
    s.push('"');
    s
}

/// Whole seconds, rounded up (a client that waits the rounded-down value would be refused).
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// `RateLimit-Policy: "name";q=COUNT;w=SECONDS`.
pub fn policy_header(name: &str, quota: &Quota) -> HeaderValue {
    let v = format!(
        "{};q={};w={}",
        sf_string(name),
        quota.count,
        quota.window_secs()
    );
    HeaderValue::from_str(&v).unwrap_or_else(|_| HeaderValue::from_static("\"default\""))
}

/// `RateLimit: "name";r=REMAINING;t=SECONDS` with `t` the seconds until the quota is whole
/// again (refused: until the next request would pass).
pub fn rate_limit_header(quoted_name: &str, d: &Decision) -> HeaderValue {
    let t = if d.allowed { d.reset } else { d.retry_after };
    // Written by hand into a stack buffer, then copied once into the value: this runs on
    // every response of a limited route, where `format!` and a second buffer showed up.
    let mut buf = [0u8; 128];
    let mut len = 0;
    let mut push = |bytes: &[u8]| {
        let end = (len + bytes.len()).min(buf.len());
        buf[len..end].copy_from_slice(&bytes[..end - len]);
        len = end;
    };
    push(quoted_name.as_bytes());
    push(b";r=");
    push(decimal(&mut [0u8; 20], u64::from(d.remaining)));
    push(b";t=");
    push(decimal(&mut [0u8; 20], ceil_secs(t)));
    if len == buf.len() {
        // A policy name too long for the buffer: the unusual case may allocate.
        let v = format!("{quoted_name};r={};t={}", d.remaining, ceil_secs(t));
        return HeaderValue::from_str(&v)
            .unwrap_or_else(|_| HeaderValue::from_static("\"default\""));
    }
    HeaderValue::from_bytes(&buf[..len]).unwrap_or_else(|_| HeaderValue::from_static("\"default\""))
}

/// `n` in decimal, written at the end of `digits`.
fn decimal(digits: &mut [u8; 20], mut n: u64) -> &[u8] {
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &digits[i..]
}

/// `Retry-After` in whole seconds, rounded up, at least 1.
pub(crate) fn retry_after(d: Duration) -> HeaderValue {
    HeaderValue::from(ceil_secs(d).max(1))
}

/// The quoted name used by [`rate_limit_header`].
pub(crate) fn quoted(name: &str) -> String {
    sf_string(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_the_draft() {
        let q: Quota = "5/min".parse().unwrap();
        assert_eq!(policy_header("/api/x", &q), "\"/api/x\";q=5;w=60");
        let d = Decision {
            allowed: true,
            remaining: 3,
            retry_after: Duration::ZERO,
            reset: Duration::from_millis(24_001),
        };
        assert_eq!(
            rate_limit_header(&quoted("/api/x"), &d),
            "\"/api/x\";r=3;t=25"
        );
        assert_eq!(quoted("a\"b\\c\u{e9}"), "\"a\\\"b\\\\c_\"");
        assert_eq!(retry_after(Duration::from_millis(11_200)), "12");
        assert_eq!(retry_after(Duration::from_secs(12)), "12");
        assert_eq!(retry_after(Duration::ZERO), "1");
    }
}
