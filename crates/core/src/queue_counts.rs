//! What the queue holds, as the queue manager keeps it in memory (crates/delivery `manager`),
//! for readers that must not scan the spool for it (the admin center's home page).

/// Counts of the queue now, and of recipient results since the manager started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueueCounts {
    /// Messages in the queue: waiting, deferred, held or being delivered.
    pub queued: usize,
    /// Of those, messages with a recipient that failed temporarily and waits for its next try.
    pub deferred: usize,
    /// Of those, messages an admin holds.
    pub held: usize,
    /// Recipients delivered since the start.
    pub delivered: u64,
    /// Recipients that failed for good (and were bounced) since the start.
    pub failed: u64,
}

/// Answers [`QueueCounts`] from memory, without touching the disk.
pub trait QueueCounter: Send + Sync + std::fmt::Debug {
    fn counts(&self) -> QueueCounts;
}
