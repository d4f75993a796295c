//! `authrelay bench` against a real `authrelay serve`: it counts a message only on a 2xx after
//! the final dot, puts every other reply in its histogram, and refuses servers off loopback.
//! Small counts only: the benchmark itself is a command, not a timed test.

mod common;

use std::time::{Duration, Instant};

use common::{TestServer, PASSWORD};

fn bench(server: &TestServer, args: &[&str]) -> (bool, i32, String, String) {
    let mut full = vec!["bench"];
    full.extend_from_slice(args);
    let out = server.cli(&full);
    (
        out.status.success(),
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn counts_accepted_messages_and_they_are_really_queued() {
    let server = TestServer::start();
    server.open_contoso();
    let addr = server.submission.to_string();
    let (ok, _, stdout, stderr) = bench(
        &server,
        &[
            "--server",
            &addr,
            "--tls",
            "starttls",
            "--user",
            "scanner@contoso.com",
            "--password",
            PASSWORD,
            "--from",
            "scanner@contoso.com",
            "--connections",
            "2",
            "--messages",
            "7",
            "--per-session",
            "2",
            "--size",
            "3000",
            "--pipelining",
        ],
    );
    assert!(ok, "{stdout}\n{stderr}");
    let last = stdout.lines().last().unwrap();
    assert!(last.starts_with("7 accepted, 0 failed, "), "{last}");
    assert!(last.ends_with(" msg/s"), "{last}");
    // 7 messages, at most 2 per session, over 2 connections: at least 4 sessions.
    let sessions: u64 = field(&stdout, "Sessions opened").parse().unwrap();
    assert!((4..=5).contains(&sessions), "{stdout}");
    assert!(stdout.contains("Latency p50 / p90 / p99 / max"), "{stdout}");

    let queued = server.queued();
    assert_eq!(queued.len(), 7);
    for (_, raw) in &queued {
        assert!(raw.len() >= 3000, "message of {} bytes", raw.len());
    }
}

#[test]
fn implicit_tls_without_pipelining() {
    let server = TestServer::start();
    server.open_contoso();
    let addr = server.submissions.to_string();
    let (ok, _, stdout, stderr) = bench(
        &server,
        &[
            "--server",
            &addr,
            "--tls",
            "implicit",
            "--user",
            "scanner@contoso.com",
            "--password",
            PASSWORD,
            "--from",
            "scanner@contoso.com",
            "--messages",
            "3",
            "--per-session",
            "1",
        ],
    );
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.lines().last().unwrap().starts_with("3 accepted, 0 failed, "), "{stdout}");
    assert_eq!(field(&stdout, "Sessions opened"), "3");
    assert_eq!(server.queued().len(), 3);
}

#[test]
fn refused_messages_are_failures_with_their_replies() {
    let server = TestServer::start();
    server.open_contoso();
    let addr = server.submission.to_string();

    // Wrong password: every session stops at AUTH.
    let (ok, code, stdout, stderr) = bench(
        &server,
        &[
            "--server",
            &addr,
            "--user",
            "scanner@contoso.com",
            "--password",
            "not-the-password",
            "--from",
            "scanner@contoso.com",
            "--messages",
            "2",
        ],
    );
    assert!(!ok && code == 1, "{stdout}\n{stderr}");
    assert!(stdout.lines().last().unwrap().starts_with("0 accepted, 2 failed, "), "{stdout}");
    assert!(stdout.contains("auth: 535 5.7.139"), "{stdout}");
    assert!(stderr.contains("2 of 2 messages were not accepted"), "{stderr}");

    // Right password, but a sender the mailbox may not send as: refused at MAIL FROM, and the
    // session goes on to the next message.
    let (ok, _, stdout, _) = bench(
        &server,
        &[
            "--server",
            &addr,
            "--user",
            "scanner@contoso.com",
            "--password",
            PASSWORD,
            "--from",
            "ceo@fabrikam.com",
            "--messages",
            "3",
        ],
    );
    assert!(!ok);
    assert!(stdout.lines().last().unwrap().starts_with("0 accepted, 3 failed, "), "{stdout}");
    assert_eq!(field(&stdout, "Sessions opened"), "1", "{stdout}");
    assert!(stdout.lines().any(|l| l.trim_start().starts_with("3  mail: 5")), "{stdout}");

    // No AUTH at all: the server refuses MAIL, the message is not counted.
    let (ok, _, stdout, _) = bench(&server, &["--server", &addr, "--messages", "1"]);
    assert!(!ok);
    assert!(stdout.lines().last().unwrap().starts_with("0 accepted, 1 failed, "), "{stdout}");
    assert!(server.queued().is_empty());
}

#[test]
fn refuses_servers_off_loopback_without_connecting() {
    let server = TestServer::start();
    for target in ["192.0.2.1:587", "[2001:db8::25]:587", "0.0.0.0:587"] {
        let started = Instant::now();
        let (ok, code, _, stderr) = bench(&server, &["--server", target, "--messages", "1"]);
        assert!(!ok && code == 2, "{target}: {stderr}");
        assert!(stderr.contains("is not on this machine") && stderr.contains("127.0.0.1:PORT"), "{stderr}");
        // 192.0.2.1 (TEST-NET-1) would hang in connect; an instant answer means no attempt.
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    let (ok, code, _, stderr) = bench(&server, &[]);
    assert!(!ok && code == 2 && stderr.contains("--server"), "{stderr}");
}

/// The value of a `  Label   value` line of the report.
fn field(stdout: &str, label: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no {label} in {stdout}"))
}
