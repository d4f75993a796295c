//! The verified-credential cache (crates/smtp/src/credential_cache.rs) against a real server:
//! within its minute, a changed password or a changed setting still takes effect on the very
//! next AUTH, because only the verification is cached and the policy is decided fresh.

mod common;

use common::{TestServer, PASSWORD};

fn send_one(server: &TestServer, password: &str) -> String {
    let addr = server.submission.to_string();
    let out = server.cli(&[
        "bench",
        "--server",
        &addr,
        "--user",
        "scanner@contoso.com",
        "--password",
        password,
        "--from",
        "scanner@contoso.com",
        "--messages",
        "1",
    ]);
    String::from_utf8_lossy(&out.stdout).lines().last().unwrap_or_default().to_string()
        + "\n"
        + &String::from_utf8_lossy(&out.stdout)
}

#[test]
fn changes_apply_at_once_despite_the_cache() {
    let server = TestServer::start();
    server.open_contoso();
    // Twice: the second AUTH is served from the cache.
    assert!(send_one(&server, PASSWORD).starts_with("1 accepted, 0 failed"));
    assert!(send_one(&server, PASSWORD).starts_with("1 accepted, 0 failed"));

    // Policy is decided fresh: Authenticated SMTP off for the mailbox refuses the cached secret.
    server.ok(&["user", "set", "scanner@contoso.com", "--smtp-auth", "disabled"]);
    let out = send_one(&server, PASSWORD);
    assert!(out.starts_with("0 accepted, 1 failed") && out.contains("auth: 535 5.7.139"), "{out}");
    server.ok(&["user", "set", "scanner@contoso.com", "--smtp-auth", "enabled"]);
    assert!(send_one(&server, PASSWORD).starts_with("1 accepted, 0 failed"));

    // A new password: the old one, verified seconds ago, is refused; the new one works.
    let new_password = "Another-Long-Passphrase-42";
    let out =
        server.cli_with_stdin(&["user", "password", "scanner@contoso.com", "--password-stdin"], Some(new_password));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = send_one(&server, PASSWORD);
    assert!(out.starts_with("0 accepted, 1 failed") && out.contains("auth: 535 5.7.139"), "{out}");
    assert!(send_one(&server, new_password).starts_with("1 accepted, 0 failed"));
}
