//! Certificates from an ACME CA (RFC 8555, `[tls] acme`; README "Certificates").
//!
//! Why HTTP-01 and not TLS-ALPN-01: the CA validates TLS-ALPN-01 on port 443 and HTTP-01 on
//! port 80 of each domain, never on 465 or 587. A mail relay listens on neither, and 443 is
//! usually a web server's; port 80 is the one most mail hosts can spare or forward. So while an
//! order is pending a small responder answers `/.well-known/acme-challenge/<token>` on
//! `tls.acme.http_challenge` (default `[::]:80`), and nothing listens there the rest of the time.
//!
//! Everything lives in `<data_dir>/acme/` (0700): `account.json` (the account's key and URL,
//! 0600), `key.pem` and `cert.pem` (the served pair), `status.json` (the last attempt, read by
//! `cert show`, `cert renew` and the admin center's home page) and `renew-requested` (left by
//! `authrelay cert renew`). Until the first certificate arrives the self-signed one is served.
//!
//! One background task ([`spawn`]) obtains the certificate when it is missing, does not name
//! every domain, or has a third of its lifetime left, and swaps it into the listeners through
//! [`crate::tls::CurrentCert`] (the reload path): handshakes after the swap get the new one,
//! open sessions keep theirs. A failed attempt is retried after 1, 2, 4, … minutes (at most
//! 6 hours); each failure counts in `authrelay_tls_certificate_renewal_failures_total`, and from
//! the third in a row the log says so at error level and the admin center's home page shows it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use authrelay_config::acme::Acme;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount, NewOrder, OrderStatus,
    RetryPolicy,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// How long one whole attempt (account, order, validation, issuance) may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(300);
/// The first retry after a failure; doubled after each further one up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(60);
const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);
/// Failures in a row after which renewal "keeps failing": error in the log, warning on the
/// admin center's home page.
pub const FAILING_AFTER: u32 = 3;
/// The longest the task sleeps between checks (a clock jump or an edited file is noticed).
const MAX_SLEEP: Duration = Duration::from_secs(12 * 3600);

pub use crate::tls::{acme_paths as paths, AcmePaths as Paths};

/// `status.json`: what the last attempts did (Unix seconds).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Status {
    pub domains: Vec<String>,
    pub not_after: Option<i64>,
    pub last_attempt: Option<i64>,
    pub last_success: Option<i64>,
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    pub next_attempt: Option<i64>,
}

impl Status {
    pub fn read(data_dir: &Path) -> Option<Status> {
        serde_json::from_slice(&std::fs::read(paths(data_dir).status).ok()?).ok()
    }

    /// The warning the admin center's home page shows, when renewal keeps failing.
    pub fn warning(&self) -> Option<String> {
        (self.consecutive_failures >= FAILING_AFTER).then(|| {
            format!(
                "{} attempts in a row failed; the last: {}",
                self.consecutive_failures,
                self.last_error.as_deref().unwrap_or("-")
            )
        })
    }

    fn write(&self, data_dir: &Path) {
        let p = paths(data_dir);
        let body = serde_json::to_vec_pretty(self).unwrap_or_default();
        if let Err(e) = crate::tls::create_private_dir(&p.dir).and_then(|_| crate::tls::write_private(&p.status, &body))
        {
            tracing::warn!(error = %e, "acme: cannot record the attempt in status.json");
        }
    }
}

/// Why the certificate must be obtained now, if it must.
pub fn renewal_due(
    facts: Option<&authrelay_troubleshoot::cert::CertFacts>,
    domains: &[String],
    now: i64,
) -> Option<&'static str> {
    let Some(facts) = facts else { return Some("there is no certificate from the CA yet") };
    if domains.iter().any(|d| !facts.names.iter().any(|n| n.eq_ignore_ascii_case(d))) {
        return Some("the certificate does not name every domain of tls.acme.domains");
    }
    if now >= renew_at(facts) {
        return Some("a third of the certificate's lifetime is left");
    }
    None
}

/// When a certificate is renewed: with a third of its lifetime left (30 of Let's Encrypt's 90
/// days), as the CA recommends, leaving weeks for retries.
pub fn renew_at(facts: &authrelay_troubleshoot::cert::CertFacts) -> i64 {
    let lifetime = (facts.not_after - facts.not_before).max(0);
    facts.not_after - lifetime / 3
}

/// The running task's handles: wake it (reload, `cert renew`) and give it new settings.
pub struct AcmeHandle {
    wake: Arc<tokio::sync::Notify>,
    settings: tokio::sync::watch::Sender<Acme>,
    pub task: tokio::task::JoinHandle<()>,
}

impl AcmeHandle {
    /// A reload: new settings (if any changed) and a check now, which also serves a renewal
    /// `authrelay cert renew` asked for.
    pub fn reload(&self, acme: Option<&Acme>) {
        if let Some(acme) = acme {
            self.settings.send_if_modified(|old| {
                let changed = old != acme;
                *old = acme.clone();
                changed
            });
        }
        self.wake.notify_one();
    }
}

/// Starts the task that keeps the ACME certificate current.
pub fn spawn(
    acme: Acme,
    data_dir: PathBuf,
    current: Arc<crate::tls::CurrentCert>,
    shutdown: CancellationToken,
) -> AcmeHandle {
    let wake = Arc::new(tokio::sync::Notify::new());
    let (settings, receiver) = tokio::sync::watch::channel(acme);
    let task = tokio::spawn(run(receiver, data_dir, current, wake.clone(), shutdown));
    AcmeHandle { wake, settings, task }
}

async fn run(
    settings: tokio::sync::watch::Receiver<Acme>,
    data_dir: PathBuf,
    current: Arc<crate::tls::CurrentCert>,
    wake: Arc<tokio::sync::Notify>,
    shutdown: CancellationToken,
) {
    let p = paths(&data_dir);
    let mut status = Status::read(&data_dir).unwrap_or_default();
    loop {
        let acme = settings.borrow().clone();
        let now = now();
        let facts = crate::tls::read_facts(&p.cert);
        let requested = p.renew_requested.exists();
        let reason = if requested {
            Some("renewal was requested (authrelay cert renew)")
        } else if status.next_attempt.is_some_and(|at| at > now) && status.domains == acme.domains {
            // Backing off after a failure; a reload or `cert renew` wakes the task earlier.
            None
        } else {
            renewal_due(facts.as_ref(), &acme.domains, now)
        };
        let sleep = match reason {
            None => {
                let due = facts.as_ref().map(renew_at).unwrap_or(now);
                let at = status.next_attempt.filter(|at| *at > now).unwrap_or(due);
                Duration::from_secs(at.saturating_sub(now).max(1) as u64).min(MAX_SLEEP)
            }
            Some(reason) => {
                tracing::info!(domains = ?acme.domains, directory = %acme.directory, reason, "acme: asking the CA for a certificate");
                status.domains = acme.domains.clone();
                status.last_attempt = Some(now);
                let _ = std::fs::remove_file(&p.renew_requested);
                let outcome = match tokio::time::timeout(ATTEMPT_TIMEOUT, obtain(&acme, &p)).await {
                    Ok(outcome) => outcome,
                    Err(_) => Err(format!(
                        "the CA did not finish within {} s; it may be overloaded, or it cannot reach http://{}/.well-known/acme-challenge/ (port 80 forwarded to tls.acme.http_challenge {})",
                        ATTEMPT_TIMEOUT.as_secs(),
                        acme.domains[0],
                        acme.http_challenge
                    )),
                };
                match outcome.and_then(|not_after| current.reload(&p.cert, &p.key).map(|_| not_after)) {
                    Ok(not_after) => {
                        crate::metrics::certificate_served(&p.cert);
                        let expires = crate::output::when(authrelay_i18n::Lang::En, Some(not_after));
                        tracing::info!(domains = ?acme.domains, expires = %expires, "acme: certificate obtained and swapped in; new connections get it, open sessions keep theirs");
                        status.not_after = Some(not_after);
                        status.last_success = Some(self::now());
                        status.consecutive_failures = 0;
                        status.last_error = None;
                        status.next_attempt = None;
                        status.write(&data_dir);
                        continue;
                    }
                    Err(error) => {
                        status.consecutive_failures += 1;
                        metrics::counter!("authrelay_tls_certificate_renewal_failures_total").increment(1);
                        let backoff = backoff(status.consecutive_failures);
                        status.last_error = Some(error.clone());
                        status.next_attempt = Some(self::now() + backoff.as_secs() as i64);
                        status.write(&data_dir);
                        let served = crate::tls::read_facts(&p.cert)
                            .map(|f| crate::output::when(authrelay_i18n::Lang::En, Some(f.not_after)));
                        if status.consecutive_failures >= FAILING_AFTER {
                            tracing::error!(failures = status.consecutive_failures, retry_in_secs = backoff.as_secs(), served_certificate_expires = ?served, %error, "acme: certificate renewal keeps failing");
                        } else {
                            tracing::warn!(failures = status.consecutive_failures, retry_in_secs = backoff.as_secs(), %error, "acme: could not obtain a certificate; will retry");
                        }
                        backoff
                    }
                }
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = wake.notified() => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// 1, 2, 4, … minutes after the 1st, 2nd, 3rd … failure in a row, at most 6 hours.
pub fn backoff(failures: u32) -> Duration {
    let factor = 1u32.checked_shl(failures.saturating_sub(1).min(16)).unwrap_or(u32::MAX);
    FIRST_BACKOFF.saturating_mul(factor).min(MAX_BACKOFF)
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// `account.json`: the account and the directory it belongs to (a new directory means a new
/// account).
#[derive(Serialize, Deserialize)]
struct StoredAccount {
    directory: String,
    credentials: AccountCredentials,
}

/// One attempt: account, order, HTTP-01 for every domain, key and CSR, certificate. Writes the
/// pair to `acme/` and returns the certificate's expiry. Errors are sentences naming the fix.
async fn obtain(acme: &Acme, p: &Paths) -> Result<i64, String> {
    crate::tls::create_private_dir(&p.dir)?;
    for domain in &acme.domains {
        // A hint only: the CA resolves with its own resolvers.
        if tokio::net::lookup_host((domain.as_str(), 80)).await.map(|mut a| a.next().is_none()).unwrap_or(true) {
            tracing::warn!(
                domain,
                "acme: the name does not resolve from this host; the CA needs an A or AAAA record pointing here"
            );
        }
    }
    let account = account(acme, p).await?;
    let identifiers: Vec<Identifier> = acme.domains.iter().map(|d| Identifier::Dns(d.clone())).collect();
    let mut order =
        account.new_order(&NewOrder::new(&identifiers)).await.map_err(|e| api_error("create an order", &e, acme))?;

    // The responder is up before the CA is told to look.
    let tokens: Tokens = Arc::new(Mutex::new(HashMap::new()));
    let responder = Responder::bind(acme.http_challenge, tokens.clone()).await?;
    {
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization.map_err(|e| api_error("read an authorization", &e, acme))?;
            match authorization.status {
                AuthorizationStatus::Valid => continue,
                AuthorizationStatus::Pending => {}
                other => {
                    return Err(format!(
                        "the CA's authorization for {} is {other:?}; a new order will be tried",
                        authorization.identifier()
                    ))
                }
            }
            let mut challenge = authorization
                .challenge(ChallengeType::Http01)
                .ok_or_else(|| "the CA offers no HTTP-01 challenge, the only one authrelay answers".to_string())?;
            tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(challenge.token.clone(), challenge.key_authorization().as_str().to_string());
            challenge.set_ready().await.map_err(|e| api_error("answer the challenge", &e, acme))?;
        }
    }
    let status = order.poll_ready(&RetryPolicy::new().timeout(Duration::from_secs(120))).await;
    let status = status.map_err(|e| api_error("wait for validation", &e, acme))?;
    if status != OrderStatus::Ready {
        return Err(validation_failure(&mut order, acme).await);
    }
    drop(responder);
    let key_pem = order.finalize().await.map_err(|e| api_error("finalize the order", &e, acme))?;
    let chain_pem = order
        .poll_certificate(&RetryPolicy::new().timeout(Duration::from_secs(120)))
        .await
        .map_err(|e| api_error("download the certificate", &e, acme))?;
    // Checked before it replaces anything: the key fits and the chain parses.
    let tmp_cert = p.dir.join("cert.pem.new");
    let tmp_key = p.dir.join("key.pem.new");
    crate::tls::write_private(&tmp_key, key_pem.as_bytes())?;
    crate::tls::write_private(&tmp_cert, chain_pem.as_bytes())?;
    crate::tls::CurrentCert::load(&tmp_cert, &tmp_key).map_err(|e| format!("the CA's certificate is unusable: {e}"))?;
    let facts = crate::tls::read_facts(&tmp_cert).ok_or("the CA's certificate cannot be read")?;
    // Key first: a crash between the two renames leaves the old certificate with a key that
    // does not fit, which the next start notices and repairs by ordering again.
    rename(&tmp_key, &p.key)?;
    rename(&tmp_cert, &p.cert)?;
    Ok(facts.not_after)
}

fn rename(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::rename(from, to).map_err(|e| format!("cannot write {}: {e}", to.display()))
}

/// The stored account, or a new one (stored at once, 0600).
async fn account(acme: &Acme, p: &Paths) -> Result<Account, String> {
    // instant-acme's HTTPS client asks rustls for the process default; the workspace compiles
    // two providers (ring comes with mail-auth), so it must be named. Err: already installed.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let builder = || match &acme.directory_ca {
        Some(ca) => Account::builder_with_root(ca)
            .map_err(|e| format!("tls.acme.directory_ca {}: {e}; it must be a PEM certificate", ca.display())),
        None => Account::builder().map_err(|e| format!("cannot set up the HTTPS client: {e}")),
    };
    if let Ok(bytes) = std::fs::read(&p.account) {
        match serde_json::from_slice::<StoredAccount>(&bytes) {
            Ok(stored) if stored.directory == acme.directory => {
                return builder()?
                    .from_credentials(stored.credentials)
                    .await
                    .map_err(|e| api_error("open the account", &e, acme));
            }
            Ok(_) => {
                tracing::info!(directory = %acme.directory, "acme: the directory changed; registering a new account")
            }
            Err(e) => {
                tracing::warn!(path = %p.account.display(), error = %e, "acme: the stored account cannot be read; registering a new one")
            }
        }
    }
    let contact = [acme.contact.as_str()];
    let new = NewAccount { contact: &contact, terms_of_service_agreed: true, only_return_existing: false };
    let (account, credentials) = builder()?
        .create(&new, acme.directory.clone(), None)
        .await
        .map_err(|e| api_error("register an account", &e, acme))?;
    let stored = StoredAccount { directory: acme.directory.clone(), credentials };
    crate::tls::write_private(&p.account, &serde_json::to_vec(&stored).map_err(|e| e.to_string())?)?;
    tracing::info!(directory = %acme.directory, account = account.id(), "acme: registered an account; its key is in acme/account.json");
    Ok(account)
}

/// Why validation failed, from the challenges' error documents, with the fix.
async fn validation_failure(order: &mut instant_acme::Order, acme: &Acme) -> String {
    let mut reasons = vec![];
    let mut authorizations = order.authorizations();
    while let Some(Ok(authorization)) = authorizations.next().await {
        let domain = authorization.identifier().to_string();
        for challenge in &authorization.challenges {
            if let Some(problem) = &challenge.error {
                reasons.push(format!("{domain}: {}", problem_text(problem, acme)));
            }
        }
    }
    if reasons.is_empty() {
        reasons.push("the CA refused the order without saying why".into());
    }
    reasons.join("; ")
}

/// One sentence for an ACME problem document: what the CA said and what to change.
fn problem_text(problem: &instant_acme::Problem, acme: &Acme) -> String {
    let detail = problem.detail.clone().unwrap_or_else(|| problem.to_string());
    let kind = problem.r#type.as_deref().unwrap_or("").rsplit(':').next().unwrap_or("");
    let fix = match kind {
        "dns" => "publish an A or AAAA record for the name pointing at this server".to_string(),
        "connection" | "unauthorized" | "incorrectResponse" => format!(
            "port 80 of the name must reach this server's tls.acme.http_challenge ({}); check DNS, the firewall and port forwarding",
            acme.http_challenge
        ),
        "rateLimited" => "the CA's rate limit was hit; authrelay retries later (test against the CA's staging directory)".into(),
        "rejectedIdentifier" => "the CA will not issue for this name; change tls.acme.domains".into(),
        "invalidContact" | "unsupportedContact" => "change tls.acme.contact".into(),
        "badNonce" => "retrying".into(),
        _ => return detail,
    };
    format!("{detail} — {fix}")
}

/// An error of one step, named with the step and, for an unreachable directory, the fix.
fn api_error(step: &str, error: &instant_acme::Error, acme: &Acme) -> String {
    match error {
        instant_acme::Error::Api(problem) => format!("the CA refused to {step}: {}", problem_text(problem, acme)),
        instant_acme::Error::Timeout(_) => {
            format!("the CA did not {step} in time; it may be busy or cannot reach http://{}/.well-known/acme-challenge/", acme.domains[0])
        }
        other => format!(
            "cannot {step}: the ACME directory {} is unreachable or answered badly ({other}); check the URL, this host's outbound HTTPS (proxy, firewall) and, for a private CA, tls.acme.directory_ca",
            acme.directory
        ),
    }
}

type Tokens = Arc<Mutex<HashMap<String, String>>>;

/// The HTTP-01 responder: answers `GET /.well-known/acme-challenge/<token>` with the key
/// authorization while the order is pending; closed when dropped.
struct Responder {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Responder {
    async fn bind(address: SocketAddr, tokens: Tokens) -> Result<Responder, String> {
        let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
            format!(
                "cannot listen on {address} for the HTTP-01 challenge ({e}); free that port or set tls.acme.http_challenge to another address and forward port 80 to it (binding a port below 1024 needs CAP_NET_BIND_SERVICE)"
            )
        })?;
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let tokens = tokens.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(10), answer(stream, tokens)).await;
                });
            }
        });
        Ok(Responder { task })
    }
}

/// One request on one connection (the CA's validators send one and close).
async fn answer(mut stream: tokio::net::TcpStream, tokens: Tokens) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > 8192 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut parts = line.split_whitespace();
    let body = match (parts.next(), parts.next()) {
        (Some("GET"), Some(path)) => path
            .strip_prefix("/.well-known/acme-challenge/")
            .and_then(|token| tokens.lock().unwrap_or_else(|e| e.into_inner()).get(token).cloned()),
        _ => None,
    };
    let reply = match body {
        Some(body) => format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string(),
    };
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use authrelay_troubleshoot::cert::CertFacts;

    fn facts(names: &[&str], not_before: i64, not_after: i64) -> CertFacts {
        CertFacts {
            subject: String::new(),
            issuer: String::new(),
            names: names.iter().map(|s| s.to_string()).collect(),
            not_before,
            not_after,
        }
    }

    #[test]
    fn renewal_is_due_at_a_third_of_the_lifetime_or_when_a_name_is_missing() {
        let domains = vec!["smtp.contoso.com".to_string()];
        let day = 86_400;
        let c = facts(&["smtp.contoso.com"], 0, 90 * day);
        assert_eq!(renew_at(&c), 60 * day);
        assert_eq!(renewal_due(Some(&c), &domains, 60 * day - 1), None);
        assert!(renewal_due(Some(&c), &domains, 60 * day).is_some());
        assert!(renewal_due(None, &domains, 0).is_some());
        let other = facts(&["mail.contoso.com"], 0, 90 * day);
        assert!(renewal_due(Some(&other), &domains, day).unwrap().contains("name"));
    }

    #[test]
    fn backoff_doubles_from_a_minute_to_six_hours() {
        let secs: Vec<u64> = [1, 2, 3, 4, 9, 10, 100].iter().map(|f| backoff(*f).as_secs()).collect();
        assert_eq!(secs, [60, 120, 240, 480, 15_360, 21_600, 21_600]);
    }
}
