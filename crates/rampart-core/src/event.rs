//! Security events: what the protective layers emit and the monitor consumes.
//!
//! The JSON-lines form is part of Rampart's contract:
//! `{"ts","kind","severity","ip","method","endpoint","status","user_id"?,"request_id"?,
//! "message","metadata"?}`, `ts` in RFC 3339, `kind` snake_case, `severity`
//! `low|medium|high|critical`.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::redact;

/// How bad an event or finding is. Ordered: `Low < Medium < High < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look in the weekly report.
    Low,
    /// Expected under normal abuse (a rate-limited client).
    Medium,
    /// Likely an attack or a misconfiguration.
    High,
    /// An attack on a control that should never fail for a legitimate user.
    Critical,
}

impl Severity {
    /// The lowercase name used in JSON, config and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a severity name that is not one of `low|medium|high|critical`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown severity {0:?}, expected one of low, medium, high, critical")]
pub struct UnknownSeverity(pub String);

impl FromStr for Severity {
    type Err = UnknownSeverity;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "low" | "info" => Ok(Severity::Low),
            "medium" | "warning" | "warn" => Ok(Severity::Medium),
            "high" | "error" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            _ => Err(UnknownSeverity(s.to_string())),
        }
    }
}

macro_rules! event_kinds {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, $sev:ident; )*) => {
        /// What happened. The names are the guide's event catalogue; [`EventKind::Other`]
        /// carries kinds from other producers unchanged.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum EventKind {
            $( $(#[$doc])* $variant, )*
            /// A kind this version does not know, kept verbatim.
            Other(String),
        }

        impl EventKind {
            /// Every known kind, in catalogue order.
            pub const KNOWN: &'static [EventKind] = &[$(EventKind::$variant),*];

            /// The snake_case name used in JSON.
            pub fn as_str(&self) -> &str {
                match self {
                    $( EventKind::$variant => $name, )*
                    EventKind::Other(s) => s,
                }
            }

            /// The severity the guide gives this kind.
            pub fn default_severity(&self) -> Severity {
                match self {
                    $( EventKind::$variant => Severity::$sev, )*
                    EventKind::Other(_) => Severity::Medium,
                }
            }

            /// Parses a name; unknown names become [`EventKind::Other`].
            pub fn parse(s: &str) -> EventKind {
                match s {
                    $( $name => EventKind::$variant, )*
                    other => EventKind::Other(other.to_string()),
                }
            }
        }
    };
}

event_kinds! {
    /// A client went over a rate limit (429).
    RateLimitExceeded => "rate_limit_exceeded", Medium;
    /// A mutation arrived without a valid CSRF token, or cross-site (403).
    CsrfValidationFailed => "csrf_validation_failed", Critical;
    /// A bearer token was missing, malformed, expired or signed by the wrong key (401).
    JwtValidationFailed => "jwt_validation_failed", High;
    /// An authenticated user reached something they may not (403).
    UnauthorizedAccess => "unauthorized_access", High;
    /// A body or query failed validation (400).
    InputValidationFailed => "input_validation_failed", Low;
    /// A webhook's signature was missing, wrong or stale (401).
    WebhookSignatureInvalid => "webhook_signature_invalid", High;
    /// A webhook id or CSRF token was used twice (409).
    ReplayDetected => "replay_detected", High;
    /// A request came from an origin that is not allowed.
    OriginMismatch => "origin_mismatch", High;
    /// A body was larger than the route allows (413).
    PayloadTooLarge => "payload_too_large", Medium;
    /// The limiter's store was unreachable; the configured failure policy decided.
    LimiterDegraded => "limiter_degraded", High;
    /// The handler failed (500).
    ServerError => "server_error", High;
    /// Anything else worth a look.
    SuspiciousActivity => "suspicious_activity", Medium;
    /// No trustworthy client address could be found behind the configured proxies.
    ClientIpUnresolved => "client_ip_unresolved", High;
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(EventKind::parse(&s))
    }
}

/// The longest `message` or free-text field an event carries; longer text is cut.
pub const MAX_FIELD_LEN: usize = 512;

/// One security event, as written to JSON lines and stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityEvent {
    /// When it happened (RFC 3339 in JSON).
    #[serde(with = "rfc3339")]
    pub ts: DateTime<Utc>,
    /// What happened.
    pub kind: EventKind,
    /// How bad it is.
    pub severity: Severity,
    /// The client address, as resolved by the client-IP layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<IpAddr>,
    /// The HTTP method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The request path (no query string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The status the client was answered with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The authenticated user, truncated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The request id, when one was set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// A human-readable sentence.
    pub message: String,
    /// Extra fields, already redacted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

impl SecurityEvent {
    /// A new event of `kind` at `ts`, with the kind's default severity.
    pub fn new(ts: DateTime<Utc>, kind: EventKind, message: impl Into<String>) -> Self {
        let severity = kind.default_severity();
        SecurityEvent {
            ts,
            kind,
            severity,
            ip: None,
            method: None,
            endpoint: None,
            status: None,
            user_id: None,
            request_id: None,
            message: redact::cap(&message.into(), MAX_FIELD_LEN),
            metadata: None,
        }
    }

    /// Sets the client address.
    #[must_use]
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.ip = Some(ip);
        self
    }

    /// Sets method and endpoint from a request line; the query string is dropped, since it may
    /// carry tokens.
    #[must_use]
    pub fn request(mut self, method: &str, path: &str) -> Self {
        let path = path.split('?').next().unwrap_or(path);
        self.method = Some(redact::cap(method, 16));
        self.endpoint = Some(redact::cap(path, MAX_FIELD_LEN));
        self
    }

    /// Sets the status answered.
    #[must_use]
    pub fn status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Overrides the default severity.
    #[must_use]
    pub fn severity(mut self, severity: Severity) -> Self {
        self.severity = severity;
        self
    }

    /// Sets the user, truncated as the guide does for identifiers.
    #[must_use]
    pub fn user_id(mut self, user_id: &str) -> Self {
        self.user_id = Some(redact::truncate_id(user_id));
        self
    }

    /// Sets the request id.
    #[must_use]
    pub fn request_id(mut self, id: &str) -> Self {
        self.request_id = Some(redact::cap(id, 64));
        self
    }

    /// Adds one metadata field; strings are redacted (emails masked, long values capped).
    #[must_use]
    pub fn meta(mut self, key: &str, value: impl Into<serde_json::Value>) -> Self {
        let value = redact::redact_json(value.into());
        self.metadata
            .get_or_insert_with(serde_json::Map::new)
            .insert(key.to_string(), value);
        self
    }

    /// The event as one JSON line (no trailing newline).
    pub fn to_json_line(&self) -> String {
        // Serialising plain data into a String cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses one JSON line.
    pub fn from_json_line(line: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(line)
    }
}

mod rfc3339 {
    use super::*;

    pub(super) fn serialize<S: Serializer>(ts: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&ts.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| serde::de::Error::custom(format!("invalid RFC 3339 timestamp {s:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-12-04T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn json_line_has_contract_fields() {
        let ev = SecurityEvent::new(ts(), EventKind::RateLimitExceeded, "too many requests")
            .ip("203.0.113.7".parse().unwrap())
            .request("POST", "/api/contact?token=abc")
            .status(429);
        let v: serde_json::Value = serde_json::from_str(&ev.to_json_line()).unwrap();
        assert_eq!(v["ts"], "2026-12-04T10:00:00.000Z");
        assert_eq!(v["kind"], "rate_limit_exceeded");
        assert_eq!(v["severity"], "medium");
        assert_eq!(v["ip"], "203.0.113.7");
        assert_eq!(v["method"], "POST");
        assert_eq!(v["endpoint"], "/api/contact");
        assert_eq!(v["status"], 429);
        assert!(v.get("user_id").is_none());
        assert!(v.get("metadata").is_none());
    }

    #[test]
    fn round_trips_through_json() {
        let ev = SecurityEvent::new(ts(), EventKind::CsrfValidationFailed, "bad token")
            .user_id("user_2abcdefghijklmnop")
            .meta("email", "john.doe@example.com");
        let back = SecurityEvent::from_json_line(&ev.to_json_line()).unwrap();
        assert_eq!(back, ev);
        assert_eq!(back.severity, Severity::Critical);
        assert_eq!(back.metadata.unwrap()["email"], "j***e@example.com");
    }

    #[test]
    fn unknown_kinds_are_kept() {
        let line =
            r#"{"ts":"2026-12-04T10:00:00Z","kind":"bot_detected","severity":"low","message":"m"}"#;
        let ev = SecurityEvent::from_json_line(line).unwrap();
        assert_eq!(ev.kind, EventKind::Other("bot_detected".into()));
        assert!(ev.to_json_line().contains(r#""kind":"bot_detected""#));
    }

    #[test]
    fn every_known_kind_parses_back_to_itself() {
        for kind in EventKind::KNOWN {
            assert_eq!(&EventKind::parse(kind.as_str()), kind);
        }
        assert_eq!(
            EventKind::CsrfValidationFailed.default_severity(),
            Severity::Critical
        );
        assert_eq!(
            EventKind::RateLimitExceeded.default_severity(),
            Severity::Medium
        );
    }

    #[test]
    fn bad_timestamp_is_an_error_naming_the_value() {
        let line = r#"{"ts":"yesterday","kind":"server_error","severity":"high","message":"m"}"#;
        let err = SecurityEvent::from_json_line(line).unwrap_err().to_string();
        assert!(err.contains("yesterday"), "{err}");
    }

    #[test]
    fn severity_orders_and_parses() {
        assert!(Severity::Low < Severity::Critical);
        assert_eq!("HIGH".parse::<Severity>().unwrap(), Severity::High);
        assert!("severe".parse::<Severity>().is_err());
    }

    #[test]
    fn long_messages_are_capped() {
        let ev = SecurityEvent::new(ts(), EventKind::ServerError, "x".repeat(5000));
        assert!(ev.message.chars().count() <= MAX_FIELD_LEN + 1);
    }
}
