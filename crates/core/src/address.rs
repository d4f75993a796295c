//! Mailbox addresses as the directory keys them: `local@domain`, compared case-insensitively.

use std::fmt;

/// A syntactically valid `local@domain` address, stored lower-case.
///
/// Lower-casing the local part is a simplification real submission servers make for their own
/// mailboxes (Exchange and Gmail both treat local parts case-insensitively); it keeps one user
/// from existing twice under different spellings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Address(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("the address is empty")]
    Empty,
    #[error("the address has no '@' between a local part and a domain")]
    MissingAt,
    #[error("the address is longer than 254 characters")]
    TooLong,
    #[error("the address contains a space, control character or bracket")]
    BadCharacter,
    #[error("the domain part is not a valid domain name")]
    BadDomain,
    #[error("the local part is not a plain dot-atom (letters, digits, !#$%&'*+-/=?^_`{{|}}~ and single dots)")]
    BadLocalPart,
}

impl Address {
    pub fn parse(input: &str) -> Result<Self, AddressError> {
        let trimmed = input.trim();
        let s = trimmed.strip_prefix('<').and_then(|s| s.strip_suffix('>')).unwrap_or(trimmed);
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        // RFC 5321 4.5.3.1.3: a path is at most 256 octets including the brackets.
        if s.len() > 254 {
            return Err(AddressError::TooLong);
        }
        if s.chars().any(|c| c.is_control() || c.is_whitespace() || "<>()[],;\\\"".contains(c)) {
            return Err(AddressError::BadCharacter);
        }
        let (local, domain) = s.rsplit_once('@').ok_or(AddressError::MissingAt)?;
        if local.is_empty() || domain.is_empty() {
            return Err(AddressError::MissingAt);
        }
        // Only a dot-atom is written out unquoted with the same meaning: a quoted local part
        // that is not one (`"a@b"@c`, `"x> RET=FULL"@c`) would change when re-emitted, so it is
        // refused rather than carried (issue 12).
        if !is_dot_atom(local) {
            return Err(AddressError::BadLocalPart);
        }
        if !is_domain(domain) {
            return Err(AddressError::BadDomain);
        }
        Ok(Address(s.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map(|(l, _)| l).unwrap_or("")
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

/// RFC 5322 3.2.3 dot-atom (with UTF-8 letters, RFC 6531): atext runs joined by single dots.
pub fn is_dot_atom(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii())
        })
}

/// A domain name: dot-separated labels of letters, digits, hyphens (and UTF-8 for SMTPUTF8).
pub fn is_domain(domain: &str) -> bool {
    if domain.len() > 253 || domain.starts_with('.') || domain.ends_with('.') {
        return false;
    }
    domain.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    })
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Address {
    type Error = AddressError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Address::parse(&value)
    }
}

impl From<Address> for String {
    fn from(a: Address) -> String {
        a.0
    }
}

impl std::str::FromStr for Address {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Address::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises() {
        let a = Address::parse("<Scanner@Contoso.COM>").unwrap();
        assert_eq!(a.as_str(), "scanner@contoso.com");
        assert_eq!(a.local_part(), "scanner");
        assert_eq!(a.domain(), "contoso.com");
    }

    #[test]
    fn rejects_hostile_or_broken_input() {
        for (input, err) in [
            ("", AddressError::Empty),
            ("<>", AddressError::Empty),
            ("nobody", AddressError::MissingAt),
            ("@contoso.com", AddressError::MissingAt),
            ("a b@contoso.com", AddressError::BadCharacter),
            ("a@contoso..com", AddressError::BadDomain),
            ("a@-contoso.com", AddressError::BadDomain),
            ("a\r\n@contoso.com", AddressError::BadCharacter),
            ("victim@internal.example@remote.example", AddressError::BadLocalPart),
            ("a@b:c@contoso.com", AddressError::BadLocalPart),
            (".a@contoso.com", AddressError::BadLocalPart),
            ("a..b@contoso.com", AddressError::BadLocalPart),
            ("a:b@contoso.com", AddressError::BadLocalPart),
        ] {
            assert_eq!(Address::parse(input), Err(err), "{input:?}");
        }
        assert_eq!(Address::parse(&format!("{}@x.com", "a".repeat(300))), Err(AddressError::TooLong));
    }
}
