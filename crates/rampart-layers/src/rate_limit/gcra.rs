//! GCRA, the generic cell rate algorithm: one timestamp of state per key.
//!
//! The state is the *theoretical arrival time* (TAT): when the key's bucket would be empty
//! again if requests kept arriving exactly at the quota's rate. A request is admitted when
//! moving the TAT one emission interval `T` later keeps it within the burst tolerance
//! `burst × T` of now. So "N per minute" admits N at once, then one every `60 s / N`. A key
//! whose TAT is in the past carries no information and can be forgotten, which is what keeps
//! stores bounded (memory sweeps, Redis `PX`).
//!
//! Pure: time comes in as an argument, so the stores and the tests decide where it is read.

use std::time::Duration;

use rampart_core::units::Quota;

/// The algorithm's parameters for one quota, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Emission interval `T`: the time one request's worth of capacity takes to refill.
    interval: u64,
    /// Burst tolerance plus one interval: `burst × T`.
    limit: u64,
    burst: u32,
}

/// What the algorithm decided for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request is admitted.
    pub allowed: bool,
    /// Requests that would still be admitted right now.
    pub remaining: u32,
    /// Refused: how long until one request would be admitted. Zero when allowed.
    pub retry_after: Duration,
    /// How long until the bucket is full again (the quota fully "reset").
    pub reset: Duration,
}

impl Gcra {
    /// The parameters of `quota`.
    pub fn new(quota: &Quota) -> Self {
        let interval = (quota.period.as_nanos() / u128::from(quota.count.get())).max(1) as u64;
        Gcra {
            interval,
            limit: interval.saturating_mul(u64::from(quota.burst.get())),
            burst: quota.burst.get(),
        }
    }

    /// The emission interval `T`.
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval)
    }

    /// The burst tolerance plus one interval, `burst × T`: the longest a key's state lives.
    pub fn limit(&self) -> Duration {
        Duration::from_nanos(self.limit)
    }

    /// The burst size.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Decides one request at `now` (nanoseconds) for a key whose stored TAT is `tat`.
    /// Returns the decision and, when admitted, the TAT to store.
    #[inline]
    pub fn decide(&self, tat: Option<u64>, now: u64) -> (Decision, Option<u64>) {
        let tat = tat.map_or(now, |t| t.max(now));
        let new_tat = tat.saturating_add(self.interval);
        let ahead = new_tat - now;
        if ahead > self.limit {
            let d = Decision {
                allowed: false,
                remaining: 0,
                retry_after: Duration::from_nanos(ahead - self.limit),
                reset: Duration::from_nanos(tat - now),
            };
            return (d, None);
        }
        let d = Decision {
            allowed: true,
            remaining: ((self.limit - ahead) / self.interval).min(u64::from(u32::MAX)) as u32,
            retry_after: Duration::ZERO,
            reset: Duration::from_nanos(ahead),
        };
        (d, Some(new_tat))
    }

    /// A decision from what a remote store answered: admitted or not, the time until one more
    /// request would be admitted, and the time until the bucket is full.
    pub fn from_remote(&self, allowed: bool, retry_after: Duration, reset: Duration) -> Decision {
        let reset_ns = reset.as_nanos().min(u128::from(u64::MAX)) as u64;
        Decision {
            allowed,
            remaining: if allowed {
                (self.limit.saturating_sub(reset_ns) / self.interval) as u32
            } else {
                0
            },
            retry_after,
            reset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::num::NonZeroU32;

    const S: u64 = 1_000_000_000;

    fn quota(s: &str) -> Quota {
        s.parse().unwrap()
    }

    /// Runs `n` requests at `now` against `tat`, returning how many passed.
    fn burst(g: &Gcra, tat: &mut Option<u64>, now: u64, n: u32) -> u32 {
        let mut passed = 0;
        for _ in 0..n {
            let (d, new) = g.decide(*tat, now);
            if d.allowed {
                passed += 1;
                *tat = new;
            }
        }
        passed
    }

    #[test]
    fn five_per_minute_admits_five_then_one_every_twelve_seconds() {
        let g = Gcra::new(&quota("5/min"));
        let mut tat = None;
        let now = 1_000 * S;
        let remaining: Vec<u32> = (0..5)
            .map(|_| {
                let (d, new) = g.decide(tat, now);
                tat = new;
                assert!(d.allowed);
                d.remaining
            })
            .collect();
        assert_eq!(remaining, [4, 3, 2, 1, 0]);
        let (d, new) = g.decide(tat, now);
        assert!(!d.allowed && new.is_none());
        assert_eq!(d.retry_after, Duration::from_secs(12));
        assert_eq!(d.reset, Duration::from_secs(60));
        // 11.999 s later: still refused, with 1 ms to wait.
        let (d, _) = g.decide(tat, now + 12 * S - 1_000_000);
        assert_eq!(d.retry_after, Duration::from_millis(1));
        // 12 s later exactly one more.
        assert_eq!(burst(&g, &mut tat, now + 12 * S, 3), 1);
        // A minute of silence refills the whole burst, not more.
        assert_eq!(burst(&g, &mut tat, now + 200 * S, 10), 5);
    }

    #[test]
    fn burst_differs_from_rate() {
        let g = Gcra::new(&quota("10/sec burst 2"));
        let mut tat = None;
        assert_eq!(burst(&g, &mut tat, S, 5), 2);
        // 100 ms refills one.
        assert_eq!(burst(&g, &mut tat, S + 100_000_000, 5), 1);
        let (d, _) = g.decide(tat, S + 100_000_000);
        assert_eq!(d.retry_after, Duration::from_millis(100));
    }

    #[test]
    fn remote_answers_give_the_same_remaining() {
        let g = Gcra::new(&quota("100/hour"));
        let (d, _) = g.decide(None, S);
        assert_eq!(g.from_remote(true, Duration::ZERO, d.reset), d);
    }

    proptest! {
        /// Over any arrival pattern, admitted requests never exceed burst + elapsed / T.
        #[test]
        fn never_admits_more_than_the_quota(
            count in 1u32..50, burst_n in 1u32..50, steps in proptest::collection::vec(0u64..5_000_000_000, 1..200)
        ) {
            let q = Quota::new(NonZeroU32::new(count).unwrap(), Duration::from_secs(60))
                .with_burst(NonZeroU32::new(burst_n).unwrap());
            let g = Gcra::new(&q);
            let start = 10 * S;
            let mut now = start;
            let mut tat = None;
            let mut admitted = 0u64;
            for step in steps {
                now += step;
                if let (d, Some(new)) = g.decide(tat, now) {
                    prop_assert!(d.allowed);
                    tat = Some(new);
                    admitted += 1;
                }
                let allowed_max = u64::from(burst_n) + (now - start) / g.interval;
                prop_assert!(admitted <= allowed_max);
            }
        }
    }
}
