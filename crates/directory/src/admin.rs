//! Storage for the admin center: admin accounts with their role and TOTP secret, browser
//! sessions, API tokens and the audit log.
//!
//! Kept apart from [`crate::Directory`] so the mailbox side and the admin side evolve without
//! touching each other. Session ids and API tokens are stored only as a hash of the random value
//! ([`token_hash`]); a stolen database does not give a live session.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use crate::sqlite::SqliteDirectory;
use crate::{DirectoryError, Result};

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
            sqlx::query("UPDATE admins SET totp_secret = ? WHERE id = ? AND totp_secret = ?")
                .bind(self.sealer.seal(&secret))
                .bind(id)
                .bind(&secret)
                .execute(&self.pool)
                .await?;
            sealed += 1;
        }
        if sealed > 0 {
            // Rewrite the file so no freed page keeps the clear value.
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

const ADMIN_COLUMNS: &str =
    "SELECT id, address, role, password_hash, totp_secret, totp_last_step, created_at FROM admins";

fn admin_from_row(row: &SqliteRow, sealer: &crate::sealed::Sealer) -> Result<AdminSecrets> {
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

fn token_from_row(row: &SqliteRow) -> Result<ApiToken> {
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

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

#[async_trait]
impl AdminStore for SqliteDirectory {
    async fn create_admin(&self, new: NewAdmin) -> Result<Admin, AdminError> {
        let address = new.address.trim().to_lowercase();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM admins WHERE address = ?")
            .bind(&address)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(AdminError::AdminExists(address));
        }
        let at = now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO admins (address, role, password_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id",
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
        let row = sqlx::query(&format!("{ADMIN_COLUMNS} WHERE address = ?"))
            .bind(address.trim().to_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(|r| admin_from_row(r, &self.sealer)).transpose()
    }

    async fn admin_by_id(&self, id: i64) -> Result<Option<Admin>> {
        let row = sqlx::query(&format!("{ADMIN_COLUMNS} WHERE id = ?")).bind(id).fetch_optional(&self.pool).await?;
        Ok(row.as_ref().map(|r| admin_from_row(r, &self.sealer)).transpose()?.map(|s| s.admin))
    }

    async fn list_admins(&self) -> Result<Vec<Admin>> {
        let rows = sqlx::query(&format!("{ADMIN_COLUMNS} ORDER BY address")).fetch_all(&self.pool).await?;
        rows.iter().map(|r| admin_from_row(r, &self.sealer).map(|s| s.admin)).collect()
    }

    async fn set_admin_password(&self, address: &str, password_hash: &str) -> Result<(), AdminError> {
        let address = address.trim().to_lowercase();
        let done = sqlx::query("UPDATE admins SET password_hash = ? WHERE address = ?")
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
        sqlx::query("UPDATE admins SET role = ? WHERE address = ?")
            .bind(role)
            .bind(&address)
            .execute(&self.pool)
            .await?;
        self.admin_secrets(&address).await?.map(|s| s.admin).ok_or(AdminError::UnknownAdmin(address))
    }

    async fn set_admin_totp(&self, address: &str, secret: Option<&str>) -> Result<(), AdminError> {
        let address = address.trim().to_lowercase();
        let sealed = secret.map(|s| self.sealer.seal(s));
        let done = sqlx::query("UPDATE admins SET totp_secret = ?, totp_last_step = 0 WHERE address = ?")
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
        let done = sqlx::query("UPDATE admins SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?")
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
             VALUES (?, ?, ?, ?, ?, ?, ?)",
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
             FROM admin_sessions WHERE token_hash = ? AND expires_at > ?",
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
        sqlx::query("UPDATE admin_sessions SET mfa_done = ?, pending_totp = ? WHERE token_hash = ?")
            .bind(mfa_done)
            .bind(pending_totp)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, token_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM admin_sessions WHERE token_hash = ?").bind(token_hash).execute(&self.pool).await?;
        Ok(())
    }

    async fn purge_sessions(&self, now: i64) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM admin_sessions WHERE expires_at <= ?").bind(now).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn create_api_token(&self, admin_id: i64, name: &str, role: &str, token_hash: &str) -> Result<ApiToken> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (admin_id, name, token_hash, role, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(admin_id)
        .bind(name)
        .bind(token_hash)
        .bind(role)
        .bind(now())
        .fetch_one(&self.pool)
        .await?;
        let row = sqlx::query(&format!("{TOKEN_COLUMNS} WHERE t.id = ?")).bind(id).fetch_one(&self.pool).await?;
        token_from_row(&row)
    }

    async fn use_api_token(&self, token_hash: &str, now: i64) -> Result<Option<(ApiToken, Admin)>> {
        let row = sqlx::query(&format!("{TOKEN_COLUMNS} WHERE t.token_hash = ? AND t.revoked_at IS NULL"))
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let token = token_from_row(&row)?;
        let Some(admin) = self.admin_by_id(row.try_get("admin_id")?).await? else { return Ok(None) };
        sqlx::query("UPDATE api_tokens SET last_used_at = ? WHERE id = ?")
            .bind(now)
            .bind(token.id)
            .execute(&self.pool)
            .await?;
        Ok(Some((token, admin)))
    }

    async fn list_api_tokens(&self, admin_id: Option<i64>) -> Result<Vec<ApiToken>> {
        let rows = match admin_id {
            Some(id) => {
                sqlx::query(&format!("{TOKEN_COLUMNS} WHERE t.admin_id = ? ORDER BY t.id"))
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
            "UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL \
             AND (? IS NULL OR admin_id = ?)",
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
            sqlx::query("DELETE FROM admin_sessions WHERE admin_id = ?").bind(admin_id).execute(&self.pool).await?;
        Ok(done.rows_affected())
    }

    async fn revoke_admin_tokens(&self, admin_id: i64, now: i64) -> Result<u64> {
        let done = sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE admin_id = ? AND revoked_at IS NULL")
            .bind(now)
            .bind(admin_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn record_audit(&self, e: &AuditEntry) -> Result<()> {
        sqlx::query("INSERT INTO audit_log (at, actor, action, target, before, after) VALUES (?, ?, ?, ?, ?, ?)")
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
            "SELECT at, actor, action, target, before, after FROM audit_log ORDER BY at DESC, id DESC LIMIT ?",
        )
        .bind(limit)
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
