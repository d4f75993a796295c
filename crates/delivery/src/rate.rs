//! The per-mailbox rate (Microsoft's 30 messages per minute): messages beyond the rate are not
//! refused; each gets a start time ("slot") in a sliding one-minute window, so the excess is
//! carried over to the following minutes in arrival order.

use std::collections::{HashMap, VecDeque};

const WINDOW_MS: i64 = 60_000;

#[derive(Debug)]
pub struct RateLimiter {
    per_minute: usize,
    /// Slots handed out per mailbox, oldest first, pruned to the last window.
    slots: HashMap<String, VecDeque<i64>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> Self {
        RateLimiter { per_minute: per_minute.max(1) as usize, slots: HashMap::new() }
    }

    /// Remembers a slot given out before (after a restart, from the state files).
    pub fn record(&mut self, mailbox: &str, slot_ms: i64) {
        let q = self.slots.entry(mailbox.to_ascii_lowercase()).or_default();
        let pos = q.iter().position(|s| *s > slot_ms).unwrap_or(q.len());
        q.insert(pos, slot_ms);
    }

    /// The earliest time ≥ `now_ms` at which `mailbox` may have one more message delivered,
    /// and reserves it. A window (t − 60 s, t] never holds more than the rate.
    pub fn reserve(&mut self, mailbox: &str, now_ms: i64) -> i64 {
        let q = self.slots.entry(mailbox.to_ascii_lowercase()).or_default();
        while q.front().is_some_and(|s| *s <= now_ms - WINDOW_MS) {
            q.pop_front();
        }
        // The queue is sorted; with n slots in the window, the next one may go when the
        // (n − rate + 1)-th oldest has left the window.
        let slot = if q.len() < self.per_minute { now_ms } else { q[q.len() - self.per_minute] + WINDOW_MS };
        // Never ahead of a message that arrived earlier.
        let slot = slot.max(now_ms).max(q.back().copied().unwrap_or(i64::MIN));
        q.push_back(slot);
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_thirty_go_now_the_rest_carry_over_minute_by_minute() {
        let mut r = RateLimiter::new(30);
        let now = 1_000_000;
        let slots: Vec<i64> = (0..75).map(|_| r.reserve("scanner@contoso.com", now)).collect();
        assert!(slots[..30].iter().all(|s| *s == now));
        assert!(slots[30..60].iter().all(|s| *s == now + 60_000));
        assert!(slots[60..].iter().all(|s| *s == now + 120_000));
        // Another mailbox is not slowed by this one.
        assert_eq!(r.reserve("printer@contoso.com", now), now);
    }

    #[test]
    fn no_window_ever_holds_more_than_the_rate() {
        let mut r = RateLimiter::new(3);
        let mut all = vec![];
        for i in 0..40 {
            all.push(r.reserve("a@x", 1_000 + i * 7_000));
        }
        for (i, s) in all.iter().enumerate() {
            let in_window = all.iter().filter(|t| **t > s - 60_000 && **t <= *s).count();
            assert!(in_window <= 3, "slot {i} at {s}: {in_window} in its window");
        }
        assert!(all.windows(2).all(|w| w[0] <= w[1]), "order is kept");
    }

    #[test]
    fn restart_remembers_recent_slots() {
        let mut r = RateLimiter::new(2);
        r.record("a@x", 100);
        r.record("a@x", 200);
        assert_eq!(r.reserve("a@x", 300), 60_100);
    }
}
