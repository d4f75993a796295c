//! OAuth in (issue 7): AUTH XOAUTH2 and OAUTHBEARER with JWT bearer tokens issued by an OpenID
//! provider nobody here wrote (panva/node-oidc-provider, tests/oidc/provider.mjs, on loopback),
//! validated by the real server against the provider's JWKS (found through discovery). Python's
//! smtplib is the client. Refusals follow RFC 7628: a 334 error challenge (base64 JSON), the
//! client's empty answer, then the catalogue's 535.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::TestServer;

const MAILBOX: &str = "relay@contoso.com";
const AUDIENCE: &str = "https://b.authrelay.test/";
const SCRIPT: &str = include_str!("support/device_client.py");

/// The provider process; killed when dropped.
struct Provider {
    child: Child,
    issuer: String,
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn oidc_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

fn start_provider() -> Provider {
    start_provider_logging(None)
}

/// The provider; with `token_log`, it appends a line there for every token request.
fn start_provider_logging(token_log: Option<&std::path::Path>) -> Provider {
    start_provider_with(token_log, serde_json::json!([]))
}

/// The provider with the standard clients and `extra` ones (e.g. private_key_jwt clients).
fn start_provider_with(token_log: Option<&std::path::Path>, extra: serde_json::Value) -> Provider {
    assert!(
        oidc_dir().join("node_modules/oidc-provider").is_dir(),
        "oidc-provider is not installed: run `npm ci` in crates/authrelay/tests/oidc (scripts/test does)"
    );
    let clients = serde_json::json!([
        { "client_id": "relay-a", "client_secret": "s3cret-relay-a", "email": MAILBOX, "ttl": 300 },
        { "client_id": "short-lived", "client_secret": "s3cret-short", "email": MAILBOX, "ttl": 1 },
        { "client_id": "stranger", "client_secret": "s3cret-stranger", "email": "nobody@contoso.com", "ttl": 300 },
        { "client_id": "unverified", "client_secret": "s3cret-unverified", "email": MAILBOX, "email_verified": false, "ttl": 300 },
    ]);
    let mut clients = clients;
    clients.as_array_mut().unwrap().extend(extra.as_array().cloned().unwrap_or_default());
    let mut node = Command::new("node");
    if let Some(log) = token_log {
        node.env("TOKEN_LOG", log);
    }
    let mut child = node
        .arg(oidc_dir().join("provider.mjs"))
        .arg(clients.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node must be installed to run this test");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("provider said {line:?}: {e}"));
    Provider { child, issuer: v["issuer"].as_str().unwrap().to_string() }
}

/// POSTs the client-credentials grant to the provider's token endpoint; (HTTP status, JSON).
fn token_request(issuer: &str, client_id: &str, secret: &str, resource: &str) -> (u16, serde_json::Value) {
    let hostport = issuer.strip_prefix("http://").unwrap();
    let enc = |s: &str| s.replace(':', "%3A").replace('/', "%2F");
    let body = format!(
        "grant_type=client_credentials&client_id={client_id}&client_secret={secret}&scope=smtp.send&resource={}",
        enc(resource)
    );
    let mut s = TcpStream::connect(hostport).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST /token HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let status = raw.split(' ').nth(1).unwrap().parse().unwrap();
    let json = raw.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, serde_json::from_str(json).unwrap_or_else(|e| panic!("{raw}: {e}")))
}

fn token(issuer: &str, client_id: &str, secret: &str, resource: &str) -> String {
    let (status, json) = token_request(issuer, client_id, secret, resource);
    assert_eq!(status, 200, "{json}");
    json["access_token"].as_str().unwrap().to_string()
}

/// Authrelay B: the seed's tenant at its strictest (security defaults on, MFA enforced), the
/// relay mailbox with Authenticated SMTP on, and `[oauth]` trusting the provider.
fn server_b(provider: &Provider) -> TestServer {
    let tables = format!(
        "[oauth]\nissuer = \"{}\"\naudience = \"{AUDIENCE}\"\nuser_claim = \"email\"\nclock_skew_secs = 0\n",
        provider.issuer
    );
    let server = TestServer::start_with_tables(common::Options::default(), &tables);
    server.seed_contoso();
    let out = server.cli_with_stdin(&["user", "add", MAILBOX, "--password-stdin"], Some(common::PASSWORD));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    server.ok(&["user", "set", MAILBOX, "--smtp-auth", "enabled", "--mfa", "enforced"]);
    server
}

fn smtplib(server: &TestServer, user: &str, token: &str, mechanism: &str) -> (i32, String) {
    server.device_client(server.submission.port(), user, token, "127.0.0.1", mechanism)
}

fn last_signin(server: &TestServer) -> serde_json::Value {
    let log: serde_json::Value = serde_json::from_str(&server.ok(&["signins", "--last", "1", "--json"])).unwrap();
    log.as_array().unwrap()[0].clone()
}

const INVALID: &str =
    "AUTH-FAILED 535 5.7.139 Authentication unsuccessful, the OAuth token is not valid for this server.";

/// The RFC 7628 error challenge smtplib printed: base64 JSON with status invalid_token.
fn assert_error_challenge(text: &str) {
    let line = text.lines().find(|l| l.starts_with("CHALLENGE ")).unwrap_or_else(|| panic!("no challenge: {text}"));
    let json: serde_json::Value = serde_json::from_str(line.strip_prefix("CHALLENGE ").unwrap()).unwrap();
    assert_eq!(json["status"], "invalid_token", "{text}");
    assert!(json["openid-configuration"].as_str().unwrap().ends_with("/.well-known/openid-configuration"));
}

#[test]
fn smtplib_xoauth2_and_oauthbearer_with_provider_tokens() {
    let provider = start_provider();
    let server = server_b(&provider);
    let good = token(&provider.issuer, "relay-a", "s3cret-relay-a", AUDIENCE);

    // Security defaults and MFA do not block OAuth (as at Microsoft); the password is refused.
    let (code, text) = smtplib(&server, MAILBOX, common::PASSWORD, "LOGIN");
    assert_eq!(code, 3, "{text}");
    let (code, text) = smtplib(&server, MAILBOX, &good, "XOAUTH2");
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("EHLO-AUTH  PLAIN LOGIN XOAUTH2 OAUTHBEARER\n"), "{text}");
    assert!(text.contains("QUEUED"), "{text}");
    let entry = last_signin(&server);
    assert_eq!((entry["credential"].as_str(), entry["mechanism"].as_str()), (Some("oauth"), Some("XOAUTH2")));
    assert_eq!(entry["user"], MAILBOX);
    let (code, text) = smtplib(&server, MAILBOX, &good, "OAUTHBEARER");
    assert_eq!(code, 0, "{text}");
    assert_eq!(server.queued().len(), 2);
    // The token never reaches the log.
    assert!(!server.logs().contains(&good[good.len() - 40..]));

    // Authenticated SMTP still applies: a valid token, a plain 535 with the policy's reply.
    server.ok(&["user", "set", MAILBOX, "--smtp-auth", "disabled"]);
    let (code, text) = smtplib(&server, MAILBOX, &good, "XOAUTH2");
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("SmtpClientAuthentication is disabled for the Mailbox."), "{text}");
    assert!(!text.contains("CHALLENGE"), "{text}");
}

#[test]
fn wrong_audience_expired_forged_and_unknown_tokens_are_refused() {
    let provider = start_provider();
    let server = server_b(&provider);

    // Wrong audience: a token the same provider issued for another resource.
    let other = token(&provider.issuer, "relay-a", "s3cret-relay-a", "https://other.example/");
    let (code, text) = smtplib(&server, MAILBOX, &other, "XOAUTH2");
    assert_eq!(code, 3, "{text}");
    assert_error_challenge(&text);
    assert!(text.contains(INVALID), "{text}");
    assert_eq!(last_signin(&server)["reply"], "OAuthTokenInvalid");

    // Expired: a one-second token, used after it expired (no clock skew allowed on B).
    let short = token(&provider.issuer, "short-lived", "s3cret-short", AUDIENCE);
    std::thread::sleep(Duration::from_millis(2100));
    let (code, text) = smtplib(&server, MAILBOX, &short, "OAUTHBEARER");
    assert_eq!(code, 3, "{text}");
    assert_error_challenge(&text);
    assert!(text.contains("535 5.7.139 Authentication unsuccessful, the OAuth token has expired."), "{text}");

    // Forged: a valid token with its signature altered.
    let good = token(&provider.issuer, "relay-a", "s3cret-relay-a", AUDIENCE);
    let mut forged = good.clone().into_bytes();
    let i = forged.len() - 10;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let (code, text) = smtplib(&server, MAILBOX, &String::from_utf8(forged).unwrap(), "XOAUTH2");
    assert_eq!(code, 3, "{text}");
    assert!(text.contains(INVALID), "{text}");

    // The SASL user must be the token's user.
    let (code, text) = smtplib(&server, "scanner@contoso.com", &good, "XOAUTH2");
    assert_eq!(code, 3, "{text}");
    assert!(text.contains(INVALID), "{text}");

    // A token whose user claim names no mailbox here.
    let stranger = token(&provider.issuer, "stranger", "s3cret-stranger", AUDIENCE);
    let (code, text) = smtplib(&server, "nobody@contoso.com", &stranger, "XOAUTH2");
    assert_eq!(code, 3, "{text}");
    assert!(text.contains(INVALID), "{text}");

    // A token whose email the issuer itself marks unverified names nobody ("nOAuth"): its
    // holder could have typed any address.
    let unverified = token(&provider.issuer, "unverified", "s3cret-unverified", AUDIENCE);
    let (code, text) = smtplib(&server, MAILBOX, &unverified, "XOAUTH2");
    assert_eq!(code, 3, "{text}");
    assert!(text.contains(INVALID), "{text}");
    assert_eq!(last_signin(&server)["reply"], "OAuthTokenInvalid");

    // A revoked or unknown client gets no token at all: the provider refuses the grant.
    let (status, json) = token_request(&provider.issuer, "revoked-client", "whatever", AUDIENCE);
    assert_eq!((status, json["error"].as_str()), (401, Some("invalid_client")), "{json}");
    let (status, json) = token_request(&provider.issuer, "relay-a", "wrong-secret", AUDIENCE);
    assert_eq!((status, json["error"].as_str()), (401, Some("invalid_client")), "{json}");

    // After all that, the good token still works.
    let (code, text) = smtplib(&server, MAILBOX, &good, "XOAUTH2");
    assert_eq!(code, 0, "{text}");
}

#[test]
fn without_oauth_configured_the_mechanisms_are_not_offered() {
    let server = TestServer::start();
    server.open_contoso();
    let (code, text) = smtplib(&server, "scanner@contoso.com", "eyJhbGciOiJSUzI1NiJ9.e30.c2ln", "XOAUTH2");
    assert_eq!(code, 3, "{text}");
    assert!(text.contains("EHLO-AUTH  PLAIN LOGIN\n"), "{text}");
    assert!(text.contains("504 5.7.4 Unrecognized authentication type"), "{text}");
}

/// Authrelay A with a smarthost route to B that signs in with XOAUTH2, its token from the
/// provider's client-credentials grant for `client_id`.
fn server_a(provider: &Provider, b: &TestServer, client_id: &str, secret: &str) -> TestServer {
    let tables = format!(
        "[delivery]\nfirst_retry_secs = 1\n\n[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\nhost = \"127.0.0.1\"\nport = {port}\n\
         tls = \"starttls\"\ntls_name = \"localhost\"\nca_file = \"{ca}\"\nuser = \"{MAILBOX}\"\nauth = \"xoauth2\"\n\
         token_endpoint = \"{issuer}/token\"\nclient_id = \"{client_id}\"\nclient_secret = \"{secret}\"\nscope = \"smtp.send\"\n\
         resource = \"{AUDIENCE}\"\n",
        port = b.submission.port(),
        ca = b.data_dir().join("tls/cert.pem").display(),
        issuer = provider.issuer,
    );
    let a = TestServer::start_with_tables(common::Options::default(), &tables);
    a.seed_contoso();
    a.ok(&["user", "set", "scanner@contoso.com", "--smtp-auth", "enabled", "--mfa", "enforced"]);
    a
}

/// A device credential on A (security defaults on, MFA enforced); A relays through B with
/// XOAUTH2; B validates the provider's token and queues the message.
#[test]
fn bridge_device_password_in_oauth_out() {
    let provider = start_provider();
    let b = server_b(&provider);
    // At Microsoft the relay mailbox needs Send As for the devices' addresses; so does B.
    b.ok(&["user", "set", MAILBOX, "--send-as", "scanner@contoso.com"]);
    let a = server_a(&provider, &b, "relay-a", "s3cret-relay-a");
    let out =
        a.ok(&["device-credential", "add", "scanner@contoso.com", "--name", "mfp", "--allow", "127.0.0.1", "--json"]);
    let secret = serde_json::from_str::<serde_json::Value>(&out).unwrap()["secret"].as_str().unwrap().to_string();
    let script = a.dir.path().join("device_client.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .arg(a.submission.port().to_string())
        .arg(a.data_dir().join("tls/cert.pem"))
        .args(["scanner@contoso.com", &secret, "127.0.0.1", "LOGIN"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));

    // B receives it: authenticated with OAuth as the relay mailbox.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let queued = loop {
        let q = b.queued();
        if !q.is_empty() || std::time::Instant::now() > deadline {
            break q;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(queued.len(), 1, "B did not receive the message; A's log:\n{}", a.logs());
    let raw = String::from_utf8_lossy(&queued[0].1);
    assert!(raw.contains(&format!("authenticated user {MAILBOX} with oauth")), "{raw}");
    assert!(raw.contains("authenticated user scanner@contoso.com with device-credential"), "{raw}");
    let entry = last_signin(&b);
    assert_eq!((entry["mechanism"].as_str(), entry["credential"].as_str()), (Some("XOAUTH2"), Some("oauth")));
    // The token never reaches A's log.
    assert!(!a.logs().contains("eyJ"), "a token in A's log");
}

/// A client the provider does not know (revoked, or never registered) gets no token: A keeps
/// the message and says why; B never sees it.
#[test]
fn bridge_with_a_revoked_client_keeps_the_message_and_says_why() {
    let provider = start_provider();
    let b = server_b(&provider);
    let a = server_a(&provider, &b, "revoked-client", "old-secret");
    let out = a.cli_with_stdin(&["user", "set", "scanner@contoso.com", "--mfa", "disabled"], None);
    assert!(out.status.success());
    a.ok(&["org", "set", "Contoso", "--security-defaults", "off"]);
    let script = a.dir.path().join("device_client.py");
    std::fs::write(&script, SCRIPT).unwrap();
    let out = Command::new("python3")
        .arg(&script)
        .arg(a.submission.port().to_string())
        .arg(a.data_dir().join("tls/cert.pem"))
        .args(["scanner@contoso.com", common::PASSWORD, "127.0.0.1", "LOGIN"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let reply = loop {
        let list: serde_json::Value = serde_json::from_str(&a.ok(&["queue", "list", "--json"])).unwrap();
        let reply = list[0]["recipients"][0]["last_reply"].as_str().unwrap_or("").to_string();
        if reply.contains("invalid_client") || std::time::Instant::now() > deadline {
            break reply;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(reply.contains("refused client 'revoked-client'") && reply.contains("invalid_client"), "{reply}");
    assert!(b.queued().is_empty());
}

/// The scripted smarthost (support/xoauth2_smarthost.py): STARTTLS with a fresh certificate,
/// then XOAUTH2 only; `mode` "first" refuses the first token it sees, "all" every token.
struct Smarthost {
    child: Child,
    work: tempfile::TempDir,
    port: u16,
    ca: std::path::PathBuf,
}

impl Drop for Smarthost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Smarthost {
    fn start(mode: &str) -> Smarthost {
        let work = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let (ca, key) = (work.path().join("cert.pem"), work.path().join("key.pem"));
        std::fs::write(&ca, cert.cert.pem()).unwrap();
        std::fs::write(&key, cert.key_pair.serialize_pem()).unwrap();
        let child = Command::new("python3")
            .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/xoauth2_smarthost.py"))
            .arg(work.path())
            .arg(&ca)
            .arg(&key)
            .arg(mode)
            .stdout(Stdio::null())
            .spawn()
            .expect("python3");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(work.path().join("port")) {
                break p.trim().parse().unwrap();
            }
            assert!(std::time::Instant::now() < deadline, "the scripted smarthost did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        Smarthost { child, work, port, ca }
    }

    fn lines(&self, name: &str) -> Vec<String> {
        std::fs::read_to_string(self.work.path().join(name)).unwrap_or_default().lines().map(str::to_string).collect()
    }
}

/// Authrelay with a route to the scripted smarthost, XOAUTH2 with the provider's tokens for
/// relay-a; `first_retry_secs` as given.
fn relay_to(provider: &Provider, smarthost: &Smarthost, first_retry_secs: u64) -> TestServer {
    relay_with(provider, smarthost, first_retry_secs, "client_id = \"relay-a\"\nclient_secret = \"s3cret-relay-a\"")
}

/// [`relay_to`] with other client credentials (`credential`: the client_id and credential lines).
fn relay_with(provider: &Provider, smarthost: &Smarthost, first_retry_secs: u64, credential: &str) -> TestServer {
    let tables = format!(
        "[delivery]\nfirst_retry_secs = {first_retry_secs}\n\n[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\nhost = \"127.0.0.1\"\n\
         port = {port}\ntls = \"starttls\"\ntls_name = \"localhost\"\nca_file = \"{ca}\"\nuser = \"{MAILBOX}\"\nauth = \"xoauth2\"\n\
         token_endpoint = \"{issuer}/token\"\n{credential}\nscope = \"smtp.send\"\n\
         resource = \"{AUDIENCE}\"\n",
        port = smarthost.port,
        ca = smarthost.ca.display(),
        issuer = provider.issuer,
    );
    let server = TestServer::start_with_tables(common::Options::default(), &tables);
    server.open_contoso();
    server
}

/// Sends one message through `server` with Python's smtplib (STARTTLS, AUTH PLAIN as the
/// seeded scanner).
fn send_one(server: &TestServer, subject: &str) {
    let script = format!(
        "import smtplib, ssl\nctx = ssl.create_default_context(cafile={ca:?})\nctx.check_hostname = False\n\
         s = smtplib.SMTP('127.0.0.1', {port}, timeout=20)\ns.starttls(context=ctx)\n\
         s.login('scanner@contoso.com', {password:?})\n\
         s.sendmail('scanner@contoso.com', ['someone@far.example'], 'Subject: {subject}\\r\\n\\r\\nbody\\r\\n')\ns.quit()\n",
        ca = server.data_dir().join("tls/cert.pem").display().to_string(),
        port = server.submission.port(),
        password = common::PASSWORD,
    );
    let out = Command::new("python3").arg("-c").arg(&script).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn wait_for(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    f()
}

/// The smarthost refuses the first token it sees (535 after an error challenge): the relay
/// drops the cached token, fetches a new one and delivers in the same attempt; the provider saw
/// two token requests, the smarthost two different tokens.
#[test]
fn a_token_the_upstream_refuses_is_fetched_anew_once_and_the_message_delivered() {
    let log_dir = tempfile::tempdir().unwrap();
    let token_log = log_dir.path().join("token-requests");
    let provider = start_provider_logging(Some(&token_log));
    let smarthost = Smarthost::start("first");
    let relay = relay_to(&provider, &smarthost, 3600);
    send_one(&relay, "fresh token");
    assert!(wait_for(30, || !smarthost.lines("messages").is_empty()), "not delivered: {}", relay.logs());
    let tokens = smarthost.lines("tokens");
    assert_eq!(tokens.len(), 2, "{tokens:?}");
    let (first, second) = (tokens[0].split_once(' ').unwrap(), tokens[1].split_once(' ').unwrap());
    assert_eq!((first.1, second.1), ("refused", "accepted"));
    assert_ne!(first.0, second.0, "the refused token was not used again");
    let requests = std::fs::read_to_string(&token_log).unwrap_or_default().lines().count();
    assert_eq!(requests, 2, "token requests at the provider");
    let message: serde_json::Value = serde_json::from_str(&smarthost.lines("messages")[0]).unwrap();
    assert!(message["data"].as_str().unwrap().contains("Subject: fresh token"), "{message}");
    // Within the first attempt: a deferral would wait first_retry_secs (an hour).
    let queue_len = || {
        let list: serde_json::Value = serde_json::from_str(&relay.ok(&["queue", "list", "--json"])).unwrap();
        list.as_array().unwrap().len()
    };
    assert!(wait_for(10, || queue_len() == 0), "the message left the queue");
    assert!(!relay.logs().contains("eyJ"), "a token in the log");
}

/// A smarthost that refuses every token: one new token is fetched, then the message is
/// deferred (not bounced) with the upstream's reply in its state.
#[test]
fn a_smarthost_refusing_the_new_token_too_defers_with_its_reply() {
    let log_dir = tempfile::tempdir().unwrap();
    let token_log = log_dir.path().join("token-requests");
    let provider = start_provider_logging(Some(&token_log));
    let smarthost = Smarthost::start("all");
    let relay = relay_to(&provider, &smarthost, 3600);
    send_one(&relay, "refused twice");
    let list = || serde_json::from_str::<serde_json::Value>(&relay.ok(&["queue", "list", "--json"])).unwrap();
    assert!(wait_for(30, || list()[0]["state"] == "deferred"), "{}", relay.logs());
    let recipient = &list()[0]["recipients"][0];
    assert_eq!(recipient["attempts"], 1);
    let reply = recipient["last_reply"].as_str().unwrap();
    assert!(reply.contains("535 5.7.3 Authentication unsuccessful [scripted]"), "{reply}");
    assert!(reply.contains("\"status\": \"401\""), "the error challenge is kept: {reply}");
    assert_eq!(smarthost.lines("tokens").len(), 2, "{:?}", smarthost.lines("tokens"));
    assert_eq!(std::fs::read_to_string(&token_log).unwrap_or_default().lines().count(), 2);
    assert!(smarthost.lines("messages").is_empty());
}

/// `authrelay oauth keygen --out DIR` run on its own (before any route names the files), in
/// `lang`; its stdout.
fn keygen(out: &std::path::Path, extra: &[&str], lang: &str) -> String {
    let data = tempfile::tempdir().unwrap();
    let result = Command::new(common::BIN)
        .arg("--data-dir")
        .arg(data.path())
        .args(["oauth", "keygen", "--out"])
        .arg(out)
        .args(extra)
        .env("LANG", lang)
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES")
        .env("AUTHRELAY_I18N_STRICT", "1")
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    String::from_utf8(result.stdout).unwrap()
}

/// base64url SHA-256 of the first certificate's DER in `pem`, computed by Python's hashlib.
fn x5t_s256(pem: &std::path::Path) -> String {
    let script = "import ssl,hashlib,base64,sys\nder=ssl.PEM_cert_to_DER_cert(open(sys.argv[1]).read())\n\
                  print(base64.urlsafe_b64encode(hashlib.sha256(der).digest()).decode().rstrip('='))";
    let out = Command::new("python3").arg("-c").arg(script).arg(pem).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn certificate_route(dir: &std::path::Path) -> String {
    format!(
        "client_id = \"relay-cert\"\nclient_certificate_file = \"{}\"\nclient_key_file = \"{}\"",
        dir.join("client-cert.pem").display(),
        dir.join("client-key.pem").display()
    )
}

/// Certificate credentials (issue 18.2): keygen prints the certificate and its thumbprints;
/// oidc-provider, knowing the client only by that certificate (private_key_jwt, no secret),
/// issues a token for the relay's signed assertion, and the scripted smarthost accepts it for
/// XOAUTH2. The token is the provider's, for client relay-cert.
#[test]
fn a_certificate_assertion_gets_the_token_for_xoauth2() {
    let keys = tempfile::tempdir().unwrap();
    let dir = keys.path().join("oauth");
    let printed = keygen(&dir, &[], "en_US.UTF-8");
    let pem = std::fs::read_to_string(dir.join("client-cert.pem")).unwrap();
    assert!(printed.contains(pem.trim()), "the certificate to upload is printed: {printed}");
    let thumbprint = x5t_s256(&dir.join("client-cert.pem"));
    assert!(printed.contains(&thumbprint), "x5t#S256 {thumbprint} printed: {printed}");
    assert!(printed.contains("client_key_file = "), "{printed}");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(dir.join("client-key.pem")).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    // Every language has the texts (strict catalogue lookups panic on a missing one).
    for lang in ["ko_KR.UTF-8", "id_ID.UTF-8"] {
        let other = keys.path().join(lang);
        assert!(keygen(&other, &[], lang).contains("-----BEGIN CERTIFICATE-----"));
    }

    let log_dir = tempfile::tempdir().unwrap();
    let token_log = log_dir.path().join("token-requests");
    let cert_file = dir.join("client-cert.pem").display().to_string();
    let provider = start_provider_with(
        Some(&token_log),
        serde_json::json!([{ "client_id": "relay-cert", "cert_files": [cert_file], "email": MAILBOX, "ttl": 300 }]),
    );
    let smarthost = Smarthost::start("none");
    let relay = relay_with(&provider, &smarthost, 3600, &certificate_route(&dir));
    send_one(&relay, "certificate credentials");
    assert!(wait_for(30, || !smarthost.lines("messages").is_empty()), "not delivered: {}", relay.logs());
    let tokens = smarthost.lines("tokens");
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    let token = tokens[0].split_once(' ').unwrap().0;
    let payload = token.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap(),
    )
    .unwrap();
    assert_eq!(claims["client_id"], "relay-cert", "{claims}");
    assert_eq!(claims["iss"].as_str(), Some(provider.issuer.as_str()));
    assert_eq!(std::fs::read_to_string(&token_log).unwrap_or_default().lines().count(), 1);
    assert!(!relay.logs().contains("eyJ"), "no token or assertion in the log");
}

/// The certificate removed from the app registration (the provider knows the client by another
/// key only): no token; the message is deferred, not bounced, with the provider's refusal as
/// the reason, and the smarthost sees nothing.
#[test]
fn a_removed_certificate_is_refused_and_the_message_deferred_with_the_reason() {
    let keys = tempfile::tempdir().unwrap();
    let (used, registered) = (keys.path().join("used"), keys.path().join("registered"));
    keygen(&used, &[], "en_US.UTF-8");
    keygen(&registered, &["--json"], "en_US.UTF-8");
    let registered_cert = registered.join("client-cert.pem").display().to_string();
    let provider = start_provider_with(
        None,
        serde_json::json!([{ "client_id": "relay-cert", "cert_files": [registered_cert], "email": MAILBOX, "ttl": 300 }]),
    );
    let smarthost = Smarthost::start("none");
    let relay = relay_with(&provider, &smarthost, 3600, &certificate_route(&used));
    send_one(&relay, "removed certificate");
    let list = || serde_json::from_str::<serde_json::Value>(&relay.ok(&["queue", "list", "--json"])).unwrap();
    assert!(wait_for(30, || list()[0]["state"] == "deferred"), "{}", relay.logs());
    let recipient = &list()[0]["recipients"][0];
    let reply = recipient["last_reply"].as_str().unwrap();
    assert!(reply.contains("refused client 'relay-cert'") && reply.contains("invalid_client"), "{reply}");
    assert_eq!(recipient["attempts"], 1);
    assert!(smarthost.lines("tokens").is_empty() && smarthost.lines("messages").is_empty());
}

/// The scripted Google token endpoint (support/google_token_endpoint.py) for a service account
/// whose certificate is `cert`, delegated for `subject` with the Gmail scope only.
struct GoogleEndpoint {
    child: Child,
    work: tempfile::TempDir,
    url: String,
}

impl Drop for GoogleEndpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SERVICE_ACCOUNT: &str = "authrelay@contoso-mail.iam.gserviceaccount.com";
const GMAIL_SCOPE: &str = "https://mail.google.com/";

impl GoogleEndpoint {
    fn start(cert: &std::path::Path, subject: &str) -> GoogleEndpoint {
        let work = tempfile::tempdir().unwrap();
        let child = Command::new("python3")
            .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/google_token_endpoint.py"))
            .arg(work.path())
            .arg(cert)
            .args([SERVICE_ACCOUNT, "sa-key-1", subject, GMAIL_SCOPE])
            .stdout(Stdio::null())
            .spawn()
            .expect("python3 (with the cryptography module)");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let url = loop {
            if let Ok(u) = std::fs::read_to_string(work.path().join("url")) {
                break u.trim().to_string();
            }
            assert!(std::time::Instant::now() < deadline, "the scripted Google endpoint did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        GoogleEndpoint { child, work, url }
    }

    fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.work.path().join("requests"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// A Google service-account key file (the JSON the Cloud console downloads) holding the key
/// keygen made in `keys`.
fn service_account_file(keys: &std::path::Path) -> std::path::PathBuf {
    let json = serde_json::json!({
        "type": "service_account",
        "project_id": "contoso-mail",
        "private_key_id": "sa-key-1",
        "private_key": std::fs::read_to_string(keys.join("client-key.pem")).unwrap(),
        "client_email": SERVICE_ACCOUNT,
        "client_id": "104857600000000000000",
        "token_uri": "https://oauth2.googleapis.com/token",
    });
    let path = keys.join("service-account.json");
    std::fs::write(&path, json.to_string()).unwrap();
    path
}

/// Authrelay with `preset = "google"` (token endpoint pointed at the scripted one, the SMTP
/// host at the scripted smarthost), acting for `user`; `extra` route lines.
fn relay_google(
    endpoint: &GoogleEndpoint,
    smarthost: &Smarthost,
    key_file: &std::path::Path,
    user: &str,
    extra: &str,
) -> TestServer {
    let tables = format!(
        "[delivery]\nfirst_retry_secs = 3600\n\n[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\npreset = \"google\"\n\
         host = \"127.0.0.1\"\nport = {port}\ntls = \"starttls\"\ntls_name = \"localhost\"\nca_file = \"{ca}\"\nuser = \"{user}\"\n\
         service_account_file = \"{key}\"\ntoken_endpoint = \"{url}\"\n{extra}\n",
        port = smarthost.port,
        ca = smarthost.ca.display(),
        key = key_file.display(),
        url = endpoint.url,
    );
    let server = TestServer::start_with_tables(common::Options::default(), &tables);
    server.open_contoso();
    server
}

/// Google (issue 18.3): the relay signs a service-account assertion (RS256 with the key file's
/// key, kid, iss = the service account, sub = the mailbox, scope, aud = the token endpoint);
/// the scripted endpoint verifies all of it with the service account's certificate before it
/// issues a token, which the smarthost then sees in XOAUTH2.
#[test]
fn a_google_service_account_assertion_gets_the_token_for_xoauth2() {
    let keys = tempfile::tempdir().unwrap();
    keygen(keys.path(), &["--json"], "en_US.UTF-8");
    let key_file = service_account_file(keys.path());
    let endpoint = GoogleEndpoint::start(&keys.path().join("client-cert.pem"), MAILBOX);
    let smarthost = Smarthost::start("none");
    let relay = relay_google(&endpoint, &smarthost, &key_file, MAILBOX, "");
    send_one(&relay, "service account");
    assert!(wait_for(30, || !smarthost.lines("messages").is_empty()), "not delivered: {}", relay.logs());
    let requests = endpoint.requests();
    assert_eq!(requests.len(), 1, "{requests:?}");
    assert_eq!(requests[0]["status"], 200, "{requests:?}");
    assert_eq!(requests[0]["form_keys"], serde_json::json!(["assertion", "grant_type"]), "no client secret sent");
    let claims = &requests[0]["claims"];
    assert_eq!((claims["sub"].as_str(), claims["scope"].as_str()), (Some(MAILBOX), Some(GMAIL_SCOPE)));
    let tokens = smarthost.lines("tokens");
    assert!(tokens.len() == 1 && tokens[0].starts_with("ya29.") && tokens[0].ends_with(" accepted"), "{tokens:?}");
    assert!(!relay.logs().contains("ya29.") && !relay.logs().contains("eyJ"), "no token or assertion in the log");
}

/// The delegation covers one mailbox and the Gmail scope: an assertion for another mailbox, or
/// with another scope, is refused by the endpoint; the message is deferred with Google's answer
/// and the smarthost sees nothing.
#[test]
fn a_service_account_assertion_for_another_mailbox_or_scope_is_refused() {
    let keys = tempfile::tempdir().unwrap();
    keygen(keys.path(), &["--json"], "en_US.UTF-8");
    let key_file = service_account_file(keys.path());
    let endpoint = GoogleEndpoint::start(&keys.path().join("client-cert.pem"), MAILBOX);
    let smarthost = Smarthost::start("none");
    let other_mailbox = relay_google(&endpoint, &smarthost, &key_file, "scanner@contoso.com", "");
    let other_scope = relay_google(
        &endpoint,
        &smarthost,
        &key_file,
        MAILBOX,
        "scope = \"https://www.googleapis.com/auth/gmail.send\"",
    );
    for (relay, expected) in [
        (&other_mailbox, "invalid_grant Invalid email or User ID"),
        (&other_scope, "unauthorized_client Client is unauthorized"),
    ] {
        send_one(relay, "refused");
        let list = || serde_json::from_str::<serde_json::Value>(&relay.ok(&["queue", "list", "--json"])).unwrap();
        assert!(wait_for(30, || list()[0]["state"] == "deferred"), "{}", relay.logs());
        let reply = list()[0]["recipients"][0]["last_reply"].as_str().unwrap().to_string();
        assert!(reply.contains(&format!("refused client '{SERVICE_ACCOUNT}'")) && reply.contains(expected), "{reply}");
    }
    let verdicts: Vec<_> = endpoint.requests().iter().map(|r| r["status"].as_i64().unwrap()).collect();
    assert_eq!(verdicts, [400, 400]);
    assert!(smarthost.lines("tokens").is_empty() && smarthost.lines("messages").is_empty());
}

/// The scripted Graph endpoint (support/graph_endpoint.py): HTTPS with a fresh certificate,
/// answering from `responses`, then 202.
struct GraphEndpoint {
    child: Child,
    work: tempfile::TempDir,
    port: u16,
    ca: std::path::PathBuf,
}

impl Drop for GraphEndpoint {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl GraphEndpoint {
    fn start(responses: serde_json::Value) -> GraphEndpoint {
        let work = tempfile::tempdir().unwrap();
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        let (ca, key) = (work.path().join("cert.pem"), work.path().join("key.pem"));
        std::fs::write(&ca, cert.cert.pem()).unwrap();
        std::fs::write(&key, cert.key_pair.serialize_pem()).unwrap();
        let child = Command::new("python3")
            .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/graph_endpoint.py"))
            .arg(work.path())
            .arg(&ca)
            .arg(&key)
            .arg(responses.to_string())
            .stdout(Stdio::null())
            .spawn()
            .expect("python3");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(work.path().join("port")) {
                break p.trim().parse().unwrap();
            }
            assert!(std::time::Instant::now() < deadline, "the scripted Graph endpoint did not start");
            std::thread::sleep(Duration::from_millis(50));
        };
        GraphEndpoint { child, work, port, ca }
    }

    fn requests(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.work.path().join("requests"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn body(request: &serde_json::Value) -> Vec<u8> {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(request["body"].as_str().unwrap()).unwrap()
    }
}

/// Authrelay with a Graph route to `graph`, its token from the provider by certificate
/// (client relay-cert); `extra` route lines.
fn relay_graph(provider: &Provider, graph: &GraphEndpoint, keys: &std::path::Path, extra: &str) -> TestServer {
    let tables = format!(
        "[delivery]\nfirst_retry_secs = 1\nscan_interval_ms = 100\n\n[[routes]]\ndomains = [\"*\"]\nkind = \"graph\"\n\
         graph_url = \"https://127.0.0.1:{port}/v1.0\"\nca_file = \"{ca}\"\nuser = \"{MAILBOX}\"\n\
         token_endpoint = \"{issuer}/token\"\n{credential}\nscope = \"smtp.send\"\nresource = \"{AUDIENCE}\"\n{extra}\n",
        port = graph.port,
        ca = graph.ca.display(),
        issuer = provider.issuer,
        credential = certificate_route(keys),
    );
    let server = TestServer::start_with_tables(common::Options::default(), &tables);
    server.open_contoso();
    server
}

/// Submits `raw` from scanner@contoso.com to `to` through `server` (smtplib, STARTTLS, PLAIN).
fn submit(server: &TestServer, to: &str, raw: &[u8]) {
    let raw_path = server.dir.path().join(format!("message-{}.eml", common::now_millis()));
    std::fs::write(&raw_path, raw).unwrap();
    let script = format!(
        "import smtplib, ssl\nctx = ssl.create_default_context(cafile={ca:?})\nctx.check_hostname = False\n\
         s = smtplib.SMTP('127.0.0.1', {port}, timeout=60)\ns.starttls(context=ctx)\n\
         s.login('scanner@contoso.com', {password:?})\n\
         s.sendmail('scanner@contoso.com', [{to:?}], open({raw:?}, 'rb').read())\ns.quit()\n",
        ca = server.data_dir().join("tls/cert.pem").display().to_string(),
        port = server.submission.port(),
        password = common::PASSWORD,
        raw = raw_path.display().to_string(),
    );
    let out = Command::new("python3").arg("-c").arg(&script).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

fn queue_list(server: &TestServer) -> serde_json::Value {
    serde_json::from_str(&server.ok(&["queue", "list", "--json"])).unwrap()
}

/// The bounces in the sender's (local) mailbox, as text.
fn bounces(server: &TestServer) -> Vec<String> {
    let new = server.data_dir().join("mailboxes/scanner@contoso.com/new");
    let Ok(entries) = std::fs::read_dir(new) else { return vec![] };
    entries.flatten().map(|e| String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned()).collect()
}

fn graph_provider(keys: &std::path::Path) -> Provider {
    keygen(keys, &["--json"], "en_US.UTF-8");
    let cert = keys.join("client-cert.pem").display().to_string();
    start_provider_with(
        None,
        serde_json::json!([{ "client_id": "relay-cert", "cert_files": [cert], "email": MAILBOX, "ttl": 300 }]),
    )
}

/// The Graph route (issue 18.1): sendMail at /users/{mailbox}/sendMail with the queued MIME,
/// byte for byte, base64 as text/plain, and the provider's token (certificate credentials).
/// Graph's 429 with Retry-After: 3 defers the message, and nothing is sent to Graph again
/// before those 3 seconds have passed although the retry schedule comes due after 1.
#[test]
fn graph_sends_the_mime_byte_identical_and_waits_out_retry_after() {
    let keys = tempfile::tempdir().unwrap();
    let provider = graph_provider(keys.path());
    let graph = GraphEndpoint::start(serde_json::json!([
        { "status": 429, "headers": { "Retry-After": "3" },
          "body": { "error": { "code": "ApplicationThrottled", "message": "Application is over its MailboxConcurrency limit." } } }
    ]));
    let relay = relay_graph(&provider, &graph, keys.path(), "");
    let raw = b"From: Scanner <scanner@contoso.com>\r\nTo: someone@far.example\r\nSubject: graph\r\nMIME-Version: 1.0\r\n\
                Content-Type: text/plain; charset=utf-8\r\n\r\n.a line that starts with a dot\r\n\xed\x95\x9c trailing bytes \r\n";
    submit(&relay, "someone@far.example", raw);
    assert!(wait_for(30, || graph.requests().len() == 1), "{}", relay.logs());
    // Deferred with Graph's answer; the queued bytes are what went to Graph.
    assert!(wait_for(10, || queue_list(&relay)[0]["state"] == "deferred"), "{}", relay.logs());
    let reply = queue_list(&relay)[0]["recipients"][0]["last_reply"].as_str().unwrap().to_string();
    assert!(
        reply.contains("HTTP 429 ApplicationThrottled: Application is over its MailboxConcurrency limit."),
        "{reply}"
    );
    assert!(reply.contains("retry after 3 s"), "{reply}");
    let queued = relay.queued();
    assert_eq!(queued.len(), 1);
    let spooled = queued[0].1.clone();
    assert!(spooled.ends_with(raw), "the relay only adds its trace header");

    assert!(wait_for(30, || graph.requests().len() == 2), "{}", relay.logs());
    assert!(wait_for(10, || queue_list(&relay).as_array().unwrap().is_empty()), "delivered: {}", relay.logs());
    let requests = graph.requests();
    let gap = requests[1]["t"].as_f64().unwrap() - requests[0]["t"].as_f64().unwrap();
    assert!(gap >= 3.0, "Retry-After: 3 respected, the second request came after {gap:.2} s");
    for r in &requests {
        assert_eq!(r["path"], format!("/v1.0/users/{MAILBOX}/sendMail"));
        assert_eq!(r["content_type"], "text/plain");
        assert!(r["authorization"].as_str().unwrap().starts_with("Bearer eyJ"), "{r}");
        use base64::Engine;
        let mime = base64::engine::general_purpose::STANDARD.decode(GraphEndpoint::body(r)).unwrap();
        assert_eq!(mime, spooled, "the MIME goes to Graph byte for byte");
    }
    assert!(!relay.logs().contains("eyJ"), "no token in the log");
}

/// Graph's client errors bounce with its error text (here for a route that keeps no Sent Items
/// copy, so the request is Graph's JSON form with saveToSentItems false); a message too large
/// for Graph is bounced before any request, saying why.
#[test]
fn graph_client_errors_and_oversized_messages_bounce_with_the_reason() {
    let keys = tempfile::tempdir().unwrap();
    let provider = graph_provider(keys.path());
    let graph = GraphEndpoint::start(serde_json::json!([
        { "status": 400, "body": { "error": { "code": "ErrorInvalidRecipients", "message": "At least one recipient is not valid., Recipient '\"bad\"' is not resolved." } } }
    ]));
    let relay = relay_graph(&provider, &graph, keys.path(), "save_to_sent_items = false");
    let raw = b"From: scanner@contoso.com\r\nTo: someone@far.example\r\nSubject: no copy\r\n\r\nbody\r\n";
    submit(&relay, "someone@far.example", raw);
    assert!(wait_for(30, || bounces(&relay).len() == 1), "{}", relay.logs());
    let bounce = &bounces(&relay)[0];
    assert!(bounce.contains("ErrorInvalidRecipients: At least one recipient is not valid."), "{bounce}");
    assert!(bounce.contains("Status: 5.6.0"), "{bounce}");
    assert!(
        bounce.contains("Microsoft Graph refused this message; its error code and text are quoted above."),
        "{bounce}"
    );
    let request = &graph.requests()[0];
    assert_eq!(request["content_type"], "application/json");
    let json: serde_json::Value = serde_json::from_slice(&GraphEndpoint::body(request)).unwrap();
    assert_eq!(json["saveToSentItems"], false);
    assert_eq!(json["message"]["subject"], "no copy");
    assert_eq!(json["message"]["toRecipients"][0]["emailAddress"]["address"], "someone@far.example");

    // About 3.2 MB: 4.3 MB base64, over Graph's 4 MB.
    let mut big = b"From: scanner@contoso.com\r\nTo: someone@far.example\r\nSubject: big\r\n\r\n".to_vec();
    for _ in 0..42_000 {
        big.extend_from_slice(b"0123456789012345678901234567890123456789012345678901234567890123456789012345\r\n");
    }
    submit(&relay, "someone@far.example", &big);
    assert!(wait_for(30, || bounces(&relay).len() == 2), "{}", relay.logs());
    let all = bounces(&relay);
    let bounce = all.iter().find(|b| b.contains("Subject: big") || b.contains("above the 4 MB")).unwrap();
    assert!(
        bounce.contains("message too large for Microsoft Graph") && bounce.contains("4 MB sendMail limit"),
        "{bounce}"
    );
    assert!(bounce.contains("Send it again smaller, or ask the administrator for an SMTP route."), "{bounce}");
    assert_eq!(graph.requests().len(), 1, "nothing sent to Graph for the oversized message");
}

/// Sender mapping (issue 18.4): the relay identity may send only as relay@contoso.com; a
/// device sending as scanner@contoso.com reaches the smarthost with MAIL FROM and From mapped
/// to the identity, the original in Reply-To and X-Authrelay-Original-From, and a DKIM
/// signature over the mapped From that verifies (dkimpy). With scanner@contoso.com in send_as,
/// the same message passes untouched.
#[test]
fn a_device_address_the_upstream_refuses_is_mapped_to_the_relay_identity() {
    let provider = start_provider();
    let smarthost = Smarthost::start("none");
    let secret = "client_id = \"relay-a\"\nclient_secret = \"s3cret-relay-a\"";
    let mapped = relay_with(&provider, &smarthost, 3600, &format!("{secret}\nrewrite_sender = \"both\""));
    let generated: serde_json::Value =
        serde_json::from_str(&mapped.ok(&["dkim", "generate", "contoso.com", "--selector", "t1", "--json"])).unwrap();
    let raw = b"From: \"Floor 2 Scanner\" <scanner@contoso.com>\r\nTo: someone@far.example\r\nSubject: mapped\r\n\r\nscan\r\n";
    submit(&mapped, "someone@far.example", raw);
    assert!(wait_for(30, || smarthost.lines("messages").len() == 1), "{}", mapped.logs());
    let got: serde_json::Value = serde_json::from_str(&smarthost.lines("messages")[0]).unwrap();
    assert_eq!(got["mail_from"], MAILBOX, "the envelope sender is the identity");
    let data = got["data"].as_str().unwrap();
    assert!(data.contains("\r\nFrom: \"Floor 2 Scanner\" <relay@contoso.com>\r\n"), "{data}");
    assert!(data.contains("Reply-To: \"Floor 2 Scanner\" <scanner@contoso.com>\r\n"), "{data}");
    assert!(data.contains("X-Authrelay-Original-From: \"Floor 2 Scanner\" <scanner@contoso.com>\r\n"), "{data}");
    assert!(data.starts_with("DKIM-Signature:"), "{data}");
    let file = mapped.dir.path().join("mapped.eml");
    std::fs::write(&file, data.as_bytes()).unwrap();
    let verify = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/dkim_verify.py");
    let record = generated["record_value"].as_str().unwrap();
    let out = Command::new("python3").arg(&verify).arg(&file).arg(record).output().unwrap();
    assert!(out.status.success(), "the signature covers the mapped From: {}", String::from_utf8_lossy(&out.stdout));
    // The signature would not verify over the original From.
    std::fs::write(&file, data.replace("<relay@contoso.com>", "<scanner@contoso.com>")).unwrap();
    assert!(!Command::new("python3").arg(&verify).arg(&file).arg(record).output().unwrap().status.success());

    let permitted = relay_with(
        &provider,
        &smarthost,
        3600,
        &format!("{secret}\nrewrite_sender = \"both\"\nsend_as = [\"scanner@contoso.com\"]"),
    );
    submit(&permitted, "someone@far.example", raw);
    assert!(wait_for(30, || smarthost.lines("messages").len() == 2), "{}", permitted.logs());
    let got: serde_json::Value = serde_json::from_str(&smarthost.lines("messages")[1]).unwrap();
    assert_eq!(got["mail_from"], "scanner@contoso.com");
    let data = got["data"].as_str().unwrap();
    assert!(data.ends_with(std::str::from_utf8(raw).unwrap()), "untouched: {data}");
    assert!(!data.contains("X-Authrelay-Original-From"), "{data}");
}

/// Graph refuses the first token (401): the relay drops it, fetches a new one and repeats the
/// request once, in the same attempt (issue 18.6 for Graph); the message is delivered and
/// each request carried a different token.
#[test]
fn graph_refusing_a_token_gets_a_new_one_within_the_attempt() {
    let keys = tempfile::tempdir().unwrap();
    let provider = graph_provider(keys.path());
    let graph = GraphEndpoint::start(serde_json::json!([
        { "status": 401, "body": { "error": { "code": "InvalidAuthenticationToken", "message": "Access token validation failure." } } }
    ]));
    let relay = relay_graph(&provider, &graph, keys.path(), "");
    submit(
        &relay,
        "someone@far.example",
        b"From: scanner@contoso.com\r\nTo: someone@far.example\r\nSubject: 401\r\n\r\nx\r\n",
    );
    assert!(wait_for(30, || graph.requests().len() == 2), "{}", relay.logs());
    assert!(wait_for(10, || queue_list(&relay).as_array().unwrap().is_empty()), "{}", relay.logs());
    let requests = graph.requests();
    assert_ne!(requests[0]["authorization"], requests[1]["authorization"], "a new token for the repeat");
    let gap = requests[1]["t"].as_f64().unwrap() - requests[0]["t"].as_f64().unwrap();
    assert!(gap < 1.0, "repeated at once, not on the retry schedule ({gap:.2} s)");
}
