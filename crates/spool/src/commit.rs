//! Group commit of the `queue/` directory.
//!
//! A rename is durable only once the directory holding the new name is fsynced, and that fsync is
//! the slowest step of an accept. One dedicated thread owns the directory handle and does all of
//! these fsyncs. An accept, after its rename, sends a one-shot reply channel to the thread and
//! waits. The thread takes the first waiting request, then every other request already queued,
//! and only then starts one fsync, whose result it sends to all of them. Every request in a batch
//! was sent after its rename, and the fsync starts after the batch is taken, so nobody is told
//! "durable" by an fsync that began before its rename. Under load one fsync covers many accepts;
//! when idle, an accept costs exactly one fsync, with no added delay.
//!
//! Removals of delivered messages ask lazily: nobody waits on them, so their request is held
//! until the next fsync an accept starts (or at most 50 ms, or until 8 of them wait), and one
//! fsync makes the accepts and the removals durable together.
//!
//! The thread stops when the last [`Committer`] (hence the last `Spool` clone) is dropped.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// `io::Error` is not `Clone`, so one failure is handed to a whole batch as kind + text.
type Outcome = Result<(), (io::ErrorKind, String)>;

pub(crate) struct Committer {
    requests: mpsc::Sender<Request>,
    fsyncs: Arc<AtomicU64>,
}

/// A waiter and whether it may wait for someone else's fsync (see [`Committer::commit_lazy`]).
struct Request {
    reply: oneshot::Sender<Outcome>,
    lazy: bool,
}

/// How long a lazy request waits for an fsync started by someone else before starting its own.
const LAZY_WAIT: Duration = Duration::from_millis(50);
/// This many lazy requests start an fsync at once (a drained backlog is not slowed down).
const LAZY_BATCH: usize = 8;

impl Committer {
    /// Starts the committer thread for `dir`. `gather` is a pause before each fsync to let a
    /// batch form; production passes zero, tests pass a few milliseconds to make batching
    /// observable.
    pub(crate) fn start(dir: File, gather: Duration) -> io::Result<Committer> {
        let (requests, rx) = mpsc::channel::<Request>();
        let fsyncs = Arc::new(AtomicU64::new(0));
        let counter = fsyncs.clone();
        thread::Builder::new().name("spool-commit".into()).spawn(move || run(dir, rx, counter, gather))?;
        Ok(Committer { requests, fsyncs })
    }

    /// Returns once a directory fsync that started after this call has completed.
    pub(crate) async fn commit(&self) -> io::Result<()> {
        self.request(false).await
    }

    /// Like [`Committer::commit`], for work nobody is waiting on (removing a delivered
    /// message): rides along with the next fsync an accept starts, and starts its own only if
    /// none comes within [`LAZY_WAIT`].
    pub(crate) async fn commit_lazy(&self) -> io::Result<()> {
        self.request(true).await
    }

    async fn request(&self, lazy: bool) -> io::Result<()> {
        let stopped = || io::Error::other("spool commit thread has stopped");
        let (tx, rx) = oneshot::channel();
        self.requests.send(Request { reply: tx, lazy }).map_err(|_| stopped())?;
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err((kind, text))) => Err(io::Error::new(kind, text)),
            Err(_) => Err(stopped()),
        }
    }

    /// Directory fsyncs done so far.
    pub(crate) fn fsyncs(&self) -> u64 {
        self.fsyncs.load(Ordering::Relaxed)
    }
}

fn run(dir: File, rx: mpsc::Receiver<Request>, fsyncs: Arc<AtomicU64>, gather: Duration) {
    // Lazy requests waiting for the next fsync, and when the oldest of them must have one.
    let mut lazy: Vec<oneshot::Sender<Outcome>> = Vec::new();
    let mut deadline = Instant::now();
    loop {
        let first = if lazy.is_empty() {
            // `recv` fails only when every sender is gone: the spool was dropped.
            match rx.recv() {
                Ok(r) => Some(r),
                Err(_) => break,
            }
        } else {
            // An error is the lazy ones' deadline, or a dropped spool: either way they get their fsync.
            rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok()
        };
        let mut batch = Vec::new();
        match first {
            Some(r) if r.lazy => {
                if lazy.is_empty() {
                    deadline = Instant::now() + LAZY_WAIT;
                }
                lazy.push(r.reply);
                if Instant::now() < deadline && lazy.len() < LAZY_BATCH {
                    continue;
                }
            }
            Some(r) => {
                if !gather.is_zero() {
                    thread::sleep(gather);
                }
                batch.push(r.reply);
            }
            None => {}
        }
        batch.append(&mut lazy);
        batch.extend(rx.try_iter().map(|r| r.reply));
        if batch.is_empty() {
            continue;
        }
        // Nothing may be added to `batch` from here on: the fsync must start after each rename.
        let outcome: Outcome = dir.sync_all().map_err(|e| (e.kind(), e.to_string()));
        fsyncs.fetch_add(1, Ordering::Relaxed);
        if let Err((_, text)) = &outcome {
            tracing::error!(error = %text, waiting = batch.len(), "fsync of spool queue directory failed");
        }
        for waiter in batch {
            // A waiter that went away (its session was dropped) needs no answer.
            let _ = waiter.send(outcome.clone());
        }
    }
}
