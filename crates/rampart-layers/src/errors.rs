//! Safe errors: the client never sees internals in production.
//!
//! [`SafeErrorsLayer`] turns a handler's `Err`, a panic, or a 5xx response into
//! `{"error": "Internal server error"}` and records one `server_error` event. In production
//! the detail goes only into the event; in development the client sees it too (`detail`
//! field, or the handler's own 5xx body), which is what a developer wants at the terminal.
//! Refusals from other layers pass untouched.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};
use pin_project_lite::pin_project;
use rampart_core::EventKind;
use rampart_core::config::Environment;
use tower::{Layer, Service};

use crate::refusal::{EventDraft, EventDrafts, Refusal};

/// The body every hidden error gets.
pub const GENERIC: &str = "Internal server error";

/// Hides internal errors in production (see the [module docs](self)).
#[derive(Debug, Clone, Copy)]
pub struct SafeErrorsLayer {
    production: bool,
}

impl SafeErrorsLayer {
    /// Hides detail when `env` is production.
    pub fn new(env: Environment) -> Self {
        SafeErrorsLayer {
            production: env.is_production(),
        }
    }
}

impl<S> Layer<S> for SafeErrorsLayer {
    type Service = SafeErrors<S>;
    fn layer(&self, inner: S) -> SafeErrors<S> {
        SafeErrors {
            inner,
            production: self.production,
        }
    }
}

/// The service [`SafeErrorsLayer`] makes. Its error type is [`Infallible`]: every failure
/// becomes a 500 response.
#[derive(Debug, Clone)]
pub struct SafeErrors<S> {
    inner: S,
    production: bool,
}

impl<S, Req, ResBody> Service<Req> for SafeErrors<S>
where
    S: Service<Req, Response = Response<ResBody>>,
    S::Error: fmt::Display,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = Infallible;
    type Future = SafeErrorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // An inner service that cannot become ready is answered per request with a 500.
        match self.inner.poll_ready(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let production = self.production;
        match catch_unwind(AssertUnwindSafe(|| self.inner.call(req))) {
            Ok(fut) => SafeErrorsFuture {
                inner: Some(fut),
                production,
                panic: None,
            },
            Err(p) => SafeErrorsFuture {
                inner: None,
                production,
                panic: Some(panic_message(&*p)),
            },
        }
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}

pin_project! {
    /// The future [`SafeErrors`] returns.
    #[derive(Debug)]
    pub struct SafeErrorsFuture<F> {
        #[pin]
        inner: Option<F>,
        production: bool,
        panic: Option<String>,
    }
}

fn internal_error<B: From<Bytes>>(production: bool, detail: &str) -> Response<B> {
    let body = if production {
        serde_json::json!({ "error": GENERIC })
    } else {
        serde_json::json!({ "error": GENERIC, "detail": detail })
    };
    let mut res = Response::new(B::from(Bytes::from(body.to_string())));
    *res.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    record(&mut res, detail);
    res
}

fn record<B>(res: &mut Response<B>, detail: &str) {
    let draft = EventDraft::new(
        EventKind::ServerError,
        format!("server error: {}", rampart_core::redact::cap(detail, 200)),
    );
    match res.extensions_mut().get_mut::<EventDrafts>() {
        Some(d) => d.0.push(draft),
        None => {
            res.extensions_mut().insert(EventDrafts(vec![draft]));
        }
    }
}

impl<F, ResBody, E> Future for SafeErrorsFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    E: fmt::Display,
    ResBody: From<Bytes>,
{
    type Output = Result<Response<ResBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let production = *this.production;
        if let Some(msg) = this.panic.take() {
            return Poll::Ready(Ok(internal_error(production, &msg)));
        }
        let Some(fut) = this.inner.as_mut().as_pin_mut() else {
            return Poll::Ready(Ok(internal_error(production, "polled after completion")));
        };
        let polled = catch_unwind(AssertUnwindSafe(|| fut.poll(cx)));
        let out = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Err(p) => internal_error(production, &panic_message(&*p)),
            Ok(Poll::Ready(Err(e))) => internal_error(production, &e.to_string()),
            Ok(Poll::Ready(Ok(mut res))) => {
                if res.status().is_server_error() && res.extensions().get::<Refusal>().is_none() {
                    if production {
                        let status = res.status();
                        let mut generic: Response<ResBody> = internal_error(true, "");
                        *generic.status_mut() = status;
                        let detail = format!("handler answered {status}");
                        // Keep the handler's extensions (a request id, say) but not its body.
                        let (mut parts, _) = res.into_parts();
                        parts.headers.remove(CONTENT_LENGTH);
                        parts
                            .headers
                            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                        let (_, body) = generic.into_parts();
                        res = Response::from_parts(parts, body);
                        record(&mut res, &detail);
                    } else {
                        let detail = format!("handler answered {}", res.status());
                        record(&mut res, &detail);
                    }
                }
                res
            }
        };
        this.inner.set(None);
        Poll::Ready(Ok(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventsLayer, MemorySink};
    use http::Request;
    use std::sync::Arc;
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    async fn handler(req: Request<()>) -> Result<Response<Bytes>, String> {
        match req.uri().path() {
            "/err" => Err("database password rejected for user app".into()),
            "/panic" => panic!("index out of bounds in billing.rs"),
            "/500" => {
                let mut r = Response::new(Bytes::from_static(b"stack trace: at billing.rs:42"));
                *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                Ok(r)
            }
            _ => Ok(Response::new(Bytes::from_static(b"ok"))),
        }
    }

    async fn run(env: Environment, path: &str) -> (StatusCode, String, usize) {
        let sink = MemorySink::new();
        let svc = ServiceBuilder::new()
            .layer(EventsLayer::new(Arc::new(sink.clone())))
            .layer(SafeErrorsLayer::new(env))
            .service(service_fn(handler));
        let res = svc
            .oneshot(Request::get(path).body(()).unwrap())
            .await
            .unwrap();
        let events = sink.take();
        assert!(events.iter().all(|e| e.kind == EventKind::ServerError));
        (
            res.status(),
            String::from_utf8(res.body().to_vec()).unwrap(),
            events.len(),
        )
    }

    #[tokio::test]
    async fn production_hides_detail() {
        for path in ["/err", "/panic", "/500"] {
            let (status, body, events) = run(Environment::Production, path).await;
            assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(body, r#"{"error":"Internal server error"}"#, "{path}");
            assert_eq!(events, 1, "{path}");
        }
        assert_eq!(run(Environment::Production, "/ok").await.2, 0);
    }

    #[tokio::test]
    async fn development_shows_detail() {
        let (_, body, _) = run(Environment::Development, "/err").await;
        assert!(body.contains("database password rejected"), "{body}");
        let (_, body, _) = run(Environment::Development, "/panic").await;
        assert!(body.contains("index out of bounds"), "{body}");
        let (_, body, events) = run(Environment::Development, "/500").await;
        assert!(body.contains("stack trace"), "{body}");
        assert_eq!(events, 1);
    }
}
