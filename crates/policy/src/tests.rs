//! Table-driven tests of the decision order (spec §4) and the catalogue rows AUTH can produce.

use super::*;
use authrelay_core::{MailboxSmtpAuth as Mb, OrgSmtpAuth as Org};

fn facts(org: OrgSettings, mailbox: MailboxSettings, kind: CredentialKind) -> AuthFacts {
    AuthFacts {
        credential: CredentialCheck::Verified(kind),
        account: Some(AccountFacts { org, mailbox }),
        ..AuthFacts::new_over_tls()
    }
}

fn org(sd: SecurityDefaults, smtp: Org, app: AppPasswordsPolicy) -> OrgSettings {
    OrgSettings { security_defaults: sd, smtp_auth: smtp, app_passwords: app }
}

fn mailbox(sign_in: SignIn, smtp: Mb, mfa: MfaState) -> MailboxSettings {
    MailboxSettings { sign_in, smtp_auth: smtp, mfa }
}

/// Steps 1–4, one row per catalogue reply they can produce.
#[test]
fn early_checks_each_produce_their_reply() {
    let base = AuthFacts::new_over_tls();
    let rows: &[(&str, AuthFacts, ReplyId, Check)] = &[
        ("no TLS", AuthFacts { tls: false, ..base }, ReplyId::AuthBeforeTls, Check::Tls),
        ("mechanism", AuthFacts { mechanism_offered: false, ..base }, ReplyId::UnknownMechanism, Check::Mechanism),
        ("bad base64", AuthFacts { response_decoded: false, ..base }, ReplyId::AuthMalformed, Check::Decoding),
        ("locked", AuthFacts { user_locked: true, ..base }, ReplyId::AccountLocked, Check::Lockout),
        ("budget", AuthFacts { client_budget_exhausted: true, ..base }, ReplyId::AuthTooMany, Check::ClientBudget),
        (
            "wrong secret",
            AuthFacts { credential: CredentialCheck::Invalid, ..base },
            ReplyId::BadCredentials,
            Check::Credentials,
        ),
        (
            "directory down",
            AuthFacts { credential: CredentialCheck::DirectoryUnavailable, ..base },
            ReplyId::AuthTempFail,
            Check::Credentials,
        ),
        // TLS outranks everything after it, even a lockout.
        ("no TLS and locked", AuthFacts { tls: false, user_locked: true, ..base }, ReplyId::AuthBeforeTls, Check::Tls),
        // A locked user gets AccountLocked even with the right password (no hash is computed).
        (
            "locked beats verified",
            AuthFacts {
                user_locked: true,
                ..facts(OrgSettings::default(), MailboxSettings::default(), CredentialKind::Password)
            },
            ReplyId::AccountLocked,
            Check::Lockout,
        ),
    ];
    for (name, f, reply, check) in rows {
        assert_eq!(decide(f), Decision { reply: *reply, check: *check }, "{name}");
    }
}

/// The seed's story, row by row: each layer refuses with its own reply.
#[test]
fn seed_layers_in_order() {
    use AppPasswordsPolicy::*;
    use SecurityDefaults::{Off, On};
    let pw = CredentialKind::Password;
    let ok_mb = mailbox(SignIn::Allowed, Mb::Default, MfaState::Disabled);
    let rows: &[(&str, OrgSettings, MailboxSettings, CredentialKind, ReplyId)] = &[
        ("new org, everything default", OrgSettings::default(), ok_mb, pw, ReplyId::SmtpAuthDisabledTenant),
        (
            "mailbox enabled, security defaults still on",
            org(On, Org::Disabled, Blocked),
            mailbox(SignIn::Allowed, Mb::Enabled, MfaState::Disabled),
            pw,
            ReplyId::SecurityDefaults,
        ),
        (
            "security defaults off, MFA enabled",
            org(Off, Org::Enabled, Blocked),
            mailbox(SignIn::Allowed, Mb::Default, MfaState::Enabled),
            pw,
            ReplyId::MfaRequired,
        ),
        (
            "MFA enforced",
            org(Off, Org::Enabled, Blocked),
            mailbox(SignIn::Allowed, Mb::Default, MfaState::Enforced),
            pw,
            ReplyId::MfaRequired,
        ),
        ("all three fixed", org(Off, Org::Enabled, Blocked), ok_mb, pw, ReplyId::AuthOk),
        (
            "org enabled but mailbox disabled",
            org(Off, Org::Enabled, Allowed),
            mailbox(SignIn::Allowed, Mb::Disabled, MfaState::Disabled),
            pw,
            ReplyId::SmtpAuthDisabledMailbox,
        ),
        (
            "mailbox enabled over org disabled",
            org(Off, Org::Disabled, Allowed),
            mailbox(SignIn::Allowed, Mb::Enabled, MfaState::Disabled),
            pw,
            ReplyId::AuthOk,
        ),
        (
            "sign-in blocked before everything",
            org(On, Org::Disabled, Blocked),
            mailbox(SignIn::Blocked, Mb::Disabled, MfaState::Enforced),
            pw,
            ReplyId::SignInBlocked,
        ),
        (
            "app password with MFA, allowed",
            org(Off, Org::Enabled, Allowed),
            mailbox(SignIn::Allowed, Mb::Default, MfaState::Enforced),
            CredentialKind::AppPassword,
            ReplyId::AuthOk,
        ),
        (
            "app password with MFA, org blocks them",
            org(Off, Org::Enabled, Blocked),
            mailbox(SignIn::Allowed, Mb::Default, MfaState::Enforced),
            CredentialKind::AppPassword,
            ReplyId::MfaRequired,
        ),
        (
            "app password under security defaults",
            org(On, Org::Enabled, Allowed),
            mailbox(SignIn::Allowed, Mb::Default, MfaState::Enforced),
            CredentialKind::AppPassword,
            ReplyId::SecurityDefaults,
        ),
    ];
    for (name, o, m, kind, reply) in rows {
        assert_eq!(decide(&facts(*o, *m, *kind)).reply, *reply, "{name}");
    }
}

/// Every combination of the controls: security defaults × org SMTP AUTH × app-password policy ×
/// mailbox override × MFA × sign-in × credential kind. The expectation is written as the spec's
/// list of refusals, each a predicate, first match wins.
#[test]
fn every_combination_of_the_controls() {
    type Rule = (fn(&OrgSettings, &MailboxSettings, CredentialKind) -> bool, ReplyId, Check);
    let spec: &[Rule] = &[
        (|_, m, _| m.sign_in == SignIn::Blocked, ReplyId::SignInBlocked, Check::SignIn),
        (|_, m, _| m.smtp_auth == Mb::Disabled, ReplyId::SmtpAuthDisabledMailbox, Check::AuthenticatedSmtp),
        (
            |o, m, _| m.smtp_auth == Mb::Default && o.smtp_auth == Org::Disabled,
            ReplyId::SmtpAuthDisabledTenant,
            Check::AuthenticatedSmtp,
        ),
        (|o, _, _| o.security_defaults == SecurityDefaults::On, ReplyId::SecurityDefaults, Check::SecurityDefaults),
        (|_, m, k| k == CredentialKind::Password && m.mfa != MfaState::Disabled, ReplyId::MfaRequired, Check::Mfa),
        (
            |o, _, k| k == CredentialKind::AppPassword && o.app_passwords == AppPasswordsPolicy::Blocked,
            ReplyId::MfaRequired,
            Check::Mfa,
        ),
    ];
    let mut seen = std::collections::BTreeMap::new();
    let mut count = 0;
    for sd in SecurityDefaults::ALL {
        for os in Org::ALL {
            for ap in AppPasswordsPolicy::ALL {
                for si in SignIn::ALL {
                    for ms in Mb::ALL {
                        for mfa in MfaState::ALL {
                            for kind in CredentialKind::ALL {
                                let o = org(*sd, *os, *ap);
                                let m = mailbox(*si, *ms, *mfa);
                                let expected = spec
                                    .iter()
                                    .find(|(p, _, _)| p(&o, &m, *kind))
                                    .map(|(_, r, c)| Decision { reply: *r, check: *c })
                                    .unwrap_or(Decision { reply: ReplyId::AuthOk, check: Check::Accepted });
                                let got = decide(&facts(o, m, *kind));
                                assert_eq!(got, expected, "{o:?} {m:?} {kind:?}");
                                *seen.entry(got.reply.as_str()).or_insert(0) += 1;
                                count += 1;
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(count, 2 * 2 * 2 * 2 * 3 * 3 * 2);
    // Every post-credential row of the catalogue is reachable.
    for id in [
        "SignInBlocked",
        "SmtpAuthDisabledMailbox",
        "SmtpAuthDisabledTenant",
        "SecurityDefaults",
        "MfaRequired",
        "AuthOk",
    ] {
        assert!(seen.contains_key(id), "{id} never produced");
    }
}

#[test]
fn early_checks_stop_before_the_credential_is_verified() {
    let base = AuthFacts::new_over_tls();
    assert_eq!(needs_credential_check(&base), None);
    assert_eq!(
        needs_credential_check(&AuthFacts { user_locked: true, ..base }).map(|d| d.reply),
        Some(ReplyId::AccountLocked)
    );
    assert_eq!(
        needs_credential_check(&AuthFacts { tls: false, ..base }).map(|d| d.reply),
        Some(ReplyId::AuthBeforeTls)
    );
}

#[test]
fn send_as_rules() {
    let extra = vec!["alerts@contoso.com".to_string()];
    assert!(may_send_as("scanner@contoso.com", &extra, "Scanner@Contoso.com"));
    assert!(may_send_as("scanner@contoso.com", &extra, "alerts@contoso.com"));
    assert!(!may_send_as("scanner@contoso.com", &extra, "ceo@contoso.com"));
    assert!(!may_send_as("scanner@contoso.com", &extra, ""));
}

#[test]
fn check_names_round_trip() {
    for c in Check::ALL {
        assert_eq!(Check::parse(c.as_str()), Some(*c));
    }
}
