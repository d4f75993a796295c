//! Queue identifiers: sortable by arrival time, unique without coordination, safe as file names.

use std::fmt;

/// `<12 hex digits of milliseconds since the epoch><8 hex digits of randomness>`, upper case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct QueueId(String);

impl QueueId {
    pub fn new(unix_millis: u64, random: u32) -> Self {
        QueueId(format!("{:012X}{:08X}", unix_millis & 0xFFFF_FFFF_FFFF, random))
    }

    /// Accepts only the shape [`QueueId::new`] produces, so an ID typed at the CLI can never
    /// name a path outside the spool.
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 20 && s.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)))
            .then(|| QueueId(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn unix_millis(&self) -> u64 {
        u64::from_str_radix(&self.0[..12], 16).unwrap_or(0)
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_paths() {
        let id = QueueId::new(1_700_000_000_000, 0xDEADBEEF);
        assert_eq!(QueueId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(id.unix_millis(), 1_700_000_000_000);
        assert_eq!(QueueId::parse("../../etc/passwd"), None);
        assert_eq!(QueueId::parse("018BCFE56800deadbeef"), None);
    }
}
