//! `authrelay bench auth-flood`: many AUTH attempts at once from several loopback addresses,
//! each with a wrong password for a different (unknown) user, while a real client keeps signing
//! in from another address. It reports how every attempt was answered, the real client's
//! sign-ins, and the server's resident memory (sampled during the run, and its peak).
//!
//! Distinct user names keep each attempt on the full path (no lockout short-cut), so every one
//! of them asks for an argon2id verification: the worst case for the server's memory.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;

use crate::client::SessionSetup;
use crate::queue_scale::proc_status_kib_of;
use crate::{is_loopback, BenchError, Config, TlsMode};

/// One flood run.
#[derive(Debug, Clone)]
pub struct FloodConfig {
    pub server: SocketAddr,
    pub tls: TlsMode,
    /// AUTH attempts, all started at once.
    pub attempts: usize,
    /// Source addresses 127.0.0.101, .102, …: at most 100.
    pub sources: u8,
    /// The domain of the invented user names (`flood-N@domain`).
    pub domain: String,
    /// A real mailbox and its password; it signs in from 127.0.0.200 every half second.
    pub real: Option<(String, String)>,
    /// The server's process id, for its memory; none = memory not measured.
    pub pid: Option<u32>,
    pub time_limit: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct FloodReport {
    pub attempts: usize,
    /// "auth: 535 5.7.139", "connect: connection refused", … with counts.
    pub replies: BTreeMap<String, u64>,
    pub elapsed: Duration,
    /// The server's resident memory before the flood, the most seen while it ran, and its
    /// peak (VmHWM) afterwards, in KiB.
    pub rss_before_kib: u64,
    pub rss_max_sampled_kib: u64,
    pub rss_peak_kib: u64,
    /// The real client's sign-in latencies (accepted ones) and its other outcomes.
    pub real_signed_in: Vec<Duration>,
    pub real_refused: BTreeMap<String, u64>,
}

/// The real client's source address.
pub const REAL_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 200);

fn plain_line(user: &str, password: &str) -> Vec<u8> {
    let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
    format!("AUTH PLAIN {plain}\r\n").into_bytes()
}

pub async fn run(config: FloodConfig) -> Result<FloodReport, BenchError> {
    if !is_loopback(&config.server) {
        return Err(BenchError::NotLoopback(config.server.ip().to_string()));
    }
    if config.attempts == 0 {
        return Err(BenchError::Zero("--attempts"));
    }
    if config.sources == 0 || config.sources > 100 {
        return Err(BenchError::Zero("--sources (1 to 100)"));
    }
    let mut client = Config::new(config.server);
    client.tls = config.tls;
    client.reply_timeout = config.time_limit;
    let setup = Arc::new(SessionSetup::new(&client));
    let client = Arc::new(client);
    let pid = config.pid.map(|p| p.to_string());
    let rss = |field: &str| pid.as_deref().map_or(0, |p| proc_status_kib_of(p, field));
    let mut report = FloodReport { attempts: config.attempts, rss_before_kib: rss("VmRSS:"), ..Default::default() };

    let done = Arc::new(AtomicBool::new(false));
    let max_rss = Arc::new(AtomicU64::new(report.rss_before_kib));
    let sampler = pid.clone().map(|pid| {
        let (done, max_rss) = (done.clone(), max_rss.clone());
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                max_rss.fetch_max(proc_status_kib_of(&pid, "VmRSS:"), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    });

    let started = Instant::now();
    let replies = Arc::new(Mutex::new(BTreeMap::<String, u64>::new()));
    let mut tasks = Vec::with_capacity(config.attempts);
    for i in 0..config.attempts {
        let (setup, client, replies) = (setup.clone(), client.clone(), replies.clone());
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 101 + (i % usize::from(config.sources)) as u8));
        let line = plain_line(&format!("flood-{i}@{}", config.domain), &format!("Wrong-{i}-{}", i * 7919));
        tasks.push(tokio::spawn(async move {
            let key = match setup.auth_attempt(&client, source, &line).await {
                Ok((code, enhanced)) => format!("auth: {code} {enhanced}").trim_end().to_string(),
                Err(f) => f.to_string(),
            };
            *replies.lock().unwrap_or_else(|e| e.into_inner()).entry(key).or_default() += 1;
        }));
    }

    // Meanwhile a real device signs in every half second.
    let real = config.real.clone().map(|(user, password)| {
        let (setup, client, done) = (setup.clone(), client.clone(), done.clone());
        let line = plain_line(&user, &password);
        tokio::spawn(async move {
            let mut signed_in = vec![];
            let mut refused = BTreeMap::<String, u64>::new();
            while !done.load(Ordering::Relaxed) {
                let at = Instant::now();
                match setup.auth_attempt(&client, IpAddr::V4(REAL_SOURCE), &line).await {
                    Ok((235, _)) => signed_in.push(at.elapsed()),
                    Ok((code, enhanced)) => *refused.entry(format!("auth: {code} {enhanced}")).or_default() += 1,
                    Err(f) => *refused.entry(f.to_string()).or_default() += 1,
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            (signed_in, refused)
        })
    });

    let deadline = tokio::time::Instant::now() + config.time_limit;
    for t in tasks {
        if tokio::time::timeout_at(deadline, t).await.is_err() {
            *replies.lock().unwrap_or_else(|e| e.into_inner()).entry("not answered in time".into()).or_default() += 1;
        }
    }
    report.elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    if let Some(real) = real {
        if let Ok((signed_in, refused)) = real.await {
            report.real_signed_in = signed_in;
            report.real_refused = refused;
        }
    }
    if let Some(s) = sampler {
        let _ = s.await;
    }
    report.replies = std::mem::take(&mut *replies.lock().unwrap_or_else(|e| e.into_inner()));
    report.rss_max_sampled_kib = max_rss.load(Ordering::Relaxed);
    report.rss_peak_kib = rss("VmHWM:");
    Ok(report)
}
