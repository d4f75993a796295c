//! Counts failed admin sign-ins per address and per client address in a sliding window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Counts failed sign-ins per address and per client address in a sliding window.
pub struct SignInLimiter {
    failures: Mutex<HashMap<String, Vec<i64>>>,
    per_address: u32,
    window: i64,
}

/// Keys the limiter remembers at most; beyond that the oldest windows are dropped first.
const LIMITER_KEYS: usize = 100_000;

impl SignInLimiter {
    pub fn new(per_address: u32, window: Duration) -> Self {
        SignInLimiter { failures: Mutex::new(HashMap::new()), per_address, window: window.as_secs() as i64 }
    }

    fn keys(address: &str, ip: &str) -> [(String, u32); 2] {
        [(format!("a:{}", address.trim().to_lowercase()), 1), (format!("i:{ip}"), 4)]
    }

    /// Whether another attempt is allowed now.
    pub fn allowed(&self, address: &str, ip: &str, at: i64) -> bool {
        let map = self.failures.lock().expect("limiter lock");
        Self::keys(address, ip).iter().all(|(key, factor)| {
            let recent = map.get(key).map_or(0, |v| v.iter().filter(|t| **t > at - self.window).count());
            recent < (self.per_address * factor) as usize
        })
    }

    pub fn failed(&self, address: &str, ip: &str, at: i64) {
        let mut map = self.failures.lock().expect("limiter lock");
        if map.len() > LIMITER_KEYS {
            let window = self.window;
            map.retain(|_, v| v.iter().any(|t| *t > at - window));
        }
        for (key, _) in Self::keys(address, ip) {
            let v = map.entry(key).or_default();
            v.retain(|t| *t > at - self.window);
            v.push(at);
        }
    }

    pub fn succeeded(&self, address: &str) {
        self.failures.lock().expect("limiter lock").remove(&format!("a:{}", address.trim().to_lowercase()));
    }
}
