//! The queue manager: finds due messages in the spool, delivers their due recipients, records
//! each result durably, retries on the schedule, bounces, and removes finished messages.
//!
//! The manager keeps its schedule in memory: a min-heap of (next attempt, queue id), built by one
//! scan of the spool at startup and then fed by the spool itself, which announces every message
//! it accepts ([`Spool::subscribe`]). Nothing is re-read while nothing is due. Every
//! `scan_interval` it only looks into the small `retry/` directory (admin retry requests) and
//! re-checks held messages; a full rescan (messages put into the spool by another process) runs
//! every [`RESCAN_EVERY`] intervals. Each due message runs as its own task, at most
//! `concurrency` at once; a message is never in two tasks.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authrelay_core::{QueueCounter, QueueCounts, QueueId};
use authrelay_directory::Directory;
use authrelay_spool::shared::{Claimed, SharedQueue};
use authrelay_spool::{Envelope, QueuedMessage, Spool, SpoolError};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{DeliveryConfig, RouteKind};
use crate::dsn;
use crate::maildir::Mailboxes;
use crate::outbound::Outbound;
use crate::rate::RateLimiter;
use crate::state::{MessageState, StateStore, Status};
use crate::Job;
use crate::{Attempt, Outcome};

/// A full rescan of `queue/` runs once per this many scan intervals (only for messages that
/// another process put into the spool; this process's own accepts are announced).
pub const RESCAN_EVERY: u32 = 300;

#[derive(Clone)]
pub struct QueueManager {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    directory: Arc<dyn Directory>,
    config: DeliveryConfig,
    clock: Arc<dyn Clock>,
    mailboxes: Mailboxes,
    outbound: Outbound,
    rate: Mutex<RateLimiter>,
    in_flight: Mutex<HashSet<QueueId>>,
    slots: Semaphore,
    schedule: Mutex<Plan>,
    /// Messages accepted by this process, announced by the spool.
    arrivals: Mutex<Option<UnboundedReceiver<QueuedMessage>>>,
    /// Destinations (route, MX domain or "" for a smarthost) no host of which answered, until
    /// when, and why (see `mark_unreachable`).
    unreachable: Mutex<HashMap<(usize, String), (i64, String)>>,
    /// What [`QueueManager::counts`] answers besides the schedule's size, kept as messages
    /// move: those waiting after a temporary failure, those held.
    deferred: Mutex<HashSet<QueueId>>,
    held: Mutex<HashSet<QueueId>>,
    /// Recipients delivered and failed for good since the start.
    delivered: AtomicU64,
    failed: AtomicU64,
}

/// Where the queue and its delivery state live.
enum Store {
    /// One node: the spool on disk and delivery's state files (the in-memory schedule above).
    Local { spool: Spool, states: StateStore },
    /// A cluster: the shared queue in PostgreSQL (crates/spool/src/shared.rs); work is claimed
    /// with a lease instead of scheduled in memory.
    Shared(SharedMode),
}

struct SharedMode {
    queue: SharedQueue,
    /// This node's name in its claims.
    node: String,
    lease: Duration,
    /// The token of each claim this node is working on.
    tokens: Mutex<HashMap<QueueId, i64>>,
    /// The queue's counts, refreshed by the run loop (the admin home reads them from memory).
    counts: Mutex<(usize, usize, usize)>,
    /// Claims that found the message claimed before (a retry, or a lapsed lease taken over).
    reclaimed: AtomicU64,
    /// Bytes of small messages that came with their claim, until their delivery reads them.
    prefetched: Mutex<HashMap<QueueId, (Envelope, Vec<u8>)>>,
}

impl std::fmt::Debug for QueueManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueManager").field("counts", &self.counts()).finish_non_exhaustive()
    }
}

impl QueueCounter for QueueManager {
    fn counts(&self) -> QueueCounts {
        QueueManager::counts(self)
    }
}

/// Longest pause of a destination that reached no host (shorter when the first retry is).
const UNREACHABLE_PAUSE_MS: i64 = 60_000;

/// The in-memory schedule: when each known, not-in-flight message is next worth looking at.
#[derive(Default)]
struct Plan {
    heap: BinaryHeap<Reverse<(i64, QueueId)>>,
    /// The current time of each id; heap entries with another time are stale and skipped.
    due: HashMap<QueueId, i64>,
}

impl Plan {
    fn set(&mut self, id: QueueId, at: i64) {
        if self.due.get(&id) == Some(&at) {
            return;
        }
        self.due.insert(id.clone(), at);
        self.heap.push(Reverse((at, id)));
    }

    /// Moves `id` earlier (never later).
    fn advance(&mut self, id: QueueId, at: i64) {
        match self.due.get(&id) {
            Some(&t) if t <= at => {}
            _ => self.set(id, at),
        }
    }

    /// Takes the next id due at or before `now`.
    fn pop_due(&mut self, now: i64) -> Option<QueueId> {
        while let Some(Reverse((at, _))) = self.heap.peek() {
            let at = *at;
            let Reverse((_, id)) = self.heap.pop().expect("peeked");
            if self.due.get(&id) != Some(&at) {
                continue; // stale
            }
            if at > now {
                self.heap.push(Reverse((at, id)));
                return None;
            }
            self.due.remove(&id);
            return Some(id);
        }
        None
    }

    fn next_due(&mut self) -> Option<i64> {
        while let Some(Reverse((at, id))) = self.heap.peek() {
            if self.due.get(id) == Some(at) {
                return Some(*at);
            }
            self.heap.pop();
        }
        None
    }
}

/// What became of a message after its task ran.
enum After {
    /// Finished, removed, or not processable; forgotten until a rescan finds it again.
    Gone,
    /// Look at it again at this time (ms).
    At(i64),
}

/// Where one due recipient goes.
enum Destination {
    Local,
    /// Route index and grouping key (the domain for MX routes, "" for a smarthost).
    Remote(usize, String),
    Unrouted,
}

impl QueueManager {
    pub fn new(
        spool: Spool,
        directory: Arc<dyn Directory>,
        config: DeliveryConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<QueueManager, String> {
        // Delivery's state has its own directory; an earlier version kept it in the spool's.
        let states = StateStore::open(&crate::state::delivery_dir(&config.data_dir), Some(spool.root()))
            .map_err(|e| format!("delivery state directory: {e}"))?;
        let outbound = Outbound::new(&config)?;
        let mut rate = RateLimiter::new(config.rate_per_minute);
        // Subscribe before the scan so nothing accepted in between is missed (a message seen by
        // both is simply known once).
        let arrivals = spool.subscribe();
        let mut plan = Plan::default();
        let (mut deferred, mut held) = (HashSet::new(), HashSet::new());
        let now = clock.now_ms();
        // The one full scan: every queued message goes into the schedule, due when its state
        // says (or now, for a message without state yet). Slots given out before a restart
        // still count against each mailbox's minute.
        let corrupt = spool
            .visit(|m| {
                if states.is_held(&m.id) {
                    held.insert(m.id.clone());
                }
                let at = match states.load(&m.id) {
                    Ok(Some(state)) => {
                        if !m.envelope.auth_user.is_empty() {
                            rate.record(&m.envelope.auth_user, state.not_before);
                        }
                        if is_deferred(&state) {
                            deferred.insert(m.id.clone());
                        }
                        if state.is_final() {
                            now
                        } else {
                            state.next_due().unwrap_or(now)
                        }
                    }
                    _ => now,
                };
                plan.set(m.id, at);
            })
            .map_err(|e| e.to_string())?;
        for bad in &corrupt {
            tracing::warn!(error = %bad, "corrupt spool file is not delivered");
        }
        // State of messages deleted by hand (or removed just before a crash) is forgotten.
        if let Ok(ids) = states.ids() {
            for id in ids {
                if !plan.due.contains_key(&id) {
                    let _ = states.remove(&id);
                }
            }
        }
        let slots = Semaphore::new(config.concurrency.max(1));
        Ok(QueueManager {
            inner: Arc::new(Inner {
                mailboxes: Mailboxes::new(&config.data_dir, &config.hostname),
                store: Store::Local { spool, states },
                directory,
                config,
                clock,
                outbound,
                rate: Mutex::new(rate),
                in_flight: Mutex::new(HashSet::new()),
                slots,
                schedule: Mutex::new(plan),
                arrivals: Mutex::new(Some(arrivals)),
                unreachable: Mutex::default(),
                deferred: Mutex::new(deferred),
                held: Mutex::new(held),
                delivered: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
        })
    }

    /// A manager for one node of a cluster: it delivers from the shared queue, claiming due
    /// messages for `lease` (renewed while each delivery runs) under the name `node`.
    pub fn shared(
        queue: SharedQueue,
        node: String,
        lease: Duration,
        directory: Arc<dyn Directory>,
        config: DeliveryConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<QueueManager, String> {
        let outbound = Outbound::new(&config)?;
        Ok(QueueManager {
            inner: Arc::new(Inner {
                mailboxes: Mailboxes::new(&config.data_dir, &config.hostname),
                store: Store::Shared(SharedMode {
                    queue,
                    node,
                    lease: lease.max(Duration::from_millis(300)),
                    tokens: Mutex::default(),
                    counts: Mutex::default(),
                    reclaimed: AtomicU64::new(0),
                    prefetched: Mutex::new(HashMap::new()),
                }),
                directory,
                rate: Mutex::new(RateLimiter::new(config.rate_per_minute)),
                slots: Semaphore::new(config.concurrency.max(1)),
                config,
                clock,
                outbound,
                in_flight: Mutex::new(HashSet::new()),
                schedule: Mutex::default(),
                arrivals: Mutex::new(None),
                unreachable: Mutex::default(),
                deferred: Mutex::default(),
                held: Mutex::default(),
                delivered: AtomicU64::new(0),
                failed: AtomicU64::new(0),
            }),
        })
    }

    /// Messages in the schedule (after the startup scan: everything queued).
    /// A reload's `[[routes]]` (crates/authrelay/src/serve.rs): deliveries that start after it
    /// use them. On an error (an unreadable `ca_file`, say) the routes in force stay.
    pub fn set_routes(&self, routes: Vec<crate::config::Route>) -> Result<(), String> {
        self.inner.outbound.set_routes(routes)?;
        // Suspended destinations are keyed by route index, which the new list may reorder.
        self.inner.unreachable.lock().unwrap_or_else(|e| e.into_inner()).clear();
        Ok(())
    }

    pub fn queued(&self) -> usize {
        if let Store::Shared(shared) = &self.inner.store {
            return shared.counts.lock().unwrap().0;
        }
        self.inner.schedule.lock().unwrap().due.len()
    }

    /// Claims this node made of messages claimed before (shared queue only): retries, and
    /// messages taken over from a node whose lease lapsed.
    pub fn reclaimed(&self) -> u64 {
        match &self.inner.store {
            Store::Shared(shared) => shared.reclaimed.load(Ordering::Relaxed),
            Store::Local { .. } => 0,
        }
    }

    /// The queue's counts, from memory: no disk access, a few locks held briefly, so any async
    /// handler may ask (the admin center's home page does, instead of scanning the spool).
    pub fn counts(&self) -> QueueCounts {
        let inner = &self.inner;
        if let Store::Shared(shared) = &inner.store {
            let (queued, deferred, held) = *shared.counts.lock().unwrap();
            return QueueCounts {
                queued,
                deferred,
                held,
                delivered: inner.delivered.load(Ordering::Relaxed),
                failed: inner.failed.load(Ordering::Relaxed),
            };
        }
        let in_flight = inner.in_flight.lock().unwrap().len();
        QueueCounts {
            queued: inner.schedule.lock().unwrap().due.len() + in_flight,
            deferred: inner.deferred.lock().unwrap().len(),
            held: inner.held.lock().unwrap().len(),
            delivered: inner.delivered.load(Ordering::Relaxed),
            failed: inner.failed.load(Ordering::Relaxed),
        }
    }

    /// Runs until `shutdown`; deliveries in flight then get a few seconds to finish (an
    /// interrupted one is simply repeated after the restart).
    pub async fn run(self, shutdown: CancellationToken) {
        if matches!(self.inner.store, Store::Shared(_)) {
            return self.run_shared(shutdown).await;
        }
        let mut tasks: JoinSet<(QueueId, After)> = JoinSet::new();
        let scan = self.inner.config.scan_interval.max(Duration::from_millis(10));
        let Some(mut arrivals) = self.inner.arrivals.lock().unwrap().take() else {
            tracing::error!("the queue manager is already running");
            return;
        };
        let mut last_check = tokio::time::Instant::now();
        let mut checks = 0u32;
        loop {
            while let Ok(m) = arrivals.try_recv() {
                self.inner.arrived(m.id);
            }
            if last_check.elapsed() >= scan {
                last_check = tokio::time::Instant::now();
                checks += 1;
                if checks % RESCAN_EVERY == 0 {
                    self.inner.rescan();
                }
                self.inner.check_retry_requests();
            }
            self.spawn_due(&mut tasks);
            let now = self.inner.clock.now_ms();
            let next = self.inner.schedule.lock().unwrap().next_due();
            let mut wait = scan.saturating_sub(last_check.elapsed());
            if tasks.len() < self.inner.config.concurrency.max(1) {
                if let Some(t) = next {
                    wait = wait.min(Duration::from_millis((t - now).max(0) as u64));
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
                Some(m) = arrivals.recv() => self.inner.arrived(m.id),
                Some(done) = tasks.join_next(), if !tasks.is_empty() => self.inner.finished(done),
            }
            while let Some(done) = tasks.try_join_next() {
                self.inner.finished(done);
            }
        }
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(5), drain).await.is_err() {
            tracing::info!("deliveries still running at shutdown are stopped; they are repeated on restart");
        }
    }

    /// Brings the schedule in line with the spool on disk (new files, admin retry requests)
    /// and processes every message due now, waiting for them; for tests and one-shot runs.
    pub async fn run_due(&self) {
        if let Some(arrivals) = self.inner.arrivals.lock().unwrap().as_mut() {
            while let Ok(m) = arrivals.try_recv() {
                self.inner.arrived(m.id);
            }
        }
        self.inner.rescan();
        self.inner.check_retry_requests();
        let mut tasks = JoinSet::new();
        let now = self.inner.clock.now_ms();
        loop {
            let Some(id) = self.inner.schedule.lock().unwrap().pop_due(now) else { break };
            self.spawn(&mut tasks, id);
        }
        while let Some(done) = tasks.join_next().await {
            self.inner.finished(done);
        }
    }

    /// Starts a task for each due message, as long as fewer than `concurrency` run.
    fn spawn_due(&self, tasks: &mut JoinSet<(QueueId, After)>) {
        let now = self.inner.clock.now_ms();
        while tasks.len() < self.inner.config.concurrency.max(1) {
            let Some(id) = self.inner.schedule.lock().unwrap().pop_due(now) else { break };
            self.spawn(tasks, id);
        }
    }

    fn spawn(&self, tasks: &mut JoinSet<(QueueId, After)>, id: QueueId) {
        self.inner.in_flight.lock().unwrap().insert(id.clone());
        let inner = self.inner.clone();
        tasks.spawn(async move {
            // The work runs in a task of its own, so that a panic in it still ends with this
            // message's id: it leaves `in_flight` and is looked at again, instead of being
            // skipped by every later scan until a restart.
            let work = {
                let (inner, id) = (inner.clone(), id.clone());
                tokio::spawn(async move { inner.look_at(&id).await })
            };
            let after = match work.await {
                Ok(after) => after,
                Err(e) => {
                    tracing::error!(id = %id, error = %e, "a delivery task failed; the message is looked at again in a minute");
                    After::At(inner.clock.now_ms() + 60_000)
                }
            };
            (id, after)
        });
    }
}

impl Inner {
    /// A message this process just accepted: due now.
    fn arrived(&self, id: QueueId) {
        if !self.in_flight.lock().unwrap().contains(&id) {
            self.schedule.lock().unwrap().advance(id, self.clock.now_ms());
        }
    }

    fn finished(&self, done: Result<(QueueId, After), tokio::task::JoinError>) {
        let Ok((id, after)) = done else {
            tracing::error!("a delivery task failed; its message is looked at again on the next rescan");
            return;
        };
        self.in_flight.lock().unwrap().remove(&id);
        match after {
            After::At(at) => self.schedule.lock().unwrap().set(id, at),
            After::Gone => {
                self.deferred.lock().unwrap().remove(&id);
                self.held.lock().unwrap().remove(&id);
            }
        }
    }

    /// Adds messages found in `queue/` that the schedule does not know (put there by another
    /// process, or given up after an error) and forgets the state of vanished ones.
    fn rescan(&self) {
        let Store::Local { spool, states } = &self.store else { return };
        let mut present: HashSet<QueueId> = HashSet::new();
        if let Err(e) = spool.visit(|m| {
            present.insert(m.id);
        }) {
            tracing::error!(error = %e, "cannot list the spool");
            return;
        }
        let now = self.clock.now_ms();
        {
            let in_flight = self.in_flight.lock().unwrap();
            let mut plan = self.schedule.lock().unwrap();
            for id in &present {
                if !in_flight.contains(id) && !plan.due.contains_key(id) {
                    plan.set(id.clone(), now);
                }
            }
            plan.due.retain(|id, _| present.contains(id));
        }
        self.deferred.lock().unwrap().retain(|id| present.contains(id));
        self.held.lock().unwrap().retain(|id| present.contains(id));
        if let Ok(ids) = states.ids() {
            for id in ids {
                if !present.contains(&id) && !self.in_flight.lock().unwrap().contains(&id) {
                    let _ = states.remove(&id);
                }
            }
        }
    }

    /// Admin retry requests (`retry/<id>` files, written by the CLI) make their message due now.
    fn check_retry_requests(&self) {
        let Store::Local { states, .. } = &self.store else { return };
        let Ok(ids) = states.retry_requests() else { return };
        let now = self.clock.now_ms();
        for id in ids {
            if !self.in_flight.lock().unwrap().contains(&id) {
                self.schedule.lock().unwrap().set(id, now);
            }
        }
    }

    /// Works on one message that the schedule says is due: creates its state on first sight,
    /// honours hold and retry requests, and delivers what is due.
    async fn look_at(&self, id: &QueueId) -> After {
        let Store::Local { spool, states } = &self.store else { return After::Gone };
        let now = self.clock.now_ms();
        let held_recheck = now + self.config.scan_interval.as_millis() as i64;
        let (state, fresh) = match states.load(id) {
            Ok(Some(s)) => (s, false),
            Ok(None) => {
                let m = match spool.entry(id) {
                    Ok(m) => m,
                    Err(SpoolError::NotFound(_)) => {
                        // Deleted by hand: forget any hold or retry marker left for it.
                        let _ = states.remove(id);
                        return After::Gone;
                    }
                    Err(e) => {
                        tracing::warn!(id = %id, error = %e, "queued message cannot be read; left for an operator");
                        return After::Gone;
                    }
                };
                let slot = if m.envelope.auth_user.is_empty() {
                    now
                } else {
                    self.rate.lock().unwrap().reserve(&m.envelope.auth_user, now)
                };
                let s = MessageState::new(&m.envelope.rcpt_to, slot);
                if slot > now {
                    tracing::info!(id = %id, user = %m.envelope.auth_user, delay_ms = slot - now, "over the per-minute rate; delivery carried over");
                    // The slot must survive a restart; a message delivered right away needs no
                    // state before its first attempt (a crash just makes it new again).
                    if let Err(e) = states.save(id, &s) {
                        tracing::error!(id = %id, error = %e, "cannot write delivery state");
                        return After::At(held_recheck);
                    }
                }
                (s, true)
            }
            Err(e) => {
                tracing::error!(id = %id, error = %e, "unreadable delivery state; message left for an operator");
                return After::Gone;
            }
        };
        if states.is_held(id) {
            self.held.lock().unwrap().insert(id.clone());
            return After::At(held_recheck);
        }
        self.held.lock().unwrap().remove(id);
        let retry = states.take_retry(id);
        let due = retry || state.is_final() || state.next_due().is_some_and(|t| t <= now);
        if !due {
            return match state.next_due() {
                Some(t) => After::At(t),
                None => After::Gone,
            };
        }
        match self.process(id.clone(), state, retry, fresh).await {
            Some(state) if !state.is_final() => state.next_due().map_or(After::Gone, After::At),
            Some(_) => After::At(held_recheck),
            None => After::Gone,
        }
    }
}

/// The queue's own operations that delivery needs, for either store.
impl Inner {
    async fn read_message(&self, id: &QueueId) -> Result<(Envelope, Vec<u8>), SpoolError> {
        match &self.store {
            Store::Local { spool, .. } => spool.read(id),
            Store::Shared(shared) => {
                let prefetched = shared.prefetched.lock().unwrap().remove(id);
                match prefetched {
                    Some(read) => Ok(read),
                    None => shared.queue.read(id).await,
                }
            }
        }
    }

    /// Records a message's delivery state durably; in a cluster only under this node's claim.
    async fn save_state(&self, id: &QueueId, state: &MessageState) -> Result<(), String> {
        match &self.store {
            Store::Local { states, .. } => states.save(id, state).map_err(|e| e.to_string()),
            Store::Shared(shared) => {
                let token = shared.token(id)?;
                let json = serde_json::to_string(state).map_err(|e| e.to_string())?;
                match shared.queue.record(id, token, &json).await {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(LEASE_LOST.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        }
    }

    async fn accept_bounce(&self, envelope: &Envelope, message: &[u8]) -> Result<QueueId, SpoolError> {
        match &self.store {
            Store::Local { spool, .. } => spool.accept(envelope, message).await,
            Store::Shared(shared) => shared.queue.accept(envelope, message).await,
        }
    }

    async fn remove_finished(&self, id: &QueueId) -> Result<(), String> {
        match &self.store {
            Store::Local { spool, states } => {
                match spool.remove_async(id).await {
                    Ok(()) | Err(SpoolError::NotFound(_)) => {}
                    Err(e) => return Err(e.to_string()),
                }
                let _ = states.remove(id);
                Ok(())
            }
            Store::Shared(shared) => match shared.queue.finish(id, shared.token(id)?).await {
                // The claim ends with the row: nothing is left to release.
                Ok(true) => {
                    shared.tokens.lock().unwrap().remove(id);
                    Ok(())
                }
                // Deleted by an admin, or taken over after this node's lease lapsed: the other
                // node's delivery stands (at least once).
                Ok(false) => {
                    shared.tokens.lock().unwrap().remove(id);
                    tracing::warn!(id = %id, "{LEASE_LOST}");
                    Ok(())
                }
                Err(e) => Err(e.to_string()),
            },
        }
    }
}

/// How long a node waits after a new message's notification before it claims, so that the
/// messages arriving meanwhile are claimed in the same statement.
const CLAIM_LINGER: Duration = Duration::from_millis(5);

/// Why a cluster node's write about a message was not made.
const LEASE_LOST: &str = "this node's claim on the message lapsed or the message was deleted; another node has it";

impl SharedMode {
    fn token(&self, id: &QueueId) -> Result<i64, String> {
        self.tokens.lock().unwrap().get(id).copied().ok_or_else(|| LEASE_LOST.to_string())
    }
}

/// The cluster's delivery loop: claim what is due, deliver it under a renewed lease, release it
/// with its next due time. Woken by other nodes' accepts (LISTEN/NOTIFY), and polling every
/// `scan_interval` because notifications can be lost.
impl QueueManager {
    async fn run_shared(self, shutdown: CancellationToken) {
        let Store::Shared(shared) = &self.inner.store else { return };
        let listener = shared.queue.spawn_listener(shutdown.clone());
        let poll = self.inner.config.scan_interval.clamp(Duration::from_millis(10), Duration::from_secs(5));
        let concurrency = self.inner.config.concurrency.max(1);
        let mut tasks: JoinSet<()> = JoinSet::new();
        let mut last_count = tokio::time::Instant::now() - Duration::from_secs(60);
        let mut failing_since: Option<tokio::time::Instant> = None;
        // Whether a claim may find work: after a notification, a poll, or a claim that took as
        // much as it asked for. A claim that came back short found everything due, so a finished
        // delivery alone does not call for another (at one message at a time that empty claim
        // was one statement in every seven).
        let mut claim_now = true;
        loop {
            // A count reads the whole table: often enough for the admin home and the metrics.
            if last_count.elapsed() >= Duration::from_secs(10) {
                last_count = tokio::time::Instant::now();
                self.inner.refresh_counts(shared).await;
            }
            let mut full_batch = false;
            let free = concurrency.saturating_sub(tasks.len());
            if free > 0 && claim_now {
                let now = self.inner.clock.now_ms();
                match shared.queue.claim(&shared.node, shared.lease, now, free).await {
                    Ok(claims) => {
                        if failing_since.take().is_some() {
                            tracing::info!("the shared queue answers again; delivery resumes");
                        }
                        full_batch = claims.len() == free;
                        claim_now = full_batch;
                        for claim in claims {
                            let inner = self.inner.clone();
                            tasks.spawn(async move { inner.deliver_claimed(claim).await });
                        }
                    }
                    Err(e) => {
                        if failing_since.is_none() {
                            failing_since = Some(tokio::time::Instant::now());
                            tracing::error!(error = %e, "cannot claim work from the shared queue; retrying");
                        }
                    }
                }
            }
            if full_batch && tasks.len() < concurrency {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = shared.queue.woken() => {
                    // Messages that arrive one by one (one busy session) share a claim.
                    tokio::time::sleep(CLAIM_LINGER).await;
                    claim_now = true;
                }
                _ = tokio::time::sleep(poll) => claim_now = true,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
            while tasks.try_join_next().is_some() {}
        }
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(5), drain).await.is_err() {
            // Stopped mid-delivery: handed back at once, so another node repeats them now
            // instead of after the lease (a node that dies without this, its claims lapse).
            tasks.shutdown().await;
            let unfinished: Vec<(QueueId, i64)> = shared.tokens.lock().unwrap().drain().collect();
            for (id, token) in &unfinished {
                let _ = shared.queue.release(id, *token, self.inner.clock.now_ms()).await;
            }
            tracing::info!(
                handed_back = unfinished.len(),
                "deliveries still running at shutdown are stopped and handed back to the other nodes"
            );
        }
        listener.abort();
    }
}

impl Inner {
    async fn refresh_counts(&self, shared: &SharedMode) {
        match shared.queue.count(self.clock.now_ms()).await {
            Ok((queued, deferred, held)) => *shared.counts.lock().unwrap() = (queued, deferred, held),
            Err(e) => tracing::debug!(error = %e, "queue counts unavailable"),
        }
    }

    /// Delivers one claimed message while renewing its lease, then releases it (or it is gone).
    async fn deliver_claimed(self: Arc<Self>, claim: Claimed) {
        let Store::Shared(shared) = &self.store else { return };
        let id = claim.message.id.clone();
        if claim.claims > 1 && claim.state.is_none() {
            // Claimed before but nothing recorded: the earlier claim's node died or stalled
            // before its first result (a lapsed lease); delivering it now may repeat a delivery.
            shared.reclaimed.fetch_add(1, Ordering::Relaxed);
            tracing::info!(id = %id, claims = claim.claims, "claimed again: an earlier claim lapsed before recording a result");
        }
        shared.tokens.lock().unwrap().insert(id.clone(), claim.token);
        let mut claim = claim;
        if let Some(bytes) = claim.bytes.take() {
            shared.prefetched.lock().unwrap().insert(id.clone(), (claim.message.envelope.clone(), bytes));
        }
        let renewal = {
            let (queue, id, token, lease) = (shared.queue.clone(), id.clone(), claim.token, shared.lease);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(lease / 3).await;
                    match queue.renew(&id, token, lease).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!(id = %id, "{LEASE_LOST}");
                            return;
                        }
                        // The next renewal may get through before the lease ends.
                        Err(e) => tracing::warn!(id = %id, error = %e, "cannot renew a claim"),
                    }
                }
            })
        };
        let next = self.work_on_claim(&claim).await;
        renewal.abort();
        // A finished message's row is gone with its claim (remove_finished forgot the token):
        // releasing it would be a statement that changes nothing.
        let still_claimed = shared.tokens.lock().unwrap().contains_key(&id);
        if let (Some(at), true) = (next, still_claimed) {
            if let Err(e) = shared.queue.release(&id, claim.token, at).await {
                // The lease lapses by itself; the message is then claimed again.
                tracing::warn!(id = %id, error = %e, "cannot release a claim");
            }
        }
        shared.tokens.lock().unwrap().remove(&id);
        shared.prefetched.lock().unwrap().remove(&id);
    }

    /// What [`Inner::look_at`] is for one node: the state as recorded (or a new one, with the
    /// sender's rate slot), delivery of what is due; returns when to look at it next, or None
    /// when it is gone.
    async fn work_on_claim(&self, claim: &Claimed) -> Option<i64> {
        let id = &claim.message.id;
        let now = self.clock.now_ms();
        let recheck = now + self.config.scan_interval.as_millis() as i64;
        let (state, fresh) = match claim.state.as_deref().map(serde_json::from_str::<MessageState>) {
            Some(Ok(state)) => (state, false),
            Some(Err(e)) => {
                tracing::error!(id = %id, error = %e, "unreadable delivery state; message left for an operator");
                return Some(i64::MAX);
            }
            None => {
                let envelope = &claim.message.envelope;
                let slot = if envelope.auth_user.is_empty() {
                    now
                } else {
                    self.rate.lock().unwrap().reserve(&envelope.auth_user, now)
                };
                let state = MessageState::new(&envelope.rcpt_to, slot);
                if slot > now {
                    tracing::info!(id = %id, user = %envelope.auth_user, delay_ms = slot - now, "over the per-minute rate; delivery carried over");
                    if let Err(e) = self.save_state(id, &state).await {
                        tracing::error!(id = %id, error = %e, "cannot write delivery state");
                        return Some(recheck);
                    }
                    return Some(slot);
                }
                (state, true)
            }
        };
        let due = claim.retry || state.is_final() || state.next_due().is_some_and(|t| t <= now);
        if !due {
            return Some(state.next_due().unwrap_or(recheck));
        }
        match self.process(id.clone(), state, claim.retry, fresh).await {
            Some(state) if !state.is_final() => Some(state.next_due().unwrap_or(recheck)),
            Some(_) => Some(recheck),
            // Finished and removed, or a write failed: a removed row ignores the release; a
            // failed one is looked at again.
            None => Some(recheck),
        }
    }
}

impl Inner {
    /// Delivers the due recipients of `id` and records the results; returns the new state, or
    /// `None` when the message is gone (finished, removed, unreadable) or the state could not be
    /// written. `fresh`: the state exists only in memory so far.
    async fn process(&self, id: QueueId, mut state: MessageState, retry: bool, fresh: bool) -> Option<MessageState> {
        let _slot = self.slots.acquire().await;
        let now = self.clock.now_ms();
        if retry {
            state.not_before = state.not_before.min(now);
            for r in state.recipients.iter_mut().filter(|r| r.status == Status::Pending) {
                r.next_attempt = now;
            }
        }
        let due: Vec<usize> = (0..state.recipients.len())
            .filter(|i| {
                let r = &state.recipients[*i];
                r.status == Status::Pending && r.next_attempt.max(state.not_before) <= now
            })
            .collect();
        // Where each goes is known before the message is read, so a message whose destination
        // is unreachable costs neither a read nor a state write.
        let mut results: Vec<(usize, Attempt)> = vec![];
        let mut local: Vec<usize> = vec![];
        let mut groups: BTreeMap<(usize, String), Vec<usize>> = BTreeMap::new();
        // One route table for the whole attempt, even if a reload replaces it meanwhile.
        let table = self.outbound.routes();
        for i in due {
            let address = state.recipients[i].address.clone();
            match self.destination(&table, &address).await {
                Ok(Destination::Local) => local.push(i),
                Ok(Destination::Remote(route, key)) => groups.entry((route, key)).or_default().push(i),
                Ok(Destination::Unrouted) => results.push((
                    i,
                    Attempt::temp(
                        format!("451 4.4.0 no route is configured for {}; add a [[routes]] entry", domain_of(&address)),
                        None,
                    ),
                )),
                Err(why) => results.push((i, Attempt::temp(why, None))),
            }
        }
        if !retry {
            let mut postponed = false;
            groups.retain(|(route, key), members| {
                if !self.unreachable(*route, key, now) {
                    return true;
                }
                for i in members.iter() {
                    let r = &mut state.recipients[*i];
                    r.next_attempt = now + self.postpone_ms(&id, r.attempts);
                }
                postponed = true;
                false
            });
            if postponed && results.is_empty() && local.is_empty() && groups.is_empty() {
                // Nothing was attempted: no attempt is counted and nothing is written; the new
                // times live in the schedule (after a restart the message is simply due again).
                return Some(state);
            }
        }
        let (envelope, message) = match self.read_message(&id).await {
            Ok(pair) => pair,
            Err(SpoolError::NotFound(_)) => return None,
            Err(e) => {
                tracing::error!(id = %id, error = %e, "cannot read a queued message");
                return None;
            }
        };
        if self.config.sent_copy && !state.sent_copy_done {
            self.file_sent_copy(&id, &envelope, &message, &mut state).await;
        }
        for i in local {
            let address = state.recipients[i].address.clone();
            let attempt = self.deliver_local(&address, &message).await;
            count_delivery("local", attempt.outcome);
            results.push((i, attempt));
        }
        if !groups.is_empty() {
            let mut outgoing = self.dkim_signatures(&envelope, &message);
            outgoing.extend_from_slice(&message);
            for ((route_index, key), members) in groups {
                let route = &table.routes[route_index];
                let recipients: Vec<String> = members.iter().map(|i| state.recipients[*i].address.clone()).collect();
                let domain = if key.is_empty() { domain_of(&recipients[0]) } else { key };
                // Sender mapping (crate::sender_map) rewrites before signing, so the signature
                // covers the From that is sent.
                let mapped = route.sender.apply(&envelope.mail_from, &message).map(|m| {
                    let mut signed = self.dkim_signatures(&envelope, &m.message);
                    signed.extend_from_slice(&m.message);
                    (m.from, signed)
                });
                let (from, outgoing) = mapped.as_ref().map_or((&envelope.mail_from, &outgoing), |(f, o)| (f, o));
                let job = Job {
                    from,
                    recipients: &recipients,
                    message: outgoing,
                    smtputf8: envelope.smtputf8,
                    body_8bit: envelope.body_8bit,
                };
                let attempts = self.outbound.deliver(&table, route_index, &domain, &job).await;
                let destination = match route.kind {
                    RouteKind::Mx => "mx",
                    RouteKind::Graph(_) => "graph",
                    RouteKind::Smarthost(_) => "smarthost",
                };
                for attempt in &attempts {
                    count_delivery(destination, attempt.outcome);
                }
                // No host answered at all (refused, timed out, no greeting or TLS, no address):
                // the destination is down, not this message's problem.
                if attempts.iter().all(|a| a.outcome == Outcome::Temp && a.remote.is_none()) {
                    let key = if matches!(route.kind, RouteKind::Mx) { domain.clone() } else { String::new() };
                    self.mark_unreachable(route_index, key, now, &attempts[0].reply);
                }
                results.extend(members.into_iter().zip(attempts));
            }
        }

        let now = self.clock.now_ms();
        let age_ms = now - envelope.received_at * 1000;
        let give_up_ms = self.config.schedule.give_up_after.as_millis() as i64;
        for (i, attempt) in results {
            let r = &mut state.recipients[i];
            r.last_attempt = Some(now);
            r.remote = attempt.remote.clone();
            r.last_reply = Some(attempt.reply.clone());
            match attempt.outcome {
                Outcome::Delivered => {
                    r.status = Status::Delivered;
                    self.delivered.fetch_add(1, Ordering::Relaxed);
                }
                Outcome::Perm => r.status = Status::Failed,
                Outcome::Temp => {
                    r.attempts += 1;
                    if age_ms >= give_up_ms {
                        r.status = Status::Failed;
                        r.last_reply = Some(format!(
                            "{} (gave up after {} attempts over {} s)",
                            attempt.reply,
                            r.attempts,
                            age_ms / 1000
                        ));
                    } else {
                        r.next_attempt = now + self.config.schedule.delay_after(r.attempts).as_millis() as i64;
                    }
                }
            }
            tracing::info!(
                id = %id,
                to = %r.address,
                status = ?r.status,
                attempts = r.attempts,
                remote = r.remote.as_deref().unwrap_or("-"),
                reply = %attempt.reply,
                "delivery attempt"
            );
            if r.status == Status::Failed {
                self.failed.fetch_add(1, Ordering::Relaxed);
            }
        }
        if is_deferred(&state) {
            self.deferred.lock().unwrap().insert(id.clone());
        } else {
            self.deferred.lock().unwrap().remove(&id);
        }
        let all_delivered = state.recipients.iter().all(|r| r.status == Status::Delivered);
        // A message delivered to everyone on its first attempt goes straight to removal: its
        // state would be deleted right after being written, and a crash before the removal
        // repeats the delivery either way (at least once).
        if !(fresh && all_delivered && state.bounce.is_none()) {
            if let Err(e) = self.save_state(&id, &state).await {
                // The attempt's result is lost; the next scan repeats it (at least once).
                tracing::error!(id = %id, error = %e, "cannot record delivery results");
                return None;
            }
        }
        if state.is_final() && self.finish(&id, &mut state, &envelope, &message).await {
            return None;
        }
        Some(state)
    }

    /// Whether deliveries to this destination are suspended: its last attempt reached no host.
    fn unreachable(&self, route: usize, key: &str, now: i64) -> bool {
        let mut map = self.unreachable.lock().unwrap();
        match map.get(&(route, key.to_string())) {
            Some((until, _)) if *until > now => true,
            Some(_) => {
                map.remove(&(route, key.to_string()));
                false
            }
            None => false,
        }
    }

    /// Suspends deliveries to a destination no host of which answered (Postfix's "delivery
    /// temporarily suspended"): during an upstream outage, messages for it are not tried one by
    /// one; after the pause the next due message probes it again.
    fn mark_unreachable(&self, route: usize, key: String, now: i64, reason: &str) {
        let pause = (self.config.schedule.first_retry.as_millis() as i64).clamp(1, UNREACHABLE_PAUSE_MS);
        let mut map = self.unreachable.lock().unwrap();
        if map.insert((route, key.clone()), (now + pause, reason.to_string())).is_none() {
            tracing::warn!(route, destination = %key, pause_ms = pause, reason, "destination unreachable; deliveries to it suspended");
        }
    }

    /// When a message for a suspended destination is looked at again: its own retry delay,
    /// spread by up to half again (from its id) so a large queue does not come due at once.
    fn postpone_ms(&self, id: &QueueId, attempts: u32) -> i64 {
        let delay = self.config.schedule.delay_after(attempts.max(1)).as_millis() as i64;
        let spread = id.as_str().bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))) % 1000;
        delay + delay * spread as i64 / 2000
    }

    async fn destination(&self, table: &crate::outbound::RouteTable, address: &str) -> Result<Destination, String> {
        let domain = domain_of(address);
        match self.directory.hosts_domain(&domain).await {
            Ok(true) => Ok(Destination::Local),
            Ok(false) => Ok(match table.route_for(&domain) {
                Some((i, route)) => {
                    Destination::Remote(i, if matches!(route.kind, RouteKind::Mx) { domain } else { String::new() })
                }
                None => Destination::Unrouted,
            }),
            Err(e) => Err(format!("451 4.3.0 directory unavailable: {e}")),
        }
    }

    /// The Sent copy goes only to a mailbox that signed in and still exists: a connector's
    /// sender is whatever its client claimed, and must not reach anyone's Sent folder or
    /// create a Maildir (issue 12).
    async fn file_sent_copy(&self, id: &QueueId, envelope: &Envelope, message: &[u8], state: &mut MessageState) {
        if envelope.connector.is_some() || envelope.auth_user.is_empty() {
            state.sent_copy_done = true;
            return;
        }
        match self.directory.user(&envelope.auth_user).await {
            Ok(Some(user)) => match self.mailboxes.file_sent(&user.address, message) {
                Ok(_) => state.sent_copy_done = true,
                Err(e) => tracing::warn!(id = %id, error = %e, "could not file the Sent copy"),
            },
            Ok(None) => {
                tracing::info!(id = %id, user = %envelope.auth_user, "no Sent copy: the mailbox no longer exists");
                state.sent_copy_done = true;
            }
            Err(e) => tracing::warn!(id = %id, error = %e, "could not file the Sent copy: directory unavailable"),
        }
    }

    async fn deliver_local(&self, address: &str, message: &[u8]) -> Attempt {
        match self.directory.user(address).await {
            Ok(Some(user)) => {
                let mailboxes = self.mailboxes.clone();
                let message = message.to_vec();
                let target = user.address.clone();
                match tokio::task::spawn_blocking(move || mailboxes.deliver(&target, &message)).await {
                    Ok(Ok(path)) => Attempt::delivered(
                        format!("250 2.0.0 delivered to {}", path.file_name().unwrap_or_default().to_string_lossy()),
                        Some(self.config.hostname.clone()),
                    ),
                    Ok(Err(e)) => Attempt::temp(format!("451 4.3.0 mailbox write failed: {e}"), None),
                    Err(e) => Attempt::temp(format!("451 4.3.0 mailbox writer failed: {e}"), None),
                }
            }
            Ok(None) => Attempt::perm(
                format!("550 5.1.1 <{address}>: Recipient address rejected: no such mailbox here"),
                Some(self.config.hostname.clone()),
            ),
            Err(e) => Attempt::temp(format!("451 4.3.0 directory unavailable: {e}"), None),
        }
    }

    /// DKIM-Signature headers for the domain of the header From (else the envelope sender).
    fn dkim_signatures(&self, envelope: &Envelope, message: &[u8]) -> Vec<u8> {
        let from = mail_parser::MessageParser::new()
            .parse_headers(message)
            .and_then(|m| m.from().and_then(|f| f.first()).and_then(|a| a.address()).map(str::to_string))
            .unwrap_or_else(|| envelope.mail_from.clone());
        if !from.contains('@') {
            return vec![];
        }
        let keys = crate::dkim::load_keys(&self.config.data_dir, &domain_of(&from));
        crate::dkim::sign(&keys, message)
    }

    /// The language of the sender's organisation for its bounce: the signed-in mailbox's
    /// organisation, else the one hosting the sender's domain (a connector); English when
    /// neither is known or the directory cannot say.
    async fn sender_language(&self, envelope: &Envelope) -> authrelay_i18n::Lang {
        let org = match self.directory.user(&envelope.auth_user).await {
            Ok(Some(user)) => Some(user.org),
            _ => match self.directory.org_for_domain(&domain_of(&envelope.mail_from)).await {
                Ok(Some(org)) => Some(org.name),
                _ => None,
            },
        };
        let Some(org) = org else { return authrelay_i18n::Lang::En };
        match self.directory.org_language(&org).await {
            Ok(tag) => tag.as_deref().and_then(authrelay_i18n::Lang::parse).unwrap_or_default(),
            Err(e) => {
                tracing::warn!(org = %org, error = %e, "bounce language unknown; writing it in English");
                authrelay_i18n::Lang::En
            }
        }
    }

    /// Bounces what failed (once), then takes the message out of the spool; true once removed.
    async fn finish(&self, id: &QueueId, state: &mut MessageState, envelope: &Envelope, message: &[u8]) -> bool {
        let failures: Vec<dsn::Failure> = state
            .recipients
            .iter()
            .filter(|r| r.status == Status::Failed)
            .map(|r| dsn::Failure {
                recipient: r.address.clone(),
                reply: r.last_reply.clone().unwrap_or_default(),
                remote: r.remote.clone(),
                last_attempt: r.last_attempt.unwrap_or(0) / 1000,
            })
            .collect();
        if state.bounce.is_none() {
            let now_secs = self.clock.now_ms() / 1000;
            let lang =
                if failures.is_empty() { authrelay_i18n::Lang::En } else { self.sender_language(envelope).await };
            if let Some((env, bytes)) = dsn::build(&self.config.hostname, envelope, message, &failures, now_secs, lang)
            {
                match self.accept_bounce(&env, &bytes).await {
                    Ok(bounce_id) => {
                        tracing::info!(id = %id, bounce = %bounce_id, to = %envelope.mail_from, "bounce queued");
                        state.bounce = Some(bounce_id.to_string());
                        if let Err(e) = self.save_state(id, state).await {
                            tracing::warn!(id = %id, error = %e, "could not record the bounce; it may be sent twice");
                        }
                    }
                    Err(e) => {
                        tracing::error!(id = %id, error = %e, "cannot queue the bounce; keeping the message");
                        return false;
                    }
                }
            } else if !failures.is_empty() {
                tracing::info!(id = %id, "no bounce for a message from the null sender");
            }
        }
        if let Err(e) = self.remove_finished(id).await {
            tracing::error!(id = %id, error = %e, "cannot remove a finished message");
            return false;
        }
        tracing::info!(id = %id, "message finished and removed from the queue");
        true
    }
}

/// A message waiting for the next try of a recipient that failed temporarily.
fn is_deferred(state: &MessageState) -> bool {
    state.recipients.iter().any(|r| r.status == Status::Pending && r.attempts > 0)
}

fn domain_of(address: &str) -> String {
    address.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default()
}

/// `authrelay_deliveries_total{destination, outcome}`: one per recipient and attempt.
fn count_delivery(destination: &'static str, outcome: Outcome) {
    let outcome = match outcome {
        Outcome::Delivered => "delivered",
        Outcome::Temp => "deferred",
        Outcome::Perm => "failed",
    };
    metrics::counter!("authrelay_deliveries_total", "destination" => destination, "outcome" => outcome).increment(1);
}
