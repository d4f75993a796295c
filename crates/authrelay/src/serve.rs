//! `authrelay serve`: open the data directory, start the listeners, reload on SIGHUP, stop
//! cleanly on SIGTERM/SIGINT. systemd hears each step (crate::notify).

use std::sync::Arc;
use std::time::Duration;

use authrelay_directory::Directory;
use authrelay_smtp::auth::Authenticator;
use authrelay_smtp::connector::Connectors;
use authrelay_smtp::ledger::Ledger;
use authrelay_smtp::session::{Live, Shared};
use authrelay_smtp::{ListenerKind, Server};
use authrelay_spool::{Intake, Spool};
use tokio_util::sync::CancellationToken;

use crate::output::CliError;
use authrelay_config::Effective;

/// Where the configuration came from, so a reload reads it the same way.
pub struct ConfigSource {
    pub file: Option<std::path::PathBuf>,
    pub data_dir: Option<std::path::PathBuf>,
    pub overrides: authrelay_config::Overrides,
}

pub async fn serve(config: Effective, source: ConfigSource) -> Result<(), CliError> {
    // Before anything else: a SIGHUP that systemd sends right after READY=1 (or an admin's
    // during start) must find the handler, not the default action, which ends the process.
    let signals = Signals::install();
    let directory = crate::store::open(&config, crate::store::Opener::Server).await?;
    let spool = Spool::open(&config.spool_path())
        .map_err(|e| CliError::new("err-spool").arg("path", config.spool_path().display()).arg("reason", e))?;
    // On PostgreSQL every node accepts into and delivers from the shared queue; mail this node
    // acknowledged into its own spool before (a single node joining a cluster) moves there first.
    let shared_queue = crate::store::open_queue(&config).await?;
    if let Some(queue) = &shared_queue {
        move_local_queue(&config, &spool, queue).await?;
    }
    // In a cluster this name tells whose claims and sessions are whose.
    let node = format!("{}/{}", config.hostname, std::process::id());
    let (cert, key) = crate::tls::ensure_certificate(&config).map_err(|e| CliError::new("err-tls").arg("reason", e))?;
    let current_cert =
        Arc::new(crate::tls::CurrentCert::load(&cert, &key).map_err(|e| CliError::new("err-tls").arg("reason", e))?);
    let tls = crate::tls::server_config(current_cert.clone()).map_err(|e| CliError::new("err-tls").arg("reason", e))?;

    let shutdown = CancellationToken::new();
    // The one wall clock of the SMTP side and delivery (crates/core/src/clock.rs).
    let clock: Arc<dyn authrelay_core::Clock> = Arc::new(authrelay_core::SystemClock);
    // Delivery works through the spool (local Maildirs, routes, retries) until shutdown.
    let (delivery, queued, manager) =
        start_delivery(&config, spool.clone(), shared_queue.clone(), &node, clock.clone(), shutdown.clone()).await?;
    // The admin center asks the manager for the queue's counts instead of scanning the spool.
    let counter: Arc<dyn authrelay_core::QueueCounter> = Arc::new(manager.clone());
    let metrics = crate::metrics::install(counter.clone(), &cert);
    // Certificates from an ACME CA: obtained in the background (the self-signed pair serves
    // until the first arrives), renewed and swapped in through the same CurrentCert a reload uses.
    let acme = config
        .tls
        .acme
        .clone()
        .map(|acme| crate::acme::spawn(acme, config.data_dir.clone(), current_cert.clone(), shutdown.clone()));
    // The admin center shares the database and the queue with the SMTP side.
    // The queue the admin center shows and acts on: this node's spool, or the cluster's.
    let admin_queue = match &shared_queue {
        Some(queue) => authrelay_delivery::queue_admin::QueueAdmin::Shared(queue.clone()),
        None => authrelay_delivery::queue_admin::QueueAdmin::local(spool.clone())
            .map_err(|e| CliError::new("err-spool").arg("path", config.spool_path().display()).arg("reason", e))?,
    };
    // [[connectors]] in force: the SMTP side uses them, the admin center shows them; a reload
    // replaces them for both.
    let connectors = Arc::new(Live::new(Connectors::new(config.access.connectors())));
    let admin = crate::admin_listener::start(
        &config,
        Some(tls.clone()),
        directory.clone(),
        admin_queue,
        crate::admin_listener::Live {
            queue: counter,
            metrics,
            data_dir: config.data_dir.clone(),
            certificate: cert.clone(),
            connectors: connectors.clone(),
            config_file: source.file.clone(),
        },
        // Setup sheets name the configured listeners (an ephemeral port 0 is left out).
        authrelay_migrate::sheet::Server {
            host: config.hostname.clone(),
            starttls_port: config.listen.submission.map(|a| a.port()).filter(|p| *p != 0),
            tls_port: config.listen.submissions.map(|a| a.port()).filter(|p| *p != 0),
        },
    )
    .await
    .map_err(|e| CliError::new("err-listen").arg("reason", e))?;
    let admin_address = admin.as_ref().map(|a| a.address);
    let oauth = match &config.access.oauth {
        Some(c) => Some(Arc::new(
            authrelay_oauth::Validator::new(c.clone()).map_err(|e| CliError::new("err-oauth").arg("reason", e))?,
        )),
        None => None,
    };
    // The sign-in log's retention, pruned off the AUTH path.
    let retention = authrelay_smtp::signin_volume::spawn_retention(
        directory.clone(),
        Duration::from_secs(config.limits.signin_retention_days.saturating_mul(24 * 60 * 60)),
        clock.clone(),
        shutdown.clone(),
    );
    // In a cluster, each mailbox's sessions are counted with the other nodes' (leases in the
    // shared store, renewed while they last; a dead node's lapse after the lease time).
    let leases = directory.mailbox_leases();
    let directory: Arc<dyn Directory> = directory;
    let shared = Arc::new(Shared {
        config: Live::new(config.session_config()),
        auth: Authenticator::with_protection(directory.clone(), config.protection_config())
            .with_oauth(oauth)
            .with_clock(clock.clone())
            .with_shared_sessions(leases, node, config.store.session_lease_secs, shutdown.clone()),
        ledger: Ledger::new(directory, clock),
        connectors,
        spool: match shared_queue {
            Some(queue) => Intake::Shared(queue),
            None => Intake::Local(spool),
        },
        shutdown: shutdown.clone(),
    });
    let reloadable = shared.clone();
    let mut listeners = vec![];
    if let Some(a) = config.listen.submission {
        listeners.push((ListenerKind::Submission, a));
    }
    if let Some(a) = config.listen.submissions {
        listeners.push((ListenerKind::Submissions, a));
    }
    let server = Server {
        listeners,
        max_connections: config.listen.max_connections,
        trusted_proxies: config.listen.trusted_proxies.clone(),
        shared,
        tls: tokio_rustls::TlsAcceptor::from(tls),
        extra: config.listeners.iter().map(|l| (l.address, Arc::new(l.rules()))).collect(),
        pem_files: Some((cert.clone(), key.clone())),
    };
    let handle = server.start().await.map_err(|e| CliError::new("err-listen").arg("reason", e))?;
    write_listen_file(&config, &handle, admin_address)?;
    tracing::info!(
        data_dir = %config.data_dir.display(),
        queued,
        submission = ?handle.address(ListenerKind::Submission),
        submissions = ?handle.address(ListenerKind::Submissions),
        admin = ?admin_address,
        "authrelay is ready"
    );

    crate::notify::ready();

    let mut in_force = config;
    signals
        .wait_for_stop(|| {
            crate::notify::reloading();
            let live = Reloadable {
                cert: &current_cert,
                admin: admin.as_ref(),
                acme: acme.as_ref(),
                shared: &reloadable,
                delivery: &manager,
            };
            reload(&mut in_force, &source, live);
            crate::notify::ready();
        })
        .await;
    let config = in_force;
    crate::notify::stopping();
    tracing::info!("stopping: no new connections; transactions in flight may finish");
    handle.stop(Duration::from_secs(config.limits.shutdown_grace_secs)).await;
    // The sessions are over: the report counts still waiting for their batch are written now.
    let _ = tokio::time::timeout(Duration::from_secs(5), reloadable.ledger.flush()).await;
    if let Some(admin) = admin {
        admin.stop(Duration::from_secs(5)).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), delivery).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), retention).await;
    if let Some(acme) = acme {
        let _ = tokio::time::timeout(Duration::from_secs(5), acme.task).await;
    }
    let _ = std::fs::remove_file(config.data_dir.join("listen.json"));
    tracing::info!("stopped");
    Ok(())
}

/// Moves what this node's own spool holds into the shared queue (store copy's move, run at
/// start): a node that joins a cluster strands nothing it acknowledged alone.
async fn move_local_queue(
    config: &Effective,
    spool: &Spool,
    queue: &authrelay_spool::shared::SharedQueue,
) -> Result<(), CliError> {
    let moved =
        authrelay_delivery::cluster::move_to_shared(spool, &config.data_dir, queue).await.map_err(|reason| {
            CliError::new("err-spool").arg("path", config.spool_path().display()).arg("reason", reason)
        })?;
    if moved.messages > 0 || !moved.corrupt.is_empty() {
        tracing::info!(
            messages = moved.messages,
            bytes = moved.bytes,
            sha256 = %moved.sha256,
            corrupt = moved.corrupt.len(),
            "moved this node's spool into the shared queue"
        );
    }
    Ok(())
}

/// `<data_dir>/listen.json` names the bound addresses, so scripts and tests that ask for port 0
/// learn the real ports.
fn write_listen_file(
    config: &Effective,
    handle: &authrelay_smtp::ServerHandle,
    admin: Option<std::net::SocketAddr>,
) -> Result<(), CliError> {
    let body = serde_json::json!({
        "pid": std::process::id(),
        "submission": handle.address(ListenerKind::Submission).map(|a| a.to_string()),
        "submissions": handle.address(ListenerKind::Submissions).map(|a| a.to_string()),
        // `[[listeners]]`, in the file's order.
        "listeners": handle.extra_addresses.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        "admin": admin.map(|a| a.to_string()),
    });
    let path = config.data_dir.join("listen.json");
    let tmp = config.data_dir.join("listen.json.tmp");
    std::fs::write(&tmp, body.to_string())
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| CliError::new("err-data-dir").arg("path", path.display()).arg("reason", e))
}

struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Signals {
        use tokio::signal::unix::{signal, SignalKind};
        Signals {
            term: signal(SignalKind::terminate()).expect("SIGTERM handler"),
            int: signal(SignalKind::interrupt()).expect("SIGINT handler"),
            hup: signal(SignalKind::hangup()).expect("SIGHUP handler"),
        }
    }

    /// Returns on SIGTERM or SIGINT; calls `on_reload` for every SIGHUP meanwhile.
    async fn wait_for_stop(mut self, mut on_reload: impl FnMut()) {
        loop {
            tokio::select! {
                _ = self.term.recv() => return,
                _ = self.int.recv() => return,
                _ = self.hup.recv() => on_reload(),
            }
        }
    }
}

/// What a reload applies without dropping a session: the TLS certificate (the configured pair,
/// the ACME one or the self-signed one, read anew; used by the next handshake on every
/// listener, the admin center's HTTPS included; `tls.acme` settings go to the ACME task),
/// `[limits]` and `[lockout]` (for new sessions and the next check), `[[connectors]]`,
/// `[[routes]]` (for deliveries that start after it) and `admin.hosts`.
pub const RELOADED: &str = "tls (certificate, acme), limits, lockout, connectors, routes, admin.hosts";
/// Read at start only: a reload names the ones that changed (`changed_needing_restart`).
pub const NOT_RELOADED: &str = "listen, hostname, data_dir, limits.auth_verifications*, limits.signin_retention_days, [delivery] (routes are reloaded), oauth, the admin listener, [[listeners]]";

/// What the last reload did, in `<data_dir>/reload.json` for `authrelay reload` (control.rs).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct ReloadReport {
    /// Unix milliseconds when the reload finished.
    pub at_ms: i64,
    /// The configuration's problems when it did not load (nothing was applied).
    pub refused: Vec<String>,
    pub reloaded: String,
    pub failed: Vec<String>,
    /// Sections that changed but are read only at start.
    pub restart_needed: Vec<String>,
}

impl ReloadReport {
    fn write(&self, data_dir: &std::path::Path) {
        let path = data_dir.join("reload.json");
        let tmp = data_dir.join("reload.json.tmp");
        let body = serde_json::to_vec(self).unwrap_or_default();
        if let Err(e) = std::fs::write(&tmp, body).and_then(|_| std::fs::rename(&tmp, &path)) {
            tracing::warn!(path = %path.display(), error = %e, "reload: cannot write the report for `authrelay reload`");
        }
    }
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Re-reads the configuration and applies what can be swapped safely. A file that no longer
/// loads changes nothing: the problems are logged and the settings in force stay.
/// The parts of the running server a reload replaces settings in.
struct Reloadable<'a> {
    cert: &'a crate::tls::CurrentCert,
    admin: Option<&'a authrelay_admin::AdminHandle>,
    acme: Option<&'a crate::acme::AcmeHandle>,
    shared: &'a Shared,
    delivery: &'a authrelay_delivery::QueueManager,
}

fn reload(in_force: &mut Effective, source: &ConfigSource, live: Reloadable<'_>) {
    let Reloadable { cert: current_cert, admin, acme, shared, delivery } = live;
    let fresh = match authrelay_config::load(source.file.as_deref(), source.data_dir.as_deref(), &source.overrides) {
        Ok(fresh) => fresh,
        Err(problems) => {
            for p in &problems {
                tracing::error!(key = %p.key, problem = %p.message, "reload: configuration problem");
            }
            tracing::error!(
                problems = problems.len(),
                "reload refused: the configuration does not load; the settings in force stay"
            );
            ReloadReport {
                at_ms: now_ms(),
                refused: problems.iter().map(|p| format!("{}: {}", p.key, p.message)).collect(),
                reloaded: String::new(),
                failed: vec![],
                restart_needed: vec![],
            }
            .write(&in_force.data_dir);
            return;
        }
    };
    let mut failed = vec![];
    match crate::tls::ensure_certificate(&fresh).and_then(|(cert, key)| current_cert.reload(&cert, &key).map(|_| cert))
    {
        Ok(cert) => crate::metrics::certificate_served(&cert),
        Err(e) => {
            tracing::error!(error = %e, "reload: the certificate stays as it was");
            failed.push("certificate");
        }
    }
    if let Some(admin) = admin {
        admin.set_allowed_hosts(fresh.admin.hosts.clone());
    }
    // The ACME task checks now (a renewal `authrelay cert renew` asked for, changed domains).
    if let Some(acme) = acme {
        acme.reload(fresh.tls.acme.as_ref());
    }
    // [limits], [lockout] and [[connectors]]: new sessions get them, open ones keep theirs
    // (the session settings are taken at connect); the address and lockout checks, quotas
    // and session caps use them from the next check. hostname stays (it needs a restart).
    let mut session = fresh.session_config();
    session.hostname = in_force.hostname.clone();
    shared.config.replace(session);
    shared.auth.set_protection(fresh.protection_config());
    shared.connectors.replace(authrelay_smtp::connector::Connectors::new(fresh.access.connectors()));
    // [[routes]]: deliveries that start after this use them; one under way finishes on its own.
    let routes_applied = match delivery.set_routes(fresh.delivery.routes.clone()) {
        Ok(()) => true,
        Err(e) => {
            tracing::error!(error = %e, "reload: the routes stay as they were");
            failed.push("routes");
            false
        }
    };
    // Settings read only at start: name the ones that changed, so the admin knows a restart is
    // due instead of wondering why an edit had no effect.
    let mut restart_needed = changed_sections(in_force, &fresh);
    let (old, new) = (&in_force.limits, &fresh.limits);
    for (key, changed) in [
        ("limits.auth_verifications", old.auth_verifications != new.auth_verifications),
        (
            "limits.auth_verifications_per_address",
            old.auth_verifications_per_address != new.auth_verifications_per_address,
        ),
        ("limits.auth_verification_wait_ms", old.auth_verification_wait_ms != new.auth_verification_wait_ms),
        ("limits.signin_retention_days", old.signin_retention_days != new.signin_retention_days),
    ] {
        if changed {
            restart_needed.push(key.to_string());
        }
    }
    let pool = (old.auth_verifications, old.auth_verifications_per_address, old.auth_verification_wait_ms);
    let retention = old.signin_retention_days;
    in_force.tls = fresh.tls.clone();
    in_force.admin.hosts = fresh.admin.hosts.clone();
    in_force.limits = fresh.limits.clone();
    (
        in_force.limits.auth_verifications,
        in_force.limits.auth_verifications_per_address,
        in_force.limits.auth_verification_wait_ms,
    ) = pool;
    in_force.limits.signin_retention_days = retention;
    in_force.lockout = fresh.lockout.clone();
    in_force.access.connectors = fresh.access.connectors.clone();
    if routes_applied {
        in_force.delivery.routes = fresh.delivery.routes.clone();
    }
    tracing::info!(
        reloaded = RELOADED,
        failed = ?failed,
        not_reloaded = NOT_RELOADED,
        changed_needing_restart = ?restart_needed,
        "configuration reloaded; open sessions continue"
    );
    ReloadReport {
        at_ms: now_ms(),
        refused: vec![],
        reloaded: RELOADED.to_string(),
        failed: failed.iter().map(|s| s.to_string()).collect(),
        restart_needed,
    }
    .write(&in_force.data_dir);
}

/// The top-level sections (and `admin` keys) that differ between two configurations, leaving
/// out what a reload applies.
fn changed_sections(old: &Effective, new: &Effective) -> Vec<String> {
    let as_map = |c: &Effective| -> serde_json::Map<String, serde_json::Value> {
        let mut v = serde_json::to_value(c).unwrap_or_default();
        if let Some(map) = v.as_object_mut() {
            for reloaded in ["tls", "limits", "lockout"] {
                map.remove(reloaded);
            }
            if let Some(admin) = map.get_mut("admin").and_then(|a| a.as_object_mut()) {
                admin.remove("hosts");
            }
            if let Some(access) = map.get_mut("access").and_then(|a| a.as_object_mut()) {
                access.remove("connectors");
            }
            if let Some(delivery) = map.get_mut("delivery").and_then(|a| a.as_object_mut()) {
                delivery.remove("routes");
            }
        }
        v.as_object().cloned().unwrap_or_default()
    };
    let (old, new) = (as_map(old), as_map(new));
    let mut changed: Vec<String> = new.iter().filter(|(k, v)| old.get(*k) != Some(v)).map(|(k, _)| k.clone()).collect();
    changed.sort();
    changed
}

/// Starts the queue manager (crates/delivery) on its own directory connection.
async fn start_delivery(
    config: &Effective,
    spool: Spool,
    shared_queue: Option<authrelay_spool::shared::SharedQueue>,
    node: &str,
    clock: Arc<dyn authrelay_core::Clock>,
    shutdown: CancellationToken,
) -> Result<(tokio::task::JoinHandle<()>, usize, authrelay_delivery::QueueManager), CliError> {
    let directory = crate::store::open(config, crate::store::Opener::Server).await?;
    let manager = match shared_queue {
        Some(queue) => authrelay_delivery::QueueManager::shared(
            queue,
            node.to_string(),
            Duration::from_secs(config.store.queue_lease_secs.unsigned_abs()),
            directory,
            config.delivery.clone(),
            clock,
        ),
        None => authrelay_delivery::QueueManager::new(spool, directory, config.delivery.clone(), clock),
    }
    .map_err(|reason| CliError::new("err-delivery").arg("reason", reason))?;
    // The manager's startup scan is the one read of the whole queue.
    let queued = manager.queued();
    Ok((tokio::spawn(manager.clone().run(shutdown)), queued, manager))
}
