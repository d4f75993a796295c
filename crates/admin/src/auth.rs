//! Who is calling: admin sign-in (password, then TOTP while security defaults are on), the
//! session cookie, API tokens, CSRF protection, the sign-in rate limit and the error values the
//! API returns.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use authrelay_core::SecurityDefaults;
use authrelay_directory::admin::{token_hash, Admin, AdminSession};
use authrelay_directory::secrets;
use authrelay_i18n::{t, Arg, Lang};
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::{HeaderMap, HeaderValue, ACCEPT_LANGUAGE, AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::roles::{Permission, Role};
use crate::{now, totp, SharedState};

pub const SESSION_COOKIE: &str = "ar_session";
/// Double-submit token for forms shown before sign-in (the sign-in form itself).
pub const PRE_CSRF_COOKIE: &str = "ar_csrf";
pub const LANG_COOKIE: &str = "ar_lang";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Largest form body the CSRF guard reads.
const MAX_FORM: usize = 64 * 1024;

/// A random 256-bit value, hex: session ids, CSRF tokens, API tokens.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn ct_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The value of cookie `name`, if sent.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers.get_all(COOKIE).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(';')).find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name).then(|| v.to_string())
    })
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

/// The page or message language: the sticky switcher's cookie, else Accept-Language.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    if let Some(lang) = cookie(headers, LANG_COOKIE).and_then(|c| Lang::parse(&c)) {
        return lang;
    }
    headers.get(ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).map(Lang::from_accept_language).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Errors

/// An API error: HTTP status, a stable machine-readable code and a message in the caller's
/// language that names the problem and the fix.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub required_roles: Option<Vec<Role>>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, lang: Lang, id: &str, args: &[(&str, Arg<'_>)]) -> Self {
        ApiError { status, code, message: t(lang, id, args), required_roles: None }
    }

    pub fn storage(lang: Lang, e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "admin center: storage error");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage", lang, "api-err-storage", &[])
    }

    /// 403 naming the roles that may do this and the caller's own.
    pub fn forbidden(lang: Lang, needed: Permission, have: Role) -> Self {
        let holders = Role::holders(needed);
        let names: Vec<String> = holders.iter().map(|r| t(lang, r.name_id(), &[])).collect();
        let list = names.join(&t(lang, "list-or", &[]));
        let mine = t(lang, have.name_id(), &[]);
        ApiError {
            status: StatusCode::FORBIDDEN,
            code: "role-required",
            message: t(lang, "api-err-role", &[("roles", Arg::Str(&list)), ("role", Arg::Str(&mine))]),
            required_roles: Some(holders),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        if let Some(roles) = self.required_roles {
            body["error"]["required_roles"] = serde_json::json!(roles);
        }
        (self.status, axum::Json(body)).into_response()
    }
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
    /// The name written to the audit log.
    pub fn actor(&self) -> String {
        match &self.via {
            Via::Session(_) => self.admin.address.clone(),
            Via::Token { name } => format!("{} (API token {name})", self.admin.address),
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

fn is_safe(m: &Method) -> bool {
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
            Ok(_) => Err(Redirect::to("/signin/totp").into_response()),
            Err(e) if e.code == "storage" => Err(e.into_response()),
            Err(e) => {
                let expired = if e.code == "session-expired" { "?expired=1" } else { "" };
                Err(Redirect::to(&format!("/signin{expired}")).into_response())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CSRF for the pages' forms

/// Every form POST must carry the `csrf` field of the session (or, before sign-in, of the
/// `ar_csrf` cookie). Requests to `/api` are checked by [`ApiCaller`] instead.
pub async fn csrf_guard(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    if is_safe(request.method()) || request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let lang = lang_of(&parts.headers);
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response();
    };
    let sent = form_field(&bytes, "csrf").unwrap_or_default();
    // Either the session's token or, before sign-in, the pre-session cookie's token: both are
    // random values only this browser holds (the cookies are SameSite=Strict).
    let mut expected = vec![];
    if let Some(id) = cookie(&parts.headers, SESSION_COOKIE) {
        match state.store.session(&token_hash(&id), now()).await {
            Ok(Some(s)) => expected.push(s.csrf),
            Ok(None) => {}
            Err(e) => return ApiError::storage(lang, e).into_response(),
        }
    }
    expected.extend(cookie(&parts.headers, PRE_CSRF_COOKIE));
    if !sent.is_empty() && expected.iter().any(|e| ct_eq(&sent, e)) {
        next.run(Request::from_parts(parts, Body::from(bytes))).await
    } else {
        crate::web::csrf_failed(&state, lang)
    }
}

/// One field of an `application/x-www-form-urlencoded` body.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> = form_pairs(body);
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

pub fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < bytes.len() => {
                    match u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16) {
                        Ok(b) => {
                            out.push(b);
                            i += 2;
                        }
                        Err(_) => out.push(b'%'),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|p| p.split_once('=').map(|(k, v)| (decode(k), decode(v))))
        .collect()
}

/// Headers every response carries: no framing, no sniffing, no referrer, a tight CSP (the few
/// lines of script live in /static/admin.js).
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    if !h.contains_key("cache-control") {
        h.insert("cache-control", HeaderValue::from_static("no-store"));
    }
    response
}

// ---------------------------------------------------------------------------------------------
// Sign-in

/// Counts failed sign-ins per address and per client address in a sliding window.
pub struct SignInLimiter {
    failures: Mutex<HashMap<String, Vec<i64>>>,
    per_address: u32,
    window: i64,
}

/// Keys the limiter remembers at most; beyond that the oldest windows are dropped first.
const LIMITER_KEYS: usize = 100_000;

impl SignInLimiter {
    pub fn new(per_address: u32, window: Duration) -> Self {
        SignInLimiter { failures: Mutex::new(HashMap::new()), per_address, window: window.as_secs() as i64 }
    }

    fn keys(address: &str, ip: &str) -> [(String, u32); 2] {
        [(format!("a:{}", address.trim().to_lowercase()), 1), (format!("i:{ip}"), 4)]
    }

    /// Whether another attempt is allowed now.
    pub fn allowed(&self, address: &str, ip: &str, at: i64) -> bool {
        let map = self.failures.lock().expect("limiter lock");
        Self::keys(address, ip).iter().all(|(key, factor)| {
            let recent = map.get(key).map_or(0, |v| v.iter().filter(|t| **t > at - self.window).count());
            recent < (self.per_address * factor) as usize
        })
    }

    pub fn failed(&self, address: &str, ip: &str, at: i64) {
        let mut map = self.failures.lock().expect("limiter lock");
        if map.len() > LIMITER_KEYS {
            let window = self.window;
            map.retain(|_, v| v.iter().any(|t| *t > at - window));
        }
        for (key, _) in Self::keys(address, ip) {
            let v = map.entry(key).or_default();
            v.retain(|t| *t > at - self.window);
            v.push(at);
        }
    }

    pub fn succeeded(&self, address: &str) {
        self.failures.lock().expect("limiter lock").remove(&format!("a:{}", address.trim().to_lowercase()));
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
    let storage = |_| refused(StatusCode::SERVICE_UNAVAILABLE, "storage", "api-err-storage");
    let record = state.store.admin_secrets(address).await.map_err(storage)?;
    let hash = record.as_ref().map_or(secrets::dummy_hash().to_string(), |r| r.password_hash.clone());
    let given = password.to_string();
    let ok = tokio::task::spawn_blocking(move || secrets::verify_secret(&given, &hash)).await.unwrap_or(false);
    let Some(record) = record.filter(|_| ok) else {
        state.limiter.failed(address, ip, at);
        return Err(refused(StatusCode::UNAUTHORIZED, "bad-credentials", "api-err-bad-credentials"));
    };
    let needs_factor = record.totp_secret.is_some() || security_defaults_on(state).await.map_err(storage)?;
    let mut stage = match (needs_factor, &record.totp_secret) {
        (false, _) => Stage::Done,
        (true, Some(_)) => Stage::Totp,
        (true, None) => Stage::Enroll,
    };
    if let (Stage::Totp, Some(code), Some(secret)) = (stage, code, &record.totp_secret) {
        match totp::verify(secret, code, at) {
            Some(step) if state.store.use_totp_step(record.admin.id, step).await.map_err(storage)? => {
                stage = Stage::Done;
            }
            _ => {
                state.limiter.failed(address, ip, at);
                return Err(refused(StatusCode::UNAUTHORIZED, "totp-invalid", "api-err-totp-invalid"));
            }
        }
    }
    state.limiter.succeeded(address);
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
    let step = totp::verify(&secret, code, at);
    let fresh = match step {
        Some(step) => {
            if enrolling {
                state.store.set_admin_totp(&address, Some(&secret)).await.map_err(|_| Refused {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: "storage",
                    id: "api-err-storage",
                })?;
            }
            state.store.use_totp_step(record.admin.id, step).await.map_err(storage)?
        }
        None => false,
    };
    if !fresh {
        state.limiter.failed(&address, ip, at);
        return Err(Refused { status: StatusCode::UNAUTHORIZED, code: "totp-invalid", id: "api-err-totp-invalid" });
    }
    state.store.update_session(&session.token_hash, true, None).await.map_err(storage)?;
    if enrolling {
        crate::ops::audit(state, &address, "admin.totp-enrolled", &address, "-", "enrolled").await;
    }
    Ok(())
}

/// The peer of a connection, for both the plain and the TLS listener.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, tokio::net::TcpListener>> for ClientAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, tokio::net::TcpListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, crate::tls_listener::TlsListener>>
    for ClientAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, crate::tls_listener::TlsListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

/// The client's IP address as text.
pub fn client_ip(info: &ConnectInfo<ClientAddr>) -> String {
    info.0 .0.ip().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_fields_are_decoded() {
        assert_eq!(form_field(b"a=1&csrf=ab%2Fc+d&x=", "csrf").as_deref(), Some("ab/c d"));
        assert_eq!(form_field(b"a=1", "csrf"), None);
        assert_eq!(form_field(b"csrf=%zz%", "csrf").as_deref(), Some("%zz%"));
    }

    #[test]
    fn limiter_counts_per_address_and_forgets_old_failures() {
        let l = SignInLimiter::new(2, Duration::from_secs(60));
        assert!(l.allowed("a@x", "1.1.1.1", 0));
        l.failed("a@x", "1.1.1.1", 0);
        l.failed("A@X", "1.1.1.1", 1);
        assert!(!l.allowed("a@x", "1.1.1.1", 2));
        assert!(l.allowed("b@x", "1.1.1.1", 2), "another address from the same client still may try");
        assert!(l.allowed("a@x", "1.1.1.1", 62), "the window slides");
        for i in 0..8 {
            l.failed(&format!("u{i}@x"), "2.2.2.2", 100);
        }
        assert!(!l.allowed("fresh@x", "2.2.2.2", 100), "one client spraying many addresses is stopped");
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("x=1; ar_session=abc; ar_lang=ko"));
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(lang_of(&h), Lang::Ko);
    }
}
