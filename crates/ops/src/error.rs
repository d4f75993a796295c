//! Why an operation was refused. The CLI and the admin center each map these once.

use authrelay_directory::admin::AdminError;
use authrelay_directory::secrets::WeakPassword;
use authrelay_directory::DirectoryError;

use crate::roles::{Permission, Role};

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("the {have:?} role may not {needed:?}")]
    Forbidden { needed: Permission, have: Role },
    /// A directory verdict (unknown user, name taken, …) or a storage outage.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    #[error("'{input}' is not an email address: {reason}")]
    BadAddress { input: String, reason: String },
    #[error("'{input}' is not a domain name")]
    BadDomain { input: String },
    #[error("an organisation needs at least one domain")]
    NoDomain,
    #[error("bad organisation name")]
    BadOrgName,
    #[error("bad display name")]
    BadDisplayName,
    #[error("bad app password name")]
    BadAppPasswordName,
    #[error("bad device credential name")]
    BadDeviceCredentialName,
    #[error("bad token name")]
    BadTokenName,
    #[error("unknown role '{input}'")]
    BadRole { input: String },
    #[error("'{value}' is not an address range")]
    BadCidr { value: String },
    #[error("'{value}' is not a date or time")]
    BadExpiry { value: String },
    #[error("'{value}' lies in the past")]
    ExpiryPast { value: String },
    #[error("weak password: {0:?}")]
    WeakPassword(WeakPassword),
    #[error("an admin '{0}' already exists")]
    AdminExists(String),
    #[error("no admin '{0}'")]
    UnknownAdmin(String),
    #[error("no live API token with that id")]
    UnknownToken,
    #[error("nothing to change")]
    NothingToSet,
    /// A rename into a domain that another organisation accepts.
    #[error("'{domain}' belongs to organisation '{org}', not to the mailbox's own")]
    OtherOrg { domain: String, org: String },
    /// Removing or demoting the only Global administrator would leave nobody to manage admins.
    #[error("'{0}' is the last Global administrator")]
    LastGlobalAdmin(String),
    /// An admin removing or demoting their own account (another admin does it).
    #[error("an admin cannot remove or demote their own account")]
    OwnAccount,
    #[error("'{0}' is not a DKIM selector (letters, digits and '-')")]
    BadSelector(String),
    #[error("'{0}' is not a DKIM key type (rsa or ed25519)")]
    BadAlgorithm(String),
    #[error("a DKIM key '{selector}' already exists for {domain}")]
    DkimExists { domain: String, selector: String },
    #[error("no DKIM key '{selector}' for {domain}")]
    UnknownDkimKey { domain: String, selector: String },
    /// Writing or reading a key file (the operating system's reason).
    #[error("DKIM key store: {0}")]
    DkimStore(String),
}

impl OpsError {
    /// A storage outage rather than a verdict about the request.
    pub fn is_storage(&self) -> bool {
        matches!(self, OpsError::Directory(DirectoryError::Storage(_)))
    }
}

impl From<AdminError> for OpsError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::AdminExists(a) => OpsError::AdminExists(a),
            AdminError::UnknownAdmin(a) => OpsError::UnknownAdmin(a),
            AdminError::Directory(d) => OpsError::Directory(d),
        }
    }
}

impl From<WeakPassword> for OpsError {
    fn from(e: WeakPassword) -> Self {
        OpsError::WeakPassword(e)
    }
}
