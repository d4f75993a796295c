//! Values shown to a person are messages: every setting, state, credential kind, check and
//! audit action maps to one catalogue id here, in explicit functions a test can enumerate
//! ([`every_value_id`]), so no surface prints `on`, `enabled` or a raw id.

use authrelay_core::{
    AppPasswordsPolicy, Check, CredentialKind, DeviceCredentialsPolicy, MailboxSmtpAuth, MfaState, OrgSmtpAuth,
    SecurityDefaults, SignIn, SmtpAuthSource,
};

use crate::{t, Lang};

/// A value with a catalogue message.
pub trait Localized: Copy + 'static {
    /// The catalogue id of this value.
    fn message_id(self) -> &'static str;
    /// Every value of the type, so a test can check each has its message.
    fn every() -> Vec<Self>;
}

/// `v` in `lang`.
pub fn value<V: Localized>(lang: Lang, v: V) -> String {
    t(lang, v.message_id(), &[])
}

macro_rules! localized {
    ($ty:ty { $($variant:path => $id:literal),+ $(,)? }) => {
        impl Localized for $ty {
            fn message_id(self) -> &'static str {
                match self { $($variant => $id),+ }
            }
            fn every() -> Vec<Self> {
                vec![$($variant),+]
            }
        }
    };
}

localized!(SecurityDefaults { SecurityDefaults::On => "value-sd-on", SecurityDefaults::Off => "value-sd-off" });
localized!(OrgSmtpAuth { OrgSmtpAuth::Enabled => "value-enabled", OrgSmtpAuth::Disabled => "value-disabled" });
localized!(AppPasswordsPolicy {
    AppPasswordsPolicy::Allowed => "value-allowed",
    AppPasswordsPolicy::Blocked => "value-blocked",
});
localized!(DeviceCredentialsPolicy {
    DeviceCredentialsPolicy::Allowed => "value-allowed",
    DeviceCredentialsPolicy::Blocked => "value-blocked",
});
localized!(SignIn { SignIn::Allowed => "value-allowed", SignIn::Blocked => "value-blocked" });
localized!(MailboxSmtpAuth {
    MailboxSmtpAuth::Default => "value-mailbox-default",
    MailboxSmtpAuth::Enabled => "value-enabled",
    MailboxSmtpAuth::Disabled => "value-disabled",
});
localized!(MfaState {
    MfaState::Disabled => "value-mfa-disabled",
    MfaState::Enabled => "value-mfa-enabled",
    MfaState::Enforced => "value-mfa-enforced",
});
localized!(CredentialKind {
    CredentialKind::Password => "cred-password",
    CredentialKind::AppPassword => "cred-app-password",
    CredentialKind::DeviceCredential => "cred-device-credential",
    CredentialKind::OAuth => "cred-oauth",
    CredentialKind::Connector => "cred-connector",
});
localized!(SmtpAuthSource { SmtpAuthSource::Mailbox => "source-mailbox", SmtpAuthSource::Organisation => "source-organisation" });
localized!(Check {
    Check::Tls => "web-check-tls",
    Check::Mechanism => "web-check-mechanism",
    Check::Decoding => "web-check-decoding",
    Check::Lockout => "web-check-lockout",
    Check::ClientBudget => "web-check-client-budget",
    Check::AddressBudget => "web-check-address-budget",
    Check::Credentials => "web-check-credentials",
    Check::SignIn => "web-check-sign-in",
    Check::AuthenticatedSmtp => "web-check-authenticated-smtp",
    Check::ListenerCredentials => "web-check-listener-credentials",
    Check::DeviceCredentialsPolicy => "web-check-device-credentials-policy",
    Check::DeviceCredentialExpiry => "web-check-device-credential-expiry",
    Check::DeviceCredentialAddress => "web-check-device-credential-address",
    Check::SecurityDefaults => "web-check-security-defaults",
    Check::Mfa => "web-check-mfa",
    Check::MailboxSessions => "web-check-mailbox-sessions",
    Check::Accepted => "web-check-accepted",
    Check::Connector => "web-check-connector",
    Check::Unlock => "web-check-unlock",
});

/// A yes/no.
pub fn yes_no(yes: bool) -> &'static str {
    if yes {
        "value-yes"
    } else {
        "value-no"
    }
}

/// The audit log's actions (as the operations write them) and their messages.
pub const AUDIT_ACTIONS: &[(&str, &str)] = &[
    ("org.create", "action-org-create"),
    ("org.add-domain", "action-org-add-domain"),
    ("org.security-defaults", "action-org-security-defaults"),
    ("org.security-defaults-reason", "action-org-security-defaults-reason"),
    ("org.smtp-auth", "action-org-smtp-auth"),
    ("org.app-passwords", "action-org-app-passwords"),
    ("org.device-credentials", "action-org-device-credentials"),
    ("org.max-message-size", "action-org-max-message-size"),
    ("org.max-recipients", "action-org-max-recipients"),
    ("org.daily-recipients", "action-org-daily-recipients"),
    ("org.max-sessions", "action-org-max-sessions"),
    ("org.language", "action-org-language"),
    ("user.create", "action-user-create"),
    ("user.display-name", "action-user-display-name"),
    ("user.sign-in", "action-user-sign-in"),
    ("user.smtp-auth", "action-user-smtp-auth"),
    ("user.mfa", "action-user-mfa"),
    ("user.send-as", "action-user-send-as"),
    ("user.password-reset", "action-user-password-reset"),
    ("user.unlock", "action-user-unlock"),
    ("user.app-password-add", "action-user-app-password-add"),
    ("user.app-password-revoke", "action-user-app-password-revoke"),
    ("user.device-credential-add", "action-user-device-credential-add"),
    ("user.device-credential-revoke", "action-user-device-credential-revoke"),
    ("user.delete", "action-user-delete"),
    ("user.rename", "action-user-rename"),
    ("dkim.generate", "action-dkim-generate"),
    ("dkim.retire", "action-dkim-retire"),
    ("admin.create", "action-admin-create"),
    ("admin.password-reset", "action-admin-password-reset"),
    ("admin.role", "action-admin-role"),
    ("admin.totp-reset", "action-admin-totp-reset"),
    ("admin.remove", "action-admin-remove"),
    ("admin.totp-enrolled", "action-admin-totp-enrolled"),
    ("admin.totp-locked", "action-admin-totp-locked"),
    ("admin.sign-in-failed", "action-admin-sign-in-failed"),
    ("token.create", "action-token-create"),
    ("token.revoke", "action-token-revoke"),
    ("queue.retry", "action-queue-retry"),
    ("queue.hold", "action-queue-hold"),
    ("queue.release", "action-queue-release"),
    ("queue.delete", "action-queue-delete"),
];

/// The message of an audit action, or `None` for an action this build does not know (a row
/// written by a newer version): the caller shows the raw action then.
pub fn audit_action_id(action: &str) -> Option<&'static str> {
    AUDIT_ACTIONS.iter().find(|(a, _)| *a == action).map(|(_, id)| *id)
}

/// An audit action in `lang` (unknown actions as written).
pub fn audit_action(lang: Lang, action: &str) -> String {
    audit_action_id(action).map(|id| t(lang, id, &[])).unwrap_or_else(|| action.to_string())
}

/// An audit record's before/after value in `lang`: settings through their messages, admin roles
/// through theirs, token states, sizes and counts formatted; names and addresses as written.
pub fn audit_value(lang: Lang, action: &str, raw: &str) -> String {
    fn parsed<V: Localized + std::str::FromStr>(lang: Lang, raw: &str) -> Option<String> {
        raw.parse::<V>().ok().map(|v| value(lang, v))
    }
    let shown = match action {
        "org.security-defaults" => parsed::<SecurityDefaults>(lang, raw),
        "org.smtp-auth" => parsed::<OrgSmtpAuth>(lang, raw),
        "org.app-passwords" => parsed::<AppPasswordsPolicy>(lang, raw),
        "org.device-credentials" => parsed::<DeviceCredentialsPolicy>(lang, raw),
        "user.sign-in" => parsed::<SignIn>(lang, raw),
        "user.smtp-auth" => parsed::<MailboxSmtpAuth>(lang, raw),
        "user.mfa" => parsed::<MfaState>(lang, raw),
        "org.language" => Lang::parse(raw).map(|l| t(lang, lang_id(l), &[])),
        "admin.create" | "admin.role" | "admin.remove" | "token.create" => role_id(raw).map(|id| t(lang, id, &[])),
        "queue.retry" | "queue.hold" | "queue.release" | "queue.delete" => {
            queue_state_id(raw).map(|id| t(lang, id, &[]))
        }
        "token.revoke" => match raw {
            "live" => Some(t(lang, "value-token-live", &[])),
            "revoked" => Some(t(lang, "value-token-revoked", &[])),
            _ => None,
        },
        "admin.totp-enrolled" | "admin.totp-reset" | "admin.totp-locked" | "admin.password-reset" => {
            admin_state(lang, raw)
        }
        "org.security-defaults-reason" => match raw {
            "legacy-smtp-devices" => Some(t(lang, "sd-reason-devices", &[])),
            "conditional-access" => Some(t(lang, "sd-reason-ca", &[])),
            "other" => Some(t(lang, "sd-reason-other", &[])),
            _ => None,
        },
        "admin.sign-in-failed" => match raw {
            "password" => Some(t(lang, "value-stage-password", &[])),
            "totp" => Some(t(lang, "value-stage-totp", &[])),
            "locked" => Some(t(lang, "value-totp-locked", &[])),
            _ => None,
        },
        "org.max-message-size" => raw.parse::<u64>().ok().map(|b| crate::format::size(lang, b)),
        "org.max-recipients" | "org.daily-recipients" | "org.max-sessions" | "user.unlock" => {
            raw.parse::<f64>().ok().map(|n| crate::format::number(lang, n))
        }
        _ => None,
    };
    shown.unwrap_or_else(|| raw.to_string())
}

/// An admin's second-factor state and the sessions a reset ended, as the operations write
/// them: "enrolled", "not enrolled", "locked", "N sessions ended, M tokens revoked" and
/// "not enrolled; N sessions ended, M tokens revoked".
fn admin_state(lang: Lang, raw: &str) -> Option<String> {
    let word = |w: &str| match w {
        "enrolled" => Some(t(lang, "value-totp-enrolled", &[])),
        "not enrolled" => Some(t(lang, "value-totp-not-enrolled", &[])),
        "locked" => Some(t(lang, "value-totp-locked", &[])),
        _ => None,
    };
    let ended = |text: &str| {
        let (sessions, rest) = text.split_once(" sessions ended, ")?;
        let tokens = rest.strip_suffix(" tokens revoked")?;
        let (sessions, tokens) = (sessions.trim().parse::<f64>().ok()?, tokens.trim().parse::<f64>().ok()?);
        Some(t(
            lang,
            "value-sessions-ended",
            &[("sessions", crate::Arg::Num(sessions)), ("tokens", crate::Arg::Num(tokens))],
        ))
    };
    match raw.split_once("; ") {
        Some((state, rest)) => Some(format!("{}; {}", word(state)?, ended(rest)?)),
        None => word(raw).or_else(|| ended(raw)),
    }
}

/// The admin roles as stored, and their messages.
pub const ROLES: &[(&str, &str)] = &[
    ("global", "role-global"),
    ("security", "role-security"),
    ("exchange", "role-exchange"),
    ("user", "role-user"),
    ("reports", "role-reports"),
];

pub fn role_id(role: &str) -> Option<&'static str> {
    ROLES.iter().find(|(r, _)| *r == role).map(|(_, id)| *id)
}

/// The name of a language in that language's list (the language switcher).
pub fn lang_id(l: Lang) -> &'static str {
    match l {
        Lang::En => "lang-en",
        Lang::Ko => "lang-ko",
        Lang::Id => "lang-id",
    }
}

/// What a page shows in a select or a notice, keyed by its raw spelling.
const SECRET_KINDS: &[(&str, &str)] = &[
    ("password", "secret-once-password"),
    ("app-password", "secret-once-app-password"),
    ("device-credential", "secret-once-device-credential"),
    ("token", "secret-once-token"),
];
const PROVIDERS: &[(&str, &str)] = &[
    ("auto", "ts-provider-auto"),
    ("authrelay", "ts-provider-authrelay"),
    ("microsoft365", "ts-provider-microsoft365"),
    ("gmail", "ts-provider-gmail"),
    ("generic", "ts-provider-generic"),
];
const PERIODS: &[(&str, &str)] =
    &[("1", "period-1"), ("24", "period-24"), ("168", "period-168"), ("720", "period-720"), ("2160", "period-2160")];

/// A queued message's state word (`MessageState::summary` in crates/delivery, `held`, `new`).
const QUEUE_STATES: &[(&str, &str)] = &[
    ("active", "queue-state-active"),
    ("deferred", "queue-state-deferred"),
    ("held", "queue-state-held"),
    ("throttled", "queue-state-throttled"),
    ("done", "queue-state-done"),
    ("new", "queue-state-new"),
];
/// One recipient's delivery status (crates/delivery `state::Status`, as JSON spells it).
const RECIPIENT_STATUSES: &[(&str, &str)] =
    &[("pending", "queue-rcpt-pending"), ("delivered", "queue-rcpt-delivered"), ("failed", "queue-rcpt-failed")];

/// The message of a queue state word, `None` for a word this build does not know.
pub fn queue_state_id(word: &str) -> Option<&'static str> {
    QUEUE_STATES.iter().find(|(w, _)| *w == word).map(|(_, id)| *id)
}

/// The kinds of value a template may show with `value(kind, raw)`.
pub const KINDS: &[&str] = &[
    "security-defaults",
    "org-smtp-auth",
    "app-passwords",
    "device-credentials",
    "sign-in",
    "mailbox-smtp-auth",
    "mfa",
    "credential",
    "source",
    "check",
    "action",
    "role",
    "lang",
    "secret",
    "provider",
    "period",
    "yes-no",
    "queue-state",
    "recipient-status",
];

/// The message of a value given by its kind and raw spelling (as JSON and the database spell
/// it): `by_kind("mfa", "enabled")` is `value-mfa-enabled`. `None` when the raw value is not
/// one of the kind's, or the kind is unknown.
pub fn by_kind(kind: &str, raw: &str) -> Option<&'static str> {
    fn parsed<V: Localized + std::str::FromStr>(raw: &str) -> Option<&'static str> {
        raw.parse::<V>().ok().map(|v| v.message_id())
    }
    fn listed(table: &[(&str, &'static str)], raw: &str) -> Option<&'static str> {
        table.iter().find(|(r, _)| *r == raw).map(|(_, id)| *id)
    }
    match kind {
        "security-defaults" => parsed::<SecurityDefaults>(raw),
        "org-smtp-auth" => parsed::<OrgSmtpAuth>(raw),
        "app-passwords" => parsed::<AppPasswordsPolicy>(raw),
        "device-credentials" => parsed::<DeviceCredentialsPolicy>(raw),
        "sign-in" => parsed::<SignIn>(raw),
        "mailbox-smtp-auth" => parsed::<MailboxSmtpAuth>(raw),
        "mfa" => parsed::<MfaState>(raw),
        "credential" => parsed::<CredentialKind>(raw),
        "source" => match raw {
            "mailbox" => Some(SmtpAuthSource::Mailbox.message_id()),
            "organisation" => Some(SmtpAuthSource::Organisation.message_id()),
            _ => None,
        },
        "check" => Check::parse(raw).map(|c| c.message_id()),
        "action" => audit_action_id(raw),
        "role" => role_id(raw),
        "lang" => Lang::parse(raw).map(lang_id),
        "secret" => listed(SECRET_KINDS, raw),
        "provider" => listed(PROVIDERS, raw),
        "period" => listed(PERIODS, raw),
        "queue-state" => listed(QUEUE_STATES, raw),
        "recipient-status" => listed(RECIPIENT_STATUSES, raw),
        "yes-no" => match raw {
            "true" | "yes" => Some(yes_no(true)),
            "false" | "no" => Some(yes_no(false)),
            _ => None,
        },
        _ => None,
    }
}

/// Every id the functions of this module can return.
pub fn every_value_id() -> Vec<&'static str> {
    fn ids<V: Localized>() -> Vec<&'static str> {
        V::every().into_iter().map(|v| v.message_id()).collect()
    }
    let mut all = vec![yes_no(true), yes_no(false), "value-token-live", "value-token-revoked"];
    all.extend([
        "value-totp-enrolled",
        "value-totp-not-enrolled",
        "value-totp-locked",
        "value-sessions-ended",
        "value-stage-password",
        "value-stage-totp",
        "sd-reason-devices",
        "sd-reason-ca",
        "sd-reason-other",
    ]);
    all.extend(ids::<SecurityDefaults>());
    all.extend(ids::<OrgSmtpAuth>());
    all.extend(ids::<AppPasswordsPolicy>());
    all.extend(ids::<DeviceCredentialsPolicy>());
    all.extend(ids::<SignIn>());
    all.extend(ids::<MailboxSmtpAuth>());
    all.extend(ids::<MfaState>());
    all.extend(ids::<CredentialKind>());
    all.extend(ids::<SmtpAuthSource>());
    all.extend(ids::<Check>());
    all.extend(AUDIT_ACTIONS.iter().map(|(_, id)| *id));
    all.extend(ROLES.iter().map(|(_, id)| *id));
    all.extend(Lang::ALL.iter().map(|l| lang_id(*l)));
    for table in [SECRET_KINDS, PROVIDERS, PERIODS, QUEUE_STATES, RECIPIENT_STATUSES] {
        all.extend(table.iter().map(|(_, id)| *id));
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_check_and_kind_has_its_own_message() {
        // Check::ALL and the settings' ALL lists come from core: a new variant without a
        // mapping here would not compile, one without a catalogue entry fails below.
        assert_eq!(Check::ALL.len(), <Check as Localized>::every().len());
        assert_eq!(CredentialKind::ALL.len(), <CredentialKind as Localized>::every().len());
        assert_eq!(MfaState::ALL.len(), <MfaState as Localized>::every().len());
        assert_eq!(MailboxSmtpAuth::ALL.len(), <MailboxSmtpAuth as Localized>::every().len());
        for lang in Lang::ALL {
            let ids = crate::message_ids(*lang);
            let missing: Vec<_> = every_value_id().into_iter().filter(|id| !ids.iter().any(|i| i == id)).collect();
            assert!(missing.is_empty(), "{} lacks {missing:?}", lang.tag());
        }
    }

    #[test]
    fn audit_values_read_as_words() {
        assert_eq!(audit_value(Lang::Ko, "org.security-defaults", "off"), "사용 안 함");
        assert_eq!(audit_value(Lang::Id, "user.mfa", "enabled"), "Aktif");
        assert_eq!(audit_value(Lang::Ko, "user.smtp-auth", "default"), t(Lang::Ko, "value-mailbox-default", &[]));
        assert_eq!(audit_value(Lang::Id, "org.daily-recipients", "10000"), "10.000");
        assert_eq!(audit_value(Lang::Ko, "user.display-name", "enabled"), "enabled", "names stay as written");
        let reset = audit_value(Lang::Id, "admin.totp-reset", "not enrolled; 2 sessions ended, 1 tokens revoked");
        assert!(!reset.contains("enrolled") && reset.contains('2') && reset.contains('1'), "{reset}");
        assert_ne!(audit_value(Lang::Ko, "admin.totp-enrolled", "enrolled"), "enrolled");
        assert_eq!(
            audit_action(Lang::Ko, "user.device-credential-add"),
            t(Lang::Ko, "action-user-device-credential-add", &[])
        );
    }
}
