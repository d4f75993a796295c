//! MAIL without AUTH from a connector's client (crates/smtp/src/connector.rs).

use authrelay_core::CredentialKind;
use authrelay_policy::AuthFacts;

use super::{Phase, Session};
use crate::auth::{Outcome, Presented};

impl<S: crate::stream::Connection> Session<S> {
    /// Called before MAIL. For a session that did not AUTH and comes from a connector's client
    /// range: a sender in the connector's domains becomes the session's sender identity for this
    /// transaction (logged with the check "connector"); any other sender is refused with
    /// `550 5.7.64` (returns false: the reply is already queued). Everyone else: true, and MAIL
    /// goes on as usual (a client outside every connector still gets `530 5.7.57`).
    pub(super) async fn connector_sender(&mut self, from: &str) -> bool {
        let by_connector = self.user.as_ref().is_some_and(|u| u.credential == CredentialKind::Connector);
        if (self.user.is_some() && !by_connector) || !matches!(self.phase, Phase::Ready) {
            return true;
        }
        if self.kind == crate::config::ListenerKind::Submission && self.tls.is_none() {
            return true; // mail() answers 530 5.7.0: STARTTLS first, connector or not.
        }
        let connectors = self.shared.connectors.current();
        // On a `[[listeners]]` entry only the connectors it names apply.
        let found = match &self.rules {
            Some(rules) => connectors.connector_among(self.peer.ip(), &rules.connectors),
            None => connectors.connector_for(self.peer.ip()),
        };
        let Some(connector) = found.cloned() else {
            return true;
        };
        let ctx = crate::auth::AttemptContext {
            peer: self.peer,
            tls: self.tls.as_ref().map(|t| t.version.clone()).unwrap_or_else(|| "none".into()),
            mechanism: format!("connector:{}", connector.name),
            legacy_listener: self.legacy_listener().map(str::to_string),
        };
        let presented = Presented::ConnectorSender { connector: &connector, sender: from };
        match self.shared.auth.attempt(&ctx, AuthFacts::new_over_tls(), presented).await {
            Outcome::Accepted { user, .. } => {
                self.connector = Some(connector.name.clone());
                self.user = Some(user);
                true
            }
            Outcome::Refused { decision, .. } => {
                self.user = None;
                self.say(decision.reply());
                false
            }
            Outcome::Proceed => unreachable!("a connector's sender is always decided"),
        }
    }
}
