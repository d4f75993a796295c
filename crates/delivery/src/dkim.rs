//! DKIM (RFC 6376, RFC 8463): keys per sending domain under `<data_dir>/dkim/<domain>/`, one
//! PKCS#8 PEM file per selector, made by `authrelay dkim generate`. Outbound mail whose From
//! domain has keys is signed with each of them (RSA and Ed25519 side by side is RFC 8463's
//! advice). Keys are generated with aws-lc-rs (already in the build for TLS) and used for
//! signing through mail-auth.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::KeyPair;
use base64::Engine;
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{DkimSigner, Done};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// Headers we sign when present (RFC 6376 5.4.1's recommendations).
const SIGNED_HEADERS: &[&str] = &[
    "From",
    "Sender",
    "Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "To",
    "Cc",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "In-Reply-To",
    "References",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Rsa,
    Ed25519,
}

impl std::str::FromStr for Algorithm {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "rsa" => Ok(Algorithm::Rsa),
            "ed25519" => Ok(Algorithm::Ed25519),
            _ => Err(()),
        }
    }
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Rsa => "rsa",
            Algorithm::Ed25519 => "ed25519",
        }
    }
}

/// What `dkim generate` made: where the key is and the record to publish.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Generated {
    pub path: PathBuf,
    pub selector: String,
    /// `<selector>._domainkey.<domain>`
    pub record_name: String,
    /// `v=DKIM1; k=rsa; p=…`
    pub record_value: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error("a key for selector '{selector}' already exists at {path}")]
    Exists { selector: String, path: PathBuf },
    #[error("'{0}' is not a valid selector (letters, digits and '-' only)")]
    BadSelector(String),
    #[error("key generation failed")]
    Crypto,
    #[error("{0}")]
    Io(#[from] io::Error),
}

pub fn keys_dir(data_dir: &Path, domain: &str) -> PathBuf {
    data_dir.join("dkim").join(domain.to_ascii_lowercase())
}

/// Makes a key for `domain` and writes it (0600) under the data directory.
pub fn generate(data_dir: &Path, domain: &str, algorithm: Algorithm, selector: &str) -> Result<Generated, DkimError> {
    if selector.is_empty()
        || selector.len() > 63
        || !selector.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        || selector.starts_with('-')
    {
        return Err(DkimError::BadSelector(selector.to_string()));
    }
    let dir = keys_dir(data_dir, domain);
    let path = dir.join(format!("{selector}.pem"));
    if path.exists() {
        return Err(DkimError::Exists { selector: selector.to_string(), path });
    }
    let (pkcs8, public) = match algorithm {
        Algorithm::Rsa => {
            let key =
                aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(|_| DkimError::Crypto)?;
            let der: aws_lc_rs::encoding::Pkcs8V1Der = key.as_der().map_err(|_| DkimError::Crypto)?;
            let spki: aws_lc_rs::encoding::PublicKeyX509Der =
                key.public_key().as_der().map_err(|_| DkimError::Crypto)?;
            (der.as_ref().to_vec(), spki.as_ref().to_vec())
        }
        Algorithm::Ed25519 => {
            let rng = aws_lc_rs::rand::SystemRandom::new();
            let doc = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| DkimError::Crypto)?;
            let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|_| DkimError::Crypto)?;
            // RFC 8463 3: the bare 32-byte public key.
            (doc.as_ref().to_vec(), pair.public_key().as_ref().to_vec())
        }
    };
    fs::DirBuilder::new().recursive(true).mode(0o700).create(&dir)?;
    let pem = pem_encode("PRIVATE KEY", &pkcs8);
    let mut f = OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path)?;
    f.write_all(pem.as_bytes())?;
    f.sync_all()?;
    Ok(Generated {
        path,
        selector: selector.to_string(),
        record_name: format!("{selector}._domainkey.{}", domain.to_ascii_lowercase()),
        record_value: record_value(algorithm, &public),
    })
}

/// The selector `dkim generate` picks when none is given: the algorithm and the UTC date,
/// e.g. `rsa-20261115`.
pub fn default_selector(algorithm: Algorithm, now_unix: i64) -> String {
    let today = time::OffsetDateTime::from_unix_timestamp(now_unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH).date();
    format!("{}-{:04}{:02}{:02}", algorithm.as_str(), today.year(), today.month() as u8, today.day())
}

/// A key in use for a domain, with the DNS TXT record that publishes its public half.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub selector: String,
    pub algorithm: &'static str,
    /// `<selector>._domainkey.<domain>`
    pub record_name: String,
    /// `v=DKIM1; k=…; p=…`, computed from the key file itself, so it is what signing uses.
    pub record_value: String,
    /// When the key file was written (unix seconds), if the file system says.
    pub created_at: Option<i64>,
}

/// The domain's signing keys (the ones [`load_keys`] signs with), by selector. A file that is
/// not a usable key is left out, as signing leaves it out.
pub fn list(data_dir: &Path, domain: &str) -> Vec<KeyInfo> {
    let dir = keys_dir(data_dir, domain);
    let Ok(entries) = fs::read_dir(&dir) else { return vec![] };
    let mut paths: Vec<PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "pem")).collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|path| {
            let selector = path.file_stem()?.to_string_lossy().into_owned();
            let (algorithm, public) = public_key(path)?;
            let created_at = fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as i64);
            Some(KeyInfo {
                record_name: format!("{selector}._domainkey.{}", domain.to_ascii_lowercase()),
                record_value: record_value(algorithm, &public),
                algorithm: algorithm.as_str(),
                selector,
                created_at,
            })
        })
        .collect()
}

/// Stops signing with `selector`'s key: the file is renamed `<selector>.pem.retired-<unix>`
/// (kept, so it can be put back). `Ok(false)` when the domain has no such key.
pub fn retire(data_dir: &Path, domain: &str, selector: &str, now_unix: i64) -> io::Result<bool> {
    if selector.is_empty() || !selector.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Ok(false);
    }
    let dir = keys_dir(data_dir, domain);
    let path = dir.join(format!("{selector}.pem"));
    if !path.is_file() {
        return Ok(false);
    }
    fs::rename(&path, dir.join(format!("{selector}.pem.retired-{now_unix}")))?;
    Ok(true)
}

/// The public half of a key file, as the TXT record carries it (RSA: SubjectPublicKeyInfo;
/// Ed25519: the bare 32 bytes, RFC 8463 3).
fn public_key(path: &Path) -> Option<(Algorithm, Vec<u8>)> {
    let der = PrivatePkcs8KeyDer::from_pem_file(path).ok()?;
    let pkcs8 = der.secret_pkcs8_der();
    if let Ok(pair) = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8) {
        return Some((Algorithm::Ed25519, pair.public_key().as_ref().to_vec()));
    }
    let key = aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8).ok()?;
    let spki: aws_lc_rs::encoding::PublicKeyX509Der = key.public_key().as_der().ok()?;
    Some((Algorithm::Rsa, spki.as_ref().to_vec()))
}

fn record_value(algorithm: Algorithm, public: &[u8]) -> String {
    let p = base64::engine::general_purpose::STANDARD.encode(public);
    format!("v=DKIM1; k={}; p={p}", algorithm.as_str())
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

enum Signer {
    Rsa(Box<DkimSigner<RsaKey<Sha256>, Done>>),
    Ed25519(Box<DkimSigner<Ed25519Key, Done>>),
}

/// One loaded signing key, ready to sign.
pub struct SigningKey {
    domain: String,
    selector: String,
    signer: Signer,
}

/// The keys of `domain` (none if it has no directory). Unreadable key files are skipped with a
/// warning: an unsigned message is better than an undelivered one.
pub fn load_keys(data_dir: &Path, domain: &str) -> Vec<SigningKey> {
    let dir = keys_dir(data_dir, domain);
    let Ok(entries) = fs::read_dir(&dir) else { return vec![] };
    let mut paths: Vec<PathBuf> =
        entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "pem")).collect();
    paths.sort();
    let domain = domain.to_ascii_lowercase();
    let mut keys = vec![];
    for path in paths {
        let selector = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        match load_signer(&path, &domain, &selector) {
            Some(signer) => keys.push(SigningKey { domain: domain.clone(), selector, signer }),
            None => {
                tracing::warn!(path = %path.display(), "DKIM key file is not a usable PKCS#8 key; not signing with it")
            }
        }
    }
    keys
}

fn load_signer(path: &Path, domain: &str, selector: &str) -> Option<Signer> {
    let der = PrivatePkcs8KeyDer::from_pem_file(path).ok()?;
    if let Ok(k) = Ed25519Key::from_pkcs8_maybe_unchecked_der(der.secret_pkcs8_der()) {
        let s = DkimSigner::from_key(k).domain(domain).selector(selector).headers(SIGNED_HEADERS.iter().copied());
        return Some(Signer::Ed25519(Box::new(s)));
    }
    let k = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(der)).ok()?;
    let s = DkimSigner::from_key(k).domain(domain).selector(selector).headers(SIGNED_HEADERS.iter().copied());
    Some(Signer::Rsa(Box::new(s)))
}

/// The `DKIM-Signature:` header lines (CRLF-terminated) to put in front of `message`, one per
/// key; empty when there are no keys or signing fails (logged).
pub fn sign(keys: &[SigningKey], message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for k in keys {
        let signed = match &k.signer {
            Signer::Rsa(s) => s.sign(message),
            Signer::Ed25519(s) => s.sign(message),
        };
        match signed {
            Ok(sig) => out.extend_from_slice(sig.to_header().as_bytes()),
            Err(e) => tracing::warn!(domain = %k.domain, selector = %k.selector, error = %e, "DKIM signing failed"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_load_and_sign() {
        let dir = tempfile::tempdir().unwrap();
        for (alg, sel, k) in [(Algorithm::Rsa, "r1", "k=rsa; p=MII"), (Algorithm::Ed25519, "e1", "k=ed25519; p=")] {
            let g = generate(dir.path(), "Contoso.com", alg, sel).unwrap();
            assert_eq!(g.record_name, format!("{sel}._domainkey.contoso.com"));
            assert!(g.record_value.starts_with(&format!("v=DKIM1; {k}")), "{}", g.record_value);
            assert!(matches!(generate(dir.path(), "contoso.com", alg, sel), Err(DkimError::Exists { .. })));
        }
        let keys = load_keys(dir.path(), "contoso.com");
        assert_eq!(keys.len(), 2);
        let sig = String::from_utf8(sign(&keys, b"From: a@contoso.com\r\nSubject: hi\r\n\r\nbody\r\n")).unwrap();
        assert_eq!(sig.matches("DKIM-Signature:").count(), 2, "{sig}");
        assert!(sig.contains("a=rsa-sha256") && sig.contains("a=ed25519-sha256") && sig.contains("d=contoso.com"));
        assert!(sig.ends_with("\r\n"));
        assert!(load_keys(dir.path(), "other.example").is_empty());
        assert!(matches!(generate(dir.path(), "x.test", Algorithm::Rsa, "../a"), Err(DkimError::BadSelector(_))));
    }

    /// The record `list` shows for a key is the one `generate` printed (so what an admin
    /// publishes matches what signs), and a retired key neither lists nor signs.
    #[test]
    fn listed_records_match_generated_ones_and_retired_keys_stop_signing() {
        let dir = tempfile::tempdir().unwrap();
        let rsa = generate(dir.path(), "contoso.com", Algorithm::Rsa, "r1").unwrap();
        let ed = generate(dir.path(), "contoso.com", Algorithm::Ed25519, "e1").unwrap();
        let listed = list(dir.path(), "contoso.com");
        let by = |sel: &str| listed.iter().find(|k| k.selector == sel).unwrap().record_value.clone();
        assert_eq!(listed.len(), 2);
        assert_eq!(by("r1"), rsa.record_value);
        assert_eq!(by("e1"), ed.record_value);
        assert!(retire(dir.path(), "contoso.com", "r1", 1_700_000_000).unwrap());
        assert!(!retire(dir.path(), "contoso.com", "r1", 1_700_000_001).unwrap(), "already retired");
        assert!(!retire(dir.path(), "contoso.com", "../e1", 1).unwrap());
        assert_eq!(list(dir.path(), "contoso.com").len(), 1);
        let keys = load_keys(dir.path(), "contoso.com");
        let sig = String::from_utf8(sign(&keys, b"From: a@contoso.com\r\n\r\nbody\r\n")).unwrap();
        assert_eq!(sig.matches("DKIM-Signature:").count(), 1, "{sig}");
        assert!(sig.contains("s=e1"), "{sig}");
        assert_eq!(default_selector(Algorithm::Ed25519, 1_763_164_800), "ed25519-20251115");
    }
}
