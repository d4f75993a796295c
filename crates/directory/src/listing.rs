//! Paging and the list filters of the admin center and its API: one page of a list with the
//! total it was cut from, the client-address filter (an address, the `ip:port` form the sign-in
//! log shows, `[v6]:port`, or a CIDR range), and the case-insensitive substring pattern. The
//! backends (`sqlite.rs`, `postgres/`) build their SQL from these; the rules live here once.

use std::net::IpAddr;
use std::str::FromStr;

use authrelay_core::Cidr;
use serde::Serialize;

/// Rows on a page when the caller names no size.
pub const DEFAULT_PER_PAGE: u32 = 100;
/// Most rows on one page (a CSV download reads more, page by page).
pub const MAX_PER_PAGE: u32 = 1000;

/// Which rows of a list: `limit` rows after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub offset: u64,
    pub limit: u32,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest { offset: 0, limit: DEFAULT_PER_PAGE }
    }
}

impl PageRequest {
    /// From a 1-based `page` and `per_page`, or from `offset` and `limit` (which win when
    /// given). Sizes are kept within 1..=[`MAX_PER_PAGE`]; a page before the first is the first.
    pub fn new(page: Option<u64>, per_page: Option<u32>, offset: Option<u64>, limit: Option<u32>) -> Self {
        let limit = limit.or(per_page).unwrap_or(DEFAULT_PER_PAGE).clamp(1, MAX_PER_PAGE);
        let offset =
            offset.unwrap_or_else(|| page.unwrap_or(1).max(1).saturating_sub(1).saturating_mul(u64::from(limit)));
        PageRequest { offset, limit }
    }

    /// The page of a list held in memory (organisations, admins, a queue listing).
    pub fn slice<T>(self, items: Vec<T>) -> Page<T> {
        let total = items.len() as u64;
        let start = usize::try_from(self.offset).unwrap_or(usize::MAX).min(items.len());
        let items: Vec<T> = items.into_iter().skip(start).take(self.limit as usize).collect();
        Page { items, total, offset: self.offset, limit: self.limit }
    }
}

/// One page of a list and the number of rows the whole (filtered) list has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub offset: u64,
    pub limit: u32,
}

impl<T> Page<T> {
    /// 1-based position of the first row shown (0 when none is).
    pub fn first(&self) -> u64 {
        if self.items.is_empty() {
            0
        } else {
            self.offset + 1
        }
    }

    /// 1-based position of the last row shown (0 when none is).
    pub fn last(&self) -> u64 {
        self.offset + self.items.len() as u64
    }

    /// The 1-based page number this is, with `limit` rows a page.
    pub fn number(&self) -> u64 {
        self.offset / u64::from(self.limit.max(1)) + 1
    }

    /// How many pages the whole list fills (at least 1).
    pub fn pages(&self) -> u64 {
        self.total.div_ceil(u64::from(self.limit.max(1))).max(1)
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            offset: self.offset,
            limit: self.limit,
        }
    }
}

/// The sign-in log's client filter: a range (a single address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientFilter(pub Cidr);

/// A client filter that is neither an address, `ip:port`, `[v6]:port` nor a range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a client address: write 192.0.2.7, 192.0.2.7:50123, [2001:db8::7]:50123 or 192.0.2.0/24")]
pub struct BadClientFilter(pub String);

impl FromStr for ClientFilter {
    type Err = BadClientFilter;

    /// `192.0.2.7`, `192.0.2.7:50123` (the log's own form; the port is the client's passing
    /// source port, so the filter keeps the address and shows all of that client's sign-ins),
    /// `2001:db8::7`, `[2001:db8::7]:50123`, `[2001:db8::7]`, `192.0.2.0/24`, `2001:db8::/32`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let bad = || BadClientFilter(text.to_string());
        if text.is_empty() {
            return Err(bad());
        }
        if text.contains('/') {
            return Cidr::from_str(text).map(ClientFilter).map_err(|_| bad());
        }
        let host = if let Some(rest) = text.strip_prefix('[') {
            let (inside, after) = rest.split_once(']').ok_or_else(bad)?;
            if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
                return Err(bad());
            }
            inside.parse::<std::net::Ipv6Addr>().map(IpAddr::V6).map_err(|_| bad())?
        } else if let Ok(ip) = text.parse::<IpAddr>() {
            ip
        } else {
            // `a.b.c.d:port`; an IPv6 address with a port must be bracketed (it has colons).
            let (addr, port) = text.rsplit_once(':').ok_or_else(bad)?;
            if !is_port(port) {
                return Err(bad());
            }
            addr.parse::<std::net::Ipv4Addr>().map(IpAddr::V4).map_err(|_| bad())?
        };
        Cidr::from_str(&host.to_string()).map(ClientFilter).map_err(|_| bad())
    }
}

fn is_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok()
}

impl ClientFilter {
    /// Whether a client address as the log stores it lies in the filter (an unreadable stored
    /// address never does).
    pub fn matches(&self, stored: &str) -> bool {
        stored.trim().parse::<IpAddr>().is_ok_and(|ip| self.0.contains(ip))
    }

    /// Of the distinct client addresses a log holds, those the filter selects: the backends ask
    /// their database for the distinct addresses and select rows by this list, so the address
    /// rules (IPv4-mapped clients, ranges) are this crate's, not each dialect's.
    pub fn select(&self, distinct: Vec<String>) -> Vec<String> {
        distinct.into_iter().filter(|a| self.matches(a)).collect()
    }
}

/// A case-insensitive substring as a `LIKE … ESCAPE '\'` pattern: `%`, `_` and `\` in the
/// needle match themselves. The needle is lower-cased; the column is compared lower-cased.
pub fn contains_pattern(needle: &str) -> String {
    let mut out = String::with_capacity(needle.len() + 2);
    out.push('%');
    for c in needle.trim().to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(s: &str) -> Result<String, BadClientFilter> {
        s.parse::<ClientFilter>().map(|f| f.0.to_string())
    }

    #[test]
    fn client_filters_take_every_form_the_log_shows() {
        let cases = [
            ("192.0.2.7", "192.0.2.7/32"),
            (" 192.0.2.7:50123 ", "192.0.2.7/32"),
            ("2001:db8::7", "2001:db8::7/128"),
            ("[2001:db8::7]:50123", "2001:db8::7/128"),
            ("[2001:db8::7]", "2001:db8::7/128"),
            ("192.0.2.9/24", "192.0.2.0/24"),
            ("2001:db8::/32", "2001:db8::/32"),
            ("::ffff:192.0.2.7", "::ffff:192.0.2.7/128"),
        ];
        for (input, want) in cases {
            assert_eq!(filter(input).as_deref(), Ok(want), "{input:?}");
        }
        for bad in [
            "",
            "host.example",
            "192.0.2.7:",
            "192.0.2.7:99999",
            "192.0.2.7:+1",
            "2001:db8::7:50123x",
            "[2001:db8::7",
            "[192.0.2.7]:1",
            "[2001:db8::7]x",
            "192.0.2.0/33",
            "192.0.2.0/",
            "1.2.3.4:5:6",
        ] {
            assert!(filter(bad).is_err(), "{bad:?} was taken");
        }
    }

    #[test]
    fn client_filters_match_stored_addresses() {
        let range: ClientFilter = "192.0.2.0/24".parse().unwrap();
        assert!(range.matches("192.0.2.200"));
        assert!(range.matches("::ffff:192.0.2.1"), "a dual-stack listener's IPv4 peer");
        assert!(!range.matches("192.0.3.1"));
        assert!(!range.matches("not an address"));
        let one: ClientFilter = "[2001:db8::7]:1".parse().unwrap();
        assert_eq!(one.select(vec!["2001:db8::7".into(), "2001:db8::8".into()]), ["2001:db8::7"]);
    }

    #[test]
    fn substring_patterns_escape_wildcards() {
        assert_eq!(contains_pattern(" Ali "), "%ali%");
        assert_eq!(contains_pattern("a_b%c\\d"), "%a\\_b\\%c\\\\d%");
    }

    #[test]
    fn pages_count_from_one_and_clamp_sizes() {
        assert_eq!(PageRequest::new(None, None, None, None), PageRequest { offset: 0, limit: 100 });
        assert_eq!(PageRequest::new(Some(3), Some(50), None, None), PageRequest { offset: 100, limit: 50 });
        assert_eq!(PageRequest::new(Some(0), Some(0), None, None), PageRequest { offset: 0, limit: 1 });
        assert_eq!(PageRequest::new(Some(2), None, Some(7), Some(5000)), PageRequest { offset: 7, limit: 1000 });
        let page = PageRequest::new(Some(2), Some(10), None, None).slice((0..25).collect::<Vec<_>>());
        assert_eq!((page.items.clone(), page.total, page.first(), page.last()), ((10..20).collect(), 25, 11, 20));
        assert_eq!((page.number(), page.pages()), (2, 3));
        let past = PageRequest::new(Some(9), Some(10), None, None).slice((0..25).collect::<Vec<_>>());
        assert!(past.items.is_empty());
        assert_eq!((past.first(), past.total), (0, 25));
    }
}
