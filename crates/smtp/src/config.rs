//! Typed settings the session needs; parsed from TOML and flags by the binary.

use std::time::Duration;

use authrelay_proto::DataLimits;

/// Which kind of port a connection arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// Submission with STARTTLS (RFC 6409; 587 in production, 2587 by default here).
    Submission,
    /// Submission over implicit TLS (RFC 8314; 465 in production, 2465 by default here).
    Submissions,
    /// No TLS at all: a `[[listeners]]` entry of kind `plain`, for devices that cannot do TLS
    /// (README "Legacy devices"). STARTTLS is not offered; AUTH only from its `clients`.
    Plain,
}

impl ListenerKind {
    /// The `listener` label of the connection metrics, and `kind` in `[[listeners]]`.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenerKind::Submission => "submission",
            ListenerKind::Submissions => "submissions",
            ListenerKind::Plain => "plain",
        }
    }
}

/// The lowest TLS version a listener accepts. The defaults are 1.2 through rustls; 1.0 and 1.1
/// only on a `[[listeners]]` entry, through OpenSSL (the `legacy-tls` feature).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsMin {
    V1_0,
    V1_1,
    V1_2,
}

impl TlsMin {
    pub fn as_str(self) -> &'static str {
        match self {
            TlsMin::V1_0 => "1.0",
            TlsMin::V1_1 => "1.1",
            TlsMin::V1_2 => "1.2",
        }
    }
}

/// The rules of one `[[listeners]]` entry beyond its address and kind (README "Legacy
/// devices"): who may connect, which credentials may AUTH, and how bare LFs are read.
#[derive(Debug, Clone)]
pub struct ListenerRules {
    /// How logs, metrics and the sign-in log name it: "<kind> <address>" as configured.
    pub name: String,
    pub kind: ListenerKind,
    pub tls_min: TlsMin,
    /// Who may connect (and, on a `plain` listener, AUTH in clear). Empty: everyone (only
    /// for a listener that is not legacy; `config check` requires it otherwise).
    pub clients: Vec<authrelay_core::Cidr>,
    /// The credential kinds AUTH accepts here.
    pub credentials: authrelay_core::CredentialKinds,
    pub bare_newline: authrelay_proto::BareNewline,
    /// The `[[connectors]]` (by name) whose clients may connect and send without AUTH here.
    /// On the default listeners every connector applies; on a listed one only these.
    pub connectors: Vec<String>,
    /// The server certificate's PEM files (cert, key), for OpenSSL when `tls_min` is below 1.2;
    /// the server fills them in.
    pub pem_files: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl ListenerRules {
    /// Weaker than the default listeners in some way: old TLS, no TLS, or bare LFs read as
    /// line ends. Such a listener is fenced in by `clients` and marked wherever it is used.
    pub fn is_legacy(&self) -> bool {
        self.kind == ListenerKind::Plain
            || self.tls_min < TlsMin::V1_2
            || self.bare_newline == authrelay_proto::BareNewline::Normalize
    }

    /// Whether `ip` is in `clients` (an empty list admits everyone).
    pub fn lists_client(&self, ip: std::net::IpAddr) -> bool {
        self.clients.is_empty() || self.clients.iter().any(|c| c.contains(ip))
    }
}

#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Name in the greeting, EHLO reply and Received header.
    pub hostname: String,
    pub data_limits: DataLimits,
    /// RCPT commands per message before `452 4.5.3`.
    pub max_recipients: usize,
    /// How long a client may take to send one command (RFC 5321 4.5.3.2 suggests 5 minutes).
    /// The clock starts when we wait for the command and is not reset by partial bytes, so a
    /// client trickling one byte at a time cannot hold the connection.
    pub command_timeout: Duration,
    /// How long DATA may go without a byte arriving (RFC 5321 4.5.3.2.6: 3 minutes).
    pub data_timeout: Duration,
    /// How long the whole DATA phase may take, however steadily bytes trickle in (slowloris).
    pub data_deadline: Duration,
    /// Failed AUTH attempts per connection before `421 4.7.0` and disconnect.
    pub auth_failures_per_connection: u32,
    /// Fixed pause before answering a failed AUTH, so guessing is slow and timing says nothing.
    pub auth_failure_delay: Duration,
    /// Protocol errors per connection before `421 4.7.0`.
    pub max_errors: u32,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            hostname: "localhost".into(),
            data_limits: DataLimits::default(),
            max_recipients: 500,
            command_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(180),
            data_deadline: Duration::from_secs(900),
            auth_failures_per_connection: 3,
            auth_failure_delay: Duration::from_secs(1),
            max_errors: 10,
        }
    }
}
