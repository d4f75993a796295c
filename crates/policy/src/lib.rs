//! Policy: who may authenticate, and which exact reply when not.
//!
//! [`decide`] is a pure function from the facts of one AUTH attempt to a [`Decision`]. It walks
//! the decision order of `shared/spec/smtp-auth.md` §4 and stops at the first check that fails.
//! No I/O: the caller gathers the facts (TLS state, lockout, credential verification, the
//! account's settings) and writes the result to the sign-in log.
//!
//! [`may_send_as`] is the sending rule (5.7.60).

use authrelay_core::{
    effective_smtp_auth, AppPasswordsPolicy, CredentialKind, DeviceCredentialsPolicy, MailboxSettings, MfaState,
    OrgSettings, ReplyId, SecurityDefaults, SignIn, SmtpAuthSource,
};

/// The checks of the decision order, in order. `as_str` is what the sign-in log stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Check {
    Tls,
    Mechanism,
    Decoding,
    Lockout,
    ClientBudget,
    Credentials,
    SignIn,
    AuthenticatedSmtp,
    /// The organisation blocks device credentials.
    DeviceCredentialsPolicy,
    /// The device credential is past its expiry.
    DeviceCredentialExpiry,
    /// The device credential is used from an address outside its allow list.
    DeviceCredentialAddress,
    SecurityDefaults,
    Mfa,
    Accepted,
    /// Not an AUTH step: an unauthenticated submission a connector rule decided (sign-in log).
    Connector,
}

impl Check {
    pub const ALL: &'static [Check] = &[
        Check::Tls,
        Check::Mechanism,
        Check::Decoding,
        Check::Lockout,
        Check::ClientBudget,
        Check::Credentials,
        Check::SignIn,
        Check::AuthenticatedSmtp,
        Check::DeviceCredentialsPolicy,
        Check::DeviceCredentialExpiry,
        Check::DeviceCredentialAddress,
        Check::SecurityDefaults,
        Check::Mfa,
        Check::Accepted,
        Check::Connector,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Check::Tls => "tls",
            Check::Mechanism => "mechanism",
            Check::Decoding => "decoding",
            Check::Lockout => "lockout",
            Check::ClientBudget => "client-budget",
            Check::Credentials => "credentials",
            Check::SignIn => "sign-in",
            Check::AuthenticatedSmtp => "authenticated-smtp",
            Check::DeviceCredentialsPolicy => "device-credentials-policy",
            Check::DeviceCredentialExpiry => "device-credential-expiry",
            Check::DeviceCredentialAddress => "device-credential-address",
            Check::SecurityDefaults => "security-defaults",
            Check::Mfa => "mfa",
            Check::Accepted => "accepted",
            Check::Connector => "connector",
        }
    }

    pub fn parse(s: &str) -> Option<Check> {
        Check::ALL.iter().copied().find(|c| c.as_str() == s)
    }
}

/// Result of verifying the presented secret against the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialCheck {
    /// Not verified yet: the caller asks [`needs_credential_check`] first so that no hash is
    /// computed for an attempt an earlier check already refuses.
    NotChecked,
    /// Unknown user, wrong secret or revoked app password: indistinguishable by design.
    Invalid,
    /// The secret verified as this kind of credential.
    Verified(CredentialKind),
    /// The directory could not be read: an outage, not a verdict.
    DirectoryUnavailable,
    /// An OAuth bearer token whose signature, issuer or audience did not verify, or whose user
    /// claim names no mailbox.
    TokenInvalid,
    /// An OAuth bearer token that verified but is past its `exp` (plus the allowed skew).
    TokenExpired,
}

/// What the decision needs to know about a verified device credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceFacts {
    /// Its expiry has passed.
    pub expired: bool,
    /// The client's address is in its allow list, or it has none.
    pub address_allowed: bool,
}

/// The account's side of the decision, known once the credential verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountFacts {
    pub org: OrgSettings,
    pub mailbox: MailboxSettings,
}

/// Everything [`decide`] looks at for one AUTH attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthFacts {
    pub tls: bool,
    pub mechanism_offered: bool,
    pub response_decoded: bool,
    pub user_locked: bool,
    pub client_budget_exhausted: bool,
    pub credential: CredentialCheck,
    /// `Some` whenever `credential` is `Verified`.
    pub account: Option<AccountFacts>,
    /// `Some` whenever `credential` is `Verified(DeviceCredential)`.
    pub device: Option<DeviceFacts>,
}

impl AuthFacts {
    /// Facts of an attempt on a TLS connection with an offered, decodable mechanism, nothing
    /// locked and the credential not yet checked: the common starting point.
    pub fn new_over_tls() -> Self {
        AuthFacts {
            tls: true,
            mechanism_offered: true,
            response_decoded: true,
            user_locked: false,
            client_budget_exhausted: false,
            credential: CredentialCheck::NotChecked,
            account: None,
            device: None,
        }
    }
}

/// The verdict: the reply to send and the check that decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub reply: ReplyId,
    pub check: Check,
}

impl Decision {
    pub fn accepted(&self) -> bool {
        self.reply == ReplyId::AuthOk
    }
}

fn refuse(check: Check, reply: ReplyId) -> Decision {
    Decision { reply, check }
}

/// Steps 1–3 of the decision order: if they refuse, the credential must not be verified at all
/// (no argon2 work for a locked user). `None` means "go on and verify the credential".
pub fn needs_credential_check(facts: &AuthFacts) -> Option<Decision> {
    let mut probe = *facts;
    probe.credential = CredentialCheck::NotChecked;
    let d = decide(&probe);
    (d.check < Check::Credentials).then_some(d)
}

/// The decision order (spec §4). Credentials are checked before policy, so only someone who
/// holds a valid secret learns which policy refuses it.
pub fn decide(f: &AuthFacts) -> Decision {
    // 1. TLS first: a secret must never cross the wire in clear.
    if !f.tls {
        return refuse(Check::Tls, ReplyId::AuthBeforeTls);
    }
    // 2. Mechanism and encoding.
    if !f.mechanism_offered {
        return refuse(Check::Mechanism, ReplyId::UnknownMechanism);
    }
    if !f.response_decoded {
        return refuse(Check::Decoding, ReplyId::AuthMalformed);
    }
    // 3. Lockout and the client's failure budget.
    if f.user_locked {
        return refuse(Check::Lockout, ReplyId::AccountLocked);
    }
    if f.client_budget_exhausted {
        return refuse(Check::ClientBudget, ReplyId::AuthTooMany);
    }
    // 4. The credential.
    let kind = match f.credential {
        CredentialCheck::Verified(kind) => kind,
        CredentialCheck::Invalid => return refuse(Check::Credentials, ReplyId::BadCredentials),
        CredentialCheck::TokenInvalid => return refuse(Check::Credentials, ReplyId::OAuthTokenInvalid),
        CredentialCheck::TokenExpired => return refuse(Check::Credentials, ReplyId::OAuthTokenExpired),
        CredentialCheck::DirectoryUnavailable | CredentialCheck::NotChecked => {
            return refuse(Check::Credentials, ReplyId::AuthTempFail)
        }
    };
    let Some(account) = f.account else {
        // A verified credential without its account is a caller bug; refuse safely.
        return refuse(Check::Credentials, ReplyId::AuthTempFail);
    };
    // 5. Sign-in blocked.
    if account.mailbox.sign_in == SignIn::Blocked {
        return refuse(Check::SignIn, ReplyId::SignInBlocked);
    }
    // 6. Effective Authenticated SMTP: the mailbox's explicit value wins over the organisation's.
    match effective_smtp_auth(account.org.smtp_auth, account.mailbox.smtp_auth) {
        (true, _) => {}
        (false, SmtpAuthSource::Mailbox) => return refuse(Check::AuthenticatedSmtp, ReplyId::SmtpAuthDisabledMailbox),
        (false, SmtpAuthSource::Organisation) => {
            return refuse(Check::AuthenticatedSmtp, ReplyId::SmtpAuthDisabledTenant)
        }
    }
    // 7. Credentials that are not the user's password. A device credential signs in nowhere
    //    but SMTP submission, and a bearer token comes from an issuer that already applied its
    //    own sign-in policy (MFA included), so security defaults and MFA do not concern them.
    //    A device credential answers to its own rules instead: the organisation's policy, its
    //    expiry, its client-address allow list. This is the only place these kinds are special.
    match kind {
        CredentialKind::DeviceCredential => {
            if account.org.device_credentials == DeviceCredentialsPolicy::Blocked {
                return refuse(Check::DeviceCredentialsPolicy, ReplyId::DeviceCredentialsBlocked);
            }
            // Missing facts are a caller bug: fail closed.
            let device = f.device.unwrap_or(DeviceFacts { expired: true, address_allowed: false });
            if device.expired {
                return refuse(Check::DeviceCredentialExpiry, ReplyId::DeviceCredentialExpired);
            }
            if !device.address_allowed {
                return refuse(Check::DeviceCredentialAddress, ReplyId::DeviceCredentialAddress);
            }
            return Decision { reply: ReplyId::AuthOk, check: Check::Accepted };
        }
        CredentialKind::OAuth => return Decision { reply: ReplyId::AuthOk, check: Check::Accepted },
        // Not an AUTH credential; never verified by the AUTH path.
        CredentialKind::Connector => return refuse(Check::Credentials, ReplyId::BadCredentials),
        CredentialKind::Password | CredentialKind::AppPassword => {}
    }
    // 8. Security defaults block every password-based credential.
    if account.org.security_defaults == SecurityDefaults::On {
        return refuse(Check::SecurityDefaults, ReplyId::SecurityDefaults);
    }
    // 9. MFA: the account password cannot satisfy it; an app password stands in for it only
    //    while the organisation allows app passwords.
    match kind {
        CredentialKind::Password if account.mailbox.mfa != MfaState::Disabled => {
            return refuse(Check::Mfa, ReplyId::MfaRequired)
        }
        CredentialKind::AppPassword if account.org.app_passwords == AppPasswordsPolicy::Blocked => {
            return refuse(Check::Mfa, ReplyId::MfaRequired)
        }
        _ => {}
    }
    // 10. Accepted.
    Decision { reply: ReplyId::AuthOk, check: Check::Accepted }
}

/// Whether the mailbox `user` may use `sender` as MAIL FROM or header From/Sender: its own
/// address, or one of its send-as addresses. Compared case-insensitively.
pub fn may_send_as(user: &str, send_as: &[String], sender: &str) -> bool {
    let sender = sender.trim();
    sender.eq_ignore_ascii_case(user) || send_as.iter().any(|a| a.eq_ignore_ascii_case(sender))
}

#[cfg(test)]
mod tests;
