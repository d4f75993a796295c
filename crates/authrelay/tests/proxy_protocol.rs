//! Behind a load balancer (issue 15, item 4): HAProxy in TCP mode with `send-proxy-v2` in front
//! of the real server. Devices bound to 127.0.0.2 and 127.0.0.3 connect to HAProxy; the server
//! sees only HAProxy's connections (from 127.0.0.1, its one trusted proxy), and every decision
//! that depends on the client address — a device credential's allow list, the sign-in log, the
//! Received header — is made on the device's address from the header. A PROXY header from an
//! address that is not trusted is refused, and a trusted address without a header is dropped.

mod common;

use std::net::SocketAddr;
use std::process::Command;

use common::haproxy::Haproxy;
use common::{Options, TestServer};

const USER: &str = "scanner@contoso.com";

/// HAProxy with one backend (crates/authrelay/tests/common/haproxy.rs).
fn haproxy(dir: &std::path::Path, backend: SocketAddr) -> Haproxy {
    common::haproxy::start(dir, &[backend])
}

/// The smtplib device from `source`, through `port`; (exit code, output).
fn device(server: &TestServer, port: u16, secret: &str, source: &str) -> (i32, String) {
    server.device_client(port, USER, secret, source, "LOGIN")
}

fn last_signin(server: &TestServer) -> serde_json::Value {
    let log: serde_json::Value = serde_json::from_str(&server.ok(&["signins", "--last", "1", "--json"])).unwrap();
    log.as_array().unwrap()[0].clone()
}

/// A raw SMTP exchange from `source` done by Python (which can bind the source address):
/// sends `first` right after connecting, prints the greeting, then sends `then` and prints
/// the rest until the server closes.
fn python_raw(source: &str, to: SocketAddr, first: &[u8], then: &[u8]) -> String {
    let script = r#"
import socket, sys, binascii
source, host, port, first, then = sys.argv[1], sys.argv[2], int(sys.argv[3]), binascii.unhexlify(sys.argv[4]), binascii.unhexlify(sys.argv[5])
s = socket.socket()
s.bind((source, 0))
s.settimeout(5)
s.connect((host, port))
s.sendall(first)
out = b""
try:
    while b"\r\n" not in out:
        chunk = s.recv(4096)
        if not chunk:
            break
        out += chunk
    if out:
        s.sendall(then)
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
except (socket.timeout, ConnectionResetError):
    pass
sys.stdout.write(out.decode("latin-1"))
"#;
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(source)
        .arg(to.ip().to_string())
        .arg(to.port().to_string())
        .arg(hex(first))
        .arg(hex(then))
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn client_addresses_through_haproxy_decide_and_untrusted_headers_are_refused() {
    let server = TestServer::start_with(Options {
        listen: vec!["trusted_proxies = [\"127.0.0.1/32\"]".into()],
        ..Default::default()
    });
    server.seed_contoso();
    server.ok(&["user", "set", USER, "--smtp-auth", "enabled"]);
    let added: serde_json::Value = serde_json::from_str(&server.ok(&[
        "device-credential",
        "add",
        USER,
        "--name",
        "printer behind the balancer",
        "--allow",
        "127.0.0.2/32",
        "--json",
    ]))
    .unwrap();
    let secret = added["secret"].as_str().unwrap().to_string();
    let balancer = haproxy(server.dir.path(), server.submission);

    // The device at 127.0.0.2, through HAProxy: its own address is the one in its allow list.
    let (code, text) = device(&server, balancer.address.port(), &secret, "127.0.0.2");
    assert_eq!(code, 0, "{text}");
    let entry = last_signin(&server);
    assert_eq!(
        (entry["client_ip"].as_str(), entry["check"].as_str()),
        (Some("127.0.0.2"), Some("accepted")),
        "{entry}"
    );
    let queued = server.queued();
    assert_eq!(queued.len(), 1);
    let message = String::from_utf8_lossy(&queued[0].1);
    assert!(message.contains("[127.0.0.2]"), "the Received header names the device: {message}");
    assert!(!message.contains("[127.0.0.1]"), "not the balancer: {message}");

    // The same secret from 127.0.0.3 through the same balancer: outside the allow list.
    let (code, text) = device(&server, balancer.address.port(), &secret, "127.0.0.3");
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("this device credential is not allowed from your address"), "{text}");
    let entry = last_signin(&server);
    assert_eq!(
        (entry["client_ip"].as_str(), entry["check"].as_str()),
        (Some("127.0.0.3"), Some("device-credential-address")),
        "{entry}"
    );

    // A client that is not a trusted proxy cannot name an address: its header is refused.
    let said = python_raw("127.0.0.3", server.submission, b"", b"PROXY TCP4 127.0.0.2 127.0.0.1 4000 587\r\n");
    assert!(said.starts_with("220 "), "{said}");
    assert!(
        said.contains("421 4.7.0 PROXY protocol header not accepted from your address; closing connection"),
        "{said}"
    );

    // The trusted address without a header: dropped before a greeting.
    let said = python_raw("127.0.0.1", server.submission, b"EHLO printer.contoso.com\r\n", b"QUIT\r\n");
    assert_eq!(said, "", "a trusted proxy's connection without a header gets nothing");

    // A v1 header from the trusted address names the client for everything after it: an AUTH
    // before TLS is logged under that client.
    let said = python_raw(
        "127.0.0.1",
        server.submission,
        b"PROXY TCP4 192.0.2.77 127.0.0.1 40000 587\r\n",
        b"EHLO x\r\nAUTH PLAIN AHNjYW5uZXJAY29udG9zby5jb20AeA==\r\nQUIT\r\n",
    );
    assert!(said.contains("538 5.7.11"), "{said}");
    let entry = last_signin(&server);
    assert_eq!(entry["client_ip"].as_str(), Some("192.0.2.77"), "{entry}");
    drop(balancer);
}

#[test]
fn config_check_refuses_a_proxy_list_that_trusts_everyone() {
    let dir = tempfile::tempdir().unwrap();
    for (list, expect) in
        [("[\"0.0.0.0/0\"]", "trusts every address"), ("[\"10.0.0.300/32\"]", "listen.trusted_proxies")]
    {
        let path = dir.path().join("authrelay.toml");
        std::fs::write(&path, format!("[listen]\ntrusted_proxies = {list}\n")).unwrap();
        let out = Command::new(common::BIN)
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--config")
            .arg(&path)
            .args(["config", "check"])
            .output()
            .unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!out.status.success(), "{list}: {text}");
        assert!(text.contains(expect), "{list}: {text}");
    }
}

fn curl(url: &str) -> (String, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", "-w", "\n%{http_code}", url])
        .output()
        .expect("curl must be installed to run this test");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or((&text, ""));
    (code.to_string(), body.to_string())
}

/// The balancer's checks: `/healthz` while the process answers, `/readyz` while this node can
/// keep mail (store answers, queue writable) — and back to ready by itself.
#[test]
fn health_and_readiness_for_the_balancer() {
    let server = TestServer::start();
    let admin = server.admin();
    let (code, body) = curl(&format!("http://{admin}/healthz"));
    assert_eq!((code.as_str(), body.trim()), ("200", "{\"status\":\"ok\"}"));
    let (code, body) = curl(&format!("http://{admin}/readyz"));
    assert_eq!(code, "200", "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "ready", "{v}");

    // The queue directory gone (a failed mount, say): not ready, with the reason.
    let spool = server.data_dir().join("spool");
    let aside = server.data_dir().join("spool-aside");
    std::fs::rename(&spool, &aside).unwrap();
    let (code, body) = curl(&format!("http://{admin}/readyz"));
    std::fs::rename(&aside, &spool).unwrap();
    assert_eq!(code, "503", "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "not-ready", "{v}");
    assert_eq!(v["checks"]["store"], "ok", "{v}");
    assert!(v["checks"]["queue"].as_str().unwrap().starts_with("not writable"), "{v}");

    // Back in place: ready again without a restart.
    let (code, body) = curl(&format!("http://{admin}/readyz"));
    assert_eq!(code, "200", "{body}");
}
