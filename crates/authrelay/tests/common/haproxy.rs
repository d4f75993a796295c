//! HAProxy (Debian's `haproxy`, installed by scripts/test) in TCP mode in front of one or more
//! real servers, sending a PROXY v2 header on every connection and spreading connections
//! round-robin over the backends.

use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Haproxy {
    child: Child,
    pub address: SocketAddr,
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts HAProxy on a free loopback port forwarding to `backends`; its config is written into
/// `dir`.
pub fn start(dir: &std::path::Path, backends: &[SocketAddr]) -> Haproxy {
    let front = super::port_for_a_child();
    let servers: String =
        backends.iter().enumerate().map(|(i, b)| format!("  server node{} {b} send-proxy-v2\n", i + 1)).collect();
    let config = format!(
        "global\n  maxconn 400\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
         frontend smtp\n  bind 127.0.0.1:{front}\n  default_backend relay\n\
         backend relay\n  balance roundrobin\n{servers}"
    );
    let path = dir.join(format!("haproxy-{front}.cfg"));
    std::fs::write(&path, config).unwrap();
    let bin = ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("haproxy is not installed: apt-get install haproxy (scripts/test does)");
    let child = Command::new(bin)
        .arg("-db")
        .arg("-f")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start haproxy");
    let address: SocketAddr = format!("127.0.0.1:{front}").parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
        assert!(Instant::now() < deadline, "haproxy did not start listening on {address}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Haproxy { child, address }
}
