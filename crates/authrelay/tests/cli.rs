//! The admin CLI as admins' scripts use it: exit codes, messages that name the fix, languages,
//! and the server-level limits that need more than one connection to show.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Options, TestServer, BIN, PASSWORD};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

#[test]
fn errors_name_the_problem_and_the_fix() {
    let server = TestServer::start();
    server.seed_contoso();
    let rows: &[(&[&str], &str)] = &[
        (&["org", "show", "Northwind"], "authrelay org add Northwind --domain"),
        (&["org", "add", "Contoso", "--domain", "other.example"], "already exists"),
        (&["org", "add", "Other", "--domain", "contoso.com"], "already belongs to the organisation \"Contoso\""),
        (&["org", "add", "Other", "--domain", "not a domain"], "is not a domain name"),
        (&["user", "add", "a@nowhere.example"], "authrelay org add NAME --domain nowhere.example"),
        (&["user", "add", "scanner@contoso.com"], "already exists"),
        (&["user", "add", "not-an-address"], "Write it as name@example.com"),
        (&["user", "show", "ghost@contoso.com"], "authrelay user add ghost@contoso.com"),
        (&["user", "set", "scanner@contoso.com"], "nothing to change"),
        (
            &["app-password", "revoke", "scanner@contoso.com", "--name", "nope"],
            "authrelay app-password list scanner@contoso.com",
        ),
        (&["queue", "show", "../../etc/passwd"], "Queue ids are 20 characters"),
        (&["queue", "show", "0123456789ABCDEF0123"], "authrelay queue list"),
    ];
    for (args, fix) in rows {
        let out = server.cli(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains(fix), "{args:?}: expected {fix:?} in {err}");
    }
    // clap itself refuses values outside the documented choices.
    let out = server.cli(&["user", "set", "scanner@contoso.com", "--mfa", "sometimes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("disabled enabled enforced"), "{}", stderr(&out));
}

#[test]
fn weak_passwords_are_refused_with_the_rule() {
    let server = TestServer::start();
    server.seed_contoso();
    for (password, fix) in [
        ("short", "at least 12 characters"),
        ("alllowercaseletters", "Mix at least three"),
        ("Scanner2-2026-x!", "contains the user's own name"),
        ("Password123!", "passwords attackers try first"),
        ("", "no password arrived on standard input"),
    ] {
        let out = server.cli_with_stdin(&["user", "add", "scanner2@contoso.com", "--password-stdin"], Some(password));
        assert_eq!(out.status.code(), Some(2), "{password:?} was accepted");
        let err = stderr(&out);
        assert!(err.contains(fix), "{password:?}: {err}");
    }
    let out = server
        .cli_with_stdin(&["user", "add", "scanner2@contoso.com", "--password-stdin"], Some("Long-and-Strong-2026"));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn generated_password_is_printed_once_and_works() {
    let server = TestServer::start();
    server.seed_contoso();
    let out = server.ok(&["user", "add", "printer@contoso.com"]);
    let lines: Vec<&str> = out.lines().collect();
    let idx = lines.iter().position(|l| l.contains("Generated password")).expect("announces the password");
    let password = lines[idx + 1].trim();
    assert!(password.len() >= 16, "{password}");
    // The stored form is an argon2id hash, never the password.
    // The database is in WAL mode: recent writes live in the -wal file.
    let mut db = std::fs::read(server.data_dir().join("authrelay.db")).unwrap();
    db.extend(std::fs::read(server.data_dir().join("authrelay.db-wal")).unwrap_or_default());
    assert!(!db.windows(password.len()).any(|w| w == password.as_bytes()));
    assert!(db.windows(9).any(|w| w == b"$argon2id"));
    let out = server.cli_with_stdin(&["user", "password", "printer@contoso.com", "--password-stdin"], Some(PASSWORD));
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn messages_follow_lang_and_the_flag() {
    let server = TestServer::start();
    let run = |lang: &str, flag: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.arg("--data-dir").arg(server.data_dir());
        if let Some(f) = flag {
            cmd.args(["--lang", f]);
        }
        cmd.args(["org", "show", "Nowhere"]).env("LANG", lang).env_remove("LC_ALL").env_remove("LC_MESSAGES");
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        stderr(&out)
    };
    let en = run("en_US.UTF-8", None);
    let ko = run("ko_KR.UTF-8", None);
    let id = run("id_ID.UTF-8", None);
    let ko_flag = run("en_US.UTF-8", Some("ko"));
    assert!(en.contains("there is no organisation"), "{en}");
    assert!(ko.contains("조직"), "{ko}");
    assert!(id.contains("organisasi"), "{id}");
    assert_eq!(ko, ko_flag);
    // The command to run is the same in every language.
    for text in [&en, &ko, &id] {
        assert!(text.contains("`authrelay org add Nowhere --domain example.com`"), "{text}");
    }
}

#[test]
fn config_check_reports_every_problem_and_prints_the_effective_config() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "hostname = \"a b\"\n[listen]\nsubmission = \"nowhere\"\n[limits]\nmax_recipients = 0\n")
        .unwrap();
    let out =
        Command::new(BIN).args(["--config"]).arg(&bad).args(["config", "check"]).env("LANG", "C").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for key in ["listen.submission", "hostname", "limits.max_recipients", "authrelay config check"] {
        assert!(err.contains(key), "{key} missing from {err}");
    }
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "[listen]\nsubmission = \"127.0.0.1:2525\"\nsubmissions = \"\"\n").unwrap();
    let out =
        Command::new(BIN).args(["--config"]).arg(&good).args(["config", "check"]).env("LANG", "C").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("submission = \"127.0.0.1:2525\""), "{text}");
    assert!(!text.contains("submissions ="), "{text}");
    assert!(text.contains("max_recipients = 500"), "{text}");
}

fn read_reply(reader: &mut BufReader<TcpStream>) -> String {
    let mut reply = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return reply;
        }
        reply.push_str(&line);
        if line.as_bytes().get(3) == Some(&b' ') {
            return reply;
        }
    }
}

#[test]
fn connection_cap_answers_421_when_full() {
    let mut server = TestServer::start_with(Options::default());
    server.kill9();
    std::fs::write(
        server.dir.path().join("authrelay.toml"),
        format!(
            "hostname = \"{}\"\n[listen]\nsubmission = \"127.0.0.1:0\"\nsubmissions = \"127.0.0.1:0\"\nmax_connections = 2\n",
            common::HOSTNAME
        ),
    )
    .unwrap();
    server.launch();
    let mut held = vec![];
    for _ in 0..2 {
        let tcp = TcpStream::connect(server.submission).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = BufReader::new(tcp);
        assert!(read_reply(&mut r).starts_with("220 "));
        held.push(r);
    }
    let tcp = TcpStream::connect(server.submission).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(tcp);
    assert_eq!(read_reply(&mut r), "421 4.7.0 Too many connections; please try again later\r\n");
    // A slot frees up when a client leaves.
    held[0].get_mut().write_all(b"QUIT\r\n").unwrap();
    assert!(read_reply(&mut held[0]).starts_with("221"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tcp = TcpStream::connect(server.submission).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = BufReader::new(tcp);
        if read_reply(&mut r).starts_with("220 ") {
            break;
        }
        assert!(Instant::now() < deadline, "slot never freed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn idle_client_is_disconnected_after_the_command_timeout() {
    let server =
        TestServer::start_with(Options { limits: vec!["command_timeout_secs = 1".into()], ..Default::default() });
    let tcp = TcpStream::connect(server.submission).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(tcp);
    assert!(read_reply(&mut r).starts_with("220 "));
    let start = Instant::now();
    // Trickle a command one byte at a time: the deadline covers the whole line.
    for b in b"EHLO slow" {
        if r.get_mut().write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(read_reply(&mut r), "421 4.4.2 Idle timeout; closing connection\r\n");
    assert!(start.elapsed() < Duration::from_secs(5), "took {:?}", start.elapsed());
}
