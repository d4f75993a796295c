//! One SMTP submission session (RFC 5321, 6409), from greeting to QUIT.
//!
//! Handlers return replies from the catalogue; only [`Session::run`]'s loop and its I/O helpers
//! touch the socket. Replies to pipelined commands (RFC 2920) are collected and flushed before
//! the session waits for more input.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use authrelay_core::{CredentialKind, Reply, ReplyId};
use authrelay_policy::{may_send_as, AuthFacts, Check};
use authrelay_proto::command::Body;
use authrelay_proto::{decode_login_field, decode_plain, parse_command, Command, DataReceiver, Mechanism, SaslError};
use authrelay_spool::{Envelope, Intake};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot::error::TryRecvError;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::auth::{AttemptContext, AuthenticatedUser, Authenticator, Outcome, Presented};
use crate::config::{ListenerKind, ListenerRules, SessionConfig};
use crate::stream::{Connection, Stream, TlsInfo};

/// What every session of one server shares.
pub struct Shared {
    /// Replaced by a reload; each session keeps the one in force when it started.
    pub config: Live<SessionConfig>,
    pub auth: Authenticator,
    /// The recipient quota and the SMTP AUTH clients report (ledger.rs).
    pub ledger: crate::ledger::Ledger,
    /// `[[connectors]]`: unauthenticated submission from listed addresses (connector.rs).
    /// Shared with the admin center, which shows the ones in force.
    pub connectors: Arc<Live<crate::connector::Connectors>>,
    pub spool: Intake,
    /// Cancelled when the server stops: idle sessions close, transactions in flight finish.
    pub shutdown: CancellationToken,
}

/// A setting a reload replaces: readers take the value in force, a reload swaps it; a reader
/// holding the old value keeps it.
#[derive(Debug)]
pub struct Live<T>(std::sync::RwLock<Arc<T>>);

impl<T> Live<T> {
    pub fn new(value: T) -> Self {
        Live(std::sync::RwLock::new(Arc::new(value)))
    }

    pub fn current(&self) -> Arc<T> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace(&self, value: T) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(value);
    }
}

/// AUTH response lines may be longer than commands (RFC 4954 §4: 12288 octets).
const MAX_AUTH_LINE: usize = 12288;

mod auth;
mod bearer;
mod connector_mail;
mod data;
mod hello;
mod mail;
mod rcpt;

/// Where the session is in the dialogue.
#[derive(Debug)]
enum Phase {
    /// Connected (or just after STARTTLS): EHLO/HELO comes first.
    AwaitingHello,
    /// Greeted, no transaction open.
    Ready,
    /// MAIL accepted; RCPT and DATA follow.
    Mail(Transaction),
}

#[derive(Debug)]
struct Transaction {
    from: String,
    recipients: Vec<String>,
    smtputf8: bool,
    body: Body,
    /// The recipients' places in the mailbox's daily quota, held until the message is counted
    /// or the transaction ends, so concurrent sessions cannot spend the same remainder.
    quota_holds: Vec<crate::quota_cache::Hold>,
}

/// What the loop does after a handler.
enum Next {
    Continue,
    Close,
    StartTls,
}

enum ReadError {
    Eof,
    Timeout,
    Shutdown,
    TooLong,
    Io,
    /// The signed-in credential is no longer valid (revocation.rs).
    Revoked,
}

/// What ended one wait for input in [`Session::read_line`].
enum Woke {
    Read(Result<std::io::Result<usize>, tokio::time::error::Elapsed>),
    Shutdown,
    Recheck,
}

/// One connection's dialogue over any [`Connection`]: TCP in the server, an in-memory pipe in
/// the tests (session/tests.rs).
pub struct Session<S> {
    shared: Arc<Shared>,
    /// The session settings in force when the connection arrived (a reload does not change
    /// an open session's).
    config: Arc<SessionConfig>,
    /// Turns the plain connection into TLS on STARTTLS; `None`: STARTTLS is not offered.
    starttls: Option<TlsAcceptor>,
    kind: ListenerKind,
    /// The `[[listeners]]` entry the connection arrived on; `None` on the default listeners.
    rules: Option<Arc<ListenerRules>>,
    /// STARTTLS through OpenSSL instead of rustls: a listed listener with `tls_min` below 1.2.
    #[cfg(feature = "legacy-tls")]
    legacy_tls: Option<crate::legacy_tls::LegacyTls>,
    peer: SocketAddr,
    phase: Phase,
    hello_name: String,
    esmtp: bool,
    user: Option<AuthenticatedUser>,
    tls: Option<TlsInfo>,
    input: Vec<u8>,
    output: Vec<u8>,
    auth_failures: u32,
    errors: u32,
    /// Whether the command being handled was refused (a 4xx/5xx reply); counted once by `run`.
    refused: bool,
    /// Recipient flow-control refusals (452 4.5.3, 554 5.2.0) in this transaction; see
    /// [`Session::note_refusal`].
    flow_refusals: usize,
    /// The daily recipient quotas (key, limit) this transaction's sender is held to, loaded at
    /// MAIL: the mailbox's (or the connector sender's), and a connector's total. A quota the
    /// directory could not read is left out (and logged).
    quotas: Vec<(String, u64)>,
    /// Quota writes of accepted messages still under way; awaited before the session ends.
    quota_writes: Vec<tokio::sync::oneshot::Receiver<()>>,
    /// The connector whose rule admitted this transaction's sender without AUTH.
    connector: Option<String>,
    /// When the signed-in credential was last found still valid (revocation.rs).
    standing_checked: Instant,
    connection: PhantomData<fn(S)>,
}

impl<S: Connection> Session<S> {
    pub fn new(shared: Arc<Shared>, kind: ListenerKind, peer: SocketAddr, starttls: Option<TlsAcceptor>) -> Self {
        Session {
            config: shared.config.current(),
            shared,
            starttls,
            kind,
            rules: None,
            #[cfg(feature = "legacy-tls")]
            legacy_tls: None,
            peer,
            phase: Phase::AwaitingHello,
            hello_name: String::new(),
            esmtp: false,
            user: None,
            tls: None,
            input: Vec::with_capacity(4096),
            output: Vec::with_capacity(1024),
            auth_failures: 0,
            errors: 0,
            refused: false,
            flow_refusals: 0,
            quotas: Vec::new(),
            quota_writes: Vec::new(),
            connector: None,
            standing_checked: Instant::now(),
            connection: PhantomData,
        }
    }

    /// The rules of the `[[listeners]]` entry the connection arrived on (README "Legacy devices").
    pub fn with_rules(mut self, rules: Option<Arc<ListenerRules>>) -> Self {
        self.rules = rules;
        self
    }

    /// STARTTLS with OpenSSL's TLS 1.0/1.1 (legacy_tls.rs) instead of rustls.
    #[cfg(feature = "legacy-tls")]
    pub fn with_legacy_tls(mut self, legacy_tls: Option<crate::legacy_tls::LegacyTls>) -> Self {
        self.legacy_tls = legacy_tls;
        self
    }

    fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// A `plain` listener's own clients may AUTH without TLS; anyone else there (a connector's
    /// client) is answered `538 5.7.11` as on the default listeners.
    fn cleartext_auth_allowed(&self) -> bool {
        self.kind == ListenerKind::Plain
            && self.rules.as_ref().is_some_and(|r| !r.clients.is_empty() && r.lists_client(self.peer.ip()))
    }

    /// The legacy listener this session is on, if it is on one: its sign-ins are marked.
    fn legacy_listener(&self) -> Option<&str> {
        self.rules.as_ref().filter(|r| r.is_legacy()).map(|r| r.name.as_str())
    }

    fn reply(&mut self, reply: Reply) {
        self.note_refusal(reply.id);
        metrics::counter!("authrelay_smtp_replies_total", "code" => reply.id.code().to_string(), "reply" => reply.id.as_str())
            .increment(1);
        self.output.extend_from_slice(reply.to_wire().as_bytes());
    }

    /// Every refused command counts toward `max_errors` (issue 12.3: one connection must not
    /// be able to repeat a refused AUTH without end). Replies that close the session anyway
    /// are not counted. The two recipient limits a well-behaved client meets in normal use
    /// (more recipients than a message or the day allows) count only past `max_recipients`
    /// of them in one transaction, which no honest client exceeds.
    fn note_refusal(&mut self, id: ReplyId) {
        if id.code() < 400 || id.closes_connection() {
            return;
        }
        if matches!(id, ReplyId::TooManyRecipients | ReplyId::DailyRecipientQuota) {
            self.flow_refusals += 1;
            if self.flow_refusals <= self.config().max_recipients {
                return;
            }
        }
        self.refused = true;
    }

    fn say(&mut self, id: ReplyId) {
        self.reply(id.reply());
    }

    pub async fn run(mut self, mut stream: Stream<S>) {
        self.tls = stream.tls_info();
        let greeting = ReplyId::Greeting.with(&[&self.config().hostname.clone()]);
        self.reply(greeting);
        loop {
            // Up to the AUTH limit: parse_command holds every other verb to 512 octets.
            let line = match self.read_line(&mut stream, authrelay_proto::MAX_AUTH_LINE).await {
                Ok(line) => line,
                Err(ReadError::TooLong) => {
                    self.refused = false;
                    self.say(ReplyId::LineTooLong);
                    if self.count_error() {
                        break;
                    }
                    continue;
                }
                Err(ReadError::Timeout) => {
                    self.say(ReplyId::IdleTimeout);
                    break;
                }
                Err(ReadError::Shutdown) => {
                    self.say(ReplyId::ShuttingDown);
                    break;
                }
                Err(ReadError::Revoked) => {
                    self.say(ReplyId::CredentialNoLongerValid);
                    break;
                }
                Err(ReadError::Eof | ReadError::Io) => {
                    self.output.clear();
                    break;
                }
            };
            self.refused = false;
            let next = self.handle(&line, &mut stream).await;
            let next = match next {
                Next::Continue if self.refused && self.count_error() => Next::Close,
                next => next,
            };
            match next {
                Next::Continue => {}
                Next::Close => break,
                Next::StartTls => match self.start_tls(stream).await {
                    Some(upgraded) => stream = upgraded,
                    None => return,
                },
            }
        }
        let _ = self.flush(&mut stream).await;
        let _ = tokio::time::timeout(Duration::from_secs(5), stream.shutdown()).await;
        // The session is over: its place among the mailbox's sessions is free now, not after the
        // quota writes below (they wait for their batch, quota_writer.rs), or a device that
        // reconnects at once would be refused 432 4.3.2.
        self.user = None;
        for write in self.quota_writes.drain(..) {
            let _ = write.await;
        }
    }

    /// Whether the session holds a sign-in that can be revoked (a connector's sender cannot).
    fn signed_in(&self) -> bool {
        self.user.as_ref().is_some_and(|u| u.held != crate::revocation::HeldCredential::Connector)
    }

    /// Re-checks the signed-in credential (revocation.rs); false when it no longer stands.
    async fn still_signed_in(&mut self) -> bool {
        let Some(user) = &self.user else { return true };
        let directory = self.shared.auth.directory().clone();
        let now = self.shared.auth.clock().now_secs();
        let held = crate::revocation::Held { address: &user.address, credential: user.credential, held: &user.held };
        match crate::revocation::standing(directory.as_ref(), held, self.peer.ip(), now).await {
            Ok(()) => {
                self.standing_checked = Instant::now();
                true
            }
            Err(reason) => {
                tracing::info!(client = %self.peer, user = %user.address, reason, "open session ended: its sign-in no longer stands");
                false
            }
        }
    }

    /// Counts a protocol error; true when the session must close (the reply is queued).
    fn count_error(&mut self) -> bool {
        self.errors += 1;
        if self.errors >= self.config().max_errors {
            self.say(ReplyId::TooManyErrors);
            return true;
        }
        false
    }

    async fn flush(&mut self, stream: &mut Stream<S>) -> std::io::Result<()> {
        if !self.output.is_empty() {
            let result = stream.write_all(&self.output).await;
            self.output.clear();
            result?;
            stream.flush().await?;
        }
        Ok(())
    }

    /// Next line from the client, without its line ending. Pending replies are flushed before
    /// waiting. The deadline covers the whole line, not each byte (slowloris).
    async fn read_line(&mut self, stream: &mut Stream<S>, max: usize) -> Result<Vec<u8>, ReadError> {
        let deadline = Instant::now() + self.config().command_timeout;
        let mut discarding = false;
        let mut scanned = 0;
        loop {
            if let Some(pos) = self.input[scanned..].iter().position(|b| *b == b'\n').map(|p| p + scanned) {
                let mut line: Vec<u8> = self.input.drain(..=pos).collect();
                if discarding {
                    return Err(ReadError::TooLong);
                }
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                if line.len() + 2 > max {
                    return Err(ReadError::TooLong);
                }
                return Ok(line);
            }
            scanned = self.input.len();
            if self.input.len() > max {
                // Keep reading to the end of the line, holding nothing.
                discarding = true;
                self.input.clear();
                scanned = 0;
            }
            if self.flush(stream).await.is_err() {
                return Err(ReadError::Io);
            }
            self.input.reserve(4096);
            let in_transaction = matches!(self.phase, Phase::Mail(_));
            let shutdown = self.shared.shutdown.clone();
            let recheck = self.signed_in().then(|| self.standing_checked + crate::revocation::IDLE_RECHECK);
            let woke = tokio::select! {
                r = tokio::time::timeout_at(deadline, stream.read_buf(&mut self.input)) => Woke::Read(r),
                _ = shutdown.cancelled(), if !in_transaction && self.input.is_empty() => Woke::Shutdown,
                _ = tokio::time::sleep_until(recheck.unwrap_or(deadline)), if recheck.is_some() => Woke::Recheck,
            };
            match woke {
                Woke::Shutdown => return Err(ReadError::Shutdown),
                Woke::Recheck => {
                    if !self.still_signed_in().await {
                        return Err(ReadError::Revoked);
                    }
                }
                Woke::Read(Err(_)) => return Err(ReadError::Timeout),
                Woke::Read(Ok(Err(_))) => return Err(ReadError::Io),
                Woke::Read(Ok(Ok(0))) => return Err(ReadError::Eof),
                Woke::Read(Ok(Ok(_))) => {}
            }
        }
    }

    async fn handle(&mut self, line: &[u8], stream: &mut Stream<S>) -> Next {
        let command = match parse_command(line) {
            Ok(c) => c,
            Err(e) => {
                self.say(e.reply_id());
                return Next::Continue;
            }
        };
        match command {
            Command::Ehlo(name) => self.hello(name, true),
            Command::Helo(name) => self.hello(name, false),
            Command::StartTls => return self.starttls_command(),
            Command::Auth { mechanism, initial_response } => {
                return self.auth(mechanism, initial_response, stream).await
            }
            Command::Mail { from, size, body, smtputf8 } => {
                // A sign-in revoked since (blocked user, new password, revoked credential) ends
                // the session here at the latest.
                if self.signed_in()
                    && self.standing_checked.elapsed() >= crate::revocation::RECHECK_AFTER
                    && !self.still_signed_in().await
                {
                    self.say(ReplyId::CredentialNoLongerValid);
                    return Next::Close;
                }
                // A connector's client without AUTH (connector_mail.rs); everyone else as usual.
                if !self.connector_sender(&from).await {
                    return Next::Continue;
                }
                self.load_quota().await;
                self.mail(from, size, body, smtputf8)
            }
            Command::Rcpt { to } => match self.local_recipient_refusal(&to).await {
                Some(refusal) => self.say(refusal),
                None => self.rcpt(to),
            },
            Command::Data => return self.data(stream).await,
            Command::Rset => {
                if !matches!(self.phase, Phase::AwaitingHello) {
                    self.phase = Phase::Ready;
                }
                self.say(ReplyId::Ok);
            }
            Command::Noop => self.say(ReplyId::Ok),
            Command::Vrfy => self.say(ReplyId::CannotVerify),
            Command::Help => self.say(ReplyId::Help),
            Command::Quit => {
                self.say(ReplyId::Closing);
                return Next::Close;
            }
            Command::NotImplemented(_) => self.say(ReplyId::NotImplemented),
            Command::Http => {
                self.say(ReplyId::HttpOnSmtpPort);
                return Next::Close;
            }
            Command::ProxyHeader => {
                tracing::warn!(client = %self.peer, "PROXY header from an address not in listen.trusted_proxies");
                self.say(ReplyId::ProxyNotTrusted);
                return Next::Close;
            }
        }
        Next::Continue
    }
}

#[cfg(test)]
mod tests;
