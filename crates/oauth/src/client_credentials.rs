//! The OAuth 2.0 client-credentials grant (RFC 6749 §4.4) for smarthost routes that sign in
//! upstream with XOAUTH2 (Microsoft 365, Google). Tokens are cached and fetched again before
//! they expire; they are never logged, and errors carry the endpoint's `error` and
//! `error_description`, never a secret.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// A route's OAuth settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCredentials {
    pub token_endpoint: String,
    pub client_id: String,
    #[serde(skip)]
    pub client_secret: String,
    /// Space-separated scopes, e.g. `https://outlook.office365.com/.default`.
    pub scope: String,
    /// RFC 8707 resource indicator, for providers that take one instead of a scope.
    pub resource: Option<String>,
}

/// Ready-made upstream settings: (host, port, implicit TLS?, token endpoint, scope).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Preset {
    pub host: &'static str,
    pub port: u16,
    pub token_endpoint: String,
    pub scope: &'static str,
}

/// `preset = "microsoft365"` (needs the tenant: its id or `contoso.onmicrosoft.com`) or
/// `preset = "google"`.
pub fn preset(name: &str, tenant: Option<&str>) -> Result<Preset, String> {
    match name {
        "microsoft365" => {
            let tenant = tenant.filter(|t| !t.trim().is_empty()).ok_or(
                "preset \"microsoft365\" needs tenant = \"<tenant id or contoso.onmicrosoft.com>\"".to_string(),
            )?;
            if !tenant.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.') {
                return Err(format!("'{tenant}' is not a tenant id or domain"));
            }
            Ok(Preset {
                host: "smtp.office365.com",
                port: 587,
                token_endpoint: format!("https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"),
                scope: "https://outlook.office365.com/.default",
            })
        }
        "google" => Ok(Preset {
            host: "smtp.gmail.com",
            port: 587,
            token_endpoint: "https://oauth2.googleapis.com/token".into(),
            scope: "https://mail.google.com/",
        }),
        other => Err(format!("'{other}' is not a preset; use \"microsoft365\" or \"google\"")),
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    error: Option<String>,
    error_description: Option<String>,
}

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

    async fn fetch(&self) -> Result<(String, Duration), String> {
        let c = &self.config;
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
            ("scope", c.scope.as_str()),
        ];
        if let Some(r) = &c.resource {
            form.push(("resource", r.as_str()));
        }
        let endpoint = &c.token_endpoint;
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
    }
}
