//! `[[listeners]]`: listeners beyond the two defaults, for devices the defaults refuse — old
//! TLS, no TLS, bare LF line endings (README "Legacy devices"). Each is fenced in: a legacy one
//! needs `clients`, takes device credentials only unless told otherwise (never an account
//! password or app password), and a public address needs `acknowledge_public = true`.

use std::net::{IpAddr, SocketAddr};

use authrelay_core::{Cidr, CredentialKind, CredentialKinds};
use authrelay_proto::BareNewline;
use authrelay_smtp::{ListenerKind, ListenerRules, TlsMin};
use serde::{Deserialize, Serialize};

use crate::problem::Problem;

/// One `[[listeners]]` entry as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileListener {
    address: Option<String>,
    /// `starttls` (default), `implicit` or `plain`.
    kind: Option<String>,
    /// `1.0`, `1.1` or `1.2` (default).
    tls_min: Option<String>,
    #[serde(default)]
    clients: Vec<String>,
    credentials: Option<Vec<String>>,
    /// `reject` (default) or `normalize`.
    bare_newline: Option<String>,
    #[serde(default)]
    connectors: Vec<String>,
    /// The admin's word that a legacy listener on a public address (or for public clients) is
    /// meant: without it `config check` refuses one.
    #[serde(default)]
    acknowledge_public: bool,
}

/// One listener as `config check` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct ListenerShown {
    pub address: SocketAddr,
    pub kind: &'static str,
    pub tls_min: &'static str,
    pub clients: Vec<String>,
    pub credentials: Vec<CredentialKind>,
    pub bare_newline: &'static str,
    pub connectors: Vec<String>,
    /// Old TLS, no TLS or bare LFs: marked in the sign-in log, the reports and `doctor`.
    pub legacy: bool,
    pub acknowledge_public: bool,
}

impl ListenerShown {
    /// The session's rules of this listener.
    pub fn rules(&self) -> ListenerRules {
        ListenerRules {
            name: format!("{} {}", self.kind, self.address),
            kind: parse_kind(self.kind).unwrap_or(ListenerKind::Submission),
            tls_min: parse_tls_min(self.tls_min).unwrap_or(TlsMin::V1_2),
            clients: self.clients.iter().filter_map(|c| c.parse().ok()).collect(),
            credentials: CredentialKinds::of(&self.credentials),
            bare_newline: if self.bare_newline == "normalize" { BareNewline::Normalize } else { BareNewline::Reject },
            connectors: self.connectors.clone(),
            pem_files: None,
        }
    }
}

fn parse_kind(text: &str) -> Option<ListenerKind> {
    match text {
        "starttls" => Some(ListenerKind::Submission),
        "implicit" => Some(ListenerKind::Submissions),
        "plain" => Some(ListenerKind::Plain),
        _ => None,
    }
}

fn kind_name(kind: ListenerKind) -> &'static str {
    match kind {
        ListenerKind::Submission => "starttls",
        ListenerKind::Submissions => "implicit",
        ListenerKind::Plain => "plain",
    }
}

fn parse_tls_min(text: &str) -> Option<TlsMin> {
    match text {
        "1.0" => Some(TlsMin::V1_0),
        "1.1" => Some(TlsMin::V1_1),
        "1.2" => Some(TlsMin::V1_2),
        _ => None,
    }
}

/// Loopback, private (RFC 1918, RFC 4193), link-local or CGNAT: not reachable from the
/// Internet by itself. Anything else, and the wildcard address, counts as public.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

fn cidr_is_private(c: &Cidr) -> bool {
    // A range is private when its network is and it is no wider than the private blocks.
    let max_width = if c.network().is_ipv4() { 8 } else { 7 };
    is_private(c.network()) && c.prefix() >= max_width
}

/// Builds `[[listeners]]`; `defaults` are the two default listeners' addresses (a listed one
/// may not take theirs) and `connectors` the names of `[[connectors]]`.
pub fn build(
    file: Vec<FileListener>,
    defaults: &[SocketAddr],
    connectors: &[String],
    problems: &mut Vec<Problem>,
) -> Vec<ListenerShown> {
    let mut shown: Vec<ListenerShown> = vec![];
    for (i, l) in file.into_iter().enumerate() {
        let key = |k: &str| format!("listeners[{i}].{k}");
        let before = problems.len();
        let address = match l.address.as_deref().map(str::parse::<SocketAddr>) {
            Some(Ok(a)) => a,
            Some(Err(_)) | None => {
                problems.push(Problem {
                    key: key("address"),
                    message: format!(
                        "'{}' is not an address:port such as 192.168.50.1:2525",
                        l.address.as_deref().unwrap_or("")
                    ),
                });
                continue;
            }
        };
        if address.port() != 0 && (defaults.contains(&address) || shown.iter().any(|s| s.address == address)) {
            problems.push(Problem { key: key("address"), message: format!("{address} is already a listener") });
        }
        let kind = l.kind.as_deref().unwrap_or("starttls");
        let Some(kind_parsed) = parse_kind(kind) else {
            problems.push(Problem {
                key: key("kind"),
                message: format!("'{kind}' is not one of: starttls implicit plain"),
            });
            continue;
        };
        if kind_parsed == ListenerKind::Plain && l.tls_min.is_some() {
            problems.push(Problem {
                key: key("tls_min"),
                message: "a plain listener has no TLS; leave tls_min out (or use kind = \"starttls\")".into(),
            });
        }
        let tls_min_text = l.tls_min.as_deref().filter(|_| kind_parsed != ListenerKind::Plain).unwrap_or("1.2");
        let tls_min = parse_tls_min(tls_min_text).unwrap_or_else(|| {
            problems
                .push(Problem { key: key("tls_min"), message: format!("'{tls_min_text}' is not one of: 1.0 1.1 1.2") });
            TlsMin::V1_2
        });
        if tls_min < TlsMin::V1_2 && !authrelay_smtp::LEGACY_TLS {
            problems.push(Problem {
                key: key("tls_min"),
                message: format!(
                    "TLS {} needs a build with the legacy-tls feature (OpenSSL): install libssl-dev and pkg-config, then cargo build --release --features legacy-tls (README \"Legacy devices\")",
                    tls_min.as_str()
                ),
            });
        }
        let bare_newline = match l.bare_newline.as_deref().unwrap_or("reject") {
            "reject" => BareNewline::Reject,
            "normalize" => BareNewline::Normalize,
            other => {
                problems.push(Problem {
                    key: key("bare_newline"),
                    message: format!("'{other}' is not one of: reject normalize"),
                });
                BareNewline::Reject
            }
        };
        let legacy =
            kind_parsed == ListenerKind::Plain || tls_min < TlsMin::V1_2 || bare_newline == BareNewline::Normalize;

        let mut clients = vec![];
        for text in &l.clients {
            match text.parse::<Cidr>() {
                Ok(c) if c.prefix() == 0 => problems.push(Problem {
                    key: key("clients"),
                    message: format!("'{text}' admits every address; list the devices' own addresses or subnets"),
                }),
                Ok(c) => clients.push(c),
                Err(e) => problems.push(Problem {
                    key: key("clients"),
                    message: format!("'{text}': {e}; write an address or a CIDR such as \"10.0.0.5/32\""),
                }),
            }
        }
        if legacy && l.clients.is_empty() {
            problems.push(Problem {
                key: key("clients"),
                message: "a legacy listener (old TLS, no TLS or bare_newline = \"normalize\") needs clients: the devices' addresses or subnets, e.g. [\"192.168.50.0/24\"]".into(),
            });
        }
        let public_address = address.ip().is_unspecified() || !is_private(address.ip());
        let public_clients: Vec<String> =
            clients.iter().filter(|c| !cidr_is_private(c)).map(|c| c.to_string()).collect();
        if legacy && (public_address || !public_clients.is_empty()) && !l.acknowledge_public {
            let message = if public_address {
                format!("{address} is not a loopback or private address: a legacy listener there exposes weak or no TLS beyond your network; bind it to the devices' VLAN, or set acknowledge_public = true if that is what you mean")
            } else {
                format!("clients {} are not private ranges: a legacy listener for them exposes weak or no TLS beyond your network; list the devices' VLAN, or set acknowledge_public = true if that is what you mean", public_clients.join(", "))
            };
            problems.push(Problem { key: key("acknowledge_public"), message });
        }

        let credentials = match &l.credentials {
            None if legacy => vec![CredentialKind::DeviceCredential],
            None => vec![
                CredentialKind::Password,
                CredentialKind::AppPassword,
                CredentialKind::DeviceCredential,
                CredentialKind::OAuth,
            ],
            Some(list) => {
                let mut kinds = vec![];
                for text in list {
                    match text.parse::<CredentialKind>() {
                        Ok(CredentialKind::Connector) | Err(_) => problems.push(Problem {
                            key: key("credentials"),
                            message: format!("'{text}' is not one of: password app-password device-credential oauth"),
                        }),
                        Ok(k @ (CredentialKind::Password | CredentialKind::AppPassword)) if legacy => {
                            problems.push(Problem {
                                key: key("credentials"),
                                message: format!(
                                    "'{k}' may not sign in over weak or no TLS; give the device a device credential (authrelay device-credential add)"
                                ),
                            })
                        }
                        Ok(k) => kinds.push(k),
                    }
                }
                kinds
            }
        };
        for name in &l.connectors {
            if !connectors.contains(name) {
                problems.push(Problem {
                    key: key("connectors"),
                    message: format!("no [[connectors]] entry is named '{name}'"),
                });
            }
        }
        if problems.len() > before {
            continue;
        }
        shown.push(ListenerShown {
            address,
            kind: kind_name(kind_parsed),
            tls_min: tls_min.as_str(),
            clients: clients.iter().map(|c| c.to_string()).collect(),
            credentials,
            bare_newline: if bare_newline == BareNewline::Normalize { "normalize" } else { "reject" },
            connectors: l.connectors,
            legacy,
            acknowledge_public: l.acknowledge_public,
        });
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Result<Vec<ListenerShown>, Vec<Problem>> {
        #[derive(Deserialize)]
        struct F {
            listeners: Vec<FileListener>,
        }
        let f: F = toml::from_str(text).unwrap();
        let mut problems = vec![];
        let shown = build(f.listeners, &["127.0.0.1:2587".parse().unwrap()], &["scanners".into()], &mut problems);
        if problems.is_empty() {
            Ok(shown)
        } else {
            Err(problems)
        }
    }

    fn keys(text: &str) -> Vec<String> {
        check(text).unwrap_err().into_iter().map(|p| p.key).collect()
    }

    #[test]
    fn a_plain_listener_for_a_vlan_takes_device_credentials_only() {
        let l = check("[[listeners]]\naddress = \"192.168.50.1:2525\"\nkind = \"plain\"\nclients = [\"192.168.50.0/24\"]\nbare_newline = \"normalize\"\nconnectors = [\"scanners\"]\n")
            .unwrap();
        assert!(l[0].legacy);
        assert_eq!(l[0].credentials, [CredentialKind::DeviceCredential]);
        let rules = l[0].rules();
        assert_eq!((rules.kind, rules.bare_newline), (ListenerKind::Plain, BareNewline::Normalize));
        assert!(rules.credentials.allows(CredentialKind::DeviceCredential));
        assert!(
            !rules.credentials.allows(CredentialKind::Password)
                && !rules.credentials.allows(CredentialKind::AppPassword)
        );
        assert!(rules.is_legacy() && rules.lists_client("192.168.50.7".parse().unwrap()));
        assert!(!rules.lists_client("192.168.51.7".parse().unwrap()));
    }

    #[test]
    fn a_legacy_listener_is_fenced_in() {
        // No clients.
        assert_eq!(keys("[[listeners]]\naddress = \"127.0.0.1:2525\"\nkind = \"plain\"\n"), ["listeners[0].clients"]);
        // A public or wildcard address, or public clients, without the acknowledgement.
        for (address, clients) in
            [("0.0.0.0:2525", "10.0.0.0/24"), ("203.0.113.5:2525", "10.0.0.0/24"), ("10.0.0.1:2525", "198.51.100.0/24")]
        {
            let text = format!("[[listeners]]\naddress = \"{address}\"\nkind = \"plain\"\nclients = [\"{clients}\"]\n");
            assert_eq!(keys(&text), ["listeners[0].acknowledge_public"], "{address} {clients}");
            assert!(check(&format!("{text}acknowledge_public = true\n")).is_ok(), "acknowledged: {address}");
        }
        // Account and app passwords never cross a legacy listener; connectors must exist.
        assert_eq!(
            keys("[[listeners]]\naddress = \"127.0.0.1:2525\"\nkind = \"plain\"\nclients = [\"127.0.0.2\"]\ncredentials = [\"password\", \"app-password\"]\nconnectors = [\"nope\"]\n"),
            ["listeners[0].credentials", "listeners[0].credentials", "listeners[0].connectors"]
        );
        // The default listeners' address, a plain listener with a tls_min, and odd spellings.
        assert_eq!(
            keys("[[listeners]]\naddress = \"127.0.0.1:2587\"\nclients = [\"127.0.0.1\"]\n[[listeners]]\naddress = \"127.0.0.1:2526\"\nkind = \"plain\"\ntls_min = \"1.0\"\nclients = [\"127.0.0.1\"]\n[[listeners]]\naddress = \"127.0.0.1:2527\"\nkind = \"tls\"\n"),
            ["listeners[0].address", "listeners[1].tls_min", "listeners[2].kind"]
        );
    }

    #[test]
    fn an_extra_modern_listener_needs_no_fence() {
        let l = check("[[listeners]]\naddress = \"0.0.0.0:587\"\nkind = \"starttls\"\n").unwrap();
        assert!(!l[0].legacy);
        assert!(l[0].rules().credentials.allows(CredentialKind::Password));
    }

    #[test]
    fn old_tls_needs_the_feature_or_is_built() {
        let text = "[[listeners]]\naddress = \"127.0.0.1:2525\"\ntls_min = \"1.0\"\nclients = [\"127.0.0.1\"]\n";
        let built = std::hint::black_box(authrelay_smtp::LEGACY_TLS);
        match check(text) {
            Ok(l) => {
                assert!(built, "TLS 1.0 accepted by a build without legacy-tls");
                assert!(l[0].legacy && l[0].rules().tls_min == TlsMin::V1_0);
            }
            Err(p) => {
                assert!(!built, "TLS 1.0 refused by a build with legacy-tls: {p:?}");
                assert!(p[0].message.contains("legacy-tls") && p[0].message.contains("libssl-dev"), "{p:?}");
            }
        }
    }
}
