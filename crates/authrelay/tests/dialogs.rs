//! Golden wire dialogs: each file in `tests/dialogs/` is a real session against a real server.
//!
//! File format, one directive a line:
//! - `# …` comment; blank lines ignored
//! - `! seed` / `! open` — harness setup (see `TestServer::seed_contoso` / `open_contoso`)
//! - `! limit key = value` — extra `[limits]` config line (before the first `C:`/`S:` line)
//! - `$ args…` — run `authrelay args…` against the server's data directory (must succeed);
//!   may appear mid-dialog: the next AUTH must see the change
//! - `@implicit` — connect to the implicit-TLS port instead of the STARTTLS one
//! - `C: text` — client line, sent with CRLF; `{b64:…}` is replaced by the base64 of its
//!   content, where `\0` is a NUL; `C:` alone sends an empty line; `C! text` sends text raw
//!   (with `{b64:…}` expanded) and `\r` `\n` `\0` escapes, and no CRLF; in both, `{rep:N:c}`
//!   is the character c N times
//! - `S: text` — one exact server line (trailing spaces ignored); `{*}` matches any run of characters
//! - `S… 250` — a whole (multi-line) reply with this code, content not checked
//! - `~tls` — the TLS handshake after `220 2.0.0 Ready to start TLS`
//! - `=closed` — the server closes the connection

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::{Options, TestServer};

enum Conn {
    Plain(BufReader<TcpStream>),
    Tls(Box<BufReader<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>>),
}

impl Conn {
    fn read_line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        match self {
            Conn::Plain(r) => r.read_line(&mut line)?,
            Conn::Tls(r) => r.read_line(&mut line)?,
        };
        Ok(line)
    }

    fn write(&mut self, bytes: &[u8]) {
        match self {
            Conn::Plain(r) => r.get_mut().write_all(bytes).unwrap(),
            Conn::Tls(r) => {
                r.get_mut().write_all(bytes).unwrap();
                r.get_mut().flush().unwrap();
            }
        }
    }

    fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        let n = match self {
            Conn::Plain(r) => r.read(&mut buf),
            Conn::Tls(r) => r.read(&mut buf),
        };
        matches!(n, Ok(0) | Err(_))
    }
}

fn expand(text: &str) -> String {
    let mut text = text.to_string();
    while let Some(start) = text.find("{rep:") {
        let end = text[start..].find('}').expect("closing brace") + start;
        let (count, c) = text[start + 5..end].split_once(':').expect("{rep:N:c}");
        let run = c.repeat(count.parse().expect("{rep:N:c} count"));
        text.replace_range(start..=end, &run);
    }
    let mut out = String::new();
    let mut rest = text.as_str();
    while let Some(start) = rest.find("{b64:") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        let content = rest[start + 5..end].replace("\\0", "\0");
        out.push_str(&base64::engine::general_purpose::STANDARD.encode(content));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn unescape(text: &str) -> Vec<u8> {
    text.replace("\\r", "\r").replace("\\n", "\n").replace("\\0", "\0").into_bytes()
}

/// `{*}` matches any run of characters; everything else literally.
fn matches(pattern: &str, line: &str) -> bool {
    let parts: Vec<&str> = pattern.split("{*}").collect();
    if parts.len() == 1 {
        return pattern == line;
    }
    let mut pos = 0;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            if !line.starts_with(part) {
                return false;
            }
            pos = part.len();
        } else if i == parts.len() - 1 {
            return line.len() >= pos + part.len() && line[pos..].ends_with(part);
        } else {
            match line[pos..].find(part) {
                Some(p) => pos += p + part.len(),
                None => return false,
            }
        }
    }
    true
}

fn run_dialog(name: &str, text: &str) {
    let mut options = Options::default();
    for line in text.lines() {
        if let Some(l) = line.strip_prefix("! limit ") {
            options.limits.push(l.to_string());
        }
    }
    let server = TestServer::start_with(options);
    let implicit = text.lines().any(|l| l.trim() == "@implicit");
    let tls_config = common::client_tls(&server.data_dir().join("tls/cert.pem"));
    let mut conn: Option<Conn> = None;
    let connect = |implicit: bool, tls: &Arc<rustls::ClientConfig>| -> Conn {
        let addr = if implicit { server.submissions } else { server.submission };
        let tcp = TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        if implicit {
            let client = rustls::ClientConnection::new(tls.clone(), "localhost".try_into().unwrap()).unwrap();
            Conn::Tls(Box::new(BufReader::new(rustls::StreamOwned::new(client, tcp))))
        } else {
            Conn::Plain(BufReader::new(tcp))
        }
    };
    let mut transcript = String::new();
    for (no, raw) in text.lines().enumerate() {
        let line = raw.trim_end();
        macro_rules! at {
            () => {
                format!("{name}:{}: {line}\n--- transcript ---\n{transcript}", no + 1)
            };
        }
        if line.is_empty() || line.starts_with('#') || line.starts_with("! limit") || line == "@implicit" {
            continue;
        }
        match line {
            "! seed" => server.seed_contoso(),
            "! open" => server.open_contoso(),
            _ => {}
        }
        if line.starts_with("! ") {
            continue;
        }
        if let Some(args) = line.strip_prefix("$ ") {
            let args: Vec<&str> = args.split_whitespace().collect();
            server.ok(&args);
            continue;
        }
        let c = conn.get_or_insert_with(|| connect(implicit, &tls_config));
        let line = if line == "C:" { "C: " } else { line };
        if let Some(client) = line.strip_prefix("C: ") {
            let sent = expand(client);
            transcript.push_str(&format!("C: {sent}\n"));
            c.write(format!("{sent}\r\n").as_bytes());
        } else if let Some(client) = line.strip_prefix("C! ") {
            transcript.push_str(&format!("C! {client}\n"));
            c.write(&unescape(&expand(client)));
        } else if let Some(expected) = line.strip_prefix("S: ") {
            let got = c.read_line().unwrap_or_else(|e| panic!("read failed ({e}) at {}", at!()));
            let got = got.trim_end();
            transcript.push_str(&format!("S: {got}\n"));
            assert!(matches(expected, got), "expected {expected:?}, got {got:?} at {}", at!());
        } else if let Some(code) = line.strip_prefix("S… ") {
            loop {
                let got = c.read_line().unwrap_or_else(|e| panic!("read failed ({e}) at {}", at!()));
                let got = got.trim_end_matches(['\r', '\n']).to_string();
                transcript.push_str(&format!("S: {got}\n"));
                assert!(got.starts_with(code), "expected a {code} reply, got {got:?} at {}", at!());
                if got.as_bytes().get(3) == Some(&b' ') {
                    break;
                }
            }
        } else if line == "~tls" {
            let Conn::Plain(reader) = conn.take().unwrap() else { panic!("already TLS at {}", at!()) };
            assert!(reader.buffer().is_empty(), "server sent bytes after 220 at {}", at!());
            let tcp = reader.into_inner();
            let client = rustls::ClientConnection::new(tls_config.clone(), "localhost".try_into().unwrap()).unwrap();
            conn = Some(Conn::Tls(Box::new(BufReader::new(rustls::StreamOwned::new(client, tcp)))));
            transcript.push_str("~tls\n");
        } else if line == "=closed" {
            assert!(c.is_closed(), "connection still open at {}", at!());
        } else {
            panic!("unknown directive at {}", at!());
        }
    }
}

#[test]
fn golden_dialogs() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/dialogs");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).collect();
    files.retain(|p| p.extension().is_some_and(|e| e == "dialog"));
    files.sort();
    assert!(files.len() >= 10, "dialog files missing from {}", dir.display());
    let only = std::env::var("DIALOG").ok();
    std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .iter()
            .filter(|p| only.as_deref().is_none_or(|o| p.to_string_lossy().contains(o)))
            .map(|path| {
                let name = path.file_name().unwrap().to_string_lossy().to_string();
                let text = std::fs::read_to_string(path).unwrap();
                (name.clone(), scope.spawn(move || run_dialog(&name, &text)))
            })
            .collect();
        let mut failed = vec![];
        for (name, h) in handles {
            if h.join().is_err() {
                failed.push(name);
            }
        }
        assert!(failed.is_empty(), "dialogs failed: {failed:?}");
    });
}

#[test]
fn pattern_matching() {
    assert!(matches("250 2.0.0 OK queued as {*}", "250 2.0.0 OK queued as 0123"));
    assert!(!matches("250 2.0.0 OK", "250 2.0.0 OK queued"));
    assert!(matches("a{*}c{*}e", "abcde"));
    assert_eq!(expand("x{rep:3:ab}y{rep:2:-}"), "xabababy--");
    assert_eq!(unescape("a\\0.\\r\\n"), b"a\0.\r\n");
}
