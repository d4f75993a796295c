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
use authrelay_spool::{Envelope, Spool};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot::error::TryRecvError;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::auth::{AttemptContext, AuthenticatedUser, Authenticator, Outcome, Presented};
use crate::config::{ListenerKind, SessionConfig};
use crate::stream::{Connection, Stream, TlsInfo};

/// What every session of one server shares.
pub struct Shared {
    pub config: SessionConfig,
    pub auth: Authenticator,
    pub spool: Spool,
    /// Cancelled when the server stops: idle sessions close, transactions in flight finish.
    pub shutdown: CancellationToken,
}

/// AUTH response lines may be longer than commands (RFC 4954 §4: 12288 octets).
const MAX_AUTH_LINE: usize = 12288;

mod bearer;
mod connector_mail;

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
    /// Turns the plain connection into TLS on STARTTLS; `None`: STARTTLS is not offered.
    starttls: Option<TlsAcceptor>,
    kind: ListenerKind,
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
            shared,
            starttls,
            kind,
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

    fn config(&self) -> &SessionConfig {
        &self.shared.config
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
        match crate::revocation::standing(directory.as_ref(), user, self.peer.ip(), now).await {
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

    fn hello(&mut self, name: String, esmtp: bool) {
        // RFC 5321 4.1.4: EHLO/HELO resets any transaction.
        self.phase = Phase::Ready;
        self.hello_name = name.chars().filter(|c| !c.is_control()).take(255).collect();
        self.esmtp = esmtp;
        let host = self.config().hostname.clone();
        let greeting = ReplyId::Hello.with(&[&host, &self.hello_name.clone()]);
        if !esmtp {
            self.reply(greeting);
            return;
        }
        let mut keywords = vec![
            "PIPELINING".to_string(),
            format!("SIZE {}", self.config().data_limits.max_message),
            "8BITMIME".to_string(),
            "ENHANCEDSTATUSCODES".to_string(),
            "SMTPUTF8".to_string(),
        ];
        if self.tls.is_none() {
            // Before TLS we offer STARTTLS and never AUTH: no secret may cross in clear.
            if self.starttls.is_some() {
                keywords.push("STARTTLS".to_string());
            }
        } else {
            keywords.push(if self.shared.auth.oauth().is_some() {
                "AUTH PLAIN LOGIN XOAUTH2 OAUTHBEARER".to_string()
            } else {
                "AUTH PLAIN LOGIN".to_string()
            });
        }
        keywords.push("HELP".to_string());
        // EHLO keyword lines carry no enhanced status code.
        let mut reply = greeting.with_lines(keywords);
        reply.enhanced = "";
        self.reply(reply);
    }

    fn starttls_command(&mut self) -> Next {
        if self.tls.is_some() {
            self.say(ReplyId::TlsAlreadyActive);
            return Next::Continue;
        }
        if self.starttls.is_none() {
            self.say(ReplyId::NotImplemented);
            return Next::Continue;
        }
        if matches!(self.phase, Phase::AwaitingHello) {
            self.say(ReplyId::HelloFirst);
            return Next::Continue;
        }
        self.say(ReplyId::StartTlsReady);
        Next::StartTls
    }

    async fn start_tls(&mut self, mut stream: Stream<S>) -> Option<Stream<S>> {
        self.flush(&mut stream).await.ok()?;
        // Anything the client pipelined after STARTTLS arrived in clear and could have been
        // injected (CVE-2011-0411): drop it.
        self.input.clear();
        let (Stream::Plain(plain), Some(acceptor)) = (stream, &self.starttls) else { return None };
        let handshake = tokio::time::timeout(Duration::from_secs(30), acceptor.accept(plain)).await;
        match handshake {
            Ok(Ok(tls)) => {
                let stream = Stream::Tls(Box::new(tls));
                self.tls = stream.tls_info();
                // RFC 3207 4.2: forget everything learned before TLS.
                self.phase = Phase::AwaitingHello;
                self.user = None;
                Some(stream)
            }
            Ok(Err(e)) => {
                tracing::info!(client = %self.peer, error = %e, "TLS handshake failed");
                None
            }
            Err(_) => None,
        }
    }

    fn attempt_context(&self, mechanism: &Mechanism) -> AttemptContext {
        AttemptContext {
            peer: self.peer,
            tls: self.tls.as_ref().map(|t| t.version.clone()).unwrap_or_else(|| "none".into()),
            mechanism: mechanism.name().to_string(),
        }
    }

    async fn auth(&mut self, mechanism: Mechanism, initial: Option<String>, stream: &mut Stream<S>) -> Next {
        if matches!(self.phase, Phase::AwaitingHello) {
            self.say(ReplyId::HelloFirst);
            return Next::Continue;
        }
        if self.user.is_some() {
            self.say(ReplyId::AlreadyAuthenticated);
            return Next::Continue;
        }
        if matches!(self.phase, Phase::Mail(_)) {
            self.say(ReplyId::AuthInTransaction);
            return Next::Continue;
        }
        let ctx = self.attempt_context(&mechanism);
        let facts = AuthFacts {
            tls: self.tls.is_some(),
            mechanism_offered: matches!(mechanism, Mechanism::Plain | Mechanism::Login)
                || (matches!(mechanism, Mechanism::XOAuth2 | Mechanism::OAuthBearer)
                    && self.shared.auth.oauth().is_some()),
            client_budget_exhausted: self.auth_failures >= self.config().auth_failures_per_connection,
            ..AuthFacts::new_over_tls()
        };
        // Steps that need no name first (TLS, mechanism, the connection's and the address's
        // failure budgets), before any SASL exchange.
        if let Outcome::Refused { decision, .. } = self.shared.auth.attempt(&ctx, facts, Presented::Nothing).await {
            self.say(decision.reply());
            return if decision.reply().closes_connection() { Next::Close } else { Next::Continue };
        }
        if matches!(mechanism, Mechanism::XOAuth2 | Mechanism::OAuthBearer) {
            return self.auth_bearer(mechanism, initial, facts, ctx, stream).await;
        }
        let credentials = match mechanism {
            Mechanism::Plain => self.read_plain(initial, stream).await,
            _ => self.read_login(initial, stream).await,
        };
        let outcome = match credentials {
            Ok((user, secret)) => {
                self.shared.auth.attempt(&ctx, facts, Presented::Secret { user: &user, secret: &secret }).await
            }
            Err(None) => return Next::Close,
            Err(Some(SaslError::Cancelled)) => {
                self.say(ReplyId::AuthCancelled);
                return Next::Continue;
            }
            Err(Some(SaslError::Malformed)) => self.shared.auth.attempt(&ctx, facts, Presented::Undecodable).await,
        };
        self.conclude(outcome, stream).await
    }

    /// Answers a decided attempt: the user is signed in, or the refusal is counted against the
    /// connection and, after the slowing delay its address earned, sent.
    async fn conclude(&mut self, outcome: Outcome, stream: &mut Stream<S>) -> Next {
        let (decision, delay) = match outcome {
            Outcome::Accepted { decision, user } => {
                self.user = Some(user);
                self.standing_checked = Instant::now();
                self.say(decision.reply());
                return Next::Continue;
            }
            Outcome::Refused { decision, delay } => (decision, delay),
            Outcome::Proceed => unreachable!("only a pre-check proceeds"),
        };
        // Undecodable responses stay free as before; the session limit is no failure of the client.
        if !matches!(decision.check(), Check::MailboxSessions | Check::Decoding) {
            self.auth_failures += 1;
            let delay = self.config().auth_failure_delay + delay;
            if !delay.is_zero() {
                self.flush(stream).await.ok();
                tokio::time::sleep(delay).await;
            }
        }
        self.say(decision.reply());
        if decision.reply().closes_connection() {
            Next::Close
        } else {
            Next::Continue
        }
    }

    /// Reads one SASL continuation line after a 334 challenge. `Err(None)` = connection lost.
    async fn sasl_line(&mut self, challenge: &str, stream: &mut Stream<S>) -> Result<String, Option<SaslError>> {
        self.reply(ReplyId::AuthChallenge.with(&[challenge]));
        match self.read_line(stream, MAX_AUTH_LINE).await {
            Ok(line) => String::from_utf8(line).map_err(|_| Some(SaslError::Malformed)),
            Err(ReadError::TooLong) => Err(Some(SaslError::Malformed)),
            Err(_) => Err(None),
        }
    }

    async fn read_plain(
        &mut self,
        initial: Option<String>,
        stream: &mut Stream<S>,
    ) -> Result<(String, String), Option<SaslError>> {
        let response = match initial {
            Some(r) => r,
            None => self.sasl_line("", stream).await?,
        };
        let plain = decode_plain(&response).map_err(Some)?;
        // We do not support acting on behalf of another identity.
        if !plain.authzid.is_empty() && !plain.authzid.eq_ignore_ascii_case(&plain.authcid) {
            return Err(Some(SaslError::Malformed));
        }
        Ok((plain.authcid, plain.password))
    }

    async fn read_login(
        &mut self,
        initial: Option<String>,
        stream: &mut Stream<S>,
    ) -> Result<(String, String), Option<SaslError>> {
        // "Username:" and "Password:", base64, as every LOGIN client expects.
        let user_b64 = match initial {
            Some(r) => r,
            None => self.sasl_line("VXNlcm5hbWU6", stream).await?,
        };
        let user = decode_login_field(&user_b64).map_err(Some)?;
        let pass_b64 = self.sasl_line("UGFzc3dvcmQ6", stream).await?;
        let password = decode_login_field(&pass_b64).map_err(Some)?;
        Ok((user, password))
    }

    fn mail(&mut self, from: String, size: Option<usize>, body: Body, smtputf8: bool) {
        if matches!(self.phase, Phase::AwaitingHello) {
            return self.say(ReplyId::HelloFirst);
        }
        if self.kind == ListenerKind::Submission && self.tls.is_none() {
            return self.say(ReplyId::MailBeforeTls);
        }
        let Some(user) = &self.user else {
            return self.say(ReplyId::NotAuthenticated);
        };
        if matches!(self.phase, Phase::Mail(_)) {
            return self.say(ReplyId::NestedMail);
        }
        if size.is_some_and(|s| s > self.data_limits().max_message) {
            return self.say(ReplyId::MessageTooBig);
        }
        if !may_send_as(&user.address, &user.send_as, &from) {
            return self.say(ReplyId::SendAsDenied);
        }
        self.phase = Phase::Mail(Transaction { from, recipients: Vec::new(), smtputf8, body, quota_holds: Vec::new() });
        self.flow_refusals = 0;
        self.say(ReplyId::SenderOk);
    }

    /// The DATA limits, with the mailbox's organisation's message size when it sets one.
    fn data_limits(&self) -> authrelay_proto::DataLimits {
        let mut limits = self.config().data_limits;
        if let Some(size) = self.user.as_ref().and_then(|u| u.limits.max_message_size) {
            limits.max_message = size;
        }
        limits
    }

    async fn load_quota(&mut self) {
        self.quotas.clear();
        let Some(u) = &self.user else { return };
        let mut wanted = vec![(u.address.clone(), u.limits.daily_recipients)];
        wanted.extend(u.shared_quota.clone());
        for (key, limit) in wanted {
            if self.shared.auth.recipients_left(&key, limit).await.is_some() {
                self.quotas.push((key, limit));
            }
        }
    }

    fn rcpt(&mut self, to: String) {
        let max = self.user.as_ref().and_then(|u| u.limits.max_recipients).unwrap_or(self.config().max_recipients);
        let Phase::Mail(tx) = &mut self.phase else {
            return self.say(if matches!(self.phase, Phase::AwaitingHello) {
                ReplyId::HelloFirst
            } else {
                ReplyId::NeedMail
            });
        };
        if tx.recipients.len() >= max {
            return self.say(ReplyId::TooManyRecipients);
        }
        let Ok(address) = authrelay_core::Address::parse(&to) else {
            return self.say(ReplyId::BadRecipientAddress);
        };
        if !self.shared.auth.hold_recipient(&self.quotas, &mut tx.quota_holds) {
            return self.say(ReplyId::DailyRecipientQuota);
        }
        tx.recipients.push(address.to_string());
        self.say(ReplyId::RecipientOk);
    }

    /// A recipient in a domain we host must be an existing mailbox (`recipients.rs`); asked
    /// only inside a transaction, so the usual sequence errors come first.
    async fn local_recipient_refusal(&self, to: &str) -> Option<ReplyId> {
        if !matches!(self.phase, Phase::Mail(_)) || self.user.is_none() {
            return None;
        }
        let address = authrelay_core::Address::parse(to).ok()?;
        crate::recipients::refusal(self.shared.auth.directory().as_ref(), address.as_str()).await
    }

    async fn data(&mut self, stream: &mut Stream<S>) -> Next {
        match &self.phase {
            Phase::Mail(tx) if !tx.recipients.is_empty() => {}
            Phase::Mail(_) => {
                self.say(ReplyId::NeedRecipient);
                return Next::Continue;
            }
            Phase::Ready => {
                self.say(ReplyId::NeedMail);
                return Next::Continue;
            }
            Phase::AwaitingHello => {
                self.say(ReplyId::HelloFirst);
                return Next::Continue;
            }
        }
        self.say(ReplyId::StartData);
        if self.flush(stream).await.is_err() {
            return Next::Close;
        }
        let mut receiver = DataReceiver::new(self.data_limits());
        // Slowloris: besides the idle timeout per read, the whole DATA phase has a deadline.
        let data_deadline = Instant::now() + self.config().data_deadline;
        loop {
            let used = receiver.feed(&self.input);
            self.input.drain(..used);
            if receiver.is_done() {
                break;
            }
            self.input.reserve(64 * 1024);
            let deadline = (Instant::now() + self.config().data_timeout).min(data_deadline);
            match tokio::time::timeout_at(deadline, stream.read_buf(&mut self.input)).await {
                Ok(Ok(n)) if n > 0 => {}
                Ok(_) => return Next::Close,
                Err(_) => {
                    self.say(ReplyId::IdleTimeout);
                    return Next::Close;
                }
            }
        }
        let Phase::Mail(tx) = std::mem::replace(&mut self.phase, Phase::Ready) else { unreachable!() };
        let message = match receiver.finish() {
            Ok(m) => m,
            Err(e) => {
                tracing::info!(client = %self.peer, reason = ?e, "message refused at end of DATA");
                let reply = e.reply(&self.data_limits());
                self.reply(reply);
                return Next::Continue;
            }
        };
        let user = self.user.clone().expect("a transaction implies an authenticated user");
        if let Some(refusal) = header_senders_refusal(&message, &user) {
            tracing::info!(client = %self.peer, user = %user.address, reply = refusal.as_str(), "message refused: header senders");
            self.say(refusal);
            return Next::Continue;
        }
        let envelope = Envelope {
            mail_from: tx.from,
            rcpt_to: tx.recipients,
            auth_user: user.address.clone(),
            client_ip: self.peer.ip().to_string(),
            received_at: self.shared.auth.clock().now_secs(),
            smtputf8: tx.smtputf8,
            body_8bit: tx.body == Body::EightBitMime,
            connector: self.connector.clone().filter(|_| user.credential == CredentialKind::Connector),
        };
        let mut stored = self.received_header(&user, &envelope).into_bytes();
        stored.extend_from_slice(&message);
        match self.shared.spool.accept(&envelope, &stored).await {
            Ok(id) => {
                tracing::info!(id = %id, user = %user.address, recipients = envelope.rcpt_to.len(), size = stored.len(), "queued");
                self.reply(ReplyId::Queued.with(&[id.as_str()]));
                // Counted at once, written while the client sends its next message.
                self.quota_writes.retain_mut(|w| matches!(w.try_recv(), Err(TryRecvError::Empty)));
                for (key, _) in &self.quotas {
                    self.quota_writes
                        .push(self.shared.auth.record_recipients_in_background(key, envelope.rcpt_to.len()));
                }
                self.shared.auth.record_submission(&user, self.tls.as_ref().map(|t| t.version.as_str()));
            }
            Err(e) => {
                tracing::error!(error = %e, "could not store a message");
                // Nothing was kept either way; a full disk is worth its own reply (RFC 3463 4.3.1).
                self.say(if e.is_storage_full() { ReplyId::StorageFull } else { ReplyId::QueueWriteFailed });
            }
        }
        // A stopping server finishes this transaction and then says goodbye.
        if self.shared.shutdown.is_cancelled() {
            self.say(ReplyId::ShuttingDown);
            return Next::Close;
        }
        Next::Continue
    }

    /// RFC 5321 4.4 trace header. The protocol is RFC 3848's (RFC 6531's with SMTPUTF8): `S`
    /// for TLS, `A` only for a signed-in mailbox; a connector's message says which connector
    /// admitted which unauthenticated sender.
    fn received_header(&self, user: &AuthenticatedUser, envelope: &Envelope) -> String {
        let authenticated = user.credential != CredentialKind::Connector;
        let protocol = received_protocol(self.esmtp, envelope.smtputf8, self.tls.is_some(), authenticated);
        let tls = self
            .tls
            .as_ref()
            .map(|t| format!("(version={} cipher={})", t.version, t.cipher))
            .unwrap_or_else(|| "(no TLS)".into());
        let who = match &envelope.connector {
            Some(name) if !authenticated => format!(
                "(connector {} admitted sender {}, not authenticated)",
                sanitize_header_word(name),
                sanitize_header_word(&user.address)
            ),
            _ if !authenticated => "(not authenticated)".to_string(),
            _ => format!("(authenticated user {} with {})", user.address, user.credential.as_str()),
        };
        let now = time::OffsetDateTime::from_unix_timestamp(self.shared.auth.clock().now_secs());
        let date =
            now.ok().and_then(|t| t.format(&time::format_description::well_known::Rfc2822).ok()).unwrap_or_default();
        let helo = sanitize_header_word(&self.hello_name);
        format!(
            "Received: from {helo} ([{ip}])\r\n\tby {host} (authrelay) with {protocol}\r\n\t{tls}\r\n\t{who};\r\n\t{date}\r\n",
            ip = self.peer.ip(),
            host = self.config().hostname,
        )
    }
}

/// The "with" protocol of a Received header (RFC 3848; RFC 6531 3.7.3 for UTF8SMTP): HELO is
/// plain SMTP, which has no registered S/A forms.
fn received_protocol(esmtp: bool, smtputf8: bool, tls: bool, authenticated: bool) -> String {
    let base = match (smtputf8, esmtp) {
        (true, _) => "UTF8SMTP",
        (false, true) => "ESMTP",
        (false, false) => return "SMTP".into(),
    };
    format!("{base}{}{}", if tls { "S" } else { "" }, if authenticated { "A" } else { "" })
}

/// Every sender field (From, Sender, Resent-From, Resent-Sender; every mailbox of a list or
/// group) must name an address the mailbox may send as: `550 5.7.60`. A header section that
/// readers could read differently, a repeated From or Sender, or a sender field without a
/// readable address: `554 5.6.0` (crates/proto/src/headers.rs). A message without sender fields
/// is allowed (many devices send bare bodies).
fn header_senders_refusal(message: &[u8], user: &AuthenticatedUser) -> Option<ReplyId> {
    match authrelay_proto::sender_fields(message) {
        Err(e) => Some(e.reply_id()),
        Ok(fields) => fields
            .iter()
            .flat_map(|f| &f.addresses)
            .any(|a| !may_send_as(&user.address, &user.send_as, a))
            .then_some(ReplyId::SendAsDenied),
    }
}

/// Keeps a client-chosen word safe inside a header: printable ASCII, no spaces, bounded.
fn sanitize_header_word(s: &str) -> String {
    let cleaned: String = s.chars().filter(|c| c.is_ascii_graphic()).take(255).collect();
    if cleaned.is_empty() {
        "unknown".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests;
