//! The SMTP client side of one connection: session setup, one transaction, QUIT.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use authrelay_transport::{tls, Connection, ReplyError, Stream};
use base64::Engine;
use rustls::pki_types::ServerName;
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::TlsConnector;

use crate::{Config, TlsMode};

/// Why a session or a message did not succeed. `Display` is the histogram key.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The server answered, but not with what the step needs.
    Reply { stage: &'static str, code: u16, enhanced: String },
    /// No usable answer: I/O error, timeout, closed connection, TLS failure.
    Transport { stage: &'static str, what: String },
}

impl Failure {
    /// True when the session cannot go on (the next message needs a new one).
    pub fn is_fatal(&self) -> bool {
        match self {
            Failure::Transport { .. } => true,
            // 421 closes the session (RFC 5321 3.8).
            Failure::Reply { code, .. } => *code == 421,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Reply { stage, code, enhanced } if enhanced.is_empty() => write!(f, "{stage}: {code}"),
            Failure::Reply { stage, code, enhanced } => write!(f, "{stage}: {code} {enhanced}"),
            Failure::Transport { stage, what } => write!(f, "{stage}: {what}"),
        }
    }
}

/// What every session of a run shares: the TLS client configuration (one, so TLS sessions can
/// be resumed as a real client library would) and the AUTH line.
pub(crate) struct SessionSetup {
    tls: TlsConnector,
    auth_line: Option<Vec<u8>>,
}

impl SessionSetup {
    pub fn new(config: &Config) -> Self {
        // Any certificate: the benchmark only talks to loopback servers (checked before
        // connecting), which typically use self-signed certificates; signatures are still
        // verified, so the handshake is the same work as a checking client's.
        let tls = tls::opportunistic();
        let auth_line = config.credentials.as_ref().map(|(user, password)| {
            let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
            format!("AUTH PLAIN {plain}\r\n").into_bytes()
        });
        SessionSetup { tls: TlsConnector::from(Arc::new(tls)), auth_line }
    }

    /// Connects and brings a session to the point where MAIL may be sent.
    pub async fn open(&self, config: &Config) -> Result<Session, Failure> {
        let mut session = self.greeted(config, None).await?;
        if let Some(line) = &self.auth_line {
            session.command("auth", config.reply_timeout, line, 235).await?;
        }
        Ok(session)
    }

    /// One AUTH attempt from `source` (a loopback address): connects, TLS as configured, EHLO,
    /// sends `auth_line` and returns the reply's code and enhanced code, whatever they are,
    /// then QUITs.
    pub async fn auth_attempt(
        &self,
        config: &Config,
        source: IpAddr,
        auth_line: &[u8],
    ) -> Result<(u16, String), Failure> {
        let mut session = self.greeted(config, Some(source)).await?;
        session.write("auth", config.reply_timeout, auth_line).await?;
        let reply = session.read_reply("auth", config.reply_timeout).await?;
        if reply.0 != 421 {
            session.quit(config).await;
        }
        Ok(reply)
    }

    /// Connects (from `source` when given) and brings the session to the point where AUTH may
    /// be sent.
    async fn greeted(&self, config: &Config, source: Option<IpAddr>) -> Result<Session, Failure> {
        let t = config.reply_timeout;
        let tcp = match tokio::time::timeout(t, connect(config.server, source)).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => return Err(transport("connect", &e)),
            Err(_) => return Err(timeout("connect")),
        };
        let _ = tcp.set_nodelay(true);
        let mut session = Session { wire: Connection::new(Stream::Plain(tcp)), pipelining: false, resumed: false };
        if config.tls == TlsMode::Implicit {
            session = self.handshake(session, t).await?;
        }
        session.expect("greeting", t, 220).await?;
        session.ehlo(t).await?;
        if config.tls == TlsMode::StartTls {
            session.command("starttls", t, b"STARTTLS\r\n", 220).await?;
            session = self.handshake(session, t).await?;
            session.ehlo(t).await?;
        }
        Ok(session)
    }

    async fn handshake(&self, session: Session, t: Duration) -> Result<Session, Failure> {
        let name = ServerName::try_from("localhost").expect("static name");
        match session.wire.upgrade(&self.tls, name, t).await {
            Ok(wire) => {
                let resumed =
                    wire.stream().tls().and_then(|c| c.handshake_kind()) == Some(rustls::HandshakeKind::Resumed);
                Ok(Session { wire, pipelining: false, resumed })
            }
            Err(authrelay_transport::UpgradeError::Timeout) => Err(timeout("tls")),
            Err(authrelay_transport::UpgradeError::Handshake(e)) => Err(transport("tls", &e)),
            Err(e) => Err(Failure::Transport { stage: "tls", what: e.to_string() }),
        }
    }
}

pub(crate) struct Session {
    wire: Connection,
    pipelining: bool,
    /// The TLS handshake resumed an earlier session.
    pub resumed: bool,
}

impl Session {
    /// One transaction: MAIL, RCPT, DATA, the message, the final dot.
    pub async fn send(&mut self, config: &Config, message: &[u8]) -> Result<(), Failure> {
        let t = config.reply_timeout;
        let mail = format!("MAIL FROM:<{}>\r\n", config.mail_from);
        let rcpt = format!("RCPT TO:<{}>\r\n", config.rcpt_to);
        let (mail_reply, rcpt_reply, data_reply) = if config.pipelining && self.pipelining {
            let mut batch = Vec::with_capacity(mail.len() + rcpt.len() + 6);
            batch.extend_from_slice(mail.as_bytes());
            batch.extend_from_slice(rcpt.as_bytes());
            batch.extend_from_slice(b"DATA\r\n");
            self.write("mail", t, &batch).await?;
            let m = self.read_reply("mail", t).await?;
            let r = self.read_reply("rcpt", t).await?;
            let d = self.read_reply("data", t).await?;
            (m, r, d)
        } else {
            self.write("mail", t, mail.as_bytes()).await?;
            let m = self.read_reply("mail", t).await?;
            if m.0 / 100 != 2 {
                self.reset(t).await;
                return Err(reply_failure("mail", m));
            }
            self.write("rcpt", t, rcpt.as_bytes()).await?;
            let r = self.read_reply("rcpt", t).await?;
            if r.0 / 100 != 2 {
                self.reset(t).await;
                return Err(reply_failure("rcpt", r));
            }
            self.write("data", t, b"DATA\r\n").await?;
            let d = self.read_reply("data", t).await?;
            (m, r, d)
        };
        if data_reply.0 != 354 {
            let failure = if mail_reply.0 / 100 != 2 {
                reply_failure("mail", mail_reply)
            } else if rcpt_reply.0 / 100 != 2 {
                reply_failure("rcpt", rcpt_reply)
            } else {
                reply_failure("data", data_reply)
            };
            if !failure.is_fatal() {
                self.reset(t).await;
            }
            return Err(failure);
        }
        // 354 although MAIL or RCPT failed would be a server bug; the message is still sent so
        // the dialogue stays in step, and counted by its final reply.
        self.write("message", t, message).await?;
        let end = self.read_reply("message", t).await?;
        if end.0 / 100 == 2 {
            Ok(())
        } else {
            Err(reply_failure("message", end))
        }
    }

    /// QUIT, waiting (bounded) for the 221 so the server sees an orderly end.
    pub async fn quit(mut self, config: &Config) {
        let t = config.reply_timeout.min(Duration::from_secs(5));
        if self.write("quit", t, b"QUIT\r\n").await.is_ok() {
            let _ = self.read_reply("quit", t).await;
        }
        self.wire.shutdown(t).await;
    }

    async fn reset(&mut self, t: Duration) {
        if self.write("rset", t, b"RSET\r\n").await.is_ok() {
            let _ = self.read_reply("rset", t).await;
        }
    }

    async fn ehlo(&mut self, t: Duration) -> Result<(), Failure> {
        self.write("ehlo", t, b"EHLO bench.localhost\r\n").await?;
        let reply = self.wire.read_reply(t).await.map_err(|e| read_failure("ehlo", e))?;
        if reply.code != 250 {
            return Err(Failure::Reply { stage: "ehlo", code: reply.code, enhanced: String::new() });
        }
        self.pipelining = reply.has_keyword("PIPELINING");
        Ok(())
    }

    async fn command(&mut self, stage: &'static str, t: Duration, line: &[u8], want: u16) -> Result<(), Failure> {
        self.write(stage, t, line).await?;
        self.expect(stage, t, want).await
    }

    async fn expect(&mut self, stage: &'static str, t: Duration, want: u16) -> Result<(), Failure> {
        let reply = self.read_reply(stage, t).await?;
        if reply.0 == want {
            Ok(())
        } else {
            Err(reply_failure(stage, reply))
        }
    }

    async fn write(&mut self, stage: &'static str, t: Duration, bytes: &[u8]) -> Result<(), Failure> {
        self.wire.send(bytes, t).await.map_err(|e| read_failure(stage, e))
    }

    /// Code and enhanced status code of the next reply.
    async fn read_reply(&mut self, stage: &'static str, t: Duration) -> Result<(u16, String), Failure> {
        let reply = self.wire.read_reply(t).await.map_err(|e| read_failure(stage, e))?;
        Ok((reply.code, reply.enhanced_text()))
    }
}

fn read_failure(stage: &'static str, e: ReplyError) -> Failure {
    match e {
        ReplyError::Timeout => timeout(stage),
        ReplyError::Io(e) => transport(stage, &e),
        other => Failure::Transport { stage, what: other.to_string() },
    }
}

fn reply_failure(stage: &'static str, (code, enhanced): (u16, String)) -> Failure {
    Failure::Reply { stage, code, enhanced }
}

fn transport(stage: &'static str, e: &io::Error) -> Failure {
    let what = match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused".to_string(),
        io::ErrorKind::ConnectionReset => "connection reset".to_string(),
        io::ErrorKind::BrokenPipe => "connection closed".to_string(),
        io::ErrorKind::UnexpectedEof => "connection closed".to_string(),
        _ => e.to_string(),
    };
    Failure::Transport { stage, what }
}

fn timeout(stage: &'static str) -> Failure {
    Failure::Transport { stage, what: "timed out".into() }
}

/// The message every transaction sends: headers and a body of printable lines padded to
/// `config.size` bytes, CRLF line endings, no line starting with a dot, then the final dot.
pub(crate) fn build_message(config: &Config) -> Vec<u8> {
    let mut m = format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: authrelay bench\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n\
         Message-ID: <bench@bench.localhost>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
        from = config.mail_from,
        to = config.rcpt_to
    )
    .into_bytes();
    const LINE: &[u8] = b"The quick brown fox jumps over the lazy dog while the scanner sends page 0042";
    while m.len() + 2 < config.size {
        let room = config.size - m.len() - 2;
        m.extend_from_slice(&LINE[..LINE.len().min(room)]);
        m.extend_from_slice(b"\r\n");
    }
    if !m.ends_with(b"\r\n") {
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b".\r\n");
    m
}

/// A TCP connection to `server`, from `source` when given.
async fn connect(server: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    let Some(source) = source else { return TcpStream::connect(server).await };
    let socket = if source.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.bind(SocketAddr::new(source, 0))?;
    socket.connect(server).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_has_the_asked_size_and_is_safe_to_send() {
        for size in [0, 300, 1024, 100 * 1024] {
            let mut config = Config::new("127.0.0.1:1".parse().unwrap());
            config.size = size;
            let m = build_message(&config);
            assert!(m.ends_with(b"\r\n.\r\n"));
            let body = &m[..m.len() - 3];
            if size > 400 {
                assert!(body.len() <= size && body.len() + 2 >= size, "{} for {size}", body.len());
            }
            for line in body.split(|b| *b == b'\n') {
                assert!(!line.starts_with(b"."));
                assert!(line.len() <= 998);
            }
            assert!(!body.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'));
        }
    }
}
