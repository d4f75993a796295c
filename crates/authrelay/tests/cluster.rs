//! Several nodes on one PostgreSQL directory (issue 15): two real `authrelay serve` processes
//! with `[store] url` naming the same database (a real PostgreSQL from crates/pgtest), behind a
//! real HAProxy that spreads connections round-robin with PROXY v2 headers. What one node's
//! admin changes, the other node decides on at once; failures spread over both nodes lock the
//! name on both.

mod common;

use std::time::{Duration, Instant};

use authrelay_pgtest::TestPostgres;
use common::{Options, TestServer, PASSWORD};

const USER: &str = "scanner@contoso.com";

/// Node A with a fresh certificate, node B serving A's certificate (so a device trusting one
/// file reaches either node through the balancer), both on `url`.
fn two_nodes(url: &str, extra: &str) -> (TestServer, TestServer) {
    two_nodes_with(url, extra, &[])
}

/// [`two_nodes`] with more `[limits]` lines.
fn two_nodes_with(url: &str, extra: &str, limits: &[&str]) -> (TestServer, TestServer) {
    let options = Options {
        listen: vec!["trusted_proxies = [\"127.0.0.1/32\"]".into()],
        limits: limits.iter().map(|l| l.to_string()).collect(),
    };
    let store = format!("[store]\nurl = \"{url}\"\n{extra}");
    let a = TestServer::start_with_tables(options.clone(), &store);
    let tls = a.data_dir().join("tls");
    let b = TestServer::start_with_tables(
        options,
        &format!(
            "{store}\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
            tls.join("cert.pem").display(),
            tls.join("key.pem").display()
        ),
    );
    // Every node seals admins' TOTP secrets with the same key (README "Running more than one node").
    std::fs::copy(a.data_dir().join("admin-totp.key"), b.data_dir().join("admin-totp.key")).unwrap();
    (a, b)
}

/// The device (Python's smtplib) from 127.0.0.2 through `port`, trusting node A's certificate.
fn device(a: &TestServer, port: u16, secret: &str) -> (i32, String) {
    a.device_client(port, USER, secret, "127.0.0.2", "LOGIN")
}

/// Retries `attempt` until it returns `want` or `limit` passes; returns how long it took.
fn within(limit: Duration, want: i32, mut attempt: impl FnMut() -> (i32, String)) -> Duration {
    let started = Instant::now();
    loop {
        let (code, text) = attempt();
        if code == want {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "still {code} after {:?}: {text}", started.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_seed_story_on_two_nodes_behind_haproxy() {
    let pg = TestPostgres::start();
    let url = pg.new_database();
    let (a, b) = two_nodes(&url, "");
    let balancer = common::haproxy::start(a.dir.path(), &[a.submission, b.submission]);

    // The story's starting point, made on node A: security defaults on, SMTP AUTH off.
    a.seed_contoso();
    let (code, text) = device(&a, b.submission.port(), PASSWORD);
    assert_eq!(code, 3, "node B refuses what node A's directory says: {text}");
    assert!(text.contains("5.7.139"), "{text}");

    // The fixes, made on node A's CLI; node B admits the device at once.
    a.ok(&["org", "set", "Contoso", "--security-defaults", "off"]);
    a.ok(&["user", "set", USER, "--smtp-auth", "enabled"]);
    let took = within(Duration::from_secs(1), 0, || device(&a, b.submission.port(), PASSWORD));
    println!("node B admitted the device {took:?} after node A's change");

    // Through the balancer: every connection is admitted, whichever node takes it.
    for _ in 0..4 {
        let (code, text) = device(&a, balancer.address.port(), PASSWORD);
        assert_eq!(code, 0, "{text}");
    }
    let signins: serde_json::Value = serde_json::from_str(&b.ok(&["signins", "--json", "--last", "20"])).unwrap();
    let through: Vec<_> = signins.as_array().unwrap().iter().filter(|e| e["client_ip"] == "127.0.0.2").collect();
    assert!(through.len() >= 5, "one shared sign-in log, real client address: {signins}");

    // Blocking sign-in on node B refuses the device on node A within a second.
    b.ok(&["user", "set", USER, "--sign-in", "blocked"]);
    let took = within(Duration::from_secs(1), 3, || device(&a, a.submission.port(), PASSWORD));
    println!("node A refused the device {took:?} after node B's change");
    drop(balancer);
}

#[test]
fn brute_force_spread_over_both_nodes_locks_the_name_on_both() {
    let pg = TestPostgres::start();
    let url = pg.new_database();
    let (a, b) = two_nodes(&url, "[lockout]\nthreshold = 6\n");
    let balancer = common::haproxy::start(a.dir.path(), &[a.submission, b.submission]);
    a.open_contoso();
    // Six different wrong passwords, round-robin over the two nodes.
    for i in 0..6 {
        let (code, text) = device(&a, balancer.address.port(), &format!("wrong-{i}-password"));
        assert_eq!(code, 3, "{text}");
    }
    // Now even the right password is refused on each node: the name is locked everywhere.
    for node in [&a, &b] {
        let (code, text) = device(&a, node.submission.port(), PASSWORD);
        assert_eq!(code, 3, "{text}");
        assert!(text.contains("account locked"), "{text}");
    }
    let status = b.ok(&["user", "show", USER]);
    assert!(status.to_lowercase().contains("lock"), "{status}");
    // Unlocking on one node frees the name on the other.
    a.ok(&["user", "unlock", USER]);
    let (code, text) = device(&a, b.submission.port(), PASSWORD);
    assert_eq!(code, 0, "{text}");
    drop(balancer);
}

#[test]
fn store_copy_moves_a_single_node_into_postgres_verified() {
    let pg = TestPostgres::start();
    let url = pg.new_database();
    // A single node on SQLite with the story done and a device credential issued.
    let single = TestServer::start();
    single.open_contoso();
    let added: serde_json::Value =
        serde_json::from_str(&single.ok(&["device-credential", "add", USER, "--name", "front-desk printer", "--json"]))
            .unwrap();
    let secret = added["secret"].as_str().unwrap().to_string();
    let (code, text) = single.device_client(single.submission.port(), USER, &secret, "127.0.0.2", "LOGIN");
    assert_eq!(code, 0, "{text}");

    let out = single.ok(&["store", "copy", "--from", "sqlite", "--to", &url]);
    assert!(out.contains("users: 1 rows"), "{out}");
    assert!(out.contains("device_credentials: 1 rows"), "{out}");
    assert!(out.contains("every table read back"), "{out}");
    // A second copy into the same (no longer empty) database is refused, nothing doubled.
    let again = single.cli(&["store", "copy", "--to", &url]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("copy into an empty database"));
    assert_eq!(pg.psql(&url, "SELECT COUNT(*) FROM users"), "1");

    // A node on PostgreSQL (same data directory keys) admits the same device credential.
    let node = TestServer::start_with_tables(Options::default(), &format!("[store]\nurl = \"{url}\"\n"));
    std::fs::copy(single.data_dir().join("admin-totp.key"), node.data_dir().join("admin-totp.key")).unwrap();
    let (code, text) = node.device_client(node.submission.port(), USER, &secret, "127.0.0.2", "LOGIN");
    assert_eq!(code, 0, "{text}");
    let shown = node.ok(&["signins", "--json", "--last", "5"]);
    assert!(shown.matches("127.0.0.2").count() >= 2, "the copied log and the new sign-in: {shown}");
}

#[test]
fn store_migrate_and_the_url_flag() {
    let pg = TestPostgres::start();
    let url = pg.new_database();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(common::BIN)
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .env("LANG", "en_US.UTF-8")
            .output()
            .unwrap()
    };
    let out = run(&["--database-url", &url, "store", "migrate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let migrations = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../directory/migrations-postgres"))
        .unwrap()
        .filter(|e| e.as_ref().is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sql")))
        .count();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains(&format!("{migrations} schema migrations applied")), "{said}");
    let out = run(&["--database-url", &url, "store", "migrate"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 schema migrations applied"));
    // The environment variable works as the flag does, and the CLI writes to PostgreSQL.
    let out = std::process::Command::new(common::BIN)
        .arg("--data-dir")
        .arg(dir.path())
        .args(["org", "add", "Contoso", "--domain", "contoso.com"])
        .env("AUTHRELAY_DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(pg.psql(&url, "SELECT name FROM orgs"), "Contoso");
    assert!(!dir.path().join("authrelay.db").exists(), "nothing written to SQLite");
    // A password in the URL never appears in `config show`.
    let secret_url = url.replace("authrelay@", "authrelay:Hunter2-secret@");
    let out = run(&["--database-url", &secret_url, "config", "check"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(!shown.contains("Hunter2-secret") && shown.contains("****"), "{shown}");
    // A URL that is not PostgreSQL's is a config problem naming the fix.
    let out = run(&["--database-url", "mysql://x@y/z", "config", "check"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a PostgreSQL URL"));
    // An unreachable database is a clear error, quickly.
    let started = Instant::now();
    let out = run(&["--database-url", "postgres://authrelay@127.0.0.1:9/x", "org", "list"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect to postgres://authrelay@127.0.0.1:9/x"));
    assert!(started.elapsed() < Duration::from_secs(15));
}

/// An authenticated session held open on `port` (tests/support/hold_session.py); its first
/// line is "AUTH <code> <text>". Dropping the child's stdin ends the session.
fn hold_session(cert_of: &TestServer, port: u16) -> (std::process::Child, String) {
    hold_session_from(cert_of, port, "127.0.0.2")
}

/// [`hold_session`] from the loopback address `source`.
fn hold_session_from(cert_of: &TestServer, port: u16, source: &str) -> (std::process::Child, String) {
    use std::io::BufRead;
    let script = cert_of.dir.path().join("hold_session.py");
    std::fs::write(&script, include_str!("support/hold_session.py")).unwrap();
    let mut child = std::process::Command::new("python3")
        .arg(&script)
        .arg(port.to_string())
        .arg(cert_of.data_dir().join("tls/cert.pem"))
        .arg(USER)
        .arg(PASSWORD)
        .arg(source)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    (child, line.trim().to_string())
}

#[test]
fn a_mailbox_has_three_sessions_across_the_nodes_and_a_killed_nodes_places_lapse() {
    let pg = TestPostgres::start();
    let url = pg.new_database();
    let (a, mut b) = two_nodes(&url, "session_lease_secs = 3\n");
    a.open_contoso();
    // Three sessions: one on A, two on B.
    let mut held = vec![];
    for port in [a.submission.port(), b.submission.port(), b.submission.port()] {
        let (child, said) = hold_session(&a, port);
        assert!(said.starts_with("AUTH 235"), "{said}");
        held.push(child);
    }
    // A fourth, on either node, is over the mailbox's limit of 3.
    for port in [a.submission.port(), b.submission.port()] {
        let (mut child, said) = hold_session(&a, port);
        assert_eq!(said, "AUTH 432 4.3.2 Concurrent connections limit exceeded.");
        drop(child.stdin.take());
        child.wait().unwrap();
    }
    // Held sessions outlive the lease time: the node renews them.
    std::thread::sleep(Duration::from_secs(4));
    let (mut child, said) = hold_session(&a, a.submission.port());
    assert!(said.starts_with("AUTH 432"), "renewed leases still count: {said}");
    drop(child.stdin.take());
    child.wait().unwrap();

    // Node B dies with two of the places: they lapse within the lease time, no restart needed.
    b.kill9();
    let started = Instant::now();
    let took = within(Duration::from_secs(8), 0, || {
        let (mut child, said) = hold_session(&a, a.submission.port());
        drop(child.stdin.take());
        child.wait().unwrap();
        (if said.starts_with("AUTH 235") { 0 } else { 1 }, said)
    });
    println!("a killed node's places were free again {took:?} after SIGKILL ({:?})", started.elapsed());
    // A session that ends gives its place back at once.
    let first = held.remove(0);
    let mut first = first;
    drop(first.stdin.take());
    first.wait().unwrap();
    for mut c in held {
        drop(c.stdin.take());
        let _ = c.wait();
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let live = pg.psql(&url, "SELECT COUNT(*) FROM mailbox_sessions WHERE expires_at > extract(epoch from now())");
        if live == "0" {
            break;
        }
        assert!(Instant::now() < deadline, "{live} places still held after every session ended");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn readyz(node: &TestServer) -> serde_json::Value {
    let out = std::process::Command::new("curl")
        .args(["-s", "--max-time", "10", &format!("http://{}/readyz", node.admin())])
        .output()
        .expect("curl");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn postgres_stopped_gives_454_and_not_ready_then_service_resumes_without_restart() {
    let mut pg = TestPostgres::start();
    let url = pg.new_database();
    let node = TestServer::start_with_tables(Options::default(), &format!("[store]\nurl = \"{url}\"\n"));
    node.open_contoso();
    let auth = || {
        let (mut child, said) = hold_session_from(&node, node.submission.port(), "127.0.0.1");
        drop(child.stdin.take());
        child.wait().unwrap();
        said
    };
    assert!(auth().starts_with("AUTH 235"));
    assert_eq!(readyz(&node)["status"], "ready");

    pg.stop();
    let started = Instant::now();
    let said = auth();
    assert_eq!(said, "AUTH 454 4.7.0 Temporary authentication failure", "nothing is admitted unchecked");
    assert!(started.elapsed() < Duration::from_secs(15), "the refusal took {:?}", started.elapsed());
    println!("AUTH refused with 454 {:?} after PostgreSQL stopped", started.elapsed());
    let ready = readyz(&node);
    assert_eq!(ready["status"], "not-ready", "{ready}");
    assert!(ready["checks"]["store"].as_str().unwrap().starts_with("unavailable"), "{ready}");

    pg.restart();
    let took = within(Duration::from_secs(15), 0, || {
        let said = auth();
        (if said.starts_with("AUTH 235") { 0 } else { 1 }, said)
    });
    println!("AUTH admitted again {took:?} after PostgreSQL came back, no restart");
    assert_eq!(readyz(&node)["status"], "ready");
}

/// Where the load comes from (not the balancer's 127.0.0.1, which must send PROXY headers).
const SOURCE: std::net::IpAddr = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));

/// 16 connections from one address, reconnecting after each break.
const LOAD_LIMITS: &[&str] = &["max_connections_per_address = 64", "connections_per_address_per_minute = 100000"];

/// The route every node delivers through: the slow sink, plain SMTP on loopback.
fn route_to(sink: &common::sink::Sink, scan_ms: u64) -> String {
    format!(
        "[delivery]\nscan_interval_ms = {scan_ms}\nconcurrency = 4\nrate_per_minute = 100000\nfirst_retry_secs = 1\nmax_retry_interval_secs = 1\n\n[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"opportunistic\"\n",
        sink.port
    )
}

/// Subjects the sink accepted, each with how often.
fn received(sink: &common::sink::Sink) -> std::collections::HashMap<String, usize> {
    let mut seen = std::collections::HashMap::new();
    for m in sink.messages() {
        if let Some(s) = common::submission::subject_of(&common::sink::bytes_of(&m)) {
            *seen.entry(s).or_insert(0) += 1;
        }
    }
    seen
}

/// 16 connections submit `per_connection` messages each, half to each of `ports` (a broken
/// connection goes on at the first port); returns the subjects acknowledged with `250` and the
/// replies refused.
fn load(
    tls: std::sync::Arc<rustls::ClientConfig>,
    ports: [std::net::SocketAddr; 2],
    per_connection: usize,
    limit: Duration,
    acknowledged: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
) -> Vec<String> {
    use common::submission::{Refusal, Submitter};
    let mut workers = vec![];
    for c in 0..16 {
        let (tls, acknowledged) = (tls.clone(), acknowledged.clone());
        workers.push(std::thread::spawn(move || {
            let started = Instant::now();
            let mut refused = vec![];
            let mut target = ports[c % 2];
            let mut client: Option<Submitter> = None;
            let mut n = 0;
            while n < per_connection && started.elapsed() < limit {
                let subject = format!("load-{c}-{n}");
                if client.is_none() {
                    match Submitter::login(target, SOURCE, &tls, USER, PASSWORD) {
                        Ok(s) => client = Some(s),
                        Err(e) => {
                            refused.push(format!("{e:?}"));
                            target = ports[0];
                            std::thread::sleep(Duration::from_millis(100));
                            continue;
                        }
                    }
                }
                match client.as_mut().unwrap().send(USER, "frontdesk@example.net", &subject) {
                    Ok(_) => {
                        acknowledged.lock().unwrap().push(subject);
                        n += 1;
                    }
                    Err(e) => {
                        // Not acknowledged: sent again (under the same subject) on a new session.
                        if matches!(e, Refusal::Broken(_)) {
                            target = ports[0];
                        }
                        refused.push(format!("{e:?}"));
                        client = None;
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
            refused
        }));
    }
    workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
}

#[test]
fn a_node_killed_under_load_loses_nothing_it_acknowledged() {
    let pg = TestPostgres::start();
    let url = pg.new_database();
    let work = tempfile::tempdir().unwrap();
    // A slow far side: each DATA takes 200 ms, so both nodes have claims in flight when B dies.
    let sink = common::sink::Sink::start(work.path(), "sink", &["--delay", "0.2"]);
    let (a, mut b) = two_nodes_with(&url, &format!("queue_lease_secs = 3\n{}", route_to(&sink, 200)), LOAD_LIMITS);
    a.open_contoso();
    a.ok(&["org", "set", "Contoso", "--max-sessions", "64"]);
    let tls = common::client_tls(&a.data_dir().join("tls/cert.pem"));
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let loader = {
        let (tls, acknowledged) = (tls.clone(), acknowledged.clone());
        let ports = [a.submissions, b.submissions];
        std::thread::spawn(move || load(tls, ports, 15, Duration::from_secs(90), acknowledged))
    };
    // B dies in the middle of the load, with deliveries of its own running.
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 80 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let before_kill = sink.messages().len();
    b.kill9();
    let killed_at = Instant::now();
    let refused = loader.join().unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert_eq!(acknowledged.len(), 16 * 15, "every connection finished its messages on the survivor: {refused:?}");

    // Every acknowledged message arrives, the ones B had claimed after its lease lapsed.
    let deadline = Instant::now() + Duration::from_secs(120);
    let missing = loop {
        let seen = received(&sink);
        let missing: Vec<_> = acknowledged.iter().filter(|s| !seen.contains_key(*s)).cloned().collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(missing.is_empty(), "acknowledged but never delivered: {missing:?}");
    let seen = received(&sink);
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    let taken_over = a.logs().matches("claimed again").count();
    println!(
        "cluster under SIGKILL: {} acknowledged, all delivered ({} before the kill), {} duplicates, \
         {taken_over} claims of node B's taken over by node A, last delivered {:?} after the kill; {} refused or broken \
         transactions resent",
        acknowledged.len(),
        before_kill,
        duplicates,
        killed_at.elapsed(),
        refused.len()
    );
    assert!(taken_over > 0, "node A took over node B's lapsed claims: {}", a.logs());
    // Nothing is left behind in the shared queue.
    let deadline = Instant::now() + Duration::from_secs(20);
    while pg.psql(&url, "SELECT COUNT(*) FROM queue_messages") != "0" {
        assert!(Instant::now() < deadline, "the shared queue still holds messages");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn postgres_stopped_during_load_refuses_with_4xx_and_loses_nothing() {
    let mut pg = TestPostgres::start();
    let url = pg.new_database();
    let work = tempfile::tempdir().unwrap();
    let sink = common::sink::Sink::start(work.path(), "sink", &[]);
    let options = Options { limits: LOAD_LIMITS.iter().map(|l| l.to_string()).collect(), ..Default::default() };
    let node = TestServer::start_with_tables(
        options,
        &format!("[store]\nurl = \"{url}\"\nqueue_lease_secs = 3\n{}", route_to(&sink, 200)),
    );
    node.open_contoso();
    node.ok(&["org", "set", "Contoso", "--max-sessions", "64"]);
    let tls = common::client_tls(&node.data_dir().join("tls/cert.pem"));
    let acknowledged = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let loader = {
        let (tls, acknowledged) = (tls.clone(), acknowledged.clone());
        let ports = [node.submissions, node.submissions];
        std::thread::spawn(move || load(tls, ports, 12, Duration::from_secs(90), acknowledged))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().unwrap().len() < 40 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    pg.stop();
    std::thread::sleep(Duration::from_secs(4));
    pg.restart();
    let refused = loader.join().unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert_eq!(acknowledged.len(), 16 * 12, "service resumed without a restart: {refused:?}");
    // While the database was away the clients heard temporary refusals, never a 5xx.
    let replies: Vec<&String> = refused.iter().filter(|r| r.starts_with("Reply")).collect();
    assert!(!replies.is_empty(), "the outage was noticed: {refused:?}");
    for r in &replies {
        assert!(r.contains("\"4"), "only temporary refusals during the outage: {r}");
    }
    assert!(
        replies.iter().any(|r| r.contains("451 4.3.0") || r.contains("454 4.7.0")),
        "451 at DATA or 454 at AUTH: {replies:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let seen = received(&sink);
        let missing: Vec<_> = acknowledged.iter().filter(|s| !seen.contains_key(*s)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "acknowledged but never delivered: {missing:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "PostgreSQL stopped for 4 s under load: {} acknowledged, all delivered; {} transactions refused with {:?}",
        acknowledged.len(),
        replies.len(),
        replies
            .iter()
            .map(|r| r.split_whitespace().next().unwrap_or("").to_string())
            .collect::<std::collections::BTreeSet<_>>()
    );
}

#[test]
fn store_copy_moves_queued_mail_and_the_cluster_delivers_it() {
    let pg = TestPostgres::start();
    let url = pg.new_database();
    let work = tempfile::tempdir().unwrap();
    // A single node whose smarthost is down: its mail waits in its spool.
    let single = TestServer::start_with_tables(
        Options::default(),
        "[delivery]\nscan_interval_ms = 100\nfirst_retry_secs = 2\n\n[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\nhost = \"127.0.0.1\"\nport = 9\ntls = \"opportunistic\"\n",
    );
    single.open_contoso();
    let tls = common::client_tls(&single.data_dir().join("tls/cert.pem"));
    let mut client = common::submission::Submitter::login(single.submissions, SOURCE, &tls, USER, PASSWORD).unwrap();
    let mut subjects = vec![];
    for n in 0..5 {
        let subject = format!("waiting-{n}");
        client.send(USER, "frontdesk@example.net", &subject).unwrap();
        subjects.push(subject);
    }
    drop(client);
    let listed: serde_json::Value = serde_json::from_str(&single.ok(&["queue", "list", "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 5);

    let out = single.ok(&["store", "copy", "--from", "sqlite", "--to", &url]);
    assert!(out.contains("queue: 5 messages"), "{out}");
    assert_eq!(pg.psql(&url, "SELECT COUNT(*) FROM queue_messages"), "5");
    let listed: serde_json::Value = serde_json::from_str(&single.ok(&["queue", "list", "--json"])).unwrap();
    assert!(listed.as_array().unwrap().is_empty(), "moved, not copied: {listed}");

    // The CLI shows and acts on the shared queue when given the database.
    let on_cluster = |args: &[&str]| {
        let mut all = vec!["--database-url", url.as_str()];
        all.extend_from_slice(args);
        single.ok(&all)
    };
    let shared: serde_json::Value = serde_json::from_str(&on_cluster(&["queue", "list", "--json"])).unwrap();
    let shared = shared.as_array().unwrap();
    assert_eq!(shared.len(), 5, "{shared:?}");
    let held_id = shared[0]["id"].as_str().unwrap().to_string();
    let held_subject = subjects[0].clone();
    on_cluster(&["queue", "hold", &held_id]);
    let shown = on_cluster(&["queue", "show", &held_id]);
    assert!(shown.lines().any(|l| l.trim() == "held"), "{shown}");

    // A cluster node with a working route delivers them, except the held one.
    let sink = common::sink::Sink::start(work.path(), "sink", &[]);
    let node = TestServer::start_with_tables(
        Options::default(),
        &format!("[store]\nurl = \"{url}\"\n{}", route_to(&sink, 100)),
    );
    let wait_for = |wanted: &[String]| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let seen = received(&sink);
            if wanted.iter().all(|s| seen.contains_key(s)) {
                return seen;
            }
            assert!(Instant::now() < deadline, "delivered so far: {seen:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let seen = wait_for(&subjects[1..]);
    assert!(!seen.contains_key(&held_subject), "a held message stays: {seen:?}");
    on_cluster(&["queue", "release", &held_id]);
    wait_for(&subjects);
    let after: serde_json::Value = serde_json::from_str(&on_cluster(&["queue", "list", "--json"])).unwrap();
    assert!(after.as_array().unwrap().is_empty(), "{after}");
    let missing = single.cli(&["--database-url", &url, "queue", "delete", &held_id]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains(&held_id));
    drop(node);
}
