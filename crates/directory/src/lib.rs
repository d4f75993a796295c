//! Directory: organisations, users, credentials and the sign-in log.
//!
//! The [`Directory`] trait is the only way other parts reach stored accounts; the session and
//! the policy never see SQL. [`sqlite::SqliteDirectory`] is the one backend today (embedded,
//! migrations in `migrations/`). [`secrets`] holds argon2id hashing and the generators for
//! passwords and app passwords.
//!
//! [`postgres::PgDirectory`] is the second, for several nodes sharing one database
//! (`migrations-postgres/`); [`Store`] is what the binary holds, whichever backend it opened.
//!
//! Layout: `model.rs` (records), `sqlite.rs` (the SQLite backend), `postgres/` (the PostgreSQL
//! backend), `secrets.rs` (hashing,
//! verification, generation, strength rules), `device.rs` (device credentials: tag, scope,
//! allow list), `protection.rs` (lockout state, per-organisation limits), `admin.rs` (admin
//! accounts, their sessions and the audit log), `sealed.rs` (admin TOTP secrets encrypted at rest),
//! `submissions.rs` (the SMTP AUTH clients report), `imports.rs` (senders imported from a
//! Microsoft 365 export).

pub mod admin;
pub mod copy;
pub mod device;
pub mod imports;
pub mod leases;
pub mod listing;
pub mod model;
pub mod postgres;
pub mod protection;
pub mod sealed;
pub mod secrets;
pub mod sqlite;
pub mod submissions;

pub use device::{DeviceCredential, DeviceCredentialSecret, NewDeviceCredential};
pub use imports::ImportedSender;
pub use model::*;
pub use protection::{LockoutEntry, LockoutPolicy, LockoutStatus, OrgLimits};
pub use submissions::SubmissionCount;

use async_trait::async_trait;

/// How stale [`Directory::hosts_domain`] may be for changes made by another process.
pub const HOSTED_DOMAIN_TTL: std::time::Duration = std::time::Duration::from_secs(2);

/// Why a directory call failed. `Storage` is an outage (the caller answers 454 / exits 1);
/// the others are verdicts about the request that the CLI turns into a message naming the fix.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("no organisation named '{0}'")]
    UnknownOrg(String),
    #[error("an organisation named '{0}' already exists")]
    OrgExists(String),
    #[error("the domain '{domain}' is already accepted by organisation '{org}'")]
    DomainTaken { domain: String, org: String },
    #[error("no organisation accepts the domain '{0}'")]
    NoOrgForDomain(String),
    #[error("no user '{0}'")]
    UnknownUser(String),
    #[error("a user '{0}' already exists")]
    UserExists(String),
    #[error("no app password named '{name}' for '{user}'")]
    UnknownAppPassword { user: String, name: String },
    #[error("'{user}' already has an app password named '{name}'")]
    AppPasswordExists { user: String, name: String },
    #[error("'{0}' already has the maximum of 40 app passwords")]
    TooManyAppPasswords(String),
    #[error("no device credential named '{name}' for '{user}'")]
    UnknownDeviceCredential { user: String, name: String },
    #[error("'{user}' already has a device credential named '{name}'")]
    DeviceCredentialExists { user: String, name: String },
    #[error("'{0}' already has the maximum of 40 device credentials")]
    TooManyDeviceCredentials(String),
    #[error("storage error: {0}")]
    Storage(String),
}

pub type Result<T, E = DirectoryError> = std::result::Result<T, E>;

/// Storage of organisations, users, credentials and sign-ins.
///
/// Every read returns the current stored state (no caching here), which is what makes an admin's
/// change take effect on the next AUTH attempt.
#[async_trait]
pub trait Directory: Send + Sync + 'static {
    // --- organisations ---
    /// Creates an organisation with the spec's defaults (security defaults on, SMTP AUTH
    /// disabled, app passwords blocked). Domains are stored lower-case and must be free.
    async fn create_org(&self, name: &str, domains: &[String]) -> Result<Org>;
    async fn list_orgs(&self) -> Result<Vec<Org>>;
    async fn org(&self, name: &str) -> Result<Option<Org>>;
    /// The organisation accepting `domain`, if any.
    async fn org_for_domain(&self, domain: &str) -> Result<Option<Org>>;
    /// Whether an organisation accepts `domain`: asked for every recipient and every delivery,
    /// so a backend may answer from a short-lived cache (a change made by another process shows
    /// within [`HOSTED_DOMAIN_TTL`]; one made through this directory at once).
    async fn hosts_domain(&self, domain: &str) -> Result<bool> {
        Ok(self.org_for_domain(domain).await?.is_some())
    }
    /// Applies the given changes (None = unchanged) and returns the organisation after them.
    async fn update_org(&self, name: &str, change: OrgChange) -> Result<Org>;
    async fn add_domain(&self, org: &str, domain: &str) -> Result<Org>;

    // --- users ---
    /// Creates a user in the organisation that accepts the address's domain.
    async fn create_user(&self, new: NewUser) -> Result<User>;
    async fn user(&self, address: &str) -> Result<Option<User>>;
    /// All users, or those of one organisation, ordered by address.
    async fn list_users(&self, org: Option<&str>) -> Result<Vec<User>>;
    async fn update_user(&self, address: &str, change: UserChange) -> Result<User>;
    async fn set_password_hash(&self, address: &str, password_hash: &str) -> Result<()>;
    /// Removes the mailbox with its app passwords, device credentials and send-as grants (the
    /// rows cascade); returns it as it was. Its sign-in log stays, and so does queued mail.
    async fn delete_user(&self, address: &str) -> Result<User>;
    /// Gives the mailbox a new address in an accepted domain; the row stays, so its password,
    /// app passwords, device credentials and settings follow, and the old address is gone.
    async fn rename_user(&self, address: &str, new_address: &str) -> Result<User>;

    // --- app passwords ---
    async fn add_app_password(&self, address: &str, new: NewAppPassword) -> Result<AppPassword>;
    async fn list_app_passwords(&self, address: &str) -> Result<Vec<AppPassword>>;
    async fn revoke_app_password(&self, address: &str, name: &str) -> Result<()>;
    async fn touch_app_password(&self, id: i64, at_unix: i64) -> Result<()>;

    // --- device credentials (`device.rs`) ---
    async fn add_device_credential(&self, address: &str, new: NewDeviceCredential) -> Result<DeviceCredential>;
    /// Live (not revoked) device credentials, oldest first.
    async fn list_device_credentials(&self, address: &str) -> Result<Vec<DeviceCredential>>;
    async fn revoke_device_credential(&self, address: &str, name: &str) -> Result<()>;
    /// Records a successful use: when, and from which client address.
    async fn touch_device_credential(&self, id: i64, at_unix: i64, client_ip: &str) -> Result<()>;

    // --- authentication view ---
    /// Everything the AUTH decision needs about one address in one read: the user, their
    /// organisation's settings, the password hash and the live app passwords' hints and hashes.
    async fn auth_record(&self, address: &str) -> Result<Option<AuthRecord>>;

    // --- sign-in log ---
    async fn record_signin(&self, entry: &SignInEntry) -> Result<()>;
    /// Newest first, `filter.limit` rows after skipping `filter.offset`.
    async fn signins(&self, filter: &SignInFilter) -> Result<Vec<SignInEntry>>;
    /// How many rows the filter selects (its limit and offset ignored).
    async fn count_signins(&self, filter: &SignInFilter) -> Result<u64>;
    /// Succeeded and refused sign-ins the filter selects (limit and offset ignored), per bucket
    /// of `width` seconds, oldest first; buckets without a row are left out.
    async fn signin_buckets(&self, filter: &SignInFilter, width: i64) -> Result<Vec<SignInBucket>>;
    /// One page of the sign-ins the filter selects, with their total (`filter.limit` and
    /// `filter.offset` are replaced by the page's).
    async fn signins_page(
        &self,
        filter: &SignInFilter,
        page: listing::PageRequest,
    ) -> Result<listing::Page<SignInEntry>> {
        let paged = SignInFilter { limit: Some(page.limit), offset: page.offset, ..filter.clone() };
        let total = self.count_signins(filter).await?;
        let items = self.signins(&paged).await?;
        Ok(listing::Page { items, total, offset: page.offset, limit: page.limit })
    }
    /// Live device credentials that expire before `before` (unix seconds), soonest first,
    /// each with its mailbox's address.
    async fn expiring_device_credentials(&self, before: i64) -> Result<Vec<(String, DeviceCredential)>>;
    /// Deletes sign-in rows older than `before` (unix seconds), at most `batch` rows per
    /// statement so the writer is never held long; returns how many went.
    async fn prune_signins(&self, _before: i64, _batch: u32) -> Result<u64> {
        Ok(0)
    }

    // --- protection (see `protection.rs`) ---
    /// Whether the user name is locked for this client address at `now`. Nothing is written.
    async fn lockout_status(
        &self,
        name: &str,
        client_ip: &str,
        now: i64,
        policy: &LockoutPolicy,
    ) -> Result<LockoutStatus>;
    /// Counts one failed attempt (for any name, existing or not); reports a lockout it causes.
    async fn record_auth_failure(
        &self,
        name: &str,
        client_ip: &str,
        now: i64,
        policy: &LockoutPolicy,
    ) -> Result<LockoutStatus>;
    /// Resets the counter the attempt used and makes the client address familiar.
    async fn record_auth_success(&self, name: &str, client_ip: &str, now: i64, policy: &LockoutPolicy) -> Result<()>;
    /// Clears every lockout counter of the name; returns how many locations were locked.
    async fn unlock(&self, name: &str, now: i64) -> Result<u64>;
    /// The name's lockout counters, unfamiliar locations first.
    async fn lockouts(&self, name: &str) -> Result<Vec<LockoutEntry>>;
    /// Recipients of messages accepted for `address` after `since` (unix seconds).
    async fn recipients_since(&self, address: &str, since: i64) -> Result<u64>;
    /// Adds an accepted message's recipients to the rolling quota.
    async fn record_recipients(&self, address: &str, at: i64, count: u32) -> Result<()>;
    /// Several additions `(address, at, count)` at once, in one transaction where the backend can.
    async fn record_recipients_batch(&self, batch: &[(String, i64, u32)]) -> Result<()> {
        for (address, at, count) in batch {
            self.record_recipients(address, *at, *count).await?;
        }
        Ok(())
    }
    /// The organisation's limit overrides; `UnknownOrg` when there is no such organisation.
    async fn org_limits(&self, org: &str) -> Result<OrgLimits>;
    /// Applies a change (`None` unchanged, `Some(0)` back to the server's value).
    async fn set_org_limits(&self, org: &str, change: OrgLimits) -> Result<OrgLimits>;

    /// The language of the organisation's bounce messages ("en", "ko", "id"); `None` for the
    /// server's default (English). `UnknownOrg` when there is no such organisation. A store
    /// without the column answers `None` (English bounces).
    async fn org_language(&self, _org: &str) -> Result<Option<String>> {
        Ok(None)
    }
    /// Sets (or with `None` clears) the organisation's language; returns the stored value.
    async fn set_org_language(&self, _org: &str, _language: Option<&str>) -> Result<Option<String>> {
        Err(DirectoryError::Storage("this store does not keep an organisation language".into()))
    }

    // --- accepted submissions, for the SMTP AUTH clients report (`submissions.rs`) ---
    /// Adds the counts of a batch of accepted messages to their buckets.
    async fn record_submissions(&self, _batch: &[SubmissionCount]) -> Result<()> {
        Err(DirectoryError::Storage("this directory does not record submissions".into()))
    }
    /// The buckets of the UTC days from the one holding `since` (unix seconds) on.
    async fn submissions_since(&self, _since: i64) -> Result<Vec<SubmissionCount>> {
        Err(DirectoryError::Storage("this directory does not record submissions".into()))
    }

    // --- senders imported from Microsoft 365 (`imports.rs`) ---
    /// Records (or updates, keeping the first import time) one imported sender.
    async fn record_imported_sender(&self, _sender: &ImportedSender) -> Result<()> {
        Err(DirectoryError::Storage("this directory does not record imports".into()))
    }
    /// Every imported sender, by organisation and address.
    async fn imported_senders(&self) -> Result<Vec<ImportedSender>> {
        Err(DirectoryError::Storage("this directory does not record imports".into()))
    }
}

/// Everything the server and the admin tools keep in one database: the directory and the admin
/// store, behind whichever backend the configuration names (`[store] url`).
#[async_trait]
pub trait Store: Directory + admin::AdminStore {
    /// Which backend this is, for messages ("sqlite" or "postgres").
    fn backend(&self) -> &'static str;
    /// The SQLite backend, for what only it can do (a file snapshot for `authrelay backup`).
    fn as_sqlite(&self) -> Option<&sqlite::SqliteDirectory> {
        None
    }
    /// Session places shared with the other nodes; `None` for a single node's store.
    fn mailbox_leases(&self) -> Option<std::sync::Arc<dyn leases::MailboxLeases>> {
        None
    }
    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> Result<()>;
    /// Closes the connections, waiting for those in use.
    async fn close_store(&self);
}

#[async_trait]
impl Store for sqlite::SqliteDirectory {
    fn backend(&self) -> &'static str {
        "sqlite"
    }
    fn as_sqlite(&self) -> Option<&sqlite::SqliteDirectory> {
        Some(self)
    }
    async fn ping(&self) -> Result<()> {
        self.org("").await.map(|_| ())
    }
    async fn close_store(&self) {
        self.close().await
    }
}

#[async_trait]
impl Store for postgres::PgDirectory {
    fn backend(&self) -> &'static str {
        "postgres"
    }
    fn mailbox_leases(&self) -> Option<std::sync::Arc<dyn leases::MailboxLeases>> {
        Some(std::sync::Arc::new(self.clone()))
    }
    async fn ping(&self) -> Result<()> {
        postgres::PgDirectory::ping(self).await
    }
    async fn close_store(&self) {
        self.close().await
    }
}
