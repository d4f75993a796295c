//! The `[admin]` table: the admin center's listener, TLS and session lifetime.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::problem::Problem;

pub const DEFAULT_ADMIN: &str = "127.0.0.1:8025";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileAdmin {
    /// "" turns the admin center off.
    listen: Option<String>,
    /// Serve HTTPS with the server's certificate (`[tls]`, or the self-signed one).
    tls: Option<bool>,
    session_ttl_secs: Option<u64>,
    /// Failed admin sign-ins allowed per address in 15 minutes.
    signin_failures: Option<u32>,
    /// Host names the admin center answers to besides `localhost` and IP literals (a defence
    /// against DNS rebinding: a page of another site cannot reach it through a name of its own).
    hosts: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Admin {
    pub listen: Option<SocketAddr>,
    pub tls: bool,
    pub session_ttl_secs: u64,
    pub signin_failures: u32,
    pub hosts: Vec<String>,
}

pub fn build(file: FileAdmin, flag: Option<SocketAddr>, problems: &mut Vec<Problem>) -> Admin {
    let listen = match flag {
        Some(a) => Some(a),
        None => {
            let text = file.listen.unwrap_or_else(|| DEFAULT_ADMIN.to_string());
            if text.is_empty() {
                None
            } else {
                match text.parse() {
                    Ok(a) => Some(a),
                    Err(_) => {
                        problems.push(Problem {
                            key: "admin.listen".into(),
                            message: format!(
                                "'{text}' is not an address:port such as 127.0.0.1:8025 (use \"\" to turn the admin center off)"
                            ),
                        });
                        None
                    }
                }
            }
        }
    };
    let session_ttl_secs = file.session_ttl_secs.unwrap_or(8 * 3600);
    if session_ttl_secs == 0 {
        problems.push(Problem { key: "admin.session_ttl_secs".into(), message: "must be greater than 0".into() });
    }
    let signin_failures = file.signin_failures.unwrap_or(5);
    if signin_failures == 0 {
        problems.push(Problem { key: "admin.signin_failures".into(), message: "must be greater than 0".into() });
    }
    let mut hosts = vec![];
    for h in file.hosts.unwrap_or_default() {
        let name = h.trim().trim_end_matches('.').to_ascii_lowercase();
        let ok = !name.is_empty()
            && name.len() <= 253
            && name
                .split('.')
                .all(|l| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        if ok {
            hosts.push(name);
        } else {
            problems.push(Problem {
                key: "admin.hosts".into(),
                message: format!("'{h}' is not a host name such as admin.contoso.com (no port, no scheme)"),
            });
        }
    }
    Admin { listen, tls: file.tls.unwrap_or(false), session_ttl_secs, signin_failures, hosts }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_listen_and_off_switch() {
        let mut problems = vec![];
        let a = build(FileAdmin::default(), None, &mut problems);
        assert_eq!(a.listen, Some(DEFAULT_ADMIN.parse().unwrap()));
        let off = build(FileAdmin { listen: Some(String::new()), ..Default::default() }, None, &mut problems);
        assert_eq!(off.listen, None);
        let flag = build(FileAdmin::default(), Some("127.0.0.1:9".parse().unwrap()), &mut problems);
        assert_eq!(flag.listen, Some("127.0.0.1:9".parse().unwrap()));
        assert!(problems.is_empty());
        build(
            FileAdmin { listen: Some("nope".into()), session_ttl_secs: Some(0), ..Default::default() },
            None,
            &mut problems,
        );
        let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["admin.listen", "admin.session_ttl_secs"]);
    }
}
