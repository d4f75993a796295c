//! Prometheus metrics (issue 17, item 6): the seed's story — a device refused under security
//! defaults, then accepted after the fix — moves the counters it should, and the scrape passes
//! `promtool check metrics` (Debian's `prometheus`, installed by scripts/test).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::TestServer;

const USER: &str = "scanner@contoso.com";

fn scrape(server: &TestServer) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", &format!("http://{}/metrics", server.admin())])
        .output()
        .expect("curl must be installed to run this test");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value of one sample line (`name{labels} value`), 0 when absent.
fn value(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0.0)
}

fn device(server: &TestServer, secret: &str) -> (i32, String) {
    server.device_client(server.submission.port(), USER, secret, "127.0.0.1", "LOGIN")
}

fn promtool(scrape: &str) -> (bool, String) {
    let bin = ["/usr/bin/promtool", "/usr/sbin/promtool"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("promtool is not installed: apt-get install prometheus (scripts/test does)");
    let mut child = Command::new(bin)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(scrape.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_seed_story_moves_the_counters_and_promtool_accepts_the_scrape() {
    let server = TestServer::start();
    server.seed_contoso();
    server.ok(&["user", "set", USER, "--smtp-auth", "enabled"]);
    let before = scrape(&server);
    assert!(before.contains("# TYPE authrelay_queue_messages gauge"), "{before}");
    let expiry = value(&before, "authrelay_tls_certificate_expiry_timestamp_seconds");
    assert!(expiry > common::now_millis() as f64 / 1000.0 + 300.0 * 86_400.0, "{expiry}");

    // Refused: security defaults are on.
    let (code, text) = device(&server, common::PASSWORD);
    assert_eq!(code, 3, "{text}");
    // The fix, then accepted and queued.
    server.ok(&["org", "set", "Contoso", "--security-defaults", "off"]);
    let (code, text) = device(&server, common::PASSWORD);
    assert_eq!(code, 0, "{text}");

    let after = scrape(&server);
    let refused = r#"authrelay_auth_attempts_total{check="security-defaults",credential="password",result="refused"}"#;
    let accepted = r#"authrelay_auth_attempts_total{check="accepted",credential="password",result="accepted"}"#;
    // smtplib's login() tries PLAIN, then LOGIN after the 535: two refused attempts.
    assert_eq!(value(&after, refused), 2.0, "{after}");
    assert_eq!(value(&after, accepted), 1.0, "{after}");
    assert_eq!(value(&after, r#"authrelay_smtp_replies_total{code="535",reply="SecurityDefaults"}"#), 2.0, "{after}");
    assert_eq!(value(&after, r#"authrelay_messages_total{outcome="accepted"}"#), 1.0, "{after}");
    assert!(value(&after, r#"authrelay_smtp_connections_total{listener="submission"}"#) >= 2.0, "{after}");
    assert!(value(&after, "authrelay_journal_sync_seconds_count") >= 1.0, "{after}");
    // One argon2id run: the repeats hit the one-minute credential cache.
    assert!(value(&after, "authrelay_auth_verification_wait_seconds_count") >= 1.0, "{after}");
    assert!(after.contains("# HELP authrelay_auth_attempts_total"), "{after}");

    let (ok, text) = promtool(&after);
    assert!(ok, "promtool check metrics: {text}\n{after}");
}

/// The Grafana dashboard shipped in etc/grafana/authrelay.json: every metric its PromQL names
/// (and the variable query) is in a real scrape, so renaming a metric fails here.
#[test]
fn every_metric_the_grafana_dashboard_queries_is_in_a_real_scrape() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/grafana/authrelay.json");
    let dashboard: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let mut queries: Vec<String> = vec![];
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            queries.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if variable["type"] == "query" {
            queries.push(variable["query"].as_str().unwrap().to_string());
        }
    }
    let mut names: Vec<String> = vec![];
    for q in &queries {
        let mut rest = q.as_str();
        while let Some(at) = rest.find("authrelay_") {
            let tail = &rest[at..];
            let end = tail.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(tail.len());
            names.push(tail[..end].to_string());
            rest = &tail[end..];
        }
    }
    names.sort();
    names.dedup();
    assert!(names.len() >= 12, "{names:?}");

    // A server after the seed's story (refused, fixed, one message queued and tried).
    let server = TestServer::start_with_tables(
        common::Options { limits: vec!["max_connections_per_address = 3".into()], ..Default::default() },
        "[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\nhost = \"127.0.0.1\"\nport = 1\n",
    );
    server.open_contoso();
    let (code, text) = device(&server, common::PASSWORD);
    assert_eq!(code, 0, "{text}");
    // One connection over the per-address cap of 3 is refused before a session.
    // Each held connection has its greeting, so the server has counted it (a fixed sleep was too
    // short for a busy CI machine to accept all three). The device's session may still be
    // counted for a moment after it ended: then one of the three gets 421 and they are opened
    // again (bounded).
    let greeting = |tcp: &std::net::TcpStream| {
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
        let mut line = String::new();
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(tcp), &mut line);
        line
    };
    let mut held = vec![];
    for _ in 0..50 {
        held = (0..3).map(|_| std::net::TcpStream::connect(server.submission).unwrap()).collect();
        if held.iter().all(|tcp| greeting(tcp).starts_with("220")) {
            break;
        }
        drop(std::mem::take(&mut held));
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(held.len(), 3, "three connections were never admitted at once");
    let mut over = std::net::TcpStream::connect(server.submission).unwrap();
    over.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    let mut reply = String::new();
    let _ = std::io::Read::read_to_string(&mut over, &mut reply);
    assert!(reply.starts_with("421"), "{reply}");
    drop(held);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let scraped = loop {
        let s = scrape(&server);
        if s.contains("authrelay_deliveries_total{") || std::time::Instant::now() > deadline {
            break s;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let present = |name: &str| {
        scraped
            .lines()
            .any(|l| !l.starts_with('#') && (l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))))
    };
    let missing: Vec<_> = names.iter().filter(|n| !present(n)).collect();
    assert!(missing.is_empty(), "the dashboard queries metrics the server does not export: {missing:?}\n{scraped}");
}
