//! `[oauth]` (bearer tokens for AUTH XOAUTH2 / OAUTHBEARER) and `[[connectors]]`
//! (unauthenticated submission from listed client addresses for listed sender domains).

use std::path::PathBuf;

use authrelay_core::Cidr;
use authrelay_oauth::IssuerConfig;
use authrelay_smtp::connector::Connector;
use serde::{Deserialize, Serialize};

use crate::problem::Problem;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileOAuth {
    issuer: Option<String>,
    audience: Option<String>,
    jwks_uri: Option<String>,
    user_claim: Option<String>,
    clock_skew_secs: Option<u64>,
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConnector {
    name: Option<String>,
    #[serde(default)]
    clients: Vec<String>,
    #[serde(default)]
    sender_domains: Vec<String>,
    max_recipients: Option<usize>,
    daily_recipients: Option<u64>,
    daily_recipients_total: Option<u64>,
}

/// Effective settings, as `config check` prints them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Access {
    pub oauth: Option<IssuerConfig>,
    pub connectors: Vec<ConnectorShown>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConnectorShown {
    pub name: String,
    pub clients: Vec<String>,
    pub sender_domains: Vec<String>,
    pub max_recipients: usize,
    pub daily_recipients: u64,
    /// All the connector's senders together, per rolling 24 hours.
    pub daily_recipients_total: u64,
}

impl Access {
    pub fn connectors(&self) -> Vec<Connector> {
        self.connectors
            .iter()
            .map(|c| Connector {
                name: c.name.clone(),
                clients: c.clients.iter().filter_map(|t| t.parse().ok()).collect(),
                sender_domains: c.sender_domains.clone(),
                max_recipients: c.max_recipients,
                daily_recipients: c.daily_recipients,
                daily_recipients_total: c.daily_recipients_total,
            })
            .collect()
    }
}

pub fn build(oauth: Option<FileOAuth>, connectors: Vec<FileConnector>, problems: &mut Vec<Problem>) -> Access {
    let oauth = oauth.and_then(|o| {
        let mut missing = |key: &str, v: &Option<String>| {
            if v.as_deref().is_none_or(|s| s.trim().is_empty()) {
                problems
                    .push(Problem { key: format!("oauth.{key}"), message: "required when [oauth] is present".into() });
            }
        };
        missing("issuer", &o.issuer);
        missing("audience", &o.audience);
        let (Some(issuer), Some(audience)) = (o.issuer, o.audience) else { return None };
        for (key, url) in [("issuer", Some(&issuer)), ("jwks_uri", o.jwks_uri.as_ref())] {
            if let Some(Err(e)) = url.map(|u| authrelay_oauth::http::check_url(u)) {
                problems.push(Problem { key: format!("oauth.{key}"), message: e.to_string() });
            }
        }
        if let Some(ca) = &o.ca_file {
            if !ca.is_file() {
                problems.push(Problem { key: "oauth.ca_file".into(), message: format!("no file at {}", ca.display()) });
            }
        }
        Some(IssuerConfig {
            issuer,
            audience,
            jwks_uri: o.jwks_uri,
            // `upn` by default: at Entra the administrator sets it, while `email` can be set by
            // the user or another tenant (README, "OAuth").
            user_claim: o.user_claim.unwrap_or_else(|| "upn".into()),
            leeway_secs: o.clock_skew_secs.unwrap_or(60).min(600),
            ca_file: o.ca_file,
        })
    });
    let mut shown = vec![];
    let mut every_range = vec![];
    for (i, c) in connectors.into_iter().enumerate() {
        let key = |k: &str| format!("connectors[{i}].{k}");
        if c.clients.is_empty() {
            problems.push(Problem {
                key: key("clients"),
                message: "list the client addresses that may send without AUTH, e.g. [\"192.0.2.10/32\"]".into(),
            });
        }
        let mut clients = vec![];
        for text in &c.clients {
            match text.parse::<Cidr>() {
                // A connector for everyone is an open relay.
                Ok(cidr) if cidr.prefix() == 0 => problems.push(Problem {
                    key: key("clients"),
                    message: format!(
                        "'{text}' admits every address, which would make an open relay; list the devices' addresses"
                    ),
                }),
                Ok(cidr) => {
                    every_range.push(cidr);
                    clients.push(cidr.to_string());
                }
                Err(e) => problems.push(Problem { key: key("clients"), message: e.to_string() }),
            }
        }
        if c.sender_domains.is_empty() {
            problems.push(Problem {
                key: key("sender_domains"),
                message: "list the domains the devices send from, e.g. [\"contoso.com\"]".into(),
            });
        }
        let mut domains = vec![];
        for d in &c.sender_domains {
            let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
            if !authrelay_core::address::is_domain(&d) || !d.contains('.') {
                problems.push(Problem { key: key("sender_domains"), message: format!("'{d}' is not a domain") });
            } else {
                domains.push(d);
            }
        }
        shown.push(ConnectorShown {
            name: c.name.unwrap_or_else(|| format!("connector-{}", i + 1)),
            clients,
            sender_domains: domains,
            max_recipients: c.max_recipients.unwrap_or(100).max(1),
            daily_recipients: c.daily_recipients.unwrap_or(2000),
            daily_recipients_total: c
                .daily_recipients_total
                .unwrap_or(authrelay_smtp::connector::DEFAULT_DAILY_RECIPIENTS_TOTAL),
        });
        if c.daily_recipients_total == Some(0) {
            problems.push(Problem { key: key("daily_recipients_total"), message: "must be greater than 0".into() });
        }
    }
    // Ranges that each look narrow can still add up to everyone (0.0.0.0/1 + 128.0.0.0/1).
    if let Some(message) = authrelay_smtp::connector::too_broad(&every_range) {
        problems.push(Problem { key: "connectors".into(), message });
    }
    Access { oauth, connectors: shown }
}
