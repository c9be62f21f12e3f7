//! The default clock of the request-side controls: wall time read once, then advanced by the
//! CPU's time-stamp counter, and checked against the system clock about once a minute.
//!
//! A decision reads the clock once; with the system clock that read (`clock_gettime`) costs
//! as much as the rest of the decision. The TSC read is a few nanoseconds, which is how the
//! in-memory limiter keeps up with `governor` (which does the same through `quanta`). Where
//! the TSC is unusable, `quanta` falls back to the OS monotonic clock by itself.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use rampart_core::{Clock, SystemClock};

/// How often the counter's reading is checked against the system clock: about a minute. The
/// counter's calibrated rate is off by parts per million, which over days of uptime would
/// move the clock by seconds, enough to misjudge a JWT's 60-second life.
const REANCHOR_NANOS: u64 = 1 << 36;

/// A nanosecond wall clock: the system clock's time when it was made, advanced by the CPU's
/// counter and set back on the system clock about once a minute.
#[derive(Debug)]
pub struct FastClock {
    clock: quanta::Clock,
    base_nanos: u64,
    base_raw: u64,
    /// Added to the counter's reading: the drift found at the last check.
    correction: AtomicI64,
    /// Counter-derived time of the next check.
    next_check: AtomicU64,
}

impl Clone for FastClock {
    fn clone(&self) -> Self {
        FastClock {
            clock: self.clock.clone(),
            base_nanos: self.base_nanos,
            base_raw: self.base_raw,
            correction: AtomicI64::new(self.correction.load(Ordering::Relaxed)),
            next_check: AtomicU64::new(self.next_check.load(Ordering::Relaxed)),
        }
    }
}

impl FastClock {
    /// A clock anchored now. Calibration happens once per process.
    pub fn new() -> Self {
        static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
        let clock = CLOCK.get_or_init(quanta::Clock::new).clone();
        let base_raw = clock.raw();
        let base_nanos = SystemClock::new().now_nanos();
        FastClock {
            base_nanos,
            base_raw,
            clock,
            correction: AtomicI64::new(0),
            next_check: AtomicU64::new(base_nanos.saturating_add(REANCHOR_NANOS)),
        }
    }

    /// The counter's time, before correction.
    #[inline]
    fn counted(&self) -> u64 {
        let raw = self.clock.raw();
        // A read that looks earlier than the anchor (another core's counter a hair behind)
        // counts as the anchor.
        let delta = if raw > self.base_raw {
            self.clock.delta_as_nanos(self.base_raw, raw)
        } else {
            0
        };
        self.base_nanos.saturating_add(delta)
    }

    #[cold]
    fn reanchor(&self, counted: u64) -> i64 {
        self.next_check
            .store(counted.saturating_add(REANCHOR_NANOS), Ordering::Relaxed);
        let wall = SystemClock::new().now_nanos();
        let correction = wall as i64 - counted as i64;
        self.correction.store(correction, Ordering::Relaxed);
        correction
    }
}

impl Default for FastClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for FastClock {
    #[inline]
    fn now_nanos(&self) -> u64 {
        let counted = self.counted();
        let correction = if counted >= self.next_check.load(Ordering::Relaxed) {
            self.reanchor(counted)
        } else {
            self.correction.load(Ordering::Relaxed)
        };
        counted.saturating_add_signed(correction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_the_system_clock_and_moves_forward() {
        let fast = FastClock::new();
        let sys = SystemClock::new();
        let a = fast.now_nanos();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = fast.now_nanos();
        assert!(b >= a + 15_000_000, "{a} {b}");
        // Within 50 ms of the system clock.
        assert!(b.abs_diff(sys.now_nanos()) < 50_000_000);
    }

    #[test]
    fn drift_is_corrected_at_the_next_check() {
        let fast = FastClock::new();
        // As if the counter had run 5 s fast since the anchor and a check were due.
        let counted = fast.counted();
        fast.next_check.store(0, Ordering::Relaxed);
        fast.correction.store(5_000_000_000, Ordering::Relaxed);
        let now = fast.now_nanos();
        let sys = SystemClock::new().now_nanos();
        assert!(now.abs_diff(sys) < 50_000_000, "{now} vs {sys}");
        // The next check is a minute of counted time away.
        assert!(fast.next_check.load(Ordering::Relaxed) >= counted + REANCHOR_NANOS);
    }
}
