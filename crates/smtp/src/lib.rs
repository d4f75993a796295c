//! SMTP: the listeners, TLS, and the submission session state machine.
//!
//! - [`server`]: accept loops for the STARTTLS and implicit-TLS ports, the connection cap and
//!   graceful shutdown (stop accepting, let transactions in flight finish).
//! - [`session`]: one connection, from greeting to QUIT; handlers return replies from the
//!   catalogue and only the session loop writes to the socket.
//! - [`auth`]: gathers the facts of one AUTH attempt (directory, argon2id), asks the policy,
//!   and writes the sign-in log; the only place a sign-in (or a connector's sender) is decided.
//! - [`ledger`]: what accepted mail spends and leaves behind: the rolling recipient quota (one
//!   batched writer) and the SMTP AUTH clients report ([`submissions`]).
//! - [`connector`]: `[[connectors]]`, the client ranges that may send without AUTH, and the
//!   lookup of a client's connector.
//! - [`stream`]: a connection that is plain TCP until STARTTLS and TLS after.

pub mod auth;
pub mod config;
pub mod connector;
pub mod credential_cache;
mod device;
pub mod ledger;
#[cfg(feature = "legacy-tls")]
pub mod legacy_tls;
pub mod protection;
pub mod proxy;
mod quota_cache;
mod quota_writer;
pub mod recipients;
pub mod revocation;
pub mod server;
pub mod session;
pub mod signin_volume;
pub mod stream;
pub mod submissions;
pub mod verify_pool;

pub use config::{ListenerKind, ListenerRules, SessionConfig, TlsMin};
pub use server::{Server, ServerHandle};

/// Whether this build can offer TLS 1.0 and 1.1 on a `[[listeners]]` entry (through OpenSSL,
/// the `legacy-tls` feature; README "Legacy devices").
pub const LEGACY_TLS: bool = cfg!(feature = "legacy-tls");
