//! The client side of an SMTP connection, shared by onward delivery (crates/delivery), the
//! probe of the troubleshooter (crates/troubleshoot) and the load generator (crates/bench):
//!
//! - [`Stream`]: plain TCP or TLS, upgraded in place by STARTTLS or at once for implicit TLS;
//! - [`Connection`]: a stream with the one reader of replies (RFC 5321 §4.2, multi-line), bounded
//!   in line length ([`MAX_LINE`]) and line count ([`MAX_LINES`]) so a hostile or broken far
//!   side cannot make the client buffer without end;
//! - [`tls`]: the opportunistic certificate verifier (RFC 7435).
//!
//! What the dialogue says (which verbs, which credentials, what is recorded) stays with each
//! user: this crate only moves bytes and cuts them into replies.

mod reply;
mod stream;
pub mod tls;

pub use reply::{Reply, ReplyError, MAX_LINE, MAX_LINES};
pub use stream::{Connection, Stream, UpgradeError};
