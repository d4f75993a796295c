//! The sender fields of a message's header section (From, Sender, Resent-From, Resent-Sender),
//! read strictly enough that every mail reader sees the same senders.
//!
//! The send-as rule (5.7.60) is only as good as the reading it checks: a lenient parser that
//! keeps the last of two `From:` fields, skips a line without a colon or folds a whitespace-only
//! line lets a mailbox show one sender to the check and another to the recipient's mail reader
//! (Python's `email` package, for one, ends the header section at the first line that is not a
//! field). So this module accepts only a header section with one unambiguous reading:
//!
//! - every line before the first empty line is a field (`name:` with a name of printable ASCII)
//!   or the continuation of one (leading space or tab, not only whitespace); no control
//!   characters besides tab, and no lone CR or LF;
//! - a message whose first line is not a field is a bare body (devices send those); it is
//!   accepted only if no line before its first empty line looks like a sender field;
//! - `From` and `Sender` appear at most once each; every sender field holds at least one
//!   mailbox (`Sender` and `Resent-Sender` exactly one), in the RFC 5322 grammar without its
//!   obsolete forms: display names, quoted strings, comments and groups are understood,
//!   domain literals, routes and empty list members are refused;
//! - and mail-parser (what the rest of authrelay reads messages with) must find the same
//!   addresses, so a difference between two readers is refused rather than guessed at.
//!
//! A hand-written reader on purpose: the lenient crates are exactly what the attack exploits.

use authrelay_core::ReplyId;

/// Why a header section is refused (`554 5.6.0`, [`ReplyId::HeaderSectionMalformed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// A line before the empty line that is neither a field nor a continuation, in a header
    /// section (or a bare body) where readers would disagree on where the fields end.
    NotAField,
    /// A continuation line with no field before it, or a line of only spaces and tabs.
    BadFolding,
    /// A control character, or a CR or LF that is not part of a CRLF.
    ControlCharacter,
    /// `From` or `Sender` more than once.
    Repeated,
    /// A sender field without a mailbox, or one that does not parse.
    Unreadable,
    /// mail-parser reads other addresses than the strict reading.
    Disagreement,
}

impl HeaderError {
    pub fn reply_id(self) -> ReplyId {
        ReplyId::HeaderSectionMalformed
    }
}

/// One sender field and the addresses it names (`local@domain`; a local part that is not a
/// dot-atom stays quoted, so it can match no mailbox).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderField {
    /// `From`, `Sender`, `Resent-From` or `Resent-Sender`.
    pub name: &'static str,
    pub addresses: Vec<String>,
}

const SENDER_FIELDS: [&str; 4] = ["From", "Sender", "Resent-From", "Resent-Sender"];

/// Most mailboxes one field may name; a longer list is refused rather than walked.
const MAX_ADDRESSES: usize = 256;

/// Reads the sender fields of `message` (header section and body, CRLF line endings).
pub fn sender_fields(message: &[u8]) -> Result<Vec<SenderField>, HeaderError> {
    let lines = header_lines(message)?;
    let Some(first) = lines.first() else { return Ok(vec![]) };
    if field_name(first).is_none() {
        if first.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            return Err(HeaderError::BadFolding);
        }
        // A bare body, unless some reader could still find a sender field in it.
        if lines.iter().any(|l| looks_like_sender(l)) {
            return Err(HeaderError::NotAField);
        }
        return Ok(vec![]);
    }

    // Unfold into (name, value) fields.
    let mut fields: Vec<(&[u8], Vec<u8>)> = Vec::new();
    for line in &lines {
        if line[0] == b' ' || line[0] == b'\t' {
            if line.iter().all(|b| *b == b' ' || *b == b'\t') {
                return Err(HeaderError::BadFolding);
            }
            let Some(last) = fields.last_mut() else { return Err(HeaderError::BadFolding) };
            last.1.extend_from_slice(line);
            continue;
        }
        let name = field_name(line).ok_or(HeaderError::NotAField)?;
        fields.push((name, line[name.len() + 1..].to_vec()));
    }

    let mut out = Vec::new();
    let (mut froms, mut senders) = (0, 0);
    for (name, value) in fields {
        let Some(canonical) = SENDER_FIELDS.iter().copied().find(|f| f.as_bytes().eq_ignore_ascii_case(name)) else {
            continue;
        };
        match canonical {
            "From" => froms += 1,
            "Sender" => senders += 1,
            _ => {}
        }
        if froms > 1 || senders > 1 {
            return Err(HeaderError::Repeated);
        }
        let text = std::str::from_utf8(&value).map_err(|_| HeaderError::Unreadable)?;
        let addresses = parse_address_list(text)?;
        let single = canonical.ends_with("Sender");
        if addresses.is_empty() || (single && addresses.len() != 1) {
            return Err(HeaderError::Unreadable);
        }
        if !mail_parser_agrees(canonical, &value, &addresses) {
            return Err(HeaderError::Disagreement);
        }
        out.push(SenderField { name: canonical, addresses });
    }
    Ok(out)
}

/// The lines of the header section (up to the first empty line, or the whole message), without
/// their CRLF. A lone CR or LF, or a control character other than tab, is refused.
fn header_lines(message: &[u8]) -> Result<Vec<&[u8]>, HeaderError> {
    let mut lines = Vec::new();
    let mut rest = message;
    while !rest.is_empty() {
        let end = rest.iter().position(|b| *b == b'\r' || *b == b'\n').unwrap_or(rest.len());
        let line = &rest[..end];
        if line.iter().any(|b| (*b < 0x20 && *b != b'\t') || *b == 0x7f) {
            return Err(HeaderError::ControlCharacter);
        }
        if end == rest.len() {
            if !line.is_empty() {
                lines.push(line);
            }
            break;
        }
        if rest.get(end..end + 2) != Some(b"\r\n") {
            return Err(HeaderError::ControlCharacter);
        }
        if line.is_empty() {
            break;
        }
        lines.push(line);
        rest = &rest[end + 2..];
    }
    Ok(lines)
}

/// `name` of a `name:` line: one or more printable ASCII characters other than colon (RFC 5322
/// 2.2, without the obsolete space before the colon).
fn field_name(line: &[u8]) -> Option<&[u8]> {
    let colon = line.iter().position(|b| *b == b':')?;
    let name = &line[..colon];
    (!name.is_empty() && name.iter().all(|b| (33..=126).contains(b))).then_some(name)
}

/// A line some reader might take for a sender field: one of the names, then optional
/// whitespace and a colon, or the mbox `From ` line.
fn looks_like_sender(line: &[u8]) -> bool {
    let lower = line.to_ascii_lowercase();
    if lower.starts_with(b"from ") || lower.starts_with(b"from\t") {
        return true;
    }
    SENDER_FIELDS.iter().any(|f| {
        let f = f.to_ascii_lowercase();
        lower.strip_prefix(f.as_bytes()).is_some_and(|rest| {
            let rest: Vec<u8> = rest.iter().copied().skip_while(|b| *b == b' ' || *b == b'\t').collect();
            rest.first() == Some(&b':')
        })
    })
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A run of atext (RFC 5322 3.2.3, plus UTF-8 per RFC 6532).
    Atom(String),
    /// A quoted string's content, escapes resolved.
    Quoted(String),
    /// One of `< > @ , ; : .`
    Special(char),
}

/// A token and whether whitespace or a comment came before it.
type Spaced = (Token, bool);

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn tokenize(text: &str) -> Result<Vec<Spaced>, HeaderError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    let mut spaced = false;
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' => {
                chars.next();
                spaced = true;
            }
            '(' => {
                // A comment, nested, with quoted pairs; it separates tokens like whitespace.
                chars.next();
                let mut depth = 1;
                while depth > 0 {
                    match chars.next().ok_or(HeaderError::Unreadable)? {
                        '\\' => {
                            chars.next().ok_or(HeaderError::Unreadable)?;
                        }
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                }
                spaced = true;
            }
            '"' => {
                chars.next();
                let mut content = String::new();
                loop {
                    match chars.next().ok_or(HeaderError::Unreadable)? {
                        '\\' => content.push(chars.next().ok_or(HeaderError::Unreadable)?),
                        '"' => break,
                        other => content.push(other),
                    }
                }
                tokens.push((Token::Quoted(content), spaced));
                spaced = false;
            }
            '<' | '>' | '@' | ',' | ';' | ':' | '.' => {
                chars.next();
                tokens.push((Token::Special(c), spaced));
                spaced = false;
            }
            c if is_atext(c) => {
                let mut atom = String::new();
                while let Some(&c) = chars.peek() {
                    if !is_atext(c) {
                        break;
                    }
                    atom.push(c);
                    chars.next();
                }
                tokens.push((Token::Atom(atom), spaced));
                spaced = false;
            }
            // `[` (domain literals), `)`, `\`, `]` outside their places.
            _ => return Err(HeaderError::Unreadable),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Spaced>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|t| &t.0)
    }

    fn spaced(&self) -> bool {
        self.tokens.get(self.pos).is_some_and(|t| t.1)
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(&Token::Special(c)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// `local@domain` with no whitespace or comment inside (their obsolete forms are refused).
    fn addr_spec(&mut self) -> Option<String> {
        let start = self.pos;
        let result = self.addr_spec_inner();
        if result.is_none() {
            self.pos = start;
        }
        result
    }

    fn addr_spec_inner(&mut self) -> Option<String> {
        let local = match self.peek()?.clone() {
            Token::Quoted(q) => {
                self.pos += 1;
                if authrelay_core::address::is_dot_atom(&q) {
                    q
                } else {
                    quote(&q)
                }
            }
            Token::Atom(_) => self.dot_atom()?,
            Token::Special(_) => return None,
        };
        if self.spaced() || !self.eat('@') || self.spaced() {
            return None;
        }
        let domain = self.dot_atom()?;
        if !crate::headers::is_domain(&domain) {
            return None;
        }
        Some(format!("{local}@{domain}"))
    }

    /// `atom *("." atom)`, nothing between the pieces.
    fn dot_atom(&mut self) -> Option<String> {
        let mut out = String::new();
        loop {
            match self.peek() {
                Some(Token::Atom(a)) if out.is_empty() || !self.spaced() => {
                    out.push_str(a);
                    self.pos += 1;
                }
                _ => return None,
            }
            if self.peek() == Some(&Token::Special('.')) && !self.spaced() {
                self.pos += 1;
                if self.spaced() {
                    return None;
                }
                out.push('.');
            } else {
                return Some(out);
            }
        }
    }

    /// A display name: words (atoms, quoted strings), with dots after the first word (as in
    /// "J. Smith", which every reader accepts).
    fn phrase(&mut self) -> bool {
        let mut words = 0;
        loop {
            match self.peek() {
                Some(Token::Atom(_) | Token::Quoted(_)) => words += 1,
                Some(Token::Special('.')) if words > 0 => {}
                _ => return words > 0,
            }
            self.pos += 1;
        }
    }

    /// `addr-spec` or `[phrase] "<" addr-spec ">"`.
    fn mailbox(&mut self) -> Option<String> {
        if let Some(a) = self.addr_spec() {
            if matches!(self.peek(), None | Some(Token::Special(',' | ';'))) {
                return Some(a);
            }
            return None;
        }
        self.phrase();
        self.angle_addr()
    }

    fn angle_addr(&mut self) -> Option<String> {
        if !self.eat('<') {
            return None;
        }
        let a = self.addr_spec()?;
        self.eat('>').then_some(a)
    }
}

/// Parses a mailbox list or address list (mailboxes and groups).
fn parse_address_list(text: &str) -> Result<Vec<String>, HeaderError> {
    let mut p = Parser { tokens: tokenize(text)?, pos: 0 };
    let mut out = Vec::new();
    if p.peek().is_none() {
        return Ok(out);
    }
    loop {
        // A group: phrase ":" [mailbox *("," mailbox)] ";"
        let start = p.pos;
        if p.phrase() && p.eat(':') {
            if !p.eat(';') {
                loop {
                    out.push(p.mailbox().ok_or(HeaderError::Unreadable)?);
                    if p.eat(';') {
                        break;
                    }
                    if !p.eat(',') {
                        return Err(HeaderError::Unreadable);
                    }
                }
            }
        } else {
            p.pos = start;
            out.push(p.mailbox().ok_or(HeaderError::Unreadable)?);
        }
        if out.len() > MAX_ADDRESSES {
            return Err(HeaderError::Unreadable);
        }
        if p.peek().is_none() {
            return Ok(out);
        }
        if !p.eat(',') || p.peek().is_none() {
            return Err(HeaderError::Unreadable);
        }
    }
}

fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn is_domain(domain: &str) -> bool {
    domain.contains('.') && authrelay_core::address::is_domain(domain)
}

/// The addresses mail-parser reads from the same field, in order, lower-cased; they must be
/// ours. Groups are flattened; an address mail-parser cannot find counts as a difference.
fn mail_parser_agrees(name: &str, value: &[u8], ours: &[String]) -> bool {
    let mut raw = Vec::with_capacity(value.len() + 32);
    raw.extend_from_slice(name.as_bytes());
    raw.push(b':');
    raw.extend_from_slice(value);
    raw.extend_from_slice(b"\r\n\r\n");
    let Some(parsed) = mail_parser::MessageParser::new().parse_headers(&raw[..]) else { return false };
    let Some(header) = parsed.headers().first() else { return false };
    let Some(address) = header.value().as_address() else { return false };
    let theirs: Vec<String> = address.iter().map(|a| a.address().map(str::to_lowercase).unwrap_or_default()).collect();
    let ours: Vec<String> = ours.iter().map(|a| a.to_lowercase()).collect();
    theirs == ours
}

/// The fuzz target's checks (fuzz/fuzz_targets/headers.rs, replayed on stable by
/// `tests/fuzz_corpus.rs`); panics on a violation.
pub fn check_invariants(data: &[u8]) {
    let result = sender_fields(data);
    assert_eq!(result, sender_fields(data), "not deterministic");
    let Ok(fields) = result else { return };
    let lines = header_lines(data).expect("accepted, so the lines split");
    for line in &lines {
        assert!(!line.iter().any(|b| (*b < 0x20 && *b != b'\t') || *b == 0x7f), "control character accepted");
    }
    for name in ["from", "sender"] {
        let count = lines
            .iter()
            .filter(|l| {
                l.len() > name.len() && l[..name.len()].eq_ignore_ascii_case(name.as_bytes()) && l[name.len()] == b':'
            })
            .count();
        assert!(count <= 1, "two {name} fields accepted");
    }
    for address in fields.iter().flat_map(|f| &f.addresses) {
        let (_, domain) = address.rsplit_once('@').expect("an address has an @");
        assert!(is_domain(domain), "{address}: bad domain");
    }
}

#[cfg(test)]
mod tests;
