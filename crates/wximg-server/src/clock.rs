//! The server's notion of "now", in Unix seconds.
//!
//! Token lifetimes are hours long; tests move this clock forward instead of sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock time plus an offset that only tests change; or, for tests, a clock that
/// stands still until moved.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset: Arc<AtomicI64>,
    /// `now` is the offset alone: the wall clock does not tick underneath a test that
    /// counts seconds (a second passing between two requests would otherwise move a
    /// token across a boundary the test placed it exactly on).
    frozen: bool,
}

fn wall() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Clock {
    /// A clock stopped at the current time, moved only by [`Clock::advance`] (for tests).
    pub fn frozen() -> Clock {
        Clock {
            offset: Arc::new(AtomicI64::new(wall())),
            frozen: true,
        }
    }

    /// Unix time in seconds.
    pub fn now(&self) -> i64 {
        let base = if self.frozen { 0 } else { wall() };
        base + self.offset.load(Ordering::Relaxed)
    }

    /// Unix time in milliseconds (a frozen clock's moves by whole seconds only).
    pub fn now_ms(&self) -> i64 {
        let base = if self.frozen {
            0
        } else {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)
        };
        base + self.offset.load(Ordering::Relaxed) * 1000
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, secs: i64) {
        self.offset.fetch_add(secs, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_clock_moves_only_when_advanced() {
        let clock = Clock::frozen();
        let start = clock.now();
        assert!((start - wall()).abs() <= 1);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(clock.now(), start, "a frozen clock ticked");
        clock.clone().advance(5);
        assert_eq!(clock.now(), start + 5);
        let running = Clock::default();
        running.advance(10);
        assert!((running.now() - wall() - 10).abs() <= 1);
    }
}
