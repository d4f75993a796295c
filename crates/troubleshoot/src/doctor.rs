//! The doctor: why can this mailbox not send, and what is the least weakening fix?
//!
//! [`diagnose`] walks the decision order of `shared/spec/smtp-auth.md` §4 for one mailbox using
//! only directory data (no password): organisation, account, lockout, sign-in, effective
//! Authenticated SMTP (and where it comes from), security defaults, MFA, app passwords, limits.
//! Each check gets a [`Status`]; each blocking check gets fixes ordered least weakening first,
//! each with the exact CLI command (also as an argv, for scripts and tests) and the admin-center
//! path. [`explain_last`] reads the sign-in log and groups the latest failures by the check that
//! decided them and the client address.
//!
//! The results are plain data; [`Report::render_text`] and [`Report::to_json`] present them in a
//! language. A web page can call [`diagnose`] with the same directory and show the same fixes.

use std::collections::BTreeMap;

use authrelay_core::{
    effective_smtp_auth, Address, AppPasswordsPolicy, MfaState, SecurityDefaults, SignIn, SmtpAuthSource,
};
use authrelay_directory::{Directory, DirectoryError, SignInFilter};
use authrelay_i18n::Lang;
use authrelay_policy::Check;
use serde_json::json;

use crate::kb;
use crate::Text;

/// Verdict of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    Blocks,
    Warns,
    /// The directory does not record this (yet); nothing can be said.
    NotTracked,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Blocks => "blocks",
            Status::Warns => "warns",
            Status::NotTracked => "not-tracked",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Status::Pass => "doctor-status-pass",
            Status::Blocks => "doctor-status-blocks",
            Status::Warns => "doctor-status-warns",
            Status::NotTracked => "doctor-status-not-tracked",
        }
    }
}

/// The checks the doctor reports, in decision order. Where a check is a step of the policy's
/// decision order its name is the sign-in log's ([`Check::as_str`]), so the two agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum DoctorCheck {
    Organisation,
    Account,
    Lockout,
    SignIn,
    AuthenticatedSmtp,
    SecurityDefaults,
    Mfa,
    AppPasswords,
    Limits,
}

impl DoctorCheck {
    pub fn as_str(self) -> &'static str {
        match self {
            DoctorCheck::Organisation => "organisation",
            DoctorCheck::Account => "account",
            DoctorCheck::Lockout => Check::Lockout.as_str(),
            DoctorCheck::SignIn => Check::SignIn.as_str(),
            DoctorCheck::AuthenticatedSmtp => Check::AuthenticatedSmtp.as_str(),
            DoctorCheck::SecurityDefaults => Check::SecurityDefaults.as_str(),
            DoctorCheck::Mfa => Check::Mfa.as_str(),
            DoctorCheck::AppPasswords => "app-passwords",
            DoctorCheck::Limits => "limits",
        }
    }
    fn label(self) -> &'static str {
        match self {
            DoctorCheck::Organisation => "doctor-check-organisation",
            DoctorCheck::Account => "doctor-check-account",
            DoctorCheck::Lockout => "doctor-check-lockout",
            DoctorCheck::SignIn => "doctor-check-sign-in",
            DoctorCheck::AuthenticatedSmtp => "doctor-check-authenticated-smtp",
            DoctorCheck::SecurityDefaults => "doctor-check-security-defaults",
            DoctorCheck::Mfa => "doctor-check-mfa",
            DoctorCheck::AppPasswords => "doctor-check-app-passwords",
            DoctorCheck::Limits => "doctor-check-limits",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckResult {
    pub check: DoctorCheck,
    pub status: Status,
    pub detail: Text,
}

/// How much a fix weakens security, to order the alternatives: least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weakening {
    /// Restores the intended state (unblock, create the missing account).
    None,
    /// A separate secret for one device; the account keeps its protection (an app password).
    Scoped,
    /// Opens one mailbox.
    Mailbox,
    /// Opens every mailbox of the organisation.
    Organisation,
}

/// A device credential for this mailbox (issue 7): neither security defaults nor MFA block it,
/// so it is suggested before turning either off. Scoped: one revocable secret for one device,
/// usable only for SMTP submission as this mailbox.
fn device_credential_fix(check: DoctorCheck, o: &authrelay_core::OrgSettings, org_name: &str, u: &str) -> Fix {
    let mut commands = vec![];
    if o.device_credentials == authrelay_core::DeviceCredentialsPolicy::Blocked {
        commands.push(Command::new(&["org", "set", org_name, "--device-credentials", "allowed"]));
    }
    commands.push(Command::new(&["device-credential", "add", u, "--name", "smtp-device"]));
    Fix {
        check,
        weakening: Weakening::Scoped,
        title: Text::new("fix-device-credential-add").arg("user", u),
        commands,
        admin_path: Text::new("path-device-credential").arg("user", u),
        note: Some(Text::new("fix-device-credential-note")),
    }
}

/// One command of a fix: as typed, and as an argument vector (without the program name).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Command {
    pub display: String,
    pub argv: Vec<String>,
}

impl Command {
    fn new(args: &[&str]) -> Command {
        let quote = |a: &&str| {
            if a.is_empty() || a.chars().any(|c| c.is_whitespace() || "'\"$`\\!*?;&|<>()".contains(c)) {
                format!("'{}'", a.replace('\'', r"'\''"))
            } else {
                a.to_string()
            }
        };
        Command {
            display: format!("authrelay {}", args.iter().map(quote).collect::<Vec<_>>().join(" ")),
            argv: args.iter().map(|a| a.to_string()).collect(),
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Fix {
    /// The blocking check this fix clears.
    pub check: DoctorCheck,
    pub weakening: Weakening,
    pub title: Text,
    /// Run in order.
    pub commands: Vec<Command>,
    pub admin_path: Text,
    /// What the device must then use, or what the fix costs.
    pub note: Option<Text>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub address: String,
    pub org: Option<String>,
    /// True when no check blocks: a device with the right secret can send.
    pub can_send: bool,
    pub checks: Vec<CheckResult>,
    /// Grouped by blocking check in decision order, each group least weakening first. Applying
    /// the first fix of every group makes the mailbox able to send.
    pub fixes: Vec<Fix>,
}

/// The server's configured limits (an organisation may override each), for the `limits` check.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub max_recipients: u64,
    pub max_message_size: u64,
    /// Recipients per mailbox per rolling 24 hours.
    pub daily_recipients: u64,
    /// Concurrent authenticated sessions per mailbox.
    pub max_sessions: u64,
}

/// Runs every check for `address`. Directory outages are errors; everything else is a verdict.
pub async fn diagnose(dir: &dyn Directory, address: &Address, limits: Limits) -> Result<Report, DirectoryError> {
    let addr = address.as_str().to_string();
    let mut checks = vec![];
    let mut fixes = vec![];
    let report = |checks: Vec<CheckResult>, fixes: Vec<Fix>, org: Option<String>| {
        let can_send = !checks.iter().any(|c| c.status == Status::Blocks);
        Report { address: addr.clone(), org, can_send, checks, fixes }
    };

    let Some(user) = dir.user(&addr).await? else {
        match dir.org_for_domain(address.domain()).await? {
            None => {
                checks.push(CheckResult {
                    check: DoctorCheck::Organisation,
                    status: Status::Blocks,
                    detail: Text::new("doctor-org-missing").arg("domain", address.domain()),
                });
                fixes.push(Fix {
                    check: DoctorCheck::Organisation,
                    weakening: Weakening::None,
                    title: Text::new("fix-org-add").arg("domain", address.domain()),
                    commands: vec![
                        Command::new(&["org", "add", "ORG", "--domain", address.domain()]),
                        Command::new(&["user", "add", &addr]),
                    ],
                    admin_path: Text::new("path-org-add"),
                    note: Some(Text::new("fix-org-add-note")),
                });
            }
            Some(org) => {
                checks.push(CheckResult {
                    check: DoctorCheck::Organisation,
                    status: Status::Pass,
                    detail: Text::new("doctor-org-ok").arg("org", &org.name).arg("domains", org.domains.join(", ")),
                });
                checks.push(CheckResult {
                    check: DoctorCheck::Account,
                    status: Status::Blocks,
                    detail: Text::new("doctor-account-missing").arg("user", &addr).arg("org", &org.name),
                });
                fixes.push(Fix {
                    check: DoctorCheck::Account,
                    weakening: Weakening::None,
                    title: Text::new("fix-user-add").arg("user", &addr),
                    commands: vec![Command::new(&["user", "add", &addr])],
                    admin_path: Text::new("path-user-add"),
                    note: None,
                });
            }
        }
        return Ok(report(checks, fixes, None));
    };
    let org = dir.org(&user.org).await?.ok_or_else(|| DirectoryError::UnknownOrg(user.org.clone()))?;
    let app_passwords = dir.list_app_passwords(&addr).await?;
    // Live, unexpired device credentials the organisation allows: neither security defaults
    // nor MFA block them (issue 7), so those checks only warn while one exists.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let devices = if org.settings.device_credentials == authrelay_core::DeviceCredentialsPolicy::Allowed {
        dir.list_device_credentials(&addr).await?.iter().filter(|d| d.expires_at.is_none_or(|e| e > now)).count()
    } else {
        0
    };
    let (o, m) = (org.settings, user.settings);
    let on = |c: DoctorCheck, s: Status, t: Text| CheckResult { check: c, status: s, detail: t };
    let u = addr.as_str();
    let org_name = org.name.as_str();

    checks.push(on(
        DoctorCheck::Organisation,
        Status::Pass,
        Text::new("doctor-org-ok").arg("org", org_name).arg("domains", org.domains.join(", ")),
    ));
    checks.push(on(
        DoctorCheck::Account,
        Status::Pass,
        Text::new("doctor-account-ok").arg("user", u).arg("changed", crate::rfc3339(user.password_changed_at)),
    ));
    // 3. Smart lockout: any location locked now blocks the devices there.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let lockouts = dir.lockouts(u).await?;
    let locked: Vec<_> = lockouts.iter().filter(|l| l.locked_until > now).collect();
    if let Some(worst) = locked.iter().max_by_key(|l| l.locked_until) {
        let place = worst.location.clone().unwrap_or_else(|| "*".to_string());
        checks.push(on(
            DoctorCheck::Lockout,
            Status::Blocks,
            Text::new("doctor-lockout-locked")
                .arg("until", crate::rfc3339(worst.locked_until))
                .arg("location", place)
                .arg("failures", worst.failures),
        ));
        fixes.push(Fix {
            check: DoctorCheck::Lockout,
            weakening: Weakening::None,
            title: Text::new("fix-unlock").arg("user", u),
            commands: vec![Command::new(&["user", "unlock", u])],
            admin_path: Text::new("path-unlock").arg("user", u),
            note: Some(Text::new("fix-unlock-note").arg("user", u)),
        });
    } else {
        let failures: u32 = lockouts.iter().map(|l| l.failures).sum();
        checks.push(on(
            DoctorCheck::Lockout,
            if failures > 0 { Status::Warns } else { Status::Pass },
            if failures > 0 {
                Text::new("doctor-lockout-failures").arg("failures", failures)
            } else {
                Text::new("doctor-lockout-clear")
            },
        ));
    }

    // 5. Sign-in.
    if m.sign_in == SignIn::Blocked {
        checks.push(on(DoctorCheck::SignIn, Status::Blocks, Text::new("doctor-sign-in-blocked").arg("user", u)));
        fixes.push(Fix {
            check: DoctorCheck::SignIn,
            weakening: Weakening::None,
            title: Text::new("fix-sign-in-allow").arg("user", u),
            commands: vec![Command::new(&["user", "set", u, "--sign-in", "allowed"])],
            admin_path: Text::new("path-sign-in").arg("user", u),
            note: Some(Text::new("fix-sign-in-allow-note")),
        });
    } else {
        checks.push(on(DoctorCheck::SignIn, Status::Pass, Text::new("doctor-sign-in-ok")));
    }

    // 6. Effective Authenticated SMTP, and where it comes from.
    let mailbox_fix = Fix {
        check: DoctorCheck::AuthenticatedSmtp,
        weakening: Weakening::Mailbox,
        title: Text::new("fix-smtp-auth-mailbox").arg("user", u),
        commands: vec![Command::new(&["user", "set", u, "--smtp-auth", "enabled"])],
        admin_path: Text::new("path-smtp-auth-mailbox").arg("user", u),
        note: None,
    };
    match effective_smtp_auth(o.smtp_auth, m.smtp_auth) {
        (true, SmtpAuthSource::Mailbox) => checks.push(on(
            DoctorCheck::AuthenticatedSmtp,
            Status::Pass,
            Text::new("doctor-smtp-auth-on-mailbox").arg("org_value", o.smtp_auth),
        )),
        (true, SmtpAuthSource::Organisation) => checks.push(on(
            DoctorCheck::AuthenticatedSmtp,
            Status::Pass,
            Text::new("doctor-smtp-auth-on-org").arg("org", org_name),
        )),
        (false, SmtpAuthSource::Mailbox) => {
            checks.push(on(
                DoctorCheck::AuthenticatedSmtp,
                Status::Blocks,
                Text::new("doctor-smtp-auth-off-mailbox").arg("org_value", o.smtp_auth),
            ));
            fixes.push(mailbox_fix);
        }
        (false, SmtpAuthSource::Organisation) => {
            checks.push(on(
                DoctorCheck::AuthenticatedSmtp,
                Status::Blocks,
                Text::new("doctor-smtp-auth-off-org").arg("org", org_name),
            ));
            fixes.push(mailbox_fix);
            fixes.push(Fix {
                check: DoctorCheck::AuthenticatedSmtp,
                weakening: Weakening::Organisation,
                title: Text::new("fix-smtp-auth-org").arg("org", org_name),
                commands: vec![Command::new(&["org", "set", org_name, "--smtp-auth", "enabled"])],
                admin_path: Text::new("path-smtp-auth-org"),
                note: Some(Text::new("fix-smtp-auth-org-note")),
            });
        }
    }

    // 7. Security defaults.
    if o.security_defaults == SecurityDefaults::On && devices > 0 {
        checks.push(on(
            DoctorCheck::SecurityDefaults,
            Status::Warns,
            Text::new("doctor-security-defaults-on-device-credentials").arg("count", devices),
        ));
    } else if o.security_defaults == SecurityDefaults::On {
        checks.push(on(DoctorCheck::SecurityDefaults, Status::Blocks, Text::new("doctor-security-defaults-on")));
        fixes.push(device_credential_fix(DoctorCheck::SecurityDefaults, &o, org_name, u));
        fixes.push(Fix {
            check: DoctorCheck::SecurityDefaults,
            weakening: Weakening::Organisation,
            title: Text::new("fix-security-defaults-off").arg("org", org_name),
            commands: vec![Command::new(&["org", "set", org_name, "--security-defaults", "off"])],
            admin_path: Text::new("path-security-defaults"),
            note: Some(Text::new("fix-security-defaults-off-note")),
        });
    } else {
        checks.push(on(DoctorCheck::SecurityDefaults, Status::Pass, Text::new("doctor-security-defaults-off")));
    }

    // 8. MFA, and whether an app password can stand in for the account password.
    let allowed = o.app_passwords == AppPasswordsPolicy::Allowed;
    let count = app_passwords.len();
    if m.mfa != MfaState::Disabled && devices > 0 {
        checks.push(on(
            DoctorCheck::Mfa,
            Status::Warns,
            Text::new("doctor-mfa-on-device-credentials").arg("mfa", m.mfa).arg("count", devices),
        ));
    } else if m.mfa == MfaState::Disabled {
        checks.push(on(DoctorCheck::Mfa, Status::Pass, Text::new("doctor-mfa-off")));
    } else if allowed && count > 0 {
        checks.push(on(
            DoctorCheck::Mfa,
            Status::Warns,
            Text::new("doctor-mfa-on-app-passwords").arg("mfa", m.mfa).arg("count", count),
        ));
    } else {
        let detail = match (allowed, count) {
            (true, _) => Text::new("doctor-mfa-on-no-app-password").arg("mfa", m.mfa),
            (false, 0) => Text::new("doctor-mfa-on-app-passwords-blocked").arg("mfa", m.mfa).arg("org", org_name),
            (false, _) => Text::new("doctor-mfa-on-app-passwords-exist-blocked")
                .arg("mfa", m.mfa)
                .arg("org", org_name)
                .arg("count", count),
        };
        checks.push(on(DoctorCheck::Mfa, Status::Blocks, detail));
        // Least weakening: keep MFA, let the device use an app password.
        let mut commands = vec![];
        if !allowed {
            commands.push(Command::new(&["org", "set", org_name, "--app-passwords", "allowed"]));
        }
        let note = if count == 0 {
            commands.push(Command::new(&["app-password", "add", u, "--name", "smtp-device"]));
            Text::new("fix-app-password-note-new")
        } else {
            Text::new("fix-app-password-note-existing").arg("count", count)
        };
        fixes.push(Fix {
            check: DoctorCheck::Mfa,
            // Allowing app passwords lowers no account's protection by itself; each one is a
            // separate, revocable secret for one device.
            weakening: Weakening::Scoped,
            title: Text::new(if count == 0 { "fix-app-password-add" } else { "fix-app-password-allow" })
                .arg("user", u)
                .arg("org", org_name),
            commands,
            admin_path: Text::new(if allowed { "path-app-password-user" } else { "path-app-password-org" })
                .arg("user", u),
            note: Some(note),
        });
        fixes.push(device_credential_fix(DoctorCheck::Mfa, &o, org_name, u));
        fixes.push(Fix {
            check: DoctorCheck::Mfa,
            weakening: Weakening::Mailbox,
            title: Text::new("fix-mfa-off").arg("user", u),
            commands: vec![Command::new(&["user", "set", u, "--mfa", "disabled"])],
            admin_path: Text::new("path-mfa").arg("user", u),
            note: Some(Text::new("fix-mfa-off-note")),
        });
    }

    // App passwords: count and the organisation's policy.
    let app_status = if count > 0 && !allowed { Status::Warns } else { Status::Pass };
    let app_detail = match (count, allowed) {
        (0, true) => Text::new("doctor-app-passwords-none-allowed"),
        (0, false) => Text::new("doctor-app-passwords-none-blocked"),
        (n, true) => Text::new("doctor-app-passwords-allowed").arg("count", n),
        (n, false) => Text::new("doctor-app-passwords-blocked").arg("count", n),
    };
    checks.push(on(DoctorCheck::AppPasswords, app_status, app_detail));

    // Limits: the organisation's overrides over the server's values, and the rolling daily
    // recipient quota already used.
    let overrides = dir.org_limits(org_name).await?;
    let pick = |o: Option<u64>, server: u64| o.filter(|&v| v > 0).unwrap_or(server);
    let max_recipients = pick(overrides.max_recipients, limits.max_recipients);
    let max_size = pick(overrides.max_message_size, limits.max_message_size);
    let daily = pick(overrides.daily_recipients, limits.daily_recipients);
    let sessions = pick(overrides.max_sessions, limits.max_sessions);
    let used = dir.recipients_since(u, now - authrelay_directory::protection::DAY_SECS).await?;
    let send_as = if user.send_as.is_empty() { "-".to_string() } else { user.send_as.join(", ") };
    let limit_status = if daily > 0 && used >= daily {
        Status::Blocks
    } else if daily > 0 && used * 5 >= daily * 4 {
        Status::Warns
    } else {
        Status::Pass
    };
    checks.push(on(
        DoctorCheck::Limits,
        limit_status,
        Text::new("doctor-limits")
            .arg("used", used)
            .arg("daily", daily)
            .arg("sessions", sessions)
            .arg("recipients", max_recipients)
            .arg("size_mb", max_size / (1024 * 1024))
            .arg("send_as", send_as),
    ));
    if limit_status == Status::Blocks {
        let raised = (daily * 2).to_string();
        fixes.push(Fix {
            check: DoctorCheck::Limits,
            weakening: Weakening::Organisation,
            title: Text::new("fix-daily-limit").arg("org", org_name).arg("limit", &raised),
            commands: vec![Command::new(&["org", "set", org_name, "--daily-recipients", &raised])],
            admin_path: Text::new("path-limits"),
            note: Some(Text::new("fix-daily-limit-note")),
        });
    }

    fixes.sort_by_key(|f| (f.check, f.weakening));
    Ok(report(checks, fixes, Some(org.name)))
}

impl Report {
    /// The checks that block, in decision order.
    pub fn blocking(&self) -> Vec<DoctorCheck> {
        self.checks.iter().filter(|c| c.status == Status::Blocks).map(|c| c.check).collect()
    }

    pub fn render_text(&self, lang: Lang) -> String {
        let mut out = String::new();
        out.push_str(&Text::new("doctor-title").arg("user", &self.address).render(lang));
        out.push('\n');
        for c in &self.checks {
            let status = Text::new(c.status.label()).render(lang);
            let name = Text::new(c.check.label()).render(lang);
            out.push_str(&format!("  {}  {}  {}\n", pad(&status, 10), pad(&name, 24), c.detail.render(lang)));
        }
        out.push('\n');
        if self.can_send {
            out.push_str(&Text::new("doctor-verdict-ok").arg("user", &self.address).render(lang));
            out.push('\n');
            return out;
        }
        let blocking: Vec<String> = self.blocking().iter().map(|c| Text::new(c.label()).render(lang)).collect();
        out.push_str(
            &Text::new("doctor-verdict-blocked")
                .arg("user", &self.address)
                .arg("checks", blocking.join(", "))
                .render(lang),
        );
        out.push_str("\n\n");
        out.push_str(&Text::new("doctor-fixes-heading").render(lang));
        out.push('\n');
        let mut last = None;
        let mut n = 0;
        for f in &self.fixes {
            if last != Some(f.check) {
                out.push_str(&format!("  {}\n", Text::new(f.check.label()).render(lang)));
                last = Some(f.check);
                n = 0;
            }
            n += 1;
            let marker = if n == 1 {
                Text::new("doctor-fix-recommended").render(lang)
            } else {
                Text::new("doctor-fix-alternative").render(lang)
            };
            out.push_str(&format!("    {n}. {} ({marker})\n", f.title.render(lang)));
            for c in &f.commands {
                out.push_str(&format!("       $ {}\n", c.display));
            }
            out.push_str(&format!(
                "       {} {}\n",
                Text::new("doctor-admin-center").render(lang),
                f.admin_path.render(lang)
            ));
            if let Some(note) = &f.note {
                out.push_str(&format!("       {}\n", note.render(lang)));
            }
        }
        out
    }

    pub fn to_json(&self, lang: Lang) -> serde_json::Value {
        json!({
            "address": self.address,
            "org": self.org,
            "can_send": self.can_send,
            "blocking": self.blocking().iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "checks": self.checks.iter().map(|c| json!({
                "check": c.check.as_str(),
                "status": c.status.as_str(),
                "detail": c.detail.render(lang),
            })).collect::<Vec<_>>(),
            "fixes": self.fixes.iter().map(|f| json!({
                "check": f.check.as_str(),
                "weakening": f.weakening,
                "title": f.title.render(lang),
                "commands": f.commands,
                "admin_path": f.admin_path.render(lang),
                "note": f.note.as_ref().map(|n| n.render(lang)),
            })).collect::<Vec<_>>(),
        })
    }
}

/// Pads to `width` terminal columns (Hangul and CJK take two).
fn pad(label: &str, width: usize) -> String {
    let wide = |c: char| matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF | 0xFF00..=0xFF60);
    let columns: usize = label.chars().map(|c| if wide(c) { 2 } else { 1 }).sum();
    format!("{label}{}", " ".repeat(width.saturating_sub(columns)))
}

/// Failed sign-ins with the same deciding check, reply and client address.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FailureGroup {
    pub check: String,
    pub reply: String,
    pub client_ip: String,
    pub count: usize,
    pub first: i64,
    pub last: i64,
}

/// The user's latest failures: those after the last successful sign-in (all recent ones when
/// there is none), grouped.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LastFailures {
    pub address: String,
    pub last_success: Option<i64>,
    /// Newest group first.
    pub groups: Vec<FailureGroup>,
}

/// How many recent attempts `explain_last` reads.
const EXPLAIN_WINDOW: u32 = 500;

pub async fn explain_last(dir: &dyn Directory, address: &Address) -> Result<LastFailures, DirectoryError> {
    let filter =
        SignInFilter { user: Some(address.as_str().to_string()), limit: Some(EXPLAIN_WINDOW), ..Default::default() };
    let entries = dir.signins(&filter).await?; // newest first
    let last_success = entries.iter().find(|e| e.success).map(|e| e.at);
    let mut groups: BTreeMap<(String, String, String), FailureGroup> = BTreeMap::new();
    for e in entries.iter().take_while(|e| !e.success) {
        let g = groups.entry((e.check.clone(), e.reply.clone(), e.client_ip.clone())).or_insert(FailureGroup {
            check: e.check.clone(),
            reply: e.reply.clone(),
            client_ip: e.client_ip.clone(),
            count: 0,
            first: e.at,
            last: e.at,
        });
        g.count += 1;
        g.first = g.first.min(e.at);
        g.last = g.last.max(e.at);
    }
    let mut groups: Vec<FailureGroup> = groups.into_values().collect();
    groups.sort_by(|a, b| b.last.cmp(&a.last).then(b.count.cmp(&a.count)));
    Ok(LastFailures { address: address.as_str().to_string(), last_success, groups })
}

impl LastFailures {
    fn reply_line(reply: &str) -> String {
        authrelay_core::ReplyId::from_name(reply).map(|r| r.reply().to_string()).unwrap_or_else(|| reply.to_string())
    }

    fn means(&self, g: &FailureGroup, org: Option<&str>, lang: Lang) -> Option<kb::Explanation> {
        let ctx = kb::Context { user: Some(self.address.clone()), org: org.map(str::to_string) };
        authrelay_core::ReplyId::from_name(&g.reply).map(|r| kb::render(kb::entry_for(r), &ctx, lang))
    }

    pub fn render_text(&self, org: Option<&str>, lang: Lang) -> String {
        let mut out = String::new();
        let heading = match self.last_success {
            Some(at) => Text::new("explain-since-success").arg("time", crate::rfc3339(at)),
            None => Text::new("explain-no-success"),
        };
        out.push_str(&heading.render(lang));
        out.push('\n');
        if self.groups.is_empty() {
            out.push_str(&format!("  {}\n", Text::new("explain-no-failures").render(lang)));
        }
        for g in &self.groups {
            out.push_str(&format!(
                "  {}\n",
                Text::new("explain-group")
                    .arg("count", g.count)
                    .arg("ip", &g.client_ip)
                    .arg("check", &g.check)
                    .arg("first", crate::rfc3339(g.first))
                    .arg("last", crate::rfc3339(g.last))
                    .render(lang)
            ));
            out.push_str(&format!("    {}\n", Self::reply_line(&g.reply)));
            if let Some(x) = self.means(g, org, lang) {
                out.push_str(&format!("    {}\n", x.means));
            }
        }
        out
    }

    pub fn to_json(&self, org: Option<&str>, lang: Lang) -> serde_json::Value {
        json!({
            "last_success": self.last_success.map(crate::rfc3339),
            "failures": self.groups.iter().map(|g| json!({
                "check": g.check,
                "reply": Self::reply_line(&g.reply),
                "reply_id": g.reply,
                "client_ip": g.client_ip,
                "count": g.count,
                "first": crate::rfc3339(g.first),
                "last": crate::rfc3339(g.last),
                "means": self.means(g, org, lang).map(|x| x.means),
            })).collect::<Vec<_>>(),
        })
    }
}
