//! The web admin center: server-rendered pages (minijinja templates under `templates/`), in the
//! places a Microsoft 365 admin looks for them. Every form posts back here with the session's
//! CSRF token (checked by [`crate::auth::csrf_guard`]); a few lines of script in
//! `static/admin.js` only make forms nicer and are not needed for anything to work.

// Handlers answer with a page either way (the error is a rendered page too), so the Err side of
// their Results is an axum Response like the Ok side; boxing it would buy nothing.
#![allow(clippy::result_large_err)]

use authrelay_core::{AppPasswordsPolicy, MailboxSmtpAuth, MfaState, OrgSmtpAuth, SecurityDefaults, SignIn};
use authrelay_i18n::{t, Arg, Lang};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::value::Kwargs;
use minijinja::{context, Environment, State as TplState, Value};
use serde::Deserialize;

use authrelay_core::DeviceCredentialsPolicy;
use authrelay_directory::admin::token_hash;
use authrelay_ops::{DeviceCredentialSpec, OrgEdit, Permission, Role, UserEdit};
use axum::body::Body;
use axum::extract::Request;
use axum::middleware::Next;

use crate::api::{self, SignInQuery, UserQuery};
use crate::auth::{self, Caller, WebCaller};
use crate::confirm::{self, MailboxChange};
use crate::http::{
    self, cookie, ct_eq, form_field, lang_of, ApiError, OrApi, MAX_FORM, PRE_CSRF_COOKIE, SESSION_COOKIE,
};
use crate::listener::{self, ClientAddr};
use crate::lists;
use crate::state::{now, SharedState};
use crate::troubleshoot;
use authrelay_directory::listing::PageRequest;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/", get(home))
        .route("/signin", get(signin_page).post(signin_post))
        .route("/signin/totp", get(totp_page).post(totp_post))
        .route("/signout", post(signout))
        .route("/lang", post(set_lang))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/readyz", get(readyz))
        .route("/static/admin.css", get(css))
        .route("/static/admin.js", get(js))
        .route("/users", get(users).post(users_add))
        .route("/users/{address}", get(user_page))
        .route("/users/{address}/sign-in", post(user_sign_in))
        .route("/users/{address}/password", post(user_password))
        .route("/users/{address}/email-apps", get(email_apps).post(email_apps_post))
        .route("/users/{address}/app-passwords", post(app_password_add))
        .route("/users/{address}/app-passwords/revoke", post(app_password_revoke))
        .route("/mfa", get(mfa).post(mfa_bulk))
        .route("/mfa/{address}", get(mfa_user).post(mfa_user_post))
        .route("/org", get(orgs).post(org_add))
        .route("/org/{name}", get(org_page))
        .route("/org/{name}/domains", post(org_domain_add))
        .route("/org/{name}/security-defaults", get(security_defaults).post(security_defaults_post))
        .route("/org/{name}/mail", get(org_mail))
        .route("/org/{name}/mail/smtp-auth", post(org_mail_smtp_auth))
        .route("/org/{name}/mail/app-passwords", post(org_mail_app_passwords))
        .route("/signins", get(signins))
        .route("/signins.csv", get(signins_csv))
        .route("/reports/smtp-auth", get(report))
        .route("/reports/smtp-auth.csv", get(report_csv))
        .route("/queue", get(queue))
        .route("/queue/{id}/retry", post(queue_retry))
        .route("/queue/{id}/hold", post(queue_hold))
        .route("/queue/{id}/release", post(queue_release))
        .route("/queue/{id}/delete", get(queue_delete_confirm).post(queue_delete))
        .route("/audit", get(audit))
        .route("/admins", get(admins).post(admins_add))
        .route("/troubleshoot", get(troubleshoot))
        .route("/troubleshoot/fix", post(troubleshoot_fix))
        .route("/troubleshoot/explain", post(troubleshoot_explain))
        .route("/users/{address}/device-credentials", post(device_credential_add))
        .route("/users/{address}/device-credentials/revoke", post(device_credential_revoke))
        .route("/org/{name}/mail/device-credentials", post(org_mail_device_credentials))
        .route("/import", get(import_form))
        .route("/import/plan", post(import_plan).layer(axum::extract::DefaultBodyLimit::max(http::MAX_UPLOAD)))
        .route("/import/apply", post(import_apply).layer(axum::extract::DefaultBodyLimit::max(http::MAX_UPLOAD)))
        .route("/import/status", get(import_status))
        .route("/static/sheet.css", get(sheet_css))
        .route("/tokens", post(token_add))
        .route("/tokens/{id}/revoke", post(token_revoke))
}

// ---------------------------------------------------------------------------------------------
// Templates

macro_rules! templates {
    ($($name:literal),+ $(,)?) => {
        &[$(($name, include_str!(concat!("../templates/", $name)))),+]
    };
}

const TEMPLATES: &[(&str, &str)] = templates!(
    "base.html",
    "signin.html",
    "totp.html",
    "home.html",
    "users.html",
    "user.html",
    "email_apps.html",
    "mfa.html",
    "mfa_user.html",
    "orgs.html",
    "org.html",
    "security_defaults.html",
    "org_mail.html",
    "signins.html",
    "report.html",
    "queue.html",
    "queue_delete.html",
    "confirm.html",
    "audit.html",
    "admins.html",
    "message.html",
    "troubleshoot.html",
    "import.html",
    "import_done.html",
    "import_status.html",
    "pager.html",
    "chart.html",
);

/// The template environment: `.html` templates auto-escape; `t("id", name=value)` formats a
/// catalogue message in the page's language.
pub fn templates() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        env.add_template(name, source).unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    env.add_function("t", translate);
    env.add_function("value", template_value);
    env.add_function("audit_value", template_audit_value);
    env.add_function("when", template_when);
    env.add_function("size", template_size);
    env.add_function("num", template_num);
    env
}

/// `num(n)`: a count with the page language's separators (ko `10,000`, id `10.000`).
fn template_num(state: &TplState, n: f64) -> String {
    authrelay_i18n::number(page_lang(state), n)
}

/// `size(bytes)`: a size in KB or MB with the page language's separators.
fn template_size(state: &TplState, bytes: u64) -> String {
    authrelay_i18n::size(page_lang(state), bytes)
}

fn web_time(lang: Lang, unix: i64) -> String {
    authrelay_i18n::time(lang, unix)
}

fn page_lang(state: &TplState) -> Lang {
    state.lookup("lang").and_then(|v| v.as_str().and_then(Lang::parse)).unwrap_or_default()
}

/// `value(kind, raw)`: a setting, state, check, action … as a message in the page's language
/// (authrelay_i18n::values::by_kind). An unknown kind is a template error; a raw value the
/// kind does not know (a row written by a newer version) is shown as written.
fn template_value(state: &TplState, kind: &str, raw: Value) -> Result<String, minijinja::Error> {
    if !authrelay_i18n::values::KINDS.contains(&kind) {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("unknown value kind {kind}"),
        ));
    }
    let raw = raw.as_str().map(String::from).unwrap_or_else(|| raw.to_string());
    Ok(match authrelay_i18n::values::by_kind(kind, &raw) {
        Some(id) => t(page_lang(state), id, &[]),
        None => raw,
    })
}

/// `audit_value(action, raw)`: an audit record's before/after value in the page's language.
fn template_audit_value(state: &TplState, action: &str, raw: &str) -> String {
    authrelay_i18n::values::audit_value(page_lang(state), action, raw)
}

/// `when(unix)`: a time as the page's language writes it, in UTC (docs/localization.md).
fn template_when(state: &TplState, unix: Option<i64>) -> String {
    authrelay_i18n::format::time_or_dash(page_lang(state), unix)
}

fn translate(state: &TplState, id: &str, kwargs: Kwargs) -> Result<String, minijinja::Error> {
    let lang = state.lookup("lang").and_then(|v| v.as_str().and_then(Lang::parse)).unwrap_or_default();
    let mut owned: Vec<(String, Result<f64, String>)> = vec![];
    for key in kwargs.args() {
        let value: Value = kwargs.get(key)?;
        let v = match value.as_i64() {
            Some(n) if value.is_number() => Ok(n as f64),
            _ => Err(value.as_str().map(String::from).unwrap_or_else(|| value.to_string())),
        };
        owned.push((key.to_string(), v));
    }
    let args: Vec<(&str, Arg)> = owned
        .iter()
        .map(|(k, v)| {
            (
                k.as_str(),
                match v {
                    Ok(n) => Arg::Num(*n),
                    Err(s) => Arg::Str(s.as_str()),
                },
            )
        })
        .collect();
    Ok(t(lang, id, &args))
}

fn render(state: &SharedState, name: &str, ctx: Value, status: StatusCode) -> Response {
    match state.templates.get_template(name).and_then(|tpl| tpl.render(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, template = name, "cannot render page");
            (StatusCode::INTERNAL_SERVER_ERROR, "page error").into_response()
        }
    }
}

/// What every signed-in page needs: language, the admin, the CSRF token, which places to show.
fn base(c: &Caller, active: &str) -> Value {
    let may = |p| c.may(p);
    context! {
        lang => c.lang.tag(),
        me => context! { address => c.admin.address.clone(), role => c.role.as_str(), role_name => t(c.lang, c.role.name_id(), &[]) },
        csrf => c.csrf(),
        active => active,
        may => context! {
            directory => may(Permission::ReadDirectory),
            users => may(Permission::ManageUsers),
            orgs => may(Permission::ManageOrgs),
            security_defaults => may(Permission::ManageSecurityDefaults),
            mfa => may(Permission::ManageMfa),
            app_passwords => may(Permission::ManageAppPasswords),
            smtp_auth => may(Permission::ManageSmtpAuth),
            signins => may(Permission::ReadSignins),
            reports => may(Permission::ReadReports),
            queue => may(Permission::ReadQueue),
            audit => may(Permission::ReadAudit),
            admins => may(Permission::ManageAdmins),
        },
        langs => Lang::ALL.iter().map(|l| l.tag()).collect::<Vec<_>>(),
        // No refused form unless a handler passes one (see FormError).
        fe => Value::from_serialize(FormError::default()),
    }
}

/// A refused form shown again on its own page instead of a generic error page: the message next
/// to the field it is about, with what was typed kept (passwords never are: they are not echoed
/// back into the page).
#[derive(Debug, Default, serde::Serialize)]
pub(crate) struct FormError {
    /// Which form on the page (templates compare it).
    form: &'static str,
    /// The field the message is about.
    pub(crate) field: &'static str,
    code: &'static str,
    message: String,
    values: std::collections::BTreeMap<&'static str, String>,
}

impl FormError {
    /// `field_of` names the field an error code is about; `values` are the inputs to keep.
    pub(crate) fn new(
        form: &'static str,
        e: ApiError,
        field_of: fn(&str) -> &'static str,
        values: &[(&'static str, &str)],
    ) -> Self {
        FormError {
            form,
            field: field_of(e.code),
            code: e.code,
            message: e.message,
            values: values.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        }
    }
}

/// A form's refusal: a missing permission (or an outage) is still a page of its own; anything
/// the admin can correct comes back in the form.
pub(crate) fn correctable(e: &ApiError) -> bool {
    e.status != StatusCode::FORBIDDEN && !e.status.is_server_error()
}

/// A confirmation question from confirm.rs (which decides whether to ask and what), rendered.
fn asked(state: &SharedState, c: &Caller, asked: confirm::Asked) -> Result<Option<Response>, ApiError> {
    asked.map(|ask| ask.map(|ask| page(state, c, "confirm.html", ask.active, ask.context())))
}

pub(crate) fn page(state: &SharedState, c: &Caller, name: &str, active: &str, extra: Value) -> Response {
    let ctx = context! { ..extra, ..base(c, active) };
    render(state, name, ctx, StatusCode::OK)
}

/// [`page`] answered with `status` (a refused form keeps the API's status).
pub(crate) fn page_with(
    state: &SharedState,
    c: &Caller,
    name: &str,
    active: &str,
    extra: Value,
    status: StatusCode,
) -> Response {
    let mut r = page(state, c, name, active, extra);
    *r.status_mut() = status;
    r
}

/// An error shown as a page in the admin's language, with the status the API would use.
pub(crate) fn error_page(state: &SharedState, c: &Caller, e: ApiError) -> Response {
    let ctx =
        context! { title => t(c.lang, "page-error-title", &[]), message => e.message, code => e.code, ..base(c, "") };
    render(state, "message.html", ctx, e.status)
}

/// The answer to a form whose CSRF token is missing or wrong.
pub fn csrf_failed(state: &SharedState, lang: Lang) -> Response {
    let ctx = context! {
        lang => lang.tag(), title => t(lang, "page-error-title", &[]), message => t(lang, "web-csrf-failed", &[]),
        code => "csrf", anonymous => true,
    };
    render(state, "message.html", ctx, StatusCode::FORBIDDEN)
}

pub(crate) type Page = Result<Response, Response>;

pub(crate) trait OrPage<T> {
    fn or_page(self, state: &SharedState, c: &Caller) -> Result<T, Response>;
}

impl<T> OrPage<T> for Result<T, ApiError> {
    fn or_page(self, state: &SharedState, c: &Caller) -> Result<T, Response> {
        self.map_err(|e| error_page(state, c, e))
    }
}

pub(crate) fn require(state: &SharedState, c: &Caller, p: Permission) -> Result<(), Response> {
    c.require(p).or_page(state, c)
}

pub(crate) fn back(path: &str, done: &str) -> Response {
    Redirect::to(&format!("{path}?done={done}")).into_response()
}

pub(crate) fn enc(s: &str) -> String {
    crate::lists::enc(s)
}

#[derive(Deserialize, Default)]
pub(crate) struct Done {
    done: Option<String>,
}

/// The notice for `?done=key`, if the key is one of ours.
pub(crate) fn notice(lang: Lang, done: &Done) -> Option<String> {
    let key = done.done.as_deref()?;
    let id = format!("done-{key}");
    authrelay_i18n::has(&id).then(|| t(lang, &id, &[]))
}

// ---------------------------------------------------------------------------------------------
// Static files

/// Prometheus' scrape: counters and gauges of the whole server (README, "Monitoring"). Like
/// `/healthz`, it needs no sign-in: it holds no names, addresses or secrets, only counts.
async fn metrics(State(state): State<SharedState>) -> Response {
    match &state.config.metrics {
        Some(render) => (
            [
                (CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"),
                (axum::http::header::CACHE_CONTROL, "no-store"),
            ],
            (render.0)(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not collected by this process\n").into_response(),
    }
}

/// Liveness for a load balancer or systemd: the process answers. No sign-in, no data.
async fn healthz() -> Response {
    ([(CONTENT_TYPE, "application/json"), (axum::http::header::CACHE_CONTROL, "no-store")], "{\"status\":\"ok\"}\n")
        .into_response()
}

/// Readiness: the store answers and the queue can take a write. 503 with the failing part
/// otherwise, so a balancer sends devices elsewhere while this node could not keep their mail.
async fn readyz(State(state): State<SharedState>) -> Response {
    let store = match tokio::time::timeout(std::time::Duration::from_secs(2), state.directory.org("")).await {
        Ok(Ok(_)) => "ok".to_string(),
        Ok(Err(e)) => format!("unavailable: {e}"),
        Err(_) => "unavailable: no answer within 2 s".to_string(),
    };
    let queue = match state.spool.as_ref().map(|q| (q.spool().cloned(), q.shared().cloned())) {
        None => "ok".to_string(),
        Some((Some(spool), _)) => {
            let probe = spool.root().join(".readyz");
            let written = tokio::task::spawn_blocking(move || {
                let result = std::fs::write(&probe, b"ready\n");
                let _ = std::fs::remove_file(&probe);
                result
            })
            .await;
            match written {
                Ok(Ok(())) => "ok".to_string(),
                Ok(Err(e)) => format!("not writable: {e}"),
                Err(e) => format!("not writable: {e}"),
            }
        }
        // A cluster's queue takes a write when a (rolled back) insert goes through.
        Some((None, Some(shared))) => {
            match tokio::time::timeout(std::time::Duration::from_secs(3), shared.writable()).await {
                Ok(Ok(())) => "ok".to_string(),
                Ok(Err(e)) => format!("not writable: {e}"),
                Err(_) => "not writable: no answer within 3 s".to_string(),
            }
        }
        Some((None, None)) => "ok".to_string(),
    };
    let ready = store == "ok" && queue == "ok";
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not-ready" },
        "checks": { "store": store, "queue": queue },
    });
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, [(CONTENT_TYPE, "application/json"), (axum::http::header::CACHE_CONTROL, "no-store")], format!("{body}\n"))
        .into_response()
}

async fn css() -> Response {
    (
        [(CONTENT_TYPE, "text/css; charset=utf-8"), (axum::http::header::CACHE_CONTROL, "max-age=3600")],
        include_str!("../static/admin.css"),
    )
        .into_response()
}

async fn js() -> Response {
    (
        [(CONTENT_TYPE, "text/javascript; charset=utf-8"), (axum::http::header::CACHE_CONTROL, "max-age=3600")],
        include_str!("../static/admin.js"),
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Sign-in, second factor, sign-out, language

#[derive(Deserialize, Default)]
struct SignInPageQuery {
    expired: Option<String>,
    /// The page to return to after sign-in (only a local path is kept: lists::return_to).
    next: Option<String>,
}

async fn signin_page(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(q): Query<SignInPageQuery>,
) -> Response {
    let lang = lang_of(&headers);
    let csrf =
        http::cookie(&headers, http::PRE_CSRF_COOKIE).filter(|c| c.len() == 64).unwrap_or_else(http::random_token);
    let next = lists::return_to(q.next.as_deref());
    signin_form(&state, lang, &csrf, q.expired.is_some().then(|| t(lang, "signin-expired", &[])), next, StatusCode::OK)
}

fn signin_form(
    state: &SharedState,
    lang: Lang,
    csrf: &str,
    error: Option<String>,
    next: Option<String>,
    status: StatusCode,
) -> Response {
    let ctx = context! { lang => lang.tag(), csrf => csrf, error => error, anonymous => true, next,
    langs => Lang::ALL.iter().map(|l| l.tag()).collect::<Vec<_>>() };
    let mut response = render(state, "signin.html", ctx, status);
    response.headers_mut().append(SET_COOKIE, auth::set_cookie(state, http::PRE_CSRF_COOKIE, csrf, None));
    response
}

#[derive(Deserialize)]
struct SignInForm {
    address: String,
    password: String,
    next: Option<String>,
}

async fn signin_post(
    State(state): State<SharedState>,
    info: ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    Form(f): Form<SignInForm>,
) -> Response {
    let lang = lang_of(&headers);
    match auth::sign_in(
        &state,
        &listener::client_ip(&info, &headers, &state.config.trusted_proxies),
        &f.address,
        &f.password,
        None,
    )
    .await
    {
        Ok((id, _session, stage)) => {
            let next = lists::return_to(f.next.as_deref());
            let to = match (stage == auth::Stage::Done, next) {
                (true, Some(next)) => next,
                (true, None) => "/".to_string(),
                // The second factor keeps where to go next.
                (false, Some(next)) => format!("/signin/totp?next={}", enc(&next)),
                (false, None) => "/signin/totp".to_string(),
            };
            let cookie =
                auth::set_cookie(&state, http::SESSION_COOKIE, &id, Some(state.config.session_ttl.as_secs() as i64));
            ([(SET_COOKIE, cookie)], Redirect::to(&to)).into_response()
        }
        Err(r) => {
            let csrf = http::random_token();
            signin_form(&state, lang, &csrf, Some(t(lang, r.id, &[])), lists::return_to(f.next.as_deref()), r.status)
        }
    }
}

async fn totp_page(State(state): State<SharedState>, headers: HeaderMap, Query(q): Query<SignInPageQuery>) -> Response {
    totp_form(&state, &headers, None, lists::return_to(q.next.as_deref()), StatusCode::OK).await
}

async fn totp_form(
    state: &SharedState,
    headers: &HeaderMap,
    error: Option<String>,
    next: Option<String>,
    status: StatusCode,
) -> Response {
    let lang = lang_of(headers);
    let Ok(session) = auth::session_of(state, headers, lang).await else {
        return Redirect::to("/signin").into_response();
    };
    if session.mfa_done {
        return Redirect::to(next.as_deref().unwrap_or("/")).into_response();
    }
    let enroll = session.pending_totp.as_ref().filter(|_| !session.admin.totp_enrolled);
    let (qr, secret) = match enroll {
        Some(secret) => {
            let uri = crate::totp::otpauth_uri("authrelay", &session.admin.address, secret);
            (crate::totp::qr_svg(&uri), Some(secret.clone()))
        }
        None => (None, None),
    };
    let ctx = context! {
        lang => lang.tag(), csrf => session.csrf, anonymous => true, error => error,
        address => session.admin.address, enroll => secret.is_some(), secret => secret, next,
        qr => qr.map(Value::from_safe_string),
        langs => Lang::ALL.iter().map(|l| l.tag()).collect::<Vec<_>>(),
    };
    render(state, "totp.html", ctx, status)
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
    next: Option<String>,
}

async fn totp_post(
    State(state): State<SharedState>,
    info: ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    Form(f): Form<CodeForm>,
) -> Response {
    let lang = lang_of(&headers);
    let Ok(session) = auth::session_of(&state, &headers, lang).await else {
        return Redirect::to("/signin").into_response();
    };
    let next = lists::return_to(f.next.as_deref());
    if session.mfa_done {
        return Redirect::to(next.as_deref().unwrap_or("/")).into_response();
    }
    match auth::second_factor(
        &state,
        &listener::client_ip(&info, &headers, &state.config.trusted_proxies),
        &session,
        &f.code,
    )
    .await
    {
        Ok(()) => Redirect::to(next.as_deref().unwrap_or("/")).into_response(),
        Err(r) => totp_form(&state, &headers, Some(t(lang, r.id, &[])), next, r.status).await,
    }
}

async fn signout(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    if let Some(id) = http::cookie(&headers, http::SESSION_COOKIE) {
        let _ = state.store.delete_session(&authrelay_directory::admin::token_hash(&id)).await;
    }
    ([(SET_COOKIE, auth::set_cookie(&state, http::SESSION_COOKIE, "", Some(0)))], Redirect::to("/signin"))
        .into_response()
}

#[derive(Deserialize)]
struct LangForm {
    lang: String,
    back: Option<String>,
}

/// The language switcher: a cookie for a year, so the choice sticks across sign-ins.
async fn set_lang(State(state): State<SharedState>, Form(f): Form<LangForm>) -> Response {
    let lang = Lang::parse(&f.lang).unwrap_or_default();
    // Only a path of this site is followed back, never another site.
    let back = f.back.as_deref().and_then(http::local_path).unwrap_or("/").to_string();
    let cookie = auth::set_cookie(&state, http::LANG_COOKIE, lang.tag(), Some(365 * 86_400));
    ([(SET_COOKIE, cookie)], Redirect::to(&back)).into_response()
}

// ---------------------------------------------------------------------------------------------
// Home

/// Refused devices listed on Home at most (the rest are counted).
const ATTENTION_DEVICES: usize = 8;
/// Device credentials expiring within this many days are listed on Home.
const CREDENTIAL_WARN_DAYS: i64 = 14;
/// Certificates expiring within this many days are listed on Home.
const CERTIFICATE_WARN_DAYS: i64 = 21;

/// One line of Home's "Needs attention": what, and the link to where it is fixed.
#[derive(serde::Serialize)]
struct Attention {
    kind: &'static str,
    text: String,
    href: String,
    fix: String,
}

/// Refused sign-ins of the last 24 hours grouped by device (user name and client address),
/// most refusals first, and how many devices were left out.
async fn blocked_devices(state: &SharedState, c: &Caller, now: i64) -> (Vec<Attention>, usize) {
    let filter = authrelay_directory::SignInFilter {
        success: Some(false),
        since: Some(now - 86_400),
        limit: Some(20_000),
        ..Default::default()
    };
    let refused = state.directory.signins(&filter).await.unwrap_or_default();
    // (count, newest at, newest check) per device; rows come newest first.
    let mut devices: std::collections::BTreeMap<(String, String), (u64, i64, authrelay_core::Check)> =
        Default::default();
    for e in &refused {
        let entry = devices.entry((e.user.to_lowercase(), e.client_ip.clone())).or_insert((0, e.at, e.check));
        entry.0 += 1;
    }
    let mut sorted: Vec<_> = devices.into_iter().collect();
    sorted.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(b.1 .1.cmp(&a.1 .1)));
    let more = sorted.len().saturating_sub(ATTENTION_DEVICES);
    let items = sorted
        .into_iter()
        .take(ATTENTION_DEVICES)
        .map(|((user, client), (count, at, check))| {
            let shown = if user.is_empty() { "-".to_string() } else { authrelay_core::display::quoted(&user) };
            let text = t(
                c.lang,
                "attention-blocked",
                &[
                    ("user", Arg::Str(&shown)),
                    ("client", Arg::Str(&client)),
                    ("count", Arg::Num(count as f64)),
                    ("when", Arg::Time(at)),
                    ("check", Arg::Str(&authrelay_i18n::value(c.lang, check))),
                ],
            );
            let query = lists::query_string(&[
                ("result", "failure".into()),
                ("hours", "24".into()),
                ("user", user.clone()),
                ("client_ip", client.clone()),
            ]);
            Attention {
                kind: "blocked",
                text,
                href: format!("/signins?{query}"),
                fix: t(c.lang, "attention-blocked-fix", &[]),
            }
        })
        .collect();
    (items, more)
}

/// What needs the admin now: refused devices, mail waiting in the queue, expiring device
/// credentials and certificates; each with the link to where it is fixed.
async fn attention(state: &SharedState, c: &Caller, now: i64) -> (Vec<Attention>, usize) {
    let (mut items, more) =
        if c.may(Permission::ReadSignins) { blocked_devices(state, c, now).await } else { (vec![], 0) };
    if c.may(Permission::ReadQueue) {
        let (deferred, held) = match &state.config.queue {
            Some(queue) => {
                let counts = queue.counts();
                (counts.deferred, counts.held)
            }
            None => {
                match api::queue_view_with(state, c.lang, &api::QueueQuery { per_page: Some(1), ..Default::default() })
                    .await
                {
                    Ok(_) => {
                        let count = |word: &str| {
                            let q =
                                api::QueueQuery { state: Some(word.into()), per_page: Some(1), ..Default::default() };
                            async move { api::queue_view_with(state, c.lang, &q).await.map_or(0, |v| v.matched as usize) }
                        };
                        (count("deferred").await, count("held").await)
                    }
                    Err(_) => (0, 0),
                }
            }
        };
        for (kind, n, id, word) in
            [("deferred", deferred, "attention-deferred", "deferred"), ("held", held, "attention-held", "held")]
        {
            if n > 0 {
                items.push(Attention {
                    kind,
                    text: t(c.lang, id, &[("count", Arg::Num(n as f64))]),
                    href: format!("/queue?state={word}"),
                    fix: t(c.lang, "attention-queue-fix", &[]),
                });
            }
        }
    }
    if c.may(Permission::ReadDirectory) {
        let soon = now + CREDENTIAL_WARN_DAYS * 86_400;
        for (address, d) in state.directory.expiring_device_credentials(soon).await.unwrap_or_default() {
            let at = d.expires_at.unwrap_or(now);
            let id = if at <= now { "attention-credential-expired" } else { "attention-credential" };
            let args = [("name", Arg::Str(&d.name)), ("user", Arg::Str(&address)), ("when", Arg::Time(at))];
            items.push(Attention {
                kind: "credential",
                text: t(c.lang, id, &args),
                href: format!("/users/{}?tab=mail#device-credentials", enc(&address)),
                fix: t(c.lang, "attention-credential-fix", &[]),
            });
        }
    }
    let certificates = state.config.certificates.as_ref().map(|c| (c.0)()).unwrap_or_default();
    for cert in certificates.into_iter().filter(|cert| cert.not_after < now + CERTIFICATE_WARN_DAYS * 86_400) {
        let expired = cert.not_after <= now;
        let id = match (cert.client, expired) {
            (false, false) => "attention-certificate",
            (false, true) => "attention-certificate-expired",
            (true, false) => "attention-client-certificate",
            (true, true) => "attention-client-certificate-expired",
        };
        let args =
            [("names", Arg::Str(&cert.label)), ("file", Arg::Str(&cert.label)), ("when", Arg::Time(cert.not_after))];
        items.push(Attention {
            kind: "certificate",
            text: t(c.lang, id, &args),
            href: "/troubleshoot".into(),
            fix: t(c.lang, "attention-certificate-fix", &[]),
        });
    }
    (items, more)
}

async fn home(State(state): State<SharedState>, WebCaller(c): WebCaller) -> Page {
    let orgs = state.directory.list_orgs().await.api(c.lang).or_page(&state, &c)?;
    let users = state.directory.list_users(None).await.api(c.lang).or_page(&state, &c)?;
    let now = crate::state::now();
    let failures = if c.may(Permission::ReadSignins) {
        let q = SignInQuery { result: Some("failure".into()), since: Some(now - 86_400), ..Default::default() };
        let filter = api::signin_filter(c.lang, &q).or_page(&state, &c)?;
        Some(state.directory.count_signins(&filter).await.unwrap_or(0))
    } else {
        None
    };
    // The queue manager's count from memory; only without one (no delivery in this process)
    // is the spool counted, off the async runtime.
    let queued = if !c.may(Permission::ReadQueue) {
        None
    } else if let Some(queue) = &state.config.queue {
        Some(queue.counts().queued)
    } else {
        api::queue_view(&state, c.lang).await.ok().map(|q| q.count)
    };
    // Devices on legacy paths (old TLS, no TLS, bare LFs) in the last 7 days: a risk to retire.
    let legacy = if c.may(Permission::ReadReports) { Some(api::legacy_devices(&state, 7).await) } else { None };
    let (attention, attention_more) = attention(&state, &c, now).await;
    let chart = if c.may(Permission::ReadSignins) {
        signins_chart(&state, &c, "home-chart", lists::Step::Hour, 24).await
    } else {
        None
    };
    let orgs: Vec<_> = orgs.iter().map(api::OrgView::from).collect();
    let warnings: Vec<_> = state
        .config
        .warnings
        .as_ref()
        .map(|w| (w.0)())
        .unwrap_or_default()
        .into_iter()
        .map(|(id, detail)| context! { id, detail })
        .collect();
    Ok(page(
        &state,
        &c,
        "home.html",
        "home",
        context! { orgs, user_count => users.len(), failures, queued, warnings, legacy, attention, attention_more, chart },
    ))
}

// ---------------------------------------------------------------------------------------------
// Active users

#[derive(Deserialize, Default)]
struct UsersQuery {
    search: Option<String>,
    org: Option<String>,
    done: Option<String>,
    page: Option<u64>,
    per_page: Option<u32>,
}

async fn users(State(state): State<SharedState>, WebCaller(c): WebCaller, Query(q): Query<UsersQuery>) -> Page {
    require(&state, &c, Permission::ReadDirectory)?;
    users_page(&state, &c, &q, None, None, StatusCode::OK).await
}

async fn users_page(
    state: &SharedState,
    c: &Caller,
    q: &UsersQuery,
    created: Option<(String, Option<String>)>,
    error: Option<String>,
    status: StatusCode,
) -> Page {
    let query = UserQuery { org: q.org.clone(), search: q.search.clone(), ..Default::default() };
    let all = api::find_users(state, c.lang, &query).await.or_page(state, c)?;
    let found = PageRequest::new(q.page, q.per_page, None, None).slice(all);
    let filters = [("search", q.search.clone().unwrap_or_default()), ("org", q.org.clone().unwrap_or_default())];
    let pager = lists::pager(c.lang, &found, "/users", &filters);
    let found = found.items;
    let orgs = state.directory.list_orgs().await.api(c.lang).or_page(state, c)?;
    let views: Vec<_> = found.iter().map(|u| api::user_view(u, orgs.iter().find(|o| o.name == u.org))).collect();
    let links: Vec<String> = found.iter().map(|u| enc(&u.address)).collect();
    let done = notice(c.lang, &Done { done: q.done.clone() });
    let ctx = context! { pager,
        users => views, links, search => q.search.clone().unwrap_or_default(), org => q.org.clone().unwrap_or_default(),
        orgs => orgs.iter().map(|o| o.name.clone()).collect::<Vec<_>>(), created => created.map(|(a, p)| context! { address => a, password => p }),
        error, done,
    };
    let mut r = page(state, c, "users.html", "users", ctx);
    *r.status_mut() = status;
    Ok(r)
}

#[derive(Deserialize)]
struct AddUserForm {
    address: String,
    display_name: Option<String>,
    password: Option<String>,
}

async fn users_add(State(state): State<SharedState>, WebCaller(c): WebCaller, Form(f): Form<AddUserForm>) -> Page {
    let q = UsersQuery::default();
    match state
        .ops
        .create_user(&c.actor(), &f.address, f.display_name.as_deref(), f.password.as_deref())
        .await
        .api(c.lang)
    {
        Ok((user, password)) => {
            users_page(&state, &c, &q, Some((user.address, password)), None, StatusCode::CREATED).await
        }
        Err(e) if e.status == StatusCode::FORBIDDEN => Err(error_page(&state, &c, e)),
        Err(e) => {
            let status = e.status;
            users_page(&state, &c, &q, None, Some(e.message), status).await
        }
    }
}

#[derive(Deserialize)]
struct UserTab {
    tab: Option<String>,
    done: Option<String>,
}

async fn user_page(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
    Query(q): Query<UserTab>,
) -> Page {
    user_panel(&state, &c, &address, q.tab.as_deref().unwrap_or("account"), q.done, None).await
}

pub(crate) async fn user_panel(
    state: &SharedState,
    c: &Caller,
    address: &str,
    tab: &str,
    done: Option<String>,
    secret: Option<(String, String)>,
) -> Page {
    user_panel_with(state, c, address, tab, done, secret, None).await
}

/// The user panel with a refused form of it shown in place.
async fn user_panel_with(
    state: &SharedState,
    c: &Caller,
    address: &str,
    tab: &str,
    done: Option<String>,
    secret: Option<(String, String)>,
    refused: Option<(FormError, StatusCode)>,
) -> Page {
    require(state, c, Permission::ReadDirectory)?;
    let user = state.ops.user(address).await.api(c.lang).or_page(state, c)?;
    let org = state.directory.org(&user.org).await.ok().flatten();
    let app_passwords = state.directory.list_app_passwords(&user.address).await.unwrap_or_default();
    let aps: Vec<_> = app_passwords
        .iter()
        .map(|a| context! { name => a.name.clone(), created => web_time(c.lang, a.created_at), last_used => a.last_used_at.map(|at| web_time(c.lang, at)) })
        .collect();
    let tab = if tab == "mail" { "mail" } else { "account" };
    let now = crate::state::now();
    let devices: Vec<_> = state
        .directory
        .list_device_credentials(&user.address)
        .await
        .unwrap_or_default()
        .iter()
        .map(|d| api::device_view(d, now))
        .collect();
    let ctx = context! {
        user => api::user_view(&user, org.as_ref()), link => enc(&user.address), tab,
        org_smtp_auth => org.as_ref().map(|o| o.settings.smtp_auth.as_str()),
        org_app_passwords => org.as_ref().map(|o| o.settings.app_passwords.as_str()),
        org_device_credentials => org.as_ref().map(|o| o.settings.device_credentials.as_str()),
        device_credentials => devices,
        app_passwords => aps, done => notice(c.lang, &Done { done }),
        secret => secret.map(|(kind, value)| context! { kind, value }),
    };
    Ok(match refused {
        None => page(state, c, "user.html", "users", ctx),
        Some((fe, status)) => {
            let ctx = context! { fe => Value::from_serialize(&fe), ..ctx };
            page_with(state, c, "user.html", "users", ctx, status)
        }
    })
}

#[derive(Deserialize)]
struct SignInForm2 {
    blocked: Option<String>,
    confirmed: Option<String>,
}

async fn user_sign_in(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
    Form(f): Form<SignInForm2>,
) -> Page {
    let sign_in = if f.blocked.is_some() { SignIn::Blocked } else { SignIn::Allowed };
    // Blocking cuts the mailbox off whatever it signs in with: asked first, with its devices.
    if sign_in == SignIn::Blocked && !confirm::confirmed(&f.confirmed) {
        let user = state.ops.user(&address).await.api(c.lang).or_page(&state, &c)?;
        if user.settings.sign_in != SignIn::Blocked {
            let link = enc(&user.address);
            let asked = asked(
                &state,
                &c,
                confirm::mailbox_settings(
                    &state,
                    &c,
                    std::slice::from_ref(&user.address),
                    MailboxChange::Block,
                    &|m| authrelay_core::MailboxSettings { sign_in: SignIn::Blocked, ..m },
                    &[("blocked", "on")],
                    format!("/users/{link}/sign-in"),
                    format!("/users/{link}"),
                    "users",
                )
                .await,
            );
            if let Some(page) = asked.or_page(&state, &c)? {
                return Ok(page);
            }
        }
    }
    let user = state
        .ops
        .edit_user(&c.actor(), &address, UserEdit { sign_in: Some(sign_in), ..Default::default() })
        .await
        .api(c.lang)
        .or_page(&state, &c)?;
    Ok(back(&format!("/users/{}", enc(&user.address)), "saved"))
}

#[derive(Deserialize)]
struct PasswordForm {
    password: Option<String>,
}

async fn user_password(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
    Form(f): Form<PasswordForm>,
) -> Page {
    let generated = match state.ops.reset_password(&c.actor(), &address, f.password.as_deref()).await.api(c.lang) {
        Ok(generated) => generated,
        Err(e) if correctable(&e) => {
            let status = e.status;
            let fe = FormError::new("password", e, |_| "password", &[]);
            return user_panel_with(&state, &c, &address, "account", None, None, Some((fe, status))).await;
        }
        Err(e) => return Err(error_page(&state, &c, e)),
    };
    let secret = generated.map(|p| ("password".to_string(), p));
    user_panel(&state, &c, &address, "account", Some("password".into()), secret).await
}

async fn email_apps(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
    Query(q): Query<Done>,
) -> Page {
    require(&state, &c, Permission::ReadDirectory)?;
    let user = state.ops.user(&address).await.api(c.lang).or_page(&state, &c)?;
    let org = state.directory.org(&user.org).await.ok().flatten();
    let ctx = context! {
        user => api::user_view(&user, org.as_ref()), link => enc(&user.address),
        org_smtp_auth => org.as_ref().map(|o| o.settings.smtp_auth.as_str()).unwrap_or("disabled"),
        done => notice(c.lang, &q),
    };
    Ok(page(&state, &c, "email_apps.html", "users", ctx))
}

#[derive(Deserialize)]
struct EmailAppsForm {
    /// "on" when the Authenticated SMTP box is ticked.
    smtp_auth: Option<String>,
    /// "on" when the mailbox follows the organisation (the third state).
    follow_org: Option<String>,
    confirmed: Option<String>,
}

async fn email_apps_post(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
    Form(f): Form<EmailAppsForm>,
) -> Page {
    let value = match (f.follow_org.is_some(), f.smtp_auth.is_some()) {
        (true, _) => MailboxSmtpAuth::Default,
        (false, true) => MailboxSmtpAuth::Enabled,
        (false, false) => MailboxSmtpAuth::Disabled,
    };
    if !confirm::confirmed(&f.confirmed) {
        let link = enc(&address);
        let posted: Vec<(&str, &str)> = [("smtp_auth", &f.smtp_auth), ("follow_org", &f.follow_org)]
            .into_iter()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| (k, "on"))
            .collect();
        let asked = asked(
            &state,
            &c,
            confirm::mailbox_settings(
                &state,
                &c,
                std::slice::from_ref(&address),
                MailboxChange::SmtpAuth,
                &|m| authrelay_core::MailboxSettings { smtp_auth: value, ..m },
                &posted,
                format!("/users/{link}/email-apps"),
                format!("/users/{link}/email-apps"),
                "users",
            )
            .await,
        );
        if let Some(page) = asked.or_page(&state, &c)? {
            return Ok(page);
        }
    }
    let user = state
        .ops
        .edit_user(&c.actor(), &address, UserEdit { smtp_auth: Some(value), ..Default::default() })
        .await
        .api(c.lang)
        .or_page(&state, &c)?;
    Ok(back(&format!("/users/{}/email-apps", enc(&user.address)), "saved"))
}

#[derive(Deserialize)]
struct NameForm {
    name: String,
    /// `yes` once the admin confirmed a revocation (crate::confirm).
    confirmed: Option<String>,
}

async fn app_password_add(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
    Form(f): Form<NameForm>,
) -> Page {
    let (_, secret) = match state.ops.add_app_password(&c.actor(), &address, &f.name).await.api(c.lang) {
        Ok(added) => added,
        Err(e) if correctable(&e) => {
            let status = e.status;
            let fe = FormError::new("app-password", e, |_| "name", &[("name", &f.name)]);
            return user_panel_with(&state, &c, &address, "account", None, None, Some((fe, status))).await;
        }
        Err(e) => return Err(error_page(&state, &c, e)),
    };
    user_panel(&state, &c, &address, "account", Some("app-password".into()), Some(("app-password".into(), secret)))
        .await
}

async fn app_password_revoke(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
    Form(f): Form<NameForm>,
) -> Page {
    if !confirm::confirmed(&f.confirmed) {
        let action = format!("/users/{}/app-passwords/revoke", enc(&address));
        let kind = authrelay_core::CredentialKind::AppPassword;
        if let Some(page) =
            asked(&state, &c, confirm::revoke_credential(&state, &c, &address, kind, &f.name, action).await)
                .or_page(&state, &c)?
        {
            return Ok(page);
        }
    }
    state.ops.revoke_app_password(&c.actor(), &address, &f.name).await.api(c.lang).or_page(&state, &c)?;
    Ok(back(&format!("/users/{}", enc(&address)), "revoked"))
}

// ---------------------------------------------------------------------------------------------
// Multi-factor authentication

async fn mfa(State(state): State<SharedState>, WebCaller(c): WebCaller, Query(q): Query<UsersQuery>) -> Page {
    require(&state, &c, Permission::ReadDirectory)?;
    let found = api::find_users(
        &state,
        c.lang,
        &UserQuery { org: q.org.clone(), search: q.search.clone(), ..Default::default() },
    )
    .await
    .or_page(&state, &c)?;
    let rows: Vec<_> = found
        .iter()
        .map(|u| context! { address => u.address.clone(), display_name => u.display_name.clone(), mfa => u.settings.mfa.as_str(), link => enc(&u.address) })
        .collect();
    let ctx = context! { users => rows, search => q.search.clone().unwrap_or_default(), done => notice(c.lang, &Done { done: q.done }) };
    Ok(page(&state, &c, "mfa.html", "mfa", ctx))
}

/// Bulk enable / enforce / disable: the form carries one `user` field per ticked row.
async fn mfa_bulk(State(state): State<SharedState>, WebCaller(c): WebCaller, body: Bytes) -> Page {
    let pairs = http::form_pairs(&body);
    let users: Vec<String> = pairs.iter().filter(|(k, _)| k == "user").map(|(_, v)| v.clone()).collect();
    let action = pairs.iter().find(|(k, _)| k == "mfa").map(|(_, v)| v.as_str()).unwrap_or("");
    let Ok(mfa) = action.parse::<MfaState>() else {
        return Err(error_page(
            &state,
            &c,
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad-value", c.lang, "web-mfa-pick-action", &[]),
        ));
    };
    if users.is_empty() {
        return Err(error_page(
            &state,
            &c,
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad-value", c.lang, "web-mfa-pick-users", &[]),
        ));
    }
    if !pairs.iter().any(|(k, v)| k == confirm::CONFIRMED && v == "yes") {
        let mut posted: Vec<(&str, &str)> = users.iter().map(|u| ("user", u.as_str())).collect();
        posted.push(("mfa", action));
        let asked = asked(
            &state,
            &c,
            confirm::mailbox_settings(
                &state,
                &c,
                &users,
                MailboxChange::Mfa,
                &|m| authrelay_core::MailboxSettings { mfa, ..m },
                &posted,
                "/mfa".into(),
                "/mfa".into(),
                "mfa",
            )
            .await,
        );
        if let Some(page) = asked.or_page(&state, &c)? {
            return Ok(page);
        }
    }
    state.ops.bulk_mfa(&c.actor(), &users, mfa).await.api(c.lang).or_page(&state, &c)?;
    Ok(back("/mfa", "saved"))
}

async fn mfa_user(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
    Query(q): Query<Done>,
) -> Page {
    require(&state, &c, Permission::ReadDirectory)?;
    let user = state.ops.user(&address).await.api(c.lang).or_page(&state, &c)?;
    let org = state.directory.org(&user.org).await.ok().flatten();
    let ctx = context! {
        user => api::user_view(&user, org.as_ref()), link => enc(&user.address), done => notice(c.lang, &q),
        security_defaults => org.map(|o| o.settings.security_defaults.as_str()),
    };
    Ok(page(&state, &c, "mfa_user.html", "mfa", ctx))
}

#[derive(Deserialize)]
struct MfaForm {
    mfa: String,
    confirmed: Option<String>,
}

async fn mfa_user_post(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
    Form(f): Form<MfaForm>,
) -> Page {
    let Ok(mfa) = f.mfa.parse::<MfaState>() else {
        return Err(error_page(
            &state,
            &c,
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad-value", c.lang, "web-mfa-pick-action", &[]),
        ));
    };
    if !confirm::confirmed(&f.confirmed) {
        let link = enc(&address);
        let asked = asked(
            &state,
            &c,
            confirm::mailbox_settings(
                &state,
                &c,
                std::slice::from_ref(&address),
                MailboxChange::Mfa,
                &|m| authrelay_core::MailboxSettings { mfa, ..m },
                &[("mfa", f.mfa.as_str())],
                format!("/mfa/{link}"),
                format!("/mfa/{link}"),
                "mfa",
            )
            .await,
        );
        if let Some(page) = asked.or_page(&state, &c)? {
            return Ok(page);
        }
    }
    let user = state
        .ops
        .edit_user(&c.actor(), &address, UserEdit { mfa: Some(mfa), ..Default::default() })
        .await
        .api(c.lang)
        .or_page(&state, &c)?;
    Ok(back(&format!("/mfa/{}", enc(&user.address)), "saved"))
}

// ---------------------------------------------------------------------------------------------
// Organisation

/// `?done=` and the page of a list that has no other filter (organisations, admins).
#[derive(Deserialize, Default)]
struct DonePage {
    done: Option<String>,
    page: Option<u64>,
    per_page: Option<u32>,
}

impl DonePage {
    fn notice(&self, lang: Lang) -> Option<String> {
        notice(lang, &Done { done: self.done.clone() })
    }

    fn paging(&self) -> PageRequest {
        PageRequest::new(self.page, self.per_page, None, None)
    }
}

async fn orgs(State(state): State<SharedState>, WebCaller(c): WebCaller, Query(q): Query<DonePage>) -> Page {
    orgs_page_at(&state, &c, q.notice(c.lang), FormError::default(), StatusCode::OK, q.paging()).await
}

async fn orgs_page(state: &SharedState, c: &Caller, done: Option<String>, fe: FormError, status: StatusCode) -> Page {
    orgs_page_at(state, c, done, fe, status, PageRequest::default()).await
}

async fn orgs_page_at(
    state: &SharedState,
    c: &Caller,
    done: Option<String>,
    fe: FormError,
    status: StatusCode,
    paging: PageRequest,
) -> Page {
    require(state, c, Permission::ReadDirectory)?;
    let list = paging.slice(state.directory.list_orgs().await.api(c.lang).or_page(state, c)?);
    let pager = lists::pager(c.lang, &list, "/org", &[]);
    let rows: Vec<_> =
        list.items.iter().map(|o| context! { org => api::OrgView::from(o), link => enc(&o.name) }).collect();
    let ctx = context! { orgs => rows, done, pager, fe => Value::from_serialize(&fe) };
    Ok(page_with(state, c, "orgs.html", "org", ctx, status))
}

#[derive(Deserialize)]
struct OrgForm {
    name: String,
    domain: String,
}

async fn org_add(State(state): State<SharedState>, WebCaller(c): WebCaller, Form(f): Form<OrgForm>) -> Page {
    match state.ops.create_org(&c.actor(), &f.name, std::slice::from_ref(&f.domain)).await.api(c.lang) {
        Ok(org) => Ok(back(&format!("/org/{}", enc(&org.name)), "created")),
        Err(e) if correctable(&e) => {
            let status = e.status;
            let field_of = |code: &str| if matches!(code, "bad-domain" | "domain-taken") { "domain" } else { "name" };
            let fe = FormError::new("new-org", e, field_of, &[("name", &f.name), ("domain", &f.domain)]);
            orgs_page(&state, &c, None, fe, status).await
        }
        Err(e) => Err(error_page(&state, &c, e)),
    }
}

async fn org_page(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(name): Path<String>,
    Query(q): Query<Done>,
) -> Page {
    org_properties(&state, &c, &name, notice(c.lang, &q), FormError::default(), StatusCode::OK).await
}

async fn org_properties(
    state: &SharedState,
    c: &Caller,
    name: &str,
    done: Option<String>,
    fe: FormError,
    status: StatusCode,
) -> Page {
    require(state, c, Permission::ReadDirectory)?;
    let org = state.ops.org(name).await.api(c.lang).or_page(state, c)?;
    let users = state.directory.list_users(Some(&org.name)).await.map(|u| u.len()).unwrap_or(0);
    let ctx = context! { org => api::OrgView::from(&org), link => enc(&org.name), users, done, fe => Value::from_serialize(&fe) };
    Ok(page_with(state, c, "org.html", "org", ctx, status))
}

#[derive(Deserialize)]
struct DomainForm {
    domain: String,
}

async fn org_domain_add(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(name): Path<String>,
    Form(f): Form<DomainForm>,
) -> Page {
    match state.ops.add_domain(&c.actor(), &name, &f.domain).await.api(c.lang) {
        Ok(org) => Ok(back(&format!("/org/{}", enc(&org.name)), "saved")),
        Err(e) if correctable(&e) && e.code != "unknown-org" => {
            let status = e.status;
            let fe = FormError::new("domain-add", e, |_| "domain", &[("domain", &f.domain)]);
            org_properties(&state, &c, &name, None, fe, status).await
        }
        Err(e) => Err(error_page(&state, &c, e)),
    }
}

async fn security_defaults(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(name): Path<String>,
    Query(q): Query<Done>,
) -> Page {
    require(&state, &c, Permission::ReadDirectory)?;
    let org = state.ops.org(&name).await.api(c.lang).or_page(&state, &c)?;
    let ctx = context! { org => api::OrgView::from(&org), link => enc(&org.name), done => notice(c.lang, &q) };
    Ok(page(&state, &c, "security_defaults.html", "org", ctx))
}

#[derive(Deserialize)]
struct SecurityDefaultsForm {
    security_defaults: String,
    /// Why they are turned off (as Entra asks); recorded in the audit log.
    reason: Option<String>,
    confirmed: Option<String>,
}

async fn security_defaults_post(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(name): Path<String>,
    Form(f): Form<SecurityDefaultsForm>,
) -> Page {
    // Only an explicit "off" weakens the organisation; anything unrecognised is refused.
    let value = match f.security_defaults.as_str() {
        "on" | "enabled" => SecurityDefaults::On,
        "off" | "disabled" => SecurityDefaults::Off,
        other => {
            let err = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad-value",
                c.lang,
                "api-err-bad-value",
                &[
                    ("field", Arg::Str("security_defaults")),
                    ("value", Arg::Str(other)),
                    ("choices", Arg::Str("on off")),
                ],
            );
            return Err(error_page(&state, &c, err));
        }
    };
    if !confirm::confirmed(&f.confirmed) {
        let posted =
            [("security_defaults", f.security_defaults.as_str()), ("reason", f.reason.as_deref().unwrap_or(""))];
        let edit = |o: &mut authrelay_core::OrgSettings| o.security_defaults = value;
        if let Some(page) = ask_org(&state, &c, &name, edit, &posted, "security-defaults").await? {
            return Ok(page);
        }
    }
    let org = state
        .ops
        .edit_org(&c.actor(), &name, OrgEdit { security_defaults: Some(value), ..Default::default() })
        .await
        .api(c.lang)
        .or_page(&state, &c)?;
    if let Some(reason) = f.reason.filter(|r| !r.trim().is_empty() && value == SecurityDefaults::Off) {
        let reason: String = reason.chars().take(200).collect();
        state.ops.audit(&c.actor().name, "org.security-defaults-reason", &org.name, "-", &reason).await;
    }
    Ok(back(&format!("/org/{}/security-defaults", enc(&org.name)), "saved"))
}

async fn org_mail(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(name): Path<String>,
    Query(q): Query<Done>,
) -> Page {
    require(&state, &c, Permission::ReadDirectory)?;
    let org = state.ops.org(&name).await.api(c.lang).or_page(&state, &c)?;
    let ctx = context! { org => api::OrgView::from(&org), link => enc(&org.name), done => notice(c.lang, &q) };
    Ok(page(&state, &c, "org_mail.html", "org", ctx))
}

#[derive(Deserialize)]
struct ToggleForm {
    enabled: Option<String>,
    confirmed: Option<String>,
}

impl ToggleForm {
    fn posted(&self) -> Vec<(&'static str, &'static str)> {
        self.enabled.iter().map(|_| ("enabled", "on")).collect()
    }
}

/// Asks before an organisation settings change that needs it (crate::confirm::org_settings);
/// `path` is the change's address under /org/{name}/.
async fn ask_org(
    state: &SharedState,
    c: &Caller,
    name: &str,
    edit: impl FnOnce(&mut authrelay_core::OrgSettings),
    posted: &[(&str, &str)],
    path: &str,
) -> Result<Option<Response>, Response> {
    let org = state.ops.org(name).await.api(c.lang).or_page(state, c)?;
    let mut after = org.settings;
    edit(&mut after);
    let action = format!("/org/{}/{path}", enc(&org.name));
    asked(state, c, confirm::org_settings(state, c, &org, after, posted, action).await).or_page(state, c)
}

async fn org_mail_smtp_auth(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(name): Path<String>,
    Form(f): Form<ToggleForm>,
) -> Page {
    let value = if f.enabled.is_some() { OrgSmtpAuth::Enabled } else { OrgSmtpAuth::Disabled };
    if !confirm::confirmed(&f.confirmed) {
        let edit = |o: &mut authrelay_core::OrgSettings| o.smtp_auth = value;
        if let Some(page) = ask_org(&state, &c, &name, edit, &f.posted(), "mail/smtp-auth").await? {
            return Ok(page);
        }
    }
    let org = state
        .ops
        .edit_org(&c.actor(), &name, OrgEdit { smtp_auth: Some(value), ..Default::default() })
        .await
        .api(c.lang)
        .or_page(&state, &c)?;
    Ok(back(&format!("/org/{}/mail", enc(&org.name)), "saved"))
}

async fn org_mail_app_passwords(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(name): Path<String>,
    Form(f): Form<ToggleForm>,
) -> Page {
    let value = if f.enabled.is_some() { AppPasswordsPolicy::Allowed } else { AppPasswordsPolicy::Blocked };
    if !confirm::confirmed(&f.confirmed) {
        let edit = |o: &mut authrelay_core::OrgSettings| o.app_passwords = value;
        if let Some(page) = ask_org(&state, &c, &name, edit, &f.posted(), "mail/app-passwords").await? {
            return Ok(page);
        }
    }
    let org = state
        .ops
        .edit_org(&c.actor(), &name, OrgEdit { app_passwords: Some(value), ..Default::default() })
        .await
        .api(c.lang)
        .or_page(&state, &c)?;
    Ok(back(&format!("/org/{}/mail", enc(&org.name)), "saved"))
}

// ---------------------------------------------------------------------------------------------
// Sign-in logs, report, queue, audit, admins

#[derive(Deserialize, Default)]
struct SignInsForm {
    /// Any part of the user name.
    user: Option<String>,
    result: Option<String>,
    /// An address, `ip:port`, `[v6]:port` or a range.
    client_ip: Option<String>,
    hours: Option<String>,
    /// `1`: only sign-ins through a legacy listener.
    legacy: Option<String>,
    page: Option<u64>,
    per_page: Option<u32>,
}

impl SignInsForm {
    fn hours(&self) -> i64 {
        self.hours
            .as_deref()
            .and_then(|h| h.parse().ok())
            .filter(|h| [1, 24, 168, 720, 2160].contains(h))
            .unwrap_or(168)
    }

    /// The filters as query parameters, for the pager's and the CSV's links.
    fn params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("user", self.user.clone().unwrap_or_default()),
            ("result", self.result.clone().unwrap_or_default()),
            ("client_ip", self.client_ip.clone().unwrap_or_default()),
            ("hours", self.hours().to_string()),
            ("legacy", if api::legacy_only(&self.legacy) { "1".into() } else { String::new() }),
        ]
    }

    fn query(&self) -> SignInQuery {
        SignInQuery {
            user_contains: self.user.clone(),
            result: self.result.clone(),
            client_ip: self.client_ip.clone(),
            since: Some(crate::state::now() - self.hours() * 3600),
            page: self.page,
            per_page: self.per_page,
            legacy: self.legacy.clone(),
            ..Default::default()
        }
    }
}

async fn signins(State(state): State<SharedState>, WebCaller(c): WebCaller, Query(f): Query<SignInsForm>) -> Page {
    require(&state, &c, Permission::ReadSignins)?;
    let hours = f.hours();
    let q = f.query();
    let filters = f.params();
    let (rows, pager, error) = match api::signin_filter(c.lang, &q) {
        Ok(filter) => {
            let found =
                state.directory.signins_page(&filter, q.page_request()).await.api(c.lang).or_page(&state, &c)?;
            let pager = lists::pager(c.lang, &found, "/signins", &filters);
            let rows: Vec<_> = found
                .items
                .iter()
                .map(|e| {
                    let v = api::signin_view(e);
                    let check_name = authrelay_i18n::value(c.lang, e.check);
                    context! { e => v, check_name, time => authrelay_i18n::time(c.lang, e.at) }
                })
                .collect();
            (rows, Some(pager), None)
        }
        // A filter that does not parse is said next to its field; the table stays empty.
        Err(e) => (vec![], None, Some(e.message)),
    };
    let total = pager.as_ref().map_or(0, |p| p.total);
    let csv = format!("/signins.csv?{}", lists::query_string(&filters));
    let ctx = context! {
        rows, pager, error, csv, csv_bounded => total > lists::CSV_MAX_ROWS, csv_max => lists::CSV_MAX_ROWS, total,
        user => f.user.unwrap_or_default(), result => f.result.unwrap_or_default(),
        client_ip => f.client_ip.unwrap_or_default(), hours, legacy => api::legacy_only(&f.legacy),
    };
    Ok(page(&state, &c, "signins.html", "signins", ctx))
}

/// The sign-in log as CSV with the page's filters.
async fn signins_csv(State(state): State<SharedState>, WebCaller(c): WebCaller, Query(f): Query<SignInsForm>) -> Page {
    require(&state, &c, Permission::ReadSignins)?;
    let filter = api::signin_filter(c.lang, &f.query()).or_page(&state, &c)?;
    api::signins_csv(&state, c.lang, &filter).await.or_page(&state, &c)
}

#[derive(Deserialize)]
struct DaysForm {
    days: Option<u32>,
    /// `1`: only senders that used a legacy listener (README "Legacy devices").
    legacy: Option<String>,
    page: Option<u64>,
    per_page: Option<u32>,
}

async fn report(State(state): State<SharedState>, WebCaller(c): WebCaller, Query(f): Query<DaysForm>) -> Page {
    require(&state, &c, Permission::ReadReports)?;
    let days = api::report_days(c.lang, f.days).or_page(&state, &c)?;
    let mut rows = api::smtp_auth_clients(&state, c.lang, days).await.or_page(&state, &c)?;
    let legacy = api::legacy_only(&f.legacy);
    api::only_legacy(&mut rows, &f.legacy);
    let shown = PageRequest::new(f.page, f.per_page, None, None).slice(rows);
    let filters = [("days", days.to_string()), ("legacy", if legacy { "1".into() } else { String::new() })];
    let pager = lists::pager(c.lang, &shown, "/reports/smtp-auth", &filters);
    let chart = signins_chart(&state, &c, "report-chart", lists::Step::Day, days).await;
    let rows = shown.items;
    Ok(page(&state, &c, "report.html", "reports", context! { rows, days, legacy, pager, chart }))
}

/// The sign-ins-over-time chart of the last `count` hours or days (`None` when the store
/// cannot say: the page shows without it).
async fn signins_chart(state: &SharedState, c: &Caller, id: &str, step: lists::Step, count: u32) -> Option<Value> {
    let now = crate::state::now();
    let since = now - now.rem_euclid(step.seconds()) - step.seconds() * (i64::from(count) - 1);
    let filter = authrelay_directory::SignInFilter { since: Some(since), ..Default::default() };
    let buckets = state.directory.signin_buckets(&filter, step.seconds()).await.ok()?;
    let chart = lists::chart(c.lang, id, &buckets, now, step, count);
    Some(context! { svg => Value::from_safe_string(chart.svg.clone()), rows => chart.rows, id })
}

async fn report_csv(State(state): State<SharedState>, WebCaller(c): WebCaller, Query(f): Query<DaysForm>) -> Page {
    require(&state, &c, Permission::ReadReports)?;
    let days = api::report_days(c.lang, f.days).or_page(&state, &c)?;
    let mut rows = api::smtp_auth_clients(&state, c.lang, days).await.or_page(&state, &c)?;
    api::only_legacy(&mut rows, &f.legacy);
    let disposition = format!("attachment; filename=\"smtp-auth-clients-{days}d.csv\"");
    Ok((
        [
            (CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).expect("ascii")),
        ],
        api::clients_csv(&rows),
    )
        .into_response())
}

#[derive(Deserialize, Default)]
struct QueuePageQuery {
    done: Option<String>,
    state: Option<String>,
    domain: Option<String>,
    page: Option<u64>,
    per_page: Option<u32>,
}

async fn queue(State(state): State<SharedState>, WebCaller(c): WebCaller, Query(f): Query<QueuePageQuery>) -> Page {
    require(&state, &c, Permission::ReadQueue)?;
    let done = notice(c.lang, &Done { done: f.done.clone() });
    let query = api::QueueQuery {
        state: f.state.clone(),
        domain: f.domain.clone(),
        page: f.page,
        per_page: Some(f.per_page.unwrap_or(authrelay_directory::listing::DEFAULT_PER_PAGE)),
        ..Default::default()
    };
    let q = api::queue_view_with(&state, c.lang, &query).await.or_page(&state, &c)?;
    let shown = authrelay_directory::listing::Page {
        items: vec![(); q.messages.len()],
        total: q.matched,
        offset: q.offset,
        limit: q.limit,
    };
    let filters = [("state", f.state.clone().unwrap_or_default()), ("domain", f.domain.clone().unwrap_or_default())];
    let pager = lists::pager(c.lang, &shown, "/queue", &filters);
    let oldest = q.oldest_queued_at.map(|at| web_time(c.lang, at));
    let manage = c.may(Permission::ManageQueue);
    let states = ["new", "active", "deferred", "throttled", "held"];
    let ctx = context! { q, oldest, manage, done, pager, states, state => f.state.unwrap_or_default(), domain => f.domain.unwrap_or_default() };
    Ok(page(&state, &c, "queue.html", "queue", ctx))
}

/// Retry, hold, release or delete one message, then back to the queue with what was done.
async fn queue_do(state: SharedState, c: Caller, id: String, action: api::QueueAction) -> Page {
    api::queue_act(&state, &c, &id, action).await.or_page(&state, &c)?;
    Ok(back("/queue", action.done_key()))
}

async fn queue_retry(State(state): State<SharedState>, WebCaller(c): WebCaller, Path(id): Path<String>) -> Page {
    queue_do(state, c, id, api::QueueAction::Retry).await
}

async fn queue_hold(State(state): State<SharedState>, WebCaller(c): WebCaller, Path(id): Path<String>) -> Page {
    queue_do(state, c, id, api::QueueAction::Hold).await
}

async fn queue_release(State(state): State<SharedState>, WebCaller(c): WebCaller, Path(id): Path<String>) -> Page {
    queue_do(state, c, id, api::QueueAction::Release).await
}

async fn queue_delete(State(state): State<SharedState>, WebCaller(c): WebCaller, Path(id): Path<String>) -> Page {
    queue_do(state, c, id, api::QueueAction::Delete).await
}

/// Delete cannot be undone and sends no bounce: a page that says so and asks first (the form
/// on the queue page only leads here).
async fn queue_delete_confirm(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(id): Path<String>,
) -> Page {
    require(&state, &c, Permission::ManageQueue)?;
    let Some(m) = api::queue_message(&state, c.lang, &id).await.or_page(&state, &c)? else {
        return Err(error_page(&state, &c, api::unknown_message(c.lang, &id)));
    };
    Ok(page(&state, &c, "queue_delete.html", "queue", context! { m => Value::from_serialize(&m) }))
}

#[derive(Deserialize, Default)]
struct AuditForm {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    /// `YYYY-MM-DD` (UTC), from the start of that day.
    from: Option<String>,
    /// `YYYY-MM-DD` (UTC), to the end of that day.
    to: Option<String>,
    page: Option<u64>,
    per_page: Option<u32>,
}

/// Unix seconds of the start of a `YYYY-MM-DD` day in UTC.
fn day_start(text: Option<&str>) -> Option<i64> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(text?.trim(), &format).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}

async fn audit(State(state): State<SharedState>, WebCaller(c): WebCaller, Query(f): Query<AuditForm>) -> Page {
    require(&state, &c, Permission::ReadAudit)?;
    let q = api::AuditQuery {
        actor: f.actor.clone(),
        action: f.action.clone(),
        target: f.target.clone(),
        since: day_start(f.from.as_deref()),
        until: day_start(f.to.as_deref()).map(|d| d + 86_399),
        page: f.page,
        per_page: f.per_page,
        ..Default::default()
    };
    let found = state
        .store
        .audit_page(&q.filter(), q.page_request())
        .await
        .map_err(|e| ApiError::storage(c.lang, e))
        .or_page(&state, &c)?;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let filters = [
        ("actor", text(&f.actor)),
        ("action", text(&f.action)),
        ("target", text(&f.target)),
        ("from", text(&f.from)),
        ("to", text(&f.to)),
    ];
    let pager = lists::pager(c.lang, &found, "/audit", &filters);
    let rows: Vec<_> =
        found.items.iter().map(|e| context! { e => e.clone(), time => web_time(c.lang, e.at) }).collect();
    let actions: Vec<_> = authrelay_i18n::values::AUDIT_ACTIONS
        .iter()
        .map(|(a, _)| context! { value => *a, name => authrelay_i18n::values::by_kind("action", a).map(|id| t(c.lang, id, &[])).unwrap_or_else(|| a.to_string()) })
        .collect();
    let ctx = context! {
        rows, pager, actions, actor => text(&f.actor), action => text(&f.action), target => text(&f.target),
        from => text(&f.from), to => text(&f.to),
    };
    Ok(page(&state, &c, "audit.html", "audit", ctx))
}

async fn admins(State(state): State<SharedState>, WebCaller(c): WebCaller, Query(q): Query<DonePage>) -> Page {
    let shown = AdminsShown { done: q.notice(c.lang), paging: q.paging(), ..Default::default() };
    admins_page_with(&state, &c, shown, StatusCode::OK).await
}

async fn admins_page(state: &SharedState, c: &Caller, done: Option<String>, secret: Option<String>) -> Page {
    admins_page_with(state, c, AdminsShown { done, secret, ..Default::default() }, StatusCode::OK).await
}

/// What the Admins page shows besides its lists.
#[derive(Default)]
struct AdminsShown {
    done: Option<String>,
    /// A new API token, shown once.
    secret: Option<String>,
    /// A generated password of a new admin, shown once.
    admin_password: Option<String>,
    fe: FormError,
    /// Which page of the admins.
    paging: PageRequest,
}

async fn admins_page_with(state: &SharedState, c: &Caller, shown: AdminsShown, status: StatusCode) -> Page {
    let AdminsShown { done, secret, admin_password, fe, paging } = shown;
    let admins = paging.slice(if c.may(Permission::ManageAdmins) {
        state.store.list_admins().await.map_err(|e| ApiError::storage(c.lang, e)).or_page(state, c)?
    } else {
        vec![]
    });
    let pager = lists::pager(c.lang, &admins, "/admins", &[]);
    let admins = admins.items;
    let owner = if c.may(Permission::ManageAdmins) { None } else { Some(c.admin.id) };
    let tokens =
        state.store.list_api_tokens(owner).await.map_err(|e| ApiError::storage(c.lang, e)).or_page(state, c)?;
    let admin_rows: Vec<_> = admins
        .iter()
        .map(|a| {
            let role = Role::parse(&a.role).map(|r| t(c.lang, r.name_id(), &[])).unwrap_or_else(|| a.role.clone());
            context! { address => a.address.clone(), link => enc(&a.address), role, totp => a.totp_enrolled, created => web_time(c.lang, a.created_at) }
        })
        .collect();
    let token_rows: Vec<_> = tokens
        .iter()
        .map(|tk| {
            context! { id => tk.id, name => tk.name.clone(), admin => tk.admin.clone(), role => tk.role.clone(),
            created => web_time(c.lang, tk.created_at), last_used => tk.last_used_at.map(|at| web_time(c.lang, at)),
            revoked => tk.revoked_at.is_some() }
        })
        .collect();
    let roles: Vec<_> = Role::ALL
        .iter()
        .filter(|r| c.may(Permission::ManageAdmins) || **r == c.role)
        .map(|r| context! { value => r.as_str(), name => t(c.lang, r.name_id(), &[]) })
        .collect();
    let ctx = context! { admins => admin_rows, tokens => token_rows, roles, done, secret, admin_password, pager, fe => Value::from_serialize(&fe) };
    Ok(page_with(state, c, "admins.html", "admins", ctx, status))
}

#[derive(Deserialize)]
struct AdminForm {
    address: String,
    role: String,
    /// Empty: a strong one is generated and shown once.
    password: Option<String>,
}

async fn admins_add(State(state): State<SharedState>, WebCaller(c): WebCaller, Form(f): Form<AdminForm>) -> Page {
    let password = f.password.as_deref().filter(|p| !p.is_empty());
    match state.ops.create_admin(&c.actor(), &f.address, &f.role, password).await.api(c.lang) {
        Ok((_, None)) => Ok(back("/admins", "created")),
        Ok((_, Some(generated))) => {
            let done = notice(c.lang, &Done { done: Some("created".into()) });
            let shown = AdminsShown { done, admin_password: Some(generated), ..Default::default() };
            admins_page_with(&state, &c, shown, StatusCode::CREATED).await
        }
        Err(e) if correctable(&e) => {
            let status = e.status;
            let field_of = |code: &str| match code {
                "weak-password" => "password",
                "bad-role" => "role",
                _ => "address",
            };
            let fe = FormError::new("new-admin", e, field_of, &[("address", &f.address), ("role", &f.role)]);
            admins_page_with(&state, &c, AdminsShown { fe, ..Default::default() }, status).await
        }
        Err(e) => Err(error_page(&state, &c, e)),
    }
}

#[derive(Deserialize)]
struct TokenForm {
    name: String,
    role: Option<String>,
}

async fn token_add(State(state): State<SharedState>, WebCaller(c): WebCaller, Form(f): Form<TokenForm>) -> Page {
    let (_, secret) =
        state.ops.create_token(&c.actor(), &f.name, f.role.as_deref()).await.api(c.lang).or_page(&state, &c)?;
    admins_page(&state, &c, Some(t(c.lang, "done-token", &[])), Some(secret)).await
}

#[derive(Deserialize)]
struct ConfirmForm {
    confirmed: Option<String>,
}

async fn token_revoke(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(id): Path<i64>,
    Form(f): Form<ConfirmForm>,
) -> Page {
    if !confirm::confirmed(&f.confirmed) {
        if let Some(page) = asked(&state, &c, confirm::revoke_token(&state, &c, id).await).or_page(&state, &c)? {
            return Ok(page);
        }
    }
    state.ops.revoke_token(&c.actor(), id).await.api(c.lang).or_page(&state, &c)?;
    Ok(back("/admins", "revoked"))
}

// ---------------------------------------------------------------------------------------------
// Device credentials: the user panel's card and the organisation's mail settings switch

#[derive(Deserialize)]
struct DeviceForm {
    name: String,
    allow: Option<String>,
    /// A date (YYYY-MM-DD) from the date picker; empty = never.
    expires: Option<String>,
}

async fn device_credential_add(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
    Form(f): Form<DeviceForm>,
) -> Page {
    let spec = DeviceCredentialSpec {
        name: f.name.clone(),
        allow: f.allow.clone().into_iter().collect(),
        expires: f.expires.clone(),
        expires_in_days: None,
    };
    let (_, secret) = match state.ops.add_device_credential(&c.actor(), &address, spec).await.api(c.lang) {
        Ok(added) => added,
        Err(e) if correctable(&e) => {
            let status = e.status;
            let field_of = |code: &str| match code {
                "bad-cidr" => "allow",
                "bad-expiry" => "expires",
                _ => "name",
            };
            let kept = [
                ("name", f.name.as_str()),
                ("allow", f.allow.as_deref().unwrap_or("")),
                ("expires", f.expires.as_deref().unwrap_or("")),
            ];
            let fe = FormError::new("device-credential", e, field_of, &kept);
            return user_panel_with(&state, &c, &address, "account", None, None, Some((fe, status))).await;
        }
        Err(e) => return Err(error_page(&state, &c, e)),
    };
    let secret = Some(("device-credential".to_string(), secret));
    user_panel(&state, &c, &address, "account", Some("device-credential".into()), secret).await
}

async fn device_credential_revoke(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
    Form(f): Form<NameForm>,
) -> Page {
    if !confirm::confirmed(&f.confirmed) {
        let action = format!("/users/{}/device-credentials/revoke", enc(&address));
        let kind = authrelay_core::CredentialKind::DeviceCredential;
        if let Some(page) =
            asked(&state, &c, confirm::revoke_credential(&state, &c, &address, kind, &f.name, action).await)
                .or_page(&state, &c)?
        {
            return Ok(page);
        }
    }
    state.ops.revoke_device_credential(&c.actor(), &address, &f.name).await.api(c.lang).or_page(&state, &c)?;
    Ok(back(&format!("/users/{}", enc(&address)), "revoked"))
}

async fn org_mail_device_credentials(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(name): Path<String>,
    Form(f): Form<ToggleForm>,
) -> Page {
    let value = if f.enabled.is_some() { DeviceCredentialsPolicy::Allowed } else { DeviceCredentialsPolicy::Blocked };
    if !confirm::confirmed(&f.confirmed) {
        let edit = |o: &mut authrelay_core::OrgSettings| o.device_credentials = value;
        if let Some(page) = ask_org(&state, &c, &name, edit, &f.posted(), "mail/device-credentials").await? {
            return Ok(page);
        }
    }
    let org = state
        .ops
        .edit_org(&c.actor(), &name, OrgEdit { device_credentials: Some(value), ..Default::default() })
        .await
        .api(c.lang)
        .or_page(&state, &c)?;
    Ok(back(&format!("/org/{}/mail", enc(&org.name)), "saved"))
}

// ---------------------------------------------------------------------------------------------
// The Troubleshooter

#[derive(Deserialize, Default)]
struct TroubleshootQuery {
    user: Option<String>,
}

/// Everything the page shows; `doctor` only once a mailbox is picked.
#[derive(Default)]
struct Shown {
    picked: Option<String>,
    secret: Option<(String, String)>,
    done: Option<String>,
    error: Option<String>,
    reply: Option<String>,
    provider: Option<String>,
    explanation: Option<troubleshoot::ExplainView>,
}

async fn troubleshoot_show(state: &SharedState, c: &Caller, s: Shown) -> Page {
    if !c.may(Permission::ReadDirectory) {
        return Err(error_page(state, c, ApiError::forbidden(c.lang, Permission::ReadDirectory, c.role)));
    }
    let mailboxes: Vec<String> =
        state.directory.list_users(None).await.api(c.lang).or_page(state, c)?.into_iter().map(|u| u.address).collect();
    let mut error = s.error;
    let doctor = match s.picked.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => match troubleshoot::doctor_view(state, c, p).await {
            Ok(view) => Some(view),
            Err(e) => {
                error.get_or_insert(e.message);
                None
            }
        },
    };
    let ctx = context! {
        mailboxes, picked => s.picked, doctor => doctor.map(|d| Value::from_serialize(&d)),
        secret => s.secret.map(|(kind, value)| context! { kind, value }), done => s.done, error,
        reply => s.reply, provider => s.provider.unwrap_or_else(|| "auto".into()),
        explanation => s.explanation.map(|e| Value::from_serialize(&e)),
    };
    Ok(page(state, c, "troubleshoot.html", "troubleshoot", ctx))
}

async fn troubleshoot(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Query(q): Query<TroubleshootQuery>,
) -> Page {
    troubleshoot_show(&state, &c, Shown { picked: q.user, ..Default::default() }).await
}

#[derive(Deserialize)]
struct FixForm {
    user: String,
    action: String,
}

/// One click: applies the fix and shows the verdict after it (and a new secret, once).
async fn troubleshoot_fix(State(state): State<SharedState>, WebCaller(c): WebCaller, Form(f): Form<FixForm>) -> Page {
    let applied = troubleshoot::apply(&state, &c, &f.user, &f.action).await.or_page(&state, &c)?;
    let secret = applied.secret.map(|v| (applied.secret_kind.unwrap_or("password").to_string(), v));
    let done = Some(authrelay_i18n::t(c.lang, "ts-applied", &[]));
    troubleshoot_show(&state, &c, Shown { picked: Some(f.user), secret, done, ..Default::default() }).await
}

#[derive(Deserialize)]
struct ExplainForm {
    reply: String,
    provider: Option<String>,
    user: Option<String>,
}

async fn troubleshoot_explain(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Form(f): Form<ExplainForm>,
) -> Page {
    let mut shown = Shown { reply: Some(f.reply.clone()), provider: f.provider.clone(), ..Default::default() };
    match troubleshoot::explain(&state, &c, &f.reply, f.provider.as_deref(), f.user.as_deref()).await {
        Ok(e) => shown.explanation = Some(e),
        Err(e) => shown.error = Some(e.message),
    }
    shown.picked = f.user.filter(|u| !u.trim().is_empty());
    troubleshoot_show(&state, &c, shown).await
}

// ---------------------------------------------------------------------------------------------
// Import from Microsoft 365 (crate::migrate holds what these call)

fn import_page(
    state: &SharedState,
    c: &Caller,
    upload: &crate::migrate::Upload,
    plan: Option<Value>,
    error: Option<String>,
) -> Response {
    let server_name = if upload.server_name.is_empty() {
        crate::migrate::default_server_name(state)
    } else {
        upload.server_name.clone()
    };
    let ctx = context! {
        plan, error, upload => Value::from_serialize(upload), server_name,
        may_apply => c.may(Permission::ManageOrgs) || c.may(Permission::ManageAppPasswords),
    };
    page(state, c, "import.html", "import", ctx)
}

async fn import_form(State(state): State<SharedState>, WebCaller(c): WebCaller) -> Page {
    require(&state, &c, Permission::ReadDirectory)?;
    Ok(import_page(&state, &c, &Default::default(), None, None))
}

/// The upload: read the files, show the plan. Changes nothing.
async fn import_plan(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    mut form: axum::extract::Multipart,
) -> Page {
    require(&state, &c, Permission::ReadDirectory)?;
    let upload = crate::migrate::read_upload(&mut form).await.or_page(&state, &c)?;
    match crate::migrate::build(&state, c.lang, &upload).await {
        Ok(plan) => Ok(import_page(&state, &c, &upload, Some(crate::migrate::plan_view(c.lang, &plan)), None)),
        Err(e) => {
            let mut response = import_page(&state, &c, &upload, None, Some(e.message));
            *response.status_mut() = e.status;
            Ok(response)
        }
    }
}

/// Apply: the answer is the setup sheets, each credential shown this once (`no-store`).
async fn import_apply(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Form(upload): Form<crate::migrate::Upload>,
) -> Page {
    let (applied, server) = crate::migrate::apply(&state, &c, &upload).await.or_page(&state, &c)?;
    let html = crate::migrate::applied_page(&state, &c, &applied, &server).or_page(&state, &c)?;
    Ok((StatusCode::OK, Html(html)).into_response())
}

async fn import_status(State(state): State<SharedState>, WebCaller(c): WebCaller) -> Page {
    require(&state, &c, Permission::ReadDirectory)?;
    let ctx = crate::migrate::checklist(&state, c.lang).await.or_page(&state, &c)?;
    Ok(page(&state, &c, "import_status.html", "import-status", ctx))
}

async fn sheet_css() -> Response {
    (
        [(CONTENT_TYPE, "text/css; charset=utf-8"), (axum::http::header::CACHE_CONTROL, "max-age=3600")],
        crate::migrate::SHEET_CSS,
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// CSRF for the pages' forms

/// Every form POST must carry the `csrf` field of the session (or, before sign-in, of the
/// `ar_csrf` cookie). Requests to `/api` are checked by [`ApiCaller`] instead.
pub async fn csrf_guard(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    if auth::is_safe(request.method()) || request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let lang = lang_of(&parts.headers);
    // The Microsoft 365 import uploads exports, and posts them back to apply the plan.
    let limit = if parts.uri.path().starts_with("/import/") { http::MAX_UPLOAD } else { MAX_FORM };
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response();
    };
    let multipart = parts
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let sent = if multipart {
        multipart_field(&parts.headers, &bytes, "csrf").await.unwrap_or_default()
    } else {
        form_field(&bytes, "csrf").unwrap_or_default()
    };
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

/// One text field of a `multipart/form-data` body (file uploads carry the token this way).
async fn multipart_field(headers: &HeaderMap, body: &Bytes, name: &str) -> Option<String> {
    use axum::extract::FromRequest;
    let mut request = Request::new(Body::from(body.clone()));
    *request.headers_mut() = headers.clone();
    let mut form = axum::extract::Multipart::from_request(request, &()).await.ok()?;
    while let Ok(Some(field)) = form.next_field().await {
        if field.name() == Some(name) {
            return field.text().await.ok();
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every page renders in every language with sample data, so a template error or a missing
    /// message shows up here rather than in front of an admin.
    #[test]
    fn every_template_renders_in_every_language() {
        let env = templates();
        let user = context! {
            address => "scanner@contoso.com", display_name => "Scanner", org => "Contoso", sign_in => "allowed",
            smtp_auth => "default", smtp_auth_effective => false, smtp_auth_source => "organisation", mfa => "enabled",
            send_as => Vec::<String>::new(), created_at => 0, password_changed_at => 0,
        };
        let org = context! {
            name => "Contoso", domains => vec!["contoso.com"], security_defaults => "on", smtp_auth => "disabled",
            app_passwords => "blocked", created_at => 0,
        };
        let queued = context! {
            id => "0123456789ABCDEF0123", queued_at => 0, size => 10, mail_from => "", rcpt_to => vec!["a@example.org"],
            auth_user => "scanner@contoso.com", state => "deferred", attempts => 1, next_attempt_at => 3600,
            recipients => vec![context! { address => "a@example.org", status => "pending", attempts => 1,
                                          next_attempt_at => 3600, last_reply => "connection refused" }],
        };
        let listed = authrelay_directory::listing::PageRequest::new(Some(2), Some(10), None, None)
            .slice((0..35).collect::<Vec<u32>>());
        let buckets = [authrelay_directory::SignInBucket { start: 0, succeeded: 3, refused: 1 }];
        for lang in Lang::ALL {
            let pager = lists::pager(*lang, &listed, "/signins", &[("user", "a".into())]);
            let chart = lists::chart(*lang, "c", &buckets, 7200, lists::Step::Hour, 3);
            let chart = context! { svg => Value::from_safe_string(chart.svg.clone()), rows => chart.rows, id => "c" };
            for (name, _) in TEMPLATES {
                // base.html is only extended; import_done.html is a fragment above the setup sheets.
                // pager.html and chart.html are included by the list pages, rendered with them here.
                if ["base.html", "import_done.html", "pager.html", "chart.html"].contains(name) {
                    continue;
                }
                let ctx = context! {
                    lang => lang.tag(), langs => vec!["en", "ko", "id"], csrf => "c", active => "users",
                    me => context! { address => "boss@contoso.com", role => "global", role_name => "Global" },
                    may => context! { directory => true, users => true, orgs => true, security_defaults => true, mfa => true,
                                      app_passwords => true, smtp_auth => true, signins => true, reports => true,
                                      queue => true, audit => true, admins => true },
                    user => user.clone(), org => org.clone(), link => "x", tab => "mail", users => vec![user.clone()],
                    links => vec!["x"], orgs => Vec::<String>::new(), rows => Vec::<String>::new(), days => 7, hours => 24,
                    q => context! { count => 1, total_bytes => 10, corrupt => 0, messages => vec![queued.clone()] },
                    m => queued.clone(), manage => true,
                    admins => Vec::<String>::new(), tokens => Vec::<String>::new(), roles => Vec::<String>::new(),
                    app_passwords => Vec::<String>::new(), org_smtp_auth => "disabled", enroll => true,
                    secret => "ABC", qr => Value::from_safe_string("<svg></svg>".into()), title => "t", message => "m",
                    code => "c", user_count => 1, failures => 0, queued => 0, legacy => 1, address => "boss@contoso.com",
                    upload => context! { org => "" }, server_name => "smtp.contoso.com",
                    fe => Value::from_serialize(FormError::default()),
                    pager => pager.clone(), chart => chart.clone(),
                    attention => vec![context! { kind => "blocked", text => "x", href => "/signins", fix => "y" }],
                };
                let html =
                    env.get_template(name).unwrap().render(ctx).unwrap_or_else(|e| panic!("{name} {lang:?}: {e:#}"));
                assert!(html.contains(&format!("<html lang=\"{}\">", lang.tag())), "{name}");
                // A message id shown instead of its text means a catalogue entry is missing.
                for id in [
                    "nav-",
                    "col-",
                    "value-",
                    "web-",
                    "mfa-",
                    "sd-",
                    "org-",
                    "account-",
                    "report-",
                    "audit-",
                    "list-",
                    "chart-",
                    "attention-",
                    "queue-",
                ] {
                    assert!(!html.contains(&format!(">{id}")), "{name} in {} shows a raw id starting {id}", lang.tag());
                }
            }
        }
    }
}
