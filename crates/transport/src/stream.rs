//! The stream (plain TCP or TLS) and the connection that reads replies from it.

use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::reply::{Reply, ReplyError, ReplyParser};

/// Plain TCP until STARTTLS, TLS after (or from the first byte, RFC 8314).
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// The TCP socket under the stream (for peeking at an idle connection, addresses).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref().0,
        }
    }

    /// The TLS session, once TLS is up: version, cipher, whether it was resumed.
    pub fn tls(&self) -> Option<&rustls::ClientConnection> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(s) => Some(s.get_ref().1),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Why TLS could not be started on a connection.
#[derive(Debug)]
pub enum UpgradeError {
    AlreadyTls,
    /// The far side sent bytes after its answer to STARTTLS: they would be read as if they had
    /// come through TLS (CVE-2011-0411), so the connection is not upgraded.
    UnreadData,
    Timeout,
    /// The handshake failed (the rustls error, e.g. a certificate that does not verify).
    Handshake(io::Error),
}

impl fmt::Display for UpgradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UpgradeError::AlreadyTls => f.write_str("TLS already active"),
            UpgradeError::UnreadData => f.write_str("server sent data before the TLS handshake"),
            UpgradeError::Timeout => f.write_str("TLS handshake timed out"),
            UpgradeError::Handshake(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for UpgradeError {}

/// A client connection: the stream and the replies read from it.
pub struct Connection {
    stream: Stream,
    /// Received bytes not yet part of a whole reply.
    buf: Vec<u8>,
    parser: ReplyParser,
}

impl Connection {
    pub fn new(stream: Stream) -> Self {
        Connection { stream, buf: Vec::with_capacity(1024), parser: ReplyParser::default() }
    }

    pub fn stream(&self) -> &Stream {
        &self.stream
    }

    /// True when bytes arrived that no reply asked for yet.
    pub fn has_unread(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The next whole reply, within `timeout`.
    pub async fn read_reply(&mut self, timeout: Duration) -> Result<Reply, ReplyError> {
        tokio::time::timeout(timeout, self.read_reply_untimed()).await.map_err(|_| ReplyError::Timeout)?
    }

    async fn read_reply_untimed(&mut self) -> Result<Reply, ReplyError> {
        loop {
            if let Some(reply) = self.parser.parse(&mut self.buf)? {
                return Ok(reply);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk).await? {
                0 => return Err(ReplyError::Closed),
                n => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Writes `bytes` (one or more command lines, or a message) and flushes, within `timeout`.
    pub async fn send(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), ReplyError> {
        let stream = &mut self.stream;
        tokio::time::timeout(timeout, async {
            stream.write_all(bytes).await?;
            stream.flush().await
        })
        .await
        .map_err(|_| ReplyError::Timeout)?
        .map_err(ReplyError::from)
    }

    /// Sends a command and reads its reply, all within `timeout`.
    pub async fn command(&mut self, line: &[u8], timeout: Duration) -> Result<Reply, ReplyError> {
        tokio::time::timeout(timeout, async {
            self.stream.write_all(line).await?;
            self.stream.flush().await?;
            self.read_reply_untimed().await
        })
        .await
        .map_err(|_| ReplyError::Timeout)?
    }

    /// Starts TLS on a plain connection: after the far side's 220 to STARTTLS (RFC 3207), or at
    /// once for implicit TLS. Everything learned before (EHLO) is to be asked again.
    pub async fn upgrade(
        self,
        connector: &TlsConnector,
        name: ServerName<'static>,
        timeout: Duration,
    ) -> Result<Connection, UpgradeError> {
        if !self.buf.is_empty() {
            return Err(UpgradeError::UnreadData);
        }
        let Stream::Plain(tcp) = self.stream else { return Err(UpgradeError::AlreadyTls) };
        let tls = tokio::time::timeout(timeout, connector.connect(name, tcp))
            .await
            .map_err(|_| UpgradeError::Timeout)?
            .map_err(UpgradeError::Handshake)?;
        Ok(Connection { stream: Stream::Tls(Box::new(tls)), buf: self.buf, parser: ReplyParser::default() })
    }

    /// Ends the stream (TLS close_notify, then FIN), within `timeout`.
    pub async fn shutdown(&mut self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.stream.shutdown()).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::{AsyncBufReadExt, BufReader};
    use tokio::net::TcpListener;

    use super::*;

    const T: Duration = Duration::from_secs(5);

    /// A real TLS server on loopback with a fresh self-signed certificate for `localhost`; the
    /// client trusts exactly that certificate, so the handshake verifies for real.
    fn tls_pair() -> (tokio_rustls::TlsAcceptor, TlsConnector) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let der = cert.cert.der().clone();
        let key = rustls::pki_types::PrivateKeyDer::Pkcs8(cert.key_pair.serialize_der().into());
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let server = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![der.clone()], key)
            .unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der).unwrap();
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        (tokio_rustls::TlsAcceptor::from(Arc::new(server)), TlsConnector::from(Arc::new(client)))
    }

    /// A scripted server: greeting, EHLO, STARTTLS (followed by `inject` in clear), then EHLO
    /// and QUIT over TLS.
    async fn starttls_server(acceptor: tokio_rustls::TlsAcceptor, inject: &'static [u8]) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            tcp.write_all(b"220 test ESMTP\r\n").await.unwrap();
            let mut lines = BufReader::new(tcp);
            let mut line = String::new();
            lines.read_line(&mut line).await.unwrap();
            lines.get_mut().write_all(b"250-test\r\n250 STARTTLS\r\n").await.unwrap();
            line.clear();
            lines.read_line(&mut line).await.unwrap();
            assert_eq!(line, "STARTTLS\r\n");
            let mut out = b"220 2.0.0 go ahead\r\n".to_vec();
            out.extend_from_slice(inject);
            lines.get_mut().write_all(&out).await.unwrap();
            let Ok(tls) = acceptor.accept(lines.into_inner()).await else { return };
            let mut tls = BufReader::new(tls);
            for reply in [&b"250-test\r\n250 AUTH PLAIN\r\n"[..], b"221 bye\r\n"] {
                line.clear();
                if tls.read_line(&mut line).await.unwrap_or(0) == 0 {
                    return;
                }
                tls.get_mut().write_all(reply).await.unwrap();
                tls.get_mut().flush().await.unwrap();
            }
        });
        port
    }

    #[tokio::test]
    async fn starttls_upgrades_in_place_and_replies_continue_over_tls() {
        let (acceptor, connector) = tls_pair();
        let port = starttls_server(acceptor, b"").await;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut conn = Connection::new(Stream::Plain(tcp));
        assert_eq!(conn.read_reply(T).await.unwrap().code, 220);
        let ehlo = conn.command(b"EHLO me\r\n", T).await.unwrap();
        assert!(ehlo.has_keyword("STARTTLS") && ehlo.auth_mechanisms().is_empty());
        assert_eq!(conn.command(b"STARTTLS\r\n", T).await.unwrap().code, 220);
        let name = ServerName::try_from("localhost").unwrap();
        let mut conn = conn.upgrade(&connector, name, T).await.unwrap();
        assert!(conn.stream().tls().is_some());
        let ehlo = conn.command(b"EHLO me\r\n", T).await.unwrap();
        assert_eq!(ehlo.auth_mechanisms(), ["PLAIN"]);
        assert_eq!(conn.command(b"QUIT\r\n", T).await.unwrap().code, 221);
    }

    /// Plaintext after the 220 to STARTTLS would pass as protected: no upgrade (CVE-2011-0411).
    #[tokio::test]
    async fn bytes_injected_after_starttls_stop_the_upgrade() {
        let (acceptor, connector) = tls_pair();
        let port = starttls_server(acceptor, b"250 injected\r\n").await;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut conn = Connection::new(Stream::Plain(tcp));
        conn.read_reply(T).await.unwrap();
        conn.command(b"EHLO me\r\n", T).await.unwrap();
        conn.send(b"STARTTLS\r\n", T).await.unwrap();
        // Let both lines arrive, so one read takes them together.
        let deadline = tokio::time::Instant::now() + T;
        let mut byte = [0u8; 64];
        while conn.stream().tcp().peek(&mut byte).await.unwrap() < 34 {
            assert!(tokio::time::Instant::now() < deadline, "the server's lines never came");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(conn.read_reply(T).await.unwrap().code, 220);
        assert!(conn.has_unread());
        let name = ServerName::try_from("localhost").unwrap();
        assert!(matches!(conn.upgrade(&connector, name, T).await, Err(UpgradeError::UnreadData)));
    }

    #[tokio::test]
    async fn a_certificate_for_another_name_fails_the_handshake() {
        let (acceptor, connector) = tls_pair();
        let port = starttls_server(acceptor, b"").await;
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut conn = Connection::new(Stream::Plain(tcp));
        conn.read_reply(T).await.unwrap();
        conn.command(b"EHLO me\r\n", T).await.unwrap();
        conn.command(b"STARTTLS\r\n", T).await.unwrap();
        let name = ServerName::try_from("mx.example.net").unwrap();
        match conn.upgrade(&connector, name, T).await {
            Err(UpgradeError::Handshake(e)) => assert!(e.to_string().contains("certificate"), "{e}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a certificate for localhost passed for mx.example.net"),
        }
    }

    #[tokio::test]
    async fn a_far_side_that_talks_forever_is_cut_off() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            // Bounded too: at most 1 MiB, or until the client hangs up.
            for _ in 0..256 {
                if tcp.write_all(&[b'2'; 4096]).await.is_err() {
                    return;
                }
            }
        });
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut conn = Connection::new(Stream::Plain(tcp));
        assert!(matches!(conn.read_reply(T).await, Err(ReplyError::LineTooLong)));
    }

    #[tokio::test]
    async fn a_silent_or_closing_far_side() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (first, _) = listener.accept().await.unwrap();
            let (mut second, _) = listener.accept().await.unwrap();
            second.write_all(b"220-half\r\n").await.unwrap();
            drop(second);
            tokio::time::sleep(T).await;
            drop(first);
        });
        let silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let closing = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut conn = Connection::new(Stream::Plain(silent));
        assert!(matches!(conn.read_reply(Duration::from_millis(200)).await, Err(ReplyError::Timeout)));
        let mut conn = Connection::new(Stream::Plain(closing));
        assert!(matches!(conn.read_reply(T).await, Err(ReplyError::Closed)));
    }
}
