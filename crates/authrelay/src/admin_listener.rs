//! The admin center's listener, started by `serve` from the `[admin]` settings.

use std::time::Duration;

/// What the running server shows the admin center as it changes: the queue manager's counts
/// and the metrics renderer.
pub struct Live {
    pub queue: std::sync::Arc<dyn authrelay_core::QueueCounter>,
    pub metrics: Option<authrelay_admin::state::MetricsRenderer>,
    /// Where `acme/status.json` says whether certificate renewal keeps failing.
    pub data_dir: std::path::PathBuf,
    /// The server's TLS certificate (PEM), read when Home is shown for its expiry.
    pub certificate: std::path::PathBuf,
    /// The `[[connectors]]` in force (a reload replaces them).
    pub connectors: std::sync::Arc<authrelay_smtp::session::Live<authrelay_smtp::connector::Connectors>>,
    /// The configuration file the server started with, named on the Connectors page.
    pub config_file: Option<std::path::PathBuf>,
}

/// Starts the admin center when configured; `None` when `[admin] listen = ""`.
/// `effective` gives the `[admin]` settings, the limits the Troubleshooter checks against and
/// the load balancers whose forwarding headers name the client (`listen.trusted_proxies`).
pub async fn start(
    effective: &authrelay_config::Effective,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    directory: crate::store::Dir,
    queue: authrelay_delivery::queue_admin::QueueAdmin,
    live: Live,
    smtp_server: authrelay_migrate::sheet::Server,
) -> std::io::Result<Option<authrelay_admin::AdminHandle>> {
    let (admin, limits) = (&effective.admin, &effective.limits);
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
    // The home page's warnings, read when it is shown.
    config.data_dir = Some(live.data_dir.clone());
    let data_dir = live.data_dir;
    config.warnings = Some(authrelay_admin::state::Warnings(std::sync::Arc::new(move || {
        let status = crate::acme::Status::read(&data_dir);
        status.and_then(|s| s.warning()).map(|detail| ("home-warning-certificate", detail)).into_iter().collect()
    })));
    // Home's "Needs attention" lists the certificate when it expires soon; read from the file
    // each time, so a renewal or a reload shows at once.
    let certificate = live.certificate;
    config.certificates = Some(authrelay_admin::state::Certificates(std::sync::Arc::new(move || {
        crate::tls::read_facts(&certificate)
            .map(|facts| authrelay_admin::state::CertificateExpiry {
                client: false,
                label: if facts.names.is_empty() { facts.subject.clone() } else { facts.names.join(", ") },
                not_after: facts.not_after,
            })
            .into_iter()
            .collect()
    })));
    // The Connectors page: the ones in force, and the extra listeners that name each one
    // (listeners change only with a restart).
    let listeners: Vec<(String, Vec<String>)> =
        effective.listeners.iter().map(|l| (l.rules().name, l.connectors.clone())).collect();
    let connectors = live.connectors;
    config.connectors = Some(authrelay_admin::state::ConnectorSource(std::sync::Arc::new(move || {
        connectors
            .current()
            .list()
            .iter()
            .map(|c| authrelay_admin::state::ConnectorSetting {
                name: c.name.clone(),
                clients: c.clients.clone(),
                sender_domains: c.sender_domains.clone(),
                max_recipients: c.max_recipients,
                daily_recipients: c.daily_recipients,
                daily_recipients_total: c.daily_recipients_total,
                listeners: listeners
                    .iter()
                    .filter(|(_, names)| names.contains(&c.name))
                    .map(|(l, _)| l.clone())
                    .collect(),
                quota_key: c.quota_key(),
            })
            .collect()
    })));
    config.config_file = live.config_file;
    config.session_ttl = Duration::from_secs(admin.session_ttl_secs);
    config.signin_failures = admin.signin_failures;
    config.allowed_hosts = admin.hosts.clone();
    config.trusted_proxies = effective.listen.trusted_proxies.clone();
    if admin.tls {
        config.tls = tls;
    }
    let handle = authrelay_admin::start(config, directory.clone(), directory, Some(queue)).await?;
    Ok(Some(handle))
}
