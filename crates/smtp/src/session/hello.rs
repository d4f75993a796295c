//! EHLO/HELO and STARTTLS: the greeting's keywords, and the upgrade to TLS that forgets
//! everything learned before it (RFC 3207 4.2).

use super::*;

impl<S: Connection> Session<S> {
    pub(super) fn hello(&mut self, name: String, esmtp: bool) {
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
        // A `plain` listener (no TLS at all) offers AUTH to everyone it admits: its own clients
        // may use it in clear, anyone else (a connector's client) is told `538 5.7.11`, which
        // says what is missing better than a missing keyword would.
        if self.tls.is_none() && self.kind != ListenerKind::Plain {
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

    pub(super) fn starttls_command(&mut self) -> Next {
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

    pub(super) async fn start_tls(&mut self, mut stream: Stream<S>) -> Option<Stream<S>> {
        self.flush(&mut stream).await.ok()?;
        // Anything the client pipelined after STARTTLS arrived in clear and could have been
        // injected (CVE-2011-0411): drop it.
        self.input.clear();
        let (Stream::Plain(plain), Some(acceptor)) = (stream, &self.starttls) else { return None };
        #[cfg(feature = "legacy-tls")]
        if let Some(legacy) = self.legacy_tls.clone() {
            let handshake = tokio::time::timeout(Duration::from_secs(30), legacy.accept(plain)).await;
            return match handshake {
                Ok(Ok(tls)) => Some(self.upgraded(Stream::Legacy(Box::new(tls)))),
                Ok(Err(e)) => {
                    tracing::info!(client = %self.peer, error = %e, "TLS handshake failed (legacy listener)");
                    None
                }
                Err(_) => None,
            };
        }
        let handshake = tokio::time::timeout(Duration::from_secs(30), acceptor.accept(plain)).await;
        match handshake {
            Ok(Ok(tls)) => Some(self.upgraded(Stream::Tls(Box::new(tls)))),
            Ok(Err(e)) => {
                tracing::info!(client = %self.peer, error = %e, "TLS handshake failed");
                None
            }
            Err(_) => None,
        }
    }

    /// After a handshake: RFC 3207 4.2, forget everything learned before TLS.
    fn upgraded(&mut self, stream: Stream<S>) -> Stream<S> {
        self.tls = stream.tls_info();
        self.phase = Phase::AwaitingHello;
        self.user = None;
        stream
    }
}
