//! Human-written quantities in configuration: rate quotas (`5/min burst 2`), durations
//! (`30s`, `5m`), byte sizes (`1MiB`) and path patterns (`/api/webhooks/*`).

use std::fmt;
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A quantity that did not parse; the message says what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnitError(pub String);

/// A rate quota: `count` requests per `period`, admitting bursts of up to `burst` at once
/// (GCRA: the bucket refills one request every `period / count`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Quota {
    /// Requests per period.
    pub count: NonZeroU32,
    /// The period.
    pub period: Duration,
    /// How many requests may arrive at once; defaults to `count`.
    pub burst: NonZeroU32,
}

impl Quota {
    /// `count` per `period` with a burst of `count`.
    pub fn new(count: NonZeroU32, period: Duration) -> Self {
        Quota {
            count,
            period,
            burst: count,
        }
    }

    /// `count` per minute.
    pub fn per_minute(count: NonZeroU32) -> Self {
        Self::new(count, Duration::from_secs(60))
    }

    /// Sets the burst.
    #[must_use]
    pub fn with_burst(mut self, burst: NonZeroU32) -> Self {
        self.burst = burst;
        self
    }

    /// The time one request's worth of capacity takes to refill.
    pub fn emission_interval(&self) -> Duration {
        self.period / self.count.get()
    }

    /// The period in whole seconds (at least 1), for `RateLimit-Policy`'s `w`.
    pub fn window_secs(&self) -> u64 {
        self.period.as_secs().max(1)
    }
}

impl fmt::Display for Quota {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.period.as_secs() {
            1 => "sec".to_string(),
            60 => "min".to_string(),
            3600 => "hour".to_string(),
            86400 => "day".to_string(),
            s => format!("{s}s"),
        };
        write!(f, "{}/{}", self.count, unit)?;
        if self.burst != self.count {
            write!(f, " burst {}", self.burst)?;
        }
        Ok(())
    }
}

const QUOTA_HELP: &str = "expected a quota like \"5/min\", \"100/hour\" or \"10/sec burst 20\" (units: sec, min, hour, day)";

impl FromStr for Quota {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || UnitError(format!("invalid rate limit {s:?}: {QUOTA_HELP}"));
        let mut words = s.split_whitespace();
        let rate = words.next().ok_or_else(bad)?;
        let (count, unit) = rate.split_once('/').ok_or_else(bad)?;
        let count: u32 = count.trim().parse().map_err(|_| bad())?;
        let count = NonZeroU32::new(count).ok_or_else(|| {
            UnitError(format!(
                "invalid rate limit {s:?}: the count must be at least 1"
            ))
        })?;
        let period = match unit.trim().to_ascii_lowercase().as_str() {
            "s" | "sec" | "second" | "seconds" => Duration::from_secs(1),
            "m" | "min" | "minute" | "minutes" => Duration::from_secs(60),
            "h" | "hour" | "hours" => Duration::from_secs(3600),
            "d" | "day" | "days" => Duration::from_secs(86400),
            _ => return Err(bad()),
        };
        let mut quota = Quota::new(count, period);
        match (words.next(), words.next(), words.next()) {
            (None, _, _) => {}
            (Some("burst"), Some(b), None) => {
                let b: u32 = b.parse().map_err(|_| bad())?;
                quota.burst = NonZeroU32::new(b).ok_or_else(|| {
                    UnitError(format!(
                        "invalid rate limit {s:?}: the burst must be at least 1"
                    ))
                })?;
            }
            _ => return Err(bad()),
        }
        Ok(quota)
    }
}

/// A duration written as `500ms`, `30s`, `5m`, `1h`, `7d` (or a bare number of seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct HumanDuration(pub Duration);

impl FromStr for HumanDuration {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let bad = || {
            UnitError(format!(
                "invalid duration {s:?}: expected a number with a unit, like \"500ms\", \"30s\", \"5m\", \"1h\" or \"7d\""
            ))
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        let d = match unit.trim() {
            "ms" => Duration::from_millis(n),
            "" | "s" | "sec" | "secs" => Duration::from_secs(n),
            "m" | "min" | "mins" => Duration::from_secs(n.saturating_mul(60)),
            "h" | "hour" | "hours" => Duration::from_secs(n.saturating_mul(3600)),
            "d" | "day" | "days" => Duration::from_secs(n.saturating_mul(86400)),
            _ => return Err(bad()),
        };
        Ok(HumanDuration(d))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.subsec_millis() != 0 || d.is_zero() {
            write!(f, "{}ms", d.as_millis())
        } else if d.as_secs() % 86400 == 0 {
            write!(f, "{}d", d.as_secs() / 86400)
        } else if d.as_secs() % 3600 == 0 {
            write!(f, "{}h", d.as_secs() / 3600)
        } else if d.as_secs() % 60 == 0 {
            write!(f, "{}m", d.as_secs() / 60)
        } else {
            write!(f, "{}s", d.as_secs())
        }
    }
}

/// A size in bytes written as `1048576`, `512KB`, `1MiB`, `10 MB` (KB/MB/GB are 1000-based,
/// KiB/MiB/GiB 1024-based; `k`, `m` and `g` alone are 1024-based, as in nginx).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl FromStr for ByteSize {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let bad = || {
            UnitError(format!(
                "invalid size {s:?}: expected bytes, like \"1048576\", \"512KiB\" or \"1MiB\""
            ))
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kb" => 1000,
            "k" | "kib" => 1024,
            "mb" => 1_000_000,
            "m" | "mib" => 1 << 20,
            "gb" => 1_000_000_000,
            "g" | "gib" => 1 << 30,
            _ => return Err(bad()),
        };
        n.checked_mul(mult).map(ByteSize).ok_or_else(bad)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0;
        if n != 0 && n % (1 << 30) == 0 {
            write!(f, "{}GiB", n >> 30)
        } else if n != 0 && n % (1 << 20) == 0 {
            write!(f, "{}MiB", n >> 20)
        } else if n != 0 && n % 1024 == 0 {
            write!(f, "{}KiB", n >> 10)
        } else {
            write!(f, "{n}")
        }
    }
}

/// A route path pattern: an exact path (`/api/contact`) or a prefix ending in `/*`
/// (`/api/webhooks/*`, which matches `/api/webhooks` and everything below it).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathPattern {
    raw: String,
}

impl PathPattern {
    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The prefix, for a `/*` pattern.
    pub fn prefix(&self) -> Option<&str> {
        self.raw.strip_suffix("/*")
    }

    /// Whether `path` (without query string) matches.
    pub fn matches(&self, path: &str) -> bool {
        match self.prefix() {
            None => path == self.raw,
            Some(prefix) => {
                path.starts_with(prefix)
                    && (path.len() == prefix.len() || path.as_bytes()[prefix.len()] == b'/')
            }
        }
    }

    /// How specific the pattern is: exact paths beat prefixes, longer prefixes beat shorter.
    pub fn specificity(&self) -> (bool, usize) {
        (self.prefix().is_none(), self.raw.len())
    }
}

impl FromStr for PathPattern {
    type Err = UnitError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if !s.starts_with('/') {
            return Err(UnitError(format!(
                "invalid route path {s:?}: a path starts with '/'"
            )));
        }
        let star = s.find('*');
        if let Some(i) = star
            && (i != s.len() - 1 || !s.ends_with("/*"))
        {
            return Err(UnitError(format!(
                "invalid route path {s:?}: '*' may only end a prefix, as in \"/api/webhooks/*\""
            )));
        }
        if s.contains(['?', '#', ' ']) {
            return Err(UnitError(format!(
                "invalid route path {s:?}: no query string, fragment or spaces"
            )));
        }
        Ok(PathPattern { raw: s.to_string() })
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

macro_rules! string_serde {
    ($($t:ty),*) => {$(
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}
string_serde!(Quota, HumanDuration, PathPattern);

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u64),
            S(String),
        }
        match Raw::deserialize(d)
            .map_err(|_| serde::de::Error::custom("expected a size, like 1048576 or \"1MiB\""))?
        {
            Raw::N(n) => Ok(ByteSize(n)),
            Raw::S(s) => s.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    #[test]
    fn quotas_parse() {
        let q: Quota = "5/min".parse().unwrap();
        assert_eq!(q, Quota::per_minute(nz(5)));
        assert_eq!(q.emission_interval(), Duration::from_secs(12));
        let q: Quota = "10/sec burst 20".parse().unwrap();
        assert_eq!(q.burst, nz(20));
        assert_eq!(q.period, Duration::from_secs(1));
        assert_eq!("100/hour".parse::<Quota>().unwrap().window_secs(), 3600);
        assert_eq!("1/day".parse::<Quota>().unwrap().to_string(), "1/day");
        assert_eq!(
            "5/min burst 2".parse::<Quota>().unwrap().to_string(),
            "5/min burst 2"
        );
    }

    #[test]
    fn bad_quotas_say_what_is_expected() {
        for bad in [
            "",
            "5",
            "five/min",
            "5/fortnight",
            "5/min burst",
            "5/min burst x",
            "5/min lots",
        ] {
            let err = bad.parse::<Quota>().unwrap_err().to_string();
            assert!(err.contains("expected a quota"), "{bad}: {err}");
        }
        assert!(
            "0/min"
                .parse::<Quota>()
                .unwrap_err()
                .0
                .contains("at least 1")
        );
        assert!("5/min burst 0".parse::<Quota>().is_err());
    }

    #[test]
    fn durations_and_sizes_parse() {
        assert_eq!(
            "30s".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(30)
        );
        assert_eq!(
            "5m".parse::<HumanDuration>().unwrap().0,
            Duration::from_secs(300)
        );
        assert_eq!(
            "250ms".parse::<HumanDuration>().unwrap().0,
            Duration::from_millis(250)
        );
        assert_eq!("5m".parse::<HumanDuration>().unwrap().to_string(), "5m");
        assert!("soon".parse::<HumanDuration>().is_err());
        assert_eq!("1MiB".parse::<ByteSize>().unwrap().0, 1 << 20);
        assert_eq!("10 MB".parse::<ByteSize>().unwrap().0, 10_000_000);
        assert_eq!("512k".parse::<ByteSize>().unwrap().0, 512 * 1024);
        assert_eq!(ByteSize(1 << 20).to_string(), "1MiB");
        assert!("99999999999999999999G".parse::<ByteSize>().is_err());
        assert!("1 furlong".parse::<ByteSize>().is_err());
    }

    #[test]
    fn path_patterns_match_exact_and_prefix() {
        let exact: PathPattern = "/api/contact".parse().unwrap();
        assert!(exact.matches("/api/contact"));
        assert!(!exact.matches("/api/contact/x"));
        let prefix: PathPattern = "/api/webhooks/*".parse().unwrap();
        assert!(prefix.matches("/api/webhooks"));
        assert!(prefix.matches("/api/webhooks/clerk"));
        assert!(!prefix.matches("/api/webhooksx"));
        let all: PathPattern = "/*".parse().unwrap();
        assert!(all.matches("/anything/at/all"));
        assert!(exact.specificity() > prefix.specificity());
        for bad in ["api", "/a*b", "/api/*/x", "/api*", "/x?y=1"] {
            assert!(bad.parse::<PathPattern>().is_err(), "{bad}");
        }
    }
}
