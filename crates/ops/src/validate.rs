//! The input rules every door shares: a value refused by the CLI is refused by the API and the
//! pages with the same [`OpsError`], and the other way round.

use authrelay_core::{Address, Cidr};

use crate::error::OpsError;

/// Longest organisation, app-password, device-credential and token name (characters).
pub const MAX_NAME: usize = 64;
/// Longest display name (characters).
pub const MAX_DISPLAY_NAME: usize = 256;

/// A short label an admin chooses: trimmed, 1..=`max` characters, no control characters
/// (line breaks, escapes, NUL), which would forge lines in logs and terminal output. Unicode
/// format characters that reorder text (bidi overrides) are refused too.
pub fn label(input: &str, max: usize) -> Option<String> {
    let s = input.trim();
    let bad = |c: char| {
        c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    };
    if s.is_empty() || s.chars().count() > max || s.chars().any(bad) {
        return None;
    }
    Some(s.to_string())
}

pub fn org_name(input: &str) -> Result<String, OpsError> {
    label(input, MAX_NAME).ok_or(OpsError::BadOrgName)
}

pub fn display_name(input: &str) -> Result<String, OpsError> {
    label(input, MAX_DISPLAY_NAME).ok_or(OpsError::BadDisplayName)
}

pub fn app_password_name(input: &str) -> Result<String, OpsError> {
    label(input, MAX_NAME).ok_or(OpsError::BadAppPasswordName)
}

pub fn device_credential_name(input: &str) -> Result<String, OpsError> {
    label(input, MAX_NAME).ok_or(OpsError::BadDeviceCredentialName)
}

pub fn token_name(input: &str) -> Result<String, OpsError> {
    label(input, MAX_NAME).ok_or(OpsError::BadTokenName)
}

pub fn address(input: &str) -> Result<Address, OpsError> {
    Address::parse(input).map_err(|e| OpsError::BadAddress { input: bounded(input), reason: e.to_string() })
}

/// A domain name with at least one dot, lower-case, without the trailing dot.
pub fn domain(input: &str) -> Result<String, OpsError> {
    let d = input.trim().trim_end_matches('.').to_lowercase();
    if !authrelay_core::address::is_domain(&d) || !d.contains('.') {
        return Err(OpsError::BadDomain { input: bounded(input) });
    }
    Ok(d)
}

/// Client-address ranges, split on commas and white space; empty means any address.
pub fn cidrs(items: &[String]) -> Result<Vec<Cidr>, OpsError> {
    items
        .iter()
        .flat_map(|a| a.split([',', ' ', '\n', '\r', '\t']))
        .filter(|a| !a.is_empty())
        .map(|item| item.parse::<Cidr>().map_err(|_| OpsError::BadCidr { value: bounded(item) }))
        .collect()
}

/// An expiry: an RFC 3339 time, or a day (valid through its end, UTC); must lie after `now`.
pub fn expiry(value: &str, now: i64) -> Result<i64, OpsError> {
    use time::format_description::well_known::Rfc3339;
    let bad = || OpsError::BadExpiry { value: bounded(value) };
    let text = value.trim();
    let at = if let Ok(t) = time::OffsetDateTime::parse(text, &Rfc3339) {
        t.unix_timestamp()
    } else {
        let format = time::macros::format_description!("[year]-[month]-[day]");
        let day = time::Date::parse(text, &format).map_err(|_| bad())?;
        day.next_day().ok_or_else(bad)?.midnight().assume_utc().unix_timestamp()
    };
    if at <= now {
        return Err(OpsError::ExpiryPast { value: bounded(value) });
    }
    Ok(at)
}

/// Input echoed back in an error message, cut to a readable length.
fn bounded(input: &str) -> String {
    let mut s: String = input.chars().take(100).collect();
    if s.len() < input.len() {
        s.push('…');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names an attacker would try: every one is refused by every name rule.
    pub const HOSTILE: &[&str] = &[
        "",
        "   ",
        "a\nb",
        "a\r\nauthrelay: accepted",
        "\u{1b}[31mred",
        "nul\0byte",
        "tab\there",
        "del\u{7f}",
        "c1\u{85}next",
        "bidi\u{202e}txt.exe",
        "isolate\u{2066}x",
    ];

    #[test]
    fn hostile_names_are_refused_by_every_name_rule() {
        let long = "x".repeat(MAX_NAME + 1);
        for name in HOSTILE.iter().copied().chain([long.as_str()]) {
            assert!(org_name(name).is_err(), "{name:?}");
            assert!(app_password_name(name).is_err(), "{name:?}");
            assert!(device_credential_name(name).is_err(), "{name:?}");
            assert!(token_name(name).is_err(), "{name:?}");
            if name.chars().count() <= MAX_DISPLAY_NAME {
                assert!(display_name(name).is_err() || name == long, "{name:?}");
            }
        }
        assert_eq!(app_password_name("  office scanner ").unwrap(), "office scanner");
        assert_eq!(app_password_name("스캐너").unwrap(), "스캐너");
        assert!(app_password_name(&"é".repeat(MAX_NAME)).is_ok(), "characters, not bytes");
    }

    #[test]
    fn domains_and_ranges() {
        assert_eq!(domain("Contoso.COM.").unwrap(), "contoso.com");
        assert!(domain("localhost").is_err());
        assert!(domain("a b.com").is_err());
        assert_eq!(cidrs(&["10.0.0.0/8, 192.0.2.1".into()]).unwrap().len(), 2);
        assert!(cidrs(&["10.0.0.0/33".into()]).is_err());
    }

    #[test]
    fn expiry_dates() {
        assert!(matches!(expiry("2000-01-01", 1_000_000_000), Err(OpsError::ExpiryPast { .. })));
        assert!(matches!(expiry("tomorrow", 0), Err(OpsError::BadExpiry { .. })));
        assert_eq!(expiry("1970-01-02", 0).unwrap(), 2 * 86_400);
    }
}
