//! The changes the admin center makes, shared by the API and the pages: each checks the
//! caller's role for exactly what it changes, writes the same directory records the CLI writes,
//! and adds one audit record per changed value (before → after).

use authrelay_core::{Address, AppPasswordsPolicy, MailboxSmtpAuth, MfaState, OrgSmtpAuth, SecurityDefaults, SignIn};
use authrelay_directory::admin::{AdminError, AuditEntry, NewAdmin};
use authrelay_directory::secrets::{self, WeakPassword};
use authrelay_directory::{DirectoryError, NewAppPassword, NewUser, Org, OrgChange, User, UserChange};
use authrelay_i18n::{Arg, Lang};
use axum::http::StatusCode;

use crate::auth::{ApiError, Caller};
use crate::roles::{Permission, Role};
use crate::{now, SharedState};

/// Writes one audit record; a failure to write it is logged (the change itself stands).
pub async fn audit(state: &SharedState, actor: &str, action: &str, target: &str, before: &str, after: &str) {
    let entry = AuditEntry {
        at: now(),
        actor: actor.into(),
        action: action.into(),
        target: target.into(),
        before: before.into(),
        after: after.into(),
    };
    if let Err(e) = state.store.record_audit(&entry).await {
        tracing::error!(error = %e, action, target, "cannot write the audit log");
    }
}

/// A directory verdict or outage as an API error in `lang`.
pub fn directory_error(lang: Lang, e: DirectoryError) -> ApiError {
    use StatusCode as S;
    #[allow(unreachable_patterns)]
    match e {
        DirectoryError::UnknownOrg(name) => {
            ApiError::new(S::NOT_FOUND, "unknown-org", lang, "api-err-unknown-org", &[("name", Arg::Str(&name))])
        }
        DirectoryError::OrgExists(name) => {
            ApiError::new(S::CONFLICT, "org-exists", lang, "api-err-org-exists", &[("name", Arg::Str(&name))])
        }
        DirectoryError::DomainTaken { domain, org } => ApiError::new(
            S::CONFLICT,
            "domain-taken",
            lang,
            "api-err-domain-taken",
            &[("domain", Arg::Str(&domain)), ("org", Arg::Str(&org))],
        ),
        DirectoryError::NoOrgForDomain(domain) => ApiError::new(
            S::UNPROCESSABLE_ENTITY,
            "no-org-for-domain",
            lang,
            "api-err-no-org-for-domain",
            &[("domain", Arg::Str(&domain))],
        ),
        DirectoryError::UnknownUser(address) => ApiError::new(
            S::NOT_FOUND,
            "unknown-user",
            lang,
            "api-err-unknown-user",
            &[("address", Arg::Str(&address))],
        ),
        DirectoryError::UserExists(address) => {
            ApiError::new(S::CONFLICT, "user-exists", lang, "api-err-user-exists", &[("address", Arg::Str(&address))])
        }
        DirectoryError::UnknownAppPassword { user, name } => ApiError::new(
            S::NOT_FOUND,
            "unknown-app-password",
            lang,
            "api-err-unknown-app-password",
            &[("address", Arg::Str(&user)), ("name", Arg::Str(&name))],
        ),
        DirectoryError::AppPasswordExists { user, name } => ApiError::new(
            S::CONFLICT,
            "app-password-exists",
            lang,
            "api-err-app-password-exists",
            &[("address", Arg::Str(&user)), ("name", Arg::Str(&name))],
        ),
        DirectoryError::TooManyAppPasswords(user) => ApiError::new(
            S::CONFLICT,
            "too-many-app-passwords",
            lang,
            "api-err-too-many-app-passwords",
            &[("address", Arg::Str(&user))],
        ),
        DirectoryError::UnknownDeviceCredential { user, name } => ApiError::new(
            S::NOT_FOUND,
            "unknown-device-credential",
            lang,
            "api-err-unknown-device-credential",
            &[("address", Arg::Str(&user)), ("name", Arg::Str(&name))],
        ),
        DirectoryError::DeviceCredentialExists { user, name } => ApiError::new(
            S::CONFLICT,
            "device-credential-exists",
            lang,
            "api-err-device-credential-exists",
            &[("address", Arg::Str(&user)), ("name", Arg::Str(&name))],
        ),
        DirectoryError::TooManyDeviceCredentials(user) => ApiError::new(
            S::CONFLICT,
            "too-many-device-credentials",
            lang,
            "api-err-too-many-device-credentials",
            &[("address", Arg::Str(&user))],
        ),
        DirectoryError::Storage(reason) => ApiError::storage(lang, reason),
        // A verdict added to the directory after this was written: refuse with its own words
        // rather than call it an outage.
        other => ApiError {
            status: S::UNPROCESSABLE_ENTITY,
            code: "refused",
            message: other.to_string(),
            required_roles: None,
        },
    }
}

fn bad_request(lang: Lang, code: &'static str, id: &str, args: &[(&str, Arg<'_>)]) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, lang, id, args)
}

pub fn parse_address(lang: Lang, input: &str) -> Result<Address, ApiError> {
    Address::parse(input)
        .map_err(|_| bad_request(lang, "bad-address", "api-err-bad-address", &[("address", Arg::Str(input))]))
}

fn weak_password(lang: Lang, e: WeakPassword) -> ApiError {
    let id = match e {
        WeakPassword::TooShort { .. } => "api-err-password-too-short",
        WeakPassword::TooFewKinds => "api-err-password-few-kinds",
        WeakPassword::ContainsAddress => "api-err-password-contains-address",
        WeakPassword::Common => "api-err-password-common",
    };
    bad_request(lang, "weak-password", id, &[("min", Arg::from(secrets::MIN_PASSWORD_LEN))])
}

async fn hash(secret: String) -> String {
    tokio::task::spawn_blocking(move || secrets::hash_secret(&secret)).await.expect("hashing task")
}

pub async fn load_org(state: &SharedState, lang: Lang, name: &str) -> Result<Org, ApiError> {
    state
        .directory
        .org(name)
        .await
        .map_err(|e| directory_error(lang, e))?
        .ok_or_else(|| directory_error(lang, DirectoryError::UnknownOrg(name.to_string())))
}

pub async fn load_user(state: &SharedState, lang: Lang, address: &str) -> Result<User, ApiError> {
    state
        .directory
        .user(address)
        .await
        .map_err(|e| directory_error(lang, e))?
        .ok_or_else(|| directory_error(lang, DirectoryError::UnknownUser(address.to_string())))
}

/// Changes to an organisation; each value needs its own permission.
#[derive(Debug, Default, Clone)]
pub struct OrgEdit {
    pub security_defaults: Option<SecurityDefaults>,
    pub smtp_auth: Option<OrgSmtpAuth>,
    pub app_passwords: Option<AppPasswordsPolicy>,
    /// Whether mailboxes may use device credentials (same permission as app passwords).
    pub device_credentials: Option<authrelay_core::DeviceCredentialsPolicy>,
}

pub async fn edit_org(state: &SharedState, caller: &Caller, name: &str, edit: OrgEdit) -> Result<Org, ApiError> {
    if edit.security_defaults.is_some() {
        caller.require(Permission::ManageSecurityDefaults)?;
    }
    if edit.smtp_auth.is_some() {
        caller.require(Permission::ManageSmtpAuth)?;
    }
    if edit.app_passwords.is_some() || edit.device_credentials.is_some() {
        caller.require(Permission::ManageAppPasswords)?;
    }
    let before = load_org(state, caller.lang, name).await?;
    let change = OrgChange {
        security_defaults: edit.security_defaults,
        smtp_auth: edit.smtp_auth,
        app_passwords: edit.app_passwords,
        device_credentials: edit.device_credentials,
    };
    let after = state.directory.update_org(&before.name, change).await.map_err(|e| directory_error(caller.lang, e))?;
    let (b, a) = (&before.settings, &after.settings);
    let actor = caller.actor();
    for (action, old, new) in [
        ("org.security-defaults", b.security_defaults.as_str(), a.security_defaults.as_str()),
        ("org.smtp-auth", b.smtp_auth.as_str(), a.smtp_auth.as_str()),
        ("org.app-passwords", b.app_passwords.as_str(), a.app_passwords.as_str()),
        ("org.device-credentials", b.device_credentials.as_str(), a.device_credentials.as_str()),
    ] {
        if old != new {
            audit(state, &actor, action, &after.name, old, new).await;
        }
    }
    Ok(after)
}

pub async fn create_org(state: &SharedState, caller: &Caller, name: &str, domains: &[String]) -> Result<Org, ApiError> {
    caller.require(Permission::ManageOrgs)?;
    let lang = caller.lang;
    let name = name.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(bad_request(lang, "bad-org-name", "api-err-bad-org-name", &[]));
    }
    let mut clean = vec![];
    for d in domains {
        clean.push(parse_domain(lang, d)?);
    }
    if clean.is_empty() {
        return Err(bad_request(lang, "bad-domain", "api-err-bad-domain", &[("domain", Arg::Str(""))]));
    }
    let org = state.directory.create_org(name, &clean).await.map_err(|e| directory_error(lang, e))?;
    audit(state, &caller.actor(), "org.create", &org.name, "-", &org.domains.join(", ")).await;
    Ok(org)
}

fn parse_domain(lang: Lang, input: &str) -> Result<String, ApiError> {
    let d = input.trim().trim_end_matches('.').to_lowercase();
    if !authrelay_core::address::is_domain(&d) || !d.contains('.') {
        return Err(bad_request(lang, "bad-domain", "api-err-bad-domain", &[("domain", Arg::Str(input))]));
    }
    Ok(d)
}

pub async fn add_domain(state: &SharedState, caller: &Caller, org: &str, domain: &str) -> Result<Org, ApiError> {
    caller.require(Permission::ManageOrgs)?;
    let domain = parse_domain(caller.lang, domain)?;
    let before = load_org(state, caller.lang, org).await?;
    let after = state.directory.add_domain(&before.name, &domain).await.map_err(|e| directory_error(caller.lang, e))?;
    if before.domains != after.domains {
        audit(
            state,
            &caller.actor(),
            "org.add-domain",
            &after.name,
            &before.domains.join(", "),
            &after.domains.join(", "),
        )
        .await;
    }
    Ok(after)
}

/// Changes to a user; each value needs its own permission.
#[derive(Debug, Default, Clone)]
pub struct UserEdit {
    pub display_name: Option<String>,
    pub sign_in: Option<SignIn>,
    pub smtp_auth: Option<MailboxSmtpAuth>,
    pub mfa: Option<MfaState>,
}

pub async fn edit_user(state: &SharedState, caller: &Caller, address: &str, edit: UserEdit) -> Result<User, ApiError> {
    let lang = caller.lang;
    if edit.display_name.is_some() || edit.sign_in.is_some() {
        caller.require(Permission::ManageUsers)?;
    }
    if edit.smtp_auth.is_some() {
        caller.require(Permission::ManageSmtpAuth)?;
    }
    if edit.mfa.is_some() {
        caller.require(Permission::ManageMfa)?;
    }
    if let Some(name) = &edit.display_name {
        if name.trim().is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
            return Err(bad_request(lang, "bad-display-name", "api-err-bad-display-name", &[]));
        }
    }
    let before = load_user(state, lang, address).await?;
    let change = UserChange {
        display_name: edit.display_name,
        sign_in: edit.sign_in,
        smtp_auth: edit.smtp_auth,
        mfa: edit.mfa,
        ..Default::default()
    };
    let after = state.directory.update_user(&before.address, change).await.map_err(|e| directory_error(lang, e))?;
    let (b, a) = (&before.settings, &after.settings);
    let actor = caller.actor();
    for (action, old, new) in [
        ("user.display-name", before.display_name.as_str(), after.display_name.as_str()),
        ("user.sign-in", b.sign_in.as_str(), a.sign_in.as_str()),
        ("user.smtp-auth", b.smtp_auth.as_str(), a.smtp_auth.as_str()),
        ("user.mfa", b.mfa.as_str(), a.mfa.as_str()),
    ] {
        if old != new {
            audit(state, &actor, action, &after.address, old, new).await;
        }
    }
    Ok(after)
}

/// Creates a user; with no password given, generates one and returns it (shown once).
pub async fn create_user(
    state: &SharedState,
    caller: &Caller,
    address: &str,
    display_name: Option<&str>,
    password: Option<&str>,
) -> Result<(User, Option<String>), ApiError> {
    caller.require(Permission::ManageUsers)?;
    let lang = caller.lang;
    let address = parse_address(lang, address)?;
    let (password, generated) = match password.filter(|p| !p.is_empty()) {
        Some(p) => {
            secrets::check_password_strength(p, address.as_str()).map_err(|e| weak_password(lang, e))?;
            (p.to_string(), false)
        }
        None => (secrets::generate_password(), true),
    };
    let display_name = display_name.map(str::trim).filter(|d| !d.is_empty()).unwrap_or(address.local_part());
    if display_name.len() > 256 || display_name.chars().any(char::is_control) {
        return Err(bad_request(lang, "bad-display-name", "api-err-bad-display-name", &[]));
    }
    let user = state
        .directory
        .create_user(NewUser {
            address: address.to_string(),
            display_name: display_name.to_string(),
            password_hash: hash(password.clone()).await,
        })
        .await
        .map_err(|e| directory_error(lang, e))?;
    audit(state, &caller.actor(), "user.create", &user.address, "-", &user.org).await;
    Ok((user, generated.then_some(password)))
}

/// Sets a new password (generated when none is given; returned then).
pub async fn reset_password(
    state: &SharedState,
    caller: &Caller,
    address: &str,
    password: Option<&str>,
) -> Result<Option<String>, ApiError> {
    caller.require(Permission::ManageUsers)?;
    let lang = caller.lang;
    let user = load_user(state, lang, address).await?;
    let (password, generated) = match password.filter(|p| !p.is_empty()) {
        Some(p) => {
            secrets::check_password_strength(p, &user.address).map_err(|e| weak_password(lang, e))?;
            (p.to_string(), false)
        }
        None => (secrets::generate_password(), true),
    };
    state
        .directory
        .set_password_hash(&user.address, &hash(password.clone()).await)
        .await
        .map_err(|e| directory_error(lang, e))?;
    audit(state, &caller.actor(), "user.password-reset", &user.address, "-", "-").await;
    Ok(generated.then_some(password))
}

/// Creates an app password; returns the secret (shown once).
pub async fn add_app_password(
    state: &SharedState,
    caller: &Caller,
    address: &str,
    name: &str,
) -> Result<String, ApiError> {
    caller.require(Permission::ManageAppPasswords)?;
    let lang = caller.lang;
    let name = name.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(bad_request(lang, "bad-app-password-name", "api-err-bad-app-password-name", &[]));
    }
    let user = load_user(state, lang, address).await?;
    let secret = secrets::generate_app_password();
    let normalized = secrets::normalize_app_password(&secret);
    let hint = secrets::app_password_hint(&normalized);
    state
        .directory
        .add_app_password(&user.address, NewAppPassword { name: name.to_string(), hint, hash: hash(normalized).await })
        .await
        .map_err(|e| directory_error(lang, e))?;
    audit(state, &caller.actor(), "user.app-password-add", &user.address, "-", name).await;
    Ok(secret)
}

pub async fn revoke_app_password(
    state: &SharedState,
    caller: &Caller,
    address: &str,
    name: &str,
) -> Result<(), ApiError> {
    caller.require(Permission::ManageAppPasswords)?;
    let user = load_user(state, caller.lang, address).await?;
    state.directory.revoke_app_password(&user.address, name).await.map_err(|e| directory_error(caller.lang, e))?;
    audit(state, &caller.actor(), "user.app-password-revoke", &user.address, name, "-").await;
    Ok(())
}

/// Sets MFA for several users at once; stops at the first unknown user (earlier ones stay set).
pub async fn bulk_mfa(
    state: &SharedState,
    caller: &Caller,
    users: &[String],
    mfa: MfaState,
) -> Result<Vec<User>, ApiError> {
    caller.require(Permission::ManageMfa)?;
    let mut done = vec![];
    for address in users {
        done.push(edit_user(state, caller, address, UserEdit { mfa: Some(mfa), ..Default::default() }).await?);
    }
    Ok(done)
}

pub async fn create_admin(
    state: &SharedState,
    caller: &Caller,
    address: &str,
    role: &str,
    password: &str,
) -> Result<authrelay_directory::admin::Admin, ApiError> {
    caller.require(Permission::ManageAdmins)?;
    let lang = caller.lang;
    let address = parse_address(lang, address)?;
    let role = Role::parse(role)
        .ok_or_else(|| bad_request(lang, "bad-role", "api-err-bad-role", &[("role", Arg::Str(role))]))?;
    secrets::check_password_strength(password, address.as_str()).map_err(|e| weak_password(lang, e))?;
    let admin = state
        .store
        .create_admin(NewAdmin {
            address: address.to_string(),
            role: role.as_str().into(),
            password_hash: hash(password.into()).await,
        })
        .await
        .map_err(|e| match e {
            AdminError::AdminExists(a) => ApiError::new(
                StatusCode::CONFLICT,
                "admin-exists",
                lang,
                "api-err-admin-exists",
                &[("address", Arg::Str(&a))],
            ),
            other => ApiError::storage(lang, other),
        })?;
    audit(state, &caller.actor(), "admin.create", &admin.address, "-", role.as_str()).await;
    Ok(admin)
}

/// Creates an API token for the caller, carrying `role` (the caller's own unless they are a
/// Global administrator). Returns the token record and the secret (shown once).
pub async fn create_token(
    state: &SharedState,
    caller: &Caller,
    name: &str,
    role: Option<&str>,
) -> Result<(authrelay_directory::admin::ApiToken, String), ApiError> {
    let lang = caller.lang;
    let name = name.trim();
    if name.is_empty() || name.len() > 64 || name.chars().any(char::is_control) {
        return Err(bad_request(lang, "bad-token-name", "api-err-bad-token-name", &[]));
    }
    let role = match role.filter(|r| !r.is_empty()) {
        None => caller.role,
        Some(r) => {
            Role::parse(r).ok_or_else(|| bad_request(lang, "bad-role", "api-err-bad-role", &[("role", Arg::Str(r))]))?
        }
    };
    if role != caller.role {
        caller.require(Permission::ManageAdmins)?;
    }
    let secret = format!("art_{}", crate::auth::random_token());
    let token = state
        .store
        .create_api_token(caller.admin.id, name, role.as_str(), &authrelay_directory::admin::token_hash(&secret))
        .await
        .map_err(|e| ApiError::storage(lang, e))?;
    audit(state, &caller.actor(), "token.create", name, "-", role.as_str()).await;
    Ok((token, secret))
}

pub async fn revoke_token(state: &SharedState, caller: &Caller, id: i64) -> Result<(), ApiError> {
    let lang = caller.lang;
    let owner = if caller.may(Permission::ManageAdmins) { None } else { Some(caller.admin.id) };
    let revoked = state.store.revoke_api_token(id, owner).await.map_err(|e| ApiError::storage(lang, e))?;
    if !revoked {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown-token", lang, "api-err-unknown-token", &[]));
    }
    audit(state, &caller.actor(), "token.revoke", &id.to_string(), "live", "revoked").await;
    Ok(())
}

/// What a new device credential is limited to.
#[derive(Debug, Default, Clone)]
pub struct DeviceCredentialSpec {
    pub name: String,
    /// Client-address ranges (CIDR or single address); empty = any address.
    pub allow: Vec<String>,
    /// RFC 3339 time or a date (YYYY-MM-DD, valid through that day, UTC).
    pub expires: Option<String>,
    pub expires_in_days: Option<u32>,
}

fn parse_expiry(lang: Lang, value: &str, now: i64) -> Result<i64, ApiError> {
    use time::format_description::well_known::Rfc3339;
    let bad = || bad_request(lang, "bad-expiry", "api-err-bad-expiry", &[("value", Arg::Str(value))]);
    let text = value.trim();
    let at = if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        t.unix_timestamp()
    } else {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let day = time::Date::parse(text, &format).map_err(|_| bad())?;
        day.next_day().ok_or_else(bad)?.midnight().assume_utc().unix_timestamp()
    };
    if at <= now {
        return Err(bad_request(lang, "bad-expiry", "api-err-expiry-past", &[("value", Arg::Str(value))]));
    }
    Ok(at)
}

/// Creates a device credential; returns it and the secret (shown once).
pub async fn add_device_credential(
    state: &SharedState,
    caller: &Caller,
    address: &str,
    spec: DeviceCredentialSpec,
) -> Result<(authrelay_directory::DeviceCredential, String), ApiError> {
    caller.require(Permission::ManageAppPasswords)?;
    let lang = caller.lang;
    let name = spec.name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(bad_request(lang, "bad-device-credential-name", "api-err-bad-device-credential-name", &[]));
    }
    let mut allow = vec![];
    for item in spec.allow.iter().flat_map(|a| a.split([',', ' ', '\n', '\r', '\t'])).filter(|a| !a.is_empty()) {
        allow.push(
            item.parse::<authrelay_core::Cidr>()
                .map_err(|_| bad_request(lang, "bad-cidr", "api-err-bad-cidr", &[("value", Arg::Str(item))]))?,
        );
    }
    let now = now();
    let expires_at = match (spec.expires.as_deref().map(str::trim).filter(|e| !e.is_empty()), spec.expires_in_days) {
        (Some(e), _) => Some(parse_expiry(lang, e, now)?),
        (None, Some(days)) => Some(now + i64::from(days.clamp(1, 3650)) * 86_400),
        (None, None) => None,
    };
    let user = load_user(state, lang, address).await?;
    let (secret, tag) = authrelay_directory::device::generate();
    let new = authrelay_directory::NewDeviceCredential {
        name: name.to_string(),
        tag,
        hash: hash(secret.clone()).await,
        allow,
        expires_at,
    };
    let created =
        state.directory.add_device_credential(&user.address, new).await.map_err(|e| directory_error(lang, e))?;
    audit(state, &caller.actor(), "user.device-credential-add", &user.address, "-", &created.name).await;
    Ok((created, secret))
}

pub async fn revoke_device_credential(
    state: &SharedState,
    caller: &Caller,
    address: &str,
    name: &str,
) -> Result<(), ApiError> {
    caller.require(Permission::ManageAppPasswords)?;
    let user = load_user(state, caller.lang, address).await?;
    state.directory.revoke_device_credential(&user.address, name).await.map_err(|e| directory_error(caller.lang, e))?;
    audit(state, &caller.actor(), "user.device-credential-revoke", &user.address, name, "-").await;
    Ok(())
}

/// Clears a mailbox's smart-lockout counters (as `authrelay user unlock`).
pub async fn unlock_user(state: &SharedState, caller: &Caller, address: &str) -> Result<u64, ApiError> {
    caller.require(Permission::ManageUsers)?;
    let user = load_user(state, caller.lang, address).await?;
    let cleared = state.directory.unlock(&user.address, now()).await.map_err(|e| directory_error(caller.lang, e))?;
    audit(state, &caller.actor(), "user.unlock", &user.address, &cleared.to_string(), "0").await;
    Ok(cleared)
}
