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
