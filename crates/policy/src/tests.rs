//! Table-driven tests of the decision order (spec §4) and the catalogue rows AUTH can produce.

use super::*;
use authrelay_core::{MailboxSmtpAuth as Mb, OrgSmtpAuth as Org};

/// A fresh, in-range device credential (for kinds other than device credentials the facts are
/// ignored).
const GOOD_DEVICE: DeviceFacts = DeviceFacts { expired: false, address_allowed: true };

fn facts(org: OrgSettings, mailbox: MailboxSettings, kind: CredentialKind) -> AuthFacts {
    device_facts(org, mailbox, kind, GOOD_DEVICE)
}

fn device_facts(org: OrgSettings, mailbox: MailboxSettings, kind: CredentialKind, device: DeviceFacts) -> AuthFacts {
    AuthFacts {
        credential: CredentialCheck::Verified(kind),
        account: Some(AccountFacts { org, mailbox }),
        device: (kind == CredentialKind::DeviceCredential).then_some(device),
        ..AuthFacts::new_over_tls()
    }
}

fn org(sd: SecurityDefaults, smtp: Org, app: AppPasswordsPolicy) -> OrgSettings {
    OrgSettings { security_defaults: sd, smtp_auth: smtp, app_passwords: app, ..OrgSettings::default() }
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
            "OAuth token with a wrong audience or signature",
            AuthFacts { credential: CredentialCheck::TokenInvalid, ..base },
            ReplyId::OAuthTokenInvalid,
            Check::Credentials,
        ),
        (
            "expired OAuth token",
            AuthFacts { credential: CredentialCheck::TokenExpired, ..base },
            ReplyId::OAuthTokenExpired,
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
/// device-credential policy × mailbox override × MFA × sign-in × credential kind × the device
/// credential's expiry and address. The expectation is written as the spec's list of refusals,
/// each a predicate, first match wins.
#[test]
fn every_combination_of_the_controls() {
    type Rule = (fn(&OrgSettings, &MailboxSettings, CredentialKind, DeviceFacts) -> bool, ReplyId, Check);
    use CredentialKind as K;
    let spec: &[Rule] = &[
        (|_, m, _, _| m.sign_in == SignIn::Blocked, ReplyId::SignInBlocked, Check::SignIn),
        (|_, m, _, _| m.smtp_auth == Mb::Disabled, ReplyId::SmtpAuthDisabledMailbox, Check::AuthenticatedSmtp),
        (
            |o, m, _, _| m.smtp_auth == Mb::Default && o.smtp_auth == Org::Disabled,
            ReplyId::SmtpAuthDisabledTenant,
            Check::AuthenticatedSmtp,
        ),
        // A connector is not an AUTH credential: the AUTH path never accepts it.
        (|_, _, k, _| k == K::Connector, ReplyId::BadCredentials, Check::Credentials),
        (
            |o, _, k, _| k == K::DeviceCredential && o.device_credentials == DeviceCredentialsPolicy::Blocked,
            ReplyId::DeviceCredentialsBlocked,
            Check::DeviceCredentialsPolicy,
        ),
        (
            |_, _, k, d| k == K::DeviceCredential && d.expired,
            ReplyId::DeviceCredentialExpired,
            Check::DeviceCredentialExpiry,
        ),
        (
            |_, _, k, d| k == K::DeviceCredential && !d.address_allowed,
            ReplyId::DeviceCredentialAddress,
            Check::DeviceCredentialAddress,
        ),
        // Security defaults and MFA concern only the password-based kinds.
        (
            |o, _, k, _| matches!(k, K::Password | K::AppPassword) && o.security_defaults == SecurityDefaults::On,
            ReplyId::SecurityDefaults,
            Check::SecurityDefaults,
        ),
        (|_, m, k, _| k == K::Password && m.mfa != MfaState::Disabled, ReplyId::MfaRequired, Check::Mfa),
        (
            |o, _, k, _| k == K::AppPassword && o.app_passwords == AppPasswordsPolicy::Blocked,
            ReplyId::MfaRequired,
            Check::Mfa,
        ),
    ];
    let mut seen = std::collections::BTreeMap::new();
    let mut count = 0;
    let devices: Vec<DeviceFacts> = [false, true]
        .into_iter()
        .flat_map(|expired| {
            [false, true].into_iter().map(move |address_allowed| DeviceFacts { expired, address_allowed })
        })
        .collect();
    for sd in SecurityDefaults::ALL {
        for os in Org::ALL {
            for ap in AppPasswordsPolicy::ALL {
                for dc in DeviceCredentialsPolicy::ALL {
                    for si in SignIn::ALL {
                        for ms in Mb::ALL {
                            for mfa in MfaState::ALL {
                                for kind in CredentialKind::ALL {
                                    for d in &devices {
                                        let o = OrgSettings { device_credentials: *dc, ..org(*sd, *os, *ap) };
                                        let m = mailbox(*si, *ms, *mfa);
                                        let expected = spec
                                            .iter()
                                            .find(|(p, _, _)| p(&o, &m, *kind, *d))
                                            .map(|(_, r, c)| Decision { reply: *r, check: *c })
                                            .unwrap_or(Decision { reply: ReplyId::AuthOk, check: Check::Accepted });
                                        let got = decide(&device_facts(o, m, *kind, *d));
                                        assert_eq!(got, expected, "{o:?} {m:?} {kind:?} {d:?}");
                                        *seen.entry(got.reply.as_str()).or_insert(0) += 1;
                                        count += 1;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(count, 2 * 2 * 2 * 2 * 2 * 3 * 3 * 5 * 4);
    // Every post-credential row of the catalogue is reachable.
    for id in [
        "SignInBlocked",
        "SmtpAuthDisabledMailbox",
        "SmtpAuthDisabledTenant",
        "SecurityDefaults",
        "MfaRequired",
        "DeviceCredentialsBlocked",
        "DeviceCredentialExpired",
        "DeviceCredentialAddress",
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

/// Issue 7: a device credential is the answer to "turn security defaults off": it works under
/// security defaults and MFA, and still answers to Authenticated SMTP and its own rules.
#[test]
fn device_credentials_under_the_strictest_settings() {
    use AppPasswordsPolicy::Blocked;
    use SecurityDefaults::On;
    let dc = CredentialKind::DeviceCredential;
    let strict = org(On, Org::Disabled, Blocked);
    let enforced = mailbox(SignIn::Allowed, Mb::Enabled, MfaState::Enforced);
    let expired = DeviceFacts { expired: true, address_allowed: true };
    let elsewhere = DeviceFacts { expired: false, address_allowed: false };
    let both = DeviceFacts { expired: true, address_allowed: false };
    let blocked = OrgSettings { device_credentials: DeviceCredentialsPolicy::Blocked, ..strict };
    type Row = (&'static str, OrgSettings, MailboxSettings, CredentialKind, Option<DeviceFacts>, Decision);
    let rows: &[Row] = &[
        (
            "security defaults on, MFA enforced: accepted",
            strict,
            enforced,
            dc,
            Some(GOOD_DEVICE),
            Decision { reply: ReplyId::AuthOk, check: Check::Accepted },
        ),
        (
            "the same mailbox's password is still refused",
            strict,
            enforced,
            CredentialKind::Password,
            None,
            Decision { reply: ReplyId::SecurityDefaults, check: Check::SecurityDefaults },
        ),
        (
            "Authenticated SMTP off for the mailbox still applies",
            strict,
            mailbox(SignIn::Allowed, Mb::Disabled, MfaState::Enforced),
            dc,
            Some(GOOD_DEVICE),
            Decision { reply: ReplyId::SmtpAuthDisabledMailbox, check: Check::AuthenticatedSmtp },
        ),
        (
            "Authenticated SMTP off org-wide still applies",
            strict,
            mailbox(SignIn::Allowed, Mb::Default, MfaState::Disabled),
            dc,
            Some(GOOD_DEVICE),
            Decision { reply: ReplyId::SmtpAuthDisabledTenant, check: Check::AuthenticatedSmtp },
        ),
        (
            "sign-in blocked still applies",
            strict,
            mailbox(SignIn::Blocked, Mb::Enabled, MfaState::Disabled),
            dc,
            Some(GOOD_DEVICE),
            Decision { reply: ReplyId::SignInBlocked, check: Check::SignIn },
        ),
        (
            "organisation blocks device credentials",
            blocked,
            enforced,
            dc,
            Some(GOOD_DEVICE),
            Decision { reply: ReplyId::DeviceCredentialsBlocked, check: Check::DeviceCredentialsPolicy },
        ),
        (
            "policy before expiry",
            blocked,
            enforced,
            dc,
            Some(both),
            Decision { reply: ReplyId::DeviceCredentialsBlocked, check: Check::DeviceCredentialsPolicy },
        ),
        (
            "expired",
            strict,
            enforced,
            dc,
            Some(expired),
            Decision { reply: ReplyId::DeviceCredentialExpired, check: Check::DeviceCredentialExpiry },
        ),
        (
            "expiry before the allow list",
            strict,
            enforced,
            dc,
            Some(both),
            Decision { reply: ReplyId::DeviceCredentialExpired, check: Check::DeviceCredentialExpiry },
        ),
        (
            "outside the allow list",
            strict,
            enforced,
            dc,
            Some(elsewhere),
            Decision { reply: ReplyId::DeviceCredentialAddress, check: Check::DeviceCredentialAddress },
        ),
        (
            "device facts missing (caller bug): refused, never accepted",
            strict,
            enforced,
            dc,
            None,
            Decision { reply: ReplyId::DeviceCredentialExpired, check: Check::DeviceCredentialExpiry },
        ),
        (
            "OAuth under security defaults and MFA: accepted",
            strict,
            enforced,
            CredentialKind::OAuth,
            None,
            Decision { reply: ReplyId::AuthOk, check: Check::Accepted },
        ),
        (
            "OAuth still needs Authenticated SMTP",
            strict,
            mailbox(SignIn::Allowed, Mb::Disabled, MfaState::Disabled),
            CredentialKind::OAuth,
            None,
            Decision { reply: ReplyId::SmtpAuthDisabledMailbox, check: Check::AuthenticatedSmtp },
        ),
    ];
    for (name, o, m, kind, device, want) in rows {
        let f = AuthFacts {
            credential: CredentialCheck::Verified(*kind),
            account: Some(AccountFacts { org: *o, mailbox: *m }),
            device: *device,
            ..AuthFacts::new_over_tls()
        };
        assert_eq!(decide(&f), *want, "{name}");
    }
}

/// Calls `visit` with every combination of facts (about six million).
fn every_facts(mut visit: impl FnMut(AuthFacts)) {
    let bools = [false, true];
    let mut credentials = vec![
        CredentialCheck::NotChecked,
        CredentialCheck::Invalid,
        CredentialCheck::DirectoryUnavailable,
        CredentialCheck::TokenInvalid,
        CredentialCheck::TokenExpired,
        CredentialCheck::TokenForAnotherUser,
    ];
    credentials.extend(CredentialKind::ALL.iter().map(|k| CredentialCheck::Verified(*k)));
    let mut orgs = vec![];
    for &security_defaults in SecurityDefaults::ALL {
        for &smtp_auth in Org::ALL {
            for &app_passwords in AppPasswordsPolicy::ALL {
                for &device_credentials in DeviceCredentialsPolicy::ALL {
                    orgs.push(OrgSettings { security_defaults, smtp_auth, app_passwords, device_credentials });
                }
            }
        }
    }
    let mut mailboxes = vec![];
    for &sign_in in SignIn::ALL {
        for &smtp in Mb::ALL {
            for &mfa in MfaState::ALL {
                mailboxes.push(mailbox(sign_in, smtp, mfa));
            }
        }
    }
    let mut accounts: Vec<Option<AccountFacts>> = vec![None];
    for &org in &orgs {
        for &mailbox in &mailboxes {
            accounts.push(Some(AccountFacts { org, mailbox }));
        }
    }
    let mut devices = vec![None];
    for expired in bools {
        for address_allowed in bools {
            devices.push(Some(DeviceFacts { expired, address_allowed }));
        }
    }
    let connectors =
        [None, Some(ConnectorFacts { sender_allowed: false }), Some(ConnectorFacts { sender_allowed: true })];
    let device_only = CredentialKinds::of(&[CredentialKind::DeviceCredential]);
    for early in 0u32..(1 << 7) {
        let bit = |n: u32| early & (1 << n) != 0;
        // A legacy listener's rule matters only once the early checks pass: walked there alone.
        let listeners: &[CredentialKinds] =
            if early == 0b111 { &[CredentialKinds::EVERY, device_only] } else { &[CredentialKinds::EVERY] };
        for &credential in &credentials {
            for &account in &accounts {
                for &device in &devices {
                    for (&connector, &listener_credentials) in
                        connectors.iter().flat_map(|c| listeners.iter().map(move |l| (c, l)))
                    {
                        visit(AuthFacts {
                            tls: bit(0),
                            mechanism_offered: bit(1),
                            response_decoded: bit(2),
                            user_locked: bit(3),
                            client_budget_exhausted: bit(4),
                            address_budget_exhausted: bit(5),
                            mailbox_sessions_full: bit(6),
                            credential,
                            account,
                            device,
                            connector,
                            listener_credentials,
                        });
                    }
                }
            }
        }
    }
}

/// `decide` is the only producer of an AUTH refusal: every decision it can make is a row of
/// [`TABLE`], every row is reachable, and no two checks share a reply that would make the
/// sign-in log ambiguous.
#[test]
fn decide_produces_exactly_the_policy_table() {
    let mut seen = std::collections::BTreeSet::new();
    let mut n = 0u64;
    every_facts(|f| {
        let d = decide(&f);
        assert!(TABLE.contains(&(d.check, d.reply)), "{f:?} -> {d:?} is not in the policy table");
        // Nothing is accepted without a verified credential and its account, or a connector.
        if d.accepted() && f.connector.is_none() {
            assert!(matches!(f.credential, CredentialCheck::Verified(_)) && f.account.is_some(), "{f:?}");
            assert!(f.tls && !f.user_locked && !f.mailbox_sessions_full, "{f:?}");
        }
        seen.insert((d.check, d.reply.as_str()));
        n += 1;
    });
    let table: std::collections::BTreeSet<_> = TABLE.iter().map(|(c, r)| (*c, r.as_str())).collect();
    assert_eq!(seen, table, "rows of the table that no facts reach (checked {n} combinations)");
    // Each refusal reply names one check (the reverse lookup the troubleshooter relies on).
    for (check, reply) in TABLE {
        let checks: Vec<_> = TABLE.iter().filter(|(_, r)| r == reply).map(|(c, _)| c).collect();
        assert_eq!(checks, [check], "{reply:?}");
    }
}

#[test]
fn only_guesses_spend_the_address_budget() {
    let mut spends = std::collections::BTreeSet::new();
    every_facts(|f| {
        let d = decide(&f);
        if d.spends_address_budget() {
            spends.insert(d.reply.as_str());
        }
    });
    assert_eq!(spends.into_iter().collect::<Vec<_>>(), ["AccountLocked", "BadCredentials", "OAuthTokenInvalid"]);
    let expired = AuthFacts { credential: CredentialCheck::TokenExpired, ..AuthFacts::new_over_tls() };
    assert!(!decide(&expired).spends_address_budget(), "an expired token is a late refresh, not a guess");
    let foreign = AuthFacts { credential: CredentialCheck::TokenForAnotherUser, ..AuthFacts::new_over_tls() };
    assert!(decide(&foreign).spends_address_budget(), "a token for another mailbox is a guess");
    let down = AuthFacts { credential: CredentialCheck::DirectoryUnavailable, ..AuthFacts::new_over_tls() };
    assert!(!decide(&down).is_failed_login(), "an outage must not get clients banned");
}

/// A legacy listener (weak or no TLS) takes device credentials only by default: the account
/// password and an app password are refused with the reply that says why and what to do, even
/// where the organisation's settings would accept them; a device credential signs in as usual.
#[test]
fn a_legacy_listener_accepts_only_the_kinds_its_admin_allowed() {
    let open = org(SecurityDefaults::Off, Org::Enabled, AppPasswordsPolicy::Allowed);
    let plain = mailbox(SignIn::Allowed, Mb::Default, MfaState::Disabled);
    let device_only = CredentialKinds::of(&[CredentialKind::DeviceCredential]);
    for kind in CredentialKind::ALL.iter().copied().filter(|k| *k != CredentialKind::Connector) {
        let everywhere = decide(&facts(open, plain, kind));
        assert_eq!(everywhere.reply, ReplyId::AuthOk, "{kind}: accepted on a default listener");
        let legacy = decide(&AuthFacts { listener_credentials: device_only, ..facts(open, plain, kind) });
        if kind == CredentialKind::DeviceCredential {
            assert_eq!(legacy.reply, ReplyId::AuthOk);
        } else {
            assert_eq!((legacy.check, legacy.reply), (Check::ListenerCredentials, ReplyId::LegacyListenerCredential));
            assert!(!legacy.spends_address_budget(), "a right secret on the wrong port is no guess");
        }
    }
    let text = ReplyId::LegacyListenerCredential.reply().to_string();
    assert!(
        text.starts_with("535 5.7.139 ") && text.contains("device credential") && text.contains("TLS 1.2"),
        "{text}"
    );
    // A wrong secret learns nothing about the listener's rule.
    let wrong = AuthFacts {
        listener_credentials: device_only,
        credential: CredentialCheck::Invalid,
        ..facts(open, plain, CredentialKind::Password)
    };
    assert_eq!(decide(&wrong).reply, ReplyId::BadCredentials);
}

// --- effect: what a change does to a credential that verified (the admin center's previews) ---

fn account(org: OrgSettings, mailbox: MailboxSettings) -> AccountFacts {
    AccountFacts { org, mailbox }
}

/// Security defaults off lets a password through only where nothing later refuses it; on again
/// cuts it off. Device credentials do not notice either way.
#[test]
fn security_defaults_change_lets_passwords_through_and_cuts_them_off() {
    let on = org(SecurityDefaults::On, Org::Enabled, AppPasswordsPolicy::Allowed);
    let off = OrgSettings { security_defaults: SecurityDefaults::Off, ..on };
    let plain = mailbox(SignIn::Allowed, Mb::Default, MfaState::Disabled);
    let with_mfa = MailboxSettings { mfa: MfaState::Enabled, ..plain };
    let password = KnownCredential::stored(CredentialKind::Password);
    let app = KnownCredential::stored(CredentialKind::AppPassword);
    let device = KnownCredential::stored(CredentialKind::DeviceCredential);

    let (e, after) = effect(&password, account(on, plain), Some(account(off, plain)));
    assert_eq!((e, after.check()), (Effect::LetThrough, Check::Accepted));
    // MFA still refuses the account password, but the app password stands in for it.
    let (e, after) = effect(&password, account(on, with_mfa), Some(account(off, with_mfa)));
    assert_eq!((e, after.check()), (Effect::Unchanged, Check::Mfa));
    assert_eq!(effect(&app, account(on, with_mfa), Some(account(off, with_mfa))).0, Effect::LetThrough);
    assert_eq!(effect(&password, account(off, plain), Some(account(on, plain))).0, Effect::CutOff);
    assert_eq!(effect(&device, account(off, plain), Some(account(on, plain))).0, Effect::Unchanged);
    // With SMTP AUTH off for the organisation nothing gets through either way.
    let closed = OrgSettings { smtp_auth: Org::Disabled, ..on };
    let (e, after) = effect(
        &password,
        account(closed, plain),
        Some(account(OrgSettings { security_defaults: SecurityDefaults::Off, ..closed }, plain)),
    );
    assert_eq!((e, after.check()), (Effect::Unchanged, Check::AuthenticatedSmtp));
}

/// Authenticated SMTP off, a blocked sign-in, MFA turned on: each cuts off what it refuses.
#[test]
fn strengthening_changes_cut_off_what_they_refuse() {
    let open = org(SecurityDefaults::Off, Org::Enabled, AppPasswordsPolicy::Allowed);
    let plain = mailbox(SignIn::Allowed, Mb::Default, MfaState::Disabled);
    let password = KnownCredential::stored(CredentialKind::Password);
    let app = KnownCredential::stored(CredentialKind::AppPassword);
    let device = KnownCredential::stored(CredentialKind::DeviceCredential);
    let org_off = OrgSettings { smtp_auth: Org::Disabled, ..open };
    for known in [password, app, device] {
        assert_eq!(effect(&known, account(open, plain), Some(account(org_off, plain))).0, Effect::CutOff);
        let blocked = MailboxSettings { sign_in: SignIn::Blocked, ..plain };
        let (e, after) = effect(&known, account(open, plain), Some(account(open, blocked)));
        assert_eq!((e, after.check()), (Effect::CutOff, Check::SignIn));
    }
    // The mailbox's own "on" keeps it open when the organisation turns SMTP AUTH off.
    let own = MailboxSettings { smtp_auth: Mb::Enabled, ..plain };
    assert_eq!(effect(&password, account(open, own), Some(account(org_off, own))).0, Effect::Unchanged);
    // MFA on: the account password is cut off, the app password and the device are not.
    let mfa = MailboxSettings { mfa: MfaState::Enforced, ..plain };
    assert_eq!(effect(&password, account(open, plain), Some(account(open, mfa))).0, Effect::CutOff);
    assert_eq!(effect(&app, account(open, plain), Some(account(open, mfa))).0, Effect::Unchanged);
    assert_eq!(effect(&device, account(open, plain), Some(account(open, mfa))).0, Effect::Unchanged);
}

/// A revoked credential no longer verifies: whatever was accepted is cut off.
#[test]
fn revoking_cuts_off_an_accepted_credential_only() {
    let open = account(
        org(SecurityDefaults::Off, Org::Enabled, AppPasswordsPolicy::Allowed),
        mailbox(SignIn::Allowed, Mb::Default, MfaState::Disabled),
    );
    let app = KnownCredential::stored(CredentialKind::AppPassword);
    let (e, after) = effect(&app, open, None);
    assert_eq!((e, after.reply()), (Effect::CutOff, ReplyId::BadCredentials));
    let refused = AccountFacts { org: OrgSettings { smtp_auth: Org::Disabled, ..open.org }, ..open };
    assert_eq!(effect(&app, refused, None).0, Effect::Unchanged);
}

/// A sign-in log row gives a known credential only when it got past the credential check, and
/// keeps what the decision learnt about the device.
#[test]
fn logged_rows_give_the_credential_and_what_the_decision_saw() {
    use CredentialKind as K;
    assert_eq!(KnownCredential::logged(Some(K::Password), Check::Credentials), None);
    assert_eq!(KnownCredential::logged(Some(K::Password), Check::Lockout), None);
    assert_eq!(KnownCredential::logged(None, Check::Accepted), None);
    assert_eq!(KnownCredential::logged(Some(K::Connector), Check::Connector), None);
    assert_eq!(
        KnownCredential::logged(Some(K::Password), Check::SecurityDefaults),
        Some(KnownCredential::stored(K::Password))
    );
    let expired = KnownCredential::logged(Some(K::DeviceCredential), Check::DeviceCredentialExpiry).unwrap();
    assert_eq!(expired.device, Some(DeviceFacts { expired: true, address_allowed: true }));
    let outside = KnownCredential::logged(Some(K::DeviceCredential), Check::DeviceCredentialAddress).unwrap();
    assert_eq!(outside.device, Some(DeviceFacts { expired: false, address_allowed: false }));
    // An expired device stays refused whatever the organisation does.
    let open = account(
        org(SecurityDefaults::Off, Org::Enabled, AppPasswordsPolicy::Allowed),
        mailbox(SignIn::Allowed, Mb::Default, MfaState::Disabled),
    );
    let closed = AccountFacts { org: OrgSettings { smtp_auth: Org::Disabled, ..open.org }, ..open };
    assert_eq!(effect(&expired, open, Some(closed)).0, Effect::Unchanged);
    let legacy = KnownCredential::logged(Some(K::Password), Check::ListenerCredentials).unwrap();
    assert_eq!(effect(&legacy, closed, Some(open)).0, Effect::Unchanged);
}
