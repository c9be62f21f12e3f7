//! The client's address: the socket peer, or the right-most untrusted hop behind trusted
//! proxies.
//!
//! Forwarding headers are written by whoever sends them, so they are only believed when the
//! socket peer is one of the configured [`TrustedProxies`]. Then the chain is walked from the
//! right (the hop our own proxy appended) to the left, skipping trusted proxies; the first
//! address that is not a proxy is the client. Taking the left-most entry instead, as some
//! limiters do, lets any client mint a fresh rate-limit bucket per request.
//!
//! ```
//! use rampart_layers::client_ip::{ClientIpLayer, TrustedProxies};
//!
//! let proxies = TrustedProxies::parse_list("10.0.0.0/8, 192.0.2.1")?;
//! let layer = ClientIpLayer::new(proxies);
//! # let _ = layer;
//! # Ok::<_, rampart_layers::client_ip::TrustedProxiesError>(())
//! ```
//!
//! Deployment caveat: list exactly the proxies in front of the app. A CIDR that also covers
//! clients (say `0.0.0.0/0`) makes every forwarding header believed again.

mod layer;
mod resolve;

use std::net::{IpAddr, SocketAddr};

use rampart_core::net::{Cidr, CidrError};

pub use layer::{ClientIpFuture, ClientIpLayer, ClientIpService, PeerFn};
pub use resolve::{Unresolved, resolve};

/// The client address a request came from, as resolved by the client-IP layer (the socket
/// peer, or the right-most untrusted hop behind trusted proxies). Lives in request extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);

/// The socket peer of a connection, for servers that put it in request extensions under this
/// type (axum users can use [`ClientIpLayer::peer_from`] with `ConnectInfo` instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<Cidr>);

/// A trusted-proxy list that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid trusted proxy list: {0}")]
pub struct TrustedProxiesError(#[from] pub CidrError);

impl TrustedProxies {
    /// No trusted proxies: only the socket peer counts.
    pub fn none() -> Self {
        TrustedProxies(Vec::new())
    }

    /// These ranges.
    pub fn new(cidrs: Vec<Cidr>) -> Self {
        TrustedProxies(cidrs)
    }

    /// Parses a comma- or whitespace-separated list such as `10.0.0.0/8, 2001:db8::/32`.
    pub fn parse_list(s: &str) -> Result<Self, TrustedProxiesError> {
        s.split(|c: char| c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty())
            .map(|p| Cidr::parse(p).map_err(TrustedProxiesError))
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
