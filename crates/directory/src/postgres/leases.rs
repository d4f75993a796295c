//! [`MailboxLeases`] in the `mailbox_sessions` table. Counting and taking a place happen under
//! the mailbox's advisory lock, so two nodes can never both take the last place.

use async_trait::async_trait;

use super::PgDirectory;
use crate::leases::MailboxLeases;
use crate::Result;

/// Advisory-lock class of one mailbox's session places.
const LOCK_MAILBOX_SESSIONS: i32 = 3;

#[async_trait]
impl MailboxLeases for PgDirectory {
    async fn acquire_session(
        &self,
        address: &str,
        node: &str,
        limit: u64,
        now: i64,
        ttl_secs: i64,
    ) -> Result<Option<i64>> {
        let address = address.trim().to_lowercase();
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
            .bind(LOCK_MAILBOX_SESSIONS)
            .bind(&address)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM mailbox_sessions WHERE address = $1 AND expires_at <= $2")
            .bind(&address)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mailbox_sessions WHERE address = $1")
            .bind(&address)
            .fetch_one(&mut *tx)
            .await?;
        if u64::try_from(live).unwrap_or(u64::MAX) >= limit {
            tx.commit().await?;
            return Ok(None);
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO mailbox_sessions (address, node, expires_at) VALUES ($1, $2, $3) RETURNING id",
        )
        .bind(&address)
        .bind(node)
        .bind(now + ttl_secs)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    async fn renew_sessions(&self, ids: &[i64], now: i64, ttl_secs: i64) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query("UPDATE mailbox_sessions SET expires_at = $1 WHERE id = ANY($2)")
            .bind(now + ttl_secs)
            .bind(ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn release_session(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM mailbox_sessions WHERE id = $1").bind(id).execute(&self.pool).await?;
        Ok(())
    }

    async fn sessions_of(&self, address: &str, now: i64) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mailbox_sessions WHERE address = $1 AND expires_at > $2")
            .bind(address.trim().to_lowercase())
            .bind(now)
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
