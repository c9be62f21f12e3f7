//! The body limit: 413 for bodies over the route's size, before anything looks at them.

use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::CONTENT_LENGTH;
use http::request::Parts;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use rampart_core::EventKind;
use tower::{Layer, Service};

use super::validate::{FieldErrors, JsonValidator};
use crate::future::BoxFuture;
use crate::refusal::Refusal;

/// A boxed error, as bodies report them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// Larger than the limit (by `Content-Length` or by the bytes that arrived).
    TooLarge,
    /// The client broke off or sent a malformed body.
    Read(BoxError),
}

/// True when a `Content-Length` header announces more than `limit` bytes.
pub fn announced_too_large(headers: &HeaderMap, limit: u64) -> bool {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .is_some_and(|n| n > limit)
}

/// Reads a whole body, refusing it as soon as it exceeds `limit` bytes.
pub async fn read_limited<B>(body: B, limit: u64) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    match limited(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) => Err(BodyError::from(e)),
    }
}

/// `body`, failing once more than `limit` bytes arrive (collect it, then map its error with
/// [`BodyError::from`]).
pub(crate) fn limited<B>(body: B, limit: u64) -> Limited<B> {
    Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX))
}

impl BodyError {
    /// The refusal for `req` (413 over `limit`, 400 unreadable).
    pub(crate) fn refusal<B>(self, req: &Request<B>, limit: u64) -> Refusal {
        match self {
            BodyError::TooLarge => too_large(req, limit),
            BodyError::Read(_) => unreadable(req),
        }
    }
}

impl From<BoxError> for BodyError {
    /// A [`Limited`] body's error: too large, or the body's own.
    fn from(e: BoxError) -> Self {
        if e.downcast_ref::<LengthLimitError>().is_some() {
            BodyError::TooLarge
        } else {
            BodyError::Read(e)
        }
    }
}

/// Buffers a request's body up to `limit` bytes: 413 when `Content-Length` announces more (the
/// body is never read) or more arrives, 400 when it cannot be read.
pub async fn buffer<B>(req: Request<B>, limit: u64) -> Result<(Parts, Bytes), Refusal>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    if announced_too_large(req.headers(), limit) {
        return Err(too_large(&req, limit));
    }
    let (parts, body) = req.into_parts();
    match read_limited(body, limit).await {
        Ok(bytes) => Ok((parts, bytes)),
        Err(e) => Err(e.refusal(&Request::from_parts(parts, ()), limit)),
    }
}

/// Runs `validator` on a buffered body, which puts the parsed value in `parts`' extensions.
/// A safe method with an empty body skips it.
pub(crate) fn validate_buffered(
    validator: Option<&JsonValidator>,
    parts: &mut Parts,
    bytes: &[u8],
) -> Result<(), FieldErrors> {
    let skip = bytes.is_empty() && !rampart_core::route::is_mutating_method(parts.method.as_str());
    match validator {
        Some(v) if !skip => v.check(&parts.headers, bytes, &mut parts.extensions),
        _ => Ok(()),
    }
}

/// The 413 refusal: `{"error": "Payload too large"}`, `payload_too_large` event.
pub fn too_large<B>(req: &Request<B>, limit: u64) -> Refusal {
    Refusal::new(
        req,
        StatusCode::PAYLOAD_TOO_LARGE,
        "Payload too large",
        EventKind::PayloadTooLarge,
        format!("request body over the {limit}-byte limit"),
    )
    .meta("limit", limit)
}

/// The 400 refusal for a body that could not be read.
pub fn unreadable<B>(req: &Request<B>) -> Refusal {
    Refusal::new(
        req,
        StatusCode::BAD_REQUEST,
        "Invalid request body",
        EventKind::InputValidationFailed,
        "request body could not be read",
    )
}

/// Buffers the body up to `limit` bytes and hands the handler a `Request<Full<Bytes>>`;
/// anything larger is refused with 413 before the handler (or a content-type check) runs.
/// With [`BodyLimitLayer::validate`], the buffered body is then parsed and validated (400
/// with field errors).
#[derive(Debug, Clone)]
pub struct BodyLimitLayer {
    limit: u64,
    validator: Option<JsonValidator>,
}

impl BodyLimitLayer {
    /// A limit of `limit` bytes.
    pub fn new(limit: u64) -> Self {
        BodyLimitLayer {
            limit,
            validator: None,
        }
    }

    /// Also validates the body with `validator` (safe methods with empty bodies skip it).
    #[must_use]
    pub fn validate(mut self, validator: JsonValidator) -> Self {
        self.validator = Some(validator);
        self
    }
}

impl<S> Layer<S> for BodyLimitLayer {
    type Service = BodyLimit<S>;
    fn layer(&self, inner: S) -> BodyLimit<S> {
        BodyLimit {
            inner,
            limit: self.limit,
            validator: self.validator.clone(),
        }
    }
}

/// The service [`BodyLimitLayer`] makes.
#[derive(Debug, Clone)]
pub struct BodyLimit<S> {
    inner: S,
    limit: u64,
    validator: Option<JsonValidator>,
}

impl<S, B, ResBody> Service<Request<B>> for BodyLimit<S>
where
    S: Service<Request<Full<Bytes>>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    ResBody: From<Bytes> + Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<ResBody>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let limit = self.limit;
        let validator = self.validator.clone();
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let (mut parts, bytes) = match buffer(req, limit).await {
                Ok(buffered) => buffered,
                Err(refusal) => return Ok(refusal.into_response()),
            };
            if let Err(errors) = validate_buffered(validator.as_ref(), &mut parts, &bytes) {
                let req = Request::from_parts(parts, ());
                return Ok(errors.refusal(&req).into_response());
            }
            inner
                .call(Request::from_parts(parts, Full::new(bytes)))
                .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use tower::{ServiceExt, service_fn};

    async fn echo_len(req: Request<Full<Bytes>>) -> Result<Response<Bytes>, Infallible> {
        let n = req.into_body().collect().await.unwrap().to_bytes().len();
        Ok(Response::new(Bytes::from(n.to_string())))
    }

    #[tokio::test]
    async fn over_the_limit_is_413_under_passes() {
        let svc = BodyLimitLayer::new(8).layer(service_fn(echo_len));
        let ok = Request::post("/").body(Full::new(Bytes::from_static(b"12345678")));
        let res = svc.clone().oneshot(ok.unwrap()).await.unwrap();
        assert_eq!(res.body().as_ref(), b"8");

        let big = Request::post("/").body(Full::new(Bytes::from_static(b"123456789")));
        let res = svc.clone().oneshot(big.unwrap()).await.unwrap();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let r = res.extensions().get::<Refusal>().unwrap();
        assert_eq!(r.event.kind, EventKind::PayloadTooLarge);

        // Announced size alone is enough: the body is never read.
        let lying = Request::post("/")
            .header(CONTENT_LENGTH, "1000000")
            .body(Full::new(Bytes::new()));
        let res = svc.oneshot(lying.unwrap()).await.unwrap();
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
