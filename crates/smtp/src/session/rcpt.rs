//! RCPT TO: the per-message and daily recipient limits, and hosted recipients that must exist.

use super::*;

impl<S: Connection> Session<S> {
    pub(super) fn rcpt(&mut self, to: String) {
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
        if !self.shared.ledger.hold_recipient(&self.quotas, &mut tx.quota_holds) {
            return self.say(ReplyId::DailyRecipientQuota);
        }
        tx.recipients.push(address.to_string());
        self.say(ReplyId::RecipientOk);
    }

    /// A recipient in a domain we host must be an existing mailbox (`recipients.rs`); asked
    /// only inside a transaction, so the usual sequence errors come first.
    pub(super) async fn local_recipient_refusal(&self, to: &str) -> Option<ReplyId> {
        if !matches!(self.phase, Phase::Mail(_)) || self.user.is_none() {
            return None;
        }
        let address = authrelay_core::Address::parse(to).ok()?;
        crate::recipients::refusal(self.shared.auth.directory().as_ref(), address.as_str()).await
    }
}
