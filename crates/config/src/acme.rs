//! `[tls] acme = { … }`: certificates from an ACME CA (RFC 8555), validated by HTTP-01
//! (README "Certificates").

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::problem::Problem;

/// Let's Encrypt's production directory, used when `directory` is left out.
pub const LETS_ENCRYPT: &str = "https://acme-v02.api.letsencrypt.org/directory";
/// Where the HTTP-01 responder listens while an order is pending, when `http_challenge` is left
/// out: the CA always connects to port 80 of each domain.
pub const DEFAULT_HTTP_CHALLENGE: &str = "[::]:80";

/// The inline table as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAcme {
    #[serde(default)]
    domains: Vec<String>,
    contact: Option<String>,
    directory: Option<String>,
    /// PEM file of the CA that signed the directory's HTTPS certificate, for a private ACME
    /// server (or Pebble); the system's roots otherwise.
    directory_ca: Option<PathBuf>,
    http_challenge: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Acme {
    /// The certificate's names; the first is its subject.
    pub domains: Vec<String>,
    /// `mailto:` URI the CA writes to about expiry and problems.
    pub contact: String,
    pub directory: String,
    pub directory_ca: Option<PathBuf>,
    /// The HTTP-01 responder's address, bound only while an order is pending.
    pub http_challenge: SocketAddr,
}

pub(crate) fn build(file: FileAcme, problems: &mut Vec<Problem>) -> Option<Acme> {
    let mut problem = |key: &str, message: String| problems.push(Problem { key: format!("tls.acme.{key}"), message });
    let mut ok = true;
    if file.domains.is_empty() {
        problem("domains", "list the names the certificate must carry, e.g. [\"smtp.contoso.com\"]".into());
        ok = false;
    }
    let mut domains = vec![];
    for d in &file.domains {
        let name = d.trim().trim_end_matches('.').to_ascii_lowercase();
        if name.starts_with("*.") {
            problem(
                "domains",
                format!("'{d}': a wildcard name needs the DNS-01 challenge; authrelay answers HTTP-01 only, so list each name"),
            );
            ok = false;
        } else if name.parse::<std::net::IpAddr>().is_ok() {
            problem("domains", format!("'{d}' is an IP address; ACME certificates here name DNS names only"));
            ok = false;
        } else if !authrelay_core::address::is_domain(&name) || !name.contains('.') {
            problem("domains", format!("'{d}' is not a fully qualified domain name such as smtp.contoso.com"));
            ok = false;
        } else if !domains.contains(&name) {
            domains.push(name);
        }
    }
    let contact = match file.contact.as_deref().map(str::trim) {
        None | Some("") => {
            problem(
                "contact",
                "give an address the CA can write to about expiry, e.g. \"postmaster@contoso.com\"".into(),
            );
            ok = false;
            String::new()
        }
        Some(c) => {
            let address = c.strip_prefix("mailto:").unwrap_or(c);
            match address.rsplit_once('@') {
                Some((local, domain)) if !local.is_empty() && authrelay_core::address::is_domain(domain) => {
                    format!("mailto:{address}")
                }
                _ => {
                    problem("contact", format!("'{c}' is not a mail address such as postmaster@contoso.com"));
                    ok = false;
                    String::new()
                }
            }
        }
    };
    let directory = file.directory.unwrap_or_else(|| LETS_ENCRYPT.to_string());
    if !directory.starts_with("https://") || directory.len() <= "https://".len() {
        problem(
            "directory",
            format!("'{directory}' is not an https:// URL; Let's Encrypt's is {LETS_ENCRYPT} (leave it out to use it)"),
        );
        ok = false;
    }
    if let Some(ca) = &file.directory_ca {
        if !ca.is_file() {
            problem("directory_ca", format!("no file at {}", ca.display()));
            ok = false;
        }
    }
    let text = file.http_challenge.unwrap_or_else(|| DEFAULT_HTTP_CHALLENGE.to_string());
    let http_challenge = match text.parse::<SocketAddr>() {
        Ok(a) => Some(a),
        Err(_) => {
            problem(
                "http_challenge",
                format!(
                    "'{text}' is not an address:port such as \"[::]:80\" (the CA connects to port 80; forward it here)"
                ),
            );
            None
        }
    };
    match http_challenge {
        Some(http_challenge) if ok => {
            Some(Acme { domains, contact, directory, directory_ca: file.directory_ca, http_challenge })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build_toml(text: &str) -> (Option<Acme>, Vec<Problem>) {
        let file: FileAcme = toml::from_str(text).unwrap();
        let mut problems = vec![];
        (build(file, &mut problems), problems)
    }

    #[test]
    fn defaults_and_normalisation() {
        let (acme, problems) = build_toml(
            "domains = [\"SMTP.Contoso.com.\", \"smtp.contoso.com\"]\ncontact = \"postmaster@contoso.com\"\n",
        );
        assert!(problems.is_empty(), "{problems:?}");
        let acme = acme.unwrap();
        assert_eq!(acme.domains, ["smtp.contoso.com"]);
        assert_eq!(acme.contact, "mailto:postmaster@contoso.com");
        assert_eq!(acme.directory, LETS_ENCRYPT);
        assert_eq!(acme.http_challenge, "[::]:80".parse().unwrap());
    }

    #[test]
    fn each_mistake_names_its_key_and_fix() {
        let (acme, problems) = build_toml(
            "domains = [\"*.contoso.com\", \"10.0.0.1\", \"relay\"]\ncontact = \"nobody\"\ndirectory = \"http://ca.test/dir\"\ndirectory_ca = \"/nonexistent.pem\"\nhttp_challenge = \"80\"\n",
        );
        assert!(acme.is_none());
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "tls.acme.domains",
                "tls.acme.domains",
                "tls.acme.domains",
                "tls.acme.contact",
                "tls.acme.directory",
                "tls.acme.directory_ca",
                "tls.acme.http_challenge"
            ]
        );
        assert!(problems[0].message.contains("DNS-01"), "{}", problems[0].message);
        let (_, problems) = build_toml("contact = \"a@b.example\"\n");
        assert!(problems[0].message.contains("smtp.contoso.com"), "{problems:?}");
    }
}
