//! Accepted submissions, counted per mailbox, UTC day, TLS version and credential kind, for the
//! SMTP AUTH clients report's "messages sent". The SMTP session hands each accepted message to a
//! batching writer (`crates/smtp/src/submissions.rs`), which adds the counts here in one
//! transaction per batch.

use serde::Serialize;
use sqlx::SqlitePool;

use crate::Result;

/// Seconds in a UTC day, the bucket width.
pub const DAY: i64 = 86_400;

/// Messages accepted in one bucket: mailbox, day, TLS version, credential kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubmissionCount {
    /// The authenticated mailbox (lower-case).
    pub user: String,
    /// Unix day number (unix seconds / 86400).
    pub day: i64,
    /// "TLSv1.3", "TLSv1.2" or "none".
    pub tls: String,
    /// The credential kind's spelling ("password", "app-password", "device-credential", …).
    pub credential: String,
    pub messages: u64,
    /// Unix seconds of the latest message in the bucket.
    pub last_at: i64,
}

pub(crate) async fn record(pool: &SqlitePool, batch: &[SubmissionCount]) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    for s in batch {
        let user = s.user.to_lowercase();
        let messages = i64::try_from(s.messages).unwrap_or(i64::MAX);
        sqlx::query!(
            "INSERT INTO submissions (user, day, tls, credential, messages, last_at) VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (user, day, tls, credential) DO UPDATE SET
               messages = messages + excluded.messages, last_at = max(last_at, excluded.last_at)",
            user,
            s.day,
            s.tls,
            s.credential,
            messages,
            s.last_at
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn since(pool: &SqlitePool, since: i64) -> Result<Vec<SubmissionCount>> {
    let first_day = since.div_euclid(DAY);
    let rows = sqlx::query!(
        "SELECT user, day, tls, credential, messages, last_at FROM submissions WHERE day >= ? ORDER BY user, day",
        first_day
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| SubmissionCount {
            user: r.user,
            day: r.day,
            tls: r.tls,
            credential: r.credential,
            messages: u64::try_from(r.messages).unwrap_or(0),
            last_at: r.last_at,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteDirectory;
    use crate::Directory;

    fn bucket(user: &str, day: i64, tls: &str, messages: u64, last_at: i64) -> SubmissionCount {
        SubmissionCount { user: user.into(), day, tls: tls.into(), credential: "password".into(), messages, last_at }
    }

    #[tokio::test]
    async fn batches_add_up_per_bucket_and_old_days_are_left_out() {
        let dir = SqliteDirectory::open_in_memory().await.unwrap();
        let today = 20_000;
        dir.record_submissions(&[
            bucket("Scanner@contoso.com", today, "TLSv1.3", 2, today * DAY + 10),
            bucket("scanner@contoso.com", today, "TLSv1.2", 1, today * DAY + 5),
            bucket("scanner@contoso.com", today - 30, "TLSv1.3", 7, (today - 30) * DAY),
        ])
        .await
        .unwrap();
        dir.record_submissions(&[bucket("scanner@contoso.com", today, "TLSv1.3", 3, today * DAY + 4)]).await.unwrap();
        let rows = dir.submissions_since(today * DAY - 7 * DAY).await.unwrap();
        assert_eq!(rows.len(), 2, "{rows:?}");
        let v13 = rows.iter().find(|r| r.tls == "TLSv1.3").unwrap();
        assert_eq!((v13.user.as_str(), v13.messages, v13.last_at), ("scanner@contoso.com", 5, today * DAY + 10));
        assert_eq!(dir.submissions_since((today - 30) * DAY).await.unwrap().len(), 3);
    }
}
