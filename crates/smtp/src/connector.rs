//! Connectors (Microsoft's "SMTP relay connector") for devices that cannot authenticate at all:
//! a session from one of a connector's client ranges may send without AUTH, but only with a
//! MAIL FROM in one of the connector's sender domains. Off unless configured; any other client
//! still gets `530 5.7.57`, so a connector never turns the server into an open relay.

use std::net::IpAddr;

use authrelay_core::Cidr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connector {
    /// Shown in logs and the sign-in log's user column.
    pub name: String,
    /// Client address ranges that may use it; never empty (config refuses an empty list).
    pub clients: Vec<Cidr>,
    /// Sender domains, lower-case; a MAIL FROM must be in one of them (subdomains do not count).
    pub sender_domains: Vec<String>,
    /// Recipients per message.
    pub max_recipients: usize,
    /// Recipients per sender address per rolling 24 hours.
    pub daily_recipients: u64,
    /// Recipients of all its senders together per rolling 24 hours: a client may invent any
    /// number of sender addresses in the connector's domains, so the per-sender quota alone
    /// bounds nothing.
    pub daily_recipients_total: u64,
}

/// Default of [`Connector::daily_recipients_total`] (a mailbox's default daily quota).
pub const DEFAULT_DAILY_RECIPIENTS_TOTAL: u64 = 10_000;

/// Most addresses all connectors' client ranges may admit together: a /8 of IPv4 (the largest
/// private network), a /32 of IPv6 (a whole provider allocation). More is an open relay in
/// all but name, like `0.0.0.0/1` plus `128.0.0.0/1`.
pub const MAX_CLIENTS_V4: u64 = 1 << 24;
pub const MAX_CLIENTS_V6: u128 = 1 << 96;

/// Why a set of connector client ranges (all connectors together) is refused, if it is.
pub fn too_broad(ranges: &[Cidr]) -> Option<String> {
    let (v4, v6) = authrelay_core::cidr::coverage(ranges);
    if v4 > MAX_CLIENTS_V4 {
        return Some(format!(
            "the connectors' client ranges together admit {v4} IPv4 addresses, more than a /8: that is an open relay; list the devices' own addresses or subnets"
        ));
    }
    if v6 > MAX_CLIENTS_V6 {
        return Some(
            "the connectors' client ranges together admit more IPv6 addresses than a /32: that is an open relay; list the devices' own addresses or subnets"
                .to_string(),
        );
    }
    None
}

impl Connector {
    /// The key of the connector's total in the recipient quota (cannot be a mailbox address).
    pub fn quota_key(&self) -> String {
        format!("connector:{}", self.name)
    }

    pub fn admits(&self, ip: IpAddr) -> bool {
        self.clients.iter().any(|c| c.contains(ip))
    }

    /// Whether `sender` (a MAIL FROM address) is in one of the connector's domains. The null
    /// sender `<>` never is.
    pub fn allows_sender(&self, sender: &str) -> bool {
        let Some((local, domain)) = sender.trim().rsplit_once('@') else { return false };
        let domain = domain.trim_end_matches('.').to_ascii_lowercase();
        !local.is_empty() && self.sender_domains.contains(&domain)
    }
}

/// `[[connectors]]`, in the configuration's order: what the session looks up before a MAIL
/// FROM without AUTH. Only the lookup lives here; whether the sender may send is decided by
/// `Authenticator::attempt` (auth.rs), like every sign-in.
#[derive(Debug, Clone, Default)]
pub struct Connectors {
    list: Vec<Connector>,
}

impl Connectors {
    pub fn new(list: Vec<Connector>) -> Self {
        Connectors { list }
    }

    /// Every connector, in the configuration's order (the admin center shows them).
    pub fn list(&self) -> &[Connector] {
        &self.list
    }

    /// The first connector whose client ranges contain `ip`.
    pub fn connector_for(&self, ip: IpAddr) -> Option<&Connector> {
        self.list.iter().find(|c| c.admits(ip))
    }

    /// [`Self::connector_for`] on a `[[listeners]]` entry: only the connectors it names apply.
    pub fn connector_among(&self, ip: IpAddr, names: &[String]) -> Option<&Connector> {
        self.list.iter().find(|c| names.contains(&c.name) && c.admits(ip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_that_together_admit_everyone_are_refused() {
        let r = |list: &[&str]| too_broad(&list.iter().map(|s| s.parse().unwrap()).collect::<Vec<Cidr>>());
        assert!(r(&["0.0.0.0/1", "128.0.0.0/1"]).is_some());
        assert!(r(&["0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/2", "192.0.0.0/2"]).is_some());
        assert!(r(&["10.0.0.0/8", "192.168.0.0/16"]).is_some(), "more than a /8 in total");
        assert!(r(&["::/1", "8000::/1"]).is_some());
        assert!(r(&["2001:db8::/31"]).is_some());
        assert_eq!(r(&["10.0.0.0/8"]), None, "a private /8 is allowed");
        assert_eq!(r(&["10.0.0.0/8", "10.1.0.0/16"]), None, "overlaps count once");
        assert_eq!(r(&["192.0.2.10", "192.0.2.64/28", "2001:db8::/48"]), None);
    }

    fn printers() -> Connector {
        Connector {
            name: "printers".into(),
            clients: vec!["127.0.0.1/32".parse().unwrap(), "10.1.0.0/16".parse().unwrap()],
            sender_domains: vec!["contoso.com".into()],
            max_recipients: 50,
            daily_recipients: 1000,
            daily_recipients_total: 5000,
        }
    }

    #[test]
    fn the_first_connector_admitting_the_client_is_used() {
        let scanners =
            Connector { name: "scanners".into(), clients: vec!["10.0.0.0/8".parse().unwrap()], ..printers() };
        let connectors = Connectors::new(vec![printers(), scanners]);
        let name = |ip: &str| connectors.connector_for(ip.parse().unwrap()).map(|c| c.name.as_str());
        assert_eq!(name("10.1.2.3"), Some("printers"), "in both: the first listed");
        assert_eq!(name("10.2.0.1"), Some("scanners"));
        assert_eq!(name("127.0.0.1"), Some("printers"));
        assert_eq!(name("192.0.2.1"), None);
        assert_eq!(Connectors::default().connector_for("127.0.0.1".parse().unwrap()), None);
    }

    #[test]
    fn clients_and_sender_domains() {
        let c = printers();
        assert!(c.admits("127.0.0.1".parse().unwrap()));
        assert!(c.admits("10.1.200.3".parse().unwrap()));
        assert!(!c.admits("127.0.0.2".parse().unwrap()));
        for ok in ["scanner@contoso.com", "Scanner@CONTOSO.com", "x@contoso.com."] {
            assert!(c.allows_sender(ok), "{ok}");
        }
        for bad in [
            "",
            "contoso.com",
            "@contoso.com",
            "x@sub.contoso.com",
            "x@contoso.com.evil.example",
            "x@evilcontoso.com",
            "x@fabrikam.com",
        ] {
            assert!(!c.allows_sender(bad), "{bad}");
        }
    }
}
