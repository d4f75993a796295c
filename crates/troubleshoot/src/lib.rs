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

use authrelay_i18n::{Localized, OwnedArg};

/// A catalogue message id with its arguments, rendered in a language only when shown. Values
/// (settings, checks), numbers and times are kept typed so each language words and formats
/// them itself (issue 19).
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    pub id: &'static str,
    pub args: Vec<(&'static str, OwnedArg)>,
}

impl Text {
    pub fn new(id: &'static str) -> Text {
        Text { id, args: vec![] }
    }

    /// A text argument (a name, an address), shown as written.
    pub fn arg(mut self, name: &'static str, value: impl ToString) -> Text {
        self.args.push((name, OwnedArg::Str(value.to_string())));
        self
    }

    /// A value shown to a person: rendered through its catalogue message.
    pub fn value(mut self, name: &'static str, value: impl Localized) -> Text {
        self.args.push((name, OwnedArg::Msg(value.message_id())));
        self
    }

    /// A number: formatted per language, and a number to plural selectors.
    pub fn num(mut self, name: &'static str, n: impl Into<OwnedArg>) -> Text {
        self.args.push((name, n.into()));
        self
    }

    /// A point in time (unix seconds), written as the language writes dates.
    pub fn time(mut self, name: &'static str, unix: i64) -> Text {
        self.args.push((name, OwnedArg::Time(unix)));
        self
    }

    pub fn render(&self, lang: authrelay_i18n::Lang) -> String {
        authrelay_i18n::t_owned(lang, self.id, &self.args)
    }
}

/// JSON keeps the shape it always had: the id and `[name, text]` pairs (values in English).
impl serde::Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let args: Vec<(&str, String)> = self.args.iter().map(|(k, v)| (*k, v.plain())).collect();
        let mut st = s.serialize_struct("Text", 2)?;
        st.serialize_field("id", self.id)?;
        st.serialize_field("args", &args)?;
        st.end()
    }
}

/// Formats a unix time as RFC 3339 UTC, or "-".
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| "-".into())
}
