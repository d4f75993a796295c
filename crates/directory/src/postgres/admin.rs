//! The admin center's store on PostgreSQL: the same [`AdminStore`] as SQLite's
//! (`crate::admin`), so admin center sessions and API tokens work on any node.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::PgDirectory;
use crate::admin::{Admin, AdminError, AdminSecrets, AdminSession, AdminStore, ApiToken, AuditEntry, NewAdmin};
use crate::sqlite::now;
use crate::Result;

impl PgDirectory {
    /// Seals TOTP secrets stored in clear (copied from an older SQLite database).
    pub(crate) async fn seal_clear_totp_secrets(&self) -> Result<u64> {
        let rows = sqlx::query("SELECT id, totp_secret FROM admins WHERE totp_secret IS NOT NULL")
            .fetch_all(&self.pool)
            .await?;
        let mut sealed = 0;
        for row in rows {
            let secret: String = row.try_get("totp_secret")?;
            if crate::sealed::Sealer::is_sealed(&secret) {
                continue;
            }
            let id: i64 = row.try_get("id")?;
            sqlx::query("UPDATE admins SET totp_secret = $1 WHERE id = $2 AND totp_secret = $3")
                .bind(self.sealer.seal(&secret))
                .bind(id)
                .bind(&secret)
                .execute(&self.pool)
                .await?;
            sealed += 1;
        }
        Ok(sealed)
    }
}

const ADMIN_COLUMNS: &str =
    "SELECT id, address, role, password_hash, totp_secret, totp_last_step, created_at FROM admins";

fn admin_from_row(row: &PgRow, sealer: &crate::sealed::Sealer) -> Result<AdminSecrets> {
    let totp_secret: Option<String> = row.try_get("totp_secret")?;
    let totp_secret = totp_secret.map(|s| sealer.open(&s)).transpose()?;
    Ok(AdminSecrets {
        admin: Admin {
            id: row.try_get("id")?,
            address: row.try_get("address")?,
            role: row.try_get("role")?,
            totp_enrolled: totp_secret.is_some(),
            created_at: row.try_get("created_at")?,
        },
        password_hash: row.try_get("password_hash")?,
        totp_secret,
        totp_last_step: row.try_get("totp_last_step")?,
    })
}

fn token_from_row(row: &PgRow) -> Result<ApiToken> {
    Ok(ApiToken {
        id: row.try_get("id")?,
        admin: row.try_get("admin")?,
        name: row.try_get("name")?,
        role: row.try_get("role")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

const TOKEN_COLUMNS: &str = "SELECT t.id, a.address AS admin, t.name, t.role, t.created_at, t.last_used_at, \
                             t.revoked_at, t.admin_id FROM api_tokens t JOIN admins a ON a.id = t.admin_id";

#[async_trait]
impl AdminStore for PgDirectory {
    async fn create_admin(&self, new: NewAdmin) -> Result<Admin, AdminError> {
        let address = new.address.trim().to_lowercase();
        let mut tx = self.write_tx().await?;
        let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM admins WHERE address = $1")
            .bind(&address)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(AdminError::AdminExists(address));
        }
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO admins (address, role, password_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(&address)
        .bind(&new.role)
        .bind(&new.password_hash)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Admin { id, address, role: new.role, totp_enrolled: false, created_at: at })
    }

    async fn admin_secrets(&self, address: &str) -> Result<Option<AdminSecrets>> {
        let row = sqlx::query(&format!("{ADMIN_COLUMNS} WHERE address = $1"))
            .bind(address.trim().to_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| admin_from_row(r, &self.sealer)).transpose()
    }

    async fn admin_by_id(&self, id: i64) -> Result<Option<Admin>> {
        let row = sqlx::query(&format!("{ADMIN_COLUMNS} WHERE id = $1")).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(|r| admin_from_row(r, &self.sealer)).transpose()?.map(|s| s.admin))
    }

    async fn list_admins(&self) -> Result<Vec<Admin>> {
        let rows = sqlx::query(&format!("{ADMIN_COLUMNS} ORDER BY address")).fetch_all(&self.pool).await?;
        rows.iter().map(|r| admin_from_row(r, &self.sealer).map(|s| s.admin)).collect()
    }

    async fn set_admin_password(&self, address: &str, password_hash: &str) -> Result<(), AdminError> {
        let address = address.trim().to_lowercase();
        let done = sqlx::query("UPDATE admins SET password_hash = $1 WHERE address = $2")
            .bind(password_hash)
            .bind(&address)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(AdminError::UnknownAdmin(address));
        }
        Ok(())
    }

    async fn set_admin_role(&self, address: &str, role: &str) -> Result<Admin, AdminError> {
        let address = address.trim().to_lowercase();
        sqlx::query("UPDATE admins SET role = $1 WHERE address = $2")
            .bind(role)
            .bind(&address)
            .execute(&self.pool)
            .await?;
        self.admin_secrets(&address).await?.map(|s| s.admin).ok_or(AdminError::UnknownAdmin(address))
    }

    async fn set_admin_totp(&self, address: &str, secret: Option<&str>) -> Result<(), AdminError> {
        let address = address.trim().to_lowercase();
        let sealed = secret.map(|s| self.sealer.seal(s));
        let done = sqlx::query("UPDATE admins SET totp_secret = $1, totp_last_step = 0 WHERE address = $2")
            .bind(sealed)
            .bind(&address)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(AdminError::UnknownAdmin(address));
        }
        Ok(())
    }

    async fn use_totp_step(&self, admin_id: i64, step: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE admins SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $3")
            .bind(step)
            .bind(admin_id)
            .bind(step)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_session(&self, s: &AdminSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO admin_sessions (token_hash, admin_id, csrf, mfa_done, pending_totp, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&s.token_hash)
        .bind(s.admin.id)
        .bind(&s.csrf)
        .bind(s.mfa_done)
        .bind(&s.pending_totp)
        .bind(s.created_at)
        .bind(s.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str, now: i64) -> Result<Option<AdminSession>> {
        let row = sqlx::query(
            "SELECT token_hash, admin_id, csrf, mfa_done, pending_totp, created_at, expires_at \
             FROM admin_sessions WHERE token_hash = $1 AND expires_at > $2",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let Some(admin) = self.admin_by_id(row.try_get("admin_id")?).await? else { return Ok(None) };
        Ok(Some(AdminSession {
            token_hash: row.try_get("token_hash")?,
            admin,
            csrf: row.try_get("csrf")?,
            mfa_done: row.try_get("mfa_done")?,
            pending_totp: row.try_get("pending_totp")?,
            created_at: row.try_get("created_at")?,
            expires_at: row.try_get("expires_at")?,
        }))
    }

    async fn update_session(&self, token_hash: &str, mfa_done: bool, pending_totp: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE admin_sessions SET mfa_done = $1, pending_totp = $2 WHERE token_hash = $3")
            .bind(mfa_done)
            .bind(pending_totp)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM admin_sessions WHERE token_hash = $1").bind(token_hash).execute(&self.pool).await?;
        Ok(())
    }

    async fn purge_sessions(&self, now: i64) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM admin_sessions WHERE expires_at <= $1").bind(now).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn create_api_token(&self, admin_id: i64, name: &str, role: &str, token_hash: &str) -> Result<ApiToken> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (admin_id, name, token_hash, role, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(admin_id)
        .bind(name)
        .bind(token_hash)
        .bind(role)
        .bind(now())
        .fetch_one(&self.pool)
        .await?;
        let row = sqlx::query(&format!("{TOKEN_COLUMNS} WHERE t.id = $1")).bind(id).fetch_one(&self.pool).await?;
        token_from_row(&row)
    }

    async fn use_api_token(&self, token_hash: &str, now: i64) -> Result<Option<(ApiToken, Admin)>> {
        let row = sqlx::query(&format!("{TOKEN_COLUMNS} WHERE t.token_hash = $1 AND t.revoked_at IS NULL"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let token = token_from_row(&row)?;
        let Some(admin) = self.admin_by_id(row.try_get("admin_id")?).await? else { return Ok(None) };
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now)
            .bind(token.id)
            .execute(&self.pool)
            .await?;
        Ok(Some((token, admin)))
    }

    async fn list_api_tokens(&self, admin_id: Option<i64>) -> Result<Vec<ApiToken>> {
        let rows = match admin_id {
            Some(id) => {
                sqlx::query(&format!("{TOKEN_COLUMNS} WHERE t.admin_id = $1 ORDER BY t.id"))
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => sqlx::query(&format!("{TOKEN_COLUMNS} ORDER BY t.id")).fetch_all(&self.pool).await?,
        };
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_api_token(&self, id: i64, admin_id: Option<i64>) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
             AND ($3::BIGINT IS NULL OR admin_id = $4)",
        )
        .bind(now())
        .bind(id)
        .bind(admin_id)
        .bind(admin_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn end_admin_sessions(&self, admin_id: i64) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM admin_sessions WHERE admin_id = $1").bind(admin_id).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn revoke_admin_tokens(&self, admin_id: i64, now: i64) -> Result<u64> {
        let done = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE admin_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(admin_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn record_audit(&self, e: &AuditEntry) -> Result<()> {
        sqlx::query("INSERT INTO audit_log (at, actor, action, target, before, after) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(e.at)
            .bind(&e.actor)
            .bind(&e.action)
            .bind(&e.target)
            .bind(&e.before)
            .bind(&e.after)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn audit(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query(
            "SELECT at, actor, action, target, before, after FROM audit_log ORDER BY at DESC, id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(AuditEntry {
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    before: r.try_get("before")?,
                    after: r.try_get("after")?,
                })
            })
            .collect()
    }
}
