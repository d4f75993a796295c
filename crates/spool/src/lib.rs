//! Spool: the durable queue of accepted messages.
//!
//! The one rule: a message is written, fsynced, renamed into `queue/` and the directory fsynced
//! **before** [`Spool::accept`] returns, and only then does the session send `250 … queued as`.
//! A crash before that leaves at most a file in `incoming/`, which [`Spool::open`] deletes: it was
//! never acknowledged and is never delivered.
//!
//! Layout on disk (all directories 0700, files 0600):
//!
//! ```text
//! <root>/incoming/<id>   being written; never read by anyone, wiped by `open`
//! <root>/queue/<id>      accepted and durable; one file per message
//! ```
//!
//! Modules:
//! - `format`: the self-checking file format: a magic line with the format version, the envelope
//!   as one line of JSON, a line with size, accept time and an FNV-1a 64 checksum over envelope
//!   and message, then the message bytes. A torn, truncated or edited file reads as
//!   [`SpoolError::Corrupt`], never as a message.
//! - `commit`: the group commit of the `queue/` directory fsync, shared by concurrent accepts.
//!
//! Delivery is at least once: a message whose acceptance failed after its rename is taken back
//! out of `queue/` on a best-effort basis, and a client that disconnects while its accept is in
//! flight may still have its message queued. Neither ever loses an acknowledged message.

mod commit;
mod format;

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, BufReader, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use authrelay_core::QueueId;
use serde::{Deserialize, Serialize, Serializer};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use commit::Committer;

/// What the session learned about a message besides its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Reverse-path of MAIL FROM; empty for the null reverse-path `<>`.
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The mailbox that authenticated the session, kept for audit and send-as checks downstream.
    pub auth_user: String,
    pub client_ip: String,
    /// When the session received the message, in unix seconds.
    pub received_at: i64,
    /// The client asked for SMTPUTF8 on MAIL FROM.
    pub smtputf8: bool,
    /// The client declared BODY=8BITMIME, so onward delivery must preserve 8-bit data.
    pub body_8bit: bool,
}

/// One entry of [`Spool::list`]: everything except the message bytes.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedMessage {
    #[serde(serialize_with = "id_as_str")]
    pub id: QueueId,
    pub envelope: Envelope,
    /// Message size in bytes.
    pub size: u64,
    /// When the spool accepted it, in unix seconds.
    pub queued_at: i64,
}

fn id_as_str<S: Serializer>(id: &QueueId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(id.as_str())
}

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("spool I/O error: {0}")]
    Io(#[from] io::Error),
    /// A file in `queue/` failed its checks; it is left in place for an operator and never
    /// delivered. `id` is the file name, which may not even be a valid queue id.
    #[error("spool file {id} is corrupt: {reason}")]
    Corrupt { id: String, reason: String },
    #[error("no queued message with id {0}")]
    NotFound(String),
}

/// The result of [`Spool::scan`]: the readable messages and the files that are not.
#[derive(Debug)]
pub struct Scan {
    /// Sorted by id, i.e. by arrival.
    pub messages: Vec<QueuedMessage>,
    /// Every entry is [`SpoolError::Corrupt`].
    pub corrupt: Vec<SpoolError>,
}

/// Handle to one spool directory. Cheap to clone; all clones share one commit thread.
#[derive(Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

struct Inner {
    root: PathBuf,
    incoming: PathBuf,
    queue: PathBuf,
    committer: Committer,
    /// Millisecond part of the last id handed out; ids of this process strictly increase, so
    /// they never collide with each other and sort in arrival order even within a millisecond.
    last_millis: AtomicU64,
    /// Told about every message once it is durable (see [`Spool::subscribe`]).
    subscribers: Mutex<Vec<UnboundedSender<QueuedMessage>>>,
}

/// How many fresh ids `accept` tries when a name is already taken (only possible across
/// processes or restarts with a clock that went backwards).
const ID_ATTEMPTS: usize = 16;

impl Spool {
    /// Opens (creating if needed) the spool at `root`, and deletes everything left in
    /// `incoming/`: those messages were never acknowledged, so the client still owns them.
    pub fn open(root: &Path) -> Result<Spool, SpoolError> {
        Self::open_with_gather(root, Duration::ZERO)
    }

    fn open_with_gather(root: &Path, gather: Duration) -> Result<Spool, SpoolError> {
        let created_root = !root.exists();
        let incoming = root.join("incoming");
        let queue = root.join("queue");
        let mut builder = DirBuilder::new();
        builder.recursive(true).mode(0o700);
        builder.create(&incoming)?;
        builder.create(&queue)?;

        let mut removed = 0usize;
        for entry in fs::read_dir(&incoming)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                fs::remove_dir_all(entry.path())?;
            } else {
                fs::remove_file(entry.path())?;
            }
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(removed, dir = %incoming.display(), "deleted unacknowledged spool leftovers");
        }
        // Make the new directories and the cleanup durable before anyone is told "queued".
        for dir in [incoming.as_path(), queue.as_path(), root] {
            fsync_dir(dir)?;
        }
        if created_root {
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                fsync_dir(parent)?;
            }
        }

        let committer = Committer::start(File::open(&queue)?, gather)?;
        Ok(Spool {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                incoming,
                queue,
                committer,
                last_millis: AtomicU64::new(0),
                subscribers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Stores a message durably and returns its id. `Ok` means the message survives a crash;
    /// only then may the session answer 250.
    pub async fn accept(&self, envelope: &Envelope, message: &[u8]) -> Result<QueueId, SpoolError> {
        self.accept_owned(envelope, message.to_vec()).await
    }

    /// [`Spool::accept`] for a caller that can give up its buffer, saving one copy.
    pub async fn accept_owned(&self, envelope: &Envelope, message: Vec<u8>) -> Result<QueueId, SpoolError> {
        let queued_at = unix_millis() as i64 / 1000;
        let header = format::encode_header(envelope, &message, queued_at)?;
        let size = message.len() as u64;
        let inner = self.inner.clone();
        let id = blocking(move || inner.write_and_rename(&header, &message)).await?;

        if let Err(e) = self.inner.committer.commit().await {
            // Not known to be durable, so not acknowledged: take it back out so it is not
            // delivered behind the client's back while the client retries.
            let path = self.inner.queue.join(id.as_str());
            let _ = blocking(move || fs::remove_file(path).map_err(SpoolError::from)).await;
            return Err(e.into());
        }
        tracing::debug!(id = %id, "message queued");
        self.notify(QueuedMessage { id: id.clone(), envelope: envelope.clone(), size, queued_at });
        Ok(id)
    }

    /// A channel that receives every message this process accepts from now on, right after it
    /// became durable, so a queue manager needs no rescans to find new work. Messages put into
    /// `queue/` by other processes are not announced.
    pub fn subscribe(&self) -> UnboundedReceiver<QueuedMessage> {
        let (tx, rx) = unbounded_channel();
        self.inner.subscribers.lock().unwrap_or_else(|e| e.into_inner()).push(tx);
        rx
    }

    fn notify(&self, message: QueuedMessage) {
        let mut subscribers = self.inner.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        subscribers.retain(|tx| !tx.is_closed());
        if let Some((last, rest)) = subscribers.split_last() {
            for tx in rest {
                let _ = tx.send(message.clone());
            }
            let _ = last.send(message);
        }
    }

    /// The header of one queued message (envelope, size, accept time), checked like
    /// [`Spool::list`] checks each file.
    pub fn entry(&self, id: &QueueId) -> Result<QueuedMessage, SpoolError> {
        self.header(id)
    }

    /// The queued messages, oldest first. Corrupt files are logged (warn) and left out; use
    /// [`Spool::scan`] to get them as values. Checks each file's header and length, not the
    /// checksum (that needs the whole message; [`Spool::read`] does it).
    pub fn list(&self) -> Result<Vec<QueuedMessage>, SpoolError> {
        let scan = self.scan()?;
        for bad in &scan.corrupt {
            tracing::warn!(error = %bad, "corrupt spool file is not delivered");
        }
        Ok(scan.messages)
    }

    /// Like [`Spool::list`], but also returns the corrupt files instead of logging them.
    pub fn scan(&self) -> Result<Scan, SpoolError> {
        let mut messages = Vec::new();
        let mut corrupt = Vec::new();
        for entry in fs::read_dir(&self.inner.queue)? {
            let name = entry?.file_name();
            let Some(id) = name.to_str().and_then(QueueId::parse) else {
                corrupt.push(SpoolError::Corrupt {
                    id: name.to_string_lossy().into_owned(),
                    reason: "file name is not a queue id".into(),
                });
                continue;
            };
            match self.header(&id) {
                Ok(message) => messages.push(message),
                Err(e @ SpoolError::Corrupt { .. }) => corrupt.push(e),
                // Removed (delivered) between read_dir and open.
                Err(SpoolError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        messages.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Scan { messages, corrupt })
    }

    /// The envelope and the message bytes exactly as accepted, after checking magic, envelope,
    /// length and checksum.
    pub fn read(&self, id: &QueueId) -> Result<(Envelope, Vec<u8>), SpoolError> {
        let mut data = fs::read(self.path(id)).map_err(|e| not_found(e, id))?;
        let mut rest = &data[..];
        let header = format::read_header(id.as_str(), &mut rest)?;
        format::verify_message(id.as_str(), &header, rest)?;
        data.drain(..header.len as usize);
        Ok((header.envelope, data))
    }

    /// Deletes a message (delivered or bounced) and makes the deletion durable, so it does not
    /// come back after a crash and get delivered twice.
    pub fn remove(&self, id: &QueueId) -> Result<(), SpoolError> {
        fs::remove_file(self.path(id)).map_err(|e| not_found(e, id))?;
        fsync_dir(&self.inner.queue)?;
        Ok(())
    }

    /// [`Spool::remove`] for the async side: the directory fsync that makes the deletion
    /// durable is shared with concurrent accepts and removals (group commit; a removal waits up
    /// to 50 ms for an accept's fsync to ride along with) instead of one per message. Returns
    /// once the deletion is durable.
    pub async fn remove_async(&self, id: &QueueId) -> Result<(), SpoolError> {
        let path = self.path(id);
        let owned = id.clone();
        blocking(move || fs::remove_file(path).map_err(|e| not_found(e, &owned))).await?;
        self.inner.committer.commit_lazy().await?;
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Directory fsyncs done by the group commit so far; fewer than accepts means batching
    /// worked. For metrics and tests.
    pub fn dir_fsyncs(&self) -> u64 {
        self.inner.committer.fsyncs()
    }

    fn path(&self, id: &QueueId) -> PathBuf {
        self.inner.queue.join(id.as_str())
    }

    fn header(&self, id: &QueueId) -> Result<QueuedMessage, SpoolError> {
        let file = File::open(self.path(id)).map_err(|e| not_found(e, id))?;
        let file_len = file.metadata()?.len();
        let header = format::read_header(id.as_str(), &mut BufReader::new(file))?;
        let expected = header.len.saturating_add(header.size);
        if file_len != expected {
            return Err(SpoolError::Corrupt {
                id: id.to_string(),
                reason: format!("file is {file_len} bytes, header says {expected}"),
            });
        }
        Ok(QueuedMessage { id: id.clone(), envelope: header.envelope, size: header.size, queued_at: header.queued_at })
    }
}

impl Inner {
    /// Strictly increasing within this process (see `last_millis`).
    fn next_id(&self) -> QueueId {
        let now = unix_millis();
        let prev = self
            .last_millis
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| Some(now.max(last + 1)))
            .unwrap_or_else(|last| last);
        QueueId::new(now.max(prev + 1), rand::random())
    }

    /// Blocking part of an accept: write `incoming/<id>`, fsync it, rename it into `queue/`.
    fn write_and_rename(&self, header: &[u8], message: &[u8]) -> Result<QueueId, SpoolError> {
        for _ in 0..ID_ATTEMPTS {
            let id = self.next_id();
            let queued = self.queue.join(id.as_str());
            // `rename` would silently replace an existing message; never reuse a queued name.
            match fs::symlink_metadata(&queued) {
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            let staged = self.incoming.join(id.as_str());
            let mut file = match OpenOptions::new().write(true).create_new(true).mode(0o600).open(&staged) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e.into()),
            };
            let written = (|| {
                file.write_all(header)?;
                file.write_all(message)?;
                file.sync_all()?;
                fs::rename(&staged, &queued)
            })();
            return match written {
                Ok(()) => Ok(id),
                Err(e) => {
                    let _ = fs::remove_file(&staged);
                    Err(e.into())
                }
            };
        }
        Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("no free queue id after {ID_ATTEMPTS} attempts"))
            .into())
    }
}

/// Runs file work off the async worker threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SpoolError> + Send + 'static,
) -> Result<T, SpoolError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| io::Error::other(format!("spool writer task failed: {e}")))?
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn not_found(e: io::Error, id: &QueueId) -> SpoolError {
    if e.kind() == io::ErrorKind::NotFound {
        SpoolError::NotFound(id.to_string())
    } else {
        SpoolError::Io(e)
    }
}

fn unix_millis() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests;
