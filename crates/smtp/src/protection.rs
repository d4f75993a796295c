//! Protection that lives in the server's memory: per-client-address connection caps, connection
//! rate and failure budget, and the count of authenticated sessions per mailbox.
//!
//! What must survive a restart or be shared with the admin CLI (lockout, the recipient quota)
//! lives in the directory; see `authrelay_directory::protection`.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authrelay_core::ReplyId;
use authrelay_directory::leases::MailboxLeases;
use authrelay_directory::LockoutPolicy;

/// Every protection knob; `authrelay`'s `[limits]` and `[lockout]` tables fill it in.
#[derive(Debug, Clone)]
pub struct ProtectionConfig {
    /// Smart lockout per user name (stored in the directory).
    pub lockout: LockoutPolicy,
    /// Failed AUTH attempts from one client address, across connections, within
    /// `address_failure_window`, after which the address gets `421 4.7.0` and is disconnected.
    pub address_failure_budget: u32,
    pub address_failure_window: Duration,
    /// Extra pause before answering a failed AUTH, per failure the address already has in the
    /// window (a slowing delay), capped at `address_failure_delay_max`.
    pub address_failure_delay_step: Duration,
    pub address_failure_delay_max: Duration,
    /// Connections one client address may hold at once.
    pub max_connections_per_address: usize,
    /// New connections one client address may open per `connection_rate_window`.
    pub connection_rate_per_address: u32,
    pub connection_rate_window: Duration,
    /// Authenticated sessions one mailbox may hold at once (Exchange Online: 3).
    pub max_sessions_per_mailbox: u64,
    /// Recipients per mailbox per rolling 24 hours (Exchange Online: 10,000).
    pub daily_recipients: u64,
    /// The argon2id verification pool (verify_pool.rs).
    pub verify_pool: crate::verify_pool::PoolConfig,
}

impl Default for ProtectionConfig {
    fn default() -> Self {
        ProtectionConfig {
            lockout: LockoutPolicy::default(),
            address_failure_budget: 20,
            address_failure_window: Duration::from_secs(900),
            address_failure_delay_step: Duration::from_millis(500),
            address_failure_delay_max: Duration::from_secs(10),
            max_connections_per_address: 50,
            connection_rate_per_address: 300,
            connection_rate_window: Duration::from_secs(60),
            max_sessions_per_mailbox: 3,
            daily_recipients: 10_000,
            verify_pool: Default::default(),
        }
    }
}

#[derive(Default)]
struct AddressState {
    connections: usize,
    connects: VecDeque<Instant>,
    failures: VecDeque<Instant>,
}

/// Per-client-address bookkeeping shared by every listener.
pub struct AddressGuard {
    /// Replaced by a reload (`set_config`); each check reads the one in force.
    config: std::sync::RwLock<Arc<ProtectionConfig>>,
    state: Mutex<HashMap<IpAddr, AddressState>>,
}

/// Held by a connection for its lifetime; frees the address's slot when dropped.
pub struct ConnectionPermit {
    guard: Arc<AddressGuard>,
    ip: IpAddr,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut state = self.guard.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = state.get_mut(&self.ip) {
            s.connections = s.connections.saturating_sub(1);
            if s.connections == 0 && s.connects.is_empty() && s.failures.is_empty() {
                state.remove(&self.ip);
            }
        }
    }
}

fn prune(q: &mut VecDeque<Instant>, window: Duration, now: Instant) {
    while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
        q.pop_front();
    }
}

/// Entries above which idle addresses are swept from the map on the next admission.
const SWEEP_ABOVE: usize = 10_000;

impl AddressGuard {
    pub fn new(config: ProtectionConfig) -> Arc<Self> {
        Arc::new(AddressGuard { config: std::sync::RwLock::new(Arc::new(config)), state: Mutex::new(HashMap::new()) })
    }

    pub fn config(&self) -> Arc<ProtectionConfig> {
        self.config.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A reload's new limits and lockout policy: the next check uses them; the counts kept so
    /// far (connections, failures) stay.
    pub fn set_config(&self, config: ProtectionConfig) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
    }

    /// Admits a new connection from `ip`, or names the `421` to send before closing it.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionPermit, ReplyId> {
        let now = Instant::now();
        let c = self.config();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.len() > SWEEP_ABOVE {
            state.retain(|_, s| {
                prune(&mut s.connects, c.connection_rate_window, now);
                prune(&mut s.failures, c.address_failure_window, now);
                s.connections > 0 || !s.connects.is_empty() || !s.failures.is_empty()
            });
        }
        let s = state.entry(ip).or_default();
        prune(&mut s.connects, c.connection_rate_window, now);
        prune(&mut s.failures, c.address_failure_window, now);
        if s.failures.len() >= c.address_failure_budget as usize {
            return Err(ReplyId::AddressThrottled);
        }
        if s.connections >= c.max_connections_per_address || s.connects.len() >= c.connection_rate_per_address as usize
        {
            return Err(ReplyId::TooManyConnectionsFromAddress);
        }
        s.connections += 1;
        s.connects.push_back(now);
        drop(state);
        Ok(ConnectionPermit { guard: self.clone(), ip })
    }

    /// Failed AUTH attempts from `ip` within the window.
    pub fn failures(&self, ip: IpAddr) -> u32 {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match state.get_mut(&ip) {
            Some(s) => {
                prune(&mut s.failures, self.config().address_failure_window, now);
                s.failures.len() as u32
            }
            None => 0,
        }
    }

    /// Whether `ip` has used up its failure budget.
    pub fn exhausted(&self, ip: IpAddr) -> bool {
        self.failures(ip) >= self.config().address_failure_budget
    }

    /// Counts a failed attempt; returns the slowing delay to apply before answering it.
    pub fn record_failure(&self, ip: IpAddr) -> Duration {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let s = state.entry(ip).or_default();
        prune(&mut s.failures, self.config().address_failure_window, now);
        let earlier = s.failures.len() as u32;
        s.failures.push_back(now);
        self.config().address_failure_delay_step.saturating_mul(earlier).min(self.config().address_failure_delay_max)
    }
}

/// Smart lockout's memory of recent wrong secrets (Entra does the same): a repeat of one of the
/// last [`RECENT_BAD_SECRETS`] wrong secrets tried for a name does not count toward the name's
/// lockout again. A client that retries a refused AUTH with its next mechanism, or a device
/// still sending an old password every minute, then spends one failure, not one per attempt,
/// and cannot lock its owner out; a guesser's distinct passwords all count.
///
/// Only a truncated HMAC-SHA256 of (name, secret) under a random key made when the process
/// starts is kept — never a secret, and nothing that can be tested offline against guesses
/// (the key never leaves memory). A restart forgets the list: at worst a repeat counts once more.
pub struct RecentBadSecrets {
    key: [u8; 32],
    names: Mutex<HashMap<String, VecDeque<[u8; 8]>>>,
}

/// Wrong secrets remembered per name.
pub const RECENT_BAD_SECRETS: usize = 5;
/// Names remembered; beyond it the memory starts over (repeats then count once more).
const MAX_NAMES: usize = 50_000;

impl Default for RecentBadSecrets {
    fn default() -> Self {
        RecentBadSecrets { key: rand::random(), names: Mutex::new(HashMap::new()) }
    }
}

impl RecentBadSecrets {
    fn tag(&self, name: &str, secret: &str) -> [u8; 8] {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.key).expect("HMAC takes any key length");
        for part in [name.as_bytes(), secret.as_bytes()] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        let full = mac.finalize().into_bytes();
        let mut tag = [0u8; 8];
        tag.copy_from_slice(&full[..8]);
        tag
    }

    /// Records a wrong `secret` for `name` (the lockout name: trimmed, lower-case); true when it
    /// is a repeat of one of the recent ones, which must not count again.
    pub fn repeat(&self, name: &str, secret: &str) -> bool {
        let name = authrelay_directory::protection::lockout_name(name);
        let tag = self.tag(&name, secret);
        let mut names = self.names.lock().unwrap_or_else(|e| e.into_inner());
        if names.len() >= MAX_NAMES && !names.contains_key(&name) {
            names.clear();
        }
        let recent = names.entry(name).or_default();
        if recent.contains(&tag) {
            return true;
        }
        if recent.len() >= RECENT_BAD_SECRETS {
            recent.pop_front();
        }
        recent.push_back(tag);
        false
    }
}

/// Authenticated sessions per mailbox: counted in memory on a single node, or as leases in
/// the shared store when several nodes serve the same mailboxes
/// (authrelay_directory::leases; README "Running more than one node").
#[derive(Default)]
pub struct MailboxSessions {
    counts: Mutex<HashMap<String, u64>>,
    shared: Option<SharedPlaces>,
}

/// The cluster's places: this node's name, the lease time and the leases it holds, which
/// [`MailboxSessions::spawn_heartbeat`] renews.
struct SharedPlaces {
    leases: Arc<dyn MailboxLeases>,
    node: String,
    ttl_secs: i64,
    held: Mutex<std::collections::HashSet<i64>>,
}

/// One authenticated session's place in its mailbox's count; freed when dropped.
pub struct MailboxSlot {
    owner: Arc<MailboxSessions>,
    address: String,
    /// The shared lease, or `None` for a place counted in memory.
    lease: Option<i64>,
}

impl std::fmt::Debug for MailboxSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailboxSlot").field("address", &self.address).field("lease", &self.lease).finish()
    }
}

impl Drop for MailboxSlot {
    fn drop(&mut self) {
        if let (Some(id), Some(shared)) = (self.lease, &self.owner.shared) {
            shared.held.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
            // Given back at once when a runtime is there; otherwise the lease lapses by itself.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let leases = shared.leases.clone();
                runtime.spawn(async move {
                    if let Err(e) = leases.release_session(id).await {
                        tracing::warn!(error = %e, "cannot give a mailbox session place back; it lapses by itself");
                    }
                });
            }
            return;
        }
        let mut counts = self.owner.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.address) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

impl MailboxSessions {
    /// Places shared through `leases` under this node's name `node`, each lasting `ttl_secs`
    /// unless renewed.
    pub fn shared(leases: Arc<dyn MailboxLeases>, node: String, ttl_secs: i64) -> Self {
        MailboxSessions {
            counts: Mutex::default(),
            shared: Some(SharedPlaces { leases, node, ttl_secs: ttl_secs.max(3), held: Mutex::default() }),
        }
    }

    /// A slot for one more authenticated session of `address`, unless it already holds `limit`
    /// (on every node, when shared). If the shared store cannot answer, this node's own count
    /// decides: the AUTH that asks has just read the same store, so this is a blip, and
    /// refusing every session for it would turn a blip into an outage.
    pub async fn acquire(self: &Arc<Self>, address: &str, limit: u64, now: i64) -> Option<MailboxSlot> {
        if let Some(shared) = &self.shared {
            match shared.leases.acquire_session(address, &shared.node, limit, now, shared.ttl_secs).await {
                Ok(Some(id)) => {
                    shared.held.lock().unwrap_or_else(|e| e.into_inner()).insert(id);
                    return Some(MailboxSlot { owner: self.clone(), address: address.to_string(), lease: Some(id) });
                }
                Ok(None) => return None,
                Err(e) => tracing::warn!(error = %e, "shared session places unavailable; counting on this node"),
            }
        }
        self.try_acquire(address, limit)
    }

    /// A place counted in this process's memory.
    pub fn try_acquire(self: &Arc<Self>, address: &str, limit: u64) -> Option<MailboxSlot> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(address.to_string()).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(MailboxSlot { owner: self.clone(), address: address.to_string(), lease: None })
    }

    pub fn count(&self, address: &str) -> u64 {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).get(address).copied().unwrap_or(0)
    }

    /// Renews this node's leases every third of the lease time until `shutdown`; does nothing
    /// for places counted in memory.
    pub fn spawn_heartbeat(
        self: &Arc<Self>,
        clock: Arc<dyn authrelay_core::Clock>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Option<tokio::task::JoinHandle<()>> {
        let ttl = self.shared.as_ref()?.ttl_secs;
        let me = self.clone();
        Some(tokio::spawn(async move {
            let every = std::time::Duration::from_millis(u64::try_from(ttl).unwrap_or(30) * 1000 / 3);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                let Some(shared) = &me.shared else { return };
                let ids: Vec<i64> = shared.held.lock().unwrap_or_else(|e| e.into_inner()).iter().copied().collect();
                if let Err(e) = shared.leases.renew_sessions(&ids, clock.now_secs(), shared.ttl_secs).await {
                    tracing::warn!(error = %e, held = ids.len(), "cannot renew mailbox session places");
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guard(f: impl FnOnce(&mut ProtectionConfig)) -> Arc<AddressGuard> {
        let mut c = ProtectionConfig::default();
        f(&mut c);
        AddressGuard::new(c)
    }

    #[test]
    fn per_address_connection_cap_frees_on_drop() {
        let g = guard(|c| c.max_connections_per_address = 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let p1 = g.admit(a).unwrap();
        let _p2 = g.admit(a).unwrap();
        assert_eq!(g.admit(a).err(), Some(ReplyId::TooManyConnectionsFromAddress));
        assert!(g.admit(b).is_ok(), "another address is not affected");
        drop(p1);
        assert!(g.admit(a).is_ok());
    }

    #[test]
    fn per_address_connection_rate() {
        let g = guard(|c| c.connection_rate_per_address = 3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            drop(g.admit(a).unwrap());
        }
        assert_eq!(g.admit(a).err(), Some(ReplyId::TooManyConnectionsFromAddress));
    }

    #[test]
    fn failures_slow_down_then_exhaust_the_budget() {
        let g = guard(|c| {
            c.address_failure_budget = 4;
            c.address_failure_delay_step = Duration::from_millis(100);
            c.address_failure_delay_max = Duration::from_millis(250);
        });
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let delays: Vec<u128> = (0..4).map(|_| g.record_failure(a).as_millis()).collect();
        assert_eq!(delays, [0, 100, 200, 250]);
        assert!(g.exhausted(a));
        assert_eq!(g.admit(a).err(), Some(ReplyId::AddressThrottled));
        assert!(!g.exhausted("2001:db8::2".parse().unwrap()));
    }

    #[test]
    fn recent_bad_secrets_count_once_and_only_the_last_few() {
        let r = RecentBadSecrets::default();
        assert!(!r.repeat("Owner@Contoso.com", "old-password"));
        assert!(r.repeat(" owner@contoso.com", "old-password"), "same name, same secret");
        assert!(!r.repeat("owner@contoso.com", "Old-password"), "another secret counts");
        assert!(!r.repeat("other@contoso.com", "old-password"), "another name counts");
        // Only the last five are remembered.
        for i in 0..5 {
            assert!(!r.repeat("owner@contoso.com", &format!("guess-{i}")));
        }
        assert!(!r.repeat("owner@contoso.com", "old-password"), "pushed out by five newer ones");
        // Nothing of the secret is kept: entries are 8-byte keyed tags.
        let names = r.names.lock().unwrap();
        assert!(names.values().all(|q| q.len() <= RECENT_BAD_SECRETS));
        assert_ne!(RecentBadSecrets::default().tag("a", "b"), RecentBadSecrets::default().tag("a", "b"));
    }

    #[test]
    fn mailbox_sessions_are_capped_and_freed() {
        let m = Arc::new(MailboxSessions::default());
        let slots: Vec<_> = (0..3).map(|_| m.try_acquire("a@contoso.com", 3).unwrap()).collect();
        assert!(m.try_acquire("a@contoso.com", 3).is_none());
        assert!(m.try_acquire("b@contoso.com", 3).is_some());
        drop(slots);
        assert_eq!(m.count("a@contoso.com"), 0);
        assert!(m.try_acquire("a@contoso.com", 3).is_some());
    }
}
