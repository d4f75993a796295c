//! The HTTP vocabulary both surfaces share, and nothing else: the JSON error value (with the
//! one mapping from the operations layer's errors), cookies and the language they carry,
//! extractors whose rejections are JSON errors, form decoding and the security headers. A leaf:
//! it imports no other module of this crate.

use authrelay_directory::DirectoryError;
use authrelay_i18n::{t, Arg, Lang};
use authrelay_ops::{OpsError, Permission, Role};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::header::{HeaderMap, HeaderValue, ACCEPT_LANGUAGE, COOKIE};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

pub use authrelay_ops::ops::random_token;

pub const SESSION_COOKIE: &str = "ar_session";
/// Double-submit token for forms shown before sign-in (the sign-in form itself).
pub const PRE_CSRF_COOKIE: &str = "ar_csrf";
pub const LANG_COOKIE: &str = "ar_lang";
pub const CSRF_HEADER: &str = "x-csrf-token";
/// Largest form body the CSRF guard reads.
pub const MAX_FORM: usize = 64 * 1024;

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

impl ApiError {
    /// The one mapping from an operation's refusal to an HTTP answer.
    pub fn ops(lang: Lang, e: OpsError) -> Self {
        use StatusCode as S;
        let unprocessable =
            |code, id: &str, args: &[(&str, Arg<'_>)]| ApiError::new(S::UNPROCESSABLE_ENTITY, code, lang, id, args);
        match e {
            OpsError::Forbidden { needed, have } => ApiError::forbidden(lang, needed, have),
            OpsError::Directory(d) => directory_error(lang, d),
            OpsError::BadAddress { input, .. } => {
                unprocessable("bad-address", "api-err-bad-address", &[("address", Arg::Str(&input))])
            }
            OpsError::BadDomain { input } => {
                unprocessable("bad-domain", "api-err-bad-domain", &[("domain", Arg::Str(&input))])
            }
            OpsError::NoDomain => unprocessable("bad-domain", "api-err-bad-domain", &[("domain", Arg::Str(""))]),
            OpsError::BadOrgName => unprocessable("bad-org-name", "api-err-bad-org-name", &[]),
            OpsError::BadDisplayName => unprocessable("bad-display-name", "api-err-bad-display-name", &[]),
            OpsError::BadAppPasswordName => {
                unprocessable("bad-app-password-name", "api-err-bad-app-password-name", &[])
            }
            OpsError::BadDeviceCredentialName => {
                unprocessable("bad-device-credential-name", "api-err-bad-device-credential-name", &[])
            }
            OpsError::BadTokenName => unprocessable("bad-token-name", "api-err-bad-token-name", &[]),
            OpsError::BadRole { input } => unprocessable("bad-role", "api-err-bad-role", &[("role", Arg::Str(&input))]),
            OpsError::BadCidr { value } => {
                unprocessable("bad-cidr", "api-err-bad-cidr", &[("value", Arg::Str(&value))])
            }
            OpsError::BadExpiry { value } => {
                unprocessable("bad-expiry", "api-err-bad-expiry", &[("value", Arg::Str(&value))])
            }
            OpsError::ExpiryPast { value } => {
                unprocessable("bad-expiry", "api-err-expiry-past", &[("value", Arg::Str(&value))])
            }
            OpsError::WeakPassword(w) => {
                use authrelay_directory::secrets::{WeakPassword, MIN_PASSWORD_LEN};
                let id = match w {
                    WeakPassword::TooShort { .. } => "api-err-password-too-short",
                    WeakPassword::TooFewKinds => "api-err-password-few-kinds",
                    WeakPassword::ContainsAddress => "api-err-password-contains-address",
                    WeakPassword::Common => "api-err-password-common",
                };
                unprocessable("weak-password", id, &[("min", Arg::from(MIN_PASSWORD_LEN))])
            }
            OpsError::AdminExists(a) => {
                ApiError::new(S::CONFLICT, "admin-exists", lang, "api-err-admin-exists", &[("address", Arg::Str(&a))])
            }
            OpsError::UnknownAdmin(_) => ApiError::new(S::NOT_FOUND, "unknown-admin", lang, "api-err-not-found", &[]),
            OpsError::UnknownToken => ApiError::new(S::NOT_FOUND, "unknown-token", lang, "api-err-unknown-token", &[]),
            OpsError::NothingToSet => {
                let detail = t(lang, "api-detail-nothing-to-change", &[]);
                unprocessable("bad-request", "api-err-bad-request", &[("detail", Arg::Str(&detail))])
            }
            OpsError::OtherOrg { domain, org } => unprocessable(
                "other-org",
                "api-err-other-org",
                &[("domain", Arg::Str(&domain)), ("org", Arg::Str(&org))],
            ),
            OpsError::LastGlobalAdmin(a) => ApiError::new(
                S::CONFLICT,
                "last-global-admin",
                lang,
                "api-err-last-global-admin",
                &[("address", Arg::Str(&a))],
            ),
            OpsError::OwnAccount => ApiError::new(S::CONFLICT, "own-account", lang, "api-err-own-account", &[]),
            OpsError::BadSelector(s) => {
                unprocessable("bad-selector", "api-err-bad-selector", &[("selector", Arg::Str(&s))])
            }
            OpsError::BadAlgorithm(a) => {
                unprocessable("bad-algorithm", "api-err-bad-algorithm", &[("algorithm", Arg::Str(&a))])
            }
            OpsError::DkimExists { domain, selector } => ApiError::new(
                S::CONFLICT,
                "dkim-exists",
                lang,
                "api-err-dkim-exists",
                &[("domain", Arg::Str(&domain)), ("selector", Arg::Str(&selector))],
            ),
            OpsError::UnknownDkimKey { domain, selector } => ApiError::new(
                S::NOT_FOUND,
                "unknown-dkim-key",
                lang,
                "api-err-unknown-dkim-key",
                &[("domain", Arg::Str(&domain)), ("selector", Arg::Str(&selector))],
            ),
            OpsError::DkimStore(e) => ApiError::storage(lang, e),
        }
    }
}

/// Results of the operations layer answered as API errors in the caller's language.
pub trait OrApi<T> {
    fn api(self, lang: Lang) -> Result<T, ApiError>;
}

impl<T> OrApi<T> for Result<T, OpsError> {
    fn api(self, lang: Lang) -> Result<T, ApiError> {
        self.map_err(|e| ApiError::ops(lang, e))
    }
}

impl<T> OrApi<T> for Result<T, DirectoryError> {
    fn api(self, lang: Lang) -> Result<T, ApiError> {
        self.map_err(|e| directory_error(lang, e))
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

/// One field of an `application/x-www-form-urlencoded` body.
pub fn form_field(body: &[u8], name: &str) -> Option<String> {
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
// Extractors whose rejections are JSON errors like every other error.

pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let lang = lang_of(req.headers());
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(Body(v)),
            Err(r) => Err(bad_input(lang, r.status(), &r.body_text())),
        }
    }
}

pub struct Params<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let lang = lang_of(&parts.headers);
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(v)) => Ok(Params(v)),
            Err(r) => Err(bad_input(lang, StatusCode::BAD_REQUEST, &r.body_text())),
        }
    }
}

pub struct PathArgs<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for PathArgs<T> {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let lang = lang_of(&parts.headers);
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(PathArgs(v)),
            Err(r) => Err(bad_input(lang, StatusCode::BAD_REQUEST, &r.body_text())),
        }
    }
}

pub fn bad_input(lang: Lang, status: StatusCode, detail: &str) -> ApiError {
    let status = if status.is_client_error() { status } else { StatusCode::BAD_REQUEST };
    let detail = input_detail(lang, detail);
    ApiError {
        status,
        code: "bad-request",
        message: t(lang, "api-err-bad-request", &[("detail", Arg::Str(&detail))]),
        required_roles: None,
    }
}

/// The reason a request body or query could not be read, in `lang`. The extractors' texts are
/// English (serde's); the common shapes become catalogue messages naming the field or value,
/// anything else keeps the technical text after a localized lead.
pub fn input_detail(lang: Lang, raw: &str) -> String {
    let raw: String = raw.chars().take(300).collect();
    let quoted = |after: &str| -> Option<String> {
        let rest = raw.split(after).nth(1)?;
        let rest = rest.strip_prefix('`')?;
        Some(rest.split('`').next()?.to_string())
    };
    if let Some(field) = quoted("missing field ") {
        return t(lang, "api-detail-missing-field", &[("field", Arg::Str(&field))]);
    }
    if let Some(field) = quoted("unknown field ") {
        return t(lang, "api-detail-unknown-field", &[("field", Arg::Str(&field))]);
    }
    if let Some(value) = quoted("unknown variant ") {
        let choices = raw.split("expected one of ").nth(1).or_else(|| raw.split("expected ").nth(1)).unwrap_or("");
        let choices = choices.split(" at line").next().unwrap_or("").replace('`', "");
        return t(lang, "api-detail-unknown-value", &[("value", Arg::Str(&value)), ("choices", Arg::Str(&choices))]);
    }
    if raw.contains("invalid type") || raw.contains("invalid value") || raw.contains("invalid digit") {
        return t(lang, "api-detail-invalid-value", &[("technical", Arg::Str(&raw))]);
    }
    if raw.contains("Content-Type") {
        return t(lang, "api-detail-content-type", &[]);
    }
    if raw.contains("EOF") || raw.contains("expected") || raw.contains("syntax") {
        return t(lang, "api-detail-not-json", &[("technical", Arg::Str(&raw))]);
    }
    t(lang, "api-detail-other", &[("technical", Arg::Str(&raw))])
}

/// Largest request body the admin center reads (JSON or form); larger ones get 413 unread.
pub const MAX_BODY: usize = 64 * 1024;
/// Largest body of the Microsoft 365 import's pages (`/import/…`): the exports of a tenant
/// with some thousands of senders, uploaded and then posted back to apply the plan.
pub const MAX_UPLOAD: usize = 2 * 1024 * 1024;

/// The body limit of a request to `path`.
pub fn body_limit(path: &str) -> usize {
    if path.starts_with("/import/") {
        MAX_UPLOAD
    } else {
        MAX_BODY
    }
}
/// Longest request target (path and query); longer ones get 414.
pub const MAX_URI: usize = 8 * 1024;

/// Whether a Host header value names this admin center: `localhost`, an IP literal, or one of
/// `allowed` (any port). Anything else may be a DNS-rebinding page of another site.
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let host = host.trim();
    let name = if let Some(rest) = host.strip_prefix('[') {
        // [v6]:port
        return rest.split_once(']').is_some_and(|(ip, _)| ip.parse::<std::net::Ipv6Addr>().is_ok());
    } else {
        host.rsplit_once(':').filter(|(_, p)| p.chars().all(|c| c.is_ascii_digit())).map_or(host, |(h, _)| h)
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.parse::<std::net::Ipv4Addr>().is_ok() || allowed.contains(&name)
}

/// `input` if it is a path of this site and nothing else: it starts with one `/`, and has no
/// character a browser would drop or rewrite before resolving it (control characters such as a
/// tab or line break, spaces, backslashes, non-ASCII), so `/\t/evil.example/` cannot become
/// `//evil.example/`. Anything else is refused (None), not repaired.
pub fn local_path(input: &str) -> Option<&str> {
    let ok_char = |c: char| c.is_ascii_graphic() && c != '\\';
    let mut chars = input.chars();
    let ok = input.len() <= 1024
        && chars.next() == Some('/')
        && !matches!(chars.next(), Some('/'))
        && input.chars().all(ok_char);
    let uri: Option<axum::http::Uri> = ok.then(|| input.parse().ok()).flatten();
    uri.filter(|u| u.scheme().is_none() && u.authority().is_none()).map(|_| input)
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
    fn only_local_paths_are_followed_back() {
        for good in ["/", "/users", "/users/a%40b.example?tab=account", "/org/Contoso/mail"] {
            assert_eq!(local_path(good), Some(good), "{good:?}");
        }
        let long = format!("/{}", "a".repeat(2000));
        for bad in [
            "//evil.example/",
            "/\\evil.example/",
            "/\t/evil.example/",
            "/\n/evil.example/",
            "/\r\n/evil.example/",
            "/ /evil.example",
            "\\\\evil.example",
            "https://evil.example/",
            "http:evil.example",
            "javascript:alert(1)",
            "evil.example",
            "",
            "/\u{3000}/evil.example",
            "/\u{0}/x",
            long.as_str(),
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hosts_are_loopback_names_ip_literals_or_configured() {
        let allowed = vec!["admin.contoso.com".to_string()];
        for good in [
            "127.0.0.1:8025",
            "localhost:8025",
            "LOCALHOST",
            "[::1]:8025",
            "192.0.2.7",
            "admin.contoso.com",
            "Admin.Contoso.com.:443",
        ] {
            assert!(host_allowed(good, &allowed), "{good}");
        }
        for bad in [
            "evil.example",
            "evil.example:8025",
            "admin.contoso.com.evil.example",
            "localhost.evil.example",
            "[::1",
            "",
            "127.0.0.1.evil.example",
        ] {
            assert!(!host_allowed(bad, &allowed), "{bad}");
        }
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("x=1; ar_session=abc; ar_lang=ko"));
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(lang_of(&h), Lang::Ko);
    }
}
