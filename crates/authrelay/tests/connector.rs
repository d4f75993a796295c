//! Connectors (issue 7): a device at a connector's client address sends without AUTH, only
//! from the connector's sender domains; every other address still gets 530 5.7.57; the
//! connector's decisions are in the sign-in log with the check "connector". The device is
//! Python's smtplib, bound to 127.0.0.1 (listed) or 127.0.0.2 (not listed).

mod common;

use std::process::Command;

use common::TestServer;

const CLIENT: &str = r#"
import smtplib, ssl, sys
port, cafile, source, sender, rcpt = sys.argv[1:6]
ctx = ssl.create_default_context(cafile=cafile)
with smtplib.SMTP("localhost", int(port), local_hostname="mfp.contoso.com", timeout=15, source_address=(source, 0)) as s:
    s.starttls(context=ctx)
    s.ehlo()
    msg = ("From: %s\r\nTo: %s\r\nSubject: scan\r\n\r\nscan attached\r\n" % (sender, rcpt)).encode()
    try:
        s.sendmail(sender, [rcpt], msg)
    except smtplib.SMTPSenderRefused as e:
        print("SENDER-REFUSED %d %s" % (e.smtp_code, e.smtp_error.decode()))
        sys.exit(3)
    print("QUEUED")
"#;

fn send(server: &TestServer, source: &str, sender: &str, rcpt: &str) -> (i32, String) {
    let script = server.dir.path().join("connector_client.py");
    std::fs::write(&script, CLIENT).unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .arg(server.submission.port().to_string())
        .arg(server.data_dir().join("tls/cert.pem"))
        .arg(source)
        .arg(sender)
        .arg(rcpt)
        .output()
        .expect("python3 must be installed to run this test");
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

fn server_with_connector() -> TestServer {
    let tables = "[[connectors]]\nname = \"mfp-floor2\"\nclients = [\"127.0.0.1/32\"]\nsender_domains = [\"contoso.com\"]\nmax_recipients = 5\n";
    let server = TestServer::start_with_tables(common::Options::default(), tables);
    server.seed_contoso();
    server
}

#[test]
fn a_listed_device_sends_without_auth_from_its_domains_only() {
    let server = server_with_connector();
    // Listed address, allowed sender domain, foreign recipient: accepted without AUTH.
    let (code, text) = send(&server, "127.0.0.1", "mfp@contoso.com", "partner@example.net");
    assert_eq!(code, 0, "{text}");
    let queued = server.queued();
    assert_eq!(queued.len(), 1);
    let stored = String::from_utf8_lossy(&queued[0].1).to_string();
    assert!(stored.contains("(connector mfp-floor2 admitted sender mfp@contoso.com, not authenticated)"), "{stored}");
    let log: serde_json::Value = serde_json::from_str(&server.ok(&["signins", "--last", "1", "--json"])).unwrap();
    let entry = &log[0];
    assert_eq!((entry["check"].as_str(), entry["credential"].as_str()), (Some("connector"), Some("connector")));
    assert_eq!((entry["mechanism"].as_str(), entry["success"].as_bool()), (Some("connector:mfp-floor2"), Some(true)));

    // Listed address, a sender domain the connector does not allow, to a foreign domain:
    // refused, never relayed.
    let (code, text) = send(&server, "127.0.0.1", "ceo@fabrikam.com", "partner@example.net");
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("SENDER-REFUSED 550 5.7.64 TenantAttribution; Relay Access Denied"), "{text}");
    let (code, text) = send(&server, "127.0.0.1", "someone@gmail.com", "partner@example.net");
    assert_eq!(code, 3, "{text}");
    let log: serde_json::Value = serde_json::from_str(&server.ok(&["signins", "--last", "1", "--json"])).unwrap();
    assert_eq!((log[0]["reply"].as_str(), log[0]["success"].as_bool()), (Some("ConnectorSenderDenied"), Some(false)));

    // Any other address: 530 5.7.57, as without a connector.
    let (code, text) = send(&server, "127.0.0.2", "mfp@contoso.com", "partner@example.net");
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("SENDER-REFUSED 530 5.7.57 Client not authenticated to send mail."), "{text}");
    assert_eq!(server.queued().len(), 1, "nothing else was queued");
}

#[test]
fn off_by_default_and_open_relay_configurations_are_refused() {
    let server = TestServer::start();
    server.seed_contoso();
    let (code, text) = send(&server, "127.0.0.1", "mfp@contoso.com", "partner@example.net");
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("530 5.7.57"), "{text}");

    // config check refuses a connector for every address, or without sender domains.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[[connectors]]\nclients = [\"0.0.0.0/0\"]\n").unwrap();
    let out = Command::new(common::BIN)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&path)
        .args(["config", "check"])
        .env("LANG", "en_US.UTF-8")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("open relay") && err.contains("connectors[0].sender_domains"), "{err}");
}

/// Issue 12: a connector's client names any sender in its domains, so its message must not be
/// filed in that mailbox's Sent folder (nor create a Maildir for an invented sender), and its
/// Received header must not claim ESMTPSA or an authenticated user. An authenticated
/// submission still gets both.
#[test]
fn connector_mail_gets_no_sent_copy_and_a_truthful_received_header() {
    let tables = "[delivery]\nsent_copy = true\n[[connectors]]\nname = \"mfp-floor2\"\nclients = [\"127.0.0.1/32\"]\nsender_domains = [\"contoso.com\"]\nmax_recipients = 5\n";
    let server = TestServer::start_with_tables(common::Options::default(), tables);
    server.open_contoso();
    let out = server.cli_with_stdin(&["user", "add", "ceo@contoso.com", "--password-stdin"], Some(common::PASSWORD));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    for sender in ["ceo@contoso.com", "invented@contoso.com"] {
        let (code, text) = send(&server, "127.0.0.1", sender, "scanner@contoso.com");
        assert_eq!(code, 0, "{text}");
    }
    let message = server.dir.path().join("own.eml");
    std::fs::write(&message, "From: scanner@contoso.com\r\nSubject: own\r\n\r\nmine\r\n").unwrap();
    let out = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/submit.py"))
        .arg(server.submission.port().to_string())
        .arg(server.data_dir().join("tls/cert.pem"))
        .args(["scanner@contoso.com", common::PASSWORD, "scanner@contoso.com", "scanner@contoso.com"])
        .arg(&message)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("DATA 250"), "{out:?}");

    let mailboxes = server.data_dir().join("mailboxes");
    let files = |dir: std::path::PathBuf| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| std::fs::read_to_string(e.path()).unwrap()).collect())
            .unwrap_or_default()
    };
    let inbox = mailboxes.join("scanner@contoso.com/new");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while files(inbox.clone()).len() < 3 {
        assert!(std::time::Instant::now() < deadline, "3 messages were not delivered: {}", server.logs());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // The authenticated submission's Sent copy is the only one.
    let sent = files(mailboxes.join("scanner@contoso.com/.Sent/cur"));
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("Subject: own"));
    assert!(!mailboxes.join("ceo@contoso.com/.Sent").exists(), "connector mail filed in the CEO's Sent folder");
    assert!(!mailboxes.join("invented@contoso.com").exists(), "a Maildir was created for an invented sender");

    for text in files(inbox) {
        let received = text.split("\r\n\r\n").next().unwrap().to_string();
        if text.contains("Subject: own") {
            assert!(received.contains("with ESMTPSA\r\n"), "{received}");
            assert!(received.contains("(authenticated user scanner@contoso.com with password)"), "{received}");
        } else {
            assert!(received.contains("with ESMTPS\r\n"), "{received}");
            assert!(received.contains("(connector mfp-floor2 admitted sender "), "{received}");
            assert!(received.contains(", not authenticated)"), "{received}");
            assert!(!received.contains("authenticated user") && !received.contains("ESMTPSA"), "{received}");
        }
    }
}

fn config_check(text: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("authrelay.toml");
    std::fs::write(&path, text).unwrap();
    let out = Command::new(common::BIN)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--config")
        .arg(&path)
        .args(["config", "check"])
        .env("LANG", "en_US.UTF-8")
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn connector_ranges_that_together_admit_everyone_are_refused() {
    // Two halves of the address space, in one connector or spread over two: an open relay.
    for text in [
        "[[connectors]]\nclients = [\"0.0.0.0/1\", \"128.0.0.0/1\"]\nsender_domains = [\"contoso.com\"]\n",
        "[[connectors]]\nclients = [\"0.0.0.0/1\"]\nsender_domains = [\"contoso.com\"]\n\
         [[connectors]]\nclients = [\"128.0.0.0/1\"]\nsender_domains = [\"fabrikam.com\"]\n",
        "[[connectors]]\nclients = [\"::/1\", \"8000::/1\"]\nsender_domains = [\"contoso.com\"]\n",
    ] {
        let (ok, err) = config_check(text);
        assert!(!ok, "accepted: {text}");
        assert!(err.contains("connectors") && err.contains("open relay"), "{err}");
    }
    // Half a private /8, an overlapping subnet (counted once) and a few devices are fine.
    let (ok, err) = config_check(
        "[[connectors]]\nclients = [\"10.0.0.0/9\", \"10.20.0.0/16\"]\nsender_domains = [\"contoso.com\"]\n\
         [[connectors]]\nclients = [\"192.0.2.10\", \"2001:db8::/48\"]\nsender_domains = [\"contoso.com\"]\n",
    );
    assert!(ok, "{err}");
}

#[test]
fn invented_senders_share_the_connectors_daily_total() {
    let tables =
        "[[connectors]]\nname = \"mfp-floor2\"\nclients = [\"127.0.0.1/32\"]\nsender_domains = [\"contoso.com\"]\n\
                  daily_recipients = 2\ndaily_recipients_total = 3\n";
    let server = TestServer::start_with_tables(common::Options::default(), tables);
    server.seed_contoso();
    // Each sender may have two recipients a day, but the connector three in all: a client that
    // invents a new sender address for every message does not get more.
    let mut queued = 0;
    for i in 0..6 {
        let (code, text) = send(&server, "127.0.0.1", &format!("invented{i}@contoso.com"), "partner@example.net");
        if code == 0 {
            queued += 1;
        } else {
            assert!(text.contains("554") && text.contains("5.2.0"), "{text}");
        }
    }
    assert_eq!(queued, 3);
    assert_eq!(server.queued().len(), 3);
}

/// Signs in to the admin API as a Global admin made here; returns the request headers (the
/// session cookie, the CSRF token, the language).
fn admin_headers(server: &TestServer, lang: &str) -> Vec<(&'static str, String)> {
    let password = "Adm1n-Center-Pass!";
    let out = server.cli_with_stdin(
        &["admin", "add", &format!("connectors-{lang}@contoso.com"), "--role", "global", "--password-stdin"],
        Some(password),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let body = serde_json::json!({ "address": format!("connectors-{lang}@contoso.com"), "password": password });
    let r = common::http::request(
        server.admin(),
        "POST",
        "/api/session",
        &[("Content-Type", "application/json".to_string())],
        &body.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let cookie = r.header("set-cookie").unwrap().split(';').next().unwrap().to_string();
    let session: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    vec![
        ("Cookie", cookie),
        ("X-CSRF-Token", session["csrf_token"].as_str().unwrap().to_string()),
        ("Accept-Language", lang.to_string()),
    ]
}

/// The admin center shows the connectors in force (API and page): their settings, what their
/// senders used in the last 24 hours, the file to edit, which connector admits an address —
/// and a reload's change at once. A typo in the address is answered at its field.
#[test]
fn the_admin_center_shows_the_connectors_in_force_and_which_one_admits_an_address() {
    let tables = "[[connectors]]\nname = \"mfp-floor2\"\nclients = [\"127.0.0.1/32\", \"10.1.0.0/16\"]\nsender_domains = [\"contoso.com\"]\nmax_recipients = 5\ndaily_recipients_total = 300\n";
    let server = TestServer::start_with_tables(common::Options::default(), tables);
    server.seed_contoso();
    server.ok(&["org", "set", "Contoso", "--security-defaults", "off"]);
    let en = admin_headers(&server, "en");
    let get = |headers: &[(&str, String)], path: &str| common::http::request(server.admin(), "GET", path, headers, "");

    // One message through the connector: its recipient counts against the shared total.
    let (code, text) = send(&server, "127.0.0.1", "mfp@contoso.com", "partner@example.net");
    assert_eq!(code, 0, "{text}");
    let mut view = serde_json::Value::Null;
    assert!(
        common::sink::wait_until(10, || {
            view = serde_json::from_str(&get(&en, "/api/connectors").body).unwrap();
            view["connectors"][0]["recipients_last_24h"] == 1
        }),
        "{view}"
    );
    let c = &view["connectors"][0];
    assert_eq!(c["name"], "mfp-floor2");
    assert_eq!(c["clients"], serde_json::json!(["127.0.0.1/32", "10.1.0.0/16"]));
    assert_eq!(c["sender_domains"], serde_json::json!(["contoso.com"]));
    assert_eq!((c["max_recipients"].as_u64(), c["daily_recipients_total"].as_u64()), (Some(5), Some(300)));
    let config_path = server.dir.path().join("authrelay.toml");
    assert_eq!(view["config_file"].as_str(), Some(config_path.to_str().unwrap()), "{view}");
    assert!(c.get("quota_key").is_none(), "internal keys stay inside: {c}");

    // Which connector admits an address (the sign-in log's ip:port form too); none: sign in.
    let check = |q: &str| -> serde_json::Value {
        serde_json::from_str(&get(&en, &format!("/api/connectors?client={q}")).body).unwrap()
    };
    assert_eq!(check("10.1.200.7")["check"]["connector"], "mfp-floor2");
    assert_eq!(
        check("127.0.0.1:50123")["check"],
        serde_json::json!({ "client": "127.0.0.1", "connector": "mfp-floor2" })
    );
    assert_eq!(check("%5B%3A%3Affff%3A10.1.0.9%5D%3A25")["check"]["connector"], "mfp-floor2", "IPv4-mapped");
    assert!(check("192.0.2.1")["check"]["connector"].is_null());
    let bad = get(&en, "/api/connectors?client=10.1.2");
    assert_eq!(bad.status, 422, "{}", bad.body);
    assert!(bad.body.contains("bad-client") && bad.body.contains("192.0.2.10"), "{}", bad.body);

    // The page: the settings, the use, the file and the commands; the answer to a check; a
    // typo answered at its field with the input kept.
    let page = get(&en, "/connectors");
    assert_eq!(page.status, 200, "{}", page.body);
    // The page escapes '/' in text it did not write itself.
    let shown_path = config_path.to_str().unwrap().replace('/', "&#x2f;");
    for expected in [
        "mfp-floor2",
        "href=\"/signins?client_ip=10.1.0.0%2F16\"",
        "1 of 300 used in the last 24 hours",
        &shown_path,
        "authrelay config check",
        "authrelay reload",
    ] {
        assert!(page.body.contains(expected), "{expected}: {}", page.body);
    }
    let page = get(&en, "/connectors?client=192.0.2.1");
    assert!(page.body.contains("No connector admits 192.0.2.1") && page.body.contains("530 5.7.57"), "{}", page.body);
    let page = get(&en, "/connectors?client=10.1.2");
    assert_eq!(page.status, 422);
    assert!(page.body.contains("id=\"check-client-error\"") && page.body.contains("value=\"10.1.2\""), "{}", page.body);
    let ko = get(&admin_headers(&server, "ko"), "/connectors?client=10.1.0.1");
    assert!(ko.body.contains("커넥터 &quot;mfp-floor2&quot;이(가) 허용합니다"), "{}", ko.body);

    // The file changes and a reload applies it: the page follows without a restart.
    let before = std::fs::read_to_string(&config_path).unwrap();
    std::fs::write(
        &config_path,
        format!("{before}\n[[connectors]]\nname = \"scanners\"\nclients = [\"192.0.2.64/28\"]\nsender_domains = [\"contoso.com\"]\n"),
    )
    .unwrap();
    server.ok(&["reload"]);
    let view: serde_json::Value = serde_json::from_str(&get(&en, "/api/connectors?client=192.0.2.70").body).unwrap();
    assert_eq!(view["connectors"].as_array().unwrap().len(), 2, "{view}");
    assert_eq!(view["check"]["connector"], "scanners");
}
