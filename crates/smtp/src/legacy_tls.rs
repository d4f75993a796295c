//! TLS 1.0 and 1.1 for legacy devices, through the system's OpenSSL (the `legacy-tls`
//! feature). Only a `[[listeners]]` entry with `tls_min` below 1.2 uses it, and only there is
//! OpenSSL's security level 0 set: the default listeners stay on rustls with TLS 1.2 and later
//! (README "Legacy devices").
//!
//! The certificate and key are read from their PEM files at each handshake, so a renewed
//! certificate (ACME, a replaced file) is served without a restart; legacy devices are few.

use std::path::PathBuf;
use std::pin::Pin;

use openssl::ssl::{Ssl, SslAcceptor, SslFiletype, SslMethod, SslOptions, SslVersion};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_openssl::SslStream;

use crate::config::TlsMin;

/// What a legacy listener's handshakes are made of.
#[derive(Debug, Clone)]
pub struct LegacyTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub tls_min: TlsMin,
}

impl LegacyTls {
    /// OpenSSL's handshake for a listener that offers TLS below 1.2; `None` for every other.
    pub fn for_listener(rules: &crate::config::ListenerRules) -> Option<LegacyTls> {
        let (cert, key) = rules.pem_files.clone()?;
        (rules.kind != crate::config::ListenerKind::Plain && rules.tls_min < TlsMin::V1_2).then_some(LegacyTls {
            cert,
            key,
            tls_min: rules.tls_min,
        })
    }

    fn acceptor(&self) -> Result<SslAcceptor, openssl::error::ErrorStack> {
        // Mozilla's intermediate profile (TLS 1.2 and 1.3, AEAD first), then lowered to exactly
        // what this listener allows. (The older `mozilla_intermediate` turns TLS 1.3 off.)
        let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
        let min = match self.tls_min {
            TlsMin::V1_0 => SslVersion::TLS1,
            TlsMin::V1_1 => SslVersion::TLS1_1,
            TlsMin::V1_2 => SslVersion::TLS1_2,
        };
        // Level 0 lets OpenSSL 3 negotiate TLS 1.0/1.1 (SHA-1 signatures) at all; the system's
        // openssl.cnf would otherwise raise the floor back to 1.2.
        b.set_security_level(0);
        // The profile turns 1.0 and 1.1 off by option too; the minimum below decides instead.
        b.clear_options(SslOptions::NO_TLSV1 | SslOptions::NO_TLSV1_1);
        b.set_min_proto_version(Some(min))?;
        b.set_max_proto_version(None)?;
        b.set_cipher_list("DEFAULT@SECLEVEL=0")?;
        b.set_certificate_chain_file(&self.cert)?;
        b.set_private_key_file(&self.key, SslFiletype::PEM)?;
        b.check_private_key()?;
        Ok(b.build())
    }

    /// The server side of one handshake over `stream`.
    pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(&self, stream: S) -> std::io::Result<SslStream<S>> {
        let acceptor = self.acceptor().map_err(std::io::Error::other)?;
        let ssl = Ssl::new(acceptor.context()).map_err(std::io::Error::other)?;
        let mut tls = SslStream::new(ssl, stream).map_err(std::io::Error::other)?;
        Pin::new(&mut tls).accept().await.map_err(std::io::Error::other)?;
        Ok(tls)
    }
}

/// OpenSSL's "TLSv1" is TLS 1.0; the sign-in log and the Received header say "TLSv1.0".
pub fn version_name(openssl: &str) -> String {
    match openssl {
        "TLSv1" => "TLSv1.0".to_string(),
        other => other.to_string(),
    }
}
