//! `authrelay import m365 | status`: wiring only; the import lives in `crates/migrate`.

use std::path::{Path, PathBuf};

use crate::store::Dir;
use authrelay_i18n::{Arg, Lang};
use authrelay_migrate::plan::{self, Options, Site};
use authrelay_migrate::sheet::{self, Server};
use authrelay_migrate::{describe, status, Files, ImportError};
use clap::{Args, Subcommand};

use crate::output::{say, CliError};
use authrelay_config::Effective;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Move a Microsoft 365 tenant's SMTP AUTH senders here: shows the plan (nothing changes)
    /// unless --apply is given.
    M365(M365Args),
    /// The cutover checklist: has each imported sender's device signed in with its device
    /// credential yet? Exit code 0 only when every one has.
    Status {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct M365Args {
    /// The SMTP AUTH clients report exported from the Exchange admin center (CSV).
    #[arg(long, value_name = "FILE.csv")]
    pub report: PathBuf,
    /// `Get-CASMailbox | Select-Object PrimarySmtpAddress,SmtpClientAuthenticationDisabled | Export-Csv` output.
    #[arg(long, value_name = "FILE.csv")]
    pub mailboxes: Option<PathBuf>,
    /// `Get-TransportConfig` output: Export-Csv, Format-List text or ConvertTo-Json.
    #[arg(long, value_name = "FILE")]
    pub org_settings: Option<PathBuf>,
    /// Show the plan and change nothing (the default).
    #[arg(long, conflicts_with = "apply")]
    pub dry_run: bool,
    /// Make the changes.
    #[arg(long)]
    pub apply: bool,
    /// With --apply: write a setup sheet per device here (index.html holds them all).
    #[arg(long, value_name = "DIR")]
    pub sheets: Option<PathBuf>,
    /// Name of the organisation to create when none accepts the domains yet.
    #[arg(long, value_name = "NAME")]
    pub org: Option<String>,
    /// Limit device credentials to a site's addresses: DOMAIN=CIDR, ADDRESS=CIDR or CIDR (repeat).
    #[arg(long = "site-cidr", value_name = "DOMAIN=CIDR")]
    pub site_cidr: Vec<String>,
    /// Leave out senders that sent nothing in the report's period.
    #[arg(long)]
    pub skip_inactive: bool,
    /// Name a column the export spells differently: KEY=HEADER (repeat), e.g. sender="Absenderadresse".
    #[arg(long = "column", value_name = "KEY=HEADER")]
    pub columns: Vec<String>,
    /// The SMTP server name on the setup sheets (default: the configured hostname).
    #[arg(long, value_name = "HOST")]
    pub server_name: Option<String>,
    /// Print the plan as JSON (never secrets).
    #[arg(long)]
    pub json: bool,
}

fn import_error(e: ImportError) -> CliError {
    match e {
        ImportError::Directory(d) => d.into(),
        other => {
            let (id, args) = other.message();
            let mut err = CliError::new(id).usage();
            err.args = args;
            err
        }
    }
}

fn read(path: &Path) -> Result<(String, Vec<u8>), CliError> {
    let name = path.display().to_string();
    std::fs::read(path)
        .map(|bytes| (name.clone(), bytes))
        .map_err(|e| import_error(ImportError::Read { file: name, reason: e.to_string() }))
}

/// Where devices reach this server: the running server's bound ports (`listen.json`) when it
/// has written them, else the configuration's.
fn server(config: &Effective, name: Option<String>) -> Server {
    let live: Option<serde_json::Value> =
        std::fs::read_to_string(config.data_dir.join("listen.json")).ok().and_then(|t| serde_json::from_str(&t).ok());
    let port = |key: &str, configured: Option<std::net::SocketAddr>| {
        live.as_ref()
            .and_then(|v| v[key].as_str())
            .and_then(|a| a.parse::<std::net::SocketAddr>().ok())
            .or(configured)
            .map(|a| a.port())
            .filter(|p| *p != 0)
    };
    Server {
        host: name.unwrap_or_else(|| config.hostname.clone()),
        starttls_port: port("submission", config.listen.submission),
        tls_port: port("submissions", config.listen.submissions),
    }
}

/// Writes the sheets: one file per device and `index.html` with all, readable by the owner
/// only (each holds a secret).
fn write_sheets(dir: &Path, lang: Lang, server: &Server, issued: &[plan::Issued]) -> Result<(), CliError> {
    use std::io::Write;
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let fail = |e: std::io::Error| CliError::new("err-import-sheets-dir").arg("dir", dir.display()).arg("reason", e);
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(fail)?;
    let mut files: Vec<(String, String)> = issued
        .iter()
        .map(|i| (sheet::file_name(&i.address), sheet::render(lang, server, std::slice::from_ref(i))))
        .collect();
    files.push(("index.html".into(), sheet::render(lang, server, issued)));
    for (name, html) in files {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(dir.join(name))
            .map_err(fail)?;
        f.write_all(html.as_bytes()).map_err(fail)?;
    }
    Ok(())
}

pub async fn run(c: ImportCommand, dir: &Dir, config: &Effective, lang: Lang) -> Result<(), CliError> {
    match c {
        ImportCommand::M365(a) => m365(a, dir, config, lang).await,
        ImportCommand::Status { json } => {
            let lines = status::checklist(&**dir).await.map_err(import_error)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&lines).unwrap_or_default());
            } else {
                println!("{}", describe::checklist(lang, &lines));
            }
            let pending = lines.iter().filter(|l| l.state != status::State::Done).count();
            if pending > 0 {
                return Err(CliError::new("err-import-not-done").arg("pending", pending).arg("total", lines.len()));
            }
            Ok(())
        }
    }
}

async fn m365(a: M365Args, dir: &Dir, config: &Effective, lang: Lang) -> Result<(), CliError> {
    let files = Files {
        report: read(&a.report)?,
        mailboxes: a.mailboxes.as_deref().map(read).transpose()?,
        org_settings: a.org_settings.as_deref().map(read).transpose()?,
    };
    let columns = authrelay_migrate::column_overrides(&a.columns).map_err(import_error)?;
    let sites = a.site_cidr.iter().map(|s| s.parse::<Site>()).collect::<Result<Vec<_>, _>>().map_err(import_error)?;
    let exports = authrelay_migrate::read_exports(&files, &columns).map_err(import_error)?;
    let options = Options { org_name: a.org.clone(), skip_inactive: a.skip_inactive, sites };
    let planned = plan::build(&**dir, &exports, &options).await.map_err(import_error)?;
    let issuing = planned.active().filter(|s| !s.credential_exists).count();
    if a.apply && issuing > 0 && a.sheets.is_none() {
        return Err(CliError::new("err-import-needs-sheets").arg("count", issuing).usage());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&planned).unwrap_or_default());
    } else {
        println!("{}", describe::plan(lang, &planned, a.apply));
    }
    if !a.apply {
        return Ok(());
    }
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let applied = plan::apply(&**dir, &planned, now).await;
    // Audited as every CLI change is: one record per value, the actor cli:USER@HOST.
    let (ops, actor) = crate::operations::ops(dir);
    for c in &applied.changes {
        ops.audit(&actor.name, c.action, &c.target, &c.before, &c.after).await;
    }
    // Sheets first: a credential created before a failure exists only in this process now.
    if let (Some(sheets), false) = (&a.sheets, applied.issued.is_empty()) {
        write_sheets(sheets, lang, &server(config, a.server_name.clone()), &applied.issued)?;
        let d = sheets.display().to_string();
        say(lang, "import-sheets-written", &[("count", Arg::from(applied.issued.len())), ("dir", Arg::Str(&d))]);
    }
    if let Some(e) = applied.error {
        let reason = match e {
            ImportError::Directory(d) => d.to_string(),
            other => other.render(lang),
        };
        return Err(CliError::new("err-import-stopped").arg("count", applied.changes.len()).arg("reason", reason));
    }
    if applied.changes.is_empty() {
        say(lang, "import-applied-nothing", &[]);
    } else {
        say(lang, "import-applied", &[("count", Arg::from(applied.changes.len()))]);
        say(lang, "import-next-status", &[]);
    }
    Ok(())
}
