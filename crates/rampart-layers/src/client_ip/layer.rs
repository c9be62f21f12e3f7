//! [`ClientIpLayer`]: puts [`ClientIp`] in request extensions, or refuses (fail closed).

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Extensions, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use rampart_core::EventKind;
use tower::{Layer, Service};

use super::{ClientIp, PeerAddr, TrustedProxies, resolve};
use crate::refusal::Refusal;

/// Reads the socket peer from request extensions.
pub type PeerFn = fn(&Extensions) -> Option<IpAddr>;

fn peer_addr_extension(ext: &Extensions) -> Option<IpAddr> {
    ext.get::<PeerAddr>().map(|p| p.0.ip())
}

/// Resolves the client address of every request (see the [module docs](super)).
///
/// A request whose address cannot be believed (no peer, or a trusted proxy that sent no usable
/// forwarding header) is answered 400 with a `client_ip_unresolved` refusal.
#[derive(Debug, Clone)]
pub struct ClientIpLayer {
    trusted: Arc<TrustedProxies>,
    peer: PeerFn,
}

impl ClientIpLayer {
    /// Believes forwarding headers only from `trusted` peers; reads the peer from [`PeerAddr`].
    pub fn new(trusted: TrustedProxies) -> Self {
        ClientIpLayer {
            trusted: Arc::new(trusted),
            peer: peer_addr_extension,
        }
    }

    /// Reads the socket peer with `peer` instead, e.g. from axum's `ConnectInfo<SocketAddr>`:
    /// `|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())`.
    #[must_use]
    pub fn peer_from(mut self, peer: PeerFn) -> Self {
        self.peer = peer;
        self
    }
}

impl<S> Layer<S> for ClientIpLayer {
    type Service = ClientIpService<S>;
    fn layer(&self, inner: S) -> ClientIpService<S> {
        ClientIpService {
            inner,
            trusted: self.trusted.clone(),
            peer: self.peer,
        }
    }
}

/// The service [`ClientIpLayer`] makes.
#[derive(Debug, Clone)]
pub struct ClientIpService<S> {
    inner: S,
    trusted: Arc<TrustedProxies>,
    peer: PeerFn,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for ClientIpService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ClientIpFuture<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<ReqBody>) -> Self::Future {
        let peer = (self.peer)(req.extensions());
        match resolve(peer, req.headers(), &self.trusted) {
            Ok(ip) => {
                req.extensions_mut().insert(ClientIp(ip));
                ClientIpFuture::Inner {
                    fut: self.inner.call(req),
                }
            }
            Err(why) => {
                let mut refusal = Refusal::new(
                    &req,
                    StatusCode::BAD_REQUEST,
                    "Could not determine client address",
                    EventKind::ClientIpUnresolved,
                    why.to_string(),
                );
                if let Some(p) = peer {
                    refusal.event.ip = Some(p);
                }
                ClientIpFuture::Refused {
                    res: Some(refusal.into_response()),
                }
            }
        }
    }
}

pin_project! {
    /// The future [`ClientIpService`] returns.
    #[project = Proj]
    // pin-project-lite takes no attributes on enum fields; the variants say what they hold.
    #[allow(missing_docs)]
    #[derive(Debug)]
    pub enum ClientIpFuture<F, B> {
        /// The inner service is answering.
        Inner { #[pin] fut: F },
        /// Refused before the inner service.
        Refused { res: Option<Response<B>> },
    }
}

impl<F, B, E> Future for ClientIpFuture<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<B>, E>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Proj::Inner { fut } => fut.poll(cx),
            // Polled after completion: answered without panicking.
            Proj::Refused { res } => res.take().map_or(Poll::Pending, |r| Poll::Ready(Ok(r))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventsLayer, MemorySink};
    use std::convert::Infallible;
    use std::net::SocketAddr;
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    async fn echo(req: Request<()>) -> Result<Response<Bytes>, Infallible> {
        let ip = req.extensions().get::<ClientIp>().unwrap().0;
        Ok(Response::new(Bytes::from(ip.to_string())))
    }

    fn request(peer: &str, xff: Option<&str>) -> Request<()> {
        let mut b = Request::get("/x");
        if let Some(x) = xff {
            b = b.header("x-forwarded-for", x);
        }
        let mut req = b.body(()).unwrap();
        req.extensions_mut()
            .insert(PeerAddr(SocketAddr::new(peer.parse().unwrap(), 40000)));
        req
    }

    #[tokio::test]
    async fn spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
        let layer = ClientIpLayer::new(TrustedProxies::parse_list("10.0.0.0/8").unwrap());
        let svc = layer.layer(service_fn(echo));
        let res = svc
            .clone()
            .oneshot(request("198.51.100.7", Some("1.2.3.4")))
            .await
            .unwrap();
        assert_eq!(res.body().as_ref(), b"198.51.100.7");
        let res = svc
            .oneshot(request("10.0.0.1", Some("1.2.3.4, 203.0.113.9")))
            .await
            .unwrap();
        assert_eq!(res.body().as_ref(), b"203.0.113.9");
    }

    #[tokio::test]
    async fn unresolved_is_refused_with_one_event() {
        let sink = MemorySink::new();
        let svc = ServiceBuilder::new()
            .layer(EventsLayer::new(Arc::new(sink.clone())))
            .layer(ClientIpLayer::new(
                TrustedProxies::parse_list("10.0.0.0/8").unwrap(),
            ))
            .service(service_fn(echo));
        let res = svc
            .clone()
            .oneshot(request("10.0.0.1", None))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            res.body().as_ref(),
            br#"{"error":"Could not determine client address"}"#
        );
        let no_peer = Request::get("/x").body(()).unwrap();
        assert_eq!(
            svc.oneshot(no_peer).await.unwrap().status(),
            StatusCode::BAD_REQUEST
        );
        let events = sink.take();
        assert_eq!(events.len(), 2);
        assert!(
            events
                .iter()
                .all(|e| e.kind == EventKind::ClientIpUnresolved)
        );
        assert_eq!(events[0].ip, Some("10.0.0.1".parse().unwrap()));
    }
}
