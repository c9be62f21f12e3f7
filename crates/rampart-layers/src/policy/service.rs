//! The service a [`PolicyLayer`](super::PolicyLayer) makes: a route's controls run in turn
//! inside one future.
//!
//! Stacked as tower layers, each control is a service wrapping the next: the router clones
//! every one of them per request, the request moves through each, and their futures nest.
//! Here a request meets the controls one after the other in one `async` function, the
//! service holds one shared reference to them, and the only allocation is the future itself
//! (the body has to be awaited anyway).

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use rampart_core::EventKind;
use tower::Service;

use super::{Stack, names};
use crate::auth::Authenticator;
use crate::future::BoxFuture;
use crate::limits::{self, BoxError};
use crate::rate_limit::Check;
use crate::refusal::Refusal;

/// A route's stack (see the [module docs](super)): one type whatever the kind.
#[derive(Clone)]
pub struct Policy<S> {
    stack: Arc<Stack>,
    inner: S,
}

impl<S> Policy<S> {
    pub(super) fn new(stack: Arc<Stack>, inner: S) -> Self {
        Policy { stack, inner }
    }
}

impl<S> fmt::Debug for Policy<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("stack", &self.stack)
            .finish_non_exhaustive()
    }
}

impl<S, B, R> Service<Request<B>> for Policy<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    R: From<Bytes> + Send + 'static,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<R>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The future takes the service that is ready and leaves a clone behind.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(run(self.stack.clone(), inner, req))
    }
}

/// The whole stack for one request: events around everything, then the rate limit, whose
/// fields go on every response it admits, refusals by later controls included.
async fn run<S, B, R>(stack: Arc<Stack>, inner: S, req: Request<B>) -> Result<Response<R>, S::Error>
where
    S: Service<Request<Full<Bytes>>, Response = Response<R>>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
    R: From<Bytes>,
{
    let events = stack.events.as_ref().map(|e| e.context(&req));
    let mut res = 'res: {
        if !stack.missing.is_empty() {
            break 'res Refusal::new(
                &req,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error",
                EventKind::ServerError,
                format!(
                    "{} route misconfigured: missing {}",
                    stack.kind,
                    names(&stack.missing)
                ),
            )
            .into_response();
        }
        let admitted = match &stack.rate_limit {
            Some(limit) => {
                let outcome = match limit.check(&req) {
                    Check::Ready(Some(outcome)) => outcome,
                    // A remote store: the one wait before the other controls.
                    check => check.await,
                };
                match limit.verdict(outcome, &req) {
                    Ok(admitted) => Some(admitted),
                    Err(refusal) => break 'res refusal.into_response(),
                }
            }
            None => None,
        };
        let mut res = guarded(&stack, inner, req).await?;
        if let Some(admitted) = admitted {
            admitted.stamp(&mut res);
        }
        res
    };
    if let Some(events) = events {
        events.finish(&mut res);
    }
    Ok(res)
}

/// After the rate limit: the signature or CSRF, authentication, the body limit and
/// validation, then the handler.
async fn guarded<S, B, R>(
    stack: &Stack,
    mut inner: S,
    mut req: Request<B>,
) -> Result<Response<R>, S::Error>
where
    S: Service<Request<Full<Bytes>>, Response = Response<R>>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
    R: From<Bytes>,
{
    if let Some(webhook) = &stack.webhook {
        // The signature covers the raw body, so it is read (within the limit) first.
        let (parts, bytes) = match limits::buffer(req, stack.body_limit).await {
            Ok(buffered) => buffered,
            Err(refusal) => return Ok(refusal.into_response()),
        };
        let req = Request::from_parts(parts, Full::new(bytes.clone()));
        let key = match webhook.admit(&req, &bytes) {
            Ok(key) => key,
            Err(refusal) => return Ok(refusal.into_response()),
        };
        let res = inner.call(req).await;
        webhook.settle(&key, &res);
        return res;
    }
    if let Some(csrf) = &stack.csrf
        && let Err(failure) = csrf.verify(req.method(), req.headers())
    {
        return Ok(csrf.refusal(&req, failure).into_response());
    }
    if let Some(auth) = &stack.auth {
        let verified = match auth.verify_sync(req.headers()) {
            Some(verified) => verified,
            // A key not fetched yet (JWKS): only then is there something to wait for.
            None => auth.authenticate(req.headers()).await,
        };
        match verified {
            Ok(claims) => {
                req.extensions_mut().insert(claims);
            }
            Err(failure) => return Ok(Authenticator::refusal(&req, failure).into_response()),
        }
    }
    let (mut parts, bytes) = match limits::buffer(req, stack.body_limit).await {
        Ok(buffered) => buffered,
        Err(refusal) => return Ok(refusal.into_response()),
    };
    if let Err(errors) = limits::validate_buffered(stack.validator.as_ref(), &mut parts, &bytes) {
        let req = Request::from_parts(parts, ());
        return Ok(errors.refusal(&req).into_response());
    }
    inner
        .call(Request::from_parts(parts, Full::new(bytes)))
        .await
}
