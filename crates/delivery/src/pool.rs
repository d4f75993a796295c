//! Idle SMTP connections kept for the next message to the same destination (Postfix's
//! connection cache): a delivery takes one instead of connecting, greeting, starting TLS and
//! authenticating again.
//!
//! The pool only stores and hands out; it never talks SMTP. It is generic over the connection
//! type and takes the current time as an argument, so its bounds are tested without sockets.
//! Bounds: at most `max_idle` idle connections per destination, each idle for at most
//! `idle_timeout`, and used for at most `max_messages` transactions. Whatever falls out (expired,
//! used up, over the limit) is handed back to the caller, which ends it with QUIT.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::config::TlsMode;

/// What a connection was opened for; only a connection with the same key is reused.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Destination {
    pub route: usize,
    pub host: String,
    pub addr: SocketAddr,
    pub tls: TlsMode,
    /// The user signed in as (None: no AUTH).
    pub identity: Option<String>,
}

/// A connection and the number of transactions it has carried.
#[derive(Debug)]
pub struct Pooled<C> {
    pub conn: C,
    pub used: u32,
}

struct Idle<C> {
    pooled: Pooled<C>,
    since: Instant,
}

pub struct Pool<K, C> {
    idle_timeout: Duration,
    max_idle: usize,
    max_messages: u32,
    idle: Mutex<HashMap<K, Vec<Idle<C>>>>,
}

impl<K: Eq + Hash + Clone, C> Pool<K, C> {
    /// `idle_timeout` zero: nothing is ever kept. `max_idle` and `max_messages` are at least 1.
    pub fn new(idle_timeout: Duration, max_idle: usize, max_messages: u32) -> Self {
        Pool { idle_timeout, max_idle: max_idle.max(1), max_messages: max_messages.max(1), idle: Mutex::default() }
    }

    pub fn enabled(&self) -> bool {
        !self.idle_timeout.is_zero() && self.max_messages > 1
    }

    /// The most recently returned idle connection for `key` that has not expired (the others
    /// may then expire and close), plus the expired ones found on the way, to be closed.
    pub fn take(&self, key: &K, now: Instant) -> (Option<Pooled<C>>, Vec<C>) {
        let mut idle = self.idle.lock().unwrap();
        let Some(list) = idle.get_mut(key) else { return (None, vec![]) };
        let mut expired = vec![];
        let mut found = None;
        while let Some(entry) = list.pop() {
            if self.is_expired(&entry, now) {
                expired.push(entry.pooled.conn);
            } else {
                found = Some(entry.pooled);
                break;
            }
        }
        // The list is ordered by return time: everything older than an expired entry expired too.
        let cut = list.iter().rposition(|e| self.is_expired(e, now)).map_or(0, |i| i + 1);
        expired.extend(list.drain(..cut).map(|e| e.pooled.conn));
        if list.is_empty() {
            idle.remove(key);
        }
        (found, expired)
    }

    /// Returns a connection after a clean transaction (`used` already counts it). Gives back
    /// what must be closed: this connection when it is used up or reuse is off, or the oldest
    /// idle one when `key` already has `max_idle`.
    pub fn put(&self, key: K, pooled: Pooled<C>, now: Instant) -> Option<C> {
        if !self.enabled() || pooled.used >= self.max_messages {
            return Some(pooled.conn);
        }
        let mut idle = self.idle.lock().unwrap();
        let list = idle.entry(key).or_default();
        list.push(Idle { pooled, since: now });
        (list.len() > self.max_idle).then(|| list.remove(0).pooled.conn)
    }

    /// Takes out every expired connection, to be closed.
    pub fn sweep(&self, now: Instant) -> Vec<C> {
        let mut idle = self.idle.lock().unwrap();
        let mut expired = vec![];
        idle.retain(|_, list| {
            let cut = list.iter().rposition(|e| self.is_expired(e, now)).map_or(0, |i| i + 1);
            expired.extend(list.drain(..cut).map(|e| e.pooled.conn));
            !list.is_empty()
        });
        expired
    }

    /// Takes out every idle connection (at shutdown), to be closed.
    pub fn drain(&self) -> Vec<C> {
        self.idle.lock().unwrap().drain().flat_map(|(_, list)| list.into_iter().map(|e| e.pooled.conn)).collect()
    }

    /// When the next idle connection expires; None when nothing is idle.
    pub fn next_expiry(&self) -> Option<Instant> {
        let idle = self.idle.lock().unwrap();
        idle.values().filter_map(|list| list.first()).map(|e| e.since + self.idle_timeout).min()
    }

    pub fn idle_count(&self) -> usize {
        self.idle.lock().unwrap().values().map(Vec::len).sum()
    }

    fn is_expired(&self, entry: &Idle<C>, now: Instant) -> bool {
        now.saturating_duration_since(entry.since) >= self.idle_timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pooled(n: u32, used: u32) -> Pooled<u32> {
        Pooled { conn: n, used }
    }

    #[test]
    fn a_returned_connection_is_taken_again_for_the_same_key_only() {
        let pool: Pool<&str, u32> = Pool::new(Duration::from_secs(5), 4, 100);
        let t = Instant::now();
        assert!(pool.put("a", pooled(1, 1), t).is_none());
        let (none, closed) = pool.take(&"b", t);
        assert!(none.is_none() && closed.is_empty());
        let (got, closed) = pool.take(&"a", t + Duration::from_secs(1));
        assert_eq!(got.map(|p| (p.conn, p.used)), Some((1, 1)));
        assert!(closed.is_empty());
        assert!(pool.take(&"a", t).0.is_none(), "a connection is handed out once");
    }

    #[test]
    fn idle_connections_expire_after_the_idle_time() {
        let pool: Pool<&str, u32> = Pool::new(Duration::from_secs(5), 4, 100);
        let t = Instant::now();
        pool.put("a", pooled(1, 1), t);
        pool.put("a", pooled(2, 1), t + Duration::from_secs(3));
        assert_eq!(pool.next_expiry(), Some(t + Duration::from_secs(5)));
        // At 6 s the first has expired, the second (idle 3 s) has not.
        assert_eq!(pool.sweep(t + Duration::from_secs(4)), Vec::<u32>::new());
        assert_eq!(pool.sweep(t + Duration::from_secs(6)), vec![1]);
        assert_eq!(pool.idle_count(), 1);
        assert_eq!(pool.next_expiry(), Some(t + Duration::from_secs(8)));
        // A take after its expiry hands out nothing, and the expired one to close.
        let (got, closed) = pool.take(&"a", t + Duration::from_secs(8));
        assert!(got.is_none());
        assert_eq!(closed, vec![2]);
        assert_eq!(pool.idle_count(), 0);
        assert_eq!(pool.next_expiry(), None);
    }

    #[test]
    fn take_prefers_the_newest_and_closes_the_expired_ones() {
        let pool: Pool<&str, u32> = Pool::new(Duration::from_secs(5), 4, 100);
        let t = Instant::now();
        pool.put("a", pooled(1, 1), t);
        pool.put("a", pooled(2, 1), t + Duration::from_secs(1));
        pool.put("a", pooled(3, 1), t + Duration::from_secs(4));
        let (got, closed) = pool.take(&"a", t + Duration::from_millis(5500));
        assert_eq!(got.map(|p| p.conn), Some(3));
        assert_eq!(closed, vec![1], "expired while idle, closed on the way");
        assert_eq!(pool.idle_count(), 1);
    }

    #[test]
    fn a_connection_carries_at_most_max_messages() {
        let pool: Pool<&str, u32> = Pool::new(Duration::from_secs(5), 4, 3);
        let t = Instant::now();
        assert!(pool.put("a", pooled(1, 2), t).is_none());
        let taken = pool.take(&"a", t).0.unwrap();
        assert_eq!(pool.put("a", Pooled { conn: taken.conn, used: taken.used + 1 }, t), Some(1), "used up: close it");
        assert_eq!(pool.idle_count(), 0);
    }

    #[test]
    fn at_most_max_idle_per_destination_the_oldest_is_closed() {
        let pool: Pool<&str, u32> = Pool::new(Duration::from_secs(5), 2, 100);
        let t = Instant::now();
        assert_eq!(pool.put("a", pooled(1, 1), t), None);
        assert_eq!(pool.put("a", pooled(2, 1), t), None);
        assert_eq!(pool.put("b", pooled(3, 1), t), None, "another destination has its own limit");
        assert_eq!(pool.put("a", pooled(4, 1), t), Some(1));
        assert_eq!(pool.idle_count(), 3);
        let mut all = pool.drain();
        all.sort();
        assert_eq!(all, vec![2, 3, 4]);
    }

    #[test]
    fn zero_idle_time_or_one_message_per_connection_turns_reuse_off() {
        let t = Instant::now();
        let off: Pool<&str, u32> = Pool::new(Duration::ZERO, 4, 100);
        assert!(!off.enabled());
        assert_eq!(off.put("a", pooled(1, 1), t), Some(1));
        let single: Pool<&str, u32> = Pool::new(Duration::from_secs(5), 4, 1);
        assert!(!single.enabled());
        assert_eq!(single.put("a", pooled(1, 1), t), Some(1));
        assert!(single.take(&"a", t).0.is_none());
    }
}
