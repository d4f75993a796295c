//! Import from Microsoft 365 in the admin center, in a real browser:
//! `crates/admin/tests/browser/import-walk.mjs` drives Debian's Chromium (playwright-core)
//! through upload → plan → apply → setup sheets (checked, downloaded, printed to PDF: one page
//! per device) → a device (swaks) sends with its sheet → the cutover checklist says done → the
//! same files again change nothing; audited. In English, Korean and Indonesian, each with
//! another encoding of the exports (UTF-8 BOM, UTF-16 LE, UTF-16 BE). Screenshots land in
//! `artifacts/screenshots/import-<lang>/`.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::TestServer;

const ADMIN: &str = "boss@contoso.com";
const ADMIN_PASSWORD: &str = "Adm1n-Center-Pass!";
const CHROMIUM: &str = "/usr/bin/chromium";

fn walk(lang: &str, report: &str, mailboxes: &str, org: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../admin/tests/browser");
    assert!(dir.join("node_modules/playwright-core").is_dir(), "playwright-core is not installed: run ./scripts/test");
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: run ./scripts/test");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrate/tests/fixtures");

    let server = TestServer::start();
    let out =
        server.cli_with_stdin(&["admin", "add", ADMIN, "--role", "global", "--password-stdin"], Some(ADMIN_PASSWORD));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/screenshots");
    let tmp = shots.join("import-tmp");
    let _ = std::fs::remove_dir_all(tmp.join(lang));
    let child = Command::new("node")
        .arg(dir.join("import-walk.mjs"))
        .current_dir(&dir)
        .env("ADMIN_URL", format!("http://{}", server.admin()))
        .env("ADMIN_ADDRESS", ADMIN)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("SMTP_PORT", server.submission.port().to_string())
        .env("WALK_LANG", lang)
        .env("REPORT", fixtures.join(report))
        .env("MAILBOXES", fixtures.join(mailboxes))
        .env("ORG_SETTINGS", fixtures.join(org))
        .env("SCREENSHOT_DIR", &tmp)
        .env("OUT_DIR", server.dir.path())
        .env("CHROMIUM", CHROMIUM)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node (Node.js is needed for the browser tests)");
    let (status, stdout, stderr) =
        common::wait_bounded(child, Duration::from_secs(180), &format!("the {lang} import walk"));
    assert!(status.success(), "import walk ({lang}) failed:\n{stdout}\n{stderr}\nserver log:\n{}", server.logs());
    assert!(stdout.contains("import walk passed"), "{stdout}");
    let own = shots.join(format!("import-{lang}"));
    let _ = std::fs::remove_dir_all(&own);
    let _ = std::fs::rename(tmp.join(lang), &own);

    // The pages wrote what the CLI reads, and the readiness the CLI reports agrees.
    let status = server.cli(&["import", "status", "--json"]);
    let lines: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    let done: Vec<&str> = lines
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["state"] == "done")
        .map(|l| l["address"].as_str().unwrap())
        .collect();
    assert_eq!(done, ["scanner@contoso.com"]);
    let user: serde_json::Value =
        serde_json::from_str(&server.ok(&["user", "show", "mfp-2f@contoso.com", "--json"])).unwrap();
    assert_eq!(user["settings"]["smtp_auth"], "default", "the third state survived the browser");
}

#[test]
fn import_walk_in_english() {
    walk("en", "report-en-utf8-bom.csv", "mailboxes-ps51-utf16le.csv", "transportconfig-fl-utf16le.txt");
}

#[test]
fn import_walk_in_korean() {
    walk("ko", "report-ko-utf16le.txt", "mailboxes-ps7-utf8-bom.csv", "transportconfig.json");
}

#[test]
fn import_walk_in_indonesian() {
    walk("id", "report-id-utf16be.csv", "mailboxes-ps51-utf16le.csv", "transportconfig.json");
}
