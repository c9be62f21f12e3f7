//! A Content-Security-Policy builder with optional per-response nonces.

use std::fmt;

/// The placeholder a nonce replaces in a rendered policy.
const NONCE_SLOT: &str = "'nonce-{}'";

/// A Content-Security-Policy, directive by directive, in insertion order.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Csp {
    directives: Vec<(String, Vec<String>)>,
    nonce: bool,
}

impl fmt::Debug for Csp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Some("…")))
    }
}

impl Csp {
    /// An empty policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// For JSON APIs: nothing may load, nothing may frame it
    /// (`default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`).
    pub fn api() -> Self {
        Csp::new()
            .directive("default-src", ["'none'"])
            .directive("frame-ancestors", ["'none'"])
            .directive("base-uri", ["'none'"])
            .directive("form-action", ["'none'"])
    }

    /// For pages: same-origin resources only, no plugins, no framing, scripts and styles by
    /// per-response nonce (`'unsafe-inline'` is never needed).
    pub fn strict() -> Self {
        Csp::new()
            .directive("default-src", ["'self'"])
            .directive("script-src", ["'self'"])
            .directive("style-src", ["'self'"])
            .directive("img-src", ["'self'", "data:"])
            .directive("object-src", ["'none'"])
            .directive("base-uri", ["'self'"])
            .directive("form-action", ["'self'"])
            .directive("frame-ancestors", ["'none'"])
            .with_nonce()
    }

    /// Sets `name` to `sources`, replacing an earlier value.
    #[must_use]
    pub fn directive<I, T>(mut self, name: &str, sources: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        let sources: Vec<String> = sources.into_iter().map(Into::into).collect();
        match self.directives.iter_mut().find(|(n, _)| n == name) {
            Some((_, s)) => *s = sources,
            None => self.directives.push((name.to_string(), sources)),
        }
        self
    }

    /// Adds a fresh `'nonce-…'` to `script-src` and `style-src` on every response; the
    /// handler finds it as [`super::CspNonce`] in the request extensions.
    #[must_use]
    pub fn with_nonce(mut self) -> Self {
        self.nonce = true;
        self
    }

    /// True when responses get a nonce.
    pub fn uses_nonce(&self) -> bool {
        self.nonce
    }

    /// The header value, with `nonce` in the script and style sources when nonces are on.
    pub fn render(&self, nonce: Option<&str>) -> String {
        let mut out = String::new();
        for (name, sources) in &self.directives {
            if !out.is_empty() {
                out.push_str("; ");
            }
            out.push_str(name);
            for s in sources {
                out.push(' ');
                out.push_str(s);
            }
            if self.nonce && (name == "script-src" || name == "style-src") {
                match nonce {
                    Some(n) => {
                        out.push(' ');
                        out.push_str(&NONCE_SLOT.replace("{}", n));
                    }
                    None => out.push_str(" 'nonce-{}'"),
                }
            }
        }
        out
    }

    /// The rendered policy split around the nonce slots, to be joined with a nonce per
    /// response without re-rendering.
    pub(crate) fn template(&self) -> Vec<String> {
        self.render(None).split("{}").map(str::to_string).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_policy() {
        assert_eq!(
            Csp::api().render(None),
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        );
    }

    #[test]
    fn nonces_go_into_script_and_style() {
        let csp = Csp::strict();
        let v = csp.render(Some("abc"));
        assert!(v.contains("script-src 'self' 'nonce-abc'"), "{v}");
        assert!(v.contains("style-src 'self' 'nonce-abc'"), "{v}");
        assert!(!v.contains("unsafe-inline"));
        let t = csp.template();
        assert_eq!(t.len(), 3);
        assert_eq!(t.join("abc"), v);
    }

    #[test]
    fn directive_replaces() {
        let csp = Csp::api().directive("default-src", ["'self'"]);
        assert!(csp.render(None).starts_with("default-src 'self';"));
    }
}
