//! DATA: the sequence check, receiving the body, the checks of the finished message, storing
//! it with its Received header, and counting it.

use super::*;

impl<S: Connection> Session<S> {
    /// DATA: the sequence check, then the message, its checks, storing and counting it.
    pub(super) async fn data(&mut self, stream: &mut Stream<S>) -> Next {
        if let Some(refusal) = self.data_sequence_refusal() {
            self.say(refusal);
            return Next::Continue;
        }
        self.say(ReplyId::StartData);
        if self.flush(stream).await.is_err() {
            return Next::Close;
        }
        let receiver = match self.receive_message(stream).await {
            Ok(receiver) => receiver,
            Err(next) => return next,
        };
        let Phase::Mail(tx) = std::mem::replace(&mut self.phase, Phase::Ready) else { unreachable!() };
        let user = self.user.clone().expect("a transaction implies an authenticated user");
        match self.message_refusal(receiver, &user) {
            Ok(message) => self.store_and_count(tx, &user, &message).await,
            Err(reply) => self.reply(reply),
        }
        // A stopping server finishes this transaction and then says goodbye.
        if self.shared.shutdown.is_cancelled() {
            self.say(ReplyId::ShuttingDown);
            return Next::Close;
        }
        Next::Continue
    }

    /// Why DATA is out of sequence here, if it is.
    fn data_sequence_refusal(&self) -> Option<ReplyId> {
        match &self.phase {
            Phase::Mail(tx) if !tx.recipients.is_empty() => None,
            Phase::Mail(_) => Some(ReplyId::NeedRecipient),
            Phase::Ready => Some(ReplyId::NeedMail),
            Phase::AwaitingHello => Some(ReplyId::HelloFirst),
        }
    }

    /// Reads the message up to its final dot. `Err` ends the session (the connection was lost,
    /// or it stalled: the reply is queued).
    async fn receive_message(&mut self, stream: &mut Stream<S>) -> Result<DataReceiver, Next> {
        let bare_newline = self.rules.as_ref().map_or_else(Default::default, |r| r.bare_newline);
        let mut receiver = DataReceiver::with_bare_newline(self.data_limits(), bare_newline);
        // Slowloris: besides the idle timeout per read, the whole DATA phase has a deadline.
        let data_deadline = Instant::now() + self.config().data_deadline;
        loop {
            let used = receiver.feed(&self.input);
            self.input.drain(..used);
            if receiver.is_done() {
                return Ok(receiver);
            }
            self.input.reserve(64 * 1024);
            let deadline = (Instant::now() + self.config().data_timeout).min(data_deadline);
            match tokio::time::timeout_at(deadline, stream.read_buf(&mut self.input)).await {
                Ok(Ok(n)) if n > 0 => {}
                Ok(_) => return Err(Next::Close),
                Err(_) => {
                    self.say(ReplyId::IdleTimeout);
                    return Err(Next::Close);
                }
            }
        }
    }

    /// The finished message, or the reply refusing it: its framing and limits (crates/proto),
    /// then its sender fields.
    fn message_refusal(&self, receiver: DataReceiver, user: &AuthenticatedUser) -> Result<Vec<u8>, Reply> {
        let message = receiver.finish().map_err(|e| {
            tracing::info!(client = %self.peer, reason = ?e, "message refused at end of DATA");
            e.reply(&self.data_limits())
        })?;
        if let Some(refusal) = header_senders_refusal(&message, user) {
            tracing::info!(client = %self.peer, user = %user.address, reply = refusal.as_str(), "message refused: header senders");
            return Err(refusal.reply());
        }
        Ok(message)
    }

    /// Stores the message with its Received header and answers; an accepted one is counted
    /// against the sender's quotas and in the submissions report.
    async fn store_and_count(&mut self, tx: Transaction, user: &AuthenticatedUser, message: &[u8]) {
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
        let mut stored = self.received_header(user, &envelope).into_bytes();
        stored.extend_from_slice(message);
        match self.shared.spool.accept(&envelope, &stored).await {
            Ok(id) => {
                tracing::info!(id = %id, user = %user.address, recipients = envelope.rcpt_to.len(), size = stored.len(), "queued");
                self.reply(ReplyId::Queued.with(&[id.as_str()]));
                self.count_accepted(user, envelope.rcpt_to.len());
            }
            Err(e) => {
                tracing::error!(error = %e, "could not store a message");
                // Nothing was kept either way; a full disk is worth its own reply (RFC 3463 4.3.1).
                self.say(if e.is_storage_full() { ReplyId::StorageFull } else { ReplyId::QueueWriteFailed });
            }
        }
        // The transaction's quota holds are released here, after the count (quota_cache.rs).
        drop(tx.quota_holds);
    }

    /// Counted at once, written while the client sends its next message.
    fn count_accepted(&mut self, user: &AuthenticatedUser, recipients: usize) {
        self.quota_writes.retain_mut(|w| matches!(w.try_recv(), Err(TryRecvError::Empty)));
        for (key, _) in &self.quotas {
            self.quota_writes.push(self.shared.ledger.record_recipients_in_background(key, recipients));
        }
        self.shared.ledger.record_submission(user, self.tls.as_ref().map(|t| t.version.as_str()));
    }

    /// RFC 5321 4.4 trace header. The protocol is RFC 3848's (RFC 6531's with SMTPUTF8): `S`
    /// for TLS, `A` only for a signed-in mailbox; a connector's message says which connector
    /// admitted which unauthenticated sender.
    pub(super) fn received_header(&self, user: &AuthenticatedUser, envelope: &Envelope) -> String {
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
pub(super) fn received_protocol(esmtp: bool, smtputf8: bool, tls: bool, authenticated: bool) -> String {
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
pub(super) fn header_senders_refusal(message: &[u8], user: &AuthenticatedUser) -> Option<ReplyId> {
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
pub(super) fn sanitize_header_word(s: &str) -> String {
    let cleaned: String = s.chars().filter(|c| c.is_ascii_graphic()).take(255).collect();
    if cleaned.is_empty() {
        "unknown".into()
    } else {
        cleaned
    }
}
