//! Command-line grammar. Parsed once into typed values; names here are a contract with admins'
//! scripts: add freely, rename nothing.

use std::net::SocketAddr;
use std::path::PathBuf;

use authrelay_core::{AppPasswordsPolicy, MailboxSmtpAuth, MfaState, OrgSmtpAuth, SecurityDefaults, SignIn};
use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "authrelay",
    version,
    about = "Authenticated SMTP submission and relay server with Microsoft 365-style admin controls"
)]
pub struct Cli {
    /// Data directory holding the database, the spool and the TLS certificate.
    #[arg(long, global = true, env = "AUTHRELAY_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL URL of a directory shared by several nodes (over `[store] url`); without it,
    /// the embedded SQLite database in the data directory.
    #[arg(long, global = true, env = "AUTHRELAY_DATABASE_URL", value_name = "URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Optional TOML configuration file.
    #[arg(long, global = true, env = "AUTHRELAY_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Language of messages: en, ko or id (default: from LC_ALL / LC_MESSAGES / LANG).
    #[arg(long, global = true, value_name = "LANG")]
    pub lang: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the SMTP submission server.
    Serve(ServeArgs),
    /// Configuration file tools.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The server's TLS certificate: what devices must trust.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Organisations (tenants): accepted domains, security defaults, org-wide SMTP AUTH.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Users (mailboxes): passwords, Authenticated SMTP, MFA, sign-in, send-as.
    #[command(subcommand)]
    User(UserCommand),
    /// App passwords for users with MFA.
    #[command(subcommand, name = "app-password")]
    AppPassword(AppPasswordCommand),
    /// Device credentials: generated per-mailbox secrets for devices that cannot do MFA or OAuth.
    #[command(subcommand, name = "device-credential")]
    DeviceCredential(crate::device_cli::DeviceCredentialCommand),
    /// The queue of accepted messages.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// DKIM signing keys for outbound mail.
    #[command(subcommand)]
    Dkim(DkimCommand),
    /// OAuth client credentials for onward routes: certificates for Microsoft Entra.
    #[command(subcommand)]
    Oauth(OauthCommand),
    /// The sign-in log: every AUTH attempt and the check that decided it.
    Signins(SigninsArgs),
    /// Why can't this mailbox send? Every check of the decision order, and the least weakening fixes.
    Doctor(DoctorArgs),
    /// Diagnose any SMTP submission server from the client side: TLS, certificate, AUTH, replies explained.
    Probe(ProbeArgs),
    /// Load generator for SMTP servers on loopback, and queue-scale measurements.
    Bench(BenchArgs),
    /// Admin center accounts: add admins with a role, reset passwords and authenticator apps.
    #[command(subcommand)]
    Admin(crate::admin_cli::AdminCommand),
    /// Move a Microsoft 365 tenant's SMTP AUTH devices here: import its exports, issue device
    /// credentials, print setup sheets; follow the cutover.
    #[command(subcommand)]
    Import(crate::import_cli::ImportCommand),
    /// Make the running server (found through the data directory) re-read the configuration
    /// file: certificate, limits, lockout, connectors, routes, admin.hosts. Open sessions
    /// continue; listen addresses, data_dir and the rest need a restart (named in the answer).
    Reload {
        /// Seconds to wait for the server's answer (0: do not wait).
        #[arg(long, default_value_t = 10, value_name = "SECS")]
        wait: u64,
    },
    /// Write a consistent snapshot of the data directory (database, queue, keys and
    /// certificates) into one archive while the server runs.
    Backup {
        /// The archive to write (tar.gz, readable by its owner only).
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
    /// Unpack a backup into the data directory given by --data-dir, which must be empty or
    /// absent.
    Restore {
        /// The archive `authrelay backup` wrote.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// The directory's database: bring its schema up to date, or move a single node's SQLite
    /// directory into PostgreSQL for a cluster.
    #[command(subcommand)]
    Store(crate::store_cli::StoreCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish or powershell) on stdout.
    Completions {
        #[arg(value_name = "SHELL")]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (one per command) into a directory; used to build the package.
    #[command(hide = true)]
    Manpages {
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
}

#[derive(Debug, Args, Default, Clone)]
pub struct ServeArgs {
    /// STARTTLS submission listener (default 127.0.0.1:2587).
    #[arg(long, value_name = "ADDR")]
    pub submission: Option<SocketAddr>,
    /// Implicit-TLS submission listener (default 127.0.0.1:2465).
    #[arg(long, value_name = "ADDR")]
    pub submissions: Option<SocketAddr>,
    /// Host name for the greeting and Received headers.
    #[arg(long)]
    pub hostname: Option<String>,
    /// Admin center (web pages and REST API) listener (default 127.0.0.1:8025).
    #[arg(long, value_name = "ADDR")]
    pub admin: Option<SocketAddr>,
}

impl ServeArgs {
    /// What the configuration takes from these flags.
    pub fn overrides(&self) -> authrelay_config::Overrides {
        authrelay_config::Overrides {
            submission: self.submission,
            submissions: self.submissions,
            hostname: self.hostname.clone(),
            admin: self.admin,
            database_url: None,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Print the certificate the listeners serve: names, validity, SHA-256 fingerprint and
    /// the PEM to import into a device that verifies the server (makes the self-signed one
    /// first when there is none yet).
    Show {
        #[arg(long)]
        json: bool,
    },
    /// Ask the running server to renew its ACME certificate now (tls.acme), and wait for the
    /// result; the new certificate is swapped in without dropping open sessions.
    Renew {
        /// Seconds to wait for the result (0: do not wait).
        #[arg(long, default_value_t = 180, value_name = "SECS")]
        wait: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate the configuration and print the effective settings.
    Check,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organisation with one or more accepted domains.
    Add {
        name: String,
        #[arg(long = "domain", required = true, value_name = "DOMAIN")]
        domains: Vec<String>,
    },
    /// List organisations.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one organisation and its settings.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Change organisation settings.
    Set {
        name: String,
        #[arg(long, value_name = "on|off")]
        security_defaults: Option<SecurityDefaults>,
        #[arg(long, value_name = "enabled|disabled")]
        smtp_auth: Option<OrgSmtpAuth>,
        #[arg(long, value_name = "allowed|blocked")]
        app_passwords: Option<AppPasswordsPolicy>,
        /// Whether mailboxes may use device credentials (default allowed).
        #[arg(long, value_name = "allowed|blocked")]
        device_credentials: Option<authrelay_core::DeviceCredentialsPolicy>,
        /// Add another accepted domain.
        #[arg(long = "add-domain", value_name = "DOMAIN")]
        add_domains: Vec<String>,
        /// Largest message in bytes for this organisation's mailboxes (0 = the server's limit).
        #[arg(long, value_name = "BYTES")]
        max_message_size: Option<u64>,
        /// Recipients per message (0 = the server's limit).
        #[arg(long, value_name = "N")]
        max_recipients: Option<u64>,
        /// Recipients per mailbox per rolling 24 hours (0 = the server's limit).
        #[arg(long, value_name = "N")]
        daily_recipients: Option<u64>,
        /// Concurrent authenticated sessions per mailbox (0 = the server's limit).
        #[arg(long, value_name = "N")]
        max_sessions: Option<u64>,
        /// Language of bounce messages to this organisation's senders (English is added).
        #[arg(long, value_name = "en|ko|id")]
        language: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; prints a generated password unless --password-stdin is given.
    Add {
        address: String,
        #[arg(long, value_name = "NAME")]
        display_name: Option<String>,
        /// Read the password from standard input (first line).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's settings.
    Set {
        address: String,
        #[arg(long, value_name = "default|enabled|disabled")]
        smtp_auth: Option<MailboxSmtpAuth>,
        #[arg(long, value_name = "disabled|enabled|enforced")]
        mfa: Option<MfaState>,
        #[arg(long, value_name = "allowed|blocked")]
        sign_in: Option<SignIn>,
        /// Allow sending as this address (repeatable).
        #[arg(long = "send-as", value_name = "ADDR")]
        send_as: Vec<String>,
        /// Remove a send-as address (repeatable).
        #[arg(long = "remove-send-as", value_name = "ADDR")]
        remove_send_as: Vec<String>,
        #[arg(long, value_name = "NAME")]
        display_name: Option<String>,
    },
    /// Set a new password, read from standard input.
    Password {
        address: String,
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// List users.
    List {
        #[arg(long)]
        org: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show one user, their settings and the effective Authenticated SMTP.
    Show {
        address: String,
        #[arg(long)]
        json: bool,
    },
    /// Lift a smart lockout at once (recorded in the sign-in log with the check "unlock").
    Unlock { address: String },
}

#[derive(Debug, Subcommand)]
pub enum AppPasswordCommand {
    /// Create an app password; the secret is printed once.
    Add {
        address: String,
        #[arg(long)]
        name: String,
    },
    /// List a user's app passwords (names and dates, never secrets).
    List { address: String },
    /// Revoke an app password.
    Revoke {
        address: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// List queued messages.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one queued message's envelope and headers (or the raw bytes with --raw).
    Show {
        id: String,
        #[arg(long)]
        raw: bool,
    },
    /// Try the pending recipients of a message now (or of every message with --all).
    Retry {
        #[arg(required_unless_present = "all")]
        id: Option<String>,
        #[arg(long, conflicts_with = "id")]
        all: bool,
    },
    /// Keep a message from being delivered until it is released.
    Hold { id: String },
    /// Let a held message be delivered again.
    Release { id: String },
    /// Remove a message from the queue without delivering it and without a bounce.
    Delete { id: String },
}

#[derive(Debug, Subcommand)]
pub enum DkimCommand {
    /// Create a signing key for DOMAIN and print the DNS TXT record to publish.
    Generate {
        domain: String,
        /// Key type: rsa (2048 bit, verified everywhere) or ed25519 (RFC 8463).
        #[arg(long, value_name = "rsa|ed25519", default_value = "rsa")]
        algorithm: String,
        /// Selector (default: the algorithm and today's date, e.g. rsa-20261115).
        #[arg(long, value_name = "NAME")]
        selector: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OauthCommand {
    /// Create an RSA key and a self-signed certificate for certificate credentials
    /// (private_key_jwt); prints the certificate to upload to the app registration.
    Keygen {
        /// Directory for client-cert.pem and client-key.pem (default: <data_dir>/oauth).
        #[arg(long, value_name = "DIR")]
        out: Option<std::path::PathBuf>,
        /// The certificate's common name (default: "authrelay <hostname>").
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Days the certificate is valid.
        #[arg(long, value_name = "N", default_value_t = 730)]
        days: u32,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct SigninsArgs {
    #[arg(long)]
    pub user: Option<String>,
    /// Only the last N attempts (default 20).
    #[arg(long, value_name = "N")]
    pub last: Option<u32>,
    /// Only failures.
    #[arg(long)]
    pub failures: bool,
    #[arg(long)]
    pub json: bool,
}

/// `authrelay bench`: with flags, a load run against an SMTP server on loopback; with a
/// subcommand, a queue-scale measurement on the data directory's spool.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub queue: Option<BenchQueueCommand>,
    /// SMTP server, HOST:PORT; loopback only (127.0.0.0/8, ::1).
    #[arg(long, value_name = "HOST:PORT")]
    pub server: Option<String>,
    /// How the session is protected.
    #[arg(long, value_name = "none|starttls|implicit", default_value = "starttls")]
    pub tls: authrelay_bench::TlsMode,
    /// Authenticate with AUTH PLAIN as this user (needs --password).
    #[arg(long, requires = "password")]
    pub user: Option<String>,
    #[arg(long, requires = "user")]
    pub password: Option<String>,
    /// Concurrent connections.
    #[arg(long, value_name = "C", default_value_t = 1)]
    pub connections: usize,
    /// Messages in total.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub messages: u64,
    /// Messages per session; 1 = a new TCP+TLS+AUTH session per message, 0 = one session per
    /// connection.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub per_session: u64,
    /// Message size in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1024)]
    pub size: usize,
    /// Send MAIL, RCPT and DATA together when the server offers PIPELINING.
    #[arg(long)]
    pub pipelining: bool,
    #[arg(long, value_name = "ADDR", default_value = "bench@example.com")]
    pub from: String,
    #[arg(long, value_name = "ADDR", default_value = "sink@example.net")]
    pub to: String,
    /// No message is started after this many seconds.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    pub time_limit: u64,
    /// Idle mode: open --connections authenticated sessions, hold them this many seconds, QUIT.
    #[arg(long, value_name = "SECS")]
    pub hold: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum BenchQueueCommand {
    /// Accept N messages into the spool through the durable accept path.
    QueueFill {
        count: u64,
        #[arg(long, value_name = "BYTES", default_value_t = 1024)]
        size: usize,
        #[arg(long, value_name = "N", default_value_t = 64)]
        concurrency: usize,
    },
    /// Open and scan the spool as a server start does; print the time and memory it took.
    QueueRecover,
    /// Many AUTH attempts at once (wrong passwords for invented users) from several loopback
    /// addresses, while a real mailbox keeps signing in; prints the replies and the server's
    /// memory (its pid from --pid or the data directory's listen.json).
    AuthFlood {
        /// SMTP server, HOST:PORT; loopback only.
        #[arg(long, value_name = "HOST:PORT")]
        server: String,
        #[arg(long, value_name = "none|starttls|implicit", default_value = "implicit")]
        tls: authrelay_bench::TlsMode,
        /// AUTH attempts, all started at once.
        #[arg(long, value_name = "N", default_value_t = 2000)]
        attempts: usize,
        /// Source addresses 127.0.0.101 and up (at most 100).
        #[arg(long, value_name = "N", default_value_t = 20)]
        sources: u8,
        /// Domain of the invented user names.
        #[arg(long, value_name = "DOMAIN", default_value = "contoso.com")]
        domain: String,
        /// A real mailbox that signs in from 127.0.0.200 every half second meanwhile.
        #[arg(long, requires = "password")]
        user: Option<String>,
        #[arg(long, requires = "user")]
        password: Option<String>,
        /// The server's process id (default: from listen.json in the data directory).
        #[arg(long)]
        pid: Option<u32>,
        /// Stop waiting for answers after this many seconds.
        #[arg(long, value_name = "SECS", default_value_t = 120)]
        time_limit: u64,
    },
}

/// `authrelay doctor ADDRESS`: the server-side troubleshooter (see crates/troubleshoot).
#[derive(Debug, Args)]
pub struct DoctorArgs {
    pub address: String,
    /// Also explain the user's latest failed sign-ins from the sign-in log.
    #[arg(long)]
    pub explain_last: bool,
    #[arg(long)]
    pub json: bool,
}

/// `authrelay probe`: the client-side troubleshooter, like swaks but explaining each reply.
#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// SMTP server as HOST:PORT, e.g. smtp.office365.com:587.
    #[arg(long, value_name = "HOST:PORT")]
    pub server: String,
    /// Upgrade a plain connection with STARTTLS (the default; port 587).
    #[arg(long, conflicts_with = "tls")]
    pub starttls: bool,
    /// TLS from the first byte (port 465).
    #[arg(long)]
    pub tls: bool,
    /// User name for AUTH.
    #[arg(long, value_name = "USER")]
    pub user: Option<String>,
    /// Read the password from standard input (first line).
    #[arg(long, requires = "user")]
    pub password_stdin: bool,
    #[arg(long, value_name = "ADDRESS")]
    pub from: Option<String>,
    #[arg(long, value_name = "ADDRESS")]
    pub to: Option<String>,
    /// Send a short test message from --from to --to.
    #[arg(long)]
    pub send: bool,
    /// Trust the certificates in this PEM file instead of the system's CA bundle.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Seconds to wait for each connect, handshake and reply.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
    #[arg(long)]
    pub json: bool,
}
