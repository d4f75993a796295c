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
    /// Organisations (tenants): accepted domains, security defaults, org-wide SMTP AUTH.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Users (mailboxes): passwords, Authenticated SMTP, MFA, sign-in, send-as.
    #[command(subcommand)]
    User(UserCommand),
    /// App passwords for users with MFA.
    #[command(subcommand, name = "app-password")]
    AppPassword(AppPasswordCommand),
    /// The queue of accepted messages.
    #[command(subcommand)]
    Queue(QueueCommand),
    /// The sign-in log: every AUTH attempt and the check that decided it.
    Signins(SigninsArgs),
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
        /// Add another accepted domain.
        #[arg(long = "add-domain", value_name = "DOMAIN")]
        add_domains: Vec<String>,
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
