//! The DATA receiver takes runs of line bytes in one piece (a fast path); whatever the network
//! splitting, the outcome must be the one of feeding byte by byte: same message or error, same
//! number of bytes consumed. Checked on the committed fuzz corpus and on inputs built around the
//! limits, with limits small enough to trip.

use std::path::PathBuf;

use authrelay_proto::{DataError, DataLimits, DataReceiver};

/// The byte-by-byte receiver as it was before the fast path, kept as the reference.
#[allow(dead_code)]
mod reference {
    use authrelay_proto::{DataError, DataLimits};

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
    pub struct Reference {
        limits: DataLimits,
        state: State,
        message: Vec<u8>,
        line_len: usize,
        in_header: bool,
        header_len: usize,
        error: Option<DataError>,
    }

    impl Reference {
        pub fn new(limits: DataLimits) -> Self {
            Reference {
                limits,
                state: State::LineStart,
                message: Vec::with_capacity(8 * 1024),
                line_len: 0,
                in_header: true,
                header_len: 0,
                error: None,
            }
        }

        /// Feeds bytes; returns how many were consumed. When the end of data is reached, consumption
        /// stops right after it (the rest are pipelined commands) and [`is_done`](Self::is_done) is true.
        pub fn feed(&mut self, input: &[u8]) -> usize {
            for (i, &b) in input.iter().enumerate() {
                match self.state {
                    State::Done => return i,
                    State::LineStart => {
                        if b == b'.' {
                            self.state = State::Dot;
                        } else {
                            self.line_byte(b);
                        }
                    }
                    State::Dot => {
                        if b == b'\r' {
                            self.state = State::DotCr;
                        } else {
                            // Dot-unstuffing: the leading dot is dropped (RFC 5321 4.5.2).
                            self.line_byte(b);
                        }
                    }
                    State::DotCr => {
                        if b == b'\n' {
                            self.state = State::Done;
                            return i + 1;
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
            // The first error decides the reply, except that a smuggling attempt always wins: it is
            // the one an admin most needs to see in the log.
            let smuggling = |e: DataError| matches!(e, DataError::BareLineEnding | DataError::Nul);
            if self.error.is_none() || (smuggling(error) && !self.error.is_some_and(smuggling)) {
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
}

type Outcome = (Result<Vec<u8>, DataError>, usize, bool);

fn feed_in_pieces(input: &[u8], limits: DataLimits, piece: usize) -> Outcome {
    let mut r = DataReceiver::new(limits);
    let mut used = 0;
    for chunk in input.chunks(piece) {
        let n = r.feed(chunk);
        used += n;
        if r.is_done() || n < chunk.len() {
            break;
        }
    }
    let done = r.is_done();
    (r.finish(), used, done)
}

fn inputs() -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/data_receiver");
    let mut all: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    assert!(!all.is_empty(), "no corpus in {}", dir.display());
    for line in [1usize, 4, 5, 6, 9, 10, 11, 40] {
        let long = vec![b'x'; line];
        for tail in [&b"\r\n.\r\n"[..], b"\n.\r\n", b"\r.\r\n", b"\r\n..\r\n.\r\nQUIT\r\n"] {
            let mut m = b"Subject: s\r\n\r\n".to_vec();
            m.extend_from_slice(&long);
            m.extend_from_slice(b"\r\n");
            m.extend_from_slice(&long);
            m.extend_from_slice(tail);
            all.push(m);
        }
    }
    all
}

#[test]
fn any_splitting_gives_the_byte_by_byte_outcome() {
    let limit_sets = [
        DataLimits::default(),
        DataLimits { max_message: 10, max_line: 5, max_header: 8 },
        DataLimits { max_message: 30, max_line: 9, max_header: 100 },
        DataLimits { max_message: 64, max_line: 40, max_header: 12 },
    ];
    let mut compared = 0;
    for input in inputs() {
        for limits in limit_sets {
            let reference = {
                let mut r = reference::Reference::new(limits);
                let used = r.feed(&input);
                let done = r.is_done();
                (r.finish(), used, done)
            };
            assert_eq!(feed_in_pieces(&input, limits, 1), reference, "byte by byte, {limits:?}, {input:?}");
            for piece in [2, 3, 7, 64, input.len().max(1)] {
                assert_eq!(
                    feed_in_pieces(&input, limits, piece),
                    reference,
                    "pieces of {piece}, {limits:?}, {input:?}"
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 500, "{compared}");
}
