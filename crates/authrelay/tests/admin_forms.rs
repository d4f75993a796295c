//! Forms of the admin center that are refused come back in place (issue 20): the form's own
//! page, the message next to the field it is about (`#<field>-error`), what was typed kept, and
//! the API's status — never the generic error page with "Back to Home". Also Manage email apps:
//! with "follow the organisation" unticked, the posted Authenticated SMTP box is what is saved.
//! Against the real server process.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::http::{request, Response};
use common::TestServer;
use serde_json::{json, Value};

const ADMIN_PASSWORD: &str = "Adm1n-Center-Pass!";
const USER: &str = "scanner@contoso.com";

impl Response {
    /// The page is not the generic error page ("Back to Home").
    fn in_place(&self) -> bool {
        !self.body.contains("href=\"/\">Back to Home")
    }
}

/// A signed-in admin: the session cookie and its CSRF token.
struct Admin {
    addr: SocketAddr,
    cookie: String,
    csrf: String,
    lang: &'static str,
}

impl Admin {
    fn page(&self, method: &str, path: &str, form: &str) -> Response {
        let headers = vec![
            ("Accept-Language", self.lang.to_string()),
            ("Cookie", format!("ar_session={}", self.cookie)),
            ("Content-Type", "application/x-www-form-urlencoded".into()),
        ];
        request(self.addr, method, path, &headers, form)
    }
}

fn sign_in(server: &TestServer, role: &str, lang: &'static str) -> Admin {
    let address = format!("{role}-admin@contoso.com");
    let body = json!({ "address": address, "password": ADMIN_PASSWORD }).to_string();
    let headers = vec![("Content-Type", "application/json".to_string())];
    let addr = server.admin();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req = format!("POST /api/session HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in &headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    stream.write_all(req.as_bytes()).unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    let cookie = raw
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: ar_session=").or_else(|| l.strip_prefix("Set-Cookie: ar_session=")))
        .map(|c| c.split(';').next().unwrap().to_string())
        .unwrap_or_else(|| panic!("{role}: no session cookie: {raw}"));
    let json: Value = serde_json::from_str(raw.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(json["stage"], "signed-in", "{role}: {json}");
    Admin { addr, cookie, csrf: json["csrf_token"].as_str().unwrap().to_string(), lang }
}

/// Contoso as the seed has it, with security defaults off so the admins sign in with a
/// password, app passwords allowed, and a global administrator.
fn server() -> TestServer {
    let server = TestServer::start();
    server.seed_contoso();
    server.ok(&["org", "set", "Contoso", "--security-defaults", "off", "--app-passwords", "allowed"]);
    let out = server.cli_with_stdin(
        &["admin", "add", "global-admin@contoso.com", "--role", "global", "--password-stdin"],
        Some(ADMIN_PASSWORD),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    server
}

fn smtp_auth_of(server: &TestServer, user: &str) -> Value {
    let shown: Value = serde_json::from_str(&server.ok(&["user", "show", user, "--json"])).unwrap();
    shown["settings"]["smtp_auth"].clone()
}

#[test]
fn manage_email_apps_saves_the_posted_box_unless_the_mailbox_follows_the_organisation() {
    let server = server();
    let admin = sign_in(&server, "global", "en");
    let path = format!("/users/{USER}/email-apps");
    let csrf = &admin.csrf;
    for (form, want) in [
        (format!("csrf={csrf}&smtp_auth=on"), "enabled"),
        (format!("csrf={csrf}"), "disabled"),
        (format!("csrf={csrf}&smtp_auth=on&follow_org=on"), "default"),
        (format!("csrf={csrf}&follow_org=on"), "default"),
        (format!("csrf={csrf}&smtp_auth=on"), "enabled"),
    ] {
        let r = admin.page("POST", &path, &form);
        assert_eq!(r.status, 303, "{form}: {}", r.body);
        assert_eq!(smtp_auth_of(&server, USER), want, "{form}");
    }
}

#[test]
fn refused_forms_come_back_in_place_with_the_error_at_the_field_and_the_input_kept() {
    let server = server();
    let admin = sign_in(&server, "global", "en");
    let csrf = admin.csrf.clone();
    let user = format!("/users/{USER}");
    server.ok(&["app-password", "add", USER, "--name", "printer"]);
    // (what, path, form, status, the field's error id, a kept input)
    let cases: Vec<(&str, String, String, u16, &str, &str)> = vec![
        (
            "short admin password",
            "/admins".into(),
            format!("csrf={csrf}&address=new-admin%40contoso.com&role=exchange&password=short"),
            422,
            "admin-password-error",
            "value=\"new-admin@contoso.com\"",
        ),
        (
            "duplicate admin",
            "/admins".into(),
            format!("csrf={csrf}&address=global-admin%40contoso.com&role=exchange&password=An0ther-Strong-Pass%21"),
            409,
            "admin-address-error",
            "value=\"global-admin@contoso.com\"",
        ),
        (
            "duplicate app password",
            format!("{user}/app-passwords"),
            format!("csrf={csrf}&name=printer"),
            409,
            "ap-name-error",
            "value=\"printer\"",
        ),
        (
            "bad CIDR",
            format!("{user}/device-credentials"),
            format!("csrf={csrf}&name=copier&allow=10.0.0.300%2F8&expires="),
            422,
            "dc-allow-error",
            "value=\"10.0.0.300&#x2f;8\"", // minijinja escapes the slash
        ),
        (
            "bad domain",
            "/org/Contoso/domains".into(),
            format!("csrf={csrf}&domain=not_a+domain"),
            422,
            "domain-error",
            "value=\"not_a domain\"",
        ),
        (
            "duplicate organisation",
            "/org".into(),
            format!("csrf={csrf}&name=Contoso&domain=new.example"),
            409,
            "org-name-error",
            "value=\"new.example\"",
        ),
        (
            "short reset password",
            format!("{user}/password"),
            format!("csrf={csrf}&password=short"),
            422,
            "new-password-error",
            "id=\"new-password\"",
        ),
    ];
    for (what, path, form, status, error_id, kept) in cases {
        let r = admin.page("POST", &path, &form);
        assert_eq!(r.status, status, "{what}: {}", r.body);
        assert!(r.in_place(), "{what}: the generic error page: {}", r.body);
        assert!(r.body.contains(&format!("id=\"{error_id}\"")), "{what}: no #{error_id}: {}", r.body);
        assert!(r.body.contains(kept), "{what}: input not kept ({kept}): {}", r.body);
        assert!(r.body.contains(&format!("aria-describedby=\"{error_id}\"")), "{what}: the field names its error");
        // Exactly one field error: the one at the field.
        assert_eq!(r.body.matches("field-error").count(), 1, "{what}");
    }
    // The device credential keeps its name too, and the admin form its role.
    let r = admin.page("POST", &format!("{user}/device-credentials"), &format!("csrf={csrf}&name=copier&allow=bad"));
    assert!(r.body.contains("value=\"copier\""), "{}", r.body);
    let r = admin.page("POST", "/admins", &format!("csrf={csrf}&address=x%40contoso.com&role=exchange&password=short"));
    assert!(r.body.contains("<option value=\"exchange\" selected>"), "{}", r.body);
    // Nothing was created by the refused forms.
    assert!(!server.ok(&["org", "list"]).contains("new.example"));
    assert!(!server.ok(&["device-credential", "list", USER]).contains("copier"));

    // "Leave it empty to get a generated one" is true on Add admin: the password is generated
    // and shown once, and signs in.
    let r = admin.page("POST", "/admins", &format!("csrf={csrf}&address=helpdesk%40contoso.com&role=user&password="));
    assert_eq!(r.status, 201, "{}", r.body);
    let generated = r.body.split("id=\"admin-password-secret\">").nth(1).and_then(|s| s.split('<').next());
    let generated = generated.unwrap_or_else(|| panic!("no generated password shown: {}", r.body)).to_string();
    let body = json!({ "address": "helpdesk@contoso.com", "password": generated }).to_string();
    let r = request(server.admin(), "POST", "/api/session", &[("Content-Type", "application/json".into())], &body);
    assert_eq!(r.status, 200, "the generated password signs in: {}", r.body);
    let again = admin.page("GET", "/admins", "");
    assert!(!again.body.contains(&generated), "shown only once");
}
