//! `authrelay serve`: open the data directory, start the listeners, stop cleanly on a signal.

use std::sync::Arc;
use std::time::Duration;

use authrelay_directory::sqlite::SqliteDirectory;
use authrelay_smtp::auth::Authenticator;
use authrelay_smtp::session::Shared;
use authrelay_smtp::{ListenerKind, Server};
use authrelay_spool::Spool;
use tokio_util::sync::CancellationToken;

use crate::output::CliError;
use authrelay_config::Effective;

pub async fn serve(config: Effective) -> Result<(), CliError> {
    create_data_dir(&config)?;
    let directory = SqliteDirectory::open_for_server(&config.db_path()).await.map_err(CliError::from)?;
    let spool = Spool::open(&config.spool_path())
        .map_err(|e| CliError::new("err-spool").arg("path", config.spool_path().display()).arg("reason", e))?;
    let (cert, key) = crate::tls::ensure_certificate(&config).map_err(|e| CliError::new("err-tls").arg("reason", e))?;
    let tls = crate::tls::server_config(&cert, &key).map_err(|e| CliError::new("err-tls").arg("reason", e))?;

    let shutdown = CancellationToken::new();
    // The one wall clock of the SMTP side and delivery (crates/core/src/clock.rs).
    let clock: Arc<dyn authrelay_core::Clock> = Arc::new(authrelay_core::SystemClock);
    // Delivery works through the spool (local Maildirs, routes, retries) until shutdown.
    let (delivery, queued, counter) = start_delivery(&config, spool.clone(), clock.clone(), shutdown.clone()).await?;
    let metrics = crate::metrics::install(counter.clone(), &cert);
    // The admin center shares the database and the queue with the SMTP side.
    let admin = crate::admin_listener::start(
        &config.admin,
        Some(tls.clone()),
        Arc::new(directory.clone()),
        spool.clone(),
        crate::admin_listener::Live { queue: counter, metrics },
        &config.limits,
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
        Arc::new(directory.clone()),
        Duration::from_secs(config.limits.signin_retention_days.saturating_mul(24 * 60 * 60)),
        clock.clone(),
        shutdown.clone(),
    );
    let shared = Arc::new(Shared {
        config: config.session_config(),
        auth: Authenticator::with_protection(Arc::new(directory), config.protection_config())
            .with_oauth(oauth)
            .with_connectors(config.access.connectors())
            .with_clock(clock),
        spool,
        shutdown: shutdown.clone(),
    });
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

    wait_for_signal().await;
    tracing::info!("stopping: no new connections; transactions in flight may finish");
    handle.stop(Duration::from_secs(config.limits.shutdown_grace_secs)).await;
    if let Some(admin) = admin {
        admin.stop(Duration::from_secs(5)).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), delivery).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), retention).await;
    let _ = std::fs::remove_file(config.data_dir.join("listen.json"));
    tracing::info!("stopped");
    Ok(())
}

fn create_data_dir(config: &Effective) -> Result<(), CliError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&config.data_dir)
        .map_err(|e| CliError::new("err-data-dir").arg("path", config.data_dir.display()).arg("reason", e))
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
        "admin": admin.map(|a| a.to_string()),
    });
    let path = config.data_dir.join("listen.json");
    let tmp = config.data_dir.join("listen.json.tmp");
    std::fs::write(&tmp, body.to_string())
        .and_then(|_| std::fs::rename(&tmp, &path))
        .map_err(|e| CliError::new("err-data-dir").arg("path", path.display()).arg("reason", e))
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

/// Starts the queue manager (crates/delivery) on its own directory connection.
async fn start_delivery(
    config: &Effective,
    spool: Spool,
    clock: Arc<dyn authrelay_core::Clock>,
    shutdown: CancellationToken,
) -> Result<(tokio::task::JoinHandle<()>, usize, Arc<dyn authrelay_core::QueueCounter>), CliError> {
    let directory = SqliteDirectory::open_for_server(&config.db_path()).await.map_err(CliError::from)?;
    let manager = authrelay_delivery::QueueManager::new(spool, Arc::new(directory), config.delivery.clone(), clock)
        .map_err(|reason| CliError::new("err-delivery").arg("reason", reason))?;
    // The manager's startup scan is the one read of the whole queue.
    let queued = manager.queued();
    // The admin center asks the manager for the queue's counts instead of scanning the spool.
    let counter: Arc<dyn authrelay_core::QueueCounter> = Arc::new(manager.clone());
    Ok((tokio::spawn(manager.run(shutdown)), queued, counter))
}
