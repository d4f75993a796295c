//! Issue 20's long lists on the real binary: a sign-in log of 1,501 rows of the last day
//! (written straight into the database, as a busy server would have), paged with totals beyond
//! every 500-row cut, filtered by a part of the address, a CIDR range, the `ip:port` and
//! `[v6]:port` forms the table shows, downloaded as CSV with the filter applied; the same over
//! the API (headers `X-Total-Count` and `Link`, `?format=csv`), the audit log's filters, the
//! queue's paging, and the Troubleshooter's "did you mean" in the API. The browser walk
//! (crates/admin/tests/browser/lists-walk.mjs) adds Home's attention list, the chart and the
//! return to the asked page after sign-in (an open redirect refused).

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::http::{request, Response};
use common::TestServer;
use serde_json::{json, Value};

const ADMIN: &str = "boss@contoso.com";
const ADMIN_PASSWORD: &str = "Adm1n-Center-Pass!";
const CHROMIUM: &str = "/usr/bin/chromium";
const SEEDED: i64 = 1500;
const FORMULA: &str = "=HYPERLINK(\"http://evil.example\",\"x\")";
const FORMULA_IP: &str = "203.0.113.9";

/// How seeded row `i` looks: its age, result, user and client.
fn row(i: i64) -> (i64, bool, &'static str, String) {
    let success = i % 5 == 0;
    let user = if i % 3 == 0 { "Printer.Floor2@contoso.com" } else { "scanner@contoso.com" };
    let ip = if i % 10 == 9 { "2001:db8::7".to_string() } else { format!("198.51.100.{}", i % 4 + 1) };
    (60 + i * 50, success, user, ip)
}

/// A server with the seed (security defaults off: admins sign in with a password), an admin,
/// a device credential that expires in 3 days, and the seeded sign-in log.
fn server() -> TestServer {
    let server = TestServer::start();
    server.seed_contoso();
    server.ok(&["org", "set", "Contoso", "--security-defaults", "off"]);
    server.ok(&["user", "set", "scanner@contoso.com", "--mfa", "disabled"]);
    server.ok(&["device-credential", "add", "scanner@contoso.com", "--name", "copier-3f", "--expires-in", "3"]);
    let out =
        server.cli_with_stdin(&["admin", "add", ADMIN, "--role", "global", "--password-stdin"], Some(ADMIN_PASSWORD));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let now = common::now_millis() as i64 / 1000;
    let mut rows: Vec<Value> = (0..SEEDED)
        .map(|i| {
            let (age, success, user, ip) = row(i);
            json!([
                now - age,
                ip,
                40_000 + i,
                user,
                if success { "accepted" } else { "credentials" },
                if success { "AuthOk" } else { "BadCredentials" },
                success
            ])
        })
        .collect();
    rows.push(json!([now - 30, FORMULA_IP, 1, FORMULA, "credentials", "BadCredentials", false]));
    let script = "import json, sqlite3, sys\n\
        db = sqlite3.connect(sys.argv[1])\n\
        db.executemany(\"INSERT INTO signins (at, client_ip, client_port, tls, mechanism, user, credential, check_name, reply, success) VALUES (?, ?, ?, 'TLSv1.3', 'PLAIN', ?, 'password', ?, ?, ?)\", json.load(sys.stdin))\n\
        db.commit()\n";
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(server.data_dir().join("authrelay.db"))
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed to seed the sign-in log");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(Value::Array(rows).to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    server
}

fn count(pick: impl Fn(i64, bool, &str, &str) -> bool) -> i64 {
    (0..SEEDED)
        .filter(|&i| {
            let (age, ok, user, ip) = row(i);
            pick(age, ok, user, &ip)
        })
        .count() as i64
}

/// What the walk checks against, computed from the same rows.
fn seed_facts() -> Value {
    let refused = count(|_, ok, _, _| !ok) + 1;
    let per_ip: serde_json::Map<String, Value> = (1..=4)
        .map(|n| {
            let ip = format!("198.51.100.{n}");
            let total = count(|_, _, _, i| i == ip);
            (ip, json!(total))
        })
        .collect();
    json!({
        "refused": refused,
        "refused_24h": refused,
        "succeeded_24h": count(|_, ok, _, _| ok),
        "partial": "FLOOR2",
        "partial_total": count(|_, _, u, _| u.starts_with("Printer")),
        "cidr": "198.51.100.2/31",
        "cidr_total": count(|_, _, _, ip| ip == "198.51.100.2" || ip == "198.51.100.3"),
        "per_ip": per_ip,
        "v6_with_port": "[2001:db8::7]:25",
        "v6_total": count(|_, _, _, ip| ip == "2001:db8::7"),
        "formula": FORMULA,
        "formula_ip": FORMULA_IP,
        "expiring_name": "copier-3f",
    })
}

fn walk(lang: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../admin/tests/browser");
    assert!(dir.join("node_modules/playwright-core").is_dir(), "playwright-core missing: run ./scripts/test");
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: run ./scripts/test (apt-get install chromium)");
    let server = server();
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../artifacts/screenshots/lists");
    let child = Command::new("node")
        .arg(dir.join("lists-walk.mjs"))
        .current_dir(&dir)
        .env("ADMIN_URL", format!("http://{}", server.admin()))
        .env("ADMIN_ADDRESS", ADMIN)
        .env("ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("WALK_LANG", lang)
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", CHROMIUM)
        .env("SEED", seed_facts().to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node (Node.js is needed for the browser tests)");
    let (status, stdout, stderr) =
        common::wait_bounded(child, Duration::from_secs(240), &format!("the {lang} lists walk"));
    assert!(status.success(), "lists walk ({lang}) failed:\n{stdout}\n{stderr}\nserver log:\n{}", server.logs());
    assert!(stdout.contains("lists walk passed"), "{stdout}");
}

#[test]
fn long_lists_in_a_browser_in_english() {
    walk("en");
}

#[test]
fn long_lists_in_a_browser_in_korean() {
    walk("ko");
}

#[test]
fn long_lists_in_a_browser_in_indonesian() {
    walk("id");
}

// ---------------------------------------------------------------------------------------------
// The API

struct Api {
    server: TestServer,
    cookie: String,
}

impl Api {
    fn get(&self, path: &str) -> Response {
        let cookie = format!("ar_session={}", self.cookie);
        request(self.server.admin(), "GET", path, &[("Cookie", cookie), ("Accept-Language", "en".into())], "")
    }

    fn json(&self, path: &str) -> (Value, Response) {
        let r = self.get(path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        (serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.body)), r)
    }

    fn total(&self, path: &str) -> i64 {
        let (_, r) = self.json(path);
        r.header("x-total-count").unwrap_or_else(|| panic!("{path}: no X-Total-Count")).parse().unwrap()
    }
}

fn api() -> Api {
    let server = server();
    let body = json!({ "address": ADMIN, "password": ADMIN_PASSWORD }).to_string();
    let r = request(server.admin(), "POST", "/api/session", &[("Content-Type", "application/json".into())], &body);
    assert_eq!(r.status, 200, "{}", r.body);
    let cookie = r.header("set-cookie").and_then(|c| c.strip_prefix("ar_session=")).unwrap();
    let cookie = cookie.split(';').next().unwrap().to_string();
    Api { server, cookie }
}

#[test]
fn the_api_pages_filters_and_downloads_the_sign_in_log() {
    let api = api();
    let since = common::now_millis() as i64 / 1000 - 86_400;
    let facts = seed_facts();
    let refused = facts["refused"].as_i64().unwrap();

    // Pages beyond 500 rows, with the total and the links of the pages around.
    let path = format!("/api/signins?result=failure&since={since}&page=7&per_page=100");
    let (rows, r) = api.json(&path);
    assert_eq!(rows.as_array().unwrap().len(), 100);
    assert_eq!(r.header("x-total-count").unwrap(), refused.to_string());
    let link = r.header("link").unwrap();
    assert!(
        link.contains("offset=700&limit=100>; rel=\"next\"") && link.contains("offset=500&limit=100>; rel=\"prev\""),
        "{link}"
    );
    assert!(link.contains("result=failure"), "the links keep the filter: {link}");
    assert!(rows.as_array().unwrap().iter().all(|r| r["success"] == false));
    let (offset_rows, _) = api.json(&format!("/api/signins?result=failure&since={since}&offset=600&limit=100"));
    assert_eq!(rows, offset_rows, "page 7 is offset 600");
    let (last, r) = api.json(&format!("/api/signins?result=failure&since={since}&offset={}&limit=1000", refused - 1));
    assert_eq!(last.as_array().unwrap().len(), 1);
    assert!(!r.header("link").unwrap().contains("rel=\"next\""), "no next after the last row");
    // The old shape still answers: an array, 100 newest by default, `limit` up to 1000.
    let (plain, _) = api.json("/api/signins");
    assert_eq!(plain.as_array().unwrap().len(), 100);
    assert_eq!(plain[0]["user"], FORMULA, "newest first");

    // Filters: a part of the address, a range, the ip:port form, [v6]:port.
    let total = |q: &str| api.total(&format!("/api/signins?since={since}&{q}"));
    assert_eq!(total("user_contains=floor2"), facts["partial_total"].as_i64().unwrap());
    assert_eq!(
        total("user=printer.floor2%40contoso.com"),
        facts["partial_total"].as_i64().unwrap(),
        "exact, as before"
    );
    assert_eq!(total("user=floor2"), 0, "`user` stays exact");
    assert_eq!(total("client_ip=198.51.100.2%2F31"), facts["cidr_total"].as_i64().unwrap());
    assert_eq!(total("client_ip=198.51.100.1%3A40000"), facts["per_ip"]["198.51.100.1"].as_i64().unwrap());
    assert_eq!(total("client_ip=%5B2001%3Adb8%3A%3A7%5D%3A25"), facts["v6_total"].as_i64().unwrap());
    assert_eq!(total("client_ip=2001%3Adb8%3A%3A%2F32"), facts["v6_total"].as_i64().unwrap());
    let bad = api.get("/api/signins?client_ip=printer-room");
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("bad-client") && bad.body.contains("192.0.2.0/24"), "{}", bad.body);

    // CSV with the filter, every matching row, formulas defused.
    let csv = api.get(&format!("/api/signins?since={since}&user_contains=floor2&format=csv"));
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let lines: Vec<&str> = csv.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines[0], "time,user,client_ip,client_port,tls,mechanism,credential,result,check,reply,legacy_listener");
    assert_eq!(lines.len() as i64, facts["partial_total"].as_i64().unwrap() + 1, "not one page: all of them");
    let formula = api.get(&format!("/api/signins?client_ip={FORMULA_IP}&format=csv"));
    let line = formula.body.split("\r\n").nth(1).unwrap();
    assert!(line.contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\")\""), "{line}");
    // The page's download says the same.
    let page = api.get(&format!("/signins.csv?client_ip={FORMULA_IP}&hours=24"));
    assert_eq!(page.status, 200);
    assert_eq!(page.body, formula.body);
}

#[test]
fn the_api_pages_the_audit_log_users_and_queue_and_suggests_mailboxes() {
    let api = api();
    for i in 0..30 {
        api.server.ok(&["user", "set", "scanner@contoso.com", "--display-name", &format!("Scanner {i}")]);
    }
    let (page, r) = api.json("/api/audit?action=user.display-name&per_page=10&page=2");
    assert_eq!(r.header("x-total-count").unwrap(), "30");
    assert_eq!(page.as_array().unwrap().len(), 10);
    assert!(page.as_array().unwrap().iter().all(|e| e["action"] == "user.display-name"));
    let users = api.total("/api/audit?action=user.");
    assert!(users > 30 && users < api.total("/api/audit"), "a prefix: the display names, the creation, not the rest");
    assert_eq!(api.total("/api/audit?target=SCANNER%40"), api.total("/api/audit?target=scanner@contoso.com"));
    assert_eq!(api.total("/api/audit?until=1"), 0);

    // Lists the API answered whole still do without paging parameters; with them, a page.
    for n in 0..12 {
        api.server.ok(&["user", "add", &format!("u{n:02}@contoso.com")]);
    }
    let (all, r) = api.json("/api/users");
    assert_eq!(all.as_array().unwrap().len(), 13);
    assert_eq!(r.header("x-total-count").unwrap(), "13");
    let (page, r) = api.json("/api/users?search=u0&per_page=4&page=3");
    assert_eq!(r.header("x-total-count").unwrap(), "10");
    assert_eq!(
        page.as_array().unwrap().iter().map(|u| u["address"].as_str().unwrap()).collect::<Vec<_>>(),
        ["u08@contoso.com", "u09@contoso.com"]
    );
    let (orgs, _) = api.json("/api/orgs?limit=1");
    assert_eq!(orgs.as_array().unwrap().len(), 1);

    // The queue: its fields as before, and the paging it says.
    let (queue, _) = api.json("/api/queue?state=deferred&domain=example.org&per_page=5");
    assert_eq!(
        (queue["count"].as_i64(), queue["matched"].as_i64(), queue["limit"].as_i64()),
        (Some(0), Some(0), Some(5))
    );

    // "Did you mean" in the API, as on the page.
    let (doctor, _) = api.json("/api/users/scaner%40contoso.com/doctor");
    assert_eq!(doctor["similar"], json!(["scanner@contoso.com"]), "{doctor}");
}
