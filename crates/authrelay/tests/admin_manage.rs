//! The management operations through the admin API against the real server process: delete
//! and rename a mailbox (then real SMTP AUTH with the old and the new address), send-as grants,
//! organisation limits (then a real message over the limit), DKIM keys per domain, and admin
//! accounts (role, authenticator reset, removal with the last-Global and own-account guards).
//! Each action is tried by every role: the ones without the permission get 403 naming the
//! roles that may.

mod common;

use common::http::{request, Response};
use common::{TestServer, PASSWORD};
use serde_json::{json, Value};

const ADMIN_PASSWORD: &str = "Adm1n-Center-Pass!";

struct Client {
    addr: std::net::SocketAddr,
    cookie: String,
    csrf: String,
}

impl Client {
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let mut headers = vec![
            ("Cookie", format!("ar_session={}", self.cookie)),
            ("X-CSRF-Token", self.csrf.clone()),
            ("Accept-Language", "en".to_string()),
        ];
        if body.is_some() {
            headers.push(("Content-Type", "application/json".to_string()));
        }
        request(self.addr, method, path, &headers, &body.map(|b| b.to_string()).unwrap_or_default())
    }
}

fn json_of(r: &Response) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

/// Signs in through POST /api/session; the cookie comes from Set-Cookie (read here, since the
/// shared one-request client keeps only the body).
fn sign_in(server: &TestServer, address: &str) -> Client {
    use std::io::{Read, Write};
    let addr = server.admin();
    let body = json!({ "address": address, "password": ADMIN_PASSWORD }).to_string();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let req = format!(
        "POST /api/session HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200"), "{address}: {raw}");
    let cookie = raw
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: ar_session=")
                .then(|| l["set-cookie: ar_session=".len()..].split(';').next().unwrap().to_string())
        })
        .unwrap_or_else(|| panic!("no session cookie: {raw}"));
    let json_start = raw.find("{\"").unwrap();
    let v: Value = serde_json::from_str(raw[json_start..].trim()).unwrap_or_else(|e| panic!("{e}: {raw}"));
    Client { addr, cookie, csrf: v["csrf_token"].as_str().unwrap().to_string() }
}

fn server_with_admins() -> TestServer {
    let server = TestServer::start();
    server.open_contoso();
    for role in ["global", "security", "exchange", "user", "reports"] {
        let out = server.cli_with_stdin(
            &["admin", "add", &format!("{role}-admin@contoso.com"), "--role", role, "--password-stdin"],
            Some(ADMIN_PASSWORD),
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    server
}

/// SMTP AUTH LOGIN over STARTTLS with Python's smtplib: 0 = the message was queued, 3 = AUTH
/// refused.
fn auth(server: &TestServer, user: &str, secret: &str) -> i32 {
    server.device_client(server.submission.port(), user, secret, "127.0.0.1", "LOGIN").0
}

/// Every new endpoint, tried by each role: allowed ones do not get 403, the others get 403
/// `role-required` naming the roles that may (and nothing changes).
#[test]
fn each_role_may_do_exactly_its_management_actions() {
    let server = server_with_admins();
    for role in ["global", "security", "exchange", "user", "reports"] {
        let c = sign_in(&server, &format!("{role}-admin@contoso.com"));
        let cases: &[(&str, String, Option<Value>, &[&str])] = &[
            ("GET", "/api/orgs/Contoso/limits".into(), None, &["global", "security", "exchange", "user", "reports"]),
            ("PATCH", "/api/orgs/Contoso/limits".into(), Some(json!({ "max_recipients": 50 })), &["global"]),
            (
                "GET",
                "/api/domains/contoso.com/dkim".into(),
                None,
                &["global", "security", "exchange", "user", "reports"],
            ),
            (
                "POST",
                "/api/domains/contoso.com/dkim".into(),
                Some(json!({ "algorithm": "ed25519", "selector": format!("s-{role}") })),
                &["global"],
            ),
            (
                "PATCH",
                "/api/users/scanner@contoso.com".into(),
                Some(json!({ "add_send_as": [format!("{role}@contoso.com")] })),
                &["global", "user"],
            ),
            ("DELETE", "/api/users/nobody@contoso.com".into(), None, &["global", "user"]),
            (
                "POST",
                "/api/users/nobody@contoso.com/rename".into(),
                Some(json!({ "address": "x@contoso.com" })),
                &["global", "user"],
            ),
            ("PATCH", "/api/admins/reports-admin@contoso.com".into(), Some(json!({ "role": "reports" })), &["global"]),
            ("POST", "/api/admins/reports-admin@contoso.com/totp-reset".into(), None, &["global"]),
            ("DELETE", "/api/admins/nobody@contoso.com".into(), None, &["global"]),
        ];
        for (method, path, body, allowed) in cases {
            let r = c.call(method, path, body.clone());
            if allowed.contains(&role) {
                assert_ne!(r.status, 403, "{role} {method} {path}: {}", r.body);
            } else {
                assert_eq!(r.status, 403, "{role} {method} {path}: {}", r.body);
                let v = json_of(&r);
                assert_eq!(v["error"]["code"], "role-required");
                assert!(v["error"]["required_roles"].as_array().unwrap().contains(&json!("global")), "{}", r.body);
            }
        }
    }
    // Only the permitted changes were made.
    let user: Value = serde_json::from_str(&server.ok(&["user", "show", "scanner@contoso.com", "--json"])).unwrap();
    assert_eq!(user["send_as"], json!(["global@contoso.com", "user@contoso.com"]));
    let keys: Vec<String> = std::fs::read_dir(server.data_dir().join("dkim/contoso.com"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(keys, ["s-global.pem"]);
}

/// Rename through the API: the new address signs in with the old password, the old address
/// is refused; a domain of another organisation or a taken address is refused in words.
/// Delete: the address is refused at once, a message it had queued stays queued.
#[test]
fn rename_and_delete_change_what_smtp_auth_accepts() {
    let server = server_with_admins();
    let c = sign_in(&server, "user-admin@contoso.com");
    assert_eq!(auth(&server, "scanner@contoso.com", PASSWORD), 0, "the seed's device sends");

    server.ok(&["org", "add", "Northwind", "--domain", "northwind.test"]);
    // (Admins sign in with a second factor while any organisation has security defaults on.)
    server.ok(&["org", "set", "Northwind", "--security-defaults", "off"]);
    let r = c.call("POST", "/api/users/scanner@contoso.com/rename", Some(json!({ "address": "mfp@northwind.test" })));
    assert_eq!((r.status, json_of(&r)["error"]["code"].as_str()), (422, Some("other-org")), "{}", r.body);
    assert!(json_of(&r)["error"]["message"].as_str().unwrap().contains("Northwind"), "{}", r.body);
    let r =
        c.call("POST", "/api/users/scanner@contoso.com/rename", Some(json!({ "address": "user-admin@nowhere.test" })));
    assert_eq!(r.status, 422, "{}", r.body);

    let r = c.call("POST", "/api/users/scanner@contoso.com/rename", Some(json!({ "address": "mfp@fabrikam.com" })));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(json_of(&r)["address"], "mfp@fabrikam.com");
    assert_eq!(auth(&server, "mfp@fabrikam.com", PASSWORD), 0, "the new address signs in with the same password");
    assert_eq!(auth(&server, "scanner@contoso.com", PASSWORD), 3, "the old address is gone");

    let queued_before = server.queued().len();
    assert!(queued_before >= 1, "the device's messages are queued (no route delivers them here)");
    let r = c.call("DELETE", "/api/users/mfp@fabrikam.com", None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(json_of(&r)["deleted"], "mfp@fabrikam.com");
    assert_eq!(auth(&server, "mfp@fabrikam.com", PASSWORD), 3, "a deleted user cannot sign in");
    assert_eq!(server.queued().len(), queued_before, "queued mail stays");
    let r = c.call("DELETE", "/api/users/mfp@fabrikam.com", None);
    assert_eq!(r.status, 404, "{}", r.body);

    let g = sign_in(&server, "global-admin@contoso.com");
    let audit = g.call("GET", "/api/audit", None);
    assert!(audit.body.contains("user.rename") && audit.body.contains("user.delete"), "{}", audit.body);
}

/// Limits set through the API are the ones SMTP applies: a message to more recipients than
/// the organisation's limit is refused; 0 gives the server's limit back.
#[test]
fn organisation_limits_apply_to_the_next_message() {
    let server = server_with_admins();
    let c = sign_in(&server, "global-admin@contoso.com");
    let r = c.call("PATCH", "/api/orgs/Contoso/limits", Some(json!({ "max_recipients": 1 })));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(json_of(&r)["max_recipients"], 1);
    let two = |server: &TestServer| {
        let out = std::process::Command::new("python3")
            .arg(common::sink::support("submit.py"))
            .arg(server.submission.port().to_string())
            .arg(server.data_dir().join("tls/cert.pem"))
            .arg("scanner@contoso.com")
            .arg(PASSWORD)
            .arg("scanner@contoso.com")
            .arg("a@example.net,b@example.net")
            .arg(write_message(server))
            .output()
            .unwrap();
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    };
    let refused = two(&server);
    assert!(
        refused.contains("RCPT 452 4.5.3 Too many recipients"),
        "the second recipient is over the limit: {refused}"
    );
    let r = c.call("PATCH", "/api/orgs/Contoso/limits", Some(json!({ "max_recipients": 0 })));
    assert_eq!(json_of(&r)["max_recipients"], Value::Null, "{}", r.body);
    let accepted = two(&server);
    assert!(accepted.contains("DATA 250") && !accepted.contains("452"), "{accepted}");
}

fn write_message(server: &TestServer) -> std::path::PathBuf {
    let path = server.dir.path().join(format!("m-{}.eml", common::now_millis()));
    std::fs::write(&path, "From: scanner@contoso.com\r\nTo: a@example.net\r\nSubject: limits\r\n\r\nbody\r\n").unwrap();
    path
}

/// Admin accounts: role change, authenticator reset and removal through the API, with the
/// guards: the last Global administrator keeps the role, nobody removes or demotes themselves.
#[test]
fn admin_accounts_keep_a_global_administrator() {
    let server = server_with_admins();
    let g = sign_in(&server, "global-admin@contoso.com");
    let r = g.call("DELETE", "/api/admins/global-admin@contoso.com", None);
    assert_eq!((r.status, json_of(&r)["error"]["code"].as_str()), (409, Some("own-account")), "{}", r.body);
    let r = g.call("PATCH", "/api/admins/global-admin@contoso.com", Some(json!({ "role": "reports" })));
    assert_eq!(json_of(&r)["error"]["code"], "own-account", "{}", r.body);
    // The CLI (Global, no account) may not demote the only Global administrator either.
    let out = server.cli(&["admin", "set-role", "global-admin@contoso.com", "--role", "reports"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only Global administrator"), "{:?}", out);

    let r = g.call("PATCH", "/api/admins/security-admin@contoso.com", Some(json!({ "role": "exchange" })));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(json_of(&r)["role"], "exchange");
    let s = sign_in(&server, "security-admin@contoso.com");
    assert_eq!(s.call("GET", "/api/queue", None).status, 200, "the new role applies to the next request");

    let r = g.call("POST", "/api/admins/security-admin@contoso.com/totp-reset", None);
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(s.call("GET", "/api/session", None).status, 401, "the reset ended the admin's sessions");

    let r = g.call("DELETE", "/api/admins/security-admin@contoso.com", None);
    assert_eq!(r.status, 204, "{}", r.body);
    let body = json!({ "address": "security-admin@contoso.com", "password": ADMIN_PASSWORD }).to_string();
    let r = request(server.admin(), "POST", "/api/session", &[("Content-Type", "application/json".into())], &body);
    assert_eq!(r.status, 401, "a removed admin cannot sign in: {}", r.body);
    let audit = g.call("GET", "/api/audit", None).body;
    for action in ["admin.role", "admin.totp-reset", "admin.remove"] {
        assert!(audit.contains(action), "{action} missing from {audit}");
    }
}
