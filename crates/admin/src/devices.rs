//! Device credentials in the admin center (issue 7): list, create (the secret is shown once) and
//! revoke them on the user panel and through the API. Creating and revoking need the permission
//! that governs app passwords; every change is audited by [`crate::ops`].

use authrelay_core::Cidr;
use authrelay_directory::DeviceCredential;
use serde::Serialize;

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

pub fn view(d: &DeviceCredential, now: i64) -> DeviceCredentialView {
    DeviceCredentialView {
        name: d.name.clone(),
        tag: d.tag.clone(),
        allow: d.allow.iter().map(Cidr::to_string).collect(),
        expires_at: d.expires_at,
        expires: d.expires_at.map(crate::api::rfc3339),
        expired: d.expires_at.is_some_and(|e| e <= now),
        created_at: d.created_at,
        created: crate::api::rfc3339(d.created_at),
        last_used_at: d.last_used_at,
        last_used: d.last_used_at.map(crate::api::rfc3339),
        last_used_ip: d.last_used_ip.clone(),
    }
}

pub mod api {
    use axum::extract::State;
    use axum::http::StatusCode;
    use axum::Json;
    use serde::Deserialize;
    use serde_json::{json, Value};

    use crate::api::{Body, PathArgs};
    use crate::auth::{ApiCaller, ApiError};
    use crate::ops::{self, DeviceCredentialSpec};
    use crate::roles::Permission;
    use crate::SharedState;

    pub async fn list(
        State(state): State<SharedState>,
        ApiCaller(c): ApiCaller,
        PathArgs(address): PathArgs<String>,
    ) -> Result<Json<Vec<super::DeviceCredentialView>>, ApiError> {
        c.require(Permission::ReadDirectory)?;
        let user = ops::load_user(&state, c.lang, &address).await?;
        let list = state
            .directory
            .list_device_credentials(&user.address)
            .await
            .map_err(|e| ops::directory_error(c.lang, e))?;
        let now = crate::now();
        Ok(Json(list.iter().map(|d| super::view(d, now)).collect()))
    }

    #[derive(Deserialize)]
    pub struct NewRequest {
        name: String,
        #[serde(default)]
        allow: Vec<String>,
        expires: Option<String>,
        expires_in_days: Option<u32>,
    }

    pub async fn add(
        State(state): State<SharedState>,
        ApiCaller(c): ApiCaller,
        PathArgs(address): PathArgs<String>,
        Body(req): Body<NewRequest>,
    ) -> Result<(StatusCode, Json<Value>), ApiError> {
        let spec = DeviceCredentialSpec {
            name: req.name,
            allow: req.allow,
            expires: req.expires,
            expires_in_days: req.expires_in_days,
        };
        let (created, secret) = ops::add_device_credential(&state, &c, &address, spec).await?;
        let mut body = serde_json::to_value(super::view(&created, crate::now())).unwrap_or_default();
        body["secret"] = json!(secret);
        Ok((StatusCode::CREATED, Json(body)))
    }

    pub async fn revoke(
        State(state): State<SharedState>,
        ApiCaller(c): ApiCaller,
        PathArgs((address, name)): PathArgs<(String, String)>,
    ) -> Result<StatusCode, ApiError> {
        ops::revoke_device_credential(&state, &c, &address, &name).await?;
        Ok(StatusCode::NO_CONTENT)
    }
}

// ---------------------------------------------------------------------------------------------
// Page handlers (routes in web.rs): the user panel's Device credentials card and the
// organisation's mail settings switch.

pub mod web {
    use authrelay_core::DeviceCredentialsPolicy;
    use axum::extract::{Form, Path, State};
    use serde::Deserialize;

    use crate::auth::WebCaller;
    use crate::ops::{self, DeviceCredentialSpec, OrgEdit};
    use crate::web::{back, enc, user_panel, OrPage, Page};
    use crate::SharedState;

    #[derive(Deserialize)]
    pub struct NewForm {
        name: String,
        allow: Option<String>,
        /// A date (YYYY-MM-DD) from the date picker; empty = never.
        expires: Option<String>,
    }

    pub async fn add(
        State(state): State<SharedState>,
        WebCaller(c): WebCaller,
        Path(address): Path<String>,
        Form(f): Form<NewForm>,
    ) -> Page {
        let spec = DeviceCredentialSpec {
            name: f.name,
            allow: f.allow.into_iter().collect(),
            expires: f.expires,
            expires_in_days: None,
        };
        let (_, secret) = ops::add_device_credential(&state, &c, &address, spec).await.or_page(&state, &c)?;
        let secret = Some(("device-credential".to_string(), secret));
        user_panel(&state, &c, &address, "account", Some("device-credential".into()), secret).await
    }

    #[derive(Deserialize)]
    pub struct NameForm {
        name: String,
    }

    pub async fn revoke(
        State(state): State<SharedState>,
        WebCaller(c): WebCaller,
        Path(address): Path<String>,
        Form(f): Form<NameForm>,
    ) -> Page {
        ops::revoke_device_credential(&state, &c, &address, &f.name).await.or_page(&state, &c)?;
        Ok(back(&format!("/users/{}", enc(&address)), "revoked"))
    }

    #[derive(Deserialize)]
    pub struct ToggleForm {
        enabled: Option<String>,
    }

    pub async fn org_policy(
        State(state): State<SharedState>,
        WebCaller(c): WebCaller,
        Path(name): Path<String>,
        Form(f): Form<ToggleForm>,
    ) -> Page {
        let value =
            if f.enabled.is_some() { DeviceCredentialsPolicy::Allowed } else { DeviceCredentialsPolicy::Blocked };
        let org = ops::edit_org(&state, &c, &name, OrgEdit { device_credentials: Some(value), ..Default::default() })
            .await
            .or_page(&state, &c)?;
        Ok(back(&format!("/org/{}/mail", enc(&org.name)), "saved"))
    }
}
