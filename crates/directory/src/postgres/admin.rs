//! The admin center's store on PostgreSQL: the same [`AdminStore`] as SQLite's
//! (`crate::admin`), so admin center sessions and API tokens work on any node.

use async_trait::async_trait;

use super::PgDirectory;
use crate::admin::{audit_action_condition, ActionMatch};
use crate::admin::{Admin, AdminError, AdminSecrets, AdminSession, AdminStore, ApiToken, AuditEntry, NewAdmin};
use crate::listing::{contains_pattern, Page, PageRequest};
use crate::sqlite::now;
use crate::{AuditFilter, Result};

impl PgDirectory {
    /// Seals TOTP secrets stored in clear (copied from an older SQLite database).
    pub(crate) async fn seal_clear_totp_secrets(&self) -> Result<u64> {
        let rows =
            sqlx::query!(r#"SELECT id, totp_secret AS "totp_secret!" FROM admins WHERE totp_secret IS NOT NULL"#)
                .fetch_all(&self.pool)
                .await?;
        let mut sealed = 0;
        for row in rows {
            let secret = row.totp_secret;
            if crate::sealed::Sealer::is_sealed(&secret) {
                continue;
            }
            sqlx::query!(
                "UPDATE admins SET totp_secret = $1 WHERE id = $2 AND totp_secret = $3",
                self.sealer.seal(&secret),
                row.id,
                secret,
            )
            .execute(&self.pool)
            .await?;
            sealed += 1;
        }
        Ok(sealed)
    }
}

/// An admin as [`select_admins!`] reads it; the TOTP secret still sealed.
struct AdminRow {
    id: i64,
    address: String,
    role: String,
    password_hash: String,
    totp_secret: Option<String>,
    totp_last_step: i64,
    created_at: i64,
}

/// A compile-checked select of [`AdminRow`]s; the argument is the rest of the statement.
macro_rules! select_admins {
    ($rest:tt $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            AdminRow,
            "SELECT id, address, role, password_hash, totp_secret, totp_last_step, created_at FROM admins " + $rest
            $(, $arg)*
        )
    };
}

impl AdminRow {
    fn open(self, sealer: &crate::sealed::Sealer) -> Result<AdminSecrets> {
        let totp_secret = self.totp_secret.map(|s| sealer.open(&s)).transpose()?;
        Ok(AdminSecrets {
            admin: Admin {
                id: self.id,
                address: self.address,
                role: self.role,
                totp_enrolled: totp_secret.is_some(),
                created_at: self.created_at,
            },
            password_hash: self.password_hash,
            totp_secret,
            totp_last_step: self.totp_last_step,
        })
    }
}

/// An API token with its admin's id, as [`select_tokens!`] reads it.
struct TokenRow {
    id: i64,
    admin: String,
    name: String,
    role: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    admin_id: i64,
}

/// A compile-checked select of [`TokenRow`]s; the argument is the rest of the statement.
macro_rules! select_tokens {
    ($rest:tt $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            TokenRow,
            "SELECT t.id, a.address AS admin, t.name, t.role, t.created_at, t.last_used_at, t.revoked_at, \
             t.admin_id FROM api_tokens t JOIN admins a ON a.id = t.admin_id " + $rest
            $(, $arg)*
        )
    };
}

impl TokenRow {
    fn token(&self) -> ApiToken {
        ApiToken {
            id: self.id,
            admin: self.admin.clone(),
            name: self.name.clone(),
            role: self.role.clone(),
            created_at: self.created_at,
            last_used_at: self.last_used_at,
            revoked_at: self.revoked_at,
        }
    }
}

#[async_trait]
impl AdminStore for PgDirectory {
    async fn create_admin(&self, new: NewAdmin) -> Result<Admin, AdminError> {
        let address = new.address.trim().to_lowercase();
        let mut tx = self.write_tx().await?;
        let taken =
            sqlx::query_scalar!("SELECT id FROM admins WHERE address = $1", address).fetch_optional(&mut *tx).await?;
        if taken.is_some() {
            return Err(AdminError::AdminExists(address));
        }
        let at = now();
        let id = sqlx::query_scalar!(
            "INSERT INTO admins (address, role, password_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
            address,
            new.role,
            new.password_hash,
            at,
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Admin { id, address, role: new.role, totp_enrolled: false, created_at: at })
    }

    async fn admin_secrets(&self, address: &str) -> Result<Option<AdminSecrets>> {
        let row =
            select_admins!("WHERE address = $1", address.trim().to_lowercase()).fetch_optional(&self.pool).await?;
        row.map(|r| r.open(&self.sealer)).transpose()
    }

    async fn admin_by_id(&self, id: i64) -> Result<Option<Admin>> {
        let row = select_admins!("WHERE id = $1", id).fetch_optional(&self.pool).await?;
        Ok(row.map(|r| r.open(&self.sealer)).transpose()?.map(|s| s.admin))
    }

    async fn list_admins(&self) -> Result<Vec<Admin>> {
        let rows = select_admins!("ORDER BY address").fetch_all(&self.pool).await?;
        rows.into_iter().map(|r| r.open(&self.sealer).map(|s| s.admin)).collect()
    }

    async fn set_admin_password(&self, address: &str, password_hash: &str) -> Result<(), AdminError> {
        let address = address.trim().to_lowercase();
        let done = sqlx::query!("UPDATE admins SET password_hash = $1 WHERE address = $2", password_hash, address)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(AdminError::UnknownAdmin(address));
        }
        Ok(())
    }

    async fn set_admin_role(&self, address: &str, role: &str) -> Result<Admin, AdminError> {
        let address = address.trim().to_lowercase();
        sqlx::query!("UPDATE admins SET role = $1 WHERE address = $2", role, address).execute(&self.pool).await?;
        self.admin_secrets(&address).await?.map(|s| s.admin).ok_or(AdminError::UnknownAdmin(address))
    }

    async fn delete_admin(&self, address: &str) -> Result<(), AdminError> {
        let address = address.trim().to_lowercase();
        let done = sqlx::query!("DELETE FROM admins WHERE address = $1", address).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(AdminError::UnknownAdmin(address));
        }
        Ok(())
    }

    async fn set_admin_totp(&self, address: &str, secret: Option<&str>) -> Result<(), AdminError> {
        let address = address.trim().to_lowercase();
        let sealed = secret.map(|s| self.sealer.seal(s));
        let done =
            sqlx::query!("UPDATE admins SET totp_secret = $1, totp_last_step = 0 WHERE address = $2", sealed, address)
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(AdminError::UnknownAdmin(address));
        }
        Ok(())
    }

    async fn use_totp_step(&self, admin_id: i64, step: i64) -> Result<bool> {
        let done = sqlx::query!(
            "UPDATE admins SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $3",
            step,
            admin_id,
            step
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn create_session(&self, s: &AdminSession) -> Result<()> {
        sqlx::query!(
            "INSERT INTO admin_sessions (token_hash, admin_id, csrf, mfa_done, pending_totp, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            s.token_hash,
            s.admin.id,
            s.csrf,
            s.mfa_done,
            s.pending_totp,
            s.created_at,
            s.expires_at,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str, now: i64) -> Result<Option<AdminSession>> {
        let row = sqlx::query!(
            "SELECT token_hash, admin_id, csrf, mfa_done, pending_totp, created_at, expires_at \
             FROM admin_sessions WHERE token_hash = $1 AND expires_at > $2",
            token_hash,
            now,
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let Some(admin) = self.admin_by_id(row.admin_id).await? else { return Ok(None) };
        Ok(Some(AdminSession {
            token_hash: row.token_hash,
            admin,
            csrf: row.csrf,
            mfa_done: row.mfa_done,
            pending_totp: row.pending_totp,
            created_at: row.created_at,
            expires_at: row.expires_at,
        }))
    }

    async fn update_session(&self, token_hash: &str, mfa_done: bool, pending_totp: Option<&str>) -> Result<()> {
        sqlx::query!(
            "UPDATE admin_sessions SET mfa_done = $1, pending_totp = $2 WHERE token_hash = $3",
            mfa_done,
            pending_totp,
            token_hash
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query!("DELETE FROM admin_sessions WHERE token_hash = $1", token_hash).execute(&self.pool).await?;
        Ok(())
    }

    async fn purge_sessions(&self, now: i64) -> Result<u64> {
        let done = sqlx::query!("DELETE FROM admin_sessions WHERE expires_at <= $1", now).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn create_api_token(&self, admin_id: i64, name: &str, role: &str, token_hash: &str) -> Result<ApiToken> {
        let id = sqlx::query_scalar!(
            "INSERT INTO api_tokens (admin_id, name, token_hash, role, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            admin_id,
            name,
            token_hash,
            role,
            now(),
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(select_tokens!("WHERE t.id = $1", id).fetch_one(&self.pool).await?.token())
    }

    async fn use_api_token(&self, token_hash: &str, now: i64) -> Result<Option<(ApiToken, Admin)>> {
        let row = select_tokens!("WHERE t.token_hash = $1 AND t.revoked_at IS NULL", token_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let token = row.token();
        let Some(admin) = self.admin_by_id(row.admin_id).await? else { return Ok(None) };
        sqlx::query!("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2", now, token.id)
            .execute(&self.pool)
            .await?;
        Ok(Some((token, admin)))
    }

    async fn list_api_tokens(&self, admin_id: Option<i64>) -> Result<Vec<ApiToken>> {
        let rows = match admin_id {
            Some(id) => select_tokens!("WHERE t.admin_id = $1 ORDER BY t.id", id).fetch_all(&self.pool).await?,
            None => select_tokens!("ORDER BY t.id").fetch_all(&self.pool).await?,
        };
        Ok(rows.iter().map(TokenRow::token).collect())
    }

    async fn revoke_api_token(&self, id: i64, admin_id: Option<i64>) -> Result<bool> {
        let done = sqlx::query!(
            "UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL \
             AND ($3::BIGINT IS NULL OR admin_id = $3)",
            now(),
            id,
            admin_id,
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn end_admin_sessions(&self, admin_id: i64) -> Result<u64> {
        let done = sqlx::query!("DELETE FROM admin_sessions WHERE admin_id = $1", admin_id).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn revoke_admin_tokens(&self, admin_id: i64, now: i64) -> Result<u64> {
        let done = sqlx::query!(
            "UPDATE api_tokens SET revoked_at = $1 WHERE admin_id = $2 AND revoked_at IS NULL",
            now,
            admin_id
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn record_audit(&self, e: &AuditEntry) -> Result<()> {
        sqlx::query!(
            "INSERT INTO audit_log (at, actor, action, target, before, after) VALUES ($1, $2, $3, $4, $5, $6)",
            e.at,
            e.actor,
            e.action,
            e.target,
            e.before,
            e.after,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn audit_page(&self, filter: &AuditFilter, page: PageRequest) -> Result<Page<AuditEntry>> {
        use sqlx::{Postgres, QueryBuilder, Row};
        let conditions = |query: &mut QueryBuilder<'_, Postgres>| {
            for (column, part) in [("actor", &filter.actor), ("target", &filter.target)] {
                if let Some(part) = part.as_deref().filter(|p| !p.trim().is_empty()) {
                    query
                        .push(format!(" AND lower({column}) COLLATE \"C\" LIKE "))
                        .push_bind(contains_pattern(part))
                        .push(" ESCAPE '\\'");
                }
            }
            match audit_action_condition(filter) {
                Some(ActionMatch::Exact(a)) => {
                    query.push(" AND action = ").push_bind(a);
                }
                Some(ActionMatch::Prefix(p)) => {
                    query.push(" AND action COLLATE \"C\" LIKE ").push_bind(p).push(" ESCAPE '\\'");
                }
                None => {}
            }
            if let Some(since) = filter.since {
                query.push(" AND at >= ").push_bind(since);
            }
            if let Some(until) = filter.until {
                query.push(" AND at <= ").push_bind(until);
            }
        };
        let mut count = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM audit_log WHERE 1 = 1");
        conditions(&mut count);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut list =
            QueryBuilder::<Postgres>::new("SELECT at, actor, action, target, before, after FROM audit_log WHERE 1 = 1");
        conditions(&mut list);
        list.push(" ORDER BY at DESC, id DESC LIMIT ")
            .push_bind(i64::from(page.limit))
            .push(" OFFSET ")
            .push_bind(i64::try_from(page.offset).unwrap_or(i64::MAX));
        let rows = list.build().fetch_all(&self.pool).await?;
        let items = rows
            .iter()
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
            .collect::<Result<Vec<_>>>()?;
        Ok(Page { items, total: u64::try_from(total).unwrap_or(0), offset: page.offset, limit: page.limit })
    }

    async fn audit(&self, limit: u32) -> Result<Vec<AuditEntry>> {
        Ok(sqlx::query_as!(
            AuditEntry,
            "SELECT at, actor, action, target, before, after FROM audit_log ORDER BY at DESC, id DESC LIMIT $1",
            i64::from(limit),
        )
        .fetch_all(&self.pool)
        .await?)
    }
}
