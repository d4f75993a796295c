//! Counts failed admin sign-ins: password failures per address and per client address in a
//! sliding window, and TOTP failures per account with a growing wait and a lock. A correct
//! password never clears the TOTP count (only a correct code does), so codes cannot be guessed
//! a few at a time between password steps. Every key is bounded in length and the maps in
//! size, whatever the client sends. Kept in memory: a restart clears them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Longest address kept as a key (an address is at most 254 octets; longer input is cut).
pub const MAX_KEY: usize = 320;
/// Keys the limiter remembers at most; beyond that the oldest windows are dropped first.
const LIMITER_KEYS: usize = 100_000;
/// TOTP failures in a row after which the account's second factor is locked.
pub const TOTP_LOCK_AFTER: u32 = 10;

pub struct SignInLimiter {
    failures: Mutex<HashMap<String, Vec<i64>>>,
    totp: Mutex<HashMap<String, (u32, i64)>>,
    per_address: u32,
    window: i64,
}

/// Why a TOTP attempt may not be made now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpWait {
    /// A short wait after a wrong code (seconds left).
    Backoff(i64),
    /// Too many wrong codes in a row: locked (seconds left).
    Locked(i64),
}

/// The TOTP count's key: the admin and their current secret, so a reset and a new enrolment
/// (`authrelay admin reset-totp`, from another process) starts afresh.
pub fn totp_key(admin_id: i64, secret: &str) -> String {
    let fingerprint = authrelay_directory::admin::token_hash(secret);
    format!("{admin_id}:{}", &fingerprint[..16])
}

fn bounded(address: &str) -> String {
    address.trim().to_lowercase().chars().take(MAX_KEY).collect()
}

impl SignInLimiter {
    pub fn new(per_address: u32, window: Duration) -> Self {
        SignInLimiter {
            failures: Mutex::new(HashMap::new()),
            totp: Mutex::new(HashMap::new()),
            per_address,
            window: window.as_secs() as i64,
        }
    }

    fn keys(address: &str, ip: &str) -> [(String, u32); 2] {
        [(format!("a:{}", bounded(address)), 1), (format!("i:{}", ip.chars().take(64).collect::<String>()), 4)]
    }

    /// Whether another password attempt is allowed now.
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
            // At most one window's worth is needed to decide; a flood keeps the newest.
            if v.len() >= 4 * self.per_address as usize {
                v.remove(0);
            }
            v.push(at);
        }
    }

    /// A complete sign-in (password and, when needed, the code): the address starts afresh.
    pub fn succeeded(&self, address: &str) {
        self.failures.lock().expect("limiter lock").remove(&format!("a:{}", bounded(address)));
    }

    /// Whether the account (see [`totp_key`]) may try a TOTP code now: two slips are free; after the n-th wrong
    /// code in a row (n >= 3) it waits 2^(n-2) seconds (at most a minute); from the tenth, the
    /// second factor is locked for an hour, doubling with each further wrong code up to a day.
    pub fn totp_gate(&self, account: &str, at: i64) -> Result<(), TotpWait> {
        let map = self.totp.lock().expect("limiter lock");
        let Some(&(count, last)) = map.get(account) else { return Ok(()) };
        let (wait, locked) = if count >= TOTP_LOCK_AFTER {
            ((3600i64 << (count - TOTP_LOCK_AFTER).min(4)).min(86_400), true)
        } else if count < 3 {
            (0, false)
        } else {
            ((1i64 << (count - 2).min(6)).min(60), false)
        };
        let left = last + wait - at;
        match (left > 0, locked) {
            (false, _) => Ok(()),
            (true, true) => Err(TotpWait::Locked(left)),
            (true, false) => Err(TotpWait::Backoff(left)),
        }
    }

    /// Counts a wrong code; returns the failures in a row.
    pub fn totp_failed(&self, account: &str, at: i64) -> u32 {
        let mut map = self.totp.lock().expect("limiter lock");
        if map.len() > LIMITER_KEYS {
            map.retain(|_, (_, last)| *last > at - 86_400);
        }
        let e = map.entry(account.chars().take(MAX_KEY).collect()).or_insert((0, at));
        e.0 = e.0.saturating_add(1);
        e.1 = at;
        e.0
    }

    /// A correct code: the account's count starts afresh.
    pub fn totp_succeeded(&self, account: &str) {
        self.totp.lock().expect("limiter lock").remove(account);
    }

    /// Keys held (for tests and the memory bound).
    pub fn key_bytes(&self) -> usize {
        self.failures.lock().expect("limiter lock").keys().map(String::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_counts_per_address_and_forgets_old_failures() {
        let l = SignInLimiter::new(2, Duration::from_secs(60));
        assert!(l.allowed("a@x", "1.1.1.1", 0));
        l.failed("a@x", "1.1.1.1", 0);
        l.failed("A@X", "1.1.1.1", 1);
        assert!(!l.allowed("a@x", "1.1.1.1", 2));
        assert!(l.allowed("b@x", "1.1.1.1", 2), "another address from the same client still may try");
        assert!(l.allowed("a@x", "1.1.1.1", 62), "the window slides");
        for i in 0..8 {
            l.failed(&format!("u{i}@x"), "2.2.2.2", 100);
        }
        assert!(!l.allowed("fresh@x", "2.2.2.2", 100), "one client spraying many addresses is stopped");
    }

    #[test]
    fn keys_are_bounded_whatever_the_client_sends() {
        let l = SignInLimiter::new(5, Duration::from_secs(60));
        let huge = "a".repeat(1_900_000);
        for i in 0..50 {
            l.failed(&format!("{huge}{i}"), "3.3.3.3", i);
        }
        assert!(l.key_bytes() <= 2 * (MAX_KEY + 2) + 16, "{} bytes of keys", l.key_bytes());
        // A flood from one address keeps a bounded list.
        for i in 0..10_000 {
            l.failed("b@x", "4.4.4.4", 1000 + i % 10);
        }
        let held: usize = l.failures.lock().unwrap().values().map(Vec::len).max().unwrap();
        assert!(held <= 20, "{held}");
    }

    #[test]
    fn totp_failures_back_off_then_lock_and_only_a_code_clears_them() {
        let l = SignInLimiter::new(5, Duration::from_secs(900));
        let mut at = 0;
        for n in 1..TOTP_LOCK_AFTER {
            assert_eq!(l.totp_gate("7", at), Ok(()), "attempt {n}");
            assert_eq!(l.totp_failed("7", at), n);
            let wait = if n < 3 { 0 } else { (1i64 << (n - 2)).min(60) };
            if wait > 0 {
                assert_eq!(l.totp_gate("7", at), Err(TotpWait::Backoff(wait)));
            }
            // A correct password is not a correct code: nothing here clears the count.
            l.succeeded("admin@x");
            at += wait;
        }
        assert_eq!(l.totp_failed("7", at), TOTP_LOCK_AFTER);
        assert_eq!(l.totp_gate("7", at + 3599), Err(TotpWait::Locked(1)));
        assert_eq!(l.totp_gate("7", at + 3600), Ok(()));
        assert_eq!(l.totp_failed("7", at + 3600), TOTP_LOCK_AFTER + 1);
        assert_eq!(l.totp_gate("7", at + 3600 + 7199), Err(TotpWait::Locked(1)), "each further code doubles the lock");
        assert_eq!(l.totp_gate("8", at), Ok(()), "other accounts are not affected");
        l.totp_succeeded("7");
        assert_eq!(l.totp_gate("7", at), Ok(()));
        // Guessing 6 digits at this pace: at most ~24 codes a day once locked.
    }
}
