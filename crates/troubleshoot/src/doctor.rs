//! The doctor: why can this mailbox not send, and what is the least weakening fix?
//!
//! [`diagnose`] walks the decision order of docs/behaviour.md ("The AUTH decision order") for one mailbox using
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
    effective_smtp_auth, Address, AppPasswordsPolicy, CredentialKind, DeviceCredentialsPolicy, MailboxSettings,
    MailboxSmtpAuth, MfaState, OrgSettings, OrgSmtpAuth, ReplyId, SecurityDefaults, SignIn, SmtpAuthSource,
};
use authrelay_directory::{Directory, DirectoryError, SignInFilter};
use authrelay_i18n::Lang;
use authrelay_policy::{decide, AccountFacts, AuthFacts, Check, CredentialCheck, Decision, DeviceFacts};
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
    /// Sign-ins through a legacy listener (old TLS, no TLS, bare LFs) in the last 7 days: never
    /// blocking, always shown, a risk to retire (README "Legacy devices").
    LegacyPaths,
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
            DoctorCheck::LegacyPaths => "legacy-paths",
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
            DoctorCheck::LegacyPaths => "doctor-check-legacy-paths",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckResult {
    pub check: DoctorCheck,
    pub status: Status,
    pub detail: Text,
}

/// How much a change weakens security. Plans are ranked by the changes they need, the most
/// weakening first (docs/auth-decision.md, "The doctor's plans").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Weakening {
    /// Restores the intended state (unlock, allow sign-in, create the missing account).
    None,
    /// A new secret that signs in to SMTP submission only, as this mailbox, revocable, with its
    /// own expiry and address list (a device credential), or letting the organisation issue them.
    Device,
    /// A new secret for one device that stands in for the account password wherever a password
    /// is accepted (an app password), or letting the organisation issue them.
    Scoped,
    /// Lowers one mailbox's protection (Authenticated SMTP for it, its MFA off).
    Mailbox,
    /// Lowers the protection of every mailbox of the organisation.
    Organisation,
}

/// Every change the doctor can propose. The admin center maps these, not message ids, to its
/// one-click actions; each names its own messages ([`FixKind::messages`]) and a test checks
/// they exist in every language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FixKind {
    AddOrg,
    AddUser,
    Unlock,
    AllowSignIn,
    EnableSmtpAuthMailbox,
    EnableSmtpAuthOrg,
    AllowDeviceCredentials,
    AddDeviceCredential,
    AllowAppPasswords,
    AddAppPassword,
    SecurityDefaultsOff,
    MfaOff,
    RaiseDailyLimit,
}

/// The message ids of a fix: its title, admin-center path and note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixMessages {
    pub title: &'static str,
    pub path: &'static str,
    pub note: Option<&'static str>,
}

impl FixKind {
    pub const ALL: &'static [FixKind] = &[
        FixKind::AddOrg,
        FixKind::AddUser,
        FixKind::Unlock,
        FixKind::AllowSignIn,
        FixKind::EnableSmtpAuthMailbox,
        FixKind::EnableSmtpAuthOrg,
        FixKind::AllowDeviceCredentials,
        FixKind::AddDeviceCredential,
        FixKind::AllowAppPasswords,
        FixKind::AddAppPassword,
        FixKind::SecurityDefaultsOff,
        FixKind::MfaOff,
        FixKind::RaiseDailyLimit,
    ];

    pub fn weakening(self) -> Weakening {
        match self {
            FixKind::AddOrg | FixKind::AddUser | FixKind::Unlock | FixKind::AllowSignIn => Weakening::None,
            FixKind::AllowDeviceCredentials | FixKind::AddDeviceCredential => Weakening::Device,
            FixKind::AllowAppPasswords | FixKind::AddAppPassword => Weakening::Scoped,
            FixKind::EnableSmtpAuthMailbox | FixKind::MfaOff => Weakening::Mailbox,
            FixKind::EnableSmtpAuthOrg | FixKind::SecurityDefaultsOff | FixKind::RaiseDailyLimit => {
                Weakening::Organisation
            }
        }
    }

    pub fn messages(self) -> FixMessages {
        let m = |title, path, note| FixMessages { title, path, note };
        match self {
            FixKind::AddOrg => m("fix-org-add", "path-org-add", Some("fix-org-add-note")),
            FixKind::AddUser => m("fix-user-add", "path-user-add", None),
            FixKind::Unlock => m("fix-unlock", "path-unlock", Some("fix-unlock-note")),
            FixKind::AllowSignIn => m("fix-sign-in-allow", "path-sign-in", Some("fix-sign-in-allow-note")),
            FixKind::EnableSmtpAuthMailbox => m("fix-smtp-auth-mailbox", "path-smtp-auth-mailbox", None),
            FixKind::EnableSmtpAuthOrg => m("fix-smtp-auth-org", "path-smtp-auth-org", Some("fix-smtp-auth-org-note")),
            FixKind::AllowDeviceCredentials => m("fix-device-credentials-allow", "path-device-credentials-org", None),
            FixKind::AddDeviceCredential => {
                m("fix-device-credential-add", "path-device-credential", Some("fix-device-credential-note"))
            }
            FixKind::AllowAppPasswords => {
                m("fix-app-password-allow", "path-app-password-org", Some("fix-app-password-note-existing"))
            }
            FixKind::AddAppPassword => {
                m("fix-app-password-add", "path-app-password-user", Some("fix-app-password-note-new"))
            }
            FixKind::SecurityDefaultsOff => {
                m("fix-security-defaults-off", "path-security-defaults", Some("fix-security-defaults-off-note"))
            }
            FixKind::MfaOff => m("fix-mfa-off", "path-mfa", Some("fix-mfa-off-note")),
            FixKind::RaiseDailyLimit => m("fix-daily-limit", "path-limits", Some("fix-daily-limit-note")),
        }
    }

    /// The checks this change can clear, in decision order.
    fn clears(self) -> &'static [DoctorCheck] {
        use DoctorCheck as D;
        match self {
            FixKind::AddOrg => &[D::Organisation],
            FixKind::AddUser => &[D::Account],
            FixKind::Unlock => &[D::Lockout],
            FixKind::AllowSignIn => &[D::SignIn],
            FixKind::EnableSmtpAuthMailbox | FixKind::EnableSmtpAuthOrg => &[D::AuthenticatedSmtp],
            FixKind::AllowDeviceCredentials | FixKind::AddDeviceCredential => &[D::SecurityDefaults, D::Mfa],
            FixKind::AllowAppPasswords | FixKind::AddAppPassword => &[D::Mfa],
            FixKind::SecurityDefaultsOff => &[D::SecurityDefaults],
            FixKind::MfaOff => &[D::Mfa],
            FixKind::RaiseDailyLimit => &[D::Limits],
        }
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
    pub kind: FixKind,
    /// The first blocking check this change clears.
    pub check: DoctorCheck,
    pub weakening: Weakening,
    pub title: Text,
    /// Run in order.
    pub commands: Vec<Command>,
    pub admin_path: Text,
    /// What the device must then use, or what the fix costs.
    pub note: Option<Text>,
    /// The first plan (index into [`Report::plans`]) that has this change; 0 is the recommended.
    pub plan: usize,
}

/// A smallest set of changes under which `decide` accepts the device.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    /// In the order to apply them.
    pub fixes: Vec<Fix>,
    /// The most weakening of its changes.
    pub weakening: Weakening,
    /// The credential the device then signs in with.
    pub credential: Option<CredentialKind>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub address: String,
    pub org: Option<String>,
    /// True when `decide` accepts a credential the mailbox has and no limit blocks.
    pub can_send: bool,
    /// The credential kinds `decide` accepts now (with the right secret), so the verdict names
    /// what a device must use rather than promising the password a layer refuses.
    pub accepted: Vec<CredentialKind>,
    pub checks: Vec<CheckResult>,
    /// Recommended first, then the alternatives, each weakening more (see [`Weakening`]).
    pub plans: Vec<Plan>,
    /// Every change of every plan, once, in plan order (the recommended plan's first).
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

/// What `decide` needs to know of the mailbox, and what a plan can change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    org: OrgSettings,
    mailbox: MailboxSettings,
    locked: bool,
    /// Active app passwords.
    app_passwords: usize,
    /// Device credentials not past their expiry (the policy is `decide`'s to judge).
    devices: usize,
}

impl State {
    fn apply(mut self, fix: FixKind) -> State {
        match fix {
            FixKind::AddOrg | FixKind::AddUser | FixKind::RaiseDailyLimit => {}
            FixKind::Unlock => self.locked = false,
            FixKind::AllowSignIn => self.mailbox.sign_in = SignIn::Allowed,
            FixKind::EnableSmtpAuthMailbox => self.mailbox.smtp_auth = MailboxSmtpAuth::Enabled,
            FixKind::EnableSmtpAuthOrg => self.org.smtp_auth = OrgSmtpAuth::Enabled,
            FixKind::AllowDeviceCredentials => self.org.device_credentials = DeviceCredentialsPolicy::Allowed,
            FixKind::AddDeviceCredential => self.devices += 1,
            FixKind::AllowAppPasswords => self.org.app_passwords = AppPasswordsPolicy::Allowed,
            FixKind::AddAppPassword => self.app_passwords += 1,
            FixKind::SecurityDefaultsOff => self.org.security_defaults = SecurityDefaults::Off,
            FixKind::MfaOff => self.mailbox.mfa = MfaState::Disabled,
        }
        self
    }

    /// The changes that would change a fact of this state.
    fn candidates(&self) -> Vec<FixKind> {
        let mut c = vec![];
        let mut when = |yes: bool, k| {
            if yes {
                c.push(k)
            }
        };
        when(self.locked, FixKind::Unlock);
        when(self.mailbox.sign_in == SignIn::Blocked, FixKind::AllowSignIn);
        when(self.mailbox.smtp_auth != MailboxSmtpAuth::Enabled, FixKind::EnableSmtpAuthMailbox);
        when(self.org.smtp_auth == OrgSmtpAuth::Disabled, FixKind::EnableSmtpAuthOrg);
        when(self.org.device_credentials == DeviceCredentialsPolicy::Blocked, FixKind::AllowDeviceCredentials);
        when(self.devices == 0, FixKind::AddDeviceCredential);
        when(self.org.app_passwords == AppPasswordsPolicy::Blocked, FixKind::AllowAppPasswords);
        when(self.app_passwords == 0, FixKind::AddAppPassword);
        when(self.org.security_defaults == SecurityDefaults::On, FixKind::SecurityDefaultsOff);
        when(self.mailbox.mfa != MfaState::Disabled, FixKind::MfaOff);
        c
    }

    /// The credentials the device could present: always the password, and the other kinds the
    /// mailbox has.
    fn kinds(&self) -> Vec<CredentialKind> {
        let mut k = vec![CredentialKind::Password];
        if self.app_passwords > 0 {
            k.push(CredentialKind::AppPassword);
        }
        if self.devices > 0 {
            k.push(CredentialKind::DeviceCredential);
        }
        k
    }

    /// An attempt with a correct secret of `kind`, over TLS, from an address its allow list
    /// admits (the doctor cannot know the device's address).
    fn facts(&self, kind: CredentialKind) -> AuthFacts {
        AuthFacts {
            user_locked: self.locked,
            credential: CredentialCheck::Verified(kind),
            account: Some(AccountFacts { org: self.org, mailbox: self.mailbox }),
            device: (kind == CredentialKind::DeviceCredential)
                .then_some(DeviceFacts { expired: false, address_allowed: true }),
            ..AuthFacts::new_over_tls()
        }
    }

    /// The decision for each credential kind.
    fn decisions(&self) -> Vec<(CredentialKind, Decision)> {
        self.kinds().into_iter().map(|k| (k, decide(&self.facts(k)))).collect()
    }

    /// The kind `decide` accepts, preferring the one the plan just created.
    fn accepted(&self, created: Option<CredentialKind>) -> Option<CredentialKind> {
        let ok: Vec<CredentialKind> =
            self.decisions().into_iter().filter(|(_, d)| d.accepted()).map(|(k, _)| k).collect();
        created.filter(|c| ok.contains(c)).or_else(|| ok.first().copied())
    }

    /// This state with every layer but `keep` set to let everything through, so `decide`
    /// answers for that layer alone.
    fn only(&self, keep: DoctorCheck) -> State {
        let mut s = *self;
        if keep != DoctorCheck::Lockout {
            s.locked = false;
        }
        if keep != DoctorCheck::SignIn {
            s.mailbox.sign_in = SignIn::Allowed;
        }
        if keep != DoctorCheck::AuthenticatedSmtp {
            s.mailbox.smtp_auth = MailboxSmtpAuth::Enabled;
        }
        if keep != DoctorCheck::SecurityDefaults {
            s.org.security_defaults = SecurityDefaults::Off;
        }
        if keep != DoctorCheck::Mfa {
            s.mailbox.mfa = MfaState::Disabled;
            s.org.app_passwords = AppPasswordsPolicy::Allowed;
        }
        s
    }

    /// One layer's verdict: it blocks when it refuses every credential the mailbox has that
    /// nothing else refuses; it warns when it refuses some (the account password under MFA)
    /// while another kind gets through. The reply of its refusal, if any.
    fn layer(&self, check: DoctorCheck) -> (Status, Option<ReplyId>) {
        let decisions = self.only(check).decisions();
        let here: Vec<ReplyId> =
            decisions.iter().filter(|(_, d)| layer_of(d.check()) == Some(check)).map(|(_, d)| d.reply()).collect();
        let through = decisions.iter().any(|(_, d)| d.accepted());
        let status = match (here.is_empty(), through) {
            (true, _) => Status::Pass,
            (false, true) => Status::Warns,
            (false, false) => Status::Blocks,
        };
        (status, here.first().copied())
    }
}

/// The doctor's check a step of the decision order belongs to.
fn layer_of(check: Check) -> Option<DoctorCheck> {
    Some(match check {
        Check::Lockout => DoctorCheck::Lockout,
        Check::SignIn => DoctorCheck::SignIn,
        Check::AuthenticatedSmtp => DoctorCheck::AuthenticatedSmtp,
        Check::SecurityDefaults => DoctorCheck::SecurityDefaults,
        Check::Mfa => DoctorCheck::Mfa,
        _ => return None,
    })
}

/// How a plan ranks: its changes' weakenings, most weakening first, compared in turn (one
/// change that opens a mailbox weakens more than two device-only secrets); then fewer changes;
/// then the changes themselves, for a stable order.
fn rank(plan: &[FixKind]) -> (Vec<Weakening>, usize, Vec<FixKind>) {
    let mut w: Vec<Weakening> = plan.iter().map(|f| f.weakening()).collect();
    w.sort_by(|a, b| b.cmp(a));
    (w, plan.len(), plan.to_vec())
}

/// How many alternatives the doctor shows after the recommended plan.
const ALTERNATIVES: usize = 3;

/// Every smallest set of candidate changes under which `decide` accepts a credential the
/// device can then use, best first: none of its proper subsets works.
fn plans(state: &State) -> Vec<(Vec<FixKind>, Option<CredentialKind>)> {
    let candidates = state.candidates();
    let mut working: Vec<(Vec<FixKind>, Option<CredentialKind>)> = vec![];
    // Ordered by size, so every smaller working set is known before its supersets.
    let mut subsets: Vec<u32> = (1..(1u32 << candidates.len())).collect();
    subsets.sort_by_key(|m| m.count_ones());
    let mut masks: Vec<u32> = vec![];
    for mask in subsets {
        if masks.iter().any(|m| m & mask == *m) {
            continue; // a working proper subset exists
        }
        let plan: Vec<FixKind> =
            candidates.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, k)| *k).collect();
        let after = plan.iter().fold(*state, |s, k| s.apply(*k));
        let created = if plan.contains(&FixKind::AddDeviceCredential) {
            Some(CredentialKind::DeviceCredential)
        } else if plan.contains(&FixKind::AddAppPassword) {
            Some(CredentialKind::AppPassword)
        } else {
            None
        };
        if let Some(kind) = after.accepted(created) {
            // A change the accepted credential does not need is not part of a smallest plan.
            masks.push(mask);
            working.push((plan, Some(kind)));
        }
    }
    working.sort_by_key(|(p, _)| rank(p));
    working
}

/// Runs every check for `address`. Directory outages are errors; everything else is a verdict.
pub async fn diagnose(dir: &dyn Directory, address: &Address, limits: Limits) -> Result<Report, DirectoryError> {
    let addr = address.as_str().to_string();
    let mut checks = vec![];
    let Some(user) = dir.user(&addr).await? else {
        let domain = address.domain();
        let (fix, org) = match dir.org_for_domain(domain).await? {
            None => {
                checks.push(CheckResult {
                    check: DoctorCheck::Organisation,
                    status: Status::Blocks,
                    detail: Text::new("doctor-org-missing").arg("domain", domain),
                });
                (FixKind::AddOrg, None)
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
                (FixKind::AddUser, Some(org.name))
            }
        };
        let ctx = FixContext { user: &addr, domain, org: "", state: None, daily: 0 };
        let fix = ctx.fix(fix, &checks, 0);
        let plan = Plan { fixes: vec![fix.clone()], weakening: fix.weakening, credential: None };
        return Ok(Report {
            address: addr,
            org,
            can_send: false,
            accepted: vec![],
            checks,
            plans: vec![plan],
            fixes: vec![fix],
        });
    };
    let org = dir.org(&user.org).await?.ok_or_else(|| DirectoryError::UnknownOrg(user.org.clone()))?;
    let app_passwords = dir.list_app_passwords(&addr).await?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let devices =
        dir.list_device_credentials(&addr).await?.iter().filter(|d| d.expires_at.is_none_or(|e| e > now)).count();
    let lockouts = dir.lockouts(&addr).await?;
    let locked: Vec<_> = lockouts.iter().filter(|l| l.locked_until > now).collect();
    let (o, m) = (org.settings, user.settings);
    let state = State { org: o, mailbox: m, locked: !locked.is_empty(), app_passwords: app_passwords.len(), devices };
    let usable_devices = if o.device_credentials == DeviceCredentialsPolicy::Allowed { devices } else { 0 };
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
        Text::new("doctor-account-ok").arg("user", u).time("changed", user.password_changed_at),
    ));
    // Each layer of the decision order: `decide`'s answer for every credential the mailbox
    // has, with that layer alone in force. The texts only say why.
    let (status, _) = state.layer(DoctorCheck::Lockout);
    let detail = match locked.iter().max_by_key(|l| l.locked_until) {
        Some(worst) => Text::new("doctor-lockout-locked")
            .time("until", worst.locked_until)
            .arg("location", worst.location.clone().unwrap_or_else(|| "*".to_string()))
            .num("failures", worst.failures),
        None => match lockouts.iter().map(|l| l.failures).sum::<u32>() {
            0 => Text::new("doctor-lockout-clear"),
            n => Text::new("doctor-lockout-failures").num("failures", n),
        },
    };
    let failures = lockouts.iter().any(|l| l.failures > 0);
    let status = if status == Status::Pass && failures { Status::Warns } else { status };
    checks.push(on(DoctorCheck::Lockout, status, detail));

    let (status, _) = state.layer(DoctorCheck::SignIn);
    let detail = if status == Status::Pass {
        Text::new("doctor-sign-in-ok")
    } else {
        Text::new("doctor-sign-in-blocked").arg("user", u)
    };
    checks.push(on(DoctorCheck::SignIn, status, detail));

    let (status, reply) = state.layer(DoctorCheck::AuthenticatedSmtp);
    let detail = match (reply, effective_smtp_auth(o.smtp_auth, m.smtp_auth).1) {
        (Some(ReplyId::SmtpAuthDisabledMailbox), _) => {
            Text::new("doctor-smtp-auth-off-mailbox").value("org_value", o.smtp_auth)
        }
        (Some(_), _) => Text::new("doctor-smtp-auth-off-org").arg("org", org_name),
        (None, SmtpAuthSource::Mailbox) => Text::new("doctor-smtp-auth-on-mailbox").value("org_value", o.smtp_auth),
        (None, SmtpAuthSource::Organisation) => Text::new("doctor-smtp-auth-on-org").arg("org", org_name),
    };
    checks.push(on(DoctorCheck::AuthenticatedSmtp, status, detail));

    let (status, _) = state.layer(DoctorCheck::SecurityDefaults);
    let detail = match status {
        Status::Pass => Text::new("doctor-security-defaults-off"),
        Status::Warns => Text::new("doctor-security-defaults-on-device-credentials").num("count", usable_devices),
        _ => Text::new("doctor-security-defaults-on"),
    };
    checks.push(on(DoctorCheck::SecurityDefaults, status, detail));

    let (status, _) = state.layer(DoctorCheck::Mfa);
    let allowed = o.app_passwords == AppPasswordsPolicy::Allowed;
    let count = app_passwords.len();
    let detail = match status {
        Status::Pass => Text::new("doctor-mfa-off"),
        Status::Warns if usable_devices > 0 => {
            Text::new("doctor-mfa-on-device-credentials").value("mfa", m.mfa).num("count", usable_devices)
        }
        Status::Warns => Text::new("doctor-mfa-on-app-passwords").value("mfa", m.mfa).num("count", count),
        _ => match (allowed, count) {
            (true, _) => Text::new("doctor-mfa-on-no-app-password").value("mfa", m.mfa),
            (false, 0) => Text::new("doctor-mfa-on-app-passwords-blocked").value("mfa", m.mfa).arg("org", org_name),
            (false, _) => Text::new("doctor-mfa-on-app-passwords-exist-blocked")
                .value("mfa", m.mfa)
                .arg("org", org_name)
                .num("count", count),
        },
    };
    checks.push(on(DoctorCheck::Mfa, status, detail));

    // App passwords: count and the organisation's policy.
    let app_status = if count > 0 && !allowed { Status::Warns } else { Status::Pass };
    let app_detail = match (count, allowed) {
        (0, true) => Text::new("doctor-app-passwords-none-allowed"),
        (0, false) => Text::new("doctor-app-passwords-none-blocked"),
        (n, true) => Text::new("doctor-app-passwords-allowed").num("count", n),
        (n, false) => Text::new("doctor-app-passwords-blocked").num("count", n),
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
            .num("used", used)
            .num("daily", daily)
            .num("sessions", sessions)
            .num("recipients", max_recipients)
            .num("size_mb", max_size as f64 / (1024.0 * 1024.0))
            .arg("send_as", send_as),
    ));

    // Legacy paths this mailbox's devices used in the last 7 days: warned, never blocking.
    let legacy = dir
        .signins(&SignInFilter {
            user: Some(u.to_string()),
            since: Some(now - 7 * authrelay_directory::protection::DAY_SECS),
            limit: Some(1000),
            legacy_only: true,
            ..Default::default()
        })
        .await?;
    let mut paths: Vec<String> =
        legacy.iter().filter_map(|e| e.listener.as_ref().map(|l| format!("{l} ({})", e.tls))).collect();
    paths.sort();
    paths.dedup();
    checks.push(if paths.is_empty() {
        on(DoctorCheck::LegacyPaths, Status::Pass, Text::new("doctor-legacy-none"))
    } else {
        on(
            DoctorCheck::LegacyPaths,
            Status::Warns,
            Text::new("doctor-legacy-used").num("count", legacy.len()).arg("paths", paths.join(", ")),
        )
    });

    // The plans: `decide` tries every smallest set of changes; the quota, not an AUTH fact,
    // joins every plan when it blocks.
    let auth_ok = state.accepted(None).is_some();
    let mut found = if auth_ok { vec![(vec![], None)] } else { plans(&state) };
    if limit_status == Status::Blocks {
        for (plan, _) in &mut found {
            plan.push(FixKind::RaiseDailyLimit);
        }
    }
    found.retain(|(plan, _)| !plan.is_empty());
    found.truncate(1 + ALTERNATIVES);
    let ctx = FixContext { user: u, domain: address.domain(), org: org_name, state: Some(&state), daily };
    let plans: Vec<Plan> = found
        .iter()
        .enumerate()
        .map(|(n, (kinds, credential))| {
            let fixes: Vec<Fix> = kinds.iter().map(|k| ctx.fix(*k, &checks, n)).collect();
            let weakening = fixes.iter().map(|f| f.weakening).max().unwrap_or(Weakening::None);
            Plan { fixes, weakening, credential: *credential }
        })
        .collect();
    let mut fixes: Vec<Fix> = vec![];
    for f in plans.iter().flat_map(|p| &p.fixes) {
        if !fixes.iter().any(|g| g.kind == f.kind) {
            fixes.push(f.clone());
        }
    }
    let can_send = auth_ok && limit_status != Status::Blocks;
    let accepted = state.decisions().into_iter().filter(|(_, d)| d.accepted()).map(|(k, _)| k).collect();
    Ok(Report { address: addr, org: Some(org.name.clone()), can_send, accepted, checks, plans, fixes })
}

/// What a fix's commands and texts name.
struct FixContext<'a> {
    user: &'a str,
    domain: &'a str,
    org: &'a str,
    state: Option<&'a State>,
    daily: u64,
}

impl FixContext<'_> {
    fn fix(&self, kind: FixKind, checks: &[CheckResult], plan: usize) -> Fix {
        let (u, org) = (self.user, self.org);
        let raised = (self.daily * 2).to_string();
        let argv: Vec<Vec<&str>> = match kind {
            FixKind::AddOrg => vec![vec!["org", "add", "ORG", "--domain", self.domain], vec!["user", "add", u]],
            FixKind::AddUser => vec![vec!["user", "add", u]],
            FixKind::Unlock => vec![vec!["user", "unlock", u]],
            FixKind::AllowSignIn => vec![vec!["user", "set", u, "--sign-in", "allowed"]],
            FixKind::EnableSmtpAuthMailbox => vec![vec!["user", "set", u, "--smtp-auth", "enabled"]],
            FixKind::EnableSmtpAuthOrg => vec![vec!["org", "set", org, "--smtp-auth", "enabled"]],
            FixKind::AllowDeviceCredentials => vec![vec!["org", "set", org, "--device-credentials", "allowed"]],
            FixKind::AddDeviceCredential => vec![vec!["device-credential", "add", u, "--name", "smtp-device"]],
            FixKind::AllowAppPasswords => vec![vec!["org", "set", org, "--app-passwords", "allowed"]],
            FixKind::AddAppPassword => vec![vec!["app-password", "add", u, "--name", "smtp-device"]],
            FixKind::SecurityDefaultsOff => vec![vec!["org", "set", org, "--security-defaults", "off"]],
            FixKind::MfaOff => vec![vec!["user", "set", u, "--mfa", "disabled"]],
            FixKind::RaiseDailyLimit => vec![vec!["org", "set", org, "--daily-recipients", &raised]],
        };
        let msg = kind.messages();
        let with = |id: &'static str| {
            Text::new(id)
                .arg("user", u)
                .arg("org", org)
                .arg("domain", self.domain)
                .num("limit", self.daily * 2)
                .num("count", self.state.map_or(0, |s| s.app_passwords))
        };
        // An app-password note for existing ones only when there are some.
        let note = match (kind, self.state) {
            (FixKind::AllowAppPasswords, Some(s)) if s.app_passwords == 0 => None,
            _ => msg.note.map(with),
        };
        let blocking = |c: &DoctorCheck| checks.iter().any(|r| r.check == *c && r.status == Status::Blocks);
        let check = kind.clears().iter().find(|c| blocking(c)).or(kind.clears().first()).copied();
        Fix {
            kind,
            check: check.unwrap_or(DoctorCheck::Account),
            weakening: kind.weakening(),
            title: with(msg.title),
            commands: argv.iter().map(|a| Command::new(a)).collect(),
            admin_path: with(msg.path),
            note,
            plan,
        }
    }
}

impl Report {
    /// The checks that block, in decision order.
    pub fn blocking(&self) -> Vec<DoctorCheck> {
        self.checks.iter().filter(|c| c.status == Status::Blocks).map(|c| c.check).collect()
    }

    /// The one-line verdict: who can send, and with which credentials (the account password is
    /// named refused when a layer refuses it), or which checks block.
    pub fn verdict(&self, lang: Lang) -> String {
        if !self.can_send {
            let blocking: Vec<String> = self.blocking().iter().map(|c| Text::new(c.label()).render(lang)).collect();
            return Text::new("doctor-verdict-blocked")
                .arg("user", &self.address)
                .arg("checks", blocking.join(", "))
                .render(lang);
        }
        let names: Vec<String> = self.accepted.iter().map(|k| Text::new(credential_label(*k)).render(lang)).collect();
        let id = if self.accepted.contains(&CredentialKind::Password) {
            "doctor-verdict-ok"
        } else {
            "doctor-verdict-ok-not-password"
        };
        let or = Text::new("list-or").render(lang);
        Text::new(id).arg("user", &self.address).arg("credentials", names.join(&or)).render(lang)
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
        out.push_str(&self.verdict(lang));
        if self.can_send {
            out.push('\n');
            return out;
        }
        out.push_str("\n\n");
        out.push_str(&Text::new("doctor-fixes-heading").render(lang));
        out.push('\n');
        for (n, plan) in self.plans.iter().enumerate() {
            let marker = if n == 0 { "doctor-fix-recommended" } else { "doctor-fix-alternative" };
            out.push_str(&format!(
                "  {}\n",
                Text::new("doctor-plan")
                    .num("n", n + 1)
                    .arg("marker", Text::new(marker).render(lang))
                    .arg("weakening", Text::new(plan.weakening.label()).render(lang))
                    .render(lang)
            ));
            for (i, f) in plan.fixes.iter().enumerate() {
                // A change an earlier plan already spelled out is named, not repeated.
                let first = self.fixes.iter().find(|g| g.kind == f.kind).map_or(n, |g| g.plan);
                if first < n {
                    let seen = Text::new("doctor-fix-as-in-plan").num("plan", first + 1).render(lang);
                    out.push_str(&format!("    {}. {} {}\n", i + 1, f.title.render(lang), seen));
                    continue;
                }
                out.push_str(&format!("    {}. {}\n", i + 1, f.title.render(lang)));
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
        }
        out
    }

    pub fn to_json(&self, lang: Lang) -> serde_json::Value {
        let fix = |f: &Fix| {
            json!({
                "kind": f.kind,
                "check": f.check.as_str(),
                "weakening": f.weakening,
                "plan": f.plan,
                "title": f.title.render(lang),
                "commands": f.commands,
                "admin_path": f.admin_path.render(lang),
                "note": f.note.as_ref().map(|n| n.render(lang)),
            })
        };
        json!({
            "address": self.address,
            "org": self.org,
            "can_send": self.can_send,
            "accepted": self.accepted,
            "verdict": self.verdict(lang),
            "blocking": self.blocking().iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "checks": self.checks.iter().map(|c| json!({
                "check": c.check.as_str(),
                "status": c.status.as_str(),
                "detail": c.detail.render(lang),
            })).collect::<Vec<_>>(),
            "plans": self.plans.iter().map(|p| json!({
                "weakening": p.weakening,
                "credential": p.credential,
                "fixes": p.fixes.iter().map(fix).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "fixes": self.fixes.iter().map(fix).collect::<Vec<_>>(),
        })
    }
}

/// How the verdict names a credential kind.
fn credential_label(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::Password => "doctor-credential-password",
        CredentialKind::AppPassword => "doctor-credential-app-password",
        CredentialKind::DeviceCredential => "doctor-credential-device-credential",
        CredentialKind::OAuth => "doctor-credential-oauth",
        CredentialKind::Connector => "doctor-credential-connector",
    }
}

impl Weakening {
    /// Message id of its description (shared with the admin center).
    pub fn label(self) -> &'static str {
        match self {
            Weakening::None => "ts-weakening-none",
            Weakening::Device => "ts-weakening-device",
            Weakening::Scoped => "ts-weakening-scoped",
            Weakening::Mailbox => "ts-weakening-mailbox",
            Weakening::Organisation => "ts-weakening-organisation",
        }
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
    pub check: Check,
    pub reply: authrelay_core::ReplyId,
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
    let mut groups: BTreeMap<(Check, &str, String), FailureGroup> = BTreeMap::new();
    // Failures since the last success or the last unlock (what came before is history).
    let failures = entries.iter().take_while(|e| !e.success && e.check != Check::Unlock);
    for (e, reply) in failures.filter_map(|e| Some((e, e.reply?))) {
        let g = groups.entry((e.check, reply.as_str(), e.client_ip.clone())).or_insert(FailureGroup {
            check: e.check,
            reply,
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
    fn reply_line(reply: authrelay_core::ReplyId) -> String {
        reply.reply().to_string()
    }

    fn means(&self, g: &FailureGroup, org: Option<&str>, lang: Lang) -> Option<kb::Explanation> {
        let ctx = kb::Context { user: Some(self.address.clone()), org: org.map(str::to_string) };
        Some(kb::render(kb::entry_for(g.reply), &ctx, lang))
    }

    pub fn render_text(&self, org: Option<&str>, lang: Lang) -> String {
        let mut out = String::new();
        let heading = match self.last_success {
            Some(at) => Text::new("explain-since-success").time("time", at),
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
                    .num("count", g.count)
                    .arg("ip", &g.client_ip)
                    .value("check", g.check)
                    .time("first", g.first)
                    .time("last", g.last)
                    .render(lang)
            ));
            out.push_str(&format!("    {}\n", Self::reply_line(g.reply)));
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
                "reply": Self::reply_line(g.reply),
                "reply_id": g.reply.as_str(),
                "client_ip": g.client_ip,
                "count": g.count,
                "first": crate::rfc3339(g.first),
                "last": crate::rfc3339(g.last),
                "means": self.means(g, org, lang).map(|x| x.means),
            })).collect::<Vec<_>>(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_scanner(mfa: MfaState) -> State {
        State {
            org: OrgSettings::default(),
            mailbox: MailboxSettings { mfa, ..MailboxSettings::default() },
            locked: false,
            app_passwords: 0,
            devices: 0,
        }
    }

    /// Issue 13: for the seed's scanner (organisation defaults, MFA on) the device credential —
    /// which clears security defaults and MFA at once, for SMTP only — comes first, never an
    /// app password that security defaults would still refuse.
    #[test]
    fn the_seed_scanner_under_mfa_gets_a_device_credential_first() {
        let state = seed_scanner(MfaState::Enabled);
        assert_eq!(OrgSettings::default().security_defaults, SecurityDefaults::On, "the seed's defaults");
        let found = plans(&state);
        assert_eq!(found[0].0, [FixKind::EnableSmtpAuthMailbox, FixKind::AddDeviceCredential]);
        assert_eq!(found[0].1, Some(CredentialKind::DeviceCredential));
        for (plan, _) in &found {
            // An app password appears only together with security defaults off.
            if plan.contains(&FixKind::AddAppPassword) {
                assert!(plan.contains(&FixKind::SecurityDefaultsOff), "{plan:?}");
            }
        }
        let mfa_off = found.iter().position(|(p, _)| p.contains(&FixKind::MfaOff)).unwrap();
        let app = found.iter().position(|(p, _)| p.contains(&FixKind::AddAppPassword)).unwrap();
        assert!(mfa_off > 0 && app > 0);
    }

    /// Over every combination of settings, lockout and existing credentials: every plan is
    /// accepted by `decide`, none has a working proper subset, and the first ranks no worse
    /// than any working set of candidate changes at all.
    #[test]
    fn every_plan_is_accepted_minimal_and_the_first_is_the_least_weakening() {
        let mut states = 0;
        for &security_defaults in SecurityDefaults::ALL {
            for &smtp_auth in OrgSmtpAuth::ALL {
                for &app_passwords in AppPasswordsPolicy::ALL {
                    for &device_credentials in DeviceCredentialsPolicy::ALL {
                        for &sign_in in SignIn::ALL {
                            for &mailbox_smtp in MailboxSmtpAuth::ALL {
                                for &mfa in MfaState::ALL {
                                    for (locked, apps, devices) in
                                        [(false, 0, 0), (true, 1, 0), (false, 0, 1), (false, 2, 1)]
                                    {
                                        let state = State {
                                            org: OrgSettings {
                                                security_defaults,
                                                smtp_auth,
                                                app_passwords,
                                                device_credentials,
                                            },
                                            mailbox: MailboxSettings { sign_in, smtp_auth: mailbox_smtp, mfa },
                                            locked,
                                            app_passwords: apps,
                                            devices,
                                        };
                                        check_plans(&state);
                                        states += 1;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(states, 2 * 2 * 2 * 2 * 2 * 3 * 3 * 4);
    }

    fn check_plans(state: &State) {
        let found = plans(state);
        if state.accepted(None).is_some() {
            return;
        }
        assert!(!found.is_empty(), "no way out of {state:?}");
        let works = |p: &[FixKind]| p.iter().fold(*state, |s, k| s.apply(*k)).accepted(None).is_some();
        for (plan, kind) in &found {
            let after = plan.iter().fold(*state, |s, k| s.apply(*k));
            assert_eq!(after.accepted(*kind), *kind, "{state:?} {plan:?}");
            for skip in 0..plan.len() {
                let mut smaller = plan.clone();
                smaller.remove(skip);
                assert!(smaller.is_empty() || !works(&smaller), "{plan:?} is not smallest for {state:?}");
            }
        }
        let candidates = state.candidates();
        let best = (1..(1u32 << candidates.len()))
            .map(|m| {
                candidates.iter().enumerate().filter(|(i, _)| m & (1 << i) != 0).map(|(_, k)| *k).collect::<Vec<_>>()
            })
            .filter(|p| works(p))
            .map(|p| rank(&p))
            .min()
            .unwrap();
        assert_eq!(rank(&found[0].0).0, best.0, "{state:?}: {:?}", found[0].0);
    }

    /// A fix's messages are named by its kind, not looked up by id elsewhere: a renamed or
    /// missing message fails here, in every language, before any page or CLI shows an id.
    #[test]
    fn every_fix_and_plan_message_exists_in_every_language() {
        let mut sorted = FixKind::ALL.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, FixKind::ALL, "ALL lists each kind once, in order");
        for lang in [Lang::En, Lang::Ko, Lang::Id] {
            let ids = authrelay_i18n::message_ids(lang);
            let mut wanted: Vec<&str> = vec!["doctor-plan", "doctor-fixes-heading", "doctor-fix-recommended"];
            wanted.push("doctor-fix-alternative");
            for k in FixKind::ALL {
                let m = k.messages();
                wanted.extend([m.title, m.path]);
                wanted.extend(m.note);
            }
            for w in
                [Weakening::None, Weakening::Device, Weakening::Scoped, Weakening::Mailbox, Weakening::Organisation]
            {
                wanted.push(w.label());
            }
            for id in wanted {
                assert!(ids.iter().any(|i| i == id), "{lang:?} lacks {id}");
            }
        }
    }

    /// The doctor's text ends with a line break, so the next message starts on its own line.
    #[test]
    fn the_text_ends_with_a_line_break() {
        let fix = FixContext { user: "a@contoso.com", domain: "contoso.com", org: "Contoso", state: None, daily: 0 }
            .fix(FixKind::AddUser, &[], 0);
        let report = Report {
            address: "a@contoso.com".into(),
            org: None,
            can_send: false,
            accepted: vec![],
            checks: vec![],
            plans: vec![Plan { fixes: vec![fix.clone()], weakening: Weakening::None, credential: None }],
            fixes: vec![fix],
        };
        for lang in [Lang::En, Lang::Ko, Lang::Id] {
            let text = report.render_text(lang);
            assert!(text.ends_with('\n') && !text.ends_with("\n\n\n"), "{text:?}");
            assert!(!text.contains("{ $") && !text.contains("fix-"), "{text}");
        }
    }

    /// The verdict names the credentials `decide` accepts: after a device credential under MFA
    /// it must not promise the account password (or an app password) the rows say is refused.
    #[test]
    fn the_verdict_names_only_the_credentials_that_are_accepted() {
        let mut state = seed_scanner(MfaState::Enabled);
        state.mailbox.smtp_auth = MailboxSmtpAuth::Enabled;
        state.org.security_defaults = SecurityDefaults::Off;
        state.devices = 1;
        let accepted: Vec<CredentialKind> =
            state.decisions().into_iter().filter(|(_, d)| d.accepted()).map(|(k, _)| k).collect();
        assert_eq!(accepted, vec![CredentialKind::DeviceCredential]);
        let report = Report {
            address: "scanner@contoso.com".into(),
            org: Some("Contoso".into()),
            can_send: true,
            accepted,
            checks: vec![],
            plans: vec![],
            fixes: vec![],
        };
        let en = report.verdict(Lang::En);
        assert!(en.contains("only with a device credential") && en.contains("password is refused"), "{en}");
        assert!(!en.contains("(or app password)"), "{en}");
        for lang in [Lang::Ko, Lang::Id] {
            let text = report.verdict(lang);
            assert!(!text.contains("{ $") && text.contains("scanner@contoso.com"), "{text}");
            assert_ne!(text, en);
        }
        // With the password accepted too, the verdict says both.
        let both = Report { accepted: vec![CredentialKind::Password, CredentialKind::DeviceCredential], ..report };
        let en = both.verdict(Lang::En);
        assert!(en.contains("the account password or a device credential will be accepted"), "{en}");
    }

    /// A change shared by several plans is spelled out once (in the first), then referred to.
    #[test]
    fn a_change_shared_by_two_plans_is_spelled_out_once() {
        let ctx = FixContext { user: "a@contoso.com", domain: "contoso.com", org: "Contoso", state: None, daily: 0 };
        let device = ctx.fix(FixKind::AddDeviceCredential, &[], 0);
        let (mailbox, org) =
            (ctx.fix(FixKind::EnableSmtpAuthMailbox, &[], 0), ctx.fix(FixKind::EnableSmtpAuthOrg, &[], 1));
        let report = Report {
            address: "a@contoso.com".into(),
            org: Some("Contoso".into()),
            can_send: false,
            accepted: vec![],
            checks: vec![],
            plans: vec![
                Plan { fixes: vec![mailbox.clone(), device.clone()], weakening: Weakening::Mailbox, credential: None },
                Plan { fixes: vec![org.clone(), device.clone()], weakening: Weakening::Organisation, credential: None },
            ],
            fixes: vec![mailbox, device, org],
        };
        for lang in [Lang::En, Lang::Ko, Lang::Id] {
            let text = report.render_text(lang);
            assert_eq!(text.matches("device-credential add").count(), 1, "{text}");
            assert!(!text.contains("{ $"), "{text}");
        }
        assert!(report.render_text(Lang::En).contains("(the same change as in plan 1 above)"));
    }
}
