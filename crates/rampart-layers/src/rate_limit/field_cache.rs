//! A small per-thread cache of `RateLimit` values (`RateLimit-Policy` never changes: the
//! limiter keeps it as a static value).
//!
//! Every response of a limited route carries the field, and most values repeat: with a quota
//! of `N/window` the `RateLimit` value is one of at most
//! (N + 1) × (window + 1) strings. Building one costs a formatted string and an allocation
//! (and a free when the response is gone); a hit here costs a reference-count increment on a
//! value only this thread touches. Per thread, so that cores never contend for a slot or for
//! a shared reference count.

use std::cell::RefCell;

use http::HeaderValue;

/// Slots per thread (direct-mapped; a collision just rebuilds).
const SLOTS: usize = 64;

/// Which `RateLimit` value a slot holds: `r` remaining, `t` seconds.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field {
    pub(crate) r: u32,
    pub(crate) t: u64,
}

struct Slot {
    limiter: u64,
    field: Field,
    value: HeaderValue,
}

thread_local! {
    static CACHE: RefCell<[Option<Slot>; SLOTS]> = const { RefCell::new([const { None }; SLOTS]) };
}

fn slot_of(limiter: u64, field: Field) -> usize {
    let (a, b) = (u64::from(field.r), field.t);
    let h = (limiter ^ a.rotate_left(20) ^ b.rotate_left(40)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> 58) as usize % SLOTS
}

/// The value of `field` for `limiter` (a [`super::RateLimiter`]'s id): from this thread's
/// cache, or from `build`, which is then remembered.
pub(crate) fn value(
    limiter: u64,
    field: Field,
    build: impl FnOnce() -> HeaderValue,
) -> HeaderValue {
    let i = slot_of(limiter, field);
    let hit = CACHE
        .try_with(|c| {
            let c = c.try_borrow().ok()?;
            let slot = c[i].as_ref()?;
            (slot.limiter == limiter && slot.field == field).then(|| slot.value.clone())
        })
        .ok()
        .flatten();
    if let Some(v) = hit {
        return v;
    }
    let value = build();
    // A thread being torn down, or a re-entrant call, just does without the cache.
    let _ = CACHE.try_with(|c| {
        if let Ok(mut c) = c.try_borrow_mut() {
            c[i] = Some(Slot {
                limiter,
                field,
                value: value.clone(),
            });
        }
    });
    value
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn values_are_built_once_per_key_and_never_mixed_up() {
        let builds = Cell::new(0);
        let get = |limiter, field, text: &'static str| {
            value(limiter, field, || {
                builds.set(builds.get() + 1);
                HeaderValue::from_static(text)
            })
        };
        let a = Field { r: 4, t: 12 };
        let b = Field { r: 3, t: 12 };
        assert_eq!(get(1, a, "a"), "a");
        assert_eq!(get(1, a, "a"), "a");
        assert_eq!(builds.get(), 1);
        // Another state or another limiter: never the cached "a".
        assert_eq!(get(1, b, "b"), "b");
        assert_eq!(get(2, a, "c"), "c");
        assert_eq!(builds.get(), 3);
        // Many keys through 64 slots: whatever is evicted, every answer is still right.
        for round in 0..3 {
            for r in 0..200u32 {
                let want = HeaderValue::from(r);
                let got = value(7, Field { r, t: 60 }, || HeaderValue::from(r));
                assert_eq!(got, want, "round {round}");
            }
        }
    }
}
