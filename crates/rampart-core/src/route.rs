//! Route kinds and the decision matrix, as data.
//!
//! | kind | rate limit | CSRF | authentication |
//! |---|---|---|---|
//! | `public-form` | yes | yes | no |
//! | `protected-mutation` | yes | yes | yes (JWT/session) |
//! | `public-read` | no | no | no |
//! | `protected-read` | optional | no | yes |
//! | `webhook` | yes | no | signature |
//! | `file-upload` | yes | yes | yes, plus a body-size limit |
//!
//! Controls always run in the order of [`Control`]: client IP, rate limit, signature or CSRF,
//! authentication, body limit and validation, then the handler. Security headers go on every
//! response, whatever the kind.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The kind of a route, which decides the controls it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RouteKind {
    /// An unauthenticated form post (contact, sign-up): rate limit + CSRF.
    PublicForm,
    /// A signed-in user changes something: rate limit + CSRF + authentication.
    ProtectedMutation,
    /// Public data: headers only.
    PublicRead,
    /// A signed-in user reads their data: authentication, rate limit optional.
    ProtectedRead,
    /// A provider calls back: rate limit + signature, never CSRF.
    Webhook,
    /// A signed-in user uploads: rate limit + CSRF + authentication + body-size limit.
    FileUpload,
}

/// Whether a control is required for a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Requirement {
    /// Must be applied.
    Required,
    /// May be applied; not applying it is not a finding.
    Optional,
    /// Must not be applied (CSRF on a webhook breaks the provider's calls).
    Forbidden,
    /// Not needed.
    No,
}

impl Requirement {
    /// True for [`Requirement::Required`].
    pub fn is_required(self) -> bool {
        self == Requirement::Required
    }
}

/// One protective control, in the order the stack applies them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// Resolve the client address (socket peer or trusted proxy hops).
    ClientIp,
    /// Refuse floods first, so refused requests cost nothing.
    RateLimit,
    /// Verify a webhook signature over the raw body.
    WebhookSignature,
    /// Verify a CSRF token on mutations.
    Csrf,
    /// Verify a bearer token or session.
    Auth,
    /// Refuse bodies over the route's limit.
    BodyLimit,
    /// Validate the body against the route's schema.
    Validation,
}

impl Control {
    /// The snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Control::ClientIp => "client_ip",
            Control::RateLimit => "rate_limit",
            Control::WebhookSignature => "webhook_signature",
            Control::Csrf => "csrf",
            Control::Auth => "auth",
            Control::BodyLimit => "body_limit",
            Control::Validation => "validation",
        }
    }
}

impl fmt::Display for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of the decision matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Requirements {
    /// Rate limiting.
    pub rate_limit: Requirement,
    /// CSRF tokens on mutations.
    pub csrf: Requirement,
    /// User authentication (JWT or session).
    pub auth: Requirement,
    /// Webhook signature verification.
    pub signature: Requirement,
    /// A body-size limit tighter than the default.
    pub body_limit: Requirement,
}

impl RouteKind {
    /// Every kind, in the matrix's order.
    pub const ALL: [RouteKind; 6] = [
        RouteKind::PublicForm,
        RouteKind::ProtectedMutation,
        RouteKind::PublicRead,
        RouteKind::ProtectedRead,
        RouteKind::Webhook,
        RouteKind::FileUpload,
    ];

    /// The kebab-case name used in config and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::PublicForm => "public-form",
            RouteKind::ProtectedMutation => "protected-mutation",
            RouteKind::PublicRead => "public-read",
            RouteKind::ProtectedRead => "protected-read",
            RouteKind::Webhook => "webhook",
            RouteKind::FileUpload => "file-upload",
        }
    }

    /// This kind's row of the decision matrix.
    pub fn requirements(self) -> Requirements {
        use Requirement::*;
        let (rate_limit, csrf, auth, signature, body_limit) = match self {
            RouteKind::PublicForm => (Required, Required, No, No, No),
            RouteKind::ProtectedMutation => (Required, Required, Required, No, No),
            RouteKind::PublicRead => (No, No, No, No, No),
            RouteKind::ProtectedRead => (Optional, No, Required, No, No),
            RouteKind::Webhook => (Required, Forbidden, No, Required, No),
            RouteKind::FileUpload => (Required, Required, Required, No, Required),
        };
        Requirements {
            rate_limit,
            csrf,
            auth,
            signature,
            body_limit,
        }
    }

    /// The controls this kind requires, in the order they run. `rate_limit_configured` adds
    /// the rate limit where it is optional (a `protected-read` with a quota).
    pub fn stack(self, rate_limit_configured: bool) -> Vec<Control> {
        let r = self.requirements();
        let mut stack = vec![Control::ClientIp];
        if r.rate_limit.is_required()
            || (r.rate_limit == Requirement::Optional && rate_limit_configured)
        {
            stack.push(Control::RateLimit);
        }
        if r.signature.is_required() {
            stack.push(Control::WebhookSignature);
        }
        if r.csrf.is_required() {
            stack.push(Control::Csrf);
        }
        if r.auth.is_required() {
            stack.push(Control::Auth);
        }
        if r.body_limit.is_required() {
            stack.push(Control::BodyLimit);
        }
        stack
    }

    /// Whether a request with `method` is a mutation that CSRF applies to. CSRF never applies
    /// to GET, HEAD or OPTIONS (nor TRACE), and never to webhooks.
    pub fn csrf_applies(self, method: &str) -> bool {
        self.requirements().csrf.is_required() && is_mutating_method(method)
    }
}

/// True for methods that may change state (anything but GET, HEAD, OPTIONS and TRACE).
pub fn is_mutating_method(method: &str) -> bool {
    // Compared in place: called on every request, so no uppercased copy.
    !["GET", "HEAD", "OPTIONS", "TRACE"]
        .iter()
        .any(|safe| method.eq_ignore_ascii_case(safe))
}

impl fmt::Display for RouteKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for a route kind name that is not in the matrix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown route kind {0:?}, expected one of public-form, protected-mutation, public-read, protected-read, webhook, file-upload"
)]
pub struct UnknownRouteKind(pub String);

impl FromStr for RouteKind {
    type Err = UnknownRouteKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RouteKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s || k.as_str().replace('-', "_") == s)
            .ok_or_else(|| UnknownRouteKind(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_matches_the_guide() {
        use Requirement::*;
        let row = |k: RouteKind| {
            let r = k.requirements();
            (r.rate_limit, r.csrf, r.auth, r.signature)
        };
        assert_eq!(row(RouteKind::PublicForm), (Required, Required, No, No));
        assert_eq!(
            row(RouteKind::ProtectedMutation),
            (Required, Required, Required, No)
        );
        assert_eq!(row(RouteKind::PublicRead), (No, No, No, No));
        assert_eq!(row(RouteKind::ProtectedRead), (Optional, No, Required, No));
        assert_eq!(row(RouteKind::Webhook), (Required, Forbidden, No, Required));
        assert_eq!(
            row(RouteKind::FileUpload),
            (Required, Required, Required, No)
        );
        assert!(
            RouteKind::FileUpload
                .requirements()
                .body_limit
                .is_required()
        );
    }

    #[test]
    fn stacks_run_in_the_guides_order() {
        use Control::*;
        assert_eq!(
            RouteKind::FileUpload.stack(false),
            vec![ClientIp, RateLimit, Csrf, Auth, BodyLimit]
        );
        assert_eq!(
            RouteKind::Webhook.stack(false),
            vec![ClientIp, RateLimit, WebhookSignature]
        );
        assert_eq!(RouteKind::PublicRead.stack(true), vec![ClientIp]);
        assert_eq!(RouteKind::ProtectedRead.stack(false), vec![ClientIp, Auth]);
        assert_eq!(
            RouteKind::ProtectedRead.stack(true),
            vec![ClientIp, RateLimit, Auth]
        );
        for kind in RouteKind::ALL {
            let stack = kind.stack(true);
            let mut sorted = stack.clone();
            sorted.sort();
            assert_eq!(stack, sorted, "{kind} out of order");
        }
    }

    #[test]
    fn csrf_never_on_safe_methods_or_webhooks() {
        for m in ["GET", "head", "OPTIONS", "TRACE"] {
            assert!(!RouteKind::PublicForm.csrf_applies(m));
        }
        assert!(RouteKind::PublicForm.csrf_applies("POST"));
        assert!(RouteKind::ProtectedMutation.csrf_applies("DELETE"));
        assert!(!RouteKind::Webhook.csrf_applies("POST"));
    }

    #[test]
    fn names_round_trip() {
        for kind in RouteKind::ALL {
            assert_eq!(kind.as_str().parse::<RouteKind>().unwrap(), kind);
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(
            "public_form".parse::<RouteKind>().unwrap(),
            RouteKind::PublicForm
        );
        assert!("admin".parse::<RouteKind>().is_err());
    }
}
