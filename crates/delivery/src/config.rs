//! Typed delivery settings; the binary parses them from TOML (`[delivery]`, `[[routes]]`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::schedule::Schedule;

#[derive(Debug, Clone, Serialize)]
pub struct DeliveryConfig {
    /// Our name in EHLO, Received headers, Maildir file names and bounces.
    pub hostname: String,
    /// Holds `mailboxes/` and `dkim/`.
    pub data_dir: PathBuf,
    pub schedule: Schedule,
    /// Messages one mailbox may have delivered per minute; the rest wait for later minutes.
    pub rate_per_minute: u32,
    /// Also file each submitted message in the sender's `.Sent` Maildir folder.
    pub sent_copy: bool,
    /// Onward routes, first match wins; a domain no route matches stays queued (temporary).
    pub routes: Vec<Route>,
    /// DNS servers for MX lookups; empty = the system's (`/etc/resolv.conf`).
    pub nameservers: Vec<SocketAddr>,
    /// Port for direct MX delivery (25; tests point it elsewhere).
    pub mx_port: u16,
    pub connect_timeout: Duration,
    /// Per SMTP command, and for the whole DATA transfer.
    pub command_timeout: Duration,
    /// How often the spool is looked at for new messages and admin requests.
    pub scan_interval: Duration,
    /// Messages delivered at once; also the most idle connections kept per destination.
    pub concurrency: usize,
    /// How long an SMTP connection is kept open for the next message to the same destination
    /// after a transaction; zero: never reused (one connection per message).
    pub connection_idle: Duration,
    /// Transactions one connection carries at most before it is closed.
    pub messages_per_connection: u32,
}

impl DeliveryConfig {
    pub fn new(hostname: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        DeliveryConfig {
            hostname: hostname.into(),
            data_dir: data_dir.into(),
            schedule: Schedule::default(),
            rate_per_minute: 30,
            sent_copy: false,
            routes: vec![],
            nameservers: vec![],
            mx_port: 25,
            connect_timeout: Duration::from_secs(30),
            command_timeout: Duration::from_secs(300),
            scan_interval: Duration::from_secs(1),
            concurrency: 16,
            connection_idle: Duration::from_secs(5),
            messages_per_connection: 100,
        }
    }

    /// The first route whose domain list matches `domain` (`*` matches every domain).
    pub fn route_for(&self, domain: &str) -> Option<(usize, &Route)> {
        let domain = domain.to_ascii_lowercase();
        self.routes.iter().enumerate().find(|(_, r)| r.domains.iter().any(|d| d == "*" || *d == domain))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Route {
    /// Lower-case domains, or `*`.
    pub domains: Vec<String>,
    pub kind: RouteKind,
    /// Sender mapping: which senders the upstream accepts, and what is rewritten otherwise.
    #[serde(skip_serializing_if = "crate::sender_map::SenderMap::is_off")]
    pub sender: crate::sender_map::SenderMap,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum RouteKind {
    /// Everything goes to one relay host (Microsoft 365, Google Workspace, an ISP).
    Smarthost(Smarthost),
    /// Straight to the recipient domain's MX hosts (RFC 5321 5.1).
    Mx,
    /// Microsoft Graph `sendMail` over HTTPS instead of SMTP ([`crate::graph`]).
    Graph(Graph),
}

/// `kind = "graph"`: Microsoft Graph `POST /users/{user}/sendMail`.
#[derive(Debug, Clone, Serialize)]
pub struct Graph {
    /// The mailbox the message is sent as (its id or user principal name).
    pub user: String,
    /// Graph's base URL: `https://graph.microsoft.com/v1.0` (national clouds differ).
    pub base_url: String,
    /// Keep a copy in the mailbox's Sent Items (Graph's default). `false` sends Graph's JSON
    /// form instead of the MIME, the only one that can say so ([`crate::graph`]).
    pub save_to_sent_items: bool,
    /// Extra PEM certificates to trust (a private endpoint's CA).
    pub ca_file: Option<PathBuf>,
    /// The application's client credentials (scope `https://graph.microsoft.com/.default`).
    pub oauth: Box<authrelay_oauth::ClientCredentials>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Smarthost {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Name the certificate must carry; defaults to `host`.
    pub tls_name: Option<String>,
    pub user: Option<String>,
    #[serde(skip)]
    pub password: Option<String>,
    /// Extra PEM certificates to trust besides the public roots (a private relay's CA).
    pub ca_file: Option<PathBuf>,
    /// `auth = "xoauth2"`: sign in as `user` with a token from the client-credentials grant
    /// instead of a password.
    pub oauth: Option<Box<authrelay_oauth::ClientCredentials>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (port 465, RFC 8314); certificate verified.
    Implicit,
    /// STARTTLS required (port 587); certificate verified. Without it nothing is sent.
    StartTls,
    /// STARTTLS when offered, certificate not verified (RFC 7435); plain text otherwise.
    Opportunistic,
}

impl std::str::FromStr for TlsMode {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "implicit" => Ok(TlsMode::Implicit),
            "starttls" => Ok(TlsMode::StartTls),
            "opportunistic" => Ok(TlsMode::Opportunistic),
            _ => Err(()),
        }
    }
}
