//! The admin's view of the queue and the admin's actions on it, for the CLI (`authrelay queue`)
//! and the admin center alike, whichever store holds the queue: one node's spool with
//! delivery's state files, or the cluster's shared queue. On one node the actions are marker
//! files the running manager reads (state.rs); in a cluster they are updates of the message's
//! row that every node's next claim sees.

use authrelay_core::QueueId;
use authrelay_spool::shared::SharedQueue;
use authrelay_spool::{Envelope, QueuedMessage, Spool, SpoolError};

use crate::state::{delivery_dir, MessageState, StateStore};

/// Where the queue the admin looks at lives.
#[derive(Clone)]
pub enum QueueAdmin {
    Local { spool: Spool, states: StateStore },
    Shared(SharedQueue),
}

/// One queued message as the admin sees it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub message: QueuedMessage,
    /// `MessageState::summary`'s word, `held`, or `new` before the first attempt.
    pub word: &'static str,
    pub state: Option<MessageState>,
    /// In a cluster: the node delivering it right now.
    pub claimed_by: Option<String>,
}

/// Every queued message, and the spool files that fail their checks (one node only).
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub entries: Vec<Entry>,
    pub corrupt: Vec<String>,
}

impl QueueAdmin {
    /// One node's queue: the spool and delivery's state directory beside it
    /// (`<data_dir>/delivery`; state an earlier version left in the spool moves there first).
    pub fn local(spool: Spool) -> std::io::Result<QueueAdmin> {
        let data_dir = spool.root().parent().unwrap_or(spool.root()).to_path_buf();
        let states = StateStore::open(&delivery_dir(&data_dir), Some(spool.root()))?;
        Ok(QueueAdmin::Local { spool, states })
    }

    /// The spool on disk, when the queue is one node's.
    pub fn spool(&self) -> Option<&Spool> {
        match self {
            QueueAdmin::Local { spool, .. } => Some(spool),
            QueueAdmin::Shared(_) => None,
        }
    }

    pub fn shared(&self) -> Option<&SharedQueue> {
        match self {
            QueueAdmin::Local { .. } => None,
            QueueAdmin::Shared(queue) => Some(queue),
        }
    }

    /// Every queued message, oldest first, with its delivery state.
    pub async fn list(&self, now_ms: i64) -> Result<Listing, SpoolError> {
        match self {
            QueueAdmin::Local { spool, states } => {
                let (spool, states) = (spool.clone(), states.clone());
                blocking(move || {
                    let scan = spool.scan()?;
                    let entries = scan
                        .messages
                        .into_iter()
                        .map(|message| {
                            let (word, state) = states.describe(&message.id, now_ms);
                            Entry { message, word, state, claimed_by: None }
                        })
                        .collect();
                    Ok(Listing { entries, corrupt: scan.corrupt.iter().map(|e| e.to_string()).collect() })
                })
                .await
            }
            QueueAdmin::Shared(queue) => {
                let rows = queue.list().await?;
                let entries = rows.into_iter().map(|row| shared_entry(row, now_ms)).collect();
                Ok(Listing { entries, corrupt: vec![] })
            }
        }
    }

    /// One queued message with its delivery state.
    pub async fn entry(&self, id: &QueueId, now_ms: i64) -> Result<Entry, SpoolError> {
        match self {
            QueueAdmin::Local { spool, states } => {
                let (spool, states, id) = (spool.clone(), states.clone(), id.clone());
                blocking(move || {
                    let message = spool.entry(&id)?;
                    let (word, state) = states.describe(&id, now_ms);
                    Ok(Entry { message, word, state, claimed_by: None })
                })
                .await
            }
            QueueAdmin::Shared(queue) => Ok(shared_entry(queue.entry(id).await?, now_ms)),
        }
    }

    /// The envelope and bytes of a queued message.
    pub async fn read(&self, id: &QueueId) -> Result<(Envelope, Vec<u8>), SpoolError> {
        match self {
            QueueAdmin::Local { spool, .. } => {
                let (spool, id) = (spool.clone(), id.clone());
                blocking(move || spool.read(&id)).await
            }
            QueueAdmin::Shared(queue) => queue.read(id).await,
        }
    }

    /// Asks for every pending recipient of `id` to be tried now, schedule notwithstanding.
    pub async fn retry(&self, id: &QueueId) -> Result<(), SpoolError> {
        match self {
            QueueAdmin::Local { spool, states } => {
                let (spool, states, id) = (spool.clone(), states.clone(), id.clone());
                blocking(move || {
                    spool.entry(&id)?;
                    Ok(states.request_retry(&id)?)
                })
                .await
            }
            QueueAdmin::Shared(queue) => queue.request_retry(id).await,
        }
    }

    /// Holds `id` (no node delivers it) or releases it.
    pub async fn set_held(&self, id: &QueueId, held: bool) -> Result<(), SpoolError> {
        match self {
            QueueAdmin::Local { spool, states } => {
                let (spool, states, id) = (spool.clone(), states.clone(), id.clone());
                blocking(move || {
                    spool.entry(&id)?;
                    Ok(states.set_held(&id, held)?)
                })
                .await
            }
            QueueAdmin::Shared(queue) => queue.set_held(id, held).await,
        }
    }

    /// Deletes `id` without delivering or bouncing it; durable when this returns.
    pub async fn delete(&self, id: &QueueId) -> Result<(), SpoolError> {
        match self {
            QueueAdmin::Local { spool, states } => {
                spool.remove_async(id).await?;
                let _ = states.remove(id);
                Ok(())
            }
            QueueAdmin::Shared(queue) => queue.remove(id).await,
        }
    }
}

fn shared_entry(row: authrelay_spool::shared::Listed, now_ms: i64) -> Entry {
    let state = row.state.as_deref().and_then(|json| serde_json::from_str::<MessageState>(json).ok());
    let word = match &state {
        Some(s) => s.summary(row.held, now_ms),
        None if row.held => "held",
        None => "new",
    };
    Entry { message: row.message, word, state, claimed_by: row.claimed_by }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SpoolError> + Send + 'static,
) -> Result<T, SpoolError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| SpoolError::Io(std::io::Error::other(e.to_string())))?
}
