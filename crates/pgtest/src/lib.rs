//! A real PostgreSQL server for tests: Debian's `postgresql` binaries, a cluster made with
//! `initdb` in a temporary directory, listening on 127.0.0.1 only on a free port, run as the
//! unprivileged `postgres` user when the tests run as root (PostgreSQL refuses root). Stopped
//! and removed when dropped. `scripts/test` installs the package; a missing installation is a
//! test failure that names the package, never a silent skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// One running (or stopped) test cluster.
pub struct TestPostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    running: bool,
}

static DATABASES: AtomicU32 = AtomicU32::new(0);

fn bin_dir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort();
    found.pop().expect(
        "PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb): \
         run ./scripts/test, which installs Debian's `postgresql` package",
    )
}

fn running_as_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0").unwrap_or(false)
}

/// A command run as the `postgres` user when we are root.
fn as_server_user(program: &Path) -> Command {
    if running_as_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// A loopback port for a program a test starts (PostgreSQL, Pebble, HAProxy, dnsmasq), which binds it
/// itself. It is drawn at random from below the kernel's ephemeral range, so no `bind(0)`
/// anywhere (our own servers' listeners) can take it between this check and the child's bind;
/// only another test's draw could, one chance in thousands.
pub fn port_for_a_child() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let ephemeral_low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|n| n.parse::<u16>().ok()))
        .unwrap_or(32768);
    let (low, high) = (10_000u16, ephemeral_low.max(10_100));
    for _ in 0..200 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let port = low + (h.finish() % u64::from(high - low)) as u16;
        let free = std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
            && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok();
        if free {
            return port;
        }
    }
    panic!("no free loopback port below {high} after 200 draws");
}

impl TestPostgres {
    /// Makes a fresh cluster and starts it (a few seconds).
    pub fn start() -> TestPostgres {
        let bin = bin_dir();
        let dir = tempfile::Builder::new().prefix("authrelay-pg").tempdir().expect("temporary directory");
        if running_as_root() {
            let status = Command::new("chown").arg("postgres:postgres").arg(dir.path()).status().expect("chown");
            assert!(status.success(), "cannot give {} to the postgres user", dir.path().display());
        }
        let data = dir.path().join("data");
        let out = as_server_user(&bin.join("initdb"))
            .args(["--auth=trust", "--username=authrelay", "--encoding=UTF8", "--locale=C.UTF-8", "-D"])
            .arg(&data)
            .stdin(Stdio::null())
            .output()
            .expect("initdb runs");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let mut pg = TestPostgres { bin, dir, port: port_for_a_child(), running: false };
        pg.start_server();
        pg
    }

    fn start_server(&mut self) {
        let data = self.dir.path().join("data");
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c max_connections=200 \
             -c fsync=on -c synchronous_commit=on",
            self.port,
            self.dir.path().display()
        );
        let out = as_server_user(&self.bin.join("pg_ctl"))
            .arg("start")
            .arg("-w")
            .args(["-t", "30", "-D"])
            .arg(&data)
            .arg("-l")
            .arg(self.log_path())
            .args(["-o", &options])
            .stdin(Stdio::null())
            .output()
            .expect("pg_ctl runs");
        assert!(out.status.success(), "the test PostgreSQL did not start: {}", self.log());
        self.running = true;
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// The server's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for the cluster's `postgres` database.
    pub fn admin_url(&self) -> String {
        format!("postgres://authrelay@127.0.0.1:{}/postgres", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    pub fn new_database(&self) -> String {
        let name = format!("t{}_{}", std::process::id(), DATABASES.fetch_add(1, Ordering::Relaxed));
        let status = Command::new(self.bin.join("createdb"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "authrelay", &name])
            .status()
            .expect("createdb runs");
        assert!(status.success(), "createdb {name} failed");
        format!("postgres://authrelay@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs one SQL statement with psql and returns its unaligned output.
    pub fn psql(&self, url: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args([url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql])
            .output()
            .expect("psql runs");
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Stops the server at once (fast shutdown: open connections are cut), as an outage.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let _ = as_server_user(&self.bin.join("pg_ctl"))
            .args(["stop", "-w", "-m", "fast", "-t", "30", "-D"])
            .arg(self.dir.path().join("data"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status();
        self.running = false;
    }

    /// Starts the stopped server again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        self.start_server();
    }
}

impl Drop for TestPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
