//! Legacy devices (issue 16) against the real server: a `[[listeners]]` entry of kind `plain`
//! for a scanner VLAN (here 127.0.0.2), with a connector for a HELO-only device (127.0.0.3)
//! and `bare_newline = "normalize"`. swaks without TLS signs in with a device credential and
//! sends; the account password is refused with the reply that says why; an address outside
//! the fence is refused on connect; bare-LF messages arrive with CRLF and none of the
//! smuggling endings splits a message. The default listeners stay as strict as before.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output};
use std::time::Duration;

use base64::Engine;
use common::{Options, TestServer, PASSWORD};

const USER: &str = "scanner@contoso.com";
const LEGACY_REFUSED: &str =
    "535 5.7.139 Authentication unsuccessful, this port has weak or no encryption and accepts only device credentials.";
const ENCRYPTION_REQUIRED: &str = "538 5.7.11 Encryption required for requested authentication mechanism";

const TABLES: &str = r#"
[[connectors]]
name = "lobby"
clients = ["127.0.0.3/32"]
sender_domains = ["contoso.com"]

[[listeners]]
address = "127.0.0.1:0"
kind = "plain"
clients = ["127.0.0.2/32"]
bare_newline = "normalize"
connectors = ["lobby"]
"#;

fn legacy_server() -> (TestServer, SocketAddr) {
    // Each refused smuggling variant counts toward max_errors; more of them than the default 10.
    let options = Options { limits: vec!["max_errors = 100".into()], ..Default::default() };
    let server = TestServer::start_with_tables(options, TABLES);
    server.open_contoso();
    let listeners = server.listeners();
    assert_eq!(listeners.len(), 1, "{listeners:?}");
    (server, listeners[0])
}

/// `device-credential add … --json`; returns the secret.
fn device_credential(server: &TestServer) -> String {
    let out = server.ok(&["device-credential", "add", USER, "--name", "mfp", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["secret"].as_str().unwrap().to_string()
}

fn swaks(to: SocketAddr, source: &str, auth: Option<&str>, body: Option<&str>) -> (Output, String) {
    let mut args: Vec<String> = ["--server", &to.to_string(), "--local-interface", source, "--from", USER]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend(["--to", "frontdesk@example.net", "--helo", "mfp.contoso.com", "--timeout", "15"].map(String::from));
    if let Some(secret) = auth {
        args.extend(["--auth", "PLAIN", "--auth-user", USER, "--auth-password", secret].map(String::from));
    }
    if let Some(body) = body {
        args.extend(["--body", body].map(String::from));
    }
    let out = match Command::new("swaks").args(&args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("swaks is not on PATH: install it with `apt-get install swaks` (this test does not skip)")
        }
        Err(e) => panic!("cannot run swaks: {e}"),
    };
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out, text)
}

fn queued_id(text: &str) -> String {
    let line = text.lines().find(|l| l.contains("OK queued as ")).unwrap_or_else(|| panic!("no queued reply:\n{text}"));
    line.split("OK queued as ").nth(1).unwrap().trim().to_string()
}

fn stored(server: &TestServer, id: &str) -> Vec<u8> {
    let out = server.cli(&["queue", "show", id, "--raw"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn signins(server: &TestServer) -> Vec<serde_json::Value> {
    let out = server.ok(&["signins", "--json", "--last", "100"]);
    serde_json::from_str::<serde_json::Value>(&out).unwrap().as_array().unwrap().clone()
}

/// A plain TCP client bound to `source` (a loopback address), greeting left unread.
struct Client(BufReader<TcpStream>);

impl Client {
    fn connect(source: &str, to: SocketAddr) -> Client {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let tcp = rt.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
            socket.connect(to).await.unwrap()
        });
        let tcp = tcp.into_std().unwrap();
        tcp.set_nonblocking(false).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Client(BufReader::new(tcp))
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.get_mut().write_all(bytes).unwrap();
    }

    /// The last line of the next reply; "" once the server closed.
    fn reply(&mut self) -> String {
        for _ in 0..50 {
            let mut line = String::new();
            if self.0.read_line(&mut line).unwrap_or(0) == 0 {
                return String::new();
            }
            let line = line.trim_end().to_string();
            if line.as_bytes().get(3) != Some(&b'-') {
                return line;
            }
        }
        panic!("reply too long");
    }

    fn cmd(&mut self, line: &str) -> String {
        self.write(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// Greeting, EHLO and AUTH PLAIN in clear with `secret`.
    fn sign_in(source: &str, to: SocketAddr, secret: &str) -> Client {
        let mut c = Client::connect(source, to);
        assert!(c.reply().starts_with("220 "));
        assert!(c.cmd("EHLO mfp.contoso.com").starts_with("250 "));
        let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0{secret}"));
        assert_eq!(c.cmd(&format!("AUTH PLAIN {token}")), "235 2.7.0 Authentication successful");
        c
    }
}

#[test]
fn swaks_without_tls_signs_in_with_a_device_credential_from_the_listed_address_only() {
    let (server, legacy) = legacy_server();
    let secret = device_credential(&server);

    // From the scanner VLAN (127.0.0.2): AUTH in clear with the device credential, and the
    // message is queued, its Received header saying there was no TLS.
    let (out, text) = swaks(legacy, "127.0.0.2", Some(&secret), None);
    assert!(out.status.success(), "swaks failed ({}):\n{text}", out.status);
    assert!(text.contains("235 2.7.0 Authentication successful"), "{text}");
    let raw = String::from_utf8_lossy(&stored(&server, &queued_id(&text))).to_string();
    assert!(raw.contains("(no TLS)") && raw.contains("with device-credential"), "{raw}");

    // The account password on the same listener: refused, and the reply says why and what to do.
    let (out, text) = swaks(legacy, "127.0.0.2", Some(PASSWORD), None);
    assert!(!out.status.success(), "the account password was accepted:\n{text}");
    assert!(text.contains(LEGACY_REFUSED) && text.contains("Create a device credential"), "{text}");

    // From the connector's device (127.0.0.3): on this listener but not among its clients, so
    // AUTH in clear is answered as on the default listeners.
    let (out, text) = swaks(legacy, "127.0.0.3", Some(&secret), None);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains(ENCRYPTION_REQUIRED), "{text}");
    // Without AUTH the connector admits its sender domain (a HELO-only device by its address).
    let (out, text) = swaks(legacy, "127.0.0.3", None, None);
    assert!(out.status.success(), "the connector's device could not send:\n{text}");
    let raw = String::from_utf8_lossy(&stored(&server, &queued_id(&text))).to_string();
    assert!(raw.contains("connector lobby admitted sender"), "{raw}");

    // Anyone else is refused before the greeting.
    let mut outsider = Client::connect("127.0.0.4", legacy);
    let greeting = outsider.reply();
    assert!(greeting.starts_with("554 5.7.1 "), "{greeting}");
    assert_eq!(outsider.reply(), "", "the connection stays closed");

    // The sign-in log: the legacy sign-ins with their TLS ("none") and the listener's name.
    let rows = signins(&server);
    let device_ok = rows
        .iter()
        .find(|r| r["success"] == true && r["credential"] == "device-credential")
        .unwrap_or_else(|| panic!("{rows:#?}"));
    assert_eq!(device_ok["tls"], "none", "{device_ok}");
    let refused = rows.iter().find(|r| r["check"] == "listener-credentials").unwrap_or_else(|| panic!("{rows:#?}"));
    assert_eq!((refused["credential"].as_str(), refused["success"].as_bool()), (Some("password"), Some(false)));
}

/// One HTTP/1.1 request to the admin listener; returns (status, body).
fn http(
    admin: SocketAddr,
    method: &str,
    path: &str,
    cookie: Option<&str>,
    body: Option<&str>,
) -> (u16, String, String) {
    use std::io::Read;
    let mut tcp = TcpStream::connect(admin).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\nAccept-Language: en\r\n");
    if let Some(c) = cookie {
        req.push_str(&format!("Cookie: ar_session={c}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    req.push_str(body.unwrap_or(""));
    tcp.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).unwrap();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    // Chunked bodies: the chunk-size lines do not matter to the substring checks below.
    (status, head.to_string(), rest.to_string())
}

/// The legacy use is visible everywhere an admin looks: the sign-in log (CLI and API) names the
/// listener and its TLS ("none"), the SMTP AUTH clients report has a column and a filter for
/// it, the admin center home counts the devices with a link to that report, `doctor` warns for
/// the mailbox, and the metrics count the sign-ins by TLS version.
#[test]
fn legacy_use_shows_in_the_sign_in_log_report_home_doctor_and_metrics() {
    let (server, legacy) = legacy_server();
    let secret = device_credential(&server);
    assert!(swaks(legacy, "127.0.0.2", Some(&secret), None).0.status.success());
    // An attempt on the default listener only (AUTH before TLS: a row without a user name,
    // "-" in the report), to see the filter leave it out.
    let mut c = Client::connect("127.0.0.1", server.submission);
    c.reply();
    c.cmd("EHLO desk.contoso.com");
    assert_eq!(c.cmd("AUTH PLAIN AGZyb250ZGVzawB4"), ENCRYPTION_REQUIRED);

    let rows = signins(&server);
    let row = rows.iter().find(|r| r["success"] == true).unwrap_or_else(|| panic!("{rows:#?}"));
    assert_eq!((row["tls"].as_str(), row["listener"].as_str()), (Some("none"), Some("plain 127.0.0.1:0")), "{row}");

    let doctor = server.ok(&["doctor", USER]);
    assert!(doctor.contains("Legacy paths") && doctor.contains("plain 127.0.0.1:0 (none)"), "{doctor}");
    let doctor = server.ok(&["doctor", USER, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&doctor).unwrap();
    let check = v["checks"].as_array().unwrap().iter().find(|c| c["check"] == "legacy-paths").cloned();
    assert_eq!(check.map(|c| c["status"].clone()), Some(serde_json::json!("warns")), "{v:#}");

    // The admin center, as a reports administrator.
    let out = server.cli_with_stdin(
        &["admin", "add", "reports-admin@contoso.com", "--role", "reports", "--password-stdin"],
        Some("Adm1n-Pass-2026!"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let admin = server.admin();
    let (status, head, body) = http(
        admin,
        "POST",
        "/api/session",
        None,
        Some(r#"{"address":"reports-admin@contoso.com","password":"Adm1n-Pass-2026!"}"#),
    );
    assert_eq!(status, 200, "{body}");
    let cookie = head
        .lines()
        .find_map(|l| {
            l.to_lowercase()
                .starts_with("set-cookie:")
                .then(|| l.split_once("ar_session=").unwrap().1.split(';').next().unwrap().to_string())
        })
        .expect("session cookie");
    let (_, _, report) = http(admin, "GET", "/api/reports/smtp-auth-clients?days=7", Some(&cookie), None);
    assert!(report.contains("\"user\":\"-\"") && report.contains("\"legacy_paths\":[]"), "{report}");
    let (_, _, report) = http(admin, "GET", "/api/reports/smtp-auth-clients?days=7&legacy=1", Some(&cookie), None);
    assert!(report.contains("\"legacy_paths\":[\"plain 127.0.0.1:0 (none)\"]"), "{report}");
    assert!(!report.contains("\"user\":\"-\""), "the filter keeps legacy senders only: {report}");
    let (_, _, csv) = http(admin, "GET", "/api/reports/smtp-auth-clients?days=7&format=csv", Some(&cookie), None);
    assert!(csv.contains(",legacy_paths\r\n") && csv.contains("plain 127.0.0.1:0 (none)"), "{csv}");
    let (_, _, home) = http(admin, "GET", "/", Some(&cookie), None);
    assert!(home.contains("id=\"home-legacy\">1<"), "one device on a legacy path: {home}");
    assert!(home.contains("href=\"/reports/smtp-auth?days=7&amp;legacy=1\""), "{home}");
    let (_, _, page) = http(admin, "GET", "/reports/smtp-auth?days=7&legacy=1", Some(&cookie), None);
    assert!(page.contains("class=\"report-legacy\">plain 127.0.0.1:0 (none)<"), "{page}");

    let (_, _, metrics) = http(admin, "GET", "/metrics", None, None);
    assert!(metrics.contains("authrelay_legacy_signins_total{tls=\"none\",result=\"accepted\"} 1"), "{metrics}");
}

#[test]
fn bare_lf_messages_arrive_with_crlf_and_smuggling_endings_stay_inside_one_message() {
    let (server, legacy) = legacy_server();
    let secret = device_credential(&server);
    let mut c = Client::sign_in("127.0.0.2", legacy, &secret);

    // A printer's message, every line ended by a bare LF, the end of data by CRLF.CRLF.
    assert!(c.cmd(&format!("MAIL FROM:<{USER}>")).starts_with("250 "));
    assert!(c.cmd("RCPT TO:<frontdesk@example.net>").starts_with("250 "));
    assert!(c.cmd("DATA").starts_with("354 "));
    c.write(b"From: scanner@contoso.com\nSubject: scan 1\n\npage one\npage two\r\n.\r\n");
    let reply = c.reply();
    assert!(reply.starts_with("250 2.0.0 OK queued as "), "{reply}");
    let id = reply.rsplit(' ').next().unwrap().to_string();
    let raw = stored(&server, &id);
    let body = &raw[raw.windows(4).position(|w| w == b"From").unwrap()..];
    assert_eq!(body, b"From: scanner@contoso.com\r\nSubject: scan 1\r\n\r\npage one\r\npage two\r\n");
    assert!(!raw.windows(2).any(|w| w[1] == b'\n' && w[0] != b'\r'), "a bare LF was stored");

    // The smuggling endings of the protection tests (crates/authrelay/tests/protection.rs):
    // under normalize the LF ones stay inside the one message, the CR and NUL ones are still
    // refused; none ends the message, and nothing after it is read as a command.
    let endings: &[&[u8]] = &[
        b"\n.\n",
        b"\n.\r\n",
        b"\r.\r",
        b"\r.\r\n",
        b"\r\n.\r",
        b"\r\n.\n",
        b"\n.\r",
        b"\r.\n",
        b"\r\n\x00.\r\n",
        b"\r\n.\x00\r\n",
    ];
    let mut accepted = vec![];
    for (i, ending) in endings.iter().enumerate() {
        c.cmd(&format!("MAIL FROM:<{USER}>"));
        c.cmd("RCPT TO:<frontdesk@example.net>");
        assert!(c.cmd("DATA").starts_with("354 "), "variant {i}");
        let mut body = format!("Subject: outer {i}\r\n\r\nouter body").into_bytes();
        body.extend_from_slice(ending);
        body.extend_from_slice(
            format!(
                "MAIL FROM:<{USER}>\r\nRCPT TO:<victim@example.net>\r\nDATA\r\nSubject: smuggled {i}\r\n\r\nsmuggled\r\n"
            )
            .as_bytes(),
        );
        body.extend_from_slice(b".\r\n");
        c.write(&body);
        let r = c.reply();
        let lf_only = !ending.contains(&b'\r') || *ending == b"\n.\r\n" || *ending == b"\r\n.\n";
        if lf_only {
            assert!(r.starts_with("250 2.0.0 OK queued as "), "variant {i} {ending:?}: {r}");
            accepted.push(r.rsplit(' ').next().unwrap().to_string());
        } else {
            assert!(r.starts_with("550 5.6.0 Message contains"), "variant {i} {ending:?}: {r}");
        }
        assert_eq!(c.cmd("NOOP"), "250 2.0.0 OK", "variant {i}: a smuggled command was answered");
    }
    assert_eq!(accepted.len(), 3, "the three LF-only endings are normalized");
    for id in &accepted {
        let text = String::from_utf8_lossy(&stored(&server, id)).to_string();
        // One message: the outer one, with the would-be second message inside it as text.
        assert!(text.contains("outer body") && text.contains("Subject: smuggled"), "{id}: {text}");
        assert!(text.contains("RCPT TO:<victim@example.net>"), "{id}: the smuggled envelope stayed content");
    }
    let queued = server.queued();
    assert_eq!(queued.len(), 1 + accepted.len(), "no second message was made");
    assert!(!server.logs().contains("victim@example.net"), "the smuggled envelope reached the server as commands");
}

#[test]
fn the_default_listeners_stay_as_strict_as_before() {
    let (server, _legacy) = legacy_server();
    let secret = device_credential(&server);
    // No AUTH in clear on the STARTTLS port, whoever asks and with whatever credential.
    for source in ["127.0.0.2", "127.0.0.1"] {
        let mut c = Client::connect(source, server.submission);
        assert!(c.reply().starts_with("220 "));
        c.cmd("EHLO mfp.contoso.com");
        let token = base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0{secret}"));
        assert_eq!(c.cmd(&format!("AUTH PLAIN {token}")), ENCRYPTION_REQUIRED, "{source}");
    }
    // TLS 1.0 and 1.1 do not handshake with the default listeners (Python's ssl, forced).
    let script = r#"
import socket, ssl, sys
port = int(sys.argv[1])
for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT@SECLEVEL=0")
    ctx.minimum_version = version
    ctx.maximum_version = version
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with ctx.wrap_socket(raw) as tls:
                print("HANDSHAKE", version.name, tls.version())
        except (ssl.SSLError, ConnectionResetError, OSError) as e:
            print("REFUSED", version.name, type(e).__name__)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
    with ctx.wrap_socket(raw) as tls:
        print("HANDSHAKE default", tls.version())
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(server.submissions.port().to_string())
        .output()
        .expect("python3 must be installed to run this test");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("REFUSED TLSv1 ") && text.contains("REFUSED TLSv1_1 "), "{text}");
    assert!(!text.contains("HANDSHAKE TLSv1"), "{text}");
    assert!(text.contains("HANDSHAKE default TLSv1.3"), "the check can see a handshake: {text}");
}

/// TLS 1.0 and 1.1 through OpenSSL on a listed STARTTLS listener (the `legacy-tls` feature):
/// `openssl s_client -tls1` / `-tls1_1` with `DEFAULT@SECLEVEL=0`, as an old MFP would, signs in
/// with a device credential and sends; the account password over the same path is refused with
/// the reply that says why; the sign-in log and the Received header name the TLS version.
#[cfg(feature = "legacy-tls")]
#[test]
fn openssl_s_client_with_tls_1_0_and_1_1_signs_in_with_a_device_credential() {
    let tables = r#"
[[listeners]]
address = "127.0.0.1:0"
kind = "starttls"
tls_min = "1.0"
clients = ["127.0.0.1/32"]

[[listeners]]
address = "127.0.0.1:0"
kind = "implicit"
tls_min = "1.1"
clients = ["127.0.0.1/32"]
"#;
    let server = TestServer::start_with_tables(Options::default(), tables);
    server.open_contoso();
    let legacy = server.listeners()[0];
    let secret = device_credential(&server);
    let b64 = |secret: &str| base64::engine::general_purpose::STANDARD.encode(format!("\0{USER}\0{secret}"));
    let s_client = |version: &str, secret: &str| -> String {
        let dialogue = format!(
            "EHLO mfp.contoso.com\r\nAUTH PLAIN {}\r\nMAIL FROM:<{USER}>\r\nRCPT TO:<frontdesk@example.net>\r\nDATA\r\nSubject: scan over {version}\r\n\r\npage\r\n.\r\nQUIT\r\n",
            b64(secret)
        );
        let mut child = Command::new("timeout")
            .args(["20", "openssl", "s_client", "-connect", &legacy.to_string(), "-starttls", "smtp", version])
            .args(["-cipher", "DEFAULT@SECLEVEL=0", "-quiet", "-crlf"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("openssl must be installed to run this test");
        child.stdin.take().unwrap().write_all(dialogue.replace("\r\n", "\n").as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    };
    for (flag, shown) in [("-tls1", "TLSv1.0"), ("-tls1_1", "TLSv1.1")] {
        let text = s_client(flag, &secret);
        assert!(text.contains("235 2.7.0 Authentication successful"), "{flag}: {text}");
        let line = text.lines().find(|l| l.contains("OK queued as ")).unwrap_or_else(|| panic!("{flag}: {text}"));
        let id = line.split("OK queued as ").nth(1).unwrap().trim();
        let raw = String::from_utf8_lossy(&stored(&server, id)).to_string();
        assert!(raw.contains(&format!("(version={shown} ")), "{flag}: {raw}");
        let text = s_client(flag, PASSWORD);
        assert!(text.contains(LEGACY_REFUSED), "{flag}: the account password was not refused as it should: {text}");
        assert!(!text.contains("OK queued as "), "{flag}: {text}");
    }
    let rows = signins(&server);
    for shown in ["TLSv1.0", "TLSv1.1"] {
        assert!(rows.iter().any(|r| r["tls"] == shown && r["success"] == true), "{shown}: {rows:#?}");
        assert!(rows.iter().any(|r| r["tls"] == shown && r["check"] == "listener-credentials"), "{shown}: {rows:#?}");
    }
    // The default listener next to it still refuses TLS 1.0 (rustls: 1.2 and later only).
    let out = Command::new("timeout")
        .args(["20", "openssl", "s_client", "-connect", &server.submission.to_string(), "-starttls", "smtp", "-tls1"])
        .args(["-cipher", "DEFAULT@SECLEVEL=0"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success() && text.contains("Cipher is (NONE)") && !text.contains("New, TLSv1"), "{text}");

    // The implicit-TLS listener with tls_min 1.1: Python's ssl forced to each version, as a
    // device would be: 1.1 signs in with the device credential, 1.0 does not handshake.
    let implicit = server.listeners()[1];
    let script = r#"
import smtplib, ssl, sys
port, user, secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT@SECLEVEL=0")
    ctx.minimum_version = version
    ctx.maximum_version = version
    try:
        with smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=15) as s:
            s.login(user, secret)
            print("SIGNED-IN", version.name, s.sock.version())
    except (ssl.SSLError, ConnectionResetError, OSError, smtplib.SMTPException) as e:
        print("REFUSED", version.name, type(e).__name__)
"#;
    let out = Command::new("python3")
        .args(["-c", script, &implicit.port().to_string(), USER, &secret])
        .output()
        .expect("python3 must be installed to run this test");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("REFUSED TLSv1 ") && text.contains("SIGNED-IN TLSv1_1 TLSv1.1"), "{text}");
}

/// The admin center in a real Chromium (crates/admin/tests/browser/legacy-walk.mjs): the home
/// page's count of devices on legacy paths, its link to the filtered report, and the sign-in
/// log's Legacy path badge, in English, Korean and Indonesian. Screenshots land in
/// `artifacts/screenshots/legacy/<lang>/`.
#[test]
fn the_admin_center_shows_the_legacy_devices_in_a_browser() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../admin/tests/browser");
    assert!(dir.join("node_modules/playwright-core").is_dir(), "playwright-core missing: run ./scripts/test");
    let (server, legacy) = legacy_server();
    let secret = device_credential(&server);
    assert!(swaks(legacy, "127.0.0.2", Some(&secret), None).0.status.success());
    let out = server.cli_with_stdin(
        &["admin", "add", "boss@contoso.com", "--role", "global", "--password-stdin"],
        Some("Adm1n-Center-Pass!"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let shots = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/screenshots/legacy");
    for lang in ["en", "ko", "id"] {
        let child = Command::new("node")
            .arg(dir.join("legacy-walk.mjs"))
            .current_dir(&dir)
            .env("ADMIN_URL", format!("http://{}", server.admin()))
            .env("ADMIN_ADDRESS", "boss@contoso.com")
            .env("ADMIN_PASSWORD", "Adm1n-Center-Pass!")
            .env("USER_ADDRESS", USER)
            .env("WALK_LANG", lang)
            .env("SCREENSHOT_DIR", &shots)
            .env("CHROMIUM", "/usr/bin/chromium")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run node (Node.js is needed for the browser tests)");
        let (status, stdout, stderr) =
            common::wait_bounded(child, Duration::from_secs(120), &format!("the {lang} legacy walk"));
        assert!(status.success() && stdout.contains("legacy walk passed"), "{lang}:\n{stdout}\n{stderr}");
    }
}
