//! `authrelay bench`: a load generator for SMTP submission servers on loopback.
//!
//! It drives any server (authrelay, Postfix, …) the way devices do: C connections, each opening
//! sessions (TCP, optional STARTTLS or implicit TLS, EHLO, AUTH PLAIN) and sending up to K
//! messages per session. A message counts as accepted only when the reply after its final dot
//! is 2xx; every other reply (and every connection or TLS failure) lands in a histogram keyed by
//! the stage and the reply code, so a run against a misconfigured server says why it failed.
//!
//! Latency of a message is measured from the moment the client starts working on it — including
//! connecting, TLS and AUTH when the message opens a session — to the reply after its final dot.
//! With `per_session = 1` (the printer pattern) that is what the device waits for.
//!
//! Only loopback servers are accepted ([`resolve_loopback`]): a load generator must not be
//! pointed at somebody else's server. For the same reason the server's certificate is not
//! checked: the traffic never leaves the machine.
//!
//! Everything is bounded: each reply has a timeout, and no message is started after the overall
//! time limit; messages never started are counted as failed ("not sent").

pub mod auth_flood;
mod client;
pub mod queue_scale;
mod stats;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use stats::{Latency, Report};

use client::{Failure, SessionSetup};
use stats::Stats;

/// How the client protects the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain SMTP; only useful against servers that allow AUTH without TLS (authrelay does not).
    None,
    /// EHLO, STARTTLS, EHLO again (port 587 style).
    StartTls,
    /// TLS from the first byte (port 465 style).
    Implicit,
}

impl std::str::FromStr for TlsMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(TlsMode::None),
            "starttls" => Ok(TlsMode::StartTls),
            "implicit" => Ok(TlsMode::Implicit),
            other => Err(format!("unknown TLS mode {other:?}; use none, starttls or implicit")),
        }
    }
}

/// One benchmark run.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: SocketAddr,
    pub tls: TlsMode,
    /// AUTH PLAIN credentials; no AUTH when `None`.
    pub credentials: Option<(String, String)>,
    /// Concurrent connections (workers).
    pub connections: usize,
    /// Messages in total, shared by all connections.
    pub messages: u64,
    /// Messages per session before QUIT and a fresh session; 0 = one session per connection.
    pub per_session: u64,
    /// Size of each message in bytes (headers included), before the final dot.
    pub size: usize,
    /// Send MAIL, RCPT and DATA in one write when the server offers PIPELINING (RFC 2920).
    pub pipelining: bool,
    pub mail_from: String,
    pub rcpt_to: String,
    /// No message is started after this much time; the rest count as failed ("not sent").
    pub time_limit: Duration,
    /// Longest wait for any one reply or connect.
    pub reply_timeout: Duration,
    /// Idle mode: open one authenticated session per connection, keep them all open this long,
    /// then QUIT. No messages are sent. For measuring a server's memory per idle session.
    pub hold: Option<Duration>,
}

impl Config {
    /// Defaults for everything but the server.
    pub fn new(server: SocketAddr) -> Self {
        Config {
            server,
            tls: TlsMode::StartTls,
            credentials: None,
            connections: 1,
            messages: 1000,
            per_session: 0,
            size: 1024,
            pipelining: false,
            mail_from: "bench@example.com".into(),
            rcpt_to: "sink@example.net".into(),
            time_limit: Duration::from_secs(300),
            reply_timeout: Duration::from_secs(30),
            hold: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The server is not on 127.0.0.0/8 or ::1.
    #[error("{0} is not a loopback address")]
    NotLoopback(String),
    /// The server name does not resolve.
    #[error("cannot resolve {0}")]
    Unresolvable(String),
    /// A count flag (named) that must be at least 1 was 0.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

/// Resolves `HOST:PORT` and insists that every address it names is loopback (127.0.0.0/8, ::1,
/// or ::ffff:127.x.y.z). A name that also resolves to a public address is refused as a whole.
pub fn resolve_loopback(server: &str) -> Result<SocketAddr, BenchError> {
    let addrs: Vec<SocketAddr> =
        server.to_socket_addrs().map_err(|_| BenchError::Unresolvable(server.to_string()))?.collect();
    let first = *addrs.first().ok_or_else(|| BenchError::Unresolvable(server.to_string()))?;
    if let Some(bad) = addrs.iter().find(|a| !is_loopback(a)) {
        return Err(BenchError::NotLoopback(bad.ip().to_string()));
    }
    Ok(first)
}

fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// Runs the benchmark to completion and returns the figures.
pub async fn run(config: Config) -> Result<Report, BenchError> {
    if !is_loopback(&config.server) {
        return Err(BenchError::NotLoopback(config.server.ip().to_string()));
    }
    if config.connections == 0 {
        return Err(BenchError::Zero("--connections"));
    }
    if config.hold.is_none() && config.messages == 0 {
        return Err(BenchError::Zero("--messages"));
    }
    let config = Arc::new(config);
    let setup = Arc::new(SessionSetup::new(&config));
    let message = Arc::new(client::build_message(&config));
    let stats = Arc::new(Mutex::new(Stats::default()));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + config.time_limit;

    // Idle mode ramps up: at most this many session setups at once, as thousands of devices
    // do not all connect in the same millisecond (and a listen backlog would drop them).
    let ramp = Arc::new(tokio::sync::Semaphore::new(HOLD_SETUPS_AT_ONCE));
    // ... and holds start together, once every session is open (or failed).
    let all_open = Arc::new(tokio::sync::Barrier::new(config.connections));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..config.connections {
        let (config, setup, message, stats, next) =
            (config.clone(), setup.clone(), message.clone(), stats.clone(), next.clone());
        let (ramp, all_open) = (ramp.clone(), all_open.clone());
        workers.spawn(async move {
            match config.hold {
                Some(hold) => hold_worker(&config, &setup, &stats, hold, (&ramp, &all_open)).await,
                None => worker(&config, &setup, &message, &stats, &next, deadline).await,
            }
        });
    }
    // Hard bound: workers stop claiming messages at the deadline; a wedged server gets at most a
    // few reply timeouts more before the remaining workers are aborted.
    let hard = config.time_limit + config.hold.unwrap_or_default() * 2 + config.reply_timeout * 8;
    let all_done = async { while workers.join_next().await.is_some() {} };
    if tokio::time::timeout(hard, all_done).await.is_err() {
        workers.abort_all();
    }
    let elapsed = started.elapsed();

    let mut stats = std::mem::take(&mut *stats.lock().expect("stats lock"));
    if config.hold.is_none() {
        let finished = stats.accepted + stats.failed;
        if finished < config.messages {
            stats.fail_many("not sent (time limit reached)", config.messages - finished);
        }
    }
    Ok(stats.into_report(elapsed))
}

/// One connection: claims messages until none are left or the time is up.
async fn worker(
    config: &Config,
    setup: &SessionSetup,
    message: &[u8],
    stats: &Mutex<Stats>,
    next: &AtomicU64,
    deadline: Instant,
) {
    let mut session: Option<client::Session> = None;
    let mut in_session = 0u64;
    loop {
        if Instant::now() >= deadline || next.fetch_add(1, Ordering::Relaxed) >= config.messages {
            break;
        }
        let begun = Instant::now();
        let mut live = match session.take() {
            Some(s) => s,
            None => match setup.open(config).await {
                Ok(s) => {
                    lock(stats).session_opened(s.resumed);
                    in_session = 0;
                    s
                }
                Err(failure) => {
                    lock(stats).fail(&failure.key());
                    // A refusing server must not turn the run into a tight reconnect loop.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        match live.send(config, message).await {
            Ok(()) => {
                lock(stats).accept(begun.elapsed());
                in_session += 1;
            }
            Err(failure) => {
                let broken = failure.is_fatal();
                lock(stats).fail(&failure.key());
                if broken {
                    continue; // the session is dropped; the next message opens a new one
                }
                in_session += 1;
            }
        }
        if config.per_session > 0 && in_session >= config.per_session {
            live.quit(config).await;
        } else {
            session = Some(live);
        }
    }
    if let Some(live) = session {
        live.quit(config).await;
    }
}

/// Idle mode: one authenticated session; once every connection has tried, held open, then QUIT.
async fn hold_worker(
    config: &Config,
    setup: &SessionSetup,
    stats: &Mutex<Stats>,
    hold: Duration,
    (ramp, all_open): (&tokio::sync::Semaphore, &tokio::sync::Barrier),
) {
    let opened = {
        let _turn = ramp.acquire().await;
        setup.open(config).await
    };
    all_open.wait().await;
    match opened {
        Ok(session) => {
            lock(stats).session_opened(session.resumed);
            tokio::time::sleep(hold).await;
            session.quit(config).await;
        }
        Err(failure) => lock(stats).session_failed(&failure.key()),
    }
}

/// Session setups in flight at once in idle mode.
const HOLD_SETUPS_AT_ONCE: usize = 128;

fn lock(stats: &Mutex<Stats>) -> std::sync::MutexGuard<'_, Stats> {
    stats.lock().unwrap_or_else(|e| e.into_inner())
}

impl Failure {
    fn key(&self) -> String {
        self.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_only() {
        assert!(resolve_loopback("127.0.0.1:25").is_ok());
        assert!(resolve_loopback("127.8.9.10:25").is_ok());
        assert!(resolve_loopback("[::1]:25").is_ok());
        assert!(resolve_loopback("[::ffff:127.0.0.1]:25").is_ok());
        assert!(matches!(resolve_loopback("192.0.2.1:25"), Err(BenchError::NotLoopback(ip)) if ip == "192.0.2.1"));
        assert!(matches!(resolve_loopback("[2001:db8::1]:25"), Err(BenchError::NotLoopback(_))));
        assert!(matches!(resolve_loopback("0.0.0.0:25"), Err(BenchError::NotLoopback(_))));
        assert!(matches!(resolve_loopback("no-port"), Err(BenchError::Unresolvable(_))));
    }

    #[tokio::test]
    async fn run_refuses_non_loopback_before_connecting() {
        let config = Config::new("198.51.100.7:587".parse().unwrap());
        assert!(matches!(run(config).await, Err(BenchError::NotLoopback(_))));
    }

    #[test]
    fn tls_modes_parse() {
        assert_eq!("none".parse::<TlsMode>().unwrap(), TlsMode::None);
        assert_eq!("starttls".parse::<TlsMode>().unwrap(), TlsMode::StartTls);
        assert_eq!("implicit".parse::<TlsMode>().unwrap(), TlsMode::Implicit);
        assert!("tls".parse::<TlsMode>().is_err());
    }
}
