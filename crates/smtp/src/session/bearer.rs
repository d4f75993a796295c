//! AUTH XOAUTH2 and OAUTHBEARER (RFC 7628) in the session: read the initial response (or ask
//! for it with an empty 334), validate the bearer token, and on a refused token send the
//! RFC 7628 §3.2.2 error challenge (334 + base64 JSON), wait for the client's empty answer,
//! then the catalogue's 535.

use authrelay_core::ReplyId;
use authrelay_policy::AuthFacts;
use authrelay_proto::sasl::{error_challenge, is_error_acknowledgement};
use authrelay_proto::{decode_oauthbearer, decode_xoauth2, Mechanism, SaslError};

use super::{Next, Session, MAX_AUTH_LINE};
use crate::auth::{AttemptContext, Outcome, Presented};
use crate::stream::{Connection, Stream};

impl<S: Connection> Session<S> {
    pub(super) async fn auth_bearer(
        &mut self,
        mechanism: Mechanism,
        initial: Option<String>,
        facts: AuthFacts,
        ctx: AttemptContext,
        stream: &mut Stream<S>,
    ) -> Next {
        let response = match initial {
            Some(r) => Ok(r),
            None => self.sasl_line("", stream).await,
        };
        let decoded = response.and_then(|r| {
            match mechanism {
                Mechanism::XOAuth2 => decode_xoauth2(&r),
                _ => decode_oauthbearer(&r),
            }
            .map_err(Some)
        });
        let bearer = match decoded {
            Ok(b) => b,
            Err(None) => return Next::Close,
            Err(Some(SaslError::Cancelled)) => {
                self.say(ReplyId::AuthCancelled);
                return Next::Continue;
            }
            Err(Some(SaslError::Malformed)) => {
                let outcome = self.shared.auth.attempt(&ctx, facts, Presented::Undecodable).await;
                return self.conclude(outcome, stream).await;
            }
        };
        let presented = Presented::Bearer { claimed: bearer.user.as_deref(), token: &bearer.token };
        let outcome = self.shared.auth.attempt(&ctx, facts, presented).await;
        drop(bearer);
        if let Outcome::Refused { decision, .. } = &outcome {
            if matches!(decision.reply(), ReplyId::OAuthTokenInvalid | ReplyId::OAuthTokenExpired) {
                // RFC 7628 §3.2.2: the error goes in a challenge; the client answers with an
                // empty response (^A for OAUTHBEARER) and the exchange ends with the failure
                // reply (sent by `conclude`, after the slowing delay).
                let discovery = self.shared.auth.oauth().map(|v| v.config().discovery_url());
                let challenge = error_challenge("invalid_token", None, discovery.as_deref());
                self.reply(ReplyId::AuthChallenge.with(&[&challenge]));
                if self.flush(stream).await.is_err() {
                    return Next::Close;
                }
                match self.read_line(stream, MAX_AUTH_LINE).await {
                    Ok(line) => {
                        if !is_error_acknowledgement(&String::from_utf8_lossy(&line)) {
                            tracing::debug!(client = %self.peer, "non-empty answer to an OAuth error challenge");
                        }
                    }
                    Err(_) => return Next::Close,
                }
            }
        }
        self.conclude(outcome, stream).await
    }
}
