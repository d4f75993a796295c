//! The admin API against the real server process: what each role may and may not change (403
//! naming the role), CSRF on cookie sessions, session expiry, TOTP while security defaults are
//! on (with replay refused), the sign-in rate limit, API tokens scoped by role, the audit log,
//! and the OpenAPI document checked against real answers.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::{Options, TestServer, PASSWORD};
use serde_json::{json, Value};

const ADMIN_PASSWORD: &str = "Adm1n-Center-Pass!";

// ---------------------------------------------------------------------------------------------
// A small HTTP/1.1 client: one request per connection, enough for JSON and form posts.

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or("").to_string()
    }
}

fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&str>) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect to the admin listener");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or("");
    if !body.is_empty() || matches!(method, "POST" | "PATCH" | "PUT") {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").expect("HTTP response head");
    let mut lines = head.lines();
    let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))).collect();
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked { dechunk(rest) } else { rest.to_string() };
    Response { status, headers, body }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// One admin's way into the API: a session cookie and its CSRF token, or a bearer token.
#[derive(Clone)]
struct Client {
    addr: SocketAddr,
    cookie: Option<String>,
    csrf: Option<String>,
    bearer: Option<String>,
    lang: &'static str,
}

impl Client {
    fn anonymous(addr: SocketAddr) -> Client {
        Client { addr, cookie: None, csrf: None, bearer: None, lang: "en" }
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let body = body.map(|b| b.to_string());
        let cookie = self.cookie.as_ref().map(|c| format!("ar_session={c}"));
        let bearer = self.bearer.as_ref().map(|b| format!("Bearer {b}"));
        let mut headers: Vec<(&str, &str)> = vec![("Accept-Language", self.lang)];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        if let Some(c) = &cookie {
            headers.push(("Cookie", c));
        }
        if let Some(c) = &self.csrf {
            headers.push(("X-CSRF-Token", c));
        }
        if let Some(b) = &bearer {
            headers.push(("Authorization", b));
        }
        request(self.addr, method, path, &headers, body.as_deref())
    }

    fn get(&self, path: &str) -> Response {
        self.call("GET", path, None)
    }
}

/// Signs in through POST /api/session; returns the answer and a client holding the cookie.
fn sign_in(addr: SocketAddr, address: &str, password: &str, totp: Option<&str>) -> (Response, Client) {
    let mut body = json!({ "address": address, "password": password });
    if let Some(code) = totp {
        body["totp"] = json!(code);
    }
    let r = Client::anonymous(addr).call("POST", "/api/session", Some(body));
    let cookie = r
        .header("set-cookie")
        .and_then(|c| c.strip_prefix("ar_session="))
        .map(|c| c.split(';').next().unwrap().to_string());
    let csrf = if r.status == 200 { r.json()["csrf_token"].as_str().map(String::from) } else { None };
    let client = Client { addr, cookie, csrf, bearer: None, lang: "en" };
    (r, client)
}

fn add_admin(server: &TestServer, address: &str, role: &str) {
    let out =
        server.cli_with_stdin(&["admin", "add", address, "--role", role, "--password-stdin"], Some(ADMIN_PASSWORD));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The seed with security defaults off (so admins sign in with a password alone) and one admin
/// per role.
fn server_with_admins() -> TestServer {
    let server = TestServer::start();
    server.seed_contoso();
    server.ok(&["org", "set", "Contoso", "--security-defaults", "off"]);
    for role in ["global", "security", "exchange", "user", "reports"] {
        add_admin(&server, &format!("{role}-admin@contoso.com"), role);
    }
    server
}

fn signed_in(server: &TestServer, role: &str) -> Client {
    let (r, client) = sign_in(server.admin(), &format!("{role}-admin@contoso.com"), ADMIN_PASSWORD, None);
    assert_eq!(r.status, 200, "{role}: {}", r.body);
    assert_eq!(r.json()["stage"], "signed-in");
    client
}

// ---------------------------------------------------------------------------------------------
// Roles

/// One API action and the roles that may do it. `{r}` in the path or body is replaced by the
/// role, so each role's attempt touches its own objects.
struct Case {
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    allowed: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        method: "GET",
        path: "/api/orgs",
        body: None,
        allowed: &["global", "security", "exchange", "user", "reports"],
    },
    Case {
        method: "GET",
        path: "/api/users?search=scanner",
        body: None,
        allowed: &["global", "security", "exchange", "user", "reports"],
    },
    Case {
        method: "PATCH",
        path: "/api/orgs/Contoso",
        body: Some(r#"{"security_defaults":"off"}"#),
        allowed: &["global", "security"],
    },
    Case {
        method: "PATCH",
        path: "/api/orgs/Contoso",
        body: Some(r#"{"smtp_auth":"disabled"}"#),
        allowed: &["global", "exchange"],
    },
    Case {
        method: "PATCH",
        path: "/api/orgs/Contoso",
        body: Some(r#"{"app_passwords":"allowed"}"#),
        allowed: &["global", "security"],
    },
    Case {
        method: "PATCH",
        path: "/api/users/scanner@contoso.com",
        body: Some(r#"{"smtp_auth":"enabled"}"#),
        allowed: &["global", "exchange"],
    },
    Case {
        method: "PATCH",
        path: "/api/users/scanner@contoso.com",
        body: Some(r#"{"mfa":"disabled"}"#),
        allowed: &["global", "security"],
    },
    Case {
        method: "POST",
        path: "/api/mfa",
        body: Some(r#"{"users":["scanner@contoso.com"],"mfa":"disabled"}"#),
        allowed: &["global", "security"],
    },
    Case {
        method: "PATCH",
        path: "/api/users/scanner@contoso.com",
        body: Some(r#"{"sign_in":"allowed"}"#),
        allowed: &["global", "user"],
    },
    Case {
        method: "POST",
        path: "/api/users",
        body: Some(r#"{"address":"new-{r}@contoso.com"}"#),
        allowed: &["global", "user"],
    },
    Case {
        method: "POST",
        path: "/api/users/scanner@contoso.com/password",
        body: Some(r#"{}"#),
        allowed: &["global", "user"],
    },
    Case {
        method: "POST",
        path: "/api/users/scanner@contoso.com/app-passwords",
        body: Some(r#"{"name":"printer-{r}"}"#),
        allowed: &["global", "security"],
    },
    Case {
        method: "POST",
        path: "/api/orgs",
        body: Some(r#"{"name":"Org {r}","domains":["{r}.example.org"]}"#),
        allowed: &["global"],
    },
    Case { method: "GET", path: "/api/signins", body: None, allowed: &["global", "security", "reports"] },
    Case {
        method: "GET",
        path: "/api/reports/smtp-auth-clients?days=30",
        body: None,
        allowed: &["global", "security", "exchange", "reports"],
    },
    Case { method: "GET", path: "/api/queue", body: None, allowed: &["global", "exchange"] },
    Case { method: "GET", path: "/api/audit", body: None, allowed: &["global", "security", "reports"] },
    Case { method: "GET", path: "/api/admins", body: None, allowed: &["global"] },
    Case {
        method: "POST",
        path: "/api/admins",
        body: Some(r#"{"address":"more-{r}@contoso.com","role":"reports","password":"Another-Adm1n-Pass!"}"#),
        allowed: &["global"],
    },
];

const ROLE_NAMES: &[(&str, &str)] = &[
    ("global", "Global administrator"),
    ("security", "Security administrator"),
    ("exchange", "Exchange administrator"),
    ("user", "User administrator"),
    ("reports", "Reports reader"),
];

#[test]
fn every_role_may_do_its_part_and_is_refused_the_rest_with_the_role_named() {
    let server = server_with_admins();
    // Everyone signs in first: the Global administrator's new organisation starts with security
    // defaults on, after which new sign-ins would need an authenticator.
    let clients: Vec<Client> = ROLE_NAMES.iter().map(|(role, _)| signed_in(&server, role)).collect();
    for ((role, role_name), client) in ROLE_NAMES.iter().zip(clients) {
        for case in CASES {
            let path = case.path.replace("{r}", role);
            let body = case.body.map(|b| serde_json::from_str::<Value>(&b.replace("{r}", role)).unwrap());
            let r = client.call(case.method, &path, body);
            if case.allowed.contains(role) {
                assert!((200..300).contains(&r.status), "{role} {} {path}: {} {}", case.method, r.status, r.body);
            } else {
                assert_eq!(r.status, 403, "{role} {} {path}: {}", case.method, r.body);
                let e = r.json();
                assert_eq!(e["error"]["code"], "role-required");
                let needed: Vec<&str> =
                    e["error"]["required_roles"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
                let mut expected: Vec<&str> = case.allowed.to_vec();
                expected.sort();
                let mut got = needed.clone();
                got.sort();
                assert_eq!(got, expected, "{role} {} {path}", case.method);
                let message = e["error"]["message"].as_str().unwrap();
                for allowed in case.allowed {
                    let name = ROLE_NAMES.iter().find(|(r, _)| r == allowed).unwrap().1;
                    assert!(message.contains(name), "{message} should name {name}");
                }
                assert!(message.contains(role_name), "{message} should name the caller's role {role_name}");
            }
        }
    }
    // What the API changed is what the CLI (and the next AUTH) reads.
    let user: Value = serde_json::from_str(&server.ok(&["user", "show", "scanner@contoso.com", "--json"])).unwrap();
    assert_eq!(user["settings"]["smtp_auth"], "enabled");
    let org: Value = serde_json::from_str(&server.ok(&["org", "show", "Contoso", "--json"])).unwrap();
    assert_eq!(org["settings"]["app_passwords"], "allowed");
}

#[test]
fn refusals_are_in_the_callers_language() {
    let server = server_with_admins();
    let mut client = signed_in(&server, "reports");
    client.lang = "ko-KR,ko;q=0.9";
    let r = client.call("PATCH", "/api/users/scanner@contoso.com", Some(json!({ "mfa": "disabled" })));
    assert_eq!(r.status, 403);
    let message = r.json()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("보안 관리자") && message.contains("보고서 읽기 권한자"), "{message}");
    client.lang = "id";
    let r = client.call("PATCH", "/api/users/scanner@contoso.com", Some(json!({ "mfa": "disabled" })));
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("Administrator keamanan"), "{}", r.body);
}

// ---------------------------------------------------------------------------------------------
// The three fixes through the API take effect on the next AUTH

#[test]
fn the_seed_fixes_through_the_api_let_the_device_sign_in() {
    let server = TestServer::start();
    server.seed_contoso();
    server.ok(&["user", "set", "scanner@contoso.com", "--mfa", "enabled"]);
    server.ok(&["org", "set", "Contoso", "--security-defaults", "off"]);
    add_admin(&server, "boss@contoso.com", "global");
    let (_, client) = sign_in(server.admin(), "boss@contoso.com", ADMIN_PASSWORD, None);
    let r = client.call("PATCH", "/api/users/scanner@contoso.com", Some(json!({ "smtp_auth": "enabled" })));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["smtp_auth_effective"], true);
    assert_eq!(r.json()["smtp_auth_source"], "mailbox");
    assert_eq!(swaks_auth(&server), "mfa");
    let r = client.call("POST", "/api/mfa", Some(json!({ "users": ["scanner@contoso.com"], "mfa": "disabled" })));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(swaks_auth(&server), "accepted");
    // The sign-in log through the API, filtered, with the reply spelled out.
    let failures = client.get("/api/signins?user=scanner@contoso.com&result=failure").json();
    let first = &failures.as_array().unwrap()[0];
    assert_eq!(first["check"], "mfa");
    assert_eq!(
        first["reply"],
        "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator."
    );
    let report = client.get("/api/reports/smtp-auth-clients?days=7&format=csv");
    assert_eq!(report.status, 200);
    assert!(report.header("content-type").unwrap().starts_with("text/csv"));
    assert!(report.body.contains("scanner@contoso.com,1,1,TLSv1.3,password,LOGIN,127.0.0.1,"), "{}", report.body);
    let audit = client.get("/api/audit").json();
    let mfa = audit.as_array().unwrap().iter().find(|e| e["action"] == "user.mfa").expect("audit of the MFA change");
    assert_eq!(
        (mfa["actor"].as_str(), mfa["before"].as_str(), mfa["after"].as_str()),
        (Some("boss@contoso.com"), Some("enabled"), Some("disabled"))
    );
    assert_eq!(mfa["target"], "scanner@contoso.com");
}

/// Runs swaks up to AUTH; returns the check the sign-in log recorded for that attempt.
fn swaks_auth(server: &TestServer) -> String {
    let out = std::process::Command::new("swaks")
        .args(["--server", &server.submission.to_string(), "--tls", "--auth", "LOGIN"])
        .args(["--auth-user", "scanner@contoso.com", "--auth-password", PASSWORD])
        .args([
            "--from",
            "scanner@contoso.com",
            "--to",
            "frontdesk@example.net",
            "--quit-after",
            "AUTH",
            "--timeout",
            "20",
        ])
        .output()
        .expect("swaks");
    let _ = out;
    let log: Value = serde_json::from_str(&server.ok(&["signins", "--last", "1", "--json"])).unwrap();
    log[0]["check"].as_str().unwrap().to_string()
}

// ---------------------------------------------------------------------------------------------
// CSRF, sessions, TOTP, rate limit, tokens

#[test]
fn cookie_sessions_need_the_csrf_token_for_changes() {
    let server = server_with_admins();
    let client = signed_in(&server, "global");
    let patch = || Some(json!({ "smtp_auth": "enabled" }));
    let without = Client { csrf: None, ..client.clone() };
    let r = without.call("PATCH", "/api/users/scanner@contoso.com", patch());
    assert_eq!((r.status, r.code()), (403, "csrf".to_string()), "{}", r.body);
    let wrong = Client { csrf: Some("0".repeat(64)), ..client.clone() };
    assert_eq!(wrong.call("PATCH", "/api/users/scanner@contoso.com", patch()).status, 403);
    // Reads need no token; the right token lets the change through.
    assert_eq!(without.get("/api/users/scanner@contoso.com").status, 200);
    assert_eq!(client.call("PATCH", "/api/users/scanner@contoso.com", patch()).status, 200);

    // A web form without the token is refused, and changes nothing.
    let cookie = format!("ar_session={}", client.cookie.as_deref().unwrap());
    let r = request(
        server.admin(),
        "POST",
        "/mfa/scanner%40contoso.com",
        &[("Cookie", &cookie), ("Content-Type", "application/x-www-form-urlencoded")],
        Some("mfa=enforced"),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(r.body.contains("data-code=\"csrf\""), "{}", r.body);
    let form = format!("mfa=enforced&csrf={}", client.csrf.as_deref().unwrap());
    let r = request(
        server.admin(),
        "POST",
        "/mfa/scanner%40contoso.com",
        &[("Cookie", &cookie), ("Content-Type", "application/x-www-form-urlencoded")],
        Some(&form),
    );
    assert_eq!(r.status, 303, "{}", r.body);
    let user: Value = serde_json::from_str(&server.ok(&["user", "show", "scanner@contoso.com", "--json"])).unwrap();
    assert_eq!(user["settings"]["mfa"], "enforced");

    // Session cookies are HttpOnly and SameSite=Strict (Secure only on a TLS listener).
    let (r, _) = sign_in(server.admin(), "global-admin@contoso.com", ADMIN_PASSWORD, None);
    let set_cookie = r.header("set-cookie").unwrap();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"), "{set_cookie}");
}

#[test]
fn sessions_expire() {
    let server = TestServer::start_with_tables(Options::default(), "[admin]\nsession_ttl_secs = 2\n");
    server.seed_contoso();
    server.ok(&["org", "set", "Contoso", "--security-defaults", "off"]);
    add_admin(&server, "boss@contoso.com", "global");
    let (_, client) = sign_in(server.admin(), "boss@contoso.com", ADMIN_PASSWORD, None);
    assert_eq!(client.get("/api/session").status, 200);
    std::thread::sleep(Duration::from_millis(3100));
    let r = client.get("/api/session");
    assert_eq!((r.status, r.code()), (401, "session-expired".to_string()));
    // The pages send an expired session back to the sign-in form.
    let cookie = format!("ar_session={}", client.cookie.as_deref().unwrap());
    let r = request(server.admin(), "GET", "/users", &[("Cookie", &cookie)], None);
    assert_eq!(r.status, 303);
    // …with the page asked for, so signing in again lands there.
    assert_eq!(r.header("location"), Some("/signin?expired=1&next=%2Fusers"));
}

/// RFC 6238 code of a base32 secret at a unix time (independent of the server's code).
fn totp(secret: &str, unix: u64) -> String {
    use std::num::Wrapping;
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut value, mut key) = (0u32, 0u32, vec![]);
    for c in secret.bytes() {
        value = (value << 5) | alphabet.iter().position(|a| *a == c).unwrap() as u32;
        bits += 5;
        if bits >= 8 {
            key.push((value >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    let hash = hmac_sha1(&key, &(unix / 30).to_be_bytes());
    let o = (hash[19] & 15) as usize;
    let bin = Wrapping(u32::from_be_bytes([hash[o] & 0x7f, hash[o + 1], hash[o + 2], hash[o + 3]]));
    format!("{:06}", bin.0 % 1_000_000)
}

/// HMAC-SHA1 (RFC 2104) over a tiny SHA-1 (FIPS 180-4), so the test shares no code with the
/// server's TOTP.
fn hmac_sha1(key: &[u8], msg: &[u8]) -> [u8; 20] {
    fn sha1(data: &[u8]) -> [u8; 20] {
        let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
        let mut m = data.to_vec();
        let bit_len = (data.len() as u64) * 8;
        m.push(0x80);
        while m.len() % 64 != 56 {
            m.push(0);
        }
        m.extend_from_slice(&bit_len.to_be_bytes());
        for chunk in m.chunks(64) {
            let mut w = [0u32; 80];
            for i in 0..16 {
                w[i] = u32::from_be_bytes([chunk[4 * i], chunk[4 * i + 1], chunk[4 * i + 2], chunk[4 * i + 3]]);
            }
            for i in 16..80 {
                w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
            }
            let [mut a, mut b, mut c, mut d, mut e] = h;
            for (i, wi) in w.iter().enumerate() {
                let (f, k) = match i {
                    0..=19 => ((b & c) | (!b & d), 0x5A827999),
                    20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                    40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                    _ => (b ^ c ^ d, 0xCA62C1D6),
                };
                let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
                e = d;
                d = c;
                c = b.rotate_left(30);
                b = a;
                a = t;
            }
            for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
                *x = x.wrapping_add(y);
            }
        }
        let mut out = [0u8; 20];
        for (i, x) in h.iter().enumerate() {
            out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
        }
        out
    }
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let inner: Vec<u8> = k.iter().map(|b| b ^ 0x36).chain(msg.iter().copied()).collect();
    let outer: Vec<u8> = k.iter().map(|b| b ^ 0x5c).chain(sha1(&inner)).collect();
    sha1(&outer)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

#[test]
fn totp_is_required_while_security_defaults_are_on() {
    let server = TestServer::start();
    server.seed_contoso(); // security defaults on, as for a new tenant
    add_admin(&server, "boss@contoso.com", "global");
    add_admin(&server, "helper@contoso.com", "security");
    let addr = server.admin();

    // First sign-in: enrol an authenticator; nothing else is allowed until the code is given.
    let (r, client) = sign_in(addr, "boss@contoso.com", ADMIN_PASSWORD, None);
    assert_eq!(r.status, 200, "{}", r.body);
    let body = r.json();
    assert_eq!(body["stage"], "enroll-totp");
    let secret = body["totp_secret"].as_str().unwrap().to_string();
    assert!(body["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/authrelay:boss@contoso.com?secret="));
    let r = client.get("/api/orgs");
    assert_eq!((r.status, r.code()), (403, "totp-required".to_string()));
    let wrong = client.call("POST", "/api/session/totp", Some(json!({ "code": "000000" })));
    let wrong_is_right = totp(&secret, unix_now()) == "000000";
    if !wrong_is_right {
        assert_eq!((wrong.status, wrong.code()), (401, "totp-invalid".to_string()));
    }
    let now = unix_now();
    let code = totp(&secret, now);
    let r = client.call("POST", "/api/session/totp", Some(json!({ "code": code })));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(client.get("/api/orgs").status, 200);

    // Next sign-in: the password alone is refused, and a used code cannot be used again.
    let (r, _) = sign_in(addr, "boss@contoso.com", ADMIN_PASSWORD, None);
    assert_eq!((r.status, r.code()), (401, "totp-required".to_string()));
    let (r, _) = sign_in(addr, "boss@contoso.com", ADMIN_PASSWORD, Some(&code));
    assert_eq!((r.status, r.code()), (401, "totp-invalid".to_string()), "a replayed code is refused");
    let next = totp(&secret, now + 30);
    let (r, _) = sign_in(addr, "boss@contoso.com", ADMIN_PASSWORD, Some(&next));
    assert_eq!(r.status, 200, "the next step's code (within the drift window) works: {}", r.body);
    assert_eq!(r.json()["stage"], "signed-in");

    // With security defaults off, an admin without an authenticator signs in with a password;
    // one who enrolled keeps using it.
    server.ok(&["org", "set", "Contoso", "--security-defaults", "off"]);
    let (r, _) = sign_in(addr, "helper@contoso.com", ADMIN_PASSWORD, None);
    assert_eq!(r.json()["stage"], "signed-in", "{}", r.body);
    let (r, _) = sign_in(addr, "boss@contoso.com", ADMIN_PASSWORD, None);
    assert_eq!(r.code(), "totp-required");

    // `authrelay admin reset-totp` lets a locked-out admin enrol again.
    server.ok(&["admin", "reset-totp", "boss@contoso.com"]);
    let (r, _) = sign_in(addr, "boss@contoso.com", ADMIN_PASSWORD, None);
    assert_eq!(r.json()["stage"], "signed-in", "{}", r.body);
}

#[test]
fn admin_sign_in_is_rate_limited() {
    let server = server_with_admins();
    let addr = server.admin();
    for _ in 0..5 {
        let (r, _) = sign_in(addr, "global-admin@contoso.com", "Wrong-Password-123!", None);
        assert_eq!((r.status, r.code()), (401, "bad-credentials".to_string()));
    }
    let (r, _) = sign_in(addr, "global-admin@contoso.com", ADMIN_PASSWORD, None);
    assert_eq!((r.status, r.code()), (429, "rate-limited".to_string()), "{}", r.body);
    // An unknown admin gets the same answer as a wrong password.
    let (r, _) = sign_in(addr, "nobody@contoso.com", ADMIN_PASSWORD, None);
    assert_eq!((r.status, r.code()), (401, "bad-credentials".to_string()));
}

#[test]
fn api_tokens_carry_a_role_and_can_be_revoked() {
    let server = server_with_admins();
    let global = signed_in(&server, "global");
    let r = global.call("POST", "/api/tokens", Some(json!({ "name": "reporting", "role": "reports" })));
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.json();
    let token =
        Client { bearer: Some(created["secret"].as_str().unwrap().into()), ..Client::anonymous(server.admin()) };
    assert_eq!(token.get("/api/signins").status, 200);
    let r = token.call("PATCH", "/api/orgs/Contoso", Some(json!({ "security_defaults": "on" })));
    assert_eq!(
        (r.status, r.code()),
        (403, "role-required".to_string()),
        "a token needs no CSRF token but keeps its role"
    );
    assert_eq!(token.get("/api/session").json()["role"], "reports");

    // A Security administrator may make tokens for their own role only.
    let security = signed_in(&server, "security");
    let r = security.call("POST", "/api/tokens", Some(json!({ "name": "escalate", "role": "global" })));
    assert_eq!((r.status, r.code()), (403, "role-required".to_string()));
    let r = security.call("POST", "/api/tokens", Some(json!({ "name": "mine" })));
    assert_eq!(r.json()["token"]["role"], "security");

    let id = created["token"]["id"].as_i64().unwrap();
    assert_eq!(global.call("DELETE", &format!("/api/tokens/{id}"), None).status, 204);
    let r = token.get("/api/signins");
    assert_eq!((r.status, r.code()), (401, "bad-token".to_string()));
    let audit = global.get("/api/audit").json();
    assert!(audit.as_array().unwrap().iter().any(|e| e["action"] == "token.revoke"));
}

// ---------------------------------------------------------------------------------------------
// The OpenAPI document is true: every documented read answers with the documented shape.

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => resolve(doc, &doc["components"]["schemas"][r.rsplit('/').next().unwrap()]),
        None => schema,
    }
}

fn validate(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if value.is_null() {
        if schema["nullable"] != true {
            errors.push(format!("{at}: null where not nullable"));
        }
        return;
    }
    if let Some(options) = schema["enum"].as_array() {
        if !options.contains(value) {
            errors.push(format!("{at}: {value} not in {options:?}"));
        }
    }
    match schema["type"].as_str() {
        Some("object") => {
            let Some(obj) = value.as_object() else { return errors.push(format!("{at}: not an object")) };
            for req in schema["required"].as_array().into_iter().flatten() {
                if !obj.contains_key(req.as_str().unwrap()) {
                    errors.push(format!("{at}: missing {req}"));
                }
            }
            if let Some(props) = schema["properties"].as_object() {
                for (k, v) in obj {
                    match props.get(k) {
                        Some(s) => validate(doc, s, v, &format!("{at}.{k}"), errors),
                        None => errors.push(format!("{at}: undocumented property {k}")),
                    }
                }
            }
        }
        Some("array") => match value.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    validate(doc, &schema["items"], item, &format!("{at}[{i}]"), errors);
                }
            }
            None => errors.push(format!("{at}: not an array")),
        },
        Some("string") if !value.is_string() => errors.push(format!("{at}: not a string")),
        Some("integer") if !value.is_i64() && !value.is_u64() => errors.push(format!("{at}: not an integer")),
        Some("boolean") if !value.is_boolean() => errors.push(format!("{at}: not a boolean")),
        _ => {}
    }
}

#[test]
fn the_openapi_document_describes_the_real_answers() {
    let server = server_with_admins();
    // Some data in every list: a sign-in, an app password, an audit record, a token.
    server.ok(&["user", "set", "scanner@contoso.com", "--smtp-auth", "enabled"]);
    swaks_auth(&server);
    let client = signed_in(&server, "global");
    assert_eq!(
        client.call("POST", "/api/users/scanner@contoso.com/app-passwords", Some(json!({ "name": "printer" }))).status,
        201
    );
    assert_eq!(client.call("POST", "/api/tokens", Some(json!({ "name": "ci" }))).status, 201);
    let r = client.call("POST", "/api/domains/contoso.com/dkim", Some(json!({ "algorithm": "ed25519" })));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(client.call("PATCH", "/api/orgs/Contoso/limits", Some(json!({ "max_recipients": 20 }))).status, 200);

    let r = Client::anonymous(server.admin()).get("/api/openapi.json");
    assert_eq!(r.status, 200);
    let doc = r.json();
    let mut errors = vec![];
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let Some(op) = item.get("get") else { continue };
        if path == "/api/openapi.json" {
            continue;
        }
        let url = path
            .replace("{name}", "Contoso")
            .replace("{address}", "scanner@contoso.com")
            .replace("{domain}", "contoso.com");
        let r = client.get(&url);
        assert_eq!(r.status, 200, "GET {url}: {}", r.body);
        let schema = &op["responses"]["200"]["content"]["application/json"]["schema"];
        validate(&doc, schema, &r.json(), &url, &mut errors);
        checked += 1;
    }
    // And the answers of writes and errors.
    let r = client.call("PATCH", "/api/users/scanner@contoso.com", Some(json!({ "mfa": "enforced" })));
    validate(
        &doc,
        &doc["paths"]["/api/users/{address}"]["patch"]["responses"]["200"]["content"]["application/json"]["schema"],
        &r.json(),
        "PATCH user",
        &mut errors,
    );
    let r = client.call("POST", "/api/users", Some(json!({ "address": "fresh@contoso.com" })));
    validate(&doc, &doc["components"]["schemas"]["CreatedUser"], &r.json(), "POST users", &mut errors);
    let r = client.call("PATCH", "/api/users/scanner@contoso.com", Some(json!({ "mfa": "sometimes" })));
    assert_eq!((r.status, r.code()), (422, "bad-value".to_string()));
    validate(&doc, &doc["components"]["schemas"]["Error"], &r.json(), "error", &mut errors);
    let r = client.call("PATCH", "/api/users/scanner@contoso.com", None);
    assert!(r.status == 400 || r.status == 415, "{}", r.status);
    validate(&doc, &doc["components"]["schemas"]["Error"], &r.json(), "rejection", &mut errors);
    assert!(errors.is_empty(), "answers that differ from openapi.json:\n{}", errors.join("\n"));
    assert!(checked >= 12, "only {checked} reads checked");
}

#[test]
fn admin_cli_names_the_role_spellings() {
    let server = TestServer::start();
    let out = server.cli_with_stdin(
        &["admin", "add", "x@contoso.com", "--role", "owner", "--password-stdin"],
        Some(ADMIN_PASSWORD),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("global (Global administrator)") && err.contains("reports (Reports reader)"), "{err}");
    let out = server.cli(&["admin", "add", "x@contoso.com", "--role", "Security administrator"]);
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Security administrator"), "{stdout}");
    let list = server.ok(&["admin", "list", "--json"]);
    assert!(list.contains("\"role\": \"security\""), "{list}");
}

// ---------------------------------------------------------------------------------------------
// One operations layer: every door audits with its actor and validates alike (issue 12 item 8,
// issue 13 item 2).

/// What the CLI writes as its actor: `cli:USER@HOST`, as the operating system names them.
fn cli_actor() -> String {
    let run = |cmd: &str, args: &[&str]| {
        let out = std::process::Command::new(cmd).args(args).output().expect(cmd);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    format!("cli:{}@{}", run("id", &["-un"]), run("hostname", &[]))
}

#[test]
fn cli_changes_are_audited_with_their_actor() {
    // server_with_admins runs `org set --security-defaults off` and `admin add --role global`
    // (and the other roles) through the CLI.
    let server = server_with_admins();
    server.ok(&["app-password", "add", "scanner@contoso.com", "--name", "office scanner"]);
    server.ok(&["user", "set", "scanner@contoso.com", "--display-name", "Scanner 2F"]);
    let global = signed_in(&server, "global");
    let audit = global.get("/api/audit?limit=200").json();
    let entries = audit.as_array().unwrap();
    let actor = cli_actor();
    let find = |action: &str, target: &str| {
        entries
            .iter()
            .find(|e| e["action"] == action && e["target"] == target)
            .unwrap_or_else(|| panic!("no {action} for {target} in {audit:#}"))
    };
    let e = find("org.security-defaults", "Contoso");
    assert_eq!(
        (e["actor"].as_str().unwrap(), e["before"].as_str(), e["after"].as_str()),
        (actor.as_str(), Some("on"), Some("off"))
    );
    let e = find("admin.create", "global-admin@contoso.com");
    assert_eq!((e["actor"].as_str().unwrap(), e["after"].as_str()), (actor.as_str(), Some("global")));
    let e = find("user.app-password-add", "scanner@contoso.com");
    assert_eq!((e["actor"].as_str().unwrap(), e["after"].as_str()), (actor.as_str(), Some("office scanner")));
    assert_eq!(find("user.display-name", "scanner@contoso.com")["actor"], actor.as_str());
    // And the same change through the API names the admin.
    let r = global.call("PATCH", "/api/orgs/Contoso", Some(json!({ "security_defaults": "on" })));
    assert_eq!(r.status, 200, "{}", r.body);
    let audit = global.get("/api/audit?limit=5").json();
    assert_eq!(audit[0]["actor"], "global-admin@contoso.com", "{audit:#}");
}

#[test]
fn hostile_names_are_refused_alike_by_cli_and_api() {
    let server = server_with_admins();
    let global = signed_in(&server, "global");
    let long = "x".repeat(65);
    // NUL cannot travel in argv; the API case covers it below.
    let hostile =
        ["a\nb", "ok\r\n2026 accepted", "\u{1b}[31mred", "tab\there", "del\u{7f}", "bidi\u{202e}gpj.exe", "  ", &long];
    for name in hostile {
        let out = server.cli(&["app-password", "add", "scanner@contoso.com", "--name", name]);
        assert_eq!(out.status.code(), Some(2), "CLI accepted {name:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("without control characters"), "{name:?}");
        let r = global.call("POST", "/api/users/scanner@contoso.com/app-passwords", Some(json!({ "name": name })));
        assert_eq!((r.status, r.code()), (422, "bad-app-password-name".to_string()), "API on {name:?}");

        let out = server.cli(&["device-credential", "add", "scanner@contoso.com", "--name", name]);
        assert_eq!(out.status.code(), Some(2), "CLI accepted device credential {name:?}");
        let r = global.call("POST", "/api/users/scanner@contoso.com/device-credentials", Some(json!({ "name": name })));
        assert_eq!((r.status, r.code()), (422, "bad-device-credential-name".to_string()), "API on {name:?}");

        let out = server.cli(&["org", "add", name, "--domain", "hostile.example"]);
        assert_eq!(out.status.code(), Some(2), "CLI accepted org {name:?}");
        let r = global.call("POST", "/api/orgs", Some(json!({ "name": name, "domains": ["hostile.example"] })));
        assert_eq!((r.status, r.code()), (422, "bad-org-name".to_string()), "API on org {name:?}");

        if name != long {
            let out = server.cli(&["user", "set", "scanner@contoso.com", "--display-name", name]);
            assert_eq!(out.status.code(), Some(2), "CLI accepted display name {name:?}");
            let r = global.call("PATCH", "/api/users/scanner@contoso.com", Some(json!({ "display_name": name })));
            assert_eq!((r.status, r.code()), (422, "bad-display-name".to_string()), "API on {name:?}");
        }
    }
    let r = global.call("POST", "/api/users/scanner@contoso.com/app-passwords", Some(json!({ "name": "nul\u{0}" })));
    assert_eq!((r.status, r.code()), (422, "bad-app-password-name".to_string()));
    // Nothing hostile was stored.
    let list = global.get("/api/users/scanner@contoso.com/app-passwords").json();
    assert_eq!(list.as_array().unwrap().len(), 0, "{list:#}");
    // The header and the one organisation.
    assert!(server.ok(&["org", "list"]).lines().count() == 2);
}

#[test]
fn admin_password_change_and_totp_reset_end_sessions_and_tokens() {
    let server = server_with_admins();
    let global = signed_in(&server, "global");
    let security = signed_in(&server, "security");
    let r = security.call("POST", "/api/tokens", Some(json!({ "name": "automation" })));
    assert_eq!(r.status, 201, "{}", r.body);
    let token =
        Client { bearer: Some(r.json()["secret"].as_str().unwrap().into()), ..Client::anonymous(server.admin()) };
    assert_eq!(token.get("/api/signins").status, 200);
    assert_eq!(security.get("/api/signins").status, 200);

    let out = server.cli_with_stdin(
        &["admin", "password", "security-admin@contoso.com", "--password-stdin"],
        Some("Brand-New-Adm1n-Pass!"),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(security.get("/api/signins").status, 401, "the old session ended");
    assert_eq!(token.get("/api/signins").status, 401, "the old token was revoked");
    assert_eq!(global.get("/api/signins").status, 200, "other admins keep theirs");

    // A TOTP reset does the same.
    let (r, again) = sign_in(server.admin(), "security-admin@contoso.com", "Brand-New-Adm1n-Pass!", None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(again.get("/api/signins").status, 200);
    server.ok(&["admin", "reset-totp", "security-admin@contoso.com"]);
    assert_eq!(again.get("/api/signins").status, 401);
    let audit = global.get("/api/audit?limit=20").json();
    let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"admin.password-reset") && actions.contains(&"admin.totp-reset"), "{actions:?}");
}

// ---------------------------------------------------------------------------------------------
// Issue 12: admin-side hardening.

/// One raw request (the caller writes the head); returns the status and the headers.
fn raw(addr: SocketAddr, head: &str, body: &[u8]) -> (u16, Vec<(String, String)>) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let head = text.split("\r\n\r\n").next().unwrap_or("");
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers =
        lines.filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))).collect();
    (status, headers)
}

#[test]
fn totp_guesses_are_counted_per_account_and_a_password_does_not_reset_them() {
    let server = TestServer::start();
    server.seed_contoso(); // security defaults on: a code is needed
    add_admin(&server, "boss@contoso.com", "global");
    let addr = server.admin();
    let (r, client) = sign_in(addr, "boss@contoso.com", ADMIN_PASSWORD, None);
    let secret = r.json()["totp_secret"].as_str().unwrap().to_string();
    let code = totp(&secret, unix_now());
    assert_eq!(client.call("POST", "/api/session/totp", Some(json!({ "code": code }))).status, 200);

    // Guess codes, and between guesses give the correct password alone (which used to clear
    // the count): the guesses still run out.
    let wrong = |now: u64| {
        let right = [totp(&secret, now - 30), totp(&secret, now), totp(&secret, now + 30)];
        (0..1_000_000).map(|n| format!("{n:06}")).find(|c| !right.contains(c)).unwrap()
    };
    let mut refused_early = None;
    for attempt in 0..12 {
        let (r, _) = sign_in(addr, "boss@contoso.com", ADMIN_PASSWORD, Some(&wrong(unix_now())));
        assert_ne!(r.status, 200, "a wrong code signed in");
        if r.status == 429 {
            refused_early = Some(attempt);
            break;
        }
        let (r, _) = sign_in(addr, "boss@contoso.com", ADMIN_PASSWORD, None);
        assert!(r.status == 401 || r.status == 429, "{}", r.body);
    }
    assert!(refused_early.is_some_and(|a| a <= 5), "guessing went on: {refused_early:?}");
    // Now even the right code is refused until the window passes.
    let (r, _) = sign_in(addr, "boss@contoso.com", ADMIN_PASSWORD, Some(&totp(&secret, unix_now() + 30)));
    assert_eq!(r.status, 429, "{}", r.body);

    // A user name crafted to frame another address, then the fail2ban filter over the log.
    let (r, _) = sign_in(addr, "x\" client=10.9.9.9 stage=password user=\"y", "nope", None);
    assert!(r.status == 401 || r.status == 429);
    let log_path = server.dir.path().join("admin.log");
    std::fs::write(&log_path, server.logs()).unwrap();
    let filter = concat!(env!("CARGO_MANIFEST_DIR"), "/../../etc/fail2ban/filter.d/authrelay-admin.conf");
    let out = std::process::Command::new("fail2ban-regex")
        .args(["--print-all-matched", "-v"])
        .arg(&log_path)
        .arg(filter)
        .output()
        .expect("fail2ban-regex (Debian package fail2ban)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let matched = text.split("Matched line(s):").nth(1).and_then(|t| t.split("Missed line(s):").next()).unwrap_or("");
    let clients: Vec<&str> =
        matched.lines().filter_map(|l| l.split("admin sign-in failure client=").nth(1)?.split(' ').next()).collect();
    assert!(clients.len() >= 3, "{text}");
    assert!(clients.iter().all(|c| *c == "127.0.0.1"), "a forged address matched: {clients:?}");

    // The audit log has them too.
    server.ok(&["org", "set", "Contoso", "--security-defaults", "off"]);
    add_admin(&server, "auditor@contoso.com", "global");
    let (r, auditor) = sign_in(addr, "auditor@contoso.com", ADMIN_PASSWORD, None);
    assert_eq!(r.status, 200, "{}", r.body);
    let audit = auditor.get("/api/audit?limit=100").json();
    let failures: Vec<&Value> =
        audit.as_array().unwrap().iter().filter(|e| e["action"] == "admin.sign-in-failed").collect();
    assert!(failures.iter().filter(|e| e["after"] == "totp").count() >= 3, "{audit:#}");
    assert!(failures.iter().all(|e| e["actor"] == "client 127.0.0.1"), "{audit:#}");
}

#[test]
fn language_switch_follows_only_local_paths() {
    let server = TestServer::start();
    let addr = server.admin();
    let (status, headers) =
        raw(addr, &format!("GET /signin HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"), b"");
    assert_eq!(status, 200);
    let csrf = headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .find_map(|(_, v)| v.strip_prefix("ar_csrf=").map(|c| c.split(';').next().unwrap().to_string()))
        .expect("pre-sign-in CSRF cookie");
    let post = |back: &str| {
        let body = format!("csrf={csrf}&lang=ko&back={back}");
        let head = format!(
            "POST /lang HTTP/1.1\r\nHost: {addr}\r\nCookie: ar_csrf={csrf}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let (status, headers) = raw(addr, &head, body.as_bytes());
        let location = headers.iter().find(|(k, _)| k == "location").map(|(_, v)| v.clone()).unwrap_or_default();
        (status, location)
    };
    assert_eq!(post("%2Fusers%3Ftab%3Daccount"), (303, "/users?tab=account".to_string()));
    for hostile in [
        "%2F%09%2Fevil.example%2F",
        "/%09/evil.example/",
        "//evil.example",
        "/%5cevil.example",
        "%5C%5Cevil.example",
        "https%3A%2F%2Fevil.example%2F",
        "https:evil.example",
        "/%0d%0aSet-Cookie:%20x=1",
        "/%0a/evil.example",
        "/%E3%80%80/evil.example",
        "javascript:alert(1)",
    ] {
        assert_eq!(post(hostile), (303, "/".to_string()), "{hostile}");
    }
}

#[test]
fn oversized_requests_and_unknown_hosts_are_refused_unread() {
    let server = TestServer::start();
    let addr = server.admin();
    // 1.9 MB address: refused before it is read (it used to be kept as a limiter key).
    let big = format!("{{\"address\":\"{}@contoso.com\",\"password\":\"x\"}}", "a".repeat(1_900_000));
    let head = format!(
        "POST /api/session HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        big.len()
    );
    assert_eq!(raw(addr, &head, big.as_bytes()).0, 413);
    // Within the body limit, an over-long address is refused without hashing and bounded.
    let (r, _) = sign_in(addr, &format!("{}@contoso.com", "a".repeat(50_000)), "x", None);
    assert_eq!((r.status, r.code()), (401, "bad-credentials".to_string()));
    let long_query =
        format!("GET /api/signins?user={} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n", "a".repeat(9000));
    assert_eq!(raw(addr, &long_query, b"").0, 414);

    // DNS rebinding: a name the admin center was not told about is refused; loopback names and
    // IP literals work.
    for (host, status) in [
        ("evil.example".to_string(), 421),
        (format!("evil.example:{}", addr.port()), 421),
        (format!("localhost:{}", addr.port()), 200),
        (addr.to_string(), 200),
    ] {
        let head = format!("GET /api/openapi.json HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        assert_eq!(raw(addr, &head, b"").0, status, "{host}");
    }
}

// ---------------------------------------------------------------------------------------------
// The queue: why mail is stuck, and what an admin can do about it

/// A form post of the web admin center with the session's cookie and CSRF token.
fn web_post(client: &Client, path: &str) -> Response {
    let cookie = format!("ar_session={}", client.cookie.as_deref().unwrap());
    let form = format!("csrf={}", client.csrf.as_deref().unwrap());
    request(
        client.addr,
        "POST",
        path,
        &[("Cookie", &cookie), ("Content-Type", "application/x-www-form-urlencoded"), ("Accept-Language", client.lang)],
        Some(&form),
    )
}

fn web_get(client: &Client, path: &str) -> Response {
    let cookie = format!("ar_session={}", client.cookie.as_deref().unwrap());
    request(client.addr, "GET", path, &[("Cookie", &cookie), ("Accept-Language", client.lang)], None)
}

fn queue_list(server: &TestServer) -> Vec<Value> {
    serde_json::from_str::<Value>(&server.ok(&["queue", "list", "--json"])).unwrap().as_array().unwrap().clone()
}

fn wait_for(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

/// A message for a route whose far side is down: the queue page and GET /api/queue show its
/// state, attempts, next try and the connection error per recipient, in the admin's language;
/// Retry now, Hold, Release and Delete (after its confirmation page) act on the real queue as
/// `authrelay queue list --json` sees it, need `manage-queue` and are audited.
#[test]
fn the_queue_shows_why_mail_waits_and_retry_hold_release_delete_act_on_it() {
    // The far side refuses every connection: a bound socket that never listens, held for the
    // test (the kernel answers at once; no other test can take the port meanwhile).
    let (_refusing, down) = common::refused_port();
    // One attempt, then an hour's wait: only a retry request makes a second attempt.
    let tables = format!(
        "[delivery]\nscan_interval_ms = 100\nfirst_retry_secs = 3600\n\n[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\nhost = \"127.0.0.1\"\nport = {down}\ntls = \"opportunistic\"\n"
    );
    let server = TestServer::start_with_tables(common::Options::default(), &tables);
    server.open_contoso();
    for role in ["global", "exchange", "reports"] {
        add_admin(&server, &format!("{role}-admin@contoso.com"), role);
    }
    let sent = std::process::Command::new("swaks")
        .args(["--server", &server.submission.to_string(), "--tls", "--auth", "LOGIN"])
        .args(["--auth-user", "scanner@contoso.com", "--auth-password", PASSWORD])
        .args(["--from", "scanner@contoso.com", "--to", "frontdesk@down.example", "--timeout", "20"])
        .output()
        .expect("swaks");
    assert!(String::from_utf8_lossy(&sent.stdout).contains("250"), "{}", String::from_utf8_lossy(&sent.stdout));
    assert!(
        wait_for(20, || queue_list(&server).first().is_some_and(|m| m["state"] == "deferred")),
        "{}",
        server.logs()
    );
    let id = queue_list(&server)[0]["id"].as_str().unwrap().to_string();

    // The API: the same facts as the CLI.
    let exchange = signed_in(&server, "exchange");
    let q = exchange.get("/api/queue").json();
    let m = &q["messages"][0];
    assert_eq!(
        (m["id"].as_str(), m["state"].as_str(), m["attempts"].as_i64()),
        (Some(id.as_str()), Some("deferred"), Some(1)),
        "{q}"
    );
    let r = &m["recipients"][0];
    assert_eq!(
        (r["address"].as_str(), r["status"].as_str(), r["attempts"].as_i64()),
        (Some("frontdesk@down.example"), Some("pending"), Some(1)),
        "{q}"
    );
    assert!(r["last_reply"].as_str().unwrap().contains("refused"), "{q}");
    assert!(m["next_attempt_at"].as_i64().unwrap() > unix_now() as i64 + 3000, "next try an hour out: {q}");

    // The page, in Korean: state and recipient status as words of the catalogue, the attempts,
    // the last reply, and the action forms.
    let ko = Client { lang: "ko", ..exchange.clone() };
    let page = web_get(&ko, "/queue");
    assert_eq!(page.status, 200, "{}", page.body);
    let row = page
        .body
        .split(&format!("id=\"msg-{id}\""))
        .nth(1)
        .expect("the message's row")
        .split("</tr>")
        .next()
        .unwrap()
        .to_string();
    assert!(row.contains("지연됨"), "deferred in Korean: {row}");
    assert!(row.contains("대기 중") && row.contains("시도 1회"), "{row}");
    assert!(row.contains("class=\"last-reply\"") && row.contains("refused"), "{row}");
    for action in ["retry", "hold", "delete"] {
        assert!(row.contains(&format!("action=\"/queue/{id}/{action}\"")), "{action}: {row}");
    }
    // A reader without manage-queue sees no actions and is refused them, on the page and the API.
    let reports = signed_in(&server, "reports");
    assert_eq!(reports.call("POST", &format!("/api/queue/{id}/hold"), None).status, 403);
    let global = signed_in(&server, "global");
    assert_eq!(exchange.call("POST", "/api/queue/00000000000000000000/hold", None).code(), "unknown-message");

    // Retry now: a second attempt, an hour early.
    let r = web_post(&exchange, &format!("/queue/{id}/retry"));
    assert_eq!((r.status, r.header("location")), (303, Some("/queue?done=queue-retry")), "{}", r.body);
    assert!(
        wait_for(15, || queue_list(&server)[0]["recipients"][0]["attempts"] == 2),
        "{}\n{}",
        server.ok(&["queue", "show", &id]),
        server.logs()
    );
    // Without the CSRF token nothing happens.
    let cookie = format!("ar_session={}", exchange.cookie.as_deref().unwrap());
    let r = request(
        exchange.addr,
        "POST",
        &format!("/queue/{id}/hold"),
        &[("Cookie", &cookie), ("Content-Type", "application/x-www-form-urlencoded")],
        Some("csrf=0"),
    );
    assert_eq!(r.status, 403);
    assert_eq!(queue_list(&server)[0]["state"], "deferred");

    // Hold, then Release (through the API).
    assert_eq!(web_post(&exchange, &format!("/queue/{id}/hold")).status, 303);
    assert_eq!(queue_list(&server)[0]["state"], "held");
    let page = web_get(&exchange, "/queue?done=queue-hold").body;
    assert!(
        page.contains("The message is held") && page.contains(&format!("action=\"/queue/{id}/release\"")),
        "{page}"
    );
    assert_eq!(global.call("POST", &format!("/api/queue/{id}/release"), None).status, 204);
    assert_eq!(queue_list(&server)[0]["state"], "deferred");

    // Delete asks first on a page of its own; only its form deletes.
    let confirm = web_get(&exchange, &format!("/queue/{id}/delete"));
    assert_eq!(confirm.status, 200);
    assert!(
        confirm.body.contains("no bounce") && confirm.body.contains(&format!("action=\"/queue/{id}/delete\"")),
        "{}",
        confirm.body
    );
    assert_eq!(queue_list(&server).len(), 1, "showing the confirmation deletes nothing");
    let r = web_post(&exchange, &format!("/queue/{id}/delete"));
    assert_eq!((r.status, r.header("location")), (303, Some("/queue?done=queue-delete")));
    assert!(queue_list(&server).is_empty());
    assert_eq!(exchange.call("DELETE", &format!("/api/queue/{id}"), None).code(), "unknown-message");

    // Each action is in the audit log with its actor and the state before and after.
    let audit = global.get("/api/audit").json();
    let entries: Vec<(String, String, String, String)> = audit
        .as_array()
        .or(audit["entries"].as_array())
        .unwrap()
        .iter()
        .filter(|e| e["target"] == id.as_str())
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or("").to_string();
            (s("action"), s("actor"), s("before"), s("after"))
        })
        .collect();
    // (The retry's own states depend on how soon the manager takes the request.)
    assert!(entries.iter().any(|e| e.0 == "queue.retry" && e.1 == "exchange-admin@contoso.com"), "{entries:?}");
    for (action, actor, before, after) in [
        ("queue.hold", "exchange-admin@contoso.com", "deferred", "held"),
        ("queue.release", "global-admin@contoso.com", "held", "deferred"),
        ("queue.delete", "exchange-admin@contoso.com", "deferred", "-"),
    ] {
        let want = (action.to_string(), actor.to_string(), before.to_string(), after.to_string());
        assert!(entries.contains(&want), "{want:?} in {entries:?}");
    }
}
