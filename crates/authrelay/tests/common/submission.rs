//! A fallible submission client for load tests: implicit TLS, AUTH PLAIN, one message per
//! transaction. Unlike a test's scripted dialog it never panics on the server's behalf: a
//! refused reply or a dropped connection is returned, so a test can count what was
//! acknowledged while nodes die or the database is stopped.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;

pub const QUEUED: &str = "250 2.0.0 OK queued as ";

pub struct Submitter {
    conn: BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>,
}

/// How a transaction ended when it did not end in `250 … queued as`.
#[derive(Debug)]
pub enum Refusal {
    /// The server answered this (last line of the reply).
    Reply(String),
    /// The connection broke (the node died): the message may or may not have been kept.
    Broken(String),
}

impl Submitter {
    /// Connects from the loopback address `source`, says EHLO and authenticates `user` with
    /// `password`.
    pub fn login(
        addr: SocketAddr,
        source: std::net::IpAddr,
        tls: &Arc<rustls::ClientConfig>,
        user: &str,
        password: &str,
    ) -> Result<Submitter, Refusal> {
        let tcp = connect_from(source, addr).map_err(|e| Refusal::Broken(e.to_string()))?;
        tcp.set_read_timeout(Some(Duration::from_secs(20))).ok();
        tcp.set_write_timeout(Some(Duration::from_secs(20))).ok();
        let session = rustls::ClientConnection::new(tls.clone(), "localhost".try_into().unwrap())
            .map_err(|e| Refusal::Broken(e.to_string()))?;
        let mut c = Submitter { conn: BufReader::new(rustls::StreamOwned::new(session, tcp)) };
        c.expect("220 ")?;
        c.command("EHLO load.contoso.com", "250 ")?;
        let plain = base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        c.command(&format!("AUTH PLAIN {plain}"), "235 ")?;
        Ok(c)
    }

    fn reply(&mut self) -> Result<String, Refusal> {
        for _ in 0..100 {
            let mut line = String::new();
            match self.conn.read_line(&mut line) {
                Ok(0) => return Err(Refusal::Broken("connection closed".into())),
                Ok(_) => {}
                Err(e) => return Err(Refusal::Broken(e.to_string())),
            }
            let line = line.trim_end_matches(['\r', '\n']).to_string();
            if line.as_bytes().get(3) != Some(&b'-') {
                return Ok(line);
            }
        }
        Err(Refusal::Broken("reply too long".into()))
    }

    fn expect(&mut self, prefix: &str) -> Result<String, Refusal> {
        let last = self.reply()?;
        if last.starts_with(prefix) {
            Ok(last)
        } else {
            Err(Refusal::Reply(last))
        }
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), Refusal> {
        let s = self.conn.get_mut();
        s.write_all(bytes).and_then(|_| s.flush()).map_err(|e| Refusal::Broken(e.to_string()))
    }

    fn command(&mut self, line: &str, prefix: &str) -> Result<String, Refusal> {
        self.write(format!("{line}\r\n").as_bytes())?;
        self.expect(prefix)
    }

    /// One transaction from `from` to `to` with a small message whose Subject is `subject`;
    /// returns the queue id of its `250`.
    pub fn send(&mut self, from: &str, to: &str, subject: &str) -> Result<String, Refusal> {
        self.command(&format!("MAIL FROM:<{from}>"), "250 ")?;
        self.command(&format!("RCPT TO:<{to}>"), "250 ")?;
        self.command("DATA", "354 ")?;
        let body = format!(
            "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{subject}@load.contoso.com>\r\n\r\nload test message {subject}\r\n.\r\n"
        );
        self.write(body.as_bytes())?;
        let last = self.expect(QUEUED)?;
        Ok(last[QUEUED.len()..].trim().to_string())
    }
}

/// A TCP connection to `addr` from the local address `source` (std cannot bind before
/// connecting; tokio's socket can, on a runtime of its own for the connect).
fn connect_from(source: std::net::IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let stream = runtime.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(source, 0))?;
        tokio::time::timeout(Duration::from_secs(5), socket.connect(addr))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out"))?
    })?;
    let stream = stream.into_std()?;
    stream.set_nonblocking(false)?;
    Ok(stream)
}

/// The Subject header of a message, as a sink recorded it.
pub fn subject_of(message: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(message);
    text.lines().find_map(|l| l.strip_prefix("Subject: ").map(|s| s.trim().to_string()))
}
