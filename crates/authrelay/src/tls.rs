//! The server certificate: the configured PEM pair, or a self-signed one made on first start
//! under `<data_dir>/tls/` so a fresh install speaks TLS at once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use authrelay_config::Effective;

pub fn self_signed_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// Returns (cert path, key path), creating the self-signed pair when none is configured.
pub fn ensure_certificate(config: &Effective) -> Result<(PathBuf, PathBuf), String> {
    if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
        return Ok((cert.clone(), key.clone()));
    }
    let (cert, key) = self_signed_paths(&config.data_dir);
    if cert.is_file() && key.is_file() {
        return Ok((cert, key));
    }
    let mut names = vec![config.hostname.clone(), "localhost".to_string()];
    names.dedup();
    let certified = rcgen::generate_simple_self_signed(names).map_err(|e| format!("cannot make a certificate: {e}"))?;
    let dir = cert.parent().expect("tls dir");
    create_private_dir(dir)?;
    write_private(&key, certified.key_pair.serialize_pem().as_bytes())?;
    write_private(&cert, certified.cert.pem().as_bytes())?;
    tracing::info!(cert = %cert.display(), "created a self-signed certificate; configure tls.cert and tls.key for a real one");
    Ok((cert, key))
}

fn create_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    f.write_all(bytes).and_then(|_| f.sync_all()).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// A rustls server configuration for TLS 1.2 and 1.3 only.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs: Vec<CertificateDer<'static>> = {
        let mut reader = std::io::BufReader::new(
            std::fs::File::open(cert).map_err(|e| format!("cannot read {}: {e}", cert.display()))?,
        );
        rustls_pemfile::certs(&mut reader)
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{} is not a PEM certificate: {e}", cert.display()))?
    };
    if certs.is_empty() {
        return Err(format!("{} holds no certificate", cert.display()));
    }
    let key: PrivateKeyDer<'static> = {
        let mut reader = std::io::BufReader::new(
            std::fs::File::open(key).map_err(|e| format!("cannot read {}: {e}", key.display()))?,
        );
        rustls_pemfile::private_key(&mut reader)
            .map_err(|e| format!("{} is not a PEM key: {e}", key.display()))?
            .ok_or_else(|| format!("{} holds no private key", key.display()))?
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the certificate and key do not fit together: {e}"))?;
    // Resumption saves devices that reconnect every minute a full handshake.
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(4096);
    Ok(Arc::new(config))
}
