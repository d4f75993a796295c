//! Places among a mailbox's concurrent authenticated sessions, shared by every node of a
//! cluster (README "Running more than one node"). A place is a lease with an expiry that its
//! node renews while the session lasts; a node that dies stops renewing, and its places lapse
//! by themselves within the lease time. A single node counts in memory instead
//! (crates/smtp/src/protection.rs) and has no leases.

use async_trait::async_trait;

use crate::Result;

#[async_trait]
pub trait MailboxLeases: Send + Sync + 'static {
    /// A place for one more session of `address` unless `limit` live leases exist; the lease
    /// lasts until `now + ttl_secs` unless renewed. Lapsed leases are not counted.
    async fn acquire_session(
        &self,
        address: &str,
        node: &str,
        limit: u64,
        now: i64,
        ttl_secs: i64,
    ) -> Result<Option<i64>>;
    /// Extends the given leases to `now + ttl_secs`.
    async fn renew_sessions(&self, ids: &[i64], now: i64, ttl_secs: i64) -> Result<()>;
    /// Gives a place back when its session ends.
    async fn release_session(&self, id: i64) -> Result<()>;
    /// Live leases of `address` at `now`, for the troubleshooter and tests.
    async fn sessions_of(&self, address: &str, now: i64) -> Result<u64>;
}
