//! The queue manager: finds due messages in the spool, delivers their due recipients, records
//! each result durably, retries on the schedule, bounces, and removes finished messages.
//!
//! One loop ([`QueueManager::run`]) rescans the spool every `scan_interval` (new messages,
//! admin hold/retry requests) or sooner when a retry falls due, and runs each due message as
//! its own task, at most `concurrency` at once; a message is never in two tasks.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use authrelay_core::QueueId;
use authrelay_directory::Directory;
use authrelay_spool::{Envelope, QueuedMessage, Spool, SpoolError};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::config::{DeliveryConfig, RouteKind};
use crate::dsn;
use crate::maildir::Mailboxes;
use crate::outbound::{Job, Outbound};
use crate::rate::RateLimiter;
use crate::state::{MessageState, StateStore, Status};
use crate::{Attempt, Outcome};

#[derive(Clone)]
pub struct QueueManager {
    inner: Arc<Inner>,
}

struct Inner {
    spool: Spool,
    directory: Arc<dyn Directory>,
    config: DeliveryConfig,
    clock: Arc<dyn Clock>,
    states: StateStore,
    mailboxes: Mailboxes,
    outbound: Outbound,
    rate: Mutex<RateLimiter>,
    in_flight: Mutex<HashSet<QueueId>>,
    slots: Semaphore,
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
        let states = StateStore::open(spool.root()).map_err(|e| format!("delivery state directory: {e}"))?;
        let outbound = Outbound::new(&config)?;
        let mut rate = RateLimiter::new(config.rate_per_minute);
        // Slots given out before a restart still count against each mailbox's minute.
        for m in spool.list().map_err(|e| e.to_string())? {
            if let Ok(Some(state)) = states.load(&m.id) {
                if !m.envelope.auth_user.is_empty() {
                    rate.record(&m.envelope.auth_user, state.not_before);
                }
            }
        }
        let slots = Semaphore::new(config.concurrency.max(1));
        Ok(QueueManager {
            inner: Arc::new(Inner {
                mailboxes: Mailboxes::new(&config.data_dir, &config.hostname),
                spool,
                directory,
                config,
                clock,
                states,
                outbound,
                rate: Mutex::new(rate),
                in_flight: Mutex::new(HashSet::new()),
                slots,
            }),
        })
    }

    /// Runs until `shutdown`; deliveries in flight then get a few seconds to finish (an
    /// interrupted one is simply repeated after the restart).
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tasks = JoinSet::new();
        let scan = self.inner.config.scan_interval;
        loop {
            let next = self.spawn_due(&mut tasks);
            let now = self.inner.clock.now_ms();
            let wait =
                next.map(|t| std::time::Duration::from_millis((t - now).max(0) as u64).min(scan)).unwrap_or(scan);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(std::time::Duration::from_secs(5), drain).await.is_err() {
            tracing::info!("deliveries still running at shutdown are stopped; they are repeated on restart");
        }
    }

    /// Processes every message due now and waits for them; for tests and one-shot runs.
    pub async fn run_due(&self) {
        let mut tasks = JoinSet::new();
        self.spawn_due(&mut tasks);
        while tasks.join_next().await.is_some() {}
    }

    /// Starts a task for each due message not already in flight; returns when the next
    /// not-yet-due recipient falls due.
    fn spawn_due(&self, tasks: &mut JoinSet<()>) -> Option<i64> {
        let inner = &self.inner;
        let messages = match inner.spool.list() {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "cannot list the spool");
                return None;
            }
        };
        let now = inner.clock.now_ms();
        let mut next: Option<i64> = None;
        let present: HashSet<QueueId> = messages.iter().map(|m| m.id.clone()).collect();
        for m in messages {
            if inner.in_flight.lock().unwrap().contains(&m.id) {
                continue;
            }
            let state = match inner.states.load(&m.id) {
                Ok(Some(s)) => s,
                Ok(None) => {
                    let slot = if m.envelope.auth_user.is_empty() {
                        now
                    } else {
                        inner.rate.lock().unwrap().reserve(&m.envelope.auth_user, now)
                    };
                    if slot > now {
                        tracing::info!(id = %m.id, user = %m.envelope.auth_user, delay_ms = slot - now, "over the per-minute rate; delivery carried over");
                    }
                    let s = MessageState::new(&m.envelope.rcpt_to, slot);
                    if let Err(e) = inner.states.save(&m.id, &s) {
                        tracing::error!(id = %m.id, error = %e, "cannot write delivery state");
                        continue;
                    }
                    s
                }
                Err(e) => {
                    tracing::error!(id = %m.id, error = %e, "unreadable delivery state; message left for an operator");
                    continue;
                }
            };
            if inner.states.is_held(&m.id) {
                continue;
            }
            let retry = inner.states.take_retry(&m.id);
            let due = retry || state.is_final() || state.next_due().is_some_and(|t| t <= now);
            if !due {
                next = match (next, state.next_due()) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                continue;
            }
            inner.in_flight.lock().unwrap().insert(m.id.clone());
            let inner = self.inner.clone();
            tasks.spawn(async move {
                let id = m.id.clone();
                inner.process(m, state, retry).await;
                inner.in_flight.lock().unwrap().remove(&id);
            });
        }
        // State of messages deleted by hand (or removed just before a crash) is forgotten.
        if let Ok(ids) = inner.states.ids() {
            for id in ids {
                if !present.contains(&id) && !inner.in_flight.lock().unwrap().contains(&id) {
                    let _ = inner.states.remove(&id);
                }
            }
        }
        next
    }
}

impl Inner {
    async fn process(&self, m: QueuedMessage, mut state: MessageState, retry: bool) {
        let _slot = self.slots.acquire().await;
        let id = m.id;
        let (envelope, message) = match self.spool.read(&id) {
            Ok(pair) => pair,
            Err(SpoolError::NotFound(_)) => return,
            Err(e) => {
                tracing::error!(id = %id, error = %e, "cannot read a queued message");
                return;
            }
        };
        let now = self.clock.now_ms();
        if retry {
            state.not_before = state.not_before.min(now);
            for r in state.recipients.iter_mut().filter(|r| r.status == Status::Pending) {
                r.next_attempt = now;
            }
        }
        if self.config.sent_copy && !state.sent_copy_done && !envelope.auth_user.is_empty() {
            match self.mailboxes.file_sent(&envelope.auth_user, &message) {
                Ok(_) => state.sent_copy_done = true,
                Err(e) => tracing::warn!(id = %id, error = %e, "could not file the Sent copy"),
            }
        }

        let due: Vec<usize> = (0..state.recipients.len())
            .filter(|i| {
                let r = &state.recipients[*i];
                r.status == Status::Pending && r.next_attempt.max(state.not_before) <= now
            })
            .collect();
        let mut results: Vec<(usize, Attempt)> = vec![];
        let mut groups: BTreeMap<(usize, String), Vec<usize>> = BTreeMap::new();
        for i in due {
            let address = state.recipients[i].address.clone();
            match self.destination(&address).await {
                Ok(Destination::Local) => results.push((i, self.deliver_local(&address, &message).await)),
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
        if !groups.is_empty() {
            let mut outgoing = self.dkim_signatures(&envelope, &message);
            outgoing.extend_from_slice(&message);
            for ((route_index, key), members) in groups {
                let route = &self.config.routes[route_index];
                let recipients: Vec<String> = members.iter().map(|i| state.recipients[*i].address.clone()).collect();
                let domain = if key.is_empty() { domain_of(&recipients[0]) } else { key };
                let job = Job {
                    from: &envelope.mail_from,
                    recipients: &recipients,
                    message: &outgoing,
                    smtputf8: envelope.smtputf8,
                    body_8bit: envelope.body_8bit,
                };
                let attempts = self.outbound.deliver(route_index, route, &domain, &job).await;
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
                Outcome::Delivered => r.status = Status::Delivered,
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
        }
        if let Err(e) = self.states.save(&id, &state) {
            // The attempt's result is lost; the next scan repeats it (at least once).
            tracing::error!(id = %id, error = %e, "cannot record delivery results");
            return;
        }
        if state.is_final() {
            self.finish(&id, &mut state, &envelope, &message).await;
        }
    }

    async fn destination(&self, address: &str) -> Result<Destination, String> {
        let domain = domain_of(address);
        match self.directory.org_for_domain(&domain).await {
            Ok(Some(_)) => Ok(Destination::Local),
            Ok(None) => Ok(match self.config.route_for(&domain) {
                Some((i, route)) => {
                    Destination::Remote(i, if matches!(route.kind, RouteKind::Mx) { domain } else { String::new() })
                }
                None => Destination::Unrouted,
            }),
            Err(e) => Err(format!("451 4.3.0 directory unavailable: {e}")),
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

    /// Bounces what failed (once), then takes the message out of the spool.
    async fn finish(&self, id: &QueueId, state: &mut MessageState, envelope: &Envelope, message: &[u8]) {
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
            if let Some((env, bytes)) = dsn::build(&self.config.hostname, envelope, message, &failures, now_secs) {
                match self.spool.accept(&env, &bytes).await {
                    Ok(bounce_id) => {
                        tracing::info!(id = %id, bounce = %bounce_id, to = %envelope.mail_from, "bounce queued");
                        state.bounce = Some(bounce_id.to_string());
                        if let Err(e) = self.states.save(id, state) {
                            tracing::warn!(id = %id, error = %e, "could not record the bounce; it may be sent twice");
                        }
                    }
                    Err(e) => {
                        tracing::error!(id = %id, error = %e, "cannot queue the bounce; keeping the message");
                        return;
                    }
                }
            } else if !failures.is_empty() {
                tracing::info!(id = %id, "no bounce for a message from the null sender");
            }
        }
        match self.spool.remove(id) {
            Ok(()) | Err(SpoolError::NotFound(_)) => {}
            Err(e) => {
                tracing::error!(id = %id, error = %e, "cannot remove a finished message");
                return;
            }
        }
        let _ = self.states.remove(id);
        tracing::info!(id = %id, "message finished and removed from the queue");
    }
}

fn domain_of(address: &str) -> String {
    address.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()).unwrap_or_default()
}
