//! [`CsrfLayer`] and its service.

use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower::{Layer, Service};

use super::Csrf;
use crate::future::RefusedOrInner;

/// Refuses mutations without a valid CSRF token (see the [module docs](super)).
#[derive(Debug, Clone)]
pub struct CsrfLayer {
    csrf: Csrf,
}

impl CsrfLayer {
    pub(super) fn new(csrf: Csrf) -> Self {
        CsrfLayer { csrf }
    }
}

impl<S> Layer<S> for CsrfLayer {
    type Service = CsrfService<S>;
    fn layer(&self, inner: S) -> CsrfService<S> {
        CsrfService {
            inner,
            csrf: self.csrf.clone(),
        }
    }
}

/// The service [`CsrfLayer`] makes.
#[derive(Debug, Clone)]
pub struct CsrfService<S> {
    inner: S,
    csrf: Csrf,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for CsrfService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RefusedOrInner<S::Future, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        match self.csrf.verify(req.method(), req.headers()) {
            Ok(()) => RefusedOrInner::inner(self.inner.call(req)),
            Err(failure) => {
                RefusedOrInner::refused(self.csrf.refusal(&req, failure).into_response())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csrf::{CsrfConfig, HEADER, SESSION_COOKIE};
    use crate::events::{EventsLayer, MemorySink};
    use http::header::COOKIE;
    use http::{HeaderMap, StatusCode};
    use rampart_core::{EventKind, Severity};
    use std::convert::Infallible;
    use std::sync::Arc;
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    #[tokio::test]
    async fn refusal_is_403_json_with_one_critical_event() {
        let csrf = Csrf::new(CsrfConfig::new("x".repeat(40))).unwrap();
        let sink = MemorySink::new();
        let svc = ServiceBuilder::new()
            .layer(EventsLayer::new(Arc::new(sink.clone())))
            .layer(csrf.layer())
            .service(service_fn(|_req: Request<()>| async {
                Ok::<_, Infallible>(Response::new(Bytes::from_static(b"handled")))
            }));

        let res = svc
            .clone()
            .oneshot(Request::post("/api/contact").body(()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(res.body().as_ref(), br#"{"error":"Invalid CSRF token"}"#);
        let events = sink.take();
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].kind, EventKind::CsrfValidationFailed);
        assert_eq!(events[0].severity, Severity::Critical);

        let issued = csrf.issue(&HeaderMap::new()).unwrap();
        let ok = Request::post("/api/contact")
            .header(HEADER, issued.token)
            .header(COOKIE, format!("{SESSION_COOKIE}={}", issued.session))
            .body(())
            .unwrap();
        let res = svc.clone().oneshot(ok).await.unwrap();
        assert_eq!(res.body().as_ref(), b"handled");
        let get = Request::get("/api/contact").body(()).unwrap();
        assert_eq!(svc.oneshot(get).await.unwrap().body().as_ref(), b"handled");
        assert!(sink.take().is_empty());
    }
}
