//! Protocol: the SMTP and SASL wire layer, bytes in and values out. No sockets, no tokio.
//!
//! - [`command`]: one command line → a [`Command`] (smtp-proto does the RFC 5321 grammar).
//! - [`data`]: the DATA receiver: dot-unstuffing, CRLF-only line endings (the SMTP smuggling
//!   defence), size, line and header limits.
//! - [`headers`]: the sender fields of a header section, read strictly (send-as, 5.7.60).
//! - [`sasl`]: AUTH PLAIN and LOGIN responses.
//!
//! Every error here maps to exactly one catalogue reply through `reply_id()`.

pub mod command;
pub mod data;
pub mod headers;
pub mod sasl;

pub use command::{parse_command, Command, CommandError, Mechanism};
pub use data::{BareNewline, DataError, DataLimits, DataReceiver};
pub use headers::{sender_fields, HeaderError, SenderField};
pub use sasl::{
    decode_login_field, decode_oauthbearer, decode_plain, decode_xoauth2, BearerResponse, PlainResponse, SaslError,
};

/// RFC 5321 4.5.3.1.4: a command line is at most 512 octets including CRLF.
pub const MAX_COMMAND_LINE: usize = 512;
/// Longest AUTH command line or SASL response (RFC 4954 §4).
pub const MAX_AUTH_LINE: usize = 12288;
