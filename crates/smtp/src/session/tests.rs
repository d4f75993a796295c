//! The session driven in-process: a real [`Session`] over `tokio::io::duplex`, with a real
//! in-memory SQLite directory, a real spool in a temporary directory and real rustls for
//! STARTTLS and implicit TLS. Each test walks one stage's transitions and asserts every reply
//! with [`Client::expect`]; `every_reply_the_session_can_send_is_asserted` checks that each
//! reply the session code can produce is asserted here at least once.
//!
//! The golden wire dialogs against the binary stay in crates/authrelay/tests/dialogs.rs.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use authrelay_core::{
    DeviceCredentialsPolicy, MailboxSmtpAuth, MfaState, OrgSmtpAuth, ReplyId, SecurityDefaults, SignIn,
};
use authrelay_directory::device::NewDeviceCredential;
use authrelay_directory::sqlite::SqliteDirectory;
use authrelay_directory::{secrets, Directory, NewUser, OrgChange, OrgLimits, UserChange};
use authrelay_spool::Spool;
use base64::Engine;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::task::JoinHandle;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use super::{Session, Shared};
use crate::auth::Authenticator;
use crate::config::{ListenerKind, SessionConfig};
use crate::connector::Connectors;
use crate::ledger::Ledger;
use crate::protection::ProtectionConfig;
use crate::stream::Stream;

const HOST: &str = "mx.authrelay.test";
const USER: &str = "scanner@contoso.com";
const PASSWORD: &str = "Sup3r-Secret-Pass!";
/// The directory's clock (unix seconds) for sign-ins, lockout and quotas.
const T0: i64 = 1_800_000_000;
/// Every wait for the session is bounded by this.
const WAIT: Duration = Duration::from_secs(10);
const MESSAGE: &str = "From: scanner@contoso.com\r\nSubject: scan\r\n\r\nPage 1\r\n.\r\n";

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn plain(user: &str, secret: &str) -> String {
    format!("AUTH PLAIN {}", b64(&format!("\0{user}\0{secret}")))
}

/// What a test changes from the defaults before the world starts.
struct Setup {
    config: SessionConfig,
    protection: ProtectionConfig,
    oauth: bool,
    connectors: Vec<crate::connector::Connector>,
    /// A spool without the journal (`Spool::attach`), whose writes fail once its directory is gone.
    attached_spool: bool,
}

impl Default for Setup {
    fn default() -> Self {
        let config = SessionConfig {
            hostname: HOST.into(),
            command_timeout: WAIT,
            data_timeout: WAIT,
            auth_failure_delay: Duration::ZERO,
            ..SessionConfig::default()
        };
        let protection = ProtectionConfig {
            address_failure_delay_step: Duration::ZERO,
            address_failure_delay_max: Duration::ZERO,
            ..ProtectionConfig::default()
        };
        Setup { config, protection, oauth: false, connectors: vec![], attached_spool: false }
    }
}

/// One server's worth of shared state, and the client side's TLS.
struct World {
    directory: Arc<SqliteDirectory>,
    shared: Arc<Shared>,
    spool: Spool,
    spool_dir: tempfile::TempDir,
    acceptor: TlsAcceptor,
    connector: TlsConnector,
}

/// A rustls pair for "localhost": the server's acceptor and a client that trusts it.
fn tls_pair() -> (TlsAcceptor, TlsConnector) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (TlsAcceptor::from(Arc::new(server)), TlsConnector::from(Arc::new(client)))
}

impl World {
    /// Contoso (contoso.com, fabrikam.com) with scanner@contoso.com, who may send: security
    /// defaults off, Authenticated SMTP enabled on the mailbox (the seed's three fixes).
    async fn open() -> World {
        Self::open_with(Setup::default()).await
    }

    async fn open_with(setup: Setup) -> World {
        let world = Self::seeded(setup).await;
        world.org(OrgChange { security_defaults: Some(SecurityDefaults::Off), ..Default::default() }).await;
        world.user(UserChange { smtp_auth: Some(MailboxSmtpAuth::Enabled), ..Default::default() }).await;
        world
    }

    /// Contoso as created: security defaults on, Authenticated SMTP left to the organisation (off).
    async fn seeded(setup: Setup) -> World {
        let directory = Arc::new(SqliteDirectory::open_in_memory().await.unwrap());
        directory.create_org("Contoso", &["contoso.com".into(), "fabrikam.com".into()]).await.unwrap();
        let new = NewUser {
            address: USER.into(),
            display_name: "Scanner".into(),
            password_hash: secrets::hash_secret(PASSWORD),
        };
        directory.create_user(new).await.unwrap();
        let spool_dir = tempfile::tempdir().unwrap();
        let spool_root = spool_dir.path().join("spool");
        let spool = if setup.attached_spool { Spool::attach(&spool_root) } else { Spool::open(&spool_root) }.unwrap();
        let oauth = setup.oauth.then(|| {
            let issuer = authrelay_oauth::IssuerConfig {
                issuer: "https://login.authrelay.test/contoso/v2.0".into(),
                audience: "api://authrelay".into(),
                jwks_uri: None,
                user_claim: "email".into(),
                leeway_secs: 60,
                ca_file: None,
            };
            Arc::new(authrelay_oauth::Validator::new(issuer).unwrap())
        });
        let clock: Arc<dyn authrelay_core::Clock> = Arc::new(authrelay_core::ManualClock::at_secs(T0));
        let auth = Authenticator::with_protection(directory.clone(), setup.protection)
            .with_oauth(oauth)
            .with_clock(clock.clone());
        let shared = Arc::new(Shared {
            config: crate::session::Live::new(setup.config),
            auth,
            ledger: Ledger::new(directory.clone(), clock),
            connectors: Arc::new(crate::session::Live::new(Connectors::new(setup.connectors))),
            spool: spool.clone().into(),
            shutdown: tokio_util::sync::CancellationToken::new(),
        });
        let (acceptor, connector) = tls_pair();
        World { directory, shared, spool, spool_dir, acceptor, connector }
    }

    async fn org(&self, change: OrgChange) {
        self.directory.update_org("Contoso", change).await.unwrap();
    }

    async fn user(&self, change: UserChange) {
        self.directory.update_user(USER, change).await.unwrap();
    }

    /// A session on the STARTTLS port from 127.0.0.1, greeted.
    async fn connect(&self) -> Client {
        self.connect_from(ListenerKind::Submission, "127.0.0.1:40000").await
    }

    /// A session on the STARTTLS port, upgraded and greeted again (EHLO after TLS).
    async fn connect_tls(&self) -> Client {
        let mut c = self.connect().await;
        c.send("EHLO printer.contoso.com").await;
        c.expect(ReplyId::Hello).await;
        c.starttls().await;
        c.send("EHLO printer.contoso.com").await;
        c.expect(ReplyId::Hello).await;
        c
    }

    /// [`World::connect_tls`], signed in as [`USER`].
    async fn signed_in(&self) -> Client {
        let mut c = self.connect_tls().await;
        c.send(&plain(USER, PASSWORD)).await;
        c.expect(ReplyId::AuthOk).await;
        c
    }

    async fn connect_from(&self, kind: ListenerKind, peer: &str) -> Client {
        let peer: SocketAddr = peer.parse().unwrap();
        let (client, server) = tokio::io::duplex(64 * 1024);
        let (shared, acceptor) = (self.shared.clone(), self.acceptor.clone());
        let session = tokio::spawn(async move {
            let stream = match kind {
                ListenerKind::Submission | ListenerKind::Plain => Stream::Plain(server),
                ListenerKind::Submissions => Stream::Tls(Box::new(acceptor.accept(server).await.unwrap())),
            };
            Session::new(shared, kind, peer, Some(acceptor)).run(stream).await;
        });
        let wire = match kind {
            ListenerKind::Submission | ListenerKind::Plain => Wire::Plain(client),
            ListenerKind::Submissions => Wire::Tls(Box::new(self.tls_handshake(client).await)),
        };
        let mut c = Client { wire, input: vec![], session, connector: self.connector.clone() };
        let greeting = c.expect(ReplyId::Greeting).await;
        assert_eq!(greeting, [format!("220 {HOST} authrelay ESMTP ready")]);
        c
    }

    async fn tls_handshake(&self, plain: DuplexStream) -> tokio_rustls::client::TlsStream<DuplexStream> {
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        tokio::time::timeout(WAIT, self.connector.connect(name, plain)).await.expect("TLS handshake in time").unwrap()
    }

    /// Every queued message: (envelope, stored bytes).
    fn queued(&self) -> Vec<(authrelay_spool::Envelope, String)> {
        let list = self.spool.list().unwrap();
        list.iter()
            .map(|m| {
                let (envelope, bytes) = self.spool.read(&m.id).unwrap();
                (envelope, String::from_utf8(bytes).unwrap())
            })
            .collect()
    }
}

enum Wire {
    Plain(DuplexStream),
    Tls(Box<tokio_rustls::client::TlsStream<DuplexStream>>),
    Upgrading,
}

impl Wire {
    fn io(&mut self) -> &mut (dyn Io + Send) {
        match self {
            Wire::Plain(s) => s,
            Wire::Tls(s) => s.as_mut(),
            Wire::Upgrading => unreachable!(),
        }
    }
}

trait Io: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Io for T {}

/// The client side of one session.
struct Client {
    wire: Wire,
    input: Vec<u8>,
    session: JoinHandle<()>,
    connector: TlsConnector,
}

impl Client {
    /// Sends one command line (CRLF added).
    async fn send(&mut self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
    }

    async fn send_raw(&mut self, bytes: &[u8]) {
        let io = self.wire.io();
        io.write_all(bytes).await.unwrap();
        io.flush().await.unwrap();
    }

    /// One line from the server without CRLF; `None` when the session closed the connection.
    async fn line(&mut self) -> Option<String> {
        loop {
            if let Some(pos) = self.input.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.input.drain(..=pos).collect();
                let line = String::from_utf8(line).unwrap();
                return Some(line.trim_end_matches(['\r', '\n']).to_string());
            }
            let mut buf = [0u8; 4096];
            let n = tokio::time::timeout(WAIT, self.wire.io().read(&mut buf))
                .await
                .expect("the session answers in time")
                .unwrap_or(0);
            if n == 0 {
                assert!(self.input.is_empty(), "the session closed mid-line: {:?}", self.input);
                return None;
            }
            self.input.extend_from_slice(&buf[..n]);
        }
    }

    /// One whole reply (all its lines).
    async fn reply(&mut self) -> Vec<String> {
        let mut lines = vec![];
        loop {
            let line = self.line().await.unwrap_or_else(|| panic!("connection closed; got so far: {lines:?}"));
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return lines;
            }
        }
    }

    /// Reads one reply and checks it is `id` from the catalogue: code, enhanced status code and
    /// text (a `{}` of the template matches any text). Returns its lines.
    async fn expect(&mut self, id: ReplyId) -> Vec<String> {
        let lines = self.reply().await;
        let (code, enhanced, template) = id.row();
        let first = &lines[0];
        let prefix = if enhanced.is_empty() { String::new() } else { format!("{enhanced} ") };
        let text = first.get(4..).and_then(|t| t.strip_prefix(prefix.as_str()));
        let ok = first.starts_with(&code.to_string()) && text.is_some_and(|t| matches_template(template, t));
        assert!(ok, "expected {id:?} ({code} {enhanced} {template}), got {lines:?}");
        lines
    }

    /// The session closed the connection (after its last reply).
    async fn expect_closed(&mut self) {
        assert_eq!(self.line().await, None, "the session should have closed");
        tokio::time::timeout(WAIT, &mut self.session).await.expect("the session ends").unwrap();
    }

    /// STARTTLS and the handshake.
    async fn starttls(&mut self) {
        self.send("STARTTLS").await;
        self.expect(ReplyId::StartTlsReady).await;
        assert!(self.input.is_empty(), "nothing after 220 before TLS");
        let Wire::Plain(plain) = std::mem::replace(&mut self.wire, Wire::Upgrading) else { panic!("already TLS") };
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let tls = tokio::time::timeout(WAIT, self.connector.connect(name, plain)).await.unwrap().unwrap();
        self.wire = Wire::Tls(Box::new(tls));
    }

    /// MAIL, RCPT and DATA of one message from [`USER`]; returns the queue id.
    async fn send_message(&mut self, to: &str, message: &str) -> String {
        self.send(&format!("MAIL FROM:<{USER}>")).await;
        self.expect(ReplyId::SenderOk).await;
        self.send(&format!("RCPT TO:<{to}>")).await;
        self.expect(ReplyId::RecipientOk).await;
        self.send("DATA").await;
        self.expect(ReplyId::StartData).await;
        self.send_raw(message.as_bytes()).await;
        let queued = self.expect(ReplyId::Queued).await;
        queued[0].rsplit(' ').next().unwrap().to_string()
    }

    /// Opens a transaction up to DATA's 354 with one outside recipient.
    async fn open_data(&mut self) {
        self.send(&format!("MAIL FROM:<{USER}>")).await;
        self.expect(ReplyId::SenderOk).await;
        self.send("RCPT TO:<someone@example.net>").await;
        self.expect(ReplyId::RecipientOk).await;
        self.send("DATA").await;
        self.expect(ReplyId::StartData).await;
    }
}

/// `{}` matches any run of characters; the rest literally.
fn matches_template(template: &str, text: &str) -> bool {
    let parts: Vec<&str> = template.split("{}").collect();
    if parts.len() == 1 {
        return template == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || !text[first.len()..].ends_with(last) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(p) => rest = &rest[p + part.len()..],
            None => return false,
        }
    }
    true
}

// --- any state ---------------------------------------------------------------------------------

#[tokio::test]
async fn commands_answered_in_any_state() {
    let world = World::open().await;
    let mut c = world.connect().await;
    c.send("NOOP").await;
    c.expect(ReplyId::Ok).await;
    c.send("VRFY scanner").await;
    c.expect(ReplyId::CannotVerify).await;
    c.send("HELP").await;
    c.expect(ReplyId::Help).await;
    c.send("FOO bar").await;
    c.expect(ReplyId::UnknownCommand).await;
    c.send("EXPN staff").await;
    c.expect(ReplyId::NotImplemented).await;
    c.send("STARTTLS now").await;
    c.expect(ReplyId::SyntaxError).await;
    c.send("QUIT").await;
    c.expect(ReplyId::Closing).await;
    c.expect_closed().await;
}

#[tokio::test]
async fn hello_comes_first_and_rset_keeps_that() {
    let world = World::open().await;
    let mut c = world.connect().await;
    for command in ["MAIL FROM:<scanner@contoso.com>", "RCPT TO:<a@example.net>", "DATA", "AUTH LOGIN", "STARTTLS"] {
        c.send(command).await;
        c.expect(ReplyId::HelloFirst).await;
    }
    c.send("RSET").await;
    c.expect(ReplyId::Ok).await;
    c.send("DATA").await;
    c.expect(ReplyId::HelloFirst).await;
    // HELO: one line, no keywords; the name is kept for the Received header.
    c.send("HELO printer").await;
    assert_eq!(c.expect(ReplyId::Hello).await, [format!("250 {HOST} Hello printer")]);
    c.send("DATA").await;
    c.expect(ReplyId::NeedMail).await;
}

#[tokio::test]
async fn ehlo_offers_starttls_before_tls_and_auth_only_after() {
    let world = World::open().await;
    let mut c = world.connect().await;
    c.send("EHLO printer.contoso.com").await;
    let before = c.expect(ReplyId::Hello).await;
    assert_eq!(
        before,
        [
            format!("250-{HOST} Hello printer.contoso.com"),
            "250-PIPELINING".into(),
            "250-SIZE 36700160".into(),
            "250-8BITMIME".into(),
            "250-ENHANCEDSTATUSCODES".into(),
            "250-SMTPUTF8".into(),
            "250-STARTTLS".into(),
            "250 HELP".into(),
        ]
    );
    c.send("AUTH PLAIN").await;
    c.expect(ReplyId::AuthBeforeTls).await;
    c.send(&format!("MAIL FROM:<{USER}>")).await;
    c.expect(ReplyId::MailBeforeTls).await;
    c.starttls().await;
    // RFC 3207 4.2: the state before TLS is forgotten.
    c.send(&format!("MAIL FROM:<{USER}>")).await;
    c.expect(ReplyId::HelloFirst).await;
    c.send("EHLO printer.contoso.com").await;
    let after = c.expect(ReplyId::Hello).await;
    assert!(after.contains(&"250-AUTH PLAIN LOGIN".to_string()), "{after:?}");
    assert!(!after.iter().any(|l| l.contains("STARTTLS")), "{after:?}");
    c.send("STARTTLS").await;
    c.expect(ReplyId::TlsAlreadyActive).await;
}

#[tokio::test]
async fn commands_pipelined_behind_starttls_are_dropped() {
    let world = World::open().await;
    let mut c = world.connect().await;
    c.send("EHLO printer").await;
    c.expect(ReplyId::Hello).await;
    // CVE-2011-0411: what came in clear behind STARTTLS must not be run inside TLS.
    c.send_raw(b"STARTTLS\r\nNOOP\r\n").await;
    c.expect(ReplyId::StartTlsReady).await;
    let Wire::Plain(plain) = std::mem::replace(&mut c.wire, Wire::Upgrading) else { unreachable!() };
    c.wire = Wire::Tls(Box::new(world.tls_handshake(plain).await));
    c.send("EHLO printer").await;
    c.expect(ReplyId::Hello).await;
}

#[tokio::test]
async fn a_session_without_a_starttls_upgrade_does_not_offer_it() {
    let world = World::open().await;
    let (client, server) = tokio::io::duplex(4096);
    let shared = world.shared.clone();
    let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
    let session = tokio::spawn(Session::new(shared, ListenerKind::Submission, peer, None).run(Stream::Plain(server)));
    let mut c = Client { wire: Wire::Plain(client), input: vec![], session, connector: world.connector.clone() };
    c.expect(ReplyId::Greeting).await;
    c.send("EHLO printer").await;
    assert!(!c.expect(ReplyId::Hello).await.iter().any(|l| l.contains("STARTTLS")));
    c.send("STARTTLS").await;
    c.expect(ReplyId::NotImplemented).await;
}

#[tokio::test]
async fn long_lines_errors_http_and_proxy_headers_end_the_session() {
    let world = World::open_with(Setup {
        config: SessionConfig { max_errors: 4, ..Setup::default().config },
        ..Default::default()
    })
    .await;
    let mut c = world.connect().await;
    // Over RFC 5321's 512 octets (the parser), and over the AUTH limit (the reader).
    c.send(&format!("NOOP {}", "x".repeat(600))).await;
    c.expect(ReplyId::LineTooLong).await;
    c.send(&"x".repeat(13_000)).await;
    c.expect(ReplyId::LineTooLong).await;
    c.send("FOO").await;
    c.expect(ReplyId::UnknownCommand).await;
    c.send("FOO").await;
    c.expect(ReplyId::UnknownCommand).await;
    c.expect(ReplyId::TooManyErrors).await;
    c.expect_closed().await;

    let mut c = world.connect().await;
    c.send("GET / HTTP/1.1").await;
    c.expect(ReplyId::HttpOnSmtpPort).await;
    c.expect_closed().await;

    // A PROXY header from a client the server does not trust to name addresses.
    let mut c = world.connect().await;
    c.send("PROXY TCP4 192.0.2.1 127.0.0.1 4000 587").await;
    c.expect(ReplyId::ProxyNotTrusted).await;
    c.expect_closed().await;
}

#[tokio::test]
async fn an_idle_session_times_out() {
    let config = SessionConfig { command_timeout: Duration::from_millis(200), ..Setup::default().config };
    let world = World::open_with(Setup { config, ..Default::default() }).await;
    let mut c = world.connect().await;
    c.expect(ReplyId::IdleTimeout).await;
    c.expect_closed().await;
}

#[tokio::test]
async fn a_stopping_server_closes_idle_sessions_and_finishes_transactions() {
    let world = World::open().await;
    let mut idle = world.connect().await;
    let mut busy = world.signed_in().await;
    busy.open_data().await;
    world.shared.shutdown.cancel();
    idle.expect(ReplyId::ShuttingDown).await;
    idle.expect_closed().await;
    busy.send_raw(MESSAGE.as_bytes()).await;
    busy.expect(ReplyId::Queued).await;
    busy.expect(ReplyId::ShuttingDown).await;
    busy.expect_closed().await;
    assert_eq!(world.queued().len(), 1);
}

// --- AUTH --------------------------------------------------------------------------------------

#[tokio::test]
async fn sign_in_send_and_the_transaction_states() {
    let world = World::open().await;
    let mut c = world.signed_in().await;
    c.send(&plain(USER, PASSWORD)).await;
    c.expect(ReplyId::AlreadyAuthenticated).await;
    c.send("RCPT TO:<a@example.net>").await;
    c.expect(ReplyId::NeedMail).await;
    c.send(&format!("MAIL FROM:<{USER}>")).await;
    c.expect(ReplyId::SenderOk).await;
    c.send(&format!("MAIL FROM:<{USER}>")).await;
    c.expect(ReplyId::NestedMail).await;
    c.send("AUTH LOGIN").await;
    c.expect(ReplyId::AlreadyAuthenticated).await;
    c.send("DATA").await;
    c.expect(ReplyId::NeedRecipient).await;
    c.send("RSET").await;
    c.expect(ReplyId::Ok).await;
    c.send("DATA").await;
    c.expect(ReplyId::NeedMail).await;
    let id = c.send_message("someone@example.net", MESSAGE).await;
    // EHLO resets a transaction (RFC 5321 4.1.4) but keeps the sign-in.
    c.send(&format!("MAIL FROM:<{USER}>")).await;
    c.expect(ReplyId::SenderOk).await;
    c.send("EHLO again").await;
    c.expect(ReplyId::Hello).await;
    c.send("DATA").await;
    c.expect(ReplyId::NeedMail).await;
    c.send("QUIT").await;
    c.expect(ReplyId::Closing).await;
    c.expect_closed().await;

    let queued = world.queued();
    assert_eq!(queued.len(), 1);
    let (envelope, stored) = &queued[0];
    assert_eq!(
        (envelope.mail_from.as_str(), envelope.rcpt_to.as_slice()),
        (USER, &["someone@example.net".to_string()][..])
    );
    assert_eq!(envelope.auth_user, USER);
    assert!(stored.starts_with("Received: from printer.contoso.com ([127.0.0.1])\r\n\tby mx.authrelay.test (authrelay) with ESMTPSA\r\n\t(version=TLSv1.3"), "{stored}");
    assert!(stored.contains("(authenticated user scanner@contoso.com with password);"), "{stored}");
    assert!(stored.ends_with("Subject: scan\r\n\r\nPage 1\r\n"), "{stored}");
    assert!(world.spool.list().unwrap()[0].id.as_str() == id);
}

#[tokio::test]
async fn auth_after_a_connector_admitted_the_sender_is_refused() {
    let world = World::open_with(Setup { connectors: vec![floor2()], ..Default::default() }).await;
    let mut c = world.connect_from(ListenerKind::Submissions, "127.0.0.2:40000").await;
    c.send("EHLO printer").await;
    c.expect(ReplyId::Hello).await;
    c.send("MAIL FROM:<printer@contoso.com>").await;
    c.expect(ReplyId::SenderOk).await;
    // The connector's sender is the session's user for this transaction.
    c.send(&plain(USER, PASSWORD)).await;
    c.expect(ReplyId::AlreadyAuthenticated).await;
}

#[tokio::test]
async fn login_exchange_cancel_and_undecodable_responses() {
    let world = World::open().await;
    let mut c = world.connect_tls().await;
    c.send("AUTH LOGIN").await;
    assert_eq!(c.expect(ReplyId::AuthChallenge).await, ["334 VXNlcm5hbWU6"]);
    c.send("*").await;
    c.expect(ReplyId::AuthCancelled).await;
    c.send("AUTH PLAIN").await;
    assert_eq!(c.expect(ReplyId::AuthChallenge).await, ["334 "]);
    c.send("not base64!").await;
    c.expect(ReplyId::AuthMalformed).await;
    c.send("AUTH CRAM-MD5").await;
    c.expect(ReplyId::UnknownMechanism).await;
    c.send(&format!("AUTH LOGIN {}", b64(USER))).await;
    assert_eq!(c.expect(ReplyId::AuthChallenge).await, ["334 UGFzc3dvcmQ6"]);
    c.send(&b64(PASSWORD)).await;
    c.expect(ReplyId::AuthOk).await;
}

#[tokio::test]
async fn implicit_tls_signs_in_without_starttls() {
    let world = World::open().await;
    let mut c = world.connect_from(ListenerKind::Submissions, "127.0.0.1:40001").await;
    c.send("EHLO printer").await;
    c.expect(ReplyId::Hello).await;
    c.send(&plain(USER, PASSWORD)).await;
    c.expect(ReplyId::AuthOk).await;
}

#[tokio::test]
async fn each_account_refusal_has_its_reply() {
    async fn attempt(c: &mut Client, secret: &str, id: ReplyId) {
        c.send(&plain(USER, secret)).await;
        c.expect(id).await;
    }
    let world = World::seeded(Setup::default()).await;
    let mut c = world.connect_tls().await;
    // As seeded: the organisation leaves Authenticated SMTP off.
    attempt(&mut c, PASSWORD, ReplyId::SmtpAuthDisabledTenant).await;
    world.org(OrgChange { smtp_auth: Some(OrgSmtpAuth::Enabled), ..Default::default() }).await;
    attempt(&mut c, PASSWORD, ReplyId::SecurityDefaults).await;
    world.org(OrgChange { security_defaults: Some(SecurityDefaults::Off), ..Default::default() }).await;
    let mut c = world.connect_tls().await;
    world.user(UserChange { smtp_auth: Some(MailboxSmtpAuth::Disabled), ..Default::default() }).await;
    attempt(&mut c, PASSWORD, ReplyId::SmtpAuthDisabledMailbox).await;
    world
        .user(UserChange {
            smtp_auth: Some(MailboxSmtpAuth::Enabled),
            mfa: Some(MfaState::Enforced),
            ..Default::default()
        })
        .await;
    attempt(&mut c, PASSWORD, ReplyId::MfaRequired).await;
    let mut c = world.connect_tls().await;
    world
        .user(UserChange { mfa: Some(MfaState::Disabled), sign_in: Some(SignIn::Blocked), ..Default::default() })
        .await;
    attempt(&mut c, PASSWORD, ReplyId::SignInBlocked).await;
    world.user(UserChange { sign_in: Some(SignIn::Allowed), ..Default::default() }).await;
    attempt(&mut c, "wrong password", ReplyId::BadCredentials).await;
    attempt(&mut c, PASSWORD, ReplyId::AuthOk).await;
}

#[tokio::test]
async fn device_credential_rules() {
    let world = World::open().await;
    let add = async |name: &str, allow: &str, expires_at: Option<i64>| {
        let (secret, tag) = authrelay_directory::device::generate();
        let new = NewDeviceCredential {
            name: name.into(),
            tag,
            hash: secrets::hash_secret(&secret),
            allow: vec![allow.parse().unwrap()],
            expires_at,
        };
        world.directory.add_device_credential(USER, new).await.unwrap();
        secret
    };
    let elsewhere = add("elsewhere", "10.0.0.0/8", None).await;
    let expired = add("expired", "127.0.0.0/8", Some(T0 - 1)).await;
    let good = add("good", "127.0.0.0/8", Some(T0 + 3600)).await;
    let mut c = world.connect_tls().await;
    c.send(&plain(USER, &elsewhere)).await;
    c.expect(ReplyId::DeviceCredentialAddress).await;
    c.send(&plain(USER, &expired)).await;
    c.expect(ReplyId::DeviceCredentialExpired).await;
    let mut c = world.connect_tls().await;
    world.org(OrgChange { device_credentials: Some(DeviceCredentialsPolicy::Blocked), ..Default::default() }).await;
    c.send(&plain(USER, &good)).await;
    c.expect(ReplyId::DeviceCredentialsBlocked).await;
    world.org(OrgChange { device_credentials: Some(DeviceCredentialsPolicy::Allowed), ..Default::default() }).await;
    c.send(&plain(USER, &good)).await;
    c.expect(ReplyId::AuthOk).await;
    c.send_message("someone@example.net", MESSAGE).await;
    assert!(world.queued()[0].1.contains("(authenticated user scanner@contoso.com with device-credential);"));
}

#[tokio::test]
async fn failure_budgets_of_the_name_the_connection_and_the_address() {
    let protection = ProtectionConfig { address_failure_budget: 3, ..Setup::default().protection };
    let mut lockout = protection.lockout;
    lockout.threshold = 2;
    let protection = ProtectionConfig { lockout, ..protection };
    let world = World::open_with(Setup { protection, ..Default::default() }).await;
    let mut c = world.connect_tls().await;
    // The name: two different wrong passwords lock it; the right one is then refused too.
    for wrong in ["wrong 1", "wrong 2"] {
        c.send(&plain(USER, wrong)).await;
        c.expect(ReplyId::BadCredentials).await;
    }
    c.send(&plain(USER, PASSWORD)).await;
    c.expect(ReplyId::AccountLocked).await;
    // The connection: three failures, then the next AUTH closes it.
    c.send(&plain(USER, PASSWORD)).await;
    c.expect(ReplyId::AuthTooMany).await;
    c.expect_closed().await;
    // The address: its budget (3) is spent; any AUTH from it now closes the connection.
    let mut c = world.connect_tls().await;
    c.send(&plain(USER, PASSWORD)).await;
    c.expect(ReplyId::AddressThrottled).await;
    c.expect_closed().await;
}

#[tokio::test]
async fn one_session_per_mailbox_when_the_limit_is_one() {
    let protection = ProtectionConfig { max_sessions_per_mailbox: 1, ..Setup::default().protection };
    let world = World::open_with(Setup { protection, ..Default::default() }).await;
    let first = world.signed_in().await;
    let mut second = world.connect_tls().await;
    second.send(&plain(USER, PASSWORD)).await;
    second.expect(ReplyId::ConcurrencyLimit).await;
    // The first session's place is freed when it ends.
    let Client { wire, session, .. } = first;
    drop(wire);
    tokio::time::timeout(WAIT, session).await.expect("the first session ends").unwrap();
    second.send(&plain(USER, PASSWORD)).await;
    second.expect(ReplyId::AuthOk).await;
}

#[tokio::test]
async fn an_unreadable_directory_is_a_temporary_failure() {
    let world = World::open().await;
    let mut c = world.connect_tls().await;
    world.directory.close().await;
    c.send(&plain(USER, PASSWORD)).await;
    c.expect(ReplyId::AuthTempFail).await;
}

#[tokio::test]
async fn bearer_tokens_refused_with_the_rfc_7628_error_challenge() {
    let world = World::open_with(Setup { oauth: true, ..Default::default() }).await;
    let mut c = world.connect_tls().await;
    c.send("EHLO printer").await;
    let hello = c.expect(ReplyId::Hello).await;
    assert!(hello.contains(&"250-AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER".to_string()), "{hello:?}");
    let response = b64(&format!("user={USER}\x01auth=Bearer not-a-jwt\x01\x01"));
    c.send(&format!("AUTH XOAUTH2 {response}")).await;
    let challenge = c.expect(ReplyId::AuthChallenge).await;
    let json = base64::engine::general_purpose::STANDARD.decode(&challenge[0][4..]).unwrap();
    let json = String::from_utf8(json).unwrap();
    assert!(json.contains("\"status\":\"invalid_token\"") && json.contains("openid-configuration"), "{json}");
    c.send("").await;
    c.expect(ReplyId::OAuthTokenInvalid).await;
    // OAUTHBEARER without an initial response: an empty 334 first.
    c.send("AUTH OAUTHBEARER").await;
    assert_eq!(c.expect(ReplyId::AuthChallenge).await, ["334 "]);
    c.send("*").await;
    c.expect(ReplyId::AuthCancelled).await;
}

// --- MAIL and RCPT -------------------------------------------------------------------------------

#[tokio::test]
async fn mail_needs_a_sign_in_a_permitted_sender_and_valid_parameters() {
    let world = World::open().await;
    let mut c = world.connect_tls().await;
    c.send(&format!("MAIL FROM:<{USER}>")).await;
    c.expect(ReplyId::NotAuthenticated).await;
    c.send(&plain(USER, PASSWORD)).await;
    c.expect(ReplyId::AuthOk).await;
    for (command, id) in [
        ("MAIL FROM:<boss@fabrikam.com>", ReplyId::SendAsDenied),
        ("MAIL FROM:<scanner@contoso.com> SIZE=999999999999", ReplyId::MessageTooBig),
        ("MAIL FROM:<not an address>", ReplyId::BadSenderAddress),
        ("MAIL FROM:<scanner@contoso.com> FOO=bar", ReplyId::UnsupportedParameter),
        ("MAIL FROM:<scänner@contoso.com>", ReplyId::Utf8NeedsSmtpUtf8),
    ] {
        c.send(command).await;
        c.expect(id).await;
    }
}

#[tokio::test]
async fn recipients_limits_and_local_mailboxes() {
    let config = SessionConfig { max_recipients: 2, ..Setup::default().config };
    let world = World::open_with(Setup { config, ..Default::default() }).await;
    let mut c = world.signed_in().await;
    c.send(&format!("MAIL FROM:<{USER}>")).await;
    c.expect(ReplyId::SenderOk).await;
    for (command, id) in [
        ("RCPT TO:<nobody@contoso.com>", ReplyId::UnknownLocalRecipient),
        ("RCPT TO:<not an address>", ReplyId::BadRecipientAddress),
        ("RCPT TO:<scanner@contoso.com>", ReplyId::RecipientOk),
        ("RCPT TO:<a@example.net>", ReplyId::RecipientOk),
        ("RCPT TO:<b@example.net>", ReplyId::TooManyRecipients),
    ] {
        c.send(command).await;
        c.expect(id).await;
    }
    // The directory becomes unreadable: a hosted recipient cannot be checked.
    world.directory.close().await;
    c.send("RCPT TO:<someone@fabrikam.com>").await;
    c.expect(ReplyId::RecipientLookupFailed).await;
}

#[tokio::test]
async fn the_daily_recipient_quota_refuses_the_recipient_past_it() {
    let world = World::open().await;
    let limits = OrgLimits { daily_recipients: Some(2), ..Default::default() };
    world.directory.set_org_limits("Contoso", limits).await.unwrap();
    let mut c = world.signed_in().await;
    c.send_message("a@example.net", MESSAGE).await;
    c.send(&format!("MAIL FROM:<{USER}>")).await;
    c.expect(ReplyId::SenderOk).await;
    c.send("RCPT TO:<b@example.net>").await;
    c.expect(ReplyId::RecipientOk).await;
    c.send("RCPT TO:<c@example.net>").await;
    c.expect(ReplyId::DailyRecipientQuota).await;
}

fn floor2() -> crate::connector::Connector {
    crate::connector::Connector {
        name: "floor2".into(),
        clients: vec!["127.0.0.2/32".parse().unwrap()],
        sender_domains: vec!["contoso.com".into()],
        max_recipients: 10,
        daily_recipients: 100,
        daily_recipients_total: 1000,
    }
}

#[tokio::test]
async fn a_connector_admits_its_senders_without_auth() {
    let world = World::open_with(Setup { connectors: vec![floor2()], ..Default::default() }).await;
    let mut c = world.connect_from(ListenerKind::Submission, "127.0.0.2:40000").await;
    c.send("EHLO printer").await;
    c.expect(ReplyId::Hello).await;
    c.starttls().await;
    c.send("EHLO printer").await;
    c.expect(ReplyId::Hello).await;
    c.send("MAIL FROM:<printer@evil.example>").await;
    c.expect(ReplyId::ConnectorSenderDenied).await;
    c.send("MAIL FROM:<printer@contoso.com>").await;
    c.expect(ReplyId::SenderOk).await;
    c.send("RCPT TO:<someone@example.net>").await;
    c.expect(ReplyId::RecipientOk).await;
    c.send("DATA").await;
    c.expect(ReplyId::StartData).await;
    c.send_raw(b"Subject: from the printer\r\n\r\nscan\r\n.\r\n").await;
    c.expect(ReplyId::Queued).await;
    let (envelope, stored) = &world.queued()[0];
    assert_eq!(envelope.connector.as_deref(), Some("floor2"));
    assert_eq!(envelope.auth_user, "printer@contoso.com");
    assert!(
        stored.contains("with ESMTPS\r\n")
            && stored.contains("(connector floor2 admitted sender printer@contoso.com, not authenticated)"),
        "{stored}"
    );
    // Any other address gets the usual refusal.
    let mut other = world.connect_from(ListenerKind::Submissions, "127.0.0.3:40000").await;
    other.send("EHLO printer").await;
    other.expect(ReplyId::Hello).await;
    other.send("MAIL FROM:<printer@contoso.com>").await;
    other.expect(ReplyId::NotAuthenticated).await;
}

// --- DATA --------------------------------------------------------------------------------------

#[tokio::test]
async fn messages_refused_at_the_end_of_data() {
    let mut config = Setup::default().config;
    config.data_limits.max_message = 4000;
    config.data_limits.max_line = 100;
    config.data_limits.max_header = 2000;
    let world = World::open_with(Setup { config, ..Default::default() }).await;
    let mut c = world.signed_in().await;
    let long_header = format!("X-Long: {}\r\n", "h".repeat(90));
    let cases: Vec<(String, ReplyId)> = vec![
        ("Subject: a\r\n\r\nbare\nline\r\n.\r\n".into(), ReplyId::BareLineEnding),
        ("Subject: a\r\n\r\nnul\0byte\r\n.\r\n".into(), ReplyId::NulInMessage),
        (format!("Subject: a\r\n\r\n{}\r\n.\r\n", "x".repeat(150)), ReplyId::DataLineTooLong),
        (format!("{}\r\nbody\r\n.\r\n", long_header.repeat(30)), ReplyId::HeaderTooBig),
        (format!("Subject: a\r\n\r\n{}.\r\n", "line of text\r\n".repeat(400)), ReplyId::MessageTooBig),
        ("From: a@contoso.com\r\nFrom: b@contoso.com\r\n\r\nx\r\n.\r\n".into(), ReplyId::HeaderSectionMalformed),
        ("From: boss@fabrikam.com\r\n\r\nx\r\n.\r\n".into(), ReplyId::SendAsDenied),
    ];
    for (message, id) in &cases {
        c.open_data().await;
        c.send_raw(message.as_bytes()).await;
        let reply = c.expect(*id).await;
        if *id == ReplyId::DataLineTooLong {
            assert_eq!(reply, ["552 5.3.4 Message line exceeds 100 octets"]);
        }
    }
    assert!(world.queued().is_empty(), "nothing refused is kept");
}

#[tokio::test]
async fn a_data_phase_that_stalls_times_out() {
    let config = SessionConfig { data_timeout: Duration::from_millis(200), ..Setup::default().config };
    let world = World::open_with(Setup { config, ..Default::default() }).await;
    let mut c = world.signed_in().await;
    c.open_data().await;
    c.send_raw(b"Subject: half a message\r\n").await;
    c.expect(ReplyId::IdleTimeout).await;
    c.expect_closed().await;
    assert!(world.queued().is_empty());
}

#[tokio::test]
async fn a_spool_that_cannot_write_keeps_nothing_and_says_so() {
    let world = World::open_with(Setup { attached_spool: true, ..Default::default() }).await;
    let mut c = world.signed_in().await;
    std::fs::remove_dir_all(world.spool_dir.path().join("spool")).unwrap();
    c.open_data().await;
    c.send_raw(MESSAGE.as_bytes()).await;
    c.expect(ReplyId::QueueWriteFailed).await;
    // The session goes on.
    c.send("NOOP").await;
    c.expect(ReplyId::Ok).await;
}

#[tokio::test]
async fn pipelined_commands_are_answered_in_order() {
    let world = World::open().await;
    let mut c = world.signed_in().await;
    c.send_raw(
        format!("MAIL FROM:<{USER}>\r\nRCPT TO:<a@example.net>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n").as_bytes(),
    )
    .await;
    for id in [ReplyId::SenderOk, ReplyId::RecipientOk, ReplyId::RecipientOk, ReplyId::StartData] {
        c.expect(id).await;
    }
    c.send_raw(MESSAGE.as_bytes()).await;
    c.expect(ReplyId::Queued).await;
    assert_eq!(world.queued()[0].0.rcpt_to, ["a@example.net", "b@example.net"]);
}

// --- revocation --------------------------------------------------------------------------------

#[tokio::test]
async fn a_revoked_sign_in_ends_the_session_at_mail() {
    let world = World::open().await;
    let mut c = world.signed_in().await;
    world.user(UserChange { sign_in: Some(SignIn::Blocked), ..Default::default() }).await;
    tokio::time::sleep(crate::revocation::RECHECK_AFTER).await;
    c.send(&format!("MAIL FROM:<{USER}>")).await;
    c.expect(ReplyId::CredentialNoLongerValid).await;
    c.expect_closed().await;
}

#[tokio::test]
async fn a_revoked_sign_in_ends_an_idle_session() {
    let world = World::open().await;
    let mut c = world.signed_in().await;
    world.directory.set_password_hash(USER, &secrets::hash_secret("A-new-Passw0rd!")).await.unwrap();
    // Unprompted, within one idle re-check.
    c.expect(ReplyId::CredentialNoLongerValid).await;
    c.expect_closed().await;
}

// --- the catalogue -------------------------------------------------------------------------------

/// Replies the session can produce that no in-process test asserts, each with where it is tested.
const ASSERTED_ELSEWHERE: &[(&str, &str)] = &[
    // ENOSPC needs a small file system, which only a mount (root) gives.
    ("StorageFull", "crates/authrelay/tests/disk_full.rs"),
    // A token that verifies needs the issuer's keys over HTTPS (an OpenID provider).
    ("OAuthTokenExpired", "crates/authrelay/tests/oauth.rs"),
    // Needs a `[[listeners]]` entry (server.rs): swaks in clear on a plain listener.
    ("LegacyListenerCredential", "crates/authrelay/tests/legacy_devices.rs"),
];

/// Replies the session code names but cannot send, each with why (found by the walk below).
const UNREACHABLE: &[(&str, &str)] = &[
    // A transaction needs a user (a signed-in one or a connector's sender), and AUTH with a
    // user already answers AlreadyAuthenticated first.
    ("AuthInTransaction", "session.rs: auth() checks the user before the transaction"),
];

/// The `ReplyId::X` names in `text`, without its test module.
fn reply_names(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]\nmod tests {").next().unwrap_or(text);
    code.split("ReplyId::")
        .skip(1)
        .map(|piece| piece.chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>())
        .filter(|name| name.chars().next().is_some_and(|c| c.is_ascii_uppercase()))
        .collect()
}

/// Every reply the session code can send — named in the session's files, or produced for it by
/// the command parser, the DATA receiver, the header checks, the SASL decoders, the recipient
/// check and the AUTH policy — is asserted by a test in this file with `expect(ReplyId::X)`,
/// or listed in [`ASSERTED_ELSEWHERE`]. A new reply without a test fails here.
#[test]
fn every_reply_the_session_can_send_is_asserted() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let proto = src.join("../../proto/src");
    let mut files = vec![src.join("session.rs"), src.join("recipients.rs")];
    // Every stage of the session, whatever files it is split into.
    for entry in std::fs::read_dir(src.join("session")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tests.rs") {
            files.push(path);
        }
    }
    files.extend(["command.rs", "data.rs", "headers.rs", "sasl.rs"].map(|f| proto.join(f)));
    assert!(files.len() >= 8, "{files:?}");
    let mut reachable: Vec<ReplyId> = files
        .iter()
        .flat_map(|f| reply_names(&std::fs::read_to_string(f).unwrap()))
        .map(|name| ReplyId::from_name(&name).unwrap_or_else(|| panic!("ReplyId::{name}?")))
        .chain(authrelay_policy::TABLE.iter().map(|(_, id)| *id))
        .collect();
    reachable.sort_by_key(|id| id.as_str());
    reachable.dedup();
    let tests = include_str!("tests.rs");
    let tests = &tests[..tests.find("// --- the catalogue").unwrap()];
    let asserted: Vec<&str> = tests
        .split("ReplyId::")
        .skip(1)
        .map(|piece| &piece[..piece.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(piece.len())])
        .collect();
    let missing: Vec<&str> = reachable
        .iter()
        .map(|id| id.as_str())
        .filter(|name| !asserted.contains(name))
        .filter(|name| !ASSERTED_ELSEWHERE.iter().chain(UNREACHABLE).any(|(n, _)| n == name))
        .collect();
    assert!(missing.is_empty(), "replies the session can send that no in-process test asserts: {missing:?}");
    // The scan sees the session: the greeting, the policy's rows, the parser's and DATA's.
    for id in [ReplyId::Greeting, ReplyId::AuthOk, ReplyId::UnknownCommand, ReplyId::BareLineEnding] {
        assert!(reachable.contains(&id), "{id:?} not found by the scan");
    }
    assert!(reachable.len() >= 60, "{} replies found", reachable.len());
    // Nothing listed as tested elsewhere is also tested here, or unreachable (stale entries).
    for (name, _) in ASSERTED_ELSEWHERE.iter().chain(UNREACHABLE) {
        assert!(reachable.iter().any(|id| id.as_str() == *name), "{name} is no longer reachable");
        assert!(!asserted.contains(name), "{name} is asserted here now; drop it from the list");
    }
}
