//! Import from Microsoft 365 (issue 14) in the admin center: upload the exports, see the plan,
//! apply it, print or download the setup sheets; and the cutover checklist. The import itself is
//! `crates/migrate`, the same code `authrelay import m365` runs; every change it makes is written
//! to the audit log here, one record per value (never a secret). The page handlers are in
//! `web.rs`; this module holds what they call.
//!
//! The plan page carries the uploaded files back in the Apply form (base64), so nothing is kept
//! on the server between the two steps and Apply plans again against the directory as it is
//! then. The sheets' secrets exist only in the Apply response (`Cache-Control: no-store`).

use authrelay_i18n::{t, Lang};
use authrelay_migrate::plan::{self, Applied, Options, Plan, Site};
use authrelay_migrate::sheet::{self, Server};
use authrelay_migrate::{describe, status, Files, ImportError};
use authrelay_ops::Permission;
use axum::http::StatusCode;
use base64::Engine;
use minijinja::{context, Value};
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::http::{directory_error, ApiError};
use crate::state::SharedState;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

fn import_error(lang: Lang, e: ImportError) -> ApiError {
    match e {
        ImportError::Directory(d) => directory_error(lang, d),
        other => ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: "bad-import",
            message: other.render(lang),
            required_roles: None,
        },
    }
}

/// What the admin sent: the files and the choices.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Upload {
    pub report_name: String,
    pub report: String,
    pub mailboxes_name: String,
    pub mailboxes: String,
    pub org_file_name: String,
    pub org_file: String,
    pub org: String,
    pub sites: String,
    pub skip_inactive: Option<String>,
    pub server_name: String,
}

impl Upload {
    fn files(&self, lang: Lang) -> Result<Files, ApiError> {
        let decode = |name: &str, data: &str| -> Result<Option<(String, Vec<u8>)>, ApiError> {
            if data.is_empty() {
                return Ok(None);
            }
            let bytes = B64.decode(data.trim()).map_err(|_| {
                import_error(lang, ImportError::Read { file: name.into(), reason: "not base64".into() })
            })?;
            Ok(Some((name.to_string(), bytes)))
        };
        let report = decode(&self.report_name, &self.report)?
            .ok_or_else(|| import_error(lang, ImportError::Empty { file: t(lang, "web-import-report", &[]) }))?;
        Ok(Files {
            report,
            mailboxes: decode(&self.mailboxes_name, &self.mailboxes)?,
            org_settings: decode(&self.org_file_name, &self.org_file)?,
        })
    }

    fn options(&self, lang: Lang) -> Result<Options, ApiError> {
        let sites = self
            .sites
            .split(['\n', ','])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<Site>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| import_error(lang, e))?;
        let org = self.org.trim();
        Ok(Options {
            org_name: (!org.is_empty()).then(|| org.to_string()),
            skip_inactive: self.skip_inactive.is_some(),
            sites,
        })
    }
}

pub async fn build(state: &SharedState, lang: Lang, upload: &Upload) -> Result<Plan, ApiError> {
    let files = upload.files(lang)?;
    let exports = authrelay_migrate::read_exports(&files, &Default::default()).map_err(|e| import_error(lang, e))?;
    plan::build(&*state.directory, &exports, &upload.options(lang)?).await.map_err(|e| import_error(lang, e))
}

/// The permissions applying `plan` needs: each kind of change its own, as elsewhere.
fn needed(plan: &Plan) -> Vec<Permission> {
    let mut out = vec![];
    if plan.orgs.iter().any(|o| o.create || !o.add_domains.is_empty()) {
        out.push(Permission::ManageOrgs);
    }
    let mailbox_smtp = plan.active().any(|s| s.smtp_auth_before.is_some_and(|b| b != s.smtp_auth_after))
        || plan.active().any(|s| s.create_mailbox && s.smtp_auth_after != authrelay_core::MailboxSmtpAuth::Default);
    if mailbox_smtp || plan.orgs.iter().any(|o| o.smtp_auth_before.unwrap_or_default() != o.smtp_auth_after) {
        out.push(Permission::ManageSmtpAuth);
    }
    if plan.active().any(|s| s.create_mailbox) {
        out.push(Permission::ManageUsers);
    }
    if plan.active().any(|s| !s.credential_exists) {
        out.push(Permission::ManageAppPasswords);
    }
    out
}

#[derive(Serialize)]
struct SenderRow {
    address: String,
    messages: u64,
    tls: String,
    legacy: bool,
    skipped: bool,
    inactive: bool,
    basic: bool,
    blocked: Option<&'static str>,
    credential_exists: bool,
    notes: Vec<String>,
}

fn pct(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v.fract() == 0.0 => format!("{v:.0}%"),
        Some(v) => format!("{v:.1}%"),
    }
}

pub fn plan_view(lang: Lang, plan: &Plan) -> Value {
    let senders: Vec<SenderRow> = plan
        .senders
        .iter()
        .map(|s| SenderRow {
            address: s.address.clone(),
            messages: s.messages,
            tls: format!("{} / {} / {}", pct(s.tls10), pct(s.tls11), pct(s.tls12)),
            legacy: s.legacy_tls,
            skipped: s.skipped,
            inactive: s.inactive,
            basic: s.basic,
            blocked: s.blocked_by,
            credential_exists: s.credential_exists,
            notes: describe::sender_notes(s).into_iter().map(|(id, args)| describe::say(lang, id, &args)).collect(),
        })
        .collect();
    // The organisation lines are the CLI's, so both surfaces say the same.
    let text = describe::plan(lang, plan, false);
    let orgs: Vec<String> = text
        .lines()
        .skip_while(|l| !l.starts_with(&t(lang, "import-plan-orgs", &[])))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .map(|l| l.trim().to_string())
        .collect();
    let summary = text.lines().rev().nth(1).unwrap_or("").to_string();
    context! {
        senders, orgs, summary, changes => plan.changes, empty => plan.is_empty(),
        not_imported => (plan.not_imported > 0).then(|| describe::say(lang, "import-plan-not-imported", &[("count", plan.not_imported.to_string())]).trim().to_string()),
    }
}

/// The SMTP server name the form proposes for the sheets.
pub fn default_server_name(state: &SharedState) -> String {
    state.config.smtp_server.as_ref().map(|s| s.host.clone()).unwrap_or_default()
}

/// Reads the multipart upload of the plan form.
pub async fn read_upload(form: &mut axum::extract::Multipart) -> Result<Upload, ApiError> {
    let mut upload = Upload::default();
    let bad = |e: axum::extract::multipart::MultipartError| ApiError {
        status: StatusCode::BAD_REQUEST,
        code: "bad-upload",
        message: e.body_text(),
        required_roles: None,
    };
    while let Some(field) = form.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_string();
        let file_name = field.file_name().unwrap_or(&name).to_string();
        let data = field.bytes().await.map_err(bad)?;
        let text = || String::from_utf8_lossy(&data).trim().to_string();
        match name.as_str() {
            "report" if !data.is_empty() => (upload.report_name, upload.report) = (file_name, B64.encode(&data)),
            "mailboxes" if !data.is_empty() => {
                (upload.mailboxes_name, upload.mailboxes) = (file_name, B64.encode(&data))
            }
            "org_file" if !data.is_empty() => (upload.org_file_name, upload.org_file) = (file_name, B64.encode(&data)),
            "org" => upload.org = text(),
            "sites" => upload.sites = text(),
            "skip_inactive" => upload.skip_inactive = Some(text()),
            "server_name" => upload.server_name = text(),
            _ => {}
        }
    }
    Ok(upload)
}

/// Plans again against the directory as it is now, checks the roles the plan needs, applies
/// it and writes one audit record per change. Returns what was done and where devices connect.
pub async fn apply(state: &SharedState, c: &Caller, upload: &Upload) -> Result<(Applied, Server), ApiError> {
    let plan = build(state, c.lang, upload).await?;
    for p in needed(&plan) {
        c.require(p)?;
    }
    let applied = plan::apply(&*state.directory, &plan, crate::state::now()).await;
    let actor = c.actor();
    for change in &applied.changes {
        state.ops.audit(&actor.name, change.action, &change.target, &change.before, &change.after).await;
    }
    let configured = state.config.smtp_server.as_ref();
    let server = Server {
        host: if upload.server_name.is_empty() {
            configured.map(|s| s.host.clone()).unwrap_or_else(|| "localhost".into())
        } else {
            upload.server_name.clone()
        },
        starttls_port: configured.and_then(|s| s.starttls_port),
        tls_port: configured.and_then(|s| s.tls_port),
    };
    Ok((applied, server))
}

/// The page after Apply: the result (`import_done.html`, hidden in print) above the sheets.
pub fn applied_page(state: &SharedState, c: &Caller, applied: &Applied, server: &Server) -> Result<String, ApiError> {
    let error = applied.error.as_ref().map(|e| match e {
        ImportError::Directory(d) => d.to_string(),
        other => other.render(c.lang),
    });
    let download = (!applied.issued.is_empty()).then(|| {
        format!("data:text/html;charset=utf-8;base64,{}", B64.encode(sheet::render(c.lang, server, &applied.issued)))
    });
    let issued: Vec<Value> = applied
        .issued
        .iter()
        .map(|i| context! { address => i.address.clone(), credential => i.credential.clone(), legacy => i.legacy_tls })
        .collect();
    let banner = state
        .templates
        .get_template("import_done.html")
        .and_then(|tpl| {
            tpl.render(context! {
                lang => c.lang.tag(), csrf => c.csrf(), changes => applied.changes.len(), issued, error, download,
            })
        })
        .map_err(|e| ApiError::storage(c.lang, e))?;
    Ok(sheet::render_page(c.lang, server, &applied.issued, Some("/static/sheet.css"), Some(banner)))
}

/// `s` percent-encoded for a query string (an address may hold `+` or `&`).
fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The checklist rows and summary the status page shows.
pub async fn checklist(state: &SharedState, lang: Lang) -> Result<Value, ApiError> {
    let lines = status::checklist(&*state.directory).await.map_err(|e| import_error(lang, e))?;
    let rows: Vec<Value> = lines
        .iter()
        .map(|l| {
            context! {
                address => l.address.clone(), link => query_value(&l.address), org => l.org.clone(), state => l.state.as_str(),
                state_label => t(lang, describe::state_id(l.state), &[]), detail => describe::detail(lang, l),
                check => l.check.clone(), legacy => l.legacy_tls,
            }
        })
        .collect();
    let summary = (!lines.is_empty()).then(|| {
        let count = |st: status::State| lines.iter().filter(|l| l.state == st).count().to_string();
        describe::say(
            lang,
            "import-status-summary",
            &[
                ("done", count(status::State::Done)),
                ("total", lines.len().to_string()),
                ("failing", count(status::State::Failing)),
                ("waiting", count(status::State::NotSeen)),
            ],
        )
    });
    let none = lines.is_empty().then(|| t(lang, "import-status-none", &[]));
    Ok(context! { rows, summary, none })
}

/// The sheets' stylesheet (the pages' CSP forbids inline styles).
pub const SHEET_CSS: &str = sheet::CSS;
