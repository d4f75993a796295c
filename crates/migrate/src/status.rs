//! The cutover checklist: for every imported sender, has its device signed in with the device
//! credential the import gave it?
//!
//! - *done*: the credential has been used (its last use is recorded by the AUTH path);
//! - *failing*: the newest sign-in attempt for the address since the import failed — the
//!   sign-in log's deciding check and the reply the device got are shown;
//! - *not seen*: nothing since the import;
//! - *no credential*: the import's credential was revoked (import again to issue a new one).

use authrelay_directory::{Directory, SignInFilter};
use serde::Serialize;

use crate::ImportError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Done,
    Failing,
    NotSeen,
    NoCredential,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Done => "done",
            State::Failing => "failing",
            State::NotSeen => "not-seen",
            State::NoCredential => "no-credential",
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub address: String,
    pub org: String,
    pub credential: String,
    pub state: State,
    pub legacy_tls: bool,
    pub imported_at: i64,
    /// Done: the credential's last use and client address.
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
    /// Failing: the deciding check, the reply id, when and from where.
    pub check: Option<String>,
    pub reply: Option<String>,
    pub failed_at: Option<i64>,
    pub client_ip: Option<String>,
}

/// The checklist, in import order (organisation, then address).
pub async fn checklist(dir: &dyn Directory) -> Result<Vec<Line>, ImportError> {
    let mut out = vec![];
    for s in dir.imported_senders().await? {
        let creds = match dir.list_device_credentials(&s.address).await {
            Ok(c) => c,
            Err(authrelay_directory::DirectoryError::UnknownUser(_)) => vec![],
            Err(e) => return Err(e.into()),
        };
        let cred = creds.iter().find(|c| c.name == s.credential);
        let mut line = Line {
            address: s.address.clone(),
            org: s.org.clone(),
            credential: s.credential.clone(),
            state: State::NotSeen,
            legacy_tls: s.legacy_tls,
            imported_at: s.imported_at,
            last_used_at: None,
            last_used_ip: None,
            check: None,
            reply: None,
            failed_at: None,
            client_ip: None,
        };
        let newest = dir
            .signins(&SignInFilter {
                user: Some(s.address.clone()),
                since: Some(s.imported_at),
                limit: Some(1),
                ..SignInFilter::default()
            })
            .await?
            .into_iter()
            .next();
        match cred {
            None => line.state = State::NoCredential,
            Some(c) if c.last_used_at.is_some() => {
                line.state = State::Done;
                line.last_used_at = c.last_used_at;
                line.last_used_ip = c.last_used_ip.clone();
            }
            Some(_) => {}
        }
        // A failure after the credential's last success means the device is failing again
        // (moved to another network, credential typed wrong on a second device).
        // An administrator's unlock row records no attempt.
        if let Some(n) = newest.filter(|n| !n.success && n.check != authrelay_core::Check::Unlock) {
            if line.state != State::NoCredential && line.last_used_at.is_none_or(|used| n.at >= used) {
                line.state = State::Failing;
                line.check = Some(n.check.as_str().to_string());
                line.reply = n.reply.map(|r| r.as_str().to_string());
                line.failed_at = Some(n.at);
                line.client_ip = Some(n.client_ip);
            }
        }
        out.push(line);
    }
    Ok(out)
}
