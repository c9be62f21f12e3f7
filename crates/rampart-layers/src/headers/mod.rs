//! Security headers on every response.
//!
//! Defaults score A+ on the MDN HTTP Observatory for a JSON API: a Content-Security-Policy
//! (see [`Csp`]), `Strict-Transport-Security` in production only (`max-age=63072000;
//! includeSubDomains`; TLS ends at the proxy in front, so the header is sent whatever the
//! scheme the app sees), `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY`,
//! `Referrer-Policy: strict-origin-when-cross-origin`, a restrictive `Permissions-Policy`,
//! `Cross-Origin-Opener-Policy` and `Cross-Origin-Resource-Policy: same-origin`. Headers the
//! handler set itself are kept; `Server` and `X-Powered-By` are removed.
//!
//! ```
//! use rampart_core::config::Environment;
//! use rampart_layers::headers::{Csp, SecurityHeaders};
//! let layer = SecurityHeaders::new(Environment::Production).csp(Csp::strict()).layer();
//! # let _ = layer;
//! ```

mod csp;
mod nonce;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{self, HeaderName, HeaderValue};
use http::{Request, Response};
use pin_project_lite::pin_project;
use rampart_core::config::Environment;
use tower::{Layer, Service};

use crate::static_value::static_value;

pub use csp::Csp;

use nonce::NonceSource;

/// Removed from every response: it names the framework behind the app.
const X_POWERED_BY: HeaderName = HeaderName::from_static("x-powered-by");

/// The CSP nonce of this response, in request extensions when the policy uses nonces; put it
/// in `<script nonce="...">`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CspNonce(pub String);

/// HSTS for two years with subdomains: the Observatory's A+ threshold.
pub const HSTS: &str = "max-age=63072000; includeSubDomains";
const PERMISSIONS: &str = "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()";

/// Which security headers to send.
#[derive(Debug, Clone)]
pub struct SecurityHeaders {
    csp: Option<Csp>,
    hsts: Option<String>,
    frame_options: Option<&'static str>,
    referrer: Option<String>,
    permissions: Option<String>,
    coop: Option<String>,
    corp: Option<String>,
}

impl SecurityHeaders {
    /// The defaults for `env`: HSTS in production only, API CSP, everything else on.
    pub fn new(env: Environment) -> Self {
        SecurityHeaders {
            csp: Some(Csp::api()),
            hsts: env.is_production().then(|| HSTS.to_string()),
            frame_options: Some("DENY"),
            referrer: Some("strict-origin-when-cross-origin".into()),
            permissions: Some(PERMISSIONS.into()),
            coop: Some("same-origin".into()),
            corp: Some("same-origin".into()),
        }
    }

    /// The Content-Security-Policy.
    #[must_use]
    pub fn csp(mut self, csp: Csp) -> Self {
        self.csp = Some(csp);
        self
    }

    /// The `Strict-Transport-Security` value, or `None` for none.
    #[must_use]
    pub fn hsts(mut self, value: Option<String>) -> Self {
        self.hsts = value;
        self
    }

    /// `X-Frame-Options`: `DENY` (default), `SAMEORIGIN`, or `None` to rely on
    /// `frame-ancestors` alone.
    #[must_use]
    pub fn frame_options(mut self, value: Option<&'static str>) -> Self {
        self.frame_options = value;
        self
    }

    /// `Referrer-Policy`.
    #[must_use]
    pub fn referrer_policy(mut self, value: impl Into<String>) -> Self {
        self.referrer = Some(value.into());
        self
    }

    /// `Permissions-Policy`.
    #[must_use]
    pub fn permissions_policy(mut self, value: impl Into<String>) -> Self {
        self.permissions = Some(value.into());
        self
    }

    /// `Cross-Origin-Resource-Policy` (`same-origin` by default; `cross-origin` for public
    /// assets).
    #[must_use]
    pub fn corp(mut self, value: impl Into<String>) -> Self {
        self.corp = Some(value.into());
        self
    }

    /// The layer.
    pub fn layer(&self) -> SecurityHeadersLayer {
        let mut fixed = Vec::new();
        let mut push = |name: HeaderName, v: Option<&str>| {
            if let Some(v) = v.and_then(static_value) {
                fixed.push((name, v));
            }
        };
        push(header::X_CONTENT_TYPE_OPTIONS, Some("nosniff"));
        push(header::STRICT_TRANSPORT_SECURITY, self.hsts.as_deref());
        push(header::X_FRAME_OPTIONS, self.frame_options);
        push(header::REFERRER_POLICY, self.referrer.as_deref());
        push(
            HeaderName::from_static("permissions-policy"),
            self.permissions.as_deref(),
        );
        push(
            HeaderName::from_static("cross-origin-opener-policy"),
            self.coop.as_deref(),
        );
        push(
            HeaderName::from_static("cross-origin-resource-policy"),
            self.corp.as_deref(),
        );
        let csp = match &self.csp {
            Some(c) if c.uses_nonce() => CspValue::Template(c.template(), NonceSource::new()),
            Some(c) => match static_value(&c.render(None)) {
                Some(v) => CspValue::Fixed(v),
                None => CspValue::None,
            },
            None => CspValue::None,
        };
        SecurityHeadersLayer {
            inner: Arc::new(Prepared { fixed, csp }),
        }
    }
}

#[derive(Debug)]
enum CspValue {
    None,
    Fixed(HeaderValue),
    Template(Vec<String>, NonceSource),
}

#[derive(Debug)]
struct Prepared {
    fixed: Vec<(HeaderName, HeaderValue)>,
    csp: CspValue,
}

/// Adds the security headers to every response (see the [module docs](self)).
#[derive(Debug, Clone)]
pub struct SecurityHeadersLayer {
    inner: Arc<Prepared>,
}

impl<S> Layer<S> for SecurityHeadersLayer {
    type Service = SecurityHeadersService<S>;
    fn layer(&self, inner: S) -> SecurityHeadersService<S> {
        SecurityHeadersService {
            inner,
            prepared: self.inner.clone(),
        }
    }
}

/// The service [`SecurityHeadersLayer`] makes.
#[derive(Debug, Clone)]
pub struct SecurityHeadersService<S> {
    inner: S,
    prepared: Arc<Prepared>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SecurityHeadersService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = HeadersFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let csp = match &self.prepared.csp {
            CspValue::None => None,
            CspValue::Fixed(v) => Some(v.clone()),
            CspValue::Template(parts, nonces) => {
                let nonce = nonces.next();
                let value = HeaderValue::from_str(&parts.join(&nonce)).ok();
                req.extensions_mut().insert(CspNonce(nonce));
                value
            }
        };
        HeadersFuture {
            inner: self.inner.call(req),
            prepared: self.prepared.clone(),
            csp,
        }
    }
}

pin_project! {
    /// The future [`SecurityHeadersService`] returns.
    #[derive(Debug)]
    pub struct HeadersFuture<F> {
        #[pin]
        inner: F,
        prepared: Arc<Prepared>,
        csp: Option<HeaderValue>,
    }
}

impl<F, ResBody, E> Future for HeadersFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = match this.inner.poll(cx) {
            Poll::Ready(Ok(res)) => res,
            other => return other,
        };
        let h = res.headers_mut();
        // One growth of the map instead of several as the headers go in.
        h.reserve(this.prepared.fixed.len() + 1);
        // One lookup per header (the entry), not a lookup and then an insert.
        for (name, value) in &this.prepared.fixed {
            if let header::Entry::Vacant(e) = h.entry(name) {
                e.insert(value.clone());
            }
        }
        if let Some(csp) = this.csp.take()
            && let header::Entry::Vacant(e) = h.entry(header::CONTENT_SECURITY_POLICY)
        {
            e.insert(csp);
        }
        h.remove(header::SERVER);
        h.remove(X_POWERED_BY);
        Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use std::convert::Infallible;
    use tower::{ServiceExt, service_fn};

    async fn handler(req: Request<()>) -> Result<Response<Bytes>, Infallible> {
        let mut res = Response::new(Bytes::new());
        if let Some(n) = req.extensions().get::<CspNonce>() {
            res.headers_mut()
                .insert("x-test-nonce", HeaderValue::from_str(&n.0).unwrap());
        }
        res.headers_mut()
            .insert(header::SERVER, HeaderValue::from_static("nginx/1.22"));
        res.headers_mut()
            .insert("x-powered-by", HeaderValue::from_static("Next.js"));
        res.headers_mut().insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        Ok(res)
    }

    #[tokio::test]
    async fn production_headers() {
        let svc = SecurityHeaders::new(Environment::Production)
            .layer()
            .layer(service_fn(handler));
        let res = svc.oneshot(Request::new(())).await.unwrap();
        let h = res.headers();
        assert_eq!(h[header::STRICT_TRANSPORT_SECURITY], HSTS);
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(h["cross-origin-opener-policy"], "same-origin");
        assert_eq!(h["cross-origin-resource-policy"], "same-origin");
        assert!(h.contains_key("permissions-policy"));
        assert!(
            h[header::CONTENT_SECURITY_POLICY]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        // The handler's own choice is kept; server details are stripped.
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer");
        assert!(!h.contains_key(header::SERVER));
        assert!(!h.contains_key("x-powered-by"));
    }

    #[tokio::test]
    async fn development_has_no_hsts_and_nonces_differ() {
        let svc = SecurityHeaders::new(Environment::Development)
            .csp(Csp::strict())
            .layer()
            .layer(service_fn(handler));
        let a = svc.clone().oneshot(Request::new(())).await.unwrap();
        let b = svc.oneshot(Request::new(())).await.unwrap();
        assert!(!a.headers().contains_key(header::STRICT_TRANSPORT_SECURITY));
        let nonce = a.headers()["x-test-nonce"].to_str().unwrap();
        let csp = a.headers()[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains(&format!("'nonce-{nonce}'")), "{csp}");
        assert_ne!(nonce, b.headers()["x-test-nonce"].to_str().unwrap());
    }
}
