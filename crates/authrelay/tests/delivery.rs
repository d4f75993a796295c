//! Delivery end to end: the real `authrelay serve` takes a message submitted with AUTH and
//! delivers it to peers nobody here wrote: a Maildir read by Python's `mailbox`, an aiosmtpd
//! smarthost that requires STARTTLS and AUTH (DKIM checked by dkimpy), and an MX route resolved
//! through dnsmasq. Then the failure paths: 4xx then 2xx, 5xx, a far side that is down, and
//! SIGKILL in the middle of delivery. Loopback only; every wait is bounded.
//!
//! Needs python3 with aiosmtpd and dkimpy, and dnsmasq (scripts/test installs them).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use common::sink::{bytes_of, support, wait_until, Sink};
use common::*;

const USER: &str = "scanner@contoso.com";

/// Submits with Python's smtplib (STARTTLS + AUTH PLAIN/LOGIN); returns its reply lines.
fn submit(server: &TestServer, rcpts: &[&str], message: &[u8]) -> String {
    let path = server.dir.path().join(format!("msg-{}.eml", now_millis()));
    std::fs::write(&path, message).unwrap();
    let out = Command::new("python3")
        .arg(support("submit.py"))
        .arg(server.submission.port().to_string())
        .arg(server.data_dir().join("tls/cert.pem"))
        .arg(USER)
        .arg(PASSWORD)
        .arg(USER)
        .arg(rcpts.join(","))
        .arg(&path)
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "submit failed: {text}");
    text
}

fn message(subject: &str, to: &str) -> Vec<u8> {
    format!(
        "From: Scanner <{USER}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{subject}.{}@contoso.com>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n.a line that starts with a dot\r\nscan attached (not really)\r\n",
        now_millis()
    )
    .replace(' ', " ")
    .into_bytes()
}

/// The messages of a Maildir as Python's `mailbox.Maildir` reads them.
fn maildir(server: &TestServer, address: &str) -> Vec<Vec<u8>> {
    let dir = server.data_dir().join("mailboxes").join(address);
    if !dir.join("new").is_dir() {
        return vec![];
    }
    let out = Command::new("python3").arg(support("read_maildir.py")).arg(&dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| base64::engine::general_purpose::STANDARD.decode(l).unwrap())
        .collect()
}

/// Lists only (no `queue show`), so a message leaving the queue meanwhile is no error.
fn queue_empty(server: &TestServer) -> bool {
    let list: serde_json::Value = serde_json::from_str(&server.ok(&["queue", "list", "--json"])).unwrap();
    list.as_array().unwrap().is_empty()
}

fn smarthost_route(port: u16, tls: &str, extra: &str) -> String {
    format!(
        "[delivery]\nscan_interval_ms = 100\nfirst_retry_secs = 1\nmax_retry_interval_secs = 1\n\n[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"{tls}\"\n{extra}\n"
    )
}

fn add_user(server: &TestServer, address: &str) {
    let out = server.cli_with_stdin(&["user", "add", address, "--password-stdin"], Some(PASSWORD));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// (a) A local recipient gets the message in its Maildir exactly as submitted, behind our one
/// Received header; Python's `mailbox` reads it. An unknown mailbox of a hosted domain is
/// refused at RCPT with 550 5.1.1 while the other recipient is accepted.
#[test]
fn local_recipient_gets_the_message_in_maildir_byte_for_byte() {
    let server = TestServer::start_with_tables(Options::default(), "[delivery]\nscan_interval_ms = 100\n");
    server.open_contoso();
    add_user(&server, "alice@contoso.com");
    let msg = message("local", "alice@contoso.com");
    let replies = submit(&server, &["alice@contoso.com", "nobody@contoso.com"], &msg);
    assert!(replies.contains("RCPT 250"), "{replies}");
    assert!(replies.contains("RCPT 550 5.1.1 Recipient address rejected: no such mailbox here"), "{replies}");
    assert!(replies.contains("DATA 250 2.0.0 OK queued as"), "{replies}");

    assert!(wait_until(15, || maildir(&server, "alice@contoso.com").len() == 1), "{}", server.logs());
    let got = &maildir(&server, "alice@contoso.com")[0];
    assert!(got.ends_with(&msg), "the submitted bytes follow unchanged");
    let added = String::from_utf8(got[..got.len() - msg.len()].to_vec()).unwrap();
    assert!(
        added.starts_with(
            "Received: from printer.contoso.com ([127.0.0.1])\r\n\tby mx.authrelay.test (authrelay) with ESMTPSA\r\n"
        ),
        "{added}"
    );
    assert!(added.contains("(authenticated user scanner@contoso.com with password)"), "{added}");
    assert_eq!(added.matches("\r\n").count(), added.matches("\r\n\t").count() + 1, "one folded header only: {added}");
    assert!(wait_until(10, || queue_empty(&server)), "delivered messages leave the queue");
}

fn rcgen_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
    let (c, k) = (dir.join("sink-cert.pem"), dir.join("sink-key.pem"));
    std::fs::write(&c, cert.cert.pem()).unwrap();
    std::fs::write(&k, cert.key_pair.serialize_pem()).unwrap();
    (c, k)
}

/// A sink that requires STARTTLS (with a fresh certificate, returned for `ca_file`) and AUTH as
/// relay@contoso.com / Relay-Pass-1.
fn tls_auth_sink(work: &Path, name: &str) -> (Sink, PathBuf) {
    let (cert, key) = rcgen_cert(work);
    let sink = Sink::start(
        work,
        name,
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--auth",
            "relay@contoso.com:Relay-Pass-1",
        ],
    );
    (sink, cert)
}

/// (b) A smarthost that requires STARTTLS and AUTH (aiosmtpd) receives the message over
/// verified TLS, authenticated, with a DKIM signature that dkimpy verifies against the record
/// `authrelay dkim generate` printed.
#[test]
fn smarthost_with_starttls_and_auth_gets_a_dkim_signed_message() {
    let work = tempfile::tempdir().unwrap();
    let (sink, cert) = tls_auth_sink(work.path(), "smarthost");
    let password_file = work.path().join("relay-password");
    std::fs::write(&password_file, "Relay-Pass-1\n").unwrap();
    let extra = format!(
        "user = \"relay@contoso.com\"\npassword_file = \"{}\"\nca_file = \"{}\"",
        password_file.display(),
        cert.display()
    );
    let server = TestServer::start_with_tables(Options::default(), &smarthost_route(sink.port, "starttls", &extra));
    server.open_contoso();
    let generated: serde_json::Value =
        serde_json::from_str(&server.ok(&["dkim", "generate", "contoso.com", "--selector", "t1", "--json"])).unwrap();
    let record = generated["record_value"].as_str().unwrap().to_string();
    assert_eq!(generated["record_name"], "t1._domainkey.contoso.com");

    let msg = message("smarthost", "partner@fabrikam.example");
    let replies = submit(&server, &["partner@fabrikam.example"], &msg);
    assert!(replies.contains("DATA 250"), "{replies}");
    let got = sink.wait_for(1, 20);
    assert_eq!(got[0]["tls"], true, "STARTTLS was used");
    assert_eq!(got[0]["authenticated"], true, "AUTH was used");
    assert_eq!(got[0]["mail_from"], USER);
    assert_eq!(got[0]["rcpt_tos"], serde_json::json!(["partner@fabrikam.example"]));
    let bytes = bytes_of(&got[0]);
    assert!(bytes.starts_with(b"DKIM-Signature: v=1; a=rsa-sha256;"), "{}", String::from_utf8_lossy(&bytes[..200]));
    assert!(bytes.ends_with(&msg));

    let file = work.path().join("signed.eml");
    std::fs::write(&file, &bytes).unwrap();
    let out = Command::new("python3").arg(support("dkim_verify.py")).arg(&file).arg(&record).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("dkim ok"), "dkimpy: {text}");
    // The check can fail: a changed body does not verify.
    let mut tampered = bytes.clone();
    let n = tampered.len();
    tampered[n - 5] ^= 0x01;
    std::fs::write(&file, &tampered).unwrap();
    let out = Command::new("python3").arg(support("dkim_verify.py")).arg(&file).arg(&record).output().unwrap();
    assert!(!out.status.success(), "a tampered message must not verify");
    assert!(wait_until(10, || queue_empty(&server)));
}

struct Dnsmasq(Child);

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// (c) Direct MX: the domain's MX records come from dnsmasq on loopback. The preferred MX
/// (127.0.0.2) refuses connections, so delivery falls back to the next one, the sink.
#[test]
fn mx_route_resolved_through_dnsmasq_in_preference_order() {
    let work = tempfile::tempdir().unwrap();
    let sink = Sink::start(work.path(), "mx", &[]);
    let dns_port = port_for_a_child();
    let dnsmasq = Command::new("dnsmasq")
        .args([
            "--no-daemon",
            "--conf-file=/dev/null",
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--pid-file=",
        ])
        .arg(format!("--port={dns_port}"))
        .args([
            "--mx-host=example.org,mx0.example.org,5",
            "--mx-host=example.org,mx1.example.org,10",
            "--host-record=mx0.example.org,127.0.0.2",
            "--host-record=mx1.example.org,127.0.0.1",
        ])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(work.path().join("dnsmasq.log")).unwrap())
        .spawn()
        .expect("dnsmasq must be installed (apt-get install dnsmasq-base)");
    let _dnsmasq = Dnsmasq(dnsmasq);
    // Ready once its port is taken (a fixed pause was a guess on a busy machine).
    assert!(
        wait_until(10, || std::net::UdpSocket::bind(("127.0.0.1", dns_port)).is_err()),
        "dnsmasq did not start: {}",
        std::fs::read_to_string(work.path().join("dnsmasq.log")).unwrap_or_default()
    );
    let tables = format!(
        "[delivery]\nscan_interval_ms = 100\nnameservers = [\"127.0.0.1:{dns_port}\"]\nmx_port = {}\n\n[[routes]]\ndomains = [\"example.org\"]\nkind = \"mx\"\n",
        sink.port
    );
    let server = TestServer::start_with_tables(Options::default(), &tables);
    server.open_contoso();
    let msg = message("mx", "someone@example.org");
    assert!(submit(&server, &["someone@example.org"], &msg).contains("DATA 250"));
    let got = sink.wait_for(1, 20);
    assert_eq!(got[0]["rcpt_tos"], serde_json::json!(["someone@example.org"]));
    assert!(bytes_of(&got[0]).ends_with(&msg));
    let logs = server.logs();
    assert!(logs.contains("mx0.example.org"), "the preferred MX was tried first: {logs}");
    assert!(wait_until(10, || queue_empty(&server)));
}

/// 451 at DATA, then 250 on the retry: delivered exactly once, after two attempts.
#[test]
fn temporary_failure_is_retried_and_delivered_once() {
    let work = tempfile::tempdir().unwrap();
    let sink = Sink::start(work.path(), "tempfail", &["--mode", "tempfail-once"]);
    let server = TestServer::start_with_tables(Options::default(), &smarthost_route(sink.port, "opportunistic", ""));
    server.open_contoso();
    assert!(submit(&server, &["x@far.example"], &message("retry", "x@far.example")).contains("DATA 250"));
    sink.wait_for(1, 20);
    assert_eq!(sink.data_attempts(), 2, "one refused attempt, one accepted");
    assert!(wait_until(10, || queue_empty(&server)));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(sink.messages().len(), 1, "delivered once");
    assert!(maildir(&server, USER).is_empty(), "no bounce for a delivered message");
}

/// 550 at RCPT: the sender gets an RFC 3464 report in its mailbox quoting the far side.
#[test]
fn permanent_failure_bounces_with_the_far_side_reply() {
    let work = tempfile::tempdir().unwrap();
    let sink = Sink::start(work.path(), "reject", &["--mode", "reject"]);
    let server = TestServer::start_with_tables(Options::default(), &smarthost_route(sink.port, "opportunistic", ""));
    server.open_contoso();
    assert!(submit(&server, &["ghost@far.example"], &message("bounce", "ghost@far.example")).contains("DATA 250"));
    assert!(wait_until(20, || maildir(&server, USER).len() == 1), "{}", server.logs());
    let dsn = String::from_utf8(maildir(&server, USER).remove(0)).unwrap();
    assert!(dsn.contains("Content-Type: multipart/report; report-type=delivery-status;"), "{dsn}");
    assert!(dsn.contains("Final-Recipient: rfc822; ghost@far.example\r\nAction: failed\r\nStatus: 5.1.1"), "{dsn}");
    assert!(dsn.contains("550 5.1.1 <ghost@far.example>: Recipient address rejected: sink-says-no-such-user"), "{dsn}");
    assert!(dsn.contains("Subject: bounce"), "the original's header is attached");
    assert!(sink.messages().is_empty());
    assert!(wait_until(10, || queue_empty(&server)));
}

/// Issue 19: the organisation's language (`org set --language ko`) writes the bounce's part for
/// people in Korean, English after it; the report for machines is unchanged.
#[test]
fn bounce_speaks_the_senders_organisation_language_with_english_alongside() {
    let work = tempfile::tempdir().unwrap();
    let sink = Sink::start(work.path(), "reject-ko", &["--mode", "reject"]);
    let server = TestServer::start_with_tables(Options::default(), &smarthost_route(sink.port, "opportunistic", ""));
    server.open_contoso();
    server.ok(&["org", "set", "Contoso", "--language", "ko"]);
    assert!(submit(&server, &["ghost@far.example"], &message("bounce-ko", "ghost@far.example")).contains("DATA 250"));
    assert!(wait_until(20, || maildir(&server, USER).len() == 1), "{}", server.logs());
    let dsn = String::from_utf8(maildir(&server, USER).remove(0)).unwrap();
    assert!(dsn.contains("Content-Language: ko, en\r\n"), "{dsn}");
    assert!(dsn.contains("Final-Recipient: rfc822; ghost@far.example\r\nAction: failed\r\nStatus: 5.1.1"), "{dsn}");
    // The part for people travels as base64 (no 8BITMIME needed): decode it.
    let part = dsn.split("Content-Transfer-Encoding: base64\r\n\r\n").nth(1).expect("a base64 part for people");
    let encoded: String = part.split("\r\n--").next().unwrap().split("\r\n").collect();
    use base64::Engine;
    let people = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()).unwrap();
    let korean = people.find("배달하지 못했습니다").expect(&people);
    let english = people.find("Your message could not be delivered").expect(&people);
    assert!(korean < english, "Korean first, English alongside:\n{people}");
    assert!(people.contains("sink-says-no-such-user"), "the far side's reply is quoted: {people}");
    assert!(people.contains("(UTC)"), "the last attempt's time is written the Korean way: {people}");
    assert!(wait_until(10, || queue_empty(&server)));
}

/// A far side that is down: retried on the schedule (1 s here), given up after the give-up
/// age, and bounced with the connection error. (The exact schedule is walked with a manual
/// clock in crates/delivery/tests/manager.rs.)
#[test]
fn far_side_down_is_retried_then_given_up_and_bounced() {
    let (_refusing, port) = refused_port();
    let tables = smarthost_route(port, "opportunistic", "").replace(
        "max_retry_interval_secs = 1\n",
        "max_retry_interval_secs = 1\ngive_up_after_secs = 3\nretry_growth = 1.0\n",
    );
    let server = TestServer::start_with_tables(Options::default(), &tables);
    server.open_contoso();
    assert!(submit(&server, &["x@down.example"], &message("down", "x@down.example")).contains("DATA 250"));
    assert!(wait_until(30, || maildir(&server, USER).len() == 1), "{}", server.logs());
    let dsn = String::from_utf8(maildir(&server, USER).remove(0)).unwrap();
    assert!(dsn.contains("Final-Recipient: rfc822; x@down.example"), "{dsn}");
    assert!(dsn.contains("Connection refused"), "{dsn}");
    let attempts: u32 = dsn
        .split("gave up after ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{dsn}"));
    assert!(attempts >= 3, "retried on the 1 s schedule before giving up: {attempts}");
    assert!(wait_until(10, || queue_empty(&server)));
}

/// SIGKILL while the far side holds DATA: after a restart every message is delivered (some
/// perhaps twice, never none) and the queue empties.
#[test]
fn sigkill_during_delivery_loses_nothing() {
    let work = tempfile::tempdir().unwrap();
    let sink = Sink::start(work.path(), "slow", &["--delay", "1.5"]);
    let mut server =
        TestServer::start_with_tables(Options::default(), &smarthost_route(sink.port, "opportunistic", ""));
    server.open_contoso();
    let subjects: Vec<String> = (0..6).map(|n| format!("crash-{n}")).collect();
    for s in &subjects {
        assert!(submit(&server, &["x@far.example"], &message(s, "x@far.example")).contains("DATA 250"));
    }
    assert!(wait_until(20, || sink.data_attempts() >= 1), "a delivery is in flight");
    server.kill9();
    let before = sink.messages().len();
    server.launch();
    assert!(wait_until(40, || queue_empty(&server)), "{}", server.logs());
    let delivered: std::collections::BTreeSet<String> = sink
        .messages()
        .iter()
        .map(|m| {
            let text = String::from_utf8(bytes_of(m)).unwrap();
            text.lines().find_map(|l| l.strip_prefix("Subject: ")).unwrap().to_string()
        })
        .collect();
    eprintln!(
        "sigkill: {} DATA seen, {before} accepted before the kill, {} accepted in all, {} distinct",
        sink.data_attempts(),
        sink.messages().len(),
        delivered.len()
    );
    let expected: std::collections::BTreeSet<String> = subjects.into_iter().collect();
    assert_eq!(delivered, expected, "every message arrived (before the kill: {before})");
}

/// Delivery state written by an earlier version inside the spool's directory (`spool/state`,
/// `spool/hold`) moves to `delivery/` on start: attempts, the next try and the hold mark
/// survive the move and a restart after it.
#[test]
fn old_layout_delivery_state_survives_the_move_and_a_restart() {
    let (_refusing, port) = refused_port();
    let tables = smarthost_route(port, "opportunistic", "")
        .replace("first_retry_secs = 1\nmax_retry_interval_secs = 1\n", "first_retry_secs = 3600\n");
    let mut server = TestServer::start_with_tables(Options::default(), &tables);
    server.open_contoso();
    submit(&server, &["a@down.example"], &message("one", "a@down.example"));
    submit(&server, &["b@down.example"], &message("two", "b@down.example"));
    let list = |server: &TestServer| {
        serde_json::from_str::<serde_json::Value>(&server.ok(&["queue", "list", "--json"])).unwrap()
    };
    assert!(wait_until(15, || list(&server)[0]["state"] == "deferred"), "{}", server.logs());
    let ids: Vec<String> = server.queued().into_iter().map(|(id, _)| id).collect();
    server.ok(&["queue", "hold", &ids[1]]);
    let before = list(&server);
    let first = &before[0]["recipients"][0];
    assert_eq!(first["attempts"], 1, "{before}");
    assert!(first["next_attempt"].as_i64().unwrap() > first["last_attempt"].as_i64().unwrap() + 3_000_000);
    assert!(server.terminate());

    // Put the layout back the way an earlier version kept it.
    let data = server.data_dir();
    for sub in ["state", "hold", "retry"] {
        let old = data.join("spool").join(sub);
        std::fs::create_dir_all(&old).unwrap();
        for entry in std::fs::read_dir(data.join("delivery").join(sub)).unwrap() {
            let entry = entry.unwrap();
            std::fs::rename(entry.path(), old.join(entry.file_name())).unwrap();
        }
    }
    std::fs::remove_dir_all(data.join("delivery")).unwrap();
    assert!(data.join("spool/state").join(&ids[0]).exists());

    server.launch();
    assert!(
        wait_until(15, || server.logs().contains("delivery state moved to its own directory")),
        "{}",
        server.logs()
    );
    assert!(data.join("delivery/state").join(&ids[0]).exists());
    assert!(data.join("delivery/hold").join(&ids[1]).exists());
    for sub in ["state", "hold", "retry"] {
        assert!(!data.join("spool").join(sub).exists(), "spool/{sub} left behind");
    }
    // A restart after the move: the same state again (a lost state would have been tried anew:
    // a later next try, and the hold gone).
    assert!(server.terminate());
    server.launch();
    let after = list(&server);
    assert_eq!(after[0]["recipients"], before[0]["recipients"], "{after}");
    assert_eq!(after[0]["state"], "deferred");
    assert_eq!(after[1]["state"], "held", "{after}");
}

/// `queue list|show|hold|release|retry|delete` against messages waiting for a far side that
/// is down.
#[test]
fn queue_commands_hold_release_retry_delete() {
    let (_refusing, port) = refused_port();
    let tables = smarthost_route(port, "opportunistic", "")
        .replace("first_retry_secs = 1\nmax_retry_interval_secs = 1\n", "first_retry_secs = 3600\n");
    let server = TestServer::start_with_tables(Options::default(), &tables);
    server.open_contoso();
    submit(&server, &["a@down.example"], &message("one", "a@down.example"));
    assert!(
        wait_until(15, || server.ok(&["queue", "list"]).contains("deferred 1")),
        "{}",
        server.ok(&["queue", "list"])
    );
    // The destination is now known to be down: the next message waits without being tried
    // (no connection, no attempt counted, nothing written for it).
    submit(&server, &["b@down.example"], &message("two", "b@down.example"));
    assert!(wait_until(15, || server.logs().contains("deliveries to it suspended")), "{}", server.logs());
    std::thread::sleep(std::time::Duration::from_millis(500));
    let list = server.ok(&["queue", "list"]);
    assert!(list.contains("deferred 1") && list.contains("new 1"), "{list}");
    let ids: Vec<String> = server.queued().into_iter().map(|(id, _)| id).collect();
    let json: serde_json::Value = serde_json::from_str(&server.ok(&["queue", "list", "--json"])).unwrap();
    assert_eq!(json[0]["state"], "deferred");
    assert_eq!(json[0]["recipients"][0]["attempts"], 1);
    assert!(json[0]["recipients"][0]["last_reply"].as_str().unwrap().contains("refused"));
    assert_eq!(json[1]["state"], "new");

    let out = server.ok(&["queue", "hold", &ids[0]]);
    assert!(out.contains("is held"), "{out}");
    assert!(server.ok(&["queue", "list"]).contains("held 1"));
    // Retry: the waiting one is tried at once despite the suspension (attempts 1); the held
    // one is not.
    server.ok(&["queue", "retry", "--all"]);
    assert!(
        wait_until(10, || server.ok(&["queue", "show", &ids[1]]).contains("b@down.example  Pending  attempts=1")),
        "{}",
        server.ok(&["queue", "show", &ids[1]])
    );
    assert!(server.ok(&["queue", "show", &ids[0]]).contains("attempts=1"));

    let out = server.ok(&["queue", "delete", &ids[1]]);
    assert!(out.contains("removed from the queue"), "{out}");
    assert_eq!(server.queued().len(), 1);
    server.ok(&["queue", "release", &ids[0]]);
    assert!(server.ok(&["queue", "list"]).contains("deferred 1"));
    let bad = server.cli(&["queue", "hold", "00000000000000000000"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(maildir(&server, USER).is_empty(), "deleting never bounces");
}

/// Connection reuse: 20 messages to a smarthost that requires STARTTLS and AUTH arrive exactly
/// once each, over fewer connections than messages (the sink counts them), every one still
/// encrypted and signed in.
#[test]
fn many_messages_to_one_smarthost_share_connections() {
    let work = tempfile::tempdir().unwrap();
    let (sink, cert) = tls_auth_sink(work.path(), "reuse");
    let extra = format!("user = \"relay@contoso.com\"\npassword = \"Relay-Pass-1\"\nca_file = \"{}\"", cert.display());
    // Defaults for connection reuse (5 s idle, 100 messages per connection).
    let server = TestServer::start_with_tables(Options::default(), &smarthost_route(sink.port, "starttls", &extra));
    server.open_contoso();
    let subjects: Vec<String> = (0..20).map(|n| format!("reuse-{n}")).collect();
    for s in &subjects {
        assert!(submit(&server, &["partner@fabrikam.example"], &message(s, "partner@fabrikam.example"))
            .contains("DATA 250"));
    }
    let got = sink.wait_for(20, 60);
    assert!(wait_until(10, || queue_empty(&server)), "{}", server.logs());
    std::thread::sleep(Duration::from_millis(500));
    let mut delivered = sink.subjects();
    delivered.sort();
    let mut expected = subjects.clone();
    expected.sort();
    assert_eq!(delivered, expected, "each message exactly once");
    assert!(got.iter().all(|m| m["tls"] == true && m["authenticated"] == true), "{got:?}");
    let connections = sink.connections();
    eprintln!("connection reuse: 20 messages over {connections} connections");
    assert!((1..20).contains(&connections), "fewer connections than messages: {connections}");
    assert!(maildir(&server, USER).is_empty(), "no bounce");
}

/// A smarthost route whose connections stay pooled for 30 s and whose first retry is an hour
/// away, so a message that arrives within seconds was not counted as a failed attempt.
fn reuse_route(port: u16) -> String {
    smarthost_route(port, "opportunistic", "").replace(
        "first_retry_secs = 1\nmax_retry_interval_secs = 1\n",
        "first_retry_secs = 3600\nconnection_idle_secs = 30\n",
    )
}

/// The far side closes our idle connection (its idle timeout), and later restarts: each next
/// message still goes out at once over a fresh connection. A counted failure would wait for
/// the first retry (an hour here), so arriving within seconds proves there was none.
#[test]
fn idle_connection_closed_by_the_far_side_is_replaced_at_once() {
    let work = tempfile::tempdir().unwrap();
    let sink = Sink::start(work.path(), "idle", &["--idle-timeout", "1"]);
    let tables = reuse_route(sink.port);
    let server = TestServer::start_with_tables(Options::default(), &tables);
    server.open_contoso();
    assert!(submit(&server, &["x@far.example"], &message("idle-1", "x@far.example")).contains("DATA 250"));
    sink.wait_for(1, 20);
    // The sink drops the connection after 1 s idle; ours would have kept it for 30 s.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(submit(&server, &["x@far.example"], &message("idle-2", "x@far.example")).contains("DATA 250"));
    sink.wait_for(2, 15);
    assert_eq!(sink.connections(), 2);

    // A restarted far side on the same port: the pooled connection died with the old process.
    let port = sink.port.to_string();
    drop(sink);
    let sink = Sink::start(work.path(), "idle-restarted", &["--port", &port]);
    assert!(submit(&server, &["x@far.example"], &message("idle-3", "x@far.example")).contains("DATA 250"));
    sink.wait_for(1, 15);
    assert_eq!(sink.subjects(), ["idle-3"]);
    assert!(wait_until(10, || queue_empty(&server)), "{}", server.logs());
    assert!(maildir(&server, USER).is_empty(), "no bounce");
}

/// A reused connection whose MAIL is answered with 421 (the far side ending the session) is
/// dropped and the message goes out at once over a fresh connection: no retry, no bounce.
#[test]
fn reused_connection_refused_with_421_is_replaced_at_once() {
    let work = tempfile::tempdir().unwrap();
    let sink = Sink::start(work.path(), "421", &["--mode", "421-reused"]);
    let tables = reuse_route(sink.port);
    let server = TestServer::start_with_tables(Options::default(), &tables);
    server.open_contoso();
    for n in 1..=3 {
        let subject = format!("refused-{n}");
        assert!(submit(&server, &["x@far.example"], &message(&subject, "x@far.example")).contains("DATA 250"));
        sink.wait_for(n, 15);
    }
    assert_eq!(sink.subjects(), ["refused-1", "refused-2", "refused-3"]);
    assert_eq!(sink.refused(), 2, "the second and third messages first met the 421 on a reused connection");
    assert_eq!(sink.connections(), 3);
    assert!(wait_until(10, || queue_empty(&server)), "{}", server.logs());
    assert!(maildir(&server, USER).is_empty(), "no bounce");
}

/// The reuse settings are checked like every other key.
#[test]
fn connection_reuse_settings_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let check = |delivery: &str| {
        let path = dir.path().join("authrelay.toml");
        std::fs::write(&path, format!("[listen]\nsubmission = \"127.0.0.1:2525\"\n[delivery]\n{delivery}\n")).unwrap();
        Command::new(BIN).arg("--config").arg(&path).args(["config", "check"]).env("LANG", "C").output().unwrap()
    };
    let out = check("connection_idle_secs = 0\nmessages_per_connection = 50");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = check("messages_per_connection = 0");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("delivery.messages_per_connection"));
    let out = check("connection_idle_sec = 5");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("connection_idle_sec"));
}
