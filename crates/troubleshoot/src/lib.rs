//! The troubleshooter: says exactly why a device cannot send, and the least weakening fix.
//!
//! Three parts, used by the CLI (`doctor`, `explain`, `probe`) and by the admin center's
//! Troubleshooter page alike:
//!
//! - [`kb`]: the knowledge base of SMTP replies — every reply of our catalogue, and the known
//!   replies of Microsoft 365, Gmail and the RFCs — matched by basic code, enhanced code and key
//!   words, each explained ("what it means", "how to fix") for its provider in English, Korean
//!   and Indonesian. An unknown reply is reported as unknown, never guessed.
//! - [`doctor`]: the server side. Walks the decision order for one mailbox from directory data
//!   (no password needed), gives each check a verdict and lists fixes least weakening first, each
//!   with its exact CLI command and admin-center path; explains the latest failed sign-ins.
//! - [`probe`]: the client side. A small SMTP client that records every line of a real dialogue
//!   (secrets redacted), reports TLS and certificate facts, tries AUTH and an optional test
//!   message, and explains each refusal through the knowledge base.
//!
//! The texts live in `crates/i18n/locales/*/troubleshoot.ftl`; results are plain data
//! (`serde::Serialize`) rendered in a language by the caller, so a web page can reuse them.

pub mod cert;
pub mod doctor;
pub mod kb;
pub mod probe;

/// A catalogue message id with its arguments, rendered in a language only when shown.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Text {
    pub id: &'static str,
    pub args: Vec<(&'static str, String)>,
}

impl Text {
    pub fn new(id: &'static str) -> Text {
        Text { id, args: vec![] }
    }

    pub fn arg(mut self, name: &'static str, value: impl ToString) -> Text {
        self.args.push((name, value.to_string()));
        self
    }

    pub fn render(&self, lang: authrelay_i18n::Lang) -> String {
        let args: Vec<(&str, authrelay_i18n::Arg)> =
            self.args.iter().map(|(k, v)| (*k, authrelay_i18n::Arg::Str(v))).collect();
        authrelay_i18n::t(lang, self.id, &args)
    }
}

/// Formats a unix time as RFC 3339 UTC, or "-".
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| "-".into())
}
