//! The argon2id verification pool: the one place AUTH spends memory on a hash.
//!
//! Each verification holds the hash's memory (19 MiB with the default parameters) while it
//! runs, so how many run at once is what bounds the server's memory under an AUTH flood — not
//! how many clients connect. Verifications run on a fixed set of worker threads (`workers`);
//! a fixed set also keeps the allocator from growing one arena per blocking thread, which is
//! where the memory of an unbounded `spawn_blocking` went. Waiting attempts hold only the
//! secret and the hash string.
//!
//! Fair share: each client address may have at most `per_address` attempts waiting or running,
//! and the workers take attempts round-robin by address, so a flood from some addresses delays
//! everyone else by at most one attempt per flooding address. An attempt that does not start
//! within `wait` is dropped and answered `454 4.7.0` (the client tries again later). Unknown
//! users queue and cost the same as known ones (a dummy hash): the pool bounds memory without
//! telling which names exist.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Sizes of the pool; `authrelay`'s `[limits]` fill it in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Verifications running at once (each holds the hash's memory).
    pub workers: usize,
    /// Attempts one client address may have waiting or running.
    pub per_address: usize,
    /// How long an attempt may wait for a worker before `454 4.7.0`.
    pub wait: Duration,
}

impl Default for PoolConfig {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        PoolConfig { workers: cores.clamp(1, 8), per_address: 8, wait: Duration::from_secs(10) }
    }
}

/// Why a verification did not run; the attempt is answered `454 4.7.0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Busy {
    #[error("the client address already has its share of verifications waiting")]
    AddressShare,
    #[error("no verification worker became free in time")]
    Timeout,
}

/// The verification itself: (secret, stored hash) -> matches. Injectable for tests.
pub type Verifier = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

struct Job {
    ip: IpAddr,
    secret: String,
    hash: String,
    deadline: Instant,
    queued: Instant,
    reply: oneshot::Sender<bool>,
}

#[derive(Default)]
struct Queue {
    waiting: HashMap<IpAddr, VecDeque<Job>>,
    /// Addresses with waiting jobs, in the order the workers serve them.
    turn: VecDeque<IpAddr>,
    /// Jobs waiting or running, per address.
    outstanding: HashMap<IpAddr, usize>,
    stopping: bool,
}

struct Inner {
    queue: Mutex<Queue>,
    ready: Condvar,
    config: PoolConfig,
    verifier: Verifier,
}

pub struct VerifyPool {
    inner: Arc<Inner>,
}

impl VerifyPool {
    /// A pool verifying with argon2id, each worker in memory of its own that it keeps
    /// (`authrelay_directory::secrets::verify_secret_in`): the pool's memory is the workers'
    /// hash memory, allocated once, however many verifications run.
    pub fn new(config: PoolConfig) -> Self {
        thread_local! {
            static MEMORY: std::cell::RefCell<authrelay_directory::secrets::HashMemory> = std::cell::RefCell::default();
        }
        // Only the pool's worker threads call this, so the thread-local is per worker.
        let verifier: Verifier = Arc::new(|secret: &str, hash: &str| {
            MEMORY.with(|m| authrelay_directory::secrets::verify_secret_in(secret, hash, &mut m.borrow_mut()))
        });
        Self::with_verifier(config, verifier)
    }

    pub fn with_verifier(config: PoolConfig, verifier: Verifier) -> Self {
        let config = PoolConfig { workers: config.workers.max(1), per_address: config.per_address.max(1), ..config };
        let inner = Arc::new(Inner { queue: Mutex::new(Queue::default()), ready: Condvar::new(), config, verifier });
        for i in 0..config.workers {
            let inner = inner.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || worker(&inner))
                .expect("start a verification worker");
        }
        VerifyPool { inner }
    }

    pub fn config(&self) -> PoolConfig {
        self.inner.config
    }

    /// Verifies `secret` against `hash` for a client at `ip`, waiting for a worker at most the
    /// configured time.
    pub async fn verify(&self, ip: IpAddr, secret: String, hash: String) -> Result<bool, Busy> {
        let config = self.inner.config;
        let (tx, rx) = oneshot::channel();
        {
            let mut q = self.inner.queue.lock().unwrap_or_else(|e| e.into_inner());
            let n = q.outstanding.entry(ip).or_insert(0);
            if *n >= config.per_address {
                metrics::counter!("authrelay_auth_verifications_busy_total", "reason" => "address-share").increment(1);
                return Err(Busy::AddressShare);
            }
            *n += 1;
            let queued = Instant::now();
            let deadline = queued + config.wait;
            let jobs = q.waiting.entry(ip).or_default();
            jobs.push_back(Job { ip, secret, hash, deadline, queued, reply: tx });
            if jobs.len() == 1 {
                q.turn.push_back(ip);
            }
        }
        self.inner.ready.notify_one();
        // A worker that picks the job after its deadline drops it unanswered, which ends this
        // wait; the outer bound only guards against a pool that stopped.
        match tokio::time::timeout(config.wait * 2 + Duration::from_secs(1), rx).await {
            Ok(Ok(ok)) => Ok(ok),
            Ok(Err(_)) | Err(_) => {
                metrics::counter!("authrelay_auth_verifications_busy_total", "reason" => "timeout").increment(1);
                Err(Busy::Timeout)
            }
        }
    }

    /// Attempts waiting or running now (all addresses).
    pub fn outstanding(&self) -> usize {
        self.inner.queue.lock().unwrap_or_else(|e| e.into_inner()).outstanding.values().sum()
    }
}

impl Drop for VerifyPool {
    fn drop(&mut self) {
        let mut q = self.inner.queue.lock().unwrap_or_else(|e| e.into_inner());
        q.stopping = true;
        drop(q);
        self.inner.ready.notify_all();
    }
}

fn worker(inner: &Inner) {
    loop {
        let job = {
            let mut q = inner.queue.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if q.stopping {
                    return;
                }
                if let Some(job) = next_job(&mut q) {
                    break job;
                }
                q = inner.ready.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        // Dropped unanswered (the session answers 454) when it waited too long or the client
        // is gone: its memory is never spent.
        if Instant::now() < job.deadline && !job.reply.is_closed() {
            metrics::histogram!("authrelay_auth_verification_wait_seconds").record(job.queued.elapsed().as_secs_f64());
            let ok = (inner.verifier)(&job.secret, &job.hash);
            let _ = job.reply.send(ok);
        }
        let mut q = inner.queue.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = q.outstanding.get_mut(&job.ip) {
            *n -= 1;
            if *n == 0 {
                q.outstanding.remove(&job.ip);
            }
        }
    }
}

/// The next job round-robin by address: the front address's oldest job; the address goes to
/// the back of the turn while it has more.
fn next_job(q: &mut Queue) -> Option<Job> {
    let ip = q.turn.pop_front()?;
    let jobs = q.waiting.get_mut(&ip)?;
    let job = jobs.pop_front();
    if jobs.is_empty() {
        q.waiting.remove(&ip);
    } else {
        q.turn.push_back(ip);
    }
    job
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A verifier that takes `ms` and records the most that ran at once and the order.
    fn slow(ms: u64, peak: Arc<AtomicUsize>, order: Arc<Mutex<Vec<String>>>) -> Verifier {
        let running = Arc::new(AtomicUsize::new(0));
        Arc::new(move |secret, _hash| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            order.lock().unwrap().push(secret.to_string());
            std::thread::sleep(Duration::from_millis(if secret == "block" { 3 * ms } else { ms }));
            running.fetch_sub(1, Ordering::SeqCst);
            secret == "right"
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bounded_fair_and_timed_out() {
        let peak = Arc::new(AtomicUsize::new(0));
        let order = Arc::new(Mutex::new(vec![]));
        let config = PoolConfig { workers: 2, per_address: 4, wait: Duration::from_millis(400) };
        let pool = Arc::new(VerifyPool::with_verifier(config, slow(50, peak.clone(), order.clone())));
        let flood: IpAddr = "192.0.2.66".parse().unwrap();
        let real: IpAddr = "192.0.2.10".parse().unwrap();
        // Twenty attempts at once from one address: four get a place, the rest are refused.
        let mut tasks = vec![];
        for i in 0..20 {
            let p = pool.clone();
            tasks.push(tokio::spawn(async move { p.verify(flood, format!("guess-{i}"), "h".into()).await }));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        // A real client arriving after the flood is served within one round, not after it.
        let started = Instant::now();
        assert_eq!(pool.verify(real, "right".into(), "h".into()).await, Ok(true));
        assert!(started.elapsed() < Duration::from_millis(200), "{:?}", started.elapsed());
        let mut results = vec![];
        for t in tasks {
            results.push(t.await.unwrap());
        }
        assert_eq!(results.iter().filter(|r| **r == Err(Busy::AddressShare)).count(), 16, "{results:?}");
        assert_eq!(results.iter().filter(|r| **r == Ok(false)).count(), 4, "{results:?}");
        assert!(peak.load(Ordering::SeqCst) <= 2, "more than two ran at once");
        assert_eq!(pool.outstanding(), 0);

        // Work that cannot start before its deadline is answered Busy::Timeout and never runs.
        // Both workers are kept busy while the attempts of six addresses queue up.
        let order_before = order.lock().unwrap().len();
        let mut blockers = vec![];
        for a in 0..2u8 {
            let p = pool.clone();
            let ip = IpAddr::from([203, 0, 113, a]);
            blockers.push(tokio::spawn(async move { p.verify(ip, "block".into(), "h".into()).await }));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        let mut tasks = vec![];
        for a in 0..6u8 {
            let p = pool.clone();
            let ip = IpAddr::from([198, 51, 100, a]);
            for i in 0..4 {
                let p = p.clone();
                tasks.push(tokio::spawn(async move { p.verify(ip, format!("late-{a}-{i}"), "h".into()).await }));
            }
        }
        let mut timeouts = 0;
        for b in blockers {
            assert_eq!(b.await.unwrap(), Ok(false));
        }
        for t in tasks {
            if t.await.unwrap() == Err(Busy::Timeout) {
                timeouts += 1;
            }
        }
        // 150 ms of blockers, then 24 jobs of 50 ms on two workers: those not started within
        // 400 ms of queueing time out.
        assert!(timeouts >= 4, "{timeouts}");
        let ran = order.lock().unwrap().len() - order_before - 2;
        assert_eq!(ran + timeouts, 24, "a timed-out job ran anyway");
        // Round robin: after the blockers, the first six that ran came from six addresses.
        let first: std::collections::BTreeSet<String> = order.lock().unwrap()[order_before + 2..order_before + 8]
            .iter()
            .map(|s| s.split('-').nth(1).unwrap().to_string())
            .collect();
        assert_eq!(first.len(), 6, "{:?}", &order.lock().unwrap()[order_before..]);
        assert_eq!(order.lock().unwrap()[order_before..order_before + 2], ["block", "block"]);
    }
}
