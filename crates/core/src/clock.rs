//! Wall-clock time, injected: the queue manager's retry schedule and the SMTP side's sign-in
//! log, lockout, quotas, revocation checks and Received dates read it through one [`Clock`],
//! so tests can move time. Timeouts of I/O and rate windows stay on monotonic time (tokio's or
//! std's `Instant`): they measure durations and must not jump with the wall clock.

use std::sync::atomic::{AtomicI64, Ordering};

/// Wall-clock time in unix milliseconds.
pub trait Clock: Send + Sync + 'static {
    fn now_ms(&self) -> i64;

    /// Unix seconds.
    fn now_secs(&self) -> i64 {
        self.now_ms().div_euclid(1000)
    }
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
    }
}

/// A clock that moves only when told to; for tests.
pub struct ManualClock(AtomicI64);

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        ManualClock(AtomicI64::new(start_ms))
    }
    /// Starting at `secs` unix seconds.
    pub fn at_secs(secs: i64) -> Self {
        ManualClock::new(secs * 1000)
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn set_ms(&self, ms: i64) {
        self.0.store(ms, Ordering::SeqCst);
    }
    pub fn set_secs(&self, secs: i64) {
        self.set_ms(secs * 1000);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::at_secs(1_800_000_000);
        assert_eq!((clock.now_ms(), clock.now_secs()), (1_800_000_000_000, 1_800_000_000));
        clock.advance_ms(1_999);
        assert_eq!(clock.now_secs(), 1_800_000_001, "whole seconds, rounded down");
        clock.set_secs(5);
        assert_eq!(clock.now_ms(), 5_000);
        let before = SystemClock.now_secs();
        assert!(before > 1_700_000_000 && SystemClock.now_secs() >= before);
    }
}
