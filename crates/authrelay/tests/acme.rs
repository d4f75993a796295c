//! Certificates by ACME (issue 17, item 5) against Pebble, the ACME server made for testing
//! clients (Debian's `pebble`, installed by scripts/test), with real HTTP-01 validation: Pebble
//! resolves the domain through pebble-challtestsrv's DNS (every name -> 127.0.0.1) and fetches
//! the token from the server's HTTP-01 responder (`tls.acme.http_challenge`). PEBBLE_VA_NOSLEEP
//! only skips Pebble's artificial delays; PEBBLE_VA_ALWAYS_VALID is not set.
//!
//! Shown: the certificate is obtained at start and served on the submission port, where a
//! client verifies it against Pebble's root (its management port's /roots/0) and the domain;
//! `authrelay cert renew` renews it while a client is in the middle of a transaction, which
//! finishes with 250; the next connection gets the new certificate; the expiry gauge follows.
//! And without a reachable CA: the failure is named with its fix, counted in
//! authrelay_tls_certificate_renewal_failures_total, and shown on the admin center's home page.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{port_for_a_child, refused_port, Options, TestServer, HOSTNAME};

const CLIENT: &str = include_str!("support/acme_client.py");
const USER: &str = "scanner@contoso.com";

/// A child process killed when the test ends, pass or fail.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Pebble's own HTTPS certificate (127.0.0.1), signed by a CA made here: Debian's package ships
/// none of the upstream test certificates. Returns the CA's PEM file.
fn pebble_https_cert(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "authrelay test CA for Pebble's HTTPS");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let cert = leaf.signed_by(&key, &ca_cert, &ca_key).unwrap();
    let paths = (dir.join("pebble-ca.pem"), dir.join("pebble-cert.pem"), dir.join("pebble-key.pem"));
    std::fs::write(&paths.0, ca_cert.pem()).unwrap();
    std::fs::write(&paths.1, cert.pem()).unwrap();
    std::fs::write(&paths.2, key.serialize_pem()).unwrap();
    paths
}

struct Pebble {
    _dns: Reaped,
    _pebble: Reaped,
    directory: String,
    management: u16,
    /// The CA of Pebble's HTTPS (not of the certificates it issues).
    https_ca: PathBuf,
    http_port: u16,
    log: PathBuf,
}

fn wait_for_port(port: u16, what: &str, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not listen on {port}: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Pebble and its DNS on loopback ports of their own; None (with a loud message) only when the
/// Debian package is not installed.
fn start_pebble(dir: &Path) -> Option<Pebble> {
    if !Path::new("/usr/bin/pebble").exists() || !Path::new("/usr/bin/pebble-challtestsrv").exists() {
        eprintln!(
            "\n\n*** SKIPPED: Pebble is not installed (Debian package `pebble`); ./scripts/test installs it. ***\n\n"
        );
        return None;
    }
    let (https_ca, cert, key) = pebble_https_cert(dir);
    let (listen, management, http_port, dns) =
        (port_for_a_child(), port_for_a_child(), port_for_a_child(), port_for_a_child());
    let dns_log = dir.join("challtestsrv.log");
    // Only the mock DNS: every A query answered 127.0.0.1, no AAAA (the responder is on IPv4).
    let dns_child = Command::new("/usr/bin/pebble-challtestsrv")
        .args(["-dns01", &format!("127.0.0.1:{dns}"), "-http01", "", "-https01", "", "-tlsalpn01", ""])
        .args([
            "-management",
            &format!("127.0.0.1:{}", port_for_a_child()),
            "-defaultIPv4",
            "127.0.0.1",
            "-defaultIPv6",
            "",
        ])
        .stdout(std::fs::File::create(&dns_log).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pebble-challtestsrv");
    let dns_child = Reaped(dns_child);
    let config = serde_json::json!({
        "pebble": {
            "listenAddress": format!("127.0.0.1:{listen}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": cert,
            "privateKey": key,
            "httpPort": http_port,
            "tlsPort": port_for_a_child(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false
        }
    });
    let config_path = dir.join("pebble-config.json");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let log = dir.join("pebble.log");
    let pebble = Command::new("/usr/bin/pebble")
        .arg("-config")
        .arg(&config_path)
        .args(["-dnsserver", &format!("127.0.0.1:{dns}")])
        .env("PEBBLE_VA_NOSLEEP", "1")
        .env_remove("PEBBLE_VA_ALWAYS_VALID")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.join("pebble.err")).unwrap())
        .spawn()
        .expect("start pebble");
    let pebble = Reaped(pebble);
    wait_for_port(listen, "pebble", &log);
    Some(Pebble {
        _dns: dns_child,
        _pebble: pebble,
        directory: format!("https://127.0.0.1:{listen}/dir"),
        management,
        https_ca,
        http_port,
        log,
    })
}

fn python(dir: &Path, args: &[&str]) -> Command {
    let script = dir.join("acme_client.py");
    std::fs::write(&script, CLIENT).unwrap();
    let mut cmd = Command::new("python3");
    cmd.arg(script).args(args);
    cmd
}

fn run(dir: &Path, args: &[&str]) -> String {
    let out = python(dir, args).output().expect("python3");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn scrape(server: &TestServer) -> String {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", &format!("http://{}/metrics", server.admin())])
        .output()
        .expect("curl must be installed to run this test");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn value(scrape: &str, series: &str) -> f64 {
    scrape
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(-1.0)
}

fn cert_json(server: &TestServer) -> serde_json::Value {
    serde_json::from_str(&server.ok(&["cert", "show", "--json"])).unwrap()
}

#[test]
fn a_certificate_from_pebble_is_served_renewed_and_swapped_under_an_open_transaction() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(pebble) = start_pebble(tmp.path()) else { return };
    let tables = format!(
        "[tls]\nacme = {{ domains = [\"{HOSTNAME}\"], contact = \"postmaster@authrelay.test\", directory = \"{}\", directory_ca = \"{}\", http_challenge = \"127.0.0.1:{}\" }}\n",
        pebble.directory,
        pebble.https_ca.display(),
        pebble.http_port
    );
    let started = Instant::now();
    let mut server = TestServer::start_with_tables(Options::default(), &tables);
    server.open_contoso();
    let dir = server.dir.path().to_path_buf();
    let pebble_logs = |server: &TestServer| {
        format!("{}\n--- pebble ---\n{}", server.logs(), std::fs::read_to_string(&pebble.log).unwrap_or_default())
    };

    // Pebble's root, for the device's trust store.
    let root = dir.join("pebble-root.pem");
    let root_pem = run(&dir, &["root", &pebble.management.to_string(), &pebble.https_ca.display().to_string()]);
    assert!(root_pem.starts_with("-----BEGIN CERTIFICATE-----"), "{root_pem}");
    std::fs::write(&root, &root_pem).unwrap();
    let verify =
        || run(&dir, &["verify", &server.submission.port().to_string(), &root.display().to_string(), HOSTNAME]);

    // Obtained at start: the submission port serves a certificate that verifies against Pebble.
    let deadline = Instant::now() + Duration::from_secs(90);
    let first = loop {
        let answer = verify();
        if let Some(fp) = answer.trim().strip_prefix("OK ") {
            break fp.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "no certificate from Pebble within 90 s ({answer}): {}",
            pebble_logs(&server)
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let obtained_in = started.elapsed();
    let shown = cert_json(&server);
    assert_eq!(shown["acme"], true, "{shown}");
    assert_eq!(shown["sha256"].as_str().unwrap(), first);
    assert!(shown["issuer"].as_str().unwrap().contains("Pebble"), "{shown}");
    let account = std::fs::metadata(server.data_dir().join("acme/account.json")).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&account.permissions()) & 0o777, 0o600);
    let scraped = scrape(&server);
    assert_eq!(
        value(&scraped, "authrelay_tls_certificate_expiry_timestamp_seconds"),
        shown["not_after"].as_f64().unwrap()
    );
    assert_eq!(value(&scraped, "authrelay_tls_certificate_renewal_failures_total"), 0.0, "{scraped}");

    // A device in the middle of a transaction (MAIL and RCPT accepted, DATA not yet sent).
    let mut held = python(
        &dir,
        &["held", &server.submission.port().to_string(), &root.display().to_string(), HOSTNAME, USER, common::PASSWORD],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let mut lines = BufReader::new(held.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), format!("FP {first}"));
    assert_eq!(lines.next().map(|l| l.unwrap()).unwrap_or_default(), "RCPT-OK", "{}", server.logs());

    // Renewal when forced: `cert renew` asks the running server and waits for the result.
    let renew_started = Instant::now();
    let out = server.cli(&["cert", "renew", "--wait", "90"]);
    let renew_took = renew_started.elapsed();
    let said = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{said}{} {}", String::from_utf8_lossy(&out.stderr), pebble_logs(&server));
    assert!(said.contains("obtained a new certificate"), "{said}");

    // The open session finishes its message after the swap.
    held.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
    let data = lines.next().map(|l| l.unwrap()).unwrap_or_default();
    assert!(data.starts_with("DATA 250 2.0.0 OK queued as"), "{data} {}", server.logs());
    assert!(held.wait().unwrap().success());

    // A new connection gets the new certificate, which verifies too.
    let second = verify();
    let second = second.trim().strip_prefix("OK ").unwrap_or_else(|| panic!("{second}")).to_string();
    assert_ne!(second, first, "a new certificate is served");
    let shown = cert_json(&server);
    assert_eq!(shown["sha256"].as_str().unwrap(), second);
    assert_eq!(
        value(&scrape(&server), "authrelay_tls_certificate_expiry_timestamp_seconds"),
        shown["not_after"].as_f64().unwrap()
    );
    let log = server.logs();
    assert!(log.contains("certificate obtained and swapped in"), "{log}");
    assert!(!log.contains("BEGIN PRIVATE KEY") && !log.contains("\"d\":"), "no key material in the log");
    assert!(server.terminate());
    eprintln!(
        "acme: first certificate served {:.1} s after start; forced renewal took {:.1} s",
        obtained_in.as_secs_f64(),
        renew_took.as_secs_f64()
    );
}

#[test]
fn a_ca_that_cannot_be_reached_is_named_counted_and_shown_on_the_admin_home_page() {
    // A port nothing listens on stands for an unreachable directory.
    let (_refusing, closed) = refused_port();
    let tables = format!(
        "[tls]\nacme = {{ domains = [\"{HOSTNAME}\"], contact = \"postmaster@authrelay.test\", directory = \"https://127.0.0.1:{closed}/dir\", http_challenge = \"127.0.0.1:0\" }}\n"
    );
    let server = TestServer::start_with_tables(Options::default(), &tables);
    server.seed_contoso();
    server.ok(&["org", "set", "Contoso", "--security-defaults", "off"]);
    // The first attempt at start, then two forced ones: three failures in a row.
    for _ in 0..3 {
        let out = server.cli(&["cert", "renew", "--wait", "30"]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(!out.status.success());
        assert!(err.contains("unreachable") && err.contains("tls.acme.directory_ca"), "{err}");
    }
    let failures = || {
        let status: serde_json::Value =
            serde_json::from_slice(&std::fs::read(server.data_dir().join("acme/status.json")).unwrap()).unwrap();
        status["consecutive_failures"].as_u64().unwrap() as f64
    };
    // The start's own attempt may overlap the first forced one, so the count is read between
    // two readings of the status file rather than compared with one of them.
    let before = failures();
    let counted = value(&scrape(&server), "authrelay_tls_certificate_renewal_failures_total");
    // A failure is counted a moment before its status is written: an attempt under way (a
    // forced one queued behind the start's) may be in the counter and not yet in the file.
    let mut after = failures();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while after < counted && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        after = failures();
    }
    assert!(before >= 3.0, "{before} failures recorded");
    assert!(before <= counted && counted <= after, "counter {counted}, status {before}..{after}");
    let log = server.logs();
    assert!(log.contains("certificate renewal keeps failing"), "{log}");
    // The self-signed certificate serves meanwhile.
    assert_eq!(cert_json(&server)["self_signed"], true);

    // The admin center's home page says so.
    let admin_password = "Adm1n-Center-Pass!";
    let out = server.cli_with_stdin(
        &["admin", "add", "boss@contoso.com", "--role", "global", "--password-stdin"],
        Some(admin_password),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let jar = server.dir.path().join("cookies.txt");
    let base = format!("http://{}", server.admin());
    let body = format!("{{\"address\":\"boss@contoso.com\",\"password\":\"{admin_password}\"}}");
    let signed_in = Command::new("curl")
        .args(["-s", "--max-time", "10", "-c"])
        .arg(&jar)
        .args(["-H", "Content-Type: application/json", "-d", &body, &format!("{base}/api/session")])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&signed_in.stdout).contains("csrf_token"), "{:?}", signed_in);
    let home =
        Command::new("curl").args(["-s", "--max-time", "10", "-b"]).arg(&jar).arg(format!("{base}/")).output().unwrap();
    let home = String::from_utf8_lossy(&home.stdout);
    assert!(home.contains("id=\"home-warning-certificate\""), "{home}");
    assert!(home.contains("Certificate renewal keeps failing"), "{home}");
}
