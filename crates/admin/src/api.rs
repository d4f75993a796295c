//! The JSON API under `/api`. [`routes`] returns the router together with the table of
//! (method, path) it serves, which a test compares with `openapi.json` so the document stays
//! true.

use std::collections::{BTreeMap, BTreeSet};

use authrelay_core::{
    effective_smtp_auth, AppPasswordsPolicy, MailboxSmtpAuth, MfaState, OrgSmtpAuth, SecurityDefaults, SignIn,
};
use authrelay_directory::{Org, SignInEntry, SignInFilter, User};
use authrelay_i18n::{t, Arg, Lang};
use axum::extract::{ConnectInfo, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post, MethodRouter};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use authrelay_core::{Cidr, QueueId};
use authrelay_delivery::queue_admin::Entry;
use authrelay_delivery::state::Status as DeliveryStatus;
use authrelay_directory::DeviceCredential;
use authrelay_ops::{DeviceCredentialSpec, OrgEdit, Permission, Role, UserEdit};
use authrelay_spool::{QueuedMessage, SpoolError};

use crate::auth::{self, ApiCaller, Caller};
use crate::http::{self, lang_of, ApiError, Body, OrApi, Params, PathArgs};
use crate::listener::{self, ClientAddr};
use crate::lists;
use crate::state::{now, SharedState};
use crate::troubleshoot;
use authrelay_directory::listing::{self, Page, PageRequest};

/// The API router and the (method, path) pairs it serves.
pub struct Api {
    pub router: Router<SharedState>,
    pub table: Vec<(&'static str, &'static str)>,
}

impl Api {
    fn add(mut self, method: &'static str, path: &'static str, route: MethodRouter<SharedState>) -> Self {
        self.table.push((method, path));
        self.router = self.router.route(path, route);
        self
    }
}

pub fn routes() -> Api {
    Api { router: Router::new(), table: vec![] }
        .add("get", "/api/openapi.json", get(openapi))
        .add("post", "/api/session", post(create_session))
        .add("get", "/api/session", get(show_session))
        .add("delete", "/api/session", delete(end_session))
        .add("post", "/api/session/totp", post(session_totp))
        .add("get", "/api/orgs", get(list_orgs))
        .add("post", "/api/orgs", post(create_org))
        .add("get", "/api/orgs/{name}", get(show_org))
        .add("patch", "/api/orgs/{name}", patch(edit_org))
        .add("post", "/api/orgs/{name}/domains", post(add_domain))
        .add("get", "/api/orgs/{name}/limits", get(org_limits))
        .add("patch", "/api/orgs/{name}/limits", patch(set_org_limits))
        .add("get", "/api/domains/{domain}/dkim", get(dkim_keys))
        .add("post", "/api/domains/{domain}/dkim", post(generate_dkim))
        .add("delete", "/api/domains/{domain}/dkim/{selector}", delete(retire_dkim))
        .add("get", "/api/users", get(list_users))
        .add("post", "/api/users", post(create_user))
        .add("get", "/api/users/{address}", get(show_user))
        .add("patch", "/api/users/{address}", patch(edit_user))
        .add("delete", "/api/users/{address}", delete(delete_user))
        .add("post", "/api/users/{address}/rename", post(rename_user))
        .add("post", "/api/users/{address}/password", post(reset_password))
        .add("get", "/api/users/{address}/app-passwords", get(list_app_passwords))
        .add("post", "/api/users/{address}/app-passwords", post(add_app_password))
        .add("delete", "/api/users/{address}/app-passwords/{name}", delete(revoke_app_password))
        .add("get", "/api/users/{address}/device-credentials", get(device_credentials))
        .add("post", "/api/users/{address}/device-credentials", post(add_device_credential))
        .add("delete", "/api/users/{address}/device-credentials/{name}", delete(revoke_device_credential))
        .add("get", "/api/users/{address}/doctor", get(doctor))
        .add("post", "/api/users/{address}/doctor/fixes", post(doctor_fix))
        .add("post", "/api/troubleshoot/explain", post(explain))
        .add("post", "/api/mfa", post(bulk_mfa))
        .add("get", "/api/signins", get(signins))
        .add("get", "/api/reports/smtp-auth-clients", get(smtp_auth_report))
        .add("get", "/api/connectors", get(connectors))
        .add("get", "/api/queue", get(queue))
        .add("delete", "/api/queue/{id}", delete(queue_delete))
        .add("post", "/api/queue/{id}/retry", post(queue_retry))
        .add("post", "/api/queue/{id}/hold", post(queue_hold))
        .add("post", "/api/queue/{id}/release", post(queue_release))
        .add("get", "/api/audit", get(audit))
        .add("get", "/api/admins", get(list_admins))
        .add("post", "/api/admins", post(create_admin))
        .add("patch", "/api/admins/{address}", patch(set_admin_role))
        .add("delete", "/api/admins/{address}", delete(remove_admin))
        .add("post", "/api/admins/{address}/totp-reset", post(reset_admin_totp))
        .add("get", "/api/tokens", get(list_tokens))
        .add("post", "/api/tokens", post(create_token))
        .add("delete", "/api/tokens/{id}", delete(revoke_token))
        .fallback_api()
}

impl Api {
    fn fallback_api(mut self) -> Self {
        self.router = self.router.route("/api/{*rest}", axum::routing::any(not_found));
        self
    }
}

async fn not_found(headers: HeaderMap) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not-found", lang_of(&headers), "api-err-not-found", &[])
}

//

/// Parses an optional setting spelling, naming the accepted ones when it is wrong.
fn setting<T: std::str::FromStr<Err = authrelay_core::UnknownSetting>>(
    lang: Lang,
    field: &str,
    value: Option<&str>,
) -> Result<Option<T>, ApiError> {
    value
        .map(|v| {
            v.parse::<T>().map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "bad-value",
                    lang,
                    "api-err-bad-value",
                    &[("field", Arg::Str(field)), ("value", Arg::Str(v)), ("choices", Arg::Str(e.choices))],
                )
            })
        })
        .transpose()
}

// ---------------------------------------------------------------------------------------------
// Views

#[derive(Serialize)]
pub struct OrgView {
    pub name: String,
    pub domains: Vec<String>,
    pub security_defaults: SecurityDefaults,
    pub smtp_auth: OrgSmtpAuth,
    pub app_passwords: AppPasswordsPolicy,
    pub device_credentials: authrelay_core::DeviceCredentialsPolicy,
    pub created_at: i64,
}

impl From<&Org> for OrgView {
    fn from(o: &Org) -> Self {
        OrgView {
            name: o.name.clone(),
            domains: o.domains.clone(),
            security_defaults: o.settings.security_defaults,
            smtp_auth: o.settings.smtp_auth,
            app_passwords: o.settings.app_passwords,
            device_credentials: o.settings.device_credentials,
            created_at: o.created_at,
        }
    }
}

#[derive(Serialize)]
pub struct UserView {
    pub address: String,
    pub display_name: String,
    pub org: String,
    pub sign_in: SignIn,
    /// The mailbox's own value; `default` follows the organisation.
    pub smtp_auth: MailboxSmtpAuth,
    /// What applies: the mailbox value, or the organisation's when the mailbox says `default`.
    pub smtp_auth_effective: bool,
    pub smtp_auth_source: authrelay_core::SmtpAuthSource,
    pub mfa: MfaState,
    pub send_as: Vec<String>,
    pub created_at: i64,
    pub password_changed_at: i64,
}

pub fn user_view(u: &User, org: Option<&Org>) -> UserView {
    let org_smtp = org.map(|o| o.settings.smtp_auth).unwrap_or_default();
    let (effective, source) = effective_smtp_auth(org_smtp, u.settings.smtp_auth);
    UserView {
        address: u.address.clone(),
        display_name: u.display_name.clone(),
        org: u.org.clone(),
        sign_in: u.settings.sign_in,
        smtp_auth: u.settings.smtp_auth,
        smtp_auth_effective: effective,
        smtp_auth_source: source,
        mfa: u.settings.mfa,
        send_as: u.send_as.clone(),
        created_at: u.created_at,
        password_changed_at: u.password_changed_at,
    }
}

async fn users_view(state: &SharedState, lang: Lang, users: &[User]) -> Result<Vec<UserView>, ApiError> {
    let orgs = state.directory.list_orgs().await.api(lang)?;
    Ok(users.iter().map(|u| user_view(u, orgs.iter().find(|o| o.name == u.org))).collect())
}

/// A sign-in log entry with the reply spelled out.
#[derive(Serialize)]
pub struct SignInView {
    pub at: i64,
    pub time: String,
    pub client_ip: String,
    pub client_port: u16,
    pub tls: String,
    pub mechanism: String,
    pub user: String,
    /// `user` and `mechanism` as pages and tables show them: quoted, every control, format or
    /// quote character escaped (client-controlled; authrelay_core::display).
    pub user_shown: String,
    pub mechanism_shown: String,
    pub credential: Option<String>,
    pub success: bool,
    /// The check that decided (`authenticated-smtp`, `security-defaults`, `mfa`, …).
    pub check: String,
    pub reply_id: String,
    /// The full reply line the client saw, e.g. `535 5.7.139 Authentication unsuccessful, …`.
    pub reply: String,
    /// The legacy listener the attempt came through ("plain 192.168.50.1:2525"); `None` on the
    /// default listeners. Its TLS version (or "none") is `tls`.
    pub legacy_listener: Option<String>,
}

pub fn signin_view(e: &SignInEntry) -> SignInView {
    let reply = crate::lists::reply_line(e.reply);
    SignInView {
        at: e.at,
        time: rfc3339(e.at),
        client_ip: e.client_ip.clone(),
        client_port: e.client_port,
        tls: e.tls.clone(),
        mechanism: e.mechanism.clone(),
        user: e.user.clone(),
        user_shown: if e.user.is_empty() { "-".to_string() } else { authrelay_core::display::quoted(&e.user) },
        mechanism_shown: authrelay_core::display::quoted(&e.mechanism),
        credential: e.credential.map(|c| c.as_str().to_string()),
        success: e.success,
        check: e.check.as_str().to_string(),
        reply_id: e.reply.map_or("", |r| r.as_str()).to_string(),
        reply,
        legacy_listener: e.listener.clone(),
    }
}

pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| "-".into())
}

// ---------------------------------------------------------------------------------------------
// Handlers: document and session

async fn openapi() -> Response {
    ([(CONTENT_TYPE, "application/json")], crate::OPENAPI).into_response()
}

#[derive(Deserialize)]
struct SignInRequest {
    address: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

fn session_body(caller_admin: &authrelay_directory::admin::Admin, csrf: &str, stage: &str, expires_at: i64) -> Value {
    let role = Role::parse(&caller_admin.role).unwrap_or(Role::Reports);
    let permissions: Vec<Permission> = Permission::ALL.iter().copied().filter(|p| role.allows(*p)).collect();
    json!({
        "address": caller_admin.address,
        "role": role,
        "permissions": permissions,
        "stage": stage,
        "csrf_token": csrf,
        "expires_at": expires_at,
    })
}

async fn create_session(
    State(state): State<SharedState>,
    info: ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    Body(req): Body<SignInRequest>,
) -> Result<Response, ApiError> {
    let lang = lang_of(&headers);
    let ip = listener::client_ip(&info, &headers, &state.config.trusted_proxies);
    let (id, session, stage) = auth::sign_in(&state, &ip, &req.address, &req.password, req.totp.as_deref())
        .await
        .map_err(|r| ApiError::new(r.status, r.code, lang, r.id, &[]))?;
    let cookie = auth::set_cookie(&state, http::SESSION_COOKIE, &id, Some(state.config.session_ttl.as_secs() as i64));
    match stage {
        auth::Stage::Done => Ok((
            [(SET_COOKIE, cookie)],
            Json(session_body(&session.admin, &session.csrf, "signed-in", session.expires_at)),
        )
            .into_response()),
        auth::Stage::Totp => {
            // A code is needed and none was given: no session is kept for a password alone.
            let _ = state.store.delete_session(&session.token_hash).await;
            Err(ApiError::new(StatusCode::UNAUTHORIZED, "totp-required", lang, "api-err-totp-required", &[]))
        }
        auth::Stage::Enroll => {
            let secret = session.pending_totp.clone().unwrap_or_default();
            let mut body = session_body(&session.admin, &session.csrf, "enroll-totp", session.expires_at);
            body["totp_secret"] = json!(secret);
            body["otpauth_uri"] = json!(crate::totp::otpauth_uri("authrelay", &session.admin.address, &secret));
            Ok(([(SET_COOKIE, cookie)], Json(body)).into_response())
        }
    }
}

async fn show_session(ApiCaller(c): ApiCaller) -> Json<Value> {
    let (csrf, expires) = match &c.via {
        auth::Via::Session(s) => (s.csrf.clone(), Some(s.expires_at)),
        auth::Via::Token { .. } => (String::new(), None),
    };
    let mut body = session_body(&c.admin, &csrf, "signed-in", expires.unwrap_or(0));
    body["role"] = json!(c.role);
    body["permissions"] = json!(Permission::ALL.iter().copied().filter(|p| c.role.allows(*p)).collect::<Vec<_>>());
    if expires.is_none() {
        body["expires_at"] = Value::Null;
    }
    Json(body)
}

async fn end_session(State(state): State<SharedState>, ApiCaller(c): ApiCaller) -> Result<Response, ApiError> {
    if let auth::Via::Session(s) = &c.via {
        state.store.delete_session(&s.token_hash).await.map_err(|e| ApiError::storage(c.lang, e))?;
    }
    let cookie = auth::set_cookie(&state, http::SESSION_COOKIE, "", Some(0));
    Ok(([(SET_COOKIE, cookie)], StatusCode::NO_CONTENT).into_response())
}

#[derive(Deserialize)]
struct CodeRequest {
    code: String,
}

/// Second step of a sign-in that needs TOTP enrolment (the session cookie and X-CSRF-Token).
async fn session_totp(
    State(state): State<SharedState>,
    info: ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    Body(req): Body<CodeRequest>,
) -> Result<Json<Value>, ApiError> {
    let lang = lang_of(&headers);
    let session = auth::session_of(&state, &headers, lang).await?;
    let sent = headers.get(http::CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !http::ct_eq(sent, &session.csrf) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "csrf", lang, "api-err-csrf", &[]));
    }
    if session.mfa_done {
        return Err(ApiError::new(StatusCode::CONFLICT, "totp-not-pending", lang, "api-err-totp-not-pending", &[]));
    }
    auth::second_factor(
        &state,
        &listener::client_ip(&info, &headers, &state.config.trusted_proxies),
        &session,
        &req.code,
    )
    .await
    .map_err(|r| ApiError::new(r.status, r.code, lang, r.id, &[]))?;
    Ok(Json(session_body(&session.admin, &session.csrf, "signed-in", session.expires_at)))
}

// ---------------------------------------------------------------------------------------------
// Organisations

async fn list_orgs(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    uri: axum::http::Uri,
    Params(paging): Params<ListPaging>,
) -> Result<Response, ApiError> {
    c.require(Permission::ReadDirectory)?;
    let orgs = state.directory.list_orgs().await.api(c.lang)?;
    Ok(paged_json(&uri.to_string(), &paging.slice(orgs.iter().map(OrgView::from).collect())))
}

#[derive(Deserialize)]
struct NewOrgRequest {
    name: String,
    domains: Vec<String>,
}

async fn create_org(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    Body(req): Body<NewOrgRequest>,
) -> Result<(StatusCode, Json<OrgView>), ApiError> {
    let org = state.ops.create_org(&c.actor(), &req.name, &req.domains).await.api(c.lang)?;
    Ok((StatusCode::CREATED, Json(OrgView::from(&org))))
}

async fn show_org(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(name): PathArgs<String>,
) -> Result<Json<OrgView>, ApiError> {
    c.require(Permission::ReadDirectory)?;
    Ok(Json(OrgView::from(&state.ops.org(&name).await.api(c.lang)?)))
}

#[derive(Deserialize)]
struct OrgPatch {
    security_defaults: Option<String>,
    smtp_auth: Option<String>,
    app_passwords: Option<String>,
    device_credentials: Option<String>,
}

async fn edit_org(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(name): PathArgs<String>,
    Body(req): Body<OrgPatch>,
) -> Result<Json<OrgView>, ApiError> {
    let edit = OrgEdit {
        security_defaults: setting(c.lang, "security_defaults", req.security_defaults.as_deref())?,
        smtp_auth: setting(c.lang, "smtp_auth", req.smtp_auth.as_deref())?,
        app_passwords: setting(c.lang, "app_passwords", req.app_passwords.as_deref())?,
        device_credentials: setting(c.lang, "device_credentials", req.device_credentials.as_deref())?,
    };
    Ok(Json(OrgView::from(&state.ops.edit_org(&c.actor(), &name, edit).await.api(c.lang)?)))
}

/// An organisation's own limits (absent: the server's).
async fn org_limits(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(name): PathArgs<String>,
) -> Result<Json<authrelay_directory::OrgLimits>, ApiError> {
    c.require(Permission::ReadDirectory)?;
    let org = state.ops.org(&name).await.api(c.lang)?;
    Ok(Json(state.directory.org_limits(&org.name).await.api(c.lang)?))
}

/// Sets the limits given (0 = the server's limit), as `org set --max-…`.
async fn set_org_limits(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(name): PathArgs<String>,
    Body(req): Body<authrelay_directory::OrgLimits>,
) -> Result<Json<authrelay_directory::OrgLimits>, ApiError> {
    Ok(Json(state.ops.set_org_limits(&c.actor(), &name, req).await.api(c.lang)?))
}

async fn dkim_keys(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(domain): PathArgs<String>,
) -> Result<Json<Vec<authrelay_ops::DkimKey>>, ApiError> {
    Ok(Json(state.ops.dkim_keys(&c.actor(), &domain).await.api(c.lang)?))
}

#[derive(Deserialize)]
struct DkimRequest {
    algorithm: Option<String>,
    selector: Option<String>,
}

async fn generate_dkim(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(domain): PathArgs<String>,
    Body(req): Body<DkimRequest>,
) -> Result<(StatusCode, Json<authrelay_ops::DkimKey>), ApiError> {
    let algorithm = req.algorithm.as_deref().unwrap_or("rsa");
    let made = state.ops.generate_dkim(&c.actor(), &domain, algorithm, req.selector.as_deref()).await.api(c.lang)?;
    Ok((StatusCode::CREATED, Json(made)))
}

async fn retire_dkim(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs((domain, selector)): PathArgs<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.ops.retire_dkim(&c.actor(), &domain, &selector).await.api(c.lang)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct DomainRequest {
    domain: String,
}

async fn add_domain(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(name): PathArgs<String>,
    Body(req): Body<DomainRequest>,
) -> Result<Json<OrgView>, ApiError> {
    Ok(Json(OrgView::from(&state.ops.add_domain(&c.actor(), &name, &req.domain).await.api(c.lang)?)))
}

// ---------------------------------------------------------------------------------------------
// Users

#[derive(Deserialize, Default)]
pub struct UserQuery {
    pub org: Option<String>,
    pub search: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
    pub page: Option<u64>,
    pub per_page: Option<u32>,
}

impl UserQuery {
    pub fn paging(&self) -> ListPaging {
        ListPaging { limit: self.limit, offset: self.offset, page: self.page, per_page: self.per_page }
    }
}

/// Users of one organisation (or all), filtered by a case-insensitive substring of the address
/// or display name.
pub async fn find_users(state: &SharedState, lang: Lang, q: &UserQuery) -> Result<Vec<User>, ApiError> {
    let org = q.org.as_deref().filter(|o| !o.is_empty());
    let users = state.directory.list_users(org).await.api(lang)?;
    let needle = q.search.as_deref().unwrap_or("").trim().to_lowercase();
    Ok(users
        .into_iter()
        .filter(|u| needle.is_empty() || u.address.contains(&needle) || u.display_name.to_lowercase().contains(&needle))
        .collect())
}

async fn list_users(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    uri: axum::http::Uri,
    Params(q): Params<UserQuery>,
) -> Result<Response, ApiError> {
    c.require(Permission::ReadDirectory)?;
    let users = q.paging().slice(find_users(&state, c.lang, &q).await?);
    let views = users_view(&state, c.lang, &users.items).await?;
    Ok(paged_json(
        &uri.to_string(),
        &Page { items: views, total: users.total, offset: users.offset, limit: users.limit },
    ))
}

#[derive(Deserialize)]
struct NewUserRequest {
    address: String,
    display_name: Option<String>,
    password: Option<String>,
}

async fn create_user(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    Body(req): Body<NewUserRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (user, generated) = state
        .ops
        .create_user(&c.actor(), &req.address, req.display_name.as_deref(), req.password.as_deref())
        .await
        .api(c.lang)?;
    let org = state.directory.org(&user.org).await.ok().flatten();
    let mut body = json!({ "user": user_view(&user, org.as_ref()) });
    body["generated_password"] = json!(generated);
    Ok((StatusCode::CREATED, Json(body)))
}

async fn show_user(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(address): PathArgs<String>,
) -> Result<Json<UserView>, ApiError> {
    c.require(Permission::ReadDirectory)?;
    let user = state.ops.user(&address).await.api(c.lang)?;
    let org = state.directory.org(&user.org).await.ok().flatten();
    Ok(Json(user_view(&user, org.as_ref())))
}

#[derive(Deserialize)]
struct UserPatch {
    display_name: Option<String>,
    sign_in: Option<String>,
    smtp_auth: Option<String>,
    mfa: Option<String>,
    /// Addresses the user may also send as (same rule as `user set --send-as`).
    #[serde(default)]
    add_send_as: Vec<String>,
    #[serde(default)]
    remove_send_as: Vec<String>,
}

async fn edit_user(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(address): PathArgs<String>,
    Body(req): Body<UserPatch>,
) -> Result<Json<UserView>, ApiError> {
    let edit = UserEdit {
        display_name: req.display_name,
        sign_in: setting(c.lang, "sign_in", req.sign_in.as_deref())?,
        smtp_auth: setting(c.lang, "smtp_auth", req.smtp_auth.as_deref())?,
        mfa: setting(c.lang, "mfa", req.mfa.as_deref())?,
        add_send_as: req.add_send_as,
        remove_send_as: req.remove_send_as,
    };
    let user = state.ops.edit_user(&c.actor(), &address, edit).await.api(c.lang)?;
    let org = state.directory.org(&user.org).await.ok().flatten();
    Ok(Json(user_view(&user, org.as_ref())))
}

/// Deletes the user; answers what went with it.
async fn delete_user(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(address): PathArgs<String>,
) -> Result<Json<Value>, ApiError> {
    let gone = state.ops.delete_user(&c.actor(), &address).await.api(c.lang)?;
    Ok(Json(json!({
        "deleted": gone.user.address,
        "app_passwords": gone.app_passwords,
        "device_credentials": gone.device_credentials,
        "send_as": gone.user.send_as,
    })))
}

#[derive(Deserialize)]
struct RenameRequest {
    address: String,
}

async fn rename_user(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(address): PathArgs<String>,
    Body(req): Body<RenameRequest>,
) -> Result<Json<UserView>, ApiError> {
    let user = state.ops.rename_user(&c.actor(), &address, &req.address).await.api(c.lang)?;
    let org = state.directory.org(&user.org).await.ok().flatten();
    Ok(Json(user_view(&user, org.as_ref())))
}

#[derive(Deserialize)]
struct PasswordRequest {
    password: Option<String>,
}

async fn reset_password(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(address): PathArgs<String>,
    Body(req): Body<PasswordRequest>,
) -> Result<Json<Value>, ApiError> {
    let generated = state.ops.reset_password(&c.actor(), &address, req.password.as_deref()).await.api(c.lang)?;
    Ok(Json(json!({ "generated_password": generated })))
}

#[derive(Serialize)]
struct AppPasswordView {
    name: String,
    created_at: i64,
    last_used_at: Option<i64>,
}

async fn list_app_passwords(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(address): PathArgs<String>,
) -> Result<Json<Vec<AppPasswordView>>, ApiError> {
    c.require(Permission::ReadDirectory)?;
    let user = state.ops.user(&address).await.api(c.lang)?;
    let list = state.directory.list_app_passwords(&user.address).await.api(c.lang)?;
    Ok(Json(
        list.into_iter()
            .map(|a| AppPasswordView { name: a.name, created_at: a.created_at, last_used_at: a.last_used_at })
            .collect(),
    ))
}

#[derive(Deserialize)]
struct NameRequest {
    name: String,
}

async fn add_app_password(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(address): PathArgs<String>,
    Body(req): Body<NameRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (_, secret) = state.ops.add_app_password(&c.actor(), &address, &req.name).await.api(c.lang)?;
    Ok((StatusCode::CREATED, Json(json!({ "name": req.name.trim(), "secret": secret }))))
}

async fn revoke_app_password(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs((address, name)): PathArgs<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.ops.revoke_app_password(&c.actor(), &address, &name).await.api(c.lang)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct BulkMfaRequest {
    users: Vec<String>,
    mfa: String,
}

async fn bulk_mfa(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    Body(req): Body<BulkMfaRequest>,
) -> Result<Json<Vec<UserView>>, ApiError> {
    let mfa: MfaState = setting(c.lang, "mfa", Some(&req.mfa))?.expect("given");
    if req.users.len() > 1000 {
        let detail = t(c.lang, "api-detail-too-many-users", &[("max", Arg::Num(1000.0))]);
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-request",
            c.lang,
            "api-err-bad-request",
            &[("detail", Arg::Str(&detail))],
        ));
    }
    let users = state.ops.bulk_mfa(&c.actor(), &req.users, mfa).await.api(c.lang)?;
    Ok(Json(users_view(&state, c.lang, &users).await?))
}

// ---------------------------------------------------------------------------------------------
// Sign-in logs, report, queue, audit

#[derive(Deserialize, Default)]
pub struct SignInQuery {
    /// The exact user name.
    pub user: Option<String>,
    /// Any part of the user name, case-insensitive.
    pub user_contains: Option<String>,
    /// `success` or `failure`.
    pub result: Option<String>,
    /// An address, `ip:port` (as the log shows it), `[v6]:port`, or a range (`192.0.2.0/24`).
    pub client_ip: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
    /// 1-based page of `per_page` rows (`limit`/`offset` win when given).
    pub page: Option<u64>,
    pub per_page: Option<u32>,
    /// `1` or `true`: only sign-ins through a legacy listener (README "Legacy devices").
    pub legacy: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

impl SignInQuery {
    /// The page the query asks for (100 rows from the newest when it names none).
    pub fn page_request(&self) -> PageRequest {
        PageRequest::new(self.page, self.per_page, self.offset, self.limit)
    }
}

/// Whether a `legacy` query parameter asks for legacy paths only.
pub fn legacy_only(value: &Option<String>) -> bool {
    matches!(value.as_deref().map(str::trim), Some("1" | "true" | "yes" | "on"))
}

pub fn signin_filter(lang: Lang, q: &SignInQuery) -> Result<SignInFilter, ApiError> {
    let success = match q.result.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
        None => None,
        Some("success") => Some(true),
        Some("failure") => Some(false),
        Some(other) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad-value",
                lang,
                "api-err-bad-value",
                &[("field", Arg::Str("result")), ("value", Arg::Str(other)), ("choices", Arg::Str("success failure"))],
            ))
        }
    };
    let page = q.page_request();
    Ok(SignInFilter {
        user: q.user.as_deref().map(|u| u.trim().to_lowercase()).filter(|u| !u.is_empty()),
        user_contains: q.user_contains.as_deref().map(str::trim).filter(|u| !u.is_empty()).map(String::from),
        success,
        client_ip: None,
        client: lists::client_filter(lang, q.client_ip.as_deref())?,
        since: q.since,
        until: q.until,
        limit: Some(page.limit),
        offset: page.offset,
        legacy_only: legacy_only(&q.legacy),
    })
}

/// A list answered as before (a JSON array) with its paging in headers: `X-Total-Count`, and a
/// `Link` with `rel="next"` / `rel="prev"` (RFC 8288) holding `offset` and `limit`.
pub fn paged_json<T: Serialize>(path_and_query: &str, page: &Page<T>) -> Response {
    let base = path_and_query.split('?').next().unwrap_or(path_and_query);
    let kept: Vec<(String, String)> = path_and_query
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .filter(|(k, _)| !k.is_empty() && !["offset", "limit", "page", "per_page"].contains(k))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let link = |offset: u64| {
        let mut q: Vec<String> = kept.iter().map(|(k, v)| format!("{k}={v}")).collect();
        q.push(format!("offset={offset}"));
        q.push(format!("limit={}", page.limit));
        format!("<{base}?{}>", q.join("&"))
    };
    let mut links = vec![];
    if page.offset + (page.items.len() as u64) < page.total && !page.items.is_empty() {
        links.push(format!("{}; rel=\"next\"", link(page.offset + u64::from(page.limit))));
    }
    if page.offset > 0 {
        links.push(format!("{}; rel=\"prev\"", link(page.offset.saturating_sub(u64::from(page.limit)))));
    }
    let mut response = Json(&page.items).into_response();
    let headers = response.headers_mut();
    headers.insert("x-total-count", page.total.into());
    if let Ok(v) = axum::http::HeaderValue::from_str(&links.join(", ")) {
        if !links.is_empty() {
            headers.insert(axum::http::header::LINK, v);
        }
    }
    response
}

/// The sign-in log as CSV with the filter applied: the newest [`lists::CSV_MAX_ROWS`] rows,
/// read a page at a time. `X-Total-Count` says how many rows the filter selects.
pub async fn signins_csv(state: &SharedState, lang: Lang, filter: &SignInFilter) -> Result<Response, ApiError> {
    let total = state.directory.count_signins(filter).await.api(lang)?;
    let mut out = String::from(lists::SIGNINS_CSV_HEADER);
    let mut offset = 0;
    while offset < total.min(lists::CSV_MAX_ROWS) {
        let limit = listing::MAX_PER_PAGE.min(u32::try_from(lists::CSV_MAX_ROWS - offset).unwrap_or(u32::MAX));
        let rows =
            state.directory.signins(&SignInFilter { limit: Some(limit), offset, ..filter.clone() }).await.api(lang)?;
        if rows.is_empty() {
            break;
        }
        offset += rows.len() as u64;
        lists::signins_csv_rows(&rows, &mut out);
    }
    let mut response = (
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (CONTENT_DISPOSITION, "attachment; filename=\"signins.csv\"".to_string()),
        ],
        out,
    )
        .into_response();
    response.headers_mut().insert("x-total-count", total.into());
    Ok(response)
}

async fn signins(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    uri: axum::http::Uri,
    Params(q): Params<SignInQuery>,
) -> Result<Response, ApiError> {
    c.require(Permission::ReadSignins)?;
    let filter = signin_filter(c.lang, &q)?;
    match q.format.as_deref().unwrap_or("json") {
        "json" => {
            let page = state.directory.signins_page(&filter, q.page_request()).await.api(c.lang)?;
            Ok(paged_json(&uri.to_string(), &page.map(|e| signin_view(&e))))
        }
        "csv" => signins_csv(&state, c.lang, &filter).await,
        other => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-value",
            c.lang,
            "api-err-bad-value",
            &[("field", Arg::Str("format")), ("value", Arg::Str(other)), ("choices", Arg::Str("json csv"))],
        )),
    }
}

/// One sender in the SMTP AUTH clients report.
#[derive(Serialize, Clone, Default)]
pub struct ClientRow {
    pub user: String,
    /// Messages accepted from this sender in the period (directory `submissions`).
    pub messages_sent: u64,
    pub successful_sign_ins: u64,
    pub failed_sign_ins: u64,
    pub tls_versions: Vec<String>,
    pub credential_kinds: Vec<String>,
    pub mechanisms: Vec<String>,
    pub client_addresses: Vec<String>,
    pub last_seen: i64,
    pub last_seen_time: String,
    /// Legacy listeners this sender came through, each with its TLS version or "none"
    /// ("plain 192.168.50.1:2525 (none)"): a risk to retire (README "Legacy devices").
    pub legacy_paths: Vec<String>,
}

/// Most sign-in records the report reads.
const REPORT_ROWS: u32 = 200_000;

/// The SMTP AUTH clients report over the last `days` days: per user, sign-ins, TLS versions,
/// credential kinds, mechanisms, client addresses, last seen. Busiest first.
pub async fn smtp_auth_clients(state: &SharedState, lang: Lang, days: u32) -> Result<Vec<ClientRow>, ApiError> {
    let since = now() - i64::from(days) * 86_400;
    let filter = SignInFilter { since: Some(since), limit: Some(REPORT_ROWS), ..Default::default() };
    let entries = state.directory.signins(&filter).await.api(lang)?;
    #[derive(Default)]
    struct Acc {
        ok: u64,
        failed: u64,
        tls: BTreeSet<String>,
        kinds: BTreeSet<String>,
        mechs: BTreeSet<String>,
        ips: BTreeSet<String>,
        last: i64,
        sent: u64,
        legacy: BTreeSet<String>,
    }
    let mut by_user: BTreeMap<String, Acc> = BTreeMap::new();
    for e in &entries {
        let key = if e.user.is_empty() { "-".to_string() } else { e.user.to_lowercase() };
        let acc = by_user.entry(key).or_default();
        if e.success {
            acc.ok += 1;
        } else {
            acc.failed += 1;
        }
        acc.tls.insert(e.tls.clone());
        if let Some(k) = e.credential {
            acc.kinds.insert(k.as_str().to_string());
        }
        acc.mechs.insert(e.mechanism.clone());
        acc.ips.insert(e.client_ip.clone());
        acc.last = acc.last.max(e.at);
        if let Some(listener) = &e.listener {
            acc.legacy.insert(format!("{listener} ({})", e.tls));
        }
    }
    // Messages sent, counted per mailbox, day, TLS version and credential kind as they were
    // accepted. Whole UTC days: the first day of the period counts from its midnight.
    let sent = state.directory.submissions_since(since).await.api(lang)?;
    for s in &sent {
        let acc = by_user.entry(s.user.to_lowercase()).or_default();
        acc.sent += s.messages;
        acc.tls.insert(s.tls.clone());
        acc.kinds.insert(s.credential.clone());
        acc.last = acc.last.max(s.last_at);
    }
    let mut rows: Vec<ClientRow> = by_user
        .into_iter()
        .map(|(user, a)| ClientRow {
            user,
            messages_sent: a.sent,
            successful_sign_ins: a.ok,
            failed_sign_ins: a.failed,
            tls_versions: a.tls.into_iter().collect(),
            credential_kinds: a.kinds.into_iter().collect(),
            mechanisms: a.mechs.into_iter().collect(),
            client_addresses: a.ips.into_iter().collect(),
            last_seen: a.last,
            last_seen_time: rfc3339(a.last),
            legacy_paths: a.legacy.into_iter().collect(),
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse((r.messages_sent, r.successful_sign_ins + r.failed_sign_ins)));
    Ok(rows)
}

/// The report as CSV (RFC 4180), one line per sender.
pub fn clients_csv(rows: &[ClientRow]) -> String {
    let field = lists::csv_field;
    let mut out = String::from(
        "user,successful_sign_ins,failed_sign_ins,tls_versions,credential_kinds,mechanisms,client_addresses,last_seen,messages_sent,legacy_paths\r\n",
    );
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{}\r\n",
            field(&r.user),
            r.successful_sign_ins,
            r.failed_sign_ins,
            field(&r.tls_versions.join(" ")),
            field(&r.credential_kinds.join(" ")),
            field(&r.mechanisms.join(" ")),
            field(&r.client_addresses.join(" ")),
            r.last_seen_time,
            r.messages_sent,
            field(&r.legacy_paths.join(" | "))
        ));
    }
    out
}

#[derive(Deserialize)]
pub struct ReportQuery {
    pub days: Option<u32>,
    pub format: Option<String>,
    /// `1`: only senders that used a legacy listener in the period.
    pub legacy: Option<String>,
}

/// Keeps the senders that used a legacy listener, when `legacy` asks for that.
pub fn only_legacy(rows: &mut Vec<ClientRow>, legacy: &Option<String>) {
    if legacy_only(legacy) {
        rows.retain(|r| !r.legacy_paths.is_empty());
    }
}

/// Devices (a mailbox or connector sender from one client address) that came through a legacy
/// listener in the last `days` days: the admin center home's count (README "Legacy devices").
pub async fn legacy_devices(state: &SharedState, days: u32) -> usize {
    let filter = SignInFilter {
        since: Some(now() - i64::from(days) * 86_400),
        limit: Some(REPORT_ROWS),
        legacy_only: true,
        ..Default::default()
    };
    let entries = state.directory.signins(&filter).await.unwrap_or_default();
    entries.iter().map(|e| (e.user.to_lowercase(), e.client_ip.as_str())).collect::<BTreeSet<_>>().len()
}

/// The report period, 7 to 90 days (Exchange's report offers the same range).
pub fn report_days(lang: Lang, days: Option<u32>) -> Result<u32, ApiError> {
    let days = days.unwrap_or(7);
    if !(7..=90).contains(&days) {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad-days", lang, "api-err-bad-days", &[]));
    }
    Ok(days)
}

async fn smtp_auth_report(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    Params(q): Params<ReportQuery>,
) -> Result<Response, ApiError> {
    c.require(Permission::ReadReports)?;
    let days = report_days(c.lang, q.days)?;
    let mut rows = smtp_auth_clients(&state, c.lang, days).await?;
    only_legacy(&mut rows, &q.legacy);
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(json!({ "days": days, "senders": rows })).into_response()),
        "csv" => Ok((
            [
                (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
                (CONTENT_DISPOSITION, format!("attachment; filename=\"smtp-auth-clients-{days}d.csv\"")),
            ],
            clients_csv(&rows),
        )
            .into_response()),
        other => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-value",
            c.lang,
            "api-err-bad-value",
            &[("field", Arg::Str("format")), ("value", Arg::Str(other)), ("choices", Arg::Str("json csv"))],
        )),
    }
}

#[derive(Serialize)]
pub struct QueueView {
    /// Every message in the queue (the filter aside).
    pub count: usize,
    /// Messages the filter selects; `messages` is the page of them from `offset`.
    pub matched: u64,
    pub offset: u64,
    pub limit: u32,
    pub total_bytes: u64,
    pub oldest_queued_at: Option<i64>,
    pub corrupt: usize,
    pub messages: Vec<Value>,
}

/// Which queued messages to list: by state word (`deferred`, `held` …) and by a recipient's
/// domain (that domain or one under it).
#[derive(Deserialize, Default, Clone)]
pub struct QueueQuery {
    pub state: Option<String>,
    pub domain: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
    pub page: Option<u64>,
    pub per_page: Option<u32>,
}

impl QueueQuery {
    fn selects(&self, entry: &Entry) -> bool {
        let state = self.state.as_deref().map(str::trim).filter(|s| !s.is_empty());
        let domain = self.domain.as_deref().map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase());
        let domain = domain.filter(|d| !d.is_empty());
        state.is_none_or(|s| entry.word == s)
            && domain.is_none_or(|d| {
                entry.message.envelope.rcpt_to.iter().any(|r| {
                    let rd = r.rsplit_once('@').map_or("", |(_, rd)| rd).to_ascii_lowercase();
                    rd == d || rd.ends_with(&format!(".{d}"))
                })
            })
    }

    /// 500 messages a page unless asked otherwise (what the API listed before it had pages).
    pub fn page_request(&self) -> PageRequest {
        PageRequest::new(self.page, self.per_page.or(Some(QUEUE_PAGE)), self.offset, self.limit)
    }
}

/// Messages on a queue page when the caller names no size.
pub const QUEUE_PAGE: u32 = 500;

fn now_ms() -> i64 {
    now().saturating_mul(1000)
}

/// One queued message with its delivery state as `authrelay queue list --json` and `queue show`
/// tell it: the state word, when it is next tried, and per recipient its status, attempts,
/// next try and the far side's last reply. Times are unix seconds like `queued_at`.
fn queue_entry(entry: &Entry) -> Value {
    let (m, word, delivery) = (&entry.message, entry.word, &entry.state);
    let secs = |ms: i64| ms.div_euclid(1000);
    let recipients: Vec<Value> = match &delivery {
        Some(d) => d
            .recipients
            .iter()
            .map(|r| {
                let pending = r.status == DeliveryStatus::Pending;
                json!({
                    "address": r.address,
                    "status": r.status,
                    "attempts": r.attempts,
                    "next_attempt_at": pending.then(|| secs(r.next_attempt.max(d.not_before))),
                    "last_attempt_at": r.last_attempt.map(secs),
                    "last_reply": r.last_reply,
                })
            })
            .collect(),
        None => m
            .envelope
            .rcpt_to
            .iter()
            .map(|a| {
                json!({ "address": a, "status": "pending", "attempts": 0, "next_attempt_at": null,
                        "last_attempt_at": null, "last_reply": null })
            })
            .collect(),
    };
    json!({
        "id": m.id.to_string(),
        "queued_at": m.queued_at,
        "time": rfc3339(m.queued_at),
        "size": m.size,
        "mail_from": m.envelope.mail_from,
        "rcpt_to": m.envelope.rcpt_to,
        "auth_user": m.envelope.auth_user,
        "state": word,
        "attempts": delivery.as_ref().map_or(0, |d| d.recipients.iter().map(|r| r.attempts).max().unwrap_or(0)),
        "next_attempt_at": delivery.as_ref().and_then(|d| d.next_due()).filter(|_| word != "held").map(secs),
        "recipients": recipients,
        "claimed_by": entry.claimed_by,
    })
}

/// Every queued message with its state (one node's spool is read on a blocking thread, never
/// on the runtime; a cluster's from the shared queue).
pub async fn queue_view(state: &SharedState, lang: Lang) -> Result<QueueView, ApiError> {
    queue_view_with(state, lang, &QueueQuery::default()).await
}

/// [`queue_view`] filtered and paged (100 messages a page unless asked otherwise).
pub async fn queue_view_with(state: &SharedState, lang: Lang, q: &QueueQuery) -> Result<QueueView, ApiError> {
    let page = q.page_request();
    let Some(queue) = state.spool.clone() else {
        return Ok(QueueView {
            count: 0,
            matched: 0,
            offset: page.offset,
            limit: page.limit,
            total_bytes: 0,
            oldest_queued_at: None,
            corrupt: 0,
            messages: vec![],
        });
    };
    let listing = queue.list(now_ms()).await.map_err(|e| ApiError::storage(lang, e))?;
    let messages: Vec<&QueuedMessage> = listing.entries.iter().map(|e| &e.message).collect();
    let selected: Vec<&Entry> = listing.entries.iter().filter(|e| q.selects(e)).collect();
    let shown = page.slice(selected);
    Ok(QueueView {
        count: messages.len(),
        matched: shown.total,
        offset: shown.offset,
        limit: shown.limit,
        total_bytes: messages.iter().map(|m| m.size).sum(),
        oldest_queued_at: messages.iter().map(|m| m.queued_at).min(),
        corrupt: listing.corrupt.len(),
        messages: shown.items.into_iter().map(queue_entry).collect(),
    })
}

/// One queued message by id, whichever page it is on (`None`: not in the queue).
pub async fn queue_message(state: &SharedState, lang: Lang, id: &str) -> Result<Option<Value>, ApiError> {
    let Some(queue) = state.spool.clone() else { return Ok(None) };
    let listing = queue.list(now_ms()).await.map_err(|e| ApiError::storage(lang, e))?;
    Ok(listing.entries.iter().find(|e| e.message.id.to_string() == id).map(queue_entry))
}

async fn queue(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    Params(q): Params<QueueQuery>,
) -> Result<Json<QueueView>, ApiError> {
    c.require(Permission::ReadQueue)?;
    Ok(Json(queue_view_with(&state, c.lang, &q).await?))
}

/// What an admin can do to one queued message (the same as `authrelay queue retry|hold|release|delete`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueAction {
    Retry,
    Hold,
    Release,
    Delete,
}

impl QueueAction {
    /// The audit log's action.
    fn audit_action(self) -> &'static str {
        match self {
            QueueAction::Retry => "queue.retry",
            QueueAction::Hold => "queue.hold",
            QueueAction::Release => "queue.release",
            QueueAction::Delete => "queue.delete",
        }
    }

    /// The `?done=` key of the queue page after it.
    pub fn done_key(self) -> &'static str {
        match self {
            QueueAction::Retry => "queue-retry",
            QueueAction::Hold => "queue-hold",
            QueueAction::Release => "queue-release",
            QueueAction::Delete => "queue-delete",
        }
    }
}

pub(crate) fn unknown_message(lang: Lang, id: &str) -> ApiError {
    let id: String = id.chars().take(40).collect();
    ApiError::new(StatusCode::NOT_FOUND, "unknown-message", lang, "api-err-queue-not-found", &[("id", Arg::Str(&id))])
}

/// Does `action` to the queued message `id` (as `authrelay queue` does: marker files the
/// running manager reads on one node, the message's row in a cluster), and writes the audit
/// record with the message's state before and after.
pub async fn queue_act(state: &SharedState, c: &Caller, id: &str, action: QueueAction) -> Result<(), ApiError> {
    c.require(Permission::ManageQueue)?;
    let lang = c.lang;
    let Some(queue) = state.spool.clone() else { return Err(unknown_message(lang, id)) };
    let qid = QueueId::parse(id).ok_or_else(|| unknown_message(lang, id))?;
    let failed = |e: SpoolError| match e {
        SpoolError::NotFound(_) => unknown_message(lang, id),
        other => ApiError::storage(lang, other),
    };
    let before = queue.entry(&qid, now_ms()).await.map_err(failed)?.word;
    let done = match action {
        QueueAction::Retry => queue.retry(&qid).await,
        QueueAction::Hold => queue.set_held(&qid, true).await,
        QueueAction::Release => queue.set_held(&qid, false).await,
        QueueAction::Delete => queue.delete(&qid).await,
    };
    done.map_err(failed)?;
    let after = match action {
        QueueAction::Delete => "-",
        _ => queue.entry(&qid, now_ms()).await.map(|e| e.word).unwrap_or("-"),
    };
    state.ops.audit(&c.actor().name, action.audit_action(), id, before, after).await;
    Ok(())
}

async fn queue_action(state: SharedState, c: Caller, id: String, action: QueueAction) -> Result<StatusCode, ApiError> {
    queue_act(&state, &c, &id, action).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn queue_retry(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(id): PathArgs<String>,
) -> Result<StatusCode, ApiError> {
    queue_action(state, c, id, QueueAction::Retry).await
}

async fn queue_hold(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(id): PathArgs<String>,
) -> Result<StatusCode, ApiError> {
    queue_action(state, c, id, QueueAction::Hold).await
}

async fn queue_release(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(id): PathArgs<String>,
) -> Result<StatusCode, ApiError> {
    queue_action(state, c, id, QueueAction::Release).await
}

async fn queue_delete(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(id): PathArgs<String>,
) -> Result<StatusCode, ApiError> {
    queue_action(state, c, id, QueueAction::Delete).await
}

/// The audit log's filters and page, on the page and in the API.
#[derive(Deserialize, Default)]
pub struct AuditQuery {
    /// Any part of who did it.
    pub actor: Option<String>,
    /// `user.set` exactly, or `user.` for every action on users.
    pub action: Option<String>,
    /// Any part of what it was done to.
    pub target: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
    pub page: Option<u64>,
    pub per_page: Option<u32>,
}

impl AuditQuery {
    pub fn filter(&self) -> authrelay_directory::AuditFilter {
        let text = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(String::from);
        authrelay_directory::AuditFilter {
            actor: text(&self.actor),
            action: text(&self.action),
            target: text(&self.target),
            since: self.since,
            until: self.until,
        }
    }

    pub fn page_request(&self) -> PageRequest {
        PageRequest::new(self.page, self.per_page, self.offset, self.limit)
    }
}

pub fn audit_view(e: &authrelay_directory::admin::AuditEntry) -> Value {
    json!({ "at": e.at, "time": rfc3339(e.at), "actor": e.actor, "action": e.action,
            "target": e.target, "before": e.before, "after": e.after })
}

async fn audit(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    uri: axum::http::Uri,
    Params(q): Params<AuditQuery>,
) -> Result<Response, ApiError> {
    c.require(Permission::ReadAudit)?;
    let page = state.store.audit_page(&q.filter(), q.page_request()).await.map_err(|e| ApiError::storage(c.lang, e))?;
    Ok(paged_json(&uri.to_string(), &page.map(|e| audit_view(&e))))
}

/// Paging of a list the API used to answer whole (users, organisations, admins): whole still
/// when the caller names no page, so existing callers see every row; `X-Total-Count` either way.
#[derive(Deserialize, Default)]
pub struct ListPaging {
    pub limit: Option<u32>,
    pub offset: Option<u64>,
    pub page: Option<u64>,
    pub per_page: Option<u32>,
}

impl ListPaging {
    pub fn slice<T>(&self, items: Vec<T>) -> Page<T> {
        if self.limit.is_none() && self.offset.is_none() && self.page.is_none() && self.per_page.is_none() {
            let total = items.len() as u64;
            let limit = u32::try_from(total).unwrap_or(u32::MAX).max(1);
            return Page { items, total, offset: 0, limit };
        }
        PageRequest::new(self.page, self.per_page, self.offset, self.limit).slice(items)
    }
}

// ---------------------------------------------------------------------------------------------
// Admins and tokens

async fn list_admins(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    uri: axum::http::Uri,
    Params(paging): Params<ListPaging>,
) -> Result<Response, ApiError> {
    c.require(Permission::ManageAdmins)?;
    let admins = state.store.list_admins().await.map_err(|e| ApiError::storage(c.lang, e))?;
    Ok(paged_json(&uri.to_string(), &paging.slice(admins)))
}

#[derive(Deserialize)]
struct NewAdminRequest {
    address: String,
    role: String,
    password: String,
}

async fn create_admin(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    Body(req): Body<NewAdminRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (admin, _) =
        state.ops.create_admin(&c.actor(), &req.address, &req.role, Some(&req.password)).await.api(c.lang)?;
    Ok((StatusCode::CREATED, Json(json!(admin))))
}

#[derive(Deserialize)]
struct RoleRequest {
    role: String,
}

async fn set_admin_role(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(address): PathArgs<String>,
    Body(req): Body<RoleRequest>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(state.ops.set_admin_role(&c.actor(), &address, &req.role).await.api(c.lang)?)))
}

async fn remove_admin(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(address): PathArgs<String>,
) -> Result<StatusCode, ApiError> {
    state.ops.remove_admin(&c.actor(), &address).await.api(c.lang)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn reset_admin_totp(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(address): PathArgs<String>,
) -> Result<StatusCode, ApiError> {
    state.ops.reset_admin_totp(&c.actor(), &address).await.api(c.lang)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_tokens(State(state): State<SharedState>, ApiCaller(c): ApiCaller) -> Result<Json<Value>, ApiError> {
    let owner = if c.may(Permission::ManageAdmins) { None } else { Some(c.admin.id) };
    let tokens = state.store.list_api_tokens(owner).await.map_err(|e| ApiError::storage(c.lang, e))?;
    Ok(Json(json!(tokens)))
}

#[derive(Deserialize)]
struct NewTokenRequest {
    name: String,
    role: Option<String>,
}

async fn create_token(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    Body(req): Body<NewTokenRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (token, secret) = state.ops.create_token(&c.actor(), &req.name, req.role.as_deref()).await.api(c.lang)?;
    Ok((StatusCode::CREATED, Json(json!({ "token": token, "secret": secret }))))
}

async fn revoke_token(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(id): PathArgs<i64>,
) -> Result<StatusCode, ApiError> {
    state.ops.revoke_token(&c.actor(), id).await.api(c.lang)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether a caller may see a page/API area; used by the pages to hide what they may not use.
pub fn visible(c: &Caller, p: Permission) -> bool {
    c.may(p)
}

// ---------------------------------------------------------------------------------------------
// Device credentials (issue 7): created and revoked with the permission that governs app passwords.

/// A device credential as the page and the API show it (never the secret or its hash).
#[derive(Debug, Clone, Serialize)]
pub struct DeviceCredentialView {
    pub name: String,
    pub tag: String,
    /// CIDRs it may be used from; empty = any address.
    pub allow: Vec<String>,
    pub expires_at: Option<i64>,
    pub expires: Option<String>,
    pub expired: bool,
    pub created_at: i64,
    pub created: String,
    pub last_used_at: Option<i64>,
    pub last_used: Option<String>,
    pub last_used_ip: Option<String>,
}

pub fn device_view(d: &DeviceCredential, now: i64) -> DeviceCredentialView {
    DeviceCredentialView {
        name: d.name.clone(),
        tag: d.tag.clone(),
        allow: d.allow.iter().map(Cidr::to_string).collect(),
        expires_at: d.expires_at,
        expires: d.expires_at.map(rfc3339),
        expired: d.expires_at.is_some_and(|e| e <= now),
        created_at: d.created_at,
        created: rfc3339(d.created_at),
        last_used_at: d.last_used_at,
        last_used: d.last_used_at.map(rfc3339),
        last_used_ip: d.last_used_ip.clone(),
    }
}

async fn device_credentials(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(address): PathArgs<String>,
) -> Result<Json<Vec<DeviceCredentialView>>, ApiError> {
    c.require(Permission::ReadDirectory)?;
    let user = state.ops.user(&address).await.api(c.lang)?;
    let list = state.directory.list_device_credentials(&user.address).await.api(c.lang)?;
    let now = crate::state::now();
    Ok(Json(list.iter().map(|d| device_view(d, now)).collect()))
}

#[derive(Deserialize)]
struct NewDeviceRequest {
    name: String,
    #[serde(default)]
    allow: Vec<String>,
    expires: Option<String>,
    expires_in_days: Option<u32>,
}

async fn add_device_credential(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(address): PathArgs<String>,
    Body(req): Body<NewDeviceRequest>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let spec = DeviceCredentialSpec {
        name: req.name,
        allow: req.allow,
        expires: req.expires,
        expires_in_days: req.expires_in_days,
    };
    let (created, secret) = state.ops.add_device_credential(&c.actor(), &address, spec).await.api(c.lang)?;
    let mut body = serde_json::to_value(device_view(&created, crate::state::now())).unwrap_or_default();
    body["secret"] = json!(secret);
    Ok((StatusCode::CREATED, Json(body)))
}

async fn revoke_device_credential(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs((address, name)): PathArgs<(String, String)>,
) -> Result<StatusCode, ApiError> {
    state.ops.revoke_device_credential(&c.actor(), &address, &name).await.api(c.lang)?;
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// The Troubleshooter (troubleshoot.rs builds the views the page shows too)

async fn doctor(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(address): PathArgs<String>,
) -> Result<Json<troubleshoot::DoctorView>, ApiError> {
    Ok(Json(troubleshoot::doctor_view(&state, &c, &address).await?))
}

#[derive(Deserialize)]
struct FixRequest {
    action: String,
}

async fn doctor_fix(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    PathArgs(address): PathArgs<String>,
    Body(req): Body<FixRequest>,
) -> Result<Json<Value>, ApiError> {
    let applied = troubleshoot::apply(&state, &c, &address, &req.action).await?;
    let after = troubleshoot::diagnose(&state, &c, &address).await?;
    Ok(Json(json!({
        "applied": applied.action,
        "secret_kind": applied.secret_kind,
        "secret": applied.secret,
        "doctor": troubleshoot::view(&after, &c),
    })))
}

#[derive(Deserialize)]
struct ExplainRequest {
    reply: String,
    provider: Option<String>,
    user: Option<String>,
}

async fn explain(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    Body(req): Body<ExplainRequest>,
) -> Result<Json<troubleshoot::ExplainView>, ApiError> {
    Ok(Json(troubleshoot::explain(&state, &c, &req.reply, req.provider.as_deref(), req.user.as_deref()).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route the API serves is in openapi.json, with the same method, and nothing else is.
    #[test]
    fn openapi_document_matches_the_routes() {
        let doc: Value = serde_json::from_str(crate::OPENAPI).expect("openapi.json parses");
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "patch", "delete", "put"].contains(&method.as_str()) {
                    documented.insert((method.clone(), path.clone()));
                }
            }
        }
        let served: BTreeSet<(String, String)> =
            routes().table.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&served).collect();
        assert!(undocumented.is_empty(), "served but not in openapi.json: {undocumented:?}");
        assert!(unserved.is_empty(), "in openapi.json but not served: {unserved:?}");
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        let row = ClientRow {
            user: "=cmd|' /C calc'!A0".into(),
            messages_sent: 4,
            successful_sign_ins: 1,
            failed_sign_ins: 2,
            tls_versions: vec!["TLSv1.3".into()],
            credential_kinds: vec!["password".into(), "app-password".into()],
            mechanisms: vec!["LOGIN".into()],
            client_addresses: vec!["127.0.0.1".into()],
            last_seen: 0,
            last_seen_time: "1970-01-01T00:00:00Z".into(),
            legacy_paths: vec!["plain 10.0.0.1:2525 (none)".into()],
        };
        let csv = clients_csv(&[row]);
        let line = csv.lines().nth(1).unwrap();
        assert!(line.starts_with("'=cmd|' /C calc'!A0,1,2,TLSv1.3,password app-password,LOGIN,127.0.0.1,"), "{line}");
        assert!(clients_csv(&[]).starts_with("user,"));
    }

    #[test]
    fn csv_defuses_every_formula_start() {
        for user in ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1+1", "\r=1+1"] {
            let row = ClientRow { user: user.into(), ..Default::default() };
            let csv = clients_csv(&[row]);
            let body = &csv[csv.find("\r\n").unwrap() + 2..];
            let cell = body.strip_prefix('"').unwrap_or(body);
            assert!(cell.starts_with('\''), "{user:?} -> {body:?}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connectors

/// The connectors in force (`[[connectors]]`, after the last reload) with their use, for the
/// Connectors page and `GET /api/connectors`. They are set in the configuration file only.
#[derive(Debug, Serialize)]
pub struct ConnectorsView {
    pub connectors: Vec<ConnectorRow>,
    /// The file to edit (then `authrelay reload`); `None`: the server runs on its defaults.
    pub config_file: Option<String>,
    /// The answer to `?client=`: which connector admits that address.
    pub check: Option<ClientCheck>,
}

#[derive(Debug, Serialize)]
pub struct ConnectorRow {
    #[serde(flatten)]
    pub setting: crate::state::ConnectorSetting,
    /// Recipients all its senders had in the last 24 hours; `None` when the store cannot say.
    pub recipients_last_24h: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct ClientCheck {
    /// The address as asked, normalised (a port is dropped).
    pub client: String,
    /// The first connector (in the file's order) whose ranges contain it: the one a session
    /// from there uses on the default listeners. `None`: such a client must AUTH (530 5.7.57).
    pub connector: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ConnectorsQuery {
    #[serde(default)]
    pub client: String,
}

/// A client address as an admin types it: an IP, `ip:port` or `[v6]:port` (as the sign-in log
/// shows them) — the sign-in filter's reading (listing.rs), without its ranges. An IPv4-mapped
/// address is answered as the IPv4 address it is.
pub fn parse_client_address(text: &str) -> Option<std::net::IpAddr> {
    if text.contains('/') {
        return None;
    }
    let filter: listing::ClientFilter = text.parse().ok()?;
    Some(filter.0.network().to_canonical())
}

pub async fn connectors_view(state: &SharedState, lang: Lang, q: &ConnectorsQuery) -> Result<ConnectorsView, ApiError> {
    let settings = state.config.connectors.as_ref().map(|source| (source.0)()).unwrap_or_default();
    let check = if q.client.trim().is_empty() {
        None
    } else {
        let Some(ip) = parse_client_address(&q.client) else {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad-client",
                lang,
                "api-err-bad-client-address",
                &[("value", Arg::Str(q.client.trim()))],
            ));
        };
        let connector = settings.iter().find(|s| s.clients.iter().any(|c| c.contains(ip))).map(|s| s.name.clone());
        Some(ClientCheck { client: ip.to_string(), connector })
    };
    let since = now() - authrelay_directory::protection::DAY_SECS;
    let mut connectors = vec![];
    for setting in settings {
        let used = match state.directory.recipients_since(&setting.quota_key, since).await {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::error!(error = %e, "admin center: cannot read a connector's recipient count");
                None
            }
        };
        connectors.push(ConnectorRow { setting, recipients_last_24h: used });
    }
    let config_file = state.config.config_file.as_ref().map(|p| p.display().to_string());
    Ok(ConnectorsView { connectors, config_file, check })
}

async fn connectors(
    State(state): State<SharedState>,
    ApiCaller(c): ApiCaller,
    Params(q): Params<ConnectorsQuery>,
) -> Result<Json<ConnectorsView>, ApiError> {
    c.require(Permission::ReadDirectory)?;
    Ok(Json(connectors_view(&state, c.lang, &q).await?))
}
