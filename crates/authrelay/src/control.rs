//! Commands that talk to the running server: `authrelay reload` and `authrelay cert renew`.
//! The server is found through `<data_dir>/listen.json` (its pid, written once it listens) and
//! told by SIGHUP, the signal systemd's `ExecReload` sends too; it answers in
//! `<data_dir>/reload.json` (serve.rs) and, for ACME, `<data_dir>/acme/status.json` (acme.rs).

use std::path::Path;
use std::time::{Duration, Instant};

use authrelay_config::Effective;
use authrelay_i18n::{Arg, Lang};

use crate::output::{say, when, CliError};
use crate::serve::ReloadReport;

/// The pid of the server that owns this data directory, checked to be alive and authrelay.
fn running_server(data_dir: &Path) -> Result<i32, CliError> {
    let no_server =
        |reason: String| CliError::new("err-no-server").arg("dir", data_dir.display()).arg("reason", reason);
    let path = data_dir.join("listen.json");
    let text = std::fs::read_to_string(&path).map_err(|e| no_server(format!("{}: {e}", path.display())))?;
    let pid = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["pid"].as_i64())
        .and_then(|p| i32::try_from(p).ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| no_server(format!("{} names no pid", path.display())))?;
    // A pid left by a server that crashed may belong to another process by now.
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    if comm.trim() != "authrelay" {
        return Err(no_server(format!("pid {pid} from {} is not running authrelay (a stale file)", path.display())));
    }
    Ok(pid)
}

fn sighup(pid: i32) -> Result<(), CliError> {
    if unsafe { libc::kill(pid, libc::SIGHUP) } != 0 {
        return Err(CliError::new("err-signal").arg("pid", pid).arg("reason", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// `authrelay reload`: SIGHUP, then the server's report.
pub async fn reload(effective: &Effective, wait: u64, lang: Lang) -> Result<(), CliError> {
    let pid = running_server(&effective.data_dir)?;
    let sent = now_ms();
    sighup(pid)?;
    say(lang, "reload-sent", &[("pid", Arg::from(pid as i64))]);
    if wait == 0 {
        return Ok(());
    }
    let path = effective.data_dir.join("reload.json");
    let deadline = Instant::now() + Duration::from_secs(wait);
    while Instant::now() < deadline {
        let report: Option<ReloadReport> = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .filter(|r: &ReloadReport| r.at_ms >= sent);
        if let Some(r) = report {
            if !r.refused.is_empty() {
                let problems = r.refused.join("; ");
                return Err(CliError::new("reload-refused").arg("problems", problems));
            }
            say(lang, "reload-done", &[("reloaded", Arg::from(r.reloaded.as_str()))]);
            if !r.restart_needed.is_empty() {
                say(lang, "reload-restart-needed", &[("sections", Arg::from(r.restart_needed.join(", ").as_str()))]);
            }
            if !r.failed.is_empty() {
                return Err(CliError::new("reload-failed-parts").arg("parts", r.failed.join(", ")));
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(CliError::new("reload-no-answer").arg("secs", wait))
}

/// `authrelay cert renew`: leave the request for the ACME task, wake it by SIGHUP, and wait
/// for `status.json` to record an attempt that started after the request.
pub async fn cert_renew(effective: &Effective, wait: u64, lang: Lang) -> Result<(), CliError> {
    let Some(acme) = &effective.tls.acme else { return Err(CliError::new("err-acme-off").usage()) };
    let pid = running_server(&effective.data_dir)?;
    let paths = crate::acme::paths(&effective.data_dir);
    let asked = time::OffsetDateTime::now_utc().unix_timestamp();
    crate::tls::create_private_dir(&paths.dir).map_err(|e| CliError::new("err-tls").arg("reason", e))?;
    std::fs::write(&paths.renew_requested, asked.to_string())
        .map_err(|e| CliError::new("err-data-dir").arg("path", paths.renew_requested.display()).arg("reason", e))?;
    sighup(pid)?;
    say(
        lang,
        "cert-renew-requested",
        &[
            ("pid", Arg::from(pid as i64)),
            ("directory", Arg::from(acme.directory.as_str())),
            ("secs", Arg::from(wait as i64)),
        ],
    );
    if wait == 0 {
        return Ok(());
    }
    let deadline = Instant::now() + Duration::from_secs(wait);
    while Instant::now() < deadline {
        let status = crate::acme::Status::read(&effective.data_dir);
        // The attempt is over once the request file is gone and the status is newer than it.
        if let Some(s) =
            status.filter(|s| s.last_attempt.is_some_and(|a| a >= asked) && !paths.renew_requested.exists())
        {
            if s.last_success.is_some_and(|t| t >= asked) {
                say(lang, "cert-renew-done", &[("until", Arg::from(when(lang, s.not_after).as_str()))]);
                return Ok(());
            }
            if s.last_error.is_some() && s.consecutive_failures > 0 {
                return Err(CliError::new("cert-renew-failed").arg("error", s.last_error.unwrap_or_default()));
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(CliError::new("cert-renew-pending").arg("secs", wait))
}
