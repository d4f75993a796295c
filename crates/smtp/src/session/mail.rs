//! MAIL FROM: the sequence, TLS and sign-in checks, the size and send-as checks, and the
//! sender's daily quotas loaded for RCPT.

use super::*;

impl<S: Connection> Session<S> {
    pub(super) fn mail(&mut self, from: String, size: Option<usize>, body: Body, smtputf8: bool) {
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
    pub(super) fn data_limits(&self) -> authrelay_proto::DataLimits {
        let mut limits = self.config().data_limits;
        if let Some(size) = self.user.as_ref().and_then(|u| u.limits.max_message_size) {
            limits.max_message = size;
        }
        limits
    }

    pub(super) async fn load_quota(&mut self) {
        self.quotas.clear();
        let Some(u) = &self.user else { return };
        let mut wanted = vec![(u.address.clone(), u.limits.daily_recipients)];
        wanted.extend(u.shared_quota.clone());
        for (key, limit) in wanted {
            if self.shared.ledger.recipients_left(&key, limit).await.is_some() {
                self.quotas.push((key, limit));
            }
        }
    }
}
