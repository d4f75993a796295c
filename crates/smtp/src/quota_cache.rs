//! What each mailbox has used of its rolling 24-hour recipient quota, kept in memory so a MAIL
//! FROM does not read the directory every time.
//!
//! The directory stays the record (it survives restarts); this cache only spares the reads. An
//! entry is the directory's figure at load time plus every count this process wrote since, so
//! it is exact for writes made here, counted from the moment they are started (the session does
//! not wait for the directory before its next command). It is reloaded after [`REFRESH_SECS`],
//! which is how counts leaving the 24-hour window show up (late, so the quota errs on the strict
//! side), but never while a write is still under way, and a reload that raced with a write is
//! not stored, so a write is never forgotten.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Seconds an entry is trusted before the directory is asked again (the quota's buckets are per
/// minute, so nothing finer is lost).
pub const REFRESH_SECS: i64 = 60;
/// Beyond this many mailboxes the cache starts over rather than grow without bound.
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct QuotaCache {
    entries: Mutex<HashMap<String, Entry>>,
}

struct Entry {
    used: u64,
    loaded_at: i64,
    /// Bumped by every write, so a reload can tell it raced with one.
    writes: u64,
    /// Writes started and not yet in the directory.
    in_flight: u64,
    /// Recipients accepted by open transactions and not yet counted (see [`Hold`]): what keeps
    /// concurrent sessions of one mailbox from each spending the same remaining quota.
    held: u64,
}

/// Recipients an open transaction holds against a mailbox's quota; released when dropped (the
/// message was accepted and counted, or the transaction ended without it).
pub struct Hold {
    cache: Arc<QuotaCache>,
    address: String,
    count: u64,
}

impl std::fmt::Debug for Hold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hold").field("address", &self.address).field("count", &self.count).finish()
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut entries = self.cache.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = entries.get_mut(&self.address) {
            e.held = e.held.saturating_sub(self.count);
        }
    }
}

/// Taken before reading the directory; hands the figure to [`QuotaCache::store`].
pub struct Ticket {
    writes: u64,
}

impl QuotaCache {
    /// The cached figure for `address` if loaded less than [`REFRESH_SECS`] ago (by the same
    /// clock as `now`), else a ticket for a reload.
    pub fn used(&self, address: &str, now: i64) -> Result<u64, Ticket> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(address) {
            Some(e) if e.in_flight > 0 || (0..REFRESH_SECS).contains(&(now - e.loaded_at)) => Ok(e.used),
            Some(e) => Err(Ticket { writes: e.writes }),
            None => Err(Ticket { writes: 0 }),
        }
    }

    /// Stores a figure read from the directory, unless a write happened since the ticket.
    pub fn store(&self, address: &str, used: u64, now: i64, ticket: Ticket) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let writes = entries.get(address).map_or(0, |e| e.writes);
        if writes != ticket.writes {
            return;
        }
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(address) {
            entries.clear();
        }
        let held = entries.get(address).map_or(0, |e| e.held);
        entries.insert(address.to_string(), Entry { used, loaded_at: now, writes, in_flight: 0, held });
    }

    /// Holds one more recipient against every quota in `quotas` (key and limit), or none of
    /// them: false when, counting what open transactions hold, one of them is spent. `holds`
    /// keeps this transaction's holds (one per key, made on first use). A key never loaded has
    /// nothing to hold against and is skipped (the caller loads them first).
    pub fn hold(self: &Arc<Self>, quotas: &[(String, u64)], holds: &mut Vec<Hold>) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let full =
            quotas.iter().any(|(key, limit)| entries.get(key).is_some_and(|e| e.used.saturating_add(e.held) >= *limit));
        if full {
            return false;
        }
        for (key, _) in quotas {
            let Some(e) = entries.get_mut(key) else { continue };
            e.held += 1;
            match holds.iter_mut().find(|h| h.address == *key) {
                Some(h) => h.count += 1,
                None => holds.push(Hold { cache: self.clone(), address: key.clone(), count: 1 }),
            }
        }
        true
    }

    /// Counts `count` for `address` from now on; call [`QuotaCache::settled`] once the directory
    /// has it (or failed to take it).
    pub fn started(&self, address: &str, count: u64) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = entries.get_mut(address) {
            e.used += count;
            e.writes += 1;
            e.in_flight += 1;
        }
    }

    /// A write begun by [`QuotaCache::started`] has ended.
    pub fn settled(&self, address: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = entries.get_mut(address) {
            e.in_flight = e.in_flight.saturating_sub(1);
        }
    }

    /// Adds `count` already written to the directory for `address`.
    pub fn add(&self, address: &str, count: u64) {
        self.started(address, count);
        self.settled(address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_until_refresh_then_reloaded() {
        let cache = QuotaCache::default();
        let ticket = cache.used("a@x", 100).unwrap_err();
        cache.store("a@x", 7, 100, ticket);
        assert_eq!(cache.used("a@x", 100).ok(), Some(7));
        cache.add("a@x", 3);
        assert_eq!(cache.used("a@x", 100 + REFRESH_SECS - 1).ok(), Some(10));
        assert!(cache.used("a@x", 100 + REFRESH_SECS).is_err());
        // A clock that went back is not trusted either.
        assert!(cache.used("a@x", 99).is_err());
        assert!(cache.used("b@x", 100).is_err(), "other mailboxes are separate");
    }

    #[test]
    fn a_reload_that_raced_with_a_write_is_not_stored() {
        let cache = QuotaCache::default();
        let first = cache.used("a@x", 0).unwrap_err();
        cache.store("a@x", 5, 0, first);
        let stale = cache.used("a@x", REFRESH_SECS).unwrap_err();
        // A write lands while the reload reads the directory (which did not see it yet).
        cache.add("a@x", 2);
        cache.store("a@x", 5, REFRESH_SECS, stale);
        assert_eq!(cache.used("a@x", 1).ok(), Some(7), "the write is kept");
    }

    #[test]
    fn holds_share_the_remaining_quota_and_free_it_when_dropped() {
        let cache = Arc::new(QuotaCache::default());
        let first = cache.used("a@x", 0).unwrap_err();
        cache.store("a@x", 7, 0, first);
        let a = [("a@x".to_string(), 10)];
        // Three open transactions, 10 allowed, 7 used: three recipients in all, whoever asks.
        let mut holds: Vec<Vec<Hold>> = (0..3).map(|_| vec![]).collect();
        let mut granted = 0;
        for _ in 0..3 {
            for h in holds.iter_mut() {
                granted += usize::from(cache.hold(&a, h));
            }
        }
        assert_eq!(granted, 3);
        // A reload keeps what is held.
        let stale = cache.used("a@x", REFRESH_SECS).unwrap_err();
        cache.store("a@x", 7, REFRESH_SECS, stale);
        assert!(!cache.hold(&a, &mut vec![]));
        // The first transaction's message is accepted: counted, then its hold released.
        cache.add("a@x", holds[0][0].count);
        holds[0].clear();
        assert!(!cache.hold(&a, &mut vec![]), "counted now, still full");
        // Another transaction ends without its message: its hold frees a place.
        holds[1].clear();
        assert!(cache.hold(&a, &mut holds[2]));
    }

    #[test]
    fn a_hold_takes_every_quota_or_none() {
        let cache = Arc::new(QuotaCache::default());
        for (key, used) in [("sender@x", 0), ("connector:floor2", 9)] {
            let t = cache.used(key, 0).unwrap_err();
            cache.store(key, used, 0, t);
        }
        let both = [("sender@x".to_string(), 5), ("connector:floor2".to_string(), 10)];
        let mut holds = vec![];
        assert!(cache.hold(&both, &mut holds));
        // The connector's total is spent: refused, and the sender's quota is not touched.
        assert!(!cache.hold(&both, &mut holds));
        assert_eq!(holds.iter().map(|h| h.count).collect::<Vec<_>>(), [1, 1]);
        let other = [("other@x".to_string(), 5), ("connector:floor2".to_string(), 10)];
        assert!(!cache.hold(&other, &mut vec![]), "another sender shares the connector's total");
        drop(holds);
        assert!(cache.hold(&other, &mut vec![]));
    }

    #[test]
    fn no_reload_while_a_write_is_under_way() {
        let cache = QuotaCache::default();
        let first = cache.used("a@x", 0).unwrap_err();
        cache.store("a@x", 5, 0, first);
        cache.started("a@x", 3);
        // Stale by age, but the directory may not have the 3 yet: the cache keeps answering.
        assert_eq!(cache.used("a@x", 10 * REFRESH_SECS).ok(), Some(8));
        cache.settled("a@x");
        assert!(cache.used("a@x", 10 * REFRESH_SECS).is_err(), "then it reloads");
    }
}
