//! Per-message delivery state, in delivery's own directory (`<data_dir>/delivery/`): one small
//! JSON file per message, replaced atomically (write `tmp`, fsync, rename, fsync the
//! directory), so after a crash it holds either the old or the new state, never a torn one.
//! Admin requests from the CLI (hold, retry) are separate marker files, so the CLI never races
//! the manager over the state file.
//!
//! Earlier versions kept these directories inside the spool's; [`StateStore::open`] moves
//! what it finds there (see [`migrate`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use authrelay_core::QueueId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Delivered,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipientState {
    pub address: String,
    pub status: Status,
    /// Attempts that ended in a temporary failure.
    pub attempts: u32,
    /// Unix ms; the recipient is not tried before this.
    pub next_attempt: i64,
    pub last_reply: Option<String>,
    pub remote: Option<String>,
    /// Unix ms of the last attempt.
    pub last_attempt: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageState {
    /// The mailbox's rate slot (unix ms): nothing is delivered before it.
    pub not_before: i64,
    pub recipients: Vec<RecipientState>,
    /// The copy in the sender's `.Sent` folder has been written.
    #[serde(default)]
    pub sent_copy_done: bool,
    /// Id of the bounce queued for this message, once it is.
    #[serde(default)]
    pub bounce: Option<String>,
}

impl MessageState {
    pub fn new(recipients: &[String], not_before: i64) -> Self {
        MessageState {
            not_before,
            recipients: recipients
                .iter()
                .map(|a| RecipientState {
                    address: a.clone(),
                    status: Status::Pending,
                    attempts: 0,
                    next_attempt: not_before,
                    last_reply: None,
                    remote: None,
                    last_attempt: None,
                })
                .collect(),
            sent_copy_done: false,
            bounce: None,
        }
    }

    pub fn is_final(&self) -> bool {
        self.recipients.iter().all(|r| r.status != Status::Pending)
    }

    /// When the next pending recipient is due (unix ms), if any is pending.
    pub fn next_due(&self) -> Option<i64> {
        self.recipients
            .iter()
            .filter(|r| r.status == Status::Pending)
            .map(|r| r.next_attempt.max(self.not_before))
            .min()
    }

    /// One word for `queue list`: held, deferred (tried and waiting), active (due or new),
    /// or done (final, being removed).
    pub fn summary(&self, held: bool, now_ms: i64) -> &'static str {
        if held {
            "held"
        } else if self.is_final() {
            "done"
        } else if self.next_due().is_some_and(|t| t > now_ms) {
            if self.recipients.iter().any(|r| r.attempts > 0) {
                "deferred"
            } else {
                "throttled"
            }
        } else {
            "active"
        }
    }
}

/// The state, hold and retry directories of delivery.
#[derive(Debug, Clone)]
pub struct StateStore {
    state: PathBuf,
    hold: PathBuf,
    retry: PathBuf,
}

/// The subdirectories a store keeps, the same names in the old and the new place.
const SUBDIRS: [&str; 3] = ["state", "hold", "retry"];

/// Delivery's directory under the data directory.
pub fn delivery_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("delivery")
}

impl StateStore {
    /// Opens (creating) the store in `dir` (`<data_dir>/delivery`), after moving into it what
    /// an earlier version left in `legacy` (the spool's directory), when given.
    pub fn open(dir: &Path, legacy: Option<&Path>) -> io::Result<StateStore> {
        let store = StateStore { state: dir.join("state"), hold: dir.join("hold"), retry: dir.join("retry") };
        for dir in [&store.state, &store.hold, &store.retry] {
            fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
        if let Some(legacy) = legacy {
            let moved = migrate(legacy, dir)?;
            if moved > 0 {
                tracing::info!(from = %legacy.display(), to = %dir.display(), files = moved, "delivery state moved to its own directory");
            }
        }
        // Leftover temporary files of an interrupted write are never the current state.
        for entry in fs::read_dir(&store.state)?.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(store)
    }

    pub fn load(&self, id: &QueueId) -> io::Result<Option<MessageState>> {
        match fs::read(self.state.join(id.as_str())) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(io::Error::other),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Replaces the state atomically and durably.
    pub fn save(&self, id: &QueueId, state: &MessageState) -> io::Result<()> {
        let json = serde_json::to_vec(state).map_err(io::Error::other)?;
        let tmp = self.state.join(format!("{id}.tmp"));
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
        f.write_all(&json)?;
        f.sync_all()?;
        fs::rename(&tmp, self.state.join(id.as_str()))?;
        fsync_dir(&self.state)
    }

    /// Forgets a message whose spool file is gone.
    pub fn remove(&self, id: &QueueId) -> io::Result<()> {
        let mut removed = false;
        for path in [self.state.join(id.as_str()), self.hold.join(id.as_str()), self.retry.join(id.as_str())] {
            match fs::remove_file(path) {
                Ok(()) => removed = true,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        // Nothing to make durable when there was nothing (a message delivered on its first try).
        if removed {
            fsync_dir(&self.state)?;
        }
        Ok(())
    }

    /// Ids with a pending admin retry request (the `retry/` directory is small: one file per
    /// request, removed when the manager takes it).
    pub fn retry_requests(&self) -> io::Result<Vec<QueueId>> {
        Ok(fs::read_dir(&self.retry)?
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(QueueId::parse))
            .collect())
    }

    /// Ids with a state file (for cleaning up after messages removed by hand).
    pub fn ids(&self) -> io::Result<Vec<QueueId>> {
        Ok(fs::read_dir(&self.state)?
            .flatten()
            .filter_map(|e| e.file_name().to_str().and_then(QueueId::parse))
            .collect())
    }

    pub fn is_held(&self, id: &QueueId) -> bool {
        self.hold.join(id.as_str()).exists()
    }

    pub fn set_held(&self, id: &QueueId, held: bool) -> io::Result<()> {
        let path = self.hold.join(id.as_str());
        if held {
            File::create(&path)?.sync_all()?;
        } else {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        fsync_dir(&self.hold)
    }

    /// Asks the manager to try every pending recipient of `id` now, schedule notwithstanding.
    pub fn request_retry(&self, id: &QueueId) -> io::Result<()> {
        File::create(self.retry.join(id.as_str()))?.sync_all()?;
        fsync_dir(&self.retry)
    }

    /// The state word of one message (`MessageState::summary`; `held` or `new` before the
    /// manager has written a state) and its state, for `queue list|show` and the admin center.
    pub fn describe(&self, id: &QueueId, now_ms: i64) -> (&'static str, Option<MessageState>) {
        let held = self.is_held(id);
        match self.load(id).ok().flatten() {
            Some(s) => (s.summary(held, now_ms), Some(s)),
            None if held => ("held", None),
            None => ("new", None),
        }
    }

    /// True (once) if a retry was requested; the request is consumed.
    pub fn take_retry(&self, id: &QueueId) -> bool {
        fs::remove_file(self.retry.join(id.as_str())).is_ok()
    }
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Moves the `state/`, `hold/` and `retry/` files from `from` (the old place, inside the
/// spool) to `to`, and removes the emptied old directories. Returns how many files moved.
///
/// Crash-safe and repeatable: each file moves by one rename, so at any moment it is in exactly
/// one of the two places; a file already in the new place wins (it can only be newer: the old
/// place is written by nobody once this version runs), and the old copy is then dropped. The
/// new directory is made durable before the old one, so no crash loses a moved file. A data
/// directory split over two file systems gets copy, fsync, rename, remove instead.
pub fn migrate(from: &Path, to: &Path) -> io::Result<usize> {
    let mut moved = 0;
    for sub in SUBDIRS {
        let (old, new) = (from.join(sub), to.join(sub));
        let entries = match fs::read_dir(&old) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&new)?;
        let mut touched = false;
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let source = entry.path();
            // A temporary file of an interrupted write is never the current state.
            if name.to_string_lossy().ends_with(".tmp") || !entry.file_type()?.is_file() {
                let _ = fs::remove_file(&source);
                continue;
            }
            let target = new.join(&name);
            if target.exists() {
                fs::remove_file(&source)?;
            } else {
                move_file(&source, &target)?;
                moved += 1;
            }
            touched = true;
        }
        if touched {
            fsync_dir(&new)?;
            fsync_dir(&old)?;
        }
        // Empty now; one left non-empty (a file that could not move) stays for the next start.
        if fs::remove_dir(&old).is_ok() {
            fsync_dir(from)?;
        }
    }
    Ok(moved)
}

fn move_file(source: &Path, target: &Path) -> io::Result<()> {
    match fs::rename(source, target) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            let tmp = target.with_extension("tmp");
            fs::copy(source, &tmp)?;
            File::open(&tmp)?.sync_all()?;
            fs::rename(&tmp, target)?;
            fsync_dir(target.parent().unwrap_or(Path::new(".")))?;
            fs::remove_file(source)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn save_load_round_trip_and_markers() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateStore::open(dir.path(), None).unwrap();
        let id = QueueId::new(1_700_000_000_000, 7);
        assert_eq!(store.load(&id).unwrap(), None);
        let mut s = MessageState::new(&["a@x.test".into(), "b@y.test".into()], 5);
        store.save(&id, &s).unwrap();
        s.recipients[0].status = Status::Delivered;
        store.save(&id, &s).unwrap();
        assert_eq!(store.load(&id).unwrap(), Some(s.clone()));
        assert!(!s.is_final());
        assert_eq!(s.next_due(), Some(5));
        assert_eq!(store.ids().unwrap(), vec![id.clone()]);

        assert!(!store.is_held(&id));
        store.set_held(&id, true).unwrap();
        assert!(store.is_held(&id));
        assert_eq!(s.summary(true, 0), "held");
        store.set_held(&id, false).unwrap();
        assert!(!store.is_held(&id));

        assert!(!store.take_retry(&id));
        store.request_retry(&id).unwrap();
        assert!(store.take_retry(&id));
        assert!(!store.take_retry(&id), "a request is consumed once");

        store.remove(&id).unwrap();
        assert_eq!(store.load(&id).unwrap(), None);
    }

    #[test]
    fn leftover_temporary_files_are_cleared_on_open() {
        let dir = tempfile::tempdir().unwrap();
        StateStore::open(dir.path(), None).unwrap();
        fs::write(dir.path().join("state/0000.tmp"), b"{torn").unwrap();
        StateStore::open(dir.path(), None).unwrap();
        assert!(!dir.path().join("state/0000.tmp").exists());
    }

    /// The old layout (inside the spool) moves to the new place, markers included; an
    /// interrupted move (some files already in the new place) finishes on the next open.
    #[test]
    fn the_old_layout_moves_into_the_delivery_directory() {
        let data = tempfile::tempdir().unwrap();
        let (spool, delivery) = (data.path().join("spool"), delivery_dir(data.path()));
        let old = StateStore { state: spool.join("state"), hold: spool.join("hold"), retry: spool.join("retry") };
        for dir in [&old.state, &old.hold, &old.retry] {
            fs::create_dir_all(dir).unwrap();
        }
        let (a, b) = (QueueId::new(1_700_000_000_000, 1), QueueId::new(1_700_000_000_000, 2));
        let mut sa = MessageState::new(&["a@x.test".into()], 5);
        sa.recipients[0].attempts = 3;
        sa.recipients[0].next_attempt = 1_700_000_600_000;
        old.save(&a, &sa).unwrap();
        old.save(&b, &MessageState::new(&["b@x.test".into()], 6)).unwrap();
        old.set_held(&a, true).unwrap();
        old.request_retry(&b).unwrap();
        fs::write(old.state.join("0000.tmp"), b"{torn").unwrap();
        // A crash after b's state had moved: b is in the new place already (newer there).
        fs::create_dir_all(delivery.join("state")).unwrap();
        let mut newer_b = MessageState::new(&["b@x.test".into()], 6);
        newer_b.recipients[0].attempts = 1;
        fs::write(delivery.join("state").join(b.as_str()), serde_json::to_vec(&newer_b).unwrap()).unwrap();

        let store = StateStore::open(&delivery, Some(&spool)).unwrap();
        assert_eq!(store.load(&a).unwrap(), Some(sa));
        assert_eq!(store.load(&b).unwrap(), Some(newer_b), "the copy in the new place wins");
        assert!(store.is_held(&a) && store.take_retry(&b));
        for sub in SUBDIRS {
            assert!(!spool.join(sub).exists(), "old {sub}/ removed");
        }
        // Opening again finds nothing to move.
        assert_eq!(migrate(&spool, &delivery).unwrap(), 0);
    }
}
