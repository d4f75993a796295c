//! The shared queue: every node of a cluster accepts into one PostgreSQL table and delivers
//! from it (README "Running more than one node", issue 15).
//!
//! The promise is the single node's: a message is committed **before** [`SharedQueue::accept`]
//! returns, and only then does the session answer `250`. An accept is one statement (the row
//! and a `NOTIFY` to wake idle nodes), so it commits or leaves nothing; `synchronous_commit` is
//! left as the database has it (on by default), so a commit is on the database's disk.
//!
//! Delivery work is taken with a claim: one `UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP
//! LOCKED)` that sets the node's name, a fresh random token and a lease on the database's clock.
//! While a delivery runs its node renews the lease; results, releases and removals name the
//! token, so a node whose lease lapsed (it stalled, another node took the message) changes
//! nothing — the other node's work stands. A claim that finds nothing changes nothing, so it
//! never extends anyone's lease. A node that dies simply stops renewing: its claims lapse and
//! another node delivers them. Delivery is therefore at least once, as on one node; duplicates
//! are possible only around a lapsed lease.
//!
//! The delivery state is stored as delivery writes it (crates/delivery/src/state.rs); this
//! module does not read it.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use authrelay_core::QueueId;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{unix_millis, Envelope, QueuedMessage, SpoolError};

/// The channel a committed accept notifies, so idle nodes claim it at once.
pub const CHANNEL: &str = "authrelay_queue";
/// How long a call waits for a free connection before the database counts as unreachable
/// (the session then answers `451 4.3.0`, nothing kept).
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest any one statement may run.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Fresh ids tried when one is taken (two nodes in the same millisecond with the same random
/// part: practically never).
const ID_ATTEMPTS: usize = 8;

/// A handle to the shared queue; cheap to clone.
#[derive(Clone, Debug)]
pub struct SharedQueue {
    /// Accepts and admins' changes: every commit waits for the database's disk.
    pool: PgPool,
    /// Delivery's claims, renewals, results and removals, committed with `synchronous_commit =
    /// off`: a database crash can only undo the last moments of them, which makes a message due
    /// again (delivered twice at worst, as a node's crash would), never loses one. The accept's
    /// commit stays synchronous, and it no longer waits behind delivery's disk flushes.
    relaxed: PgPool,
    /// Woken by the listener on every notification (and after it reconnects).
    wake: Arc<Notify>,
}

/// A message claimed for delivery by this node.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub message: QueuedMessage,
    /// The delivery state as last recorded; `None` before the first attempt.
    pub state: Option<String>,
    /// An admin asked for a retry now.
    pub retry: bool,
    /// How many times the message has been claimed, this claim included (more than one after
    /// a retry, or when a lease lapsed and another node took over).
    pub claims: i32,
    /// Names this claim in every later call; a lapsed and re-taken claim has another.
    pub token: i64,
    /// The message's bytes when it is at most [`PREFETCH_MAX`]: read with the claim, so a small
    /// message costs no second round trip (a large one is read when its delivery needs it).
    pub bytes: Option<Vec<u8>>,
}

/// Messages up to this size come with their claim ([`Claimed::bytes`]).
pub const PREFETCH_MAX: i64 = 256 * 1024;

/// One message as the admin's views see it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub message: QueuedMessage,
    pub state: Option<String>,
    pub held: bool,
    /// The node delivering it now, while its lease lasts.
    pub claimed_by: Option<String>,
}

impl From<sqlx::Error> for SpoolError {
    fn from(e: sqlx::Error) -> Self {
        SpoolError::Database(e.to_string())
    }
}

impl SharedQueue {
    /// Connects to the database whose schema the directory applied (`authrelay store migrate`,
    /// or any node's start). `max_connections` bounds this process's share of the server's
    /// connections; the queue keeps its own pool so a busy delivery never starves AUTH.
    pub async fn connect(url: &str, max_connections: u32) -> Result<SharedQueue, SpoolError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| SpoolError::Database(format!("unreadable database URL: {e}")))?
            .application_name("authrelay-queue")
            .options([("statement_timeout", STATEMENT_TIMEOUT.as_millis().to_string())]);
        let connect = |options: PgConnectOptions, max: u32| async move {
            PgPoolOptions::new()
                .max_connections(max.max(2))
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .test_before_acquire(true)
                .connect_with(options)
                .await
                .map_err(|e| SpoolError::Database(format!("cannot connect to the queue's database: {e}")))
        };
        let relaxed = options.clone().options([("synchronous_commit", "off")]);
        Ok(SharedQueue {
            pool: connect(options, max_connections).await?,
            relaxed: connect(relaxed, max_connections / 2).await?,
            wake: Arc::new(Notify::new()),
        })
    }

    /// Stores a message and returns its id once the database has committed it; only then may
    /// the session answer `250`. On any error nothing was kept.
    pub async fn accept(&self, envelope: &Envelope, message: &[u8]) -> Result<QueueId, SpoolError> {
        let result = self.insert(envelope, message).await;
        let outcome = if result.is_ok() { "accepted" } else { "failed" };
        metrics::counter!("authrelay_messages_total", "outcome" => outcome).increment(1);
        result
    }

    /// Puts a message in with the id, accept time and delivery state it had elsewhere
    /// (`authrelay store copy` moving a single node's queue); false if the id is already here.
    pub async fn import(
        &self,
        id: &QueueId,
        envelope: &Envelope,
        message: &[u8],
        queued_at: i64,
        state: Option<&str>,
        held: bool,
    ) -> Result<bool, SpoolError> {
        let envelope_json = serde_json::to_string(envelope).map_err(|e| SpoolError::Database(e.to_string()))?;
        let done = sqlx::query!(
            "INSERT INTO queue_messages (id, envelope, message, size, queued_at, state, next_due_ms, held)
             VALUES ($1, $2, $3, $4, $5, $6, 0, $7) ON CONFLICT (id) DO NOTHING",
            id.as_str(),
            envelope_json,
            message,
            message.len() as i64,
            queued_at,
            state,
            held,
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert(&self, envelope: &Envelope, message: &[u8]) -> Result<QueueId, SpoolError> {
        let envelope_json = serde_json::to_string(envelope).map_err(|e| SpoolError::Database(e.to_string()))?;
        let now = unix_millis();
        let queued_at = now as i64 / 1000;
        for _ in 0..ID_ATTEMPTS {
            let id = QueueId::new(now, rand::random());
            // One statement, so one transaction: the row and the notification commit together.
            let inserted = sqlx::query_scalar!(
                "WITH put AS (
                    INSERT INTO queue_messages (id, envelope, message, size, queued_at, next_due_ms)
                    VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING RETURNING id)
                 SELECT put.id FROM put, LATERAL (SELECT pg_notify($7, put.id)) AS woken",
                id.as_str(),
                envelope_json,
                message,
                message.len() as i64,
                queued_at,
                now as i64,
                CHANNEL,
            )
            .fetch_optional(&self.pool)
            .await?;
            if inserted.is_some() {
                return Ok(id);
            }
        }
        Err(SpoolError::Database("no free queue id after several attempts".into()))
    }

    /// Claims up to `limit` messages due at `now_ms` (a retry request makes a message due) that
    /// nobody holds a live lease on, for `lease`. Rows other nodes are claiming right now are
    /// skipped, not waited for. A claimed message counts as due again only when its lease would
    /// end, so the search (an index range on `next_due_ms`) does not walk over the messages being
    /// delivered; the lease itself is on the database's clock, whatever the nodes' clocks say.
    pub async fn claim(
        &self,
        owner: &str,
        lease: Duration,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<Claimed>, SpoolError> {
        if limit == 0 {
            return Ok(vec![]);
        }
        let rows = sqlx::query!(
            "UPDATE queue_messages q
                SET lease_owner = $1, lease_token = $2, lease_until = now() + $3::bigint * interval '1 millisecond',
                    next_due_ms = $4 + $3::bigint, claims = q.claims + 1, retry_requested = FALSE
               FROM (SELECT id, retry_requested FROM queue_messages
                      WHERE NOT held AND next_due_ms <= $4
                        AND (lease_until IS NULL OR lease_until < now())
                      ORDER BY next_due_ms
                      LIMIT $5
                      FOR UPDATE SKIP LOCKED) AS due
              WHERE q.id = due.id
          RETURNING q.id, q.envelope, q.size, q.queued_at, q.state, q.claims,
                    q.lease_token AS \"lease_token!\", due.retry_requested,
                    CASE WHEN q.size <= $6 THEN q.message END AS bytes",
            owner,
            rand::random::<i64>(),
            i64::try_from(lease.as_millis()).unwrap_or(i64::MAX),
            now_ms,
            i64::try_from(limit).unwrap_or(i64::MAX),
            PREFETCH_MAX,
        )
        .fetch_all(&self.relaxed)
        .await?;
        let mut claimed = Vec::with_capacity(rows.len());
        for row in rows {
            match queued_message(row.id, row.envelope, row.size, row.queued_at) {
                Ok(message) => claimed.push(Claimed {
                    message,
                    state: row.state,
                    retry: row.retry_requested,
                    claims: row.claims,
                    token: row.lease_token,
                    bytes: row.bytes,
                }),
                // Stays claimed until its lease lapses, then is found again: an operator sees it
                // in `queue list` and the log.
                Err(e) => tracing::warn!(error = %e, "a queue row is not delivered"),
            }
        }
        Ok(claimed)
    }

    /// Extends this claim's lease; false when it is no longer this claim's (lapsed and taken,
    /// or the message was deleted).
    pub async fn renew(&self, id: &QueueId, token: i64, lease: Duration) -> Result<bool, SpoolError> {
        let done = sqlx::query!(
            "UPDATE queue_messages SET lease_until = now() + $3::bigint * interval '1 millisecond'
              WHERE id = $1 AND lease_token = $2",
            id.as_str(),
            token,
            i64::try_from(lease.as_millis()).unwrap_or(i64::MAX),
        )
        .execute(&self.relaxed)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The envelope and bytes of a message.
    pub async fn read(&self, id: &QueueId) -> Result<(Envelope, Vec<u8>), SpoolError> {
        let row = sqlx::query!("SELECT envelope, message FROM queue_messages WHERE id = $1", id.as_str())
            .fetch_optional(&self.relaxed)
            .await?
            .ok_or_else(|| SpoolError::NotFound(id.to_string()))?;
        let envelope = parse_envelope(id, row.envelope)?;
        Ok((envelope, row.message))
    }

    /// Records a delivery state under this claim; false when the claim is no longer this one's.
    pub async fn record(&self, id: &QueueId, token: i64, state: &str) -> Result<bool, SpoolError> {
        let done = sqlx::query!(
            "UPDATE queue_messages SET state = $3 WHERE id = $1 AND lease_token = $2",
            id.as_str(),
            token,
            state
        )
        .execute(&self.relaxed)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Ends this claim: the message is next looked at `next_due_ms` (by any node), or at once
    /// when an admin asked for a retry while it was claimed.
    pub async fn release(&self, id: &QueueId, token: i64, next_due_ms: i64) -> Result<bool, SpoolError> {
        let done = sqlx::query!(
            "UPDATE queue_messages
                SET next_due_ms = CASE WHEN retry_requested THEN 0 ELSE $3::bigint END,
                    lease_owner = NULL, lease_token = NULL, lease_until = NULL
              WHERE id = $1 AND lease_token = $2",
            id.as_str(),
            token,
            next_due_ms,
        )
        .execute(&self.relaxed)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Removes a finished message under this claim; false when the claim is no longer this one's.
    pub async fn finish(&self, id: &QueueId, token: i64) -> Result<bool, SpoolError> {
        let done = sqlx::query!("DELETE FROM queue_messages WHERE id = $1 AND lease_token = $2", id.as_str(), token)
            .execute(&self.relaxed)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every queued message without its bytes, oldest first (the admin's views).
    pub async fn list(&self) -> Result<Vec<Listed>, SpoolError> {
        let rows = sqlx::query!(
            "SELECT id, envelope, size, queued_at, state, held,
                    CASE WHEN lease_until > now() THEN lease_owner END AS claimed_by
               FROM queue_messages ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                let message = queued_message(r.id, r.envelope, r.size, r.queued_at)?;
                Ok(Listed { message, state: r.state, held: r.held, claimed_by: r.claimed_by })
            })
            .collect()
    }

    /// One queued message without its bytes.
    pub async fn entry(&self, id: &QueueId) -> Result<Listed, SpoolError> {
        let r = sqlx::query!(
            "SELECT id, envelope, size, queued_at, state, held,
                    CASE WHEN lease_until > now() THEN lease_owner END AS claimed_by
               FROM queue_messages WHERE id = $1",
            id.as_str(),
        )
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| SpoolError::NotFound(id.to_string()))?;
        let message = queued_message(r.id, r.envelope, r.size, r.queued_at)?;
        Ok(Listed { message, state: r.state, held: r.held, claimed_by: r.claimed_by })
    }

    /// How many messages are queued, waiting after a temporary failure (a state recorded and
    /// due later than `now_ms`), and held: the admin center's home and the metrics.
    pub async fn count(&self, now_ms: i64) -> Result<(usize, usize, usize), SpoolError> {
        let row = sqlx::query!(
            r#"SELECT COUNT(*) AS "queued!",
                    COUNT(*) FILTER (WHERE state IS NOT NULL AND next_due_ms > $1 AND NOT held) AS "deferred!",
                    COUNT(*) FILTER (WHERE held) AS "held!"
               FROM queue_messages"#,
            now_ms,
        )
        .fetch_one(&self.relaxed)
        .await?;
        let count = |n: i64| usize::try_from(n).unwrap_or(0);
        Ok((count(row.queued), count(row.deferred), count(row.held)))
    }

    /// An admin's delete: gone whoever holds it (a node delivering it finds its claim gone and
    /// records nothing).
    pub async fn remove(&self, id: &QueueId) -> Result<(), SpoolError> {
        let done = sqlx::query!("DELETE FROM queue_messages WHERE id = $1", id.as_str()).execute(&self.pool).await?;
        if done.rows_affected() == 0 {
            return Err(SpoolError::NotFound(id.to_string()));
        }
        Ok(())
    }

    /// An admin's hold or release.
    pub async fn set_held(&self, id: &QueueId, held: bool) -> Result<(), SpoolError> {
        let done = sqlx::query!("UPDATE queue_messages SET held = $2 WHERE id = $1", id.as_str(), held)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(SpoolError::NotFound(id.to_string()));
        }
        if !held {
            self.notify().await?;
        }
        Ok(())
    }

    /// An admin's "retry now": the next claim by any node takes it.
    pub async fn request_retry(&self, id: &QueueId) -> Result<(), SpoolError> {
        let done = sqlx::query!(
            "UPDATE queue_messages SET retry_requested = TRUE, next_due_ms = 0 WHERE id = $1",
            id.as_str()
        )
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(SpoolError::NotFound(id.to_string()));
        }
        self.notify().await
    }

    async fn notify(&self) -> Result<(), SpoolError> {
        sqlx::query!("SELECT pg_notify($1, '')", CHANNEL).execute(&self.pool).await?;
        Ok(())
    }

    /// Whether a message could be accepted now (`/readyz`): the database answers and takes a
    /// write (a rolled-back insert).
    pub async fn writable(&self) -> Result<(), SpoolError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "INSERT INTO queue_messages (id, envelope, message, size, queued_at, next_due_ms)
             VALUES ('readyz', '{}', '', 0, 0, 0)",
        )
        .execute(&mut *tx)
        .await?;
        tx.rollback().await?;
        Ok(())
    }

    /// Resolves when a notification arrived (or the listener reconnected, when some may have
    /// been lost); a caller also polls, so a missed wake-up only costs the poll interval.
    pub async fn woken(&self) {
        self.wake.notified().await
    }

    /// Listens for accepts on every node until `shutdown`, reconnecting after errors; each
    /// notification wakes [`SharedQueue::woken`].
    pub fn spawn_listener(&self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        let (pool, wake) = (self.pool.clone(), self.wake.clone());
        tokio::spawn(async move {
            while !shutdown.is_cancelled() {
                let listener = async {
                    let mut listener = PgListener::connect_with(&pool).await?;
                    listener.listen(CHANNEL).await?;
                    // Whatever was notified while not listening is found by claiming now.
                    wake.notify_one();
                    loop {
                        listener.recv().await?;
                        wake.notify_one();
                    }
                    #[allow(unreachable_code)]
                    Ok::<(), sqlx::Error>(())
                };
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    result = listener => {
                        if let Err(e) = result {
                            tracing::warn!(error = %e, "queue notifications interrupted; polling until they are back");
                        }
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.relaxed.close().await;
    }
}

fn parse_envelope(id: &QueueId, json: String) -> Result<Envelope, SpoolError> {
    serde_json::from_str(&json)
        .map_err(|e| SpoolError::Corrupt { id: id.to_string(), reason: format!("unreadable envelope: {e}") })
}

/// The message a row holds, without its bytes.
fn queued_message(id_text: String, envelope: String, size: i64, queued_at: i64) -> Result<QueuedMessage, SpoolError> {
    let id = QueueId::parse(&id_text)
        .ok_or_else(|| SpoolError::Corrupt { id: id_text.clone(), reason: "not a queue id".into() })?;
    let envelope = parse_envelope(&id, envelope)?;
    Ok(QueuedMessage { id, envelope, size: u64::try_from(size).unwrap_or(0), queued_at })
}
