//! Response fields: `Retry-After` and the IETF `RateLimit-Policy` / `RateLimit` fields
//! (draft-ietf-httpapi-ratelimit-headers: `RateLimit-Policy: "name";q=5;w=60`,
//! `RateLimit: "name";r=4;t=12`).

use std::time::Duration;

use bytes::Bytes;
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

/// The `t` of the `RateLimit` field: whole seconds until the quota is whole again, or, when
/// refused, until the next request would pass.
pub(crate) fn state_seconds(d: &Decision) -> u64 {
    ceil_secs(if d.allowed { d.reset } else { d.retry_after })
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
    let (r, t) = (u64::from(d.remaining), state_seconds(d));
    // This runs on every response of a limited route: the value is written once into a buffer
    // of its exact size, which `Bytes` then takes over without another allocation or copy.
    let len = quoted_name.len() + 6 + digits(r) + digits(t);
    let mut v = Vec::with_capacity(len);
    v.extend_from_slice(quoted_name.as_bytes());
    v.extend_from_slice(b";r=");
    push_decimal(&mut v, r);
    v.extend_from_slice(b";t=");
    push_decimal(&mut v, t);
    debug_assert_eq!(v.len(), len);
    HeaderValue::from_maybe_shared(Bytes::from(v))
        .unwrap_or_else(|_| HeaderValue::from_static("\"default\""))
}

/// How many decimal digits `n` has.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// Appends `n` in decimal, two digits per division.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    while n >= 100 {
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + n as u8;
    }
    out.extend_from_slice(&buf[i..]);
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

    #[test]
    fn numbers_of_every_width_are_written_whole() {
        let q = quoted("p");
        for n in [
            0u64,
            7,
            9,
            10,
            42,
            99,
            100,
            101,
            999,
            1_000,
            65_535,
            4_294_967_295,
        ] {
            for t in [0u64, 1, 59, 60, 3_600, 86_400, u64::MAX / 1_000_000_000] {
                let d = Decision {
                    allowed: true,
                    remaining: u32::try_from(n).unwrap(),
                    retry_after: Duration::ZERO,
                    reset: Duration::from_secs(t),
                };
                let v = rate_limit_header(&q, &d);
                assert_eq!(v.to_str().unwrap(), format!("\"p\";r={n};t={t}"));
            }
        }
        assert_eq!(
            (digits(0), digits(9), digits(10), digits(u64::MAX)),
            (1, 1, 2, 20)
        );
    }
}
