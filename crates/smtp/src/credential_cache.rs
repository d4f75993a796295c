//! Verified-credential cache: a device that signs in every minute should not cost a full
//! argon2id verification every time.
//!
//! Only the result of the credential check is cached — "this secret matches this stored hash"
//! — never a decision: lockout, Authenticated SMTP, security defaults, MFA and sign-in blocking
//! are decided fresh from the directory on every attempt, exactly as without the cache.
//!
//! An entry is an HMAC-SHA256, under a random key made when the process starts, of the mailbox
//! address, the secret and the stored hash string it verified against, with the time it was
//! made. Neither the secret nor anything an attacker could test guesses against offline is kept
//! (the key never leaves memory and dies with the process). Because the stored hash is part of
//! the key, any change of the credential — a new password, a revoked or replaced app password —
//! makes the old entry unreachable at once; the short TTL bounds everything else. Failures are
//! never cached, so a wrong password always costs the full argon2id.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How long a verified credential is trusted without argon2id.
pub const TTL: Duration = Duration::from_secs(60);
/// Most entries kept; beyond it, expired ones are dropped and new ones not added until room.
const MAX_ENTRIES: usize = 100_000;

pub struct CredentialCache {
    key: [u8; 32],
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], Instant>>,
}

impl Default for CredentialCache {
    fn default() -> Self {
        Self::with_ttl(TTL)
    }
}

impl CredentialCache {
    pub fn with_ttl(ttl: Duration) -> Self {
        CredentialCache { key: rand::random(), ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The entry name for a credential: HMAC(key, len-prefixed address, secret, hash).
    pub fn tag(&self, address: &str, secret: &str, stored_hash: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        for part in [address.as_bytes(), secret.as_bytes(), stored_hash.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// True when this exact credential verified within the TTL.
    pub fn verified_recently(&self, tag: &[u8; 32]) -> bool {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(tag) {
            Some(at) if at.elapsed() < self.ttl => true,
            Some(_) => {
                entries.remove(tag);
                false
            }
            None => false,
        }
    }

    /// Remembers a credential that argon2id just verified.
    pub fn remember(&self, tag: [u8; 32]) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, at| at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                return;
            }
        }
        entries.insert(tag, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_only_for_the_same_address_secret_and_hash() {
        let cache = CredentialCache::default();
        let tag = cache.tag("scanner@contoso.com", "secret", "$argon2id$a");
        assert!(!cache.verified_recently(&tag));
        cache.remember(tag);
        assert!(cache.verified_recently(&tag));
        assert!(!cache.verified_recently(&cache.tag("scanner@contoso.com", "secreT", "$argon2id$a")));
        // A new password (new hash) misses, so the old secret is checked against the new hash.
        assert!(!cache.verified_recently(&cache.tag("scanner@contoso.com", "secret", "$argon2id$b")));
        assert!(!cache.verified_recently(&cache.tag("printer@contoso.com", "secret", "$argon2id$a")));
        // Length prefixes: moving bytes between fields gives another tag.
        assert_ne!(cache.tag("ab", "c", "h"), cache.tag("a", "bc", "h"));
    }

    #[test]
    fn entries_expire_and_keys_differ_per_process() {
        let cache = CredentialCache::with_ttl(Duration::ZERO);
        let tag = cache.tag("u@example.com", "s", "h");
        cache.remember(tag);
        assert!(!cache.verified_recently(&tag));
        assert_ne!(CredentialCache::default().tag("u", "s", "h"), CredentialCache::default().tag("u", "s", "h"));
    }
}
