//! Replies (RFC 5321 §4.2): cutting received bytes into whole replies, sans I/O.

use std::fmt;

/// The longest reply line accepted, CRLF included. RFC 5321 §4.5.3.1.5 allows 512 octets;
/// real servers exceed it with long explanations, so eight times that.
pub const MAX_LINE: usize = 4096;

/// The most lines one reply may have (an EHLO reply has one per extension, a dozen or two).
pub const MAX_LINES: usize = 128;

/// One reply: its code and its lines as received, without line endings (`250-PIPELINING`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

/// Why no reply could be read.
#[derive(Debug)]
pub enum ReplyError {
    /// No whole reply within the time allowed.
    Timeout,
    /// The far side closed the connection (or TLS ended) before a whole reply.
    Closed,
    Io(std::io::Error),
    /// A line that does not start with a reply code: not an SMTP server, or out of step.
    NotSmtp(String),
    /// A line longer than [`MAX_LINE`].
    LineTooLong,
    /// More than [`MAX_LINES`] lines.
    TooManyLines,
}

impl fmt::Display for ReplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplyError::Timeout => f.write_str("timed out"),
            ReplyError::Closed => f.write_str("connection closed"),
            ReplyError::Io(e) => write!(f, "{e}"),
            ReplyError::NotSmtp(line) => write!(f, "not an SMTP reply: {line:?}"),
            ReplyError::LineTooLong => write!(f, "reply line longer than {MAX_LINE} octets"),
            ReplyError::TooManyLines => write!(f, "reply of more than {MAX_LINES} lines"),
        }
    }
}

impl std::error::Error for ReplyError {}

impl From<std::io::Error> for ReplyError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::UnexpectedEof
            | std::io::ErrorKind::BrokenPipe
            | std::io::ErrorKind::ConnectionReset
            | std::io::ErrorKind::ConnectionAborted => ReplyError::Closed,
            _ => ReplyError::Io(e),
        }
    }
}

impl Reply {
    /// The text of each line, after the code and its separator.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(|l| l.get(4..).unwrap_or(""))
    }

    /// The enhanced status code (RFC 3463) of the first line, e.g. `[5, 7, 8]`.
    pub fn enhanced(&self) -> Option<[u8; 3]> {
        self.texts().next().and_then(enhanced_code).map(|(code, _)| code)
    }

    /// The enhanced status code as written, `5.7.8`, or "".
    pub fn enhanced_text(&self) -> String {
        self.enhanced().map(|[a, b, c]| format!("{a}.{b}.{c}")).unwrap_or_default()
    }

    /// The human text: every line's text without its enhanced code, lines joined with `\n`.
    pub fn message(&self) -> String {
        let texts: Vec<&str> = self.texts().map(|t| enhanced_code(t).map_or(t, |(_, rest)| rest)).collect();
        texts.join("\n")
    }

    /// `550 5.1.1 text`, multi-line replies joined with spaces and control characters replaced:
    /// the one-line form kept in delivery state, logs and bounces.
    pub fn summary(&self) -> String {
        let text: String = self.message().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        match self.enhanced() {
            Some([a, b, c]) => format!("{} {a}.{b}.{c} {text}", self.code),
            None => format!("{} {text}", self.code),
        }
    }

    /// The reply as received, lines joined with `\n`.
    pub fn text(&self) -> String {
        self.lines.join("\n")
    }

    pub fn last_line(&self) -> &str {
        self.lines.last().map_or("", String::as_str)
    }

    /// The EHLO keywords (the first word of every line after the greeting), upper-case.
    pub fn keywords(&self) -> impl Iterator<Item = String> + '_ {
        self.texts().skip(1).filter_map(|t| t.split_whitespace().next()).map(str::to_ascii_uppercase)
    }

    /// Whether an EHLO reply announces `keyword` (case-insensitive).
    pub fn has_keyword(&self, keyword: &str) -> bool {
        self.keywords().any(|k| k.eq_ignore_ascii_case(keyword))
    }

    /// The SASL mechanisms of an EHLO reply's `AUTH` keyword (and the old `AUTH=` form),
    /// upper-case, each once, in the order offered.
    pub fn auth_mechanisms(&self) -> Vec<String> {
        let mut out: Vec<String> = vec![];
        for text in self.texts().skip(1) {
            let mut words = text.split_whitespace();
            let Some(first) = words.next() else { continue };
            let first = first.to_ascii_uppercase();
            let listed: Vec<String> = if first == "AUTH" {
                words.map(str::to_ascii_uppercase).collect()
            } else if let Some(m) = first.strip_prefix("AUTH=") {
                std::iter::once(m.to_string()).chain(words.map(str::to_ascii_uppercase)).collect()
            } else {
                continue;
            };
            for m in listed {
                if !m.is_empty() && !out.contains(&m) {
                    out.push(m);
                }
            }
        }
        out
    }
}

/// `5.7.8 rest` → ([5, 7, 8], "rest").
fn enhanced_code(text: &str) -> Option<([u8; 3], &str)> {
    let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
    let mut parts = word.split('.');
    let mut code = [0u8; 3];
    for slot in &mut code {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = part.parse().ok()?;
    }
    (parts.next().is_none() && matches!(code[0], 2 | 4 | 5)).then_some((code, rest))
}

/// Collects reply lines from received bytes. Bytes after a whole reply stay in the buffer.
#[derive(Debug, Default)]
pub(crate) struct ReplyParser {
    lines: Vec<String>,
    /// How much of the buffer was already searched for a line end.
    scanned: usize,
}

impl ReplyParser {
    /// Takes whole lines out of `buf`: a whole reply when its last line is there, `Ok(None)`
    /// when more bytes are needed.
    pub fn parse(&mut self, buf: &mut Vec<u8>) -> Result<Option<Reply>, ReplyError> {
        loop {
            let Some(end) = buf[self.scanned..].iter().position(|b| *b == b'\n').map(|p| p + self.scanned) else {
                if buf.len() > MAX_LINE {
                    return Err(ReplyError::LineTooLong);
                }
                self.scanned = buf.len();
                return Ok(None);
            };
            if end + 1 > MAX_LINE {
                return Err(ReplyError::LineTooLong);
            }
            let raw: Vec<u8> = buf.drain(..=end).collect();
            self.scanned = 0;
            let line = String::from_utf8_lossy(&raw).trim_end_matches(['\r', '\n']).to_string();
            let b = line.as_bytes();
            let code = (b.len() >= 3 && b[..3].iter().all(u8::is_ascii_digit) && (b'2'..=b'5').contains(&b[0]))
                .then(|| line[..3].parse::<u16>().unwrap_or(0));
            let Some(code) = code else { return Err(ReplyError::NotSmtp(line)) };
            let more = match b.get(3) {
                Some(b'-') => true,
                Some(b' ') | None => false,
                Some(_) => return Err(ReplyError::NotSmtp(line)),
            };
            self.lines.push(line);
            if !more {
                return Ok(Some(Reply { code, lines: std::mem::take(&mut self.lines) }));
            }
            if self.lines.len() >= MAX_LINES {
                return Err(ReplyError::TooManyLines);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_all(input: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let mut buf = input.to_vec();
        ReplyParser::default().parse(&mut buf)
    }

    #[test]
    fn multi_line_reply_with_enhanced_codes() {
        let r = parse_all(b"550-5.1.1 no such\r\n550 5.1.1 user here\r\n").unwrap().unwrap();
        assert_eq!(r.code, 550);
        assert_eq!(r.lines, ["550-5.1.1 no such", "550 5.1.1 user here"]);
        assert_eq!(r.enhanced(), Some([5, 1, 1]));
        assert_eq!(r.message(), "no such\nuser here");
        assert_eq!(r.summary(), "550 5.1.1 no such user here");
        let plain = parse_all(b"220 mx.example ESMTP\r\n").unwrap().unwrap();
        assert_eq!((plain.enhanced(), plain.summary()), (None, "220 mx.example ESMTP".to_string()));
        // A bare code is a whole reply; a version number is no enhanced code.
        assert_eq!(parse_all(b"250\r\n").unwrap().unwrap().summary(), "250 ");
        assert_eq!(parse_all(b"250 1.2.3 x\n").unwrap().unwrap().enhanced(), None);
    }

    #[test]
    fn a_reply_is_whole_only_at_its_last_line_and_what_follows_stays() {
        let mut parser = ReplyParser::default();
        let mut buf = b"250-first\r\n250-SIZE 10".to_vec();
        assert!(parser.parse(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b"00\r\n250 8BITMIME\r\n354 next");
        let r = parser.parse(&mut buf).unwrap().unwrap();
        assert_eq!(r.lines, ["250-first", "250-SIZE 1000", "250 8BITMIME"]);
        assert_eq!(buf, b"354 next", "the next reply's bytes are kept");
    }

    #[test]
    fn lines_and_replies_are_bounded() {
        let mut long = vec![b'2', b'5', b'0', b' '];
        long.resize(MAX_LINE + 1, b'x');
        assert!(matches!(parse_all(&long), Err(ReplyError::LineTooLong)), "no end in sight");
        long.extend_from_slice(b"\r\n");
        assert!(matches!(parse_all(&long), Err(ReplyError::LineTooLong)), "ends, but too late");
        let mut exact = vec![b'2', b'5', b'0', b' '];
        exact.resize(MAX_LINE - 2, b'x');
        exact.extend_from_slice(b"\r\n");
        assert!(parse_all(&exact).unwrap().is_some(), "a line of exactly MAX_LINE octets is fine");

        let endless: Vec<u8> = b"250-x\r\n".repeat(MAX_LINES);
        assert!(matches!(parse_all(&endless), Err(ReplyError::TooManyLines)));
        let mut most = b"250-x\r\n".repeat(MAX_LINES - 1);
        most.extend_from_slice(b"250 x\r\n");
        assert_eq!(parse_all(&most).unwrap().unwrap().lines.len(), MAX_LINES);
    }

    #[test]
    fn lines_that_are_no_reply() {
        for bad in [&b"HTTP/1.1 400 Bad Request\r\n"[..], b"25\r\n", b"250x\r\n", b"199 low\r\n", b"600 high\r\n"] {
            assert!(matches!(parse_all(bad), Err(ReplyError::NotSmtp(_))), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn ehlo_keywords_and_auth_mechanisms() {
        let r = parse_all(
            b"250-mx.example greets you\r\n250-PIPELINING\r\n250-starttls\r\n250-AUTH PLAIN login\r\n250-AUTH=LOGIN XOAUTH2\r\n250 8BITMIME\r\n",
        )
        .unwrap()
        .unwrap();
        assert!(r.has_keyword("STARTTLS") && r.has_keyword("8bitmime") && !r.has_keyword("SMTPUTF8"));
        assert!(!r.has_keyword("MX.EXAMPLE"), "the greeting line is no keyword");
        assert_eq!(r.auth_mechanisms(), ["PLAIN", "LOGIN", "XOAUTH2"]);
    }
}
