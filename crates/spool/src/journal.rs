//! The write-ahead journal that makes an accept durable with one `fdatasync`.
//!
//! Why: a brand-new queue file is durable only once its data, its inode and its directory entry
//! are on disk: a file fsync plus a directory fsync, each a journal commit of the filesystem
//! (~0.6 ms together on the reference VM). Appending to a preallocated file and `fdatasync`ing
//! it costs ~0.1 ms. So an accept writes its queue file *without* syncing it, appends the very
//! same bytes as a record here, and answers 250 only after the record is on disk.
//!
//! - One writer thread owns the current segment. It takes a waiting record, then every record
//!   already queued, writes them all and makes them durable with one `fdatasync` (group commit);
//!   nobody is answered before the sync that covers their record has returned.
//! - Removals of delivered messages append a `done` record and ride along with the next sync
//!   (at most [`LAZY_WAIT`] later), so a removal never costs a directory fsync of its own.
//! - A checkpointer thread, every [`JournalOptions::checkpoint_interval`] while records arrive,
//!   calls `syncfs(2)`, after which every queue file written and every file removed before it
//!   is on disk by the filesystem's own means. It then records the journal position reached
//!   before the `syncfs` in `checkpoint` and deletes the segments before it.
//! - [`replay`] runs when the owner opens the spool: for every record after the checkpoint, a
//!   queue file that is missing or does not hold exactly the accepted bytes is written again
//!   (the machine lost power before the filesystem wrote it), and a message with a `done`
//!   record is removed again (its removal was lost). Then the journal starts empty.
//!
//! Record layout (little endian), appended back to back in `journal/<seq as 16 hex>.journal`:
//!
//! ```text
//! "AJR1" | kind u8 (1 accept, 2 done) | 3 zero bytes | payload length u32 | CRC-32 of kind,
//! length and payload as u64 | payload = queue id (20 ASCII bytes) + for accept: the queue file
//! ```
//!
//! Segments are preallocated, so they read as zeros past the last record: replay stops at the
//! first record whose magic, length or checksum is wrong. A torn record can only be the last
//! one, since a batch is written only after the previous one was synced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use authrelay_core::QueueId;
use tokio::sync::oneshot;

use crate::format::Fnv1a64;

const MAGIC: &[u8; 4] = b"AJR1";
const HEADER_LEN: usize = 20;
const ID_LEN: usize = 20;
const KIND_ACCEPT: u8 = 1;
const KIND_DONE: u8 = 2;
const CHECKPOINT_FILE: &str = "checkpoint";
const CHECKPOINT_MAGIC: &str = "AUTHRELAY-JOURNAL 1";
/// Larger than any message the server accepts (the SIZE limit is far below), so a longer
/// length field is damage, not a record.
const MAX_PAYLOAD: u64 = 1 << 31;

/// How long a `done` record waits for an accept's sync to ride along with.
const LAZY_WAIT: Duration = Duration::from_millis(50);
/// This many waiting `done` records start a sync at once.
const LAZY_BATCH: usize = 8;

/// Tunables; production uses [`JournalOptions::default`].
#[derive(Debug, Clone, Copy)]
pub struct JournalOptions {
    /// Size each segment is preallocated to (a record larger than this gets a segment of its own size).
    pub segment_size: u64,
    /// Pause before each sync to let a batch form; zero in production, a few ms in tests.
    pub gather: Duration,
    /// How often, while records arrive, the checkpointer makes the queue files durable by `syncfs`.
    pub checkpoint_interval: Duration,
    /// How long opening waits for another owner of the spool to let go of the lock.
    pub lock_wait: Duration,
    /// Accepted bytes kept in memory instead of queue files until the next checkpoint
    /// (unwritten.rs); beyond this an accept writes its file at once.
    pub memory_bytes: usize,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            segment_size: 64 << 20,
            gather: Duration::ZERO,
            checkpoint_interval: Duration::from_secs(1),
            lock_wait: Duration::from_secs(10),
            memory_bytes: 64 << 20,
        }
    }
}

/// A position in the journal: segment number and byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct Position {
    seq: u64,
    offset: u64,
}

/// One framed record, ready to append; shared with the spool's in-memory copy of the message.
#[derive(Clone)]
pub(crate) struct Record(Arc<Vec<u8>>);

impl Record {
    /// The record of an accepted message: `file` is the queue file's exact content, in parts.
    pub(crate) fn accept(id: &QueueId, file: &[&[u8]]) -> Record {
        Record::frame(KIND_ACCEPT, id, file)
    }

    /// The record of a removed message.
    pub(crate) fn done(id: &QueueId) -> Record {
        Record::frame(KIND_DONE, id, &[])
    }

    fn frame(kind: u8, id: &QueueId, parts: &[&[u8]]) -> Record {
        let payload_len = ID_LEN + parts.iter().map(|p| p.len()).sum::<usize>();
        let mut bytes = Vec::with_capacity(HEADER_LEN + payload_len);
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&[kind, 0, 0, 0]);
        bytes.extend_from_slice(&(payload_len as u32).to_le_bytes());
        bytes.extend_from_slice(&[0; 8]);
        debug_assert_eq!(id.as_str().len(), ID_LEN);
        bytes.extend_from_slice(id.as_str().as_bytes());
        for part in parts {
            bytes.extend_from_slice(part);
        }
        let sum = checksum(kind, payload_len as u32, &bytes[HEADER_LEN..]);
        bytes[12..20].copy_from_slice(&sum.to_le_bytes());
        Record(Arc::new(bytes))
    }

    fn len(&self) -> u64 {
        self.0.len() as u64
    }

    /// What an accept record carries: the queue file's exact content.
    pub(crate) fn content(&self) -> &[u8] {
        &self.0[HEADER_LEN + ID_LEN..]
    }
}

/// CRC-32 of kind, length and payload (hardware-assisted: records carry whole messages).
fn checksum(kind: u8, len: u32, payload: &[u8]) -> u64 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind]);
    crc.update(&len.to_le_bytes());
    crc.update(payload);
    u64::from(crc.finalize())
}

/// `io::Error` is not `Clone`, so one failure is handed to a whole batch as kind + text.
type Outcome = Result<(), (io::ErrorKind, String)>;

struct Request {
    record: Record,
    reply: oneshot::Sender<Outcome>,
    /// A `done` record: may wait for someone else's sync.
    lazy: bool,
}

/// Handle to the writer and checkpointer threads of an open journal. They stop when it is dropped.
pub(crate) struct Journal {
    requests: mpsc::Sender<Request>,
    syncs: Arc<AtomicU64>,
    checkpoints: Arc<AtomicU64>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    checkpointer: Option<thread::JoinHandle<()>>,
    /// Set by [`Journal::abandon`]: stop without the final checkpoint, as a crash would.
    abandoned: Arc<std::sync::atomic::AtomicBool>,
}

impl Journal {
    /// Starts an empty journal in `dir` (after [`replay`]). `root` is any directory on the
    /// spool's filesystem, for `syncfs`. `owner_lock` is held by both threads until they end, so
    /// the next owner cannot start while this one still writes. `before_checkpoint` runs before
    /// each `syncfs`: it must write every queue file the records so far stand for (the spool's
    /// messages still held in memory, unwritten.rs).
    pub(crate) fn start(
        dir: &Path,
        root: &Path,
        options: JournalOptions,
        owner_lock: Arc<File>,
        before_checkpoint: Box<dyn Fn() -> io::Result<()> + Send>,
    ) -> io::Result<Journal> {
        let next = next_seq(dir)?;
        // The replayed state is already durable (see `replay`), so the journal starts over.
        write_checkpoint(dir, Position { seq: next, offset: 0 })?;
        for (seq, path) in segments(dir)? {
            if seq < next {
                fs::remove_file(path)?;
            }
        }
        let segment = Segment::create(dir, next, options.segment_size)?;
        File::open(dir)?.sync_all()?;

        let progress = Arc::new(Mutex::new(Position { seq: next, offset: 0 }));
        let (requests, rx) = mpsc::channel::<Request>();
        let syncs = Arc::new(AtomicU64::new(0));
        let checkpoints = Arc::new(AtomicU64::new(0));
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let writer = Writer {
            dir: dir.to_path_buf(),
            segment,
            segment_size: options.segment_size,
            progress: progress.clone(),
            syncs: syncs.clone(),
            _lock: owner_lock.clone(),
        };
        thread::Builder::new().name("spool-journal".into()).spawn(move || writer.run(rx, options.gather))?;
        let abandoned = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // Where the journal starts, read before anyone can append: read in the thread instead,
        // a record appended before the thread first ran would count as already checkpointed.
        let started_at = *progress.lock().unwrap_or_else(|e| e.into_inner());
        let checkpointer = Checkpointer {
            abandoned: abandoned.clone(),
            dir: dir.to_path_buf(),
            filesystem: File::open(root)?,
            started_at,
            progress,
            interval: options.checkpoint_interval,
            stop: stop.clone(),
            count: checkpoints.clone(),
            before: before_checkpoint,
            _lock: owner_lock,
        };
        let checkpointer = thread::Builder::new().name("spool-checkpoint".into()).spawn(move || checkpointer.run())?;
        Ok(Journal { requests, syncs, checkpoints, stop, checkpointer: Some(checkpointer), abandoned })
    }

    /// Returns once `record` is on disk.
    pub(crate) async fn append(&self, record: Record) -> io::Result<()> {
        self.request(record, false).await
    }

    /// Like [`Journal::append`] for a record nobody waits on: rides along with the next sync an
    /// accept starts, and starts its own only after [`LAZY_WAIT`].
    pub(crate) async fn append_lazy(&self, record: Record) -> io::Result<()> {
        self.request(record, true).await
    }

    /// Queues `record` with the next sync without waiting for it.
    pub(crate) fn append_detached(&self, record: Record) {
        let (tx, _) = oneshot::channel();
        let _ = self.requests.send(Request { record, reply: tx, lazy: true });
    }

    async fn request(&self, record: Record, lazy: bool) -> io::Result<()> {
        let stopped = || io::Error::other("spool journal writer has stopped");
        let (tx, rx) = oneshot::channel();
        self.requests.send(Request { record, reply: tx, lazy }).map_err(|_| stopped())?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err((kind, text))) => Err(io::Error::new(kind, text)),
            Err(_) => Err(stopped()),
        }
    }

    /// The next stop skips the final checkpoint (see `Spool::simulate_crash`).
    pub(crate) fn abandon(&self) {
        self.abandoned.store(true, Ordering::Relaxed);
    }

    pub(crate) fn syncs(&self) -> u64 {
        self.syncs.load(Ordering::Relaxed)
    }

    pub(crate) fn checkpoints(&self) -> u64 {
        self.checkpoints.load(Ordering::Relaxed)
    }
}

impl Drop for Journal {
    /// Waits for the final checkpoint (the spool has written its queue files by now).
    fn drop(&mut self) {
        let (stopped, wake) = &*self.stop;
        *stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        wake.notify_all();
        if let Some(thread) = self.checkpointer.take() {
            let _ = thread.join();
        }
    }
}

/// The segment being appended to.
struct Segment {
    seq: u64,
    file: File,
    offset: u64,
    capacity: u64,
}

impl Segment {
    /// A new, preallocated, durable (file and directory entry) segment.
    fn create(dir: &Path, seq: u64, capacity: u64) -> io::Result<Segment> {
        let path = segment_path(dir, seq);
        let file = OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(&path)?;
        let ready =
            preallocate(&file, capacity).and_then(|()| file.sync_all()).and_then(|()| File::open(dir)?.sync_all());
        if let Err(e) = ready {
            // A full disk fails the preallocation: leave no half-made segment behind, or every
            // later attempt would find the name taken and the journal would never recover.
            let _ = fs::remove_file(&path);
            return Err(e);
        }
        Ok(Segment { seq, file, offset: 0, capacity })
    }
}

/// Reserves the blocks up front, so appending never changes the file size and `fdatasync`
/// has no size to write. Falls back to a sparse file where `fallocate` is unsupported.
fn preallocate(file: &File, len: u64) -> io::Result<()> {
    // SAFETY: plain syscall on a descriptor we own.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len as libc::off_t) };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) => file.set_len(len),
        _ => Err(err),
    }
}

struct Writer {
    dir: PathBuf,
    segment: Segment,
    segment_size: u64,
    progress: Arc<Mutex<Position>>,
    syncs: Arc<AtomicU64>,
    _lock: Arc<File>,
}

impl Writer {
    fn run(mut self, rx: mpsc::Receiver<Request>, gather: Duration) {
        let mut lazy: Vec<Request> = Vec::new();
        let mut deadline = Instant::now();
        loop {
            let first = if lazy.is_empty() {
                match rx.recv() {
                    Ok(r) => Some(r),
                    // Every sender is gone: the spool was dropped.
                    Err(_) => break,
                }
            } else {
                rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok()
            };
            let mut batch = Vec::new();
            match first {
                Some(r) if r.lazy => {
                    if lazy.is_empty() {
                        deadline = Instant::now() + LAZY_WAIT;
                    }
                    lazy.push(r);
                    if Instant::now() < deadline && lazy.len() < LAZY_BATCH {
                        continue;
                    }
                }
                Some(r) => {
                    if !gather.is_zero() {
                        thread::sleep(gather);
                    }
                    batch.push(r);
                }
                None => {}
            }
            batch.append(&mut lazy);
            batch.extend(rx.try_iter());
            if batch.is_empty() {
                continue;
            }
            let outcome: Outcome = self.write(&batch).map_err(|e| (e.kind(), e.to_string()));
            if let Err((_, text)) = &outcome {
                tracing::error!(error = %text, waiting = batch.len(), "spool journal write failed");
            }
            for request in batch {
                // A waiter that went away (its session was dropped) needs no answer.
                let _ = request.reply.send(outcome.clone());
            }
        }
    }

    /// Appends the batch and syncs it; the position is published only once it is durable.
    fn write(&mut self, batch: &[Request]) -> io::Result<()> {
        let start = (self.segment.seq, self.segment.offset);
        let result = self.write_batch(batch);
        if result.is_err() && self.segment.seq == start.0 && self.segment.offset > start.1 {
            // Nobody was told these records are kept (a full disk while opening the next
            // segment, say): blank them, so a replay cannot deliver a message its client was
            // refused and will send again. Best effort: the blocks are preallocated.
            let blank = vec![0u8; (self.segment.offset - start.1) as usize];
            if self.segment.file.write_all_at(&blank, start.1).is_ok() {
                self.segment.offset = start.1;
            }
        }
        result
    }

    fn write_batch(&mut self, batch: &[Request]) -> io::Result<()> {
        for request in batch {
            let len = request.record.len();
            if self.segment.offset + len > self.segment.capacity {
                // Everything in the old segment must be durable before anything after it.
                self.segment.file.sync_data()?;
                let next = Segment::create(&self.dir, self.segment.seq + 1, self.segment_size.max(len))?;
                self.segment = next;
            }
            self.segment.file.write_all_at(&request.record.0, self.segment.offset)?;
            self.segment.offset += len;
        }
        let started = std::time::Instant::now();
        self.segment.file.sync_data()?;
        metrics::histogram!("authrelay_journal_sync_seconds").record(started.elapsed().as_secs_f64());
        self.syncs.fetch_add(1, Ordering::Relaxed);
        *self.progress.lock().unwrap_or_else(|e| e.into_inner()) =
            Position { seq: self.segment.seq, offset: self.segment.offset };
        Ok(())
    }
}

struct Checkpointer {
    dir: PathBuf,
    filesystem: File,
    /// The journal's position when it started (the last checkpoint's, after a replay).
    started_at: Position,
    progress: Arc<Mutex<Position>>,
    interval: Duration,
    stop: Arc<(Mutex<bool>, Condvar)>,
    count: Arc<AtomicU64>,
    before: Box<dyn Fn() -> io::Result<()> + Send>,
    abandoned: Arc<std::sync::atomic::AtomicBool>,
    _lock: Arc<File>,
}

impl Checkpointer {
    fn run(self) {
        let mut done = self.started_at;
        loop {
            // A clean stop ends with one more checkpoint, so the next start has nothing to replay.
            let stopping = {
                let (stopped, wake) = &*self.stop;
                let guard = stopped.lock().unwrap_or_else(|e| e.into_inner());
                let (guard, _) =
                    wake.wait_timeout_while(guard, self.interval, |s| !*s).unwrap_or_else(|e| e.into_inner());
                *guard
            };
            if stopping && self.abandoned.load(Ordering::Relaxed) {
                return;
            }
            // Every record before this position had its queue file written or removed first.
            let reached = *self.progress.lock().unwrap_or_else(|e| e.into_inner());
            if reached == done {
                if stopping {
                    return;
                }
                continue;
            }
            match self.checkpoint(reached) {
                Ok(()) => {
                    done = reached;
                    self.count.fetch_add(1, Ordering::Relaxed);
                }
                // Harmless for safety (replay just has more to read); keep trying.
                Err(e) => tracing::warn!(error = %e, "spool journal checkpoint failed"),
            }
            if stopping {
                return;
            }
        }
    }

    fn checkpoint(&self, reached: Position) -> io::Result<()> {
        // Every record up to `reached` was appended after its message entered the spool's
        // memory, so writing out what is in memory now covers them all.
        (self.before)()?;
        syncfs(&self.filesystem)?;
        write_checkpoint(&self.dir, reached)?;
        for (seq, path) in segments(&self.dir)? {
            if seq < reached.seq {
                fs::remove_file(path)?;
            }
        }
        Ok(())
    }
}

fn syncfs(file: &File) -> io::Result<()> {
    // SAFETY: plain syscall on a descriptor we own.
    if unsafe { libc::syncfs(file.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:016x}.journal"))
}

/// The segments in `dir`, oldest first.
fn segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".journal"))
            .filter(|n| n.len() == 16)
            .and_then(|n| u64::from_str_radix(n, 16).ok())
        else {
            continue;
        };
        out.push((seq, entry.path()));
    }
    out.sort();
    Ok(out)
}

fn next_seq(dir: &Path) -> io::Result<u64> {
    let last_segment = segments(dir)?.last().map_or(0, |(seq, _)| seq + 1);
    let checkpoint = read_checkpoint(dir).map_or(0, |p| p.seq + 1);
    Ok(last_segment.max(checkpoint))
}

/// `checkpoint` holds the position up to which everything is durable without the journal.
fn write_checkpoint(dir: &Path, at: Position) -> io::Result<()> {
    let body = format!("{CHECKPOINT_MAGIC} seq={} offset={}", at.seq, at.offset);
    let sum = Fnv1a64::new().update(body.as_bytes()).finish();
    let tmp = dir.join("checkpoint.tmp");
    let mut file = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    file.write_all(format!("{body} fnv1a64={sum:016x}\n").as_bytes())?;
    file.sync_data()?;
    fs::rename(&tmp, dir.join(CHECKPOINT_FILE))?;
    File::open(dir)?.sync_all()
}

/// None when missing or unreadable: then every segment is replayed, which is always safe.
fn read_checkpoint(dir: &Path) -> Option<Position> {
    let text = fs::read_to_string(dir.join(CHECKPOINT_FILE)).ok()?;
    let (body, sum) = text.trim_end().rsplit_once(" fnv1a64=")?;
    if u64::from_str_radix(sum, 16).ok()? != Fnv1a64::new().update(body.as_bytes()).finish() {
        return None;
    }
    let rest = body.strip_prefix(CHECKPOINT_MAGIC)?.trim_start();
    let (seq, offset) = rest.split_once(' ')?;
    Some(Position {
        seq: seq.strip_prefix("seq=")?.parse().ok()?,
        offset: offset.strip_prefix("offset=")?.parse().ok()?,
    })
}

/// What [`replay`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReplayReport {
    /// Records read after the checkpoint.
    pub records: u64,
    /// Queue files written again from their records.
    pub restored: u64,
    /// Queue files removed again because of a `done` record.
    pub removed: u64,
}

/// Brings `queue` up to date with the records after the checkpoint in `dir` (see the module
/// documentation) and makes the result durable. Messages with a marker in `removed` stay removed. The journal itself is left for
/// [`Journal::start`] to clear.
pub(crate) fn replay(
    dir: &Path,
    queue: &Path,
    incoming: &Path,
    removed: &Path,
    filesystem: &Path,
) -> io::Result<ReplayReport> {
    let start = read_checkpoint(dir).unwrap_or_default();
    // First pass: which messages were removed, so their files are not restored only to go again.
    let mut done = std::collections::HashSet::new();
    each_record(dir, start, |kind, id, _| {
        if kind == KIND_DONE {
            done.insert(id.clone());
        }
        Ok(())
    })?;
    let mut report = ReplayReport::default();
    each_record(dir, start, |kind, id, content| {
        report.records += 1;
        let target = queue.join(id.as_str());
        if kind == KIND_DONE {
            match fs::remove_file(&target) {
                Ok(()) => report.removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            return Ok(());
        }
        // Delivered, or deleted by an operator from another process (`Spool::remove`'s marker).
        if done.contains(id) || removed.join(id.as_str()).exists() {
            return Ok(());
        }
        let intact = match fs::read(&target) {
            Ok(bytes) => bytes == content,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(e),
        };
        if !intact {
            crate::place_file(incoming, queue, id, content, true)?;
            report.restored += 1;
        }
        Ok(())
    })?;
    if report.records > 0 {
        File::open(queue)?.sync_all()?;
        // Queue files that were intact may still be only in the page cache (the process died,
        // the machine did not): make them durable before the journal that covers them goes.
        syncfs(&File::open(filesystem)?)?;
    }
    if report.restored + report.removed > 0 {
        tracing::warn!(
            restored = report.restored,
            removed = report.removed,
            "spool repaired from its journal after an unclean stop"
        );
    }
    Ok(report)
}

/// Calls `f(kind, id, content)` for each valid record from `start` on, in order.
fn each_record(
    dir: &Path,
    start: Position,
    mut f: impl FnMut(u8, &QueueId, &[u8]) -> io::Result<()>,
) -> io::Result<()> {
    for (seq, path) in segments(dir)? {
        if seq < start.seq {
            continue;
        }
        let offset = if seq == start.seq { start.offset } else { 0 };
        let file = File::open(&path)?;
        // A damaged length field can claim anything: no record is longer than what is left.
        let mut left = file.metadata()?.len().saturating_sub(offset);
        let mut reader = BufReader::with_capacity(1 << 20, file);
        io::copy(&mut (&mut reader).take(offset), &mut io::sink())?;
        while let Some((kind, payload)) = read_record(&mut reader, left)? {
            left = left.saturating_sub((HEADER_LEN + payload.len()) as u64);
            match std::str::from_utf8(&payload[..ID_LEN]).ok().and_then(QueueId::parse) {
                Some(id) => f(kind, &id, &payload[ID_LEN..])?,
                None => tracing::warn!(segment = %path.display(), "journal record with an invalid queue id skipped"),
            }
        }
    }
    Ok(())
}

/// The accepted messages the journal in `dir` holds after its checkpoint that were not
/// removed since: id → queue file content. An attached process (the CLI) adds these to what it
/// finds in `queue/`, as the owner may not have written their files yet.
pub(crate) fn pending(dir: &Path) -> io::Result<std::collections::HashMap<QueueId, Vec<u8>>> {
    let mut found = std::collections::HashMap::new();
    if !dir.is_dir() {
        return Ok(found);
    }
    let start = read_checkpoint(dir).unwrap_or_default();
    each_record(dir, start, |kind, id, content| {
        if kind == KIND_ACCEPT {
            found.insert(id.clone(), content.to_vec());
        } else {
            found.remove(id);
        }
        Ok(())
    })?;
    Ok(found)
}

/// The next valid record, or None at the end of the written part (zeros, a torn record).
fn read_record(r: &mut impl Read, left: u64) -> io::Result<Option<(u8, Vec<u8>)>> {
    let mut header = [0u8; HEADER_LEN];
    if !read_full(r, &mut header)? || &header[..4] != MAGIC {
        return Ok(None);
    }
    let kind = header[4];
    let len = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
    let sum = u64::from_le_bytes(header[12..20].try_into().expect("8 bytes"));
    let fits = (len as u64) <= MAX_PAYLOAD && (len as u64) <= left.saturating_sub(HEADER_LEN as u64);
    if !matches!(kind, KIND_ACCEPT | KIND_DONE) || (len as u64) < ID_LEN as u64 || !fits {
        return Ok(None);
    }
    let mut payload = vec![0u8; len as usize];
    if !read_full(r, &mut payload)? || checksum(kind, len, &payload) != sum {
        return Ok(None);
    }
    Ok(Some((kind, payload)))
}

/// Reads `bytes` as one segment the way replay does; the records it accepts (fuzz target).
pub(crate) fn records_in(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    let mut rest = bytes;
    loop {
        let left = rest.len() as u64;
        match read_record(&mut rest, left) {
            Ok(Some(record)) => out.push(record),
            _ => return out,
        }
    }
}

/// Fills `buf`; false at end of file.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    match r.read_exact(buf) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> QueueId {
        QueueId::new(1_800_000_000_000 + u64::from(n), n)
    }

    /// Whatever the bytes, reading stops cleanly: a record is returned only when its magic,
    /// kind, length and checksum all hold, and a length beyond the file is not believed.
    #[test]
    fn damaged_records_end_the_log() {
        let good = Record::accept(&id(1), &[b"AUTHRELAY-SPOOL 2\n", b"body"]);
        let bytes = good.0.as_slice();
        let read = |b: &[u8]| read_record(&mut &b[..], b.len() as u64).unwrap();
        let (kind, payload) = read(bytes).expect("an intact record");
        assert_eq!(kind, KIND_ACCEPT);
        assert_eq!(&payload[ID_LEN..], b"AUTHRELAY-SPOOL 2\nbody");

        let mut huge = bytes.to_vec();
        huge[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        let mut wrong_kind = bytes.to_vec();
        wrong_kind[4] = 9;
        let mut flipped = bytes.to_vec();
        *flipped.last_mut().unwrap() ^= 1;
        let mut short_len = bytes.to_vec();
        short_len[8..12].copy_from_slice(&3u32.to_le_bytes());
        for (name, b) in [
            ("zeros", vec![0u8; 64]),
            ("torn", bytes[..bytes.len() - 1].to_vec()),
            ("header only", bytes[..HEADER_LEN].to_vec()),
            ("length beyond the file", huge),
            ("unknown kind", wrong_kind),
            ("flipped payload bit", flipped),
            ("length shorter than an id", short_len),
        ] {
            assert!(read(&b).is_none(), "{name}");
        }
        // Bounded by what is left, not by the claim: 40 bytes left, the claim is larger.
        assert!(read_record(&mut &bytes[..], 40).unwrap().is_none());
    }
}
