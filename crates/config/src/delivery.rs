//! `[delivery]` and `[[routes]]` of the configuration file, turned into
//! [`authrelay_delivery::DeliveryConfig`]. Every problem is reported with its key, like the
//! rest of the file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use authrelay_delivery::sender_map::{Rewrite, SenderMap};
use authrelay_delivery::{DeliveryConfig, Graph, Route, RouteKind, Schedule, Smarthost, TlsMode};
use authrelay_oauth::client_credentials::{Preset, PresetAuth};
use authrelay_oauth::ClientCredentials;
use serde::Deserialize;

use crate::problem::Problem;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDelivery {
    first_retry_secs: Option<u64>,
    retry_growth: Option<f64>,
    max_retry_interval_secs: Option<u64>,
    give_up_after_secs: Option<u64>,
    rate_per_minute: Option<u32>,
    sent_copy: Option<bool>,
    nameservers: Option<Vec<String>>,
    mx_port: Option<u16>,
    connect_timeout_secs: Option<u64>,
    command_timeout_secs: Option<u64>,
    scan_interval_ms: Option<u64>,
    concurrency: Option<usize>,
    connection_idle_secs: Option<u64>,
    messages_per_connection: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRoute {
    domains: Vec<String>,
    kind: String,
    host: Option<String>,
    port: Option<u16>,
    tls: Option<String>,
    tls_name: Option<String>,
    user: Option<String>,
    password: Option<String>,
    password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    /// `"password"` (default when user is set) or `"xoauth2"` (client-credentials grant).
    auth: Option<String>,
    /// `"microsoft365"` or `"google"`: host, port, token endpoint and scope filled in.
    preset: Option<String>,
    /// Microsoft 365 tenant id or `contoso.onmicrosoft.com`, for the microsoft365 preset.
    tenant: Option<String>,
    token_endpoint: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    client_secret_file: Option<PathBuf>,
    /// Certificate credentials (`private_key_jwt`): the certificate uploaded to the app
    /// registration and its private key (`authrelay oauth keygen` writes both).
    client_certificate_file: Option<PathBuf>,
    client_key_file: Option<PathBuf>,
    /// Google: the service account's JSON key (domain-wide delegation; `sub` = `user`).
    service_account_file: Option<PathBuf>,
    scope: Option<String>,
    resource: Option<String>,
    /// kind = "graph": keep a copy in Sent Items (default true).
    save_to_sent_items: Option<bool>,
    /// kind = "graph": Graph's base URL (default https://graph.microsoft.com/v1.0).
    graph_url: Option<String>,
    /// Sender mapping: "off" (default), "envelope", "from" or "both".
    rewrite_sender: Option<String>,
    /// Senders the upstream accepts as they are: addresses, or "@domain".
    send_as: Option<Vec<String>>,
    /// The address a refused sender becomes (default: `user`).
    sender_identity: Option<String>,
}

/// Graph's public endpoint.
pub const GRAPH_URL: &str = "https://graph.microsoft.com/v1.0";

pub fn build(
    file: FileDelivery,
    routes: Vec<FileRoute>,
    data_dir: &Path,
    hostname: &str,
    problems: &mut Vec<Problem>,
) -> DeliveryConfig {
    let mut c = DeliveryConfig::new(hostname, data_dir);
    let d = Schedule::default();
    c.schedule = Schedule {
        first_retry: file.first_retry_secs.map(Duration::from_secs).unwrap_or(d.first_retry),
        growth: file.retry_growth.unwrap_or(d.growth),
        max_interval: file.max_retry_interval_secs.map(Duration::from_secs).unwrap_or(d.max_interval),
        give_up_after: file.give_up_after_secs.map(Duration::from_secs).unwrap_or(d.give_up_after),
    };
    let mut problem = |key: &str, message: String| problems.push(Problem { key: key.into(), message });
    if !(1.0..=10.0).contains(&c.schedule.growth) {
        problem("delivery.retry_growth", "must be between 1.0 and 10.0".into());
    }
    for (key, v) in [
        ("delivery.first_retry_secs", c.schedule.first_retry.as_secs()),
        ("delivery.max_retry_interval_secs", c.schedule.max_interval.as_secs()),
        ("delivery.give_up_after_secs", c.schedule.give_up_after.as_secs()),
    ] {
        if v == 0 {
            problem(key, "must be greater than 0".into());
        }
    }
    c.rate_per_minute = file.rate_per_minute.unwrap_or(c.rate_per_minute);
    if c.rate_per_minute == 0 {
        problem("delivery.rate_per_minute", "must be greater than 0 (30 is Microsoft's limit)".into());
    }
    c.sent_copy = file.sent_copy.unwrap_or(false);
    for ns in file.nameservers.unwrap_or_default() {
        let parsed =
            ns.parse::<SocketAddr>().or_else(|_| ns.parse::<std::net::IpAddr>().map(|ip| SocketAddr::new(ip, 53)));
        match parsed {
            Ok(a) => c.nameservers.push(a),
            Err(_) => problem("delivery.nameservers", format!("'{ns}' is not an IP address or address:port")),
        }
    }
    c.mx_port = file.mx_port.unwrap_or(25);
    c.connect_timeout = Duration::from_secs(file.connect_timeout_secs.unwrap_or(30).max(1));
    c.command_timeout = Duration::from_secs(file.command_timeout_secs.unwrap_or(300).max(1));
    c.scan_interval = Duration::from_millis(file.scan_interval_ms.unwrap_or(1000).clamp(10, 60_000));
    c.concurrency = file.concurrency.unwrap_or(16).max(1);
    c.connection_idle = file.connection_idle_secs.map(Duration::from_secs).unwrap_or(c.connection_idle);
    c.messages_per_connection = file.messages_per_connection.unwrap_or(c.messages_per_connection);
    if c.messages_per_connection == 0 {
        problem("delivery.messages_per_connection", "must be at least 1 (1: a new connection per message)".into());
    }

    for (i, r) in routes.into_iter().enumerate() {
        let key = |field: &str| format!("routes[{i}].{field}");
        let domains: Vec<String> =
            r.domains.iter().map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase()).collect();
        if domains.is_empty() {
            problem(&key("domains"), "list at least one domain, or \"*\" for every domain".into());
        }
        for d in &domains {
            if d != "*" && !authrelay_core::address::is_domain(d) {
                problem(&key("domains"), format!("'{d}' is not a domain"));
            }
        }
        let kind = match r.kind.as_str() {
            "mx" => RouteKind::Mx,
            "smarthost" => {
                let preset = match r
                    .preset
                    .as_deref()
                    .map(|p| authrelay_oauth::client_credentials::preset(p, r.tenant.as_deref()))
                {
                    Some(Ok(p)) => Some(p),
                    Some(Err(e)) => {
                        problem(&key("preset"), e);
                        None
                    }
                    None => None,
                };
                let oauth = route_oauth(&r, preset.as_ref(), &key, &mut problem);
                let Some(host) =
                    r.host.clone().or(preset.as_ref().map(|p| p.host.to_string())).filter(|h| !h.is_empty())
                else {
                    problem(&key("host"), "a smarthost route needs host, e.g. \"smtp.office365.com\"".into());
                    continue;
                };
                let tls = match r.tls.as_deref().unwrap_or("starttls").parse::<TlsMode>() {
                    Ok(t) => t,
                    Err(()) => {
                        problem(&key("tls"), "must be \"implicit\", \"starttls\" or \"opportunistic\"".into());
                        TlsMode::StartTls
                    }
                };
                let port = r.port.or(preset.as_ref().map(|p| p.port)).unwrap_or(if tls == TlsMode::Implicit {
                    465
                } else {
                    587
                });
                let password = match (&r.password, &r.password_file) {
                    (Some(_), Some(_)) => {
                        problem(&key("password"), "set password or password_file, not both".into());
                        None
                    }
                    (Some(p), None) => Some(p.clone()),
                    (None, Some(path)) => match std::fs::read_to_string(path) {
                        Ok(text) => Some(text.lines().next().unwrap_or("").to_string()),
                        Err(e) => {
                            problem(&key("password_file"), format!("cannot read {}: {e}", path.display()));
                            None
                        }
                    },
                    (None, None) => None,
                };
                // A route meant for OAuth whose credential was refused was reported already.
                let wants_oauth = match r.auth.as_deref() {
                    Some(a) => a == "xoauth2",
                    None => preset.as_ref().is_some_and(|p| p.auth == PresetAuth::OAuth),
                };
                if !wants_oauth && r.user.is_some() != password.is_some() && problems_is_clean(&r) {
                    problem(&key("user"), "set both user and password (or password_file), or neither".into());
                }
                // Credentials over unverified TLS go to whoever answers (a downgrade or an
                // interception needs no certificate): refuse the combination.
                if tls == TlsMode::Opportunistic && (r.has_password() || r.user.is_some() || oauth.is_some()) {
                    problem(
                        &key("tls"),
                        "\"opportunistic\" sends the password or token without a verified certificate; use tls = \"starttls\" or \"implicit\" (with ca_file for a private CA), or remove the credentials".into(),
                    );
                }
                if let Some(ca) = &r.ca_file {
                    if !ca.is_file() {
                        problem(&key("ca_file"), format!("no file at {}", ca.display()));
                    }
                }
                RouteKind::Smarthost(Smarthost {
                    host,
                    port,
                    tls,
                    tls_name: r.tls_name.clone(),
                    user: r.user.clone(),
                    password,
                    ca_file: r.ca_file.clone(),
                    oauth: oauth.map(Box::new),
                })
            }
            "graph" => {
                let preset = match r.preset.as_deref() {
                    None | Some("microsoft365") => {
                        let endpoint = match r.tenant.as_deref() {
                            Some(tenant) => {
                                authrelay_oauth::client_credentials::entra_token_endpoint("microsoft365", Some(tenant))
                                    .unwrap_or_else(|e| {
                                        problem(&key("tenant"), e);
                                        String::new()
                                    })
                            }
                            None => String::new(),
                        };
                        Preset {
                            host: "graph.microsoft.com",
                            port: 443,
                            auth: authrelay_oauth::client_credentials::PresetAuth::OAuth,
                            token_endpoint: endpoint,
                            scope: authrelay_oauth::client_credentials::GRAPH_SCOPE,
                        }
                    }
                    Some(other) => {
                        problem(
                            &key("preset"),
                            format!("a graph route takes preset = \"microsoft365\" or none, not '{other}'"),
                        );
                        continue;
                    }
                };
                if r.auth.as_deref().is_some_and(|a| a != "xoauth2") || r.has_password() || r.host.is_some() {
                    problem(
                        &key("kind"),
                        "a graph route signs in with OAuth only and takes no host, port, tls or password".into(),
                    );
                }
                let oauth = route_oauth(&r, Some(&preset), &key, &mut problem);
                let base_url = r.graph_url.clone().unwrap_or_else(|| GRAPH_URL.to_string());
                if let Err(e) = authrelay_oauth::http::check_url(&base_url) {
                    problem(&key("graph_url"), e.to_string());
                }
                if let Some(ca) = &r.ca_file {
                    if !ca.is_file() {
                        problem(&key("ca_file"), format!("no file at {}", ca.display()));
                    }
                }
                let Some(oauth) = oauth else { continue };
                RouteKind::Graph(Graph {
                    user: r.user.clone().unwrap_or_default(),
                    base_url,
                    save_to_sent_items: r.save_to_sent_items.unwrap_or(true),
                    ca_file: r.ca_file.clone(),
                    oauth: Box::new(oauth),
                })
            }
            other => {
                problem(&key("kind"), format!("'{other}' is not a route kind; use \"smarthost\", \"graph\" or \"mx\""));
                continue;
            }
        };
        if matches!(kind, RouteKind::Mx) && (r.host.is_some() || r.user.is_some()) {
            problem(&key("kind"), "an mx route takes no host or credentials; use kind = \"smarthost\"".into());
        }
        if !matches!(kind, RouteKind::Graph(_)) && (r.save_to_sent_items.is_some() || r.graph_url.is_some()) {
            problem(&key("kind"), "save_to_sent_items and graph_url belong to kind = \"graph\" routes".into());
        }
        let sender = sender_map(&r, &key, &mut problem);
        c.routes.push(Route { domains, kind, sender });
    }
    c
}

/// The route's sender mapping (`rewrite_sender`, `send_as`, `sender_identity`).
fn sender_map(r: &FileRoute, key: &dyn Fn(&str) -> String, problem: &mut dyn FnMut(&str, String)) -> SenderMap {
    let rewrite = match r.rewrite_sender.as_deref().unwrap_or("off").parse::<Rewrite>() {
        Ok(w) => w,
        Err(()) => {
            problem(&key("rewrite_sender"), "must be \"off\", \"envelope\", \"from\" or \"both\"".into());
            Rewrite::Off
        }
    };
    let is_address = |a: &str| {
        a.rsplit_once('@').is_some_and(|(local, domain)| {
            authrelay_core::address::is_dot_atom(local) && authrelay_core::address::is_domain(domain)
        })
    };
    let identity = r.sender_identity.clone().or(r.user.clone()).unwrap_or_default().trim().to_ascii_lowercase();
    if rewrite != Rewrite::Off && !is_address(&identity) {
        problem(
            &key("sender_identity"),
            "rewrite_sender needs the relay identity: set sender_identity (or user) to the address the upstream lets it send as".into(),
        );
    }
    let mut send_as = vec![];
    for entry in r.send_as.clone().unwrap_or_default() {
        let entry = entry.trim().to_ascii_lowercase();
        let valid = match entry.strip_prefix('@') {
            Some(domain) => authrelay_core::address::is_domain(domain),
            None => is_address(&entry),
        };
        if !valid {
            problem(&key("send_as"), format!("'{entry}' is not an address or @domain"));
        }
        send_as.push(entry);
    }
    SenderMap { rewrite, identity, send_as }
}

impl FileRoute {
    pub fn auth(&self) -> Option<String> {
        self.auth.clone()
    }
    pub fn user_name(&self) -> Option<String> {
        self.user.clone()
    }
    pub fn token_endpoint(&self) -> Option<String> {
        self.token_endpoint.clone()
    }
    pub fn client_id(&self) -> Option<String> {
        self.client_id.clone()
    }
    pub fn client_secret(&self) -> Option<String> {
        self.client_secret.clone()
    }
    pub fn client_secret_file(&self) -> Option<PathBuf> {
        self.client_secret_file.clone()
    }
    pub fn scope(&self) -> Option<String> {
        self.scope.clone()
    }
    pub fn resource(&self) -> Option<String> {
        self.resource.clone()
    }
    pub fn has_password(&self) -> bool {
        self.password.is_some() || self.password_file.is_some()
    }
}

/// A password_file that could not be read was reported already; do not report the pair too.
fn problems_is_clean(r: &FileRoute) -> bool {
    r.password_file.as_ref().is_none_or(|p| p.is_file())
}
// ---------------------------------------------------------------------------------------------
// The OAuth keys of a smarthost route (`auth = "xoauth2"`, `preset`, `token_endpoint`, `client_id`,
// `client_secret` / `client_secret_file`, `scope`, `resource`), checked into
// [`authrelay_oauth::ClientCredentials`].

/// `Some` when the route signs in with XOAUTH2; every problem goes to `problem`.
pub fn route_oauth(
    r: &FileRoute,
    preset: Option<&Preset>,
    key: &dyn Fn(&str) -> String,
    problem: &mut dyn FnMut(&str, String),
) -> Option<ClientCredentials> {
    use authrelay_oauth::assertion::{ClientCertificate, KeyError, ServiceAccountKey};
    use authrelay_oauth::Credential;
    let wants = match r.auth().as_deref() {
        Some("xoauth2") => true,
        None => preset.is_some_and(|p| p.auth == PresetAuth::OAuth),
        Some("password") => false,
        Some(other) => {
            problem(&key("auth"), format!("'{other}' is not an auth method; use \"password\" or \"xoauth2\""));
            return None;
        }
    };
    if !wants {
        return None;
    }
    let service_account = match &r.service_account_file {
        Some(path) => match ServiceAccountKey::load(path) {
            Ok(k) => Some(k),
            Err(KeyError::Read { path, reason }) => {
                problem(&key("service_account_file"), format!("cannot read {}: {reason}", path.display()));
                None
            }
            Err(KeyError::NoKey(path)) => {
                problem(
                    &key("service_account_file"),
                    format!("{} holds no RSA private key (PEM) usable for RS256", path.display()),
                );
                None
            }
            Err(_) => {
                problem(
                    &key("service_account_file"),
                    format!(
                        "{} is not a Google service-account key file (JSON with client_email and private_key)",
                        path.display()
                    ),
                );
                None
            }
        },
        None => None,
    };
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
    let user = need("user", r.user_name(), "\"relay@contoso.com\" (the mailbox it sends as)");
    let google = r.preset.as_deref() == Some("google");
    let endpoint = need(
        "token_endpoint",
        r.token_endpoint()
            .or(preset.filter(|p| !p.token_endpoint.is_empty()).map(|p| p.token_endpoint.clone()))
            .or(service_account.as_ref().and_then(|k| k.token_uri.clone())),
        "\"https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token\"",
    );
    let client_id = match &service_account {
        Some(k) => k.client_email.clone(),
        None if r.service_account_file.is_some() => String::new(),
        None => need("client_id", r.client_id(), "the application (client) id"),
    };
    let scope = match r.scope().or(preset.filter(|p| !p.scope.is_empty()).map(|p| p.scope.to_string())) {
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
        (None, None) => None,
    };
    let certificate = match (&r.client_certificate_file, &r.client_key_file) {
        (Some(cert), Some(k)) => match ClientCertificate::load(cert, k) {
            Ok(c) => Some(c),
            Err(KeyError::Read { path, reason }) => {
                problem(&key("client_certificate_file"), format!("cannot read {}: {reason}", path.display()));
                None
            }
            Err(KeyError::NoCertificate(path)) => {
                problem(&key("client_certificate_file"), format!("{} holds no PEM certificate", path.display()));
                None
            }
            Err(_) => {
                problem(
                    &key("client_key_file"),
                    format!("{} holds no RSA private key (PEM) usable for RS256", k.display()),
                );
                None
            }
        },
        (Some(_), None) | (None, Some(_)) => {
            problem(
                &key("client_certificate_file"),
                "set both client_certificate_file and client_key_file (authrelay oauth keygen writes them)".into(),
            );
            None
        }
        (None, None) => None,
    };
    let given = [
        r.client_secret().is_some() || r.client_secret_file().is_some(),
        r.client_certificate_file.is_some() || r.client_key_file.is_some(),
        r.service_account_file.is_some(),
    ];
    let credential = match given.iter().filter(|g| **g).count() {
        0 => {
            problem(
                &key("client_secret"),
                "auth = \"xoauth2\" needs a credential: client_certificate_file and client_key_file, client_secret_file (first line) or client_secret, or service_account_file (Google)".into(),
            );
            None
        }
        1 if google && !given[2] => {
            problem(
                &key("service_account_file"),
                "Google has no client-credentials grant: set service_account_file to the service account's JSON key (with domain-wide delegation)".into(),
            );
            None
        }
        1 => match (secret, certificate, service_account) {
            (Some(s), _, _) => Some(Credential::Secret(s)),
            (_, Some(c), _) => Some(Credential::Certificate(std::sync::Arc::new(c))),
            (_, _, Some(k)) => Some(Credential::ServiceAccount { key: std::sync::Arc::new(k), subject: user }),
            _ => None,
        },
        _ => {
            problem(
                &key("client_secret"),
                "set one credential: a client secret, a certificate, or a service account key".into(),
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
    let credential = credential?;
    if missing {
        return None;
    }
    Some(ClientCredentials { token_endpoint: endpoint, client_id, credential, scope, resource: r.resource() })
}

#[cfg(test)]
mod tests {
    use crate::config::{load, Overrides};
    use authrelay_delivery::sender_map::Rewrite;
    use authrelay_delivery::RouteKind;
    use authrelay_oauth::Credential;

    /// The route tables of `routes` (TOML after `[[routes]]` headers), or the problems' keys
    /// and texts.
    fn routes(text: &str) -> Result<Vec<authrelay_delivery::Route>, Vec<(String, String)>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        load(Some(&path), Some(dir.path()), &Overrides::default())
            .map(|e| e.delivery.routes)
            .map_err(|ps| ps.into_iter().map(|p| (p.key, p.message)).collect())
    }

    fn keys(dir: &std::path::Path) -> String {
        authrelay_oauth::assertion::generate(dir, "test", 1).unwrap();
        format!(
            "client_certificate_file = \"{}\"\nclient_key_file = \"{}\"",
            dir.join("client-cert.pem").display(),
            dir.join("client-key.pem").display()
        )
    }

    #[test]
    fn a_graph_route_with_a_certificate_and_sender_mapping() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "[[routes]]\ndomains = [\"*\"]\nkind = \"graph\"\npreset = \"microsoft365\"\ntenant = \"contoso.onmicrosoft.com\"\n\
             user = \"relay@contoso.com\"\nclient_id = \"app\"\n{}\nrewrite_sender = \"from\"\nsend_as = [\"Scanner@Contoso.com\", \"@fabrikam.com\"]\n",
            keys(dir.path())
        );
        let r = routes(&text).unwrap();
        let RouteKind::Graph(g) = &r[0].kind else { panic!("{:?}", r[0].kind) };
        assert_eq!(
            (g.user.as_str(), g.base_url.as_str(), g.save_to_sent_items),
            ("relay@contoso.com", super::GRAPH_URL, true)
        );
        assert_eq!(g.oauth.scope, "https://graph.microsoft.com/.default");
        assert!(g.oauth.token_endpoint.ends_with("/contoso.onmicrosoft.com/oauth2/v2.0/token"));
        assert!(matches!(g.oauth.credential, Credential::Certificate(_)));
        assert_eq!(r[0].sender.rewrite, Rewrite::From);
        assert_eq!(r[0].sender.identity, "relay@contoso.com");
        assert_eq!(r[0].sender.send_as, ["scanner@contoso.com", "@fabrikam.com"]);
    }

    #[test]
    fn credential_and_graph_problems_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let cert = keys(dir.path());
        let smarthost = "[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\nhost = \"smtp.example.net\"\nuser = \"relay@contoso.com\"\n";
        let cases = [
            (format!("{smarthost}preset = \"microsoft365\"\ntenant = \"t\"\nclient_id = \"a\"\nclient_secret = \"s\"\n{cert}"), "routes[0].client_secret", "set one credential"),
            (format!("{smarthost}preset = \"microsoft365\"\ntenant = \"t\"\nclient_id = \"a\""), "routes[0].client_secret", "needs a credential"),
            (format!("{smarthost}preset = \"google\"\nclient_secret = \"s\"\nclient_id = \"a\""), "routes[0].service_account_file", "Google has no client-credentials grant"),
            (format!("{smarthost}auth = \"xoauth2\"\ntoken_endpoint = \"https://idp.example/token\"\nscope = \"s\"\nclient_id = \"a\"\nclient_certificate_file = \"/nonexistent.pem\""), "routes[0].client_certificate_file", "set both client_certificate_file and client_key_file"),
            (format!("{smarthost}preset = \"google\"\nservice_account_file = \"{}\"", dir.path().join("client-cert.pem").display()), "routes[0].service_account_file", "is not a Google service-account key file"),
            ("[[routes]]\ndomains = [\"*\"]\nkind = \"graph\"\npreset = \"google\"\n".to_string(), "routes[0].preset", "a graph route takes preset"),
            (format!("[[routes]]\ndomains = [\"*\"]\nkind = \"graph\"\ntenant = \"t\"\nuser = \"r@contoso.com\"\nclient_id = \"a\"\n{cert}\nhost = \"smtp.office365.com\""), "routes[0].kind", "takes no host"),
            (format!("{smarthost}password = \"p\"\nsave_to_sent_items = false"), "routes[0].kind", "belong to kind = \"graph\""),
            ("[[routes]]\ndomains = [\"*\"]\nkind = \"mx\"\nrewrite_sender = \"both\"\n".to_string(), "routes[0].sender_identity", "needs the relay identity"),
            (format!("{smarthost}password = \"p\"\nrewrite_sender = \"always\""), "routes[0].rewrite_sender", "must be \"off\""),
            ("[[routes]]\ndomains = [\"*\"]\nkind = \"pigeon\"\n".to_string(), "routes[0].kind", "\"graph\""),
        ];
        for (text, key, words) in cases {
            let problems = routes(&text).unwrap_err();
            assert!(problems.iter().any(|(k, m)| k == key && m.contains(words)), "{text}\n→ {problems:?}");
        }
    }

    #[test]
    fn password_presets() {
        let r = routes("[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\npreset = \"microsoft365-hve\"\nuser = \"hve@contoso.com\"\npassword = \"p\"\n").unwrap();
        let RouteKind::Smarthost(s) = &r[0].kind else { panic!() };
        assert_eq!((s.host.as_str(), s.port, s.oauth.is_none()), ("smtp-hve.office365.com", 587, true));
        let r = routes("[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\npreset = \"azure-communication-services\"\nuser = \"acs.app.tenant\"\npassword = \"p\"\n").unwrap();
        let RouteKind::Smarthost(s) = &r[0].kind else { panic!() };
        assert_eq!((s.host.as_str(), s.user.as_deref()), ("smtp.azurecomm.net", Some("acs.app.tenant")));
        assert!(routes("[[routes]]\ndomains = [\"*\"]\nkind = \"smarthost\"\npreset = \"azure-communication-services\"\nuser = \"u\"\n").is_err(), "a password is needed");
    }
}
