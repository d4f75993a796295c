//! Test harness: a real `authrelay serve` process on ephemeral loopback ports, with its own
//! data directory, driven through the real CLI.

#![allow(dead_code)]

pub mod haproxy;
pub mod http;
pub mod sink;
pub mod submission;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_authrelay");
pub const HOSTNAME: &str = "mx.authrelay.test";
pub const PASSWORD: &str = "Sup3r-Secret-Pass!";

pub struct TestServer {
    pub dir: tempfile::TempDir,
    child: Option<Child>,
    pub submission: SocketAddr,
    pub submissions: SocketAddr,
}

/// Extra lines for the `[limits]` table of the test config.
#[derive(Default, Clone)]
pub struct Options {
    pub limits: Vec<String>,
    /// Extra lines for the `[listen]` table (e.g. `trusted_proxies = […]`).
    pub listen: Vec<String>,
}

impl TestServer {
    pub fn start() -> TestServer {
        Self::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut limits = vec!["auth_failure_delay_ms = 0".to_string(), "shutdown_grace_secs = 10".to_string()];
        limits.extend(options.limits);
        let config = format!(
            "hostname = \"{HOSTNAME}\"\n[listen]\nsubmission = \"127.0.0.1:0\"\nsubmissions = \"127.0.0.1:0\"\n{}\n[limits]\n{}\n",
            options.listen.join("\n"),
            limits.join("\n")
        );
        std::fs::write(dir.path().join("authrelay.toml"), config).unwrap();
        let mut server = TestServer {
            dir,
            child: None,
            submission: "127.0.0.1:1".parse().unwrap(),
            submissions: "127.0.0.1:1".parse().unwrap(),
        };
        server.launch();
        server
    }

    /// [`TestServer::start_with`] plus more TOML tables after `[limits]` (e.g. `[delivery]`
    /// and `[[routes]]`).
    pub fn start_with_tables(options: Options, tables: &str) -> TestServer {
        let mut server = Self::configure_with_tables(options, tables);
        server.launch();
        server
    }

    /// [`TestServer::start_with_tables`] without starting the process: the test may prepare
    /// the data directory first (mount a small file system there, say), then call `launch`.
    pub fn configure_with_tables(options: Options, tables: &str) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut limits = vec!["auth_failure_delay_ms = 0".to_string(), "shutdown_grace_secs = 10".to_string()];
        limits.extend(options.limits);
        let config = format!(
            "hostname = \"{HOSTNAME}\"\n[listen]\nsubmission = \"127.0.0.1:0\"\nsubmissions = \"127.0.0.1:0\"\n{}\n[limits]\n{}\n{tables}\n",
            options.listen.join("\n"),
            limits.join("\n")
        );
        std::fs::write(dir.path().join("authrelay.toml"), config).unwrap();
        TestServer {
            dir,
            child: None,
            submission: "127.0.0.1:1".parse().unwrap(),
            submissions: "127.0.0.1:1".parse().unwrap(),
        }
    }

    /// Runs tests/support/device_client.py (Python's smtplib: STARTTLS, AUTH with `mechanism`,
    /// one message) from the loopback address `source` against `port`, trusting this
    /// server's certificate; returns (exit code, output). Exit 0 = queued, 3 = AUTH refused.
    pub fn device_client(&self, port: u16, user: &str, secret: &str, source: &str, mechanism: &str) -> (i32, String) {
        let script = self.dir.path().join("device_client.py");
        std::fs::write(&script, include_str!("../support/device_client.py")).unwrap();
        let out = Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .arg(self.data_dir().join("tls/cert.pem"))
            .arg(user)
            .arg(secret)
            .arg(source)
            .arg(mechanism)
            .output()
            .expect("python3 must be installed to run this test");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.code().unwrap_or(-1), text)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("authrelay.toml")
    }

    /// Starts the server process and waits until it has written its bound ports.
    pub fn launch(&mut self) {
        let listen = self.data_dir().join("listen.json");
        let _ = std::fs::remove_file(&listen);
        let log = std::fs::File::create(self.dir.path().join(format!("serve-{}.log", now_millis()))).unwrap();
        let child = Command::new(BIN)
            .arg("--data-dir")
            .arg(self.data_dir())
            .arg("--config")
            .arg(self.config_path())
            .arg("serve")
            // The admin center on an ephemeral port too, so servers in parallel never collide.
            .arg("--admin")
            .arg("127.0.0.1:0")
            .env("RUST_LOG", "info")
            // A message id missing from a catalogue panics instead of showing the raw id.
            .env("AUTHRELAY_I18N_STRICT", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start authrelay serve");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&listen) {
                let v: serde_json::Value = serde_json::from_str(&text).expect("listen.json");
                self.submission = v["submission"].as_str().unwrap().parse().unwrap();
                self.submissions = v["submissions"].as_str().unwrap().parse().unwrap();
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("authrelay serve exited early with {status}: {}", self.logs());
            }
            assert!(Instant::now() < deadline, "server did not start: {}", self.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The bound addresses of `[[listeners]]`, in the file's order, from `listen.json`.
    pub fn listeners(&self) -> Vec<SocketAddr> {
        let text = std::fs::read_to_string(self.data_dir().join("listen.json")).expect("listen.json");
        let v: serde_json::Value = serde_json::from_str(&text).expect("listen.json");
        v["listeners"]
            .as_array()
            .expect("listeners in listen.json")
            .iter()
            .map(|a| a.as_str().unwrap().parse().unwrap())
            .collect()
    }

    /// The admin center's bound address, from `listen.json`.
    pub fn admin(&self) -> SocketAddr {
        let text = std::fs::read_to_string(self.data_dir().join("listen.json")).expect("listen.json");
        let v: serde_json::Value = serde_json::from_str(&text).expect("listen.json");
        v["admin"].as_str().expect("admin listener in listen.json").parse().unwrap()
    }

    pub fn logs(&self) -> String {
        let mut out = String::new();
        if let Ok(entries) = std::fs::read_dir(self.dir.path()) {
            let mut paths: Vec<_> =
                entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "log")).collect();
            paths.sort();
            for p in paths {
                out.push_str(&std::fs::read_to_string(p).unwrap_or_default());
            }
        }
        out
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// SIGKILL: no chance to flush or clean up, as in a power cut of the process.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit status success.
    pub fn terminate(&mut self) -> bool {
        let child = self.child.as_mut().expect("running");
        unsafe { libc_kill(child.id() as i32, 15) };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status.success();
            }
            assert!(Instant::now() < deadline, "server did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM without waiting, so a test can watch its clients while the server stops;
    /// [`TestServer::wait_exit`] then waits for the exit ([`TestServer::terminate`] does both).
    pub fn sigterm(&self) {
        let pid = self.pid();
        assert_eq!(unsafe { libc_kill(pid as i32, 15) }, 0, "kill -TERM {pid}");
    }

    /// Waits (at most 20 s) for the process to exit after [`TestServer::sigterm`]; returns the
    /// exit status success.
    pub fn wait_exit(&mut self) -> bool {
        let child = self.child.as_mut().expect("running");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status.success();
            }
            assert!(Instant::now() < deadline, "server did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs `authrelay <args>` against this server's data directory.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.cli_with_stdin(args, None)
    }

    pub fn cli_with_stdin(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut cmd = Command::new(BIN);
        cmd.arg("--data-dir").arg(self.data_dir()).arg("--config").arg(self.config_path()).args(args);
        cmd.env("LANG", "en_US.UTF-8").env_remove("LC_ALL").env_remove("LC_MESSAGES");
        cmd.env("AUTHRELAY_I18N_STRICT", "1");
        cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("run authrelay");
        if let Some(input) = stdin {
            child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        }
        child.wait_with_output().unwrap()
    }

    /// Runs a CLI command that must succeed; returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(out.status.success(), "authrelay {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Organisation "Contoso" (contoso.com, fabrikam.com) and the user scanner@contoso.com with
    /// [`PASSWORD`]; every control at its default (security defaults on, SMTP AUTH off).
    pub fn seed_contoso(&self) {
        self.ok(&["org", "add", "Contoso", "--domain", "contoso.com", "--domain", "fabrikam.com"]);
        let out = self.cli_with_stdin(&["user", "add", "scanner@contoso.com", "--password-stdin"], Some(PASSWORD));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    /// The three seed fixes applied: the user can send.
    pub fn open_contoso(&self) {
        self.seed_contoso();
        self.ok(&["org", "set", "Contoso", "--security-defaults", "off"]);
        self.ok(&["user", "set", "scanner@contoso.com", "--smtp-auth", "enabled"]);
    }

    /// Message bytes of every queued message, by id.
    pub fn queued(&self) -> Vec<(String, Vec<u8>)> {
        let out = self.ok(&["queue", "list", "--json"]);
        let list: serde_json::Value = serde_json::from_str(&out).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .map(|m| {
                let id = m["id"].as_str().unwrap().to_string();
                let raw = self.cli(&["queue", "show", &id, "--raw"]);
                assert!(raw.status.success());
                (id, raw.stdout)
            })
            .collect()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

pub use authrelay_pgtest::port_for_a_child;

/// A loopback port whose connections are refused for as long as the returned socket lives: it
/// is bound but never listens, so no other test can take the port meanwhile (a port merely
/// found free can be taken by a parallel test's server, which then answers instead).
pub fn refused_port() -> (socket2::Socket, u16) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    let port = socket.local_addr().unwrap().as_socket().unwrap().port();
    (socket, port)
}

pub fn now_millis() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis()
}

/// A rustls client config that trusts the server's self-signed certificate file.
pub fn client_tls(cert_pem: &Path) -> std::sync::Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(cert_pem).unwrap();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    std::sync::Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// Runs a spawned helper process (a browser walk, a client script) to completion, killing it if
/// it outlives `limit`; returns its exit status, stdout and stderr.
pub fn wait_bounded(
    mut child: std::process::Child,
    limit: Duration,
    what: &str,
) -> (std::process::ExitStatus, String, String) {
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} took more than {} s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let output = child.wait_with_output().unwrap();
    (status, String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}
