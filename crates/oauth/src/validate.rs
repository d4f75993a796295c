//! Bearer-token validation for AUTH XOAUTH2 / OAUTHBEARER.
//!
//! A token is accepted when it is a JWT signed with an asymmetric algorithm by a key of the
//! issuer's JWKS, its `iss` is the configured issuer, its `aud` contains the configured
//! audience, it is within `exp` / `nbf` (with the configured clock skew), and it carries the
//! configured user claim. The JWKS is fetched on first use and cached; an unknown `kid` (the
//! issuer rotated its keys) triggers a refresh, at most once per [`REFRESH_INTERVAL`], so a
//! flood of tokens with made-up key ids cannot turn into a flood of requests to the issuer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};

/// Least time between two JWKS fetches caused by unknown key ids.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// Keys older than this are fetched again on the next validation (keeping the old ones if the
/// issuer cannot be reached).
pub const KEYS_TTL: Duration = Duration::from_secs(3600);
/// Most keys kept from one JWKS.
pub const MAX_KEYS: usize = 64;

/// `[oauth]` in the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuerConfig {
    /// Expected `iss`, e.g. `https://login.microsoftonline.com/<tenant>/v2.0`.
    pub issuer: String,
    /// Expected `aud` (one of the token's audiences).
    pub audience: String,
    /// Where the signing keys are; default: `jwks_uri` of `<issuer>/.well-known/openid-configuration`.
    pub jwks_uri: Option<String>,
    /// The claim naming the mailbox: `upn` (the default), `preferred_username`, `email`, …
    /// `email` is the weakest: at Entra a user or a guest tenant can set it, so a token whose
    /// `email_verified` is false is refused ([`mailbox_of`]).
    pub user_claim: String,
    /// Allowed clock skew for `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    /// Extra CA certificates (PEM) for a private issuer.
    pub ca_file: Option<PathBuf>,
}

impl IssuerConfig {
    /// The OpenID discovery document's URL.
    pub fn discovery_url(&self) -> String {
        format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'))
    }
}

/// Why a token was not accepted. Never carries the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Bad signature, issuer, audience or shape, an unknown key, or no usable user claim.
    #[error("invalid token: {0}")]
    Invalid(&'static str),
    /// Past `exp` (plus the skew).
    #[error("expired token")]
    Expired,
    /// The issuer's keys could not be fetched: an outage, not a verdict.
    #[error("cannot fetch the issuer's signing keys: {0}")]
    Unavailable(String),
}

struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    /// Keys without a `kid`; used only when the token has none and there is exactly one.
    anonymous: Vec<DecodingKey>,
    fetched_at: Option<Instant>,
    last_attempt: Option<Instant>,
}

pub struct Validator {
    config: IssuerConfig,
    http: reqwest::Client,
    keys: tokio::sync::Mutex<Keys>,
}

const ALLOWED: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

impl Validator {
    pub fn new(config: IssuerConfig) -> Result<Validator, String> {
        crate::http::check_url(&config.issuer).map_err(|e| e.to_string())?;
        if let Some(uri) = &config.jwks_uri {
            crate::http::check_url(uri).map_err(|e| e.to_string())?;
        }
        let http = crate::http::client(config.ca_file.as_deref())?;
        Ok(Validator {
            config,
            http,
            keys: tokio::sync::Mutex::new(Keys {
                by_kid: HashMap::new(),
                anonymous: vec![],
                fetched_at: None,
                last_attempt: None,
            }),
        })
    }

    pub fn config(&self) -> &IssuerConfig {
        &self.config
    }

    /// Checks the token; on success returns the mailbox its user claim names (lower-case).
    pub async fn validate(&self, token: &str) -> Result<String, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid("not a JWT"))?;
        // Only asymmetric algorithms: an HS256 token "signed" with the public key is the classic
        // algorithm-confusion attack, and `none` is no signature at all.
        if !ALLOWED.contains(&header.alg) {
            return Err(TokenError::Invalid("signature algorithm not allowed"));
        }
        let key = self.key_for(header.kid.as_deref()).await?;
        let mut validation = Validation::new(header.alg);
        validation.set_issuer(&[self.config.issuer.as_str()]);
        validation.set_audience(&[self.config.audience.as_str()]);
        validation.leeway = self.config.leeway_secs;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            match e.kind() {
                K::ExpiredSignature => TokenError::Expired,
                K::InvalidAudience => TokenError::Invalid("wrong audience"),
                K::InvalidIssuer => TokenError::Invalid("wrong issuer"),
                K::InvalidSignature => TokenError::Invalid("bad signature"),
                K::ImmatureSignature => TokenError::Invalid("not valid yet"),
                K::MissingRequiredClaim(_) => TokenError::Invalid("missing claim"),
                _ => TokenError::Invalid("does not verify"),
            }
        })?;
        mailbox_of(&data.claims, &self.config.user_claim)
    }

    async fn key_for(&self, kid: Option<&str>) -> Result<DecodingKey, TokenError> {
        let mut keys = self.keys.lock().await;
        let stale = keys.fetched_at.is_none_or(|at| at.elapsed() > KEYS_TTL);
        let known = lookup(&keys, kid).is_some();
        let may_refresh = keys.last_attempt.is_none_or(|at| at.elapsed() >= REFRESH_INTERVAL);
        if (stale || !known) && may_refresh {
            keys.last_attempt = Some(Instant::now());
            match self.fetch().await {
                Ok(set) => {
                    let (by_kid, anonymous) = parse_set(set);
                    keys.by_kid = by_kid;
                    keys.anonymous = anonymous;
                    keys.fetched_at = Some(Instant::now());
                }
                Err(e) if keys.fetched_at.is_none() => return Err(TokenError::Unavailable(e)),
                Err(e) => tracing::warn!(error = %e, "cannot refresh the OAuth issuer's keys; using the cached ones"),
            }
        }
        lookup(&keys, kid).ok_or(TokenError::Invalid("unknown signing key"))
    }

    async fn fetch(&self) -> Result<JwkSet, String> {
        let uri = match &self.config.jwks_uri {
            Some(u) => u.clone(),
            None => {
                let doc: serde_json::Value = self.get_json(&self.config.discovery_url()).await?;
                let uri = doc.get("jwks_uri").and_then(|v| v.as_str()).ok_or("discovery document has no jwks_uri")?;
                crate::http::check_url(uri).map_err(|e| e.to_string())?;
                uri.to_string()
            }
        };
        self.get_json(&uri).await
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let response = self.http.get(url).send().await.map_err(|e| format!("{url}: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("{url}: HTTP {}", response.status()));
        }
        // Bounded: a JWKS or discovery document is a few kilobytes.
        let body = response.bytes().await.map_err(|e| format!("{url}: {e}"))?;
        if body.len() > 1 << 20 {
            return Err(format!("{url}: answer larger than 1 MiB"));
        }
        serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))
    }
}

fn lookup(keys: &Keys, kid: Option<&str>) -> Option<DecodingKey> {
    match kid {
        Some(kid) => keys.by_kid.get(kid).cloned(),
        None if keys.anonymous.len() + keys.by_kid.len() == 1 => {
            keys.anonymous.first().or_else(|| keys.by_kid.values().next()).cloned()
        }
        None => None,
    }
}

/// Signing keys of a JWKS: encryption keys and keys we cannot use are skipped.
fn parse_set(set: JwkSet) -> (HashMap<String, DecodingKey>, Vec<DecodingKey>) {
    use jsonwebtoken::jwk::PublicKeyUse;
    let mut by_kid = HashMap::new();
    let mut anonymous = vec![];
    for jwk in set.keys.into_iter().take(MAX_KEYS) {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            continue;
        }
        let Ok(key) = DecodingKey::from_jwk(&jwk) else { continue };
        match jwk.common.key_id {
            Some(kid) => {
                by_kid.insert(kid, key);
            }
            None => anonymous.push(key),
        }
    }
    (by_kid, anonymous)
}

/// The mailbox a verified token's claims name, through `claim`. Empty, overlong or
/// control-character values name nobody. An `email` the issuer itself marks unverified
/// (`"email_verified": false`) names nobody either: that address is whatever its holder typed,
/// the "nOAuth" confusion that lets one tenant's user claim another's mailbox.
pub fn mailbox_of(claims: &serde_json::Value, claim: &str) -> Result<String, TokenError> {
    let user = claims.get(claim).and_then(|v| v.as_str()).unwrap_or("").trim();
    if user.is_empty() || user.len() > 320 || user.chars().any(char::is_control) {
        return Err(TokenError::Invalid("no user claim"));
    }
    if claim == "email" && claims.get("email_verified").and_then(|v| v.as_bool()) == Some(false) {
        return Err(TokenError::Invalid("email not verified"));
    }
    Ok(user.to_lowercase())
}

#[cfg(test)]
mod claim_tests {
    use super::mailbox_of;
    use serde_json::json;

    #[test]
    fn the_configured_claim_names_the_mailbox() {
        let claims = json!({"upn": "Scanner@Contoso.com", "email": "ceo@contoso.com"});
        assert_eq!(mailbox_of(&claims, "upn").unwrap(), "scanner@contoso.com");
        assert!(mailbox_of(&claims, "preferred_username").is_err(), "a missing claim names nobody");
        assert!(mailbox_of(&json!({"upn": "a\nb@contoso.com"}), "upn").is_err());
        assert!(mailbox_of(&json!({"upn": 42}), "upn").is_err());
    }

    #[test]
    fn an_unverified_email_names_nobody() {
        let unverified = json!({"email": "ceo@contoso.com", "email_verified": false});
        assert!(mailbox_of(&unverified, "email").is_err());
        let verified = json!({"email": "ceo@contoso.com", "email_verified": true});
        assert_eq!(mailbox_of(&verified, "email").unwrap(), "ceo@contoso.com");
        // Issuers that do not say (Entra's v2 tokens) are taken at their word.
        assert_eq!(mailbox_of(&json!({"email": "ceo@contoso.com"}), "email").unwrap(), "ceo@contoso.com");
        // The flag concerns email only.
        assert_eq!(
            mailbox_of(&json!({"upn": "x@contoso.com", "email_verified": false}), "upn").unwrap(),
            "x@contoso.com"
        );
    }
}
