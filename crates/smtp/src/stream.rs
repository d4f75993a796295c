//! A connection that starts plain and may become TLS (STARTTLS), or is TLS from the start.
//!
//! Generic over the transport: the server gives TCP, the in-process session tests
//! (session/tests.rs) an in-memory pipe (`tokio::io::duplex`), both under real rustls.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// What a session can run over.
pub trait Connection: AsyncRead + AsyncWrite + Unpin + Send + 'static {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Connection for T {}

pub enum Stream<S = TcpStream> {
    Plain(S),
    Tls(Box<TlsStream<S>>),
    /// TLS 1.0/1.1 through OpenSSL on a legacy `[[listeners]]` entry (legacy_tls.rs).
    #[cfg(feature = "legacy-tls")]
    Legacy(Box<tokio_openssl::SslStream<S>>),
}

/// What the session and the Received header report about TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// "TLSv1.3" or "TLSv1.2".
    pub version: String,
    pub cipher: String,
}

impl<S> Stream<S> {
    pub fn tls_info(&self) -> Option<TlsInfo> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(tls) => {
                let conn = tls.get_ref().1;
                let version = match conn.protocol_version() {
                    Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
                    Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
                    Some(other) => format!("{other:?}"),
                    None => "unknown".to_string(),
                };
                let cipher = conn
                    .negotiated_cipher_suite()
                    .and_then(|s| s.suite().as_str().map(str::to_string))
                    .unwrap_or_else(|| "unknown".into());
                Some(TlsInfo { version, cipher })
            }
            #[cfg(feature = "legacy-tls")]
            Stream::Legacy(tls) => {
                let ssl = tls.ssl();
                Some(TlsInfo {
                    version: crate::legacy_tls::version_name(ssl.version_str()),
                    cipher: ssl.current_cipher().map_or_else(|| "unknown".into(), |c| c.name().to_string()),
                })
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Stream<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            #[cfg(feature = "legacy-tls")]
            Stream::Legacy(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Stream<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            #[cfg(feature = "legacy-tls")]
            Stream::Legacy(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            #[cfg(feature = "legacy-tls")]
            Stream::Legacy(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            #[cfg(feature = "legacy-tls")]
            Stream::Legacy(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
