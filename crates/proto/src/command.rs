//! Command lines.
//!
//! The RFC 5321 grammar (paths, ESMTP parameters) is smtp-proto's; we add what it does not
//! decide the way our catalogue needs: AUTH (an unknown mechanism is `504 5.7.4`, not a syntax
//! error), HTTP verbs on the SMTP port, and the SMTPUTF8 rule for non-ASCII addresses.

use authrelay_core::ReplyId;
use smtp_proto::{Error as ProtoError, Request};

/// SASL mechanisms we may meet. `Other` keeps the name for the sign-in log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    Plain,
    Login,
    XOAuth2,
    OAuthBearer,
    Other(String),
}

impl Mechanism {
    pub fn parse(name: &str) -> Mechanism {
        match name.to_ascii_uppercase().as_str() {
            "PLAIN" => Mechanism::Plain,
            "LOGIN" => Mechanism::Login,
            "XOAUTH2" => Mechanism::XOAuth2,
            "OAUTHBEARER" => Mechanism::OAuthBearer,
            other => Mechanism::Other(other.chars().take(32).collect()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::XOAuth2 => "XOAUTH2",
            Mechanism::OAuthBearer => "OAUTHBEARER",
            Mechanism::Other(name) => name,
        }
    }
}

/// Body type declared with MAIL FROM (RFC 6152).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    SevenBit,
    EightBitMime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo(String),
    Helo(String),
    StartTls,
    Auth {
        mechanism: Mechanism,
        initial_response: Option<String>,
    },
    Mail {
        from: String,
        size: Option<usize>,
        body: Body,
        smtputf8: bool,
    },
    Rcpt {
        to: String,
    },
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    Help,
    /// Known verbs we do not offer (EXPN, ETRN, TURN, BDAT, …).
    NotImplemented(String),
    /// `GET /`, `POST …`: someone points a web client (or an attack) at the SMTP port.
    Http,
    /// `PROXY TCP4 …`: a PROXY protocol v1 header where a command was expected — a load
    /// balancer missing from `listen.trusted_proxies`, or a client forging its address.
    ProxyHeader,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandError {
    Unknown,
    Syntax,
    BadSender,
    BadRecipient,
    UnsupportedParameter,
    NeedsSmtpUtf8,
    TooLong,
}

impl CommandError {
    pub fn reply_id(&self) -> ReplyId {
        match self {
            CommandError::Unknown => ReplyId::UnknownCommand,
            CommandError::Syntax => ReplyId::SyntaxError,
            CommandError::BadSender => ReplyId::BadSenderAddress,
            CommandError::BadRecipient => ReplyId::BadRecipientAddress,
            CommandError::UnsupportedParameter => ReplyId::UnsupportedParameter,
            CommandError::NeedsSmtpUtf8 => ReplyId::Utf8NeedsSmtpUtf8,
            CommandError::TooLong => ReplyId::LineTooLong,
        }
    }
}

const HTTP_VERBS: &[&str] = &["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "CONNECT", "PATCH"];

/// Parses one command line. `line` holds the line with or without its CRLF / LF.
pub fn parse_command(line: &[u8]) -> Result<Command, CommandError> {
    // RFC 4954 §4: an AUTH line with an initial response (a bearer token) may be as long as a
    // SASL response, 12288 octets; every other command stays within RFC 5321's 512.
    let is_auth = line.len() > 5 && line[..5].eq_ignore_ascii_case(b"AUTH ");
    if line.len() > if is_auth { crate::MAX_AUTH_LINE } else { crate::MAX_COMMAND_LINE } {
        return Err(CommandError::TooLong);
    }
    let text = trim_line_end(line);
    let verb_end = text.iter().position(|b| *b == b' ').unwrap_or(text.len());
    let verb = std::str::from_utf8(&text[..verb_end]).map_err(|_| CommandError::Unknown)?.to_ascii_uppercase();
    let rest = text.get(verb_end + 1..).unwrap_or(&[]);

    match verb.as_str() {
        "AUTH" => return parse_auth(rest),
        v if HTTP_VERBS.contains(&v) && rest.windows(5).any(|w| w == b"HTTP/") => return Ok(Command::Http),
        "PROXY" => return Ok(Command::ProxyHeader),
        "EXPN" | "ETRN" | "TURN" | "ATRN" | "BDAT" | "BURL" | "LHLO" | "SEND" | "SOML" | "SAML" => {
            return Ok(Command::NotImplemented(verb))
        }
        "STARTTLS" if !rest.iter().all(|b| b.is_ascii_whitespace()) => return Err(CommandError::Syntax),
        // smtp-proto wants arguments on these; RFC 5321 allows both forms.
        "NOOP" => return Ok(Command::Noop),
        "HELP" => return Ok(Command::Help),
        "VRFY" => return Ok(Command::Vrfy),
        _ => {}
    }

    // smtp-proto expects the line to end in LF.
    let mut owned = Vec::with_capacity(text.len() + 2);
    owned.extend_from_slice(text);
    owned.extend_from_slice(b"\r\n");
    match Request::parse(&mut owned.iter()) {
        Ok(Request::Ehlo { host }) => Ok(Command::Ehlo(host)),
        Ok(Request::Helo { host }) => Ok(Command::Helo(host)),
        Ok(Request::StartTls) => Ok(Command::StartTls),
        Ok(Request::Mail { from }) => {
            let smtputf8 = from.flags & smtp_proto::MAIL_SMTPUTF8 != 0;
            if !smtputf8 && !from.address.is_ascii() {
                return Err(CommandError::NeedsSmtpUtf8);
            }
            let body =
                if from.flags & smtp_proto::MAIL_BODY_8BITMIME != 0 { Body::EightBitMime } else { Body::SevenBit };
            if from.flags & smtp_proto::MAIL_BODY_BINARYMIME != 0 {
                return Err(CommandError::UnsupportedParameter);
            }
            // smtp-proto removes the quotes of a quoted local part; only a dot-atom means the
            // same without them, so anything else is refused here rather than re-emitted
            // changed to the next hop (`"x> RET=FULL"@d` would become parameters).
            if !from.address.is_empty() && authrelay_core::Address::parse(&from.address).is_err() {
                return Err(CommandError::BadSender);
            }
            Ok(Command::Mail { from: from.address, size: (from.size > 0).then_some(from.size), body, smtputf8 })
        }
        Ok(Request::Rcpt { to }) => {
            if to.address.is_empty() || authrelay_core::Address::parse(&to.address).is_err() {
                return Err(CommandError::BadRecipient);
            }
            Ok(Command::Rcpt { to: to.address })
        }
        Ok(Request::Data) => Ok(Command::Data),
        Ok(Request::Rset) => Ok(Command::Rset),
        Ok(Request::Quit) => Ok(Command::Quit),
        Ok(Request::Noop { .. }) => Ok(Command::Noop),
        Ok(Request::Vrfy { .. }) => Ok(Command::Vrfy),
        Ok(Request::Help { .. }) => Ok(Command::Help),
        Ok(other) => Ok(Command::NotImplemented(format!("{other:?}").chars().take(8).collect())),
        Err(ProtoError::UnknownCommand) => Err(CommandError::Unknown),
        Err(ProtoError::InvalidSenderAddress) => Err(CommandError::BadSender),
        Err(ProtoError::InvalidRecipientAddress) => Err(CommandError::BadRecipient),
        Err(ProtoError::UnsupportedParameter { .. }) => Err(CommandError::UnsupportedParameter),
        Err(ProtoError::ResponseTooLong) => Err(CommandError::TooLong),
        Err(_) => Err(CommandError::Syntax),
    }
}

/// `AUTH mechanism [initial-response]` (RFC 4954 §4).
fn parse_auth(rest: &[u8]) -> Result<Command, CommandError> {
    let rest = std::str::from_utf8(rest).map_err(|_| CommandError::Syntax)?;
    let mut parts = rest.split_ascii_whitespace();
    let mechanism = parts.next().ok_or(CommandError::Syntax)?;
    if !mechanism.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(CommandError::Syntax);
    }
    let initial_response = parts.next().map(str::to_string);
    if parts.next().is_some() {
        return Err(CommandError::Syntax);
    }
    Ok(Command::Auth { mechanism: Mechanism::parse(mechanism), initial_response })
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_verbs_a_printer_sends() {
        let rows: &[(&str, Command)] = &[
            ("EHLO printer.local\r\n", Command::Ehlo("printer.local".into())),
            ("helo [192.168.1.20]\r\n", Command::Helo("[192.168.1.20]".into())),
            ("STARTTLS\r\n", Command::StartTls),
            (
                "AUTH PLAIN AGEAYg==\r\n",
                Command::Auth { mechanism: Mechanism::Plain, initial_response: Some("AGEAYg==".into()) },
            ),
            ("auth login\r\n", Command::Auth { mechanism: Mechanism::Login, initial_response: None }),
            (
                "AUTH CRAM-MD5\r\n",
                Command::Auth { mechanism: Mechanism::Other("CRAM-MD5".into()), initial_response: None },
            ),
            (
                "MAIL FROM:<scanner@contoso.com> SIZE=1000 BODY=8BITMIME\r\n",
                Command::Mail {
                    from: "scanner@contoso.com".into(),
                    size: Some(1000),
                    body: Body::EightBitMime,
                    smtputf8: false,
                },
            ),
            ("MAIL FROM:<>\r\n", Command::Mail { from: "".into(), size: None, body: Body::SevenBit, smtputf8: false }),
            ("RCPT TO:<a@b.example>\r\n", Command::Rcpt { to: "a@b.example".into() }),
            // A quoted dot-atom means the same unquoted.
            ("RCPT TO:<\"john.doe\"@b.example>\r\n", Command::Rcpt { to: "john.doe@b.example".into() }),
            ("DATA\r\n", Command::Data),
            ("NOOP\r\n", Command::Noop),
            ("VRFY postmaster\r\n", Command::Vrfy),
            ("HELP\r\n", Command::Help),
            ("RSET\r\n", Command::Rset),
            ("QUIT\r\n", Command::Quit),
            ("QUIT\n", Command::Quit),
            ("GET / HTTP/1.1\r\n", Command::Http),
            ("PROXY TCP4 192.0.2.1 127.0.0.1 4000 587\r\n", Command::ProxyHeader),
            ("proxy UNKNOWN\r\n", Command::ProxyHeader),
            ("EXPN staff\r\n", Command::NotImplemented("EXPN".into())),
        ];
        for (line, expected) in rows {
            assert_eq!(parse_command(line.as_bytes()).as_ref(), Ok(expected), "{line:?}");
        }
    }

    #[test]
    fn hostile_and_broken_lines() {
        let rows: &[(&[u8], CommandError)] = &[
            (b"FOO bar\r\n", CommandError::Unknown),
            (b"MAIL TO:<a@b>\r\n", CommandError::Syntax),
            (b"MAIL FROM:<a@b> BODY=BINARYMIME\r\n", CommandError::UnsupportedParameter),
            (b"RCPT TO:<>\r\n", CommandError::BadRecipient),
            (b"STARTTLS now\r\n", CommandError::Syntax),
            (b"AUTH\r\n", CommandError::Syntax),
            (b"AUTH PLAIN a b\r\n", CommandError::Syntax),
            (b"AUTH PL\xffIN\r\n", CommandError::Syntax),
            (b"\xff\xfe\r\n", CommandError::Unknown),
            ("MAIL FROM:<jörg@example.com>\r\n".as_bytes(), CommandError::NeedsSmtpUtf8),
            // Quoted local parts that would change meaning without their quotes (issue 12).
            (
                b"MAIL FROM:<\"x> RET=FULL ENVID=injected AUTH=<ceo@contoso.com>\"@contoso.com>\r\n",
                CommandError::BadSender,
            ),
            (b"RCPT TO:<\"victim@internal.example\"@remote.example>\r\n", CommandError::BadRecipient),
            (b"RCPT TO:<\"a b\"@remote.example>\r\n", CommandError::BadRecipient),
            (b"MAIL FROM:<\"a\\\"b\"@contoso.com>\r\n", CommandError::BadSender),
        ];
        for (line, expected) in rows {
            assert_eq!(parse_command(line).as_ref(), Err(expected), "{:?}", String::from_utf8_lossy(line));
        }
        // RFC 5321 4.5.3.1.4: 512 octets including CRLF.
        let long = format!("NOOP {}\r\n", "x".repeat(600));
        assert_eq!(parse_command(long.as_bytes()), Err(CommandError::TooLong));
        // RFC 4954 §4: AUTH with an initial response (a 2 KB bearer token) may be longer, up to
        // 12288 octets; beyond that it is too long as well.
        let token = "a".repeat(3000);
        let auth = format!("AUTH XOAUTH2 {token}\r\n");
        assert_eq!(
            parse_command(auth.as_bytes()),
            Ok(Command::Auth { mechanism: Mechanism::XOAuth2, initial_response: Some(token) })
        );
        let huge = format!("AUTH XOAUTH2 {}\r\n", "a".repeat(crate::MAX_AUTH_LINE));
        assert_eq!(parse_command(huge.as_bytes()), Err(CommandError::TooLong));
        let not_auth = format!("AUTHX {}\r\n", "a".repeat(600));
        assert_eq!(parse_command(not_auth.as_bytes()), Err(CommandError::TooLong));
    }

    #[test]
    fn smtputf8_addresses_need_the_parameter() {
        let cmd = parse_command("MAIL FROM:<jörg@example.com> SMTPUTF8\r\n".as_bytes()).unwrap();
        assert!(matches!(cmd, Command::Mail { smtputf8: true, .. }));
    }
}
