//! Delivery status notifications (RFC 3464, RFC 3462 multipart/report) for recipients that
//! failed permanently or were given up. A bounce travels with the null reverse-path `<>`, so it
//! can never cause another bounce (RFC 5321 6.1); a message from `<>` gets none.
//!
//! The part for people is written in the language of the sender's organisation
//! (`authrelay org set NAME --language ko`), with the English text after it, so a reader of
//! either language understands it; the part for machines is the same in every language.

use authrelay_i18n::{t, Arg, Lang};
use authrelay_spool::Envelope;

/// One failed recipient as the report states it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub recipient: String,
    /// The far side's reply, or what went wrong locally.
    pub reply: String,
    pub remote: Option<String>,
    /// Unix seconds of the last attempt.
    pub last_attempt: i64,
}

/// The part for people in one language.
fn for_people(lang: Lang, hostname: &str, failures: &[Failure]) -> String {
    let mut text = String::new();
    text.push_str(&t(lang, "dsn-intro", &[("host", Arg::Str(hostname))]));
    text.push_str("\r\n\r\n");
    text.push_str(&t(lang, "dsn-not-delivered", &[("count", Arg::from(failures.len()))]));
    text.push_str("\r\n");
    text.push_str(&t(lang, "dsn-reply-quoted", &[]));
    text.push_str("\r\n\r\n");
    for f in failures {
        text.push_str(&format!("<{}>: {}\r\n", f.recipient, one_line(&f.reply)));
        if let Some(id) = crate::graph::explanation(&f.reply) {
            text.push_str(&format!("    {}\r\n", t(lang, id, &[])));
        }
        if let Some(r) = &f.remote {
            text.push_str(&format!("    ({})\r\n", t(lang, "dsn-remote-host", &[("host", Arg::Str(r))])));
        }
        text.push_str(&format!(
            "    ({})\r\n",
            t(lang, "dsn-last-attempt", &[("time", Arg::Time(f.last_attempt))]).replace('\u{a0}', " ")
        ));
    }
    text
}

/// A header value as an RFC 2047 encoded word when it is not plain ASCII.
fn header_text(value: &str) -> String {
    if value.is_ascii() {
        return value.to_string();
    }
    use base64::Engine;
    format!("=?UTF-8?B?{}?=", base64::engine::general_purpose::STANDARD.encode(value))
}

/// Base64 lines of at most 76 characters (RFC 2045 6.8).
fn base64_lines(bytes: &[u8]) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::new();
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

/// The envelope and bytes of the bounce for `original`, or None when none may be sent. `lang`
/// is the language of the sender's organisation; the English text always follows.
pub fn build(
    hostname: &str,
    original: &Envelope,
    original_message: &[u8],
    failures: &[Failure],
    now_secs: i64,
    lang: Lang,
) -> Option<(Envelope, Vec<u8>)> {
    if original.mail_from.is_empty() || failures.is_empty() {
        return None;
    }
    let boundary = format!("{:016x}/{hostname}", rand::random::<u64>());
    let date = rfc2822(now_secs);
    let message_id = format!("<{:016x}.{now_secs}@{hostname}>", rand::random::<u64>());
    let mut m = String::new();
    m.push_str(&format!("From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n"));
    m.push_str(&format!("To: <{}>\r\n", original.mail_from));
    let subject = match lang {
        Lang::En => t(Lang::En, "dsn-subject", &[]),
        other => format!("{} ({})", t(other, "dsn-subject", &[]), t(Lang::En, "dsn-subject", &[])),
    };
    m.push_str(&format!("Subject: {}\r\n", header_text(&subject)));
    m.push_str(&format!("Date: {date}\r\nMessage-ID: {message_id}\r\n"));
    m.push_str("Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
    if lang != Lang::En {
        m.push_str(&format!("Content-Language: {}, en\r\n", lang.tag()));
    }
    m.push_str(&format!(
        "Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"{boundary}\"\r\n\r\n"
    ));
    m.push_str("This is a MIME-encapsulated delivery status notification.\r\n\r\n");

    // 1. For people: the organisation's language, then English. Non-ASCII text travels as
    // base64, so the bounce needs no 8BITMIME on its way back.
    let mut people = String::new();
    if lang != Lang::En {
        people.push_str(&for_people(lang, hostname, failures));
        people.push_str("\r\n");
        people.push_str(&format!("----- {} -----\r\n\r\n", t(lang, "dsn-english-follows", &[])));
    }
    people.push_str(&for_people(Lang::En, hostname, failures));
    people.push_str("\r\n");
    m.push_str(&format!("--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"));
    if people.is_ascii() {
        m.push_str(&format!("\r\n{people}"));
    } else {
        m.push_str(&format!("Content-Transfer-Encoding: base64\r\n\r\n{}", base64_lines(people.as_bytes())));
    }

    // 2. For machines (RFC 3464 2.2 and 2.3).
    m.push_str(&format!("--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"));
    m.push_str(&format!("Reporting-MTA: dns; {hostname}\r\n"));
    m.push_str(&format!("Arrival-Date: {}\r\n", rfc2822(original.received_at)));
    for f in failures {
        m.push_str("\r\n");
        m.push_str(&format!("Final-Recipient: rfc822; {}\r\n", f.recipient));
        m.push_str("Action: failed\r\n");
        m.push_str(&format!("Status: {}\r\n", status_of(&f.reply)));
        if let Some(r) = &f.remote {
            m.push_str(&format!("Remote-MTA: dns; {r}\r\n"));
        }
        m.push_str(&format!("Diagnostic-Code: smtp; {}\r\n", one_line(&f.reply)));
        m.push_str(&format!("Last-Attempt-Date: {}\r\n", rfc2822(f.last_attempt)));
    }
    m.push_str("\r\n");

    // 3. The original's header (RFC 3462 text/rfc822-headers), not its body.
    m.push_str(&format!("--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"));
    let mut bytes = m.into_bytes();
    let header_end = original_message.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2);
    bytes.extend_from_slice(&original_message[..header_end.unwrap_or(original_message.len()).min(64 * 1024)]);
    if !bytes.ends_with(b"\r\n") {
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());

    let envelope = Envelope {
        mail_from: String::new(),
        rcpt_to: vec![original.mail_from.clone()],
        auth_user: String::new(),
        client_ip: String::new(),
        received_at: now_secs,
        smtputf8: original.smtputf8,
        body_8bit: original.body_8bit,
        connector: None,
    };
    Some((envelope, bytes))
}

/// The enhanced status code in a reply (`550 5.1.1 …` → `5.1.1`), else a generic one of the
/// reply's class.
pub fn status_of(reply: &str) -> String {
    let mut words = reply.split_whitespace();
    let code = words.next().unwrap_or("");
    if let Some(esc) = words.next() {
        let parts: Vec<&str> = esc.split('.').collect();
        if parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())) {
            return esc.to_string();
        }
    }
    if code.starts_with('4') {
        "4.0.0".into()
    } else {
        "5.0.0".into()
    }
}

fn one_line(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

fn rfc2822(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc2822).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(from: &str) -> Envelope {
        Envelope {
            mail_from: from.into(),
            rcpt_to: vec!["x@far.test".into()],
            auth_user: "scanner@contoso.com".into(),
            client_ip: "127.0.0.1".into(),
            received_at: 1_700_000_000,
            smtputf8: false,
            body_8bit: false,
            connector: None,
        }
    }

    fn failure() -> Failure {
        Failure {
            recipient: "x@far.test".into(),
            reply: "550 5.1.1 <x@far.test>: Recipient address rejected: User unknown".into(),
            remote: Some("mx.far.test".into()),
            last_attempt: 1_700_000_100,
        }
    }

    #[test]
    fn report_has_the_three_parts_and_the_far_side_reply() {
        let original = b"From: scanner@contoso.com\r\nSubject: scan\r\n\r\nsecret body\r\n";
        let (e, m) =
            build("mx.test", &env("scanner@contoso.com"), original, &[failure()], 1_700_000_200, Lang::En).unwrap();
        assert_eq!(e.mail_from, "", "bounces use the null reverse-path");
        assert_eq!(e.rcpt_to, ["scanner@contoso.com"]);
        let text = String::from_utf8(m).unwrap();
        let parsed = mail_parser::MessageParser::new().parse(text.as_bytes()).unwrap();
        use mail_parser::MimeHeaders;
        let ct = parsed.root_part().content_type().unwrap();
        assert_eq!((ct.ctype(), ct.subtype()), ("multipart", Some("report")));
        assert_eq!(ct.attribute("report-type"), Some("delivery-status"));
        assert_eq!(parsed.parts.len(), 4, "root + three parts");
        assert!(text.contains("Final-Recipient: rfc822; x@far.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"));
        assert!(
            text.contains("Diagnostic-Code: smtp; 550 5.1.1 <x@far.test>: Recipient address rejected: User unknown")
        );
        assert!(text.contains("Remote-MTA: dns; mx.far.test"));
        assert!(text.contains("Subject: scan") && !text.contains("secret body"), "headers only");
        assert_eq!(text.matches('\n').count(), text.matches("\r\n").count(), "CRLF line endings only");
        assert!(text.lines().all(|l| l.len() < 998));
    }

    #[test]
    fn never_to_the_null_sender() {
        assert!(build("mx.test", &env(""), b"x", &[failure()], 0, Lang::Ko).is_none());
        assert!(build("mx.test", &env("a@b.test"), b"x", &[], 0, Lang::Id).is_none());
    }

    /// The human-readable part of a bounce in Korean and Indonesian, English alongside; the
    /// machine part unchanged.
    #[test]
    fn bounce_in_the_organisations_language_with_english_alongside() {
        let original = b"From: scanner@contoso.com\r\nSubject: scan\r\n\r\nbody\r\n";
        use mail_parser::MimeHeaders;
        for (lang, words) in [(Lang::Ko, "배달하지 못했습니다"), (Lang::Id, "tidak dapat dikirimkan")] {
            let (_, m) =
                build("mx.test", &env("scanner@contoso.com"), original, &[failure()], 1_795_443_771, lang).unwrap();
            let parsed = mail_parser::MessageParser::new().parse(&m).unwrap();
            let people = parsed.body_text(0).unwrap().to_string();
            assert!(people.contains(words), "{lang:?}: {people}");
            assert!(people.contains("Your message could not be delivered"), "English follows: {people}");
            assert!(people.find(words) < people.find("Your message could not be delivered"), "own language first");
            assert!(people.contains("550 5.1.1 <x@far.test>"), "the far side's reply is quoted as it was");
            let subject = parsed.subject().unwrap();
            assert!(subject.contains("Undelivered Mail Returned to Sender"), "{subject}");
            assert!(subject.starts_with(&t(lang, "dsn-subject", &[])), "own language first: {subject}");
            assert_eq!(parsed.parts[1].content_type().and_then(|c| c.attribute("charset")), Some("utf-8"));
            let raw = String::from_utf8(m.clone()).unwrap();
            assert!(raw.is_ascii(), "the bounce needs no 8BITMIME");
            assert!(raw.contains("Status: 5.1.1\r\n"), "the machine part is the same in every language");
            assert!(raw.lines().all(|l| l.len() < 998));
        }
    }

    #[test]
    fn status_codes_from_replies() {
        assert_eq!(status_of("550 5.7.1 no"), "5.7.1");
        assert_eq!(status_of("550 no such user"), "5.0.0");
        assert_eq!(status_of("451 4.3.0 later"), "4.3.0");
        assert_eq!(status_of("connection refused"), "5.0.0");
    }
}
