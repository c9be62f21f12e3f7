//! [`RateLimitLayer`], its service and its future.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::RETRY_AFTER;
use http::{HeaderValue, Request, Response, StatusCode};
use pin_project_lite::pin_project;
use rampart_core::EventKind;
use tower::{Layer, Service};

use super::headers::{RATELIMIT, RATELIMIT_POLICY, rate_limit_header, retry_after};
use super::key::KeyBy;
use super::limiter::{Check, Outcome, RateLimiter};
use crate::refusal::{EventDraft, EventDrafts, Refusal};

/// Limits a route: 429 over the quota, rate-limit fields on every response.
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    shared: Arc<Shared>,
}

/// What every clone of a [`RateLimit`] service shares: axum clones a route's service for each
/// request, and one reference count is cheaper to bump than two.
#[derive(Debug)]
struct Shared {
    limiter: RateLimiter,
    key_by: KeyBy,
}

impl RateLimitLayer {
    /// Counts requests against `limiter`, keyed by `key_by`.
    pub fn new(limiter: RateLimiter, key_by: KeyBy) -> Self {
        RateLimitLayer {
            shared: Arc::new(Shared { limiter, key_by }),
        }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;
    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit {
            inner,
            shared: self.shared.clone(),
        }
    }
}

/// The service [`RateLimitLayer`] makes.
#[derive(Debug, Clone)]
pub struct RateLimit<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimit<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = RateLimitFuture<S, S::Future, ReqBody, ResBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        let Shared { limiter, key_by } = &*self.shared;
        let key = key_by.extract(req.headers(), req.extensions());
        match limiter.check(&key) {
            Check::Ready(Some(outcome)) => proceed(&mut self.inner, limiter, outcome, req),
            check => {
                // Waiting on the store: take the service that is ready, leave a clone behind.
                let clone = self.inner.clone();
                let inner = std::mem::replace(&mut self.inner, clone);
                RateLimitFuture::Checking {
                    check,
                    // Boxed: only the remote-store path needs it, and the future stays small
                    // (it is moved several times) on the in-memory path.
                    held: Some(Box::new((inner, req))),
                    limiter: limiter.clone(),
                }
            }
        }
    }
}

/// What the response of an admitted request gets: the rate-limit fields (made before the
/// inner service runs, so nothing holds the limiter meanwhile), and an event when the store
/// failed open.
#[derive(Debug)]
pub(crate) struct Admitted {
    policy: HeaderValue,
    value: Option<HeaderValue>,
    draft: Option<Box<EventDraft>>,
}

impl Admitted {
    /// Puts the fields, and the event if any, on `res`.
    pub(crate) fn stamp<B>(self, res: &mut Response<B>) {
        stamp(res, Some(self.policy), self.value, self.draft);
    }
}

fn stamp<B>(
    res: &mut Response<B>,
    policy: Option<HeaderValue>,
    value: Option<HeaderValue>,
    draft: Option<Box<EventDraft>>,
) {
    let headers = res.headers_mut();
    if let Some(policy) = policy {
        headers.insert(RATELIMIT_POLICY.clone(), policy);
    }
    if let Some(value) = value {
        headers.insert(RATELIMIT.clone(), value);
    }
    if let Some(draft) = draft {
        match res.extensions_mut().get_mut::<EventDrafts>() {
            Some(drafts) => drafts.0.push(*draft),
            None => {
                res.extensions_mut().insert(EventDrafts(vec![*draft]));
            }
        }
    }
}

impl RateLimitLayer {
    /// Counts `req` against the limiter; await the check unless it is ready.
    pub(crate) fn check<B>(&self, req: &Request<B>) -> Check {
        let Shared { limiter, key_by } = &*self.shared;
        limiter.check(&key_by.extract(req.headers(), req.extensions()))
    }

    /// The limiter's answer: admitted, with what the response gets, or refused (boxed: the
    /// cold path).
    pub(crate) fn verdict<B>(
        &self,
        outcome: Outcome,
        req: &Request<B>,
    ) -> Result<Admitted, Box<Refusal>> {
        verdict(&self.shared.limiter, outcome, req)
    }
}

/// The limiter's answer for `req`, once it has spoken.
fn verdict<B>(
    limiter: &RateLimiter,
    outcome: Outcome,
    req: &Request<B>,
) -> Result<Admitted, Box<Refusal>> {
    match outcome {
        Outcome::Decided(d) if d.allowed => Ok(Admitted {
            policy: limiter.policy_field(),
            value: Some(limiter.state_field(&d)),
            draft: None,
        }),
        Outcome::Decided(d) => Err(Box::new(
            Refusal::new(
                req,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests",
                EventKind::RateLimitExceeded,
                format!("rate limit {} exceeded", limiter.quota()),
            )
            .header(RETRY_AFTER, retry_after(d.retry_after))
            .header(RATELIMIT_POLICY.clone(), limiter.policy_header().clone())
            .header(
                RATELIMIT.clone(),
                rate_limit_header(limiter.quoted_name(), &d),
            )
            .meta("policy", limiter.name())
            .meta(
                "retry_after_s",
                super::headers::ceil_secs(d.retry_after).max(1),
            ),
        )),
        Outcome::Degraded {
            allowed: false,
            reason,
        } => Err(Box::new(
            Refusal::new(
                req,
                StatusCode::SERVICE_UNAVAILABLE,
                "Service temporarily unavailable",
                EventKind::LimiterDegraded,
                format!("rate limit store unavailable, request denied: {reason}"),
            )
            .header(RETRY_AFTER, HeaderValue::from_static("1"))
            .header(RATELIMIT_POLICY.clone(), limiter.policy_header().clone())
            .meta("policy", limiter.name())
            .meta("on_store_error", "deny"),
        )),
        Outcome::Degraded {
            allowed: true,
            reason,
        } => Ok(Admitted {
            policy: limiter.policy_field(),
            value: None,
            draft: Some(Box::new(
                EventDraft::new(
                    EventKind::LimiterDegraded,
                    format!("rate limit store unavailable, request allowed: {reason}"),
                )
                .from_request(req)
                .meta("policy", limiter.name())
                .meta("on_store_error", "allow"),
            )),
        }),
    }
}

/// Answers or forwards a request once the limiter has spoken.
fn proceed<S, ReqBody, ResBody>(
    inner: &mut S,
    limiter: &RateLimiter,
    outcome: Outcome,
    req: Request<ReqBody>,
) -> RateLimitFuture<S, S::Future, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    match verdict(limiter, outcome, &req) {
        Ok(Admitted {
            policy,
            value,
            draft,
        }) => RateLimitFuture::Inner {
            fut: inner.call(req),
            policy: Some(policy),
            value,
            draft,
        },
        Err(refusal) => RateLimitFuture::Done {
            res: Some(refusal.into_response()),
        },
    }
}

pin_project! {
    /// The future [`RateLimit`] returns: waiting for the store, then for the inner service,
    /// or a refusal that is ready now. No boxing on the in-memory path.
    #[project = Proj]
    // pin-project-lite takes no attributes on enum fields; the variants say what they hold.
    #[allow(missing_docs)]
    pub enum RateLimitFuture<S, F, ReqBody, ResBody> {
        /// Waiting for a remote store.
        Checking {
            check: Check,
            held: Option<Box<(S, Request<ReqBody>)>>,
            limiter: RateLimiter,
        },
        /// Admitted: the inner service answers, then gets the fields, made before it ran
        /// (so the future holds no handle on the limiter).
        Inner {
            #[pin]
            fut: F,
            policy: Option<HeaderValue>,
            value: Option<HeaderValue>,
            draft: Option<Box<EventDraft>>,
        },
        /// Refused.
        Done {
            res: Option<Response<ResBody>>,
        },
    }
}

impl<S, F, ReqBody, ResBody> std::fmt::Debug for RateLimitFuture<S, F, ReqBody, ResBody> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RateLimitFuture::Checking { .. } => "RateLimitFuture::Checking",
            RateLimitFuture::Inner { .. } => "RateLimitFuture::Inner",
            RateLimitFuture::Done { .. } => "RateLimitFuture::Done",
        })
    }
}

impl<S, ReqBody, ResBody> Future for RateLimitFuture<S, S::Future, ReqBody, ResBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match self.as_mut().project() {
                Proj::Checking {
                    check,
                    held,
                    limiter,
                } => {
                    let outcome = match Pin::new(check).poll(cx) {
                        Poll::Ready(o) => o,
                        Poll::Pending => return Poll::Pending,
                    };
                    let Some(held) = held.take() else {
                        return Poll::Pending;
                    };
                    let (mut svc, req) = *held;
                    let limiter = limiter.clone();
                    let next = proceed(&mut svc, &limiter, outcome, req);
                    self.set(next);
                }
                Proj::Inner {
                    fut,
                    policy,
                    value,
                    draft,
                } => {
                    let mut res = match fut.poll(cx) {
                        Poll::Ready(Ok(res)) => res,
                        other => return other,
                    };
                    stamp(&mut res, policy.take(), value.take(), draft.take());
                    return Poll::Ready(Ok(res));
                }
                Proj::Done { res } => {
                    return match res.take() {
                        Some(r) => Poll::Ready(Ok(r)),
                        None => Poll::Pending,
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client_ip::ClientIp;
    use crate::events::{EventsLayer, MemorySink};
    use rampart_core::ManualClock;
    use std::convert::Infallible;
    use std::time::Duration;
    use tower::{ServiceBuilder, ServiceExt, service_fn};

    fn req(ip: &str) -> Request<()> {
        let mut r = Request::get("/api/test-rate-limit").body(()).unwrap();
        r.extensions_mut().insert(ClientIp(ip.parse().unwrap()));
        r
    }

    #[tokio::test]
    async fn refuses_over_quota_with_fields_and_one_event_each() {
        let clock = ManualClock::new(1_000_000_000_000);
        let sink = MemorySink::new();
        let limiter = RateLimiter::memory("/api/test-rate-limit", "5/min".parse().unwrap())
            .with_clock(Arc::new(clock.clone()));
        let svc = ServiceBuilder::new()
            .layer(EventsLayer::new(Arc::new(sink.clone())))
            .layer(RateLimitLayer::new(limiter.clone(), KeyBy::client_ip()))
            .service(service_fn(|_r: Request<()>| async {
                Ok::<_, Infallible>(Response::new(Bytes::from_static(b"{}")))
            }));

        let mut statuses = Vec::new();
        for i in 0..7 {
            let res = svc.clone().oneshot(req("198.51.100.1")).await.unwrap();
            assert_eq!(
                res.headers()["ratelimit-policy"],
                "\"/api/test-rate-limit\";q=5;w=60"
            );
            if i == 0 {
                assert_eq!(
                    res.headers()["ratelimit"],
                    "\"/api/test-rate-limit\";r=4;t=12"
                );
            }
            if res.status() == StatusCode::TOO_MANY_REQUESTS {
                assert_eq!(res.headers()[RETRY_AFTER], "12");
                assert_eq!(
                    res.headers()["ratelimit"],
                    "\"/api/test-rate-limit\";r=0;t=12"
                );
                assert_eq!(res.body().as_ref(), br#"{"error":"Too many requests"}"#);
            }
            statuses.push(res.status().as_u16());
        }
        assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
        let events = sink.take();
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.kind == EventKind::RateLimitExceeded
            && e.ip == Some("198.51.100.1".parse().unwrap())
            && e.endpoint.as_deref() == Some("/api/test-rate-limit")
            && e.status == Some(429)));

        // Another client has its own bucket.
        let other = svc.clone().oneshot(req("198.51.100.2")).await.unwrap();
        assert_eq!(other.status(), StatusCode::OK);

        // 5.5 s later the wait left is 6.5 s, rounded up.
        clock.advance(Duration::from_millis(5_500));
        let res = svc.clone().oneshot(req("198.51.100.1")).await.unwrap();
        assert_eq!(res.headers()[RETRY_AFTER], "7");
        // At 12 s one request refills, and only one.
        clock.advance(Duration::from_millis(6_500));
        let a = svc.clone().oneshot(req("198.51.100.1")).await.unwrap();
        let b = svc.clone().oneshot(req("198.51.100.1")).await.unwrap();
        assert_eq!(
            (a.status(), b.status()),
            (StatusCode::OK, StatusCode::TOO_MANY_REQUESTS)
        );
        // A minute idle refills the whole burst of 5.
        clock.advance(Duration::from_secs(60));
        let mut ok = 0;
        for _ in 0..8 {
            if svc
                .clone()
                .oneshot(req("198.51.100.1"))
                .await
                .unwrap()
                .status()
                == StatusCode::OK
            {
                ok += 1;
            }
        }
        assert_eq!(ok, 5);
    }
}
