//! The DATA receiver (RFC 5321 4.1.1.4, 4.5.2).
//!
//! Only `<CRLF>.<CRLF>` ends a message, and every line must end in CRLF. A bare LF or bare CR
//! anywhere marks the message for rejection (`550 5.6.0`) but never ends it: the variants used
//! for SMTP smuggling (`<LF>.<LF>`, `<CR>.<CR>`, `<LF>.<CRLF>`, `<CR>.<LF>`, …) stay inside the
//! one message and the whole message is refused. A NUL byte is refused the same way (`550
//! 5.6.0`): SMTP content may not carry it, and a next hop that drops NULs would read
//! `<CRLF>NUL.<CRLF>` as the end of data. Limits are checked as bytes arrive; once one
//! is exceeded the rest of the message is read and discarded so the session stays in step.

use authrelay_core::{Reply, ReplyId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataLimits {
    /// Largest message in octets, after dot-unstuffing (the SIZE we advertise).
    pub max_message: usize,
    /// Longest line in octets without its CRLF (RFC 5321 says 998; we allow more by default
    /// because real devices exceed it).
    pub max_line: usize,
    /// Largest header section in octets.
    pub max_header: usize,
}

impl Default for DataLimits {
    fn default() -> Self {
        DataLimits { max_message: 35 * 1024 * 1024, max_line: 16 * 1024, max_header: 256 * 1024 }
    }
}

/// What a bare LF inside DATA means (`[[listeners]] bare_newline`, README "Legacy devices").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BareNewline {
    /// The whole message is refused with `550 5.6.0` (every default listener).
    #[default]
    Reject,
    /// A lone LF ends the line as CRLF would (old printers end lines so). It never ends the
    /// message: only `<CRLF>.<CRLF>` does, and a line that began after a bare LF is content even
    /// when it is a lone dot, so `<LF>.<LF>` cannot smuggle a second message. A bare CR and a
    /// NUL are still refused.
    Normalize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataError {
    BareLineEnding,
    Nul,
    TooBig,
    LineTooLong,
    HeaderTooBig,
}

impl DataError {
    /// The reply, with the limit it names filled in.
    pub fn reply(self, limits: &DataLimits) -> Reply {
        match self {
            DataError::BareLineEnding => ReplyId::BareLineEnding.reply(),
            DataError::Nul => ReplyId::NulInMessage.reply(),
            DataError::TooBig => ReplyId::MessageTooBig.reply(),
            DataError::LineTooLong => ReplyId::DataLineTooLong.with(&[&limits.max_line.to_string()]),
            DataError::HeaderTooBig => ReplyId::HeaderTooBig.reply(),
        }
    }

    pub fn reply_id(self) -> ReplyId {
        self.reply(&DataLimits::default()).id
    }

    /// An attempt to end the message early for some reader (SMTP smuggling): this error wins
    /// over a limit, since it is the one an admin most needs to see.
    fn is_smuggling(self) -> bool {
        matches!(self, DataError::BareLineEnding | DataError::Nul)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line (after CRLF, or at the very beginning).
    LineStart,
    /// A line began with '.'.
    Dot,
    /// ".\r" at the start of a line.
    DotCr,
    /// Inside a line.
    InLine,
    /// Inside a line, just after '\r'.
    Cr,
    Done,
}

/// Receives the bytes after `354`, in as many pieces as the network delivers.
#[derive(Debug)]
pub struct DataReceiver {
    limits: DataLimits,
    state: State,
    message: Vec<u8>,
    line_len: usize,
    in_header: bool,
    header_len: usize,
    error: Option<DataError>,
    bare_newline: BareNewline,
    /// The current line began after a bare LF (normalize only): a dot there is content.
    after_bare_lf: bool,
}

impl DataReceiver {
    pub fn new(limits: DataLimits) -> Self {
        DataReceiver {
            limits,
            state: State::LineStart,
            message: Vec::with_capacity(8 * 1024),
            line_len: 0,
            in_header: true,
            header_len: 0,
            error: None,
            bare_newline: BareNewline::Reject,
            after_bare_lf: false,
        }
    }

    /// A receiver that treats a bare LF as `bare_newline` says.
    pub fn with_bare_newline(limits: DataLimits, bare_newline: BareNewline) -> Self {
        DataReceiver { bare_newline, ..Self::new(limits) }
    }

    /// Feeds bytes; returns how many were consumed. When the end of data is reached, consumption
    /// stops right after it (the rest are pipelined commands) and [`is_done`](Self::is_done) is true.
    pub fn feed(&mut self, input: &[u8]) -> usize {
        let mut i = 0;
        while i < input.len() {
            // Fast path inside a line: take the run up to the next CR or LF in one piece. Only
            // when no limit can trip within the run, so errors come out exactly as byte by byte.
            if self.state == State::InLine {
                let rest = &input[i..];
                let run = rest.iter().position(|&c| c == b'\r' || c == b'\n' || c == 0).unwrap_or(rest.len());
                if run > 0
                    && self.line_len + run <= self.limits.max_line
                    && (self.error.is_some() || self.message.len() + run <= self.limits.max_message)
                {
                    self.line_len += run;
                    if self.error.is_none() {
                        self.message.extend_from_slice(&rest[..run]);
                    }
                    i += run;
                    continue;
                }
            }
            let b = input[i];
            i += 1;
            match self.state {
                State::Done => return i - 1,
                State::LineStart => {
                    if b == b'.' && !self.after_bare_lf {
                        self.state = State::Dot;
                    } else {
                        self.line_byte(b);
                    }
                }
                State::Dot => {
                    if b == b'\r' {
                        self.state = State::DotCr;
                    } else if b == b'\n' && self.bare_newline == BareNewline::Normalize {
                        // ".<LF>" is a line holding a dot, kept as written: never the end.
                        self.push(b".");
                        self.line_byte(b);
                    } else {
                        // Dot-unstuffing: the leading dot is dropped (RFC 5321 4.5.2).
                        self.line_byte(b);
                    }
                }
                State::DotCr => {
                    if b == b'\n' {
                        self.state = State::Done;
                        return i;
                    }
                    // ".\r" followed by anything else: a bare CR.
                    self.fail(DataError::BareLineEnding);
                    self.state = State::InLine;
                    self.line_byte(b);
                }
                State::InLine => self.line_byte(b),
                State::Cr => {
                    if b == b'\n' {
                        self.end_line();
                    } else {
                        self.fail(DataError::BareLineEnding);
                        self.state = State::InLine;
                        self.line_byte(b);
                    }
                }
            }
        }
        input.len()
    }

    fn line_byte(&mut self, b: u8) {
        match b {
            b'\r' => self.state = State::Cr,
            b'\n' if self.bare_newline == BareNewline::Normalize => {
                // The line ends as with CRLF; the next one cannot end the message.
                self.end_line();
                self.after_bare_lf = true;
            }
            b'\n' => {
                // A bare LF never starts a new line: "<LF>.<CRLF>" must not end the message.
                self.fail(DataError::BareLineEnding);
                self.state = State::InLine;
            }
            0 => {
                self.state = State::InLine;
                self.fail(DataError::Nul);
            }
            _ => {
                self.state = State::InLine;
                self.line_len += 1;
                if self.line_len > self.limits.max_line {
                    self.fail(DataError::LineTooLong);
                }
                self.push(&[b]);
            }
        }
    }

    fn end_line(&mut self) {
        if self.in_header {
            if self.line_len == 0 {
                self.in_header = false;
            } else {
                self.header_len += self.line_len + 2;
                if self.header_len > self.limits.max_header {
                    self.fail(DataError::HeaderTooBig);
                }
            }
        }
        self.push(b"\r\n");
        self.line_len = 0;
        self.state = State::LineStart;
        self.after_bare_lf = false;
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.error.is_some() {
            return;
        }
        if self.message.len() + bytes.len() > self.limits.max_message {
            self.fail(DataError::TooBig);
            return;
        }
        self.message.extend_from_slice(bytes);
    }

    fn fail(&mut self, error: DataError) {
        // The first error decides the reply, except that a smuggling attempt wins over a limit.
        if self.error.is_none() || (error.is_smuggling() && !self.error.is_some_and(DataError::is_smuggling)) {
            self.error = Some(error);
            self.message = Vec::new();
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes held so far (0 once a limit was exceeded).
    pub fn len(&self) -> usize {
        self.message.len()
    }

    pub fn is_empty(&self) -> bool {
        self.message.is_empty()
    }

    /// The message after the end of data: its bytes, unstuffed, each line ending in CRLF.
    pub fn finish(self) -> Result<Vec<u8>, DataError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(input: &[u8]) -> (Result<Vec<u8>, DataError>, usize, bool) {
        let mut r = DataReceiver::new(DataLimits::default());
        let used = r.feed(input);
        let done = r.is_done();
        (r.finish(), used, done)
    }

    #[test]
    fn plain_message_with_dot_unstuffing() {
        let (msg, used, done) = receive(b"Subject: hi\r\n\r\n..leading dot\r\nbody\r\n.\r\nQUIT\r\n");
        assert!(done);
        assert_eq!(used, b"Subject: hi\r\n\r\n..leading dot\r\nbody\r\n.\r\n".len());
        assert_eq!(msg.unwrap(), b"Subject: hi\r\n\r\n.leading dot\r\nbody\r\n");
    }

    #[test]
    fn empty_message_and_split_delivery() {
        assert_eq!(receive(b".\r\n").0.unwrap(), b"");
        let mut r = DataReceiver::new(DataLimits::default());
        for piece in [&b"a\r"[..], b"\n", b".", b"\r", b"\n"] {
            r.feed(piece);
        }
        assert!(r.is_done());
        assert_eq!(r.finish().unwrap(), b"a\r\n");
    }

    /// The SMTP smuggling variants (Longin 2023; Postfix and Sendmail advisories): none may end
    /// the message, and each makes the whole message a 550 5.6.0.
    #[test]
    fn smuggling_variants_never_split_a_message() {
        let variants: &[&[u8]] = &[
            b"\n.\n",
            b"\r.\r",
            b"\n.\r\n",
            b"\r.\n",
            b"\r\n.\n",
            b"\r\n.\r",
            b"\n.\r",
            b"\r\n.\r\r\n",
            b"\r\n\x00.\r\n",
        ];
        for v in variants {
            let mut input = b"Subject: a\r\n\r\nfirst".to_vec();
            input.extend_from_slice(v);
            input.extend_from_slice(b"MAIL FROM:<evil@x.example>\r\nRCPT TO:<v@y.example>\r\nDATA\r\nsmuggled\r\n");
            input.extend_from_slice(b"\r\n.\r\n");
            let (msg, used, done) = receive(&input);
            assert!(done, "{v:?}");
            assert_eq!(used, input.len(), "{v:?} ended the message early");
            let expected = if v.contains(&0) { DataError::Nul } else { DataError::BareLineEnding };
            assert_eq!(msg, Err(expected), "{v:?}");
        }
    }

    /// Normalize: bare-LF lines arrive as CRLF lines, and no smuggling variant ends the message
    /// early. The LF ones stay inside the one message; the CR and NUL ones are still refused.
    #[test]
    fn normalize_turns_bare_lf_into_crlf_and_never_ends_on_it() {
        let receive = |input: &[u8]| {
            let mut r = DataReceiver::with_bare_newline(DataLimits::default(), BareNewline::Normalize);
            let used = r.feed(input);
            (r.is_done(), used, r.finish())
        };
        let (done, used, msg) = receive(b"Subject: scan\n\nline one\n..dot\nline two\r\n.\r\nQUIT\r\n");
        assert!(done);
        assert_eq!(used, b"Subject: scan\n\nline one\n..dot\nline two\r\n.\r\n".len());
        // A line after a bare LF keeps its dots as written (nothing is unstuffed or ended there).
        assert_eq!(msg.unwrap(), b"Subject: scan\r\n\r\nline one\r\n..dot\r\nline two\r\n");
        for v in [&b"\n.\n"[..], b"\n.\r\n", b"\r\n.\n", b"\r.\r", b"\r.\n", b"\r\n.\r", b"\n.\r", b"\r\n\x00.\r\n"] {
            let mut input = b"Subject: a\r\n\r\nfirst".to_vec();
            input.extend_from_slice(v);
            input.extend_from_slice(b"MAIL FROM:<evil@x.example>\r\nRCPT TO:<v@y.example>\r\nDATA\r\nsmuggled\r\n");
            input.extend_from_slice(b"\r\n.\r\n");
            let (done, used, msg) = receive(&input);
            assert!(done, "{v:?}");
            assert_eq!(used, input.len(), "{v:?} ended the message early");
            match msg {
                Ok(m) => {
                    let lf_only = [&b"\n.\n"[..], b"\n.\r\n", b"\r\n.\n"];
                    assert!(lf_only.contains(&v), "{v:?} has a bare CR or NUL and still passed");
                    assert!(!m.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'), "{v:?}: a bare LF was kept");
                    assert!(m.windows(8).any(|w| w == b"smuggled"), "{v:?}: the rest stayed in the message");
                }
                Err(e) => assert!(matches!(e, DataError::BareLineEnding | DataError::Nul), "{v:?}: {e:?}"),
            }
        }
    }

    #[test]
    fn limits() {
        let limits = DataLimits { max_message: 10, max_line: 5, max_header: 8 };
        let mut r = DataReceiver::new(limits);
        r.feed(b"abcdef\r\n.\r\n");
        assert_eq!(r.finish(), Err(DataError::LineTooLong));

        let mut r = DataReceiver::new(limits);
        r.feed(b"abc\r\nabc\r\nabc\r\n\r\n.\r\n");
        assert_eq!(r.finish(), Err(DataError::HeaderTooBig));

        let mut r = DataReceiver::new(DataLimits { max_header: 100, ..limits });
        let used = r.feed(b"a\r\n\r\nbcde\r\nfgh\r\n.\r\nNOOP\r\n");
        assert!(r.is_done());
        assert_eq!(used, 19);
        assert_eq!(r.finish(), Err(DataError::TooBig));
    }
}
