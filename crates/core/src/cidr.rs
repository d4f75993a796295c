//! Client-address ranges (`192.0.2.0/24`, `2001:db8::/32`, or a bare address) for device
//! credentials' allow lists and connectors' client lists.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An IPv4 or IPv6 network. A bare address is a /32 (or /128). Host bits are cleared when
/// parsed, so `192.0.2.7/24` is stored and shown as `192.0.2.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

/// A range that does not parse; the message shows the accepted shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an address range: write it as 192.0.2.0/24, 2001:db8::/48 or a single address")]
pub struct BadCidr(pub String);

impl Cidr {
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// Whether `ip` lies in the range. An IPv4-mapped IPv6 client (`::ffff:192.0.2.1`, as a
    /// dual-stack listener reports IPv4 peers) matches IPv4 ranges.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => mask_v4(u32::from(ip), self.prefix) == u32::from(net),
            (IpAddr::V6(net), IpAddr::V6(ip)) => mask_v6(u128::from(ip), self.prefix) == u128::from(net),
            _ => false,
        }
    }
}

fn mask_v4(bits: u32, prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        bits & (u32::MAX << (32 - u32::from(prefix)))
    }
}

fn mask_v6(bits: u128, prefix: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        bits & (u128::MAX << (128 - u32::from(prefix)))
    }
}

impl FromStr for Cidr {
    type Err = BadCidr;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadCidr(s.to_string());
        let text = s.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let ip: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            // Digits only: `u8::from_str` would accept a leading `+`.
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
        };
        if prefix > max {
            return Err(bad());
        }
        let network = match ip {
            IpAddr::V4(v4) => IpAddr::V4(mask_v4(u32::from(v4), prefix).into()),
            IpAddr::V6(v6) => IpAddr::V6(mask_v6(u128::from(v6), prefix).into()),
        };
        Ok(Cidr { network, prefix })
    }
}

/// How many distinct addresses a set of ranges admits together (overlaps counted once):
/// (IPv4, IPv6), the IPv6 figure saturating at `u128::MAX`.
pub fn coverage(ranges: &[Cidr]) -> (u64, u128) {
    let mut v4: Vec<(u64, u64)> = vec![];
    let mut v6: Vec<(u128, u128)> = vec![];
    for c in ranges {
        match c.network {
            IpAddr::V4(n) => {
                let start = u64::from(u32::from(n));
                v4.push((start, start + (1u64 << (32 - u32::from(c.prefix))) - 1));
            }
            IpAddr::V6(n) => {
                let start = u128::from(n);
                let size_minus_one = if c.prefix == 0 { u128::MAX } else { (1u128 << (128 - u32::from(c.prefix))) - 1 };
                v6.push((start, start + size_minus_one));
            }
        }
    }
    fn union<T: Ord + Copy>(mut spans: Vec<(T, T)>, size: impl Fn(T, T) -> u128) -> u128 {
        spans.sort();
        let mut total: u128 = 0;
        let mut current: Option<(T, T)> = None;
        for (start, end) in spans {
            current = match current {
                // CIDR blocks either nest or do not touch, so an overlap is containment.
                Some((s, e)) if start <= e => Some((s, e.max(end))),
                Some(span) => {
                    total = total.saturating_add(size(span.0, span.1));
                    Some((start, end))
                }
                None => Some((start, end)),
            };
        }
        if let Some(span) = current {
            total = total.saturating_add(size(span.0, span.1));
        }
        total
    }
    let v4_total = union(v4, |s, e| u128::from(e - s + 1));
    let v6_total = union(v6, |s, e| (e - s).saturating_add(1));
    (u64::try_from(v4_total).unwrap_or(u64::MAX), v6_total)
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl serde::Serialize for Cidr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Cidr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn coverage_counts_overlaps_once_and_adds_halves() {
        let c = |list: &[&str]| coverage(&list.iter().map(|s| s.parse().unwrap()).collect::<Vec<Cidr>>());
        assert_eq!(c(&["192.0.2.0/24", "192.0.2.64/28", "192.0.2.7"]), (256, 0));
        assert_eq!(c(&["0.0.0.0/1", "128.0.0.0/1"]), (1 << 32, 0));
        assert_eq!(c(&["10.0.0.0/8", "172.16.0.0/12"]), ((1 << 24) + (1 << 20), 0));
        assert_eq!(c(&["::/1", "8000::/1"]), (0, u128::MAX));
        assert_eq!(c(&["2001:db8::/48", "2001:db8::1"]), (0, 1 << 80));
        assert_eq!(c(&[]), (0, 0));
    }

    #[test]
    fn parse_and_contain() {
        let cases: &[(&str, &str, &[&str], &[&str])] = &[
            ("127.0.0.1", "127.0.0.1/32", &["127.0.0.1", "::ffff:127.0.0.1"], &["127.0.0.2", "::1"]),
            ("192.0.2.7/24", "192.0.2.0/24", &["192.0.2.0", "192.0.2.255"], &["192.0.3.1", "10.0.0.1"]),
            ("0.0.0.0/0", "0.0.0.0/0", &["203.0.113.9", "10.0.0.1"], &["::1"]),
            ("2001:db8::1/32", "2001:db8::/32", &["2001:db8:ffff::1"], &["2001:db9::1", "192.0.2.1"]),
            ("::1", "::1/128", &["::1"], &["::2"]),
            (" 10.1.2.3/8 ", "10.0.0.0/8", &["10.255.0.1"], &["11.0.0.1"]),
        ];
        for (text, shown, inside, outside) in cases {
            let c: Cidr = text.parse().unwrap();
            assert_eq!(c.to_string(), *shown, "{text}");
            for i in *inside {
                assert!(c.contains(ip(i)), "{text} should contain {i}");
            }
            for o in *outside {
                assert!(!c.contains(ip(o)), "{text} should not contain {o}");
            }
        }
    }

    #[test]
    fn hostile_ranges_are_refused() {
        for bad in [
            "",
            "/",
            "10.0.0.0/",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0/8",
            "host",
            "10.0.0.0/8/8",
            "10.0.0.0/0008",
        ] {
            assert_eq!(bad.parse::<Cidr>(), Err(BadCidr(bad.to_string())), "{bad:?}");
        }
        assert!(BadCidr("x".into()).to_string().contains("192.0.2.0/24"));
    }
}
