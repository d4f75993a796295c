//! Policy: who may authenticate, and which exact reply when not.
//!
//! [`decide`] is a pure function from the facts of one AUTH attempt to a [`Decision`]. It walks
//! the decision order (docs/auth-decision.md) and stops at the first check that fails. No I/O:
//! the caller gathers the facts (TLS state, lockout, budgets, credential verification, the
//! account's settings, the mailbox's open sessions) and writes the result to the sign-in log.
//!
//! It is the only producer of an AUTH refusal: a [`Decision`] cannot be built outside this
//! crate, the sign-in log takes only a `Decision`, and [`TABLE`] lists every (check, reply)
//! pair `decide` can return (the tests walk every combination of facts against it).
//!
//! [`may_send_as`] is the sending rule (5.7.60).
//!
//! [`effect`] answers what a settings change (or a revoked credential) does to a credential that
//! verified before — a device seen in the sign-in log, a mailbox's own credential — by asking
//! [`decide`] twice, so the admin center's confirmations preview exactly what SMTP AUTH will do.

use authrelay_core::{
    effective_smtp_auth, AppPasswordsPolicy, CredentialKind, CredentialKinds, DeviceCredentialsPolicy, MailboxSettings,
    MfaState, OrgSettings, ReplyId, SecurityDefaults, SignIn, SmtpAuthSource,
};

/// The checks of the decision order live in `core` so the directory can store them typed.
pub use authrelay_core::Check;

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
    /// A valid bearer token whose user claim names another mailbox than the SASL user name.
    TokenForAnotherUser,
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
    /// This connection's failed attempts reached its limit.
    pub client_budget_exhausted: bool,
    /// The client address's failed attempts, across connections, reached its budget.
    pub address_budget_exhausted: bool,
    pub credential: CredentialCheck,
    /// `Some` whenever `credential` is `Verified`.
    pub account: Option<AccountFacts>,
    /// `Some` whenever `credential` is `Verified(DeviceCredential)`.
    pub device: Option<DeviceFacts>,
    /// The mailbox already holds its allowed number of authenticated sessions.
    pub mailbox_sessions_full: bool,
    /// `Some` for an unauthenticated submission from a connector's client range: not an AUTH,
    /// but decided and logged the same way.
    pub connector: Option<ConnectorFacts>,
    /// The credential kinds the listener the attempt arrived on accepts (every kind on the
    /// default listeners; device credentials only on a legacy one unless configured).
    pub listener_credentials: CredentialKinds,
}

/// A connector's side of an unauthenticated submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectorFacts {
    /// The MAIL FROM sender is in one of the connector's domains.
    pub sender_allowed: bool,
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
            address_budget_exhausted: false,
            credential: CredentialCheck::NotChecked,
            account: None,
            device: None,
            mailbox_sessions_full: false,
            connector: None,
            listener_credentials: CredentialKinds::EVERY,
        }
    }

    /// Facts of a connector's unauthenticated submission.
    pub fn connector(sender_allowed: bool) -> Self {
        AuthFacts { connector: Some(ConnectorFacts { sender_allowed }), ..AuthFacts::new_over_tls() }
    }
}

/// The verdict: the reply to send and the check that decided. Only [`decide`] makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    reply: ReplyId,
    check: Check,
}

impl Decision {
    pub fn reply(&self) -> ReplyId {
        self.reply
    }

    pub fn check(&self) -> Check {
        self.check
    }

    /// The attempt may go on: AUTH succeeded, or a connector accepted the sender.
    pub fn accepted(&self) -> bool {
        self.check == Check::Accepted || (self.check == Check::Connector && self.reply == ReplyId::SenderOk)
    }

    /// A failure a guesser produces: a wrong or unknown secret, a forged or foreign bearer
    /// token, a locked name. It spends the client address's failure budget and slows the next
    /// answer. Not counted: policy refusals of a correct secret, the session limit, outages,
    /// and an expired bearer token — its signature verified, so it proves the client held a
    /// valid token from our issuer and is late refreshing it, not guessing; counting it would
    /// let one lagging client lock its whole address (a NAT'd office) out.
    pub fn spends_address_budget(&self) -> bool {
        matches!(self.reply, ReplyId::BadCredentials | ReplyId::OAuthTokenInvalid | ReplyId::AccountLocked)
    }

    /// What the fail2ban line reports: every guess, an undecodable response, and a budget
    /// already used up (docs/auth-decision.md).
    pub fn is_failed_login(&self) -> bool {
        self.spends_address_budget()
            || matches!(self.check, Check::Decoding | Check::ClientBudget | Check::AddressBudget)
    }
}

const fn refuse(check: Check, reply: ReplyId) -> Decision {
    Decision { reply, check }
}

/// Every (check, reply) [`decide`] can return, in decision order: the policy table.
pub const TABLE: &[(Check, ReplyId)] = &[
    (Check::Connector, ReplyId::SenderOk),
    (Check::Connector, ReplyId::ConnectorSenderDenied),
    (Check::Tls, ReplyId::AuthBeforeTls),
    (Check::Mechanism, ReplyId::UnknownMechanism),
    (Check::Decoding, ReplyId::AuthMalformed),
    (Check::Lockout, ReplyId::AccountLocked),
    (Check::ClientBudget, ReplyId::AuthTooMany),
    (Check::AddressBudget, ReplyId::AddressThrottled),
    (Check::Credentials, ReplyId::BadCredentials),
    (Check::Credentials, ReplyId::OAuthTokenInvalid),
    (Check::Credentials, ReplyId::OAuthTokenExpired),
    (Check::Credentials, ReplyId::AuthTempFail),
    (Check::SignIn, ReplyId::SignInBlocked),
    (Check::AuthenticatedSmtp, ReplyId::SmtpAuthDisabledMailbox),
    (Check::AuthenticatedSmtp, ReplyId::SmtpAuthDisabledTenant),
    (Check::ListenerCredentials, ReplyId::LegacyListenerCredential),
    (Check::DeviceCredentialsPolicy, ReplyId::DeviceCredentialsBlocked),
    (Check::DeviceCredentialExpiry, ReplyId::DeviceCredentialExpired),
    (Check::DeviceCredentialAddress, ReplyId::DeviceCredentialAddress),
    (Check::SecurityDefaults, ReplyId::SecurityDefaults),
    (Check::Mfa, ReplyId::MfaRequired),
    (Check::MailboxSessions, ReplyId::ConcurrencyLimit),
    (Check::Accepted, ReplyId::AuthOk),
];

/// Steps 1–3 of the decision order: if they refuse, the credential must not be verified at all
/// (no argon2 work for a locked user). `None` means "go on and verify the credential".
pub fn needs_credential_check(facts: &AuthFacts) -> Option<Decision> {
    let mut probe = *facts;
    probe.credential = CredentialCheck::NotChecked;
    let d = decide(&probe);
    (d.check < Check::Credentials).then_some(d)
}

/// The decision order (docs/auth-decision.md). Credentials are checked before policy, so only someone who
/// holds a valid secret learns which policy refuses it.
pub fn decide(f: &AuthFacts) -> Decision {
    // 0. Not an AUTH: a connector's client submitting without one. Its own rule, its own row.
    if let Some(c) = f.connector {
        return if c.sender_allowed {
            refuse(Check::Connector, ReplyId::SenderOk)
        } else {
            refuse(Check::Connector, ReplyId::ConnectorSenderDenied)
        };
    }
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
    // 3. Lockout and the failure budgets of the connection and of the client's address.
    if f.user_locked {
        return refuse(Check::Lockout, ReplyId::AccountLocked);
    }
    if f.client_budget_exhausted {
        return refuse(Check::ClientBudget, ReplyId::AuthTooMany);
    }
    if f.address_budget_exhausted {
        return refuse(Check::AddressBudget, ReplyId::AddressThrottled);
    }
    // 4. The credential.
    let kind = match f.credential {
        CredentialCheck::Verified(kind) => kind,
        CredentialCheck::Invalid => return refuse(Check::Credentials, ReplyId::BadCredentials),
        // A token for another mailbox is as good as a forged one here.
        CredentialCheck::TokenInvalid | CredentialCheck::TokenForAnotherUser => {
            return refuse(Check::Credentials, ReplyId::OAuthTokenInvalid)
        }
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
    // 6b. The listener: a legacy one (weak or no TLS) takes only the kinds its admin allowed,
    //     device credentials by default, so an account or app password never crosses it. After
    //     the credential, so only its holder learns why, and with a reply that says what to do.
    if !f.listener_credentials.allows(kind) {
        return refuse(Check::ListenerCredentials, ReplyId::LegacyListenerCredential);
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
            return sessions(f);
        }
        CredentialKind::OAuth => return sessions(f),
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
    sessions(f)
}

/// Steps 10 and 11: the mailbox's concurrent sessions (Exchange Online: 3), last, so only the
/// holder of a credential the policy accepts learns of it; then accepted.
fn sessions(f: &AuthFacts) -> Decision {
    if f.mailbox_sessions_full {
        return refuse(Check::MailboxSessions, ReplyId::ConcurrencyLimit);
    }
    refuse(Check::Accepted, ReplyId::AuthOk)
}

/// A credential known to verify: a device's, from a sign-in log row that got past the credential
/// check, or a mailbox's own stored one. What the row's decision showed about the device (an
/// expired device credential, an address outside its list, a listener that refuses the kind)
/// is kept; what the decision never reached is taken as passing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownCredential {
    pub kind: CredentialKind,
    pub device: Option<DeviceFacts>,
    pub listener_credentials: CredentialKinds,
}

impl KnownCredential {
    /// A mailbox's stored credential of `kind`, used from a default listener.
    pub fn stored(kind: CredentialKind) -> Self {
        let device =
            (kind == CredentialKind::DeviceCredential).then_some(DeviceFacts { expired: false, address_allowed: true });
        KnownCredential { kind, device, listener_credentials: CredentialKinds::EVERY }
    }

    /// The credential of a sign-in log row, if the row shows one that verified; `None` for a
    /// wrong secret, a refusal before the credential check, or a connector's submission.
    pub fn logged(kind: Option<CredentialKind>, check: Check) -> Option<Self> {
        let kind = kind?;
        if check <= Check::Credentials
            || matches!(check, Check::Connector | Check::Unlock)
            || kind == CredentialKind::Connector
        {
            return None;
        }
        let mut known = KnownCredential::stored(kind);
        if let Some(device) = known.device.as_mut() {
            device.expired = check == Check::DeviceCredentialExpiry;
            device.address_allowed = check != Check::DeviceCredentialAddress;
        }
        if check == Check::ListenerCredentials {
            known.listener_credentials = CredentialKinds::of(&[]);
        }
        Some(known)
    }

    /// The facts of an attempt with this credential against `account`'s settings; `None`: the
    /// credential no longer verifies (revoked).
    pub fn facts(&self, account: Option<AccountFacts>) -> AuthFacts {
        AuthFacts {
            credential: if account.is_some() { CredentialCheck::Verified(self.kind) } else { CredentialCheck::Invalid },
            account,
            device: self.device,
            listener_credentials: self.listener_credentials,
            ..AuthFacts::new_over_tls()
        }
    }
}

/// What a change does to one credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// Refused before, accepted after.
    LetThrough,
    /// Accepted before, refused after.
    CutOff,
    /// Accepted or refused both times.
    Unchanged,
}

/// What moving from the `before` settings to `after` does to `credential` (`after` = `None`:
/// the credential is revoked), and the decision after, by [`decide`] itself.
pub fn effect(credential: &KnownCredential, before: AccountFacts, after: Option<AccountFacts>) -> (Effect, Decision) {
    let was = decide(&credential.facts(Some(before)));
    let will = decide(&credential.facts(after));
    let effect = match (was.accepted(), will.accepted()) {
        (false, true) => Effect::LetThrough,
        (true, false) => Effect::CutOff,
        _ => Effect::Unchanged,
    };
    (effect, will)
}

/// Whether the mailbox `user` may use `sender` as MAIL FROM or header From/Sender: its own
/// address, or one of its send-as addresses. Compared case-insensitively.
pub fn may_send_as(user: &str, send_as: &[String], sender: &str) -> bool {
    let sender = sender.trim();
    sender.eq_ignore_ascii_case(user) || send_as.iter().any(|a| a.eq_ignore_ascii_case(sender))
}

#[cfg(test)]
mod tests;
