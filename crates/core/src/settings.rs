//! The settings that decide whether SMTP AUTH works, with one spelling each for the CLI, the
//! database and JSON (`enabled`, `disabled`, …). Defaults follow `docs/behaviour.md` (The model).

use std::fmt;

/// Declares a settings enum with its lower-case spellings, `FromStr`, `Display` and serde.
macro_rules! setting {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? } default $default:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name { $($(#[$vmeta])* #[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// The accepted spellings, for error messages that name the fix.
            pub fn choices() -> &'static str {
                concat!($($text, " "),+).trim_end()
            }
        }

        impl Default for $name {
            fn default() -> Self { $name::$default }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownSetting;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s.trim().to_ascii_lowercase().as_str() {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownSetting { given: s.to_string(), choices: $name::choices() }),
                }
            }
        }
    };
}

/// A setting spelled in a way we do not know; `choices` lists the accepted spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{given}' is not one of: {choices}")]
pub struct UnknownSetting {
    pub given: String,
    pub choices: &'static str,
}

setting!(
    /// Entra security defaults: while on, password-based SMTP AUTH is refused for everyone.
    SecurityDefaults { On = "on", Off = "off" } default On
);

setting!(
    /// Organisation-wide Authenticated SMTP (`Set-TransportConfig -SmtpClientAuthenticationDisabled`).
    OrgSmtpAuth { Enabled = "enabled", Disabled = "disabled" } default Disabled
);

setting!(
    /// Whether users may create and use app passwords.
    AppPasswordsPolicy { Allowed = "allowed", Blocked = "blocked" } default Blocked
);

setting!(
    /// "Block sign-in" on the user.
    SignIn { Allowed = "allowed", Blocked = "blocked" } default Allowed
);

setting!(
    /// Per-mailbox Authenticated SMTP ("Manage email apps"); `default` follows the organisation.
    MailboxSmtpAuth { Default = "default", Enabled = "enabled", Disabled = "disabled" } default Default
);

setting!(
    /// Legacy per-user MFA state.
    MfaState { Disabled = "disabled", Enabled = "enabled", Enforced = "enforced" } default Disabled
);

setting!(
    /// What kind of secret an AUTH attempt presented.
    CredentialKind {
        Password = "password",
        AppPassword = "app-password",
        /// A generated per-mailbox secret for one device (`authrelay device-credential add`).
        DeviceCredential = "device-credential",
        /// An OAuth 2.0 bearer token (XOAUTH2 / OAUTHBEARER) from the configured issuer.
        OAuth = "oauth",
        /// No credential: an unauthenticated submission a `[[connectors]]` rule accepted.
        Connector = "connector"
    } default Password
);

/// The credential kinds one listener accepts for AUTH (`[[listeners]] credentials`, README
/// "Legacy devices"): every kind on the two default listeners, device credentials only on a
/// legacy listener unless its admin says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CredentialKinds(u8);

impl CredentialKinds {
    pub const EVERY: CredentialKinds = CredentialKinds(u8::MAX);

    pub fn of(kinds: &[CredentialKind]) -> CredentialKinds {
        CredentialKinds(kinds.iter().fold(0, |bits, k| bits | Self::bit(*k)))
    }

    fn bit(kind: CredentialKind) -> u8 {
        1 << CredentialKind::ALL.iter().position(|k| *k == kind).unwrap_or(0)
    }

    pub fn allows(self, kind: CredentialKind) -> bool {
        self.0 & Self::bit(kind) != 0
    }

    /// The kinds in the catalogue's order, for `config check` and the docs.
    pub fn kinds(self) -> Vec<CredentialKind> {
        CredentialKind::ALL.iter().copied().filter(|k| self.allows(*k)).collect()
    }
}

impl Default for CredentialKinds {
    fn default() -> Self {
        CredentialKinds::EVERY
    }
}

setting!(
    /// Whether the organisation's mailboxes may use device credentials.
    DeviceCredentialsPolicy { Allowed = "allowed", Blocked = "blocked" } default Allowed
);

/// The settings of one organisation that take part in the AUTH decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct OrgSettings {
    pub security_defaults: SecurityDefaults,
    pub smtp_auth: OrgSmtpAuth,
    pub app_passwords: AppPasswordsPolicy,
    /// Absent in JSON written before device credentials existed: the default, allowed.
    #[serde(default)]
    pub device_credentials: DeviceCredentialsPolicy,
}

/// The settings of one mailbox that take part in the AUTH decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct MailboxSettings {
    pub sign_in: SignIn,
    pub smtp_auth: MailboxSmtpAuth,
    pub mfa: MfaState,
}

/// Where the effective Authenticated SMTP value comes from: the mailbox wins when it is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpAuthSource {
    Mailbox,
    Organisation,
}

/// Effective Authenticated SMTP for a mailbox: (enabled?, where the value came from).
pub fn effective_smtp_auth(org: OrgSmtpAuth, mailbox: MailboxSmtpAuth) -> (bool, SmtpAuthSource) {
    match mailbox {
        MailboxSmtpAuth::Enabled => (true, SmtpAuthSource::Mailbox),
        MailboxSmtpAuth::Disabled => (false, SmtpAuthSource::Mailbox),
        MailboxSmtpAuth::Default => (org == OrgSmtpAuth::Enabled, SmtpAuthSource::Organisation),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for m in MfaState::ALL {
            assert_eq!(m.as_str().parse::<MfaState>().unwrap(), *m);
        }
        assert_eq!("ENABLED".parse::<OrgSmtpAuth>().unwrap(), OrgSmtpAuth::Enabled);
        let err = "maybe".parse::<MailboxSmtpAuth>().unwrap_err();
        assert_eq!(err.choices, "default enabled disabled");
    }

    #[test]
    fn json_uses_the_same_spelling_as_the_cli() {
        assert_eq!(serde_json::to_string(&CredentialKind::AppPassword).unwrap(), "\"app-password\"");
        assert_eq!(serde_json::from_str::<CredentialKind>("\"app-password\"").unwrap(), CredentialKind::AppPassword);
        assert_eq!(serde_json::to_string(&CredentialKind::DeviceCredential).unwrap(), "\"device-credential\"");
        assert_eq!("device-credential".parse::<CredentialKind>().unwrap(), CredentialKind::DeviceCredential);
    }

    #[test]
    fn defaults_follow_the_spec() {
        let org = OrgSettings::default();
        assert_eq!(org.security_defaults, SecurityDefaults::On);
        assert_eq!(org.smtp_auth, OrgSmtpAuth::Disabled);
        assert_eq!(org.app_passwords, AppPasswordsPolicy::Blocked);
        assert_eq!(org.device_credentials, DeviceCredentialsPolicy::Allowed);
        let mb = MailboxSettings::default();
        assert_eq!((mb.sign_in, mb.smtp_auth, mb.mfa), (SignIn::Allowed, MailboxSmtpAuth::Default, MfaState::Disabled));
    }

    #[test]
    fn mailbox_value_wins_over_the_organisation() {
        use MailboxSmtpAuth as M;
        use OrgSmtpAuth as O;
        assert_eq!(effective_smtp_auth(O::Disabled, M::Enabled), (true, SmtpAuthSource::Mailbox));
        assert_eq!(effective_smtp_auth(O::Enabled, M::Disabled), (false, SmtpAuthSource::Mailbox));
        assert_eq!(effective_smtp_auth(O::Enabled, M::Default), (true, SmtpAuthSource::Organisation));
        assert_eq!(effective_smtp_auth(O::Disabled, M::Default), (false, SmtpAuthSource::Organisation));
    }
}
