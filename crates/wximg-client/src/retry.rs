//! Retrying transient failures: exponential backoff with full jitter.
//!
//! `-1` (system error: the server stored nothing), `45011` (minute quota) and connection
//! failures are retried; each pause is drawn uniformly from `0..=min(max_delay,
//! base_delay × 2^attempt)` ("full jitter", so a crowd of clients does not come back in
//! step), and the whole affair is bounded by a number of attempts *and* a total time.
//! `45009` (daily quota) is never retried: it cannot succeed before tomorrow.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How transient failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 = never retry).
    pub max_attempts: u32,
    /// The cap of the first pause; it doubles with each attempt.
    pub base_delay: Duration,
    /// No single pause is longer than this.
    pub max_delay: Duration,
    /// No retry starts after this much time since the first attempt.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            max_total: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub const NONE: RetryPolicy = RetryPolicy {
        max_attempts: 1,
        base_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
        max_total: Duration::ZERO,
    };

    /// The longest pause before retry number `attempt` (0-based).
    pub fn delay_cap(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(30)).unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// Runs `op` until it succeeds, fails with a non-transient error, or the policy's
    /// bounds are reached; returns the last outcome.
    pub async fn run<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let start = Instant::now();
        let mut attempt = 0;
        loop {
            let err: Error = match op().await {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            attempt += 1;
            if !err.is_transient() || attempt >= self.max_attempts {
                return Err(err);
            }
            let cap = self.delay_cap(attempt - 1);
            let pause = if cap.is_zero() {
                cap
            } else {
                cap.mul_f64(rand::random::<f64>())
            };
            if start.elapsed() + pause > self.max_total {
                return Err(err);
            }
            tracing::debug!(%err, ?pause, attempt, "transient failure, retrying");
            tokio::time::sleep(pause).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast(n: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts: n,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            max_total: Duration::from_secs(5),
        }
    }

    #[tokio::test]
    async fn retries_system_error_then_succeeds() {
        let calls = AtomicU32::new(0);
        let r = fast(5)
            .run(|| async {
                if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                    Err(Error::from_answer(-1, "system error"))
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!(r.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts() {
        let calls = AtomicU32::new(0);
        let r: Result<()> = fast(3)
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Error::from_answer(45011, "minute quota"))
            })
            .await;
        assert_eq!(r.unwrap_err().code(), 45011);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn daily_quota_is_not_retried() {
        let calls = AtomicU32::new(0);
        let r: Result<()> = fast(5)
            .run(|| async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(Error::from_answer(45009, "reach max api daily quota limit"))
            })
            .await;
        assert_eq!(r.unwrap_err().code(), 45009);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay_cap(0), Duration::from_millis(250));
        assert_eq!(p.delay_cap(2), Duration::from_millis(1000));
        assert_eq!(p.delay_cap(10), Duration::from_secs(8));
        assert_eq!(p.delay_cap(100), Duration::from_secs(8));
    }
}
