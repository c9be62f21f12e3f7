//! A small blocking HTTP client (ureq over rustls): advisory downloads and registry look-ups
//! need no async runtime, and ureq keeps the dependency tree a fraction of reqwest's.

use std::io::Read;
use std::time::Duration;

/// A GET response: status, selected headers, and the body reader.
#[derive(Debug)]
pub(crate) struct Http {
    agent: ureq::Agent,
}

/// Why a request failed before an HTTP status was received (DNS, connection, TLS, timeout):
/// the signal that the network is unavailable.
#[derive(Debug, thiserror::Error)]
#[error("{url}: {message}")]
pub(crate) struct Unreachable {
    pub(crate) url: String,
    pub(crate) message: String,
}

impl Http {
    pub(crate) fn new(timeout: Duration) -> Http {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(timeout))
            .timeout_recv_response(Some(timeout))
            .user_agent(concat!("rampart/", env!("CARGO_PKG_VERSION")))
            // The system's trust store: corporate TLS proxies add their CA there, not to
            // Mozilla's bundle.
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::PlatformVerifier)
                    .build(),
            )
            .build();
        Http {
            agent: config.into(),
        }
    }

    /// GET `url` with `headers`; the status and response are returned whatever the status.
    pub(crate) fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<ureq::http::Response<ureq::Body>, Unreachable> {
        let mut req = self.agent.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.call().map_err(|e| Unreachable {
            url: url.to_string(),
            message: e.to_string(),
        })
    }

    /// GET a small document (registry metadata) as bytes, at most `limit`.
    pub(crate) fn get_small(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        limit: u64,
    ) -> Result<(u16, Vec<u8>), Unreachable> {
        let mut resp = self.get(url, headers)?;
        let status = resp.status().as_u16();
        let mut buf = Vec::new();
        resp.body_mut()
            .with_config()
            .limit(limit)
            .reader()
            .take(limit)
            .read_to_end(&mut buf)
            .map_err(|e| Unreachable {
                url: url.to_string(),
                message: e.to_string(),
            })?;
        Ok((status, buf))
    }
}
