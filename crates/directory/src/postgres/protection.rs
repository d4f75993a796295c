//! Lockout counters, familiar locations, the recipient quota and per-organisation limits on
//! PostgreSQL. The rule itself is [`crate::protection::after_failure`], shared with SQLite; what
//! is particular here is the locking: one name's counters are changed under that name's
//! advisory lock, so failures spread over several nodes are all counted.

use sqlx::postgres::{PgConnection, PgPool};

use super::LOCK_LOCKOUT_NAME;
use crate::protection::{after_failure, lockout_name, Counter, DAY_SECS};
use crate::{LockoutEntry, LockoutPolicy, LockoutStatus, OrgLimits, Result};

async fn location(
    conn: &mut PgConnection,
    name: &str,
    ip: &str,
    now: i64,
    policy: &LockoutPolicy,
) -> Result<(String, bool)> {
    let familiar = sqlx::query_scalar!(
        "SELECT last_success_at FROM familiar_locations WHERE name = $1 AND client_ip = $2 AND last_success_at >= $3",
        name,
        ip,
        now - policy.familiar_secs,
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match familiar {
        Some(_) => (ip.to_string(), true),
        None => (String::new(), false),
    })
}

async fn lock_name(conn: &mut PgConnection, name: &str) -> Result<()> {
    sqlx::query!("SELECT pg_advisory_xact_lock($1, hashtext($2))", LOCK_LOCKOUT_NAME, name).execute(conn).await?;
    Ok(())
}

pub(super) async fn lockout_status(
    pool: &PgPool,
    name: &str,
    ip: &str,
    now: i64,
    policy: &LockoutPolicy,
) -> Result<LockoutStatus> {
    let name = lockout_name(name);
    let mut conn = pool.acquire().await?;
    let (loc, familiar) = location(&mut conn, &name, ip, now, policy).await?;
    let until = sqlx::query_scalar!("SELECT locked_until FROM lockout WHERE name = $1 AND location = $2", name, loc)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(LockoutStatus { locked_until: until.filter(|u| *u > now), newly_locked: false, familiar })
}

pub(super) async fn record_failure(
    pool: &PgPool,
    name: &str,
    ip: &str,
    now: i64,
    policy: &LockoutPolicy,
) -> Result<LockoutStatus> {
    let name = lockout_name(name);
    let mut tx = pool.begin().await?;
    lock_name(&mut tx, &name).await?;
    let (loc, familiar) = location(&mut tx, &name, ip, now, policy).await?;
    let stored = sqlx::query_as!(
        Counter,
        "SELECT failures, first_failure_at, locked_until, lockouts FROM lockout WHERE name = $1 AND location = $2",
        name,
        loc,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some((next, status)) = after_failure(stored, now, policy, familiar) else {
        tx.commit().await?;
        return Ok(LockoutStatus { locked_until: stored.map(|c| c.locked_until), newly_locked: false, familiar });
    };
    sqlx::query!(
        "INSERT INTO lockout (name, location, failures, first_failure_at, locked_until, lockouts) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name, location) DO UPDATE SET failures = excluded.failures, \
         first_failure_at = excluded.first_failure_at, locked_until = excluded.locked_until, \
         lockouts = excluded.lockouts",
        name,
        loc,
        next.failures,
        next.first_failure_at,
        next.locked_until,
        next.lockouts,
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(status)
}

pub(super) async fn record_success(
    pool: &PgPool,
    name: &str,
    ip: &str,
    now: i64,
    policy: &LockoutPolicy,
) -> Result<()> {
    let name = lockout_name(name);
    let mut tx = pool.begin().await?;
    lock_name(&mut tx, &name).await?;
    let (loc, _) = location(&mut tx, &name, ip, now, policy).await?;
    sqlx::query!("DELETE FROM lockout WHERE name = $1 AND location = $2", name, loc).execute(&mut *tx).await?;
    sqlx::query!(
        "INSERT INTO familiar_locations (name, client_ip, last_success_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name, client_ip) DO UPDATE SET last_success_at = excluded.last_success_at",
        name,
        ip,
        now,
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query!(
        "DELETE FROM familiar_locations WHERE name = $1 AND last_success_at < $2",
        name,
        now - policy.familiar_secs
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn unlock(pool: &PgPool, name: &str, now: i64) -> Result<u64> {
    let name = lockout_name(name);
    let mut tx = pool.begin().await?;
    lock_name(&mut tx, &name).await?;
    let locked = sqlx::query_scalar!(
        r#"SELECT COUNT(*) AS "locked!" FROM lockout WHERE name = $1 AND locked_until > $2"#,
        name,
        now
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!("DELETE FROM lockout WHERE name = $1", name).execute(&mut *tx).await?;
    tx.commit().await?;
    Ok(u64::try_from(locked).unwrap_or(0))
}

pub(super) async fn lockouts(pool: &PgPool, name: &str) -> Result<Vec<LockoutEntry>> {
    let rows = sqlx::query!(
        "SELECT location, failures, first_failure_at, locked_until, lockouts FROM lockout WHERE name = $1 \
         ORDER BY location",
        lockout_name(name),
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

pub(super) async fn recipients_since(pool: &PgPool, address: &str, since: i64) -> Result<u64> {
    let sum = sqlx::query_scalar!(
        "SELECT SUM(recipients)::BIGINT FROM recipient_usage WHERE address = $1 AND at > $2",
        address.trim().to_lowercase(),
        since,
    )
    .fetch_one(pool)
    .await?;
    Ok(u64::try_from(sum.unwrap_or(0)).unwrap_or(0))
}

/// One row per mailbox and minute, as in SQLite (`crate::protection`); nodes add to the same
/// row with an upsert. The whole batch is one statement (the quota writer sends one batch per
/// wake-up, often a single message), and the first addition of a minute to a mailbox prunes the
/// minutes that left the day.
pub(super) async fn record_recipients_batch(pool: &PgPool, batch: &[(String, i64, u32)]) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut folded: std::collections::BTreeMap<(String, i64), i64> = std::collections::BTreeMap::new();
    for (address, at, count) in batch {
        let minute = at - at.rem_euclid(60);
        *folded.entry((address.trim().to_lowercase(), minute)).or_default() += i64::from(*count);
    }
    let (keys, counts): (Vec<(String, i64)>, Vec<i64>) = folded.into_iter().unzip();
    let (addresses, minutes): (Vec<String>, Vec<i64>) = keys.into_iter().unzip();
    let fresh = sqlx::query!(
        r#"INSERT INTO recipient_usage (address, at, recipients)
             SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BIGINT[])
             ON CONFLICT (address, at) DO UPDATE SET recipients = recipient_usage.recipients + excluded.recipients
             RETURNING address, at, (xmax = 0) AS "inserted!""#,
        &addresses,
        &minutes,
        &counts,
    )
    .fetch_all(pool)
    .await?;
    for row in fresh.into_iter().filter(|r| r.inserted) {
        sqlx::query!("DELETE FROM recipient_usage WHERE address = $1 AND at <= $2", row.address, row.at - DAY_SECS)
            .execute(pool)
            .await?;
    }
    Ok(())
}

pub(super) async fn org_limits(pool: &PgPool, org: &str) -> Result<Option<OrgLimits>> {
    let row = sqlx::query!(
        "SELECT max_message_size, max_recipients, daily_recipients, max_sessions FROM orgs WHERE name = $1",
        org.trim(),
    )
    .fetch_optional(pool)
    .await?;
    let opt = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok());
    Ok(row.map(|r| OrgLimits {
        max_message_size: opt(r.max_message_size),
        max_recipients: opt(r.max_recipients),
        daily_recipients: opt(r.daily_recipients),
        max_sessions: opt(r.max_sessions),
    }))
}

pub(super) async fn set_org_limits(pool: &PgPool, org: &str, change: OrgLimits) -> Result<Option<OrgLimits>> {
    // Per limit: unset keeps the stored value, 0 removes it, anything else is the new value.
    let stored = |v: Option<u64>| v.map(|v| (v > 0).then(|| i64::try_from(v).unwrap_or(i64::MAX)));
    let [size, recipients, daily, sessions] =
        [change.max_message_size, change.max_recipients, change.daily_recipients, change.max_sessions].map(stored);
    sqlx::query!(
        "UPDATE orgs SET
            max_message_size = CASE WHEN $1 THEN $2 ELSE max_message_size END,
            max_recipients = CASE WHEN $3 THEN $4 ELSE max_recipients END,
            daily_recipients = CASE WHEN $5 THEN $6 ELSE daily_recipients END,
            max_sessions = CASE WHEN $7 THEN $8 ELSE max_sessions END
          WHERE name = $9",
        size.is_some(),
        size.flatten(),
        recipients.is_some(),
        recipients.flatten(),
        daily.is_some(),
        daily.flatten(),
        sessions.is_some(),
        sessions.flatten(),
        org.trim(),
    )
    .execute(pool)
    .await?;
    org_limits(pool, org).await
}
