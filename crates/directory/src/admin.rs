//! Storage for the admin center: admin accounts with their role and TOTP secret, browser
//! sessions, API tokens and the audit log.
//!
//! Kept apart from [`crate::Directory`] so the mailbox side and the admin side evolve without
//! touching each other. Session ids and API tokens are stored only as a hash of the random value
//! ([`token_hash`]); a stolen database does not give a live session.

use crate::listing::{contains_pattern, Page, PageRequest};
use crate::sqlite::SqliteDirectory;
use crate::{AuditFilter, DirectoryError, Result};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// An admin account as the admin center shows it (no secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Admin {
    pub id: i64,
    /// Lower-case address the admin signs in with.
    pub address: String,
    /// Role spelling (`global`, `security`, `exchange`, `user`, `reports`).
    pub role: String,
    pub totp_enrolled: bool,
    pub created_at: i64,
}

/// An admin with the secrets sign-in needs.
#[derive(Debug, Clone)]
pub struct AdminSecrets {
    pub admin: Admin,
    pub password_hash: String,
    pub totp_secret: Option<String>,
    pub totp_last_step: i64,
}

#[derive(Debug, Clone)]
pub struct NewAdmin {
    pub address: String,
    pub role: String,
    /// argon2id PHC string.
    pub password_hash: String,
}

/// A browser or API session, found by the hash of its id.
#[derive(Debug, Clone)]
pub struct AdminSession {
    pub token_hash: String,
    pub admin: Admin,
    pub csrf: String,
    pub mfa_done: bool,
    pub pending_totp: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: i64,
    pub admin: String,
    pub name: String,
    pub role: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// One audit record. `before` and `after` are short human-readable values ("disabled",
/// "enabled"), or "-" when there was nothing before (a creation) or after (a removal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub before: String,
    pub after: String,
}

/// SHA-256 of a session id or API token, hex. The values are 256-bit random strings, so a plain
/// hash resists guessing; argon2id would only slow every request down.
pub fn token_hash(token: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Storage of admin accounts, sessions, API tokens and the audit log.
#[async_trait]
pub trait AdminStore: Send + Sync + 'static {
    /// Creates an admin; `AdminExists` if the address is taken.
    async fn create_admin(&self, new: NewAdmin) -> Result<Admin, AdminError>;
    async fn admin_secrets(&self, address: &str) -> Result<Option<AdminSecrets>>;
    async fn admin_by_id(&self, id: i64) -> Result<Option<Admin>>;
    async fn list_admins(&self) -> Result<Vec<Admin>>;
    async fn set_admin_password(&self, address: &str, password_hash: &str) -> Result<(), AdminError>;
    async fn set_admin_role(&self, address: &str, role: &str) -> Result<Admin, AdminError>;
    /// Removes an admin account; its sessions and API tokens go with it (the audit log stays).
    async fn delete_admin(&self, address: &str) -> Result<(), AdminError>;
    /// Stores (Some) or clears (None) the admin's TOTP secret.
    async fn set_admin_totp(&self, address: &str, secret: Option<&str>) -> Result<(), AdminError>;
    /// Records `step` as used if it is later than the last used step; false if it was not
    /// (the code was already used: a replay).
    async fn use_totp_step(&self, admin_id: i64, step: i64) -> Result<bool>;

    async fn create_session(&self, session: &AdminSession) -> Result<()>;
    /// The session if it exists and has not expired at `now`.
    async fn session(&self, token_hash: &str, now: i64) -> Result<Option<AdminSession>>;
    async fn update_session(&self, token_hash: &str, mfa_done: bool, pending_totp: Option<&str>) -> Result<()>;
    async fn delete_session(&self, token_hash: &str) -> Result<()>;
    /// Removes sessions that expired before `now`; returns how many.
    async fn purge_sessions(&self, now: i64) -> Result<u64>;

    async fn create_api_token(&self, admin_id: i64, name: &str, role: &str, token_hash: &str) -> Result<ApiToken>;
    /// A live (not revoked) token and the role it carries; marks it used at `now`.
    async fn use_api_token(&self, token_hash: &str, now: i64) -> Result<Option<(ApiToken, Admin)>>;
    async fn list_api_tokens(&self, admin_id: Option<i64>) -> Result<Vec<ApiToken>>;
    /// Revokes a token; false if there was no live token with that id (of that admin, if given).
    async fn revoke_api_token(&self, id: i64, admin_id: Option<i64>) -> Result<bool>;

    /// Ends every session of an admin (password or second factor changed); returns how many.
    async fn end_admin_sessions(&self, admin_id: i64) -> Result<u64>;
    /// Revokes every live API token of an admin at `now`; returns how many.
    async fn revoke_admin_tokens(&self, admin_id: i64, now: i64) -> Result<u64>;

    async fn record_audit(&self, entry: &AuditEntry) -> Result<()>;
    /// Newest first, at most `limit`.
    async fn audit(&self, limit: u32) -> Result<Vec<AuditEntry>>;
    /// One page of the records the filter selects, newest first, with their total.
    async fn audit_page(&self, filter: &AuditFilter, page: PageRequest) -> Result<Page<AuditEntry>>;
}

/// How an audit filter's action is matched: `user.set` exactly, `user.` as a prefix (every
/// action on users).
pub(crate) enum ActionMatch {
    Exact(String),
    /// A `LIKE … ESCAPE '\'` pattern.
    Prefix(String),
}

pub(crate) fn audit_action_condition(filter: &AuditFilter) -> Option<ActionMatch> {
    let action = filter.action.as_deref().map(str::trim).filter(|a| !a.is_empty())?.to_lowercase();
    Some(match action.strip_suffix('.') {
        Some(prefix) => {
            let pattern = contains_pattern(prefix);
            // contains_pattern wraps in %…%; a prefix keeps only the trailing one.
            ActionMatch::Prefix(format!("{}.%", &pattern[1..pattern.len() - 1]))
        }
        None => ActionMatch::Exact(action),
    })
}

/// Verdicts about admin requests, apart from storage failures.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("an admin '{0}' already exists")]
    AdminExists(String),
    #[error("no admin '{0}'")]
    UnknownAdmin(String),
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

impl SqliteDirectory {
    /// Seals TOTP secrets stored in clear by earlier versions (run at every open; a no-op once
    /// every row is sealed).
    pub(crate) async fn seal_clear_totp_secrets(&self) -> Result<u64> {
        // `main.<table>` (SQLite's name for the open file): PostgreSQL cannot run this text, so
        // scripts/sqlx-prepare describes it against SQLite alone.
        let rows = sqlx::query!(
            r#"SELECT id AS "id!", totp_secret AS "totp_secret!" FROM main.admins WHERE totp_secret IS NOT NULL"#
        )
        .fetch_all(&self.pool)
        .await?;
        let mut sealed = 0;
        for row in rows {
            let secret = row.totp_secret;
            if crate::sealed::Sealer::is_sealed(&secret) {
                continue;
            }
            let sealed_secret = self.sealer.seal(&secret);
            sqlx::query!(
                "UPDATE admins SET totp_secret = ? WHERE id = ? AND totp_secret = ?",
                sealed_secret,
                row.id,
                secret
            )
            .execute(&self.pool)
            .await?;
            sealed += 1;
        }
        if sealed > 0 {
            // Rewrite the file so no freed page keeps the clear value. Both runtime-checked, having
            // no parameter and no column to check: PostgreSQL parses any VACUUM, so the prepare
            // script would keep a PostgreSQL description of it, and the PRAGMA's result columns
            // have no declared type the macros could map.
            sqlx::query("VACUUM").execute(&self.pool).await?;
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&self.pool).await?;
        }
        Ok(sealed)
    }
}

impl From<sqlx::Error> for AdminError {
    fn from(e: sqlx::Error) -> Self {
        AdminError::Directory(e.into())
    }
}

/// An admin row. The queries that read it spell its columns out (a compile-checked query is one
/// literal string): `SELECT id, address, role, password_hash, totp_secret, totp_last_step,
/// created_at FROM admins`.
struct AdminRow {
    id: i64,
    address: String,
    role: String,
    password_hash: String,
    /// Sealed (crate::sealed).
    totp_secret: Option<String>,
    totp_last_step: i64,
    created_at: i64,
}

fn admin_from_row(row: AdminRow, sealer: &crate::sealed::Sealer) -> Result<AdminSecrets> {
    let totp_secret = row.totp_secret.map(|s| sealer.open(&s)).transpose()?;
    Ok(AdminSecrets {
        admin: Admin {
            id: row.id,
            address: row.address,
            role: row.role,
            totp_enrolled: totp_secret.is_some(),
            created_at: row.created_at,
        },
        password_hash: row.password_hash,
        totp_secret,
        totp_last_step: row.totp_last_step,
    })
}

/// An API token row with its admin's address, read by queries that spell out `SELECT t.id,
/// a.address AS admin, t.name, t.role, t.created_at, t.last_used_at, t.revoked_at, t.admin_id
/// FROM api_tokens t JOIN admins a ON a.id = t.admin_id`.
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

fn token_from_row(row: TokenRow) -> ApiToken {
    ApiToken {
        id: row.id,
        admin: row.admin,
        name: row.name,
        role: row.role,
        created_at: row.created_at,
        last_used_at: row.last_used_at,
        revoked_at: row.revoked_at,
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[async_trait]
impl AdminStore for SqliteDirectory {
    async fn create_admin(&self, new: NewAdmin) -> Result<Admin, AdminError> {
        let address = new.address.trim().to_lowercase();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let taken = sqlx::query_scalar!(r#"SELECT id AS "id!" FROM admins WHERE address = ?"#, address)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(AdminError::AdminExists(address));
        }
        let at = now();
        let id = sqlx::query_scalar!(
            r#"INSERT INTO admins (address, role, password_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id AS "id!""#,
            address,
            new.role,
            new.password_hash,
            at
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Admin { id, address, role: new.role, totp_enrolled: false, created_at: at })
    }

    async fn admin_secrets(&self, address: &str) -> Result<Option<AdminSecrets>> {
        let address = address.trim().to_lowercase();
        let row = sqlx::query_as!(
            AdminRow,
            r#"SELECT id AS "id!", address, role, password_hash, totp_secret, totp_last_step, created_at FROM admins
                WHERE address = ?"#,
            address
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| admin_from_row(r, &self.sealer)).transpose()
    }

    async fn admin_by_id(&self, id: i64) -> Result<Option<Admin>> {
        let row = sqlx::query_as!(
            AdminRow,
            r#"SELECT id AS "id!", address, role, password_hash, totp_secret, totp_last_step, created_at FROM admins
                WHERE id = ?"#,
            id
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|r| admin_from_row(r, &self.sealer)).transpose()?.map(|s| s.admin))
    }

    async fn list_admins(&self) -> Result<Vec<Admin>> {
        // `main.<table>` (SQLite's name for the open file): PostgreSQL cannot run this text, so
        // scripts/sqlx-prepare describes it against SQLite alone.
        let rows = sqlx::query_as!(
            AdminRow,
            r#"SELECT id AS "id!", address, role, password_hash, totp_secret, totp_last_step, created_at
                 FROM main.admins ORDER BY address"#
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(|r| admin_from_row(r, &self.sealer).map(|s| s.admin)).collect()
    }

    async fn set_admin_password(&self, address: &str, password_hash: &str) -> Result<(), AdminError> {
        let address = address.trim().to_lowercase();
        let done = sqlx::query!("UPDATE admins SET password_hash = ? WHERE address = ?", password_hash, address)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(AdminError::UnknownAdmin(address));
        }
        Ok(())
    }

    async fn set_admin_role(&self, address: &str, role: &str) -> Result<Admin, AdminError> {
        let address = address.trim().to_lowercase();
        sqlx::query!("UPDATE admins SET role = ? WHERE address = ?", role, address).execute(&self.pool).await?;
        self.admin_secrets(&address).await?.map(|s| s.admin).ok_or(AdminError::UnknownAdmin(address))
    }

    async fn delete_admin(&self, address: &str) -> Result<(), AdminError> {
        let address = address.trim().to_lowercase();
        let done = sqlx::query!("DELETE FROM admins WHERE address = ?", address).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(AdminError::UnknownAdmin(address));
        }
        Ok(())
    }

    async fn set_admin_totp(&self, address: &str, secret: Option<&str>) -> Result<(), AdminError> {
        let address = address.trim().to_lowercase();
        let sealed = secret.map(|s| self.sealer.seal(s));
        let done =
            sqlx::query!("UPDATE admins SET totp_secret = ?, totp_last_step = 0 WHERE address = ?", sealed, address)
                .execute(&self.pool)
                .await?;
        if done.rows_affected() == 0 {
            return Err(AdminError::UnknownAdmin(address));
        }
        Ok(())
    }

    async fn use_totp_step(&self, admin_id: i64, step: i64) -> Result<bool> {
        let done = sqlx::query!(
            "UPDATE admins SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?",
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
             VALUES (?, ?, ?, ?, ?, ?, ?)",
            s.token_hash,
            s.admin.id,
            s.csrf,
            s.mfa_done,
            s.pending_totp,
            s.created_at,
            s.expires_at
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, token_hash: &str, now: i64) -> Result<Option<AdminSession>> {
        // `mfa_done` is stored as INTEGER 0/1.
        let row = sqlx::query!(
            r#"SELECT token_hash AS "token_hash!", admin_id, csrf, mfa_done AS "mfa_done: bool", pending_totp,
                      created_at, expires_at
                 FROM admin_sessions WHERE token_hash = ? AND expires_at > ?"#,
            token_hash,
            now
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
            "UPDATE admin_sessions SET mfa_done = ?, pending_totp = ? WHERE token_hash = ?",
            mfa_done,
            pending_totp,
            token_hash
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query!("DELETE FROM admin_sessions WHERE token_hash = ?", token_hash).execute(&self.pool).await?;
        Ok(())
    }

    async fn purge_sessions(&self, now: i64) -> Result<u64> {
        let done = sqlx::query!("DELETE FROM admin_sessions WHERE expires_at <= ?", now).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn create_api_token(&self, admin_id: i64, name: &str, role: &str, token_hash: &str) -> Result<ApiToken> {
        let at = now();
        let id = sqlx::query_scalar!(
            r#"INSERT INTO api_tokens (admin_id, name, token_hash, role, created_at) VALUES (?, ?, ?, ?, ?)
               RETURNING id AS "id!""#,
            admin_id,
            name,
            token_hash,
            role,
            at
        )
        .fetch_one(&self.pool)
        .await?;
        let row = sqlx::query_as!(
            TokenRow,
            r#"SELECT t.id AS "id!", a.address AS admin, t.name, t.role, t.created_at, t.last_used_at, t.revoked_at,
                      t.admin_id
                 FROM api_tokens t JOIN admins a ON a.id = t.admin_id WHERE t.id = ?"#,
            id
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(token_from_row(row))
    }

    async fn use_api_token(&self, token_hash: &str, now: i64) -> Result<Option<(ApiToken, Admin)>> {
        let row = sqlx::query_as!(
            TokenRow,
            r#"SELECT t.id AS "id!", a.address AS admin, t.name, t.role, t.created_at, t.last_used_at, t.revoked_at,
                      t.admin_id
                 FROM api_tokens t JOIN admins a ON a.id = t.admin_id
                WHERE t.token_hash = ? AND t.revoked_at IS NULL"#,
            token_hash
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let admin_id = row.admin_id;
        let token = token_from_row(row);
        let Some(admin) = self.admin_by_id(admin_id).await? else { return Ok(None) };
        sqlx::query!("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", now, token.id).execute(&self.pool).await?;
        Ok(Some((token, admin)))
    }

    async fn list_api_tokens(&self, admin_id: Option<i64>) -> Result<Vec<ApiToken>> {
        let rows = sqlx::query_as!(
            TokenRow,
            r#"SELECT t.id AS "id!", a.address AS admin, t.name, t.role, t.created_at, t.last_used_at, t.revoked_at,
                      t.admin_id
                 FROM api_tokens t JOIN admins a ON a.id = t.admin_id
                WHERE ? IS NULL OR t.admin_id = ? ORDER BY t.id"#,
            admin_id,
            admin_id
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(token_from_row).collect())
    }

    async fn revoke_api_token(&self, id: i64, admin_id: Option<i64>) -> Result<bool> {
        let at = now();
        let done = sqlx::query!(
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL \
             AND (? IS NULL OR admin_id = ?)",
            at,
            id,
            admin_id,
            admin_id
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn end_admin_sessions(&self, admin_id: i64) -> Result<u64> {
        let done = sqlx::query!("DELETE FROM admin_sessions WHERE admin_id = ?", admin_id).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn revoke_admin_tokens(&self, admin_id: i64, now: i64) -> Result<u64> {
        let done = sqlx::query!(
            "UPDATE api_tokens SET revoked_at = ? WHERE admin_id = ? AND revoked_at IS NULL",
            now,
            admin_id
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn record_audit(&self, e: &AuditEntry) -> Result<()> {
        sqlx::query!(
            "INSERT INTO audit_log (at, actor, action, target, before, after) VALUES (?, ?, ?, ?, ?, ?)",
            e.at,
            e.actor,
            e.action,
            e.target,
            e.before,
            e.after
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn audit_page(&self, filter: &AuditFilter, page: PageRequest) -> Result<Page<AuditEntry>> {
        use sqlx::{QueryBuilder, Row, Sqlite};
        let conditions = |query: &mut QueryBuilder<'_, Sqlite>| {
            for (column, part) in [("actor", &filter.actor), ("target", &filter.target)] {
                if let Some(part) = part.as_deref().filter(|p| !p.trim().is_empty()) {
                    query
                        .push(format!(" AND lower({column}) LIKE "))
                        .push_bind(contains_pattern(part))
                        .push(" ESCAPE '\\'");
                }
            }
            match audit_action_condition(filter) {
                Some(ActionMatch::Exact(a)) => {
                    query.push(" AND action = ").push_bind(a);
                }
                Some(ActionMatch::Prefix(p)) => {
                    query.push(" AND action LIKE ").push_bind(p).push(" ESCAPE '\\'");
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
        let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM audit_log WHERE 1 = 1");
        conditions(&mut count);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        let mut list =
            QueryBuilder::<Sqlite>::new("SELECT at, actor, action, target, before, after FROM audit_log WHERE 1 = 1");
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
            "SELECT at, actor, action, target, before, after FROM audit_log ORDER BY at DESC, id DESC LIMIT ?",
            limit
        )
        .fetch_all(&self.pool)
        .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(admin: &Admin, hash: &str, expires_at: i64) -> AdminSession {
        AdminSession {
            token_hash: hash.into(),
            admin: admin.clone(),
            csrf: "c".into(),
            mfa_done: false,
            pending_totp: None,
            created_at: 0,
            expires_at,
        }
    }

    #[tokio::test]
    async fn admins_sessions_tokens_and_audit() {
        let dir = SqliteDirectory::open_in_memory().await.unwrap();
        let admin = dir
            .create_admin(NewAdmin {
                address: "Boss@Contoso.com".into(),
                role: "global".into(),
                password_hash: "h".into(),
            })
            .await
            .unwrap();
        assert_eq!(admin.address, "boss@contoso.com");
        assert!(matches!(
            dir.create_admin(NewAdmin {
                address: "boss@contoso.com".into(),
                role: "user".into(),
                password_hash: "h".into()
            })
            .await,
            Err(AdminError::AdminExists(_))
        ));
        assert!(!dir.admin_secrets("BOSS@contoso.com").await.unwrap().unwrap().admin.totp_enrolled);

        dir.set_admin_totp("boss@contoso.com", Some("JBSWY3DPEHPK3PXP")).await.unwrap();
        assert!(dir.use_totp_step(admin.id, 10).await.unwrap());
        assert!(!dir.use_totp_step(admin.id, 10).await.unwrap(), "a step is accepted once");
        assert!(!dir.use_totp_step(admin.id, 9).await.unwrap());
        assert!(dir.use_totp_step(admin.id, 11).await.unwrap());

        dir.create_session(&session(&admin, "live", 100)).await.unwrap();
        dir.create_session(&session(&admin, "old", 50)).await.unwrap();
        assert!(dir.session("live", 60).await.unwrap().is_some());
        assert!(dir.session("old", 60).await.unwrap().is_none(), "expired sessions are not returned");
        dir.update_session("live", true, None).await.unwrap();
        assert!(dir.session("live", 60).await.unwrap().unwrap().mfa_done);
        assert_eq!(dir.purge_sessions(60).await.unwrap(), 1);

        let t = dir.create_api_token(admin.id, "ci", "reports", &token_hash("secret")).await.unwrap();
        let (used, owner) = dir.use_api_token(&token_hash("secret"), 5).await.unwrap().unwrap();
        assert_eq!((used.role.as_str(), owner.id), ("reports", admin.id));
        assert!(dir.use_api_token(&token_hash("other"), 5).await.unwrap().is_none());
        assert!(dir.revoke_api_token(t.id, Some(admin.id)).await.unwrap());
        assert!(dir.use_api_token(&token_hash("secret"), 6).await.unwrap().is_none());

        for (i, action) in ["a", "b"].iter().enumerate() {
            dir.record_audit(&AuditEntry {
                at: i as i64,
                actor: "boss@contoso.com".into(),
                action: (*action).into(),
                target: "t".into(),
                before: "x".into(),
                after: "y".into(),
            })
            .await
            .unwrap();
        }
        let log = dir.audit(10).await.unwrap();
        assert_eq!(log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["b", "a"]);
    }

    #[test]
    fn token_hash_is_sha256_hex() {
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[tokio::test]
    async fn totp_secrets_are_sealed_at_rest_and_clear_ones_are_sealed_on_open() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("authrelay.db");
        let store = SqliteDirectory::open(&path).await.unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600, "the database is owner-only");
        let new = |a: &str| NewAdmin { address: a.into(), role: "global".into(), password_hash: "x".into() };
        store.create_admin(new("a@x.example")).await.unwrap();
        store.create_admin(new("b@x.example")).await.unwrap();
        store.set_admin_totp("a@x.example", Some("JBSWY3DPEHPK3PXP")).await.unwrap();
        // b's secret as an earlier version stored it: in clear.
        sqlx::query("UPDATE admins SET totp_secret = 'KRSXG5CTMVRXEZLU' WHERE address = 'b@x.example'")
            .execute(&store.pool)
            .await
            .unwrap();
        store.close().await;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let store = SqliteDirectory::open(&path).await.unwrap();
        assert_eq!(mode(&path), 0o600, "a looser mode is tightened");
        let raw: Vec<String> =
            sqlx::query_scalar("SELECT totp_secret FROM admins ORDER BY id").fetch_all(&store.pool).await.unwrap();
        assert!(raw.iter().all(|s| s.starts_with("v1:")), "{raw:?}");
        let db = std::fs::read(&path).unwrap();
        for clear in ["JBSWY3DPEHPK3PXP", "KRSXG5CTMVRXEZLU"] {
            assert!(!db.windows(clear.len()).any(|w| w == clear.as_bytes()), "{clear} in the file");
        }
        let a = store.admin_secrets("a@x.example").await.unwrap().unwrap();
        let b = store.admin_secrets("b@x.example").await.unwrap().unwrap();
        assert_eq!(a.totp_secret.as_deref(), Some("JBSWY3DPEHPK3PXP"));
        assert_eq!(b.totp_secret.as_deref(), Some("KRSXG5CTMVRXEZLU"));
    }
}
