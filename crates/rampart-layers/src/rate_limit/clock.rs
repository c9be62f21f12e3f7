//! The limiter's default clock: wall time read once, then advanced by the CPU's time-stamp
//! counter.
//!
//! A decision reads the clock once; with the system clock that read (`clock_gettime`) costs
//! as much as the rest of the decision. The TSC read is a few nanoseconds, which is how the
//! in-memory limiter keeps up with `governor` (which does the same through `quanta`). Where
//! the TSC is unusable, `quanta` falls back to the OS monotonic clock by itself.

use std::sync::OnceLock;

use rampart_core::{Clock, SystemClock};

/// A monotonic, nanosecond clock anchored at the wall time when it was made.
#[derive(Debug, Clone)]
pub struct FastClock {
    clock: quanta::Clock,
    base_nanos: u64,
    base_raw: u64,
}

impl FastClock {
    /// A clock anchored now. Calibration happens once per process.
    pub fn new() -> Self {
        static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();
        let clock = CLOCK.get_or_init(quanta::Clock::new).clone();
        let base_raw = clock.raw();
        FastClock {
            base_nanos: SystemClock::new().now_nanos(),
            base_raw,
            clock,
        }
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
        let raw = self.clock.raw();
        // A read that looks earlier than the anchor (another core's counter a hair behind)
        // counts as the anchor: the clock never goes backwards past it.
        let delta = if raw > self.base_raw {
            self.clock.delta_as_nanos(self.base_raw, raw)
        } else {
            0
        };
        self.base_nanos.saturating_add(delta)
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
}
