//! The server certificate: the configured PEM pair, or a self-signed one made on first start
//! under `<data_dir>/tls/` so a fresh install speaks TLS at once.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::ResolvesServerCert;
use rustls::sign::CertifiedKey;

use authrelay_config::Effective;

pub fn self_signed_paths(data_dir: &Path) -> (PathBuf, PathBuf) {
    let dir = data_dir.join("tls");
    (dir.join("cert.pem"), dir.join("key.pem"))
}

/// Where the ACME certificate, its account and status live (crates/authrelay/src/acme.rs).
pub struct AcmePaths {
    pub dir: PathBuf,
    pub account: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    pub status: PathBuf,
    pub renew_requested: PathBuf,
}

pub fn acme_paths(data_dir: &Path) -> AcmePaths {
    let dir = data_dir.join("acme");
    AcmePaths {
        account: dir.join("account.json"),
        cert: dir.join("cert.pem"),
        key: dir.join("key.pem"),
        status: dir.join("status.json"),
        renew_requested: dir.join("renew-requested"),
        dir,
    }
}

/// How long a self-signed certificate made here is valid: the longest browsers and mail
/// clients accept for a server certificate (CA/Browser Forum: 397 days).
pub const SELF_SIGNED_DAYS: i64 = 397;
/// A self-signed certificate with fewer days left is made anew at start.
pub const RENEW_BEFORE_DAYS: i64 = 30;

/// Returns (cert path, key path), creating the self-signed pair when none is configured, and
/// making it anew when it is near its end or no longer names what devices connect to.
pub fn ensure_certificate(config: &Effective) -> Result<(PathBuf, PathBuf), String> {
    if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
        return Ok((cert.clone(), key.clone()));
    }
    if config.tls.acme.is_some() {
        // The CA's pair once there is one (renewed by crate::acme's task); the self-signed one
        // until then.
        let acme = acme_paths(&config.data_dir);
        if CurrentCert::load(&acme.cert, &acme.key).is_ok() {
            return Ok((acme.cert, acme.key));
        }
    }
    let (cert, key) = self_signed_paths(&config.data_dir);
    let names = self_signed_names(config);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if cert.is_file() && key.is_file() {
        match renewal_reason(&cert, &names, now) {
            None => return Ok((cert, key)),
            Some(reason) => tracing::warn!(cert = %cert.display(), reason, "making the self-signed certificate anew"),
        }
    }
    let (cert_pem, key_pem) = self_signed(&names, now)?;
    let dir = cert.parent().expect("tls dir");
    create_private_dir(dir)?;
    write_private(&key, key_pem.as_bytes())?;
    write_private(&cert, cert_pem.as_bytes())?;
    tracing::info!(cert = %cert.display(), names = ?names, days = SELF_SIGNED_DAYS, "created a self-signed certificate; configure tls.cert and tls.key for a real one");
    Ok((cert, key))
}

/// What the self-signed certificate names: the configured host name, `localhost`, the
/// loopback addresses and every specific address a listener is bound to, so a device that
/// connects by IP address can verify it too.
pub fn self_signed_names(config: &Effective) -> Vec<String> {
    let mut names = vec![config.hostname.clone(), "localhost".to_string()];
    let mut ips: Vec<std::net::IpAddr> = vec![[127, 0, 0, 1].into(), std::net::Ipv6Addr::LOCALHOST.into()];
    for addr in [config.listen.submission, config.listen.submissions].into_iter().flatten() {
        if !addr.ip().is_unspecified() && !ips.contains(&addr.ip()) {
            ips.push(addr.ip());
        }
    }
    names.extend(ips.iter().map(|ip| ip.to_string()));
    let mut seen = std::collections::HashSet::new();
    names.retain(|n| seen.insert(n.clone()));
    names
}

/// Why an existing self-signed certificate must be made anew, if it must.
fn renewal_reason(cert: &Path, names: &[String], now: i64) -> Option<&'static str> {
    let Some(facts) = read_facts(cert) else { return Some("it cannot be read") };
    if facts.not_after - now < RENEW_BEFORE_DAYS * 86_400 {
        return Some("it expires within 30 days");
    }
    if names.iter().any(|n| !facts.names.iter().any(|have| have.eq_ignore_ascii_case(n))) {
        return Some("it does not name the host name or a listen address");
    }
    None
}

/// The facts of the first certificate of a PEM file.
pub fn read_facts(cert: &Path) -> Option<authrelay_troubleshoot::cert::CertFacts> {
    let der = first_der(cert)?;
    authrelay_troubleshoot::cert::facts(&der)
}

/// The DER bytes of the first certificate of a PEM file.
pub fn first_der(cert: &Path) -> Option<Vec<u8>> {
    let mut reader = std::io::BufReader::new(std::fs::File::open(cert).ok()?);
    let first = rustls_pemfile::certs(&mut reader).next()?.ok()?;
    Some(first.as_ref().to_vec())
}

/// A new self-signed certificate (PEM) and its key (PEM), valid from an hour ago (clock skew)
/// for [`SELF_SIGNED_DAYS`].
fn self_signed(names: &[String], now: i64) -> Result<(String, String), String> {
    let fail = |e: rcgen::Error| format!("cannot make a certificate: {e}");
    let mut params = rcgen::CertificateParams::new(names.to_vec()).map_err(fail)?;
    params.distinguished_name.push(rcgen::DnType::CommonName, names[0].clone());
    params.distinguished_name.push(rcgen::DnType::OrganizationName, "authrelay (self-signed)");
    let at = |unix: i64| time::OffsetDateTime::from_unix_timestamp(unix).map_err(|e| e.to_string());
    params.not_before = at(now - 3600)?;
    params.not_after = at(now + SELF_SIGNED_DAYS * 86_400)?;
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate().map_err(fail)?;
    let cert = params.self_signed(&key).map_err(fail)?;
    Ok((cert.pem(), key.serialize_pem()))
}

pub(crate) fn create_private_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
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

/// The certificate the listeners serve, swapped in place by a reload (SIGHUP): every
/// handshake asks [`ResolvesServerCert::resolve`], so a session already open keeps the
/// certificate it was made with and the next one gets the new one.
#[derive(Debug)]
pub struct CurrentCert {
    key: std::sync::RwLock<Arc<CertifiedKey>>,
}

impl CurrentCert {
    /// Reads a PEM pair; refuses a pair whose key does not fit the certificate.
    pub fn load(cert: &Path, key: &Path) -> Result<CurrentCert, String> {
        Ok(CurrentCert { key: std::sync::RwLock::new(Arc::new(certified_key(cert, key)?)) })
    }

    /// Replaces the served certificate with the pair on disk; on any problem the old one stays.
    pub fn reload(&self, cert: &Path, key: &Path) -> Result<(), String> {
        let fresh = Arc::new(certified_key(cert, key)?);
        *self.key.write().unwrap_or_else(|e| e.into_inner()) = fresh;
        Ok(())
    }
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.key.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, String> {
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
    CertifiedKey::from_der(certs, key, &provider())
        .map_err(|e| format!("the certificate and key do not fit together: {e}"))
}

/// A rustls server configuration for TLS 1.2 and 1.3 only, serving whatever `current` holds.
pub fn server_config(current: Arc<CurrentCert>) -> Result<Arc<rustls::ServerConfig>, String> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_cert_resolver(current);
    // Our order of cipher suites (rustls': AEAD only, strongest first), not the client's.
    config.ignore_client_order = true;
    // Resumption saves devices that reconnect every minute a full handshake.
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(4096);
    Ok(Arc::new(config))
}
