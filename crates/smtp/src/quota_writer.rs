//! Writes accepted messages' recipient counts to the directory in batches.
//!
//! Every session writing its own quota transaction made 16 busy sessions fight over SQLite's
//! single write lock (sleeping in the busy handler). Here one task takes whatever is waiting,
//! folds it per mailbox and minute, and writes it in one transaction. The counts are already in
//! the [`QuotaCache`] when they are queued, so the next MAIL FROM sees them at once; each caller
//! gets a receiver that resolves once its count is in the directory (the session awaits them
//! before it ends, so a stopping server records every accepted message).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use authrelay_directory::Directory;
use tokio::sync::{mpsc, oneshot};

use crate::quota_cache::QuotaCache;

/// Counts folded into one transaction at most.
const BATCH: usize = 1024;
/// How long a write waits for more counts to join it. One busy session sends a message every
/// millisecond or two: without the wait each message was a statement of its own. The counts are
/// in this node's cache meanwhile; other nodes (and a restart) see them this much later.
const LINGER: std::time::Duration = std::time::Duration::from_millis(20);

struct Pending {
    address: String,
    at: i64,
    count: u32,
    done: oneshot::Sender<()>,
}

pub struct QuotaWriter {
    directory: Arc<dyn Directory>,
    cache: Arc<QuotaCache>,
    tx: OnceLock<mpsc::UnboundedSender<Pending>>,
}

impl QuotaWriter {
    pub fn new(directory: Arc<dyn Directory>, cache: Arc<QuotaCache>) -> Self {
        QuotaWriter { directory, cache, tx: OnceLock::new() }
    }

    /// Counts `count` recipients for `address` at `at` now and queues the write. Must run
    /// inside the Tokio runtime (the writer task starts with the first call).
    pub fn record(&self, address: &str, at: i64, count: u32) -> oneshot::Receiver<()> {
        self.cache.started(address, u64::from(count));
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::spawn(writer(self.directory.clone(), self.cache.clone(), rx));
            tx
        });
        let (done, wait) = oneshot::channel();
        if let Err(mpsc::error::SendError(p)) = tx.send(Pending { address: address.to_string(), at, count, done }) {
            // Only when the runtime is shutting down: nobody will write it.
            tracing::error!("the quota writer has stopped; recipient count not recorded");
            self.cache.settled(&p.address);
        }
        wait
    }
}

async fn writer(directory: Arc<dyn Directory>, cache: Arc<QuotaCache>, mut rx: mpsc::UnboundedReceiver<Pending>) {
    let mut pending = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut pending, BATCH).await > 0 {
        // Counts that arrive within the linger share this write.
        tokio::time::sleep(LINGER).await;
        while pending.len() < BATCH {
            match rx.try_recv() {
                Ok(p) => pending.push(p),
                Err(_) => break,
            }
        }
        let mut folded: HashMap<(&str, i64), u32> = HashMap::new();
        for p in &pending {
            let n = folded.entry((p.address.as_str(), p.at - p.at.rem_euclid(60))).or_default();
            *n = n.saturating_add(p.count);
        }
        let batch: Vec<(String, i64, u32)> = folded.into_iter().map(|((a, at), n)| (a.to_string(), at, n)).collect();
        if let Err(e) = directory.record_recipients_batch(&batch).await {
            tracing::error!(error = %e, mailboxes = batch.len(), "cannot record the recipient quota");
        }
        for p in pending.drain(..) {
            cache.settled(&p.address);
            let _ = p.done.send(());
        }
    }
}
