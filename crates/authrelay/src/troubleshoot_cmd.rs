//! `authrelay doctor` and `authrelay probe`: thin wiring of crates/troubleshoot to the CLI.
//! Both exit 0 only when all is well (the mailbox can send; everything the probe tried worked).

use std::io::Read;
use std::time::Duration;

use authrelay_core::Address;
use authrelay_i18n::Lang;
use authrelay_troubleshoot::{doctor, probe};

use crate::cli::{Command, DoctorArgs, ProbeArgs};
use crate::output::CliError;
use authrelay_config::Effective;

pub async fn run(command: Command, config: &Effective, lang: Lang) -> Result<(), CliError> {
    match command {
        Command::Doctor(a) => run_doctor(a, config, lang).await,
        Command::Probe(a) => run_probe(a, lang).await,
        _ => unreachable!("only doctor and probe are routed here"),
    }
}

async fn run_doctor(a: DoctorArgs, config: &Effective, lang: Lang) -> Result<(), CliError> {
    let address = Address::parse(&a.address)
        .map_err(|e| CliError::new("err-bad-address").arg("address", &a.address).arg("reason", e).usage())?;
    if config.store.url.is_none() && !config.db_path().exists() {
        return Err(CliError::new("err-data-dir")
            .arg("path", config.data_dir.display())
            .arg("reason", "no authrelay database here")
            .usage());
    }
    let dir = crate::store::open(config, crate::store::Opener::Command).await?;
    let limits = doctor::Limits {
        max_recipients: config.limits.max_recipients as u64,
        max_message_size: config.limits.max_message_size as u64,
        daily_recipients: config.limits.daily_recipients,
        max_sessions: config.limits.max_sessions_per_mailbox,
    };
    let report = doctor::diagnose(&*dir, &address, limits).await?;
    let last = if a.explain_last { Some(doctor::explain_last(&*dir, &address).await?) } else { None };
    if a.json {
        let mut value = report.to_json(lang);
        if let Some(last) = &last {
            value["explain_last"] = last.to_json(report.org.as_deref(), lang);
        }
        println!("{}", serde_json::to_string_pretty(&value).unwrap_or_default());
    } else {
        print!("{}", report.render_text(lang));
        if let Some(last) = &last {
            println!();
            print!("{}", last.render_text(report.org.as_deref(), lang));
        }
    }
    if report.can_send {
        Ok(())
    } else {
        if !a.json {
            // The closing message (standard error) gets a line of its own after the report.
            println!();
        }
        Err(CliError::new("doctor-cannot-send").arg("user", &report.address))
    }
}

async fn run_probe(a: ProbeArgs, lang: Lang) -> Result<(), CliError> {
    let valid_server = a
        .server
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0));
    if !valid_server {
        return Err(CliError::new("err-probe-server").arg("server", &a.server).usage());
    }
    if a.send && (a.from.is_none() || a.to.is_none()) {
        return Err(CliError::new("err-probe-send-needs-addresses").usage());
    }
    let password = if a.password_stdin {
        let mut input = String::new();
        std::io::stdin()
            .take(4096)
            .read_to_string(&mut input)
            .map_err(|_| CliError::new("err-password-stdin").usage())?;
        let p = input.lines().next().unwrap_or("").to_string();
        if p.is_empty() {
            return Err(CliError::new("err-password-stdin").usage());
        }
        Some(p)
    } else {
        None
    };
    let mode = if a.tls { probe::TlsMode::Implicit } else { probe::TlsMode::StartTls };
    let mut opts = probe::Options::new(&a.server, mode);
    opts.user = a.user;
    opts.password = password;
    opts.from = a.from;
    opts.to = a.to;
    opts.send = a.send;
    opts.ca_file = a.ca_file;
    opts.timeout = Duration::from_secs(a.timeout.clamp(1, 600));
    let report = probe::run(&opts, lang).await;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        print!("{}", report.render_text(lang));
    }
    if report.ok {
        Ok(())
    } else {
        Err(CliError::new("probe-failed").arg("server", &a.server))
    }
}
