//! Queue scale: fill a spool with many messages through the real accept path, and measure what
//! a restart costs with them waiting (open, then the full scan the server does at start).
//!
//! Recovery should be measured in a fresh process, so its resident memory is the spool's and
//! not left over from the fill: `authrelay bench queue-fill` and `authrelay bench
//! queue-recover` are separate commands.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use authrelay_spool::{Envelope, Spool, SpoolError};

/// What a fill did.
#[derive(Debug, Clone, Copy)]
pub struct Filled {
    pub messages: u64,
    pub elapsed: Duration,
}

/// Accepts `count` messages of `size` bytes into the spool at `root`, `concurrency` at a time,
/// each fully durable (the same path a session takes before its 250).
pub async fn fill(root: &Path, count: u64, size: usize, concurrency: usize) -> Result<Filled, SpoolError> {
    let spool = Spool::open(root)?;
    let body = Arc::new(message(size));
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (spool, body, next) = (spool.clone(), body.clone(), next.clone());
        tasks.spawn(async move {
            let envelope = Envelope {
                mail_from: "bench@example.com".into(),
                rcpt_to: vec!["sink@example.net".into()],
                auth_user: "bench@example.com".into(),
                client_ip: "127.0.0.1".into(),
                received_at: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64),
                smtputf8: false,
                body_8bit: false,
                connector: None,
            };
            while next.fetch_add(1, Ordering::Relaxed) < count {
                spool.accept(&envelope, &body).await?;
            }
            Ok::<(), SpoolError>(())
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.map_err(|e| SpoolError::Io(std::io::Error::other(e.to_string())))??;
    }
    Ok(Filled { messages: count, elapsed: started.elapsed() })
}

/// What a restart costs.
#[derive(Debug, Clone, Copy)]
pub struct Recovered {
    /// Messages found by the scan.
    pub messages: usize,
    /// `Spool::open`: cleaning `incoming/`, replaying the journal, the directory fsyncs.
    pub open: Duration,
    /// `Spool::visit`: reading and checking every queued file's header, keeping what the
    /// queue manager keeps per message (its id and when it is due).
    pub scan: Duration,
    /// Resident memory after the scan, with that schedule still held (KiB; 0 if unknown).
    pub rss_kib: u64,
    /// Peak resident memory of the process (KiB; 0 if unknown).
    pub peak_rss_kib: u64,
}

/// Opens the spool at `root` and scans it, as `authrelay serve` does on start.
pub fn recover(root: &Path) -> Result<Recovered, SpoolError> {
    let started = Instant::now();
    let spool = Spool::open(root)?;
    let open = started.elapsed();
    let started = Instant::now();
    let mut schedule = std::collections::HashMap::new();
    spool.visit(|m| {
        schedule.insert(m.id, m.queued_at);
    })?;
    let scan = started.elapsed();
    let (rss_kib, peak_rss_kib) = (proc_status_kib("VmRSS:"), proc_status_kib("VmHWM:"));
    Ok(Recovered { messages: schedule.len(), open, scan, rss_kib, peak_rss_kib })
}

/// A field of /proc/self/status in KiB (Linux); 0 elsewhere.
pub fn proc_status_kib(field: &str) -> u64 {
    proc_status_kib_of("self", field)
}

/// A field of /proc/<pid>/status in KiB (Linux); 0 elsewhere.
pub fn proc_status_kib_of(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l[field.len()..].split_whitespace().next().and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn message(size: usize) -> Vec<u8> {
    let mut m = b"From: <bench@example.com>\r\nTo: <sink@example.net>\r\nSubject: queued\r\n\r\n".to_vec();
    while m.len() + 2 < size {
        let room = (size - m.len() - 2).min(76);
        m.extend(std::iter::repeat_n(b'x', room));
        m.extend_from_slice(b"\r\n");
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fill_then_recover_finds_every_message() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("spool");
        let filled = fill(&root, 40, 1024, 8).await.unwrap();
        assert_eq!(filled.messages, 40);
        // A leftover from a crash mid-write is not a queued message and is cleaned up.
        std::fs::write(root.join("incoming").join("00000000000000000001"), b"torn").unwrap();
        let recovered = recover(&root).unwrap();
        assert_eq!(recovered.messages, 40);
        assert_eq!(std::fs::read_dir(root.join("incoming")).unwrap().count(), 0);
        assert!(recovered.rss_kib > 0);
    }
}
