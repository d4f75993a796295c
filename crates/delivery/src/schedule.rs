//! The retry schedule for temporary failures: a first delay, growing by a factor up to a
//! ceiling, until the message is older than the give-up age. The defaults follow Postfix
//! (`minimal_backoff_time` 300 s, `maximal_backoff_time` 4000 s, `maximal_queue_lifetime` 5 d).

use std::time::Duration;

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Schedule {
    pub first_retry: Duration,
    /// Each further delay is the previous one times this (≥ 1).
    pub growth: f64,
    pub max_interval: Duration,
    /// A recipient still failing temporarily this long after the message arrived is given up.
    pub give_up_after: Duration,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            first_retry: Duration::from_secs(300),
            growth: 2.0,
            max_interval: Duration::from_secs(4000),
            give_up_after: Duration::from_secs(5 * 24 * 3600),
        }
    }
}

impl Schedule {
    /// Delay before the next attempt after `failed_attempts` failures (1 = the first failed).
    pub fn delay_after(&self, failed_attempts: u32) -> Duration {
        let first = self.first_retry.as_secs_f64();
        let exp = failed_attempts.saturating_sub(1).min(64) as i32;
        let secs = (first * self.growth.max(1.0).powi(exp)).min(self.max_interval.as_secs_f64());
        Duration::from_secs_f64(secs.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postfix_like_defaults_double_to_the_ceiling() {
        let s = Schedule::default();
        let delays: Vec<u64> = (1..=6).map(|n| s.delay_after(n).as_secs()).collect();
        assert_eq!(delays, [300, 600, 1200, 2400, 4000, 4000]);
        assert_eq!(s.give_up_after, Duration::from_secs(432_000));
    }

    #[test]
    fn growth_below_one_is_constant() {
        let s = Schedule { growth: 0.5, ..Schedule::default() };
        assert_eq!(s.delay_after(5), Duration::from_secs(300));
        assert_eq!(s.delay_after(u32::MAX), Duration::from_secs(300));
    }
}
