//! Refusals: a layer's "no" as a response, plus the event it must produce.
//!
//! A refusal is never a `Service::Error`: the refusing layer answers with
//! [`Refusal::into_response`], which renders `{"error": ...}` (and `details` when given) with
//! the status and headers, and stores the refusal in the response extensions. The outermost
//! [`crate::events::EventsLayer`] finds it there and emits exactly one event.

use std::borrow::Cow;
use std::net::IpAddr;

use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Request, Response, StatusCode};
use rampart_core::{EventKind, Severity};

use crate::client_ip::ClientIp;

/// What an event produced by a layer says, before the events layer adds time, method and path.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDraft {
    /// What happened.
    pub kind: EventKind,
    /// Overrides the kind's default severity.
    pub severity: Option<Severity>,
    /// A sentence for operators (never a secret).
    pub message: String,
    /// The client, when known.
    pub ip: Option<IpAddr>,
    /// The user, when known.
    pub user_id: Option<String>,
    /// Extra fields (redacted by the event builder).
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

impl EventDraft {
    /// A draft of `kind` with a message.
    pub fn new(kind: EventKind, message: impl Into<String>) -> Self {
        EventDraft {
            kind,
            severity: None,
            message: message.into(),
            ip: None,
            user_id: None,
            metadata: serde_json::Map::new(),
        }
    }

    /// Takes the client address from the request's [`ClientIp`] extension.
    #[must_use]
    pub fn from_request<B>(mut self, req: &Request<B>) -> Self {
        self.ip = req.extensions().get::<ClientIp>().map(|c| c.0);
        self
    }

    /// Adds a metadata field.
    #[must_use]
    pub fn meta(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.metadata.insert(key.to_string(), value.into());
        self
    }
}

/// Events a layer wants recorded on a response it did not refuse (a degraded limiter that
/// failed open, say). Lives in response extensions until the events layer emits them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventDrafts(pub Vec<EventDraft>);

/// A refused request: the answer the client gets and the event operators get.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    /// The status answered (429, 403, 401, 400, 413, 503, ...).
    pub status: StatusCode,
    /// The client-facing error text, `{"error": ...}`: generic, never internal detail.
    pub error: Cow<'static, str>,
    /// Client-facing detail, such as field errors for a 400, rendered as `details`.
    pub details: Option<serde_json::Value>,
    /// Headers the answer carries (`Retry-After`, `WWW-Authenticate`, ...).
    pub headers: HeaderMap,
    /// The event it produces.
    pub event: EventDraft,
    /// Set once the events layer has emitted the event, so nesting never doubles it.
    pub emitted: bool,
}

impl Refusal {
    /// A refusal with `status`, client-facing `error`, and an event of `kind` whose client
    /// address comes from the request.
    pub fn new<B>(
        req: &Request<B>,
        status: StatusCode,
        error: impl Into<Cow<'static, str>>,
        kind: EventKind,
        message: impl Into<String>,
    ) -> Self {
        Refusal {
            status,
            error: error.into(),
            details: None,
            headers: HeaderMap::new(),
            event: EventDraft::new(kind, message).from_request(req),
            emitted: false,
        }
    }

    /// Adds a response header.
    #[must_use]
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Adds client-facing detail.
    #[must_use]
    pub fn details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Adds event metadata.
    #[must_use]
    pub fn meta(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        self.event.metadata.insert(key.to_string(), value.into());
        self
    }

    /// Overrides the event's severity.
    #[must_use]
    pub fn severity(mut self, severity: Severity) -> Self {
        self.event.severity = Some(severity);
        self
    }

    /// The JSON body the client receives.
    pub fn body(&self) -> Bytes {
        let mut body = serde_json::Map::new();
        body.insert("error".into(), self.error.as_ref().into());
        if let Some(d) = &self.details {
            body.insert("details".into(), d.clone());
        }
        Bytes::from(serde_json::Value::Object(body).to_string())
    }

    /// The response: status, JSON body, headers, `Cache-Control: no-store`, and the refusal
    /// itself in the extensions.
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        let mut res = Response::new(B::from(self.body()));
        *res.status_mut() = self.status;
        let headers = res.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        for (name, value) in &self.headers {
            headers.insert(name.clone(), value.clone());
        }
        res.extensions_mut().insert(self);
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::RETRY_AFTER;

    #[test]
    fn response_carries_json_headers_and_refusal() {
        let mut req = Request::new(());
        req.extensions_mut()
            .insert(ClientIp("198.51.100.4".parse().unwrap()));
        let refusal = Refusal::new(
            &req,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many requests",
            EventKind::RateLimitExceeded,
            "quota 5/min exceeded",
        )
        .header(RETRY_AFTER, HeaderValue::from_static("12"));
        let res: Response<Bytes> = refusal.into_response();
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(res.headers()[RETRY_AFTER], "12");
        assert_eq!(res.headers()[CONTENT_TYPE], "application/json");
        assert_eq!(res.body().as_ref(), br#"{"error":"Too many requests"}"#);
        let r = res.extensions().get::<Refusal>().unwrap();
        assert_eq!(r.event.ip, Some("198.51.100.4".parse().unwrap()));
        assert_eq!(r.event.kind, EventKind::RateLimitExceeded);
    }

    #[test]
    fn details_are_rendered() {
        let req = Request::new(());
        let res: Response<Bytes> = Refusal::new(
            &req,
            StatusCode::BAD_REQUEST,
            "Validation failed",
            EventKind::InputValidationFailed,
            "bad body",
        )
        .details(serde_json::json!({"title": ["required"]}))
        .into_response();
        let v: serde_json::Value = serde_json::from_slice(res.body()).unwrap();
        assert_eq!(v["error"], "Validation failed");
        assert_eq!(v["details"]["title"][0], "required");
    }
}
