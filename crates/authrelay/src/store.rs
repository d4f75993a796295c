//! Opening the directory the configuration names: the embedded SQLite database in the data
//! directory, or a PostgreSQL database shared by several nodes (`[store] url`,
//! `--database-url`; README "Running more than one node").

use std::sync::Arc;

use authrelay_config::Effective;
use authrelay_directory::postgres::PgDirectory;
use authrelay_directory::sqlite::SqliteDirectory;
use authrelay_directory::Store;

use crate::output::CliError;

/// The directory and admin store, whichever backend holds them.
pub type Dir = Arc<dyn Store>;

/// Which process opens the store: the server keeps its SQLite commits unsynced (the spool makes
/// messages durable; README "Performance"), admin commands fsync every change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opener {
    Server,
    Command,
}

/// Opens the configured store, creating the data directory first (it holds the SQLite file,
/// or, with PostgreSQL, the key that seals admins' TOTP secrets, which every node must share).
pub async fn open(config: &Effective, opener: Opener) -> Result<Dir, CliError> {
    create_data_dir(config)?;
    match &config.store.url {
        Some(url) => {
            let max = match opener {
                Opener::Server => config.store.max_connections,
                Opener::Command => 2,
            };
            Ok(Arc::new(PgDirectory::connect(url, &config.data_dir, max).await?))
        }
        None => Ok(match opener {
            Opener::Server => Arc::new(SqliteDirectory::open_for_server(&config.db_path()).await?),
            Opener::Command => Arc::new(SqliteDirectory::open(&config.db_path()).await?),
        }),
    }
}

/// The cluster's shared queue when the store is PostgreSQL (its schema is the directory's, so
/// [`open`] has applied it); `None` on the embedded store, whose queue is the spool on disk.
pub async fn open_queue(config: &Effective) -> Result<Option<authrelay_spool::shared::SharedQueue>, CliError> {
    let Some(url) = &config.store.url else { return Ok(None) };
    authrelay_spool::shared::SharedQueue::connect(url, config.store.max_connections).await.map(Some).map_err(|e| {
        CliError::new("err-spool").arg("path", authrelay_directory::postgres::redacted_url(url)).arg("reason", e)
    })
}

pub fn create_data_dir(config: &Effective) -> Result<(), CliError> {
    if !config.data_dir.exists() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&config.data_dir)
            .map_err(|e| CliError::new("err-data-dir").arg("path", config.data_dir.display()).arg("reason", e))?;
    }
    Ok(())
}
