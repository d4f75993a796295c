//! Backup and restore (issue 17, item 7) against the real binary: `authrelay backup` runs
//! while a real client (Python's smtplib) submits messages; the archive is restored into a new
//! directory and a server started there has every user, setting, credential (an app password
//! and a device credential still sign in), key and certificate, and every message whose 250
//! the client had before the backup started. A non-empty target and a truncated archive are
//! refused.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::TestServer;

const CLIENT: &str = include_str!("support/ops_client.py");
const USER: &str = "scanner@contoso.com";
/// Messages the load client sends: enough to overlap the backup, bounded.
const LOAD: usize = 60;
/// Deliveries go to a closed port and wait for a retry, so messages stay queued.
const TABLES: &str = "[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\nhost = \"127.0.0.1\"\nport = 1\n";

fn client(server: &TestServer, args: &[&str]) -> Command {
    let script = server.dir.path().join("ops_client.py");
    std::fs::write(&script, CLIENT).unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg(script).args(args);
    cmd
}

fn signs_in(server: &TestServer, secret: &str) -> String {
    let out = client(server, &["auth", &server.submission.port().to_string(), USER, secret]).output().unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)).trim().to_string()
}

fn json(server: &TestServer, args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&server.ok(args)).unwrap()
}

fn queued_ids(server: &TestServer) -> Vec<String> {
    let list = json(server, &["queue", "list", "--json"]);
    list.as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn backup_during_load_restores_everything_acknowledged() {
    let server = TestServer::start_with_tables(Default::default(), TABLES);
    server.open_contoso();
    server.ok(&["org", "set", "Contoso", "--max-recipients", "42", "--app-passwords", "allowed"]);
    server.ok(&["user", "set", USER, "--mfa", "enforced", "--send-as", "printers@contoso.com"]);
    let app_password = server.ok(&["app-password", "add", USER, "--name", "printer"]);
    // The secret is the indented line.
    let app_password = app_password.lines().find(|l| l.starts_with("  ")).unwrap().trim().to_string();
    let device: serde_json::Value =
        json(&server, &["device-credential", "add", USER, "--name", "scanner-3f", "--json"]);
    let device = device["secret"].as_str().unwrap().to_string();
    assert_eq!(signs_in(&server, &app_password), "AUTH-OK");
    assert_eq!(signs_in(&server, &device), "AUTH-OK");
    server.ok(&["dkim", "generate", "contoso.com", "--algorithm", "ed25519", "--selector", "s1"]);

    // The load: one client sending LOAD messages; each 250's queue id is noted when read.
    let acked: Arc<Mutex<Vec<(Instant, String)>>> = Default::default();
    let mut load = client(&server, &["load", &server.submission.port().to_string(), USER, &device, &LOAD.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = load.stdout.take().unwrap();
    let reader = {
        let acked = acked.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(id) = line.strip_prefix("ACK ") {
                    acked.lock().unwrap().push((Instant::now(), id.to_string()));
                }
            }
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 10 {
        assert!(Instant::now() < deadline, "the load did not start: {}", server.logs());
        std::thread::sleep(Duration::from_millis(10));
    }

    let archive = server.dir.path().join("backup.tar.gz");
    let started = Instant::now();
    let text = server.ok(&["backup", "--to", archive.to_str().unwrap()]);
    let finished = Instant::now();
    assert!(text.contains("Backup written to"), "{text}");
    let (status, _, err) = common::wait_bounded(load, Duration::from_secs(60), "the load client");
    reader.join().unwrap();
    assert!(status.success(), "{err}");
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), LOAD);
    let before: Vec<&String> = acked.iter().filter(|(at, _)| *at < started).map(|(_, id)| id).collect();
    let during = acked.iter().filter(|(at, _)| *at >= started && *at <= finished).count();
    assert!(before.len() >= 10, "{before:?}");
    println!(
        "acknowledged before the backup: {}, during it: {during}, after: {}",
        before.len(),
        LOAD - before.len() - during
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the archive holds keys and hashes");
    }

    // Restored into a new directory, a server starts there with everything.
    let mut restored = TestServer::configure_with_tables(Default::default(), TABLES);
    let text = restored.ok(&["restore", "--from", archive.to_str().unwrap()]);
    assert!(text.contains("Restored"), "{text}");
    restored.launch();
    let ids = queued_ids(&restored);
    for id in &before {
        assert!(ids.contains(id), "message {id}, acknowledged before the backup, is missing from {ids:?}");
    }
    assert!(ids.len() >= before.len() && ids.len() <= LOAD, "{} restored", ids.len());
    let first = &before[0];
    assert_eq!(
        restored.cli(&["queue", "show", first, "--raw"]).stdout,
        server.cli(&["queue", "show", first, "--raw"]).stdout,
        "message bytes"
    );
    assert_eq!(json(&restored, &["user", "list", "--json"]), json(&server, &["user", "list", "--json"]));
    assert_eq!(json(&restored, &["org", "list", "--json"]), json(&server, &["org", "list", "--json"]));
    assert_eq!(json(&restored, &["user", "show", USER, "--json"]), json(&server, &["user", "show", USER, "--json"]));
    assert_eq!(restored.ok(&["app-password", "list", USER]), server.ok(&["app-password", "list", USER]));
    assert_eq!(signs_in(&restored, &app_password), "AUTH-OK");
    assert_eq!(signs_in(&restored, &device), "AUTH-OK");
    assert!(signs_in(&restored, "not-the-secret").starts_with("AUTH-FAILED 535"));
    let fingerprint = |s: &TestServer| json(s, &["cert", "show", "--json"])["sha256"].clone();
    assert_eq!(fingerprint(&restored), fingerprint(&server), "the same certificate");
    for file in ["admin-totp.key", "dkim/contoso.com/s1.pem", "tls/key.pem"] {
        let original = std::fs::read(server.data_dir().join(file));
        assert!(original.is_ok(), "{file} in the original");
        assert_eq!(std::fs::read(restored.data_dir().join(file)).ok(), original.ok(), "{file}");
    }

    // A directory in use is never overwritten, and a truncated archive is refused whole.
    let out = restored.cli(&["restore", "--from", archive.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not empty"));
    let bytes = std::fs::read(&archive).unwrap();
    let truncated = server.dir.path().join("truncated.tar.gz");
    std::fs::write(&truncated, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let fresh = server.dir.path().join("fresh");
    let out = Command::new(common::BIN)
        .arg("--data-dir")
        .arg(&fresh)
        .args(["restore", "--from", truncated.to_str().unwrap()])
        .env("LANG", "en_US.UTF-8")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a whole authrelay backup"));
    assert!(!fresh.exists(), "nothing half restored");
}
