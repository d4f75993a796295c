//! Senders imported from a Microsoft 365 tenant (`crates/migrate`): what the SMTP AUTH clients
//! report said about each, and which device credential the import gave it. Read back by the
//! readiness view; written again (same values) by a repeated import, which is how a second import
//! of the same files can say that nothing changed.

use serde::{Deserialize, Serialize};
use sqlx::SqlitePool;

use crate::Result;

/// One imported sender.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportedSender {
    /// Lower-case sender address (the mailbox the device signs in as).
    pub address: String,
    pub org: String,
    /// Name of the device credential the import created for it.
    pub credential: String,
    /// Messages the report counted for it.
    pub messages: u64,
    /// TLS 1.0 / 1.1 / 1.2 shares in percent, as reported (None: no such column).
    pub tls10: Option<f64>,
    pub tls11: Option<f64>,
    pub tls12: Option<f64>,
    /// "basic", "oauth" or "unknown" (reports before October 2024 have no such column).
    pub protocol: String,
    /// It used TLS 1.0 or 1.1: authrelay offers TLS 1.2 and 1.3 only.
    pub legacy_tls: bool,
    pub imported_at: i64,
    pub updated_at: i64,
}

pub(crate) async fn record(pool: &SqlitePool, s: &ImportedSender) -> Result<()> {
    let address = s.address.to_lowercase();
    let messages = i64::try_from(s.messages).unwrap_or(i64::MAX);
    sqlx::query!(
        "INSERT INTO m365_imports (address, org, credential, messages, tls10, tls11, tls12, protocol, legacy_tls, \
         imported_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (address) DO UPDATE SET org = excluded.org, credential = excluded.credential,
           messages = excluded.messages, tls10 = excluded.tls10, tls11 = excluded.tls11, tls12 = excluded.tls12,
           protocol = excluded.protocol, legacy_tls = excluded.legacy_tls, updated_at = excluded.updated_at",
        address,
        s.org,
        s.credential,
        messages,
        s.tls10,
        s.tls11,
        s.tls12,
        s.protocol,
        s.legacy_tls,
        s.imported_at,
        s.updated_at
    )
    .execute(pool)
    .await?;
    Ok(())
}

pub(crate) async fn list(pool: &SqlitePool) -> Result<Vec<ImportedSender>> {
    // `legacy_tls` is stored as INTEGER 0/1; a TEXT primary key may hold NULL in SQLite, not here.
    // `main.<table>` (SQLite's name for the open file): PostgreSQL cannot run this text, so
    // scripts/sqlx-prepare describes it against SQLite alone.
    let rows = sqlx::query!(
        r#"SELECT address AS "address!", org, credential, messages, tls10, tls11, tls12, protocol,
                  legacy_tls AS "legacy_tls: bool", imported_at, updated_at
             FROM main.m365_imports ORDER BY org, address"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| ImportedSender {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::SqliteDirectory;
    use crate::Directory;

    #[tokio::test]
    async fn recorded_twice_is_one_row_keeping_the_first_import_time() {
        let db = SqliteDirectory::open_in_memory().await.unwrap();
        let mut s = ImportedSender {
            address: "Scanner@Contoso.com".into(),
            org: "Contoso".into(),
            credential: "m365 scanner".into(),
            messages: 12,
            tls10: Some(100.0),
            tls11: None,
            tls12: Some(0.0),
            protocol: "basic".into(),
            legacy_tls: true,
            imported_at: 10,
            updated_at: 10,
        };
        db.record_imported_sender(&s).await.unwrap();
        s.imported_at = 20;
        s.updated_at = 20;
        s.messages = 13;
        db.record_imported_sender(&s).await.unwrap();
        let all = db.imported_senders().await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!((all[0].address.as_str(), all[0].imported_at, all[0].updated_at), ("scanner@contoso.com", 10, 20));
        assert_eq!((all[0].messages, all[0].tls10, all[0].tls11, all[0].legacy_tls), (13, Some(100.0), None, true));
    }
}
