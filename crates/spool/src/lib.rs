//! Spool: the durable queue of accepted messages.
//!
//! The one rule: a message is on disk **before** [`Spool::accept`] returns, and only then does
//! the session send `250 … queued as`. The process that owns the spool (the server, opened with
//! [`Spool::open`]) writes the queue file and appends the same bytes to a write-ahead journal,
//! and one `fdatasync` of the journal, shared by concurrent accepts, makes it durable (see
//! `journal`). Other processes (the admin CLI) [`Spool::attach`] and do without the journal:
//! their writes fsync the file and the directory themselves.
//!
//! Layout on disk (all directories 0700, files 0600):
//!
//! ```text
//! <root>/incoming/<id>   being written; never read by anyone, wiped by `open`
//! <root>/queue/<id>      accepted; one file per message
//! <root>/journal/        the owner's write-ahead journal: segments and a checkpoint
//! <root>/removed/<id>    left by `remove` in an attached process, so a journal replay does
//!                        not bring back a message an operator deleted
//! <root>/lock            held (flock) by the owner
//! ```
//!
//! Modules:
//! - `format`: the self-checking file format: a magic line with the format version, the envelope
//!   as one line of JSON, a line with size, accept time and an FNV-1a 64 checksum over envelope
//!   and message, then the message bytes. A torn, truncated or edited file reads as
//!   [`SpoolError::Corrupt`], never as a message.
//! - `journal`: the write-ahead journal, its group commit, checkpoints and replay.
//!
//! Delivery is at least once: a message whose acceptance failed after its queue file was written
//! is taken back out on a best-effort basis, a client that disconnects while its accept is in
//! flight may still have its message queued, and a crash can bring back a message delivered just
//! before it. None of these ever loses an acknowledged message.

mod format;
mod journal;
pub mod shared;
mod unwritten;

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

use journal::{Journal, Record};
pub use journal::{JournalOptions, ReplayReport};
use unwritten::{Taken, Unwritten};

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
    /// The connector that let the client send without AUTH; then `auth_user` is only the
    /// sender it gave, not a signed-in mailbox (no Sent copy is filed for it). Absent from
    /// files written before it existed, and for authenticated submissions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
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
    /// The shared queue's database (PostgreSQL) failed or could not be reached; nothing was
    /// kept or changed by the call that got it.
    #[error("queue database error: {0}")]
    Database(String),
}

impl SpoolError {
    /// The file system is full (ENOSPC) or the quota is used up (EDQUOT): a temporary condition
    /// the client hears as `452 4.3.1`, and that ends by itself when space returns.
    pub fn is_storage_full(&self) -> bool {
        match self {
            SpoolError::Io(e) => {
                matches!(e.kind(), io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded)
                    || matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
            }
            _ => false,
        }
    }
}

/// The result of [`Spool::scan`]: the readable messages and the files that are not.
#[derive(Debug)]
pub struct Scan {
    /// Sorted by id, i.e. by arrival.
    pub messages: Vec<QueuedMessage>,
    /// Every entry is [`SpoolError::Corrupt`].
    pub corrupt: Vec<SpoolError>,
}

/// Where a session puts what it accepts: this node's spool on disk, or a cluster's shared
/// queue in PostgreSQL. Either way `Ok` means durable, and only then is `250` sent.
#[derive(Clone)]
pub enum Intake {
    Local(Spool),
    Shared(shared::SharedQueue),
}

impl Intake {
    pub async fn accept(&self, envelope: &Envelope, message: &[u8]) -> Result<QueueId, SpoolError> {
        match self {
            Intake::Local(spool) => spool.accept(envelope, message).await,
            Intake::Shared(queue) => queue.accept(envelope, message).await,
        }
    }
}

impl From<Spool> for Intake {
    fn from(spool: Spool) -> Self {
        Intake::Local(spool)
    }
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
    removed: PathBuf,
    /// The owner's journal; None in an attached process.
    journal: Option<Journal>,
    /// The owner's accepted messages whose queue files are not written yet (unwritten.rs).
    unwritten: Option<Arc<Unwritten>>,
    /// In an attached process: what the owner's journal holds beyond the checkpoint, read when
    /// attaching (id → queue file content), for messages whose files the owner has not written.
    journaled: std::collections::HashMap<QueueId, Vec<u8>>,
    /// What opening found in the journal (owner only).
    replayed: ReplayReport,
    /// Millisecond part of the last id handed out; ids of this process strictly increase, so
    /// they never collide with each other and sort in arrival order even within a millisecond.
    last_millis: AtomicU64,
    /// Told about every message once it is durable (see [`Spool::subscribe`]).
    subscribers: Mutex<Vec<UnboundedSender<QueuedMessage>>>,
    /// Set by [`Spool::simulate_crash`]: drop without writing anything out.
    crashed: std::sync::atomic::AtomicBool,
}

/// What one scan thread read: the readable messages and the corrupt files.
type Headers = (Vec<QueuedMessage>, Vec<SpoolError>);

/// Queue files whose headers a scan reads per batch, and the threads reading them.
const SCAN_BATCH: usize = 8192;
const SCAN_THREADS: usize = 4;

/// Messages below this size have their journal record built on the async worker.
const BUILD_INLINE: usize = 256 << 10;

/// How many fresh ids `accept` tries when a name is already taken (only possible across
/// processes or restarts with a clock that went backwards).
const ID_ATTEMPTS: usize = 16;

impl Spool {
    /// Opens (creating if needed) the spool at `root` as its owner: takes the lock, deletes
    /// everything left in `incoming/` (never acknowledged, so the client still owns those),
    /// repairs the queue from the journal after an unclean stop, and starts the journal.
    pub fn open(root: &Path) -> Result<Spool, SpoolError> {
        Self::open_with(root, JournalOptions::default())
    }

    /// [`Spool::open`] with journal tunables (tests and benchmarks).
    pub fn open_with(root: &Path, options: JournalOptions) -> Result<Spool, SpoolError> {
        let created_root = !root.exists();
        let dirs = Dirs::create(root)?;
        let lock = Arc::new(take_lock(&root.join("lock"), options.lock_wait)?);

        let mut removed = 0usize;
        for entry in fs::read_dir(&dirs.incoming)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                fs::remove_dir_all(entry.path())?;
            } else {
                fs::remove_file(entry.path())?;
            }
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(removed, dir = %dirs.incoming.display(), "deleted unacknowledged spool leftovers");
        }
        let journal_dir = root.join("journal");
        DirBuilder::new().recursive(true).mode(0o700).create(&journal_dir)?;
        let replayed = journal::replay(&journal_dir, &dirs.queue, &dirs.incoming, &dirs.removed, root)?;
        // Operators' deletions only matter to records the journal held; it starts empty.
        for entry in fs::read_dir(&dirs.removed)? {
            fs::remove_file(entry?.path())?;
        }
        // Make the new directories and the cleanup durable before anyone is told "queued".
        for dir in [dirs.incoming.as_path(), dirs.queue.as_path(), dirs.removed.as_path(), journal_dir.as_path(), root]
        {
            fsync_dir(dir)?;
        }
        if created_root {
            if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
                fsync_dir(parent)?;
            }
        }
        let unwritten = Arc::new(Unwritten::new(
            dirs.queue.clone(),
            dirs.incoming.clone(),
            dirs.removed.clone(),
            options.memory_bytes,
        ));
        let hook = unwritten.clone();
        let journal = Journal::start(&journal_dir, root, options, lock, Box::new(move || hook.write_all()))?;
        let mut spool = Spool::new(root, dirs, Some(journal), replayed);
        Arc::get_mut(&mut spool.inner).expect("not shared yet").unwritten = Some(unwritten);
        Ok(spool)
    }

    /// Uses the spool at `root` without owning it (the admin CLI while a server runs): no
    /// cleanup, no journal; a write here fsyncs its file and directory itself.
    pub fn attach(root: &Path) -> Result<Spool, SpoolError> {
        let dirs = Dirs::create(root)?;
        let journaled = journal::pending(&root.join("journal"))?;
        let mut spool = Spool::new(root, dirs, None, ReplayReport::default());
        Arc::get_mut(&mut spool.inner).expect("not shared yet").journaled = journaled;
        Ok(spool)
    }

    fn new(root: &Path, dirs: Dirs, journal: Option<Journal>, replayed: ReplayReport) -> Spool {
        Spool {
            inner: Arc::new(Inner {
                root: root.to_path_buf(),
                incoming: dirs.incoming,
                queue: dirs.queue,
                removed: dirs.removed,
                journal,
                unwritten: None,
                journaled: Default::default(),
                replayed,
                last_millis: AtomicU64::new(0),
                subscribers: Mutex::new(Vec::new()),
                crashed: Default::default(),
            }),
        }
    }

    /// Stores a message durably and returns its id. `Ok` means the message survives a crash;
    /// only then may the session answer 250.
    pub async fn accept(&self, envelope: &Envelope, message: &[u8]) -> Result<QueueId, SpoolError> {
        self.accept_owned(envelope, message.to_vec()).await
    }

    /// [`Spool::accept`] for a caller that can give up its buffer, saving one copy.
    pub async fn accept_owned(&self, envelope: &Envelope, message: Vec<u8>) -> Result<QueueId, SpoolError> {
        let result = self.accept_durably(envelope, message).await;
        let outcome = if result.is_ok() { "accepted" } else { "failed" };
        metrics::counter!("authrelay_messages_total", "outcome" => outcome).increment(1);
        result
    }

    async fn accept_durably(&self, envelope: &Envelope, message: Vec<u8>) -> Result<QueueId, SpoolError> {
        let queued_at = unix_millis() as i64 / 1000;
        let header = format::encode_header(envelope, &message, queued_at)?;
        let size = message.len() as u64;
        let id = match (&self.inner.journal, &self.inner.unwritten) {
            (Some(journal), Some(unwritten)) => {
                let id = self.inner.fresh_id()?;
                let record = if message.len() < BUILD_INLINE {
                    Record::accept(&id, &[&header, &message])
                } else {
                    // Copying and checksumming megabytes is kept off the async workers.
                    let (id, header) = (id.clone(), header.clone());
                    blocking(move || Ok(Record::accept(&id, &[&header, &message]))).await?
                };
                let meta = QueuedMessage { id: id.clone(), envelope: envelope.clone(), size, queued_at };
                if !unwritten.insert(meta, record.clone(), header.len()) {
                    // Over the memory bound: the file is written before the record, as without
                    // the journal's help (see unwritten.rs).
                    let (inner, id) = (self.inner.clone(), id.clone());
                    let content = record.clone();
                    blocking(move || Ok(inner.write_file(&id, content.content())?)).await?;
                }
                if let Err(e) = journal.append(record).await {
                    // Not known to be durable, so not acknowledged: take it back out so it is
                    // not delivered behind the client's back while the client retries.
                    if !matches!(unwritten.take(&id), Taken::Memory) {
                        let path = self.inner.queue.join(id.as_str());
                        let _ = blocking(move || fs::remove_file(path).map_err(SpoolError::from)).await;
                    }
                    return Err(e.into());
                }
                id
            }
            _ => {
                let inner = self.inner.clone();
                blocking(move || {
                    let id = inner.write_and_rename(&header, &message, true)?;
                    fsync_dir(&inner.queue)?;
                    Ok(id)
                })
                .await?
            }
        };
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
        if let Some(m) = self.inner.unwritten.as_ref().and_then(|u| u.entry(id)) {
            return Ok(m);
        }
        match self.header(id) {
            Err(SpoolError::NotFound(_)) if self.inner.journaled(id).is_some() => {
                let content = self.inner.journaled(id).expect("checked");
                let mut rest = &content[..];
                let header = format::read_header(id.as_str(), &mut rest)?;
                Ok(QueuedMessage {
                    id: id.clone(),
                    envelope: header.envelope,
                    size: header.size,
                    queued_at: header.queued_at,
                })
            }
            other => other,
        }
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
        let corrupt = self.visit(|m| messages.push(m))?;
        messages.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(Scan { messages, corrupt })
    }

    /// Calls `f` for every readable queued message, in no particular order, and returns the
    /// corrupt files. Unlike [`Spool::scan`] it never holds the whole queue: a restart with a
    /// million messages waiting reads their headers a batch at a time, on several threads (the
    /// reads are independent; on a cold cache they overlap on the disk).
    pub fn visit(&self, mut f: impl FnMut(QueuedMessage)) -> Result<Vec<SpoolError>, SpoolError> {
        // Held in memory (owner) or only in the journal (attached): taken first, so a file
        // written meanwhile is not seen twice.
        let mut held: std::collections::HashMap<QueueId, QueuedMessage> = match &self.inner.unwritten {
            Some(u) => u.snapshot().into_iter().map(|m| (m.id.clone(), m)).collect(),
            None => Default::default(),
        };
        for id in self.inner.journaled.keys() {
            if let Ok(m) = self.entry(id) {
                held.entry(id.clone()).or_insert(m);
            }
        }
        let mut corrupt = Vec::new();
        let mut names = Vec::with_capacity(SCAN_BATCH);
        let mut entries = fs::read_dir(&self.inner.queue)?;
        loop {
            names.clear();
            for entry in entries.by_ref().take(SCAN_BATCH) {
                names.push(entry?.file_name());
            }
            if names.is_empty() {
                break;
            }
            let threads = SCAN_THREADS.min(names.len().div_ceil(256)).max(1);
            let chunk = names.len().div_ceil(threads);
            let results: Vec<Result<Headers, SpoolError>> = std::thread::scope(|scope| {
                let workers: Vec<_> =
                    names.chunks(chunk).map(|part| scope.spawn(move || self.read_headers(part))).collect();
                workers
                    .into_iter()
                    .map(|w| w.join().unwrap_or_else(|_| Err(io::Error::other("spool scan thread panicked").into())))
                    .collect()
            });
            for result in results {
                let (messages, bad) = result?;
                for m in messages {
                    if !held.contains_key(&m.id) {
                        f(m);
                    }
                }
                corrupt.extend(bad);
            }
        }
        held.into_values().for_each(f);
        Ok(corrupt)
    }

    /// Headers of the named queue files: the readable ones and the corrupt ones.
    fn read_headers(&self, names: &[std::ffi::OsString]) -> Result<Headers, SpoolError> {
        let mut messages = Vec::with_capacity(names.len());
        let mut corrupt = Vec::new();
        for name in names {
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
        Ok((messages, corrupt))
    }

    /// The envelope and the message bytes exactly as accepted, after checking magic, envelope,
    /// length and checksum.
    pub fn read(&self, id: &QueueId) -> Result<(Envelope, Vec<u8>), SpoolError> {
        if let Some(pair) = self.inner.unwritten.as_ref().and_then(|u| u.read(id)) {
            return Ok(pair);
        }
        let (header, mut data) = self.checked_file(id)?;
        data.drain(..header.len as usize);
        Ok((header.envelope, data))
    }

    /// A message's stored bytes (its queue file, or the owner's journal record while no file
    /// is written yet), with the header read and the checksum verified.
    fn checked_file(&self, id: &QueueId) -> Result<(format::Header, Vec<u8>), SpoolError> {
        let data = match fs::read(self.path(id)) {
            Ok(data) => data,
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.inner.journaled(id).is_some() => {
                self.inner.journaled(id).expect("checked").clone()
            }
            Err(e) => return Err(not_found(e, id)),
        };
        let mut rest = &data[..];
        let header = format::read_header(id.as_str(), &mut rest)?;
        format::verify_message(id.as_str(), &header, rest)?;
        Ok((header, data))
    }

    /// The queue file of a message exactly as stored (header and message bytes), after the
    /// checks of [`Spool::read`]: what `authrelay backup` copies. Meant for an attached
    /// process, which finds a message either in `queue/` or in the owner's journal; the owner
    /// itself must [`Spool::flush`] first.
    pub fn queue_file(&self, id: &QueueId) -> Result<Vec<u8>, SpoolError> {
        Ok(self.checked_file(id)?.1)
    }

    /// Deletes a message (delivered, bounced, or by an operator) and makes the deletion durable,
    /// so it does not come back after a crash and get delivered twice.
    pub fn remove(&self, id: &QueueId) -> Result<(), SpoolError> {
        if let (Some(unwritten), Some(journal)) = (&self.inner.unwritten, &self.inner.journal) {
            if let Taken::Memory = unwritten.take(id) {
                journal.append_detached(Record::done(id));
                return Ok(());
            }
        }
        let path = self.path(id);
        let journal_only = match fs::symlink_metadata(&path) {
            Ok(_) => false,
            Err(e) if e.kind() == io::ErrorKind::NotFound && self.inner.journaled.contains_key(id) => true,
            Err(e) => return Err(not_found(e, id)),
        };
        if self.inner.journal.is_none() {
            // The owner's journal may still hold this message's accept record: leave a marker
            // so a replay after a crash does not restore it.
            let marker = self.inner.removed.join(id.as_str());
            if journal_only && marker.exists() {
                return Err(SpoolError::NotFound(id.to_string()));
            }
            OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&marker)?;
            fsync_dir(&self.inner.removed)?;
        }
        if journal_only {
            // The owner has not written its file yet; the marker keeps it from doing so.
            return Ok(());
        }
        fs::remove_file(&path).map_err(|e| not_found(e, id))?;
        fsync_dir(&self.inner.queue)?;
        if let Some(journal) = &self.inner.journal {
            // The removal is already durable; the record only keeps a replay from restoring it.
            journal.append_detached(Record::done(id));
        }
        Ok(())
    }

    /// [`Spool::remove`] for the async side: in the owner, the deletion is made durable by a
    /// `done` record in the journal that rides along with the next sync (a removal waits up to
    /// 50 ms for an accept's sync) instead of a directory fsync per message. Returns once the
    /// deletion is durable.
    pub async fn remove_async(&self, id: &QueueId) -> Result<(), SpoolError> {
        let (Some(journal), Some(unwritten)) = (&self.inner.journal, &self.inner.unwritten) else {
            let (spool, id) = (self.clone(), id.clone());
            return blocking(move || spool.remove(&id)).await;
        };
        if !matches!(unwritten.take(id), Taken::Memory) {
            let path = self.path(id);
            let owned = id.clone();
            blocking(move || fs::remove_file(path).map_err(|e| not_found(e, &owned))).await?;
        }
        journal.append_lazy(Record::done(id)).await?;
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// Journal syncs done so far (zero in an attached process); fewer than accepts means the
    /// group commit batched them. For metrics and tests.
    pub fn syncs(&self) -> u64 {
        self.inner.journal.as_ref().map_or(0, Journal::syncs)
    }

    /// Checkpoints the journal has completed so far (see `journal`). For tests.
    pub fn checkpoints(&self) -> u64 {
        self.inner.journal.as_ref().map_or(0, Journal::checkpoints)
    }

    /// Writes the queue file of every accepted message still held only in memory (they are
    /// written at each journal checkpoint anyway, and when the spool closes). For tests and
    /// tools that look at `queue/` directly.
    pub fn flush(&self) -> Result<(), SpoolError> {
        if let Some(u) = &self.inner.unwritten {
            u.write_all()?;
        }
        Ok(())
    }

    /// Lets go of the spool the way a crash of the process would: queue files of messages held
    /// in memory are not written and the journal gets no final checkpoint, so the next open
    /// replays it. For tests of the recovery; a real stop just drops the spool.
    #[doc(hidden)]
    pub fn simulate_crash(self) {
        self.inner.crashed.store(true, Ordering::Relaxed);
        if let Some(journal) = &self.inner.journal {
            journal.abandon();
        }
    }

    /// What opening the spool repaired from the journal (owner only).
    pub fn replayed(&self) -> ReplayReport {
        self.inner.replayed
    }

    fn path(&self, id: &QueueId) -> PathBuf {
        self.inner.queue.join(id.as_str())
    }

    fn header(&self, id: &QueueId) -> Result<QueuedMessage, SpoolError> {
        let file = File::open(self.path(id)).map_err(|e| not_found(e, id))?;
        let file_len = file.metadata()?.len();
        // Headers are a few hundred bytes: a small buffer keeps a million-file scan cheap.
        let header = format::read_header(id.as_str(), &mut BufReader::with_capacity(2048, file))?;
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

impl Drop for Inner {
    /// A clean stop leaves every accepted message as a file, for tools that read `queue/`.
    fn drop(&mut self) {
        if self.crashed.load(Ordering::Relaxed) {
            return;
        }
        if let Some(u) = &self.unwritten {
            if let Err(e) = u.write_all() {
                tracing::warn!(error = %e, "queue files not written at close; the journal replays them at the next start");
            }
        }
    }
}

impl Inner {
    /// The queue file content of `id` as the owner's journal holds it (attached processes),
    /// unless an operator deleted the message.
    fn journaled(&self, id: &QueueId) -> Option<&Vec<u8>> {
        self.journaled.get(id).filter(|_| !self.removed.join(id.as_str()).exists())
    }

    /// A new id whose queue file does not exist (see [`Inner::next_id`]).
    fn fresh_id(&self) -> Result<QueueId, SpoolError> {
        for _ in 0..ID_ATTEMPTS {
            let id = self.next_id();
            match fs::symlink_metadata(self.queue.join(id.as_str())) {
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(id),
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::new(io::ErrorKind::AlreadyExists, format!("no free queue id after {ID_ATTEMPTS} attempts"))
            .into())
    }

    /// Writes `queue/<id>` without syncing (the journal covers it).
    fn write_file(&self, id: &QueueId, content: &[u8]) -> io::Result<()> {
        place_file(&self.incoming, &self.queue, id, content, false)
    }

    /// Strictly increasing within this process (see `last_millis`).
    fn next_id(&self) -> QueueId {
        let now = unix_millis();
        let prev = self
            .last_millis
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| Some(now.max(last + 1)))
            .unwrap_or_else(|last| last);
        QueueId::new(now.max(prev + 1), rand::random())
    }

    /// Blocking part of an accept: write `incoming/<id>` (fsync it when `sync`: without a
    /// journal to cover it), rename it into `queue/`.
    fn write_and_rename(&self, header: &[u8], message: &[u8], sync: bool) -> Result<QueueId, SpoolError> {
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
                if sync {
                    file.sync_all()?;
                }
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

/// Reads `bytes` as a journal segment, as replay does, and checks that every record it accepts
/// is well formed. For the fuzz target (fuzz/fuzz_targets/journal.rs); panics on a violation.
#[doc(hidden)]
pub fn fuzz_journal_segment(bytes: &[u8]) -> usize {
    let records = journal::records_in(bytes);
    let mut framed = 0usize;
    for (kind, payload) in &records {
        assert!(matches!(kind, 1 | 2), "unknown record kind {kind} accepted");
        assert!(payload.len() >= 20, "record without a queue id accepted");
        framed += 20 + payload.len();
    }
    assert!(framed <= bytes.len(), "records longer than the segment");
    records.len()
}

/// Runs file work off the async worker threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SpoolError> + Send + 'static,
) -> Result<T, SpoolError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| io::Error::other(format!("spool writer task failed: {e}")))?
}

/// The directories every spool has, created if missing.
struct Dirs {
    incoming: PathBuf,
    queue: PathBuf,
    removed: PathBuf,
}

impl Dirs {
    fn create(root: &Path) -> io::Result<Dirs> {
        let dirs = Dirs { incoming: root.join("incoming"), queue: root.join("queue"), removed: root.join("removed") };
        let mut builder = DirBuilder::new();
        builder.recursive(true).mode(0o700);
        for dir in [&dirs.incoming, &dirs.queue, &dirs.removed] {
            builder.create(dir)?;
        }
        Ok(dirs)
    }
}

/// The owner's exclusive lock. Waits a little, as a previous owner in this process (a test, a
/// restart) may still be letting go; another live owner is an error that names the cause.
fn take_lock(path: &Path, wait: Duration) -> Result<File, SpoolError> {
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path)?;
    let deadline = std::time::Instant::now() + wait;
    loop {
        // SAFETY: plain syscall on a descriptor we own.
        if unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&file), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(file);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(err.into());
        }
        if std::time::Instant::now() >= deadline {
            return Err(SpoolError::Io(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "{} is locked by another authrelay process using the same data directory; stop it or use another --data-dir",
                    path.display()
                ),
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes `queue/<id>` whole or not at all: staged in `incoming/` (fsynced when `sync`), then
/// renamed into place, so no reader ever sees a partial queue file. The owner's writes use it
/// (accept past the memory bound, checkpoints, journal replay).
fn place_file(incoming: &Path, queue: &Path, id: &QueueId, content: &[u8], sync: bool) -> io::Result<()> {
    let staged = incoming.join(id.as_str());
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&staged)?;
    file.write_all(content)?;
    if sync {
        file.sync_all()?;
    }
    fs::rename(&staged, queue.join(id.as_str()))
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
