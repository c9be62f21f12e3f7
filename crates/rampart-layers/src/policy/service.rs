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

use super::handle::Handle;
use super::{Stack, names};
use crate::auth::Authenticator;
use crate::events::EmitContext;
use crate::future::BoxFuture;
use crate::limits::{self, BoxError};
use crate::rate_limit::{Admitted, Check};
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

    /// The controls that need no waiting run here, before any future exists; the future
    /// ([`Handle`]) then only reads the body and calls the handler. Waiting on a remote
    /// limiter, a JWKS fetch or a webhook body takes the general path, [`run`].
    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let Policy { stack, inner } = self;
        let events = stack.events.as_ref().map(|e| Box::new(e.context(&req)));
        if !stack.missing.is_empty() {
            return answer(misconfigured(stack, &req).into_response(), None, events);
        }
        let admitted = match &stack.rate_limit {
            None => None,
            Some(limit) => match limit.check(&req) {
                Check::Ready(Some(outcome)) => match limit.verdict(outcome, &req) {
                    Ok(admitted) => Some(admitted),
                    Err(refusal) => return answer(refusal.into_response(), None, events),
                },
                pending => {
                    let after = Step::Limited(pending);
                    return Box::pin(run(stack.clone(), take(inner), req, after, events));
                }
            },
        };
        if stack.webhook.is_some() {
            let after = Step::Admitted(admitted);
            return Box::pin(run(stack.clone(), take(inner), req, after, events));
        }
        if let Some(csrf) = &stack.csrf
            && let Err(failure) = csrf.verify(req.method(), req.headers())
        {
            let res = csrf.refusal(&req, failure).into_response();
            return answer(res, admitted, events);
        }
        if let Some(auth) = &stack.auth {
            match auth.verify_sync(req.headers()) {
                Some(Ok(claims)) => {
                    req.extensions_mut().insert(claims);
                }
                Some(Err(failure)) => {
                    let res = Authenticator::refusal(&req, failure).into_response();
                    return answer(res, admitted, events);
                }
                None => {
                    let after = Step::Verified(admitted);
                    return Box::pin(run(stack.clone(), take(inner), req, after, events));
                }
            }
        }
        if limits::announced_too_large(req.headers(), stack.body_limit) {
            let res = limits::too_large(&req, stack.body_limit).into_response();
            return answer(res, admitted, events);
        }
        Box::pin(Handle::new(
            stack.clone(),
            take(inner),
            req,
            admitted,
            events,
        ))
    }
}

/// The service that is ready, for a future to call; a clone is left behind. Only a request
/// that gets that far pays for the clone: a refusal needs no service.
fn take<S: Clone>(inner: &mut S) -> S {
    let clone = inner.clone();
    std::mem::replace(inner, clone)
}

/// A response decided without waiting, with the rate-limit fields and events it gets.
fn answer<R, E>(
    mut res: Response<R>,
    admitted: Option<Admitted>,
    events: Option<Box<EmitContext>>,
) -> BoxFuture<Result<Response<R>, E>>
where
    R: Send + 'static,
    E: Send + 'static,
{
    finish(&mut res, admitted, events);
    Box::pin(std::future::ready(Ok(res)))
}

/// What every response of the stack gets on its way out: the rate-limit fields of an
/// admitted request (refusals by later controls included), then its events.
pub(super) fn finish<R>(
    res: &mut Response<R>,
    admitted: Option<Admitted>,
    events: Option<Box<EmitContext>>,
) {
    if let Some(admitted) = admitted {
        admitted.stamp(res);
    }
    if let Some(events) = events {
        events.finish(res);
    }
}

fn misconfigured<B>(stack: &Stack, req: &Request<B>) -> Refusal {
    Refusal::new(
        req,
        StatusCode::INTERNAL_SERVER_ERROR,
        "Internal server error",
        EventKind::ServerError,
        format!(
            "{} route misconfigured: missing {}",
            stack.kind,
            names(&stack.missing)
        ),
    )
}

/// The body within the limit, its validation, the handler (the general path's end).
async fn body_then_handler<S, B, R>(
    stack: &Stack,
    mut inner: S,
    req: Request<B>,
) -> Result<Response<R>, S::Error>
where
    S: Service<Request<Full<Bytes>>, Response = Response<R>>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
    R: From<Bytes>,
{
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

/// Where the general path picks up.
enum Step {
    /// The limiter's store is being asked.
    Limited(Check),
    /// Admitted by the limiter (or not limited): signature or CSRF next.
    Admitted(Option<Admitted>),
    /// Past CSRF: authentication (with a key to fetch) next.
    Verified(Option<Admitted>),
}

/// The general path: every control from `after` on, waiting where one has to.
async fn run<S, B, R>(
    stack: Arc<Stack>,
    mut inner: S,
    mut req: Request<B>,
    after: Step,
    events: Option<Box<EmitContext>>,
) -> Result<Response<R>, S::Error>
where
    S: Service<Request<Full<Bytes>>, Response = Response<R>>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
    R: From<Bytes>,
{
    let (admitted, csrf_done) = match after {
        Step::Limited(check) => {
            let Some(limit) = &stack.rate_limit else {
                unreachable!("a limiter check without a limiter")
            };
            match limit.verdict(check.await, &req) {
                Ok(admitted) => (Some(admitted), false),
                Err(refusal) => {
                    let mut res = refusal.into_response();
                    finish(&mut res, None, events);
                    return Ok(res);
                }
            }
        }
        Step::Admitted(admitted) => (admitted, false),
        Step::Verified(admitted) => (admitted, true),
    };
    let mut res = 'res: {
        if let Some(webhook) = &stack.webhook {
            // The signature covers the raw body, so it is read (within the limit) first.
            let (parts, bytes) = match limits::buffer(req, stack.body_limit).await {
                Ok(buffered) => buffered,
                Err(refusal) => break 'res refusal.into_response(),
            };
            let req = Request::from_parts(parts, Full::new(bytes.clone()));
            let key = match webhook.admit(&req, &bytes) {
                Ok(key) => key,
                Err(refusal) => break 'res refusal.into_response(),
            };
            let res = inner.call(req).await;
            webhook.settle(&key, &res);
            break 'res res?;
        }
        if !csrf_done
            && let Some(csrf) = &stack.csrf
            && let Err(failure) = csrf.verify(req.method(), req.headers())
        {
            break 'res csrf.refusal(&req, failure).into_response();
        }
        if let Some(auth) = &stack.auth {
            match auth.authenticate(req.headers()).await {
                Ok(claims) => {
                    req.extensions_mut().insert(claims);
                }
                Err(failure) => break 'res Authenticator::refusal(&req, failure).into_response(),
            }
        }
        body_then_handler(&stack, inner, req).await?
    };
    finish(&mut res, admitted, events);
    Ok(res)
}
