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
        sqlx::query!("SELECT pg_advisory_xact_lock($1, hashtext($2))", LOCK_MAILBOX_SESSIONS, address)
            .execute(&mut *tx)
            .await?;
        sqlx::query!("DELETE FROM mailbox_sessions WHERE address = $1 AND expires_at <= $2", address, now)
            .execute(&mut *tx)
            .await?;
        let live =
            sqlx::query_scalar!(r#"SELECT COUNT(*) AS "live!" FROM mailbox_sessions WHERE address = $1"#, address)
                .fetch_one(&mut *tx)
                .await?;
        if u64::try_from(live).unwrap_or(u64::MAX) >= limit {
            tx.commit().await?;
            return Ok(None);
        }
        let id = sqlx::query_scalar!(
            "INSERT INTO mailbox_sessions (address, node, expires_at) VALUES ($1, $2, $3) RETURNING id",
            address,
            node,
            now + ttl_secs,
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Some(id))
    }

    async fn renew_sessions(&self, ids: &[i64], now: i64, ttl_secs: i64) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        sqlx::query!("UPDATE mailbox_sessions SET expires_at = $1 WHERE id = ANY($2)", now + ttl_secs, ids)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn release_session(&self, id: i64) -> Result<()> {
        sqlx::query!("DELETE FROM mailbox_sessions WHERE id = $1", id).execute(&self.pool).await?;
        Ok(())
    }

    async fn sessions_of(&self, address: &str, now: i64) -> Result<u64> {
        let n = sqlx::query_scalar!(
            r#"SELECT COUNT(*) AS "live!" FROM mailbox_sessions WHERE address = $1 AND expires_at > $2"#,
            address.trim().to_lowercase(),
            now,
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}
