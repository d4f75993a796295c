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
    ReplyId, SecurityDefaults, SignIn,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::{protection, DeviceCredential, LockoutEntry, LockoutPolicy, LockoutStatus, NewDeviceCredential, OrgLimits};
use crate::{
    AppPassword, AppPasswordSecret, AuthRecord, Directory, DirectoryError, NewAppPassword, NewUser, Org, OrgChange,
    Result, SignInBucket, SignInEntry, SignInFilter, User, UserChange,
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
    /// Shared with the admin store (`crate::admin`), which keeps its tables in the same file.
    pub(crate) pool: SqlitePool,
    /// Answers of `hosts_domain`, cleared by every write through this directory.
    hosted: std::sync::Arc<HostedCache>,
    /// Seals admin TOTP secrets at rest (crate::sealed).
    pub(crate) sealer: std::sync::Arc<crate::sealed::Sealer>,
}

/// Domain → (hosted, when asked); see [`Directory::hosts_domain`].
#[derive(Debug, Default)]
pub(crate) struct HostedCache(std::sync::Mutex<std::collections::HashMap<String, (bool, std::time::Instant)>>);

impl HostedCache {
    pub(crate) fn get(&self, domain: &str) -> Option<bool> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.get(domain).filter(|(_, at)| at.elapsed() < crate::HOSTED_DOMAIN_TTL).map(|(hosted, _)| *hosted)
    }

    pub(crate) fn put(&self, domain: String, hosted: bool) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Client-chosen names: keep the map small rather than let it grow without bound.
        if map.len() >= 10_000 {
            map.clear();
        }
        map.insert(domain, (hosted, std::time::Instant::now()));
    }

    pub(crate) fn clear(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }
}

impl From<sqlx::Error> for DirectoryError {
    /// SQLite's messages name tables and constraints, never bound values, so no secret leaks.
    fn from(e: sqlx::Error) -> Self {
        DirectoryError::Storage(e.to_string())
    }
}

impl SqliteDirectory {
    /// Opens (creating it if missing) the database at `path` and brings its schema up to date.
    /// Every commit is fsynced: for the admin commands, whose changes must survive a power cut.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::open_with(path, SqliteSynchronous::Full).await
    }

    /// [`SqliteDirectory::open`] for the server process: WAL with `synchronous = NORMAL`. A
    /// commit is still atomic and never corrupts the database, but is not fsynced on its own
    /// (checkpoints are). The server writes per-message counters and a sign-in row per AUTH;
    /// with an fsync each, serialised behind SQLite's single writer, they were the bottleneck
    /// under concurrent submission (README "Performance"). A power cut may lose the server's
    /// last moments of counters and log rows; admin changes come from CLI processes, which
    /// open with [`SqliteDirectory::open`] and fsync every commit, and accepted messages are
    /// made durable by the spool, not by this database.
    pub async fn open_for_server(path: &Path) -> Result<Self> {
        Self::open_with(path, SqliteSynchronous::Normal).await
    }

    async fn open_with(path: &Path, synchronous: SqliteSynchronous) -> Result<Self> {
        // The database holds password hashes and the audit log: owner only. Created 0600 here
        // (SQLite gives its -wal and -shm files the same mode), tightened if it was looser.
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            let storage = |e: std::io::Error| DirectoryError::Storage(format!("cannot open {}: {e}", path.display()));
            match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let mode = std::fs::metadata(path).map_err(storage)?.permissions().mode();
                    if mode & 0o077 != 0 {
                        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))
                            .map_err(storage)?;
                    }
                }
                Err(e) => return Err(storage(e)),
            }
        }
        let sealer = crate::sealed::Sealer::load_or_create(path.parent().unwrap_or(Path::new(".")))?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(|e| DirectoryError::Storage(format!("cannot open {}: {e}", path.display())))?;
        let dir = Self::migrated(pool, sealer).await?;
        dir.seal_clear_totp_secrets().await?;
        Ok(dir)
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
        Self::migrated(pool, crate::sealed::Sealer::ephemeral()).await
    }

    async fn migrated(pool: SqlitePool, sealer: crate::sealed::Sealer) -> Result<Self> {
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| DirectoryError::Storage(format!("cannot apply the directory schema: {e}")))?;
        Ok(SqliteDirectory { pool, hosted: Default::default(), sealer: std::sync::Arc::new(sealer) })
    }

    /// Writes a consistent copy of the whole database (directory, admin store, sign-in log) to
    /// `dest`, a path that must not exist yet, while other processes go on reading and
    /// writing: `VACUUM INTO` reads one snapshot of the database inside a read transaction.
    pub async fn snapshot_into(&self, dest: &Path) -> Result<()> {
        let dest = dest.to_str().ok_or_else(|| DirectoryError::Storage(format!("{} is not UTF-8", dest.display())))?;
        sqlx::query!("VACUUM INTO ?", dest).execute(&self.pool).await?;
        Ok(())
    }

    /// Closes the pool, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Starts a read-modify-write transaction holding the write lock from the start.
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, Sqlite>> {
        // Any write may add or move a domain.
        self.hosted.clear();
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

/// Current time in unix seconds.
pub(crate) fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// The stored form of a domain: trimmed, without a trailing root dot, lower-case.
pub(crate) fn normalize_domain(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_lowercase()
}

/// The stored form of a mailbox address, or `None` when it is not an address at all (such an
/// address cannot exist in the directory).
pub(crate) fn normalize_address(address: &str) -> Option<String> {
    Address::parse(address).ok().map(String::from)
}

/// The stored form of a send-as address: brackets and spaces removed, lower-case.
pub(crate) fn normalize_send_as(address: &str) -> String {
    let trimmed = address.trim();
    trimmed.strip_prefix('<').and_then(|s| s.strip_suffix('>')).unwrap_or(trimmed).trim().to_lowercase()
}

/// Reads a setting stored as its spelling; an unknown spelling means the file was edited by hand
/// or by a newer version, which is a storage problem, not a verdict.
fn setting<T: FromStr>(text: &str, column: &str) -> Result<T> {
    crate::model::parse_stored(text, column)
}

/// An organisation row. The queries that read it spell its columns out (a compile-checked query
/// is one literal string): `SELECT id, name, security_defaults, smtp_auth AS org_smtp_auth,
/// app_passwords, device_credentials, created_at FROM orgs`.
struct OrgRow {
    id: i64,
    name: String,
    security_defaults: String,
    org_smtp_auth: String,
    app_passwords: String,
    device_credentials: String,
    created_at: i64,
}

/// The organisation's settings as stored in its row (or in a user row joined with it); the
/// column names in errors are the ones the queries give them.
fn org_settings(
    security_defaults: &str,
    org_smtp_auth: &str,
    app_passwords: &str,
    device_credentials: &str,
) -> Result<OrgSettings> {
    Ok(OrgSettings {
        security_defaults: setting(security_defaults, "security_defaults")?,
        smtp_auth: setting(org_smtp_auth, "org_smtp_auth")?,
        app_passwords: setting(app_passwords, "app_passwords")?,
        device_credentials: setting(device_credentials, "device_credentials")?,
    })
}

fn org_from_row(row: OrgRow, domains: Vec<String>) -> Result<Org> {
    Ok(Org {
        settings: org_settings(
            &row.security_defaults,
            &row.org_smtp_auth,
            &row.app_passwords,
            &row.device_credentials,
        )?,
        id: row.id,
        name: row.name,
        domains,
        created_at: row.created_at,
    })
}

async fn org_domains(conn: &mut SqliteConnection, org_id: i64) -> Result<Vec<String>> {
    // A TEXT primary key may hold NULL in SQLite, so the macro would read Option; domains are
    // never written NULL.
    Ok(sqlx::query_scalar!(r#"SELECT domain AS "domain!" FROM domains WHERE org_id = ? ORDER BY rowid"#, org_id)
        .fetch_all(conn)
        .await?)
}

async fn load_org(conn: &mut SqliteConnection, name: &str) -> Result<Option<Org>> {
    let name = name.trim();
    let row = sqlx::query_as!(
        OrgRow,
        r#"SELECT id AS "id!", name, security_defaults, smtp_auth AS org_smtp_auth, app_passwords, device_credentials,
                  created_at
             FROM orgs WHERE name = ?"#,
        name
    )
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => {
            let domains = org_domains(conn, row.id).await?;
            Ok(Some(org_from_row(row, domains)?))
        }
        None => Ok(None),
    }
}

async fn org_id(conn: &mut SqliteConnection, name: &str) -> Result<i64> {
    let name = name.trim();
    sqlx::query_scalar!(r#"SELECT id AS "id!" FROM orgs WHERE name = ?"#, name)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| DirectoryError::UnknownOrg(name.to_string()))
}

/// The name of the organisation that accepts `domain` (already normalised), if any.
async fn domain_owner(conn: &mut SqliteConnection, domain: &str) -> Result<Option<(i64, String)>> {
    let row = sqlx::query!(
        r#"SELECT o.id AS "id!", o.name FROM domains d JOIN orgs o ON o.id = d.org_id WHERE d.domain = ?"#,
        domain
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.id, r.name)))
}

/// A user row joined with its organisation: the user's own columns plus the organisation's
/// name and settings, so the AUTH view needs one row. The queries that read it spell its
/// columns out: `SELECT u.id, o.name AS org, u.address, u.display_name, u.password_hash,
/// u.sign_in, u.smtp_auth, u.mfa, u.created_at, u.password_changed_at, o.security_defaults,
/// o.smtp_auth AS org_smtp_auth, o.app_passwords, o.device_credentials FROM users u JOIN orgs o
/// ON o.id = u.org_id`.
struct UserRow {
    id: i64,
    org: String,
    address: String,
    display_name: String,
    password_hash: String,
    sign_in: String,
    smtp_auth: String,
    mfa: String,
    created_at: i64,
    password_changed_at: i64,
    security_defaults: String,
    org_smtp_auth: String,
    app_passwords: String,
    device_credentials: String,
}

impl UserRow {
    /// Read only by the AUTH view: listing users does not depend on readable org settings.
    fn org_settings(&self) -> Result<OrgSettings> {
        org_settings(&self.security_defaults, &self.org_smtp_auth, &self.app_passwords, &self.device_credentials)
    }
}

fn user_from_row(row: &UserRow, send_as: Vec<String>) -> Result<User> {
    Ok(User {
        id: row.id,
        org: row.org.clone(),
        address: row.address.clone(),
        display_name: row.display_name.clone(),
        settings: MailboxSettings {
            sign_in: setting(&row.sign_in, "sign_in")?,
            smtp_auth: setting(&row.smtp_auth, "smtp_auth")?,
            mfa: setting(&row.mfa, "mfa")?,
        },
        send_as,
        created_at: row.created_at,
        password_changed_at: row.password_changed_at,
    })
}

async fn user_send_as(conn: &mut SqliteConnection, user_id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar!("SELECT address FROM send_as WHERE user_id = ? ORDER BY address", user_id)
        .fetch_all(conn)
        .await?)
}

/// The user row (with its organisation's columns) and the user, or `None` if unknown.
async fn load_user_row(conn: &mut SqliteConnection, address: &str) -> Result<Option<(UserRow, User)>> {
    let Some(address) = normalize_address(address) else {
        return Ok(None);
    };
    let row = sqlx::query_as!(
        UserRow,
        r#"SELECT u.id AS "id!", o.name AS org, u.address, u.display_name, u.password_hash, u.sign_in, u.smtp_auth,
                  u.mfa, u.created_at, u.password_changed_at, o.security_defaults, o.smtp_auth AS org_smtp_auth,
                  o.app_passwords, o.device_credentials
             FROM users u JOIN orgs o ON o.id = u.org_id WHERE u.address = ?"#,
        address
    )
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => {
            let send_as = user_send_as(conn, row.id).await?;
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
    let id = sqlx::query_scalar!(r#"SELECT id AS "id!" FROM users WHERE address = ?"#, normalized)
        .fetch_optional(conn)
        .await?
        .ok_or_else(unknown)?;
    Ok((id, normalized))
}

impl SqliteDirectory {
    /// The filter's conditions (` AND …`), shared by the list, the count and the chart. A
    /// client range is matched in Rust ([`crate::listing::ClientFilter`]) against the log's
    /// distinct addresses; the rows are then selected by that list.
    async fn signin_where(&self, query: &mut QueryBuilder<'_, Sqlite>, filter: &SignInFilter) -> Result<()> {
        // `user` is declared COLLATE NOCASE, so `=` compares case-insensitively and uses the index.
        if let Some(user) = &filter.user {
            query.push(" AND user = ").push_bind(user.trim().to_string());
        }
        if let Some(part) = filter.user_contains.as_deref().filter(|p| !p.trim().is_empty()) {
            query.push(" AND lower(user) LIKE ").push_bind(crate::listing::contains_pattern(part)).push(" ESCAPE '\\'");
        }
        if let Some(success) = filter.success {
            query.push(" AND success = ").push_bind(success);
        }
        if let Some(ip) = &filter.client_ip {
            query.push(" AND client_ip = ").push_bind(ip.trim().to_string());
        }
        if let Some(client) = &filter.client {
            let distinct: Vec<String> = {
                let (since, until) = (filter.since.unwrap_or(i64::MIN), filter.until.unwrap_or(i64::MAX));
                sqlx::query_scalar!("SELECT DISTINCT client_ip FROM signins WHERE at >= ? AND at <= ?", since, until)
                    .fetch_all(&self.pool)
                    .await?
            };
            let chosen = serde_json::to_string(&client.select(distinct)).unwrap_or_else(|_| "[]".into());
            query.push(" AND client_ip IN (SELECT value FROM json_each(").push_bind(chosen).push("))");
        }
        if let Some(since) = filter.since {
            query.push(" AND at >= ").push_bind(since);
        }
        if let Some(until) = filter.until {
            query.push(" AND at <= ").push_bind(until);
        }
        if filter.legacy_only {
            query.push(" AND listener <> ''");
        }
        Ok(())
    }
}

fn signin_from_row(row: &SqliteRow) -> Result<SignInEntry> {
    crate::model::StoredSignIn {
        at: row.try_get("at")?,
        client_ip: row.try_get("client_ip")?,
        client_port: row.try_get("client_port")?,
        tls: row.try_get("tls")?,
        mechanism: row.try_get("mechanism")?,
        user: row.try_get("user")?,
        credential: row.try_get("credential")?,
        check: row.try_get("check_name")?,
        reply: row.try_get("reply")?,
        success: row.try_get("success")?,
        listener: row.try_get("listener")?,
    }
    .into_entry()
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
        let (security_defaults, smtp_auth, app_passwords) =
            (settings.security_defaults.as_str(), settings.smtp_auth.as_str(), settings.app_passwords.as_str());
        let id = sqlx::query_scalar!(
            r#"INSERT INTO orgs (name, security_defaults, smtp_auth, app_passwords, created_at)
               VALUES (?, ?, ?, ?, ?) RETURNING id AS "id!""#,
            name,
            security_defaults,
            smtp_auth,
            app_passwords,
            at
        )
        .fetch_one(&mut *tx)
        .await?;
        for domain in &wanted {
            sqlx::query!("INSERT INTO domains (domain, org_id, added_at) VALUES (?, ?, ?)", domain, id, at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Org { id, name: name.to_string(), domains: wanted, settings, created_at: at })
    }

    async fn list_orgs(&self) -> Result<Vec<Org>> {
        let mut tx = self.pool.begin().await?;
        // `main.<table>` (SQLite's name for the open file): PostgreSQL cannot run this text, so
        // scripts/sqlx-prepare describes it against SQLite alone.
        let rows = sqlx::query_as!(
            OrgRow,
            r#"SELECT id AS "id!", name, security_defaults, smtp_auth AS org_smtp_auth, app_passwords,
                      device_credentials, created_at
                 FROM main.orgs ORDER BY name"#
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut domains: HashMap<i64, Vec<String>> = HashMap::new();
        for row in sqlx::query!(r#"SELECT org_id, domain AS "domain!" FROM domains ORDER BY rowid"#)
            .fetch_all(&mut *tx)
            .await?
        {
            domains.entry(row.org_id).or_default().push(row.domain);
        }
        tx.commit().await?;
        rows.into_iter()
            .map(|row| {
                let domains = domains.remove(&row.id).unwrap_or_default();
                org_from_row(row, domains)
            })
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

    async fn hosts_domain(&self, domain: &str) -> Result<bool> {
        let domain = normalize_domain(domain);
        if let Some(hosted) = self.hosted.get(&domain) {
            return Ok(hosted);
        }
        let hosted = domain_owner(&mut *self.pool.acquire().await?, &domain).await?.is_some();
        self.hosted.put(domain, hosted);
        Ok(hosted)
    }

    async fn update_org(&self, name: &str, change: OrgChange) -> Result<Org> {
        let mut tx = self.write_tx().await?;
        let id = org_id(&mut tx, name).await?;
        let security_defaults = change.security_defaults.map(SecurityDefaults::as_str);
        let smtp_auth = change.smtp_auth.map(OrgSmtpAuth::as_str);
        let app_passwords = change.app_passwords.map(AppPasswordsPolicy::as_str);
        let device_credentials = change.device_credentials.map(authrelay_core::DeviceCredentialsPolicy::as_str);
        sqlx::query!(
            "UPDATE orgs SET security_defaults = COALESCE(?, security_defaults), \
             smtp_auth = COALESCE(?, smtp_auth), app_passwords = COALESCE(?, app_passwords), \
             device_credentials = COALESCE(?, device_credentials) WHERE id = ?",
            security_defaults,
            smtp_auth,
            app_passwords,
            device_credentials,
            id
        )
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
                let at = now();
                sqlx::query!("INSERT INTO domains (domain, org_id, added_at) VALUES (?, ?, ?)", domain, id, at)
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
        let stored_address = address.as_str();
        let taken = sqlx::query_scalar!(r#"SELECT id AS "id!" FROM users WHERE address = ?"#, stored_address)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(DirectoryError::UserExists(address.to_string()));
        }
        let at = now();
        let settings = MailboxSettings::default();
        let display_name = new.display_name.trim().to_string();
        let (sign_in, smtp_auth, mfa) = (settings.sign_in.as_str(), settings.smtp_auth.as_str(), settings.mfa.as_str());
        let id = sqlx::query_scalar!(
            r#"INSERT INTO users (org_id, address, display_name, password_hash, sign_in, smtp_auth, mfa, created_at,
                                  password_changed_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id AS "id!""#,
            org_id,
            stored_address,
            display_name,
            new.password_hash,
            sign_in,
            smtp_auth,
            mfa,
            at,
            at
        )
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
        let only_org = match org {
            Some(name) => Some(org_id(&mut tx, name).await?),
            None => None,
        };
        let rows = sqlx::query_as!(
            UserRow,
            r#"SELECT u.id AS "id!", o.name AS org, u.address, u.display_name, u.password_hash, u.sign_in,
                      u.smtp_auth, u.mfa, u.created_at, u.password_changed_at, o.security_defaults,
                      o.smtp_auth AS org_smtp_auth, o.app_passwords, o.device_credentials
                 FROM users u JOIN orgs o ON o.id = u.org_id WHERE ? IS NULL OR u.org_id = ? ORDER BY u.address"#,
            only_org,
            only_org
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut send_as: HashMap<i64, Vec<String>> = HashMap::new();
        // `main.<table>` (SQLite's name for the open file): PostgreSQL cannot run this text, so
        // scripts/sqlx-prepare describes it against SQLite alone.
        for row in
            sqlx::query!("SELECT user_id, address FROM main.send_as ORDER BY address").fetch_all(&mut *tx).await?
        {
            send_as.entry(row.user_id).or_default().push(row.address);
        }
        tx.commit().await?;
        rows.iter().map(|row| user_from_row(row, send_as.remove(&row.id).unwrap_or_default())).collect()
    }

    /// Send-as addresses are stored lower-case; adding the mailbox's own address (always
    /// allowed anyway) or an empty one is ignored.
    async fn update_user(&self, address: &str, change: UserChange) -> Result<User> {
        let mut tx = self.write_tx().await?;
        let (id, own) = user_id(&mut tx, address).await?;
        let display_name = change.display_name.as_deref().map(str::trim);
        let sign_in = change.sign_in.map(SignIn::as_str);
        let smtp_auth = change.smtp_auth.map(MailboxSmtpAuth::as_str);
        let mfa = change.mfa.map(MfaState::as_str);
        sqlx::query!(
            "UPDATE users SET display_name = COALESCE(?, display_name), sign_in = COALESCE(?, sign_in), \
             smtp_auth = COALESCE(?, smtp_auth), mfa = COALESCE(?, mfa) WHERE id = ?",
            display_name,
            sign_in,
            smtp_auth,
            mfa,
            id
        )
        .execute(&mut *tx)
        .await?;
        for extra in change.add_send_as.iter().map(|a| normalize_send_as(a)) {
            if extra.is_empty() || extra == own {
                continue;
            }
            sqlx::query!("INSERT OR IGNORE INTO send_as (user_id, address) VALUES (?, ?)", id, extra)
                .execute(&mut *tx)
                .await?;
        }
        for extra in change.remove_send_as.iter().map(|a| normalize_send_as(a)) {
            sqlx::query!("DELETE FROM send_as WHERE user_id = ? AND address = ?", id, extra).execute(&mut *tx).await?;
        }
        let user = load_user(&mut tx, &own).await?;
        tx.commit().await?;
        user.ok_or_else(|| DirectoryError::UnknownUser(address.trim().to_string()))
    }

    async fn set_password_hash(&self, address: &str, password_hash: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let (id, _) = user_id(&mut tx, address).await?;
        let at = now();
        sqlx::query!("UPDATE users SET password_hash = ?, password_changed_at = ? WHERE id = ?", password_hash, at, id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_user(&self, address: &str) -> Result<User> {
        let mut tx = self.write_tx().await?;
        let user = load_user(&mut tx, address)
            .await?
            .ok_or_else(|| DirectoryError::UnknownUser(address.trim().to_string()))?;
        // Others' grants to send as this mailbox go with it: a mailbox made later at the same
        // address is someone else's (the grantee's own grants go by the foreign key).
        sqlx::query!("DELETE FROM send_as WHERE address = ?", user.address).execute(&mut *tx).await?;
        sqlx::query!("DELETE FROM users WHERE id = ?", user.id).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(user)
    }

    async fn rename_user(&self, address: &str, new_address: &str) -> Result<User> {
        let new = Address::parse(new_address)
            .map_err(|_| DirectoryError::NoOrgForDomain(new_address.trim().to_lowercase()))?;
        let mut tx = self.write_tx().await?;
        let (id, old_address) = user_id(&mut tx, address).await?;
        let (org_id, _) = domain_owner(&mut tx, new.domain())
            .await?
            .ok_or_else(|| DirectoryError::NoOrgForDomain(new.domain().to_string()))?;
        let new_address = new.as_str();
        let taken = sqlx::query_scalar!(r#"SELECT id AS "id!" FROM users WHERE address = ?"#, new_address)
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(DirectoryError::UserExists(new.to_string()));
        }
        sqlx::query!("UPDATE users SET address = ?, org_id = ? WHERE id = ?", new_address, org_id, id)
            .execute(&mut *tx)
            .await?;
        // Others' grants to send as the mailbox follow it to its new address (as Send As follows
        // a mailbox, not an address string): the old address, free now, grants nobody anything.
        sqlx::query!(
            "DELETE FROM send_as WHERE address = ? AND user_id IN (SELECT user_id FROM send_as WHERE address = ?)",
            old_address,
            new_address
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!("UPDATE send_as SET address = ? WHERE address = ?", new_address, old_address)
            .execute(&mut *tx)
            .await?;
        // The mailbox may always send as its own address: a grant for it is redundant.
        sqlx::query!("DELETE FROM send_as WHERE user_id = ? AND address = ?", id, new_address)
            .execute(&mut *tx)
            .await?;
        let user = load_user(&mut tx, new.as_str()).await?;
        tx.commit().await?;
        user.ok_or_else(|| DirectoryError::UnknownUser(new.to_string()))
    }

    async fn add_app_password(&self, address: &str, new: NewAppPassword) -> Result<AppPassword> {
        let name = new.name.trim().to_string();
        let mut tx = self.write_tx().await?;
        let (id, own) = user_id(&mut tx, address).await?;
        let counts = sqlx::query!(
            r#"SELECT COUNT(*) AS "live!: i64", COUNT(CASE WHEN name = ? THEN 1 END) AS "same_name!: i64"
               FROM app_passwords WHERE user_id = ? AND revoked_at IS NULL"#,
            name,
            id
        )
        .fetch_one(&mut *tx)
        .await?;
        let (live, same_name) = (counts.live, counts.same_name);
        if same_name > 0 {
            return Err(DirectoryError::AppPasswordExists { user: own, name });
        }
        if live >= MAX_APP_PASSWORDS {
            return Err(DirectoryError::TooManyAppPasswords(own));
        }
        let at = now();
        let app_id = sqlx::query_scalar!(
            r#"INSERT INTO app_passwords (user_id, name, hint, hash, created_at) VALUES (?, ?, ?, ?, ?)
               RETURNING id AS "id!""#,
            id,
            name,
            new.hint,
            new.hash,
            at
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AppPassword { id: app_id, name, created_at: at, last_used_at: None })
    }

    async fn list_app_passwords(&self, address: &str) -> Result<Vec<AppPassword>> {
        let mut tx = self.pool.begin().await?;
        let (id, _) = user_id(&mut tx, address).await?;
        let listed = sqlx::query_as!(
            AppPassword,
            r#"SELECT id AS "id!", name, created_at, last_used_at FROM app_passwords
                WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at, id"#,
            id
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(listed)
    }

    async fn revoke_app_password(&self, address: &str, name: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let (id, own) = user_id(&mut tx, address).await?;
        let (at, name) = (now(), name.trim());
        let done = sqlx::query!(
            "UPDATE app_passwords SET revoked_at = ? WHERE user_id = ? AND name = ? AND revoked_at IS NULL",
            at,
            id,
            name
        )
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DirectoryError::UnknownAppPassword { user: own, name: name.to_string() });
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a successful use. An id that no longer exists (deleted meanwhile) is ignored:
    /// the sign-in it belongs to has already been decided.
    async fn touch_app_password(&self, id: i64, at_unix: i64) -> Result<()> {
        sqlx::query!("UPDATE app_passwords SET last_used_at = ? WHERE id = ?", at_unix, id).execute(&self.pool).await?;
        Ok(())
    }

    async fn add_device_credential(&self, address: &str, new: NewDeviceCredential) -> Result<DeviceCredential> {
        crate::device::add(&self.pool, address, new, now()).await
    }

    async fn list_device_credentials(&self, address: &str) -> Result<Vec<DeviceCredential>> {
        crate::device::list(&self.pool, address).await
    }

    async fn revoke_device_credential(&self, address: &str, name: &str) -> Result<()> {
        crate::device::revoke(&self.pool, address, name, now()).await
    }

    async fn touch_device_credential(&self, id: i64, at_unix: i64, client_ip: &str) -> Result<()> {
        crate::device::touch(&self.pool, id, at_unix, client_ip).await
    }

    async fn auth_record(&self, address: &str) -> Result<Option<AuthRecord>> {
        // One read transaction, so the user, settings and credentials come from one snapshot.
        let mut tx = self.pool.begin().await?;
        let found = load_user_row(&mut tx, address).await?;
        // An unknown user runs the same credential queries (for an id that cannot exist), so the
        // directory's share of an AUTH attempt costs the same whether the user exists or not.
        let user_id = found.as_ref().map(|(_, u)| u.id).unwrap_or(-1);
        if found.is_none() {
            user_send_as(&mut tx, user_id).await?;
        }
        let app_passwords = sqlx::query_as!(
            AppPasswordSecret,
            r#"SELECT id AS "id!", name, hint, hash FROM app_passwords WHERE user_id = ? AND revoked_at IS NULL
                ORDER BY id"#,
            user_id
        )
        .fetch_all(&mut *tx)
        .await?;
        let device_credentials = crate::device::secrets_of(&mut tx, user_id).await?;
        tx.commit().await?;
        let Some((row, user)) = found else {
            return Ok(None);
        };
        Ok(Some(AuthRecord {
            org: row.org_settings()?,
            password_hash: row.password_hash,
            user,
            app_passwords,
            device_credentials,
        }))
    }

    async fn record_signin(&self, entry: &SignInEntry) -> Result<()> {
        let client_port = i64::from(entry.client_port);
        let credential = entry.credential.map(CredentialKind::as_str);
        let check = entry.check.as_str();
        let reply = entry.reply.map_or("", ReplyId::as_str);
        let listener = entry.listener.as_deref().unwrap_or("");
        sqlx::query!(
            "INSERT INTO signins (at, client_ip, client_port, tls, mechanism, user, credential, check_name, \
             reply, success, listener) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            entry.at,
            entry.client_ip,
            client_port,
            entry.tls,
            entry.mechanism,
            entry.user,
            credential,
            check,
            reply,
            entry.success,
            listener
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn prune_signins(&self, before: i64, batch: u32) -> Result<u64> {
        let mut total = 0;
        let limit = i64::from(batch.max(1));
        loop {
            let gone = sqlx::query!(
                "DELETE FROM signins WHERE id IN (SELECT id FROM signins WHERE at < ? ORDER BY at LIMIT ?)",
                before,
                limit
            )
            .execute(&self.pool)
            .await?
            .rows_affected();
            total += gone;
            if gone < u64::from(batch.max(1)) {
                return Ok(total);
            }
            // Let sign-ins waiting for the writer go first.
            tokio::task::yield_now().await;
        }
    }

    async fn signins(&self, filter: &SignInFilter) -> Result<Vec<SignInEntry>> {
        // Runtime-checked: the WHERE clause depends on which filters are set.
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT at, client_ip, client_port, tls, mechanism, user, credential, check_name, reply, success, \
             listener FROM signins WHERE 1 = 1",
        );
        self.signin_where(&mut query, filter).await?;
        query
            .push(" ORDER BY at DESC, id DESC LIMIT ")
            .push_bind(i64::from(filter.limit.unwrap_or(DEFAULT_SIGNIN_LIMIT)))
            .push(" OFFSET ")
            .push_bind(i64::try_from(filter.offset).unwrap_or(i64::MAX));
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(signin_from_row).collect()
    }

    async fn count_signins(&self, filter: &SignInFilter) -> Result<u64> {
        let mut query = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM signins WHERE 1 = 1");
        self.signin_where(&mut query, filter).await?;
        let n: i64 = query.build_query_scalar().fetch_one(&self.pool).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn signin_buckets(&self, filter: &SignInFilter, width: i64) -> Result<Vec<SignInBucket>> {
        let width = width.max(1);
        let mut query = QueryBuilder::<Sqlite>::new("SELECT (at - (at % ");
        query
            .push_bind(width)
            .push(")) AS start, SUM(success) AS ok, COUNT(*) - SUM(success) AS refused FROM signins WHERE 1 = 1");
        self.signin_where(&mut query, filter).await?;
        query.push(" GROUP BY start ORDER BY start");
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(SignInBucket {
                    start: r.try_get("start")?,
                    succeeded: u64::try_from(r.try_get::<i64, _>("ok")?).unwrap_or(0),
                    refused: u64::try_from(r.try_get::<i64, _>("refused")?).unwrap_or(0),
                })
            })
            .collect()
    }

    async fn expiring_device_credentials(&self, before: i64) -> Result<Vec<(String, DeviceCredential)>> {
        crate::device::expiring(&self.pool, before).await
    }

    async fn lockout_status(
        &self,
        name: &str,
        client_ip: &str,
        now: i64,
        policy: &LockoutPolicy,
    ) -> Result<LockoutStatus> {
        protection::lockout_status(&self.pool, name, client_ip, now, policy).await
    }

    async fn record_auth_failure(
        &self,
        name: &str,
        client_ip: &str,
        now: i64,
        policy: &LockoutPolicy,
    ) -> Result<LockoutStatus> {
        protection::record_failure(&self.pool, name, client_ip, now, policy).await
    }

    async fn record_auth_success(&self, name: &str, client_ip: &str, now: i64, policy: &LockoutPolicy) -> Result<()> {
        protection::record_success(&self.pool, name, client_ip, now, policy).await
    }

    async fn unlock(&self, name: &str, now: i64) -> Result<u64> {
        protection::unlock(&self.pool, name, now).await
    }

    async fn lockouts(&self, name: &str) -> Result<Vec<LockoutEntry>> {
        protection::lockouts(&self.pool, name).await
    }

    async fn recipients_since(&self, address: &str, since: i64) -> Result<u64> {
        protection::recipients_since(&self.pool, address, since).await
    }

    async fn record_recipients(&self, address: &str, at: i64, count: u32) -> Result<()> {
        protection::record_recipients(&self.pool, address, at, count).await
    }

    async fn record_recipients_batch(&self, batch: &[(String, i64, u32)]) -> Result<()> {
        protection::record_recipients_batch(&self.pool, batch).await
    }

    async fn org_limits(&self, org: &str) -> Result<OrgLimits> {
        protection::org_limits(&self.pool, org).await?.ok_or_else(|| DirectoryError::UnknownOrg(org.to_string()))
    }

    async fn set_org_limits(&self, org: &str, change: OrgLimits) -> Result<OrgLimits> {
        protection::set_org_limits(&self.pool, org, change)
            .await?
            .ok_or_else(|| DirectoryError::UnknownOrg(org.to_string()))
    }

    async fn org_language(&self, org: &str) -> Result<Option<String>> {
        let name = org.trim();
        let language =
            sqlx::query_scalar!("SELECT language FROM orgs WHERE name = ?", name).fetch_optional(&self.pool).await?;
        language.ok_or_else(|| DirectoryError::UnknownOrg(org.to_string()))
    }

    async fn set_org_language(&self, org: &str, language: Option<&str>) -> Result<Option<String>> {
        let name = org.trim();
        let done =
            sqlx::query!("UPDATE orgs SET language = ? WHERE name = ?", language, name).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(DirectoryError::UnknownOrg(org.to_string()));
        }
        self.org_language(org).await
    }

    async fn record_submissions(&self, batch: &[crate::SubmissionCount]) -> Result<()> {
        crate::submissions::record(&self.pool, batch).await
    }

    async fn submissions_since(&self, since: i64) -> Result<Vec<crate::SubmissionCount>> {
        crate::submissions::since(&self.pool, since).await
    }

    async fn record_imported_sender(&self, sender: &crate::ImportedSender) -> Result<()> {
        crate::imports::record(&self.pool, sender).await
    }

    async fn imported_senders(&self) -> Result<Vec<crate::ImportedSender>> {
        crate::imports::list(&self.pool).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets;
    use authrelay_core::Check;
    use tempfile::TempDir;

    async fn fresh() -> (TempDir, SqliteDirectory) {
        let dir = tempfile::tempdir().unwrap();
        let db = SqliteDirectory::open(&dir.path().join("directory.db")).await.unwrap();
        (dir, db)
    }

    fn domains(list: &[&str]) -> Vec<String> {
        list.iter().map(|d| d.to_string()).collect()
    }

    fn new_user(address: &str) -> NewUser {
        NewUser {
            address: address.to_string(),
            display_name: format!("User {address}"),
            // Not a real hash: most tests never verify it, and argon2 would only slow them.
            password_hash: format!("hash-of-{address}"),
        }
    }

    fn new_app(name: &str) -> NewAppPassword {
        NewAppPassword { name: name.to_string(), hint: "abc".to_string(), hash: format!("hash-of-{name}") }
    }

    /// An organisation "Contoso" accepting contoso.com, with one user alice@contoso.com.
    async fn contoso() -> (TempDir, SqliteDirectory) {
        let (tmp, db) = fresh().await;
        db.create_org("Contoso", &domains(&["contoso.com"])).await.unwrap();
        db.create_user(new_user("alice@contoso.com")).await.unwrap();
        (tmp, db)
    }

    fn signin(at: i64, user: &str, ip: &str, success: bool) -> SignInEntry {
        SignInEntry {
            at,
            client_ip: ip.to_string(),
            client_port: 50_000,
            tls: "TLSv1.3".to_string(),
            mechanism: "PLAIN".to_string(),
            user: user.to_string(),
            credential: Some(CredentialKind::Password),
            check: if success { Check::Accepted } else { Check::Credentials },
            reply: Some(if success { ReplyId::AuthOk } else { ReplyId::BadCredentials }),
            success,
            listener: None,
        }
    }

    #[tokio::test]
    async fn open_creates_the_file_in_wal_mode_and_reopens() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("sub.db");
        let db = SqliteDirectory::open(&path).await.unwrap();
        assert!(path.exists());
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(&db.pool).await.unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(&db.pool).await.unwrap();
        assert_eq!(fk, 1);
        db.create_org("Contoso", &domains(&["contoso.com"])).await.unwrap();
        db.close().await;
        // Opening again runs no migration twice and keeps the data.
        let again = SqliteDirectory::open(&path).await.unwrap();
        assert!(again.org("Contoso").await.unwrap().is_some());
    }

    #[tokio::test]
    async fn open_in_a_missing_directory_is_a_storage_error() {
        let tmp = tempfile::tempdir().unwrap();
        let err = SqliteDirectory::open(&tmp.path().join("no/such/dir/x.db")).await.unwrap_err();
        assert!(matches!(err, DirectoryError::Storage(ref m) if m.contains("cannot open")), "{err:?}");
    }

    #[tokio::test]
    async fn in_memory_directory_works() {
        let db = SqliteDirectory::open_in_memory().await.unwrap();
        db.create_org("Fabrikam", &domains(&["fabrikam.com"])).await.unwrap();
        db.create_user(new_user("bob@fabrikam.com")).await.unwrap();
        assert_eq!(db.list_users(None).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn org_round_trip_with_spec_defaults() {
        let (_tmp, db) = fresh().await;
        let created =
            db.create_org(" Contoso ", &domains(&["Contoso.COM", "contoso.com", "mail.contoso.com."])).await.unwrap();
        assert_eq!(created.name, "Contoso");
        assert_eq!(created.domains, ["contoso.com", "mail.contoso.com"]);
        assert_eq!(created.settings, OrgSettings::default());
        assert_eq!(created.settings.security_defaults, SecurityDefaults::On);
        assert!(created.created_at > 1_600_000_000);

        assert_eq!(db.org("Contoso").await.unwrap().as_ref(), Some(&created));
        assert_eq!(db.org("contoso").await.unwrap().as_ref(), Some(&created), "names compare case-insensitively");
        assert_eq!(db.org("Fabrikam").await.unwrap(), None);
        assert_eq!(db.org_for_domain("MAIL.contoso.com").await.unwrap().as_ref(), Some(&created));
        assert_eq!(db.org_for_domain("fabrikam.com").await.unwrap(), None);

        db.create_org("Adatum", &[]).await.unwrap();
        let names: Vec<String> = db.list_orgs().await.unwrap().into_iter().map(|o| o.name).collect();
        assert_eq!(names, ["Adatum", "Contoso"]);
        assert_eq!(db.list_orgs().await.unwrap()[1], created);
    }

    #[tokio::test]
    async fn update_org_changes_only_what_is_given() {
        let (_tmp, db) = contoso().await;
        let org = db
            .update_org("Contoso", OrgChange { security_defaults: Some(SecurityDefaults::Off), ..OrgChange::default() })
            .await
            .unwrap();
        assert_eq!(org.settings.security_defaults, SecurityDefaults::Off);
        assert_eq!(org.settings.smtp_auth, OrgSmtpAuth::Disabled);
        let org = db
            .update_org(
                "contoso",
                OrgChange {
                    smtp_auth: Some(OrgSmtpAuth::Enabled),
                    app_passwords: Some(AppPasswordsPolicy::Allowed),
                    ..OrgChange::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            org.settings,
            OrgSettings {
                security_defaults: SecurityDefaults::Off,
                smtp_auth: OrgSmtpAuth::Enabled,
                app_passwords: AppPasswordsPolicy::Allowed,
                ..OrgSettings::default()
            }
        );
        assert_eq!(db.org("Contoso").await.unwrap().unwrap(), org);
        // Stored as the documented spellings.
        let stored: (String, String, String) =
            sqlx::query_as("SELECT security_defaults, smtp_auth, app_passwords FROM orgs")
                .fetch_one(&db.pool)
                .await
                .unwrap();
        assert_eq!(stored, ("off".into(), "enabled".into(), "allowed".into()));
    }

    #[tokio::test]
    async fn add_domain_appends_and_is_idempotent() {
        let (_tmp, db) = contoso().await;
        let org = db.add_domain("Contoso", "Contoso.NET").await.unwrap();
        assert_eq!(org.domains, ["contoso.com", "contoso.net"]);
        let org = db.add_domain("Contoso", "contoso.net").await.unwrap();
        assert_eq!(org.domains, ["contoso.com", "contoso.net"]);
        // Users can now be created in the new domain.
        assert_eq!(db.create_user(new_user("bob@contoso.net")).await.unwrap().org, "Contoso");
    }

    #[tokio::test]
    async fn org_errors() {
        let (_tmp, db) = contoso().await;
        db.create_org("Fabrikam", &domains(&["fabrikam.com"])).await.unwrap();

        let err = db.create_org("CONTOSO", &domains(&["other.com"])).await.unwrap_err();
        assert!(matches!(err, DirectoryError::OrgExists(ref n) if n == "CONTOSO"), "{err:?}");

        let err = db.create_org("Northwind", &domains(&["northwind.com", "FABRIKAM.com"])).await.unwrap_err();
        assert!(
            matches!(err, DirectoryError::DomainTaken { ref domain, ref org } if domain == "fabrikam.com" && org == "Fabrikam"),
            "{err:?}"
        );
        // The failed creation left nothing behind.
        assert_eq!(db.org("Northwind").await.unwrap(), None);
        assert_eq!(db.org_for_domain("northwind.com").await.unwrap(), None);

        let err = db.add_domain("Contoso", "fabrikam.com").await.unwrap_err();
        assert!(matches!(err, DirectoryError::DomainTaken { ref org, .. } if org == "Fabrikam"), "{err:?}");

        for err in [
            db.update_org("Northwind", OrgChange::default()).await.unwrap_err(),
            db.add_domain("Northwind", "northwind.com").await.unwrap_err(),
            db.list_users(Some("Northwind")).await.unwrap_err(),
        ] {
            assert!(matches!(err, DirectoryError::UnknownOrg(ref n) if n == "Northwind"), "{err:?}");
        }
    }

    #[tokio::test]
    async fn user_round_trip_with_spec_defaults() {
        let (_tmp, db) = contoso().await;
        let bob = db
            .create_user(NewUser {
                address: "<Bob.Smith@CONTOSO.com>".into(),
                display_name: " Bob Smith ".into(),
                password_hash: "h".into(),
            })
            .await
            .unwrap();
        assert_eq!(bob.address, "bob.smith@contoso.com");
        assert_eq!(bob.display_name, "Bob Smith");
        assert_eq!(bob.org, "Contoso");
        assert_eq!(bob.settings, MailboxSettings::default());
        assert!(bob.send_as.is_empty());
        assert_eq!(bob.created_at, bob.password_changed_at);

        assert_eq!(db.user("BOB.smith@contoso.com").await.unwrap().as_ref(), Some(&bob));
        assert_eq!(db.user("nobody@contoso.com").await.unwrap(), None);
        assert_eq!(db.user("not an address").await.unwrap(), None);

        db.create_org("Fabrikam", &domains(&["fabrikam.com"])).await.unwrap();
        db.create_user(new_user("carol@fabrikam.com")).await.unwrap();
        let all: Vec<String> = db.list_users(None).await.unwrap().into_iter().map(|u| u.address).collect();
        assert_eq!(all, ["alice@contoso.com", "bob.smith@contoso.com", "carol@fabrikam.com"]);
        let contoso: Vec<String> =
            db.list_users(Some("contoso")).await.unwrap().into_iter().map(|u| u.address).collect();
        assert_eq!(contoso, ["alice@contoso.com", "bob.smith@contoso.com"]);
        assert!(db.list_users(Some("Fabrikam")).await.unwrap()[0].org == "Fabrikam");
    }

    #[tokio::test]
    async fn user_errors() {
        let (_tmp, db) = contoso().await;
        let err = db.create_user(new_user("ALICE@contoso.com")).await.unwrap_err();
        assert!(matches!(err, DirectoryError::UserExists(ref a) if a == "alice@contoso.com"), "{err:?}");

        let err = db.create_user(new_user("bob@Fabrikam.com")).await.unwrap_err();
        assert!(matches!(err, DirectoryError::NoOrgForDomain(ref d) if d == "fabrikam.com"), "{err:?}");
        let err = db.create_user(new_user("no-at-sign")).await.unwrap_err();
        assert!(matches!(err, DirectoryError::NoOrgForDomain(_)), "{err:?}");

        let app = new_app("phone");
        for err in [
            db.update_user("nobody@contoso.com", UserChange::default()).await.unwrap_err(),
            db.set_password_hash("nobody@contoso.com", "h").await.unwrap_err(),
            db.add_app_password("nobody@contoso.com", app).await.unwrap_err(),
            db.list_app_passwords("nobody@contoso.com").await.unwrap_err(),
            db.revoke_app_password("nobody@contoso.com", "phone").await.unwrap_err(),
        ] {
            assert!(matches!(err, DirectoryError::UnknownUser(ref a) if a == "nobody@contoso.com"), "{err:?}");
        }
        let err = db.update_user("garbage", UserChange::default()).await.unwrap_err();
        assert!(matches!(err, DirectoryError::UnknownUser(ref a) if a == "garbage"), "{err:?}");
    }

    #[tokio::test]
    async fn update_user_settings_and_send_as() {
        let (_tmp, db) = contoso().await;
        let user = db
            .update_user(
                "Alice@Contoso.com",
                UserChange {
                    display_name: Some("Alice A.".into()),
                    smtp_auth: Some(MailboxSmtpAuth::Enabled),
                    mfa: Some(MfaState::Enforced),
                    add_send_as: vec![
                        "Sales@Contoso.com".into(),
                        "sales@contoso.com".into(),
                        "<info@contoso.com>".into(),
                        "alice@contoso.com".into(),
                        "  ".into(),
                    ],
                    ..UserChange::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(user.display_name, "Alice A.");
        assert_eq!(
            user.settings,
            MailboxSettings { sign_in: SignIn::Allowed, smtp_auth: MailboxSmtpAuth::Enabled, mfa: MfaState::Enforced }
        );
        assert_eq!(user.send_as, ["info@contoso.com", "sales@contoso.com"]);

        let user = db
            .update_user(
                "alice@contoso.com",
                UserChange {
                    sign_in: Some(SignIn::Blocked),
                    add_send_as: vec!["billing@contoso.com".into(), "sales@contoso.com".into()],
                    remove_send_as: vec!["SALES@contoso.com".into(), "never-added@contoso.com".into()],
                    ..UserChange::default()
                },
            )
            .await
            .unwrap();
        // Removal is applied after addition.
        assert_eq!(user.send_as, ["billing@contoso.com", "info@contoso.com"]);
        assert_eq!(user.settings.sign_in, SignIn::Blocked);
        assert_eq!(user.settings.mfa, MfaState::Enforced, "unchanged values stay");
        assert_eq!(user.display_name, "Alice A.");
        assert_eq!(db.user("alice@contoso.com").await.unwrap().unwrap(), user);
        assert_eq!(db.list_users(None).await.unwrap()[0].send_as, user.send_as);
    }

    #[tokio::test]
    async fn set_password_hash_replaces_the_hash() {
        let (_tmp, db) = contoso().await;
        let phc = secrets::hash_secret("a new Passw0rd!!");
        db.set_password_hash("ALICE@contoso.com", &phc).await.unwrap();
        let record = db.auth_record("alice@contoso.com").await.unwrap().unwrap();
        assert_eq!(record.password_hash, phc);
        assert!(secrets::verify_secret("a new Passw0rd!!", &record.password_hash));
        assert!(record.user.password_changed_at >= record.user.created_at);
    }

    #[tokio::test]
    async fn auth_record_carries_everything_the_decision_needs() {
        let (_tmp, db) = contoso().await;
        assert!(db.auth_record("nobody@contoso.com").await.unwrap().is_none());
        assert!(db.auth_record("").await.unwrap().is_none());

        db.update_org(
            "Contoso",
            OrgChange { app_passwords: Some(AppPasswordsPolicy::Allowed), ..OrgChange::default() },
        )
        .await
        .unwrap();
        db.update_user(
            "alice@contoso.com",
            UserChange {
                mfa: Some(MfaState::Enabled),
                add_send_as: vec!["team@contoso.com".into()],
                ..UserChange::default()
            },
        )
        .await
        .unwrap();
        let shown = secrets::generate_app_password();
        let normalized = secrets::normalize_app_password(&shown);
        let app = db
            .add_app_password(
                "alice@contoso.com",
                NewAppPassword {
                    name: "printer".into(),
                    hint: secrets::app_password_hint(&normalized),
                    hash: secrets::hash_secret(&normalized),
                },
            )
            .await
            .unwrap();

        let record = db.auth_record("Alice@Contoso.com").await.unwrap().unwrap();
        assert_eq!(record.user, db.user("alice@contoso.com").await.unwrap().unwrap());
        assert_eq!(record.user.send_as, ["team@contoso.com"]);
        assert_eq!(record.user.settings.mfa, MfaState::Enabled);
        assert_eq!(record.org.app_passwords, AppPasswordsPolicy::Allowed);
        assert_eq!(record.org.security_defaults, SecurityDefaults::On);
        assert_eq!(record.password_hash, "hash-of-alice@contoso.com");
        assert_eq!(record.app_passwords.len(), 1);
        let secret = &record.app_passwords[0];
        assert_eq!((secret.id, secret.name.as_str()), (app.id, "printer"));
        assert_eq!(secret.hint, &normalized[..3]);
        assert!(secrets::verify_secret(&normalized, &secret.hash));
    }

    #[tokio::test]
    async fn app_password_names_are_unique_among_live_ones() {
        let (_tmp, db) = contoso().await;
        let first = db.add_app_password("alice@contoso.com", new_app(" phone ")).await.unwrap();
        assert_eq!(first.name, "phone");
        assert_eq!(first.last_used_at, None);
        let err = db.add_app_password("alice@contoso.com", new_app("phone")).await.unwrap_err();
        assert!(
            matches!(err, DirectoryError::AppPasswordExists { ref user, ref name } if user == "alice@contoso.com" && name == "phone"),
            "{err:?}"
        );
        // Another user may use the same name.
        db.create_user(new_user("bob@contoso.com")).await.unwrap();
        db.add_app_password("bob@contoso.com", new_app("phone")).await.unwrap();
        // After revocation the name is free again, and the new one is a different credential.
        db.revoke_app_password("alice@contoso.com", "phone").await.unwrap();
        let second = db.add_app_password("alice@contoso.com", new_app("phone")).await.unwrap();
        assert_ne!(first.id, second.id);
        let listed = db.list_app_passwords("alice@contoso.com").await.unwrap();
        assert_eq!(listed, [second]);
    }

    #[tokio::test]
    async fn revoked_app_passwords_disappear() {
        let (_tmp, db) = contoso().await;
        let laptop = db.add_app_password("alice@contoso.com", new_app("laptop")).await.unwrap();
        let printer = db.add_app_password("alice@contoso.com", new_app("printer")).await.unwrap();
        assert_eq!(db.list_app_passwords("alice@contoso.com").await.unwrap(), [laptop.clone(), printer.clone()]);

        db.revoke_app_password("ALICE@contoso.com", "laptop").await.unwrap();
        assert_eq!(db.list_app_passwords("alice@contoso.com").await.unwrap(), std::slice::from_ref(&printer));
        let record = db.auth_record("alice@contoso.com").await.unwrap().unwrap();
        let names: Vec<&str> = record.app_passwords.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["printer"]);

        // Revoking twice, or a name that never existed, names the missing app password.
        for name in ["laptop", "tablet"] {
            let err = db.revoke_app_password("alice@contoso.com", name).await.unwrap_err();
            assert!(
                matches!(err, DirectoryError::UnknownAppPassword { ref user, name: ref n } if user == "alice@contoso.com" && n == name),
                "{err:?}"
            );
        }
        // The revoked row is kept for the record.
        let revoked: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM app_passwords WHERE revoked_at IS NOT NULL")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(revoked, 1);
    }

    #[tokio::test]
    async fn at_most_40_live_app_passwords() {
        let (_tmp, db) = contoso().await;
        for i in 0..40 {
            db.add_app_password("alice@contoso.com", new_app(&format!("app{i}"))).await.unwrap();
        }
        let err = db.add_app_password("alice@contoso.com", new_app("one-too-many")).await.unwrap_err();
        assert!(matches!(err, DirectoryError::TooManyAppPasswords(ref a) if a == "alice@contoso.com"), "{err:?}");
        assert_eq!(db.list_app_passwords("alice@contoso.com").await.unwrap().len(), 40);
        // Revoking one frees a slot.
        db.revoke_app_password("alice@contoso.com", "app7").await.unwrap();
        db.add_app_password("alice@contoso.com", new_app("one-too-many")).await.unwrap();
        let err = db.add_app_password("alice@contoso.com", new_app("again")).await.unwrap_err();
        assert!(matches!(err, DirectoryError::TooManyAppPasswords(_)), "{err:?}");
        assert_eq!(db.auth_record("alice@contoso.com").await.unwrap().unwrap().app_passwords.len(), 40);
    }

    #[tokio::test]
    async fn touch_app_password_records_last_use() {
        let (_tmp, db) = contoso().await;
        let app = db.add_app_password("alice@contoso.com", new_app("phone")).await.unwrap();
        db.touch_app_password(app.id, 1_700_000_123).await.unwrap();
        let listed = db.list_app_passwords("alice@contoso.com").await.unwrap();
        assert_eq!(listed[0].last_used_at, Some(1_700_000_123));
        // An id that does not exist is not an error.
        db.touch_app_password(9_999, 1).await.unwrap();
    }

    #[tokio::test]
    async fn prune_signins_keeps_the_retention_window_in_batches() {
        let (_tmp, db) = fresh().await;
        for at in 0..25 {
            db.record_signin(&signin(1_000 + at, "alice@contoso.com", "192.0.2.1", false)).await.unwrap();
        }
        // Older than 1_020: twenty rows, deleted seven at a time.
        assert_eq!(db.prune_signins(1_020, 7).await.unwrap(), 20);
        let left = db.signins(&SignInFilter { limit: Some(100), ..Default::default() }).await.unwrap();
        assert_eq!(left.iter().map(|e| e.at).collect::<Vec<_>>(), [1_024, 1_023, 1_022, 1_021, 1_020]);
        assert_eq!(db.prune_signins(1_020, 7).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn signins_round_trip_newest_first() {
        let (_tmp, db) = fresh().await;
        let mut oauthless = signin(100, "Alice@Contoso.com", "192.0.2.1", false);
        oauthless.credential = None;
        oauthless.mechanism = "XOAUTH2".into();
        oauthless.client_port = 65_535;
        oauthless.tls = "none".into();
        db.record_signin(&oauthless).await.unwrap();
        let mut app = signin(200, "alice@contoso.com", "192.0.2.1", true);
        app.credential = Some(CredentialKind::AppPassword);
        db.record_signin(&app).await.unwrap();
        // Same second as the previous one: the later insert still comes first.
        db.record_signin(&signin(200, "bob@contoso.com", "198.51.100.7", false)).await.unwrap();

        let all = db.signins(&SignInFilter::default()).await.unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0], signin(200, "bob@contoso.com", "198.51.100.7", false));
        assert_eq!(all[1], app);
        assert_eq!(all[2], oauthless);
    }

    #[tokio::test]
    async fn signin_filters() {
        let (_tmp, db) = fresh().await;
        let entries = [
            signin(100, "alice@contoso.com", "192.0.2.1", false),
            signin(110, "ALICE@contoso.com", "192.0.2.1", true),
            signin(120, "bob@contoso.com", "192.0.2.1", false),
            signin(130, "alice@contoso.com", "198.51.100.7", false),
            signin(140, "bob@contoso.com", "198.51.100.7", true),
        ];
        for e in &entries {
            db.record_signin(e).await.unwrap();
        }
        let at = |filter: SignInFilter| {
            let db = db.clone();
            async move { db.signins(&filter).await.unwrap().iter().map(|e| e.at).collect::<Vec<_>>() }
        };
        let cases: Vec<(SignInFilter, Vec<i64>)> = vec![
            (SignInFilter::default(), vec![140, 130, 120, 110, 100]),
            (SignInFilter { user: Some("Alice@contoso.COM".into()), ..Default::default() }, vec![130, 110, 100]),
            (SignInFilter { user: Some("carol@contoso.com".into()), ..Default::default() }, vec![]),
            (SignInFilter { success: Some(true), ..Default::default() }, vec![140, 110]),
            (SignInFilter { success: Some(false), ..Default::default() }, vec![130, 120, 100]),
            (SignInFilter { client_ip: Some("198.51.100.7".into()), ..Default::default() }, vec![140, 130]),
            (SignInFilter { since: Some(120), ..Default::default() }, vec![140, 130, 120]),
            (SignInFilter { until: Some(120), ..Default::default() }, vec![120, 110, 100]),
            (SignInFilter { since: Some(110), until: Some(130), ..Default::default() }, vec![130, 120, 110]),
            (SignInFilter { limit: Some(2), ..Default::default() }, vec![140, 130]),
            (SignInFilter { limit: Some(0), ..Default::default() }, vec![]),
            (
                SignInFilter {
                    user: Some("alice@contoso.com".into()),
                    success: Some(false),
                    client_ip: Some("192.0.2.1".into()),
                    since: Some(100),
                    until: Some(140),
                    limit: Some(10),
                    legacy_only: false,
                    ..Default::default()
                },
                vec![100],
            ),
        ];
        for (filter, want) in cases {
            let shown = format!("{filter:?}");
            assert_eq!(at(filter).await, want, "{shown}");
        }
    }

    #[tokio::test]
    async fn signins_default_to_the_newest_100() {
        let (_tmp, db) = fresh().await;
        for at in 0..105 {
            db.record_signin(&signin(at, "alice@contoso.com", "192.0.2.1", false)).await.unwrap();
        }
        let got = db.signins(&SignInFilter::default()).await.unwrap();
        assert_eq!(got.len(), 100);
        assert_eq!((got[0].at, got[99].at), (104, 5));
        let more = db.signins(&SignInFilter { limit: Some(500), ..Default::default() }).await.unwrap();
        assert_eq!(more.len(), 105);
    }

    #[tokio::test]
    async fn two_handles_on_one_file_see_each_others_changes_at_once() {
        // The CLI and the server are separate processes on the same file.
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("shared.db");
        let server = SqliteDirectory::open(&path).await.unwrap();
        let cli = SqliteDirectory::open(&path).await.unwrap();

        cli.create_org("Contoso", &domains(&["contoso.com"])).await.unwrap();
        cli.create_user(new_user("alice@contoso.com")).await.unwrap();
        let before = server.auth_record("alice@contoso.com").await.unwrap().unwrap();
        assert_eq!(before.org.security_defaults, SecurityDefaults::On);

        cli.update_org("Contoso", OrgChange { security_defaults: Some(SecurityDefaults::Off), ..OrgChange::default() })
            .await
            .unwrap();
        cli.update_user(
            "alice@contoso.com",
            UserChange { smtp_auth: Some(MailboxSmtpAuth::Enabled), ..UserChange::default() },
        )
        .await
        .unwrap();
        let after = server.auth_record("alice@contoso.com").await.unwrap().unwrap();
        assert_eq!(after.org.security_defaults, SecurityDefaults::Off);
        assert_eq!(after.user.settings.smtp_auth, MailboxSmtpAuth::Enabled);

        // And the other way round: what the server writes, the CLI reads.
        server.record_signin(&signin(1, "alice@contoso.com", "192.0.2.1", true)).await.unwrap();
        assert_eq!(cli.signins(&SignInFilter::default()).await.unwrap().len(), 1);
        let err = server.create_user(new_user("alice@contoso.com")).await.unwrap_err();
        assert!(matches!(err, DirectoryError::UserExists(_)), "{err:?}");
    }

    #[tokio::test]
    async fn concurrent_writers_wait_instead_of_failing() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("busy.db");
        let a = SqliteDirectory::open(&path).await.unwrap();
        let b = SqliteDirectory::open(&path).await.unwrap();
        a.create_org("Contoso", &domains(&["contoso.com"])).await.unwrap();
        a.create_user(new_user("alice@contoso.com")).await.unwrap();

        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..30 {
            let db = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.spawn(async move {
                db.add_app_password("alice@contoso.com", new_app(&format!("app{i}"))).await?;
                db.record_signin(&signin(i, "alice@contoso.com", "192.0.2.1", true)).await
            });
        }
        while let Some(result) = tasks.join_next().await {
            result.unwrap().unwrap();
        }
        assert_eq!(b.list_app_passwords("alice@contoso.com").await.unwrap().len(), 30);
        assert_eq!(a.signins(&SignInFilter::default()).await.unwrap().len(), 30);
    }

    #[tokio::test]
    async fn concurrent_adds_never_pass_the_cap() {
        let (_tmp, db) = contoso().await;
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..50 {
            let db = db.clone();
            tasks.spawn(async move { db.add_app_password("alice@contoso.com", new_app(&format!("app{i}"))).await });
        }
        let mut refused = 0;
        while let Some(result) = tasks.join_next().await {
            match result.unwrap() {
                Ok(_) => {}
                Err(DirectoryError::TooManyAppPasswords(_)) => refused += 1,
                Err(e) => panic!("{e:?}"),
            }
        }
        assert_eq!(refused, 10);
        assert_eq!(db.list_app_passwords("alice@contoso.com").await.unwrap().len(), 40);
    }

    #[tokio::test]
    async fn an_unreadable_stored_setting_is_a_storage_error() {
        let (_tmp, db) = contoso().await;
        sqlx::query("UPDATE users SET mfa = 'sometimes'").execute(&db.pool).await.unwrap();
        let err = db.user("alice@contoso.com").await.unwrap_err();
        assert!(
            matches!(err, DirectoryError::Storage(ref m) if m.contains("'sometimes'") && m.contains("mfa")),
            "{err:?}"
        );
        let err = db.auth_record("alice@contoso.com").await.unwrap_err();
        assert!(matches!(err, DirectoryError::Storage(_)), "{err:?}");
    }

    #[tokio::test]
    async fn storage_errors_carry_no_secret() {
        let (_tmp, db) = contoso().await;
        // Break the table the write goes to, then write a hash: the error must not echo it.
        sqlx::query("DROP TABLE app_passwords").execute(&db.pool).await.unwrap();
        let err = db
            .add_app_password(
                "alice@contoso.com",
                NewAppPassword { name: "phone".into(), hint: "qzx".into(), hash: "SECRET-HASH-VALUE".into() },
            )
            .await
            .unwrap_err();
        assert!(matches!(err, DirectoryError::Storage(_)), "{err:?}");
        assert!(!err.to_string().contains("SECRET-HASH-VALUE"));
    }
}
