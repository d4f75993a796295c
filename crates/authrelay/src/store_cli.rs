//! `authrelay store`: the directory database's schema, and the move of a single node's SQLite
//! directory into PostgreSQL (README "Running more than one node").

use std::path::PathBuf;

use authrelay_config::Effective;
use authrelay_directory::postgres::{redacted_url, PgDirectory};
use authrelay_directory::sqlite::SqliteDirectory;
use authrelay_i18n::Lang;
use clap::Subcommand;

use crate::output::{say, CliError};

#[derive(Debug, Clone, Subcommand)]
pub enum StoreCommand {
    /// Apply the schema migrations the configured PostgreSQL database lacks (nodes also do
    /// this when they start; run it first when you upgrade a cluster).
    Migrate,
    /// Copy this node's SQLite directory into an empty PostgreSQL database, verified table by
    /// table (row counts and SHA-256); nothing is committed unless every table matches.
    Copy {
        /// "sqlite" for this data directory's database, or the path of an authrelay.db file.
        #[arg(long, value_name = "SOURCE", default_value = "sqlite")]
        from: String,
        /// The PostgreSQL URL to copy into (it gets the schema first).
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

pub async fn run(c: StoreCommand, config: &Effective, lang: Lang) -> Result<(), CliError> {
    match c {
        StoreCommand::Migrate => {
            let url = config.store.url.as_deref().ok_or_else(|| CliError::new("err-store-not-postgres").usage())?;
            let store = PgDirectory::connect_unmigrated(url, &config.data_dir, 2).await?;
            let applied = store.migrate().await?;
            let total = store.applied_migrations().await?;
            let shown = redacted_url(url);
            say(
                lang,
                "store-migrated",
                &[("applied", applied.into()), ("url", shown.as_str().into()), ("total", total.into())],
            );
            store.close().await;
            Ok(())
        }
        StoreCommand::Copy { from, to } => {
            let source = match from.as_str() {
                "sqlite" => config.db_path(),
                path if path.ends_with(".db") => PathBuf::from(path),
                _ => return Err(CliError::new("err-store-copy-from").arg("from", &from).usage()),
            };
            if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
                return Err(CliError::new("err-store-copy-to").arg("to", redacted_url(&to)).usage());
            }
            if !source.is_file() {
                return Err(CliError::new("err-backup-no-data").arg("dir", source.display()).usage());
            }
            crate::store::create_data_dir(config)?;
            let sqlite = SqliteDirectory::open(&source).await?;
            let postgres = PgDirectory::connect(&to, &config.data_dir, 2).await?;
            let report = authrelay_directory::copy::sqlite_to_postgres(&sqlite, &postgres).await?;
            for table in &report {
                say(
                    lang,
                    "store-copy-table",
                    &[
                        ("table", table.table.as_str().into()),
                        ("rows", (table.rows as usize).into()),
                        ("sha", table.sha256[..16].into()),
                    ],
                );
            }
            // The queue follows: every message of this data directory's spool (with its
            // delivery state) into the shared queue, read back and then removed here.
            let spool_root = config.spool_path();
            if spool_root.join("queue").is_dir() {
                let spool = authrelay_spool::Spool::attach(&spool_root)
                    .map_err(|e| CliError::new("err-spool").arg("path", spool_root.display()).arg("reason", e))?;
                let queue = authrelay_spool::shared::SharedQueue::connect(&to, 2)
                    .await
                    .map_err(|e| CliError::new("err-spool").arg("path", redacted_url(&to)).arg("reason", e))?;
                let moved = authrelay_delivery::cluster::move_to_shared(&spool, &config.data_dir, &queue)
                    .await
                    .map_err(|e| CliError::new("err-spool").arg("path", spool_root.display()).arg("reason", e))?;
                let corrupt = if moved.corrupt.is_empty() {
                    String::new()
                } else {
                    authrelay_i18n::t(lang, "store-copy-queue-corrupt", &[("count", moved.corrupt.len().into())])
                };
                let shown_spool = spool_root.display().to_string();
                say(
                    lang,
                    "store-copy-queue",
                    &[
                        ("messages", moved.messages.into()),
                        ("bytes", (moved.bytes as usize).into()),
                        ("sha", moved.sha256[..16].into()),
                        ("spool", shown_spool.as_str().into()),
                        ("corrupt", corrupt.as_str().into()),
                    ],
                );
                queue.close().await;
            }
            let (shown_from, shown_to) = (source.display().to_string(), redacted_url(&to));
            say(
                lang,
                "store-copied",
                &[
                    ("tables", report.len().into()),
                    ("from", shown_from.as_str().into()),
                    ("to", shown_to.as_str().into()),
                ],
            );
            sqlite.close().await;
            postgres.close().await;
            Ok(())
        }
    }
}
