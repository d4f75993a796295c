//! The Troubleshooter, device credentials and "messages sent" in the admin center, against the
//! real server process: the doctor's verdict through the API for every role, one-click fixes
//! refused (403 naming the roles) where the role does not permit them and applied (audited)
//! where it does, a device credential created by a fix and used by swaks to send a real
//! message, the SMTP AUTH clients report counting that message, the knowledge base's
//! explanations in English and Korean, and the pages' CSRF protection.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::http::{request, Response};
use common::{TestServer, PASSWORD};
use serde_json::{json, Value};

const ADMIN_PASSWORD: &str = "Adm1n-Center-Pass!";
const USER: &str = "scanner@contoso.com";

impl Response {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
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
    fn api(&self, method: &str, path: &str, body: Option<Value>) -> Response {
        let mut headers = vec![
            ("Accept-Language", self.lang.to_string()),
            ("Cookie", format!("ar_session={}", self.cookie)),
            ("X-CSRF-Token", self.csrf.clone()),
        ];
        if body.is_some() {
            headers.push(("Content-Type", "application/json".into()));
        }
        request(self.addr, method, path, &headers, &body.map(|b| b.to_string()).unwrap_or_default())
    }

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

/// Contoso as the seed has it (SMTP AUTH off for the tenant) with security defaults off so the
/// admins sign in with a password, MFA on for the scanner, and one admin of every role.
fn blocked_server() -> TestServer {
    let server = TestServer::start();
    server.seed_contoso();
    server.ok(&["org", "set", "Contoso", "--security-defaults", "off"]);
    server.ok(&["user", "set", USER, "--mfa", "enabled"]);
    for role in ["global", "security", "exchange", "user", "reports"] {
        let address = format!("{role}-admin@contoso.com");
        let out = server
            .cli_with_stdin(&["admin", "add", &address, "--role", role, "--password-stdin"], Some(ADMIN_PASSWORD));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    server
}

/// swaks sends one whole message as `user` with `secret`; returns its transcript.
fn swaks_send(server: &TestServer, secret: &str) -> String {
    let out = std::process::Command::new("swaks")
        .args(["--server", &server.submission.to_string(), "--tls", "--auth", "LOGIN"])
        .args(["--auth-user", USER, "--auth-password", secret])
        .args(["--from", USER, "--to", "frontdesk@example.net", "--header", "Subject: Scan 0042"])
        .args(["--body", "Your scan is attached.", "--timeout", "20"])
        .output()
        .expect("swaks");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn fix<'a>(doctor: &'a Value, action: &str) -> &'a Value {
    doctor["fixes"].as_array().unwrap().iter().find(|f| f["action"] == action).unwrap_or_else(|| {
        panic!("no fix {action} in {doctor:#}");
    })
}

#[test]
fn the_doctor_names_the_blocking_layers_and_fixes_apply_per_role_until_a_real_send_is_counted() {
    let server = blocked_server();
    let admins: Vec<(&str, Admin)> = ["global", "security", "exchange", "user", "reports"]
        .into_iter()
        .map(|r| (r, sign_in(&server, r, "en")))
        .collect();
    let get = |role: &str| &admins.iter().find(|(r, _)| *r == role).unwrap().1;

    // Every role may look; each fix says whether this role may apply it.
    for (role, admin) in &admins {
        let r = admin.api("GET", &format!("/api/users/{USER}/doctor"), None);
        assert_eq!(r.status, 200, "{role}: {}", r.body);
        let d = r.json();
        assert_eq!(d["can_send"], false);
        assert_eq!(d["blocking"], json!(["authenticated-smtp", "mfa"]), "{d:#}");
        let first = &d["fixes"][0];
        assert_eq!(first["action"], "smtp-auth-mailbox");
        assert_eq!(first["recommended"], true);
        assert_eq!(first["weakens"], true, "opening one mailbox weakens it");
        assert_eq!(first["required_roles"], json!(["exchange", "global"]));
        assert_eq!(first["permitted"], json!(["exchange", "global"].contains(role)), "{role}");
        // For MFA the least weakening fix comes first (a device credential: SMTP only, MFA
        // stays on) and turning MFA off last, marked.
        let mfa: Vec<&Value> = d["fixes"].as_array().unwrap().iter().filter(|f| f["check"] == "mfa").collect();
        assert_eq!(mfa.first().unwrap()["action"], "device-credential");
        assert_eq!(mfa.first().unwrap()["recommended"], true, "part of the recommended plan");
        assert_eq!(mfa.last().unwrap()["action"], "mfa-off");
        assert_eq!(mfa.last().unwrap()["weakens"], true);
        assert_eq!(mfa.first().unwrap()["weakens"], false);
        if *role == "reports" {
            assert!(mfa.last().unwrap()["requires"].as_str().unwrap().contains("Security administrator"));
        }
    }

    // Refused where the role does not permit it, with the reason and the roles that may.
    for (role, action) in
        [("reports", "smtp-auth-mailbox"), ("user", "smtp-auth-mailbox"), ("security", "smtp-auth-mailbox")]
    {
        let r = get(role).api("POST", &format!("/api/users/{USER}/doctor/fixes"), Some(json!({ "action": action })));
        assert_eq!(r.status, 403, "{role} {action}: {}", r.body);
        let e = &r.json()["error"];
        assert_eq!(e["code"], "role-required");
        assert_eq!(e["required_roles"], json!(["exchange", "global"]));
        assert!(e["message"].as_str().unwrap().contains("Exchange administrator"), "{e}");
    }
    let r =
        get("exchange").api("POST", &format!("/api/users/{USER}/doctor/fixes"), Some(json!({ "action": "mfa-off" })));
    assert_eq!((r.status, r.json()["error"]["required_roles"].clone()), (403, json!(["security", "global"])));
    // Nothing changed.
    let d = get("global").api("GET", &format!("/api/users/{USER}/doctor"), None).json();
    assert_eq!(d["blocking"], json!(["authenticated-smtp", "mfa"]));

    // The Exchange administrator applies the first fix with one call.
    let r = get("exchange").api(
        "POST",
        &format!("/api/users/{USER}/doctor/fixes"),
        Some(json!({ "action": "smtp-auth-mailbox" })),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let after = r.json();
    assert_eq!(after["applied"], "smtp-auth-mailbox");
    assert_eq!(after["secret"], Value::Null);
    assert_eq!(after["doctor"]["blocking"], json!(["mfa"]));
    // A fix that is no longer needed is not applied again.
    let r = get("global").api(
        "POST",
        &format!("/api/users/{USER}/doctor/fixes"),
        Some(json!({ "action": "smtp-auth-mailbox" })),
    );
    assert_eq!((r.status, r.json()["error"]["code"].as_str().unwrap()), (409, "fix-not-suggested"));

    // The Security administrator gives the device a device credential instead of turning MFA off.
    let d = &after["doctor"];
    assert!(fix(d, "device-credential")["permitted"] == false, "the exchange admin's view");
    let r = get("security").api(
        "POST",
        &format!("/api/users/{USER}/doctor/fixes"),
        Some(json!({ "action": "device-credential" })),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let applied = r.json();
    assert_eq!(applied["secret_kind"], "device-credential");
    let secret = applied["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("adc_"), "{secret}");
    assert_eq!(applied["doctor"]["can_send"], true, "{applied:#}");
    // The verdict agrees with its rows: MFA refuses the password, so only the device credential.
    let verdict = applied["doctor"]["verdict"].as_str().unwrap();
    assert!(verdict.contains("only with a device credential") && !verdict.contains("app password"), "{verdict}");
    let mfa = applied["doctor"]["checks"].as_array().unwrap().iter().find(|c| c["check"] == "mfa").unwrap();
    assert_eq!(mfa["status"], "warns", "{mfa}");
    let doctor = server.cli(&["doctor", USER]);
    let text = String::from_utf8_lossy(&doctor.stdout);
    assert!(text.contains(verdict) && !text.contains("(or app password)"), "doctor says the same: {text}");

    // A real client sends with it; the account password is still refused (MFA stays on).
    let refused = swaks_send(&server, PASSWORD);
    assert!(refused.contains("535 5.7.139"), "{refused}");
    let sent = swaks_send(&server, &secret);
    assert!(sent.contains("250 2.0.0"), "{sent}");

    // The report counts the message, with its TLS version and credential kind.
    let deadline = Instant::now() + Duration::from_secs(10);
    let row = loop {
        let report = get("reports").api("GET", "/api/reports/smtp-auth-clients?days=7", None).json();
        let row = report["senders"].as_array().unwrap().iter().find(|r| r["user"] == USER).cloned();
        if let Some(row) = row.filter(|r| r["messages_sent"] == 1) {
            break row;
        }
        assert!(Instant::now() < deadline, "the report never counted the message: {report:#}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(row["tls_versions"].as_array().unwrap().contains(&json!("TLSv1.3")), "{row}");
    assert!(row["credential_kinds"].as_array().unwrap().contains(&json!("device-credential")), "{row}");
    let csv = get("reports").api("GET", "/api/reports/smtp-auth-clients?days=30&format=csv", None);
    assert!(csv.body.starts_with("user,"), "{}", csv.body);
    let line = csv.body.lines().find(|l| l.starts_with(USER)).unwrap();
    assert!(line.ends_with(",1,"), "messages_sent, then legacy_paths (none here): {line}");

    // Both fixes are in the audit log under the admins who applied them.
    let audit = get("global").api("GET", "/api/audit", None).json();
    let by = |action: &str| {
        audit.as_array().unwrap().iter().find(|e| e["action"] == action).map(|e| e["actor"].clone()).unwrap_or_default()
    };
    assert_eq!(by("user.smtp-auth"), "exchange-admin@contoso.com");
    assert_eq!(by("user.device-credential-add"), "security-admin@contoso.com");
}

#[test]
fn pasted_replies_are_explained_per_provider_and_unknown_ones_are_not_guessed() {
    let server = blocked_server();
    let reports = sign_in(&server, "reports", "en");
    let tenant = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [SN4PR0601CA0002.namprd06.prod.outlook.com]";
    let r = reports.api("POST", "/api/troubleshoot/explain", Some(json!({ "reply": tenant })));
    assert_eq!(r.status, 200, "{}", r.body);
    let e = r.json();
    assert_eq!((e["known"].clone(), e["provider"].clone()), (json!(true), json!("microsoft365")), "{e:#}");
    assert!(!e["fix"].as_str().unwrap().is_empty());
    // Microsoft's bare line (no "Visit …", no trailer) is authrelay's wording too: explained as
    // Microsoft's with Microsoft's fix, authrelay's reading second.
    let bare = "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.";
    let e = reports.api("POST", "/api/troubleshoot/explain", Some(json!({ "reply": bare }))).json();
    assert_eq!(
        (e["entry"].clone(), e["provider"].clone()),
        (json!("m365-smtp-auth-disabled-tenant"), json!("microsoft365")),
        "{e:#}"
    );
    assert!(!e["fix"].as_str().unwrap().contains("authrelay user set"), "Microsoft's fix, not ours: {e:#}");
    assert_eq!(e["also_ours"]["entry"], "ours-smtp-auth-disabled-tenant", "{e:#}");
    // Said to come from this server, it is ours alone.
    let e = reports
        .api("POST", "/api/troubleshoot/explain", Some(json!({ "reply": bare, "provider": "authrelay" })))
        .json();
    assert_eq!(
        (e["entry"].clone(), e["also_ours"].clone()),
        (json!("ours-smtp-auth-disabled-tenant"), Value::Null),
        "{e:#}"
    );
    let gmail = "534 5.7.9 Application-specific password required. Learn more at https://support.google.com/mail/?p=InvalidSecondFactor - gsmtp";
    let e = reports.api("POST", "/api/troubleshoot/explain", Some(json!({ "reply": gmail }))).json();
    assert_eq!(e["provider"], "gmail", "{e:#}");
    let unknown = reports.api("POST", "/api/troubleshoot/explain", Some(json!({ "reply": "hello there" }))).json();
    assert_eq!((unknown["known"].clone(), unknown["fix"].clone()), (json!(false), Value::Null), "{unknown:#}");
    let empty = reports.api("POST", "/api/troubleshoot/explain", Some(json!({ "reply": "  " })));
    assert_eq!(empty.status, 422);
    let bad = reports.api("POST", "/api/troubleshoot/explain", Some(json!({ "reply": tenant, "provider": "yahoo" })));
    assert_eq!((bad.status, bad.json()["error"]["code"].clone()), (422, json!("bad-value")));

    // In Korean, with the mailbox named in the fix.
    let ko = Admin { lang: "ko", ..sign_in(&server, "exchange", "ko") };
    let ours = "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator.";
    let e = ko.api("POST", "/api/troubleshoot/explain", Some(json!({ "reply": ours, "user": USER }))).json();
    // Word for word Microsoft's too: Microsoft's answer first, ours after it.
    assert_eq!((e["known"].clone(), e["provider"].clone()), (json!(true), json!("microsoft365")), "{e:#}");
    assert_eq!(e["also_ours"]["entry"], "ours-mfa-required", "{e:#}");
    let text = format!("{} {}", e["also_ours"]["means"], e["also_ours"]["fix"]);
    assert!(text.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c)), "not Korean: {text}");
    assert!(text.contains(USER), "the fix names the mailbox: {text}");
}

#[test]
fn device_credentials_through_the_api_and_the_org_switch_are_role_checked_and_audited() {
    let server = blocked_server();
    let security = sign_in(&server, "security", "en");
    let exchange = sign_in(&server, "exchange", "en");
    let path = format!("/api/users/{USER}/device-credentials");
    let body = json!({ "name": "lobby printer", "allow": ["127.0.0.0/8"], "expires_in_days": 30 });
    let r = exchange.api("POST", &path, Some(body.clone()));
    assert_eq!((r.status, r.json()["error"]["required_roles"].clone()), (403, json!(["security", "global"])));
    let r = security.api("POST", &path, Some(body));
    assert_eq!(r.status, 201, "{}", r.body);
    let created = r.json();
    assert!(created["secret"].as_str().unwrap().starts_with(&format!("adc_{}_", created["tag"].as_str().unwrap())));
    assert_eq!(created["allow"], json!(["127.0.0.0/8"]));
    assert!(created["expires_at"].as_i64().unwrap() > 0);
    let bad = security.api("POST", &path, Some(json!({ "name": "x", "allow": ["not-a-net"] })));
    assert_eq!((bad.status, bad.json()["error"]["code"].clone()), (422, json!("bad-cidr")));
    let past = security.api("POST", &path, Some(json!({ "name": "x", "expires": "2001-01-01" })));
    assert_eq!((past.status, past.json()["error"]["code"].clone()), (422, json!("bad-expiry")));

    // Listing never shows the secret; every role may list.
    let list = exchange.api("GET", &path, None);
    assert_eq!(list.status, 200);
    assert!(!list.body.contains("adc_") || !list.body.contains(created["secret"].as_str().unwrap()));
    assert_eq!(list.json()[0]["name"], "lobby printer");

    // The organisation switch needs the same permission.
    let org = "/api/orgs/Contoso";
    let r = exchange.api("PATCH", org, Some(json!({ "device_credentials": "blocked" })));
    assert_eq!(r.status, 403);
    let r = security.api("PATCH", org, Some(json!({ "device_credentials": "blocked" })));
    assert_eq!((r.status, r.json()["device_credentials"].clone()), (200, json!("blocked")));
    let shown: Value = serde_json::from_str(&server.ok(&["org", "show", "Contoso", "--json"])).unwrap();
    assert_eq!(shown["settings"]["device_credentials"], "blocked");

    let r = exchange.api("DELETE", &format!("{path}/lobby%20printer"), None);
    assert_eq!(r.status, 403);
    let r = security.api("DELETE", &format!("{path}/lobby%20printer"), None);
    assert_eq!(r.status, 204, "{}", r.body);
    assert_eq!(security.api("GET", &path, None).json(), json!([]));
    let audit = security.api("GET", "/api/audit", None).json();
    let actions: Vec<&str> = audit.as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for a in ["user.device-credential-add", "org.device-credentials", "user.device-credential-revoke"] {
        assert!(actions.contains(&a), "audit lacks {a}: {actions:?}");
    }
}

#[test]
fn the_troubleshooter_page_shows_the_verdict_and_its_forms_need_the_csrf_token() {
    let server = blocked_server();
    let user_admin = sign_in(&server, "user", "id");
    let page = user_admin.page("GET", &format!("/troubleshoot?user={USER}"), "");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<html lang=\"id\">"));
    assert!(page.body.contains("data-can-send=\"no\""), "{}", page.body);
    assert!(page.body.contains("data-status=\"blocks\""));
    // A User administrator sees the Exchange fix disabled, with the role named (in Indonesian).
    assert!(page.body.contains("disabled>"), "the fix button is disabled for this role");
    assert!(page.body.contains("Memerlukan peran"), "the required role is named");
    // Without the CSRF token the fix is refused and nothing changes.
    let r = user_admin.page("POST", "/troubleshoot/fix", &format!("user={USER}&action=sign-in-allow"));
    assert_eq!(r.status, 403);
    // With it, a fix the role does not permit is refused too.
    let form = format!("csrf={}&user={USER}&action=smtp-auth-mailbox", user_admin.csrf);
    let r = user_admin.page("POST", "/troubleshoot/fix", &form);
    assert_eq!(r.status, 403, "{}", r.body);
    let shown: Value = serde_json::from_str(&server.ok(&["user", "show", USER, "--json"])).unwrap();
    assert_eq!(shown["settings"]["smtp_auth"], "default");
    // The recommended fix (Authenticated SMTP for this mailbox) is not styled as a danger.
    let first = page.body.split("class=\"card ts-fix").nth(1).unwrap();
    assert!(first.contains("data-recommended=\"yes\"") && first.contains("class=\"warn ts-weakening\""), "{first}");
    assert!(!first.contains("ts-apply danger"), "{first}");
    // `doctor` spells the device credential out once, though two plans use it.
    let text = String::from_utf8_lossy(&server.cli(&["doctor", USER]).stdout).to_string();
    assert_eq!(text.matches("device-credential add").count(), 1, "{text}");
    // A mistyped mailbox: the similar one is offered, and creating the typo is not recommended.
    let typo = user_admin.page("GET", "/troubleshoot?user=scaner@contoso.com", "");
    assert!(typo.body.contains("value=\"scanner@contoso.com\" class=\"ts-similar\""), "{}", typo.body);
    assert!(typo.body.contains("data-action=\"user-add\" data-recommended=\"no\""), "{}", typo.body);
    assert!(!typo.body.contains("data-recommended=\"yes\""), "{}", typo.body);
    // With the organisation blocking device credentials, the one click that creates one (and
    // allows them first) is the only device-credential fix offered, saying it does both.
    server.ok(&["org", "set", "Contoso", "--device-credentials", "blocked"]);
    let global = sign_in(&server, "global", "en");
    let d = global.api("GET", &format!("/api/users/{USER}/doctor"), None).json();
    let actions: Vec<&str> =
        d["fixes"].as_array().unwrap().iter().map(|f| f["action"].as_str().unwrap_or("")).collect();
    assert!(!actions.contains(&"device-credentials-allow") && !actions.contains(&"app-passwords-allow"), "{actions:?}");
    let includes = fix(&d, "device-credential")["includes"].as_str().unwrap_or_default().to_string();
    assert!(includes.contains("issue device credentials"), "{d:#}");
    assert!(fix(&d, "app-password")["includes"].as_str().unwrap_or_default().contains("app passwords"), "{d:#}");
    server.ok(&["org", "set", "Contoso", "--device-credentials", "allowed"]);
    // Explaining works from the page.
    let form =
        format!("csrf={}&reply=535+5.7.8+Username+and+Password+not+accepted.+gsmtp&provider=auto", user_admin.csrf);
    let r = user_admin.page("POST", "/troubleshoot/explain", &form);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("data-known=\"yes\""), "{}", r.body);
}
