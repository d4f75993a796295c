//! The HTTP client for discovery documents, JWKS and token endpoints.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Why a URL may not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    #[error("'{0}' is not a URL")]
    Unparsable(String),
    #[error("'{0}' must use https:// (plain http:// is allowed only for loopback addresses)")]
    NotHttps(String),
}

/// Parses a URL and requires https, except for loopback hosts (tests, a local provider).
pub fn check_url(text: &str) -> Result<url::Url, UrlError> {
    let url = url::Url::parse(text).map_err(|_| UrlError::Unparsable(text.to_string()))?;
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(UrlError::NotHttps(text.to_string())),
        _ => Err(UrlError::Unparsable(text.to_string())),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// A client with the web PKI roots (plus `ca_file`, PEM, when given), 10-second timeouts and no
/// redirects (a token endpoint that redirects is misconfigured; following could leak a secret).
pub fn client(ca_file: Option<&Path>) -> Result<reqwest::Client, String> {
    client_with_timeout(ca_file, Duration::from_secs(10))
}

/// [`client`] with another whole-request timeout (an API call that uploads a message).
pub fn client_with_timeout(ca_file: Option<&Path>, timeout: Duration) -> Result<reqwest::Client, String> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
            let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
            roots.add(cert).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("authrelay/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_required_except_on_loopback() {
        assert!(check_url("https://login.microsoftonline.com/x/v2.0").is_ok());
        assert!(check_url("http://127.0.0.1:8080/").is_ok());
        assert!(check_url("http://[::1]:8080/").is_ok());
        assert!(check_url("http://localhost/jwks").is_ok());
        assert_eq!(check_url("http://idp.example/"), Err(UrlError::NotHttps("http://idp.example/".into())));
        assert!(check_url("ftp://idp.example/").is_err());
        assert!(check_url("idp.example").is_err());
    }
}
