//! What accepted mail spends and leaves behind: the rolling 24-hour recipient quota (a cache in
//! front of the directory, and the one batched writer of its counts) and the SMTP AUTH clients
//! report. Kept apart from AUTH (auth.rs): nothing here decides a sign-in or writes its row.

use std::sync::Arc;

use authrelay_core::Clock;
use authrelay_directory::Directory;

use crate::auth::AuthenticatedUser;
use crate::quota_cache::{Hold, QuotaCache};
use crate::quota_writer::QuotaWriter;
use crate::submissions::Recorder;

pub struct Ledger {
    directory: Arc<dyn Directory>,
    /// The same wall clock as the sessions' (crates/core): quota windows and report days.
    clock: Arc<dyn Clock>,
    /// Recipient quota used per mailbox, spares a directory read per MAIL FROM.
    quota: Arc<QuotaCache>,
    /// Batches the quota writes of accepted messages.
    quota_writer: QuotaWriter,
    /// Accepted messages for the SMTP AUTH clients report, written off the hot path.
    submissions: Recorder,
}

impl Ledger {
    pub fn new(directory: Arc<dyn Directory>, clock: Arc<dyn Clock>) -> Self {
        let quota: Arc<QuotaCache> = Arc::default();
        Ledger {
            quota_writer: QuotaWriter::new(directory.clone(), quota.clone()),
            quota,
            submissions: Recorder::new(directory.clone()),
            directory,
            clock,
        }
    }

    /// Writes the report counts still waiting for their batch; a stopping server calls it.
    pub async fn flush(&self) {
        self.submissions.flush().await;
    }

    /// Counts an accepted message for the SMTP AUTH clients report; never waits (submissions.rs).
    pub fn record_submission(&self, user: &AuthenticatedUser, tls: Option<&str>) {
        self.submissions.record(&user.address, tls, user.credential, self.clock.now_secs());
    }

    /// How many more recipients `address` may have within the rolling 24 hours; `None` when the
    /// directory cannot say (the quota is then not enforced for this message, and it is logged).
    pub async fn recipients_left(&self, address: &str, limit: u64) -> Option<u64> {
        let now = self.clock.now_secs();
        let ticket = match self.quota.used(address, now) {
            Ok(used) => return Some(limit.saturating_sub(used)),
            Err(ticket) => ticket,
        };
        match self.directory.recipients_since(address, now - authrelay_directory::protection::DAY_SECS).await {
            Ok(used) => {
                self.quota.store(address, used, now, ticket);
                Some(limit.saturating_sub(used))
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the recipient quota");
                None
            }
        }
    }

    /// Holds one more recipient of an open transaction against each daily quota (key, limit)
    /// after [`Ledger::recipients_left`] loaded them; false when one of them, counting what
    /// other open transactions hold, is spent.
    pub(crate) fn hold_recipient(&self, quotas: &[(String, u64)], holds: &mut Vec<Hold>) -> bool {
        self.quota.hold(quotas, holds)
    }

    /// [`Ledger::record_recipients`] without waiting: counted at once for the next MAIL FROM of
    /// any session, written to the directory in a batch (quota_writer.rs). The receiver resolves
    /// once it is written; the session awaits them before it ends, so a stopping server still
    /// records every message.
    pub fn record_recipients_in_background(&self, address: &str, count: usize) -> tokio::sync::oneshot::Receiver<()> {
        self.quota_writer.record(address, self.clock.now_secs(), u32::try_from(count).unwrap_or(u32::MAX))
    }

    /// Adds an accepted message's recipients to the mailbox's rolling quota.
    pub async fn record_recipients(&self, address: &str, count: usize) {
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        match self.directory.record_recipients(address, self.clock.now_secs(), count).await {
            Ok(()) => self.quota.add(address, u64::from(count)),
            Err(e) => tracing::error!(error = %e, "cannot record the recipient quota"),
        }
    }
}
