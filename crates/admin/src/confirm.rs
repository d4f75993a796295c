//! Confirmations of weakening or destructive changes (issue 20): before security defaults go
//! off, a credential is revoked, sign-in is blocked, or a change would cut off devices that
//! signed in recently, the admin center answers the form with a page that says what the change
//! would do, and asks. The page posts the same fields back with `confirmed=yes`; Cancel is a
//! link back, so it changes nothing. Without the field the change is never applied unasked.
//!
//! The preview asks the policy itself ([`authrelay_policy::effect`], which runs
//! [`authrelay_policy::decide`]) what each mailbox's credentials and each device of the sign-in
//! log (docs/auth-decision.md) would get before and after: no second copy of the decision
//! order lives here.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use authrelay_core::{Check, CredentialKind};
use authrelay_directory::{SignInEntry, SignInFilter};
use authrelay_policy::{effect, AccountFacts, Effect, KnownCredential};
use minijinja::{context, Value};
use serde::Serialize;

use crate::auth::Caller;
use crate::http::{ApiError, OrApi};
use crate::state::SharedState;

/// How far back the sign-in log is read for the devices a change concerns.
pub(crate) const RECENT_DAYS: i64 = 30;
/// At most this many sign-in log rows are read for one preview.
const MAX_ROWS: u32 = 20_000;

/// The form field that says the admin saw the confirmation and went on.
pub(crate) const CONFIRMED: &str = "confirmed";

/// One device of the sign-in log: a user name, a kind of credential and a client address,
/// with its newest attempt whose credential verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SeenDevice {
    /// Lower-case, as the mailbox's address.
    pub user: String,
    pub credential: KnownCredential,
    pub client_ip: String,
    pub listener: Option<String>,
    pub last_seen: i64,
    pub attempts: u32,
}

/// The devices in `entries` (newest first, as the directory returns them), newest first. Rows
/// whose credential did not verify (a wrong secret, a lockout) say nothing about what a
/// setting would do, and are left out.
pub(crate) fn group_devices(entries: &[SignInEntry]) -> Vec<SeenDevice> {
    let mut by_key: BTreeMap<(String, &'static str, String), SeenDevice> = BTreeMap::new();
    for e in entries {
        let Some(known) = KnownCredential::logged(e.credential, e.check) else { continue };
        let key = (e.user.to_lowercase(), known.kind.as_str(), e.client_ip.clone());
        by_key
            .entry(key)
            .and_modify(|d| {
                d.attempts += 1;
                if e.at > d.last_seen {
                    d.last_seen = e.at;
                    d.credential = known;
                    d.listener = e.listener.clone();
                }
            })
            .or_insert_with(|| SeenDevice {
                user: e.user.to_lowercase(),
                credential: known,
                client_ip: e.client_ip.clone(),
                listener: e.listener.clone(),
                last_seen: e.at,
                attempts: 1,
            });
    }
    let mut devices: Vec<_> = by_key.into_values().collect();
    devices.sort_by(|a, b| b.last_seen.cmp(&a.last_seen).then_with(|| a.user.cmp(&b.user)));
    devices
}

/// A mailbox a change concerns: its settings now and the credentials it holds.
#[derive(Debug, Clone)]
pub(crate) struct Mailbox {
    pub address: String,
    pub account: AccountFacts,
    pub stored: Vec<CredentialKind>,
}

/// A device row of the confirmation page.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub(crate) struct DeviceRow {
    pub user: String,
    pub credential: &'static str,
    pub client_ip: String,
    pub listener: Option<String>,
    pub last_seen: i64,
    pub attempts: u32,
    /// The check that would decide after the change.
    pub check_after: Check,
}

/// What a change would do, as the confirmation page lists it.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Preview {
    pub days: i64,
    pub mailboxes_let_through: Vec<String>,
    pub devices_let_through: Vec<DeviceRow>,
    pub devices_cut_off: Vec<DeviceRow>,
}

impl Preview {
    pub fn cuts_off(&self) -> bool {
        !self.devices_cut_off.is_empty()
    }
}

/// How a change turns a mailbox's settings for one credential kind into the settings after it;
/// `None`: that credential stops verifying (it is revoked). A mailbox or device outside the
/// change gets its settings back unchanged.
pub(crate) type Change<'a> = dyn Fn(&str, CredentialKind, AccountFacts) -> Option<AccountFacts> + Send + Sync + 'a;

/// The preview of `change` for these mailboxes and the devices seen signing in to them.
pub(crate) fn preview(mailboxes: &[Mailbox], devices: &[SeenDevice], change: &Change<'_>) -> Preview {
    let mut p = Preview { days: RECENT_DAYS, ..Default::default() };
    let accounts: HashMap<&str, AccountFacts> = mailboxes.iter().map(|m| (m.address.as_str(), m.account)).collect();
    for m in mailboxes {
        let lets_through = m.stored.iter().any(|kind| {
            let known = KnownCredential::stored(*kind);
            effect(&known, m.account, change(&m.address, *kind, m.account)).0 == Effect::LetThrough
        });
        if lets_through {
            p.mailboxes_let_through.push(m.address.clone());
        }
    }
    for d in devices {
        // A device of a name that is no mailbox here (a typo, another organisation) is not
        // this change's business.
        let Some(account) = accounts.get(d.user.as_str()) else { continue };
        let (e, after) = effect(&d.credential, *account, change(&d.user, d.credential.kind, *account));
        let row = || DeviceRow {
            user: d.user.clone(),
            credential: d.credential.kind.as_str(),
            client_ip: d.client_ip.clone(),
            listener: d.listener.clone(),
            last_seen: d.last_seen,
            attempts: d.attempts,
            check_after: after.check(),
        };
        match e {
            Effect::LetThrough => p.devices_let_through.push(row()),
            Effect::CutOff => p.devices_cut_off.push(row()),
            Effect::Unchanged => {}
        }
    }
    p
}

/// Which mailboxes a change concerns.
pub(crate) enum Scope<'a> {
    /// Every mailbox of the organisation.
    Org(&'a str),
    /// These mailboxes.
    Users(&'a [String]),
}

/// Reads the mailboxes of `scope`, their credentials and their devices of the last
/// [`RECENT_DAYS`] days, and previews `change` on them.
pub(crate) async fn settings_preview(
    state: &SharedState,
    c: &Caller,
    scope: Scope<'_>,
    change: &Change<'_>,
) -> Result<Preview, ApiError> {
    let dir = &state.directory;
    let users = match scope {
        Scope::Org(org) => dir.list_users(Some(org)).await.api(c.lang)?,
        Scope::Users(addresses) => {
            let mut found = vec![];
            for a in addresses {
                if let Some(u) = dir.user(a).await.api(c.lang)? {
                    found.push(u);
                }
            }
            found
        }
    };
    let now = crate::state::now();
    let mut orgs = HashMap::new();
    let mut mailboxes = vec![];
    for u in &users {
        if !orgs.contains_key(&u.org) {
            let settings = dir.org(&u.org).await.api(c.lang)?.map(|o| o.settings).unwrap_or_default();
            orgs.insert(u.org.clone(), settings);
        }
        let mut stored = vec![CredentialKind::Password];
        if !dir.list_app_passwords(&u.address).await.api(c.lang)?.is_empty() {
            stored.push(CredentialKind::AppPassword);
        }
        let devices = dir.list_device_credentials(&u.address).await.api(c.lang)?;
        if devices.iter().any(|d| d.expires_at.is_none_or(|at| at > now)) {
            stored.push(CredentialKind::DeviceCredential);
        }
        mailboxes.push(Mailbox {
            address: u.address.to_lowercase(),
            account: AccountFacts { org: orgs[&u.org], mailbox: u.settings },
            stored,
        });
    }
    // One mailbox: its rows only. More: the recent log once, kept to these mailboxes.
    let filter = SignInFilter {
        user: match users.as_slice() {
            [one] => Some(one.address.clone()),
            _ => None,
        },
        since: Some(now - RECENT_DAYS * 86_400),
        limit: Some(MAX_ROWS),
        ..Default::default()
    };
    let names: BTreeSet<&str> = mailboxes.iter().map(|m| m.address.as_str()).collect();
    let entries: Vec<SignInEntry> = if mailboxes.is_empty() {
        vec![]
    } else {
        dir.signins(&filter)
            .await
            .api(c.lang)?
            .into_iter()
            .filter(|e| names.contains(e.user.to_lowercase().as_str()))
            .collect()
    };
    Ok(preview(&mailboxes, &group_devices(&entries), change))
}

/// The confirmation page: the question, what the change does, the preview, and the form that
/// posts the same fields back confirmed.
pub(crate) struct Ask {
    /// The page's heading: the question.
    pub question: String,
    /// What the change does, in a sentence.
    pub effect: String,
    /// Facts about the thing changed (a credential's last use …), label and value.
    pub facts: Vec<(String, String)>,
    pub preview: Option<Preview>,
    /// Where the form posts (the change's own address).
    pub action: String,
    pub fields: Vec<(String, String)>,
    pub button: String,
    /// Where Cancel leads.
    pub cancel: String,
    /// The sidebar's active item.
    pub active: &'static str,
}

impl Ask {
    /// The page's context (web.rs renders it in confirm.html with the signed-in frame).
    pub(crate) fn context(self) -> Value {
        let fields: Vec<_> = self.fields.iter().map(|(name, value)| context! { name, value }).collect();
        let facts: Vec<_> = self.facts.iter().map(|(label, value)| context! { label, value }).collect();
        context! {
            question => self.question, effect => self.effect, facts, action => self.action, fields,
            button => self.button, cancel => self.cancel, confirmed => CONFIRMED,
            preview => self.preview.map(|p| Value::from_serialize(&p)),
        }
    }
}

/// The answer of a change's handler before it applies the change: `Some(page)` asks first.
pub(crate) type Asked = Result<Option<Ask>, ApiError>;

/// Whether a form came back from its confirmation page.
pub(crate) fn confirmed(value: &Option<String>) -> bool {
    value.as_deref() == Some("yes")
}

fn fields(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// An organisation's settings change, from `org` to `after`. Security defaults off always asks
/// (it weakens every mailbox); the other changes strengthen and ask only when they would cut off
/// a device of the sign-in log. A caller who may not make the change is not asked: the change
/// itself is refused as before.
pub(crate) async fn org_settings(
    state: &SharedState,
    c: &Caller,
    org: &authrelay_directory::Org,
    after: authrelay_core::OrgSettings,
    posted: &[(&str, &str)],
    action: String,
) -> Asked {
    use authrelay_core::{
        AppPasswordsPolicy as Ap, DeviceCredentialsPolicy as Dc, OrgSmtpAuth, SecurityDefaults as Sd,
    };
    use authrelay_ops::Permission;
    let before = org.settings;
    // The permission it needs, whether it always asks, and its question, effect and button.
    let (permission, always, (question, effect_id, button)) = if before.security_defaults != after.security_defaults {
        if after.security_defaults == Sd::Off {
            let ids = ("confirm-sd-off-question", "confirm-sd-off-effect", "confirm-sd-off-button");
            (Permission::ManageSecurityDefaults, true, ids)
        } else {
            let ids = ("confirm-sd-on-question", "confirm-sd-on-effect", "confirm-sd-on-button");
            (Permission::ManageSecurityDefaults, false, ids)
        }
    } else if before.smtp_auth == OrgSmtpAuth::Enabled && after.smtp_auth == OrgSmtpAuth::Disabled {
        let ids = ("confirm-org-smtp-auth-question", "confirm-org-smtp-auth-effect", "confirm-save-button");
        (Permission::ManageSmtpAuth, false, ids)
    } else if before.app_passwords == Ap::Allowed && after.app_passwords == Ap::Blocked {
        let ids = ("confirm-org-app-passwords-question", "confirm-org-app-passwords-effect", "confirm-save-button");
        (Permission::ManageAppPasswords, false, ids)
    } else if before.device_credentials != Dc::Blocked && after.device_credentials == Dc::Blocked {
        let ids =
            ("confirm-org-device-credentials-question", "confirm-org-device-credentials-effect", "confirm-save-button");
        (Permission::ManageAppPasswords, false, ids)
    } else {
        return Ok(None);
    };
    if !c.may(permission) {
        return Ok(None);
    }
    let change = move |_: &str, _: CredentialKind, a: AccountFacts| Some(AccountFacts { org: after, ..a });
    let preview = settings_preview(state, c, Scope::Org(&org.name), &change).await?;
    if !always && !preview.cuts_off() {
        return Ok(None);
    }
    let t = |id: &str| authrelay_i18n::t(c.lang, id, &[("org", authrelay_i18n::Arg::Str(&org.name))]);
    let link = crate::lists::enc(&org.name);
    let cancel = if permission == Permission::ManageSecurityDefaults {
        format!("/org/{link}/security-defaults")
    } else {
        format!("/org/{link}/mail")
    };
    Ok(Some(Ask {
        question: t(question),
        effect: t(effect_id),
        facts: vec![],
        preview: Some(preview),
        action,
        fields: fields(posted),
        button: t(button),
        cancel,
        active: "org",
    }))
}

/// What a mailbox settings change is, for its question.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum MailboxChange {
    /// Blocking sign-in: always asks.
    Block,
    SmtpAuth,
    Mfa,
}

/// A change of these mailboxes' settings (`after` gives each one's settings after it). Blocking
/// sign-in always asks; the others ask when they would cut off a device of the sign-in log.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn mailbox_settings(
    state: &SharedState,
    c: &Caller,
    addresses: &[String],
    what: MailboxChange,
    after: &(dyn Fn(authrelay_core::MailboxSettings) -> authrelay_core::MailboxSettings + Send + Sync),
    posted: &[(&str, &str)],
    action: String,
    cancel: String,
    active: &'static str,
) -> Asked {
    use authrelay_ops::Permission;
    let permission = match what {
        MailboxChange::Block => Permission::ManageUsers,
        MailboxChange::SmtpAuth => Permission::ManageSmtpAuth,
        MailboxChange::Mfa => Permission::ManageMfa,
    };
    if !c.may(permission) || addresses.is_empty() {
        return Ok(None);
    }
    let change = |_: &str, _: CredentialKind, a: AccountFacts| Some(AccountFacts { mailbox: after(a.mailbox), ..a });
    let preview = settings_preview(state, c, Scope::Users(addresses), &change).await?;
    let user = addresses.join(", ");
    let t = |id: &str| authrelay_i18n::t(c.lang, id, &[("user", authrelay_i18n::Arg::Str(&user))]);
    let (question, effect_id, button) = match what {
        MailboxChange::Block => ("confirm-block-question", "confirm-block-effect", "confirm-block-button"),
        MailboxChange::SmtpAuth => {
            ("confirm-mailbox-smtp-auth-question", "confirm-mailbox-smtp-auth-effect", "confirm-save-button")
        }
        MailboxChange::Mfa => ("confirm-mfa-question", "confirm-mfa-effect", "confirm-save-button"),
    };
    if what != MailboxChange::Block && !preview.cuts_off() {
        return Ok(None);
    }
    Ok(Some(Ask {
        question: t(question),
        effect: t(effect_id),
        facts: vec![],
        preview: Some(preview),
        action,
        fields: fields(posted),
        button: t(button),
        cancel,
        active,
    }))
}

/// Revoking one of a mailbox's credentials (an app password or a device credential): always
/// asks, with the credential's last use and the devices of the sign-in log it would cut off.
pub(crate) async fn revoke_credential(
    state: &SharedState,
    c: &Caller,
    address: &str,
    kind: CredentialKind,
    name: &str,
    action: String,
) -> Asked {
    if !c.may(authrelay_ops::Permission::ManageAppPasswords) {
        return Ok(None);
    }
    let dir = &state.directory;
    let now = crate::state::now();
    // The credential's last use, and for a device credential the address it came from: with
    // several of them, the sign-in log (which names no credential) is matched by that address.
    let (last_used, last_ip, several) = if kind == CredentialKind::AppPassword {
        let list = dir.list_app_passwords(address).await.api(c.lang)?;
        let Some(a) = list.iter().find(|a| a.name == name) else { return Ok(None) };
        (a.last_used_at, None, list.len() > 1)
    } else {
        let list = dir.list_device_credentials(address).await.api(c.lang)?;
        let Some(d) = list.iter().find(|d| d.name == name) else { return Ok(None) };
        let live = list.iter().filter(|d| d.expires_at.is_none_or(|at| at > now)).count();
        (d.last_used_at, d.last_used_ip.clone(), live > 1)
    };
    let addresses = [address.to_string()];
    let change = move |_: &str, k: CredentialKind, a: AccountFacts| (k != kind).then_some(a);
    let mut preview = settings_preview(state, c, Scope::Users(&addresses), &change).await?;
    if kind == CredentialKind::DeviceCredential && several {
        preview.devices_cut_off.retain(|d| Some(&d.client_ip) == last_ip.as_ref());
    }
    preview.mailboxes_let_through.clear();
    let args = [("user", authrelay_i18n::Arg::Str(address)), ("name", authrelay_i18n::Arg::Str(name))];
    let (question, effect_id) = if kind == CredentialKind::AppPassword {
        ("confirm-revoke-app-password-question", "confirm-revoke-app-password-effect")
    } else {
        ("confirm-revoke-device-credential-question", "confirm-revoke-device-credential-effect")
    };
    let mut used = authrelay_i18n::format::time_or_dash(c.lang, last_used);
    if let Some(ip) = &last_ip {
        used = format!("{used} ({ip})");
    }
    Ok(Some(Ask {
        question: authrelay_i18n::t(c.lang, question, &args),
        effect: authrelay_i18n::t(c.lang, effect_id, &args),
        facts: vec![(authrelay_i18n::t(c.lang, "confirm-fact-last-used", &[]), used)],
        preview: Some(preview),
        action,
        fields: fields(&[("name", name)]),
        button: authrelay_i18n::t(c.lang, "confirm-revoke-button", &[]),
        cancel: format!("/users/{}", crate::lists::enc(address)),
        active: "users",
    }))
}

/// Revoking an API token: always asks, with its owner and last use.
pub(crate) async fn revoke_token(state: &SharedState, c: &Caller, id: i64) -> Asked {
    let owner = if c.may(authrelay_ops::Permission::ManageAdmins) { None } else { Some(c.admin.id) };
    let tokens = state.store.list_api_tokens(owner).await.map_err(|e| ApiError::storage(c.lang, e))?;
    let Some(token) = tokens.iter().find(|t| t.id == id && t.revoked_at.is_none()) else { return Ok(None) };
    let args = [("name", authrelay_i18n::Arg::Str(&token.name))];
    let t = |id: &str| authrelay_i18n::t(c.lang, id, &[]);
    Ok(Some(Ask {
        question: authrelay_i18n::t(c.lang, "confirm-revoke-token-question", &args),
        effect: t("confirm-revoke-token-effect"),
        facts: vec![
            (t("confirm-fact-owner"), token.admin.clone()),
            (t("confirm-fact-last-used"), authrelay_i18n::format::time_or_dash(c.lang, token.last_used_at)),
        ],
        preview: None,
        action: format!("/tokens/{id}/revoke"),
        fields: vec![],
        button: t("confirm-revoke-button"),
        cancel: "/admins".into(),
        active: "admins",
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use authrelay_core::{
        AppPasswordsPolicy, MailboxSettings, MailboxSmtpAuth, MfaState, OrgSettings, OrgSmtpAuth, ReplyId,
        SecurityDefaults, SignIn,
    };

    fn row(at: i64, user: &str, kind: CredentialKind, ip: &str, check: Check) -> SignInEntry {
        SignInEntry {
            at,
            client_ip: ip.into(),
            client_port: 40000,
            tls: "TLSv1.3".into(),
            mechanism: "LOGIN".into(),
            user: user.into(),
            credential: Some(kind),
            check,
            reply: Some(if check == Check::Accepted { ReplyId::AuthOk } else { ReplyId::SecurityDefaults }),
            success: check == Check::Accepted,
            listener: None,
        }
    }

    fn open_org() -> OrgSettings {
        OrgSettings {
            security_defaults: SecurityDefaults::Off,
            smtp_auth: OrgSmtpAuth::Enabled,
            app_passwords: AppPasswordsPolicy::Allowed,
            ..OrgSettings::default()
        }
    }

    fn mailbox(address: &str, org: OrgSettings, mfa: MfaState, stored: &[CredentialKind]) -> Mailbox {
        Mailbox {
            address: address.into(),
            account: AccountFacts {
                org,
                mailbox: MailboxSettings { sign_in: SignIn::Allowed, smtp_auth: MailboxSmtpAuth::Default, mfa },
            },
            stored: stored.to_vec(),
        }
    }

    #[test]
    fn devices_are_grouped_by_user_kind_and_address_and_keep_their_newest_verdict() {
        use CredentialKind::*;
        let entries = vec![
            row(300, "Scanner@contoso.com", Password, "192.0.2.7", Check::Accepted),
            row(200, "scanner@contoso.com", Password, "192.0.2.7", Check::SecurityDefaults),
            row(150, "scanner@contoso.com", Password, "192.0.2.7", Check::Credentials),
            row(100, "scanner@contoso.com", AppPassword, "192.0.2.7", Check::Accepted),
            row(50, "printer@contoso.com", Password, "198.51.100.9", Check::Credentials),
        ];
        let devices = group_devices(&entries);
        assert_eq!(devices.len(), 2, "{devices:?}");
        assert_eq!(devices[0].user, "scanner@contoso.com");
        assert_eq!((devices[0].credential.kind, devices[0].attempts, devices[0].last_seen), (Password, 2, 300));
        assert_eq!(devices[1].credential.kind, AppPassword);
        // A device seen only with a wrong password is no device a setting concerns.
        assert!(devices.iter().all(|d| d.user != "printer@contoso.com"));
    }

    #[test]
    fn security_defaults_off_lists_the_mailboxes_and_devices_it_lets_through() {
        use CredentialKind::*;
        let on = OrgSettings { security_defaults: SecurityDefaults::On, ..open_org() };
        let mailboxes = vec![
            mailbox("scanner@contoso.com", on, MfaState::Disabled, &[Password]),
            // MFA refuses its password either way; its app password gets through.
            mailbox("fax@contoso.com", on, MfaState::Enabled, &[Password, AppPassword]),
            mailbox("owner@contoso.com", on, MfaState::Enforced, &[Password]),
        ];
        let devices = group_devices(&[
            row(100, "scanner@contoso.com", Password, "192.0.2.7", Check::SecurityDefaults),
            row(90, "owner@contoso.com", Password, "192.0.2.8", Check::SecurityDefaults),
            row(80, "stranger@example.org", Password, "192.0.2.9", Check::SecurityDefaults),
        ]);
        let off = |_: &str, _: CredentialKind, a: AccountFacts| {
            Some(AccountFacts { org: OrgSettings { security_defaults: SecurityDefaults::Off, ..a.org }, ..a })
        };
        let p = preview(&mailboxes, &devices, &off);
        assert_eq!(p.mailboxes_let_through, vec!["scanner@contoso.com", "fax@contoso.com"]);
        assert_eq!(p.devices_let_through.len(), 1, "{p:?}");
        assert_eq!(
            (p.devices_let_through[0].client_ip.as_str(), p.devices_let_through[0].check_after),
            ("192.0.2.7", Check::Accepted)
        );
        assert!(!p.cuts_off());
        // Back on: the device that now gets through is cut off again.
        let devices = group_devices(&[row(100, "scanner@contoso.com", Password, "192.0.2.7", Check::Accepted)]);
        let open = vec![mailbox("scanner@contoso.com", open_org(), MfaState::Disabled, &[Password])];
        let on = |_: &str, _: CredentialKind, a: AccountFacts| {
            Some(AccountFacts { org: OrgSettings { security_defaults: SecurityDefaults::On, ..a.org }, ..a })
        };
        let p = preview(&open, &devices, &on);
        assert!(p.cuts_off());
        assert_eq!(p.devices_cut_off[0].check_after, Check::SecurityDefaults);
    }

    #[test]
    fn revoking_an_app_password_cuts_off_only_the_devices_using_app_passwords() {
        use CredentialKind::*;
        let mailboxes = vec![mailbox("scanner@contoso.com", open_org(), MfaState::Enabled, &[Password, AppPassword])];
        let devices = group_devices(&[
            row(100, "scanner@contoso.com", AppPassword, "192.0.2.7", Check::Accepted),
            row(90, "scanner@contoso.com", DeviceCredential, "192.0.2.8", Check::Accepted),
        ]);
        let revoke = |_: &str, kind: CredentialKind, a: AccountFacts| (kind != AppPassword).then_some(a);
        let p = preview(&mailboxes, &devices, &revoke);
        assert_eq!(p.devices_cut_off.len(), 1, "{p:?}");
        assert_eq!(
            (p.devices_cut_off[0].credential, p.devices_cut_off[0].check_after),
            ("app-password", Check::Credentials)
        );
        assert!(p.mailboxes_let_through.is_empty());
    }
}
