//! Delivery: takes accepted messages out of the spool and gets each recipient a final result.
//!
//! The queue manager ([`manager`]) learns of each accepted message from the spool (one scan at
//! startup, then announcements; the schedule lives in memory), keeps a small durable state file
//! per message ([`state`]), and hands due recipients to local delivery ([`maildir`]) or onward SMTP
//! ([`outbound`]). Every attempt ends as one of three [`Outcome`]s: Delivered, Temp (retry on the
//! [`schedule::Schedule`]) or Perm (bounce). A message leaves the spool only when every recipient
//! has a final result; failures produce an RFC 3464 report ([`dsn`]) queued through the same
//! spool. Outbound mail is DKIM-signed with the keys under `<data_dir>/dkim/` ([`dkim`]); each
//! mailbox's deliveries are spread out by the per-minute rate ([`rate`]). Onward SMTP connections
//! are kept open for a few seconds after a transaction and reused ([`pool`]).
//!
//! Crash safety: a recipient is marked delivered only after the far side (or the Maildir rename)
//! confirmed it, and the state file is replaced atomically; a crash between the two repeats that
//! delivery, never loses it.
//!
//! Layout on disk: delivery's own directory beside the spool (earlier versions kept `state/`,
//! `hold/` and `retry/` inside the spool's directory; they are moved on start, [`state::migrate`]):
//!
//! ```text
//! <data_dir>/delivery/state/<id>   per-recipient state of a message (JSON, replaced atomically)
//! <data_dir>/delivery/hold/<id>    present while an admin holds the message
//! <data_dir>/delivery/retry/<id>   an admin asked for an immediate retry; consumed by the manager
//! <data_dir>/mailboxes/<address>/{cur,new,tmp}   Maildir of each local mailbox
//! <data_dir>/dkim/<domain>/<selector>.pem        DKIM private keys (PKCS#8)
//! ```

pub mod clock;
pub mod cluster;
pub mod config;
pub mod dkim;
pub mod dsn;
pub mod graph;
pub mod maildir;
pub mod manager;
pub mod outbound;
pub mod pool;
pub mod queue_admin;
pub mod rate;
pub mod schedule;
pub mod sender_map;
pub mod state;

pub use clock::{Clock, ManualClock, SystemClock};
pub use config::{DeliveryConfig, Graph, Route, RouteKind, Smarthost, TlsMode};
pub use manager::QueueManager;
pub use schedule::Schedule;

/// One message for one group of recipients that share a destination (an SMTP route's or
/// Graph's job alike).
pub struct Job<'a> {
    pub from: &'a str,
    pub recipients: &'a [String],
    pub message: &'a [u8],
    pub smtputf8: bool,
    pub body_8bit: bool,
}

/// The result of one delivery attempt for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub outcome: Outcome,
    /// The far side's reply (or our own description of what went wrong), for logs and bounces.
    pub reply: String,
    /// The host that answered, when there was one (the DSN's Remote-MTA).
    pub remote: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Try again later: 4xx replies, connection failures, timeouts, local I/O errors.
    Temp,
    /// Give up on this recipient now: 5xx replies and recipients that cannot exist.
    Perm,
}

impl Attempt {
    pub fn delivered(reply: impl Into<String>, remote: Option<String>) -> Self {
        Attempt { outcome: Outcome::Delivered, reply: reply.into(), remote }
    }
    pub fn temp(reply: impl Into<String>, remote: Option<String>) -> Self {
        Attempt { outcome: Outcome::Temp, reply: reply.into(), remote }
    }
    pub fn perm(reply: impl Into<String>, remote: Option<String>) -> Self {
        Attempt { outcome: Outcome::Perm, reply: reply.into(), remote }
    }
    /// Temp or Perm from an SMTP reply code (RFC 5321 4.2.1: 4yz transient, 5yz permanent).
    pub fn from_code(code: u16, reply: impl Into<String>, remote: Option<String>) -> Self {
        match code {
            200..=299 => Self::delivered(reply, remote),
            500..=599 => Self::perm(reply, remote),
            _ => Self::temp(reply, remote),
        }
    }
}
