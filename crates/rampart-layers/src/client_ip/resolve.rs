//! The resolution itself: peer + headers + trusted list → client address.

use std::net::{IpAddr, Ipv4Addr};

use http::HeaderMap;
use rampart_core::net::canonical;

use super::TrustedProxies;

/// Why no client address could be believed. The layer refuses such requests (fail closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Unresolved {
    /// The server did not say who the socket peer is.
    #[error("the socket peer address is unknown")]
    NoPeer,
    /// A trusted proxy sent no `X-Forwarded-For`, `Forwarded` or `X-Real-IP`.
    #[error("trusted proxy {0} sent no forwarding header")]
    NoForwardingHeader(IpAddr),
    /// The hop that would be the client is not an address (`unknown`, garbage, obfuscated).
    #[error("{header} hop {hop:?} is not an IP address")]
    BadHop {
        /// The header it was in.
        header: &'static str,
        /// The hop, capped.
        hop: String,
    },
}

/// The client address: the socket `peer` unless it is a trusted proxy, in which case the
/// right-most hop of `X-Forwarded-For` that is not a trusted proxy (then `Forwarded`'s `for=`,
/// then `X-Real-IP`). IPv4-mapped IPv6 addresses come back as IPv4.
pub fn resolve(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
) -> Result<IpAddr, Unresolved> {
    let peer = canonical(peer.ok_or(Unresolved::NoPeer)?);
    if trusted.is_empty() || !trusted.contains(peer) {
        return Ok(peer);
    }
    let xff = hops(headers, "x-forwarded-for", |v| v.split(',').collect());
    if !xff.is_empty() {
        return walk(&xff, "X-Forwarded-For", trusted);
    }
    let fwd = hops(headers, "forwarded", forwarded_for);
    if !fwd.is_empty() {
        return walk(&fwd, "Forwarded", trusted);
    }
    let real = hops(headers, "x-real-ip", |v| vec![v]);
    if let Some(last) = real.last() {
        return parse_hop(last)
            .map(canonical)
            .ok_or_else(|| bad("X-Real-IP", last));
    }
    Err(Unresolved::NoForwardingHeader(peer))
}

/// Every value of `name`, in order, split into hops by `split`.
fn hops<'a>(
    headers: &'a HeaderMap,
    name: &str,
    split: fn(&'a str) -> Vec<&'a str>,
) -> Vec<&'a str> {
    headers
        .get_all(name)
        .iter()
        // A value that is not visible ASCII cannot be checked: treat it as one bad hop.
        .flat_map(|v| v.to_str().map(split).unwrap_or_else(|_| vec!["\u{fffd}"]))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .collect()
}

/// The `for=` values of a `Forwarded` header (RFC 7239), one per element.
fn forwarded_for(value: &str) -> Vec<&str> {
    value
        .split(',')
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then_some(v.trim())
            })
        })
        .collect()
}

fn walk(
    hops: &[&str],
    header: &'static str,
    trusted: &TrustedProxies,
) -> Result<IpAddr, Unresolved> {
    for hop in hops.iter().rev() {
        let ip = canonical(parse_hop(hop).ok_or_else(|| bad(header, hop))?);
        if !trusted.contains(ip) {
            return Ok(ip);
        }
    }
    // Every hop is one of our proxies: the request started inside; the left-most is the origin.
    hops.first()
        .and_then(|h| parse_hop(h))
        .map(canonical)
        .ok_or_else(|| bad(header, hops.first().copied().unwrap_or("")))
}

fn bad(header: &'static str, hop: &str) -> Unresolved {
    Unresolved::BadHop {
        header,
        hop: hop.chars().take(64).collect(),
    }
}

/// An address from a hop: `1.2.3.4`, `1.2.3.4:80`, `2001:db8::1`, `[2001:db8::1]:80`, quoted.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let h = hop.trim().trim_matches('"');
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Some(ip);
    }
    let (addr, port) = h.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    addr.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn trusted() -> TrustedProxies {
        TrustedProxies::parse_list("10.0.0.0/8, 192.0.2.1").unwrap()
    }

    #[test]
    fn untrusted_peer_forwarding_headers_are_ignored() {
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-real-ip", "2.2.2.2"),
            ("forwarded", "for=3.3.3.3"),
        ]);
        assert_eq!(
            resolve(Some(ip("198.51.100.7")), &h, &trusted()),
            Ok(ip("198.51.100.7"))
        );
        assert_eq!(
            resolve(Some(ip("198.51.100.7")), &h, &TrustedProxies::none()),
            Ok(ip("198.51.100.7"))
        );
    }

    #[test]
    fn right_most_untrusted_hop_wins() {
        // The client put a fake left-most entry; our proxies appended the real one and themselves.
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.1.1")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), &h, &trusted()),
            Ok(ip("203.0.113.9"))
        );
        // Several header lines are one list.
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-for", "203.0.113.9:5555"),
        ]);
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), &h, &trusted()),
            Ok(ip("203.0.113.9"))
        );
    }

    #[test]
    fn forwarded_then_real_ip() {
        let h = headers(&[(
            "forwarded",
            "for=6.6.6.6, for=\"[2001:db8::7]:4711\";proto=https",
        )]);
        assert_eq!(
            resolve(Some(ip("192.0.2.1")), &h, &trusted()),
            Ok(ip("2001:db8::7"))
        );
        let h = headers(&[("x-real-ip", "203.0.113.4")]);
        assert_eq!(
            resolve(Some(ip("192.0.2.1")), &h, &trusted()),
            Ok(ip("203.0.113.4"))
        );
        let h = headers(&[("x-forwarded-for", "203.0.113.5"), ("x-real-ip", "6.6.6.6")]);
        assert_eq!(
            resolve(Some(ip("192.0.2.1")), &h, &trusted()),
            Ok(ip("203.0.113.5"))
        );
    }

    #[test]
    fn fails_closed() {
        assert_eq!(
            resolve(None, &HeaderMap::new(), &trusted()),
            Err(Unresolved::NoPeer)
        );
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), &HeaderMap::new(), &trusted()),
            Err(Unresolved::NoForwardingHeader(ip("10.0.0.2")))
        );
        let h = headers(&[("x-forwarded-for", "1.1.1.1, garbage, 10.0.0.3")]);
        assert!(matches!(
            resolve(Some(ip("10.0.0.2")), &h, &trusted()),
            Err(Unresolved::BadHop {
                header: "X-Forwarded-For",
                ..
            })
        ));
        let h = headers(&[("forwarded", "for=unknown")]);
        assert!(resolve(Some(ip("10.0.0.2")), &h, &trusted()).is_err());
    }

    #[test]
    fn all_trusted_chain_gives_the_origin_and_mapped_addresses_are_ipv4() {
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 10.0.0.3")]);
        assert_eq!(
            resolve(Some(ip("10.0.0.2")), &h, &trusted()),
            Ok(ip("10.9.9.9"))
        );
        assert_eq!(
            resolve(
                Some(ip("::ffff:198.51.100.1")),
                &HeaderMap::new(),
                &trusted()
            ),
            Ok(ip("198.51.100.1"))
        );
        // A mapped proxy address is still the trusted proxy.
        let h = headers(&[("x-forwarded-for", "203.0.113.1")]);
        assert_eq!(
            resolve(Some(ip("::ffff:10.0.0.2")), &h, &trusted()),
            Ok(ip("203.0.113.1"))
        );
    }
}
