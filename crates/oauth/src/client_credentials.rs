//! Tokens for routes that sign in upstream with OAuth (SMTP XOAUTH2, Microsoft Graph): the
//! client-credentials grant (RFC 6749 §4.4) with a client secret or a certificate
//! (`private_key_jwt`, RFC 7523 §2.2), or Google's JWT-bearer grant (RFC 7523 §2.1) with a
//! service-account key and domain-wide delegation. Tokens are cached and fetched again before
//! they expire; they are never logged, and errors carry the endpoint's `error` and
//! `error_description`, never a secret.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::assertion::{ClientCertificate, ServiceAccountKey};

use serde::{Deserialize, Serialize};

/// A route's OAuth settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCredentials {
    pub token_endpoint: String,
    /// The application (client) id; for a Google service account, its e-mail address.
    pub client_id: String,
    /// Shown by kind (and the certificate's thumbprint); never the secret or key.
    #[serde(skip_deserializing)]
    pub credential: Credential,
    /// Space-separated scopes, e.g. `https://outlook.office365.com/.default`.
    pub scope: String,
    /// RFC 8707 resource indicator, for providers that take one instead of a scope.
    pub resource: Option<String>,
}

/// What proves the client's identity at the token endpoint.
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Credential {
    /// `client_secret` in the form (`client_secret_post`).
    Secret(String),
    /// A `private_key_jwt` client assertion signed with the certificate's key.
    Certificate(Arc<ClientCertificate>),
    /// Google's JWT-bearer grant: the service account acts for `subject` (the mailbox).
    ServiceAccount { key: Arc<ServiceAccountKey>, subject: String },
    /// Nothing configured (a setting read back from its serialized form).
    #[default]
    Missing,
}

impl Serialize for Credential {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = match self {
            Credential::Secret(_) => "client secret".to_string(),
            Credential::Certificate(c) => format!("certificate x5t#S256={}", c.thumbprints.x5t_s256),
            Credential::ServiceAccount { key, subject } => {
                format!("service account {} acting for {subject}", key.client_email)
            }
            Credential::Missing => "none".to_string(),
        };
        serializer.serialize_str(&text)
    }
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Secret(_) => f.write_str("Secret(..)"),
            Credential::Certificate(c) => c.fmt(f),
            Credential::ServiceAccount { key, subject } => write!(f, "ServiceAccount({key:?}, sub={subject})"),
            Credential::Missing => f.write_str("Missing"),
        }
    }
}

/// How a preset's upstream takes credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresetAuth {
    /// XOAUTH2 with a token (client secret, certificate or service account).
    OAuth,
    /// A user name and password (AUTH PLAIN / LOGIN).
    Password,
}

/// Ready-made upstream settings: host, port (STARTTLS), how to sign in, and for OAuth the token
/// endpoint and scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    pub host: &'static str,
    pub port: u16,
    pub auth: PresetAuth,
    pub token_endpoint: String,
    pub scope: &'static str,
}

/// The preset names, for messages.
pub const PRESETS: &str = "\"microsoft365\", \"google\", \"microsoft365-hve\" or \"azure-communication-services\"";

/// Scope of a client-credentials token for Microsoft Graph (application permissions).
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// The Entra token endpoint of `tenant` (its id or `contoso.onmicrosoft.com`).
pub fn entra_token_endpoint(preset: &str, tenant: Option<&str>) -> Result<String, String> {
    let tenant = tenant
        .filter(|t| !t.trim().is_empty())
        .ok_or(format!("preset \"{preset}\" needs tenant = \"<tenant id or contoso.onmicrosoft.com>\""))?;
    if !tenant.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
        return Err(format!("'{tenant}' is not a tenant id or domain"));
    }
    Ok(format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"))
}

/// `preset = "microsoft365"` (needs the tenant: its id or `contoso.onmicrosoft.com`),
/// `"google"` (a service account with domain-wide delegation), `"microsoft365-hve"`
/// (Microsoft's High Volume Email, password sign-in) or `"azure-communication-services"`
/// (ACS SMTP: the user name is the SMTP username of the resource, the password an Entra
/// client secret). Limits of each: README, "Presets".
pub fn preset(name: &str, tenant: Option<&str>) -> Result<Preset, String> {
    match name {
        "microsoft365" => Ok(Preset {
            host: "smtp.office365.com",
            port: 587,
            auth: PresetAuth::OAuth,
            token_endpoint: entra_token_endpoint(name, tenant)?,
            scope: "https://outlook.office365.com/.default",
        }),
        "google" => Ok(Preset {
            host: "smtp.gmail.com",
            port: 587,
            auth: PresetAuth::OAuth,
            token_endpoint: "https://oauth2.googleapis.com/token".into(),
            scope: "https://mail.google.com/",
        }),
        "microsoft365-hve" => Ok(Preset {
            host: "smtp-hve.office365.com",
            port: 587,
            auth: PresetAuth::Password,
            token_endpoint: String::new(),
            scope: "",
        }),
        "azure-communication-services" => Ok(Preset {
            host: "smtp.azurecomm.net",
            port: 587,
            auth: PresetAuth::Password,
            token_endpoint: String::new(),
            scope: "",
        }),
        other => Err(format!("'{other}' is not a preset; use {PRESETS}")),
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    error: Option<String>,
    error_description: Option<String>,
}

/// RFC 7523 §2.2: a JWT as client authentication.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// RFC 7523 §2.1: a JWT as the authorization grant.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Fetches and caches tokens for one route.
pub struct TokenSource {
    config: ClientCredentials,
    http: reqwest::Client,
    cached: tokio::sync::Mutex<Option<(String, Instant)>>,
}

impl TokenSource {
    pub fn new(config: ClientCredentials, ca_file: Option<&std::path::Path>) -> Result<TokenSource, String> {
        crate::http::check_url(&config.token_endpoint).map_err(|e| e.to_string())?;
        Ok(TokenSource { config, http: crate::http::client(ca_file)?, cached: tokio::sync::Mutex::new(None) })
    }

    /// A token valid for at least another minute: the cached one, or a new one.
    pub async fn token(&self) -> Result<String, String> {
        let mut cached = self.cached.lock().await;
        if let Some((token, refresh_at)) = cached.as_ref() {
            if Instant::now() < *refresh_at {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = self.fetch().await?;
        // Fetch again when a tenth of the lifetime or a minute is left, whichever is more.
        let margin = (lifetime / 10).max(Duration::from_secs(60)).min(lifetime);
        *cached = Some((token.clone(), Instant::now() + (lifetime - margin)));
        Ok(token)
    }

    /// Forgets the cached token after the upstream refused `refused`. Only that token: when
    /// deliveries running side by side meet the same refusal, the first fetches a new token and
    /// the others take it instead of dropping it again.
    pub async fn invalidate(&self, refused: &str) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|(token, _)| token == refused) {
            *cached = None;
        }
    }

    /// The token request's form for the configured credential.
    fn form(&self) -> Result<Vec<(&'static str, String)>, String> {
        let c = &self.config;
        let endpoint = &c.token_endpoint;
        let mut form = match &c.credential {
            Credential::Secret(secret) => vec![
                ("grant_type", "client_credentials".to_string()),
                ("client_id", c.client_id.clone()),
                ("client_secret", secret.clone()),
            ],
            Credential::Certificate(cert) => vec![
                ("grant_type", "client_credentials".to_string()),
                ("client_id", c.client_id.clone()),
                ("client_assertion_type", CLIENT_ASSERTION_TYPE.to_string()),
                ("client_assertion", cert.assertion(&c.client_id, endpoint)?),
            ],
            // The scope travels inside the assertion (Google's service-account flow).
            Credential::ServiceAccount { key, subject } => {
                return Ok(vec![
                    ("grant_type", JWT_BEARER_GRANT.to_string()),
                    ("assertion", key.assertion(subject, &c.scope, endpoint)?),
                ])
            }
            Credential::Missing => return Err("no client credential is configured".into()),
        };
        if !c.scope.is_empty() {
            form.push(("scope", c.scope.clone()));
        }
        if let Some(r) = &c.resource {
            form.push(("resource", r.clone()));
        }
        Ok(form)
    }

    async fn fetch(&self) -> Result<(String, Duration), String> {
        let c = &self.config;
        let endpoint = &c.token_endpoint;
        let form = self.form().map_err(|e| format!("token endpoint {endpoint}: {e}"))?;
        let response = self
            .http
            .post(endpoint)
            .form(&form)
            .send()
            .await
            .map_err(|e| format!("token endpoint {endpoint}: {}", e.without_url()))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| format!("token endpoint {endpoint}: {}", e.without_url()))?;
        let answer: TokenAnswer = serde_json::from_slice(&body[..body.len().min(1 << 20)])
            .map_err(|_| format!("token endpoint {endpoint} answered HTTP {status} without a JSON token response"))?;
        match (status.is_success(), answer.access_token) {
            (true, Some(token)) if !token.is_empty() => {
                let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(3600).clamp(1, 86_400));
                Ok((token, lifetime))
            }
            _ => Err(format!(
                "token endpoint {endpoint} refused client '{}': HTTP {status} {} {}",
                c.client_id,
                answer.error.unwrap_or_default(),
                answer.error_description.unwrap_or_default()
            )
            .trim_end()
            .to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets() {
        let m = preset("microsoft365", Some("contoso.onmicrosoft.com")).unwrap();
        assert_eq!((m.host, m.port), ("smtp.office365.com", 587));
        assert_eq!(m.token_endpoint, "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token");
        assert_eq!(m.scope, "https://outlook.office365.com/.default");
        assert!(preset("microsoft365", None).unwrap_err().contains("tenant"));
        assert!(preset("microsoft365", Some("a/b")).is_err());
        let g = preset("google", None).unwrap();
        assert_eq!((g.host, g.port, g.scope), ("smtp.gmail.com", 587, "https://mail.google.com/"));
        assert!(preset("yahoo", None).is_err());
        let hve = preset("microsoft365-hve", None).unwrap();
        assert_eq!((hve.host, hve.port, hve.auth), ("smtp-hve.office365.com", 587, PresetAuth::Password));
        let acs = preset("azure-communication-services", None).unwrap();
        assert_eq!((acs.host, acs.port, acs.auth), ("smtp.azurecomm.net", 587, PresetAuth::Password));
    }
}
