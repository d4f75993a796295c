//! The admin center's listener, started by `serve` from the `[admin]` settings.

use std::time::Duration;

/// What the running server shows the admin center as it changes: the queue manager's counts
/// and the metrics renderer.
pub struct Live {
    pub queue: std::sync::Arc<dyn authrelay_core::QueueCounter>,
    pub metrics: Option<authrelay_admin::state::MetricsRenderer>,
}

/// Starts the admin center when configured; `None` when `[admin] listen = ""`.
pub async fn start(
    admin: &authrelay_config::admin::Admin,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    directory: crate::store::Dir,
    spool: authrelay_spool::Spool,
    live: Live,
    limits: &authrelay_config::Limits,
    smtp_server: authrelay_migrate::sheet::Server,
) -> std::io::Result<Option<authrelay_admin::AdminHandle>> {
    let Some(listen) = admin.listen else { return Ok(None) };
    let mut config = authrelay_admin::AdminConfig::new(listen);
    // The Troubleshooter's limits check uses the same values as `authrelay doctor`.
    config.doctor_limits = authrelay_troubleshoot::doctor::Limits {
        max_recipients: limits.max_recipients as u64,
        max_message_size: limits.max_message_size as u64,
        daily_recipients: limits.daily_recipients,
        max_sessions: limits.max_sessions_per_mailbox,
    };
    config.smtp_server = Some(smtp_server);
    config.queue = Some(live.queue);
    config.metrics = live.metrics;
    config.session_ttl = Duration::from_secs(admin.session_ttl_secs);
    config.signin_failures = admin.signin_failures;
    config.allowed_hosts = admin.hosts.clone();
    if admin.tls {
        config.tls = tls;
    }
    let handle = authrelay_admin::start(config, directory.clone(), directory, Some(spool)).await?;
    Ok(Some(handle))
}
