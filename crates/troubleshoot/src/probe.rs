//! Probe: a diagnosing SMTP client, like swaks but explaining what it meets.
//!
//! [`run`] connects to any SMTP submission server, records every line of the dialogue (secrets
//! replaced by `<redacted>`), reports the TLS version, cipher and certificate (names, expiry,
//! name match, chain verified against the system roots or a given CA file), the AUTH mechanisms
//! offered before and after TLS, tries AUTH (PLAIN or LOGIN, as offered) and optionally sends a
//! test message. Every refusal is matched against the [knowledge base](crate::kb) for the
//! provider the greeting reveals.
//!
//! Certificates are never accepted silently. When verification fails, the failure is reported and
//! the probe reconnects once without verification, flagged in the transcript, only to show what
//! the server would say — and it then withholds the credentials, since a secret must not go to a
//! server whose identity is unproven.
//!
//! The dialogue is hand-written (a few verbs) because every line must be recorded; the wire and
//! the reader of replies are crates/transport's.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authrelay_i18n::Lang;
use authrelay_transport::{Connection as Conn, Reply, ReplyError, Stream, UpgradeError};
use base64::Engine;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;

use crate::cert::CertFacts;
use crate::kb::{self, Provider};
use crate::Text;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain connection upgraded with STARTTLS (port 587).
    StartTls,
    /// TLS from the first byte (port 465, RFC 8314).
    Implicit,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// `host:port` (`[v6]:port` for IPv6 literals).
    pub server: String,
    pub mode: TlsMode,
    pub user: Option<String>,
    pub password: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub send: bool,
    /// Trust exactly these certificates instead of the system roots.
    pub ca_file: Option<PathBuf>,
    pub ehlo_name: String,
    /// For each connect, TLS handshake and reply.
    pub timeout: Duration,
}

impl Options {
    pub fn new(server: &str, mode: TlsMode) -> Options {
        Options {
            server: server.to_string(),
            mode,
            user: None,
            password: None,
            from: None,
            to: None,
            send: false,
            ca_file: None,
            ehlo_name: "authrelay-probe.localdomain".into(),
            timeout: Duration::from_secs(30),
        }
    }
}

/// Who wrote a transcript line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    Client,
    Server,
    /// The probe's own remark (connection, TLS, retry), not on the wire.
    Note,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Line {
    pub dir: Dir,
    pub text: String,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TlsReport {
    pub version: String,
    pub cipher: String,
    pub certificate: Option<CertFacts>,
    pub chain_verified: bool,
    /// Why verification failed, as rustls says it.
    pub verify_error: Option<String>,
    pub name_matches: bool,
    pub expired: bool,
    pub days_left: Option<i64>,
}

/// One tried step (AUTH, the test message) and the reply that ended it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Step {
    pub what: String,
    pub reply: String,
    pub ok: bool,
}

/// A refusal met on the way, with the knowledge base's explanation, or `None`: unknown.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    pub reply: String,
    pub explanation: Option<kb::Explanation>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub server: String,
    pub provider: Option<Provider>,
    pub banner: Option<String>,
    pub transcript: Vec<Line>,
    pub tls: Option<TlsReport>,
    /// True when the certificate failed and the probe went on without verification.
    pub insecure_retry: bool,
    /// `None` when not seen (implicit TLS has no plain phase).
    pub auth_before_tls: Option<Vec<String>>,
    pub auth_after_tls: Option<Vec<String>>,
    pub auth: Option<Step>,
    pub send: Option<Step>,
    pub findings: Vec<Finding>,
    /// Problems found that are not replies (connection, TLS, nothing to try), rendered.
    pub problems: Vec<String>,
    /// Everything tried worked and the certificate verified.
    pub ok: bool,
}

// ---------------------------------------------------------------------------------------------
// Certificate verification that records what it saw.

/// The leaf certificate a handshake presented, and the verifier's verdict on it.
type Seen = (Vec<u8>, Result<(), String>);

#[derive(Debug)]
struct Recorder {
    provider: Arc<CryptoProvider>,
    inner: Option<Arc<rustls::client::WebPkiServerVerifier>>,
    roots_problem: Option<String>,
    insecure: bool,
    seen: Mutex<Option<Seen>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = match &self.inner {
            Some(v) => v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now).map(|_| ()),
            None => Err(rustls::Error::General(self.roots_problem.clone().unwrap_or_default())),
        };
        *self.seen.lock().expect("lock") =
            Some((end_entity.to_vec(), result.as_ref().map(|_| ()).map_err(|e| e.to_string())));
        match result {
            Ok(()) => Ok(ServerCertVerified::assertion()),
            // Only in the flagged diagnostic retry.
            Err(_) if self.insecure => Ok(ServerCertVerified::assertion()),
            Err(e) => Err(e),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Trust anchors: the CA file given, else the system bundle.
fn roots(ca_file: Option<&PathBuf>) -> Result<rustls::RootCertStore, String> {
    let candidates: Vec<PathBuf> = match ca_file {
        Some(p) => vec![p.clone()],
        None => std::env::var_os("SSL_CERT_FILE")
            .map(PathBuf::from)
            .into_iter()
            .chain(
                ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt", "/etc/ssl/cert.pem"]
                    .iter()
                    .map(PathBuf::from),
            )
            .collect(),
    };
    let mut store = rustls::RootCertStore::empty();
    for path in &candidates {
        let Ok(pem) = std::fs::read(path) else {
            if ca_file.is_some() {
                return Err(format!("cannot read {}", path.display()));
            }
            continue;
        };
        for cert in rustls_pemfile::certs(&mut pem.as_slice()).flatten() {
            let _ = store.add(cert);
        }
        if !store.is_empty() {
            return Ok(store);
        }
    }
    Err(match ca_file {
        Some(p) => format!("no certificate in {}", p.display()),
        None => "no system CA bundle found".to_string(),
    })
}

fn recorder(opts: &Options, insecure: bool) -> Arc<Recorder> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let (inner, roots_problem) = match roots(opts.ca_file.as_ref()) {
        Ok(store) => {
            match rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone()).build()
            {
                Ok(v) => (Some(v), None),
                Err(e) => (None, Some(e.to_string())),
            }
        }
        Err(e) => (None, Some(e)),
    };
    Arc::new(Recorder { provider, inner, roots_problem, insecure, seen: Mutex::new(None) })
}

fn connector(rec: &Arc<Recorder>) -> tokio_rustls::TlsConnector {
    let config = rustls::ClientConfig::builder_with_provider(rec.provider.clone())
        .with_safe_default_protocol_versions()
        .expect("default versions")
        .dangerous()
        .with_custom_certificate_verifier(rec.clone())
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

// ---------------------------------------------------------------------------------------------
// The wire.

/// Why the dialogue stopped early.
enum Stop {
    /// A problem already rendered for the report.
    Problem(String),
    /// The certificate did not verify (the handshake was refused by our own verifier).
    Certificate,
}

struct Probe<'a> {
    opts: &'a Options,
    lang: Lang,
    host: String,
    report: Report,
}

impl Probe<'_> {
    fn note(&mut self, text: Text) {
        let text = text.render(self.lang);
        self.report.transcript.push(Line { dir: Dir::Note, text });
    }

    fn problem(&mut self, text: String) {
        self.report.transcript.push(Line { dir: Dir::Note, text: text.clone() });
        self.report.problems.push(text);
    }

    async fn read_reply(&mut self, conn: &mut Conn) -> Result<Reply, Stop> {
        let reply = conn.read_reply(self.opts.timeout).await.map_err(|e| self.stop(e))?;
        for line in &reply.lines {
            self.report.transcript.push(Line { dir: Dir::Server, text: line.clone() });
        }
        if reply.code >= 400 {
            let ctx = kb::Context { user: self.opts.user.clone(), org: None };
            let explanation = kb::explain(&reply.text(), self.report.provider, &ctx, self.lang);
            self.report.findings.push(Finding { reply: reply.text(), explanation });
        }
        Ok(reply)
    }

    /// Writes `data` as it is.
    async fn write(&mut self, conn: &mut Conn, data: &[u8]) -> Result<(), Stop> {
        conn.send(data, self.opts.timeout).await.map_err(|e| self.stop(e))
    }

    fn stop(&self, e: ReplyError) -> Stop {
        let text = match e {
            ReplyError::Timeout => Text::new("probe-timeout").arg("secs", self.opts.timeout.as_secs()),
            ReplyError::Closed => Text::new("probe-closed"),
            ReplyError::Io(e) => Text::new("probe-io").arg("reason", e),
            ReplyError::NotSmtp(line) => Text::new("probe-not-smtp").arg("line", line),
            ReplyError::LineTooLong => Text::new("probe-line-too-long"),
            ReplyError::TooManyLines => Text::new("probe-reply-too-long"),
        };
        Stop::Problem(text.render(self.lang))
    }

    /// Sends one command line; `shown` replaces it in the transcript when it carries a secret.
    async fn command(&mut self, conn: &mut Conn, line: &str, shown: Option<&str>) -> Result<Reply, Stop> {
        self.report.transcript.push(Line { dir: Dir::Client, text: shown.unwrap_or(line).to_string() });
        self.write(conn, format!("{line}\r\n").as_bytes()).await?;
        self.read_reply(conn).await
    }

    async fn connect(&mut self) -> Result<Conn, Stop> {
        let port = self.opts.server.rsplit_once(':').map(|(_, p)| p).unwrap_or("");
        let addrs: Vec<std::net::SocketAddr> = match tokio::time::timeout(
            self.opts.timeout,
            tokio::net::lookup_host((self.host.as_str(), port.parse::<u16>().unwrap_or(0))),
        )
        .await
        {
            Ok(Ok(a)) => a.collect(),
            Ok(Err(e)) => {
                return Err(Stop::Problem(
                    Text::new("probe-resolve").arg("host", &self.host).arg("reason", e).render(self.lang),
                ))
            }
            Err(_) => {
                return Err(Stop::Problem(
                    Text::new("probe-timeout").arg("secs", self.opts.timeout.as_secs()).render(self.lang),
                ))
            }
        };
        let mut last_error = String::from("no address");
        for addr in addrs {
            match tokio::time::timeout(self.opts.timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => {
                    self.note(Text::new("probe-connected").arg("addr", addr));
                    return Ok(Conn::new(Stream::Plain(stream)));
                }
                Ok(Err(e)) => last_error = format!("{addr}: {e}"),
                Err(_) => last_error = format!("{addr}: timed out"),
            }
        }
        Err(Stop::Problem(
            Text::new("probe-connect").arg("server", &self.opts.server).arg("reason", last_error).render(self.lang),
        ))
    }

    async fn handshake(&mut self, conn: Conn, insecure: bool) -> Result<Conn, Stop> {
        let rec = recorder(self.opts, insecure);
        let name = match authrelay_transport::tls::server_name(&self.host) {
            Ok(n) => n,
            Err(e) => {
                return Err(Stop::Problem(
                    Text::new("probe-resolve").arg("host", &self.host).arg("reason", e).render(self.lang),
                ))
            }
        };
        let result = conn.upgrade(&connector(&rec), name.clone(), self.opts.timeout).await;
        let seen = rec.seen.lock().expect("lock").take();
        let tls = match result {
            Ok(tls) => tls,
            // Bytes after the 220 to STARTTLS would be read as if protected (CVE-2011-0411).
            Err(UpgradeError::UnreadData) => {
                return Err(Stop::Problem(Text::new("probe-starttls-injection").render(self.lang)))
            }
            Err(UpgradeError::AlreadyTls) => return Err(Stop::Problem(Text::new("probe-closed").render(self.lang))),
            Err(UpgradeError::Handshake(e)) => {
                if let Some((der, Err(why))) = seen {
                    self.record_certificate(&der, &name, Some(why.clone()), None);
                    self.problem(Text::new("probe-cert-failed").arg("reason", why).render(self.lang));
                    return Err(Stop::Certificate);
                }
                return Err(Stop::Problem(Text::new("probe-tls-failed").arg("reason", e).render(self.lang)));
            }
            Err(UpgradeError::Timeout) => {
                return Err(Stop::Problem(
                    Text::new("probe-timeout").arg("secs", self.opts.timeout.as_secs()).render(self.lang),
                ))
            }
        };
        let session = tls.stream().tls().expect("TLS is up");
        let version = match session.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
            Some(v) => format!("{v:?}"),
            None => "-".into(),
        };
        let cipher = session.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite())).unwrap_or_default();
        self.note(Text::new("probe-tls-started").arg("version", &version).arg("cipher", &cipher));
        if let Some((der, verdict)) = seen {
            self.record_certificate(&der, &name, verdict.err(), Some((version, cipher)));
        }
        Ok(tls)
    }

    fn record_certificate(
        &mut self,
        der: &[u8],
        name: &ServerName<'_>,
        error: Option<String>,
        session: Option<(String, String)>,
    ) {
        let facts = crate::cert::facts(der);
        let cert = CertificateDer::from(der.to_vec());
        let name_matches = rustls::server::ParsedCertificate::try_from(&cert)
            .ok()
            .is_some_and(|p| rustls::client::verify_server_name(&p, name).is_ok());
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let days_left = facts.as_ref().map(|f| (f.not_after - now).div_euclid(86_400));
        let expired = facts.as_ref().is_some_and(|f| f.not_after < now);
        let (version, cipher) = session.unwrap_or_default();
        let keep_session = |old: &Option<TlsReport>| old.as_ref().map(|t| (t.version.clone(), t.cipher.clone()));
        let (version, cipher) =
            if version.is_empty() { keep_session(&self.report.tls).unwrap_or_default() } else { (version, cipher) };
        // The first verdict counts: the insecure retry always "passes".
        let (chain_verified, verify_error) = match &self.report.tls {
            Some(old) if old.verify_error.is_some() => (false, old.verify_error.clone()),
            _ => (error.is_none(), error),
        };
        self.report.tls = Some(TlsReport {
            version,
            cipher,
            certificate: facts,
            chain_verified,
            verify_error,
            name_matches,
            expired,
            days_left,
        });
    }

    /// Connects, greets and secures the session. Returns the connection with TLS up.
    async fn open(&mut self, insecure: bool) -> Result<Conn, Stop> {
        let mut conn = self.connect().await?;
        if self.opts.mode == TlsMode::Implicit {
            conn = self.handshake(conn, insecure).await?;
        }
        let banner = self.read_reply(&mut conn).await?;
        if self.report.banner.is_none() {
            self.report.banner = Some(banner.text());
            if self.report.provider.is_none() {
                self.report.provider = Provider::guess(&banner.text(), &self.host);
            }
        }
        if banner.code != 220 {
            return Err(Stop::Problem(Text::new("probe-refused-greeting").render(self.lang)));
        }
        let ehlo = format!("EHLO {}", self.opts.ehlo_name);
        let reply = self.command(&mut conn, &ehlo, None).await?;
        if reply.code != 250 {
            return Err(Stop::Problem(Text::new("probe-ehlo-refused").render(self.lang)));
        }
        if self.opts.mode == TlsMode::Implicit {
            self.report.auth_after_tls = Some(reply.auth_mechanisms());
            return Ok(conn);
        }
        self.report.auth_before_tls = Some(reply.auth_mechanisms());
        if !reply.has_keyword("STARTTLS") {
            return Err(Stop::Problem(Text::new("probe-no-starttls").render(self.lang)));
        }
        let reply = self.command(&mut conn, "STARTTLS", None).await?;
        if reply.code != 220 {
            return Err(Stop::Problem(Text::new("probe-starttls-refused").render(self.lang)));
        }
        let mut conn = self.handshake(conn, insecure).await?;
        let reply = self.command(&mut conn, &ehlo, None).await?;
        if reply.code != 250 {
            return Err(Stop::Problem(Text::new("probe-ehlo-refused").render(self.lang)));
        }
        self.report.auth_after_tls = Some(reply.auth_mechanisms());
        Ok(conn)
    }

    async fn authenticate(&mut self, conn: &mut Conn, user: &str, password: &str) -> Result<bool, Stop> {
        let offered = self.report.auth_after_tls.clone().unwrap_or_default();
        let b64 = |s: &[u8]| base64::engine::general_purpose::STANDARD.encode(s);
        let reply = if offered.iter().any(|m| m == "PLAIN") {
            let blob = b64(format!("\0{user}\0{password}").as_bytes());
            let r = self.command(conn, &format!("AUTH PLAIN {blob}"), Some("AUTH PLAIN <redacted>")).await?;
            ("PLAIN", r)
        } else if offered.iter().any(|m| m == "LOGIN") {
            let r = self.command(conn, "AUTH LOGIN", None).await?;
            let r =
                if r.code == 334 { self.command(conn, &b64(user.as_bytes()), Some("<redacted>")).await? } else { r };
            let r = if r.code == 334 {
                self.command(conn, &b64(password.as_bytes()), Some("<redacted>")).await?
            } else {
                r
            };
            ("LOGIN", r)
        } else {
            let list = if offered.is_empty() { "-".to_string() } else { offered.join(" ") };
            self.problem(Text::new("probe-no-mechanism").arg("offered", list).render(self.lang));
            return Ok(false);
        };
        let ok = reply.1.code == 235;
        self.report.auth = Some(Step { what: format!("AUTH {}", reply.0), reply: reply.1.last_line().to_string(), ok });
        Ok(ok)
    }

    async fn send_message(&mut self, conn: &mut Conn, from: &str, to: &str) -> Result<(), Stop> {
        let step = |reply: &Reply, what: &str| Step {
            what: what.to_string(),
            reply: reply.last_line().to_string(),
            ok: false,
        };
        let r = self.command(conn, &format!("MAIL FROM:<{from}>"), None).await?;
        if r.code != 250 {
            self.report.send = Some(step(&r, "MAIL FROM"));
            return Ok(());
        }
        let r = self.command(conn, &format!("RCPT TO:<{to}>"), None).await?;
        if r.code / 100 != 2 {
            self.report.send = Some(step(&r, "RCPT TO"));
            return Ok(());
        }
        let r = self.command(conn, "DATA", None).await?;
        if r.code != 354 {
            self.report.send = Some(step(&r, "DATA"));
            return Ok(());
        }
        let now = time::OffsetDateTime::now_utc();
        let date = now.format(&time::format_description::well_known::Rfc2822).unwrap_or_default();
        let message = [
            format!("From: <{from}>"),
            format!("To: <{to}>"),
            "Subject: authrelay probe test message".to_string(),
            format!("Date: {date}"),
            format!("Message-ID: <probe.{}.{}@{}>", now.unix_timestamp(), std::process::id(), self.opts.ehlo_name),
            "MIME-Version: 1.0".to_string(),
            "Content-Type: text/plain; charset=utf-8".to_string(),
            String::new(),
            "This is a test message sent by `authrelay probe`.".to_string(),
        ];
        let mut data = String::new();
        for line in &message {
            self.report.transcript.push(Line { dir: Dir::Client, text: line.clone() });
            // Dot-stuffing (RFC 5321 4.5.2).
            if line.starts_with('.') {
                data.push('.');
            }
            data.push_str(line);
            data.push_str("\r\n");
        }
        self.write(conn, data.as_bytes()).await?;
        let r = self.command(conn, ".", None).await?;
        let mut s = step(&r, "DATA");
        s.ok = r.code == 250;
        self.report.send = Some(s);
        Ok(())
    }

    async fn dialogue(&mut self) -> Result<(), Stop> {
        let mut conn = match self.open(false).await {
            Ok(conn) => conn,
            Err(Stop::Certificate) => {
                self.report.insecure_retry = true;
                self.note(Text::new("probe-insecure-retry"));
                self.open(true).await?
            }
            Err(e) => return Err(e),
        };
        if let Some(user) = self.opts.user.clone() {
            match (self.opts.password.clone(), self.report.insecure_retry) {
                (None, _) => self.problem(Text::new("probe-no-password").render(self.lang)),
                (Some(_), true) => self.problem(Text::new("probe-credentials-withheld").render(self.lang)),
                (Some(password), false) => {
                    self.authenticate(&mut conn, &user, &password).await?;
                }
            }
        }
        if self.opts.send {
            if let (Some(from), Some(to)) = (self.opts.from.clone(), self.opts.to.clone()) {
                // Tried even after a refused AUTH: the server's answer to MAIL (5.7.57) is telling.
                self.send_message(&mut conn, &from, &to).await?;
            }
        }
        let _ = self.command(&mut conn, "QUIT", None).await;
        Ok(())
    }
}

/// Runs the probe. Never fails: what went wrong is in the report.
pub async fn run(opts: &Options, lang: Lang) -> Report {
    let host = match opts.server.rsplit_once(':') {
        Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']').to_string(),
        None => opts.server.clone(),
    };
    let mut probe = Probe {
        opts,
        lang,
        host: host.clone(),
        report: Report {
            server: opts.server.clone(),
            provider: Provider::guess("", &host),
            banner: None,
            transcript: vec![],
            tls: None,
            insecure_retry: false,
            auth_before_tls: None,
            auth_after_tls: None,
            auth: None,
            send: None,
            findings: vec![],
            problems: vec![],
            ok: false,
        },
    };
    match probe.dialogue().await {
        Ok(()) => {}
        Err(Stop::Problem(text)) => probe.problem(text),
        Err(Stop::Certificate) => {}
    }
    let r = &mut probe.report;
    let tls_ok = r.tls.as_ref().is_some_and(|t| t.chain_verified && t.name_matches && !t.expired);
    let refusals = !r.findings.is_empty();
    r.ok = tls_ok
        && !r.insecure_retry
        && r.problems.is_empty()
        && !refusals
        && r.auth.as_ref().is_none_or(|a| a.ok)
        && (!opts.send || r.send.as_ref().is_some_and(|s| s.ok));
    probe.report
}

impl Report {
    pub fn render_text(&self, lang: Lang) -> String {
        let t = |text: Text| text.render(lang);
        let mut out = String::new();
        out.push_str(&t(Text::new("probe-transcript-heading")));
        out.push('\n');
        for l in &self.transcript {
            let arrow = match l.dir {
                Dir::Client => "->",
                Dir::Server => "<-",
                Dir::Note => "**",
            };
            out.push_str(&format!("  {arrow} {}\n", l.text));
        }
        out.push('\n');
        let provider =
            self.provider.map(|p| authrelay_i18n::t(lang, p.message_id(), &[])).unwrap_or_else(|| "-".into());
        out.push_str(&format!("{}\n", t(Text::new("probe-provider").arg("provider", provider))));
        if let Some(tls) = &self.tls {
            out.push_str(&format!(
                "{}\n",
                t(Text::new("probe-tls-summary").arg("version", &tls.version).arg("cipher", &tls.cipher))
            ));
            if let Some(c) = &tls.certificate {
                out.push_str(&format!(
                    "{}\n",
                    t(Text::new("probe-cert-summary")
                        .arg("subject", &c.subject)
                        .arg("issuer", &c.issuer)
                        .arg("names", c.names.join(", "))
                        .time("expires", c.not_after)
                        .num("days", tls.days_left.unwrap_or(0)))
                ));
            }
            let yes_no = |b: bool| t(Text::new(if b { "probe-yes" } else { "probe-no" }));
            out.push_str(&format!(
                "{}\n",
                t(Text::new("probe-cert-checks")
                    .arg(
                        "chain",
                        match &tls.verify_error {
                            None => yes_no(true),
                            Some(e) => format!("{} ({e})", yes_no(false)),
                        }
                    )
                    .arg("name", yes_no(tls.name_matches))
                    .arg("expired", yes_no(tls.expired)))
            ));
        }
        let list = |m: &Option<Vec<String>>| match m {
            None => "-".to_string(),
            Some(v) if v.is_empty() => t(Text::new("probe-none-offered")),
            Some(v) => v.join(" "),
        };
        out.push_str(&format!(
            "{}\n",
            t(Text::new("probe-auth-offered")
                .arg("before", list(&self.auth_before_tls))
                .arg("after", list(&self.auth_after_tls)))
        ));
        if let Some(a) = &self.auth {
            out.push_str(&format!(
                "{}\n",
                t(Text::new("probe-auth-result").arg("what", &a.what).arg("reply", &a.reply))
            ));
        }
        if let Some(s) = &self.send {
            out.push_str(&format!(
                "{}\n",
                t(Text::new("probe-send-result").arg("what", &s.what).arg("reply", &s.reply))
            ));
        }
        if !self.findings.is_empty() {
            out.push('\n');
            out.push_str(&t(Text::new("probe-findings-heading")));
            out.push('\n');
            for f in &self.findings {
                out.push_str(&format!("  {}\n", f.reply.replace('\n', "\n  ")));
                match &f.explanation {
                    Some(x) => {
                        out.push_str(&format!(
                            "    {}\n",
                            t(Text::new("probe-known")
                                .arg("entry", x.entry)
                                .arg("provider", authrelay_i18n::t(lang, x.provider.message_id(), &[])))
                        ));
                        out.push_str(&format!("    {} {}\n", t(Text::new("probe-means")), x.means));
                        out.push_str(&format!("    {} {}\n", t(Text::new("probe-fix")), x.fix));
                    }
                    None => out.push_str(&format!("    {}\n", t(Text::new("probe-unknown")))),
                }
            }
        }
        out.push('\n');
        out.push_str(&t(Text::new(if self.ok { "probe-verdict-ok" } else { "probe-verdict-problem" })));
        out.push('\n');
        out
    }
}
