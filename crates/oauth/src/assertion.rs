//! Signed JWT assertions instead of a client secret (RFC 7523):
//!
//! - [`ClientCertificate`]: `private_key_jwt` client authentication (RFC 7523 §2.2, OpenID
//!   Connect Core §9) for the client-credentials grant, as Microsoft Entra takes it: RS256,
//!   header `x5t#S256` (and the legacy `x5t`) naming the uploaded certificate, claims
//!   `iss` = `sub` = client id, `aud` = the token endpoint, a fresh `jti`, `nbf`/`iat`/`exp`.
//! - [`ServiceAccountKey`]: Google's service-account key file, for the JWT-bearer grant
//!   (RFC 7523 §2.1) with domain-wide delegation: `iss` = the service account, `sub` = the
//!   mailbox it acts for, `scope`, `aud` = the token endpoint.
//! - [`generate`]: a key and a self-signed certificate to upload to the app registration
//!   (`authrelay oauth keygen`).
//!
//! Private keys never appear in `Debug` output or errors.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

/// How long an assertion is valid: Entra and Google take up to an hour; ten minutes is plenty
/// for one token request and little for a replay.
pub const ASSERTION_LIFETIME_SECS: u64 = 600;

/// Why a certificate, key or key file cannot be used. Never carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("cannot read {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    #[error("{0} holds no RSA private key (PEM) usable for RS256")]
    NoKey(PathBuf),
    #[error("{0} is not a Google service-account key file (JSON with client_email and private_key)")]
    NotServiceAccount(PathBuf),
    #[error("{0} already exists; move it away or choose another --out directory")]
    Exists(PathBuf),
    #[error("key generation failed: {0}")]
    Generate(String),
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn read(path: &Path) -> Result<Vec<u8>, KeyError> {
    fs::read(path).map_err(|e| KeyError::Read { path: path.to_path_buf(), reason: e.to_string() })
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// 128 random bits, base64url: the assertion's `jti` (each assertion is used once).
fn jti() -> String {
    let mut bytes = [0u8; 16];
    // The system RNG does not fail on Linux; were it to, a clock-based id still differs.
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        bytes[..8].copy_from_slice(&now().to_be_bytes());
    }
    b64url(&bytes)
}

/// The thumbprints an app registration knows a certificate by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Thumbprints {
    /// base64url SHA-256 of the certificate's DER: the `x5t#S256` header (RFC 7515 §4.1.8).
    pub x5t_s256: String,
    /// base64url SHA-1 of the DER: the `x5t` header Entra has always taken.
    pub x5t: String,
    /// Upper-case hex SHA-1: how the Entra admin center shows the certificate's thumbprint.
    pub sha1_hex: String,
}

impl Thumbprints {
    pub fn of(der: &[u8]) -> Thumbprints {
        use aws_lc_rs::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY, SHA256};
        let sha1 = digest(&SHA1_FOR_LEGACY_USE_ONLY, der);
        Thumbprints {
            x5t_s256: b64url(digest(&SHA256, der).as_ref()),
            x5t: b64url(sha1.as_ref()),
            sha1_hex: sha1.as_ref().iter().map(|b| format!("{b:02X}")).collect(),
        }
    }
}

/// A certificate uploaded to the app registration and its private key.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCertificate {
    key_pem: Vec<u8>,
    pub thumbprints: Thumbprints,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate").field("x5t#S256", &self.thumbprints.x5t_s256).finish_non_exhaustive()
    }
}

/// The first certificate of a PEM file, as DER.
fn first_certificate(path: &Path) -> Result<Vec<u8>, KeyError> {
    let pem = read(path)?;
    let first = rustls_pemfile::certs(&mut pem.as_slice()).flatten().next().map(|c| c.as_ref().to_vec());
    first.ok_or_else(|| KeyError::NoCertificate(path.to_path_buf()))
}

impl ClientCertificate {
    /// Reads the certificate (PEM; the first one counts) and its RSA private key (PEM, PKCS#8
    /// or PKCS#1).
    pub fn load(certificate: &Path, key: &Path) -> Result<ClientCertificate, KeyError> {
        let der = first_certificate(certificate)?;
        let key_pem = read(key)?;
        EncodingKey::from_rsa_pem(&key_pem).map_err(|_| KeyError::NoKey(key.to_path_buf()))?;
        Ok(ClientCertificate { key_pem, thumbprints: Thumbprints::of(&der) })
    }

    /// A `client_assertion` for `client_id` at `token_endpoint`.
    pub fn assertion(&self, client_id: &str, token_endpoint: &str) -> Result<String, String> {
        let mut header = Header::new(Algorithm::RS256);
        header.x5t_s256 = Some(self.thumbprints.x5t_s256.clone());
        header.x5t = Some(self.thumbprints.x5t.clone());
        let now = now();
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": token_endpoint,
            "jti": jti(),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        sign(&header, &claims, &self.key_pem)
    }
}

fn sign(header: &Header, claims: &serde_json::Value, key_pem: &[u8]) -> Result<String, String> {
    let key = EncodingKey::from_rsa_pem(key_pem).map_err(|_| "the private key cannot sign RS256".to_string())?;
    jsonwebtoken::encode(header, claims, &key).map_err(|e| format!("cannot sign the assertion: {e}"))
}

/// A Google service-account key file (JSON), as the Cloud console downloads it.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct ServiceAccountKey {
    pub client_email: String,
    #[serde(default)]
    pub private_key_id: Option<String>,
    private_key: String,
    /// Where the key file says tokens come from (`https://oauth2.googleapis.com/token`).
    #[serde(default)]
    pub token_uri: Option<String>,
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey").field("client_email", &self.client_email).finish_non_exhaustive()
    }
}

impl ServiceAccountKey {
    pub fn load(path: &Path) -> Result<ServiceAccountKey, KeyError> {
        let text = read(path)?;
        let key: ServiceAccountKey =
            serde_json::from_slice(&text).map_err(|_| KeyError::NotServiceAccount(path.to_path_buf()))?;
        if key.client_email.trim().is_empty() {
            return Err(KeyError::NotServiceAccount(path.to_path_buf()));
        }
        EncodingKey::from_rsa_pem(key.private_key.as_bytes()).map_err(|_| KeyError::NoKey(path.to_path_buf()))?;
        Ok(key)
    }

    /// The JWT-bearer `assertion` acting for `subject` (domain-wide delegation) with `scope`.
    pub fn assertion(&self, subject: &str, scope: &str, token_endpoint: &str) -> Result<String, String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.private_key_id.clone();
        let now = now();
        let claims = serde_json::json!({
            "iss": self.client_email,
            "sub": subject,
            "scope": scope,
            "aud": token_endpoint,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECS,
        });
        sign(&header, &claims, self.private_key.as_bytes())
    }
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Generated {
    pub certificate_file: PathBuf,
    pub key_file: PathBuf,
    pub certificate_pem: String,
    pub thumbprints: Thumbprints,
    /// Unix time the certificate stops being valid.
    pub not_after: i64,
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// An RSA-2048 key (Entra takes RS256 client assertions, not ECDSA) and a self-signed
/// certificate for it named `common_name`, valid for `days`, written to `dir` as
/// `client-cert.pem` and `client-key.pem` (0600). Existing files are never replaced.
pub fn generate(dir: &Path, common_name: &str, days: u32) -> Result<Generated, KeyError> {
    let certificate_file = dir.join("client-cert.pem");
    let key_file = dir.join("client-key.pem");
    for path in [&certificate_file, &key_file] {
        if path.exists() {
            return Err(KeyError::Exists(path.clone()));
        }
    }
    let failed = |e: &dyn std::fmt::Display| KeyError::Generate(e.to_string());
    let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(|e| failed(&e))?;
    let pkcs8: aws_lc_rs::encoding::Pkcs8V1Der = aws_lc_rs::encoding::AsDer::as_der(&key).map_err(|e| failed(&e))?;
    let pair = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8.as_ref().into(), &rcgen::PKCS_RSA_SHA256)
        .map_err(|e| failed(&e))?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| failed(&e))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, common_name);
    let start = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
    let end = start + time::Duration::days(i64::from(days.max(1)));
    params.not_before = start;
    params.not_after = end;
    let cert = params.self_signed(&pair).map_err(|e| failed(&e))?;
    let certificate_pem = cert.pem();
    let thumbprints = Thumbprints::of(cert.der());

    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| failed(&e))?;
    let write = |path: &Path, mode: u32, text: &str| -> Result<(), KeyError> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(|e| KeyError::Read { path: path.to_path_buf(), reason: e.to_string() })?;
        f.write_all(text.as_bytes())
            .and_then(|_| f.sync_all())
            .map_err(|e| KeyError::Read { path: path.to_path_buf(), reason: e.to_string() })
    };
    write(&key_file, 0o600, &pem_encode("PRIVATE KEY", pkcs8.as_ref()))?;
    write(&certificate_file, 0o644, &certificate_pem)?;
    Ok(Generated { certificate_file, key_file, certificate_pem, thumbprints, not_after: end.unix_timestamp() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    /// keygen's files load back; the assertion verifies with the certificate's public key and
    /// carries what RFC 7523 and Entra ask for; the thumbprints are those of the DER.
    #[test]
    fn generated_certificate_signs_verifiable_client_assertions() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("oauth");
        let made = generate(&out, "authrelay relay.contoso.com", 365).unwrap();
        let mode = |p: &Path| std::os::unix::fs::PermissionsExt::mode(&fs::metadata(p).unwrap().permissions()) & 0o777;
        assert_eq!(mode(&made.key_file), 0o600);
        assert!(matches!(generate(&out, "x", 1), Err(KeyError::Exists(_))), "never overwrites");

        let cert = ClientCertificate::load(&made.certificate_file, &made.key_file).unwrap();
        assert_eq!(cert.thumbprints, made.thumbprints);
        let der = first_certificate(&made.certificate_file).unwrap();
        let sha256 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
        assert_eq!(cert.thumbprints.x5t_s256, b64url(sha256.as_ref()));
        assert_eq!(cert.thumbprints.sha1_hex.len(), 40);
        assert!(!format!("{cert:?}").contains("PRIVATE"), "no key in Debug");

        let endpoint = "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token";
        let jwt = cert.assertion("11111111-2222-3333-4444-555555555555", endpoint).unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        assert_eq!(header.x5t_s256.as_deref(), Some(made.thumbprints.x5t_s256.as_str()));
        // Verify with the public key taken from the certificate (not from the key file).
        let spki = public_key_of(&der);
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&[endpoint]);
        v.set_issuer(&["11111111-2222-3333-4444-555555555555"]);
        v.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
        let claims =
            jsonwebtoken::decode::<serde_json::Value>(&jwt, &DecodingKey::from_rsa_der(&spki), &v).unwrap().claims;
        assert_eq!(claims["sub"], "11111111-2222-3333-4444-555555555555");
        assert!(claims["jti"].as_str().unwrap().len() >= 20);
        let second = cert.assertion("11111111-2222-3333-4444-555555555555", endpoint).unwrap();
        let jti2 = jsonwebtoken::decode::<serde_json::Value>(&second, &DecodingKey::from_rsa_der(&spki), &v).unwrap();
        assert_ne!(claims["jti"], jti2.claims["jti"], "a fresh jti per assertion");

        // Another key does not verify it.
        let other = generate(&dir.path().join("other"), "other", 1).unwrap();
        let other_spki = public_key_of(&first_certificate(&other.certificate_file).unwrap());
        assert!(jsonwebtoken::decode::<serde_json::Value>(&jwt, &DecodingKey::from_rsa_der(&other_spki), &v).is_err());
    }

    /// The RSAPublicKey (PKCS#1) inside the certificate's SubjectPublicKeyInfo: the BIT STRING
    /// that follows the rsaEncryption algorithm identifier.
    fn public_key_of(cert_der: &[u8]) -> Vec<u8> {
        let oid_then_null = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
        let at = cert_der.windows(oid_then_null.len()).position(|w| w == oid_then_null).unwrap() + oid_then_null.len();
        let rest = &cert_der[at..];
        assert_eq!(rest[0], 0x03, "BIT STRING");
        let (len, skip) = match rest[1] {
            n if n < 0x80 => (n as usize, 2),
            0x81 => (rest[2] as usize, 3),
            0x82 => (((rest[2] as usize) << 8) | rest[3] as usize, 4),
            _ => panic!("length"),
        };
        rest[skip + 1..skip + len].to_vec()
    }

    #[test]
    fn service_account_key_files() {
        let dir = tempfile::tempdir().unwrap();
        let made = generate(dir.path(), "sa", 1).unwrap();
        let key_pem = fs::read_to_string(&made.key_file).unwrap();
        let path = dir.path().join("sa.json");
        let json = serde_json::json!({
            "type": "service_account", "project_id": "p", "private_key_id": "kid-1",
            "private_key": key_pem, "client_email": "relay@p.iam.gserviceaccount.com",
            "token_uri": "https://oauth2.googleapis.com/token"
        });
        fs::write(&path, json.to_string()).unwrap();
        let key = ServiceAccountKey::load(&path).unwrap();
        assert!(!format!("{key:?}").contains("PRIVATE"));
        let jwt = key
            .assertion("scanner@contoso.com", "https://mail.google.com/", "https://oauth2.googleapis.com/token")
            .unwrap();
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.kid.as_deref(), Some("kid-1"));
        let spki = public_key_of(&first_certificate(&made.certificate_file).unwrap());
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&["https://oauth2.googleapis.com/token"]);
        let claims =
            jsonwebtoken::decode::<serde_json::Value>(&jwt, &DecodingKey::from_rsa_der(&spki), &v).unwrap().claims;
        assert_eq!(
            (claims["iss"].as_str(), claims["sub"].as_str(), claims["scope"].as_str()),
            (Some("relay@p.iam.gserviceaccount.com"), Some("scanner@contoso.com"), Some("https://mail.google.com/"))
        );
        fs::write(&path, "{\"client_email\": \"x\"}").unwrap();
        assert!(matches!(ServiceAccountKey::load(&path), Err(KeyError::NotServiceAccount(_))));
        fs::write(&path, serde_json::json!({"client_email": "x", "private_key": "nope"}).to_string()).unwrap();
        assert!(matches!(ServiceAccountKey::load(&path), Err(KeyError::NoKey(_))));
    }
}
