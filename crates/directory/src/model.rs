//! Records stored by the directory.

use authrelay_core::{
    AppPasswordsPolicy, Check, CredentialKind, DeviceCredentialsPolicy, MailboxSettings, MailboxSmtpAuth, MfaState,
    OrgSettings, OrgSmtpAuth, ReplyId, SecurityDefaults, SignIn,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Org {
    pub id: i64,
    pub name: String,
    /// Accepted domains, lower-case, in the order they were added.
    pub domains: Vec<String>,
    pub settings: OrgSettings,
    pub created_at: i64,
}

/// Changes to an organisation's settings; `None` leaves a value as it is.
#[derive(Debug, Clone, Default)]
pub struct OrgChange {
    pub security_defaults: Option<SecurityDefaults>,
    pub smtp_auth: Option<OrgSmtpAuth>,
    pub app_passwords: Option<AppPasswordsPolicy>,
    pub device_credentials: Option<DeviceCredentialsPolicy>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub org: String,
    /// Lower-case `local@domain`.
    pub address: String,
    pub display_name: String,
    pub settings: MailboxSettings,
    /// Extra addresses this mailbox may send as (its own address is always allowed).
    pub send_as: Vec<String>,
    pub created_at: i64,
    pub password_changed_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub address: String,
    pub display_name: String,
    /// An argon2id PHC string from [`crate::secrets::hash_secret`].
    pub password_hash: String,
}

/// Changes to a user; `None` leaves a value as it is. `add_send_as` / `remove_send_as` are
/// applied after each other, duplicates ignored.
#[derive(Debug, Clone, Default)]
pub struct UserChange {
    pub display_name: Option<String>,
    pub sign_in: Option<SignIn>,
    pub smtp_auth: Option<MailboxSmtpAuth>,
    pub mfa: Option<MfaState>,
    pub add_send_as: Vec<String>,
    pub remove_send_as: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppPassword {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct NewAppPassword {
    pub name: String,
    /// Non-secret lookup tag derived from the secret (see [`crate::secrets::app_password_hint`]),
    /// so one AUTH attempt computes at most one argon2id hash.
    pub hint: String,
    pub hash: String,
}

/// A live (not revoked) app password as the AUTH path sees it.
#[derive(Debug, Clone)]
pub struct AppPasswordSecret {
    pub id: i64,
    pub name: String,
    pub hint: String,
    pub hash: String,
}

/// What the AUTH decision needs about one address.
#[derive(Debug, Clone)]
pub struct AuthRecord {
    pub user: User,
    pub org: OrgSettings,
    pub password_hash: String,
    pub app_passwords: Vec<AppPasswordSecret>,
    /// Live device credentials, each found by its tag.
    pub device_credentials: Vec<crate::DeviceCredentialSecret>,
}

/// One AUTH attempt (or connector decision), accepted or not, as `decide` decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInEntry {
    /// Unix seconds.
    pub at: i64,
    pub client_ip: String,
    pub client_port: u16,
    /// "TLSv1.3", "TLSv1.2" or "none".
    pub tls: String,
    /// "PLAIN", "LOGIN", or what the client sent.
    pub mechanism: String,
    /// The user name as the client gave it (never the secret).
    pub user: String,
    pub credential: Option<CredentialKind>,
    /// The policy check that decided (stored as [`Check::as_str`]).
    pub check: Check,
    /// The reply the client got (stored as [`ReplyId::as_str`]); `None` only for a row that
    /// records no attempt ([`Check::Unlock`]).
    pub reply: Option<ReplyId>,
    pub success: bool,
    /// The legacy listener (`[[listeners]]`: old TLS, no TLS, bare LFs) the attempt came
    /// through, by name; `None` on the default listeners (README "Legacy devices").
    #[serde(default)]
    pub listener: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SignInFilter {
    /// Exact user name, compared lower-case.
    pub user: Option<String>,
    /// A part of the user name, compared case-insensitively (the admin center's filter).
    pub user_contains: Option<String>,
    pub success: Option<bool>,
    /// Exact client address as stored.
    pub client_ip: Option<String>,
    /// Client addresses in a range (or one address given as `ip`, `ip:port`, `[v6]:port`).
    pub client: Option<crate::listing::ClientFilter>,
    /// Unix seconds, inclusive bounds.
    pub since: Option<i64>,
    pub until: Option<i64>,
    /// At most this many newest entries (None = 100).
    pub limit: Option<u32>,
    /// Skips this many newest entries first (paging).
    pub offset: u64,
    /// Only attempts through a legacy listener (README "Legacy devices").
    pub legacy_only: bool,
}

/// Sign-ins in one time bucket of the admin center's chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SignInBucket {
    /// Unix seconds of the bucket's start (a multiple of its width).
    pub start: i64,
    pub succeeded: u64,
    pub refused: u64,
}

/// Which audit records to list; text filters are case-insensitive substrings.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    /// The action's spelling (`user.set`, `queue.retry` …): exact, or a prefix ending in `.`.
    pub action: Option<String>,
    pub target: Option<String>,
    /// Unix seconds, inclusive bounds.
    pub since: Option<i64>,
    pub until: Option<i64>,
}

/// A value stored as its spelling (a setting, a credential kind, a check), read back; an unknown
/// spelling means the database was edited by hand or by a newer version: a storage problem.
pub(crate) fn parse_stored<T: std::str::FromStr>(text: &str, column: &str) -> crate::Result<T> {
    text.parse().map_err(|_| crate::DirectoryError::Storage(format!("unreadable value '{text}' in column {column}")))
}

/// A sign-in row as every backend stores it (text and integers); turned into a
/// [`SignInEntry`] here, once, whichever database it came from.
pub(crate) struct StoredSignIn {
    pub at: i64,
    pub client_ip: String,
    pub client_port: i64,
    pub tls: String,
    pub mechanism: String,
    pub user: String,
    pub credential: Option<String>,
    pub check: String,
    pub reply: String,
    pub success: bool,
    /// '' on the default listeners.
    pub listener: String,
}

impl StoredSignIn {
    pub(crate) fn into_entry(self) -> crate::Result<SignInEntry> {
        let unreadable = |value: &str, column: &str| {
            crate::DirectoryError::Storage(format!("unreadable value '{value}' in column {column}"))
        };
        Ok(SignInEntry {
            at: self.at,
            client_port: u16::try_from(self.client_port)
                .map_err(|_| unreadable(&self.client_port.to_string(), "client_port"))?,
            client_ip: self.client_ip,
            tls: self.tls,
            mechanism: self.mechanism,
            user: self.user,
            credential: self
                .credential
                .as_deref()
                .map(|c| parse_stored::<CredentialKind>(c, "credential"))
                .transpose()?,
            check: Check::parse(&self.check).ok_or_else(|| unreadable(&self.check, "check_name"))?,
            reply: match self.reply.as_str() {
                "" => None,
                name => Some(ReplyId::from_name(name).ok_or_else(|| unreadable(name, "reply"))?),
            },
            success: self.success,
            listener: Some(self.listener).filter(|l| !l.is_empty()),
        })
    }
}
