//! Counting during a run and the figures after it.

use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub accepted: u64,
    pub failed: u64,
    sessions: u64,
    session_failures: u64,
    resumed: u64,
    /// Latency of every accepted message, in microseconds.
    latencies: Vec<u64>,
    replies: BTreeMap<String, u64>,
}

impl Stats {
    pub fn accept(&mut self, latency: Duration) {
        self.accepted += 1;
        self.latencies.push(latency.as_micros().min(u64::MAX as u128) as u64);
    }

    pub fn fail(&mut self, key: &str) {
        self.fail_many(key, 1);
    }

    pub fn fail_many(&mut self, key: &str, n: u64) {
        self.failed += n;
        *self.replies.entry(key.to_string()).or_default() += n;
    }

    pub fn session_opened(&mut self, resumed: bool) {
        self.sessions += 1;
        self.resumed += u64::from(resumed);
    }

    /// Idle mode: a session that could not be opened (no message is involved).
    pub fn session_failed(&mut self, key: &str) {
        self.session_failures += 1;
        *self.replies.entry(key.to_string()).or_default() += 1;
    }

    pub fn into_report(mut self, elapsed: Duration) -> Report {
        self.latencies.sort_unstable();
        let pick = |q: f64| -> Duration {
            if self.latencies.is_empty() {
                return Duration::ZERO;
            }
            // Nearest-rank percentile.
            let rank = ((q * self.latencies.len() as f64).ceil() as usize).clamp(1, self.latencies.len());
            Duration::from_micros(self.latencies[rank - 1])
        };
        let latency = Latency { p50: pick(0.50), p90: pick(0.90), p99: pick(0.99), max: pick(1.0) };
        Report {
            accepted: self.accepted,
            failed: self.failed,
            sessions: self.sessions,
            session_failures: self.session_failures,
            resumed_tls: self.resumed,
            elapsed,
            latency,
            replies: self.replies,
        }
    }
}

/// Latency percentiles of accepted messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latency {
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Messages answered 2xx after the final dot.
    pub accepted: u64,
    /// Every other message, including those never sent.
    pub failed: u64,
    /// Sessions opened successfully (through AUTH when credentials were given).
    pub sessions: u64,
    /// Idle mode only: sessions that could not be opened.
    pub session_failures: u64,
    /// Sessions whose TLS handshake resumed an earlier session.
    pub resumed_tls: u64,
    pub elapsed: Duration,
    pub latency: Latency,
    /// Every reply or error other than an accepted message, keyed by stage and code, with counts.
    pub replies: BTreeMap<String, u64>,
}

impl Report {
    pub fn messages_per_sec(&self) -> f64 {
        per_sec(self.accepted, self.elapsed)
    }

    pub fn sessions_per_sec(&self) -> f64 {
        per_sec(self.sessions, self.elapsed)
    }

    /// The contract line scripts parse: `N accepted, M failed, X msg/s`.
    pub fn summary_line(&self) -> String {
        format!("{} accepted, {} failed, {:.1} msg/s", self.accepted, self.failed, self.messages_per_sec())
    }
}

fn per_sec(n: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_summary() {
        let mut stats = Stats::default();
        for ms in 1..=100 {
            stats.accept(Duration::from_millis(ms));
        }
        stats.fail("message 451 4.3.0");
        stats.fail("message 451 4.3.0");
        stats.fail_many("not sent (time limit reached)", 3);
        let report = stats.into_report(Duration::from_secs(2));
        assert_eq!(report.latency.p50, Duration::from_millis(50));
        assert_eq!(report.latency.p90, Duration::from_millis(90));
        assert_eq!(report.latency.p99, Duration::from_millis(99));
        assert_eq!(report.latency.max, Duration::from_millis(100));
        assert_eq!(report.replies["message 451 4.3.0"], 2);
        assert_eq!(report.summary_line(), "100 accepted, 5 failed, 50.0 msg/s");
    }

    #[test]
    fn empty_run_has_zero_figures() {
        let report = Stats::default().into_report(Duration::ZERO);
        assert_eq!(report.latency, Latency::default());
        assert_eq!(report.summary_line(), "0 accepted, 0 failed, 0.0 msg/s");
    }
}
