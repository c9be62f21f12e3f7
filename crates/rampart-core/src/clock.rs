//! The one source of time.
//!
//! Everything time-dependent in Rampart (rate limits, token expiry, detection windows, alert
//! timestamps) asks a [`Clock`]. Production code uses [`SystemClock`]; tests step a
//! [`ManualClock`]; `monitor --replay` moves a [`ManualClock`] forward to each record's own
//! timestamp so windows run on event time.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};

/// A source of the current time, as nanoseconds since the Unix epoch.
///
/// Implementations must never go backwards: limiters and windows rely on it.
pub trait Clock: Send + Sync + fmt::Debug {
    /// Nanoseconds since 1970-01-01T00:00:00Z.
    fn now_nanos(&self) -> u64;

    /// The current time as a UTC timestamp.
    fn now(&self) -> DateTime<Utc> {
        nanos_to_datetime(self.now_nanos())
    }
}

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now_nanos(&self) -> u64 {
        (**self).now_nanos()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now_nanos(&self) -> u64 {
        (**self).now_nanos()
    }
}

/// Converts nanoseconds since the epoch to a UTC timestamp.
pub fn nanos_to_datetime(nanos: u64) -> DateTime<Utc> {
    DateTime::<Utc>::from(UNIX_EPOCH + Duration::from_nanos(nanos))
}

/// Converts a UTC timestamp to nanoseconds since the epoch (0 before the epoch, saturating far
/// in the future).
pub fn datetime_to_nanos(ts: DateTime<Utc>) -> u64 {
    ts.timestamp_nanos_opt()
        .map(|n| n.max(0) as u64)
        .unwrap_or(if ts.timestamp() > 0 { u64::MAX } else { 0 })
}

/// The wall clock, made monotonic.
///
/// It reads the system time once and then advances with a monotonic [`Instant`], so a clock
/// step (NTP, a VM resume) never moves a rate limiter backwards.
#[derive(Debug, Clone)]
pub struct SystemClock {
    base_nanos: u64,
    base_instant: Instant,
}

impl SystemClock {
    /// A clock anchored at the current system time.
    #[allow(clippy::disallowed_methods)] // the one place that reads the system clock
    pub fn new() -> Self {
        let base_nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        SystemClock {
            base_nanos,
            base_instant: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now_nanos(&self) -> u64 {
        self.base_nanos
            .saturating_add(self.base_instant.elapsed().as_nanos() as u64)
    }
}

/// A clock that only moves when told to: for tests and for replaying logs on event time.
///
/// Clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    nanos: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock standing at `nanos` since the epoch.
    pub fn new(nanos: u64) -> Self {
        ManualClock {
            nanos: Arc::new(AtomicU64::new(nanos)),
        }
    }

    /// A clock standing at the given timestamp.
    pub fn at(ts: DateTime<Utc>) -> Self {
        Self::new(datetime_to_nanos(ts))
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by = by.as_nanos().min(u64::MAX as u128) as u64;
        let _ = self
            .nanos
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                Some(n.saturating_add(by))
            });
    }

    /// Moves the clock to `nanos` if that is later than now; never backwards.
    ///
    /// Returns the time the clock stands at afterwards. Replay uses this with each record's
    /// timestamp, so slightly out-of-order logs do not rewind windows.
    pub fn advance_to(&self, nanos: u64) -> u64 {
        self.nanos.fetch_max(nanos, Ordering::SeqCst).max(nanos)
    }

    /// Sets the clock to exactly `nanos`, even backwards (tests only need this rarely).
    pub fn set(&self, nanos: u64) {
        self.nanos.store(nanos, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_nanos(&self) -> u64 {
        self.nanos.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_advances_and_is_shared_by_clones() {
        let clock = ManualClock::new(1_000);
        let other = clock.clone();
        clock.advance(Duration::from_nanos(500));
        assert_eq!(other.now_nanos(), 1_500);
    }

    #[test]
    fn advance_to_never_goes_backwards() {
        let clock = ManualClock::new(10_000);
        assert_eq!(clock.advance_to(5_000), 10_000);
        assert_eq!(clock.now_nanos(), 10_000);
        assert_eq!(clock.advance_to(20_000), 20_000);
        assert_eq!(clock.now_nanos(), 20_000);
    }

    #[test]
    fn system_clock_is_monotonic_and_near_wall_time() {
        let clock = SystemClock::new();
        let a = clock.now_nanos();
        let b = clock.now_nanos();
        assert!(b >= a);
        // Somewhere after 2020-01-01.
        assert!(a > 1_577_836_800_000_000_000);
    }

    #[test]
    fn datetime_round_trip() {
        let ts = DateTime::parse_from_rfc3339("2026-12-04T10:00:00.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let clock = ManualClock::at(ts);
        assert_eq!(clock.now(), ts);
    }
}
