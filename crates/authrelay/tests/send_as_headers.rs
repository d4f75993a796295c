//! Send-as in the header section, judged by an independent reader (issue 12): hundreds of
//! generated hostile header sections go through the real server with Python's smtplib, and
//! whatever Python's `email` package then shows as From, Sender, Resent-From or Resent-Sender of
//! an accepted message must be an address the mailbox may send as
//! (tests/support/header_oracle.py). The exact cases of the issue are golden dialogs
//! (tests/dialogs/31-send-as-header-section.dialog).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{TestServer, PASSWORD};

#[test]
fn python_email_never_sees_a_sender_the_mailbox_may_not_use() {
    // Each refused message counts toward max_errors (10 by default); the oracle sends hundreds
    // of refused messages over each connection.
    let server = TestServer::start_with(common::Options {
        limits: vec!["max_errors = 100000".to_string()],
        ..Default::default()
    });
    server.open_contoso();
    server.ok(&["user", "set", "scanner@contoso.com", "--send-as", "alerts@contoso.com"]);
    let child = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/header_oracle.py"))
        .arg(server.submission.port().to_string())
        .arg(server.data_dir().join("tls/cert.pem"))
        .arg("scanner@contoso.com")
        .arg(PASSWORD)
        .arg("scanner@contoso.com,alerts@contoso.com")
        .arg("12")
        .arg("400")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 must be installed to run this test");
    let (status, out, err) = common::wait_bounded(child, Duration::from_secs(300), "header_oracle.py");
    assert!(status.success(), "violations:\n{err}\n{out}");
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    eprintln!("header oracle: {summary}");
    // Both outcomes occur in numbers: the run is neither refuse-all nor accept-all.
    assert!(summary["accepted"].as_u64().unwrap() >= 30, "{summary}");
    assert!(summary["refused"].as_u64().unwrap() >= 300, "{summary}");
}
