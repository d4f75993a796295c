//! Admin TOTP secrets sealed at rest: AES-256-GCM with a key kept in its own file beside the
//! database (`admin-totp.key`, mode 0600), so a copy of the database alone (a backup, a stolen
//! file) does not give the second factor. Sealed values read `v1:` + hex(nonce ‖ ciphertext).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};

use crate::{DirectoryError, Result};

pub const KEY_FILE: &str = "admin-totp.key";
const PREFIX: &str = "v1:";

pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    (0..text.len()).step_by(2).map(|i| text.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok())).collect()
}

impl Sealer {
    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| DirectoryError::Storage("the admin TOTP key is not 32 bytes".into()))?;
        Ok(Sealer { key: LessSafeKey::new(key) })
    }

    /// A key that lives only in memory (in-memory databases).
    pub fn ephemeral() -> Self {
        let mut k = [0u8; 32];
        SystemRandom::new().fill(&mut k).expect("system random");
        Sealer::from_bytes(&k).expect("32 bytes")
    }

    /// The key in `dir/admin-totp.key`, created (0600, 32 random bytes as hex) if missing.
    pub fn load_or_create(dir: &Path) -> Result<Self> {
        let path = dir.join(KEY_FILE);
        let storage = |e: std::io::Error| DirectoryError::Storage(format!("{}: {e}", path.display()));
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let bytes = unhex(text.trim()).filter(|b| b.len() == 32).ok_or_else(|| {
                    DirectoryError::Storage(format!("{} does not hold a 64-digit hex key", path.display()))
                })?;
                Sealer::from_bytes(&bytes)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut k = [0u8; 32];
                SystemRandom::new().fill(&mut k).map_err(|_| DirectoryError::Storage("no randomness".into()))?;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .map_err(storage)?;
                f.write_all(format!("{}\n", hex(&k)).as_bytes()).map_err(storage)?;
                f.sync_all().map_err(storage)?;
                Sealer::from_bytes(&k)
            }
            Err(e) => Err(storage(e)),
        }
    }

    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(PREFIX)
    }

    pub fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).expect("system random");
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .expect("AES-GCM seal");
        format!("{PREFIX}{}{}", hex(&nonce), hex(&data))
    }

    /// The plain value: a sealed one opened, a legacy clear one as is.
    pub fn open(&self, stored: &str) -> Result<String> {
        let Some(rest) = stored.strip_prefix(PREFIX) else { return Ok(stored.to_string()) };
        let bad = || DirectoryError::Storage("an admin TOTP secret cannot be opened with admin-totp.key".into());
        let bytes = unhex(rest).filter(|b| b.len() > NONCE_LEN).ok_or_else(bad)?;
        let (nonce, data) = bytes.split_at(NONCE_LEN);
        let mut data = data.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| bad())?;
        let plain = self.key.open_in_place(nonce, Aad::empty(), &mut data).map_err(|_| bad())?;
        String::from_utf8(plain.to_vec()).map_err(|_| bad())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_a_wrong_key_fails() {
        let dir = tempfile::tempdir().unwrap();
        let s = Sealer::load_or_create(dir.path()).unwrap();
        let sealed = s.seal("JBSWY3DPEHPK3PXP");
        assert!(Sealer::is_sealed(&sealed) && !sealed.contains("JBSWY3DP"));
        assert_eq!(s.open(&sealed).unwrap(), "JBSWY3DPEHPK3PXP");
        assert_eq!(s.open("LEGACYCLEAR").unwrap(), "LEGACYCLEAR");
        let again = Sealer::load_or_create(dir.path()).unwrap();
        assert_eq!(again.open(&sealed).unwrap(), "JBSWY3DPEHPK3PXP", "the key file is reused");
        assert!(Sealer::ephemeral().open(&sealed).is_err());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
