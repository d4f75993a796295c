//! Messages the owner has accepted (their journal record is on disk) whose queue files are not
//! written yet.
//!
//! Why: most messages are delivered onward within milliseconds. Writing a queue file for each
//! only to delete it again made the filesystem allocate and free an inode per message, which
//! under load cost more CPU than anything else in the accept path (ext4's inode allocator
//! scanning recently deleted inodes, directory locks). So the accepted bytes stay here, shared
//! with the journal record, and a queue file is written only for a message still queued when
//! the journal checkpoints (about once a second) or when the spool closes. A message delivered
//! before that never touches `queue/`; its `done` record is enough.
//!
//! Crash safety does not depend on this: until the checkpoint that writes the file, the journal
//! record is what survives, and replay writes the file after a crash. Memory is bounded
//! (`JournalOptions::memory_bytes`, 64 MiB by default); past it, accepts write their file at once.

use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use authrelay_core::QueueId;

use crate::journal::Record;
use crate::{Envelope, QueuedMessage};

pub(crate) struct Unwritten {
    queue: PathBuf,
    incoming: PathBuf,
    removed: PathBuf,
    entries: Mutex<HashMap<QueueId, Arc<Entry>>>,
    bytes: AtomicUsize,
    max_bytes: usize,
}

struct Entry {
    message: QueuedMessage,
    record: Record,
    /// Where the message starts in the record's file content (after the spool header).
    header_len: usize,
    /// Held while the file is written, so a removal waits and then sees the file.
    state: Mutex<State>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    InMemory,
    Written,
    Removed,
}

/// What [`Unwritten::take`] found.
pub(crate) enum Taken {
    /// Not held here: look in `queue/`.
    NotHeld,
    /// Held, never written: nothing on disk but the journal record.
    Memory,
    /// Held, and its file was written meanwhile: the caller removes the file.
    File,
}

impl Unwritten {
    pub(crate) fn new(queue: PathBuf, incoming: PathBuf, removed: PathBuf, max_bytes: usize) -> Unwritten {
        Unwritten { queue, incoming, removed, entries: Mutex::default(), bytes: AtomicUsize::new(0), max_bytes }
    }

    /// Holds an accepted message; false (and nothing held) when memory is at its bound.
    pub(crate) fn insert(&self, message: QueuedMessage, record: Record, header_len: usize) -> bool {
        let len = record.content().len();
        if self.bytes.fetch_add(len, Ordering::Relaxed) + len > self.max_bytes {
            self.bytes.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        let id = message.id.clone();
        let entry = Arc::new(Entry { message, record, header_len, state: Mutex::new(State::InMemory) });
        self.lock().insert(id, entry);
        true
    }

    pub(crate) fn entry(&self, id: &QueueId) -> Option<QueuedMessage> {
        self.lock().get(id).map(|e| e.message.clone())
    }

    pub(crate) fn read(&self, id: &QueueId) -> Option<(Envelope, Vec<u8>)> {
        let entry = self.lock().get(id).cloned()?;
        Some((entry.message.envelope.clone(), entry.record.content()[entry.header_len..].to_vec()))
    }

    /// Everything held now.
    pub(crate) fn snapshot(&self) -> Vec<QueuedMessage> {
        self.lock().values().map(|e| e.message.clone()).collect()
    }

    /// Stops holding `id` (delivered, bounced, deleted, or not acknowledged after all).
    pub(crate) fn take(&self, id: &QueueId) -> Taken {
        let Some(entry) = self.lock().remove(id) else { return Taken::NotHeld };
        let mut state = entry.state.lock().unwrap_or_else(|e| e.into_inner());
        match *state {
            State::InMemory => {
                *state = State::Removed;
                self.bytes.fetch_sub(entry.record.content().len(), Ordering::Relaxed);
                Taken::Memory
            }
            State::Written => Taken::File,
            // Another take won; for this caller it is simply gone.
            State::Removed => Taken::Memory,
        }
    }

    /// Writes a queue file for every message held (not synced: the caller syncs the
    /// filesystem, and until then the journal covers them) and stops holding them.
    pub(crate) fn write_all(&self) -> io::Result<()> {
        let entries: Vec<Arc<Entry>> = self.lock().values().cloned().collect();
        for entry in entries {
            let id = &entry.message.id;
            {
                let mut state = entry.state.lock().unwrap_or_else(|e| e.into_inner());
                if *state != State::InMemory {
                    continue;
                }
                // An operator deleted it from another process (`Spool::remove` left a marker).
                if !self.removed.join(id.as_str()).exists() {
                    self.write_file(id, entry.record.content())?;
                }
                *state = State::Written;
                self.bytes.fetch_sub(entry.record.content().len(), Ordering::Relaxed);
            }
            let mut entries = self.lock();
            if entries.get(id).is_some_and(|held| Arc::ptr_eq(held, &entry)) {
                entries.remove(id);
            }
        }
        Ok(())
    }

    fn write_file(&self, id: &QueueId, content: &[u8]) -> io::Result<()> {
        crate::place_file(&self.incoming, &self.queue, id, content, false)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<QueueId, Arc<Entry>>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
