//! Management pages the CLI has and the rest of the admin center did not: delete and rename a
//! mailbox, its send-as grants, an organisation's limits, DKIM keys per domain, and admin
//! accounts (role, authenticator reset, removal). Like `web.rs`, every change goes through the
//! operations layer (role check, validation, audit record); a refusal the admin can correct
//! comes back in its form with the input kept, a missing permission is a 403 page naming the
//! roles that may.

// As in web.rs: both sides of a handler's Result are rendered responses.
#![allow(clippy::result_large_err)]

use authrelay_directory::OrgLimits;
use authrelay_i18n::t;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use minijinja::{context, Environment, Value};
use serde::Deserialize;

use authrelay_ops::{Permission, Role, UserEdit};

use crate::api;
use crate::auth::{Caller, WebCaller};
use crate::http::{ApiError, OrApi};
use crate::state::SharedState;
use crate::web::{back, correctable, enc, error_page, notice, page_with, require, Done, FormError, OrPage, Page};

/// This module's pages (they extend web.rs's `base.html`).
const TEMPLATES: &[(&str, &str)] = &[
    ("user_delete.html", include_str!("../templates/user_delete.html")),
    ("user_rename.html", include_str!("../templates/user_rename.html")),
    ("user_send_as.html", include_str!("../templates/user_send_as.html")),
    ("org_limits.html", include_str!("../templates/org_limits.html")),
    ("dkim.html", include_str!("../templates/dkim.html")),
    ("admin_account.html", include_str!("../templates/admin_account.html")),
    ("admin_remove.html", include_str!("../templates/admin_remove.html")),
    ("connectors.html", include_str!("../templates/connectors.html")),
];

/// Adds this module's pages to the environment web.rs made.
pub fn templates(mut env: Environment<'static>) -> Environment<'static> {
    for (name, source) in TEMPLATES {
        env.add_template(name, source).unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    env
}

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/users/{address}/delete", get(user_delete_confirm).post(user_delete))
        .route("/users/{address}/rename", get(user_rename_page).post(user_rename))
        .route("/users/{address}/send-as", get(send_as_page).post(send_as_add))
        .route("/users/{address}/send-as/remove", post(send_as_remove))
        .route("/org/{name}/limits", get(limits_page).post(limits_post))
        .route("/org/{name}/dkim", get(dkim_page))
        .route("/org/{name}/dkim/generate", post(dkim_generate))
        .route("/org/{name}/dkim/retire", post(dkim_retire))
        .route("/admins/{address}", get(admin_page))
        .route("/admins/{address}/role", post(admin_role))
        .route("/admins/{address}/totp-reset", post(admin_totp_reset))
        .route("/admins/{address}/remove", get(admin_remove_confirm).post(admin_remove))
        .route("/connectors", get(connectors_page))
}

/// A user-facing page of this module answered with `status`.
fn show(state: &SharedState, c: &Caller, name: &str, active: &str, ctx: Value, status: StatusCode) -> Response {
    page_with(state, c, name, active, ctx, status)
}

// ---------------------------------------------------------------------------------------------
// Delete a mailbox

async fn user_delete_confirm(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
) -> Page {
    require(&state, &c, Permission::ReadDirectory)?;
    let preview = state.ops.user_deletion_preview(&address).await.api(c.lang).or_page(&state, &c)?;
    let link = enc(&preview.user.address);
    let ctx = context! {
        user => api::user_view(&preview.user, None), link,
        app_passwords => preview.app_passwords, device_credentials => preview.device_credentials,
    };
    Ok(show(&state, &c, "user_delete.html", "users", ctx, StatusCode::OK))
}

async fn user_delete(State(state): State<SharedState>, WebCaller(c): WebCaller, Path(address): Path<String>) -> Page {
    state.ops.delete_user(&c.actor(), &address).await.api(c.lang).or_page(&state, &c)?;
    Ok(back("/users", "user-deleted"))
}

// ---------------------------------------------------------------------------------------------
// Rename (change the address)

#[derive(Deserialize)]
struct RenameForm {
    new_address: String,
}

async fn user_rename_page(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
) -> Page {
    rename_form(&state, &c, &address, FormError::default(), StatusCode::OK).await
}

async fn rename_form(state: &SharedState, c: &Caller, address: &str, fe: FormError, status: StatusCode) -> Page {
    require(state, c, Permission::ReadDirectory)?;
    let user = state.ops.user(address).await.api(c.lang).or_page(state, c)?;
    let org = state.directory.org(&user.org).await.ok().flatten();
    let domains = org.as_ref().map(|o| o.domains.clone()).unwrap_or_default();
    let ctx = context! {
        user => api::user_view(&user, org.as_ref()), link => enc(&user.address), domains, fe => Value::from_serialize(&fe),
    };
    Ok(show(state, c, "user_rename.html", "users", ctx, status))
}

async fn user_rename(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
    Form(f): Form<RenameForm>,
) -> Page {
    match state.ops.rename_user(&c.actor(), &address, &f.new_address).await.api(c.lang) {
        Ok(user) => Ok(back(&format!("/users/{}", enc(&user.address)), "renamed")),
        Err(e) if correctable(&e) && e.code != "unknown-user" => {
            let status = e.status;
            let fe = FormError::new("rename", e, |_| "new_address", &[("new_address", &f.new_address)]);
            rename_form(&state, &c, &address, fe, status).await
        }
        Err(e) => Err(error_page(&state, &c, e)),
    }
}

// ---------------------------------------------------------------------------------------------
// Send as

#[derive(Deserialize)]
struct SendAsForm {
    address: String,
}

async fn send_as_page(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
    Query(q): Query<Done>,
) -> Page {
    send_as_form(&state, &c, &address, notice(c.lang, &q), FormError::default(), StatusCode::OK).await
}

async fn send_as_form(
    state: &SharedState,
    c: &Caller,
    address: &str,
    done: Option<String>,
    fe: FormError,
    status: StatusCode,
) -> Page {
    require(state, c, Permission::ReadDirectory)?;
    let user = state.ops.user(address).await.api(c.lang).or_page(state, c)?;
    // Who may send as this mailbox (the other direction of the same grants).
    let others = state.directory.list_users(None).await.api(c.lang).or_page(state, c)?;
    let granted_by: Vec<_> = others
        .iter()
        .filter(|u| u.send_as.iter().any(|a| a == &user.address))
        .map(|u| context! { address => u.address.clone(), link => enc(&u.address) })
        .collect();
    let ctx = context! {
        user => api::user_view(&user, None), link => enc(&user.address), send_as => user.send_as.clone(),
        granted_by, done, fe => Value::from_serialize(&fe),
    };
    Ok(show(state, c, "user_send_as.html", "users", ctx, status))
}

async fn send_as_change(state: &SharedState, c: &Caller, address: &str, f: SendAsForm, add: bool) -> Page {
    let edit = if add {
        UserEdit { add_send_as: vec![f.address.clone()], ..Default::default() }
    } else {
        UserEdit { remove_send_as: vec![f.address.clone()], ..Default::default() }
    };
    match state.ops.edit_user(&c.actor(), address, edit).await.api(c.lang) {
        Ok(user) => Ok(back(&format!("/users/{}/send-as", enc(&user.address)), "saved")),
        Err(e) if correctable(&e) && e.code != "unknown-user" => {
            let status = e.status;
            let fe = FormError::new("send-as", e, |_| "address", &[("address", &f.address)]);
            send_as_form(state, c, address, None, fe, status).await
        }
        Err(e) => Err(error_page(state, c, e)),
    }
}

async fn send_as_add(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
    Form(f): Form<SendAsForm>,
) -> Page {
    send_as_change(&state, &c, &address, f, true).await
}

async fn send_as_remove(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
    Form(f): Form<SendAsForm>,
) -> Page {
    send_as_change(&state, &c, &address, f, false).await
}

// ---------------------------------------------------------------------------------------------
// Organisation limits

/// The form's fields: a number, or empty for the server's limit.
#[derive(Deserialize, Default)]
struct LimitsForm {
    max_message_size: String,
    max_recipients: String,
    daily_recipients: String,
    max_sessions: String,
}

const LIMIT_FIELDS: [&str; 4] = ["max_message_size", "max_recipients", "daily_recipients", "max_sessions"];

async fn limits_page(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(name): Path<String>,
    Query(q): Query<Done>,
) -> Page {
    limits_form(&state, &c, &name, notice(c.lang, &q), FormError::default(), StatusCode::OK).await
}

async fn limits_form(
    state: &SharedState,
    c: &Caller,
    name: &str,
    done: Option<String>,
    fe: FormError,
    status: StatusCode,
) -> Page {
    require(state, c, Permission::ReadDirectory)?;
    let org = state.ops.org(name).await.api(c.lang).or_page(state, c)?;
    let limits = state.directory.org_limits(&org.name).await.api(c.lang).or_page(state, c)?;
    let server = &state.config.doctor_limits;
    let field = |key: &str, label: String, own: Option<u64>, server: u64| {
        context! { key, label, own => own.filter(|v| *v > 0).map(|v| v.to_string()).unwrap_or_default(), server }
    };
    let lang = c.lang;
    let fields = vec![
        field(
            "max_message_size",
            t(lang, "manage-limit-max-message-size", &[]),
            limits.max_message_size,
            server.max_message_size,
        ),
        field(
            "max_recipients",
            t(lang, "manage-limit-max-recipients", &[]),
            limits.max_recipients,
            server.max_recipients,
        ),
        field(
            "daily_recipients",
            t(lang, "manage-limit-daily-recipients", &[]),
            limits.daily_recipients,
            server.daily_recipients,
        ),
        field("max_sessions", t(lang, "manage-limit-max-sessions", &[]), limits.max_sessions, server.max_sessions),
    ];
    let ctx = context! { org => api::OrgView::from(&org), link => enc(&org.name), fields, done, fe => Value::from_serialize(&fe) };
    Ok(show(state, c, "org_limits.html", "org", ctx, status))
}

/// A limit as typed: empty is the server's limit (stored as 0), else a whole number.
fn parse_limit(c: &Caller, key: &'static str, raw: &str) -> Result<u64, ApiError> {
    let raw = raw.trim().replace([',', '.', ' ', '_'], "");
    if raw.is_empty() {
        return Ok(0);
    }
    raw.parse::<u64>().map_err(|_| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-limit",
            c.lang,
            "manage-err-limit",
            &[("field", authrelay_i18n::Arg::Str(key))],
        )
    })
}

async fn limits_post(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(name): Path<String>,
    Form(f): Form<LimitsForm>,
) -> Page {
    let raw = [&f.max_message_size, &f.max_recipients, &f.daily_recipients, &f.max_sessions];
    let kept: Vec<(&'static str, &str)> = LIMIT_FIELDS.iter().zip(raw).map(|(k, v)| (*k, v.as_str())).collect();
    let mut values = [0u64; 4];
    for (i, key) in LIMIT_FIELDS.iter().enumerate() {
        match parse_limit(&c, key, raw[i]) {
            Ok(v) => values[i] = v,
            Err(e) => {
                let status = e.status;
                let mut fe = FormError::new("limits", e, |_| "", &kept);
                fe.field = key;
                return limits_form(&state, &c, &name, None, fe, status).await;
            }
        }
    }
    let change = OrgLimits {
        max_message_size: Some(values[0]),
        max_recipients: Some(values[1]),
        daily_recipients: Some(values[2]),
        max_sessions: Some(values[3]),
    };
    match state.ops.set_org_limits(&c.actor(), &name, change).await.api(c.lang) {
        Ok(_) => Ok(back(&format!("/org/{}/limits", enc(&name)), "saved")),
        Err(e) if correctable(&e) && e.code != "unknown-org" => {
            let status = e.status;
            let fe = FormError::new("limits", e, |_| "max_message_size", &kept);
            limits_form(&state, &c, &name, None, fe, status).await
        }
        Err(e) => Err(error_page(&state, &c, e)),
    }
}

// ---------------------------------------------------------------------------------------------
// Connectors: shown, not edited — they live in the configuration file (a reload applies an
// edit), so the page says which file and how, and answers which connector admits an address.

async fn connectors_page(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Query(q): Query<api::ConnectorsQuery>,
) -> Page {
    require(&state, &c, Permission::ReadDirectory)?;
    let (view, fe, status) = match api::connectors_view(&state, c.lang, &q).await {
        Ok(view) => (view, FormError::default(), StatusCode::OK),
        Err(e) if e.code == "bad-client" => {
            let status = e.status;
            let fe = FormError::new("check", e, |_| "client", &[("client", q.client.as_str())]);
            let view =
                api::connectors_view(&state, c.lang, &api::ConnectorsQuery::default()).await.or_page(&state, &c)?;
            (view, fe, status)
        }
        Err(e) => return Err(error_page(&state, &c, e)),
    };
    // Each client range links to the sign-in log filtered to it (the filter takes ranges).
    let rows: Vec<Value> = view
        .connectors
        .iter()
        .map(|row| {
            let clients: Vec<Value> = row
                .setting
                .clients
                .iter()
                .map(|range| context! { range => range.to_string(), link => enc(&range.to_string()) })
                .collect();
            context! { c => Value::from_serialize(row), clients }
        })
        .collect();
    let ctx = context! {
        rows, check => Value::from_serialize(&view.check), config_file => view.config_file,
        client => q.client.trim(), fe => Value::from_serialize(&fe),
    };
    Ok(show(&state, &c, "connectors.html", "connectors", ctx, status))
}

// ---------------------------------------------------------------------------------------------
// DKIM

async fn dkim_page(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(name): Path<String>,
    Query(q): Query<Done>,
) -> Page {
    dkim_view(&state, &c, &name, notice(c.lang, &q), None, FormError::default(), StatusCode::OK).await
}

async fn dkim_view(
    state: &SharedState,
    c: &Caller,
    name: &str,
    done: Option<String>,
    made: Option<authrelay_ops::DkimKey>,
    fe: FormError,
    status: StatusCode,
) -> Page {
    require(state, c, Permission::ReadDirectory)?;
    let org = state.ops.org(name).await.api(c.lang).or_page(state, c)?;
    let mut domains = vec![];
    for domain in &org.domains {
        let keys = state.ops.dkim_keys(&c.actor(), domain).await.api(c.lang).or_page(state, c)?;
        domains.push(context! { domain, keys });
    }
    let ctx = context! {
        org => api::OrgView::from(&org), link => enc(&org.name), domains, done, made, fe => Value::from_serialize(&fe),
    };
    Ok(show(state, c, "dkim.html", "org", ctx, status))
}

#[derive(Deserialize)]
struct DkimForm {
    domain: String,
    #[serde(default)]
    algorithm: String,
    #[serde(default)]
    selector: String,
}

async fn dkim_generate(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(name): Path<String>,
    Form(f): Form<DkimForm>,
) -> Page {
    let org = state.ops.org(&name).await.api(c.lang).or_page(&state, &c)?;
    if !org.domains.iter().any(|d| d.eq_ignore_ascii_case(f.domain.trim())) {
        let e = ApiError::new(StatusCode::NOT_FOUND, "unknown-domain", c.lang, "api-err-not-found", &[]);
        return Err(error_page(&state, &c, e));
    }
    let algorithm = if f.algorithm.is_empty() { "rsa" } else { f.algorithm.as_str() };
    match state.ops.generate_dkim(&c.actor(), &f.domain, algorithm, Some(&f.selector)).await.api(c.lang) {
        Ok(made) => dkim_view(&state, &c, &name, None, Some(made), FormError::default(), StatusCode::CREATED).await,
        Err(e) if correctable(&e) => {
            let status = e.status;
            let field_of: fn(&str) -> &'static str =
                |code| if code == "bad-algorithm" { "algorithm" } else { "selector" };
            let fe = FormError::new(
                "dkim",
                e,
                field_of,
                &[("domain", &f.domain), ("selector", &f.selector), ("algorithm", algorithm)],
            );
            dkim_view(&state, &c, &name, None, None, fe, status).await
        }
        Err(e) => Err(error_page(&state, &c, e)),
    }
}

async fn dkim_retire(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(name): Path<String>,
    Form(f): Form<DkimForm>,
) -> Page {
    let org = state.ops.org(&name).await.api(c.lang).or_page(&state, &c)?;
    if !org.domains.iter().any(|d| d.eq_ignore_ascii_case(f.domain.trim())) {
        let e = ApiError::new(StatusCode::NOT_FOUND, "unknown-domain", c.lang, "api-err-not-found", &[]);
        return Err(error_page(&state, &c, e));
    }
    state.ops.retire_dkim(&c.actor(), &f.domain, &f.selector).await.api(c.lang).or_page(&state, &c)?;
    Ok(back(&format!("/org/{}/dkim", enc(&org.name)), "dkim-retired"))
}

// ---------------------------------------------------------------------------------------------
// Admin accounts

async fn admin_page(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
    Query(q): Query<Done>,
) -> Page {
    admin_view(&state, &c, &address, notice(c.lang, &q), FormError::default(), StatusCode::OK).await
}

async fn admin_view(
    state: &SharedState,
    c: &Caller,
    address: &str,
    done: Option<String>,
    fe: FormError,
    status: StatusCode,
) -> Page {
    require(state, c, Permission::ManageAdmins)?;
    let admins = state.store.list_admins().await.map_err(|e| ApiError::storage(c.lang, e)).or_page(state, c)?;
    let needle = address.trim().to_lowercase();
    let Some(admin) = admins.iter().find(|a| a.address == needle) else {
        return Err(error_page(
            state,
            c,
            ApiError::new(StatusCode::NOT_FOUND, "unknown-admin", c.lang, "api-err-not-found", &[]),
        ));
    };
    let globals = admins.iter().filter(|a| Role::parse(&a.role) == Some(Role::Global)).count();
    let role = Role::parse(&admin.role);
    let roles: Vec<_> =
        Role::ALL.iter().map(|r| context! { value => r.as_str(), name => t(c.lang, r.name_id(), &[]) }).collect();
    let ctx = context! {
        admin => context! {
            address => admin.address.clone(), role => admin.role.clone(),
            role_name => role.map(|r| t(c.lang, r.name_id(), &[])).unwrap_or_else(|| admin.role.clone()),
            totp => admin.totp_enrolled, created_at => admin.created_at,
        },
        link => enc(&admin.address), roles,
        own => admin.id == c.admin.id,
        last_global => role == Some(Role::Global) && globals <= 1,
        done, fe => Value::from_serialize(&fe),
    };
    Ok(show(state, c, "admin_account.html", "admins", ctx, status))
}

#[derive(Deserialize)]
struct RoleForm {
    role: String,
}

async fn admin_role(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
    Form(f): Form<RoleForm>,
) -> Page {
    match state.ops.set_admin_role(&c.actor(), &address, &f.role).await.api(c.lang) {
        Ok(admin) => Ok(back(&format!("/admins/{}", enc(&admin.address)), "saved")),
        Err(e) if correctable(&e) && e.code != "unknown-admin" => {
            let status = e.status;
            let fe = FormError::new("role", e, |_| "role", &[("role", &f.role)]);
            admin_view(&state, &c, &address, None, fe, status).await
        }
        Err(e) => Err(error_page(&state, &c, e)),
    }
}

async fn admin_totp_reset(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
) -> Page {
    state.ops.reset_admin_totp(&c.actor(), &address).await.api(c.lang).or_page(&state, &c)?;
    Ok(back(&format!("/admins/{}", enc(address.trim())), "totp-reset"))
}

async fn admin_remove_confirm(
    State(state): State<SharedState>,
    WebCaller(c): WebCaller,
    Path(address): Path<String>,
) -> Page {
    require(&state, &c, Permission::ManageAdmins)?;
    let Some(secrets) =
        state.store.admin_secrets(&address).await.map_err(|e| ApiError::storage(c.lang, e)).or_page(&state, &c)?
    else {
        return Err(error_page(
            &state,
            &c,
            ApiError::new(StatusCode::NOT_FOUND, "unknown-admin", c.lang, "api-err-not-found", &[]),
        ));
    };
    let admin = secrets.admin;
    let tokens = state.store.list_api_tokens(Some(admin.id)).await.unwrap_or_default();
    let live_tokens = tokens.iter().filter(|t| t.revoked_at.is_none()).count();
    let ctx = context! {
        address => admin.address.clone(), link => enc(&admin.address), tokens => live_tokens,
        role_name => Role::parse(&admin.role).map(|r| t(c.lang, r.name_id(), &[])).unwrap_or_else(|| admin.role.clone()),
    };
    Ok(show(&state, &c, "admin_remove.html", "admins", ctx, StatusCode::OK))
}

async fn admin_remove(State(state): State<SharedState>, WebCaller(c): WebCaller, Path(address): Path<String>) -> Page {
    match state.ops.remove_admin(&c.actor(), &address).await.api(c.lang) {
        Ok(_) => Ok(Redirect::to("/admins?done=admin-removed").into_response()),
        Err(e) if correctable(&e) && e.code != "unknown-admin" => {
            let status = e.status;
            let fe = FormError::new("remove", e, |_| "remove", &[]);
            admin_view(&state, &c, &address, None, fe, status).await
        }
        Err(e) => Err(error_page(&state, &c, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authrelay_i18n::Lang;

    /// Each page renders in every language with the values its handler passes, shows no raw
    /// message id, and hides every change from a role without the permission.
    #[test]
    fn pages_render_in_every_language_and_hide_what_the_role_cannot_use() {
        let env = templates(crate::web::templates());
        let user = context! {
            address => "scanner@contoso.com", display_name => "Scanner", org => "Contoso", sign_in => "allowed",
            smtp_auth => "default", smtp_auth_effective => false, smtp_auth_source => "organisation", mfa => "enabled",
            send_as => vec!["printer@contoso.com"], created_at => 0, password_changed_at => 0,
        };
        let org = context! { name => "Contoso", domains => vec!["contoso.com"] };
        let key = context! {
            selector => "rsa-20261203", algorithm => "rsa", record_name => "rsa-20261203._domainkey.contoso.com",
            record_value => "v=DKIM1; k=rsa; p=MIIB", created_at => 0,
        };
        let field = context! { key => "max_recipients", label => "Recipients per message", own => "", server => 100 };
        let pages: &[(&str, &str)] = &[
            ("user_delete.html", "confirm-delete"),
            ("user_rename.html", "id=\"rename\""),
            ("user_send_as.html", "add-send-as"),
            ("org_limits.html", "save-limits"),
            ("dkim.html", "dkim-generate-button"),
            ("admin_account.html", "change-role"),
        ];
        for lang in Lang::ALL {
            for may_change in [true, false] {
                for (name, button) in pages {
                    let ctx = context! {
                        lang => lang.tag(), langs => vec!["en", "ko", "id"], csrf => "c", active => "users",
                        me => context! { address => "boss@contoso.com", role => "global", role_name => "Global" },
                        may => context! { directory => true, users => may_change, orgs => may_change, admins => true },
                        user => user.clone(), org => org.clone(), link => "x", domains => vec![context! { domain => "contoso.com", keys => vec![key.clone()] }],
                        app_passwords => 2, device_credentials => 1, send_as => vec!["printer@contoso.com"],
                        granted_by => Vec::<String>::new(), fields => vec![field.clone()],
                        admin => context! { address => "helpdesk@contoso.com", role => "user", role_name => "User", totp => false, created_at => 0 },
                        roles => vec![context! { value => "user", name => "User" }], own => false, last_global => false,
                        fe => Value::from_serialize(FormError::default()),
                    };
                    let html = env
                        .get_template(name)
                        .unwrap()
                        .render(ctx)
                        .unwrap_or_else(|e| panic!("{name} {lang:?}: {e:#}"));
                    assert!(!html.contains(">manage-"), "{name} in {} shows a raw id", lang.tag());
                    let admin_page = *name == "admin_account.html";
                    assert_eq!(html.contains(button), may_change || admin_page, "{name} {lang:?} may={may_change}");
                }
            }
            let ctx = context! {
                lang => lang.tag(), langs => vec!["en"], csrf => "c", active => "admins",
                me => context! { address => "boss@contoso.com", role => "global", role_name => "Global" },
                may => context! { admins => true }, address => "helpdesk@contoso.com", link => "x", tokens => 2, role_name => "User",
                fe => Value::from_serialize(FormError::default()),
            };
            let html = env.get_template("admin_remove.html").unwrap().render(ctx).unwrap();
            assert!(html.contains("confirm-remove") && !html.contains(">manage-"));
        }
    }
}
