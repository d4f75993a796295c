//! The PostgreSQL backend, for several nodes sharing one directory (README "Running more than
//! one node").
//!
//! The same tables as the SQLite backend (`migrations-postgres/`), the same rules: everything
//! that decides — lockout windows, quota buckets, the AUTH decision — lives in Rust above the
//! [`Directory`] and [`crate::admin::AdminStore`] traits (`crate::protection`, the policy crate),
//! so both backends only store and read. Where SQLite takes its single write lock
//! (`BEGIN IMMEDIATE`) for a read-modify-write, this backend takes a transaction-scoped advisory
//! lock: the whole directory's for account changes (rare, made by admins), one name's for
//! lockout counters (every failed AUTH), so nodes never race each other into an inconsistent
//! state and sign-ins of different names never wait for each other.
//!
//! Every call is bounded: a connection is waited for at most [`ACQUIRE_TIMEOUT`] and a statement
//! runs at most [`STATEMENT_TIMEOUT`], so an unreachable database turns into a `Storage` error
//! (the SMTP side answers `454 4.7.0`) within seconds instead of hanging sessions, and the pool
//! reconnects by itself when the database is back.

mod admin;
mod leases;
mod protection;
mod records;

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use authrelay_core::{
    Address, AppPasswordsPolicy, CredentialKind, MailboxSettings, MailboxSmtpAuth, MfaState, OrgSettings, OrgSmtpAuth,
    ReplyId, SecurityDefaults, SignIn,
};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, QueryBuilder, Row};

use crate::sqlite::{normalize_address, normalize_domain, normalize_send_as, now, HostedCache, MAX_APP_PASSWORDS};
use crate::{
    AppPassword, AppPasswordSecret, AuthRecord, DeviceCredential, Directory, DirectoryError, LockoutEntry,
    LockoutPolicy, LockoutStatus, NewAppPassword, NewDeviceCredential, NewUser, Org, OrgChange, OrgLimits, Result,
    SignInBucket, SignInEntry, SignInFilter, User, UserChange,
};

/// How long a call waits for a free connection before the database counts as unreachable.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// After a call finds the database unreachable, the AUTH path's calls fail at once for this
/// long instead of each waiting [`ACQUIRE_TIMEOUT`]: a device gets its `454` in seconds, not
/// after one timeout per lookup.
pub const OUTAGE_HOLD: Duration = Duration::from_secs(2);
/// The longest any one statement may run.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Advisory-lock class of the whole directory (account changes).
const LOCK_DIRECTORY: i32 = 1;
/// Advisory-lock class of one lockout name.
const LOCK_LOCKOUT_NAME: i32 = 2;

/// The directory in a PostgreSQL database shared by every node.
#[derive(Debug, Clone)]
pub struct PgDirectory {
    pub(crate) pool: PgPool,
    hosted: Arc<HostedCache>,
    /// Until when (ms since the epoch) the database counts as unreachable; see [`OUTAGE_HOLD`].
    down_until_ms: Arc<std::sync::atomic::AtomicI64>,
    pub(crate) sealer: Arc<crate::sealed::Sealer>,
}

/// The URL without its password, for messages and logs.
pub fn redacted_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("****"));
            }
            u.to_string()
        }
        Err(_) => "(unreadable database URL)".to_string(),
    }
}

impl PgDirectory {
    /// Connects to `url` (`postgres://user:password@host:port/database`), brings the schema up
    /// to date and loads the TOTP sealing key from `key_dir` (every node needs the same key
    /// file: README "Running more than one node"). `max_connections` bounds this process's
    /// share of the server's connections.
    pub async fn connect(url: &str, key_dir: &Path, max_connections: u32) -> Result<Self> {
        let dir = Self::connect_unmigrated(url, key_dir, max_connections).await?;
        dir.migrate().await?;
        dir.seal_clear_totp_secrets().await?;
        Ok(dir)
    }

    /// Connects without touching the schema (for `store migrate --check` and `store copy`).
    pub async fn connect_unmigrated(url: &str, key_dir: &Path, max_connections: u32) -> Result<Self> {
        let where_ = redacted_url(url);
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| DirectoryError::Storage(format!("unreadable database URL {where_}: {e}")))?
            .application_name("authrelay")
            .options([("statement_timeout", STATEMENT_TIMEOUT.as_millis().to_string())]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(2))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A connection broken by a database restart is found and replaced before use.
            .test_before_acquire(true)
            .connect_with(options)
            .await
            .map_err(|e| DirectoryError::Storage(format!("cannot connect to {where_}: {e}")))?;
        let sealer = crate::sealed::Sealer::load_or_create(key_dir)?;
        Ok(PgDirectory {
            pool,
            hosted: Default::default(),
            down_until_ms: Default::default(),
            sealer: Arc::new(sealer),
        })
    }

    /// Applies the migrations in `migrations-postgres/` that are not applied yet; returns how
    /// many were applied. Several nodes starting at once are serialised by sqlx's own lock.
    pub async fn migrate(&self) -> Result<usize> {
        let migrator = sqlx::migrate!("./migrations-postgres");
        let before = self.applied_migrations().await.unwrap_or(0);
        migrator
            .run(&self.pool)
            .await
            .map_err(|e| DirectoryError::Storage(format!("cannot apply the directory schema: {e}")))?;
        Ok(self.applied_migrations().await?.saturating_sub(before))
    }

    /// How many migrations the database has applied.
    pub async fn applied_migrations(&self) -> Result<usize> {
        let exists = sqlx::query_scalar!(r#"SELECT to_regclass('_sqlx_migrations') IS NOT NULL AS "exists!""#)
            .fetch_one(&self.pool)
            .await?;
        if !exists {
            return Ok(0);
        }
        // Runtime-checked: the table is sqlx's own and does not exist before the first migration.
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success").fetch_one(&self.pool).await?;
        Ok(usize::try_from(n).unwrap_or(0))
    }

    /// Whether the database answers, for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query!("SELECT 1 AS alive").fetch_one(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Runs one call of the AUTH path unless the database was just found unreachable; a call
    /// that finds it unreachable (see [`PgDirectory::is_unreachable`]) starts the hold.
    async fn guarded<T>(&self, call: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        use std::sync::atomic::Ordering;
        let now_ms = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        };
        if now_ms() < self.down_until_ms.load(Ordering::Relaxed) {
            return Err(DirectoryError::Storage("the PostgreSQL database was unreachable a moment ago".into()));
        }
        let result = call.await;
        if let Err(DirectoryError::Storage(reason)) = &result {
            if self.is_unreachable(reason) {
                let hold = i64::try_from(OUTAGE_HOLD.as_millis()).unwrap_or(2000);
                self.down_until_ms.store(now_ms() + hold, Ordering::Relaxed);
            }
        }
        result
    }

    /// Whether an error means the database cannot be reached (the connection broke, or no
    /// connection could be opened in time), as opposed to a busy pool or a slow or refused
    /// statement: only the former starts the outage hold, so a burst of load never turns into
    /// seconds of `454` for everyone.
    fn is_unreachable(&self, reason: &str) -> bool {
        if reason.contains("error communicating with database") || reason.contains("closed pool") {
            return true;
        }
        // Every connection busy is load; fewer than the maximum open means new ones failed.
        reason.contains("pool timed out") && self.pool.size() < self.pool.options().get_max_connections()
    }

    /// Starts an account change: a transaction holding the directory's advisory lock.
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, Postgres>> {
        self.hosted.clear();
        let mut tx = self.pool.begin().await?;
        sqlx::query!("SELECT pg_advisory_xact_lock($1, 0)", LOCK_DIRECTORY).execute(&mut *tx).await?;
        Ok(tx)
    }
}

/// The AUTH path's own reads and writes, run through [`PgDirectory::guarded`].
impl PgDirectory {
    async fn read_auth_record(&self, address: &str) -> Result<Option<AuthRecord>> {
        // REPEATABLE READ: the user, settings and credentials come from one snapshot.
        // One statement starts it (no extra round trip on every AUTH).
        let mut tx = self.pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY").await?;
        let found = load_user_row(&mut tx, address).await?;
        // An unknown user runs the same credential queries, as in the SQLite backend.
        let user_id = found.as_ref().map(|(_, u)| u.id).unwrap_or(-1);
        if found.is_none() {
            user_send_as(&mut tx, user_id).await?;
        }
        let app_passwords = sqlx::query_as!(
            AppPasswordSecret,
            "SELECT id, name, hint, hash FROM app_passwords WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id",
            user_id,
        )
        .fetch_all(&mut *tx)
        .await?;
        let device_credentials = records::device_secrets_of(&mut tx, user_id).await?;
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

    async fn write_signin(&self, entry: &SignInEntry) -> Result<()> {
        sqlx::query!(
            "INSERT INTO signins (at, client_ip, client_port, tls, mechanism, user_name, credential, check_name, \
             reply, success, listener) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            entry.at,
            entry.client_ip,
            i32::from(entry.client_port),
            entry.tls,
            entry.mechanism,
            entry.user,
            entry.credential.map(CredentialKind::as_str),
            entry.check.as_str(),
            entry.reply.map_or("", ReplyId::as_str),
            entry.success,
            entry.listener.as_deref().unwrap_or(""),
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

fn setting<T: FromStr>(text: &str, column: &str) -> Result<T> {
    crate::model::parse_stored(text, column)
}

fn org_settings(
    security_defaults: &str,
    smtp_auth: &str,
    app_passwords: &str,
    device_credentials: &str,
) -> Result<OrgSettings> {
    Ok(OrgSettings {
        security_defaults: setting(security_defaults, "security_defaults")?,
        smtp_auth: setting(smtp_auth, "org_smtp_auth")?,
        app_passwords: setting(app_passwords, "app_passwords")?,
        device_credentials: setting(device_credentials, "device_credentials")?,
    })
}

/// An organisation as [`select_orgs!`] reads it.
struct OrgRow {
    id: i64,
    name: String,
    security_defaults: String,
    org_smtp_auth: String,
    app_passwords: String,
    device_credentials: String,
    created_at: i64,
}

/// A compile-checked select of [`OrgRow`]s; the argument is the rest of the statement.
macro_rules! select_orgs {
    ($rest:tt $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            OrgRow,
            "SELECT id, name, security_defaults, smtp_auth AS org_smtp_auth, app_passwords, device_credentials, \
             created_at FROM orgs " + $rest $(, $arg)*
        )
    };
}

impl OrgRow {
    fn into_org(self, domains: Vec<String>) -> Result<Org> {
        let settings =
            org_settings(&self.security_defaults, &self.org_smtp_auth, &self.app_passwords, &self.device_credentials)?;
        Ok(Org { id: self.id, name: self.name, domains, settings, created_at: self.created_at })
    }
}

async fn org_domains(conn: &mut PgConnection, org_id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar!("SELECT domain FROM domains WHERE org_id = $1 ORDER BY seq", org_id).fetch_all(conn).await?)
}

async fn load_org(conn: &mut PgConnection, name: &str) -> Result<Option<Org>> {
    let row = select_orgs!("WHERE name = $1", name.trim()).fetch_optional(&mut *conn).await?;
    match row {
        Some(row) => {
            let domains = org_domains(conn, row.id).await?;
            Ok(Some(row.into_org(domains)?))
        }
        None => Ok(None),
    }
}

async fn org_id(conn: &mut PgConnection, name: &str) -> Result<i64> {
    sqlx::query_scalar!("SELECT id FROM orgs WHERE name = $1", name.trim())
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| DirectoryError::UnknownOrg(name.trim().to_string()))
}

async fn domain_owner(conn: &mut PgConnection, domain: &str) -> Result<Option<(i64, String)>> {
    let row =
        sqlx::query!("SELECT o.id, o.name FROM domains d JOIN orgs o ON o.id = d.org_id WHERE d.domain = $1", domain)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|r| (r.id, r.name)))
}

/// A user with their organisation's settings, as [`select_users!`] reads it.
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

/// A compile-checked select of [`UserRow`]s; the argument is the rest of the statement.
macro_rules! select_users {
    ($rest:tt $(, $arg:expr)* $(,)?) => {
        sqlx::query_as!(
            UserRow,
            "SELECT u.id, o.name AS org, u.address, u.display_name, u.password_hash, u.sign_in, u.smtp_auth, \
             u.mfa, u.created_at, u.password_changed_at, o.security_defaults, o.smtp_auth AS org_smtp_auth, \
             o.app_passwords, o.device_credentials FROM users u JOIN orgs o ON o.id = u.org_id " + $rest
             $(, $arg)*
        )
    };
}

impl UserRow {
    fn org_settings(&self) -> Result<OrgSettings> {
        org_settings(&self.security_defaults, &self.org_smtp_auth, &self.app_passwords, &self.device_credentials)
    }

    fn to_user(&self, send_as: Vec<String>) -> Result<User> {
        Ok(User {
            id: self.id,
            org: self.org.clone(),
            address: self.address.clone(),
            display_name: self.display_name.clone(),
            settings: MailboxSettings {
                sign_in: setting(&self.sign_in, "sign_in")?,
                smtp_auth: setting(&self.smtp_auth, "smtp_auth")?,
                mfa: setting(&self.mfa, "mfa")?,
            },
            send_as,
            created_at: self.created_at,
            password_changed_at: self.password_changed_at,
        })
    }
}

async fn user_send_as(conn: &mut PgConnection, user_id: i64) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar!("SELECT address FROM send_as WHERE user_id = $1 ORDER BY address", user_id)
        .fetch_all(conn)
        .await?)
}

async fn load_user_row(conn: &mut PgConnection, address: &str) -> Result<Option<(UserRow, User)>> {
    let Some(address) = normalize_address(address) else {
        return Ok(None);
    };
    let row = select_users!("WHERE u.address = $1", address).fetch_optional(&mut *conn).await?;
    match row {
        Some(row) => {
            let send_as = user_send_as(conn, row.id).await?;
            let user = row.to_user(send_as)?;
            Ok(Some((row, user)))
        }
        None => Ok(None),
    }
}

async fn load_user(conn: &mut PgConnection, address: &str) -> Result<Option<User>> {
    Ok(load_user_row(conn, address).await?.map(|(_, user)| user))
}

pub(crate) async fn user_id(conn: &mut PgConnection, address: &str) -> Result<(i64, String)> {
    let unknown = || DirectoryError::UnknownUser(address.trim().to_string());
    let normalized = normalize_address(address).ok_or_else(unknown)?;
    let id = sqlx::query_scalar!("SELECT id FROM users WHERE address = $1", normalized)
        .fetch_optional(conn)
        .await?
        .ok_or_else(unknown)?;
    Ok((id, normalized))
}

impl PgDirectory {
    /// The filter's conditions (` AND …`), shared by the list, the count and the chart; the
    /// same rules as the SQLite backend's (`crate::listing`).
    async fn signin_where(&self, query: &mut QueryBuilder<'_, Postgres>, filter: &SignInFilter) -> Result<()> {
        // `user_name` has the case-insensitive `nocase` collation, as in the SQLite schema.
        if let Some(user) = &filter.user {
            query.push(" AND user_name = ").push_bind(user.trim().to_string());
        }
        if let Some(part) = filter.user_contains.as_deref().filter(|p| !p.trim().is_empty()) {
            // LIKE needs a deterministic collation: compare the lower-cased name as "C".
            query
                .push(" AND lower(user_name) COLLATE \"C\" LIKE ")
                .push_bind(crate::listing::contains_pattern(part))
                .push(" ESCAPE '\\'");
        }
        if let Some(success) = filter.success {
            query.push(" AND success = ").push_bind(success);
        }
        if let Some(ip) = &filter.client_ip {
            query.push(" AND client_ip = ").push_bind(ip.trim().to_string());
        }
        if let Some(client) = &filter.client {
            let distinct: Vec<String> = sqlx::query_scalar!(
                "SELECT DISTINCT client_ip FROM signins WHERE at >= $1 AND at <= $2",
                filter.since.unwrap_or(i64::MIN),
                filter.until.unwrap_or(i64::MAX),
            )
            .fetch_all(&self.pool)
            .await?;
            query.push(" AND client_ip = ANY(").push_bind(client.select(distinct)).push(")");
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

/// Reads a row of the sign-in log's filtered query (built at run time, so runtime-checked).
fn signin_from_row(row: &PgRow) -> Result<SignInEntry> {
    crate::model::StoredSignIn {
        at: row.try_get("at")?,
        client_ip: row.try_get("client_ip")?,
        client_port: i64::from(row.try_get::<i32, _>("client_port")?),
        tls: row.try_get("tls")?,
        mechanism: row.try_get("mechanism")?,
        user: row.try_get("user_name")?,
        credential: row.try_get("credential")?,
        check: row.try_get("check_name")?,
        reply: row.try_get("reply")?,
        success: row.try_get("success")?,
        listener: row.try_get("listener")?,
    }
    .into_entry()
}

#[async_trait]
impl Directory for PgDirectory {
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
        let id = sqlx::query_scalar!(
            "INSERT INTO orgs (name, security_defaults, smtp_auth, app_passwords, device_credentials, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            name,
            settings.security_defaults.as_str(),
            settings.smtp_auth.as_str(),
            settings.app_passwords.as_str(),
            settings.device_credentials.as_str(),
            at,
        )
        .fetch_one(&mut *tx)
        .await?;
        for domain in &wanted {
            sqlx::query!("INSERT INTO domains (domain, org_id, added_at) VALUES ($1, $2, $3)", domain, id, at)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Org { id, name: name.to_string(), domains: wanted, settings, created_at: at })
    }

    async fn list_orgs(&self) -> Result<Vec<Org>> {
        let mut tx = self.pool.begin().await?;
        let rows = select_orgs!("ORDER BY name").fetch_all(&mut *tx).await?;
        let mut domains: HashMap<i64, Vec<String>> = HashMap::new();
        for row in sqlx::query!("SELECT org_id, domain FROM domains ORDER BY seq").fetch_all(&mut *tx).await? {
            domains.entry(row.org_id).or_default().push(row.domain);
        }
        tx.commit().await?;
        rows.into_iter()
            .map(|row| {
                let own = domains.remove(&row.id).unwrap_or_default();
                row.into_org(own)
            })
            .collect()
    }

    async fn org(&self, name: &str) -> Result<Option<Org>> {
        let mut conn = self.pool.acquire().await?;
        load_org(&mut conn, name).await
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
        sqlx::query!(
            "UPDATE orgs SET security_defaults = COALESCE($1, security_defaults), \
             smtp_auth = COALESCE($2, smtp_auth), app_passwords = COALESCE($3, app_passwords), \
             device_credentials = COALESCE($4, device_credentials) WHERE id = $5",
            change.security_defaults.map(SecurityDefaults::as_str),
            change.smtp_auth.map(OrgSmtpAuth::as_str),
            change.app_passwords.map(AppPasswordsPolicy::as_str),
            change.device_credentials.map(authrelay_core::DeviceCredentialsPolicy::as_str),
            id,
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
            Some((owner, _)) if owner == id => {}
            Some((_, owner)) => return Err(DirectoryError::DomainTaken { domain, org: owner }),
            None => {
                sqlx::query!("INSERT INTO domains (domain, org_id, added_at) VALUES ($1, $2, $3)", domain, id, now())
                    .execute(&mut *tx)
                    .await?;
            }
        }
        let result = load_org(&mut tx, org).await?;
        tx.commit().await?;
        result.ok_or_else(|| DirectoryError::UnknownOrg(org.trim().to_string()))
    }

    async fn create_user(&self, new: NewUser) -> Result<User> {
        let address = Address::parse(&new.address)
            .map_err(|_| DirectoryError::NoOrgForDomain(new.address.trim().to_lowercase()))?;
        let mut tx = self.write_tx().await?;
        let (org_id, org_name) = domain_owner(&mut tx, address.domain())
            .await?
            .ok_or_else(|| DirectoryError::NoOrgForDomain(address.domain().to_string()))?;
        let taken = sqlx::query_scalar!("SELECT id FROM users WHERE address = $1", address.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(DirectoryError::UserExists(address.to_string()));
        }
        let at = now();
        let settings = MailboxSettings::default();
        let display_name = new.display_name.trim().to_string();
        let id = sqlx::query_scalar!(
            "INSERT INTO users (org_id, address, display_name, password_hash, sign_in, smtp_auth, mfa, \
             created_at, password_changed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            org_id,
            address.as_str(),
            display_name,
            new.password_hash,
            settings.sign_in.as_str(),
            settings.smtp_auth.as_str(),
            settings.mfa.as_str(),
            at,
            at,
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
        let rows = match org {
            Some(name) => {
                let id = org_id(&mut tx, name).await?;
                select_users!("WHERE u.org_id = $1 ORDER BY u.address", id).fetch_all(&mut *tx).await?
            }
            None => select_users!("ORDER BY u.address").fetch_all(&mut *tx).await?,
        };
        let mut send_as: HashMap<i64, Vec<String>> = HashMap::new();
        for row in sqlx::query!("SELECT user_id, address FROM send_as ORDER BY address").fetch_all(&mut *tx).await? {
            send_as.entry(row.user_id).or_default().push(row.address);
        }
        tx.commit().await?;
        rows.iter().map(|row| row.to_user(send_as.remove(&row.id).unwrap_or_default())).collect()
    }

    async fn update_user(&self, address: &str, change: UserChange) -> Result<User> {
        let mut tx = self.write_tx().await?;
        let (id, own) = user_id(&mut tx, address).await?;
        sqlx::query!(
            "UPDATE users SET display_name = COALESCE($1, display_name), sign_in = COALESCE($2, sign_in), \
             smtp_auth = COALESCE($3, smtp_auth), mfa = COALESCE($4, mfa) WHERE id = $5",
            change.display_name.as_deref().map(str::trim),
            change.sign_in.map(SignIn::as_str),
            change.smtp_auth.map(MailboxSmtpAuth::as_str),
            change.mfa.map(MfaState::as_str),
            id,
        )
        .execute(&mut *tx)
        .await?;
        for extra in change.add_send_as.iter().map(|a| normalize_send_as(a)) {
            if extra.is_empty() || extra == own {
                continue;
            }
            sqlx::query!("INSERT INTO send_as (user_id, address) VALUES ($1, $2) ON CONFLICT DO NOTHING", id, extra)
                .execute(&mut *tx)
                .await?;
        }
        for extra in change.remove_send_as.iter().map(|a| normalize_send_as(a)) {
            sqlx::query!("DELETE FROM send_as WHERE user_id = $1 AND address = $2", id, extra)
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
        sqlx::query!(
            "UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE id = $3",
            password_hash,
            now(),
            id
        )
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
        sqlx::query!("DELETE FROM send_as WHERE address = $1", user.address).execute(&mut *tx).await?;
        sqlx::query!("DELETE FROM users WHERE id = $1", user.id).execute(&mut *tx).await?;
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
        let taken = sqlx::query_scalar!("SELECT id FROM users WHERE address = $1", new.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if taken.is_some() {
            return Err(DirectoryError::UserExists(new.to_string()));
        }
        sqlx::query!("UPDATE users SET address = $1, org_id = $2 WHERE id = $3", new.as_str(), org_id, id)
            .execute(&mut *tx)
            .await?;
        // Others' grants to send as the mailbox follow it to its new address (as Send As follows
        // a mailbox, not an address string): the old address, free now, grants nobody anything.
        sqlx::query!(
            "DELETE FROM send_as WHERE address = $1 AND user_id IN (SELECT user_id FROM send_as WHERE address = $2)",
            old_address,
            new.as_str()
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!("UPDATE send_as SET address = $1 WHERE address = $2", new.as_str(), old_address)
            .execute(&mut *tx)
            .await?;
        // The mailbox may always send as its own address: a grant for it is redundant.
        sqlx::query!("DELETE FROM send_as WHERE user_id = $1 AND address = $2", id, new.as_str())
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
            r#"SELECT COUNT(*) AS "live!", COUNT(CASE WHEN name = $1 THEN 1 END) AS "same_name!" FROM app_passwords
             WHERE user_id = $2 AND revoked_at IS NULL"#,
            name,
            id,
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
            "INSERT INTO app_passwords (user_id, name, hint, hash, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING id",
            id,
            name,
            new.hint,
            new.hash,
            at,
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(AppPassword { id: app_id, name, created_at: at, last_used_at: None })
    }

    async fn list_app_passwords(&self, address: &str) -> Result<Vec<AppPassword>> {
        let mut tx = self.pool.begin().await?;
        let (id, _) = user_id(&mut tx, address).await?;
        let rows = sqlx::query_as!(
            AppPassword,
            "SELECT id, name, created_at, last_used_at FROM app_passwords \
             WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at, id",
            id,
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows)
    }

    async fn revoke_app_password(&self, address: &str, name: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        let (id, own) = user_id(&mut tx, address).await?;
        let done = sqlx::query!(
            "UPDATE app_passwords SET revoked_at = $1 WHERE user_id = $2 AND name = $3 AND revoked_at IS NULL",
            now(),
            id,
            name.trim(),
        )
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Err(DirectoryError::UnknownAppPassword { user: own, name: name.trim().to_string() });
        }
        tx.commit().await?;
        Ok(())
    }

    async fn touch_app_password(&self, id: i64, at_unix: i64) -> Result<()> {
        sqlx::query!("UPDATE app_passwords SET last_used_at = $1 WHERE id = $2", at_unix, id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn add_device_credential(&self, address: &str, new: NewDeviceCredential) -> Result<DeviceCredential> {
        let mut tx = self.write_tx().await?;
        let credential = records::add_device_credential(&mut tx, address, new, now()).await?;
        tx.commit().await?;
        Ok(credential)
    }

    async fn list_device_credentials(&self, address: &str) -> Result<Vec<DeviceCredential>> {
        records::list_device_credentials(&self.pool, address).await
    }

    async fn revoke_device_credential(&self, address: &str, name: &str) -> Result<()> {
        let mut tx = self.write_tx().await?;
        records::revoke_device_credential(&mut tx, address, name, now()).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn touch_device_credential(&self, id: i64, at_unix: i64, client_ip: &str) -> Result<()> {
        sqlx::query!(
            "UPDATE device_credentials SET last_used_at = $1, last_used_ip = $2 WHERE id = $3",
            at_unix,
            client_ip,
            id
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn auth_record(&self, address: &str) -> Result<Option<AuthRecord>> {
        self.guarded(self.read_auth_record(address)).await
    }

    async fn record_signin(&self, entry: &SignInEntry) -> Result<()> {
        self.guarded(self.write_signin(entry)).await
    }

    async fn prune_signins(&self, before: i64, batch: u32) -> Result<u64> {
        let mut total = 0;
        loop {
            let gone = sqlx::query!(
                "DELETE FROM signins WHERE id IN (SELECT id FROM signins WHERE at < $1 ORDER BY at LIMIT $2)",
                before,
                i64::from(batch.max(1)),
            )
            .execute(&self.pool)
            .await?
            .rows_affected();
            total += gone;
            if gone < u64::from(batch.max(1)) {
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }

    async fn signins(&self, filter: &SignInFilter) -> Result<Vec<SignInEntry>> {
        let mut query = QueryBuilder::<Postgres>::new(
            "SELECT at, client_ip, client_port, tls, mechanism, user_name, credential, check_name, reply, success, \
             listener FROM signins WHERE 1 = 1",
        );
        self.signin_where(&mut query, filter).await?;
        query
            .push(" ORDER BY at DESC, id DESC LIMIT ")
            .push_bind(i64::from(filter.limit.unwrap_or(crate::sqlite::DEFAULT_SIGNIN_LIMIT)))
            .push(" OFFSET ")
            .push_bind(i64::try_from(filter.offset).unwrap_or(i64::MAX));
        let rows = query.build().fetch_all(&self.pool).await?;
        rows.iter().map(signin_from_row).collect()
    }

    async fn count_signins(&self, filter: &SignInFilter) -> Result<u64> {
        let mut query = QueryBuilder::<Postgres>::new("SELECT COUNT(*) FROM signins WHERE 1 = 1");
        self.signin_where(&mut query, filter).await?;
        let n: i64 = query.build_query_scalar().fetch_one(&self.pool).await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn signin_buckets(&self, filter: &SignInFilter, width: i64) -> Result<Vec<SignInBucket>> {
        let width = width.max(1);
        let mut query = QueryBuilder::<Postgres>::new("SELECT (at - (at % ");
        query.push_bind(width).push(
            ")) AS start, COUNT(*) FILTER (WHERE success) AS ok, COUNT(*) FILTER (WHERE NOT success) AS refused \
             FROM signins WHERE 1 = 1",
        );
        self.signin_where(&mut query, filter).await?;
        query.push(" GROUP BY 1 ORDER BY 1");
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
        records::expiring_device_credentials(&self.pool, before).await
    }

    async fn lockout_status(
        &self,
        name: &str,
        client_ip: &str,
        now: i64,
        policy: &LockoutPolicy,
    ) -> Result<LockoutStatus> {
        self.guarded(protection::lockout_status(&self.pool, name, client_ip, now, policy)).await
    }

    async fn record_auth_failure(
        &self,
        name: &str,
        client_ip: &str,
        now: i64,
        policy: &LockoutPolicy,
    ) -> Result<LockoutStatus> {
        self.guarded(protection::record_failure(&self.pool, name, client_ip, now, policy)).await
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
        protection::record_recipients_batch(&self.pool, &[(address.to_string(), at, count)]).await
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
        sqlx::query_scalar!("SELECT language FROM orgs WHERE name = $1", org.trim())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| DirectoryError::UnknownOrg(org.to_string()))
    }

    async fn set_org_language(&self, org: &str, language: Option<&str>) -> Result<Option<String>> {
        let done = sqlx::query!("UPDATE orgs SET language = $1 WHERE name = $2", language, org.trim())
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(DirectoryError::UnknownOrg(org.to_string()));
        }
        self.org_language(org).await
    }

    async fn record_submissions(&self, batch: &[crate::SubmissionCount]) -> Result<()> {
        records::record_submissions(&self.pool, batch).await
    }

    async fn submissions_since(&self, since: i64) -> Result<Vec<crate::SubmissionCount>> {
        records::submissions_since(&self.pool, since).await
    }

    async fn record_imported_sender(&self, sender: &crate::ImportedSender) -> Result<()> {
        records::record_imported_sender(&self.pool, sender).await
    }

    async fn imported_senders(&self) -> Result<Vec<crate::ImportedSender>> {
        records::imported_senders(&self.pool).await
    }
}
