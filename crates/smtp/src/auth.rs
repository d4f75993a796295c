//! One AUTH attempt: gather the facts, ask the policy, write the sign-in log.
//!
//! The order matters for secrecy and cost: steps 1–3 of the decision order are settled before
//! any hash is computed, and exactly one argon2id verification runs per attempt that reaches
//! step 4 — against the account password, one app password picked by its hint, or a dummy
//! hash for an unknown user — so an unknown user and a wrong password cost the same.

use std::net::SocketAddr;
use std::sync::Arc;

use authrelay_core::CredentialKind;
use authrelay_directory::{secrets, AuthRecord, Directory, SignInEntry};
use authrelay_policy::{decide, needs_credential_check, AccountFacts, AuthFacts, CredentialCheck, Decision};

/// Where an attempt comes from, for the sign-in log.
#[derive(Debug, Clone)]
pub struct AttemptContext {
    pub peer: SocketAddr,
    /// "TLSv1.3", "TLSv1.2" or "none".
    pub tls: String,
    pub mechanism: String,
}

/// The mailbox a session authenticated as; what MAIL FROM and the header checks consult.
#[derive(Debug, Clone)]
pub struct AuthenticatedUser {
    pub address: String,
    pub send_as: Vec<String>,
    pub credential: CredentialKind,
}

pub struct Authenticator {
    directory: Arc<dyn Directory>,
}

impl Authenticator {
    pub fn new(directory: Arc<dyn Directory>) -> Self {
        Authenticator { directory }
    }

    /// Records an attempt that the session refused before a user name was known or before the
    /// credential could be checked (no TLS, unknown mechanism, malformed or cancelled response).
    pub async fn refuse_early(&self, ctx: &AttemptContext, user: &str, facts: AuthFacts) -> Decision {
        let decision = decide(&facts);
        self.log(ctx, user, None, &decision).await;
        decision
    }

    /// Steps 3–9 for a decoded user name and secret.
    pub async fn authenticate(
        &self,
        ctx: &AttemptContext,
        user: &str,
        secret: &str,
        mut facts: AuthFacts,
    ) -> (Decision, Option<AuthenticatedUser>) {
        if let Some(decision) = needs_credential_check(&facts) {
            self.log(ctx, user, None, &decision).await;
            return (decision, None);
        }
        let lookup = self.directory.auth_record(&user.trim().to_lowercase()).await;
        let (check, record) = match lookup {
            Err(e) => {
                tracing::error!(error = %e, "directory unavailable during AUTH");
                (CredentialCheck::DirectoryUnavailable, None)
            }
            Ok(record) => {
                let (check, app_password_id) = verify(secret, record.as_ref()).await;
                if let (Some(id), CredentialCheck::Verified(_)) = (app_password_id, check) {
                    let _ = self.directory.touch_app_password(id, now()).await;
                }
                (check, record)
            }
        };
        facts.credential = check;
        facts.account = record.as_ref().map(|r| AccountFacts { org: r.org, mailbox: r.user.settings });
        let decision = decide(&facts);
        let kind = match check {
            CredentialCheck::Verified(kind) => Some(kind),
            _ => None,
        };
        self.log(ctx, user, kind, &decision).await;
        let user = match (decision.accepted(), record, kind) {
            (true, Some(r), Some(kind)) => {
                Some(AuthenticatedUser { address: r.user.address, send_as: r.user.send_as, credential: kind })
            }
            _ => None,
        };
        (decision, user)
    }

    async fn log(&self, ctx: &AttemptContext, user: &str, credential: Option<CredentialKind>, decision: &Decision) {
        let entry = SignInEntry {
            at: now(),
            client_ip: ctx.peer.ip().to_string(),
            client_port: ctx.peer.port(),
            tls: ctx.tls.clone(),
            mechanism: ctx.mechanism.clone(),
            user: user.chars().take(320).collect(),
            credential,
            check: decision.check.as_str().to_string(),
            reply: decision.reply.as_str().to_string(),
            success: decision.accepted(),
        };
        tracing::info!(
            target: "authrelay::signin",
            client = %ctx.peer.ip(),
            user = %entry.user,
            mechanism = %ctx.mechanism,
            check = %entry.check,
            reply = %entry.reply,
            success = entry.success,
            "AUTH attempt"
        );
        if let Err(e) = self.directory.record_signin(&entry).await {
            tracing::error!(error = %e, "could not write the sign-in log");
        }
    }
}

/// Exactly one argon2id verification, off the async runtime.
async fn verify(secret: &str, record: Option<&AuthRecord>) -> (CredentialCheck, Option<i64>) {
    let secret = secret.to_string();
    // Pick the one hash to check.
    let (hash, kind, app_password_id, candidate) = match record {
        None => (secrets::dummy_hash().to_string(), None, None, secret),
        Some(r) => {
            let normalized = secrets::normalize_app_password(&secret);
            let app = secrets::looks_like_app_password(&secret)
                .then(|| secrets::app_password_hint(&normalized))
                .and_then(|hint| r.app_passwords.iter().find(|a| a.hint == hint));
            match app {
                Some(a) => (a.hash.clone(), Some(CredentialKind::AppPassword), Some(a.id), normalized),
                None => (r.password_hash.clone(), Some(CredentialKind::Password), None, secret),
            }
        }
    };
    let ok = tokio::task::spawn_blocking(move || secrets::verify_secret(&candidate, &hash)).await.unwrap_or(false);
    match (ok, kind) {
        (true, Some(kind)) => (CredentialCheck::Verified(kind), app_password_id),
        _ => (CredentialCheck::Invalid, None),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
