//! An open session's sign-in is re-checked while the session lasts: blocking the user,
//! changing the password, revoking the app password or device credential it used (or its
//! expiry, or a policy change that would now refuse it) ends the session with `421 4.7.0`
//! instead of letting it go on sending. The check reads the directory at MAIL when the last
//! check is more than [`RECHECK_AFTER`] old, and every [`IDLE_RECHECK`] while the session
//! waits for a command, so the admin CLI (another process) is seen within a few seconds.

use std::net::IpAddr;
use std::time::Duration;

use authrelay_core::CredentialKind;
use authrelay_directory::{AuthRecord, Directory};
use authrelay_policy::{decide, AccountFacts, AuthFacts, CredentialCheck, DeviceFacts};

/// How old the last check may be when MAIL starts a transaction.
pub const RECHECK_AFTER: Duration = Duration::from_secs(2);
/// How often a session waiting for a command is re-checked.
pub const IDLE_RECHECK: Duration = Duration::from_secs(5);

/// The credential a session signed in with, as far as it can be found again without the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeldCredential {
    /// The account password: the stored hash at sign-in (a new password is a new hash).
    Password(String),
    AppPassword(i64),
    DeviceCredential(i64),
    /// A bearer token: valid until the account's state refuses it.
    OAuth,
    /// A connector's unauthenticated sender: nothing was signed in.
    Connector,
}

impl HeldCredential {
    /// What a sign-in of `kind` against `record` rests on; `id` is the app password's or device
    /// credential's id the secret verified against.
    pub fn of(kind: CredentialKind, record: &AuthRecord, id: Option<i64>) -> Self {
        match (kind, id) {
            (CredentialKind::AppPassword, Some(id)) => HeldCredential::AppPassword(id),
            (CredentialKind::DeviceCredential, Some(id)) => HeldCredential::DeviceCredential(id),
            (CredentialKind::OAuth, _) => HeldCredential::OAuth,
            (CredentialKind::Connector, _) => HeldCredential::Connector,
            _ => HeldCredential::Password(record.password_hash.clone()),
        }
    }
}

/// The sign-in a session holds: the mailbox, the kind of credential and what it rests on.
/// (The session's `AuthenticatedUser` carries these; this module needs nothing else of it.)
#[derive(Debug, Clone, Copy)]
pub struct Held<'a> {
    pub address: &'a str,
    pub credential: CredentialKind,
    pub held: &'a HeldCredential,
}

/// Whether the sign-in still stands; `Err` names why not (for the server log).
pub async fn standing(directory: &dyn Directory, user: Held<'_>, client: IpAddr, now: i64) -> Result<(), &'static str> {
    if *user.held == HeldCredential::Connector {
        return Ok(());
    }
    let record = match directory.auth_record(user.address).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err("the mailbox no longer exists"),
        Err(e) => {
            // An outage is not a verdict: the session goes on, and the next check asks again.
            tracing::error!(error = %e, "cannot re-check an open session's credential");
            return Ok(());
        }
    };
    let mut device = None;
    let present = match user.held {
        HeldCredential::Password(hash) => record.password_hash == *hash,
        HeldCredential::AppPassword(id) => record.app_passwords.iter().any(|a| a.id == *id),
        HeldCredential::DeviceCredential(id) => match record.device_credentials.iter().find(|d| d.id == *id) {
            Some(d) => {
                device = Some(DeviceFacts { expired: d.expired(now), address_allowed: d.allows(client) });
                true
            }
            None => false,
        },
        HeldCredential::OAuth | HeldCredential::Connector => true,
    };
    if !present {
        return Err("the credential was changed or revoked");
    }
    let facts = AuthFacts {
        credential: CredentialCheck::Verified(user.credential),
        account: Some(AccountFacts { org: record.org, mailbox: record.user.settings }),
        device,
        ..AuthFacts::new_over_tls()
    };
    let decision = decide(&facts);
    if decision.accepted() {
        Ok(())
    } else {
        Err(decision.check().as_str())
    }
}
