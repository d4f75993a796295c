//! Configuration: defaults, then the TOML file, then environment and flags — parsed once into
//! [`Effective`], with every problem reported together. `authrelay config check` prints it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use authrelay_directory::LockoutPolicy;
use authrelay_proto::DataLimits;
use authrelay_smtp::protection::ProtectionConfig;
use authrelay_smtp::SessionConfig;
use serde::{Deserialize, Serialize};

use crate::access;
use crate::admin;
use crate::delivery;
use crate::problem::Problem;

/// The command line's overrides of the file (`authrelay serve --submission …`).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub submission: Option<SocketAddr>,
    pub submissions: Option<SocketAddr>,
    pub hostname: Option<String>,
    pub admin: Option<SocketAddr>,
    /// `--database-url` / `AUTHRELAY_DATABASE_URL`: over `[store] url`.
    pub database_url: Option<String>,
}

pub const DEFAULT_DATA_DIR: &str = "./authrelay-data";
pub const DEFAULT_SUBMISSION: &str = "127.0.0.1:2587";
pub const DEFAULT_SUBMISSIONS: &str = "127.0.0.1:2465";

/// The file as written; every key optional, unknown keys refused (a typo must not pass silently).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    hostname: Option<String>,
    #[serde(default)]
    listen: FileListen,
    #[serde(default)]
    tls: FileTls,
    #[serde(default)]
    limits: FileLimits,
    #[serde(default)]
    lockout: FileLockout,
    #[serde(default)]
    delivery: delivery::FileDelivery,
    #[serde(default)]
    routes: Vec<delivery::FileRoute>,
    #[serde(default)]
    admin: admin::FileAdmin,
    oauth: Option<access::FileOAuth>,
    #[serde(default)]
    connectors: Vec<access::FileConnector>,
    #[serde(default)]
    store: FileStore,
    /// Listeners beyond the two defaults (legacy devices; README "Legacy devices").
    #[serde(default)]
    listeners: Vec<crate::listeners::FileListener>,
}

/// `[store]`: where the directory lives (README "Running more than one node").
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStore {
    url: Option<String>,
    max_connections: Option<u32>,
    session_lease_secs: Option<i64>,
    queue_lease_secs: Option<i64>,
}

/// `[lockout]`: smart lockout per user name (see README "Limits").
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLockout {
    threshold: Option<u32>,
    window_secs: Option<i64>,
    duration_secs: Option<i64>,
    max_duration_secs: Option<i64>,
    familiar_days: Option<i64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileListen {
    /// "" turns the listener off.
    submission: Option<String>,
    submissions: Option<String>,
    max_connections: Option<usize>,
    /// Load balancers whose connections start with a PROXY protocol header (CIDRs).
    #[serde(default)]
    trusted_proxies: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTls {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    acme: Option<crate::acme::FileAcme>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLimits {
    max_message_size: Option<usize>,
    max_recipients: Option<usize>,
    max_line_length: Option<usize>,
    max_header_size: Option<usize>,
    command_timeout_secs: Option<u64>,
    data_timeout_secs: Option<u64>,
    auth_failures_per_connection: Option<u32>,
    auth_failure_delay_ms: Option<u64>,
    max_errors: Option<u32>,
    shutdown_grace_secs: Option<u64>,
    data_deadline_secs: Option<u64>,
    max_connections_per_address: Option<usize>,
    connections_per_address_per_minute: Option<u32>,
    address_failure_budget: Option<u32>,
    address_failure_window_secs: Option<u64>,
    address_failure_delay_step_ms: Option<u64>,
    address_failure_delay_max_ms: Option<u64>,
    max_sessions_per_mailbox: Option<u64>,
    daily_recipients: Option<u64>,
    signin_retention_days: Option<u64>,
    auth_verifications: Option<usize>,
    auth_verifications_per_address: Option<usize>,
    auth_verification_wait_ms: Option<u64>,
}

/// The configuration in force, after defaults, file, environment and flags.
#[derive(Debug, Clone, Serialize)]
pub struct Effective {
    pub data_dir: PathBuf,
    pub hostname: String,
    pub listen: Listen,
    pub tls: Tls,
    pub limits: Limits,
    pub lockout: Lockout,
    pub delivery: authrelay_delivery::DeliveryConfig,
    pub admin: admin::Admin,
    /// `[oauth]` and `[[connectors]]`.
    pub access: access::Access,
    pub store: Store,
    /// `[[listeners]]`, in the file's order.
    pub listeners: Vec<crate::listeners::ListenerShown>,
}

/// Where the directory (organisations, users, credentials, logs, limits) is kept.
#[derive(Debug, Clone, Serialize)]
pub struct Store {
    /// `None`: the embedded SQLite database `<data_dir>/authrelay.db`. `Some`: a PostgreSQL URL
    /// shared by every node; shown without its password.
    #[serde(serialize_with = "redacted")]
    pub url: Option<String>,
    /// Connections this process opens to PostgreSQL at most.
    pub max_connections: u32,
    /// How long a node's place among a mailbox's sessions outlives the node (renewed every
    /// third of it while the session lasts).
    pub session_lease_secs: i64,
    /// How long a node's claim on a queued message outlives the node: after it, another node
    /// delivers the message (renewed every third of it while the delivery runs).
    pub queue_lease_secs: i64,
}

fn redacted<S: serde::Serializer>(url: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(u) => s.serialize_str(&authrelay_directory::postgres::redacted_url(u)),
        None => s.serialize_str("sqlite (embedded)"),
    }
}

/// The default of `[store] session_lease_secs`.
pub const DEFAULT_SESSION_LEASE_SECS: i64 = 30;

/// The default of `[store] queue_lease_secs`.
pub const DEFAULT_QUEUE_LEASE_SECS: i64 = 30;

/// The default of `[store] max_connections`.
pub const DEFAULT_STORE_CONNECTIONS: u32 = 16;

#[derive(Debug, Clone, Serialize)]
pub struct Lockout {
    pub threshold: u32,
    pub window_secs: i64,
    pub duration_secs: i64,
    pub max_duration_secs: i64,
    pub familiar_days: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Listen {
    pub submission: Option<SocketAddr>,
    pub submissions: Option<SocketAddr>,
    pub max_connections: usize,
    /// Connections from these addresses must start with a PROXY header naming the client
    /// (crates/smtp/src/proxy.rs); everyone else connects directly.
    pub trusted_proxies: Vec<authrelay_core::Cidr>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tls {
    /// None: a self-signed certificate under `<data_dir>/tls/` is made on first start.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// Certificates from an ACME CA, stored under `<data_dir>/acme/` (crates/authrelay/src/acme.rs).
    pub acme: Option<crate::acme::Acme>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Limits {
    pub max_message_size: usize,
    pub max_recipients: usize,
    pub max_line_length: usize,
    pub max_header_size: usize,
    pub command_timeout_secs: u64,
    pub data_timeout_secs: u64,
    pub auth_failures_per_connection: u32,
    pub auth_failure_delay_ms: u64,
    pub max_errors: u32,
    pub shutdown_grace_secs: u64,
    pub data_deadline_secs: u64,
    pub max_connections_per_address: usize,
    pub connections_per_address_per_minute: u32,
    pub address_failure_budget: u32,
    pub address_failure_window_secs: u64,
    pub address_failure_delay_step_ms: u64,
    pub address_failure_delay_max_ms: u64,
    pub max_sessions_per_mailbox: u64,
    pub daily_recipients: u64,
    /// Days a sign-in log row is kept; older ones are pruned in the background.
    pub signin_retention_days: u64,
    /// argon2id verifications running at once (each holds 19 MiB while it runs).
    pub auth_verifications: usize,
    /// AUTH attempts one client address may have waiting for or in verification.
    pub auth_verifications_per_address: usize,
    /// How long an attempt may wait for a verification before `454 4.7.0`.
    pub auth_verification_wait_ms: u64,
}

impl Effective {
    pub fn session_config(&self) -> SessionConfig {
        SessionConfig {
            hostname: self.hostname.clone(),
            data_limits: DataLimits {
                max_message: self.limits.max_message_size,
                max_line: self.limits.max_line_length,
                max_header: self.limits.max_header_size,
            },
            max_recipients: self.limits.max_recipients,
            command_timeout: Duration::from_secs(self.limits.command_timeout_secs),
            data_timeout: Duration::from_secs(self.limits.data_timeout_secs),
            data_deadline: Duration::from_secs(self.limits.data_deadline_secs),
            auth_failures_per_connection: self.limits.auth_failures_per_connection,
            auth_failure_delay: Duration::from_millis(self.limits.auth_failure_delay_ms),
            max_errors: self.limits.max_errors,
        }
    }

    pub fn protection_config(&self) -> ProtectionConfig {
        let l = &self.limits;
        let k = &self.lockout;
        ProtectionConfig {
            lockout: LockoutPolicy {
                threshold: k.threshold,
                window_secs: k.window_secs,
                base_secs: k.duration_secs,
                max_secs: k.max_duration_secs,
                familiar_secs: k.familiar_days.saturating_mul(24 * 60 * 60),
            },
            address_failure_budget: l.address_failure_budget,
            address_failure_window: Duration::from_secs(l.address_failure_window_secs),
            address_failure_delay_step: Duration::from_millis(l.address_failure_delay_step_ms),
            address_failure_delay_max: Duration::from_millis(l.address_failure_delay_max_ms),
            max_connections_per_address: l.max_connections_per_address,
            connection_rate_per_address: l.connections_per_address_per_minute,
            connection_rate_window: Duration::from_secs(60),
            max_sessions_per_mailbox: l.max_sessions_per_mailbox,
            daily_recipients: l.daily_recipients,
            verify_pool: authrelay_smtp::verify_pool::PoolConfig {
                workers: l.auth_verifications,
                per_address: l.auth_verifications_per_address,
                wait: Duration::from_millis(l.auth_verification_wait_ms),
            },
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("authrelay.db")
    }

    pub fn spool_path(&self) -> PathBuf {
        self.data_dir.join("spool")
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_default()
    }
}

/// Builds the effective configuration. `data_dir_flag` is `--data-dir` / `AUTHRELAY_DATA_DIR`.
pub fn load(file: Option<&Path>, data_dir_flag: Option<&Path>, serve: &Overrides) -> Result<Effective, Vec<Problem>> {
    let Some(path) = file else {
        return load_text(None, "", data_dir_flag, serve);
    };
    match std::fs::read_to_string(path) {
        Err(e) => Err(vec![Problem { key: path.display().to_string(), message: format!("cannot read the file: {e}") }]),
        Ok(text) => load_text(Some(&text), &path.display().to_string(), data_dir_flag, serve),
    }
}

/// [`load`] for a file's text (`origin` names it in problems); also what the config fuzz
/// target drives.
pub fn load_text(
    text: Option<&str>,
    origin: &str,
    data_dir_flag: Option<&Path>,
    serve: &Overrides,
) -> Result<Effective, Vec<Problem>> {
    let mut problems = vec![];
    let parsed: FileConfig = match text {
        None => FileConfig::default(),
        Some(text) => match toml::from_str(text) {
            Ok(c) => c,
            Err(e) => {
                return Err(vec![Problem { key: origin.to_string(), message: e.to_string().trim().replace('\n', " ") }])
            }
        },
    };

    let data_dir =
        data_dir_flag.map(Path::to_path_buf).or(parsed.data_dir).unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));

    let mut listener =
        |key: &str, flag: Option<SocketAddr>, file: Option<String>, default: &str| -> Option<SocketAddr> {
            if flag.is_some() {
                return flag;
            }
            let text = file.unwrap_or_else(|| default.to_string());
            if text.is_empty() {
                return None;
            }
            match text.parse() {
                Ok(a) => Some(a),
                Err(_) => {
                    problems.push(Problem {
                        key: format!("listen.{key}"),
                        message: format!(
                            "'{text}' is not an address:port such as 127.0.0.1:2587 (use \"\" to turn it off)"
                        ),
                    });
                    None
                }
            }
        };
    let submission = listener("submission", serve.submission, parsed.listen.submission, DEFAULT_SUBMISSION);
    let submissions = listener("submissions", serve.submissions, parsed.listen.submissions, DEFAULT_SUBMISSIONS);
    if submission.is_none() && submissions.is_none() && problems.is_empty() {
        problems.push(Problem {
            key: "listen".into(),
            message: "both listeners are off; nothing would accept mail".into(),
        });
    }

    let hostname = serve.hostname.clone().or(parsed.hostname).unwrap_or_else(default_hostname);
    if !authrelay_core::address::is_domain(&hostname) {
        problems.push(Problem { key: "hostname".into(), message: format!("'{hostname}' is not a valid host name") });
    }

    let acme = parsed.tls.acme.and_then(|a| crate::acme::build(a, &mut problems));
    if acme.is_some() && (parsed.tls.cert.is_some() || parsed.tls.key.is_some()) {
        problems.push(Problem {
            key: "tls.acme".into(),
            message:
                "set either tls.cert and tls.key (a certificate you renew) or tls.acme (one authrelay renews), not both"
                    .into(),
        });
    }
    let tls = Tls { cert: parsed.tls.cert, key: parsed.tls.key, acme };
    match (&tls.cert, &tls.key) {
        (Some(_), None) | (None, Some(_)) => problems.push(Problem {
            key: "tls".into(),
            message: "set both tls.cert and tls.key (PEM files), or neither to use the self-signed certificate".into(),
        }),
        (Some(c), Some(k)) => {
            for (name, path) in [("tls.cert", c), ("tls.key", k)] {
                if !path.is_file() {
                    problems.push(Problem { key: name.into(), message: format!("no file at {}", path.display()) });
                }
            }
        }
        (None, None) => {}
    }

    let l = parsed.limits;
    let defaults = SessionConfig::default();
    let pd = ProtectionConfig::default();
    let limits = Limits {
        max_message_size: l.max_message_size.unwrap_or(defaults.data_limits.max_message),
        max_recipients: l.max_recipients.unwrap_or(defaults.max_recipients),
        max_line_length: l.max_line_length.unwrap_or(defaults.data_limits.max_line),
        max_header_size: l.max_header_size.unwrap_or(defaults.data_limits.max_header),
        command_timeout_secs: l.command_timeout_secs.unwrap_or(defaults.command_timeout.as_secs()),
        data_timeout_secs: l.data_timeout_secs.unwrap_or(defaults.data_timeout.as_secs()),
        auth_failures_per_connection: l.auth_failures_per_connection.unwrap_or(defaults.auth_failures_per_connection),
        auth_failure_delay_ms: l.auth_failure_delay_ms.unwrap_or(defaults.auth_failure_delay.as_millis() as u64),
        max_errors: l.max_errors.unwrap_or(defaults.max_errors),
        shutdown_grace_secs: l.shutdown_grace_secs.unwrap_or(30),
        data_deadline_secs: l.data_deadline_secs.unwrap_or(defaults.data_deadline.as_secs()),
        max_connections_per_address: l.max_connections_per_address.unwrap_or(pd.max_connections_per_address),
        connections_per_address_per_minute: l
            .connections_per_address_per_minute
            .unwrap_or(pd.connection_rate_per_address),
        address_failure_budget: l.address_failure_budget.unwrap_or(pd.address_failure_budget),
        address_failure_window_secs: l.address_failure_window_secs.unwrap_or(pd.address_failure_window.as_secs()),
        address_failure_delay_step_ms: l
            .address_failure_delay_step_ms
            .unwrap_or(pd.address_failure_delay_step.as_millis() as u64),
        address_failure_delay_max_ms: l
            .address_failure_delay_max_ms
            .unwrap_or(pd.address_failure_delay_max.as_millis() as u64),
        max_sessions_per_mailbox: l.max_sessions_per_mailbox.unwrap_or(pd.max_sessions_per_mailbox),
        daily_recipients: l.daily_recipients.unwrap_or(pd.daily_recipients),
        signin_retention_days: l.signin_retention_days.unwrap_or(authrelay_smtp::signin_volume::DEFAULT_RETENTION_DAYS),
        auth_verifications: l.auth_verifications.unwrap_or(pd.verify_pool.workers),
        auth_verifications_per_address: l.auth_verifications_per_address.unwrap_or(pd.verify_pool.per_address),
        auth_verification_wait_ms: l.auth_verification_wait_ms.unwrap_or(pd.verify_pool.wait.as_millis() as u64),
    };
    let k = parsed.lockout;
    let lockout = Lockout {
        threshold: k.threshold.unwrap_or(pd.lockout.threshold),
        window_secs: k.window_secs.unwrap_or(pd.lockout.window_secs),
        duration_secs: k.duration_secs.unwrap_or(pd.lockout.base_secs),
        max_duration_secs: k.max_duration_secs.unwrap_or(pd.lockout.max_secs),
        familiar_days: k.familiar_days.unwrap_or(pd.lockout.familiar_secs / (24 * 60 * 60)),
    };
    for (key, value) in [
        ("lockout.threshold", i64::from(lockout.threshold)),
        ("lockout.window_secs", lockout.window_secs),
        ("lockout.duration_secs", lockout.duration_secs),
        ("lockout.max_duration_secs", lockout.max_duration_secs),
    ] {
        if value <= 0 {
            problems.push(Problem { key: key.into(), message: "must be greater than 0".into() });
        }
    }
    if lockout.max_duration_secs < lockout.duration_secs {
        problems.push(Problem {
            key: "lockout.max_duration_secs".into(),
            message: "must be at least lockout.duration_secs".into(),
        });
    }
    if !(0..=3650).contains(&lockout.familiar_days) {
        problems.push(Problem { key: "lockout.familiar_days".into(), message: "must be between 0 and 3650".into() });
    }
    for (key, value) in [
        ("limits.max_message_size", limits.max_message_size as u64),
        ("limits.max_recipients", limits.max_recipients as u64),
        ("limits.max_line_length", limits.max_line_length as u64),
        ("limits.max_header_size", limits.max_header_size as u64),
        ("limits.command_timeout_secs", limits.command_timeout_secs),
        ("limits.data_timeout_secs", limits.data_timeout_secs),
        ("limits.auth_failures_per_connection", limits.auth_failures_per_connection as u64),
        ("limits.max_errors", limits.max_errors as u64),
        ("limits.data_deadline_secs", limits.data_deadline_secs),
        ("limits.max_connections_per_address", limits.max_connections_per_address as u64),
        ("limits.connections_per_address_per_minute", limits.connections_per_address_per_minute as u64),
        ("limits.address_failure_budget", limits.address_failure_budget as u64),
        ("limits.address_failure_window_secs", limits.address_failure_window_secs),
        ("limits.max_sessions_per_mailbox", limits.max_sessions_per_mailbox),
        ("limits.daily_recipients", limits.daily_recipients),
        ("limits.signin_retention_days", limits.signin_retention_days),
        ("limits.auth_verifications", limits.auth_verifications as u64),
        ("limits.auth_verifications_per_address", limits.auth_verifications_per_address as u64),
        ("limits.auth_verification_wait_ms", limits.auth_verification_wait_ms),
    ] {
        if value == 0 {
            problems.push(Problem { key: key.into(), message: "must be greater than 0".into() });
        }
    }
    if limits.max_line_length < 998 {
        problems.push(Problem {
            key: "limits.max_line_length".into(),
            message: "must be at least 998 (RFC 5322 2.1.1 allows lines of 998 characters)".into(),
        });
    }
    if limits.auth_verifications > 256 {
        problems.push(Problem {
            key: "limits.auth_verifications".into(),
            message: "must be at most 256 (each running verification holds 19 MiB)".into(),
        });
    }
    if limits.signin_retention_days > 36_500 {
        problems.push(Problem {
            key: "limits.signin_retention_days".into(),
            message: "must be at most 36500 (100 years)".into(),
        });
    }
    let max_connections = parsed.listen.max_connections.unwrap_or(1000);
    if max_connections == 0 {
        problems.push(Problem { key: "listen.max_connections".into(), message: "must be greater than 0".into() });
    }
    let mut trusted_proxies = vec![];
    for text in &parsed.listen.trusted_proxies {
        match text.parse::<authrelay_core::Cidr>() {
            // Trusting everyone would let any client name any address: lockout, allow lists
            // and connectors would mean nothing.
            Ok(cidr) if cidr.prefix() == 0 => problems.push(Problem {
                key: "listen.trusted_proxies".into(),
                message: format!("'{text}' trusts every address; list the load balancers' addresses"),
            }),
            Ok(cidr) => trusted_proxies.push(cidr),
            Err(e) => problems.push(Problem {
                key: "listen.trusted_proxies".into(),
                message: format!("'{text}': {e}; write an address or a CIDR such as \"10.0.0.5/32\""),
            }),
        }
    }

    let store = build_store(parsed.store, serve.database_url.clone(), &mut problems);
    let delivery = delivery::build(parsed.delivery, parsed.routes, &data_dir, &hostname, &mut problems);
    let admin = admin::build(parsed.admin, serve.admin, &mut problems);
    let access = access::build(parsed.oauth, parsed.connectors, &mut problems);
    let defaults: Vec<SocketAddr> = submission.iter().chain(submissions.iter()).copied().collect();
    let connector_names: Vec<String> = access.connectors.iter().map(|c| c.name.clone()).collect();
    let listeners = crate::listeners::build(parsed.listeners, &defaults, &connector_names, &mut problems);
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Effective {
        data_dir,
        hostname,
        listen: Listen { submission, submissions, max_connections, trusted_proxies },
        tls,
        limits,
        lockout,
        delivery,
        admin,
        access,
        store,
        listeners,
    })
}

fn build_store(file: FileStore, flag: Option<String>, problems: &mut Vec<Problem>) -> Store {
    let url = flag.or(file.url).map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
    if let Some(u) = &url {
        if !(u.starts_with("postgres://") || u.starts_with("postgresql://")) {
            problems.push(Problem {
                key: "store.url".into(),
                message: format!(
                    "'{}' is not a PostgreSQL URL; write postgres://USER:PASSWORD@HOST:5432/DATABASE, or leave it out for the embedded SQLite database",
                    authrelay_directory::postgres::redacted_url(u)
                ),
            });
        }
    }
    let max_connections = file.max_connections.unwrap_or(DEFAULT_STORE_CONNECTIONS);
    if max_connections < 2 {
        problems.push(Problem {
            key: "store.max_connections".into(),
            message: format!(
                "{max_connections} is too few; the server needs at least 2 (default {DEFAULT_STORE_CONNECTIONS})"
            ),
        });
    }
    let session_lease_secs = file.session_lease_secs.unwrap_or(DEFAULT_SESSION_LEASE_SECS);
    if !(3..=3600).contains(&session_lease_secs) {
        problems.push(Problem {
            key: "store.session_lease_secs".into(),
            message: format!("{session_lease_secs} is outside 3..3600 seconds (default {DEFAULT_SESSION_LEASE_SECS})"),
        });
    }
    let queue_lease_secs = file.queue_lease_secs.unwrap_or(DEFAULT_QUEUE_LEASE_SECS);
    if !(3..=3600).contains(&queue_lease_secs) {
        problems.push(Problem {
            key: "store.queue_lease_secs".into(),
            message: format!("{queue_lease_secs} is outside 3..3600 seconds (default {DEFAULT_QUEUE_LEASE_SECS})"),
        });
    }
    Store { url, max_connections, session_lease_secs, queue_lease_secs }
}

fn default_hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| authrelay_core::address::is_domain(s))
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Effective, Vec<Problem>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        load(Some(&path), None, &Overrides::default())
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = load(None, None, &Overrides::default()).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("./authrelay-data"));
        assert_eq!(c.listen.submission, Some("127.0.0.1:2587".parse().unwrap()));
        assert_eq!(c.listen.submissions, Some("127.0.0.1:2465".parse().unwrap()));
        assert_eq!(c.limits.max_recipients, 500);
        assert_eq!(c.limits.max_message_size, 35 * 1024 * 1024);
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "[listen]\nsubmission = \"127.0.0.1:1\"\n").unwrap();
        let serve = Overrides { submission: Some("127.0.0.1:2".parse().unwrap()), ..Default::default() };
        let c = load(Some(&path), Some(Path::new("/tmp/x")), &serve).unwrap();
        assert_eq!(c.listen.submission, Some("127.0.0.1:2".parse().unwrap()));
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let problems = load_text(
            "hostname = \"bad host\"\n[listen]\nsubmission = \"nowhere\"\n[tls]\ncert = \"/nonexistent.pem\"\n[limits]\nmax_recipients = 0\n",
        )
        .unwrap_err();
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["listen.submission", "hostname", "tls", "limits.max_recipients"]);
    }

    #[test]
    fn protection_defaults_and_checks() {
        let c = load(None, None, &Overrides::default()).unwrap();
        let p = c.protection_config();
        assert_eq!((p.lockout.threshold, p.lockout.base_secs, p.lockout.max_secs), (10, 60, 3600));
        assert_eq!(p.lockout.familiar_secs, 14 * 24 * 3600);
        assert_eq!((p.max_sessions_per_mailbox, p.daily_recipients, p.address_failure_budget), (3, 10_000, 20));
        assert_eq!(c.session_config().data_deadline, Duration::from_secs(900));
        let problems =
            load_text("[lockout]\nthreshold = 0\nduration_secs = 600\nmax_duration_secs = 60\n").unwrap_err();
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["lockout.threshold", "lockout.max_duration_secs"]);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let problems = load_text("[limits]\nmax_recipent = 5\n").unwrap_err();
        assert!(problems[0].message.contains("max_recipent"), "{problems:?}");
    }

    #[test]
    fn credentials_over_opportunistic_tls_are_refused() {
        let route = |extra: &str| {
            format!("[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\nhost = \"smtp.example.net\"\ntls = \"opportunistic\"\n{extra}")
        };
        let problems = |text: String| match load_text(&text) {
            Ok(_) => vec![],
            Err(p) => p,
        };
        for creds in [
            "user = \"relay@contoso.com\"\npassword = \"secret-Pass-2026\"",
            "auth = \"xoauth2\"\npreset = \"microsoft365\"\ntenant = \"contoso.onmicrosoft.com\"\nclient_id = \"id\"\nclient_secret = \"s\"\nuser = \"relay@contoso.com\"",
        ] {
            let p = problems(route(creds));
            let tls = p.iter().find(|p| p.key.ends_with(".tls")).unwrap_or_else(|| panic!("accepted: {creds} {p:?}"));
            assert!(tls.message.contains("starttls") && tls.message.contains("implicit"), "{}", tls.message);
        }
        assert!(problems(route("")).iter().all(|p| !p.key.ends_with(".tls")), "no credentials: fine");
    }
}
