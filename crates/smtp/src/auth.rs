//! One AUTH attempt: gather the facts, ask the policy, write the sign-in log.
//!
//! [`Authenticator::attempt`] is the session's only way to a [`Decision`]: it is the one caller
//! of `authrelay_policy::decide` in this crate and the one writer of sign-in rows, for every
//! kind of attempt (password-like secrets, bearer tokens, refusals before the SASL exchange,
//! and a connector's unauthenticated sender). The rows it writes carry the typed `Check` and
//! `ReplyId` of that decision, nothing else (docs/auth-decision.md).
//!
//! The order matters for secrecy and cost: steps 1–3 of the decision order are settled before
//! any hash is computed, and one argon2id verification runs per attempt that reaches step 4 —
//! against the account password, the app password picked by its hint, or a dummy hash for an
//! unknown user — so an unknown user and a wrong password cost the same. (Only app passwords
//! made before hints were kept unique can share one; each of those is tried.)

use std::net::SocketAddr;
use std::sync::Arc;

use std::time::Duration;

use authrelay_core::{Check, Clock, CredentialKind, Quoted, SystemClock};
use authrelay_directory::{secrets, AuthRecord, Directory, OrgLimits, SignInEntry};
use authrelay_policy::{decide, needs_credential_check, AccountFacts, AuthFacts, CredentialCheck, Decision};

use crate::credential_cache::CredentialCache;
use crate::protection::{AddressGuard, MailboxSessions, MailboxSlot, ProtectionConfig};

/// Where an attempt comes from, for the sign-in log.
#[derive(Debug, Clone)]
pub struct AttemptContext {
    pub peer: SocketAddr,
    /// "TLSv1.3", "TLSv1.2" or "none".
    pub tls: String,
    pub mechanism: String,
    /// The legacy listener (`[[listeners]]`: old TLS, no TLS, bare LFs) the attempt came
    /// through, by name; `None` on the default listeners. Marked in the sign-in log and counted.
    pub legacy_listener: Option<String>,
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
    /// The credential the session signed in with, re-checked while it is open (revocation.rs).
    pub held: crate::revocation::HeldCredential,
    /// A daily recipient quota (key, limit) shared with other senders: a connector's total.
    pub shared_quota: Option<(String, u64)>,
}

/// Per-mailbox limits after the organisation's overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxLimits {
    pub max_message_size: Option<usize>,
    pub max_recipients: Option<usize>,
    pub daily_recipients: u64,
    pub max_sessions: u64,
}

/// What the client presented in one attempt.
#[derive(Clone, Copy)]
pub enum Presented<'a> {
    /// Nothing yet: before the SASL exchange, only the steps that need no name are decided
    /// (TLS, mechanism, the connection's and the address's failure budgets).
    Nothing,
    /// A response that could not be decoded.
    Undecodable,
    /// AUTH PLAIN / LOGIN: a user name and a password, app password or device credential.
    Secret { user: &'a str, secret: &'a str },
    /// AUTH XOAUTH2 / OAUTHBEARER: a bearer token, and the user name the client gave, if any.
    Bearer { claimed: Option<&'a str>, token: &'a str },
    /// MAIL FROM without AUTH from a connector's client range.
    ConnectorSender { connector: &'a crate::connector::Connector, sender: &'a str },
}

/// How an attempt ended.
#[derive(Debug)]
pub enum Outcome {
    /// `Presented::Nothing` only: nothing refuses yet; go on with the SASL exchange.
    Proceed,
    /// Refused with the decision's reply. `delay` is the slowing pause the client address has
    /// earned (zero unless the attempt spent its failure budget).
    Refused {
        decision: Decision,
        delay: Duration,
    },
    Accepted {
        decision: Decision,
        user: AuthenticatedUser,
    },
}

pub struct Authenticator {
    directory: Arc<dyn Directory>,
    guard: Arc<AddressGuard>,
    sessions: Arc<MailboxSessions>,
    /// The wall clock (crates/core) of sign-ins, lockout and the session's dates (the ledger
    /// is given the same one).
    clock: Arc<dyn Clock>,
    /// Credentials argon2id verified in the last minute (credential_cache.rs).
    credentials: CredentialCache,
    /// `[oauth]`: the issuer whose bearer tokens AUTH XOAUTH2 / OAUTHBEARER accept (oauth.rs).
    oauth: Option<Arc<authrelay_oauth::Validator>>,
    /// Rate of sign-in rows for credential-less refusals per address (signin_volume.rs).
    early_rows: crate::signin_volume::EarlyRows,
    /// Smart lockout does not count a repeat of a recent wrong secret (protection.rs).
    recent_bad: crate::protection::RecentBadSecrets,
    /// Bounds the argon2id verifications running at once, fairly per address (verify_pool.rs).
    pool: crate::verify_pool::VerifyPool,
}

impl Authenticator {
    pub fn new(directory: Arc<dyn Directory>) -> Self {
        Self::with_protection(directory, ProtectionConfig::default())
    }

    pub fn with_protection(directory: Arc<dyn Directory>, config: ProtectionConfig) -> Self {
        // Computed now, not on the first unknown user's AUTH: that attempt would otherwise cost
        // two argon2id runs on the async runtime and be told apart from a wrong password.
        let _ = secrets::dummy_hash();
        Authenticator {
            directory,
            pool: crate::verify_pool::VerifyPool::new(config.verify_pool),
            guard: AddressGuard::new(config),
            sessions: Arc::new(MailboxSessions::default()),
            clock: Arc::new(SystemClock),
            credentials: CredentialCache::default(),
            oauth: None,
            early_rows: Default::default(),
            recent_bad: Default::default(),
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

    /// Counts each mailbox's sessions with the other nodes' through `leases` (a cluster on
    /// PostgreSQL); starts the renewal of this node's leases until `shutdown`.
    pub fn with_shared_sessions(
        mut self,
        leases: Option<Arc<dyn authrelay_directory::leases::MailboxLeases>>,
        node: String,
        ttl_secs: i64,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Self {
        if let Some(leases) = leases {
            self.sessions = Arc::new(MailboxSessions::shared(leases, node, ttl_secs));
            self.sessions.spawn_heartbeat(self.clock.clone(), shutdown);
        }
        self
    }

    /// Replaces the clock (tests).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The wall clock every part of the session reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn guard(&self) -> &Arc<AddressGuard> {
        &self.guard
    }

    pub fn protection(&self) -> Arc<ProtectionConfig> {
        self.guard.config()
    }

    /// A reload's `[limits]` and `[lockout]`: address limits, lockout policy, mailbox quotas
    /// and session caps apply from the next check. The verification pool keeps its size.
    pub fn set_protection(&self, config: ProtectionConfig) {
        self.guard.set_config(config);
    }

    pub fn directory(&self) -> &Arc<dyn Directory> {
        &self.directory
    }

    /// One attempt, from the facts the session knows (`facts`: TLS, the mechanism, the
    /// connection's failure count) and what the client presented, to its outcome. Gathers the
    /// remaining facts — the address's failure budget, lockout, the credential (exactly one
    /// argon2id verification, and none when an earlier step already refuses), the account, the
    /// device credential's rules, the mailbox's open sessions — then asks `decide` once, does
    /// the bookkeeping of that decision and writes its sign-in row.
    pub async fn attempt(&self, ctx: &AttemptContext, mut facts: AuthFacts, presented: Presented<'_>) -> Outcome {
        let peer = ctx.peer.ip();
        let ip = peer.to_string();
        let at = self.clock.now_secs();
        let policy = self.protection().lockout;
        facts.address_budget_exhausted = self.guard.exhausted(peer);
        // The name the sign-in row shows, the verified kind, the account and what accepting needs.
        let mut name = String::new();
        let mut record: Option<AuthRecord> = None;
        let mut slot: Option<(MailboxSlot, MailboxLimits)> = None;
        let mut secret_used: Option<&str> = None;
        let mut connector_user: Option<AuthenticatedUser> = None;
        let mut credential_id: Option<i64> = None;
        match presented {
            Presented::Nothing => {
                let Some(decision) = needs_credential_check(&facts) else { return Outcome::Proceed };
                self.write_signin(ctx, "", None, &decision).await;
                return Outcome::Refused { decision, delay: Duration::ZERO };
            }
            Presented::Undecodable => facts.response_decoded = false,
            Presented::ConnectorSender { connector, sender } => {
                let allowed = connector.allows_sender(sender);
                facts.connector = Some(authrelay_policy::ConnectorFacts { sender_allowed: allowed });
                name = sender.to_string();
                connector_user = Some(AuthenticatedUser {
                    address: sender.trim().to_lowercase(),
                    send_as: vec![],
                    credential: CredentialKind::Connector,
                    limits: MailboxLimits {
                        max_message_size: None,
                        max_recipients: Some(connector.max_recipients),
                        daily_recipients: connector.daily_recipients,
                        max_sessions: u64::MAX,
                    },
                    slot: None,
                    held: crate::revocation::HeldCredential::Connector,
                    // Senders are invented at will: the connector's own total bounds them all.
                    shared_quota: Some((connector.quota_key(), connector.daily_recipients_total)),
                });
            }
            Presented::Secret { user, secret } => {
                name = user.to_string();
                // Step 3: a locked name is refused before any hash is computed.
                match self.directory.lockout_status(user, &ip, at, &policy).await {
                    Ok(status) => facts.user_locked = status.locked_until.is_some(),
                    Err(e) => tracing::error!(error = %e, "cannot read the lockout state"),
                }
                if needs_credential_check(&facts).is_none() {
                    secret_used = Some(secret);
                    match self.directory.auth_record(&user.trim().to_lowercase()).await {
                        Err(e) => {
                            tracing::error!(error = %e, "directory unavailable during AUTH");
                            facts.credential = CredentialCheck::DirectoryUnavailable;
                        }
                        Ok(found) => {
                            let (check, app_password_id) =
                                verify(secret, found.as_ref(), &self.credentials, &self.pool, peer).await;
                            credential_id = app_password_id;
                            if let (Some(id), CredentialCheck::Verified(CredentialKind::AppPassword)) =
                                (app_password_id, check)
                            {
                                let _ = self.directory.touch_app_password(id, at).await;
                            }
                            if let (Some(r), CredentialCheck::Verified(CredentialKind::DeviceCredential)) =
                                (&found, check)
                            {
                                // The device credential the secret verified against: its rules go to the policy.
                                facts.device = crate::device::facts(r, secret, peer, at);
                            }
                            facts.credential = check;
                            record = found.filter(|_| matches!(check, CredentialCheck::Verified(_)));
                        }
                    }
                }
            }
            Presented::Bearer { claimed, token } => {
                name = claimed.unwrap_or("").trim().to_lowercase();
                facts.credential = match &self.oauth {
                    None => {
                        facts.mechanism_offered = false;
                        CredentialCheck::NotChecked
                    }
                    Some(_) if needs_credential_check(&facts).is_some() => CredentialCheck::NotChecked,
                    Some(validator) => match validator.validate(token).await {
                        Err(authrelay_oauth::TokenError::Expired) => CredentialCheck::TokenExpired,
                        Err(authrelay_oauth::TokenError::Invalid(reason)) => {
                            tracing::info!(target: "authrelay::oauth", client = %peer, reason, "bearer token refused");
                            CredentialCheck::TokenInvalid
                        }
                        Err(authrelay_oauth::TokenError::Unavailable(e)) => {
                            tracing::error!(error = %e, "OAuth issuer unavailable during AUTH");
                            CredentialCheck::DirectoryUnavailable
                        }
                        Ok(user) if claimed.is_some_and(|c| !c.trim().eq_ignore_ascii_case(&user)) => {
                            tracing::info!(target: "authrelay::oauth", client = %peer, "token user differs from the SASL user");
                            CredentialCheck::TokenForAnotherUser
                        }
                        Ok(user) => {
                            name = user.clone();
                            match self.directory.auth_record(&user).await {
                                Err(e) => {
                                    tracing::error!(error = %e, "directory unavailable during AUTH");
                                    CredentialCheck::DirectoryUnavailable
                                }
                                Ok(None) => CredentialCheck::TokenInvalid,
                                Ok(Some(r)) => {
                                    record = Some(r);
                                    CredentialCheck::Verified(CredentialKind::OAuth)
                                }
                            }
                        }
                    },
                };
            }
        }
        if let Some(r) = &record {
            facts.account = Some(AccountFacts { org: r.org, mailbox: r.user.settings });
            // Step 10's fact: a place among the mailbox's sessions. Taken before deciding and
            // given back at once when the decision refuses, so the fact and the place agree.
            let limits = self.mailbox_limits(&r.user.org).await;
            match self.sessions.acquire(&r.user.address, limits.max_sessions, at).await {
                Some(s) => slot = Some((s, limits)),
                None => facts.mailbox_sessions_full = true,
            }
        }

        let decision = decide(&facts);

        let kind = match facts.credential {
            CredentialCheck::Verified(kind) => Some(kind),
            _ => connector_user.as_ref().map(|u| u.credential),
        };
        // A repeat of a recent wrong secret for this name does not count toward its lockout.
        let repeat = secret_used.is_some_and(|s| self.recent_bad.repeat(&name, s));
        if facts.credential == CredentialCheck::Invalid && !repeat {
            match self.directory.record_auth_failure(&name, &ip, at, &policy).await {
                Ok(s) if s.newly_locked => tracing::warn!(
                    target: "authrelay::lockout",
                    user = %Quoted(&name.chars().take(64).collect::<String>()),
                    client = %peer,
                    until = s.locked_until.unwrap_or(0),
                    familiar = s.familiar,
                    "user name locked after repeated failures"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "cannot record a failed attempt for lockout"),
            }
        }
        // The secret was right and the policy accepts it (even if the mailbox is out of sessions).
        if secret_used.is_some() && matches!(decision.check(), Check::Accepted | Check::MailboxSessions) {
            if let Err(e) = self.directory.record_auth_success(&name, &ip, at, &policy).await {
                tracing::error!(error = %e, "cannot record a successful sign-in for lockout");
            }
        }
        self.write_signin(ctx, &name, kind, &decision).await;
        if !decision.accepted() {
            let delay = if decision.spends_address_budget() { self.guard.record_failure(peer) } else { Duration::ZERO };
            return Outcome::Refused { decision, delay };
        }
        if let Some(user) = connector_user {
            return Outcome::Accepted { decision, user };
        }
        let (Some(r), Some(kind), Some((slot, limits))) = (record, kind, slot) else {
            unreachable!("decide accepts only a verified credential with its account and a session place");
        };
        if let (CredentialKind::DeviceCredential, Some(secret)) = (kind, secret_used) {
            if let Some(id) = crate::device::credential_id(&r, secret) {
                let _ = self.directory.touch_device_credential(id, at, &ip).await;
            }
        }
        let held = crate::revocation::HeldCredential::of(kind, &r, credential_id);
        let user = AuthenticatedUser {
            address: r.user.address,
            send_as: r.user.send_as,
            credential: kind,
            limits,
            slot: Some(Arc::new(slot)),
            held,
            shared_quota: None,
        };
        Outcome::Accepted { decision, user }
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

    /// The sign-in row and log lines of one decided attempt; called by [`Self::attempt`] only.
    async fn write_signin(
        &self,
        ctx: &AttemptContext,
        user: &str,
        credential: Option<CredentialKind>,
        decision: &Decision,
    ) {
        let (check, reply) = (decision.check(), decision.reply());
        // Counted before the row's rate limit: the metric sees every attempt.
        metrics::counter!(
            "authrelay_auth_attempts_total",
            "check" => check.as_str(),
            "credential" => credential.map_or("none", |k| k.as_str()),
            "result" => if decision.accepted() { "accepted" } else { "refused" },
        )
        .increment(1);
        // A legacy path in use is a risk to retire: counted apart, by TLS version ("none").
        if ctx.legacy_listener.is_some() {
            metrics::counter!(
                "authrelay_legacy_signins_total",
                "tls" => ctx.tls.clone(),
                "result" => if decision.accepted() { "accepted" } else { "refused" },
            )
            .increment(1);
        }
        // No credential was offered: past a burst, such rows are written at a bounded rate per
        // address, so a client repeating them cannot flood the log (issue 12.3).
        if matches!(check, Check::Tls | Check::Mechanism) && !self.early_rows.allow(ctx.peer.ip()) {
            return;
        }
        let entry = SignInEntry {
            at: self.clock.now_secs(),
            client_ip: ctx.peer.ip().to_string(),
            client_port: ctx.peer.port(),
            tls: ctx.tls.clone(),
            mechanism: ctx.mechanism.chars().take(64).collect(),
            user: user.chars().take(320).collect(),
            credential,
            check,
            reply: Some(reply),
            success: decision.accepted(),
            listener: ctx.legacy_listener.clone(),
        };
        // Client-controlled fields (user, mechanism) are always quoted and escaped
        // (authrelay_core::display), so they cannot end the line or pose as another field.
        tracing::info!(
            target: "authrelay::signin",
            client = %ctx.peer.ip(),
            check = %check,
            reply = reply.as_str(),
            success = entry.success,
            mechanism = %Quoted(&entry.mechanism),
            user = %Quoted(&entry.user),
            tls = %entry.tls,
            legacy_listener = ctx.legacy_listener.as_deref().unwrap_or(""),
            "AUTH attempt"
        );
        if decision.is_failed_login() {
            // The stable line etc/fail2ban/filter.d/authrelay.conf matches; its shape is a
            // contract. Everything before the user name is written by the server alone (the
            // client address first); the name is cut to 64 characters, quoted and escaped.
            let short: String = entry.user.chars().take(64).collect();
            tracing::warn!(
                target: "authrelay::fail2ban",
                "authrelay: auth failure client={} user={} check={} reply={} {}",
                ctx.peer.ip(),
                Quoted(&short),
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

/// Exactly one argon2id verification, in the bounded pool (verify_pool.rs); a pool that cannot
/// take it in time makes the attempt a temporary failure (454 4.7.0), never a wrong password.
async fn verify(
    secret: &str,
    record: Option<&AuthRecord>,
    cache: &CredentialCache,
    pool: &crate::verify_pool::VerifyPool,
    ip: std::net::IpAddr,
) -> (CredentialCheck, Option<i64>) {
    let secret = secret.to_string();
    // The hashes to check: one, except for app passwords that share a hint. New app passwords
    // never share one (crates/ops), but a mailbox created before that rule may hold two; each
    // is tried, so the second one still works (at most MAX_APP_PASSWORDS, never attacker-made).
    let candidates: Vec<(String, Option<CredentialKind>, Option<i64>, String)> = match record {
        None => vec![(secrets::dummy_hash().to_string(), None, None, secret)],
        Some(r) if authrelay_directory::device::tag_of(&secret).is_some() => {
            // Shaped like a device credential: the one with its tag, or the account password
            // (so someone whose password happens to look like this still signs in).
            match crate::device::find(r, &secret) {
                Some(d) => vec![(
                    d.hash.clone(),
                    Some(CredentialKind::DeviceCredential),
                    Some(d.id),
                    authrelay_directory::device::normalize(&secret).to_string(),
                )],
                None => vec![(r.password_hash.clone(), Some(CredentialKind::Password), None, secret)],
            }
        }
        Some(r) => {
            let normalized = secrets::normalize_app_password(&secret);
            let hint = secrets::looks_like_app_password(&secret).then(|| secrets::app_password_hint(&normalized));
            let apps: Vec<_> = r
                .app_passwords
                .iter()
                .filter(|a| hint.as_deref() == Some(a.hint.as_str()))
                .map(|a| (a.hash.clone(), Some(CredentialKind::AppPassword), Some(a.id), normalized.clone()))
                .collect();
            if apps.is_empty() {
                vec![(r.password_hash.clone(), Some(CredentialKind::Password), None, secret)]
            } else {
                apps
            }
        }
    };
    for (hash, kind, credential_id, candidate) in candidates {
        // A credential verified within the last minute skips argon2id; only the verification is
        // cached, and the stored hash is part of the tag, so a changed credential misses.
        let tag = record.map(|r| cache.tag(&r.user.address, &candidate, &hash));
        let ok = match tag {
            Some(tag) if cache.verified_recently(&tag) => true,
            _ => {
                let ok = match pool.verify(ip, candidate, hash).await {
                    Ok(ok) => ok,
                    Err(busy) => {
                        tracing::info!(target: "authrelay::auth", client = %ip, reason = %busy, "AUTH deferred: verification pool busy");
                        return (CredentialCheck::DirectoryUnavailable, None);
                    }
                };
                if let (true, Some(tag)) = (ok, tag) {
                    cache.remember(tag);
                }
                ok
            }
        };
        if let (true, Some(kind)) = (ok, kind) {
            return (CredentialCheck::Verified(kind), credential_id);
        }
    }
    (CredentialCheck::Invalid, None)
}

#[cfg(test)]
mod tests {
    use authrelay_core::ReplyId;

    const AUTH_PATH: &[(&str, &str)] = &[
        ("auth.rs", include_str!("auth.rs")),
        ("session/auth.rs", include_str!("session/auth.rs")),
        ("session/bearer.rs", include_str!("session/bearer.rs")),
        ("session/connector_mail.rs", include_str!("session/connector_mail.rs")),
    ];

    /// The code of the AUTH stage (and a connector's MAIL decision), without this test module.
    fn auth_code(_file: &str, text: &'static str) -> &'static str {
        text.split("#[cfg(test)]").next().unwrap_or(text)
    }

    /// Every reply the AUTH path names is a row of the policy table (it came from `decide`) or
    /// one of the protocol replies no policy decides: the command out of sequence, the client's
    /// own `*`, and the 334 challenges of the exchange.
    #[test]
    fn every_auth_reply_of_the_session_is_decided_by_the_policy() {
        let protocol = ["HelloFirst", "AlreadyAuthenticated", "AuthInTransaction", "AuthCancelled", "AuthChallenge"];
        let mut named = 0;
        for (file, text) in AUTH_PATH {
            let code = auth_code(file, text);
            for piece in code.split("ReplyId::").skip(1) {
                let name: String = piece.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
                let id = ReplyId::from_name(&name).unwrap_or_else(|| panic!("{file}: ReplyId::{name}?"));
                named += 1;
                assert!(
                    protocol.contains(&name.as_str()) || authrelay_policy::TABLE.iter().any(|(_, r)| *r == id),
                    "{file} answers ReplyId::{name}, which `decide` does not produce"
                );
            }
        }
        assert!(named >= protocol.len(), "the scan found the AUTH path's replies");
    }

    /// `attempt` is the only caller of `decide` and the only writer of sign-in rows in this crate.
    #[test]
    fn attempt_alone_decides_and_writes_the_sign_in_log() {
        let sources: &[(&str, &str)] = &[
            ("auth.rs", include_str!("auth.rs")),
            ("session.rs", include_str!("session.rs")),
            ("session/bearer.rs", include_str!("session/bearer.rs")),
            ("session/connector_mail.rs", include_str!("session/connector_mail.rs")),
            ("session/auth.rs", include_str!("session/auth.rs")),
            ("session/hello.rs", include_str!("session/hello.rs")),
            ("session/mail.rs", include_str!("session/mail.rs")),
            ("session/rcpt.rs", include_str!("session/rcpt.rs")),
            ("session/data.rs", include_str!("session/data.rs")),
            ("server.rs", include_str!("server.rs")),
            ("connector.rs", include_str!("connector.rs")),
            ("ledger.rs", include_str!("ledger.rs")),
            ("device.rs", include_str!("device.rs")),
            ("submissions.rs", include_str!("submissions.rs")),
            ("protection.rs", include_str!("protection.rs")),
        ];
        for (file, text) in sources {
            let code = text.split("#[cfg(test)]").next().unwrap();
            let decides = code.matches("decide(&").count();
            let writes = code.matches(".record_signin(").count() + code.matches("write_signin(").count();
            if *file == "auth.rs" {
                let attempt =
                    &code[code.find("pub async fn attempt(").unwrap()..code.find("async fn mailbox_limits").unwrap()];
                assert_eq!((decides, attempt.matches("decide(&").count()), (1, 1), "one decide, in attempt");
                // attempt calls write_signin (twice: the pre-check and the decision); write_signin
                // holds the one record_signin.
                assert_eq!(attempt.matches("write_signin(").count(), 2);
                assert_eq!(code.matches(".record_signin(").count(), 1);
                assert_eq!(code.matches("self.write_signin(").count(), 2, "nothing else writes a row");
            } else {
                assert_eq!((decides, writes), (0, 0), "{file} decides or writes a sign-in row itself");
            }
        }
    }
}
