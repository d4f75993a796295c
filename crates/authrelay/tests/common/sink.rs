//! An aiosmtpd far side for delivery tests (tests/support/smtp_sink.py), started on a loopback
//! port; what it accepted is read back from its directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;

const SUPPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support");

/// The path of a script in tests/support.
pub fn support(name: &str) -> String {
    format!("{SUPPORT}/{name}")
}

/// Polls `f` every 100 ms until it holds or `secs` pass; whether it held.
pub fn wait_until(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if f() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// An aiosmtpd far side (tests/support/smtp_sink.py).
pub struct Sink {
    child: Child,
    pub dir: PathBuf,
    pub port: u16,
}

impl Sink {
    pub fn start(work: &Path, name: &str, args: &[&str]) -> Sink {
        let dir = work.join(name);
        let port_file = work.join(format!("{name}.port"));
        let child = Command::new("python3")
            .arg(support("smtp_sink.py"))
            .arg("--dir")
            .arg(&dir)
            .arg("--port-file")
            .arg(&port_file)
            .args(args)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(work.join(format!("{name}.log"))).unwrap())
            .spawn()
            .expect("python3 with aiosmtpd (pip install aiosmtpd) must be installed");
        let mut sink = Sink { child, dir, port: 0 };
        let deadline = Instant::now() + Duration::from_secs(20);
        while sink.port == 0 {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                sink.port = text.trim().parse().unwrap();
                break;
            }
            if let Some(status) = sink.child.try_wait().unwrap() {
                panic!(
                    "smtp sink exited with {status}: {}",
                    std::fs::read_to_string(work.join(format!("{name}.log"))).unwrap_or_default()
                );
            }
            assert!(Instant::now() < deadline, "smtp sink did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        sink
    }

    /// Messages accepted so far, in order.
    pub fn messages(&self) -> Vec<serde_json::Value> {
        let mut out = vec![];
        for n in 1.. {
            match std::fs::read_to_string(self.dir.join(format!("{n}.json"))) {
                Ok(text) => out.push(serde_json::from_str(&text).unwrap()),
                Err(_) => break,
            }
        }
        out
    }

    pub fn wait_for(&self, count: usize, secs: u64) -> Vec<serde_json::Value> {
        assert!(wait_until(secs, || self.messages().len() >= count), "sink got {} of {count}", self.messages().len());
        self.messages()
    }

    /// DATA commands the sink has seen (accepted or not).
    pub fn data_attempts(&self) -> usize {
        self.lines("attempts")
    }

    /// Connections that carried a MAIL command.
    pub fn connections(&self) -> usize {
        self.lines("connections")
    }

    /// MAIL commands refused with 421 (mode 421-reused).
    pub fn refused(&self) -> usize {
        self.lines("refused")
    }

    pub fn lines(&self, file: &str) -> usize {
        std::fs::read_to_string(self.dir.join(file)).map(|t| t.lines().count()).unwrap_or(0)
    }

    /// Subjects of the accepted messages, in order.
    pub fn subjects(&self) -> Vec<String> {
        self.messages()
            .iter()
            .map(|m| {
                let text = String::from_utf8(bytes_of(m)).unwrap();
                text.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap().to_string()
            })
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn bytes_of(record: &serde_json::Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(record["data"].as_str().unwrap()).unwrap()
}
