//! A full disk (issue 12): with the data directory on a small file system (a tmpfs this test
//! mounts; it needs root, and says so and skips where mounting is impossible), a full disk
//! answers `452 4.3.1`, nothing refused is kept and nothing acknowledged is lost, and the server
//! accepts mail again by itself once space returns: no restart, no operator. Prints its figures
//! (README "Security").

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Options, TestServer, PASSWORD};

const USER: &str = "scanner@contoso.com";
const QUEUED: &str = "250 2.0.0 OK queued as ";
const FULL: &str = "452 4.3.1 Insufficient system storage; nothing was kept, please try again later";
const MIB: usize = 1 << 20;

struct Client(BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>);

impl Client {
    fn login(addr: SocketAddr, tls: &Arc<rustls::ClientConfig>) -> Client {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let session = rustls::ClientConnection::new(tls.clone(), "localhost".try_into().unwrap()).unwrap();
        let mut c = Client(BufReader::new(rustls::StreamOwned::new(session, tcp)));
        c.expect("220 ");
        c.cmd("EHLO full.contoso.com", "250 ");
        let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0{PASSWORD}"));
        c.cmd(&format!("AUTH PLAIN {plain}"), "235 ");
        c
    }

    fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            assert!(self.0.read_line(&mut line).unwrap() > 0, "connection closed");
            if line.as_bytes().get(3) != Some(&b'-') {
                return line.trim_end().to_string();
            }
        }
    }

    fn expect(&mut self, prefix: &str) -> String {
        let r = self.reply();
        assert!(r.starts_with(prefix), "expected {prefix:?}, got {r:?}");
        r
    }

    fn cmd(&mut self, line: &str, prefix: &str) -> String {
        let s = self.0.get_mut();
        s.write_all(format!("{line}\r\n").as_bytes()).unwrap();
        s.flush().unwrap();
        self.expect(prefix)
    }

    /// One message of about `size` bytes; the final reply.
    fn send(&mut self, n: usize, size: usize) -> String {
        self.cmd(&format!("MAIL FROM:<{USER}>"), "250 ");
        self.cmd("RCPT TO:<frontdesk@example.net>", "250 ");
        self.cmd("DATA", "354 ");
        let mut m = format!("From: {USER}\r\nSubject: full {n}\r\n\r\n").into_bytes();
        let line = format!("{:076}\r\n", n);
        while m.len() < size {
            m.extend_from_slice(line.as_bytes());
        }
        m.extend_from_slice(b".\r\n");
        let s = self.0.get_mut();
        s.write_all(&m).unwrap();
        s.flush().unwrap();
        self.reply()
    }
}

/// Unmounts (lazily: the server may still hold files) when the test ends, however it ends.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn available(path: &Path) -> u64 {
    let out = Command::new("df").args(["-B1", "--output=avail"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&out.stdout).lines().nth(1).unwrap().trim().parse().unwrap()
}

fn queued_ids(server: &TestServer) -> Vec<String> {
    let out = server.ok(&["queue", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    let mut ids: Vec<String> = list.as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect();
    ids.sort();
    ids
}

fn assert_full(server: &TestServer, reply: &str) {
    if reply != FULL {
        let logs = server.logs();
        let tail: Vec<&str> = logs.lines().rev().take(8).collect();
        panic!("expected {FULL:?}, got {reply:?}; server log (last lines first):\n{tail:#?}");
    }
}

#[test]
fn a_full_disk_answers_452_keeps_what_it_acknowledged_and_recovers_by_itself() {
    let mut server = TestServer::configure_with_tables(Options::default(), "");
    let data = server.data_dir();
    std::fs::create_dir_all(&data).unwrap();
    let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", "size=300m,mode=0700", "tmpfs"]).arg(&data).status();
    if !mounted.is_ok_and(|s| s.success()) {
        eprintln!("SKIPPED: cannot mount a small tmpfs at {} (needs root / CAP_SYS_ADMIN)", data.display());
        return;
    }
    let _mount = Mount(data.clone());
    server.launch();
    server.open_contoso();
    let tls = common::client_tls(&data.join("tls/cert.pem"));

    // Leave 2 MiB free; the journal's first segment is already allocated.
    let filler = data.join("filler");
    let leave = 2 * MIB as u64;
    let fill = available(&data).saturating_sub(leave);
    let status = Command::new("fallocate").args(["-l", &fill.to_string()]).arg(&filler).status().unwrap();
    assert!(status.success());

    let mut client = Client::login(server.submissions, &tls);
    let started = Instant::now();
    let mut acknowledged = Vec::new();
    let mut first_full = None;
    for n in 0..300 {
        let reply = client.send(n, MIB);
        if let Some(id) = reply.strip_prefix(QUEUED) {
            acknowledged.push(id.trim().to_string());
            continue;
        }
        assert_full(&server, &reply);
        first_full = Some(started.elapsed());
        break;
    }
    let first_full = first_full.expect("the disk never filled up");
    let filled = acknowledged.len();
    // Still full: still 452, and the session goes on.
    for n in 0..3 {
        assert_full(&server, &client.send(1000 + n, MIB));
    }
    client.cmd("NOOP", "250 ");

    // Space returns: the next attempts succeed without a restart.
    std::fs::remove_file(&filler).unwrap();
    let freed = Instant::now();
    let mut recovered = None;
    for n in 0..300 {
        let reply = client.send(2000 + n, MIB);
        if let Some(id) = reply.strip_prefix(QUEUED) {
            acknowledged.push(id.trim().to_string());
            recovered = Some(freed.elapsed());
            break;
        }
        assert_full(&server, &reply);
        assert!(freed.elapsed() < Duration::from_secs(60), "no recovery within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let recovered = recovered.expect("never recovered");
    for n in 0..3 {
        let reply = client.send(3000 + n, MIB);
        acknowledged.push(reply.strip_prefix(QUEUED).unwrap_or_else(|| panic!("{reply}")).trim().to_string());
    }
    client.cmd("QUIT", "221 ");

    // Exactly the acknowledged messages are queued, before and after a restart: nothing lost,
    // nothing refused delivered behind the client's back.
    acknowledged.sort();
    assert_eq!(queued_ids(&server), acknowledged);
    assert!(server.terminate(), "clean stop");
    server.launch();
    assert_eq!(queued_ids(&server), acknowledged);
    let raw = server.cli(&["queue", "show", &acknowledged[0], "--raw"]);
    assert!(raw.status.success() && raw.stdout.len() > MIB);

    println!(
        "disk full: tmpfs 300 MiB, 2 MiB left free, 1 MiB messages: {filled} acknowledged ({filled} MiB) before the first \
         452 4.3.1 after {:.1} s; 3 more refused; space freed -> next 250 after {:.2} s without restart; \
         {} acknowledged, all {} present after a restart",
        first_full.as_secs_f64(),
        recovered.as_secs_f64(),
        acknowledged.len(),
        acknowledged.len()
    );
}
