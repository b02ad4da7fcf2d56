//! Local rate limiting: Envoy's `envoy.filters.http.local_ratelimit` token
//! bucket, lock-free, on the caller's clock.
//!
//! As Envoy's `TokenBucketImpl`-based local rate limiter
//! (source/extensions/filters/common/local_ratelimit/local_ratelimit_impl.cc):
//! the bucket starts full with `max_tokens`; every `fill_interval` adds
//! `tokens_per_fill`, never beyond `max_tokens`; a request takes one token or
//! is refused (429, `x-local-rate-limit: true` in Istio's recipe).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// One token bucket. The whole state is one `AtomicU64` (tokens in the low
/// 32 bits, the last fill interval counted in the high 32), so taking a
/// token is one compare-and-swap: threads racing can never take more tokens
/// than the bucket held.
#[derive(Debug)]
pub struct TokenBucket {
    max_tokens: u32,
    tokens_per_fill: u32,
    fill_interval_ms: u64,
    state: AtomicU64,
}

impl TokenBucket {
    /// A full bucket whose clock starts at `now_ms`. A zero
    /// `fill_interval` is taken as 1 ms (Envoy refuses under 50 ms; the
    /// config reader reports that).
    pub fn new(
        max_tokens: u32,
        tokens_per_fill: u32,
        fill_interval: Duration,
        now_ms: u64,
    ) -> Self {
        let fill_interval_ms = (fill_interval.as_millis() as u64).max(1);
        let interval = (now_ms / fill_interval_ms) as u32;
        TokenBucket {
            max_tokens,
            tokens_per_fill,
            fill_interval_ms,
            state: AtomicU64::new(pack(interval, max_tokens)),
        }
    }

    /// The bucket's size.
    pub fn max_tokens(&self) -> u32 {
        self.max_tokens
    }

    /// Takes a token at `now_ms` (the caller's monotonic clock). False
    /// when none is left: refuse the request. A time earlier than one seen
    /// before (another thread's clock read a moment earlier) fills nothing.
    #[inline]
    pub fn try_take(&self, now_ms: u64) -> bool {
        let now = (now_ms / self.fill_interval_ms) as u32;
        let mut current = self.state.load(Ordering::Relaxed);
        loop {
            let (last, tokens) = unpack(current);
            // Intervals passed, with wrap-around; a negative gap is none.
            let gap = now.wrapping_sub(last);
            let (interval, tokens) = if gap == 0 || gap > u32::MAX / 2 {
                (last, tokens)
            } else {
                let added = u64::from(gap) * u64::from(self.tokens_per_fill);
                let filled = (u64::from(tokens) + added).min(u64::from(self.max_tokens));
                (now, filled as u32)
            };
            if tokens == 0 {
                return false;
            }
            let next = pack(interval, tokens - 1);
            match self.state.compare_exchange_weak(
                current,
                next,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(seen) => current = seen,
            }
        }
    }

    /// Tokens left as of the last take (no fill applied).
    pub fn tokens(&self) -> u32 {
        unpack(self.state.load(Ordering::Relaxed)).1
    }
}

fn pack(interval: u32, tokens: u32) -> u64 {
    u64::from(interval) << 32 | u64::from(tokens)
}

fn unpack(state: u64) -> (u32, u32) {
    ((state >> 32) as u32, state as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fake clock: exact token counts as Envoy's bucket gives them.
    #[test]
    fn fills_on_the_interval_up_to_the_bucket() {
        let b = TokenBucket::new(4, 2, Duration::from_secs(60), 0);
        // (now_ms, taken ok?)
        let rows: &[(u64, bool)] = &[
            (0, true),
            (1, true),
            (59_999, true),
            (59_999, true),
            (59_999, false), // empty
            (60_000, true),  // +2
            (60_001, true),
            (60_002, false),
            (300_000, true), // 4 intervals: +8, capped at 4
            (300_000, true),
            (300_000, true),
            (300_000, true),
            (300_000, false),
            (100_000, false), // clock behind: nothing filled
        ];
        for (i, &(now, ok)) in rows.iter().enumerate() {
            assert_eq!(b.try_take(now), ok, "row {i}: t={now}");
        }
        assert_eq!(b.tokens(), 0);
    }

    #[test]
    fn an_empty_bucket_refuses_everything() {
        let b = TokenBucket::new(0, 0, Duration::from_secs(1), 0);
        for t in [0, 1000, 10_000] {
            assert!(!b.try_take(t));
        }
    }

    /// 8 threads, each trying 10 000 takes on one clock tick: exactly the
    /// bucket's tokens are admitted, never one more.
    #[test]
    fn eight_threads_never_over_admit() {
        for round in 0..5u64 {
            let b = TokenBucket::new(1000, 1000, Duration::from_secs(1), round);
            let admitted = std::sync::atomic::AtomicU64::new(0);
            std::thread::scope(|s| {
                for _ in 0..8 {
                    s.spawn(|| {
                        let mut n = 0;
                        for _ in 0..10_000 {
                            n += u64::from(b.try_take(round));
                        }
                        admitted.fetch_add(n, Ordering::Relaxed);
                    });
                }
            });
            assert_eq!(admitted.load(Ordering::Relaxed), 1000, "round {round}");
        }
    }
}
