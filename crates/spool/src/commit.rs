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
//! The thread stops when the last [`Committer`] (hence the last `Spool` clone) is dropped.

use std::fs::File;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use tokio::sync::oneshot;

/// `io::Error` is not `Clone`, so one failure is handed to a whole batch as kind + text.
type Outcome = Result<(), (io::ErrorKind, String)>;

pub(crate) struct Committer {
    requests: mpsc::Sender<oneshot::Sender<Outcome>>,
    fsyncs: Arc<AtomicU64>,
}

impl Committer {
    /// Starts the committer thread for `dir`. `gather` is a pause before each fsync to let a
    /// batch form; production passes zero, tests pass a few milliseconds to make batching
    /// observable.
    pub(crate) fn start(dir: File, gather: Duration) -> io::Result<Committer> {
        let (requests, rx) = mpsc::channel::<oneshot::Sender<Outcome>>();
        let fsyncs = Arc::new(AtomicU64::new(0));
        let counter = fsyncs.clone();
        thread::Builder::new().name("spool-commit".into()).spawn(move || run(dir, rx, counter, gather))?;
        Ok(Committer { requests, fsyncs })
    }

    /// Returns once a directory fsync that started after this call has completed.
    pub(crate) async fn commit(&self) -> io::Result<()> {
        let stopped = || io::Error::other("spool commit thread has stopped");
        let (tx, rx) = oneshot::channel();
        self.requests.send(tx).map_err(|_| stopped())?;
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

fn run(dir: File, rx: mpsc::Receiver<oneshot::Sender<Outcome>>, fsyncs: Arc<AtomicU64>, gather: Duration) {
    // `recv` fails only when every sender is gone: the spool was dropped.
    while let Ok(first) = rx.recv() {
        if !gather.is_zero() {
            thread::sleep(gather);
        }
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
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
