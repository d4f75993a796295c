//! Moving a Microsoft 365 tenant's SMTP AUTH devices to authrelay in one sitting (issue 14).
//!
//! The admin exports three things from Microsoft 365 — the SMTP AUTH clients report, the
//! per-mailbox `SmtpClientAuthenticationDisabled` switch and the organisation's — and this crate
//! turns them into a [`plan::Plan`] (organisations and domains to create, mailboxes with their
//! Authenticated SMTP state mirrored in all three states, one device credential per sender,
//! which senders need a legacy TLS listener or sent nothing), applies it idempotently, renders a
//! printable setup sheet per device ([`sheet`]) and reports readiness for the cutover
//! ([`status`]). The CLI (`authrelay import m365`, `authrelay import status`) and the admin
//! center both call it; neither holds import logic.
//!
//! Layout: `table.rs` (bytes → text → rows: BOMs, UTF-16, separators, `#TYPE` lines),
//! `report.rs` (the SMTP AUTH clients report), `settings.rs` (the mailbox and organisation
//! switches), `plan.rs` (plan and apply against the [`Directory`]), `describe.rs` (plan and checklist as text), `sheet.rs` (setup sheets),
//! `status.rs` (the cutover checklist).
//!
//! [`Directory`]: authrelay_directory::Directory

pub mod describe;
pub mod plan;
pub mod report;
pub mod settings;
pub mod sheet;
pub mod status;
pub mod table;

use std::collections::BTreeMap;

use authrelay_directory::DirectoryError;
use authrelay_i18n::{t, Arg, Lang};

pub use plan::{Applied, Options, Plan};

/// Why an import cannot go on. Each names the file, line and value at fault, and has a
/// catalogue message (`import-err-…`) naming the fix.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {file}: {reason}")]
    Read { file: String, reason: String },
    #[error("{file} is neither UTF-8 nor UTF-16 text")]
    Encoding { file: String },
    #[error("{file} has no header line")]
    Empty { file: String },
    #[error("{file} line {line}: {reason}")]
    Syntax { file: String, line: usize, reason: String },
    #[error("{file} has no column '{column}' (found: {found})")]
    MissingColumn { file: String, column: String, key: String, found: String },
    #[error("{file} has no column named '{header}' (found: {found})")]
    NoSuchColumn { file: String, header: String, found: String },
    #[error("{file} line {line}, column '{column}': '{value}' cannot be read")]
    BadValue { file: String, line: usize, column: String, value: String },
    #[error("{file} line {line}: {address} is not in the domain '{domain}' given beside it")]
    DomainMismatch { file: String, line: usize, address: String, domain: String },
    #[error("{file} line {line}: {address} is listed again with another value")]
    Conflict { file: String, line: usize, address: String },
    #[error("{file} lists no sender")]
    NoSenders { file: String },
    #[error("'{value}' is not DOMAIN=CIDR, ADDRESS=CIDR or CIDR")]
    BadSite { value: String },
    #[error("'{value}' is not KEY=HEADER with KEY one of {keys}")]
    BadColumn { value: String, keys: String },
    #[error("'{value}' is not an organisation name")]
    BadOrgName { value: String },
    #[error(transparent)]
    Directory(#[from] DirectoryError),
}

impl ImportError {
    /// The catalogue message and its arguments; `Directory` errors are rendered by the caller,
    /// which has its own words for them (CLI fixes, HTTP codes).
    pub fn message(&self) -> (&'static str, Vec<(&'static str, String)>) {
        use ImportError as E;
        let s = |v: &str| v.to_string();
        match self {
            E::Read { file, reason } => ("import-err-read", vec![("file", s(file)), ("reason", s(reason))]),
            E::Encoding { file } => ("import-err-encoding", vec![("file", s(file))]),
            E::Empty { file } => ("import-err-empty", vec![("file", s(file))]),
            E::Syntax { file, line, reason } => {
                ("import-err-syntax", vec![("file", s(file)), ("line", line.to_string()), ("reason", s(reason))])
            }
            E::MissingColumn { file, column, key, found } => (
                "import-err-missing-column",
                vec![("file", s(file)), ("column", s(column)), ("key", s(key)), ("found", s(found))],
            ),
            E::NoSuchColumn { file, header, found } => {
                ("import-err-no-such-column", vec![("file", s(file)), ("header", s(header)), ("found", s(found))])
            }
            E::BadValue { file, line, column, value } => (
                "import-err-bad-value",
                vec![("file", s(file)), ("line", line.to_string()), ("column", s(column)), ("value", s(value))],
            ),
            E::DomainMismatch { file, line, address, domain } => (
                "import-err-domain-mismatch",
                vec![("file", s(file)), ("line", line.to_string()), ("address", s(address)), ("domain", s(domain))],
            ),
            E::Conflict { file, line, address } => {
                ("import-err-conflict", vec![("file", s(file)), ("line", line.to_string()), ("address", s(address))])
            }
            E::NoSenders { file } => ("import-err-no-senders", vec![("file", s(file))]),
            E::BadSite { value } => ("import-err-bad-site", vec![("value", s(value))]),
            E::BadColumn { value, keys } => ("import-err-bad-column", vec![("value", s(value)), ("keys", s(keys))]),
            E::BadOrgName { value } => ("import-err-bad-org-name", vec![("value", s(value))]),
            E::Directory(e) => ("import-err-directory", vec![("reason", e.to_string())]),
        }
    }

    /// The message in `lang`.
    pub fn render(&self, lang: Lang) -> String {
        let (id, args) = self.message();
        let args: Vec<(&str, Arg)> = args.iter().map(|(k, v)| (*k, Arg::Str(v))).collect();
        t(lang, id, &args)
    }
}

/// The files of one import, already read.
#[derive(Debug, Clone, Default)]
pub struct Files {
    /// (name shown in messages, bytes)
    pub report: (String, Vec<u8>),
    pub mailboxes: Option<(String, Vec<u8>)>,
    pub org_settings: Option<(String, Vec<u8>)>,
}

/// What the three files say, parsed.
#[derive(Debug, Clone)]
pub struct Exports {
    pub senders: Vec<report::Sender>,
    pub mailboxes: Vec<settings::Mailbox>,
    /// `None` when no organisation file was given.
    pub org_smtp_auth_disabled: Option<settings::Disabled>,
}

/// Parses `--column KEY=HEADER` values for the report and the mailbox export.
pub fn column_overrides(values: &[String]) -> Result<BTreeMap<String, String>, ImportError> {
    let keys: Vec<&str> = report::KEYS.iter().chain(settings::MAILBOX_KEYS).copied().collect();
    let mut out = BTreeMap::new();
    for v in values {
        let bad = || ImportError::BadColumn { value: v.clone(), keys: keys.join(", ") };
        let (key, header) = v.split_once('=').ok_or_else(bad)?;
        let key = key.trim().to_ascii_lowercase();
        if !keys.contains(&key.as_str()) || header.trim().is_empty() {
            return Err(bad());
        }
        out.insert(key, header.trim().to_string());
    }
    Ok(out)
}

/// Decodes and parses the exports.
pub fn read_exports(files: &Files, columns: &BTreeMap<String, String>) -> Result<Exports, ImportError> {
    let (name, bytes) = &files.report;
    let report = table::Table::parse(name, &table::decode(name, bytes)?)?;
    let senders = report::parse(&report, columns)?;
    if senders.is_empty() {
        return Err(ImportError::NoSenders { file: name.clone() });
    }
    let mailboxes = match &files.mailboxes {
        Some((name, bytes)) => {
            settings::parse_mailboxes(&table::Table::parse(name, &table::decode(name, bytes)?)?, columns)?
        }
        None => vec![],
    };
    let org_smtp_auth_disabled = match &files.org_settings {
        Some((name, bytes)) => Some(settings::parse_org(name, &table::decode(name, bytes)?)?),
        None => None,
    };
    Ok(Exports { senders, mailboxes, org_smtp_auth_disabled })
}
