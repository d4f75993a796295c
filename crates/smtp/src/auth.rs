//! One AUTH attempt: gather the facts, ask the policy, write the sign-in log.
//!
//! The order matters for secrecy and cost: steps 1–3 of the decision order are settled before
//! any hash is computed, and exactly one argon2id verification runs per attempt that reaches
//! step 4 — against the account password, one app password picked by its hint, or a dummy
//! hash for an unknown user — so an unknown user and a wrong password cost the same.

use std::net::SocketAddr;
use std::sync::Arc;

use authrelay_core::{CredentialKind, ReplyId};
use authrelay_directory::{secrets, AuthRecord, Directory, OrgLimits, SignInEntry};
use authrelay_policy::{decide, needs_credential_check, AccountFacts, AuthFacts, Check, CredentialCheck, Decision};

use crate::credential_cache::CredentialCache;
use crate::protection::{AddressGuard, MailboxSessions, MailboxSlot, ProtectionConfig};

/// Unix seconds; injectable so quota and lockout tests can move time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

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
    /// The limits in force for this mailbox: the server's, overridden by its organisation's.
    pub limits: MailboxLimits,
    /// This session's place among the mailbox's concurrent sessions (freed with the session).
    pub slot: Option<Arc<MailboxSlot>>,
}

/// Per-mailbox limits after the organisation's overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxLimits {
    pub max_message_size: Option<usize>,
    pub max_recipients: Option<usize>,
    pub daily_recipients: u64,
    pub max_sessions: u64,
}

pub struct Authenticator {
    directory: Arc<dyn Directory>,
    guard: Arc<AddressGuard>,
    sessions: Arc<MailboxSessions>,
    clock: Clock,
    /// Credentials argon2id verified in the last minute (credential_cache.rs).
    credentials: CredentialCache,
    /// `[oauth]`: the issuer whose bearer tokens AUTH XOAUTH2 / OAUTHBEARER accept (oauth.rs).
    oauth: Option<Arc<authrelay_oauth::Validator>>,
    /// `[[connectors]]`: unauthenticated submission from listed addresses (connector.rs).
    connectors: Arc<Vec<crate::connector::Connector>>,
    /// Accepted messages for the SMTP AUTH clients report, written off the hot path.
    submissions: Arc<crate::submissions::Recorder>,
    /// Recipient quota used per mailbox, spares a directory read per MAIL FROM.
    quota: Arc<crate::quota_cache::QuotaCache>,
    /// Batches the quota writes of accepted messages.
    quota_writer: Arc<crate::quota_writer::QuotaWriter>,
}

impl Authenticator {
    pub fn new(directory: Arc<dyn Directory>) -> Self {
        Self::with_protection(directory, ProtectionConfig::default())
    }

    pub fn with_protection(directory: Arc<dyn Directory>, config: ProtectionConfig) -> Self {
        let quota: Arc<crate::quota_cache::QuotaCache> = Arc::default();
        Authenticator {
            quota_writer: Arc::new(crate::quota_writer::QuotaWriter::new(directory.clone(), quota.clone())),
            quota,
            submissions: Arc::new(crate::submissions::Recorder::new(directory.clone())),
            directory,
            guard: AddressGuard::new(config),
            sessions: Arc::new(MailboxSessions::default()),
            clock: Arc::new(now),
            credentials: CredentialCache::default(),
            oauth: None,
            connectors: Arc::new(Vec::new()),
        }
    }

    /// Accepts bearer tokens of this issuer with AUTH XOAUTH2 and OAUTHBEARER.
    pub fn with_oauth(mut self, validator: Option<Arc<authrelay_oauth::Validator>>) -> Self {
        self.oauth = validator;
        self
    }

    pub fn oauth(&self) -> Option<&Arc<authrelay_oauth::Validator>> {
        self.oauth.as_ref()
    }

    /// Accepts unauthenticated submission from these connectors' client addresses.
    pub fn with_connectors(mut self, connectors: Vec<crate::connector::Connector>) -> Self {
        self.connectors = Arc::new(connectors);
        self
    }

    /// The first connector whose client ranges contain `ip`.
    pub fn connector_for(&self, ip: std::net::IpAddr) -> Option<&crate::connector::Connector> {
        self.connectors.iter().find(|c| c.admits(ip))
    }

    /// Writes a connector's decision to the sign-in log (check "connector").
    pub async fn log_connector(&self, ctx: &AttemptContext, sender: &str, reply: ReplyId) {
        self.log_raw(ctx, sender, Some(CredentialKind::Connector), Check::Connector.as_str(), reply).await;
    }

    /// AUTH XOAUTH2 / OAUTHBEARER: the token is validated against the issuer (no argon2id work);
    /// its user claim names the mailbox, which must match the name the client gave, if any.
    /// Then the same policy as every other credential (Authenticated SMTP applies; security
    /// defaults and MFA do not, see crates/policy).
    pub async fn authenticate_bearer(
        &self,
        ctx: &AttemptContext,
        claimed: Option<&str>,
        token: &str,
        mut facts: AuthFacts,
    ) -> (Decision, Option<AuthenticatedUser>) {
        let Some(validator) = &self.oauth else {
            facts.mechanism_offered = false;
            let decision = decide(&facts);
            self.log(ctx, claimed.unwrap_or(""), None, &decision).await;
            return (decision, None);
        };
        let at = (self.clock)();
        let ip = ctx.peer.ip().to_string();
        let policy = self.protection().lockout;
        let validated = validator.validate(token).await;
        let name = match &validated {
            Ok(user) => user.clone(),
            Err(_) => claimed.unwrap_or("").trim().to_lowercase(),
        };
        let (check, record) = match validated {
            Err(authrelay_oauth::TokenError::Expired) => (CredentialCheck::TokenExpired, None),
            Err(authrelay_oauth::TokenError::Invalid(reason)) => {
                tracing::info!(target: "authrelay::oauth", client = %ctx.peer.ip(), reason, "bearer token refused");
                (CredentialCheck::TokenInvalid, None)
            }
            Err(authrelay_oauth::TokenError::Unavailable(e)) => {
                tracing::error!(error = %e, "OAuth issuer unavailable during AUTH");
                (CredentialCheck::DirectoryUnavailable, None)
            }
            Ok(user) if claimed.is_some_and(|c| !c.trim().eq_ignore_ascii_case(&user)) => {
                tracing::info!(target: "authrelay::oauth", client = %ctx.peer.ip(), "token user differs from the SASL user");
                (CredentialCheck::TokenInvalid, None)
            }
            Ok(user) => match self.directory.auth_record(&user).await {
                Err(e) => {
                    tracing::error!(error = %e, "directory unavailable during AUTH");
                    (CredentialCheck::DirectoryUnavailable, None)
                }
                Ok(None) => (CredentialCheck::TokenInvalid, None),
                Ok(Some(r)) => (CredentialCheck::Verified(CredentialKind::OAuth), Some(r)),
            },
        };
        facts.credential = check;
        facts.account = record.as_ref().map(|r| AccountFacts { org: r.org, mailbox: r.user.settings });
        let decision = decide(&facts);
        let kind = matches!(check, CredentialCheck::Verified(_)).then_some(CredentialKind::OAuth);
        let (Some(r), Some(kind), true) = (record, kind, decision.accepted()) else {
            self.log(ctx, &name, kind, &decision).await;
            return (decision, None);
        };
        self.accepted(ctx, &name, kind, decision, r, &ip, at, &policy).await
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    pub fn guard(&self) -> &Arc<AddressGuard> {
        &self.guard
    }

    pub fn protection(&self) -> &ProtectionConfig {
        self.guard.config()
    }

    pub fn directory(&self) -> &Arc<dyn Directory> {
        &self.directory
    }

    /// Counts an accepted message for the SMTP AUTH clients report; never waits (submissions.rs).
    pub fn record_submission(&self, user: &AuthenticatedUser, tls: Option<&str>) {
        self.submissions.record(&user.address, tls, user.credential, (self.clock)());
    }

    /// Records an attempt refused because the client's address used up its failure budget.
    pub async fn refuse_address(&self, ctx: &AttemptContext) -> ReplyId {
        self.log_raw(ctx, "", None, Check::ClientBudget.as_str(), ReplyId::AddressThrottled).await;
        ReplyId::AddressThrottled
    }

    /// How many more recipients `address` may have within the rolling 24 hours; `None` when the
    /// directory cannot say (the quota is then not enforced for this message, and it is logged).
    pub async fn recipients_left(&self, address: &str, limit: u64) -> Option<u64> {
        let now = (self.clock)();
        let ticket = match self.quota.used(address, now) {
            Ok(used) => return Some(limit.saturating_sub(used)),
            Err(ticket) => ticket,
        };
        match self.directory.recipients_since(address, now - authrelay_directory::protection::DAY_SECS).await {
            Ok(used) => {
                self.quota.store(address, used, now, ticket);
                Some(limit.saturating_sub(used))
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read the recipient quota");
                None
            }
        }
    }

    /// [`Authenticator::record_recipients`] without waiting: counted at once for the next
    /// MAIL FROM of any session, written to the directory in a batch (quota_writer.rs). The
    /// receiver resolves once it is written; the session awaits them before it ends, so a
    /// stopping server still records every message.
    pub fn record_recipients_in_background(&self, address: &str, count: usize) -> tokio::sync::oneshot::Receiver<()> {
        self.quota_writer.record(address, (self.clock)(), u32::try_from(count).unwrap_or(u32::MAX))
    }

    /// Adds an accepted message's recipients to the mailbox's rolling quota.
    pub async fn record_recipients(&self, address: &str, count: usize) {
        let count = u32::try_from(count).unwrap_or(u32::MAX);
        match self.directory.record_recipients(address, (self.clock)(), count).await {
            Ok(()) => self.quota.add(address, u64::from(count)),
            Err(e) => tracing::error!(error = %e, "cannot record the recipient quota"),
        }
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
        let policy = self.protection().lockout;
        let ip = ctx.peer.ip().to_string();
        let at = (self.clock)();
        // Step 3: a locked name is refused before any hash is computed.
        match self.directory.lockout_status(user, &ip, at, &policy).await {
            Ok(status) => facts.user_locked = status.locked_until.is_some(),
            Err(e) => tracing::error!(error = %e, "cannot read the lockout state"),
        }
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
                let (check, app_password_id) = verify(secret, record.as_ref(), &self.credentials).await;
                if let (Some(id), CredentialCheck::Verified(CredentialKind::AppPassword)) = (app_password_id, check) {
                    let _ = self.directory.touch_app_password(id, now()).await;
                }
                if let (Some(r), CredentialCheck::Verified(CredentialKind::DeviceCredential)) = (&record, check) {
                    // The device credential the secret verified against: its rules go to the policy.
                    facts.device = crate::device::facts(r, secret, ctx.peer.ip(), at);
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
        if check == CredentialCheck::Invalid {
            match self.directory.record_auth_failure(user, &ip, at, &policy).await {
                Ok(s) if s.newly_locked => tracing::warn!(
                    target: "authrelay::lockout",
                    user = %printable(user),
                    client = %ctx.peer.ip(),
                    until = s.locked_until.unwrap_or(0),
                    familiar = s.familiar,
                    "user name locked after repeated failures"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot record a failed attempt for lockout"),
            }
        }
        let (Some(r), Some(kind), true) = (record, kind, decision.accepted()) else {
            self.log(ctx, user, kind, &decision).await;
            return (decision, None);
        };
        if kind == CredentialKind::DeviceCredential {
            if let Some(id) = crate::device::credential_id(&r, secret) {
                let _ = self.directory.touch_device_credential(id, at, &ip).await;
            }
        }
        self.accepted(ctx, user, kind, decision, r, &ip, at, &policy).await
    }

    /// The end of every accepted attempt: lockout bookkeeping, limits, the per-mailbox session
    /// slot, the sign-in log.
    #[allow(clippy::too_many_arguments)]
    async fn accepted(
        &self,
        ctx: &AttemptContext,
        user: &str,
        kind: CredentialKind,
        decision: Decision,
        r: AuthRecord,
        ip: &str,
        at: i64,
        policy: &authrelay_directory::LockoutPolicy,
    ) -> (Decision, Option<AuthenticatedUser>) {
        if let Err(e) = self.directory.record_auth_success(user, ip, at, policy).await {
            tracing::error!(error = %e, "cannot record a successful sign-in for lockout");
        }
        let limits = self.mailbox_limits(&r.user.org).await;
        // Concurrent authenticated sessions per mailbox (Exchange Online: 3), checked last so
        // only the holder of a valid credential learns of it.
        let Some(slot) = self.sessions.try_acquire(&r.user.address, limits.max_sessions) else {
            self.log_raw(ctx, user, Some(kind), "concurrency", ReplyId::ConcurrencyLimit).await;
            return (Decision { reply: ReplyId::ConcurrencyLimit, check: Check::Accepted }, None);
        };
        self.log(ctx, user, Some(kind), &decision).await;
        let user = AuthenticatedUser {
            address: r.user.address,
            send_as: r.user.send_as,
            credential: kind,
            limits,
            slot: Some(Arc::new(slot)),
        };
        (decision, Some(user))
    }

    async fn mailbox_limits(&self, org: &str) -> MailboxLimits {
        let c = self.protection();
        let o = match self.directory.org_limits(org).await {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the organisation's limits; using the server's");
                OrgLimits::default()
            }
        };
        let size = |v: Option<u64>| v.map(|v| usize::try_from(v).unwrap_or(usize::MAX));
        MailboxLimits {
            max_message_size: size(o.max_message_size),
            max_recipients: size(o.max_recipients),
            daily_recipients: o.daily_recipients.unwrap_or(c.daily_recipients),
            max_sessions: o.max_sessions.unwrap_or(c.max_sessions_per_mailbox),
        }
    }

    async fn log(&self, ctx: &AttemptContext, user: &str, credential: Option<CredentialKind>, decision: &Decision) {
        self.log_raw(ctx, user, credential, decision.check.as_str(), decision.reply).await;
    }

    async fn log_raw(
        &self,
        ctx: &AttemptContext,
        user: &str,
        credential: Option<CredentialKind>,
        check: &str,
        reply: ReplyId,
    ) {
        // A connector's accepted sender is a success too (it has no AUTH reply).
        let success = reply == ReplyId::AuthOk || (check == Check::Connector.as_str() && reply == ReplyId::SenderOk);
        let entry = SignInEntry {
            at: now(),
            client_ip: ctx.peer.ip().to_string(),
            client_port: ctx.peer.port(),
            tls: ctx.tls.clone(),
            mechanism: ctx.mechanism.clone(),
            user: user.chars().take(320).collect(),
            credential,
            check: check.to_string(),
            reply: reply.as_str().to_string(),
            success,
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
        if fail2ban_counts(check) {
            // The stable line etc/fail2ban/filter.d/authrelay.conf matches; its shape is a
            // contract. The client address comes first and the user name is made printable and
            // quoted, so nothing a client sends can move or forge the address.
            tracing::warn!(
                target: "authrelay::fail2ban",
                "authrelay: auth failure client={} user=\"{}\" check={} reply={} {}",
                ctx.peer.ip(),
                printable(&entry.user),
                check,
                reply.code(),
                reply.row().1,
            );
        }
        if let Err(e) = self.directory.record_signin(&entry).await {
            tracing::error!(error = %e, "could not write the sign-in log");
        }
    }
}

/// Exactly one argon2id verification, off the async runtime.
async fn verify(secret: &str, record: Option<&AuthRecord>, cache: &CredentialCache) -> (CredentialCheck, Option<i64>) {
    let secret = secret.to_string();
    // Pick the one hash to check.
    let (hash, kind, app_password_id, candidate) = match record {
        None => (secrets::dummy_hash().to_string(), None, None, secret),
        Some(r) if authrelay_directory::device::tag_of(&secret).is_some() => {
            // Shaped like a device credential: the one with its tag, or the account password
            // (so someone whose password happens to look like this still signs in).
            match crate::device::find(r, &secret) {
                Some(d) => (
                    d.hash.clone(),
                    Some(CredentialKind::DeviceCredential),
                    Some(d.id),
                    authrelay_directory::device::normalize(&secret).to_string(),
                ),
                None => (r.password_hash.clone(), Some(CredentialKind::Password), None, secret),
            }
        }
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
    // A credential verified within the last minute skips argon2id; only the verification is
    // cached, and the stored hash is part of the tag, so a changed credential misses.
    let tag = record.map(|r| cache.tag(&r.user.address, &candidate, &hash));
    let ok = match tag {
        Some(tag) if cache.verified_recently(&tag) => true,
        _ => {
            let ok =
                tokio::task::spawn_blocking(move || secrets::verify_secret(&candidate, &hash)).await.unwrap_or(false);
            if let (true, Some(tag)) = (ok, tag) {
                cache.remember(tag);
            }
            ok
        }
    };
    match (ok, kind) {
        (true, Some(kind)) => (CredentialCheck::Verified(kind), app_password_id),
        _ => (CredentialCheck::Invalid, None),
    }
}

/// Checks whose refusal is a failed login worth banning for (not a policy refusal of a correct
/// secret, which fail2ban must not punish).
fn fail2ban_counts(check: &str) -> bool {
    [Check::Credentials, Check::Lockout, Check::ClientBudget, Check::Decoding].iter().any(|c| c.as_str() == check)
}

/// A client-chosen name made safe for one log field: printable ASCII without quotes or
/// backslashes (others become `?`), at most 64 characters.
fn printable(s: &str) -> String {
    s.chars().take(64).map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' { c } else { '?' }).collect()
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}
