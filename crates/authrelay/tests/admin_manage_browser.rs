//! The management pages in a real browser: `crates/admin/tests/browser/manage-walk.mjs` drives
//! Debian's Chromium against a real server whose mail goes to a smarthost sink, once per
//! language. The walk renames a mailbox and checks with swaks that the new address signs in and
//! the old is refused, deletes one and checks it is refused, changes limits, an admin's role,
//! resets and removes that admin, and creates a DKIM key; this side then sends a message and
//! verifies its DKIM signature (dkimpy) against the record the page showed.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::sink::{bytes_of, support, Sink};
use common::{Options, TestServer, PASSWORD};

const ADMIN: &str = "boss@contoso.com";
const ADMIN_PASSWORD: &str = "Adm1n-Center-Pass!";
const CHROMIUM: &str = "/usr/bin/chromium";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../admin/tests/browser")
}

fn walk(lang: &str) {
    let dir = browser_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed in {}: run ./scripts/test (or `npm ci` there)",
        dir.display()
    );
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: run ./scripts/test (apt-get install chromium)");

    let work = tempfile::tempdir().unwrap();
    let sink = Sink::start(work.path(), "smarthost", &[]);
    let route = format!(
        "[delivery]\nscan_interval_ms = 100\nfirst_retry_secs = 1\nmax_retry_interval_secs = 1\n\n[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"opportunistic\"\n",
        sink.port
    );
    let server = TestServer::start_with_tables(Options::default(), &route);
    server.open_contoso();
    server.ok(&["org", "add", "Northwind", "--domain", "northwind.test"]);
    for org in ["Contoso", "Northwind"] {
        server.ok(&["org", "set", org, "--security-defaults", "off"]);
    }
    let out = server.cli_with_stdin(&["user", "add", "old@contoso.com", "--password-stdin"], Some(PASSWORD));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    server.ok(&["user", "set", "old@contoso.com", "--smtp-auth", "enabled"]);
    for (address, role) in [(ADMIN, "global"), ("helpdesk@contoso.com", "user")] {
        let out =
            server.cli_with_stdin(&["admin", "add", address, "--role", role, "--password-stdin"], Some(ADMIN_PASSWORD));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/screenshots/manage");
    let child = Command::new("node")
        .arg(dir.join("manage-walk.mjs"))
        .current_dir(&dir)
        .env("ADMIN_URL", format!("http://{}", server.admin()))
        .env("ADMIN_ADDRESS", ADMIN)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("SMTP_PORT", server.submission.port().to_string())
        .env("USER_PASSWORD", PASSWORD)
        .env("WALK_LANG", lang)
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", CHROMIUM)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node (Node.js is needed for the browser tests)");
    let (status, stdout, stderr) =
        common::wait_bounded(child, Duration::from_secs(240), &format!("the {lang} manage walk"));
    assert!(status.success(), "manage walk ({lang}) failed:\n{stdout}\n{stderr}\nserver log:\n{}", server.logs());
    assert!(stdout.contains("manage walk passed"), "{stdout}");

    // What the pages changed is what the CLI reads.
    let user: serde_json::Value =
        serde_json::from_str(&server.ok(&["user", "show", "mfp@contoso.com", "--json"])).unwrap();
    assert_eq!(user["send_as"], serde_json::json!(["noreply@contoso.com"]));
    assert!(!server.cli(&["user", "show", "old@contoso.com"]).status.success(), "deleted");
    assert!(!server.ok(&["admin", "list"]).contains("helpdesk@contoso.com"));

    // The record the page showed verifies the signature delivery puts on the next message.
    let record = stdout.lines().find_map(|l| l.strip_prefix("DKIM_RECORD=")).expect("the walk prints the record");
    let before = sink.messages().len();
    let message = work.path().join("signed-source.eml");
    std::fs::write(
        &message,
        "From: mfp@contoso.com\r\nTo: partner@example.net\r\nSubject: signed\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\nMessage-ID: <signed@contoso.com>\r\n\r\nbody\r\n",
    )
    .unwrap();
    let out = Command::new("python3")
        .arg(support("submit.py"))
        .arg(server.submission.port().to_string())
        .arg(server.data_dir().join("tls/cert.pem"))
        .args(["mfp@contoso.com", PASSWORD, "mfp@contoso.com", "partner@example.net"])
        .arg(&message)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("DATA 250"), "{out:?}");
    let got = sink.wait_for(before + 1, 30);
    let signed = got.iter().map(bytes_of).find(|b| String::from_utf8_lossy(b).contains("Subject: signed")).unwrap();
    assert!(String::from_utf8_lossy(&signed).contains("s=walk1"), "signed with the key the page made");
    let file = work.path().join("signed.eml");
    std::fs::write(&file, &signed).unwrap();
    let verify = Command::new("python3").arg(support("dkim_verify.py")).arg(&file).arg(record).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&verify.stdout), String::from_utf8_lossy(&verify.stderr));
    assert!(verify.status.success() && text.contains("dkim ok"), "dkimpy with the page's record: {text}");
}

#[test]
fn manage_walk_in_english() {
    walk("en");
}

#[test]
fn manage_walk_in_korean() {
    walk("ko");
}

#[test]
fn manage_walk_in_indonesian() {
    walk("id");
}
