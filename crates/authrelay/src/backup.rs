//! `authrelay backup` and `authrelay restore`: the whole data directory as one tar.gz archive,
//! taken from a running server without stopping it (README "Backup").
//!
//! What goes in, and how each part is made consistent:
//! - `authrelay.db`: `VACUUM INTO`, one read snapshot of the live database (users, credentials,
//!   settings, admins, the sign-in log) however many writers are busy.
//! - `spool/queue/<id>`: every message the spool holds, through [`Spool::attach`], which also
//!   reads the owner's write-ahead journal past its checkpoint. A message acknowledged with
//!   250 before the backup started is either in `queue/` or in the journal (the journal record
//!   is synced before the 250), so it is in the archive; each file is checked (header and
//!   checksum) before it is written. Delivery's own files (`spool/state`, `hold`, `retry`)
//!   are copied beside them.
//! - Everything else in the data directory as it is: `tls/` (the self-signed pair), `dkim/`
//!   (signing keys), `admin-totp.key` (without it the admins' authenticator secrets in the
//!   database cannot be opened), `mailboxes/` (local Maildirs).
//!
//! Left out: the database's `-wal`/`-shm` files (the snapshot replaces them), the journal,
//! `incoming/` (never acknowledged), the spool lock and `listen.json` (of the running process).
//! The archive's first entry is `authrelay-backup.json` (format, version, time); its last,
//! `authrelay-backup-end.json`, counts the messages and files, so a truncated archive is
//! refused by `restore`.

use std::io::{Read, Write};

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use authrelay_config::Effective;
use authrelay_directory::sqlite::SqliteDirectory;
use authrelay_i18n::{Arg, Lang};
use authrelay_spool::Spool;

use crate::output::{say, CliError};

const MANIFEST: &str = "authrelay-backup.json";
const TRAILER: &str = "authrelay-backup-end.json";
const FORMAT: u32 = 1;
/// Spool directories copied file by file besides the queue (crates/delivery/src/state.rs).
const SPOOL_STATE_DIRS: [&str; 3] = ["state", "hold", "retry"];
/// Attaching reads the journal while the owner's checkpointer may delete old segments; a
/// segment that vanished mid-read has its messages in `queue/` already, so a retry finds them.
const ATTACH_ATTEMPTS: usize = 5;

/// The first entry.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Manifest {
    format: u32,
    version: String,
    created_at: i64,
}

/// The last entry: what the archive holds besides the database.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Trailer {
    messages: usize,
    files: usize,
}

pub async fn backup(config: &Effective, to: &Path, lang: Lang) -> Result<(), CliError> {
    let fail = |reason: String| CliError::new("err-backup").arg("file", to.display()).arg("reason", reason);
    if config.store.url.is_some() {
        // The directory is not in the data directory: PostgreSQL's own tools back it up.
        return Err(CliError::new("err-backup-postgres").usage());
    }
    if !config.db_path().is_file() {
        return Err(CliError::new("err-backup-no-data").arg("dir", config.data_dir.display()).usage());
    }
    let parent = to.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let scratch = tempfile::Builder::new()
        .prefix(".authrelay-backup-")
        .tempdir_in(parent)
        .map_err(|e| fail(format!("cannot make a scratch directory in {}: {e}", parent.display())))?;

    // The database first: quick, and independent of the queue.
    let snapshot = scratch.path().join("authrelay.db");
    let directory = SqliteDirectory::open(&config.db_path()).await.map_err(CliError::from)?;
    directory.snapshot_into(&snapshot).await.map_err(|e| fail(e.to_string()))?;
    directory.close().await;

    let partial = scratch.path().join("archive.tar.gz");
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .map_err(|e| fail(e.to_string()))?;
    let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::default()));
    let io = |e: std::io::Error| fail(e.to_string());

    let head = Manifest {
        format: FORMAT,
        version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: time::OffsetDateTime::now_utc().unix_timestamp(),
    };
    append(&mut archive, MANIFEST, &serde_json::to_vec_pretty(&head).unwrap_or_default()).map_err(io)?;
    append_file(&mut archive, "authrelay.db", std::fs::File::open(&snapshot).map_err(io)?).map_err(io)?;
    // One message in memory at a time, however long the queue.
    let mut messages = 0usize;
    if config.spool_path().join("queue").is_dir() {
        let spool = attach(&config.spool_path()).map_err(&fail)?;
        let scan = spool.scan().map_err(|e| fail(e.to_string()))?;
        for bad in &scan.corrupt {
            tracing::warn!(error = %bad, "corrupt spool file left out of the backup");
        }
        for m in &scan.messages {
            match spool.queue_file(&m.id) {
                Ok(bytes) => append(&mut archive, &format!("spool/queue/{}", m.id), &bytes).map_err(io)?,
                // Delivered between the scan and the read: no longer queued.
                Err(authrelay_spool::SpoolError::NotFound(_)) => continue,
                Err(e) => return Err(fail(e.to_string())),
            }
            messages += 1;
        }
    }
    let mut loose = vec![];
    collect_files(&config.data_dir, &config.data_dir, &mut loose).map_err(io)?;
    let mut files = 0usize;
    for relative in &loose {
        // A delivery state file may be replaced or removed while we look: skip what is gone.
        match std::fs::File::open(config.data_dir.join(relative)) {
            Ok(file) => append_file(&mut archive, &relative.to_string_lossy(), file).map_err(io)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io(e)),
        }
        files += 1;
    }
    // The last entry: proof that the archive is whole.
    let tail = Trailer { messages, files };
    append(&mut archive, TRAILER, &serde_json::to_vec_pretty(&tail).unwrap_or_default()).map_err(io)?;
    let file = archive.into_inner().and_then(|gz| gz.finish()).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&partial, to).map_err(io)?;
    let size = std::fs::metadata(to).map(|m| m.len()).unwrap_or(0);
    say(
        lang,
        "backup-done",
        &[
            ("file", Arg::Str(&to.display().to_string())),
            ("messages", Arg::from(messages)),
            ("files", Arg::from(files)),
            ("size", Arg::from(size as usize)),
        ],
    );
    Ok(())
}

fn attach(root: &Path) -> Result<Spool, String> {
    let mut last_error = String::new();
    for _ in 0..ATTACH_ATTEMPTS {
        match Spool::attach(root) {
            Ok(spool) => return Ok(spool),
            Err(e) => last_error = e.to_string(),
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(last_error)
}

/// Relative paths of the files to copy as they are (see the module documentation).
fn collect_files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let relative = path.strip_prefix(root).expect("under root").to_path_buf();
        let text = relative.to_string_lossy();
        let kind = entry.file_type()?;
        let skipped = matches!(
            text.as_ref(),
            "authrelay.db"
                | "authrelay.db-wal"
                | "authrelay.db-shm"
                | "listen.json"
                | "listen.json.tmp"
                // The Debian package's notes of what it made (packaging/debian/postinst).
                | ".made-by-package"
                | ".user-made-by-package"
        ) || (text.starts_with("spool/")
            && !SPOOL_STATE_DIRS.iter().any(|d| text.starts_with(&format!("spool/{d}/"))))
            || text.ends_with(".tmp");
        if kind.is_dir() {
            if text == "spool" || SPOOL_STATE_DIRS.iter().any(|d| text == format!("spool/{d}")) || !skipped {
                collect_files(root, &path, out)?;
            }
        } else if kind.is_file() && !skipped {
            out.push(relative);
        }
    }
    Ok(())
}

/// Streams a file into the archive (the database and Maildirs may be large); its size is the
/// open file's, and files here are replaced by rename, never rewritten in place.
fn append_file<W: Write>(archive: &mut tar::Builder<W>, name: &str, file: std::fs::File) -> std::io::Result<()> {
    let size = file.metadata()?.len();
    let mut header = entry_header(size);
    archive.append_data(&mut header, name, file.take(size))
}

fn append<W: Write>(archive: &mut tar::Builder<W>, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let mut header = entry_header(bytes.len() as u64);
    archive.append_data(&mut header, name, bytes)
}

fn entry_header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    // Keys, password hashes and messages: owner only, as in the data directory.
    header.set_mode(0o600);
    header.set_mtime(time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64);
    header.set_entry_type(tar::EntryType::Regular);
    header
}

/// `authrelay restore --from FILE`: unpacks into the data directory, which must be empty or
/// absent; never mixes a backup into a directory in use.
pub fn restore(config: &Effective, from: &Path, lang: Lang) -> Result<(), CliError> {
    let target = &config.data_dir;
    let not_empty = std::fs::read_dir(target).map(|mut d| d.next().is_some()).unwrap_or(false);
    if not_empty {
        return Err(CliError::new("err-restore-not-empty").arg("dir", target.display()).usage());
    }
    let not_backup =
        |reason: String| CliError::new("err-restore-not-backup").arg("file", from.display()).arg("reason", reason);
    let file = std::fs::File::open(from)
        .map_err(|e| CliError::new("err-restore-read").arg("file", from.display()).arg("reason", e).usage())?;
    let parent = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .map_err(|e| CliError::new("err-data-dir").arg("path", parent.display()).arg("reason", e))?;
    // Unpacked beside the target and renamed into place, so a failed restore leaves no half.
    let staging = tempfile::Builder::new()
        .prefix(".authrelay-restore-")
        .tempdir_in(parent)
        .map_err(|e| CliError::new("err-data-dir").arg("path", parent.display()).arg("reason", e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut manifest: Option<Manifest> = None;
    let mut trailer: Option<Trailer> = None;
    let (mut messages, mut files) = (0usize, 0usize);
    for entry in archive.entries().map_err(|e| not_backup(e.to_string()))? {
        let mut entry = entry.map_err(|e| not_backup(e.to_string()))?;
        let name = entry.path().map_err(|e| not_backup(e.to_string()))?.into_owned();
        if manifest.is_none() {
            if name != Path::new(MANIFEST) {
                return Err(not_backup(format!("it does not start with {MANIFEST}")));
            }
            let mut text = String::new();
            entry.by_ref().take(1 << 16).read_to_string(&mut text).map_err(|e| not_backup(e.to_string()))?;
            let m: Manifest = serde_json::from_str(&text).map_err(|e| not_backup(e.to_string()))?;
            if m.format != FORMAT {
                return Err(not_backup(format!("archive format {} is not {FORMAT}", m.format)));
            }
            manifest = Some(m);
            continue;
        }
        if name == Path::new(TRAILER) {
            let mut text = String::new();
            entry.by_ref().take(1 << 16).read_to_string(&mut text).map_err(|e| not_backup(e.to_string()))?;
            trailer = Some(serde_json::from_str(&text).map_err(|e| not_backup(e.to_string()))?);
            continue;
        }
        if trailer.is_some() {
            return Err(not_backup(format!("{} follows {TRAILER}", name.display())));
        }
        // Only plain relative paths of regular files: nothing can land outside the directory.
        let safe = name.components().all(|c| matches!(c, Component::Normal(_)));
        if !safe || entry.header().entry_type() != tar::EntryType::Regular {
            return Err(not_backup(format!("unexpected entry {}", name.display())));
        }
        let path = staging.path().join(&name);
        if let Some(dir) = path.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| CliError::new("err-data-dir").arg("path", dir.display()).arg("reason", e))?;
        }
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| CliError::new("err-data-dir").arg("path", path.display()).arg("reason", e))?;
        std::io::copy(&mut entry, &mut out).map_err(|e| not_backup(format!("{}: {e}", name.display())))?;
        if name.starts_with("spool/queue") {
            messages += 1;
        } else if name != Path::new("authrelay.db") {
            files += 1;
        }
    }
    let Some(manifest) = manifest else { return Err(not_backup("it is empty".into())) };
    let Some(trailer) = trailer else { return Err(not_backup(format!("it ends before {TRAILER}: truncated"))) };
    if trailer.messages != messages || trailer.files != files {
        return Err(not_backup(format!(
            "it lists {} messages and {} files but holds {messages} and {files}",
            trailer.messages, trailer.files
        )));
    }
    if target.exists() {
        // Empty (checked above): replaced by the staged directory.
        std::fs::remove_dir(target)
            .map_err(|e| CliError::new("err-data-dir").arg("path", target.display()).arg("reason", e))?;
    }
    // Everything on disk before the directory appears under its name: one syncfs(2) instead of
    // an fsync per file (thousands of queue files), then the rename made durable.
    let sync = |dir: &Path| -> std::io::Result<()> {
        use std::os::fd::AsRawFd;
        let handle = std::fs::File::open(dir)?;
        // SAFETY: a valid open descriptor for the duration of the call.
        if unsafe { libc::syncfs(handle.as_raw_fd()) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    };
    sync(staging.path()).map_err(|e| CliError::new("err-data-dir").arg("path", target.display()).arg("reason", e))?;
    let staged = staging.keep();
    std::fs::set_permissions(&staged, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .and_then(|_| std::fs::rename(&staged, target))
        .and_then(|_| std::fs::File::open(parent)?.sync_all())
        .map_err(|e| CliError::new("err-data-dir").arg("path", target.display()).arg("reason", e))?;
    say(
        lang,
        "restore-done",
        &[
            ("file", Arg::Str(&from.display().to_string())),
            ("dir", Arg::Str(&target.display().to_string())),
            ("messages", Arg::from(messages)),
            ("files", Arg::from(files)),
            ("taken", Arg::Str(&crate::output::when(lang, Some(manifest.created_at)))),
        ],
    );
    Ok(())
}
