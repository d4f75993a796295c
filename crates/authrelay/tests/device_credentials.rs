//! Device credentials (issue 7) against the real server, with Python's smtplib as the device:
//! accepted under security defaults and MFA; refused from an address outside the allow list
//! (the client socket bound to 127.0.0.2), after expiry, after revocation and while the
//! organisation blocks them; still subject to Authenticated SMTP and send-as; recorded in the
//! sign-in log with their kind and last use; and never usable in the admin center.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::TestServer;

const USER: &str = "scanner@contoso.com";

/// Runs the smtplib device from `source`; returns (exit code, output).
fn device(server: &TestServer, user: &str, secret: &str, source: &str, mechanism: &str) -> (i32, String) {
    server.device_client(server.submission.port(), user, secret, source, mechanism)
}

/// `device-credential add … --json`; returns the secret.
fn add(server: &TestServer, args: &[&str]) -> String {
    let mut all = vec!["device-credential", "add", USER];
    all.extend_from_slice(args);
    all.push("--json");
    let v: serde_json::Value = serde_json::from_str(&server.ok(&all)).unwrap();
    v["secret"].as_str().unwrap().to_string()
}

fn last_signin(server: &TestServer) -> serde_json::Value {
    let log: serde_json::Value = serde_json::from_str(&server.ok(&["signins", "--last", "1", "--json"])).unwrap();
    log.as_array().unwrap()[0].clone()
}

/// The seed's tenant exactly as Microsoft ships it, made stricter: security defaults on, MFA
/// enforced for the mailbox; only the mailbox's Authenticated SMTP is switched on.
fn strict_contoso() -> TestServer {
    let server = TestServer::start();
    server.seed_contoso();
    server.ok(&["user", "set", USER, "--smtp-auth", "enabled", "--mfa", "enforced"]);
    server
}

const REFUSED_PREFIX: &str = "AUTH-FAILED 535 5.7.139 Authentication unsuccessful, ";

#[test]
fn accepted_under_security_defaults_and_mfa_but_the_password_is_not() {
    let server = strict_contoso();
    let secret = add(&server, &["--name", "2nd floor printer", "--allow", "127.0.0.1/32"]);
    assert!(secret.starts_with("adc_") && secret.len() == 45, "{secret}");

    let (code, text) = device(&server, USER, common::PASSWORD, "127.0.0.1", "LOGIN");
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("user is locked by your organization's security defaults policy"), "{text}");

    let (code, text) = device(&server, USER, &secret, "127.0.0.1", "LOGIN");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("QUEUED"), "{text}");
    let entry = last_signin(&server);
    assert_eq!(entry["credential"], "device-credential");
    assert_eq!(entry["check"], "accepted");
    // Last use: time and address.
    let list: serde_json::Value =
        serde_json::from_str(&server.ok(&["device-credential", "list", USER, "--json"])).unwrap();
    assert_eq!(list[0]["name"], "2nd floor printer");
    assert_eq!(list[0]["last_used_ip"], "127.0.0.1");
    assert!(list[0]["last_used_at"].as_i64().is_some());
    assert!(!server.ok(&["device-credential", "list", USER]).contains(&secret[15..]), "the secret is never listed");
    // The queued message says which kind of credential sent it.
    let queued = server.queued();
    assert_eq!(queued.len(), 1);
    assert!(String::from_utf8_lossy(&queued[0].1).contains("with device-credential"));

    // AUTH PLAIN works too.
    let (code, text) = device(&server, USER, &secret, "127.0.0.1", "PLAIN");
    assert_eq!(code, 0, "{text}");
}

#[test]
fn refused_outside_the_allow_list_after_expiry_and_after_revocation() {
    let server = strict_contoso();
    let secret = add(&server, &["--name", "printer", "--allow", "127.0.0.1"]);
    // The same secret from 127.0.0.2: outside the allow list.
    let (code, text) = device(&server, USER, &secret, "127.0.0.2", "LOGIN");
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains(&format!("{REFUSED_PREFIX}this device credential is not allowed from your address.")),
        "{text}"
    );
    let entry = last_signin(&server);
    assert_eq!(
        (entry["check"].as_str(), entry["client_ip"].as_str()),
        (Some("device-credential-address"), Some("127.0.0.2"))
    );

    // Expiry: a credential that expires three seconds from now works now, not after.
    let at = time::OffsetDateTime::now_utc() + time::Duration::seconds(3);
    let at = at.format(&time::format_description::well_known::Rfc3339).unwrap();
    let short = add(&server, &["--name", "temporary", "--expires", &at]);
    let (code, text) = device(&server, USER, &short, "127.0.0.2", "LOGIN");
    assert_eq!(code, 0, "{text}");
    std::thread::sleep(Duration::from_millis(3500));
    let (code, text) = device(&server, USER, &short, "127.0.0.2", "LOGIN");
    assert_eq!(code, 3, "{text}");
    assert!(text.contains(&format!("{REFUSED_PREFIX}this device credential has expired.")), "{text}");
    assert_eq!(last_signin(&server)["check"], "device-credential-expiry");

    // Revocation: the next attempt gets the reply of a wrong password.
    let (code, text) = device(&server, USER, &secret, "127.0.0.1", "LOGIN");
    assert_eq!(code, 0, "{text}");
    let out = server.ok(&["device-credential", "revoke", USER, "--name", "printer"]);
    assert!(out.contains("Revoked the device credential \"printer\""), "{out}");
    let (code, text) = device(&server, USER, &secret, "127.0.0.1", "LOGIN");
    assert_eq!(code, 3, "{text}");
    assert!(text.contains(&format!("{REFUSED_PREFIX}the user credentials were incorrect.")), "{text}");
    assert_eq!(last_signin(&server)["check"], "credentials");
    let again = server.cli(&["device-credential", "revoke", USER, "--name", "printer"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("device-credential list"));
}

#[test]
fn organisation_policy_and_authenticated_smtp_still_apply() {
    let server = strict_contoso();
    let secret = add(&server, &["--name", "printer"]);
    server.ok(&["org", "set", "Contoso", "--device-credentials", "blocked"]);
    let shown = server.ok(&["org", "show", "Contoso"]);
    assert!(shown.contains("Device credentials") && shown.contains("Blocked"), "{shown}");
    let (code, text) = device(&server, USER, &secret, "127.0.0.1", "LOGIN");
    assert_eq!(code, 3, "{text}");
    assert!(
        text.contains(&format!(
            "{REFUSED_PREFIX}device credentials are blocked by your organization. Contact your administrator."
        )),
        "{text}"
    );
    assert_eq!(last_signin(&server)["check"], "device-credentials-policy");
    server.ok(&["org", "set", "Contoso", "--device-credentials", "allowed"]);
    server.ok(&["user", "set", USER, "--smtp-auth", "disabled"]);
    let (code, text) = device(&server, USER, &secret, "127.0.0.1", "LOGIN");
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("SmtpClientAuthentication is disabled for the Mailbox."), "{text}");
    // Only as that mailbox: the secret does not work for another user name.
    let other =
        server.cli_with_stdin(&["user", "add", "frontdesk@contoso.com", "--password-stdin"], Some(common::PASSWORD));
    assert!(other.status.success());
    server.ok(&["user", "set", "frontdesk@contoso.com", "--smtp-auth", "enabled"]);
    let (code, text) = device(&server, "frontdesk@contoso.com", &secret, "127.0.0.1", "LOGIN");
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("the user credentials were incorrect."), "{text}");
}

/// The troubleshooter suggests a device credential before turning security defaults or MFA off.
#[test]
fn doctor_suggests_a_device_credential_first() {
    let server = strict_contoso();
    let out = server.cli(&["doctor", USER]);
    let text = String::from_utf8_lossy(&out.stdout);
    let device = text.find("authrelay device-credential add scanner@contoso.com").unwrap_or_else(|| panic!("{text}"));
    let sd_off = text.find("--security-defaults off").unwrap_or_else(|| panic!("{text}"));
    let mfa_off = text.find("--mfa disabled").unwrap_or_else(|| panic!("{text}"));
    assert!(device < sd_off && device < mfa_off, "{text}");
}

#[test]
fn cli_errors_name_the_fix() {
    let server = strict_contoso();
    for (args, needle) in [
        (vec!["--name", "x", "--allow", "10.0.0.0/33"], "is not an address range"),
        (vec!["--name", "x", "--expires", "2001-01-01"], "is not in the future"),
        (vec!["--name", "x", "--expires", "next week"], "is not a date"),
        (vec!["--name", ""], "needs a name"),
    ] {
        let mut all = vec!["device-credential", "add", USER];
        all.extend(args);
        let out = server.cli(&all);
        assert_eq!(out.status.code(), Some(2), "{all:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{all:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    add(&server, &["--name", "dup"]);
    let out = server.cli(&["device-credential", "add", USER, "--name", "dup"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("already has a device credential named \"dup\""));
    // The human output shows the secret once, with its scope and the Authenticated SMTP warning.
    server.ok(&["user", "set", USER, "--smtp-auth", "default"]);
    let out = server.ok(&["device-credential", "add", USER, "--name", "scanner", "--expires-in", "30"]);
    assert!(out.contains("only for SMTP submission"), "{out}");
    assert!(out.contains("--smtp-auth enabled"), "{out}");
    let ko = server.ok(&["--lang", "ko", "device-credential", "list", USER]);
    assert!(ko.contains("마지막 사용"), "{ko}");
}

/// "Never usable in the admin center": the admin center signs admins in with admin accounts,
/// so a device credential fails there, even for an admin whose address is the mailbox's.
#[test]
fn admin_sign_in_with_a_device_credential_fails() {
    let server = strict_contoso();
    let secret = add(&server, &["--name", "printer"]);
    let out = server
        .cli_with_stdin(&["admin", "add", USER, "--role", "global", "--password-stdin"], Some("Adm1n-Center-Pass!"));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sign_in = |password: &str| -> u16 {
        let body = serde_json::json!({ "address": USER, "password": password }).to_string();
        let mut s = TcpStream::connect(server.admin()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let req = format!(
            "POST /api/session HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        raw.split(' ').nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(sign_in(&secret), 401, "a device credential must not open the admin center");
    // The same endpoint does answer the admin's own password (security defaults on: it asks for
    // the authenticator next, which is not a 401).
    assert_ne!(sign_in("Adm1n-Center-Pass!"), 401);
}
