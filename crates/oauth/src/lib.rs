//! OAuth 2.0 for SMTP, both ways.
//!
//! - [`validate`]: bearer tokens presented with AUTH XOAUTH2 / OAUTHBEARER are JWTs, checked
//!   against the configured issuer's signing keys (JWKS, fetched and cached), its audience and
//!   expiry; the configured claim names the mailbox.
//! - [`client_credentials`]: the client-credentials grant for smarthost routes that sign in
//!   upstream with XOAUTH2 (presets for Microsoft 365 and Google).
//! - [`http`]: the HTTP client both use (rustls; plain `http://` only for loopback addresses).
//!
//! Tokens are secrets: nothing here logs or returns one in an error.

pub mod client_credentials;
pub mod http;
pub mod validate;

pub use client_credentials::{ClientCredentials, TokenSource};
pub use validate::{IssuerConfig, TokenError, Validator};
