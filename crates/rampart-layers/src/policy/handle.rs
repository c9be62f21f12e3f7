//! The common path's future: the body within the limit, its validation, then the handler.
//!
//! Written by hand rather than as an `async fn`: the compiler's state machine kept the
//! request as an argument beside the parts, the body read and the handler's future, about
//! 1.6 KB, and a future that large costs a slower allocation (glibc consolidates its free
//! lists for requests of a kilobyte or more) and kilobyte copies. This one holds either the
//! body being read or the handler's future, never both.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::request::Parts;
use http::{Request, Response};
use http_body::Body;
use http_body_util::combinators::Collect;
use http_body_util::{BodyExt, Full, Limited};
use pin_project_lite::pin_project;
use tower::Service;

use super::Stack;
use super::service::finish;
use crate::events::EmitContext;
use crate::limits::{self, BodyError, BoxError};
use crate::rate_limit::Admitted;

pin_project! {
    /// See the [module docs](self).
    pub(super) struct Handle<S, F, B>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        #[pin]
        state: State<S, F, B>,
        stack: Arc<Stack>,
        admitted: Option<Admitted>,
        events: Option<Box<EmitContext>>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, F, B>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        Reading {
            #[pin]
            body: Collect<Limited<B>>,
            parts: Option<Parts>,
            inner: Option<S>,
        },
        Calling {
            #[pin]
            fut: F,
        },
    }
}

impl<S, F, B> Handle<S, F, B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    /// Reads `req`'s body for `inner`; `admitted` and `events` go on the response.
    pub(super) fn new(
        stack: Arc<Stack>,
        inner: S,
        req: Request<B>,
        admitted: Option<Admitted>,
        events: Option<Box<EmitContext>>,
    ) -> Self {
        let (parts, body) = req.into_parts();
        Handle {
            state: State::Reading {
                body: limits::limited(body, stack.body_limit).collect(),
                parts: Some(parts),
                inner: Some(inner),
            },
            stack,
            admitted,
            events,
        }
    }
}

impl<S, B, R> Future for Handle<S, S::Future, B>
where
    S: Service<Request<Full<Bytes>>, Response = Response<R>>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
    R: From<Bytes>,
{
    type Output = Result<Response<R>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let mut res = match this.state.as_mut().project() {
                StateProj::Reading { body, parts, inner } => {
                    let read = ready!(body.poll(cx));
                    let (Some(mut parts), Some(mut inner)) = (parts.take(), inner.take()) else {
                        // Polled after completion: a caller's mistake, answered without panicking.
                        return Poll::Pending;
                    };
                    let limit = this.stack.body_limit;
                    let refusal = match read.map_err(BodyError::from) {
                        Ok(collected) => {
                            let bytes = collected.to_bytes();
                            let validator = this.stack.validator.as_ref();
                            match limits::validate_buffered(validator, &mut parts, &bytes) {
                                Ok(()) => {
                                    let req = Request::from_parts(parts, Full::new(bytes));
                                    let fut = inner.call(req);
                                    this.state.set(State::Calling { fut });
                                    continue;
                                }
                                Err(errors) => errors.refusal(&Request::from_parts(parts, ())),
                            }
                        }
                        Err(e) => e.refusal(&Request::from_parts(parts, ()), limit),
                    };
                    refusal.into_response()
                }
                StateProj::Calling { fut } => ready!(fut.poll(cx))?,
            };
            finish(&mut res, this.admitted.take(), this.events.take());
            return Poll::Ready(Ok(res));
        }
    }
}
