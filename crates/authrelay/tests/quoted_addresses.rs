//! Quoted local parts on the way out (issue 12): `MAIL FROM:<"x> RET=FULL …"@contoso.com>` once
//! reached the smarthost unquoted, as MAIL parameters. Now an address whose local part is not a
//! dot-atom is refused at MAIL/RCPT, and every address that is accepted reaches a far side that
//! records raw lines (tests/support/raw_sink.py) as one plain path with the same meaning, as
//! Python's address parser reads it (tests/support/quoted_oracle.py). Golden dialog:
//! tests/dialogs/33-quoted-addresses.dialog.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Options, TestServer, PASSWORD};

const SUPPORT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support");

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn addresses_reach_the_next_hop_with_their_meaning_or_are_refused() {
    let work = tempfile::tempdir().unwrap();
    let (port_file, lines) = (work.path().join("sink.port"), work.path().join("lines"));
    let _sink = Child(
        Command::new("python3")
            .arg(format!("{SUPPORT}/raw_sink.py"))
            .arg(&port_file)
            .arg(&lines)
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 must be installed to run this test"),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let port = loop {
        if let Ok(p) = std::fs::read_to_string(&port_file) {
            break p.trim().to_string();
        }
        assert!(Instant::now() < deadline, "raw sink did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    let tables = format!(
        "[delivery]\nscan_interval_ms = 100\n\n[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"opportunistic\"\n\n[[connectors]]\nname = \"mfp\"\nclients = [\"127.0.0.1/32\"]\nsender_domains = [\"contoso.com\"]\n"
    );
    let server = TestServer::start_with_tables(Options::default(), &tables);
    server.open_contoso();
    let child = Command::new("python3")
        .arg(format!("{SUPPORT}/quoted_oracle.py"))
        .arg(server.submission.port().to_string())
        .arg(server.data_dir().join("tls/cert.pem"))
        .args(["scanner@contoso.com", PASSWORD])
        .arg(&lines)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (status, out, err) = common::wait_bounded(child, Duration::from_secs(180), "quoted_oracle.py");
    assert!(status.success(), "violations:\n{err}\n{out}\n{}", server.logs());
    let summary: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    eprintln!("quoted oracle: {summary}");
    assert!(summary["accepted"].as_u64().unwrap() >= 10, "{summary}");
    assert!(summary["refused"].as_u64().unwrap() >= 30, "{summary}");
    let raw = std::fs::read_to_string(&lines).unwrap();
    assert!(!raw.contains("ENVID=injected") && !raw.contains("victim@internal.example@"), "{raw}");
}
