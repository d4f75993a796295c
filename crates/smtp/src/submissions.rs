//! Counting accepted messages for the SMTP AUTH clients report without slowing the 250.
//!
//! The session calls [`Recorder::record`] after it has queued the `250 … Queued` reply. That call
//! never waits: it puts the fact on a bounded channel (`try_send`) and returns. One writer task
//! per server drains the channel, folds what is waiting into buckets (mailbox, UTC day, TLS
//! version, credential kind) and adds them to the directory in one transaction, so a burst of
//! messages costs one write and a slow database only delays the report, never the client. When
//! the channel is full (the database is far behind) the fact is dropped and counted in the log.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use authrelay_core::CredentialKind;
use authrelay_directory::submissions::DAY;
use authrelay_directory::{Directory, SubmissionCount};
use tokio::sync::mpsc;

/// Facts waiting for the writer at most; beyond this they are dropped (and logged).
pub const CAPACITY: usize = 8192;
/// Facts folded into one write at most.
const BATCH: usize = 1024;
/// How long a write waits for more facts to join it (one busy session otherwise made every
/// message a transaction of its own); short, as a stopping server does not wait for it.
const LINGER: std::time::Duration = std::time::Duration::from_millis(20);

struct Fact {
    user: String,
    tls: &'static str,
    credential: CredentialKind,
    at: i64,
}

/// What the writer receives: a fact, or a stopping server's request to write what it holds now.
enum Item {
    Fact(Fact),
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// The session's side of the writer; the task starts with the first message.
pub struct Recorder {
    directory: Arc<dyn Directory>,
    tx: OnceLock<mpsc::Sender<Item>>,
    dropped: AtomicU64,
}

impl Recorder {
    pub fn new(directory: Arc<dyn Directory>) -> Self {
        Recorder { directory, tx: OnceLock::new(), dropped: AtomicU64::new(0) }
    }

    /// Notes one accepted message. Never waits; must run inside the Tokio runtime.
    pub fn record(&self, user: &str, tls: Option<&str>, credential: CredentialKind, at: i64) {
        let tx = self.tx.get_or_init(|| {
            let (tx, rx) = mpsc::channel(CAPACITY);
            tokio::spawn(writer(self.directory.clone(), rx));
            tx
        });
        let tls = match tls {
            Some("TLSv1.3") => "TLSv1.3",
            Some("TLSv1.2") => "TLSv1.2",
            Some(_) => "other",
            None => "none",
        };
        if tx.try_send(Item::Fact(Fact { user: user.to_lowercase(), tls, credential, at })).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "the submissions report is behind; messages left uncounted");
            }
        }
    }
}

impl Recorder {
    /// Writes what the writer holds now (a stopping server calls it, so the last messages are in
    /// the report); returns once written, at once when nothing was ever recorded.
    pub async fn flush(&self) {
        let Some(tx) = self.tx.get() else { return };
        let (done, wait) = tokio::sync::oneshot::channel();
        if tx.send(Item::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

async fn writer(directory: Arc<dyn Directory>, mut rx: mpsc::Receiver<Item>) {
    let mut items = Vec::with_capacity(BATCH);
    // Ends when every Recorder is gone and the channel is drained.
    while rx.recv_many(&mut items, BATCH).await > 0 {
        if !items.iter().any(|i| matches!(i, Item::Flush(_))) {
            tokio::time::sleep(LINGER).await;
            while items.len() < BATCH {
                match rx.try_recv() {
                    Ok(i) => items.push(i),
                    Err(_) => break,
                }
            }
        }
        let (mut facts, mut flushes) = (vec![], vec![]);
        for item in items.drain(..) {
            match item {
                Item::Fact(f) => facts.push(f),
                Item::Flush(done) => flushes.push(done),
            }
        }
        if !facts.is_empty() {
            let batch = fold(&facts);
            if let Err(e) = directory.record_submissions(&batch).await {
                tracing::error!(error = %e, buckets = batch.len(), "cannot record submissions for the report");
            }
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

fn fold(facts: &[Fact]) -> Vec<SubmissionCount> {
    let mut buckets: HashMap<(&str, i64, &str, CredentialKind), (u64, i64)> = HashMap::new();
    for f in facts {
        let b = buckets.entry((f.user.as_str(), f.at.div_euclid(DAY), f.tls, f.credential)).or_insert((0, f.at));
        b.0 += 1;
        b.1 = b.1.max(f.at);
    }
    buckets
        .into_iter()
        .map(|((user, day, tls, credential), (messages, last_at))| SubmissionCount {
            user: user.to_string(),
            day,
            tls: tls.to_string(),
            credential: credential.as_str().to_string(),
            messages,
            last_at,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use authrelay_directory::sqlite::SqliteDirectory;

    #[test]
    fn facts_fold_into_buckets() {
        let f = |user: &str, tls, credential, at| Fact { user: user.into(), tls, credential, at };
        let mut batch = fold(&[
            f("a@x.com", "TLSv1.3", CredentialKind::Password, 100),
            f("a@x.com", "TLSv1.3", CredentialKind::Password, 300),
            f("a@x.com", "TLSv1.3", CredentialKind::DeviceCredential, 200),
            f("a@x.com", "TLSv1.3", CredentialKind::Password, DAY + 1),
        ]);
        batch.sort_by_key(|b| (b.day, b.credential.clone()));
        let seen: Vec<_> = batch.iter().map(|b| (b.day, b.credential.as_str(), b.messages, b.last_at)).collect();
        assert_eq!(seen, [(0, "device-credential", 1, 200), (0, "password", 2, 300), (1, "password", 1, DAY + 1)]);
    }

    /// A stopping server's flush returns once the facts are written, without the linger.
    #[tokio::test]
    async fn flush_writes_what_is_waiting() {
        let dir: Arc<dyn Directory> = Arc::new(SqliteDirectory::open_in_memory().await.unwrap());
        let recorder = Recorder::new(dir.clone());
        recorder.flush().await;
        recorder.record("a@contoso.com", None, CredentialKind::Password, DAY);
        recorder.record("a@contoso.com", None, CredentialKind::Password, DAY + 5);
        recorder.flush().await;
        let rows = dir.submissions_since(0).await.unwrap();
        assert_eq!(rows.iter().map(|r| r.messages).sum::<u64>(), 2, "{rows:?}");
    }

    #[tokio::test]
    async fn recorded_messages_reach_the_directory() {
        let dir: Arc<dyn Directory> = Arc::new(SqliteDirectory::open_in_memory().await.unwrap());
        let recorder = Recorder::new(dir.clone());
        for _ in 0..3 {
            recorder.record("Scanner@contoso.com", Some("TLSv1.3"), CredentialKind::AppPassword, 5 * DAY);
        }
        // Bounded wait for the writer task.
        let mut total = 0;
        for _ in 0..200 {
            total = dir.submissions_since(0).await.unwrap().iter().map(|s| s.messages).sum::<u64>();
            if total == 3 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert_eq!(total, 3);
        let row = &dir.submissions_since(0).await.unwrap()[0];
        assert_eq!((row.user.as_str(), row.credential.as_str()), ("scanner@contoso.com", "app-password"));
    }
}
