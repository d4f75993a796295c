//! The admin center in a real browser: `crates/admin/tests/browser/seed-walk.mjs` drives Debian's
//! Chromium (through playwright-core) against a real server seeded as in the README, walks the
//! seed's three fixes through the pages, and checks with swaks that the device is refused before
//! each fix and accepted after the last. Once per language. Screenshots land in
//! `artifacts/screenshots/<lang>/`.
//!
//! Needs `chromium` and the script's `node_modules` (playwright-core); `scripts/test` installs
//! both. Without them these tests fail and say so.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TestServer, PASSWORD};

const ADMIN: &str = "boss@contoso.com";
const ADMIN_PASSWORD: &str = "Adm1n-Center-Pass!";
const CHROMIUM: &str = "/usr/bin/chromium";

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../admin/tests/browser")
}

fn artifacts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/screenshots")
}

fn walk(lang: &str) {
    let dir = browser_dir();
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed in {}: run ./scripts/test (or `npm ci` there)",
        dir.display()
    );
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: run ./scripts/test (apt-get install chromium)");

    let server = TestServer::start();
    // The README's story: security defaults on, SMTP AUTH off, the mailbox's owner uses MFA.
    server.seed_contoso();
    server.ok(&["user", "set", "scanner@contoso.com", "--mfa", "enabled"]);
    let out =
        server.cli_with_stdin(&["admin", "add", ADMIN, "--role", "global", "--password-stdin"], Some(ADMIN_PASSWORD));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let shots = artifacts();
    let _ = std::fs::remove_dir_all(shots.join(lang));
    let child = Command::new("node")
        .arg(dir.join("seed-walk.mjs"))
        .current_dir(&dir)
        .env("ADMIN_URL", format!("http://{}", server.admin()))
        .env("ADMIN_ADDRESS", ADMIN)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("SMTP_PORT", server.submission.port().to_string())
        .env("USER_ADDRESS", "scanner@contoso.com")
        .env("USER_PASSWORD", PASSWORD)
        .env("ORG_NAME", "Contoso")
        .env("WALK_LANG", lang)
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", CHROMIUM)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node (Node.js is needed for the browser tests)");
    let (status, stdout, stderr) =
        common::wait_bounded(child, Duration::from_secs(180), &format!("the {lang} browser walk"));
    assert!(status.success(), "browser walk ({lang}) failed:\n{stdout}\n{stderr}\nserver log:\n{}", server.logs());
    assert!(stdout.contains("seed walk passed"), "{stdout}");
    let taken = std::fs::read_dir(shots.join(lang)).map(|d| d.count()).unwrap_or(0);
    assert!(taken >= 15, "expected a screenshot of every page, found {taken}");

    // The changes the pages made are the directory's records the CLI reads.
    let user = server.ok(&["user", "show", "scanner@contoso.com", "--json"]);
    let user: serde_json::Value = serde_json::from_str(&user).unwrap();
    assert_eq!(user["settings"]["smtp_auth"], "enabled");
    assert_eq!(user["settings"]["mfa"], "disabled");
    let org: serde_json::Value = serde_json::from_str(&server.ok(&["org", "show", "Contoso", "--json"])).unwrap();
    assert_eq!(org["settings"]["security_defaults"], "off");
}

#[test]
fn seed_walk_in_english() {
    walk("en");
}

#[test]
fn seed_walk_in_korean() {
    walk("ko");
}

#[test]
fn seed_walk_in_indonesian() {
    walk("id");
}
