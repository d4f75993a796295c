//! The troubleshooter against the real server: for every row of the decision order the doctor
//! can see, build that state, check that `doctor` names exactly that layer, that the real server
//! refuses a real client (Python's smtplib) for the same reason, that `probe` explains the
//! refusal as that layer, and that running the doctor's FIRST suggested fix — the exact command
//! it prints — lets smtplib send.

mod common;

use std::process::{Command, Output};

use common::{TestServer, PASSWORD};
use serde_json::Value;

const USER: &str = "scanner@contoso.com";

/// A device: STARTTLS, AUTH LOGIN, one message. Exit 0 and "SENT", or exit 3 and the AUTH reply.
const SMTPLIB: &str = r#"
import smtplib, ssl, sys
port, cafile, user, password = sys.argv[1:5]
ctx = ssl.create_default_context(cafile=cafile)
s = smtplib.SMTP("localhost", int(port), timeout=20)
s.starttls(context=ctx)
try:
    s.login(user, password)
except smtplib.SMTPAuthenticationError as e:
    print("AUTH-FAILED", e.smtp_code, e.smtp_error.decode())
    sys.exit(3)
s.sendmail(user, ["frontdesk@example.net"], "From: %s\r\nTo: frontdesk@example.net\r\nSubject: after the doctor's fix\r\n\r\nscan\r\n" % user)
print("SENT")
s.quit()
"#;

fn smtplib(server: &TestServer, secret: &str) -> (Output, String) {
    let out = Command::new("python3")
        .args(["-c", SMTPLIB])
        .arg(server.submission.port().to_string())
        .arg(server.data_dir().join("tls/cert.pem"))
        .arg(USER)
        .arg(secret)
        .output()
        .expect("python3 must be installed to run this test");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out, text)
}

/// `authrelay doctor USER --explain-last --json`: (exit code, parsed report).
fn doctor(server: &TestServer) -> (i32, Value) {
    let out = server.cli(&["doctor", USER, "--explain-last", "--json"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("doctor --json: {e}\n{text}"));
    (out.status.code().unwrap_or(-1), value)
}

/// `authrelay probe` over STARTTLS with the password on stdin: (exit code, report).
fn probe(server: &TestServer, secret: &str, extra: &[&str]) -> (i32, Value, String) {
    let port = server.submission.port().to_string();
    let addr = format!("localhost:{port}");
    let ca = server.data_dir().join("tls/cert.pem");
    let mut args = vec!["probe", "--server", &addr, "--user", USER, "--password-stdin", "--json", "--timeout", "20"];
    let ca = ca.to_str().unwrap().to_string();
    args.extend(["--ca-file", &ca]);
    args.extend(extra);
    let out = server.cli_with_stdin(&args, Some(&format!("{secret}\n")));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let value: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("probe --json: {e}\n{text}"));
    (out.status.code().unwrap_or(-1), value, text)
}

/// Runs every command of a fix, as printed; returns the app password one of them printed.
fn apply(server: &TestServer, fix: &Value) -> Option<String> {
    let mut secret = None;
    for command in fix["commands"].as_array().expect("commands") {
        let argv: Vec<&str> = command["argv"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        assert!(command["display"].as_str().unwrap().starts_with("authrelay "), "{command}");
        let out = server.ok(&argv);
        if argv[..2] == ["app-password", "add"] || argv[..2] == ["device-credential", "add"] {
            // The secret is printed once, indented, on its own line.
            secret = out.lines().find(|l| l.starts_with("  ")).map(|l| l.trim().to_string());
        }
    }
    secret
}

fn base64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// One row of the decision order: the state is built by `setup` (which may return the app
/// password the device uses), `layer` is the check that must block, `reply` a fragment of the
/// server's refusal and `kb_entry` the knowledge-base entry probe must name.
fn row(setup: impl FnOnce(&TestServer) -> Option<String>, layer: &str, reply: &str, kb_entry: &str) {
    let server = TestServer::start();
    let device_secret = setup(&server).unwrap_or_else(|| PASSWORD.to_string());

    // The real server refuses a real client at this layer.
    let (out, text) = smtplib(&server, &device_secret);
    assert_eq!(out.status.code(), Some(3), "the device must be refused:\n{text}");
    assert!(text.contains(reply), "expected '{reply}':\n{text}");

    // The doctor names exactly this layer, and the sign-in log agrees with it.
    let (code, report) = doctor(&server);
    assert_eq!(code, 1, "doctor exits 1 while the mailbox cannot send: {report:#}");
    assert_eq!(report["can_send"], false);
    assert_eq!(report["blocking"], serde_json::json!([layer]), "{report:#}");
    let failures = report["explain_last"]["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{report:#}");
    assert_eq!(failures[0]["check"], layer);
    assert_eq!(failures[0]["client_ip"], "127.0.0.1");
    // smtplib tries PLAIN, then LOGIN: two attempts, both refused by the same check.
    assert_eq!(failures[0]["count"], 2);
    assert!(failures[0]["reply"].as_str().unwrap().contains(reply));
    let first = &report["fixes"][0];
    assert_eq!(first["check"], layer, "{report:#}");
    assert!(!first["admin_path"].as_str().unwrap().is_empty());

    // probe meets the same refusal and its knowledge base names the layer.
    let (code, p, raw) = probe(&server, &device_secret, &[]);
    assert_eq!(code, 1, "{raw}");
    assert_eq!(p["provider"], "authrelay");
    assert_eq!(p["tls"]["chain_verified"], true, "{raw}");
    assert_eq!(p["auth"]["ok"], false);
    let x = &p["findings"][0]["explanation"];
    assert_eq!(x["entry"], kb_entry, "{raw}");
    assert_eq!(x["layer"], layer, "{raw}");
    assert!(!raw.contains(&device_secret) && !raw.contains(&base64(&device_secret)), "secret leaked:\n{raw}");
    assert!(!raw.contains(&base64(&format!("\0{USER}\0{device_secret}"))), "secret leaked:\n{raw}");

    // The first fix, run as printed, lets the device send.
    let printed = apply(&server, first);
    let secret = printed.unwrap_or(device_secret);
    let (out, text) = smtplib(&server, &secret);
    assert!(out.status.success() && text.contains("SENT"), "after the fix {first}:\n{text}");
    let (code, report) = doctor(&server);
    assert_eq!((code, &report["can_send"]), (0, &Value::Bool(true)), "{report:#}");
    assert_eq!(server.queued().len(), 1);
}

#[test]
fn smtp_auth_off_for_the_tenant() {
    row(
        |s| {
            s.seed_contoso();
            s.ok(&["org", "set", "Contoso", "--security-defaults", "off"]);
            None
        },
        "authenticated-smtp",
        "SmtpClientAuthentication is disabled for the Tenant.",
        "ours-smtp-auth-disabled-tenant",
    );
}

#[test]
fn smtp_auth_off_for_the_mailbox() {
    row(
        |s| {
            s.seed_contoso();
            s.ok(&["org", "set", "Contoso", "--security-defaults", "off", "--smtp-auth", "enabled"]);
            s.ok(&["user", "set", USER, "--smtp-auth", "disabled"]);
            None
        },
        "authenticated-smtp",
        "SmtpClientAuthentication is disabled for the Mailbox.",
        "ours-smtp-auth-disabled-mailbox",
    );
}

#[test]
fn security_defaults_on() {
    row(
        |s| {
            s.seed_contoso();
            s.ok(&["user", "set", USER, "--smtp-auth", "enabled"]);
            None
        },
        "security-defaults",
        "security defaults policy",
        "ours-security-defaults",
    );
}

#[test]
fn mfa_enabled_gets_an_app_password_not_mfa_off() {
    row(
        |s| {
            s.open_contoso();
            s.ok(&["user", "set", USER, "--mfa", "enabled"]);
            None
        },
        "mfa",
        "did not meet the criteria",
        "ours-mfa-required",
    );
}

#[test]
fn mfa_enforced() {
    row(
        |s| {
            s.open_contoso();
            s.ok(&["user", "set", USER, "--mfa", "enforced"]);
            None
        },
        "mfa",
        "did not meet the criteria",
        "ours-mfa-required",
    );
}

#[test]
fn sign_in_blocked() {
    row(
        |s| {
            s.open_contoso();
            s.ok(&["user", "set", USER, "--sign-in", "blocked"]);
            None
        },
        "sign-in",
        "the user account is disabled.",
        "ours-sign-in-blocked",
    );
}

#[test]
fn app_password_while_the_organisation_blocks_app_passwords() {
    row(
        |s| {
            s.open_contoso();
            s.ok(&["user", "set", USER, "--mfa", "enabled"]);
            let out = s.ok(&["app-password", "add", USER, "--name", "scanner"]);
            Some(out.lines().find(|l| l.starts_with("  ")).expect("secret printed").trim().to_string())
        },
        "mfa",
        "did not meet the criteria",
        "ours-mfa-required",
    );
}

#[test]
fn doctor_orders_fixes_least_weakening_first_and_speaks_korean_and_indonesian() {
    let server = TestServer::start();
    server.seed_contoso();
    server.ok(&["user", "set", USER, "--mfa", "enabled"]);
    let (code, report) = doctor(&server);
    assert_eq!(code, 1);
    assert_eq!(report["blocking"], serde_json::json!(["authenticated-smtp", "security-defaults", "mfa"]));
    // One plan, not a list per check: each plan a smallest set of changes `decide` accepts,
    // the least weakening first. The device credential clears security defaults and MFA at
    // once, so the recommended plan is Authenticated SMTP for this mailbox plus one device
    // credential — not an app password that security defaults would still refuse.
    let plans: Vec<Vec<&str>> = report["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["fixes"].as_array().unwrap().iter().map(|f| f["commands"][0]["display"].as_str().unwrap()).collect())
        .collect();
    assert_eq!(
        plans,
        vec![
            vec![
                "authrelay user set scanner@contoso.com --smtp-auth enabled",
                "authrelay device-credential add scanner@contoso.com --name smtp-device",
            ],
            vec![
                "authrelay org set Contoso --smtp-auth enabled",
                "authrelay device-credential add scanner@contoso.com --name smtp-device",
            ],
            // Two secrets for one device weaken less than turning MFA off for the mailbox.
            vec![
                "authrelay user set scanner@contoso.com --smtp-auth enabled",
                "authrelay org set Contoso --app-passwords allowed",
                "authrelay app-password add scanner@contoso.com --name smtp-device",
                "authrelay org set Contoso --security-defaults off",
            ],
            vec![
                "authrelay user set scanner@contoso.com --smtp-auth enabled",
                "authrelay org set Contoso --security-defaults off",
                "authrelay user set scanner@contoso.com --mfa disabled",
            ],
        ],
        "{report:#}"
    );
    let weakenings: Vec<&str> =
        report["plans"].as_array().unwrap().iter().map(|p| p["weakening"].as_str().unwrap()).collect();
    assert_eq!(weakenings, ["mailbox", "organisation", "organisation", "organisation"]);
    assert_eq!(report["plans"][0]["credential"], "device-credential");
    // Applying the recommended plan as printed lets the device send with the secret it printed.
    let mut secret = None;
    for f in report["plans"][0]["fixes"].as_array().unwrap() {
        secret = apply(&server, f).or(secret);
    }
    let (out, text) = smtplib(&server, &secret.expect("the device credential was printed"));
    assert!(out.status.success() && text.contains("SENT"), "{text}");
    server.ok(&["org", "set", "Contoso", "--smtp-auth", "disabled"]);
    server.ok(&["user", "set", USER, "--smtp-auth", "default"]);
    for (lang, word) in [("ko", "인증된 SMTP"), ("id", "SMTP Terautentikasi")] {
        let out = server.cli(&["--lang", lang, "doctor", USER]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1));
        assert!(text.contains(word), "{lang}:\n{text}");
        assert!(text.contains("authrelay user set scanner@contoso.com --smtp-auth enabled"), "{text}");
    }
    // An address nobody created: the account is what blocks, and the fix creates it.
    let out = server.cli(&["doctor", "nobody@contoso.com", "--json"]);
    let v: Value = serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap();
    assert_eq!(v["blocking"], serde_json::json!(["account"]));
    assert_eq!(v["fixes"][0]["commands"][0]["display"], "authrelay user add nobody@contoso.com");
}

#[test]
fn probe_sends_a_test_message_over_starttls_and_implicit_tls() {
    let server = TestServer::start();
    server.open_contoso();
    let (code, p, raw) = probe(&server, PASSWORD, &["--from", USER, "--to", "frontdesk@example.net", "--send"]);
    assert_eq!(code, 0, "{raw}");
    assert_eq!(p["ok"], true);
    assert_eq!(p["auth_before_tls"], serde_json::json!([]), "AUTH must not be offered before TLS");
    assert_eq!(p["auth_after_tls"], serde_json::json!(["PLAIN", "LOGIN"]));
    assert_eq!(p["tls"]["version"], "TLSv1.3");
    assert_eq!(p["tls"]["name_matches"], true);
    assert!(p["send"]["reply"].as_str().unwrap().starts_with("250 2.0.0 OK queued as "), "{raw}");
    assert!(!raw.contains(PASSWORD) && !raw.contains(&base64(&format!("\0{USER}\0{PASSWORD}"))));

    let port = server.submissions.port().to_string();
    let addr = format!("localhost:{port}");
    let ca = server.data_dir().join("tls/cert.pem");
    let out = server.cli_with_stdin(
        &["probe", "--server", &addr, "--tls", "--user", USER, "--password-stdin", "--ca-file", ca.to_str().unwrap()],
        Some(PASSWORD),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("<- 235 2.7.0 Authentication successful"), "{text}");
    assert!(text.contains("-> AUTH PLAIN <redacted>"), "{text}");
    assert_eq!(server.queued().len(), 1);
}

#[test]
fn probe_reports_an_untrusted_certificate_and_withholds_the_password() {
    let server = TestServer::start();
    server.open_contoso();
    let addr = format!("localhost:{}", server.submission.port());
    // No --ca-file: the self-signed certificate is not in the system bundle.
    let out = server
        .cli_with_stdin(&["probe", "--server", &addr, "--user", USER, "--password-stdin", "--json"], Some(PASSWORD));
    let raw = String::from_utf8_lossy(&out.stdout);
    let p: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(out.status.code(), Some(1), "{raw}");
    assert_eq!(p["insecure_retry"], true);
    assert_eq!(p["tls"]["chain_verified"], false);
    assert!(p["tls"]["verify_error"].as_str().unwrap().to_lowercase().contains("unknown"), "{raw}");
    assert!(p["auth"].is_null(), "credentials must not go to an unverified server: {raw}");
    let client_auth = p["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["dir"] == "client" && l["text"].as_str().unwrap().starts_with("AUTH"));
    assert!(!client_auth, "{raw}");
    // Nothing reached the sign-in log: no AUTH was attempted.
    assert!(server.ok(&["signins", "--json"]).trim() == "[]");
}

#[test]
fn smart_lockout_is_named_and_unlock_lets_the_device_send() {
    // A generous per-address budget so that the per-user lockout (threshold 10) decides.
    let server = TestServer::start_with(common::Options {
        limits: vec!["address_failure_budget = 1000".to_string(), "address_failure_delay_step_ms = 0".to_string()],
        ..Default::default()
    });
    server.open_contoso();
    for i in 0..10 {
        // Smart lockout counts a repeated wrong password once (smtplib's PLAIN then LOGIN too),
        // so each run guesses a new one.
        let (out, text) = smtplib(&server, &format!("Wrong-Password-{i}!"));
        assert_eq!(out.status.code(), Some(3), "{text}");
    }
    let (out, text) = smtplib(&server, PASSWORD);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("account locked."), "{text}");

    let (code, report) = doctor(&server);
    assert_eq!(code, 1);
    assert_eq!(report["blocking"], serde_json::json!(["lockout"]), "{report:#}");
    let checks: Vec<&str> =
        report["explain_last"]["failures"].as_array().unwrap().iter().map(|f| f["check"].as_str().unwrap()).collect();
    assert!(checks.contains(&"lockout") && checks.contains(&"credentials"), "{report:#}");
    let first = &report["fixes"][0];
    assert_eq!(first["commands"][0]["display"], "authrelay user unlock scanner@contoso.com");
    apply(&server, first);
    let (out, text) = smtplib(&server, PASSWORD);
    assert!(out.status.success() && text.contains("SENT"), "{text}");
    assert_eq!(doctor(&server).0, 0);
}
