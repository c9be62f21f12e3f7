//! The client's address.

use std::net::IpAddr;

/// The client address a request came from, as resolved by the client-IP layer (the socket
/// peer, or the right-most untrusted hop behind trusted proxies). Lives in request extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientIp(pub IpAddr);
