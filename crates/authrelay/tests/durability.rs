//! Durability and shutdown: what a `250 … queued as` promises must survive SIGKILL byte for
//! byte; what was never acknowledged must not appear; SIGTERM lets transactions in flight finish.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{TestServer, PASSWORD};

const USER: &str = "scanner@contoso.com";
const QUEUED: &str = "250 2.0.0 OK queued as ";
const SHUTTING_DOWN: &str = "421 4.3.2 Service shutting down; please try again later";

/// A minimal SMTP client over implicit TLS (the submissions port), reading whole replies.
struct Client {
    conn: BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>,
}

impl Client {
    fn connect(addr: SocketAddr, tls: &Arc<rustls::ClientConfig>) -> Client {
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        tcp.set_write_timeout(Some(Duration::from_secs(15))).unwrap();
        let session = rustls::ClientConnection::new(tls.clone(), "localhost".try_into().unwrap()).unwrap();
        let mut client = Client { conn: BufReader::new(rustls::StreamOwned::new(session, tcp)) };
        client.expect("220 ");
        client
    }

    /// Connects, says EHLO and authenticates as scanner@contoso.com.
    fn login(addr: SocketAddr, tls: &Arc<rustls::ClientConfig>) -> Client {
        let mut c = Client::connect(addr, tls);
        c.cmd_expect("EHLO durable.contoso.com", "250 ");
        let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0{PASSWORD}"));
        c.cmd_expect(&format!("AUTH PLAIN {plain}"), "235 2.7.0 Authentication successful");
        c
    }

    fn write(&mut self, bytes: &[u8]) {
        let s = self.conn.get_mut();
        s.write_all(bytes).unwrap();
        s.flush().unwrap();
    }

    /// One reply: every line of it, the last one last.
    fn reply(&mut self) -> Vec<String> {
        let mut lines = vec![];
        for _ in 0..100 {
            let mut line = String::new();
            let n = self.conn.read_line(&mut line).unwrap_or_else(|e| panic!("read failed: {e}; so far {lines:?}"));
            assert!(n > 0, "connection closed; so far {lines:?}");
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines;
            }
        }
        panic!("reply too long: {lines:?}");
    }

    /// The last line of the next reply, which must start with `prefix`.
    fn expect(&mut self, prefix: &str) -> String {
        let reply = self.reply();
        let last = reply.last().unwrap().clone();
        assert!(last.starts_with(prefix), "expected {prefix:?}, got {reply:?}");
        last
    }

    fn cmd_expect(&mut self, line: &str, prefix: &str) -> String {
        self.write(format!("{line}\r\n").as_bytes());
        self.expect(prefix)
    }

    /// MAIL, RCPT and DATA up to the 354.
    fn start_transaction(&mut self, rcpt: &str) {
        self.cmd_expect(&format!("MAIL FROM:<{USER}> BODY=8BITMIME"), "250 ");
        self.cmd_expect(&format!("RCPT TO:<{rcpt}>"), "250 ");
        self.cmd_expect("DATA", "354 ");
    }

    /// Sends one message; returns the queue id of its 250.
    fn send(&mut self, message: &[u8]) -> String {
        self.start_transaction("frontdesk@example.net");
        self.write(&dot_stuff(message));
        self.write(b".\r\n");
        let last = self.expect(QUEUED);
        last[QUEUED.len()..].trim().to_string()
    }

    /// True once the server has closed the connection (EOF or reset), bounded by the read timeout.
    fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 64];
        matches!(self.conn.read(&mut buf), Ok(0) | Err(_))
    }
}

/// What goes on the wire for a message whose lines all end in CRLF (RFC 5321 4.5.2).
fn dot_stuff(message: &[u8]) -> Vec<u8> {
    assert!(message.ends_with(b"\r\n"));
    let mut out = Vec::with_capacity(message.len() + 64);
    for line in message.split_inclusive(|b| *b == b'\n') {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out
}

/// A distinct message: lines starting with dots (a lone "." too), 8-bit bytes, a long line.
fn message(n: usize) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(format!("From: {USER}\r\nTo: frontdesk@example.net\r\nSubject: durable {n}\r\n").as_bytes());
    m.extend_from_slice(b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\n");
    m.extend_from_slice(format!(".leading dot {n}\r\n").as_bytes());
    m.extend_from_slice(b".\r\n");
    m.extend_from_slice(b"..two dots\r\n");
    m.extend_from_slice(b"8-bit: caf\xe9 \x80\x81\xfe\xff ");
    m.extend_from_slice(&[0x80 + (n % 0x7f) as u8; 5]);
    m.extend_from_slice(b"\r\n");
    let long: String = (0..5000).map(|i| char::from(b'a' + ((i * 7 + n) % 26) as u8)).collect();
    m.extend_from_slice(long.as_bytes());
    m.extend_from_slice(b"\r\n");
    m.extend_from_slice(b"\ttab-indented\r\n \r\n");
    m.extend_from_slice(format!(". end {n}\r\n").as_bytes());
    m
}

/// The stored message must be exactly: the server's `Received:` header, then the sent bytes.
fn assert_stored_as_sent(id: &str, stored: &[u8], sent: &[u8]) {
    assert!(stored.starts_with(b"Received: "), "{id}: no Received header first");
    // The header runs until the first line that does not start with whitespace.
    let mut pos = 0;
    let mut first = true;
    while pos < stored.len() {
        let line_end = stored[pos..].iter().position(|b| *b == b'\n').map(|p| pos + p + 1).unwrap_or(stored.len());
        if !first && !matches!(stored[pos], b' ' | b'\t') {
            break;
        }
        first = false;
        pos = line_end;
    }
    let header = String::from_utf8_lossy(&stored[..pos]);
    assert!(header.contains("authenticated user scanner@contoso.com"), "{id}: {header}");
    assert!(stored[pos..] == *sent, "{id}: stored bytes after the Received header differ from the sent message");
}

fn tls(server: &TestServer) -> Arc<rustls::ClientConfig> {
    common::client_tls(&server.data_dir().join("tls/cert.pem"))
}

#[test]
fn acknowledged_messages_survive_sigkill_byte_identical() {
    let mut server = TestServer::start();
    server.open_contoso();
    let config = tls(&server);
    let addr = server.submissions;
    // Three connections at once: the default per-mailbox concurrency limit.
    let threads = 3;
    let per_thread = 10;
    let sent: Vec<(String, Vec<u8>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let config = config.clone();
                scope.spawn(move || {
                    let mut c = Client::login(addr, &config);
                    let mut acked = vec![];
                    for i in 0..per_thread {
                        let m = message(t * per_thread + i);
                        let id = c.send(&m);
                        acked.push((id, m));
                    }
                    // No QUIT: the kill comes with the connections still open.
                    (c, acked)
                })
            })
            .collect();
        let mut all = vec![];
        let mut clients = vec![];
        for h in handles {
            let (c, acked) = h.join().unwrap();
            clients.push(c);
            all.extend(acked);
        }
        server.kill9();
        drop(clients);
        all
    });
    assert_eq!(sent.len(), threads * per_thread);
    let mut ids: Vec<&str> = sent.iter().map(|(id, _)| id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), sent.len(), "queue ids must be distinct");

    server.launch();
    let queued = server.queued();
    assert_eq!(queued.len(), sent.len(), "queue holds exactly the acknowledged messages");
    for (id, bytes) in &sent {
        let (_, stored) =
            queued.iter().find(|(q, _)| q == id).unwrap_or_else(|| panic!("acknowledged message {id} was lost"));
        assert_stored_as_sent(id, stored, bytes);
    }

    // The restarted server still takes mail.
    let mut c = Client::login(server.submissions, &config);
    let m = message(999);
    let id = c.send(&m);
    c.cmd_expect("QUIT", "221 ");
    let queued = server.queued();
    assert_eq!(queued.len(), sent.len() + 1);
    assert_stored_as_sent(&id, &queued.iter().find(|(q, _)| *q == id).unwrap().1, &m);
}

#[test]
fn sigkill_in_the_middle_of_data_leaves_nothing() {
    let mut server = TestServer::start();
    server.open_contoso();
    let config = tls(&server);
    let mut c = Client::login(server.submissions, &config);
    let first = message(1);
    let acked = c.send(&first);

    let mut partial = Client::login(server.submissions, &config);
    let half = message(2);
    partial.start_transaction("frontdesk@example.net");
    partial.write(&dot_stuff(&half)[..half.len() / 2]);
    // Make it likely the server has read the half (the assertions hold either way).
    std::thread::sleep(Duration::from_millis(300));
    server.kill9();
    assert!(partial.is_closed(), "the connection must die with the server");
    drop(c);

    server.launch();
    let queued = server.queued();
    let ids: Vec<&str> = queued.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, [acked.as_str()], "only the acknowledged message is queued");
    assert_stored_as_sent(&acked, &queued[0].1, &first);
    let out = server.cli(&["queue", "list"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.trim().is_empty(), "queue list reports problems: {stderr}");
    let incoming = server.data_dir().join("spool/incoming");
    if incoming.exists() {
        let leftovers: Vec<_> = std::fs::read_dir(&incoming).unwrap().flatten().map(|e| e.path()).collect();
        assert!(leftovers.is_empty(), "unacknowledged leftovers after restart: {leftovers:?}");
    }
}

/// Polls until a TCP connect to `addr` is refused (the listener is gone).
fn wait_until_refused(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => return,
            // A connection that reached the listener's backlog as it closed is reset: the
            // listener is going away; poll until it is refused outright.
            Err(e)
                if matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted) => {}
            Err(e) => panic!("unexpected connect error: {e}"),
            Ok(_) => {}
        }
        assert!(Instant::now() < deadline, "{addr} still accepts connections after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_lets_a_transaction_in_data_finish() {
    let mut server = TestServer::start();
    server.open_contoso();
    let config = tls(&server);

    let mut idle = Client::login(server.submissions, &config);
    let mut busy = Client::login(server.submissions, &config);
    let m = message(7);
    let wire = dot_stuff(&m);
    busy.start_transaction("frontdesk@example.net");
    busy.write(&wire[..wire.len() / 2]);

    server.sigterm();
    // The idle session is told at once; that also proves the server saw the signal.
    let bye = idle.reply();
    assert_eq!(bye, [SHUTTING_DOWN], "idle client");
    assert!(idle.is_closed(), "idle connection must be closed after 421");
    // No new connections while the transaction finishes.
    wait_until_refused(server.submissions);
    wait_until_refused(server.submission);

    busy.write(&wire[wire.len() / 2..]);
    busy.write(b".\r\n");
    let queued = busy.expect(QUEUED);
    let id = queued[QUEUED.len()..].trim().to_string();
    assert_eq!(busy.reply(), [SHUTTING_DOWN], "after the 250 the server says goodbye");
    assert!(busy.is_closed());

    assert!(server.wait_exit(), "the server must exit 0 after SIGTERM: {}", server.logs());
    server.launch();
    let stored = server.queued();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, id);
    assert_stored_as_sent(&id, &stored[0].1, &m);
}

#[test]
fn sigterm_lets_a_transaction_after_rcpt_finish() {
    let mut server = TestServer::start();
    server.open_contoso();
    let config = tls(&server);

    let mut idle = Client::login(server.submissions, &config);
    let mut busy = Client::login(server.submissions, &config);
    busy.cmd_expect(&format!("MAIL FROM:<{USER}> BODY=8BITMIME"), "250 ");
    busy.cmd_expect("RCPT TO:<frontdesk@example.net>", "250 ");

    server.sigterm();
    assert_eq!(idle.reply(), [SHUTTING_DOWN], "idle client");
    wait_until_refused(server.submissions);

    busy.cmd_expect("RCPT TO:<second@example.net>", "250 ");
    busy.cmd_expect("DATA", "354 ");
    let m = message(8);
    busy.write(&dot_stuff(&m));
    busy.write(b".\r\n");
    let queued = busy.expect(QUEUED);
    let id = queued[QUEUED.len()..].trim().to_string();
    assert_eq!(busy.reply(), [SHUTTING_DOWN]);
    assert!(busy.is_closed());
    assert!(server.wait_exit(), "the server must exit 0 after SIGTERM: {}", server.logs());

    server.launch();
    let stored = server.queued();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, id);
    assert_stored_as_sent(&id, &stored[0].1, &m);
}

#[test]
fn sigterm_with_only_idle_clients_exits_promptly() {
    let mut server = TestServer::start();
    server.open_contoso();
    let config = tls(&server);
    let mut authed = Client::login(server.submissions, &config);
    // An unauthenticated client on the STARTTLS port, still in plain text.
    let plain = TcpStream::connect(server.submission).unwrap();
    plain.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut plain = BufReader::new(plain);
    let mut greeting = String::new();
    plain.read_line(&mut greeting).unwrap();
    assert!(greeting.starts_with("220 "), "{greeting}");

    let started = Instant::now();
    server.sigterm();
    assert_eq!(authed.reply(), [SHUTTING_DOWN]);
    let mut bye = String::new();
    plain.read_line(&mut bye).unwrap();
    assert_eq!(bye.trim_end(), SHUTTING_DOWN);
    assert!(server.wait_exit(), "the server must exit 0 after SIGTERM: {}", server.logs());
    // The grace period (10 s in tests) is for transactions; idle sessions do not wait for it.
    assert!(started.elapsed() < Duration::from_secs(8), "stop took {:?}", started.elapsed());
    for addr in [server.submission, server.submissions] {
        let err = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect_err("server is gone");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{addr}: {err}");
    }
}
