//! OAuth 2.0 for SMTP, both ways.
//!
//! - [`validate`]: bearer tokens presented with AUTH XOAUTH2 / OAUTHBEARER are JWTs, checked
//!   against the configured issuer's signing keys (JWKS, fetched and cached), its audience and
//!   expiry; the configured claim names the mailbox.
//! - [`client_credentials`]: tokens for routes that sign in upstream with OAuth (SMTP XOAUTH2,
//!   Microsoft Graph): client secret, certificate or Google service account; presets.
//! - [`assertion`]: the signed JWTs for certificates and service accounts, and keygen.
//! - [`http`]: the HTTP client both use (rustls; plain `http://` only for loopback addresses).
//!
//! Tokens are secrets: nothing here logs or returns one in an error.

pub mod assertion;
pub mod client_credentials;
pub mod http;
pub mod validate;

pub use client_credentials::{ClientCredentials, Credential, TokenSource};
pub use validate::{IssuerConfig, TokenError, Validator};
