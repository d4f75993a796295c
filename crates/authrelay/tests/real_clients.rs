//! Clients nobody here wrote: lettre, Python's smtplib and swaks, against the real server.
//!
//! Each client must see the same replies a printer would: `250 2.0.0 OK queued as <id>` when the
//! mailbox may send, and the exact 535 5.7.139 text of the check that refused it otherwise.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{TestServer, PASSWORD};
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::response::Response;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

const USER: &str = "scanner@contoso.com";

const TENANT_DISABLED: &str =
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Tenant.";
const SECURITY_DEFAULTS: &str = "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security defaults policy. Contact your administrator.";
const MFA_REQUIRED: &str = "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be authenticated successfully. Contact your administrator.";
const BAD_CREDENTIALS: &str = "535 5.7.139 Authentication unsuccessful, the user credentials were incorrect.";
const QUEUED: &str = "250 2.0.0 OK queued as ";

/// The reply text without its code, as lettre puts it in an error ("permanent error (535): …").
fn text_of(reply: &str) -> &str {
    &reply[4..]
}

fn cert_path(server: &TestServer) -> std::path::PathBuf {
    server.data_dir().join("tls/cert.pem")
}

// ---------------------------------------------------------------------------------------------
// lettre

/// TLS parameters that trust exactly the server's self-signed certificate (name "localhost").
fn lettre_tls(server: &TestServer) -> TlsParameters {
    let pem = std::fs::read(cert_path(server)).unwrap();
    TlsParameters::builder("localhost".to_string())
        .add_root_certificate(Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap()
}

/// A lettre transport to the STARTTLS port (`implicit == false`) or the implicit-TLS port.
fn lettre_transport(
    server: &TestServer,
    implicit: bool,
    mechanism: Mechanism,
    password: &str,
) -> AsyncSmtpTransport<Tokio1Executor> {
    let (port, tls) = if implicit {
        (server.submissions.port(), Tls::Wrapper(lettre_tls(server)))
    } else {
        (server.submission.port(), Tls::Required(lettre_tls(server)))
    };
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(15)))
        .credentials(Credentials::new(USER.to_string(), password.to_string()))
        .authentication(vec![mechanism])
        .build()
}

fn lettre_message(subject: &str) -> Message {
    Message::builder()
        .from(USER.parse().unwrap())
        .to("frontdesk@example.net".parse().unwrap())
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(format!("Scan from the lettre test: {subject}\r\n.a line with a leading dot\r\n"))
        .unwrap()
}

/// The queue id of a `250 2.0.0 OK queued as <id>` response.
fn queued_id(response: &Response) -> String {
    assert_eq!(response.code().to_string(), "250", "{response:?}");
    let line = response.message().collect::<Vec<_>>().join(" ");
    let id = line.strip_prefix("2.0.0 OK queued as ").unwrap_or_else(|| panic!("not a Queued reply: {line:?}"));
    id.trim().to_string()
}

fn stored(server: &TestServer, id: &str) -> Vec<u8> {
    let queued = server.queued();
    let (_, raw) = queued
        .into_iter()
        .find(|(qid, _)| qid == id)
        .unwrap_or_else(|| panic!("message {id} is not in the queue: {}", server.ok(&["queue", "list"])));
    raw
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Sends with lettre and expects a refusal whose text is exactly `reply`'s.
async fn lettre_refused(transport: &AsyncSmtpTransport<Tokio1Executor>, reply: &str) {
    let err = transport.send(lettre_message("refused")).await.expect_err("AUTH must be refused");
    let shown = err.to_string();
    assert!(err.is_permanent(), "expected a permanent error, got {shown}");
    assert_eq!(err.status().map(|c| c.to_string()).as_deref(), Some("535"), "{shown}");
    assert!(shown.ends_with(text_of(reply)), "lettre error {shown:?} does not carry {reply:?}");
}

#[tokio::test]
async fn lettre_starttls_auth_plain_queues_with_received_header() {
    let server = TestServer::start();
    server.open_contoso();
    let transport = lettre_transport(&server, false, Mechanism::Plain, PASSWORD);
    let message = lettre_message("starttls plain");
    let formatted = message.formatted();
    let response = transport.send(message).await.unwrap_or_else(|e| panic!("lettre send failed: {e}"));
    let id = queued_id(&response);
    let raw = stored(&server, &id);
    let text = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with(b"Received: "), "{text}");
    assert!(text.contains("authenticated user scanner@contoso.com"), "{text}");
    assert!(text.contains("TLSv1.3"), "{text}");
    assert!(text.contains("with ESMTPSA"), "{text}");
    // lettre dot-stuffs on the wire; the server must store what lettre meant.
    assert!(contains(&raw, &formatted), "stored message does not hold lettre's bytes:\n{text}");
    assert!(text.contains("\r\n.a line with a leading dot\r\n"), "{text}");
}

#[tokio::test]
async fn lettre_implicit_tls_auth_login_queues() {
    let server = TestServer::start();
    server.open_contoso();
    let transport = lettre_transport(&server, true, Mechanism::Login, PASSWORD);
    let response = transport.send(lettre_message("implicit login")).await.unwrap_or_else(|e| panic!("{e}"));
    let id = queued_id(&response);
    let text = String::from_utf8_lossy(&stored(&server, &id)).to_string();
    assert!(text.contains("authenticated user scanner@contoso.com with password"), "{text}");
    assert!(text.contains("Subject: implicit login"), "{text}");
}

#[tokio::test]
async fn lettre_sees_the_seed_failures_verbatim_then_sends() {
    let server = TestServer::start();
    server.seed_contoso();
    let plain = lettre_transport(&server, false, Mechanism::Plain, PASSWORD);
    let login = lettre_transport(&server, true, Mechanism::Login, PASSWORD);

    lettre_refused(&plain, TENANT_DISABLED).await;
    lettre_refused(&login, TENANT_DISABLED).await;

    server.ok(&["user", "set", USER, "--smtp-auth", "enabled"]);
    lettre_refused(&plain, SECURITY_DEFAULTS).await;

    server.ok(&["org", "set", "Contoso", "--security-defaults", "off"]);
    server.ok(&["user", "set", USER, "--mfa", "enabled"]);
    lettre_refused(&login, MFA_REQUIRED).await;

    lettre_refused(&lettre_transport(&server, false, Mechanism::Plain, "wrong-password"), BAD_CREDENTIALS).await;

    server.ok(&["user", "set", USER, "--mfa", "disabled"]);
    let response = plain.send(lettre_message("after the fixes")).await.unwrap_or_else(|e| panic!("{e}"));
    queued_id(&response);
    assert_eq!(server.queued().len(), 1, "only the last message is queued");
}

// ---------------------------------------------------------------------------------------------
// Python smtplib

const PY_CLIENT: &str = r#"
import smtplib, ssl, sys
port, cafile, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=cafile)
with smtplib.SMTP("localhost", port, local_hostname="pyscanner.contoso.com", timeout=15) as s:
    s.starttls(context=ctx)
    s.ehlo()
    print("TLS", s.sock.version())
    try:
        s.login(user, password)
    except smtplib.SMTPAuthenticationError as e:
        print("AUTH-FAILED %d %s" % (e.smtp_code, e.smtp_error.decode()))
        sys.exit(3)
    msg = (
        "From: %s\r\nTo: frontdesk@example.net\r\nSubject: from smtplib\r\n\r\n"
        ".leading dot from python\r\nbody\r\n" % user
    ).encode()
    code, resp = s.mail(user)
    assert code == 250, (code, resp)
    code, resp = s.rcpt("frontdesk@example.net")
    assert code == 250, (code, resp)
    code, resp = s.data(msg)
    print("DATA %d %s" % (code, resp.decode()))
    sys.exit(0 if code == 250 else 4)
"#;

fn run_smtplib(server: &TestServer, password: &str) -> (Output, String) {
    let script = server.dir.path().join("smtplib_client.py");
    std::fs::write(&script, PY_CLIENT).unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .arg(server.submission.port().to_string())
        .arg(cert_path(server))
        .arg(USER)
        .arg(password)
        .output()
        .expect("python3 must be installed to run this test");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out, text)
}

#[test]
fn python_smtplib_starttls_login_sendmail() {
    let server = TestServer::start();
    server.open_contoso();
    let (out, text) = run_smtplib(&server, PASSWORD);
    assert!(out.status.success(), "smtplib failed ({}):\n{text}", out.status);
    assert!(text.contains("TLS TLSv1.3"), "{text}");
    let line = text.lines().find(|l| l.starts_with("DATA ")).unwrap_or_else(|| panic!("{text}"));
    let id = line.strip_prefix("DATA 250 2.0.0 OK queued as ").unwrap_or_else(|| panic!("{line}")).trim();
    let raw = stored(&server, id);
    assert!(raw.ends_with(b"Subject: from smtplib\r\n\r\n.leading dot from python\r\nbody\r\n"));
    assert!(String::from_utf8_lossy(&raw).contains("from pyscanner.contoso.com"));
}

#[test]
fn python_smtplib_login_under_security_defaults_prints_the_reply() {
    let server = TestServer::start();
    server.seed_contoso();
    server.ok(&["user", "set", USER, "--smtp-auth", "enabled"]);
    let (out, text) = run_smtplib(&server, PASSWORD);
    assert_eq!(out.status.code(), Some(3), "smtplib must fail at login:\n{text}");
    assert!(text.contains(&format!("AUTH-FAILED {SECURITY_DEFAULTS}")), "{text}");
    assert!(server.queued().is_empty());
}

// ---------------------------------------------------------------------------------------------
// swaks

fn swaks(args: &[&str]) -> (Output, String) {
    let out = match Command::new("swaks").args(args).output() {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("swaks is not on PATH: install it with `apt-get install swaks` (this test does not skip)")
        }
        Err(e) => panic!("cannot run swaks: {e}"),
    };
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out, text)
}

fn swaks_args(server_addr: &str, tls_flag: &'static str, mechanism: &'static str, password: &str) -> Vec<String> {
    [
        "--server",
        server_addr,
        tls_flag,
        "--auth",
        mechanism,
        "--auth-user",
        USER,
        "--auth-password",
        password,
        "--from",
        USER,
        "--to",
        "x@example.net",
        "--helo",
        "swaks.contoso.com",
        "--timeout",
        "15",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn run_swaks(args: &[String]) -> (Output, String) {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    swaks(&refs)
}

fn swaks_queued_id(text: &str) -> String {
    let line = text.lines().find(|l| l.contains(QUEUED)).unwrap_or_else(|| panic!("no Queued reply:\n{text}"));
    line.split(QUEUED).nth(1).unwrap().trim().to_string()
}

#[test]
fn swaks_starttls_auth_plain() {
    let server = TestServer::start();
    server.open_contoso();
    let addr = server.submission.to_string();
    let (out, text) = run_swaks(&swaks_args(&addr, "--tls", "PLAIN", PASSWORD));
    assert!(out.status.success(), "swaks failed ({}):\n{text}", out.status);
    assert!(text.contains("235 2.7.0 Authentication successful"), "{text}");
    let id = swaks_queued_id(&text);
    let raw = String::from_utf8_lossy(&stored(&server, &id)).to_string();
    assert!(raw.contains("authenticated user scanner@contoso.com"), "{raw}");
    assert!(raw.contains("X-Mailer: swaks"), "{raw}");
}

#[test]
fn swaks_tls_on_connect_auth_login() {
    let server = TestServer::start();
    server.open_contoso();
    let addr = server.submissions.to_string();
    let (out, text) = run_swaks(&swaks_args(&addr, "--tls-on-connect", "LOGIN", PASSWORD));
    assert!(out.status.success(), "swaks failed ({}):\n{text}", out.status);
    let id = swaks_queued_id(&text);
    stored(&server, &id);
}

#[test]
fn swaks_mfa_enabled_shows_mfa_required_and_fails() {
    let server = TestServer::start();
    server.open_contoso();
    server.ok(&["user", "set", USER, "--mfa", "enabled"]);
    let addr = server.submission.to_string();
    let (out, text) = run_swaks(&swaks_args(&addr, "--tls", "PLAIN", PASSWORD));
    assert!(!out.status.success(), "swaks must fail:\n{text}");
    assert!(text.lines().any(|l| l.trim_end().ends_with(MFA_REQUIRED)), "no MfaRequired reply:\n{text}");
    assert!(!text.contains(QUEUED), "{text}");
    assert!(server.queued().is_empty());
}

// ---------------------------------------------------------------------------------------------
// App passwords, end to end

/// The secret printed by `app-password add`: the line after "Created the app password …".
fn parse_app_password(stdout: &str) -> String {
    let mut lines = stdout.lines();
    lines.by_ref().find(|l| l.contains("Created the app password")).unwrap_or_else(|| panic!("{stdout}"));
    let secret = lines.next().unwrap_or_else(|| panic!("{stdout}")).trim().to_string();
    let groups: Vec<&str> = secret.split(' ').collect();
    assert!(
        groups.len() == 4 && groups.iter().all(|g| g.len() == 4 && g.bytes().all(|b| b.is_ascii_lowercase())),
        "app password {secret:?} is not shaped like \"abcd efgh ijkl mnop\""
    );
    secret
}

fn signins(server: &TestServer) -> (String, Vec<serde_json::Value>) {
    let out = server.ok(&["signins", "--json", "--user", USER, "--last", "100"]);
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    (out.clone(), list.as_array().unwrap().clone())
}

#[tokio::test]
async fn app_password_flow_end_to_end() {
    let server = TestServer::start();
    server.open_contoso();
    server.ok(&["user", "set", USER, "--mfa", "enabled"]);
    server.ok(&["org", "set", "Contoso", "--app-passwords", "allowed"]);
    let created = server.ok(&["app-password", "add", USER, "--name", "printer"]);
    let secret = parse_app_password(&created);
    let compact: String = secret.chars().filter(|c| *c != ' ').collect();

    // The account password is refused under MFA.
    lettre_refused(&lettre_transport(&server, false, Mechanism::Plain, PASSWORD), MFA_REQUIRED).await;

    // The app password works, as shown and without its spaces, over both ports and mechanisms.
    let mut ids = vec![];
    for (implicit, mechanism, password) in
        [(false, Mechanism::Plain, secret.as_str()), (true, Mechanism::Login, compact.as_str())]
    {
        let transport = lettre_transport(&server, implicit, mechanism, password);
        let response = transport
            .send(lettre_message("sent with an app password"))
            .await
            .unwrap_or_else(|e| panic!("app password {password:?} refused: {e}"));
        ids.push(queued_id(&response));
    }
    for id in &ids {
        let text = String::from_utf8_lossy(&stored(&server, id)).to_string();
        assert!(text.contains("(authenticated user scanner@contoso.com with app-password)"), "{text}");
    }

    // The organisation blocks app passwords again: refused as MfaRequired.
    server.ok(&["org", "set", "Contoso", "--app-passwords", "blocked"]);
    lettre_refused(&lettre_transport(&server, false, Mechanism::Plain, &secret), MFA_REQUIRED).await;

    // Revoked: the secret is now simply wrong.
    server.ok(&["org", "set", "Contoso", "--app-passwords", "allowed"]);
    server.ok(&["app-password", "revoke", USER, "--name", "printer"]);
    lettre_refused(&lettre_transport(&server, false, Mechanism::Plain, &secret), BAD_CREDENTIALS).await;
    assert_eq!(server.queued().len(), 2);

    // The secret appears nowhere but in the one `app-password add` output.
    let (raw_log, entries) = signins(&server);
    let human_log = server.ok(&["signins", "--user", USER, "--last", "100"]);
    let logs = server.logs();
    for (name, text) in [("sign-in log (json)", &raw_log), ("sign-in log", &human_log), ("server log", &logs)] {
        assert!(!text.contains(&secret), "the app password leaked into the {name}:\n{text}");
        assert!(!text.contains(&compact), "the app password leaked into the {name}:\n{text}");
        assert!(!text.contains(PASSWORD), "the account password leaked into the {name}:\n{text}");
    }
    let listed = server.ok(&["app-password", "list", USER]);
    assert!(!listed.contains(&compact[..8]), "{listed}");
    assert_no_secret_files(&server.data_dir(), &[&secret, &compact]);

    // The sign-in log holds every attempt (the JSON lists the newest first).
    let oldest_first: Vec<&serde_json::Value> = entries.iter().rev().collect();
    let decided: Vec<(&str, &str, bool)> = oldest_first
        .iter()
        .map(|e| (e["check"].as_str().unwrap(), e["reply"].as_str().unwrap(), e["success"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        decided,
        [
            ("mfa", "MfaRequired", false),
            ("accepted", "AuthOk", true),
            ("accepted", "AuthOk", true),
            ("mfa", "MfaRequired", false),
            ("credentials", "BadCredentials", false),
        ],
        "{raw_log}"
    );
    for e in &entries {
        assert_eq!(e["user"], USER, "{raw_log}");
        assert_eq!(e["tls"], "TLSv1.3", "{raw_log}");
    }
    let mechanisms: Vec<&str> = oldest_first.iter().map(|e| e["mechanism"].as_str().unwrap()).collect();
    assert_eq!(mechanisms, ["PLAIN", "PLAIN", "LOGIN", "PLAIN", "PLAIN"], "{raw_log}");
    // The human sign-in log names the credential kind in the reader's language (issue 19).
    assert_eq!(human_log.matches("  App password  ").count(), 3, "{human_log}");
    // The JSON must use the same spelling ("app-password", as in `CredentialKind::as_str`, the
    // Received header and the human output), not serde's lower-cased variant name.
    let credentials: Vec<Option<&str>> = oldest_first.iter().take(4).map(|e| e["credential"].as_str()).collect();
    assert_eq!(
        credentials,
        [Some("password"), Some("app-password"), Some("app-password"), Some("app-password")],
        "`signins --json` spells the credential kind differently from everything else:\n{raw_log}"
    );
}

/// No file of the data directory (the log files and the spool included) holds the secret in clear.
fn assert_no_secret_files(dir: &Path, secrets: &[&str]) {
    let mut stack = vec![dir.to_path_buf()];
    let mut seen = 0;
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(bytes) = std::fs::read(&path) {
                seen += 1;
                assert!(seen < 10_000, "too many files under {}", dir.display());
                for s in secrets {
                    assert!(!contains(&bytes, s.as_bytes()), "{} holds the app password in clear", path.display());
                }
            }
        }
    }
}
