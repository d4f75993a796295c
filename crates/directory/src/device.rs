//! Device credentials: generated per-mailbox secrets for devices that can only send a user name
//! and a password (printers, scanners, old line-of-business apps).
//!
//! A device credential looks like `adc_k3m9pq2x_<32 characters>`: the fixed prefix tells the
//! AUTH path what it is, the 8-character *tag* is a non-secret unique lookup key (so exactly one
//! argon2id hash is verified per attempt, as with app passwords' hints), and the 32 random
//! characters after it carry about 158 bits. The whole string is hashed with argon2id; only the
//! hash and the tag are stored. Each credential has a name, an optional allow list of client
//! address ranges, an optional expiry, and records when and from where it was last used.

use authrelay_core::Cidr;
use rand::rngs::OsRng;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

use crate::{DirectoryError, Result};

/// The prefix every device credential starts with.
pub const PREFIX: &str = "adc_";
/// Characters of the public tag.
pub const TAG_LEN: usize = 8;
/// Characters of the secret part.
pub const SECRET_LEN: usize = 32;
/// Live device credentials one mailbox may hold.
pub const MAX_PER_MAILBOX: i64 = 40;

// Lower-case letters and digits without look-alikes (i, l, o, 0, 1): typed into a printer's web
// page from a screen or a sheet of paper, it must survive being read.
const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A device credential as lists show it (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceCredential {
    pub id: i64,
    pub name: String,
    /// The public tag (`adc_<tag>_…`), so an admin can tell which credential a device holds.
    pub tag: String,
    /// Client-address ranges it may be used from; empty = any address.
    pub allow: Vec<Cidr>,
    /// Unix seconds after which it is refused; `None` = never.
    pub expires_at: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub last_used_ip: Option<String>,
}

/// What `add` stores: the secret only as its argon2id hash.
#[derive(Debug, Clone)]
pub struct NewDeviceCredential {
    pub name: String,
    pub tag: String,
    pub hash: String,
    pub allow: Vec<Cidr>,
    pub expires_at: Option<i64>,
}

/// A live device credential as the AUTH path sees it.
#[derive(Debug, Clone)]
pub struct DeviceCredentialSecret {
    pub id: i64,
    pub name: String,
    pub tag: String,
    pub hash: String,
    pub allow: Vec<Cidr>,
    pub expires_at: Option<i64>,
}

impl DeviceCredentialSecret {
    /// Whether it is past its expiry at `now` (unix seconds).
    pub fn expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| now >= at)
    }

    /// Whether `ip` may use it: in the allow list, or there is no list.
    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        self.allow.is_empty() || self.allow.iter().any(|c| c.contains(ip))
    }
}

fn random(len: usize) -> String {
    let mut rng = OsRng;
    (0..len).map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())])).collect()
}

/// A new secret and its tag: `(secret, tag)`. Shown to the admin once.
pub fn generate() -> (String, String) {
    let tag = random(TAG_LEN);
    (format!("{PREFIX}{tag}_{}", random(SECRET_LEN)), tag)
}

/// The tag of something shaped like a device credential, or `None` for any other secret (an
/// account password or an app password). Surrounding spaces, which a device's form may add,
/// are ignored; nothing else is forgiven.
pub fn tag_of(secret: &str) -> Option<&str> {
    let rest = secret.trim().strip_prefix(PREFIX)?;
    let (tag, secret) = rest.split_once('_')?;
    let ok = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| ALPHABET.contains(&b));
    (ok(tag, TAG_LEN) && ok(secret, SECRET_LEN)).then_some(tag)
}

/// The canonical form that is hashed and verified.
pub fn normalize(secret: &str) -> &str {
    secret.trim()
}

pub(crate) fn allow_to_text(allow: &[Cidr]) -> String {
    allow.iter().map(Cidr::to_string).collect::<Vec<_>>().join(" ")
}

pub(crate) fn allow_from_text(text: &str) -> Result<Vec<Cidr>> {
    text.split_whitespace()
        .map(|c| c.parse().map_err(|_| DirectoryError::Storage(format!("unreadable value '{c}' in column allow"))))
        .collect()
}

/// The id and stored address of a user, or `UnknownUser`.
async fn user_id(conn: &mut sqlx::SqliteConnection, address: &str) -> Result<(i64, String)> {
    let normalized = address.trim().to_lowercase();
    let id = sqlx::query_scalar!(r#"SELECT id AS "id!" FROM users WHERE address = ?"#, normalized)
        .fetch_optional(conn)
        .await?
        .ok_or_else(|| DirectoryError::UnknownUser(address.trim().to_string()))?;
    Ok((id, normalized))
}

pub(crate) async fn add(
    pool: &SqlitePool,
    address: &str,
    new: NewDeviceCredential,
    at: i64,
) -> Result<DeviceCredential> {
    let name = new.name.trim().to_string();
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let (id, own) = user_id(&mut tx, address).await?;
    let counts = sqlx::query!(
        r#"SELECT COUNT(*) AS "live!: i64", COUNT(CASE WHEN name = ? THEN 1 END) AS "same_name!: i64"
           FROM device_credentials WHERE user_id = ? AND revoked_at IS NULL"#,
        name,
        id
    )
    .fetch_one(&mut *tx)
    .await?;
    let (live, same_name) = (counts.live, counts.same_name);
    if same_name > 0 {
        return Err(DirectoryError::DeviceCredentialExists { user: own, name });
    }
    if live >= MAX_PER_MAILBOX {
        return Err(DirectoryError::TooManyDeviceCredentials(own));
    }
    let allow = allow_to_text(&new.allow);
    let cred_id = sqlx::query_scalar!(
        r#"INSERT INTO device_credentials (user_id, name, tag, hash, allow, expires_at, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id AS "id!""#,
        id,
        name,
        new.tag,
        new.hash,
        allow,
        new.expires_at,
        at
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(DeviceCredential {
        id: cred_id,
        name,
        tag: new.tag,
        allow: new.allow,
        expires_at: new.expires_at,
        created_at: at,
        last_used_at: None,
        last_used_ip: None,
    })
}

pub(crate) async fn list(pool: &SqlitePool, address: &str) -> Result<Vec<DeviceCredential>> {
    let mut tx = pool.begin().await?;
    let (id, _) = user_id(&mut tx, address).await?;
    let rows = sqlx::query!(
        r#"SELECT id AS "id!", name, tag, allow, expires_at, created_at, last_used_at, last_used_ip
             FROM device_credentials WHERE user_id = ? AND revoked_at IS NULL ORDER BY created_at, id"#,
        id
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    rows.into_iter()
        .map(|r| {
            Ok(DeviceCredential {
                id: r.id,
                name: r.name,
                tag: r.tag,
                allow: allow_from_text(&r.allow)?,
                expires_at: r.expires_at,
                created_at: r.created_at,
                last_used_at: r.last_used_at,
                last_used_ip: r.last_used_ip,
            })
        })
        .collect()
}

pub(crate) async fn expiring(pool: &SqlitePool, before: i64) -> Result<Vec<(String, DeviceCredential)>> {
    let rows = sqlx::query!(
        r#"SELECT u.address, d.id AS "id!", d.name, d.tag, d.allow, d.expires_at, d.created_at, d.last_used_at,
                  d.last_used_ip
             FROM device_credentials d JOIN users u ON u.id = d.user_id
            WHERE d.revoked_at IS NULL AND d.expires_at IS NOT NULL AND d.expires_at < ? ORDER BY d.expires_at, d.id"#,
        before,
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter()
        .map(|r| {
            let credential = DeviceCredential {
                id: r.id,
                name: r.name,
                tag: r.tag,
                allow: allow_from_text(&r.allow)?,
                expires_at: r.expires_at,
                created_at: r.created_at,
                last_used_at: r.last_used_at,
                last_used_ip: r.last_used_ip,
            };
            Ok((r.address, credential))
        })
        .collect()
}

pub(crate) async fn revoke(pool: &SqlitePool, address: &str, name: &str, at: i64) -> Result<()> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let (id, own) = user_id(&mut tx, address).await?;
    let name = name.trim();
    let done = sqlx::query!(
        "UPDATE device_credentials SET revoked_at = ? WHERE user_id = ? AND name = ? AND revoked_at IS NULL",
        at,
        id,
        name
    )
    .execute(&mut *tx)
    .await?;
    if done.rows_affected() == 0 {
        return Err(DirectoryError::UnknownDeviceCredential { user: own, name: name.to_string() });
    }
    tx.commit().await?;
    Ok(())
}

pub(crate) async fn touch(pool: &SqlitePool, id: i64, at: i64, ip: &str) -> Result<()> {
    sqlx::query!("UPDATE device_credentials SET last_used_at = ?, last_used_ip = ? WHERE id = ?", at, ip, id)
        .execute(pool)
        .await?;
    Ok(())
}

/// The live device credentials of a user, inside the AUTH view's read transaction.
pub(crate) async fn secrets_of(conn: &mut sqlx::SqliteConnection, user_id: i64) -> Result<Vec<DeviceCredentialSecret>> {
    let rows = sqlx::query!(
        r#"SELECT id AS "id!", name, tag, hash, allow, expires_at FROM device_credentials
            WHERE user_id = ? AND revoked_at IS NULL ORDER BY id"#,
        user_id
    )
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|r| {
            Ok(DeviceCredentialSecret {
                id: r.id,
                name: r.name,
                tag: r.tag,
                hash: r.hash,
                allow: allow_from_text(&r.allow)?,
                expires_at: r.expires_at,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_have_the_documented_shape() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let (secret, tag) = generate();
            assert_eq!(secret.len(), PREFIX.len() + TAG_LEN + 1 + SECRET_LEN, "{secret}");
            assert_eq!(tag_of(&secret), Some(tag.as_str()));
            assert!(!secret.contains(['i', 'l', 'o', '0', '1']), "{secret}");
            assert!(seen.insert(secret));
        }
    }

    #[test]
    fn other_secrets_are_not_device_credentials() {
        let (good, _) = generate();
        let cases = [
            String::new(),
            "Scan-To-Mail-2026!".into(),
            "abcd efgh ijkl mnop".into(),
            good.replacen("adc_", "ADC_", 1),
            good.replacen("adc_", "adc-", 1),
            format!("{good}x"),
            good[..good.len() - 1].to_string(),
            good.replacen('_', "", 2),
            format!("{}_{}", &good[..12], "0".repeat(SECRET_LEN)),
            format!("{}{}", good, "\0"),
            good.to_uppercase(),
            "adc__".into(),
            format!("adc_{}_{}", "a".repeat(TAG_LEN), "é".repeat(SECRET_LEN / 2)),
        ];
        for case in cases {
            assert_eq!(tag_of(&case), None, "{case:?}");
        }
        assert!(tag_of(&format!("  {good} ")).is_some());
    }

    #[test]
    fn expiry_and_allow_list() {
        let s = DeviceCredentialSecret {
            id: 1,
            name: "printer".into(),
            tag: "abcdefgh".into(),
            hash: String::new(),
            allow: vec!["127.0.0.1/32".parse().unwrap(), "10.0.0.0/8".parse().unwrap()],
            expires_at: Some(1000),
        };
        assert!(!s.expired(999));
        assert!(s.expired(1000));
        assert!(s.allows("127.0.0.1".parse().unwrap()));
        assert!(s.allows("10.9.8.7".parse().unwrap()));
        assert!(!s.allows("127.0.0.2".parse().unwrap()));
        let open = DeviceCredentialSecret { allow: vec![], expires_at: None, ..s };
        assert!(open.allows("203.0.113.1".parse().unwrap()));
        assert!(!open.expired(i64::MAX));
    }

    /// The stored side, against a real SQLite database: add, list, the AUTH view, use, revoke.
    #[tokio::test]
    async fn stored_round_trip() {
        use crate::sqlite::SqliteDirectory;
        use crate::{Directory, NewUser, OrgChange};
        use authrelay_core::DeviceCredentialsPolicy;
        let db = SqliteDirectory::open_in_memory().await.unwrap();
        let org = db.create_org("Contoso", &["contoso.com".to_string()]).await.unwrap();
        assert_eq!(org.settings.device_credentials, DeviceCredentialsPolicy::Allowed);
        let blocked = OrgChange { device_credentials: Some(DeviceCredentialsPolicy::Blocked), ..OrgChange::default() };
        let org = db.update_org("Contoso", blocked).await.unwrap();
        assert_eq!(org.settings.device_credentials, DeviceCredentialsPolicy::Blocked);
        db.create_user(NewUser {
            address: "scanner@contoso.com".into(),
            display_name: String::new(),
            password_hash: crate::secrets::hash_secret("x"),
        })
        .await
        .unwrap();
        let (secret, tag) = generate();
        let new = |name: &str, tag: &str| NewDeviceCredential {
            name: name.into(),
            tag: tag.into(),
            hash: crate::secrets::hash_secret(&secret),
            allow: vec!["127.0.0.1".parse().unwrap()],
            expires_at: Some(4_000_000_000),
        };
        let added = db.add_device_credential("Scanner@Contoso.com", new("scanner", &tag)).await.unwrap();
        assert_eq!((added.name.as_str(), added.tag.as_str(), added.last_used_at), ("scanner", tag.as_str(), None));
        assert!(matches!(
            db.add_device_credential("scanner@contoso.com", new("scanner", "zzzzzzzz")).await,
            Err(DirectoryError::DeviceCredentialExists { .. })
        ));
        assert!(matches!(
            db.add_device_credential("nobody@contoso.com", new("x", "yyyyyyyy")).await,
            Err(DirectoryError::UnknownUser(_))
        ));
        let record = db.auth_record("scanner@contoso.com").await.unwrap().unwrap();
        assert_eq!(record.org.device_credentials, DeviceCredentialsPolicy::Blocked);
        assert_eq!(record.device_credentials.len(), 1);
        let stored = &record.device_credentials[0];
        assert_eq!(stored.tag, tag);
        assert_eq!(stored.allow, added.allow);
        assert!(crate::secrets::verify_secret(&secret, &stored.hash));
        db.touch_device_credential(stored.id, 1234, "127.0.0.1").await.unwrap();
        let listed = db.list_device_credentials("scanner@contoso.com").await.unwrap();
        assert_eq!((listed[0].last_used_at, listed[0].last_used_ip.as_deref()), (Some(1234), Some("127.0.0.1")));
        db.revoke_device_credential("scanner@contoso.com", "scanner").await.unwrap();
        assert!(db.list_device_credentials("scanner@contoso.com").await.unwrap().is_empty());
        assert!(db.auth_record("scanner@contoso.com").await.unwrap().unwrap().device_credentials.is_empty());
        assert!(matches!(
            db.revoke_device_credential("scanner@contoso.com", "scanner").await,
            Err(DirectoryError::UnknownDeviceCredential { .. })
        ));
        // A revoked name may be used again (with a new secret and tag).
        let (_, tag2) = generate();
        db.add_device_credential("scanner@contoso.com", new("scanner", &tag2)).await.unwrap();
    }
}
