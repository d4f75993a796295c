//! The embedded SQLite backend.
//!
//! One database file shared by the server and the admin CLI, which are separate processes: the
//! file runs in WAL mode (readers never block the writer) with a busy timeout (a second writer
//! waits instead of failing), and nothing is cached in memory, so an admin's change is seen by
//! the next AUTH attempt. Every read-modify-write runs in a `BEGIN IMMEDIATE` transaction, which
//! takes the write lock up front; a deferred transaction that upgrades from read to write could
//! fail with SQLITE_BUSY without waiting.
//!
//! The schema lives in `migrations/` and is applied by [`SqliteDirectory::open`].

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use authrelay_core::{
    Address, AppPasswordsPolicy, CredentialKind, MailboxSettings, MailboxSmtpAuth, MfaState, OrgSettings, OrgSmtpAuth,
    SecurityDefaults, SignIn,
};
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::{
    AppPassword, AppPasswordSecret, AuthRecord, Directory, DirectoryError, NewAppPassword, NewUser, Org, OrgChange,
    Result, SignInEntry, SignInFilter, User, UserChange,
};

/// How long a writer waits for another process's write to finish before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Live app passwords one user may hold (the Entra limit).
pub const MAX_APP_PASSWORDS: i64 = 40;
/// Sign-in log entries returned when the filter sets no limit.
pub const DEFAULT_SIGNIN_LIMIT: u32 = 100;

/// The directory in a SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteDirectory {
    pool: SqlitePool,
}

impl From<sqlx::Error> for DirectoryError {
    /// SQLite's messages name tables and constraints, never bound values, so no secret leaks.
    fn from(e: sqlx::Error) -> Self {
        DirectoryError::Storage(e.to_string())
    }
}

impl SqliteDirectory {
    /// Opens (creating it if missing) the database at `path` and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|e| DirectoryError::Storage(format!("cannot open {}: {e}", path.display())))?;
        Self::migrated(pool).await
    }

    /// A private in-memory database, for tests of other parts. It lives in the pool's single
    /// connection, which is therefore never closed for idleness or age.
    pub async fn open_in_memory() -> Result<Self> {
        let options = SqliteConnectOptions::new().in_memory(true).foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        Self::migrated(pool).await
    }

    async fn migrated(pool: SqlitePool) -> Result<Self> {
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| DirectoryError::Storage(format!("cannot apply the directory schema: {e}")))?;
        Ok(SqliteDirectory { pool })
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a read-modify-write transaction holding the write lock from the start.
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Current time in unix seconds.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The stored form of a domain: trimmed, without a trailing root dot, lower-case.
fn normalize_domain(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_lowercase()
}

/// The stored form of a mailbox address, or `None` when it is not an address at all (such an
/// address cannot exist in the directory).
fn normalize_address(address: &str) -> Option<String> {
    Address::parse(address).ok().map(String::from)
}

/// The stored form of a send-as address: brackets and spaces removed, lower-case.
fn normalize_send_as(address: &str) -> String {
    let trimmed = address.trim();
    trimmed
        .strip_prefix('<')
        .and_then(|s| s.strip_suffix('>'))
        .unwrap_or(trimmed)
        .trim()
        .to_lowercase()
}

/// Reads a setting stored as its spelling; an unknown spelling means the file was edited by hand
/// or by a newer version, which is a storage problem, not a verdict.
fn setting<T: FromStr>(row: &SqliteRow, column: &str) -> Result<T> {
    let text: String = row.try_get(column)?;
    text.parse()
        .map_err(|_| DirectoryError::Storage(format!("unreadable value '{text}' in column {column}")))
}

fn org_settings(row: &SqliteRow) -> Result<OrgSettings> {
    Ok(OrgSettings {
        security_defaults: setting(row, "security_defaults")?,
        smtp_auth: setting(row, "org_smtp_auth")?,
        app_passwords: setting(row, "app_passwords")?,
    })
}

const ORG_COLUMNS: &str = "SELECT id, name, security_defaults, smtp_auth AS org_smtp_auth, app_passwords, created_at \
                           FROM orgs";

fn org_from_row(row: &SqliteRow, domains: Vec<String>) -> Result<Org> {
    Ok(Org {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        domains,
        settings: org_settings(row)?,
        created_at: row.try_get("created_at")?,
    })
}

async fn org_domains(conn: &mut SqliteConnection, org_id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT domain FROM domains WHERE org_id = ? ORDER BY rowid")
        .bind(org_id)
        .fetch_all(conn)
        .await?)
}

async fn load_org(conn: &mut SqliteConnection, name: &str) -> Result<Option<Org>> {
    let row = sqlx::query(&format!("{ORG_COLUMNS} WHERE name = ?"))
        .bind(name.trim())
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => {
            let domains = org_domains(conn, row.try_get("id")?).await?;
            Ok(Some(org_from_row(&row, domains)?))
        }
        None => Ok(None),
    }
}

async fn org_id(conn: &mut SqliteConnection, name: &str) -> Result<i64> {
    sqlx::query_scalar("SELECT id FROM orgs WHERE name = ?")
        .bind(name.trim())
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| DirectoryError::UnknownOrg(name.trim().to_string()))
}

/// The name of the organisation that accepts `domain` (already normalised), if any.
async fn domain_owner(conn: &mut SqliteConnection, domain: &str) -> Result<Option<(i64, String)>> {
    let row = sqlx::query("SELECT o.id, o.name FROM domains d JOIN orgs o ON o.id = d.org_id WHERE d.domain = ?")
        .bind(domain)
        .fetch_optional(conn)
        .await?;
    row.map(|r| Ok((r.try_get("id")?, r.try_get("name")?))).transpose()
}

/// A user row joined with its organisation: the user's own columns plus the organisation's
/// name and settings, so the AUTH view needs one row.
const USER_COLUMNS: &str = "SELECT u.id, o.name AS org, u.address, u.display_name, u.password_hash, \
                            u.sign_in, u.smtp_auth, u.mfa, u.created_at, u.password_changed_at, \
                            o.security_defaults, o.smtp_auth AS org_smtp_auth, o.app_passwords \
                            FROM users u JOIN orgs o ON o.id = u.org_id";

fn user_from_row(row: &SqliteRow, send_as: Vec<String>) -> Result<User> {
    Ok(User {
        id: row.try_get("id")?,
        org: row.try_get("org")?,
        address: row.try_get("address")?,
        display_name: row.try_get("display_name")?,
        settings: MailboxSettings {
            sign_in: setting(row, "sign_in")?,
            smtp_auth: setting(row, "smtp_auth")?,
            mfa: setting(row, "mfa")?,
        },
        send_as,
        created_at: row.try_get("created_at")?,
        password_changed_at: row.try_get("password_changed_at")?,
    })
}

async fn user_send_as(conn: &mut SqliteConnection, user_id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT address FROM send_as WHERE user_id = ? ORDER BY address")
        .bind(user_id)
        .fetch_all(conn)
        .await?)
}

/// The user row (with its organisation's columns) and the user, or `None` if unknown.
async fn load_user_row(conn: &mut SqliteConnection, address: &str) -> Result<Option<(SqliteRow, User)>> {
    let Some(address) = normalize_address(address) else {
        return Ok(None);
    };
    let row = sqlx::query(&format!("{USER_COLUMNS} WHERE u.address = ?"))
        .bind(&address)
        .fetch_optional(&mut *conn)
        .await?;
    match row {
        Some(row) => {
            let send_as = user_send_as(conn, row.try_get("id")?).await?;
            let user = user_from_row(&row, send_as)?;
            Ok(Some((row, user)))
        }
        None => Ok(None),
    }
}

async fn load_user(conn: &mut SqliteConnection, address: &str) -> Result<Option<User>> {
    Ok(load_user_row(conn, address).await?.map(|(_, user)| user))
}

/// The id and stored address of a user, or `UnknownUser`.
async fn user_id(conn: &mut SqliteConnection, address: &str) -> Result<(i64, String)> {
    let unknown = || DirectoryError::UnknownUser(address.trim().to_string());
    let normalized = normalize_address(address).ok_or_else(unknown)?;
    let id = sqlx::query_scalar("SELECT id FROM users WHERE address = ?")
        .bind(&normalized)
        .fetch_optional(conn)
        .await?
        .ok_or_else(unknown)?;
    Ok((id, normalized))
}

fn app_password_from_row(row: &SqliteRow) -> Result<AppPassword> {
    Ok(AppPassword {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
    })
}

fn signin_from_row(row: &SqliteRow) -> Result<SignInEntry> {
    let port: i64 = row.try_get("client_port")?;
    let credential: Option<String> = row.try_get("credential")?;
    let credential = credential
        .map(|c| {
            c.parse::<CredentialKind>()
                .map_err(|_| DirectoryError::Storage(format!("unreadable value '{c}' in column credential")))
        })
        .transpose()?;
    Ok(SignInEntry {
        at: row.try_get("at")?,
        client_ip: row.try_get("client_ip")?,
        client_port: u16::try_from(port)
            .map_err(|_| DirectoryError::Storage(format!("unreadable value '{port}' in column client_port")))?,
        tls: row.try_get("tls")?,
        mechanism: row.try_get("mechanism")?,
        user: row.try_get("user")?,
        credential,
        check: row.try_get("check_name")?,
        reply: row.try_get("reply")?,
        success: row.try_get("success")?,
    })
}

#[async_trait]
impl Directory for SqliteDirectory {
    async fn create_org(&self, name: &str, domains: &[String]) -> Result<Org> {
        let name = name.trim();
        let mut tx = self.write_tx().await?;
        match org_id(&mut tx, name).await {
            Ok(_) => return Err(DirectoryError::OrgExists(name.to_string())),
            Err(DirectoryError::UnknownOrg(_)) => {}
            Err(e) => return Err(e),
        }
        let mut wanted: Vec<String> = Vec::with_capacity(domains.len());
        for domain in domains.iter().map(|d| normalize_domain(d)) {
            if wanted.contains(&domain) {
                continue;
            }
            if let Some((_, org)) = domain_owner(&mut tx, &domain).await? {
                return Err(DirectoryError::DomainTaken { domain, org });
            }
            wanted.push(domain);
        }
        let at = now();
        let settings = OrgSettings::default();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO orgs (name, security_defaults, smtp_auth, app_passwords, created_at) \
             VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(name)
        .bind(settings.security_defaults.as_str())
        .bind(settings.smtp_auth.as_str())
        .bind(settings.app_passwords.as_str())
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        for domain in &wanted {
            sqlx::query("INSERT INTO domains (domain, org_id, added_at) VALUES (?, ?, ?)")
                .bind(domain)
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Org {
            id,
            name: name.to_string(),
            domains: wanted,
            settings,
            created_at: at,
        })
    }

    async fn list_orgs(&self) -> Result<Vec<Org>> {
        let mut tx = self.pool.begin().await?;
        let rows = sqlx::query(&format!("{ORG_COLUMNS} ORDER BY name"))
            .fetch_all(&mut *tx)
            .await?;
        let mut domains: HashMap<i64, Vec<String>> = HashMap::new();
        for row in sqlx::query("SELECT org_id, domain FROM domains ORDER BY rowid")
            .fetch_all(&mut *tx)
            .await?
        {
            domains.entry(row.try_get("org_id")?).or_default().push(row.try_get("domain")?);
        }
        tx.commit().await?;
        rows.iter()
            .map(|row| org_from_row(row, domains.remove(&row.try_get::<i64, _>("id")?).unwrap_or_default()))
            .collect()
    }

    async fn org(&self, name: &str) -> Result<Option<Org>> {
        let mut tx = self.pool.begin().await?;
        let org = load_org(&mut tx, name).await?;
        tx.commit().await?;
        Ok(org)
    }

    async fn org_for_domain(&self, domain: &str) -> Result<Option<Org>> {
        let mut tx = self.pool.begin().await?;
        let org = match domain_owner(&mut tx, &normalize_domain(domain)).await? {
            Some((_, name)) => load_org(&mut tx, &name).await?,
            None => None,
        };
        tx.commit().await?;
        Ok(org)
    }

    async fn update_org(&self, name: &str, change: OrgChange) -> Result<Org> {
        let mut tx = self.write_tx().await?;
        let id = org_id(&mut tx, name).await?;
        sqlx::query(
            "UPDATE orgs SET security_defaults = COALESCE(?, security_defaults), \
             smtp_auth = COALESCE(?, smtp_auth), app_passwords = COALESCE(?, app_passwords) WHERE id = ?",
        )
        .bind(change.security_defaults.map(SecurityDefaults::as_str))
        .bind(change.smtp_auth.map(OrgSmtpAuth::as_str))
        .bind(change.app_passwords.map(AppPasswordsPolicy::as_str))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let org = load_org(&mut tx, name).await?;
        tx.commit().await?;
        org.ok_or_else(|| DirectoryError::UnknownOrg(name.trim().to_string()))
    }

    async fn add_domain(&self, org: &str, domain: &str) -> Result<Org> {
        let domain = normalize_domain(domain);
        let mut tx = self.write_tx().await?;
        let id = org_id(&mut tx, org).await?;
        match domain_owner(&mut tx, &domain).await? {
            // Adding a domain the organisation already has changes nothing.
            Some((owner, _)) if owner == id => {}
            Some((_, owner)) => return Err(DirectoryError::DomainTaken { domain, org: owner }),
            None => {
                sqlx::query("INSERT INTO domains (domain, org_id, added_at) VALUES (?, ?, ?)")
                    .bind(&domain)
                    .bind(id)
                    .bind(now())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let result = load_org(&mut tx, org).await?;
        tx.commit().await?;
        result.ok_or_else(|| DirectoryError::UnknownOrg(org.trim().to_string()))
    }

    /// An input that is not an address at all is reported as `NoOrgForDomain` with what was
    /// given, since no organisation can accept it.
    async fn create_user(&self, new: NewUser) -> Result<User> {
        let address = Address::parse(&new.address)
            .map_err(|_| DirectoryError::NoOrgForDomain(new.address.trim().to_lowercase()))?;
        let mut tx = self.write_tx().await?;
        let (org_id, org_name) = domain_owner(&mut tx, address.domain())
            .await?
            .ok_or_else(|| DirectoryError::NoOrgForDomain(address.domain().to_string()))?;
        let taken: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE address = ?")
            .bind(address.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(DirectoryError::UserExists(address.to_string()));
        }
        let at = now();
        let settings = MailboxSettings::default();
        let display_name = new.display_name.trim().to_string();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO users (org_id, address, display_name, password_hash, sign_in, smtp_auth, mfa, \
             created_at, password_changed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(org_id)
        .bind(address.as_str())
        .bind(&display_name)
        .bind(&new.password_hash)
        .bind(settings.sign_in.as_str())
        .bind(settings.smtp_auth.as_str())
        .bind(settings.mfa.as_str())
        .bind(at)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(User {
            id,
            org: org_name,
            address: address.into(),
            display_name,
            settings,
            send_as: Vec::new(),
            created_at: at,
            password_changed_at: at,
        })
    }

    async fn user(&self, address: &str) -> Result<Option<User>> {
        let mut tx = self.pool.begin().await?;
        let user = load_user(&mut tx, address).await?;
        tx.commit().await?;
        Ok(user)
    }

    async fn list_users(&self, org: Option<&str>) -> Result<Vec<User>> {
        let mut tx = self.pool.begin().await?;
        let rows = match org {
            Some(name) => {
                let id = org_id(&mut tx, name).await?;
                sqlx::query(&format!("{USER_COLUMNS} WHERE u.org_id = ? ORDER BY u.address"))
                    .bind(id)
                    .fetch_all(&mut *tx)
                    .await?
            }
            None => {
                sqlx::query(&format!("{USER_COLUMNS} ORDER BY u.address"))
                    .fetch_all(&mut *tx)
                    .await?
            }
        };
        let mut send_as: HashMap<i64, Vec<String>> = HashMap::new();
        for row in sqlx::query("SELECT user_id, address FROM send_as ORDER BY address")
            .fetch_all(&mut *tx)
            .await?
        {
            send_as.entry(row.try_get("user_id")?).or_default().push(row.try_get("address")?);
        }
        tx.commit().await?;
        rows.iter()
            .map(|row| user_from_row(row, send_as.remove(&row.try_get::<i64, _>("id")?).unwrap_or_default()))
            .collect()
    }

    /// Send-as addresses are stored lower-case; adding the mailbox's own address (always
    /// allowed anyway) or an empty one is ignored.
    async fn update_user(&self, address: &str, change: UserChange) -> Result<User> {
        let mut tx = self.write_tx().await?;
        let (id, own) = user_id(&mut tx, address).await?;
        sqlx::query(
            "UPDATE users SET display_name = COALESCE(?, display_name), sign_in = COALESCE(?, sign_in), \
             smtp_auth = COALESCE(?, smtp_auth), mfa = COALESCE(?, mfa) WHERE id = ?",
        )
        .bind(change.display_name.as_deref().map(str::trim))
        .bind(change.sign_in.map(SignIn::as_str))
        .bind(change.smtp_auth.map(MailboxSmtpAuth::as_str))
        .bind(change.mfa.map(MfaState::as_str))
        .bind(id)
        .execute(&mut *tx)
        .await?;
        for extra in change.add_send_as.iter().map(|a| normalize_send_as(a)) {
            if extra.is_empty() || extra == own {
                continue;
            }
            sqlx::query("INSERT OR IGNORE INTO send_as (user_id, address) VALUES (?, ?)")
                .bind(id)
                .bind(&extra)
                .execute(&mut *tx)
                .await?;
        }
        for extra in change.remove_send_as.iter().map(|a| normalize_send_as(a)) {
            sqlx::query("DELETE FROM send_as WHERE user_id = ? AND address = ?")
                .bind(id)
                .bind(&extra)
                .execute(&mut *tx)
                .await?;
        }
        let user = load_user(&mut tx, &own).await?;
        tx.commit().await?;
        user.ok_or_else(|| DirectoryError::UnknownUser(address.trim().to_string()))
    }

    async fn set_password_hash(&self, address: &str, password_hash: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let (id, _) = user_id(&mut tx, address).await?;
        sqlx::query("UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?")
            .bind(password_hash)
            .bind(now())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn add_app_password(&self, address: &str, new: NewAppPassword) -> Result<AppPassword> {
        let name = new.name.trim().to_string();
        let mut tx = self.write_tx().await?;
        let (id, own) = user_id(&mut tx, address).await?;
        let (live, same_name): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(CASE WHEN name = ? THEN 1 END) FROM app_passwords \
             WHERE user_id = ? AND revoked_at IS NULL",
        )
        .bind(&name)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        if same_name > 0 {
            return Err(DirectoryError::AppPasswordExists { user: own, name });
        }
        if live >= MAX_APP_PASSWORDS {
            return Err(DirectoryError::TooManyAppPasswords(own));
        }
        let at = now();
        let app_id: i64 = sqlx::query_scalar(
            "INSERT INTO app_passwords (user_id, name, hint, hash, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(id)
        .bind(&name)
        .bind(&new.hint)
        .bind(&new.hash)
        .bind(at)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AppPassword {
            id: app_id,
            name,
            created_at: at,
            last_used_at: None,
        })
    }

    async fn list_app_passwords(&self, address: &str) -> Result<Vec<AppPassword>> {
        let mut tx = self.pool.begin().await?;
        let (id, _) = user_id(&mut tx, address).await?;
        let rows = sqlx::query(
            "SELECT id, name, created_at, last_used_at FROM app_passwords \
             WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at, id",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        rows.iter().map(app_password_from_row).collect()
    }

    async fn revoke_app_password(&self, address: &str, name: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let (id, own) = user_id(&mut tx, address).await?;
        let done = sqlx::query(
            "UPDATE app_passwords SET revoked_at = ? WHERE user_id = ? AND name = ? AND revoked_at IS NULL",
        )
        .bind(now())
        .bind(id)
        .bind(name.trim())
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DirectoryError::UnknownAppPassword {
                user: own,
                name: name.trim().to_string(),
            });
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a successful use. An id that no longer exists (deleted meanwhile) is ignored:
    /// the sign-in it belongs to has already been decided.
    async fn touch_app_password(&self, id: i64, at_unix: i64) -> Result<()> {
        sqlx::query("UPDATE app_passwords SET last_used_at = ? WHERE id = ?")
            .bind(at_unix)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn auth_record(&self, address: &str) -> Result<Option<AuthRecord>> {
        // One read transaction, so the user, settings and credentials come from one snapshot.
        let mut tx = self.pool.begin().await?;
        let Some((row, user)) = load_user_row(&mut tx, address).await? else {
            tx.commit().await?;
            return Ok(None);
        };
        let rows = sqlx::query(
            "SELECT id, name, hint, hash FROM app_passwords WHERE user_id = ? AND revoked_at IS NULL ORDER BY id",
        )
        .bind(user.id)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let app_passwords = rows
            .iter()
            .map(|r| {
                Ok(AppPasswordSecret {
                    id: r.try_get("id")?,
                    name: r.try_get("name")?,
                    hint: r.try_get("hint")?,
                    hash: r.try_get("hash")?,
                })
            })
            .collect::<Result<_>>()?;
        Ok(Some(AuthRecord {
            org: org_settings(&row)?,
            password_hash: row.try_get("password_hash")?,
            user,
            app_passwords,
        }))
    }

    async fn record_signin(&self, entry: &SignInEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO signins (at, client_ip, client_port, tls, mechanism, user, credential, check_name, \
             reply, success) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(entry.at)
        .bind(&entry.client_ip)
        .bind(i64::from(entry.client_port))
        .bind(&entry.tls)
        .bind(&entry.mechanism)
        .bind(&entry.user)
        .bind(entry.credential.map(CredentialKind::as_str))
        .bind(&entry.check)
        .bind(&entry.reply)
        .bind(entry.success)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn signins(&self, filter: &SignInFilter) -> Result<Vec<SignInEntry>> {
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT at, client_ip, client_port, tls, mechanism, user, credential, check_name, reply, success \
             FROM signins WHERE 1 = 1",
        );
        // `user` is declared COLLATE NOCASE, so `=` compares case-insensitively and uses the index.
        if let Some(user) = &filter.user {
            query.push(" AND user = ").push_bind(user.trim().to_string());
        }
        if let Some(success) = filter.success {
            query.push(" AND success = ").push_bind(success);
        }
        if let Some(ip) = &filter.client_ip {
            query.push(" AND client_ip = ").push_bind(ip.trim().to_string());
        }
        if let Some(since) = filter.since {
            query.push(" AND at >= ").push_bind(since);
        }
        if let Some(until) = filter.until {
            query.push(" AND at <= ").push_bind(until);
        }
        query
            .push(" ORDER BY at DESC, id DESC LIMIT ")
            .push_bind(i64::from(filter.limit.unwrap_or(DEFAULT_SIGNIN_LIMIT)));
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(signin_from_row).collect()
    }
}
