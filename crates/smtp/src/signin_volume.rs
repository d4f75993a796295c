//! How much the sign-in log may grow: rows for refusals that carry no credential (AUTH before
//! TLS, an unknown mechanism) are rate-limited per client address, and rows older than the
//! retention are pruned by a background task, never on the AUTH path.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authrelay_directory::Directory;
use tokio_util::sync::CancellationToken;

/// Rows per address a burst may write before the rate applies.
pub const EARLY_ROWS_BURST: u32 = 10;
/// Then one row per this interval per address.
pub const EARLY_ROWS_EVERY: Duration = Duration::from_secs(6);
/// Beyond this many tracked addresses the table starts over rather than grow (an attacker with
/// many addresses then gets a fresh burst each; still bounded by the connection limits).
const MAX_ADDRESSES: usize = 10_000;

/// A token bucket per client address for rows of credential-less refusals.
pub struct EarlyRows {
    burst: u32,
    every: Duration,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl Default for EarlyRows {
    fn default() -> Self {
        Self::new(EARLY_ROWS_BURST, EARLY_ROWS_EVERY)
    }
}

impl EarlyRows {
    pub fn new(burst: u32, every: Duration) -> Self {
        EarlyRows { burst: burst.max(1), every, buckets: Mutex::new(HashMap::new()) }
    }

    /// Whether a row for `ip` may be written now (takes a token when it may).
    pub fn allow(&self, ip: IpAddr) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_ADDRESSES && !buckets.contains_key(&ip) {
            buckets.clear();
        }
        let burst = f64::from(self.burst);
        let (tokens, at) = buckets.entry(ip).or_insert((burst, now));
        let refill = now.duration_since(*at).as_secs_f64() / self.every.as_secs_f64().max(1e-3);
        *tokens = (*tokens + refill).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Default days a sign-in row is kept (Entra keeps its sign-in logs 30 days).
pub const DEFAULT_RETENTION_DAYS: u64 = 30;
/// How often the pruner runs.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Rows per delete statement.
const PRUNE_BATCH: u32 = 5_000;

/// Prunes rows older than `retention` now and then every hour until `shutdown`.
pub fn spawn_retention(
    directory: Arc<dyn Directory>,
    retention: Duration,
    clock: Arc<dyn authrelay_core::Clock>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let before = clock.now_secs() - i64::try_from(retention.as_secs()).unwrap_or(i64::MAX / 2);
            match directory.prune_signins(before, PRUNE_BATCH).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(rows = n, "pruned sign-in log rows past their retention"),
                Err(e) => tracing::error!(error = %e, "cannot prune the sign-in log"),
            }
            tokio::select! {
                _ = tokio::time::sleep(PRUNE_EVERY) => {}
                _ = shutdown.cancelled() => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate_per_address() {
        let rows = EarlyRows::new(3, Duration::from_millis(200));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first: Vec<bool> = (0..5).map(|_| rows.allow(a)).collect();
        assert_eq!(first, [true, true, true, false, false]);
        assert!(rows.allow(b), "another address has its own bucket");
        std::thread::sleep(Duration::from_millis(250));
        assert!(rows.allow(a));
        assert!(!rows.allow(a));
    }
}
