//! The SMTP client side of one connection: session setup, one transaction, QUIT.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
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
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
            .with_no_client_auth();
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
        let mut session =
            Session { io: Io::Plain(tcp), buf: Vec::with_capacity(1024), pipelining: false, resumed: false };
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
        let Io::Plain(tcp) = session.io else {
            return Err(Failure::Transport { stage: "tls", what: "TLS already active".into() });
        };
        if !session.buf.is_empty() {
            // Bytes after "220 Ready to start TLS" would be injected plaintext.
            return Err(Failure::Transport { stage: "tls", what: "server sent data before the handshake".into() });
        }
        let name = ServerName::try_from("localhost").expect("static name");
        match tokio::time::timeout(t, self.tls.connect(name, tcp)).await {
            Ok(Ok(tls)) => {
                let resumed = tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
                Ok(Session { io: Io::Tls(Box::new(tls)), buf: session.buf, pipelining: false, resumed })
            }
            Ok(Err(e)) => Err(transport("tls", &e)),
            Err(_) => Err(timeout("tls")),
        }
    }
}

pub(crate) struct Session {
    io: Io,
    /// Bytes read but not yet consumed.
    buf: Vec<u8>,
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
        let _ = tokio::time::timeout(t, self.io.shutdown()).await;
    }

    async fn reset(&mut self, t: Duration) {
        if self.write("rset", t, b"RSET\r\n").await.is_ok() {
            let _ = self.read_reply("rset", t).await;
        }
    }

    async fn ehlo(&mut self, t: Duration) -> Result<(), Failure> {
        self.write("ehlo", t, b"EHLO bench.localhost\r\n").await?;
        let (code, _, lines) = self.read_reply_lines("ehlo", t).await?;
        if code != 250 {
            return Err(Failure::Reply { stage: "ehlo", code, enhanced: String::new() });
        }
        self.pipelining = lines.iter().any(|l| l.eq_ignore_ascii_case("PIPELINING"));
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
        let io = &mut self.io;
        match tokio::time::timeout(t, async {
            io.write_all(bytes).await?;
            io.flush().await
        })
        .await
        {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(transport(stage, &e)),
            Err(_) => Err(timeout(stage)),
        }
    }

    /// Code and enhanced status code of the next reply.
    async fn read_reply(&mut self, stage: &'static str, t: Duration) -> Result<(u16, String), Failure> {
        let (code, enhanced, _) = self.read_reply_lines(stage, t).await?;
        Ok((code, enhanced))
    }

    /// Reads a whole (possibly multi-line) reply: code, enhanced code of the last line, and the
    /// text of every line after the first (the EHLO keywords).
    async fn read_reply_lines(
        &mut self,
        stage: &'static str,
        t: Duration,
    ) -> Result<(u16, String, Vec<String>), Failure> {
        let deadline = tokio::time::Instant::now() + t;
        let mut lines = Vec::new();
        let mut scanned = 0;
        loop {
            while let Some(pos) = self.buf[scanned..].iter().position(|b| *b == b'\n').map(|p| p + scanned) {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                scanned = 0;
                let text = String::from_utf8_lossy(&line).trim_end().to_string();
                let code = text.get(..3).and_then(|c| c.parse::<u16>().ok()).filter(|c| (200..600).contains(c));
                let Some(code) = code else {
                    return Err(Failure::Transport { stage, what: "malformed reply".into() });
                };
                let last = text.as_bytes().get(3) != Some(&b'-');
                lines.push(text.get(4..).unwrap_or("").to_string());
                if last {
                    let enhanced = lines
                        .last()
                        .and_then(|l| l.split_whitespace().next())
                        .filter(|w| w.len() >= 5 && w.split('.').count() == 3 && w.starts_with(['2', '4', '5']))
                        .unwrap_or("")
                        .to_string();
                    lines.remove(0);
                    return Ok((code, enhanced, lines));
                }
                if lines.len() > 100 {
                    return Err(Failure::Transport { stage, what: "reply too long".into() });
                }
            }
            scanned = self.buf.len();
            if self.buf.len() > 64 * 1024 {
                return Err(Failure::Transport { stage, what: "reply too long".into() });
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, self.io.read(&mut chunk)).await {
                Ok(Ok(0)) => return Err(Failure::Transport { stage, what: "connection closed".into() }),
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
                Ok(Err(e)) => return Err(transport(stage, &e)),
                Err(_) => return Err(timeout(stage)),
            }
        }
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

/// Plain TCP until STARTTLS, TLS after (or from the start).
enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Io {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Io {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Accepts any server certificate. The benchmark only talks to loopback servers (checked
/// before connecting), which typically use self-signed certificates; signatures are still
/// verified, so the handshake is the same work as a checking client's.
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
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
