//! Who is calling: admin sign-in (password, then TOTP while security defaults are on), the
//! session cookie and API tokens, and the [`Caller`] every handler receives.

use authrelay_core::SecurityDefaults;
use authrelay_directory::admin::{token_hash, Admin, AdminSession};
use authrelay_directory::secrets;
use authrelay_i18n::Lang;
use authrelay_ops::{Actor, Permission, Role};
use axum::extract::FromRequestParts;
use axum::http::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::http::{cookie, ct_eq, lang_of, random_token, ApiError, CSRF_HEADER, SESSION_COOKIE};
use crate::limiter::TotpWait;
use crate::state::{now, SharedState};
use crate::totp;

/// In front of every request: the Host must name this admin center (DNS rebinding), the
/// request target and the body must be within bounds (nothing larger is read or kept).
pub async fn request_guard(
    axum::extract::State(state): axum::extract::State<SharedState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use crate::http::{body_limit, host_allowed, MAX_URI};
    let lang = lang_of(request.headers());
    let host = request.headers().get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let host = if host.is_empty() { request.uri().authority().map(|a| a.as_str()).unwrap_or("") } else { host };
    let allowed = host_allowed(host, &state.allowed_hosts.read().unwrap_or_else(|e| e.into_inner()));
    if !allowed {
        return ApiError::new(StatusCode::MISDIRECTED_REQUEST, "unknown-host", lang, "api-err-unknown-host", &[])
            .into_response();
    }
    if request.uri().to_string().len() > MAX_URI {
        return ApiError::new(StatusCode::URI_TOO_LONG, "too-large", lang, "api-err-too-large", &[]).into_response();
    }
    let length = request.headers().get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok());
    let max = body_limit(request.uri().path()) as u64;
    if length.and_then(|v| v.parse::<u64>().ok()).is_some_and(|n| n > max) {
        return ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", lang, "api-err-too-large", &[])
            .into_response();
    }
    next.run(request).await
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/, Secure on TLS.
pub fn set_cookie(state: &SharedState, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if state.config.tls.is_some() {
        c.push_str("; Secure");
    }
    HeaderValue::from_str(&c).expect("cookie values are hex or short words")
}

// ---------------------------------------------------------------------------------------------
// The caller

/// How the caller proved who they are.
#[derive(Debug, Clone)]
pub enum Via {
    Session(AdminSession),
    Token { name: String },
}

/// A signed-in admin (second factor done) making a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub admin: Admin,
    pub role: Role,
    pub lang: Lang,
    pub via: Via,
}

impl Caller {
    /// Who the operations layer records as making a change.
    pub fn actor(&self) -> Actor {
        match &self.via {
            Via::Session(_) => Actor::admin(&self.admin.address, self.role, self.admin.id),
            Via::Token { name } => Actor::token(&self.admin.address, name, self.role, self.admin.id),
        }
    }

    pub fn may(&self, p: Permission) -> bool {
        self.role.allows(p)
    }

    pub fn require(&self, p: Permission) -> Result<(), ApiError> {
        if self.may(p) {
            Ok(())
        } else {
            Err(ApiError::forbidden(self.lang, p, self.role))
        }
    }

    pub fn csrf(&self) -> &str {
        match &self.via {
            Via::Session(s) => &s.csrf,
            Via::Token { .. } => "",
        }
    }
}

/// A caller of `/api`: a bearer token, or a session cookie plus `X-CSRF-Token` on changes.
pub struct ApiCaller(pub Caller);

impl FromRequestParts<SharedState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, ApiError> {
        let lang = lang_of(&parts.headers);
        if let Some(auth) = parts.headers.get(AUTHORIZATION) {
            let token = auth.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")).map(str::trim).unwrap_or("");
            let found =
                state.store.use_api_token(&token_hash(token), now()).await.map_err(|e| ApiError::storage(lang, e))?;
            let Some((token, admin)) = found else {
                return Err(ApiError::new(StatusCode::UNAUTHORIZED, "bad-token", lang, "api-err-bad-token", &[]));
            };
            let (Some(token_role), Some(admin_role)) = (Role::parse(&token.role), Role::parse(&admin.role)) else {
                return Err(ApiError::new(StatusCode::UNAUTHORIZED, "bad-token", lang, "api-err-bad-token", &[]));
            };
            // A token never carries more than its owner holds today.
            if admin_role != Role::Global && admin_role != token_role {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "token-role-outdated",
                    lang,
                    "api-err-token-role",
                    &[],
                ));
            }
            return Ok(ApiCaller(Caller { admin, role: token_role, lang, via: Via::Token { name: token.name } }));
        }
        let session = session_of(state, &parts.headers, lang).await?;
        if !session.mfa_done {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "totp-required", lang, "api-err-totp-pending", &[]));
        }
        if !is_safe(&parts.method) {
            let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !ct_eq(sent, &session.csrf) {
                return Err(ApiError::new(StatusCode::FORBIDDEN, "csrf", lang, "api-err-csrf", &[]));
            }
        }
        let role = Role::parse(&session.admin.role).unwrap_or(Role::Reports);
        Ok(ApiCaller(Caller { admin: session.admin.clone(), role, lang, via: Via::Session(session) }))
    }
}

/// The live session named by the cookie: 401 `not-signed-in` without one, `session-expired`
/// when the cookie names a session that is gone.
pub async fn session_of(state: &SharedState, headers: &HeaderMap, lang: Lang) -> Result<AdminSession, ApiError> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "not-signed-in", lang, "api-err-not-signed-in", &[]));
    };
    match state.store.session(&token_hash(&id), now()).await.map_err(|e| ApiError::storage(lang, e))? {
        Some(s) => Ok(s),
        None => Err(ApiError::new(StatusCode::UNAUTHORIZED, "session-expired", lang, "api-err-session-expired", &[])),
    }
}

pub fn is_safe(m: &Method) -> bool {
    matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// A caller of the web pages; without a complete sign-in the browser is sent to sign in.
pub struct WebCaller(pub Caller);

impl FromRequestParts<SharedState> for WebCaller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &SharedState) -> Result<Self, Response> {
        let lang = lang_of(&parts.headers);
        match session_of(state, &parts.headers, lang).await {
            Ok(session) if session.mfa_done => {
                let role = Role::parse(&session.admin.role).unwrap_or(Role::Reports);
                Ok(WebCaller(Caller { admin: session.admin.clone(), role, lang, via: Via::Session(session) }))
            }
            Ok(_) => Err(Redirect::to(&with_next("/signin/totp", parts, &[])).into_response()),
            Err(e) if e.code == "storage" => Err(e.into_response()),
            Err(e) => {
                let expired: &[(&str, String)] =
                    if e.code == "session-expired" { &[("expired", String::new())] } else { &[] };
                Err(Redirect::to(&with_next("/signin", parts, expired)).into_response())
            }
        }
    }
}

/// `to` with the page the browser asked for as `next` (a GET only: a form posted without a
/// session is not replayed), so sign-in returns there (`crate::lists::return_to` checks it).
fn with_next(to: &str, parts: &Parts, extra: &[(&str, String)]) -> String {
    let mut params: Vec<String> =
        extra.iter().map(|(k, v)| if v.is_empty() { format!("{k}=1") } else { format!("{k}={v}") }).collect();
    let asked = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    if parts.method == Method::GET && asked != "/" && crate::lists::return_to(Some(asked)).is_some() {
        params.push(format!("next={}", crate::lists::enc(asked)));
    }
    if params.is_empty() {
        to.to_string()
    } else {
        format!("{to}?{}", params.join("&"))
    }
}

/// Where a sign-in stands after the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Signed in.
    Done,
    /// The admin has a TOTP secret; the code is needed.
    Totp,
    /// Security defaults require a second factor and the admin has none yet: enrol now.
    Enroll,
}

/// Whether admins must give a second factor: while security defaults are on in any
/// organisation (and before the first organisation exists, since new ones start with them on).
pub async fn security_defaults_on(state: &SharedState) -> Result<bool, authrelay_directory::DirectoryError> {
    let orgs = state.directory.list_orgs().await?;
    Ok(orgs.is_empty() || orgs.iter().any(|o| o.settings.security_defaults == SecurityDefaults::On))
}

/// A sign-in refusal: code and message id.
#[derive(Debug)]
pub struct Refused {
    pub status: StatusCode,
    pub code: &'static str,
    pub id: &'static str,
}

/// Longest admin address and password looked at; longer input is refused unread (no hashing,
/// nothing kept but a bounded limiter key).
const MAX_ADDRESS: usize = 320;
const MAX_PASSWORD: usize = 1024;
const MAX_CODE: usize = 16;

/// A client-controlled value as it may appear in a log line: printable ASCII without spaces,
/// quotes or backslashes, everything else as `\xNN`, cut to 100 characters. Nothing a client
/// types can end the field, add a field or start another line.
pub fn log_safe(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars().take(100) {
        if c.is_ascii_graphic() && c != '"' && c != '\\' {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    out
}

/// A refused admin sign-in: counted, one fail2ban line (client first, written by the server)
/// and one audit record.
async fn failed(state: &SharedState, ip: &str, address: &str, stage: &str, at: i64) {
    state.limiter.failed(address, ip, at);
    let user = log_safe(address);
    tracing::warn!(
        target: "authrelay::fail2ban",
        "authrelay: admin sign-in failure client={ip} stage={stage} user=\"{user}\""
    );
    state.ops.audit(&format!("client {ip}"), "admin.sign-in-failed", &user, "-", stage).await;
}

fn totp_wait(wait: TotpWait) -> Refused {
    match wait {
        TotpWait::Backoff(_) => {
            Refused { status: StatusCode::TOO_MANY_REQUESTS, code: "rate-limited", id: "api-err-rate-limited" }
        }
        TotpWait::Locked(_) => {
            Refused { status: StatusCode::TOO_MANY_REQUESTS, code: "totp-locked", id: "api-err-totp-locked" }
        }
    }
}

/// Checks a TOTP code for `admin_id` against the per-account gate (wait, lock), and counts
/// the result. A correct password never reaches `totp_succeeded`; only a correct code does.
async fn check_code(
    state: &SharedState,
    ip: &str,
    address: &str,
    admin_id: i64,
    secret: &str,
    code: &str,
    at: i64,
) -> Result<Option<i64>, Refused> {
    let key = crate::limiter::totp_key(admin_id, secret);
    if let Err(wait) = state.limiter.totp_gate(&key, at) {
        if matches!(wait, TotpWait::Locked(_)) {
            failed(state, ip, address, "locked", at).await;
        }
        return Err(totp_wait(wait));
    }
    let step = if code.len() > MAX_CODE { None } else { totp::verify(secret, code, at) };
    if step.is_none() {
        let n = state.limiter.totp_failed(&key, at);
        failed(state, ip, address, "totp", at).await;
        if n == crate::limiter::TOTP_LOCK_AFTER {
            state.ops.audit(&format!("client {ip}"), "admin.totp-locked", &log_safe(address), "-", "locked").await;
        }
    }
    Ok(step)
}

/// Checks the password (and the TOTP code when one is given and needed), counts failures, and
/// opens a session. Returns the session id (for the cookie), the session and its stage.
pub async fn sign_in(
    state: &SharedState,
    ip: &str,
    address: &str,
    password: &str,
    code: Option<&str>,
) -> Result<(String, AdminSession, Stage), Refused> {
    let at = now();
    let refused = |status, code, id| Refused { status, code, id };
    if !state.limiter.allowed(address, ip, at) {
        return Err(refused(StatusCode::TOO_MANY_REQUESTS, "rate-limited", "api-err-rate-limited"));
    }
    let bad = || refused(StatusCode::UNAUTHORIZED, "bad-credentials", "api-err-bad-credentials");
    if address.len() > MAX_ADDRESS || password.len() > MAX_PASSWORD {
        failed(state, ip, address, "password", at).await;
        return Err(bad());
    }
    let storage = |_| refused(StatusCode::SERVICE_UNAVAILABLE, "storage", "api-err-storage");
    let record = state.store.admin_secrets(address).await.map_err(storage)?;
    let hash = record.as_ref().map_or(secrets::dummy_hash().to_string(), |r| r.password_hash.clone());
    let given = password.to_string();
    let ok = tokio::task::spawn_blocking(move || secrets::verify_secret(&given, &hash)).await.unwrap_or(false);
    let Some(record) = record.filter(|_| ok) else {
        failed(state, ip, address, "password", at).await;
        return Err(bad());
    };
    let needs_factor = record.totp_secret.is_some() || security_defaults_on(state).await.map_err(storage)?;
    let mut stage = match (needs_factor, &record.totp_secret) {
        (false, _) => Stage::Done,
        (true, Some(_)) => Stage::Totp,
        (true, None) => Stage::Enroll,
    };
    if let (Stage::Totp, Some(code), Some(secret)) = (stage, code, &record.totp_secret) {
        let id = record.admin.id;
        match check_code(state, ip, address, id, secret, code, at).await? {
            Some(step) if state.store.use_totp_step(id, step).await.map_err(storage)? => stage = Stage::Done,
            Some(_) => {
                // A replayed code: as wrong as any other.
                state.limiter.totp_failed(&crate::limiter::totp_key(id, secret), at);
                failed(state, ip, address, "totp", at).await;
                return Err(refused(StatusCode::UNAUTHORIZED, "totp-invalid", "api-err-totp-invalid"));
            }
            None => return Err(refused(StatusCode::UNAUTHORIZED, "totp-invalid", "api-err-totp-invalid")),
        }
    }
    if stage == Stage::Done {
        // Only a complete sign-in clears the counts; a correct password alone does not.
        state.limiter.succeeded(address);
        if let Some(secret) = &record.totp_secret {
            state.limiter.totp_succeeded(&crate::limiter::totp_key(record.admin.id, secret));
        }
    }
    let id = random_token();
    let session = AdminSession {
        token_hash: token_hash(&id),
        admin: record.admin,
        csrf: random_token(),
        mfa_done: stage == Stage::Done,
        pending_totp: (stage == Stage::Enroll).then(totp::new_secret),
        created_at: at,
        expires_at: at + state.config.session_ttl.as_secs().max(1) as i64,
    };
    state.store.create_session(&session).await.map_err(storage)?;
    let _ = state.store.purge_sessions(at).await;
    Ok((id, session, stage))
}

/// Completes a session waiting for its second factor: checks `code` against the enrolled
/// secret, or against the pending one (which then becomes the admin's secret).
pub async fn second_factor(state: &SharedState, ip: &str, session: &AdminSession, code: &str) -> Result<(), Refused> {
    let at = now();
    let address = session.admin.address.clone();
    if !state.limiter.allowed(&address, ip, at) {
        return Err(Refused {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "rate-limited",
            id: "api-err-rate-limited",
        });
    }
    let storage = |_| Refused { status: StatusCode::SERVICE_UNAVAILABLE, code: "storage", id: "api-err-storage" };
    let record = state.store.admin_secrets(&address).await.map_err(storage)?.ok_or(Refused {
        status: StatusCode::UNAUTHORIZED,
        code: "session-expired",
        id: "api-err-session-expired",
    })?;
    let (secret, enrolling) = match (&record.totp_secret, &session.pending_totp) {
        (Some(s), _) => (s.clone(), false),
        (None, Some(p)) => (p.clone(), true),
        (None, None) => {
            return Err(Refused {
                status: StatusCode::CONFLICT,
                code: "totp-not-pending",
                id: "api-err-totp-not-pending",
            })
        }
    };
    let id = record.admin.id;
    let fresh = match check_code(state, ip, &address, id, &secret, code, at).await? {
        Some(step) => {
            if enrolling {
                state.store.set_admin_totp(&address, Some(&secret)).await.map_err(|_| Refused {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: "storage",
                    id: "api-err-storage",
                })?;
            }
            let fresh = state.store.use_totp_step(id, step).await.map_err(storage)?;
            if !fresh {
                state.limiter.totp_failed(&crate::limiter::totp_key(id, &secret), at);
                failed(state, ip, &address, "totp", at).await;
            }
            fresh
        }
        None => false,
    };
    if !fresh {
        return Err(Refused { status: StatusCode::UNAUTHORIZED, code: "totp-invalid", id: "api-err-totp-invalid" });
    }
    state.limiter.succeeded(&address);
    state.limiter.totp_succeeded(&crate::limiter::totp_key(id, &secret));
    state.store.update_session(&session.token_hash, true, None).await.map_err(storage)?;
    if enrolling {
        state.ops.audit(&address, "admin.totp-enrolled", &address, "-", "enrolled").await;
    }
    Ok(())
}
