//! The Troubleshooter (issue 8): pick a mailbox and see the doctor's verdict — every check of the
//! decision order as pass / blocks / warns — with its fixes least weakening first, each a
//! one-click button when the admin's role permits it (shown disabled, naming the role, when it
//! does not); or paste a reply line and get the knowledge base's explanation and fix.
//!
//! A fix is applied through the same [`crate::ops`] functions (role check, audit record) as the
//! other pages, after the doctor is asked again, so only a fix the mailbox still needs is applied.
//! The API (`GET /api/users/{address}/doctor`, `POST /api/users/{address}/doctor/fixes`,
//! `POST /api/troubleshoot/explain`) returns the same views the page renders.

use authrelay_core::{
    Address, AppPasswordsPolicy, DeviceCredentialsPolicy, MailboxSmtpAuth, MfaState, OrgSmtpAuth, SecurityDefaults,
    SignIn,
};
use authrelay_i18n::{t, Arg, Lang};
use authrelay_troubleshoot::doctor::{self, DoctorCheck, Fix, FixKind, Report, Weakening};
use authrelay_troubleshoot::kb;
use axum::http::StatusCode;
use serde::Serialize;

use authrelay_ops::{DeviceCredentialSpec, OrgEdit, Permission, Role, UserEdit};

use crate::auth::Caller;
use crate::http::{ApiError, OrApi};
use crate::state::SharedState;

/// The name given to the secrets a one-click fix creates (a number is added when taken).
const DEVICE_NAME: &str = "smtp-device";

/// The one-click action behind a fix, and what it needs: one arm per [`FixKind`], so a new
/// kind of fix cannot be added without deciding here (the match is exhaustive). Fixes without
/// an action (creating an organisation, raising a limit) need choices the doctor cannot make;
/// they show their path.
fn action_of(fix: &Fix) -> (Option<&'static str>, Permission) {
    use Permission::*;
    match fix.kind {
        FixKind::AddUser => (Some("user-add"), ManageUsers),
        FixKind::Unlock => (Some("unlock"), ManageUsers),
        FixKind::AllowSignIn => (Some("sign-in-allow"), ManageUsers),
        FixKind::EnableSmtpAuthMailbox => (Some("smtp-auth-mailbox"), ManageSmtpAuth),
        FixKind::EnableSmtpAuthOrg => (Some("smtp-auth-org"), ManageSmtpAuth),
        FixKind::AllowDeviceCredentials => (Some("device-credentials-allow"), ManageAppPasswords),
        FixKind::AddDeviceCredential => (Some("device-credential"), ManageAppPasswords),
        FixKind::SecurityDefaultsOff => (Some("security-defaults-off"), ManageSecurityDefaults),
        FixKind::AllowAppPasswords => (Some("app-passwords-allow"), ManageAppPasswords),
        FixKind::AddAppPassword => (Some("app-password"), ManageAppPasswords),
        FixKind::MfaOff => (Some("mfa-off"), ManageMfa),
        FixKind::AddOrg | FixKind::RaiseDailyLimit => (None, ManageOrgs),
    }
}

fn check_label(c: DoctorCheck) -> &'static str {
    match c {
        DoctorCheck::Organisation => "doctor-check-organisation",
        DoctorCheck::Account => "doctor-check-account",
        DoctorCheck::Lockout => "doctor-check-lockout",
        DoctorCheck::SignIn => "doctor-check-sign-in",
        DoctorCheck::AuthenticatedSmtp => "doctor-check-authenticated-smtp",
        DoctorCheck::SecurityDefaults => "doctor-check-security-defaults",
        DoctorCheck::Mfa => "doctor-check-mfa",
        DoctorCheck::AppPasswords => "doctor-check-app-passwords",
        DoctorCheck::Limits => "doctor-check-limits",
        DoctorCheck::LegacyPaths => "doctor-check-legacy-paths",
    }
}

fn weakening_key(w: Weakening) -> &'static str {
    match w {
        Weakening::None => "none",
        Weakening::Device => "device",
        Weakening::Scoped => "scoped",
        Weakening::Mailbox => "mailbox",
        Weakening::Organisation => "organisation",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckView {
    pub check: &'static str,
    pub name: String,
    /// pass, blocks, warns or not-tracked.
    pub status: &'static str,
    pub status_label: String,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct FixView {
    /// The blocking check it clears.
    pub check: &'static str,
    pub check_name: String,
    /// none, scoped, mailbox or organisation (least weakening first).
    pub weakening: &'static str,
    pub weakening_label: String,
    /// True when the fix lowers protection for a whole mailbox or organisation.
    pub weakens: bool,
    /// Part of the recommended plan (the smallest, least weakening set of changes).
    pub recommended: bool,
    /// The plan (0 = recommended) that first needs this change.
    pub plan: usize,
    pub title: String,
    pub commands: Vec<String>,
    pub admin_path: String,
    pub note: Option<String>,
    /// The one-click action (`POST …/doctor/fixes` with this), if there is one.
    pub action: Option<&'static str>,
    /// Whether the caller's role may apply it.
    pub permitted: bool,
    pub required_roles: Vec<Role>,
    /// "Requires the … role", in the caller's language, when not permitted.
    pub requires: Option<String>,
    /// The title of a change this one click also makes (letting the organisation issue the
    /// kind of secret it creates), folded in so the change is not offered twice.
    pub includes: Option<String>,
}

/// The organisation-policy change a secret-creating action makes first (see [`apply`]).
fn folded_into(kind: FixKind) -> Option<FixKind> {
    match kind {
        FixKind::AllowDeviceCredentials => Some(FixKind::AddDeviceCredential),
        FixKind::AllowAppPasswords => Some(FixKind::AddAppPassword),
        _ => None,
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DoctorView {
    pub address: String,
    pub org: Option<String>,
    pub can_send: bool,
    pub verdict: String,
    pub blocking: Vec<&'static str>,
    pub checks: Vec<CheckView>,
    pub fixes: Vec<FixView>,
    /// For a mailbox that does not exist: existing ones it may be a typo of, to check instead.
    pub similar: Vec<String>,
}

fn requires(lang: Lang, p: Permission) -> String {
    let names: Vec<String> = Role::holders(p).iter().map(|r| t(lang, r.name_id(), &[])).collect();
    t(lang, "ts-requires-role", &[("roles", Arg::Str(&names.join(&t(lang, "list-or", &[]))))])
}

pub fn view(report: &Report, c: &Caller) -> DoctorView {
    let lang = c.lang;
    let checks = report
        .checks
        .iter()
        .map(|r| CheckView {
            check: r.check.as_str(),
            name: t(lang, check_label(r.check), &[]),
            status: r.status.as_str(),
            status_label: t(lang, &format!("doctor-status-{}", r.status.as_str()), &[]),
            detail: r.detail.render(lang),
        })
        .collect();
    // A policy change that the same plan's create-a-secret click makes anyway is shown inside
    // that click, not as a second button for the same device.
    let folded =
        |f: &Fix| folded_into(f.kind).is_some_and(|k| report.fixes.iter().any(|g| g.kind == k && g.plan == f.plan));
    let fixes = report
        .fixes
        .iter()
        .filter(|f| !folded(f))
        .map(|f| {
            let (action, permission) = action_of(f);
            // Creating a mailbox that does not exist is never the recommendation: the address
            // is more often mistyped (the page offers the similar ones first).
            let recommended = f.plan == 0 && f.kind != FixKind::AddUser;
            let permitted = c.may(permission);
            FixView {
                check: f.check.as_str(),
                check_name: t(lang, check_label(f.check), &[]),
                weakening: weakening_key(f.weakening),
                weakening_label: t(lang, f.weakening.label(), &[]),
                weakens: f.weakening >= Weakening::Mailbox,
                recommended,
                plan: f.plan,
                title: f.title.render(lang),
                commands: f.commands.iter().map(|c| c.display.clone()).collect(),
                admin_path: f.admin_path.render(lang),
                note: f.note.as_ref().map(|n| n.render(lang)),
                action,
                permitted,
                required_roles: Role::holders(permission),
                requires: (!permitted).then(|| requires(lang, permission)),
                includes: report
                    .fixes
                    .iter()
                    .find(|g| folded_into(g.kind) == Some(f.kind) && g.plan == f.plan)
                    .map(|g| g.title.render(lang)),
            }
        })
        .collect();
    let verdict = report.verdict(lang);
    DoctorView {
        address: report.address.clone(),
        org: report.org.clone(),
        can_send: report.can_send,
        verdict,
        blocking: report.blocking().iter().map(|c| c.as_str()).collect(),
        checks,
        fixes,
        similar: vec![],
    }
}

/// Most mailboxes offered as "did you mean".
const MAX_SIMILAR: usize = 5;

/// Existing mailboxes `address` may be a typo of: the same local part in another domain, or
/// within two edits of it in the same domain.
pub fn similar(address: &str, mailboxes: &[String]) -> Vec<String> {
    let address = address.trim().to_ascii_lowercase();
    let Some((local, domain)) = address.rsplit_once('@') else { return vec![] };
    let mut found: Vec<(usize, &String)> = mailboxes
        .iter()
        .filter_map(|m| {
            let lower = m.to_ascii_lowercase();
            let (l, d) = lower.rsplit_once('@')?;
            let distance = edit_distance(local, l) + if d == domain { 0 } else { 1 + edit_distance(domain, d).min(1) };
            (lower != address && distance <= 2).then_some((distance, m))
        })
        .collect();
    found.sort();
    found.into_iter().take(MAX_SIMILAR).map(|(_, m)| m.clone()).collect()
}

/// Levenshtein distance over characters (addresses are short).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// Runs the doctor for `address` (any admin may look).
pub async fn diagnose(state: &SharedState, c: &Caller, address: &str) -> Result<Report, ApiError> {
    c.require(Permission::ReadDirectory)?;
    let address = authrelay_ops::validate::address(address).api(c.lang)?;
    doctor::diagnose(state.directory.as_ref(), &address, state.config.doctor_limits).await.api(c.lang)
}

/// The doctor's view for `address` with, for a mailbox that does not exist, the existing ones
/// it may be a typo of: the same answer on the page and in the API.
pub async fn doctor_view(state: &SharedState, c: &Caller, address: &str) -> Result<DoctorView, ApiError> {
    let report = diagnose(state, c, address).await?;
    let mut view = view(&report, c);
    if view.blocking.contains(&"account") {
        let mailboxes: Vec<String> =
            state.directory.list_users(None).await.api(c.lang)?.into_iter().map(|u| u.address).collect();
        view.similar = similar(&view.address, &mailboxes);
    }
    Ok(view)
}

/// What applying a fix did.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub action: &'static str,
    /// A secret the fix created (shown once): its kind (password, app-password,
    /// device-credential) and value.
    pub secret_kind: Option<&'static str>,
    pub secret: Option<String>,
}

/// Applies the doctor's fix `action` for `address`: only a fix the doctor suggests now, only
/// when the caller's role permits it, through the audited `ops` functions.
pub async fn apply(state: &SharedState, c: &Caller, address: &str, action: &str) -> Result<Applied, ApiError> {
    let report = diagnose(state, c, address).await?;
    let found = report.fixes.iter().find_map(|f| match action_of(f) {
        (Some(a), p) if a == action => Some((f, a, p)),
        _ => None,
    });
    let Some((_, action, permission)) = found else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "fix-not-suggested",
            c.lang,
            "ts-err-not-suggested",
            &[("action", Arg::Str(action)), ("address", Arg::Str(&report.address))],
        ));
    };
    // Refuse before changing anything, so a fix of several steps is never half applied.
    c.require(permission)?;
    let user = report.address.as_str();
    let org = report.org.clone().unwrap_or_default();
    let mut applied = Applied { action, secret_kind: None, secret: None };
    match action {
        "user-add" => {
            let (_, password) = state.ops.create_user(&c.actor(), user, None, None).await.api(c.lang)?;
            applied.secret_kind = Some("password");
            applied.secret = password;
        }
        "unlock" => {
            state.ops.unlock_user(&c.actor(), user).await.api(c.lang)?;
        }
        "sign-in-allow" => {
            state
                .ops
                .edit_user(&c.actor(), user, UserEdit { sign_in: Some(SignIn::Allowed), ..Default::default() })
                .await
                .api(c.lang)?;
        }
        "smtp-auth-mailbox" => {
            let edit = UserEdit { smtp_auth: Some(MailboxSmtpAuth::Enabled), ..Default::default() };
            state.ops.edit_user(&c.actor(), user, edit).await.api(c.lang)?;
        }
        "smtp-auth-org" => {
            state
                .ops
                .edit_org(&c.actor(), &org, OrgEdit { smtp_auth: Some(OrgSmtpAuth::Enabled), ..Default::default() })
                .await
                .api(c.lang)?;
        }
        "security-defaults-off" => {
            let edit = OrgEdit { security_defaults: Some(SecurityDefaults::Off), ..Default::default() };
            state.ops.edit_org(&c.actor(), &org, edit).await.api(c.lang)?;
        }
        "device-credentials-allow" => {
            let edit = OrgEdit { device_credentials: Some(DeviceCredentialsPolicy::Allowed), ..Default::default() };
            state.ops.edit_org(&c.actor(), &org, edit).await.api(c.lang)?;
        }
        "app-passwords-allow" => {
            let edit = OrgEdit { app_passwords: Some(AppPasswordsPolicy::Allowed), ..Default::default() };
            state.ops.edit_org(&c.actor(), &org, edit).await.api(c.lang)?;
        }
        "mfa-off" => {
            state
                .ops
                .edit_user(&c.actor(), user, UserEdit { mfa: Some(MfaState::Disabled), ..Default::default() })
                .await
                .api(c.lang)?;
        }
        "device-credential" => {
            let current = state.ops.org(&org).await.api(c.lang)?;
            if current.settings.device_credentials == DeviceCredentialsPolicy::Blocked {
                let edit = OrgEdit { device_credentials: Some(DeviceCredentialsPolicy::Allowed), ..Default::default() };
                state.ops.edit_org(&c.actor(), &org, edit).await.api(c.lang)?;
            }
            let taken: Vec<String> =
                state.directory.list_device_credentials(user).await.api(c.lang)?.into_iter().map(|d| d.name).collect();
            let spec = DeviceCredentialSpec { name: free_name(&taken), ..Default::default() };
            let (_, secret) = state.ops.add_device_credential(&c.actor(), user, spec).await.api(c.lang)?;
            applied.secret_kind = Some("device-credential");
            applied.secret = Some(secret);
        }
        "app-password" => {
            let current = state.ops.org(&org).await.api(c.lang)?;
            if current.settings.app_passwords == AppPasswordsPolicy::Blocked {
                let edit = OrgEdit { app_passwords: Some(AppPasswordsPolicy::Allowed), ..Default::default() };
                state.ops.edit_org(&c.actor(), &org, edit).await.api(c.lang)?;
            }
            {
                let taken: Vec<String> =
                    state.directory.list_app_passwords(user).await.api(c.lang)?.into_iter().map(|a| a.name).collect();
                let (_, secret) = state.ops.add_app_password(&c.actor(), user, &free_name(&taken)).await.api(c.lang)?;
                applied.secret_kind = Some("app-password");
                applied.secret = Some(secret);
            }
        }
        _ => unreachable!("every action of action_of is handled"),
    }
    Ok(applied)
}

/// `smtp-device`, or `smtp-device-2`, … when taken (a mailbox holds at most 40 of each kind).
fn free_name(taken: &[String]) -> String {
    (1..=64)
        .map(|n| if n == 1 { DEVICE_NAME.to_string() } else { format!("{DEVICE_NAME}-{n}") })
        .find(|name| !taken.iter().any(|t| t.eq_ignore_ascii_case(name)))
        .unwrap_or_else(|| format!("{DEVICE_NAME}-{}", crate::state::now()))
}

/// The knowledge base's answer for one pasted reply line.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainView {
    pub reply: String,
    pub known: bool,
    pub entry: Option<&'static str>,
    pub provider: Option<&'static str>,
    pub provider_name: Option<String>,
    /// The sign-in log's name of the deciding check, for our own replies.
    pub layer: Option<&'static str>,
    pub means: String,
    pub fix: Option<String>,
    /// When the reply is word for word both Microsoft's and ours and the admin did not say
    /// which server: the answer is Microsoft's, and this is ours.
    pub also_ours: Option<AlsoView>,
}

/// authrelay's own reading of a reply the page explained as Microsoft's.
#[derive(Debug, Clone, Serialize)]
pub struct AlsoView {
    pub entry: &'static str,
    pub means: String,
    pub fix: String,
}

/// Most characters of a pasted reply that are looked at.
const MAX_REPLY: usize = 2000;

pub async fn explain(
    state: &SharedState,
    c: &Caller,
    reply: &str,
    provider: Option<&str>,
    user: Option<&str>,
) -> Result<ExplainView, ApiError> {
    c.require(Permission::ReadDirectory)?;
    let lang = c.lang;
    let reply: String = reply.trim().chars().take(MAX_REPLY).collect();
    if reply.is_empty() {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad-reply", lang, "ts-err-empty-reply", &[]));
    }
    let hint = match provider.map(str::trim).filter(|p| !p.is_empty() && *p != "auto") {
        None => None,
        Some(p) => Some(match p.to_ascii_lowercase().as_str() {
            "authrelay" => kb::Provider::Authrelay,
            "microsoft365" | "m365" | "microsoft" | "office365" => kb::Provider::Microsoft365,
            "gmail" | "google" => kb::Provider::Gmail,
            "generic" => kb::Provider::Generic,
            _ => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "bad-value",
                    lang,
                    "api-err-bad-value",
                    &[
                        ("field", Arg::Str("provider")),
                        ("value", Arg::Str(p)),
                        ("choices", Arg::Str("auto authrelay microsoft365 gmail generic")),
                    ],
                ))
            }
        }),
    };
    // The fix names the mailbox and organisation when the admin says whose device it is.
    let mut ctx = kb::Context::default();
    if let Some(u) = user.map(str::trim).filter(|u| !u.is_empty()) {
        if let Ok(a) = Address::parse(u) {
            let found = state.directory.user(a.as_str()).await.api(lang)?;
            ctx.org = found.map(|u| u.org);
            ctx.user = Some(a.as_str().to_string());
        }
    }
    let mut found = kb::explain(&reply, hint, &ctx, lang);
    let mut also_ours = None;
    // Microsoft's wording without its trailer: the device may as well talk to Microsoft 365
    // (devices show the bare line), and there the fix is Microsoft's; ours comes second.
    if let (None, Some(e), Some(twin)) = (hint, &found, kb::microsoft_twin(&reply)) {
        if e.provider == kb::Provider::Authrelay {
            also_ours = Some(AlsoView { entry: e.entry, means: e.means.clone(), fix: e.fix.clone() });
            found = Some(kb::render(twin, &ctx, lang));
        }
    }
    Ok(match found {
        Some(e) => ExplainView {
            reply,
            known: true,
            entry: Some(e.entry),
            provider: Some(e.provider.as_str()),
            provider_name: Some(t(lang, e.provider.message_id(), &[])),
            layer: e.layer,
            means: e.means,
            fix: Some(e.fix),
            also_ours,
        },
        None => ExplainView {
            reply,
            known: false,
            entry: None,
            provider: None,
            provider_name: None,
            layer: None,
            means: t(lang, "ts-unknown-reply", &[]),
            fix: None,
            also_ours: None,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mistyped_mailbox_finds_the_existing_ones_it_is_near() {
        let boxes: Vec<String> =
            ["scanner@contoso.com", "scanner@fabrikam.com", "frontdesk@contoso.com"].map(String::from).to_vec();
        assert_eq!(similar("scaner@contoso.com", &boxes), vec!["scanner@contoso.com"]);
        assert_eq!(similar("Scanner@contoso.org", &boxes), vec!["scanner@contoso.com", "scanner@fabrikam.com"]);
        assert!(similar("printer@contoso.com", &boxes).is_empty());
        assert!(similar("scanner@contoso.com", &boxes).iter().all(|m| m != "scanner@contoso.com"), "not itself");
        assert!(similar("no-at-sign", &boxes).is_empty());
    }
}
