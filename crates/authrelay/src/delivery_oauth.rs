//! The OAuth keys of a `[[routes]]` smarthost (`auth = "xoauth2"`, `preset`, `token_endpoint`,
//! `client_id`, `client_secret` / `client_secret_file`, `scope`, `resource`), checked into
//! [`authrelay_oauth::ClientCredentials`].

use authrelay_oauth::client_credentials::Preset;
use authrelay_oauth::ClientCredentials;

use crate::delivery_config::FileRoute;

/// `Some` when the route signs in with XOAUTH2; every problem goes to `problem`.
pub fn route_oauth(
    r: &FileRoute,
    preset: Option<&Preset>,
    key: &dyn Fn(&str) -> String,
    problem: &mut dyn FnMut(&str, String),
) -> Option<ClientCredentials> {
    let wants = match r.auth().as_deref() {
        Some("xoauth2") => true,
        None => preset.is_some(),
        Some("password") => false,
        Some(other) => {
            problem(&key("auth"), format!("'{other}' is not an auth method; use \"password\" or \"xoauth2\""));
            return None;
        }
    };
    if !wants {
        return None;
    }
    let mut missing = false;
    let mut need = |field: &str, v: Option<String>, example: &str| -> String {
        match v.filter(|s| !s.trim().is_empty()) {
            Some(v) => v,
            None => {
                problem(&key(field), format!("auth = \"xoauth2\" needs {field}, e.g. {example}"));
                missing = true;
                String::new()
            }
        }
    };
    need("user", r.user_name(), "\"relay@contoso.com\" (the mailbox it sends as)");
    let endpoint = need(
        "token_endpoint",
        r.token_endpoint().or(preset.map(|p| p.token_endpoint.clone())),
        "\"https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token\"",
    );
    let client_id = need("client_id", r.client_id(), "the application (client) id");
    let scope = match r.scope().or(preset.map(|p| p.scope.to_string())) {
        Some(s) => s,
        None if r.resource().is_some() => String::new(),
        None => need("scope", None, "\"https://outlook.office365.com/.default\""),
    };
    let secret = match (r.client_secret(), r.client_secret_file()) {
        (Some(_), Some(_)) => {
            problem(&key("client_secret"), "set client_secret or client_secret_file, not both".into());
            None
        }
        (Some(s), None) => Some(s),
        (None, Some(path)) => match std::fs::read_to_string(&path) {
            Ok(text) => Some(text.lines().next().unwrap_or("").to_string()),
            Err(e) => {
                problem(&key("client_secret_file"), format!("cannot read {}: {e}", path.display()));
                None
            }
        },
        (None, None) => {
            problem(
                &key("client_secret"),
                "auth = \"xoauth2\" needs client_secret_file (first line) or client_secret; certificate credentials are not supported yet".into(),
            );
            None
        }
    };
    if r.has_password() {
        problem(&key("password"), "a route with auth = \"xoauth2\" takes no password; remove it".into());
    }
    if !endpoint.is_empty() {
        if let Err(e) = authrelay_oauth::http::check_url(&endpoint) {
            problem(&key("token_endpoint"), e.to_string());
        }
    }
    let secret = secret?;
    if missing {
        return None;
    }
    Some(ClientCredentials {
        token_endpoint: endpoint,
        client_id,
        client_secret: secret,
        scope,
        resource: r.resource(),
    })
}
