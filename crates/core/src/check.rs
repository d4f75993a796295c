//! The checks of the AUTH decision order (docs/auth-decision.md), as the sign-in log stores them.
//!
//! `authrelay_policy::decide` names the check that decided every attempt; the directory stores
//! [`Check::as_str`] and parses it back with [`Check::parse`], so the column is typed end to end.

use std::fmt;

/// One step of the decision order, in order (`Ord` follows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    Tls,
    Mechanism,
    Decoding,
    Lockout,
    /// Failed attempts on this connection.
    ClientBudget,
    /// Failed attempts from this client address, across connections.
    AddressBudget,
    Credentials,
    SignIn,
    AuthenticatedSmtp,
    /// The listener (a legacy one: weak or no TLS) does not accept this kind of credential.
    ListenerCredentials,
    /// The organisation blocks device credentials.
    DeviceCredentialsPolicy,
    /// The device credential is past its expiry.
    DeviceCredentialExpiry,
    /// The device credential is used from an address outside its allow list.
    DeviceCredentialAddress,
    SecurityDefaults,
    Mfa,
    /// The mailbox already holds its allowed number of authenticated sessions.
    MailboxSessions,
    Accepted,
    /// Not an AUTH step: an unauthenticated submission a connector rule decided.
    Connector,
    /// Not an AUTH step: an administrator cleared the name's lockout (`authrelay user unlock`);
    /// the row has no reply.
    Unlock,
}

impl Check {
    pub const ALL: &'static [Check] = &[
        Check::Tls,
        Check::Mechanism,
        Check::Decoding,
        Check::Lockout,
        Check::ClientBudget,
        Check::AddressBudget,
        Check::Credentials,
        Check::SignIn,
        Check::AuthenticatedSmtp,
        Check::ListenerCredentials,
        Check::DeviceCredentialsPolicy,
        Check::DeviceCredentialExpiry,
        Check::DeviceCredentialAddress,
        Check::SecurityDefaults,
        Check::Mfa,
        Check::MailboxSessions,
        Check::Accepted,
        Check::Connector,
        Check::Unlock,
    ];

    /// The sign-in log's spelling (also the web's `web-check-…` message suffix).
    pub fn as_str(self) -> &'static str {
        match self {
            Check::Tls => "tls",
            Check::Mechanism => "mechanism",
            Check::Decoding => "decoding",
            Check::Lockout => "lockout",
            Check::ClientBudget => "client-budget",
            Check::AddressBudget => "address-budget",
            Check::Credentials => "credentials",
            Check::SignIn => "sign-in",
            Check::AuthenticatedSmtp => "authenticated-smtp",
            Check::ListenerCredentials => "listener-credentials",
            Check::DeviceCredentialsPolicy => "device-credentials-policy",
            Check::DeviceCredentialExpiry => "device-credential-expiry",
            Check::DeviceCredentialAddress => "device-credential-address",
            Check::SecurityDefaults => "security-defaults",
            Check::Mfa => "mfa",
            Check::MailboxSessions => "mailbox-sessions",
            Check::Accepted => "accepted",
            Check::Connector => "connector",
            Check::Unlock => "unlock",
        }
    }

    /// Reads a stored value back. Rows written before the session limit was a step of the
    /// decision order say "concurrency"; they meant [`Check::MailboxSessions`].
    pub fn parse(s: &str) -> Option<Check> {
        match s {
            "concurrency" => Some(Check::MailboxSessions),
            _ => Check::ALL.iter().copied().find(|c| c.as_str() == s),
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_reads_back_and_the_old_spelling_still_parses() {
        for c in Check::ALL {
            assert_eq!(Check::parse(c.as_str()), Some(*c));
            assert_eq!(serde_json::to_value(c).unwrap(), c.as_str());
        }
        assert_eq!(Check::parse("concurrency"), Some(Check::MailboxSessions));
        assert_eq!(Check::parse("Accepted"), None);
        let mut sorted = Check::ALL.to_vec();
        sorted.sort();
        assert_eq!(sorted, Check::ALL, "ALL lists the checks in decision order");
    }
}
