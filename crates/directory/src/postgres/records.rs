//! Device credentials, the SMTP AUTH clients report's counts and imported senders on
//! PostgreSQL; the SQLite versions are `crate::device`, `crate::submissions`, `crate::imports`.

use sqlx::postgres::{PgConnection, PgPool};

use crate::device::{allow_from_text, allow_to_text, MAX_PER_MAILBOX};
use crate::submissions::DAY;
use crate::{DeviceCredential, DeviceCredentialSecret, DirectoryError, NewDeviceCredential, Result};

/// Inside the caller's write transaction (it holds the directory lock).
pub(super) async fn add_device_credential(
    conn: &mut PgConnection,
    address: &str,
    new: NewDeviceCredential,
    at: i64,
) -> Result<DeviceCredential> {
    let name = new.name.trim().to_string();
    let (id, own) = super::user_id(conn, address).await?;
    let counts = sqlx::query!(
        r#"SELECT COUNT(*) AS "live!", COUNT(CASE WHEN name = $1 THEN 1 END) AS "same_name!" FROM device_credentials
         WHERE user_id = $2 AND revoked_at IS NULL"#,
        name,
        id,
    )
    .fetch_one(&mut *conn)
    .await?;
    let (live, same_name) = (counts.live, counts.same_name);
    if same_name > 0 {
        return Err(DirectoryError::DeviceCredentialExists { user: own, name });
    }
    if live >= MAX_PER_MAILBOX {
        return Err(DirectoryError::TooManyDeviceCredentials(own));
    }
    let cred_id = sqlx::query_scalar!(
        "INSERT INTO device_credentials (user_id, name, tag, hash, allow, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        id,
        name,
        new.tag,
        new.hash,
        allow_to_text(&new.allow),
        new.expires_at,
        at,
    )
    .fetch_one(&mut *conn)
    .await?;
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

pub(super) async fn list_device_credentials(pool: &PgPool, address: &str) -> Result<Vec<DeviceCredential>> {
    let mut conn = pool.acquire().await?;
    let (id, _) = super::user_id(&mut conn, address).await?;
    let rows = sqlx::query!(
        "SELECT id, name, tag, allow, expires_at, created_at, last_used_at, last_used_ip FROM device_credentials \
         WHERE user_id = $1 AND revoked_at IS NULL ORDER BY created_at, id",
        id,
    )
    .fetch_all(&mut *conn)
    .await?;
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

pub(super) async fn expiring_device_credentials(pool: &PgPool, before: i64) -> Result<Vec<(String, DeviceCredential)>> {
    let rows = sqlx::query!(
        "SELECT u.address, d.id, d.name, d.tag, d.allow, d.expires_at, d.created_at, d.last_used_at, d.last_used_ip \
         FROM device_credentials d JOIN users u ON u.id = d.user_id \
         WHERE d.revoked_at IS NULL AND d.expires_at IS NOT NULL AND d.expires_at < $1 ORDER BY d.expires_at, d.id",
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

pub(super) async fn revoke_device_credential(
    conn: &mut PgConnection,
    address: &str,
    name: &str,
    at: i64,
) -> Result<()> {
    let (id, own) = super::user_id(conn, address).await?;
    let done = sqlx::query!(
        "UPDATE device_credentials SET revoked_at = $1 WHERE user_id = $2 AND name = $3 AND revoked_at IS NULL",
        at,
        id,
        name.trim(),
    )
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(DirectoryError::UnknownDeviceCredential { user: own, name: name.trim().to_string() });
    }
    Ok(())
}

pub(super) async fn device_secrets_of(conn: &mut PgConnection, user_id: i64) -> Result<Vec<DeviceCredentialSecret>> {
    let rows = sqlx::query!(
        "SELECT id, name, tag, hash, allow, expires_at FROM device_credentials \
         WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id",
        user_id,
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

pub(super) async fn record_submissions(pool: &PgPool, batch: &[crate::SubmissionCount]) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    for s in batch {
        sqlx::query!(
            "INSERT INTO submissions (user_name, day, tls, credential, messages, last_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (user_name, day, tls, credential) DO UPDATE SET \
               messages = submissions.messages + excluded.messages, \
               last_at = GREATEST(submissions.last_at, excluded.last_at)",
            s.user.to_lowercase(),
            s.day,
            s.tls,
            s.credential,
            i64::try_from(s.messages).unwrap_or(i64::MAX),
            s.last_at,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn submissions_since(pool: &PgPool, since: i64) -> Result<Vec<crate::SubmissionCount>> {
    let rows = sqlx::query!(
        "SELECT user_name, day, tls, credential, messages, last_at FROM submissions WHERE day >= $1 \
         ORDER BY user_name, day",
        since.div_euclid(DAY),
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| crate::SubmissionCount {
            user: r.user_name,
            day: r.day,
            tls: r.tls,
            credential: r.credential,
            messages: u64::try_from(r.messages).unwrap_or(0),
            last_at: r.last_at,
        })
        .collect())
}

pub(super) async fn record_imported_sender(pool: &PgPool, s: &crate::ImportedSender) -> Result<()> {
    sqlx::query!(
        "INSERT INTO m365_imports (address, org, credential, messages, tls10, tls11, tls12, protocol, legacy_tls, \
         imported_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (address) DO UPDATE SET org = excluded.org, credential = excluded.credential, \
           messages = excluded.messages, tls10 = excluded.tls10, tls11 = excluded.tls11, tls12 = excluded.tls12, \
           protocol = excluded.protocol, legacy_tls = excluded.legacy_tls, updated_at = excluded.updated_at",
        s.address.to_lowercase(),
        s.org,
        s.credential,
        i64::try_from(s.messages).unwrap_or(i64::MAX),
        s.tls10,
        s.tls11,
        s.tls12,
        s.protocol,
        s.legacy_tls,
        s.imported_at,
        s.updated_at,
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn imported_senders(pool: &PgPool) -> Result<Vec<crate::ImportedSender>> {
    let rows = sqlx::query!(
        "SELECT address, org, credential, messages, tls10, tls11, tls12, protocol, legacy_tls, imported_at, \
         updated_at FROM m365_imports ORDER BY org, address",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| crate::ImportedSender {
            address: r.address,
            org: r.org,
            credential: r.credential,
            messages: u64::try_from(r.messages).unwrap_or(0),
            tls10: r.tls10,
            tls11: r.tls11,
            tls12: r.tls12,
            protocol: r.protocol,
            legacy_tls: r.legacy_tls,
            imported_at: r.imported_at,
            updated_at: r.updated_at,
        })
        .collect())
}
