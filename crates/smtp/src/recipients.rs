//! RCPT checks against the directory: a recipient in a domain one of our organisations hosts
//! must be a mailbox that exists, so a typo is refused in the session (`550 5.1.1`) instead of
//! bouncing later. Only user addresses exist: a send-as address (alias, shared address) is a
//! permission to send *from* it, not a mailbox that receives, so mail to it is refused too.
//! Recipients in other domains are relayed and not checked here.

use authrelay_core::ReplyId;
use authrelay_directory::Directory;

/// The reply refusing `address`, or None to accept it.
pub async fn refusal(directory: &dyn Directory, address: &str) -> Option<ReplyId> {
    let domain = address.rsplit_once('@').map(|(_, d)| d)?;
    match directory.hosts_domain(&domain.to_lowercase()).await {
        Ok(false) => None,
        Ok(true) => match directory.user(&address.to_lowercase()).await {
            Ok(Some(_)) => None,
            Ok(None) => Some(ReplyId::UnknownLocalRecipient),
            Err(e) => {
                tracing::error!(error = %e, "directory unavailable while checking a recipient");
                Some(ReplyId::RecipientLookupFailed)
            }
        },
        Err(e) => {
            tracing::error!(error = %e, "directory unavailable while checking a recipient");
            Some(ReplyId::RecipientLookupFailed)
        }
    }
}
