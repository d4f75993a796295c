//! Reload without dropping sessions (issue 17, item 3) and systemd's readiness protocol
//! (item 2), against the real binary: a client in the middle of a transaction when SIGHUP
//! brings a new certificate finishes with 250; the next connection gets the new certificate
//! (the fingerprint `cert show --json` prints); a configuration that no longer loads changes
//! nothing; `admin.hosts` is applied at once; `$NOTIFY_SOCKET` hears READY, RELOADING, STOPPING.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestServer, BIN};

const CLIENT: &str = include_str!("support/ops_client.py");
const USER: &str = "scanner@contoso.com";
const SIGHUP: i32 = 1;

fn client(server: &TestServer, args: &[&str]) -> Command {
    let script = server.dir.path().join("ops_client.py");
    std::fs::write(&script, CLIENT).unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg(script).args(args);
    cmd
}

/// The fingerprint a new implicit-TLS connection sees.
fn served_fingerprint(server: &TestServer) -> String {
    let out = client(server, &["fp", &server.submissions.port().to_string()]).output().expect("python3");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.trim().strip_prefix("FP ").unwrap_or_else(|| panic!("{text} {}", String::from_utf8_lossy(&out.stderr))).into()
}

fn shown_fingerprint(server: &TestServer) -> String {
    let v: serde_json::Value = serde_json::from_str(&server.ok(&["cert", "show", "--json"])).unwrap();
    v["sha256"].as_str().unwrap().to_string()
}

fn signal(server: &TestServer, sig: i32) {
    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    assert_eq!(unsafe { kill(server.pid() as i32, sig) }, 0);
}

/// Waits (at most 10 s) until the server's log holds `needle` `count` times.
fn wait_for_log(server: &TestServer, needle: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.logs().matches(needle).count() < count {
        assert!(Instant::now() < deadline, "no {needle:?} (x{count}) in the log: {}", server.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sighup_swaps_the_certificate_under_an_open_transaction() {
    let mut server = TestServer::start_with_tables(
        Default::default(),
        "[admin]\nhosts = []\n[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\nhost = \"127.0.0.1\"\nport = 1\n",
    );
    server.open_contoso();
    let before = shown_fingerprint(&server);
    assert_eq!(served_fingerprint(&server), before);

    // A second certificate naming the same host and addresses, made by the CLI elsewhere.
    let other = server.dir.path().join("other");
    let out = Command::new(BIN)
        .arg("--data-dir")
        .arg(&other)
        .arg("--config")
        .arg(server.dir.path().join("authrelay.toml"))
        .args(["cert", "show", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A device in the middle of a transaction: MAIL and RCPT accepted, DATA not yet sent.
    let mut held = client(&server, &["held", &server.submissions.port().to_string(), USER, common::PASSWORD])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(held.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert_eq!(first, format!("FP {before}"));
    let second = lines.next().map(|l| l.unwrap()).unwrap_or_default();
    assert_eq!(second, "RCPT-OK", "{}", server.logs());

    // The new pair on disk (each file replaced whole), then SIGHUP.
    for name in ["key.pem", "cert.pem"] {
        let tmp = server.data_dir().join("tls").join(format!("{name}.new"));
        std::fs::copy(other.join("tls").join(name), &tmp).unwrap();
        std::fs::rename(&tmp, server.data_dir().join("tls").join(name)).unwrap();
    }
    signal(&server, SIGHUP);
    wait_for_log(&server, "configuration reloaded", 1);
    let log = server.logs();
    assert!(log.contains("admin.hosts") && log.contains("not_reloaded"), "the log line says what was reloaded: {log}");

    // The open session finishes its message.
    held.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let third = lines.next().map(|l| l.unwrap()).unwrap_or_default();
    assert!(third.starts_with("DATA 250 2.0.0 OK queued as"), "{third} {}", server.logs());
    assert!(held.wait().unwrap().success());

    // A new connection gets the new certificate, the one `cert show` names.
    let after = shown_fingerprint(&server);
    assert_ne!(after, before, "cert show reads the new file");
    assert_eq!(served_fingerprint(&server), after);

    // A configuration that no longer loads: logged, and nothing changes.
    let config_path = server.dir.path().join("authrelay.toml");
    let good = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(&config_path, format!("{good}\n[limits]\nmax_recipients = 0\n")).unwrap();
    signal(&server, SIGHUP);
    wait_for_log(&server, "reload refused", 1);
    assert_eq!(served_fingerprint(&server), after);

    // admin.hosts applies at once: a Host the admin center refused is answered after a reload.
    let host_status = |server: &TestServer| {
        let mut s = std::net::TcpStream::connect(server.admin()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: relay-admin.contoso.test\r\nConnection: close\r\n\r\n").unwrap();
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        reply.split_whitespace().nth(1).unwrap_or("").to_string()
    };
    assert_eq!(host_status(&server), "421");
    std::fs::write(&config_path, good.replace("hosts = []", "hosts = [\"relay-admin.contoso.test\"]")).unwrap();
    signal(&server, SIGHUP);
    wait_for_log(&server, "configuration reloaded", 2);
    assert_eq!(host_status(&server), "200", "{}", server.logs());
    assert!(server.terminate());
}

/// Starts `ops_client.py rcpts`: signed in, MAIL accepted, waiting for "go" to send `n` RCPTs.
fn session_before_rcpt(
    server: &TestServer,
    n: usize,
) -> (std::process::Child, std::io::Lines<BufReader<std::process::ChildStdout>>) {
    let port = server.submission.port().to_string();
    let mut child = client(server, &["rcpts", &port, USER, common::PASSWORD, &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().map(|l| l.unwrap()).unwrap_or_default(), "MAIL-OK", "{}", server.logs());
    (child, lines)
}

fn finish(
    mut child: std::process::Child,
    mut lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
) -> Vec<String> {
    child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let mut out = vec![];
    for line in lines.by_ref() {
        out.push(line.unwrap());
    }
    assert!(child.wait().unwrap().success(), "{out:?}");
    out
}

#[test]
fn authrelay_reload_applies_limits_to_new_sessions_while_open_ones_keep_theirs() {
    let server = TestServer::start_with_tables(
        common::Options { limits: vec!["max_recipients = 3".into()], ..Default::default() },
        "[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\nhost = \"127.0.0.1\"\nport = 1\n",
    );
    server.open_contoso();
    let (open, open_lines) = session_before_rcpt(&server, 3);

    // The file now allows one recipient per message; `authrelay reload` finds the server
    // through the data directory and reports what it applied.
    let config_path = server.dir.path().join("authrelay.toml");
    let before = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(&config_path, before.replace("max_recipients = 3", "max_recipients = 1")).unwrap();
    let said = server.ok(&["reload"]);
    assert!(said.contains("Reloaded:") && said.contains("limits"), "{said}");
    assert!(!said.contains("restart"), "nothing needing a restart changed: {said}");

    // The session opened before the reload keeps its limit of 3; a new one gets 1.
    assert_eq!(finish(open, open_lines), ["RCPT 250", "RCPT 250", "RCPT 250", "DATA 250"], "{}", server.logs());
    let (fresh, fresh_lines) = session_before_rcpt(&server, 3);
    let answers = finish(fresh, fresh_lines);
    assert_eq!(answers[0], "RCPT 250");
    assert!(answers[1].starts_with("RCPT 4") || answers[1].starts_with("RCPT 5"), "{answers:?}");
    assert_eq!(answers.last().unwrap(), "DATA 250", "{answers:?}");

    // What needs a restart is named; a file that does not load is refused with its problem.
    std::fs::write(&config_path, before.replace(common::HOSTNAME, "relay2.authrelay.test")).unwrap();
    let said = server.ok(&["reload"]);
    assert!(said.contains("restart") && said.contains("hostname"), "{said}");
    std::fs::write(&config_path, format!("{before}\n[lockout]\nthreshold = 0\n")).unwrap();
    let out = server.cli(&["reload"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("lockout.threshold"), "{err}");
    let log = server.logs();
    assert!(log.contains("not_reloaded") && log.contains("listen, hostname, data_dir"), "{log}");
}

/// A child process killed when the test ends.
struct Reaped(std::process::Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn authrelay_reload_applies_routes_to_the_next_delivery() {
    let work = tempfile::tempdir().unwrap();
    let (port_file, lines) = (work.path().join("sink.port"), work.path().join("lines"));
    let _sink = Reaped(
        Command::new("python3")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/raw_sink.py"))
            .arg(&port_file)
            .arg(&lines)
            .stderr(Stdio::null())
            .spawn()
            .expect("python3"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let port = loop {
        if let Ok(p) = std::fs::read_to_string(&port_file) {
            break p.trim().to_string();
        }
        assert!(Instant::now() < deadline, "raw sink did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    // First the route points at a closed port: the message waits in the queue.
    let route = |port: &str| {
        format!("[delivery]\nscan_interval_ms = 100\n[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"opportunistic\"\n")
    };
    let server = TestServer::start_with_tables(Default::default(), &route("1"));
    server.open_contoso();
    let send = || {
        let out = client(&server, &["load", &server.submission.port().to_string(), USER, common::PASSWORD, "1"])
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("ACK "), "{}", String::from_utf8_lossy(&out.stderr));
    };
    send();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(std::fs::read_to_string(&lines).unwrap_or_default().is_empty(), "nothing reaches the sink yet");
    assert!(server.ok(&["queue", "list"]).contains("1 message"), "{}", server.logs());

    // The route now points at the sink; the next delivery takes it.
    let config_path = server.dir.path().join("authrelay.toml");
    let text = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(&config_path, text.replace(&route("1"), &route(&port))).unwrap();
    let said = server.ok(&["reload"]);
    assert!(said.contains("routes") && !said.contains("restart"), "{said}");
    send();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&lines).unwrap_or_default().contains("MAIL FROM:<scanner@contoso.com>") {
        assert!(Instant::now() < deadline, "no delivery over the reloaded route: {}", server.logs());
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn authrelay_reload_without_a_server_says_how_to_start_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN).arg("--data-dir").arg(dir.path()).arg("reload").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("authrelay serve"), "{err}");
}

#[test]
fn systemd_hears_ready_reloading_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("authrelay.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"{}\"\n[listen]\nsubmission = \"127.0.0.1:0\"\nsubmissions = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n",
            common::HOSTNAME
        ),
    )
    .unwrap();
    let socket_path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut child = Command::new(BIN)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .env("NOTIFY_SOCKET", &socket_path)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("serve.log")).unwrap())
        .spawn()
        .unwrap();
    let next = || {
        let mut buf = [0u8; 512];
        let n = socket.recv(&mut buf).unwrap_or_else(|e| {
            panic!(
                "no notification within 30 s ({e}): {}",
                std::fs::read_to_string(dir.path().join("serve.log")).unwrap()
            )
        });
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    let ready = next();
    assert!(ready.starts_with("READY=1"), "{ready}");
    // READY comes after every listener is bound: listen.json names them already.
    let listen: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("data/listen.json")).unwrap()).unwrap();
    let submission: std::net::SocketAddr = listen["submission"].as_str().unwrap().parse().unwrap();
    std::net::TcpStream::connect(submission).expect("the listener is bound before READY=1");

    extern "C" {
        fn kill(pid: i32, sig: i32) -> i32;
    }
    assert_eq!(unsafe { kill(child.id() as i32, SIGHUP) }, 0);
    let reloading = next();
    assert!(reloading.starts_with("RELOADING=1\nMONOTONIC_USEC="), "{reloading}");
    assert!(next().starts_with("READY=1"));
    assert_eq!(unsafe { kill(child.id() as i32, 15) }, 0);
    assert!(next().starts_with("STOPPING=1"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "server did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}
