//! The default certificate (issue 17, item 4): short-lived (397 days), naming the host name,
//! `localhost` and the addresses devices connect to, made anew at start when near its end;
//! `cert show` prints what a device must trust; the server picks the cipher suite, not the
//! client. Clients here are Python's `ssl` (verifying by IP address) and the CLI itself.

mod common;

use std::process::Command;

use common::TestServer;

fn show(server: &TestServer) -> serde_json::Value {
    serde_json::from_str(&server.ok(&["cert", "show", "--json"])).unwrap()
}

/// Python's ssl, verifying against `cafile`, STARTTLS to 127.0.0.1 by address; prints the
/// negotiated cipher. `ciphers` restricts the client's offer (TLS 1.2 then), in its order.
fn python_tls(server: &TestServer, cafile: &std::path::Path, ciphers: Option<&str>) -> (bool, String) {
    let script = r#"
import smtplib, ssl, sys
port, cafile, ciphers = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context(cafile=cafile)
if ciphers:
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(ciphers)
with smtplib.SMTP("127.0.0.1", port, timeout=15) as s:
    s.starttls(context=ctx)
    print("CIPHER", s.sock.cipher()[0])
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(server.submission.port().to_string())
        .arg(cafile)
        .arg(ciphers.unwrap_or(""))
        .output()
        .expect("python3");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn the_self_signed_certificate_is_short_lived_names_the_addresses_and_is_renewed() {
    let mut server = TestServer::start();
    let cert = show(&server);
    assert_eq!(cert["self_signed"], true);
    let names: Vec<&str> = cert["names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    for name in [common::HOSTNAME, "localhost", "127.0.0.1", "::1"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let days = (cert["not_after"].as_i64().unwrap() - cert["not_before"].as_i64().unwrap()) / 86_400;
    assert!((397..=398).contains(&days), "valid for {days} days");
    let fingerprint = cert["sha256"].as_str().unwrap().to_string();
    assert_eq!(fingerprint.len(), 32 * 3 - 1, "{fingerprint}");

    // The printed PEM is what a device imports: with it, a client verifying the server by its
    // IP address succeeds.
    let pem = server.dir.path().join("trusted.pem");
    std::fs::write(&pem, cert["pem"].as_str().unwrap()).unwrap();
    let (ok, text) = python_tls(&server, &pem, None);
    assert!(ok, "{text}");

    // The server's order of cipher suites, not the client's: offered AES-128 first, it
    // picks AES-256.
    let (ok, text) = python_tls(&server, &pem, Some("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"));
    assert!(ok, "{text}");
    assert!(text.contains("CIPHER ECDHE-ECDSA-AES256-GCM-SHA384"), "{text}");

    // The human form says the same in words.
    let text = server.ok(&["cert", "show"]);
    assert!(text.contains(&fingerprint) && text.contains("-----BEGIN CERTIFICATE-----"), "{text}");

    // Restarted with its certificate 10 days from its end: made anew at start.
    assert!(server.terminate());
    let now = time::OffsetDateTime::now_utc();
    let mut params = rcgen::CertificateParams::new(vec![common::HOSTNAME.to_string(), "localhost".into()]).unwrap();
    params.not_before = now - time::Duration::days(380);
    params.not_after = now + time::Duration::days(10);
    let key = rcgen::KeyPair::generate().unwrap();
    let old = params.self_signed(&key).unwrap();
    let tls = server.data_dir().join("tls");
    std::fs::write(tls.join("cert.pem"), old.pem()).unwrap();
    std::fs::write(tls.join("key.pem"), key.serialize_pem()).unwrap();
    server.launch();
    let renewed = show(&server);
    assert_ne!(renewed["sha256"], cert["sha256"]);
    assert!(renewed["not_after"].as_i64().unwrap() - now.unix_timestamp() > 390 * 86_400, "{renewed}");
    assert!(server.logs().contains("making the self-signed certificate anew"), "{}", server.logs());

    // A certificate with years left is kept as it is.
    assert!(server.terminate());
    server.launch();
    assert_eq!(show(&server)["sha256"], renewed["sha256"]);
}
