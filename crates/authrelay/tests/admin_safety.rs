//! The admin center's safety nets and accessibility (issue 20), against the real server process:
//!
//! - Confirmations: a weakening or destructive form (a revocation, blocking sign-in, security
//!   defaults off, a change that cuts off devices) is answered with a page that previews its
//!   effect and changes nothing; the same form confirmed applies it, audited as before. Over
//!   HTTP here, and in Chromium by `crates/admin/tests/browser/confirm-walk.mjs` (the preview
//!   lists the device swaks was seen as in the sign-in log; Cancel keeps, Confirm revokes).
//! - Accessibility and phones: `crates/admin/tests/browser/a11y-walk.mjs` visits every page of
//!   the admin center (signed out and in, forms with their errors, confirmations) in en, ko and
//!   id, at desktop width and at 390 px, runs axe-core on each and fails on any serious or
//!   critical violation, or on a page wider than the 390 px screen. With
//!   `AUTHRELAY_SCREENSHOTS=docs/screenshots` it also writes the screenshots the docs show.
//!
//! The browser tests need `chromium` and the scripts' `node_modules` (playwright-core,
//! axe-core); `scripts/test` installs both. Without them these tests fail and say so.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::http::{request, Response};
use common::{TestServer, PASSWORD};
use serde_json::Value;

const ADMIN: &str = "boss@contoso.com";
const ADMIN_PASSWORD: &str = "Adm1n-Center-Pass!";
const USER: &str = "scanner@contoso.com";
const CHROMIUM: &str = "/usr/bin/chromium";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../admin/tests/browser")
}

fn add_admin(server: &TestServer, address: &str) {
    let out =
        server.cli_with_stdin(&["admin", "add", address, "--role", "global", "--password-stdin"], Some(ADMIN_PASSWORD));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// swaks over STARTTLS with the mailbox's password, up to AUTH: one sign-in log row.
fn device_signs_in(server: &TestServer) -> String {
    let out = Command::new("swaks")
        .args(["--server", &format!("127.0.0.1:{}", server.submission.port()), "--tls", "--auth", "LOGIN"])
        .args(["--auth-user", USER, "--auth-password", PASSWORD, "--quit-after", "AUTH", "--timeout", "20"])
        .output()
        .expect("run swaks (scripts/test installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A cookie session of a global admin.
struct Admin {
    server_admin: std::net::SocketAddr,
    cookie: String,
    csrf: String,
}

impl Admin {
    fn sign_in(server: &TestServer, address: &str) -> Admin {
        use std::io::{Read, Write};
        let body = serde_json::json!({ "address": address, "password": ADMIN_PASSWORD }).to_string();
        let addr = server.admin();
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let req = format!(
            "POST /api/session HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(req.as_bytes()).unwrap();
        let mut raw = String::new();
        stream.read_to_string(&mut raw).unwrap();
        let cookie = raw
            .lines()
            .find_map(|l| {
                l.strip_prefix("set-cookie: ar_session=").or_else(|| l.strip_prefix("Set-Cookie: ar_session="))
            })
            .map(|c| c.split(';').next().unwrap().to_string())
            .unwrap_or_else(|| panic!("no session cookie: {raw}"));
        let json: Value = serde_json::from_str(raw.split_once("\r\n\r\n").unwrap().1).unwrap();
        assert_eq!(json["stage"], "signed-in", "{json}");
        Admin { server_admin: addr, cookie, csrf: json["csrf_token"].as_str().unwrap().to_string() }
    }

    fn post(&self, path: &str, form: &str) -> Response {
        let headers = vec![
            ("Cookie", format!("ar_session={}", self.cookie)),
            ("Content-Type", "application/x-www-form-urlencoded".into()),
        ];
        request(self.server_admin, "POST", path, &headers, &format!("csrf={}&{form}", self.csrf))
    }
}

impl Admin {
    /// The actions of the audit log, newest first.
    fn audit_actions(&self) -> Vec<String> {
        let headers = vec![("Cookie", format!("ar_session={}", self.cookie))];
        let r = request(self.server_admin, "GET", "/api/audit?limit=200", &headers, "");
        let out: Value = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body));
        out.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap_or("").to_string()).collect()
    }
}

/// Over HTTP: each weakening or destructive form answers with its confirmation (200, nothing
/// changed, not audited), and the confirmed form applies the change (303, audited).
#[test]
fn weakening_and_destructive_forms_ask_first_and_apply_only_when_confirmed() {
    let server = TestServer::start();
    server.seed_contoso();
    server.ok(&["user", "set", USER, "--smtp-auth", "enabled"]);
    server.ok(&["app-password", "add", USER, "--name", "printer"]);
    // Signed in while security defaults are off (no second factor to enrol); then on again.
    server.ok(&["org", "set", "Contoso", "--security-defaults", "off"]);
    add_admin(&server, ADMIN);
    let admin = Admin::sign_in(&server, ADMIN);
    server.ok(&["org", "set", "Contoso", "--security-defaults", "on"]);
    // The device is refused by security defaults: the sign-in log knows it (credential verified).
    assert!(device_signs_in(&server).contains("security defaults"), "swaks is refused by security defaults");

    // Security defaults off: a preview with the mailbox and the device it would let through.
    let r = admin.post("/org/Contoso/security-defaults", "security_defaults=off&reason=legacy-smtp-devices");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"confirm-change\""), "{}", r.body);
    assert!(r.body.contains("class=\"confirm-mailbox\">scanner@contoso.com<"), "{}", r.body);
    assert!(r.body.contains("data-user=\"scanner@contoso.com\" data-ip=\"127.0.0.1\""), "{}", r.body);
    assert!(r.body.contains("name=\"reason\" value=\"legacy-smtp-devices\""), "the reason goes along: {}", r.body);
    let org = || -> Value { serde_json::from_str(&server.ok(&["org", "show", "Contoso", "--json"])).unwrap() };
    assert_eq!(org()["settings"]["security_defaults"], "on", "asking changed nothing");
    let count = |actions: Vec<String>, action: &str| actions.iter().filter(|a| *a == action).count();
    // The CLI's two changes above are audited; asking added none.
    assert_eq!(count(admin.audit_actions(), "org.security-defaults"), 2);
    let r =
        admin.post("/org/Contoso/security-defaults", "security_defaults=off&reason=legacy-smtp-devices&confirmed=yes");
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(org()["settings"]["security_defaults"], "off");
    let actions = admin.audit_actions();
    assert_eq!(count(actions.clone(), "org.security-defaults"), 3, "{actions:?}");
    assert!(actions.contains(&"org.security-defaults-reason".to_string()), "{actions:?}");

    // The device now gets through; security defaults on again would cut it off: asked, and the
    // preview names the check that would refuse it.
    assert!(device_signs_in(&server).contains("235 "), "swaks gets through");
    let r = admin.post("/org/Contoso/security-defaults", "security_defaults=on");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"confirm-cut-off\""), "{}", r.body);
    // A strengthening change that cuts nobody off is not asked about: app passwords are not in
    // use by any device here.
    let r = admin.post("/org/Contoso/mail/app-passwords", "");
    assert_eq!(r.status, 303, "{}", r.body);

    // Revoking the app password: asked, with its last use; then revoked and audited.
    let user = "/users/scanner%40contoso.com";
    let r = admin.post(&format!("{user}/app-passwords/revoke"), "name=printer");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"confirm-facts\""), "{}", r.body);
    assert!(server.ok(&["app-password", "list", USER]).contains("printer"), "asking revoked nothing");
    let r = admin.post(&format!("{user}/app-passwords/revoke"), "name=printer&confirmed=yes");
    assert_eq!(r.status, 303, "{}", r.body);
    assert!(!server.ok(&["app-password", "list", USER]).contains("printer"));
    assert!(admin.audit_actions().contains(&"user.app-password-revoke".to_string()));

    // Blocking sign-in: asked, the device it cuts off listed; confirmed, blocked.
    let r = admin.post(&format!("{user}/sign-in"), "blocked=on");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains("id=\"confirm-cut-off\""), "{}", r.body);
    let shown = || -> Value { serde_json::from_str(&server.ok(&["user", "show", USER, "--json"])).unwrap() };
    assert_eq!(shown()["settings"]["sign_in"], "allowed");
    let r = admin.post(&format!("{user}/sign-in"), "blocked=on&confirmed=yes");
    assert_eq!(r.status, 303, "{}", r.body);
    assert_eq!(shown()["settings"]["sign_in"], "blocked");
    // Allowing it again weakens nothing anyone did not have before: no question.
    assert_eq!(admin.post(&format!("{user}/sign-in"), "").status, 303);
}

fn run_walk(script: &str, lang: &str, server: &TestServer, extra: &[(&str, String)], limit: Duration) -> String {
    let dir = browser_dir();
    for package in ["playwright-core", "axe-core"] {
        assert!(
            dir.join("node_modules").join(package).is_dir(),
            "{package} is not installed in {}: run ./scripts/test (or `npm ci` there)",
            dir.display()
        );
    }
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: run ./scripts/test (apt-get install chromium)");
    let mut cmd = Command::new("node");
    cmd.arg(dir.join(script))
        .current_dir(&dir)
        .env("ADMIN_URL", format!("http://{}", server.admin()))
        .env("ADMIN_ADDRESS", ADMIN)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("SMTP_PORT", server.submission.port().to_string())
        .env("USER_ADDRESS", USER)
        .env("USER_PASSWORD", PASSWORD)
        .env("ORG_NAME", "Contoso")
        .env("WALK_LANG", lang)
        .env("CHROMIUM", CHROMIUM)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let child = cmd.spawn().expect("run node (Node.js is needed for the browser tests)");
    let (status, stdout, stderr) = common::wait_bounded(child, limit, &format!("{script} ({lang})"));
    assert!(status.success(), "{script} ({lang}) failed:\n{stdout}\n{stderr}\nserver log:\n{}", server.logs());
    stdout
}

/// The seed's Contoso with the device already seen: SMTP AUTH on for the mailbox, security
/// defaults on (so swaks is refused by them, and the admin enrols TOTP), an app password.
fn contoso_with_a_device() -> TestServer {
    contoso_with_a_device_and("")
}

/// [`contoso_with_a_device`] with more configuration tables.
fn contoso_with_a_device_and(tables: &str) -> TestServer {
    let server = TestServer::start_with_tables(common::Options::default(), tables);
    server.seed_contoso();
    server.ok(&["user", "set", USER, "--smtp-auth", "enabled"]);
    server.ok(&["app-password", "add", USER, "--name", "printer"]);
    add_admin(&server, ADMIN);
    assert!(device_signs_in(&server).contains("security defaults"), "swaks is refused by security defaults");
    server
}

#[test]
fn confirmations_in_the_browser_preview_the_effect_and_cancel_keeps_everything() {
    let server = contoso_with_a_device();
    let out = run_walk("confirm-walk.mjs", "en", &server, &[], Duration::from_secs(180));
    assert!(out.contains("confirm walk passed"), "{out}");
    let org: Value = serde_json::from_str(&server.ok(&["org", "show", "Contoso", "--json"])).unwrap();
    assert_eq!(org["settings"]["security_defaults"], "off");
    assert!(!server.ok(&["app-password", "list", USER]).contains("printer"));
}

fn a11y(lang: &str) {
    // A connector for the Connectors page (its devices are not on loopback: nothing else here
    // changes).
    let server = contoso_with_a_device_and(
        "[[connectors]]\nname = \"copiers-2nd-floor\"\nclients = [\"10.1.0.0/16\", \"2001:db8:aaaa:bbbb:cccc:dddd:eeee:0/112\"]\nsender_domains = [\"contoso.com\", \"scans.contoso.com\"]\n",
    );
    // A message in the queue (its destination does not answer: it stays deferred) for the queue
    // page and the delete confirmation.
    server.ok(&["org", "set", "Contoso", "--security-defaults", "off"]);
    let sent = Command::new("swaks")
        .args(["--server", &format!("127.0.0.1:{}", server.submission.port()), "--tls", "--auth", "LOGIN"])
        .args(["--auth-user", USER, "--auth-password", PASSWORD, "--from", USER, "--to", "frontdesk@example.net"])
        .args(["--header", "Subject: Scan 0042", "--timeout", "20"])
        .output()
        .expect("run swaks");
    assert!(String::from_utf8_lossy(&sent.stdout).contains("queued as"), "{}", String::from_utf8_lossy(&sent.stdout));
    server.ok(&["org", "set", "Contoso", "--security-defaults", "on"]);
    let mut extra = vec![];
    if let Ok(dir) = std::env::var("AUTHRELAY_SCREENSHOTS") {
        // Relative to the repository, as the docs name it.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        extra.push(("SCREENSHOTS", root.join(dir).display().to_string()));
    }
    let out = run_walk("a11y-walk.mjs", lang, &server, &extra, Duration::from_secs(600));
    assert!(out.contains("a11y walk passed"), "{out}");
    println!("{out}");
}

#[test]
fn every_page_has_no_serious_axe_violation_and_fits_the_window_in_english() {
    a11y("en");
}

#[test]
fn every_page_has_no_serious_axe_violation_and_fits_the_window_in_korean() {
    a11y("ko");
}

#[test]
fn every_page_has_no_serious_axe_violation_and_fits_the_window_in_indonesian() {
    a11y("id");
}
