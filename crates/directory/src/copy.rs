//! `authrelay store copy`: a single node's SQLite directory moved into an empty PostgreSQL
//! database, table by table in one PostgreSQL transaction, and verified — the rows read back
//! from PostgreSQL must give the same count and the same SHA-256 as the rows read from SQLite,
//! or nothing is committed.
//!
//! Rows keep their ids (app passwords and device credentials are found by id by open
//! sessions and logs), and each sequence is moved past the highest id copied. Admins' TOTP
//! secrets are copied sealed: every node needs the data directory's `admin-totp.key`.

use sha2::{Digest, Sha256};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteConnection;
use sqlx::Row;

use crate::postgres::PgDirectory;
use crate::sqlite::SqliteDirectory;
use crate::{DirectoryError, Result};

/// How a column is stored: SQLite keeps booleans and ports as integers, PostgreSQL as BOOLEAN
/// and INTEGER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Int32,
    Text,
    Bool,
    Real,
}

/// One copied column: its SQLite name, its PostgreSQL name, its kind.
struct Column(&'static str, &'static str, Kind);

struct Table {
    name: &'static str,
    columns: &'static [Column],
    /// Rows in this order on both sides, so the checksums compare.
    order: &'static str,
    /// The `id` sequence to move past the copied rows, if the table has one.
    serial: bool,
}

use Kind::*;

const TABLES: &[Table] = &[
    Table {
        name: "orgs",
        columns: &[
            Column("id", "id", Int),
            Column("name", "name", Text),
            Column("security_defaults", "security_defaults", Text),
            Column("smtp_auth", "smtp_auth", Text),
            Column("app_passwords", "app_passwords", Text),
            Column("device_credentials", "device_credentials", Text),
            Column("created_at", "created_at", Int),
            Column("max_message_size", "max_message_size", Int),
            Column("max_recipients", "max_recipients", Int),
            Column("daily_recipients", "daily_recipients", Int),
            Column("max_sessions", "max_sessions", Int),
            Column("language", "language", Text),
        ],
        order: "id",
        serial: true,
    },
    Table {
        name: "domains",
        columns: &[
            Column("domain", "domain", Text),
            Column("org_id", "org_id", Int),
            Column("added_at", "added_at", Int),
        ],
        // SQLite's insertion order is its rowid; PostgreSQL's is `seq`, given in this order.
        order: "@",
        serial: false,
    },
    Table {
        name: "users",
        columns: &[
            Column("id", "id", Int),
            Column("org_id", "org_id", Int),
            Column("address", "address", Text),
            Column("display_name", "display_name", Text),
            Column("password_hash", "password_hash", Text),
            Column("sign_in", "sign_in", Text),
            Column("smtp_auth", "smtp_auth", Text),
            Column("mfa", "mfa", Text),
            Column("created_at", "created_at", Int),
            Column("password_changed_at", "password_changed_at", Int),
        ],
        order: "id",
        serial: true,
    },
    Table {
        name: "send_as",
        columns: &[Column("user_id", "user_id", Int), Column("address", "address", Text)],
        order: "user_id, address",
        serial: false,
    },
    Table {
        name: "app_passwords",
        columns: &[
            Column("id", "id", Int),
            Column("user_id", "user_id", Int),
            Column("name", "name", Text),
            Column("hint", "hint", Text),
            Column("hash", "hash", Text),
            Column("created_at", "created_at", Int),
            Column("last_used_at", "last_used_at", Int),
            Column("revoked_at", "revoked_at", Int),
        ],
        order: "id",
        serial: true,
    },
    Table {
        name: "device_credentials",
        columns: &[
            Column("id", "id", Int),
            Column("user_id", "user_id", Int),
            Column("name", "name", Text),
            Column("tag", "tag", Text),
            Column("hash", "hash", Text),
            Column("allow", "allow", Text),
            Column("expires_at", "expires_at", Int),
            Column("created_at", "created_at", Int),
            Column("last_used_at", "last_used_at", Int),
            Column("last_used_ip", "last_used_ip", Text),
            Column("revoked_at", "revoked_at", Int),
        ],
        order: "id",
        serial: true,
    },
    Table {
        name: "signins",
        columns: &[
            Column("id", "id", Int),
            Column("at", "at", Int),
            Column("client_ip", "client_ip", Text),
            Column("client_port", "client_port", Int32),
            Column("tls", "tls", Text),
            Column("mechanism", "mechanism", Text),
            Column("user", "user_name", Text),
            Column("credential", "credential", Text),
            Column("check_name", "check_name", Text),
            Column("reply", "reply", Text),
            Column("success", "success", Bool),
            Column("listener", "listener", Text),
        ],
        order: "id",
        serial: true,
    },
    Table {
        name: "lockout",
        columns: &[
            Column("name", "name", Text),
            Column("location", "location", Text),
            Column("failures", "failures", Int),
            Column("first_failure_at", "first_failure_at", Int),
            Column("locked_until", "locked_until", Int),
            Column("lockouts", "lockouts", Int),
        ],
        order: "name, location",
        serial: false,
    },
    Table {
        name: "familiar_locations",
        columns: &[
            Column("name", "name", Text),
            Column("client_ip", "client_ip", Text),
            Column("last_success_at", "last_success_at", Int),
        ],
        order: "name, client_ip",
        serial: false,
    },
    Table {
        name: "recipient_usage",
        columns: &[
            Column("address", "address", Text),
            Column("at", "at", Int),
            Column("recipients", "recipients", Int),
        ],
        // SQLite may hold two rows of one minute (written by two processes); they are summed.
        order: "+",
        serial: false,
    },
    Table {
        name: "admins",
        columns: &[
            Column("id", "id", Int),
            Column("address", "address", Text),
            Column("role", "role", Text),
            Column("password_hash", "password_hash", Text),
            Column("totp_secret", "totp_secret", Text),
            Column("totp_last_step", "totp_last_step", Int),
            Column("created_at", "created_at", Int),
        ],
        order: "id",
        serial: true,
    },
    Table {
        name: "admin_sessions",
        columns: &[
            Column("token_hash", "token_hash", Text),
            Column("admin_id", "admin_id", Int),
            Column("csrf", "csrf", Text),
            Column("mfa_done", "mfa_done", Bool),
            Column("pending_totp", "pending_totp", Text),
            Column("created_at", "created_at", Int),
            Column("expires_at", "expires_at", Int),
        ],
        order: "token_hash",
        serial: false,
    },
    Table {
        name: "api_tokens",
        columns: &[
            Column("id", "id", Int),
            Column("admin_id", "admin_id", Int),
            Column("name", "name", Text),
            Column("token_hash", "token_hash", Text),
            Column("role", "role", Text),
            Column("created_at", "created_at", Int),
            Column("last_used_at", "last_used_at", Int),
            Column("revoked_at", "revoked_at", Int),
        ],
        order: "id",
        serial: true,
    },
    Table {
        name: "audit_log",
        columns: &[
            Column("id", "id", Int),
            Column("at", "at", Int),
            Column("actor", "actor", Text),
            Column("action", "action", Text),
            Column("target", "target", Text),
            Column("before", "before", Text),
            Column("after", "after", Text),
        ],
        order: "id",
        serial: true,
    },
    Table {
        name: "submissions",
        columns: &[
            Column("user", "user_name", Text),
            Column("day", "day", Int),
            Column("tls", "tls", Text),
            Column("credential", "credential", Text),
            Column("messages", "messages", Int),
            Column("last_at", "last_at", Int),
        ],
        order: "1, 2, 3, 4",
        serial: false,
    },
    Table {
        name: "m365_imports",
        columns: &[
            Column("address", "address", Text),
            Column("org", "org", Text),
            Column("credential", "credential", Text),
            Column("messages", "messages", Int),
            Column("tls10", "tls10", Real),
            Column("tls11", "tls11", Real),
            Column("tls12", "tls12", Real),
            Column("protocol", "protocol", Text),
            Column("legacy_tls", "legacy_tls", Bool),
            Column("imported_at", "imported_at", Int),
            Column("updated_at", "updated_at", Int),
        ],
        order: "address",
        serial: false,
    },
];

/// One column's value, read from either side.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Int(Option<i64>),
    Text(Option<String>),
    Bool(bool),
    Real(Option<f64>),
}

impl Value {
    /// The canonical text the checksum is made of (the same for both sides' values).
    fn feed(&self, hash: &mut Sha256) {
        let text = match self {
            Value::Int(v) => v.map_or("\u{0}".to_string(), |v| v.to_string()),
            Value::Text(v) => v.clone().map_or("\u{0}".to_string(), |v| format!("{}:{v}", v.len())),
            Value::Bool(b) => b.to_string(),
            Value::Real(v) => v.map_or("\u{0}".to_string(), |v| format!("{v:?}")),
        };
        hash.update(text.as_bytes());
        hash.update([0x1f]);
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(Some(v))
    }
}

impl From<Option<i64>> for Value {
    fn from(v: Option<i64>) -> Self {
        Value::Int(v)
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(Some(v))
    }
}

impl From<Option<String>> for Value {
    fn from(v: Option<String>) -> Self {
        Value::Text(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<Option<f64>> for Value {
    fn from(v: Option<f64>) -> Self {
        Value::Real(v)
    }
}

/// The rows of one table as SQLite holds them, each with the values of the table's `columns`
/// in their order, in the table's `order`. One compile-checked query per table (the columns are
/// spelled out; booleans, stored as INTEGER 0/1, are read as `bool`). Tables are named
/// `main.<table>`, which only SQLite runs, so scripts/sqlx-prepare describes them against SQLite.
async fn sqlite_rows(conn: &mut SqliteConnection, table: &Table) -> Result<Vec<Vec<Value>>> {
    // The column names read, as `TABLES` spells them, and the rows.
    macro_rules! read {
        ($sql:literal, $($column:ident),+) => {
            (
                vec![$(stringify!($column)),+],
                sqlx::query!($sql)
                    .fetch_all(&mut *conn)
                    .await?
                    .into_iter()
                    .map(|r| vec![$(Value::from(r.$column)),+])
                    .collect::<Vec<Vec<Value>>>(),
            )
        };
    }
    let (names, rows): (Vec<&str>, Vec<Vec<Value>>) = match table.name {
        "orgs" => read!(
            "SELECT id, name, security_defaults, smtp_auth, app_passwords, device_credentials, \
             created_at, max_message_size, max_recipients, daily_recipients, max_sessions, language \
             FROM main.orgs ORDER BY id",
            id,
            name,
            security_defaults,
            smtp_auth,
            app_passwords,
            device_credentials,
            created_at,
            max_message_size,
            max_recipients,
            daily_recipients,
            max_sessions,
            language
        ),
        // Insertion order, which PostgreSQL keeps in `seq`.
        "domains" => {
            read!("SELECT domain, org_id, added_at FROM main.domains ORDER BY rowid", domain, org_id, added_at)
        }
        "users" => read!(
            "SELECT id, org_id, address, display_name, password_hash, sign_in, smtp_auth, mfa, \
             created_at, password_changed_at FROM main.users ORDER BY id",
            id,
            org_id,
            address,
            display_name,
            password_hash,
            sign_in,
            smtp_auth,
            mfa,
            created_at,
            password_changed_at
        ),
        "send_as" => read!("SELECT user_id, address FROM main.send_as ORDER BY user_id, address", user_id, address),
        "app_passwords" => read!(
            "SELECT id, user_id, name, hint, hash, created_at, last_used_at, revoked_at \
             FROM main.app_passwords ORDER BY id",
            id,
            user_id,
            name,
            hint,
            hash,
            created_at,
            last_used_at,
            revoked_at
        ),
        "device_credentials" => read!(
            "SELECT id, user_id, name, tag, hash, allow, expires_at, created_at, last_used_at, \
             last_used_ip, revoked_at FROM main.device_credentials ORDER BY id",
            id,
            user_id,
            name,
            tag,
            hash,
            allow,
            expires_at,
            created_at,
            last_used_at,
            last_used_ip,
            revoked_at
        ),
        "signins" => read!(
            r#"SELECT id, at, client_ip, client_port, tls, mechanism, user, credential,
                      check_name, reply, success AS "success: bool", listener
                 FROM main.signins ORDER BY id"#,
            id,
            at,
            client_ip,
            client_port,
            tls,
            mechanism,
            user,
            credential,
            check_name,
            reply,
            success,
            listener
        ),
        "lockout" => read!(
            "SELECT name, location, failures, first_failure_at, locked_until, lockouts FROM main.lockout \
             ORDER BY name, location",
            name,
            location,
            failures,
            first_failure_at,
            locked_until,
            lockouts
        ),
        "familiar_locations" => read!(
            "SELECT name, client_ip, last_success_at FROM main.familiar_locations ORDER BY name, client_ip",
            name,
            client_ip,
            last_success_at
        ),
        // Summed per (address, minute): SQLite may hold two rows of one minute (written by two
        // processes).
        "recipient_usage" => read!(
            r#"SELECT address, at, SUM(recipients) AS "recipients: i64" FROM main.recipient_usage
                GROUP BY address, at ORDER BY address, at"#,
            address,
            at,
            recipients
        ),
        "admins" => read!(
            "SELECT id, address, role, password_hash, totp_secret, totp_last_step, created_at \
             FROM main.admins ORDER BY id",
            id,
            address,
            role,
            password_hash,
            totp_secret,
            totp_last_step,
            created_at
        ),
        "admin_sessions" => read!(
            r#"SELECT token_hash, admin_id, csrf, mfa_done AS "mfa_done: bool", pending_totp, created_at,
                      expires_at
                 FROM main.admin_sessions ORDER BY token_hash"#,
            token_hash,
            admin_id,
            csrf,
            mfa_done,
            pending_totp,
            created_at,
            expires_at
        ),
        "api_tokens" => read!(
            "SELECT id, admin_id, name, token_hash, role, created_at, last_used_at, revoked_at \
             FROM main.api_tokens ORDER BY id",
            id,
            admin_id,
            name,
            token_hash,
            role,
            created_at,
            last_used_at,
            revoked_at
        ),
        "audit_log" => read!(
            "SELECT id, at, actor, action, target, before, after FROM main.audit_log ORDER BY id",
            id,
            at,
            actor,
            action,
            target,
            before,
            after
        ),
        "submissions" => read!(
            "SELECT user, day, tls, credential, messages, last_at FROM main.submissions \
             ORDER BY user, day, tls, credential",
            user,
            day,
            tls,
            credential,
            messages,
            last_at
        ),
        "m365_imports" => read!(
            r#"SELECT address, org, credential, messages, tls10, tls11, tls12, protocol,
                      legacy_tls AS "legacy_tls: bool", imported_at, updated_at
                 FROM main.m365_imports ORDER BY address"#,
            address,
            org,
            credential,
            messages,
            tls10,
            tls11,
            tls12,
            protocol,
            legacy_tls,
            imported_at,
            updated_at
        ),
        other => return Err(DirectoryError::Storage(format!("no SQLite query reads table {other}"))),
    };
    // The queries above must read `TABLES`' columns, in its order and of its kinds: a value of
    // another kind would be bound as the wrong PostgreSQL type.
    let copied: Vec<&str> = table.columns.iter().map(|c| c.0).collect();
    if names != copied {
        return Err(DirectoryError::Storage(format!(
            "table {}: SQLite is read as ({}), not as the columns copied ({})",
            table.name,
            names.join(", "),
            copied.join(", ")
        )));
    }
    let kinds_fit = |row: &Vec<Value>| {
        row.iter().zip(table.columns).all(|(value, column)| {
            matches!(
                (value, column.2),
                (Value::Int(_), Int | Int32) | (Value::Text(_), Text) | (Value::Bool(_), Bool) | (Value::Real(_), Real)
            )
        })
    };
    if rows.iter().any(|row| !kinds_fit(row)) {
        return Err(DirectoryError::Storage(format!(
            "table {}: a SQLite value of another kind than its column's",
            table.name
        )));
    }
    Ok(rows)
}

fn from_postgres(row: &PgRow, i: usize, kind: Kind) -> Result<Value> {
    Ok(match kind {
        Int => Value::Int(row.try_get(i)?),
        Int32 => Value::Int(row.try_get::<Option<i32>, _>(i)?.map(i64::from)),
        Text => Value::Text(row.try_get(i)?),
        Bool => Value::Bool(row.try_get(i)?),
        Real => Value::Real(row.try_get(i)?),
    })
}

/// One table's outcome.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CopiedTable {
    pub table: String,
    pub rows: u64,
    /// SHA-256 (hex) of the rows as read from SQLite — equal to the one read back.
    pub sha256: String,
}

/// PostgreSQL's read-back of one table, in the order `sqlite_rows` reads SQLite's.
fn select_postgres(table: &Table) -> String {
    let names: Vec<String> = table.columns.iter().map(|c| format!("\"{}\"", c.1)).collect();
    match table.order {
        "@" => format!("SELECT {} FROM {} ORDER BY seq", names.join(", "), table.name),
        // Summed per (address, minute) so SQLite's occasional duplicate rows compare.
        "+" => format!(
            "SELECT address, at, CAST(SUM(recipients) AS BIGINT) FROM {} GROUP BY address, at ORDER BY address, at",
            table.name
        ),
        order => format!("SELECT {} FROM {} ORDER BY {order}", names.join(", "), table.name),
    }
}

/// Copies every table of `from` into `to`, which must have the schema and no organisation,
/// user or admin yet; nothing is committed unless every table reads back identical.
pub async fn sqlite_to_postgres(from: &SqliteDirectory, to: &PgDirectory) -> Result<Vec<CopiedTable>> {
    let mut tx = to.pool.begin().await?;
    for table in ["orgs", "users", "admins"] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&mut *tx).await?;
        if n > 0 {
            return Err(DirectoryError::Storage(format!(
                "the PostgreSQL database already holds {n} rows in {table}; copy into an empty database \
                 (create one with createdb, then run authrelay store copy again)"
            )));
        }
    }
    // One snapshot of the source: a read transaction holds SQLite's view while we copy.
    let mut src = from.pool.begin().await?;
    let mut report = Vec::new();
    for table in TABLES {
        let rows = sqlite_rows(&mut src, table).await?;
        let mut source_hash = Sha256::new();
        let placeholders: Vec<String> = (1..=table.columns.len()).map(|i| format!("${i}")).collect();
        let insert = format!(
            "INSERT INTO {} ({}) VALUES ({})",
            table.name,
            table.columns.iter().map(|c| format!("\"{}\"", c.1)).collect::<Vec<_>>().join(", "),
            placeholders.join(", ")
        );
        for row in &rows {
            let mut query = sqlx::query(&insert);
            for (i, column) in table.columns.iter().enumerate() {
                let value = row[i].clone();
                value.feed(&mut source_hash);
                query = match value {
                    Value::Int(v) if column.2 == Int32 => query.bind(v.map(|v| i32::try_from(v).unwrap_or(i32::MAX))),
                    Value::Int(v) => query.bind(v),
                    Value::Text(v) => query.bind(v),
                    Value::Bool(v) => query.bind(v),
                    Value::Real(v) => query.bind(v),
                };
            }
            query.execute(&mut *tx).await?;
        }
        if table.serial {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{0}', 'id'), COALESCE((SELECT MAX(id) FROM {0}), 0) + 1, false)",
                table.name
            ))
            .execute(&mut *tx)
            .await?;
        }
        // Read back inside the same transaction: what would be committed.
        let back = sqlx::query(&select_postgres(table)).fetch_all(&mut *tx).await?;
        let mut back_hash = Sha256::new();
        for row in &back {
            for (i, column) in table.columns.iter().enumerate() {
                from_postgres(row, i, column.2)?.feed(&mut back_hash);
            }
        }
        let (source_hex, back_hex) = (hex(&source_hash.finalize()), hex(&back_hash.finalize()));
        if rows.len() != back.len() || source_hex != back_hex {
            return Err(DirectoryError::Storage(format!(
                "table {}: {} rows read from SQLite but {} read back from PostgreSQL (checksums {} / {}); \
                 nothing was committed",
                table.name,
                rows.len(),
                back.len(),
                &source_hex[..12],
                &back_hex[..12]
            )));
        }
        report.push(CopiedTable { table: table.name.to_string(), rows: rows.len() as u64, sha256: source_hex });
    }
    src.commit().await?;
    tx.commit().await?;
    Ok(report)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
