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
