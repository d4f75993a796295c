//! What every handler reaches: the listener's settings, the stores behind the operations
//! layer, the queue, the templates and the sign-in limiter.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use authrelay_delivery::queue_admin::QueueAdmin;
use authrelay_directory::admin::AdminStore;
use authrelay_directory::Directory;
use authrelay_ops::Ops;

use crate::limiter::SignInLimiter;

/// Settings of the admin listener.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// Serve HTTPS with this configuration (cookies then get the Secure flag).
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
    /// How long a sign-in lasts.
    pub session_ttl: Duration,
    /// Failed sign-ins allowed per address (and, times four, per client address) in
    /// `signin_window` before further attempts are refused.
    pub signin_failures: u32,
    pub signin_window: Duration,
    /// Host names accepted in the Host header besides `localhost` and IP literals.
    pub allowed_hosts: Vec<String>,
    /// Load balancers whose X-Forwarded-For / Forwarded headers name the client
    /// (`listen.trusted_proxies`); everyone else's headers are ignored.
    pub trusted_proxies: Vec<authrelay_core::Cidr>,
    /// The server's limits, for the Troubleshooter's `limits` check.
    pub doctor_limits: authrelay_troubleshoot::doctor::Limits,
    /// How devices reach the SMTP listeners, for the import's setup sheets.
    pub smtp_server: Option<authrelay_migrate::sheet::Server>,
    /// The queue manager's in-memory counts (the home page); `None` without delivery.
    pub queue: Option<Arc<dyn authrelay_core::QueueCounter>>,
    /// Renders the Prometheus text exposition for `/metrics`; `None`: no metrics here.
    pub metrics: Option<MetricsRenderer>,
    /// Problems the home page shows (e.g. certificate renewal that keeps failing).
    pub warnings: Option<Warnings>,
    /// The data directory (DKIM keys live under it); `None`: the DKIM pages show no keys.
    pub data_dir: Option<std::path::PathBuf>,
    /// The certificates the server uses (its TLS certificate, client certificates of delivery
    /// routes), read when Home is shown, for their expiry.
    pub certificates: Option<Certificates>,
    /// The `[[connectors]]` in force (after the last reload), read when the Connectors page is
    /// shown; `None`: the page says the server has none.
    pub connectors: Option<ConnectorSource>,
    /// The configuration file the server was started with, named where a setting can only be
    /// changed there (connectors); `None`: embedded defaults.
    pub config_file: Option<std::path::PathBuf>,
}

/// One `[[connectors]]` entry as the running server applies it (docs/connectors.md).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConnectorSetting {
    pub name: String,
    /// Client ranges it admits, in the file's order.
    pub clients: Vec<authrelay_core::Cidr>,
    /// Sender domains a MAIL FROM must be in (subdomains do not count).
    pub sender_domains: Vec<String>,
    pub max_recipients: usize,
    /// Recipients per sender address per rolling 24 hours.
    pub daily_recipients: u64,
    /// Recipients of all its senders together per rolling 24 hours.
    pub daily_recipients_total: u64,
    /// The `[[listeners]]` entries that name it besides the default ones (587, 465), which
    /// admit every connector.
    pub listeners: Vec<String>,
    /// Where its senders' shared daily total is counted (the recipient quota's key).
    #[serde(skip)]
    pub quota_key: String,
}

/// Reads the connectors in force when asked.
#[derive(Clone)]
pub struct ConnectorSource(pub Arc<dyn Fn() -> Vec<ConnectorSetting> + Send + Sync>);

impl std::fmt::Debug for ConnectorSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectorSource")
    }
}

/// One certificate the server uses and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateExpiry {
    /// `false`: the server's TLS certificate; `true`: a client certificate it presents.
    pub client: bool,
    /// What it names (the server's DNS names) or which file it is (a client certificate).
    pub label: String,
    /// Unix seconds.
    pub not_after: i64,
}

/// Reads the certificates' expiry when Home is shown.
#[derive(Clone)]
pub struct Certificates(pub Arc<dyn Fn() -> Vec<CertificateExpiry> + Send + Sync>);

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Certificates")
    }
}

/// The server's warnings for the home page, read when it is shown: (catalogue id of the
/// sentence, detail as the server recorded it).
#[derive(Clone)]
pub struct Warnings(pub Arc<dyn Fn() -> Vec<(&'static str, String)> + Send + Sync>);

impl std::fmt::Debug for Warnings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Warnings")
    }
}

/// The server's metrics in Prometheus' text format, rendered when scraped.
#[derive(Clone)]
pub struct MetricsRenderer(pub Arc<dyn Fn() -> String + Send + Sync>);

impl std::fmt::Debug for MetricsRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsRenderer")
    }
}

impl AdminConfig {
    pub fn new(listen: SocketAddr) -> Self {
        AdminConfig {
            listen,
            tls: None,
            session_ttl: Duration::from_secs(8 * 3600),
            signin_failures: 5,
            signin_window: Duration::from_secs(15 * 60),
            allowed_hosts: vec![],
            trusted_proxies: vec![],
            doctor_limits: authrelay_troubleshoot::doctor::Limits::default(),
            smtp_server: None,
            queue: None,
            metrics: None,
            warnings: None,
            data_dir: None,
            certificates: None,
            connectors: None,
            config_file: None,
        }
    }
}

/// What every handler reaches: the stores, the queue, the templates and the limiter.
pub struct AppState {
    pub directory: Arc<dyn Directory>,
    pub store: Arc<dyn AdminStore>,
    pub spool: Option<QueueAdmin>,
    pub config: AdminConfig,
    /// `config.allowed_hosts` as in force now: a reload of the server (SIGHUP) replaces it
    /// through [`crate::AdminHandle::set_allowed_hosts`].
    pub allowed_hosts: Arc<std::sync::RwLock<Vec<String>>>,
    pub templates: minijinja::Environment<'static>,
    pub limiter: SignInLimiter,
    /// Every change goes through here (validation, write, audit record).
    pub ops: Ops,
}

pub type SharedState = Arc<AppState>;

/// Current time in unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}
