//! Protection state that must outlive a process and be shared with the admin CLI: smart
//! lockout counters, familiar client addresses, the rolling recipient quota and the
//! per-organisation limit overrides.
//!
//! Smart lockout works like Entra's: after `threshold` failed attempts within `window_secs` the
//! user name is locked for `base_secs`, doubling on each further lockout up to `max_secs`. A
//! client address from which the name authenticated successfully within `familiar_secs` is a
//! *familiar location* and keeps its own counter, so failures from elsewhere do not lock the
//! user out there. Names are counted whether or not the user exists, so the lockout's timing
//! says nothing about which users exist. While a name is locked, attempts are not counted and
//! the AUTH path computes no hash at all.

use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

use crate::Result;

/// Seconds in the rolling recipient window.
pub const DAY_SECS: i64 = 24 * 60 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockoutPolicy {
    /// Failed attempts within `window_secs` that lock the name.
    pub threshold: u32,
    pub window_secs: i64,
    /// The first lockout's duration; each further one doubles it.
    pub base_secs: i64,
    /// Upper bound of the doubling.
    pub max_secs: i64,
    /// How long a successful sign-in makes its client address familiar.
    pub familiar_secs: i64,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy { threshold: 10, window_secs: 3600, base_secs: 60, max_secs: 3600, familiar_secs: 14 * DAY_SECS }
    }
}

/// What the AUTH path learns before verifying a credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockoutStatus {
    /// Unix seconds until which the name is locked for this client address, if it is.
    pub locked_until: Option<i64>,
    /// True when the failure just recorded is the one that locked the name.
    pub newly_locked: bool,
    /// Whether the client address is a familiar location of this name.
    pub familiar: bool,
}

/// One lockout counter, for `user show` and the troubleshooter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockoutEntry {
    /// `None` = unfamiliar locations; `Some(ip)` = that familiar client address.
    pub location: Option<String>,
    pub failures: u32,
    pub first_failure_at: i64,
    /// Unix seconds; in the past (or 0) when not locked now.
    pub locked_until: i64,
    pub lockouts: u32,
}

/// Per-organisation overrides of the server's limits. `None` = the server's configured value.
/// In a change passed to [`crate::Directory::set_org_limits`], `None` leaves a value as it is
/// and `Some(0)` clears the override.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OrgLimits {
    pub max_message_size: Option<u64>,
    pub max_recipients: Option<u64>,
    pub daily_recipients: Option<u64>,
    pub max_sessions: Option<u64>,
}

/// The stored form of a user name for lockout: trimmed, lower-case, bounded.
pub fn lockout_name(name: &str) -> String {
    name.trim().to_lowercase().chars().take(320).collect()
}

/// Duration of the `n`-th lockout in a row (n >= 1).
pub fn lockout_duration(policy: &LockoutPolicy, n: u32) -> i64 {
    let shift = n.saturating_sub(1).min(30);
    policy.base_secs.saturating_mul(1i64 << shift).min(policy.max_secs.max(policy.base_secs))
}

/// One lockout counter as stored, per name and location.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counter {
    pub failures: i64,
    pub first_failure_at: i64,
    pub locked_until: i64,
    pub lockouts: i64,
}

/// The smart-lockout rule, shared by every backend: the counter after one more failure at
/// `now`, and what the attempt learns; `None` while the name is locked (attempts during a
/// lockout are refused before any check and neither count nor extend it).
pub fn after_failure(
    stored: Option<Counter>,
    now: i64,
    policy: &LockoutPolicy,
    familiar: bool,
) -> Option<(Counter, LockoutStatus)> {
    let Counter { mut failures, first_failure_at: mut first, locked_until, mut lockouts } =
        stored.unwrap_or(Counter { failures: 0, first_failure_at: now, locked_until: 0, lockouts: 0 });
    if locked_until > now {
        return None;
    }
    if locked_until > 0 && now - locked_until > policy.window_secs {
        // A quiet window after the last lockout: the next one starts short again.
        lockouts = 0;
    }
    if failures == 0 || now - first > policy.window_secs {
        failures = 0;
        first = now;
    }
    failures += 1;
    let mut status = LockoutStatus { locked_until: None, newly_locked: false, familiar };
    let mut until = locked_until;
    if failures >= i64::from(policy.threshold.max(1)) {
        lockouts += 1;
        until = now + lockout_duration(policy, u32::try_from(lockouts).unwrap_or(u32::MAX));
        failures = 0;
        first = now;
        status = LockoutStatus { locked_until: Some(until), newly_locked: true, familiar };
    }
    Some((Counter { failures, first_failure_at: first, locked_until: until, lockouts }, status))
}

async fn location(
    conn: &mut sqlx::SqliteConnection,
    name: &str,
    ip: &str,
    now: i64,
    policy: &LockoutPolicy,
) -> Result<(String, bool)> {
    let familiar_since = now - policy.familiar_secs;
    let familiar = sqlx::query_scalar!(
        "SELECT last_success_at FROM familiar_locations WHERE name = ? AND client_ip = ? AND last_success_at >= ?",
        name,
        ip,
        familiar_since
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match familiar {
        Some(_) => (ip.to_string(), true),
        None => (String::new(), false),
    })
}

pub(crate) async fn lockout_status(
    pool: &SqlitePool,
    name: &str,
    ip: &str,
    now: i64,
    policy: &LockoutPolicy,
) -> Result<LockoutStatus> {
    let name = lockout_name(name);
    let mut conn = pool.acquire().await?;
    let (loc, familiar) = location(&mut conn, &name, ip, now, policy).await?;
    let until = sqlx::query_scalar!("SELECT locked_until FROM lockout WHERE name = ? AND location = ?", name, loc)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(LockoutStatus { locked_until: until.filter(|u| *u > now), newly_locked: false, familiar })
}

pub(crate) async fn record_failure(
    pool: &SqlitePool,
    name: &str,
    ip: &str,
    now: i64,
    policy: &LockoutPolicy,
) -> Result<LockoutStatus> {
    let name = lockout_name(name);
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let (loc, familiar) = location(&mut tx, &name, ip, now, policy).await?;
    let stored = sqlx::query_as!(
        Counter,
        "SELECT failures, first_failure_at, locked_until, lockouts FROM lockout WHERE name = ? AND location = ?",
        name,
        loc
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some((next, status)) = after_failure(stored, now, policy, familiar) else {
        tx.commit().await?;
        return Ok(LockoutStatus { locked_until: stored.map(|c| c.locked_until), newly_locked: false, familiar });
    };
    let Counter { failures, first_failure_at: first, locked_until: until, lockouts } = next;
    sqlx::query!(
        "INSERT INTO lockout (name, location, failures, first_failure_at, locked_until, lockouts) \
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name, location) DO UPDATE SET failures = excluded.failures, \
         first_failure_at = excluded.first_failure_at, locked_until = excluded.locked_until, \
         lockouts = excluded.lockouts",
        name,
        loc,
        failures,
        first,
        until,
        lockouts
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(status)
}

pub(crate) async fn record_success(
    pool: &SqlitePool,
    name: &str,
    ip: &str,
    now: i64,
    policy: &LockoutPolicy,
) -> Result<()> {
    let name = lockout_name(name);
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let (loc, _) = location(&mut tx, &name, ip, now, policy).await?;
    sqlx::query!("DELETE FROM lockout WHERE name = ? AND location = ?", name, loc).execute(&mut *tx).await?;
    sqlx::query!(
        "INSERT INTO familiar_locations (name, client_ip, last_success_at) VALUES (?, ?, ?) \
         ON CONFLICT (name, client_ip) DO UPDATE SET last_success_at = excluded.last_success_at",
        name,
        ip,
        now
    )
    .execute(&mut *tx)
    .await?;
    let familiar_since = now - policy.familiar_secs;
    sqlx::query!("DELETE FROM familiar_locations WHERE name = ? AND last_success_at < ?", name, familiar_since)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Clears every counter of the name; returns how many locations were locked at `now`.
pub(crate) async fn unlock(pool: &SqlitePool, name: &str, now: i64) -> Result<u64> {
    let name = lockout_name(name);
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let locked = sqlx::query_scalar!(
        r#"SELECT COUNT(*) AS "locked!: i64" FROM lockout WHERE name = ? AND locked_until > ?"#,
        name,
        now
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!("DELETE FROM lockout WHERE name = ?", name).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(u64::try_from(locked).unwrap_or(0))
}

pub(crate) async fn lockouts(pool: &SqlitePool, name: &str) -> Result<Vec<LockoutEntry>> {
    let name = lockout_name(name);
    let rows = sqlx::query!(
        "SELECT location, failures, first_failure_at, locked_until, lockouts FROM lockout WHERE name = ? \
         ORDER BY location",
        name
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| LockoutEntry {
            location: (!r.location.is_empty()).then_some(r.location),
            failures: u32::try_from(r.failures).unwrap_or(0),
            first_failure_at: r.first_failure_at,
            locked_until: r.locked_until,
            lockouts: u32::try_from(r.lockouts).unwrap_or(0),
        })
        .collect())
}

pub(crate) async fn recipients_since(pool: &SqlitePool, address: &str, since: i64) -> Result<u64> {
    let address = address.trim().to_lowercase();
    // NULL when no row is in the window.
    let sum = sqlx::query_scalar!(
        r#"SELECT SUM(recipients) AS "sum?: i64" FROM recipient_usage WHERE address = ? AND at > ?"#,
        address,
        since
    )
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(sum.unwrap_or(0)).unwrap_or(0))
}

/// Usage is kept per mailbox and minute: one row per minute with traffic (at most 1,440 in the
/// window), so neither the sum on MAIL FROM nor the table grows with the number of messages.
/// A message counts from the start of its minute, so it leaves the window up to 59 s early.
pub(crate) async fn record_recipients(pool: &SqlitePool, address: &str, at: i64, count: u32) -> Result<()> {
    record_recipients_batch(pool, &[(address.to_string(), at, count)]).await
}

/// Several quota additions in one transaction (the server's quota writer folds a burst).
pub(crate) async fn record_recipients_batch(pool: &SqlitePool, batch: &[(String, i64, u32)]) -> Result<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    for (address, at, count) in batch {
        add_recipients(&mut tx, address, *at, *count).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn add_recipients(conn: &mut sqlx::SqliteConnection, address: &str, at: i64, count: u32) -> Result<()> {
    let address = address.trim().to_lowercase();
    let minute = at - at.rem_euclid(60);
    let count = i64::from(count);
    let updated = sqlx::query!(
        "UPDATE recipient_usage SET recipients = recipients + ? WHERE rowid = \
         (SELECT rowid FROM recipient_usage WHERE address = ? AND at = ? LIMIT 1)",
        count,
        address,
        minute
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if updated == 0 {
        sqlx::query!("INSERT INTO recipient_usage (address, at, recipients) VALUES (?, ?, ?)", address, minute, count)
            .execute(&mut *conn)
            .await?;
        // A new minute: the oldest ones leave the window (once a minute, not per message).
        let window_start = minute - DAY_SECS;
        sqlx::query!("DELETE FROM recipient_usage WHERE address = ? AND at <= ?", address, window_start)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

fn opt_u64(v: Option<i64>) -> Option<u64> {
    v.and_then(|v| u64::try_from(v).ok())
}

pub(crate) async fn org_limits(pool: &SqlitePool, org: &str) -> Result<Option<OrgLimits>> {
    let name = org.trim();
    let row = sqlx::query!(
        "SELECT max_message_size, max_recipients, daily_recipients, max_sessions FROM orgs WHERE name = ?",
        name
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| OrgLimits {
        max_message_size: opt_u64(r.max_message_size),
        max_recipients: opt_u64(r.max_recipients),
        daily_recipients: opt_u64(r.daily_recipients),
        max_sessions: opt_u64(r.max_sessions),
    }))
}

pub(crate) async fn set_org_limits(pool: &SqlitePool, org: &str, change: OrgLimits) -> Result<Option<OrgLimits>> {
    // Per limit: whether the change sets it, and the stored value (NULL clears the override).
    let set =
        |value: Option<u64>| (value.is_some(), value.filter(|v| *v > 0).map(|v| i64::try_from(v).unwrap_or(i64::MAX)));
    let (size_set, size) = set(change.max_message_size);
    let (recipients_set, recipients) = set(change.max_recipients);
    let (daily_set, daily) = set(change.daily_recipients);
    let (sessions_set, sessions) = set(change.max_sessions);
    let name = org.trim();
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::query!(
        "UPDATE orgs SET max_message_size = CASE WHEN ? THEN ? ELSE max_message_size END, \
         max_recipients = CASE WHEN ? THEN ? ELSE max_recipients END, \
         daily_recipients = CASE WHEN ? THEN ? ELSE daily_recipients END, \
         max_sessions = CASE WHEN ? THEN ? ELSE max_sessions END WHERE name = ?",
        size_set,
        size,
        recipients_set,
        recipients,
        daily_set,
        daily,
        sessions_set,
        sessions,
        name
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    org_limits(pool, org).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteDirectory;
    use crate::Directory;

    const T0: i64 = 1_800_000_000;

    async fn dir() -> SqliteDirectory {
        SqliteDirectory::open_in_memory().await.unwrap()
    }

    #[tokio::test]
    async fn ten_failures_lock_for_a_minute_then_doubling() {
        let d = dir().await;
        let p = LockoutPolicy::default();
        for i in 0..9 {
            let s = d.record_auth_failure("Victim@Contoso.com", "203.0.113.9", T0 + i, &p).await.unwrap();
            assert_eq!(s.locked_until, None, "failure {i}");
        }
        let s = d.record_auth_failure("victim@contoso.com", "203.0.113.9", T0 + 9, &p).await.unwrap();
        assert!(s.newly_locked);
        assert_eq!(s.locked_until, Some(T0 + 9 + 60));
        // Locked for every unfamiliar address, and attempts while locked do not extend it.
        let st = d.lockout_status("victim@contoso.com", "198.51.100.7", T0 + 30, &p).await.unwrap();
        assert_eq!(st.locked_until, Some(T0 + 69));
        let again = d.record_auth_failure("victim@contoso.com", "198.51.100.7", T0 + 31, &p).await.unwrap();
        assert_eq!((again.locked_until, again.newly_locked), (Some(T0 + 69), false));
        assert_eq!(
            d.lockout_status("victim@contoso.com", "198.51.100.7", T0 + 69, &p).await.unwrap().locked_until,
            None
        );
        // The second lockout in a row lasts twice as long.
        let mut last = LockoutStatus::default();
        for i in 0..10 {
            last = d.record_auth_failure("victim@contoso.com", "198.51.100.7", T0 + 100 + i, &p).await.unwrap();
        }
        assert_eq!(last.locked_until, Some(T0 + 109 + 120));
    }

    #[test]
    fn lockout_duration_doubles_up_to_the_cap() {
        let p = LockoutPolicy::default();
        let d: Vec<i64> = (1..=8).map(|n| lockout_duration(&p, n)).collect();
        assert_eq!(d, [60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(lockout_duration(&p, u32::MAX), 3600);
    }

    #[tokio::test]
    async fn a_familiar_address_keeps_its_own_count() {
        let d = dir().await;
        let p = LockoutPolicy::default();
        d.record_auth_success("user@contoso.com", "192.0.2.10", T0, &p).await.unwrap();
        for i in 0..10 {
            d.record_auth_failure("user@contoso.com", "203.0.113.66", T0 + 10 + i, &p).await.unwrap();
        }
        let attacker = d.lockout_status("user@contoso.com", "203.0.113.66", T0 + 25, &p).await.unwrap();
        assert!(attacker.locked_until.is_some() && !attacker.familiar);
        let home = d.lockout_status("user@contoso.com", "192.0.2.10", T0 + 25, &p).await.unwrap();
        assert_eq!(home.locked_until, None);
        assert!(home.familiar);
        // Familiarity expires after the configured time.
        let later = T0 + p.familiar_secs + 1;
        assert!(!d.lockout_status("user@contoso.com", "192.0.2.10", later, &p).await.unwrap().familiar);
        let entries = d.lockouts("USER@contoso.com").await.unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].location, None);
    }

    #[tokio::test]
    async fn failures_outside_the_window_start_over_and_unlock_clears() {
        let d = dir().await;
        let p = LockoutPolicy { window_secs: 100, ..LockoutPolicy::default() };
        for i in 0..9 {
            d.record_auth_failure("nobody@contoso.com", "203.0.113.1", T0 + i, &p).await.unwrap();
        }
        // The tenth failure comes after the window: the count starts over.
        let s = d.record_auth_failure("nobody@contoso.com", "203.0.113.1", T0 + 500, &p).await.unwrap();
        assert_eq!(s.locked_until, None);
        for i in 0..9 {
            d.record_auth_failure("nobody@contoso.com", "203.0.113.1", T0 + 501 + i, &p).await.unwrap();
        }
        assert!(d
            .lockout_status("nobody@contoso.com", "203.0.113.1", T0 + 520, &p)
            .await
            .unwrap()
            .locked_until
            .is_some());
        assert_eq!(d.unlock("Nobody@Contoso.com", T0 + 520).await.unwrap(), 1);
        assert_eq!(
            d.lockout_status("nobody@contoso.com", "203.0.113.1", T0 + 521, &p).await.unwrap().locked_until,
            None
        );
        assert_eq!(d.unlock("nobody@contoso.com", T0 + 521).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn recipient_usage_rolls_over_a_day() {
        let d = dir().await;
        d.record_recipients("a@contoso.com", T0, 400).await.unwrap();
        d.record_recipients("A@contoso.com", T0 + 3600, 100).await.unwrap();
        d.record_recipients("b@contoso.com", T0 + 3600, 7).await.unwrap();
        assert_eq!(d.recipients_since("a@contoso.com", T0 + 3600 - DAY_SECS).await.unwrap(), 500);
        // A day after the first message, only the second counts.
        assert_eq!(d.recipients_since("a@contoso.com", T0 + DAY_SECS - DAY_SECS + 1).await.unwrap(), 100);
    }

    #[tokio::test]
    async fn org_limits_override_and_clear() {
        let d = dir().await;
        d.create_org("Contoso", &["contoso.com".to_string()]).await.unwrap();
        assert_eq!(d.org_limits("contoso").await.unwrap(), OrgLimits::default());
        let set = d
            .set_org_limits(
                "Contoso",
                OrgLimits { max_sessions: Some(5), daily_recipients: Some(20), ..Default::default() },
            )
            .await
            .unwrap();
        assert_eq!((set.max_sessions, set.daily_recipients, set.max_recipients), (Some(5), Some(20), None));
        let cleared =
            d.set_org_limits("Contoso", OrgLimits { max_sessions: Some(0), ..Default::default() }).await.unwrap();
        assert_eq!((cleared.max_sessions, cleared.daily_recipients), (None, Some(20)));
        assert!(matches!(d.org_limits("Nope").await, Err(crate::DirectoryError::UnknownOrg(_))));
    }
}
