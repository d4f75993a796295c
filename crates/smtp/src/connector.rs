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
}

impl Connector {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_and_sender_domains() {
        let c = Connector {
            name: "printers".into(),
            clients: vec!["127.0.0.1/32".parse().unwrap(), "10.1.0.0/16".parse().unwrap()],
            sender_domains: vec!["contoso.com".into()],
            max_recipients: 50,
            daily_recipients: 1000,
        };
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
