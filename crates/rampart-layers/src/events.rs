//! Events: every refusal becomes exactly one [`SecurityEvent`].
//!
//! [`EventsLayer`] goes outermost. It remembers the request's method and path, lets the stack
//! answer, then emits one event for a [`Refusal`] in the response extensions (and one for each
//! [`EventDraft`] in [`EventDrafts`]), stamped with its [`Clock`].

use std::fmt;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{Method, Request, Response, Uri};
use pin_project_lite::pin_project;
use rampart_core::{Clock, SecurityEvent, SystemClock};
use tower::{Layer, Service};

use crate::refusal::{EventDraft, EventDrafts, Refusal};

/// Where security events go: a file, the monitor, a test's vector.
///
/// `emit` is called on the request path: implementations must not block for long.
pub trait EventSink: Send + Sync + fmt::Debug + 'static {
    /// Records one event.
    fn emit(&self, event: SecurityEvent);
}

impl<S: EventSink + ?Sized> EventSink for Arc<S> {
    fn emit(&self, event: SecurityEvent) {
        (**self).emit(event)
    }
}

/// Drops every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink;

impl EventSink for NullSink {
    fn emit(&self, _: SecurityEvent) {}
}

/// Keeps events in memory; clones share them. For tests and the dashboard's recent list.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    events: Arc<Mutex<Vec<SecurityEvent>>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the events so far.
    pub fn events(&self) -> Vec<SecurityEvent> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Removes and returns the events so far.
    pub fn take(&self) -> Vec<SecurityEvent> {
        self.events
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default()
    }
}

impl EventSink for MemorySink {
    fn emit(&self, event: SecurityEvent) {
        if let Ok(mut e) = self.events.lock() {
            e.push(event);
        }
    }
}

/// Appends events as JSON lines to a file, flushed per line so `tail -f` and the monitor see
/// them at once.
pub struct JsonLinesSink {
    file: Mutex<BufWriter<File>>,
}

impl fmt::Debug for JsonLinesSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLinesSink").finish_non_exhaustive()
    }
}

impl JsonLinesSink {
    /// Opens `path` for appending, creating it if needed.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(JsonLinesSink {
            file: Mutex::new(BufWriter::new(file)),
        })
    }
}

impl EventSink for JsonLinesSink {
    fn emit(&self, event: SecurityEvent) {
        if let Ok(mut f) = self.file.lock() {
            // A full disk must not take the request path down; the event is lost, not the request.
            let _ = writeln!(f, "{}", event.to_json_line()).and_then(|_| f.flush());
        }
    }
}

/// Sends every event to several sinks.
#[derive(Debug, Clone, Default)]
pub struct TeeSink(pub Vec<Arc<dyn EventSink>>);

impl EventSink for TeeSink {
    fn emit(&self, event: SecurityEvent) {
        if let Some((last, rest)) = self.0.split_last() {
            for sink in rest {
                sink.emit(event.clone());
            }
            last.emit(event);
        }
    }
}

/// Emits one event per refusal (and per recorded draft) to a sink. Put it outermost.
#[derive(Debug, Clone)]
pub struct EventsLayer {
    sink: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
}

impl EventsLayer {
    /// Events to `sink`, stamped by the system clock.
    pub fn new(sink: Arc<dyn EventSink>) -> Self {
        EventsLayer {
            sink,
            clock: Arc::new(SystemClock::new()),
        }
    }

    /// Uses `clock` for timestamps.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }
}

impl<S> Layer<S> for EventsLayer {
    type Service = Events<S>;
    fn layer(&self, inner: S) -> Events<S> {
        Events {
            inner,
            sink: self.sink.clone(),
            clock: self.clock.clone(),
        }
    }
}

/// The service [`EventsLayer`] makes.
#[derive(Debug, Clone)]
pub struct Events<S> {
    inner: S,
    sink: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for Events<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = EventsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let ctx = EmitContext::new(&req, &self.sink, &self.clock);
        EventsFuture {
            inner: self.inner.call(req),
            ctx: Some(ctx),
        }
    }
}

impl EventsLayer {
    /// What emitting the events of `req`'s response takes (for services that emit
    /// themselves rather than through [`Events`]).
    pub(crate) fn context<B>(&self, req: &Request<B>) -> EmitContext {
        EmitContext::new(req, &self.sink, &self.clock)
    }
}

/// A request's method and path and where its events go.
#[derive(Debug)]
pub(crate) struct EmitContext {
    method: Method,
    path: Uri,
    sink: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
}

impl EmitContext {
    fn new<B>(req: &Request<B>, sink: &Arc<dyn EventSink>, clock: &Arc<dyn Clock>) -> Self {
        // Cheap handles, not strings: a standard method is a tag, and a URI parsed by the
        // server shares its buffer, so nothing is allocated unless an event is emitted.
        EmitContext {
            method: req.method().clone(),
            path: req.uri().clone(),
            sink: sink.clone(),
            clock: clock.clone(),
        }
    }

    /// Emits the events `res` carries: drafts left by layers, and its refusal unless an
    /// inner events layer already emitted it.
    pub(crate) fn finish<B>(self, res: &mut Response<B>) {
        let status = res.status().as_u16();
        if let Some(drafts) = res.extensions_mut().remove::<EventDrafts>() {
            for draft in &drafts.0 {
                self.emit(draft, status);
            }
        }
        if let Some(refusal) = res.extensions_mut().get_mut::<Refusal>()
            && !refusal.emitted
        {
            self.emit(&refusal.event, status);
            refusal.emitted = true;
        }
    }

    fn emit(&self, draft: &EventDraft, status: u16) {
        let mut event = SecurityEvent::new(self.clock.now(), draft.kind.clone(), &draft.message)
            .request(self.method.as_str(), self.path.path())
            .status(status);
        if let Some(sev) = draft.severity {
            event = event.severity(sev);
        }
        if let Some(ip) = draft.ip {
            event = event.ip(ip);
        }
        if let Some(user) = &draft.user_id {
            event = event.user_id(user);
        }
        for (k, v) in &draft.metadata {
            event = event.meta(k, v.clone());
        }
        self.sink.emit(event);
    }
}

pin_project! {
    /// The future [`Events`] returns.
    #[derive(Debug)]
    pub struct EventsFuture<F> {
        #[pin]
        inner: F,
        ctx: Option<EmitContext>,
    }
}

impl<F, ResBody, E> Future for EventsFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = match this.inner.poll(cx) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Ready(Ok(res)) => res,
        };
        if let Some(ctx) = this.ctx.take() {
            ctx.finish(&mut res);
        }
        Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http::StatusCode;
    use rampart_core::{EventKind, ManualClock};
    use std::convert::Infallible;
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    fn refuse(req: Request<()>) -> Result<Response<Bytes>, Infallible> {
        if req.uri().path() == "/ok" {
            return Ok(Response::new(Bytes::from_static(b"ok")));
        }
        Ok(Refusal::new(
            &req,
            StatusCode::FORBIDDEN,
            "Invalid CSRF token",
            EventKind::CsrfValidationFailed,
            "token missing",
        )
        .into_response())
    }

    #[tokio::test]
    async fn one_event_per_refusal_even_when_nested() {
        let sink = MemorySink::new();
        let clock = ManualClock::new(1_764_842_400_000_000_000);
        let layer = EventsLayer::new(Arc::new(sink.clone())).with_clock(Arc::new(clock));
        let svc = ServiceBuilder::new()
            .layer(layer.clone())
            .layer(layer)
            .service(service_fn(|r| async move { refuse(r) }));

        let req = Request::post("/api/contact?x=1").body(()).unwrap();
        let res = svc.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let events = sink.take();
        assert_eq!(events.len(), 1);
        let ev = &events[0];
        assert_eq!(ev.kind, EventKind::CsrfValidationFailed);
        assert_eq!(ev.method.as_deref(), Some("POST"));
        assert_eq!(ev.endpoint.as_deref(), Some("/api/contact"));
        assert_eq!(ev.status, Some(403));
        assert_eq!(ev.ts.timestamp(), 1_764_842_400);

        let ok = Request::get("/ok").body(()).unwrap();
        assert_eq!(svc.oneshot(ok).await.unwrap().status(), StatusCode::OK);
        assert!(sink.take().is_empty());
    }

    #[test]
    fn json_lines_sink_appends() {
        let dir = std::env::temp_dir().join(format!("rampart-events-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("events.jsonl");
        let _ = std::fs::remove_file(&path);
        let sink = JsonLinesSink::open(&path).unwrap();
        let ts = ManualClock::new(0).now();
        sink.emit(SecurityEvent::new(ts, EventKind::ServerError, "a"));
        sink.emit(SecurityEvent::new(ts, EventKind::ServerError, "b"));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            SecurityEvent::from_json_line(lines[1]).unwrap().message,
            "b"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
