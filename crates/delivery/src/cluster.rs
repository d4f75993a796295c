//! Moving a single node's queue into the cluster's shared queue (issue 15's upgrade path):
//! every message of the spool with its delivery state and hold, read back from the database and
//! compared byte for byte before the local copy is removed. Used by `authrelay store copy` and by
//! a node that starts on PostgreSQL with mail still in its own spool, so nothing it acknowledged
//! is stranded on its disk.

use std::path::Path;

use authrelay_spool::shared::SharedQueue;
use authrelay_spool::{Spool, SpoolError};
use sha2::{Digest, Sha256};

use crate::state::{delivery_dir, StateStore};

/// What a move did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Moved {
    /// Messages now in the shared queue and gone from the spool.
    pub messages: usize,
    /// Their bytes, and the SHA-256 over every id and message in id order, computed from what
    /// the database gave back.
    pub bytes: u64,
    pub sha256: String,
    /// Messages already in the shared queue under the same id (a move interrupted after the
    /// import): compared, and removed from the spool when equal.
    pub already_there: usize,
    /// Spool files that fail their checks; left on disk for an operator.
    pub corrupt: Vec<String>,
}

/// Moves every readable message of `spool` (and its state from `data_dir`'s delivery
/// directory) into `queue`. A message is removed from the spool only after the database
/// returned exactly its bytes and envelope; on any error the move stops and what was not yet
/// moved stays in the spool.
pub async fn move_to_shared(spool: &Spool, data_dir: &Path, queue: &SharedQueue) -> Result<Moved, String> {
    let states = StateStore::open(&delivery_dir(data_dir), Some(spool.root())).map_err(|e| e.to_string())?;
    let scan = spool.scan().map_err(|e| e.to_string())?;
    let mut moved = Moved { corrupt: scan.corrupt.iter().map(|e| e.to_string()).collect(), ..Moved::default() };
    let mut digest = Sha256::new();
    for m in scan.messages {
        let (envelope, bytes) = match spool.read(&m.id) {
            Ok(pair) => pair,
            Err(SpoolError::NotFound(_)) => continue,
            Err(e @ SpoolError::Corrupt { .. }) => {
                moved.corrupt.push(e.to_string());
                continue;
            }
            Err(e) => return Err(e.to_string()),
        };
        let state = match states.load(&m.id) {
            Ok(state) => state.map(|s| serde_json::to_string(&s)).transpose().map_err(|e| e.to_string())?,
            Err(e) => return Err(format!("delivery state of {}: {e}", m.id)),
        };
        let held = states.is_held(&m.id);
        let fresh = queue
            .import(&m.id, &envelope, &bytes, m.queued_at, state.as_deref(), held)
            .await
            .map_err(|e| e.to_string())?;
        let (stored_envelope, stored) = queue.read(&m.id).await.map_err(|e| e.to_string())?;
        if stored != bytes || stored_envelope != envelope {
            return Err(format!(
                "message {} differs in the shared queue from the spool's copy; it stays in the spool",
                m.id
            ));
        }
        if !fresh {
            moved.already_there += 1;
        }
        digest.update(m.id.as_str().as_bytes());
        digest.update(&stored);
        moved.messages += 1;
        moved.bytes += stored.len() as u64;
        spool.remove(&m.id).map_err(|e| e.to_string())?;
        let _ = states.remove(&m.id);
    }
    moved.sha256 = digest.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(moved)
}
