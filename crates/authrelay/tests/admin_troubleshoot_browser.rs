//! The Troubleshooter in a real browser: `crates/admin/tests/browser/troubleshoot-walk.mjs`
//! drives Debian's Chromium (playwright-core) against a real server with the seed's blocked
//! mailbox, applies the first suggested fix with one click until the doctor says the mailbox can
//! send, and checks that swaks then sends with the device credential the fix showed once, that a
//! pasted reply is explained, and that the SMTP AUTH clients report counts the message. In
//! English, Korean and Indonesian; screenshots land in `artifacts/screenshots/troubleshoot-<lang>/`.
//!
//! Needs `chromium` and the script's `node_modules` (playwright-core); `scripts/test` installs both.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TestServer, PASSWORD};

const ADMIN: &str = "boss@contoso.com";
const ADMIN_PASSWORD: &str = "Adm1n-Center-Pass!";
const CHROMIUM: &str = "/usr/bin/chromium";
const USER: &str = "scanner@contoso.com";

fn walk(lang: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../admin/tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed in {}: run ./scripts/test (or `npm ci` there)",
        dir.display()
    );
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: run ./scripts/test (apt-get install chromium)");

    let server = TestServer::start();
    // The seed: security defaults on, SMTP AUTH off for the tenant, MFA on for the mailbox.
    server.seed_contoso();
    server.ok(&["user", "set", USER, "--mfa", "enabled"]);
    let out =
        server.cli_with_stdin(&["admin", "add", ADMIN, "--role", "global", "--password-stdin"], Some(ADMIN_PASSWORD));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let shots: PathBuf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/screenshots");
    let own = format!("troubleshoot-{lang}");
    let _ = std::fs::remove_dir_all(shots.join(&own));
    let _ = std::fs::remove_dir_all(shots.join("troubleshoot-tmp").join(lang));
    let child = Command::new("node")
        .arg(dir.join("troubleshoot-walk.mjs"))
        .current_dir(&dir)
        .env("ADMIN_URL", format!("http://{}", server.admin()))
        .env("ADMIN_ADDRESS", ADMIN)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("SMTP_PORT", server.submission.port().to_string())
        .env("USER_ADDRESS", USER)
        .env("USER_PASSWORD", PASSWORD)
        .env("WALK_LANG", lang)
        // The script adds the language; give it our own folder so the seed walk's stay intact.
        .env("SCREENSHOT_DIR", shots.join("troubleshoot-tmp").join(lang).parent().unwrap())
        .env("CHROMIUM", CHROMIUM)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node (Node.js is needed for the browser tests)");
    let (status, stdout, stderr) =
        common::wait_bounded(child, Duration::from_secs(180), &format!("the {lang} troubleshoot walk"));
    assert!(status.success(), "troubleshoot walk ({lang}) failed:\n{stdout}\n{stderr}\nserver log:\n{}", server.logs());
    assert!(stdout.contains("troubleshoot walk passed"), "{stdout}");
    let _ = std::fs::rename(shots.join("troubleshoot-tmp").join(lang), shots.join(&own));
    let taken = std::fs::read_dir(shots.join(&own)).map(|d| d.count()).unwrap_or(0);
    assert!(taken >= 6, "expected the Troubleshooter's screenshots, found {taken}");

    // The pages changed the directory records the CLI reads: the least weakening fixes only.
    let user: serde_json::Value = serde_json::from_str(&server.ok(&["user", "show", USER, "--json"])).unwrap();
    assert_eq!(user["settings"]["smtp_auth"], "enabled");
    assert_eq!(user["settings"]["mfa"], "enabled", "MFA stays on");
    let org: serde_json::Value = serde_json::from_str(&server.ok(&["org", "show", "Contoso", "--json"])).unwrap();
    assert_eq!(org["settings"]["security_defaults"], "on", "security defaults stay on");
    let creds = server.ok(&["device-credential", "list", USER, "--json"]);
    assert!(creds.contains("\"smtp-device\""), "{creds}");
}

#[test]
fn troubleshooter_walk_in_english() {
    walk("en");
}

#[test]
fn troubleshooter_walk_in_korean() {
    walk("ko");
}

#[test]
fn troubleshooter_walk_in_indonesian() {
    walk("id");
}
