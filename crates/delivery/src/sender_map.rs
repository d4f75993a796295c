//! Sender mapping per route: an upstream that lets the relay identity send only as itself (and
//! a few addresses) refuses a device's own address — Microsoft answers `550 5.7.60 SendAsDenied`,
//! Gmail silently rewrites it. For a sender the route does not permit, the envelope sender
//! and/or the From header are rewritten to the relay identity; the original From goes to
//! `Reply-To` (unless the message has one) and to `X-Authrelay-Original-From`, and a `Sender`
//! header the upstream would refuse too is dropped. Permitted senders (the identity, the
//! `send_as` list) pass untouched.
//!
//! This runs before DKIM signing (crates/delivery/src/manager.rs), so the signature covers the
//! From that is sent. The queued message and its state keep the original: a bounce still goes to
//! the device's address.

use serde::Serialize;

/// The header recording a rewritten From.
pub const ORIGINAL_FROM_HEADER: &str = "X-Authrelay-Original-From";

/// What is rewritten for a sender the route does not permit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Rewrite {
    /// Nothing: every sender goes as it is (the default).
    #[default]
    Off,
    /// MAIL FROM only.
    Envelope,
    /// The From header only.
    From,
    /// Both.
    Both,
}

impl std::str::FromStr for Rewrite {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "off" => Ok(Rewrite::Off),
            "envelope" => Ok(Rewrite::Envelope),
            "from" => Ok(Rewrite::From),
            "both" => Ok(Rewrite::Both),
            _ => Err(()),
        }
    }
}

/// A route's sender mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SenderMap {
    pub rewrite: Rewrite,
    /// The relay identity (lower-case): what a refused sender is replaced with.
    pub identity: String,
    /// Addresses the upstream accepts as they are, lower-case; `@contoso.com` for a whole domain.
    pub send_as: Vec<String>,
}

/// A rewritten envelope sender and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped {
    pub from: String,
    pub message: Vec<u8>,
}

impl SenderMap {
    pub fn is_off(&self) -> bool {
        self.rewrite == Rewrite::Off
    }

    /// Whether the upstream accepts `address` as a sender (case-insensitive).
    pub fn permits(&self, address: &str) -> bool {
        let address = address.to_ascii_lowercase();
        if address == self.identity {
            return true;
        }
        let domain = address.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
        self.send_as.iter().any(|p| *p == address || p.strip_prefix('@') == Some(domain))
    }

    /// The envelope sender and message to send, when something had to change; `None` when the
    /// sender is permitted or mapping is off. The null sender (`<>`, a bounce) is left alone.
    pub fn apply(&self, mail_from: &str, message: &[u8]) -> Option<Mapped> {
        if self.is_off() || self.identity.is_empty() {
            return None;
        }
        let mut from = mail_from.to_string();
        let mut changed = false;
        if matches!(self.rewrite, Rewrite::Envelope | Rewrite::Both)
            && !mail_from.is_empty()
            && !self.permits(mail_from)
        {
            from = self.identity.clone();
            changed = true;
        }
        let mut out = None;
        if matches!(self.rewrite, Rewrite::From | Rewrite::Both) {
            out = self.rewrite_headers(message);
            changed |= out.is_some();
        }
        changed.then(|| Mapped { from, message: out.unwrap_or_else(|| message.to_vec()) })
    }

    /// The message with From mapped (and Reply-To, the record, Sender as described above), or
    /// `None` when its From is permitted or missing.
    fn rewrite_headers(&self, message: &[u8]) -> Option<Vec<u8>> {
        let header_end = memchr::memmem::find(message, b"\r\n\r\n").map_or(message.len(), |i| i + 2);
        let fields = fields(&message[..header_end]);
        let from_field = fields.iter().find(|f| f.is(b"from"))?;
        let original = from_field.value(message);
        let address = first_address(&original)?;
        let sender_refused = fields.iter().any(|f| f.is(b"sender") && !self.permits_value(&f.value(message)));
        if self.permits(&address) && !sender_refused {
            return None;
        }
        let has_reply_to = fields.iter().any(|f| f.is(b"reply-to"));
        let from_refused = !self.permits(&address);
        let original_value = original.trim();
        let mut out = Vec::with_capacity(message.len() + 2 * original_value.len() + 128);
        if from_refused {
            out.extend_from_slice(format!("{ORIGINAL_FROM_HEADER}: {original_value}\r\n").as_bytes());
            if !has_reply_to {
                out.extend_from_slice(format!("Reply-To: {original_value}\r\n").as_bytes());
            }
        }
        for f in &fields {
            let raw = &message[f.start..f.end];
            if f.is(b"from") && from_refused {
                // The display name stays as written (encoded words and all); the address is
                // the identity's.
                let new = match original_value.find('<') {
                    Some(at) => format!("From: {}<{}>\r\n", &original_value[..at], self.identity),
                    None => format!("From: {}\r\n", self.identity),
                };
                out.extend_from_slice(new.as_bytes());
            } else if f.is(b"sender") && !self.permits_value(&f.value(message)) {
                continue;
            } else {
                out.extend_from_slice(raw);
            }
        }
        out.extend_from_slice(&message[header_end..]);
        Some(out)
    }

    fn permits_value(&self, value: &str) -> bool {
        first_address(value).is_none_or(|a| self.permits(&a))
    }
}

/// One header field: where it starts and ends (after its line end, folded lines included) and
/// the length of its name.
struct Field {
    start: usize,
    end: usize,
    name: Vec<u8>,
    colon: usize,
}

impl Field {
    fn is(&self, lower: &[u8]) -> bool {
        self.name.eq_ignore_ascii_case(lower)
    }

    /// The field's value, unfolded, as text.
    fn value(&self, message: &[u8]) -> String {
        let raw = &message[self.colon + 1..self.end];
        String::from_utf8_lossy(raw).replace("\r\n", "").replace('\n', "")
    }
}

/// The fields of a header section (which ends with its last field's CRLF).
fn fields(header: &[u8]) -> Vec<Field> {
    let mut out: Vec<Field> = vec![];
    let mut at = 0;
    while at < header.len() {
        let end = memchr::memchr(b'\n', &header[at..]).map_or(header.len(), |i| at + i + 1);
        let line = &header[at..end];
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if let Some(last) = out.last_mut() {
                last.end = end;
            }
        } else if let Some(colon) = memchr::memchr(b':', line) {
            out.push(Field { start: at, end, name: line[..colon].trim_ascii().to_vec(), colon: at + colon });
        }
        at = end;
    }
    out
}

/// The first address of a From/Sender value: inside `<…>`, or the bare addr-spec.
fn first_address(value: &str) -> Option<String> {
    let addr = match (value.find('<'), value.find('>')) {
        (Some(open), Some(close)) if open < close => &value[open + 1..close],
        _ => value.split(',').next().unwrap_or("").trim(),
    };
    let addr = addr.trim();
    (addr.contains('@') && !addr.contains(char::is_whitespace)).then(|| addr.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(rewrite: Rewrite, send_as: &[&str]) -> SenderMap {
        SenderMap {
            rewrite,
            identity: "relay@contoso.com".into(),
            send_as: send_as.iter().map(|s| s.to_string()).collect(),
        }
    }

    const MESSAGE: &[u8] = b"Received: from mfp\r\nFrom: \"Floor 2 Scanner\" <Scanner@contoso.com>\r\nTo: a@fabrikam.com\r\nSubject: scan\r\n\r\nFrom: not a header\r\n";

    #[test]
    fn a_refused_from_is_mapped_and_the_original_kept() {
        let m = map(Rewrite::Both, &[]).apply("scanner@contoso.com", MESSAGE).unwrap();
        assert_eq!(m.from, "relay@contoso.com");
        let text = String::from_utf8(m.message).unwrap();
        assert_eq!(
            text,
            "X-Authrelay-Original-From: \"Floor 2 Scanner\" <Scanner@contoso.com>\r\n\
             Reply-To: \"Floor 2 Scanner\" <Scanner@contoso.com>\r\n\
             Received: from mfp\r\nFrom: \"Floor 2 Scanner\" <relay@contoso.com>\r\nTo: a@fabrikam.com\r\nSubject: scan\r\n\r\n\
             From: not a header\r\n"
        );
    }

    #[test]
    fn permitted_senders_pass_untouched() {
        assert_eq!(map(Rewrite::Both, &["scanner@contoso.com"]).apply("scanner@contoso.com", MESSAGE), None);
        assert_eq!(map(Rewrite::Both, &["@contoso.com"]).apply("scanner@contoso.com", MESSAGE), None);
        assert_eq!(map(Rewrite::Off, &[]).apply("scanner@contoso.com", MESSAGE), None);
        let own = b"From: relay@contoso.com\r\n\r\nx";
        assert_eq!(map(Rewrite::Both, &[]).apply("relay@contoso.com", own), None);
    }

    #[test]
    fn envelope_only_or_from_only() {
        let e = map(Rewrite::Envelope, &[]).apply("scanner@contoso.com", MESSAGE).unwrap();
        assert_eq!((e.from.as_str(), e.message.as_slice()), ("relay@contoso.com", MESSAGE));
        let f = map(Rewrite::From, &[]).apply("scanner@contoso.com", MESSAGE).unwrap();
        assert_eq!(f.from, "scanner@contoso.com");
        assert!(f.message.windows(9).any(|w| w == b"<relay@co"));
        // A bounce's null sender stays null.
        assert_eq!(map(Rewrite::Envelope, &[]).apply("", MESSAGE), None);
    }

    #[test]
    fn an_existing_reply_to_stays_a_folded_from_is_replaced_whole_and_a_refused_sender_goes() {
        let m = b"From: Scanner\r\n <scanner@contoso.com>\r\nReply-To: helpdesk@contoso.com\r\nSender: mfp@contoso.com\r\n\r\nbody";
        let out = String::from_utf8(map(Rewrite::From, &[]).apply("x@contoso.com", m).unwrap().message).unwrap();
        assert_eq!(
            out,
            "X-Authrelay-Original-From: Scanner <scanner@contoso.com>\r\nFrom: Scanner <relay@contoso.com>\r\nReply-To: helpdesk@contoso.com\r\n\r\nbody"
        );
        let bare = b"from: scanner@contoso.com\r\n\r\n";
        let out = String::from_utf8(map(Rewrite::From, &[]).apply("", bare).unwrap().message).unwrap();
        assert!(
            out.contains("From: relay@contoso.com\r\n") && out.contains("Reply-To: scanner@contoso.com\r\n"),
            "{out}"
        );
    }
}
