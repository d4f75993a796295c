//! AUTH PLAIN and LOGIN (RFC 4954): the pre-check, the SASL exchange and the answer to the
//! decided attempt; every decision comes from `Authenticator::attempt` (crates/smtp/src/auth.rs).

use super::*;
use authrelay_core::CredentialKinds;

impl<S: Connection> Session<S> {
    pub(super) fn attempt_context(&self, mechanism: &Mechanism) -> AttemptContext {
        AttemptContext {
            peer: self.peer,
            tls: self.tls.as_ref().map(|t| t.version.clone()).unwrap_or_else(|| "none".into()),
            mechanism: mechanism.name().to_string(),
            legacy_listener: self.legacy_listener().map(str::to_string),
        }
    }

    pub(super) async fn auth(&mut self, mechanism: Mechanism, initial: Option<String>, stream: &mut Stream<S>) -> Next {
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
            tls: self.tls.is_some() || self.cleartext_auth_allowed(),
            listener_credentials: self.rules.as_ref().map_or(CredentialKinds::EVERY, |r| r.credentials),
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
    pub(super) async fn conclude(&mut self, outcome: Outcome, stream: &mut Stream<S>) -> Next {
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
    pub(super) async fn sasl_line(
        &mut self,
        challenge: &str,
        stream: &mut Stream<S>,
    ) -> Result<String, Option<SaslError>> {
        self.reply(ReplyId::AuthChallenge.with(&[challenge]));
        match self.read_line(stream, MAX_AUTH_LINE).await {
            Ok(line) => String::from_utf8(line).map_err(|_| Some(SaslError::Malformed)),
            Err(ReadError::TooLong) => Err(Some(SaslError::Malformed)),
            Err(_) => Err(None),
        }
    }

    pub(super) async fn read_plain(
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

    pub(super) async fn read_login(
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
}
