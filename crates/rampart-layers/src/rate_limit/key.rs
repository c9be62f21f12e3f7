//! What a request is counted against.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use http::header::HeaderName;
use http::{Extensions, HeaderMap};
use rampart_core::net::{canonical, mask};

use crate::client_ip::ClientIp;

/// The key a request is counted against, within one limiter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RateKey {
    /// A client address (IPv6 already cut to its prefix).
    Ip(IpAddr),
    /// A user id, a hashed API key, or any other text.
    Text(Box<str>),
}

impl fmt::Display for RateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RateKey::Ip(ip) => write!(f, "ip:{ip}"),
            RateKey::Text(t) => write!(f, "k:{t}"),
        }
    }
}

impl RateKey {
    /// A client address, with IPv6 cut to its first `ipv6_prefix` bits (a /64 is one
    /// subscriber: keying single IPv6 addresses would give each client 2^64 buckets).
    pub fn ip(ip: IpAddr, ipv6_prefix: u8) -> Self {
        match canonical(ip) {
            IpAddr::V6(v6) => RateKey::Ip(mask(IpAddr::V6(v6), ipv6_prefix)),
            v4 => RateKey::Ip(v4),
        }
    }

    /// A secret (an API key): kept only as a 64-bit digest, never in the clear, in memory or in
    /// Redis.
    pub fn secret(value: &[u8]) -> Self {
        RateKey::Text(format!("h{:016x}", fnv1a(value)).into())
    }
}

/// FNV-1a: stable across processes and versions, so instances sharing Redis agree on keys.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

type Extract = dyn Fn(&HeaderMap, &Extensions) -> Option<RateKey> + Send + Sync;

/// How a request's key is found. When it yields nothing, the client IP is used; without a
/// client IP either, all such requests share one bucket (so a missing client-IP layer shows up
/// as a tight limit, not as no limit).
#[derive(Clone)]
pub struct KeyBy {
    kind: KeyKind,
    ipv6_prefix: u8,
}

#[derive(Clone)]
enum KeyKind {
    ClientIp,
    Header(HeaderName),
    Custom(Arc<Extract>),
}

impl fmt::Debug for KeyBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            KeyKind::ClientIp => write!(f, "KeyBy::ClientIp(/{})", self.ipv6_prefix),
            KeyKind::Header(h) => write!(f, "KeyBy::Header({h})"),
            KeyKind::Custom(_) => f.write_str("KeyBy::Custom"),
        }
    }
}

impl KeyBy {
    /// The [`ClientIp`] request extension (IPv6 by /64).
    pub fn client_ip() -> Self {
        KeyBy {
            kind: KeyKind::ClientIp,
            ipv6_prefix: 64,
        }
    }

    /// An API key in header `name` (kept as a digest; see [`RateKey::secret`]).
    pub fn header(name: HeaderName) -> Self {
        KeyBy {
            kind: KeyKind::Header(name),
            ipv6_prefix: 64,
        }
    }

    /// Whatever `f` finds, e.g. a user id that the auth layer put in the extensions.
    pub fn custom(
        f: impl Fn(&HeaderMap, &Extensions) -> Option<RateKey> + Send + Sync + 'static,
    ) -> Self {
        KeyBy {
            kind: KeyKind::Custom(Arc::new(f)),
            ipv6_prefix: 64,
        }
    }

    /// Keys IPv6 clients by this prefix length instead of 64.
    #[must_use]
    pub fn ipv6_prefix(mut self, prefix: u8) -> Self {
        self.ipv6_prefix = prefix.min(128);
        self
    }

    /// The key of a request.
    pub fn extract(&self, headers: &HeaderMap, ext: &Extensions) -> RateKey {
        let found = match &self.kind {
            KeyKind::ClientIp => None,
            KeyKind::Header(name) => headers
                .get(name)
                .filter(|v| !v.is_empty())
                .map(|v| RateKey::secret(v.as_bytes())),
            KeyKind::Custom(f) => f(headers, ext),
        };
        found
            .or_else(|| {
                ext.get::<ClientIp>()
                    .map(|c| RateKey::ip(c.0, self.ipv6_prefix))
            })
            .unwrap_or_else(|| RateKey::Text("unresolved-client".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_share_their_slash_64() {
        let a = RateKey::ip("2001:db8:1:2::1".parse().unwrap(), 64);
        let b = RateKey::ip("2001:db8:1:2:ffff::9".parse().unwrap(), 64);
        let c = RateKey::ip("2001:db8:1:3::1".parse().unwrap(), 64);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            RateKey::ip("::ffff:203.0.113.9".parse().unwrap(), 64),
            RateKey::Ip("203.0.113.9".parse().unwrap())
        );
    }

    #[test]
    fn api_keys_are_digested_and_missing_keys_fall_back_to_the_client() {
        let by = KeyBy::header(HeaderName::from_static("x-api-key"));
        let mut h = HeaderMap::new();
        h.insert("x-api-key", "k-123".parse().unwrap());
        let mut ext = Extensions::new();
        ext.insert(ClientIp("198.51.100.1".parse().unwrap()));
        let key = by.extract(&h, &ext);
        assert!(!key.to_string().contains("k-123"));
        assert_eq!(key, by.extract(&h, &Extensions::new()));
        assert_eq!(
            by.extract(&HeaderMap::new(), &ext),
            RateKey::Ip("198.51.100.1".parse().unwrap())
        );
        assert_eq!(
            KeyBy::client_ip().extract(&HeaderMap::new(), &Extensions::new()),
            RateKey::Text("unresolved-client".into())
        );
    }
}
