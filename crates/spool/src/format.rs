//! The on-disk form of one queued message.
//!
//! ```text
//! AUTHRELAY-SPOOL 1\n
//! {"mail_from":…,"rcpt_to":[…],…}\n                  the envelope as one line of JSON
//! size=<bytes> queued_at=<unix secs> fnv1a64=<16 hex>\n
//! <the message bytes, exactly as accepted>
//! ```
//!
//! The file describes itself: the magic line carries a format version, and the checksum (FNV-1a,
//! 64 bit) covers the envelope line and the message, so a file damaged after it was written is
//! detected rather than delivered. JSON never contains a raw newline, so the envelope is one line.

use std::io::{self, BufRead, Read};

use crate::{Envelope, SpoolError};

/// First line of every spool file; the number is the format version.
pub(crate) const MAGIC: &str = "AUTHRELAY-SPOOL 1";

/// No header line of a file we wrote comes near this; a longer one means garbage, and the cap
/// keeps `list` from slurping a damaged multi-gigabyte "line" into memory.
const MAX_HEADER_LINE: u64 = 8 << 20;

/// FNV-1a, 64 bit. Not cryptographic: it only has to notice torn or flipped bytes.
#[derive(Clone, Copy)]
pub(crate) struct Fnv1a64(u64);

impl Fnv1a64 {
    pub(crate) fn new() -> Self {
        Fnv1a64(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn update(mut self, bytes: &[u8]) -> Self {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self
    }

    pub(crate) fn finish(self) -> u64 {
        self.0
    }
}

/// Everything before the message bytes, as read back from a file.
pub(crate) struct Header {
    pub envelope: Envelope,
    /// Length of the message that follows the header.
    pub size: u64,
    pub queued_at: i64,
    /// Checksum recorded in the file.
    pub checksum: u64,
    /// Checksum state after the envelope line; continue it over the message to verify.
    pub partial: Fnv1a64,
    /// Length of the header in bytes, i.e. where the message starts.
    pub len: u64,
}

/// The header to write in front of `message`.
pub(crate) fn encode_header(envelope: &Envelope, message: &[u8], queued_at: i64) -> Result<Vec<u8>, SpoolError> {
    let json = serde_json::to_vec(envelope).map_err(|e| SpoolError::Io(io::Error::other(e)))?;
    let checksum = Fnv1a64::new().update(&json).update(message).finish();
    let mut out = Vec::with_capacity(json.len() + 96);
    out.extend_from_slice(MAGIC.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&json);
    out.push(b'\n');
    out.extend_from_slice(format!("size={} queued_at={queued_at} fnv1a64={checksum:016x}\n", message.len()).as_bytes());
    Ok(out)
}

/// Reads and checks the header of the file of `id`; the reader is left at the first message byte.
pub(crate) fn read_header(id: &str, r: &mut impl BufRead) -> Result<Header, SpoolError> {
    let corrupt = |reason: String| SpoolError::Corrupt { id: id.to_string(), reason };
    let mut len = 0u64;

    let magic = read_line(r, &mut len, "magic")?.map_err(&corrupt)?;
    if magic != MAGIC.as_bytes() {
        return Err(corrupt(format!(
            "first line is {:?}, expected {MAGIC:?}",
            String::from_utf8_lossy(&magic[..magic.len().min(40)])
        )));
    }

    let json = read_line(r, &mut len, "envelope")?.map_err(&corrupt)?;
    let envelope: Envelope = serde_json::from_slice(&json).map_err(|e| corrupt(format!("envelope line: {e}")))?;

    let fields = read_line(r, &mut len, "size/checksum")?.map_err(&corrupt)?;
    let (size, queued_at, checksum) = parse_fields(&fields).map_err(&corrupt)?;

    Ok(Header { envelope, size, queued_at, checksum, partial: Fnv1a64::new().update(&json), len })
}

/// Checks `message` (everything after the header) against the header's length and checksum.
pub(crate) fn verify_message(id: &str, header: &Header, message: &[u8]) -> Result<(), SpoolError> {
    let corrupt = |reason: String| SpoolError::Corrupt { id: id.to_string(), reason };
    if message.len() as u64 != header.size {
        return Err(corrupt(format!(
            "message is {} bytes, header says {} (truncated or extended file)",
            message.len(),
            header.size
        )));
    }
    let actual = header.partial.update(message).finish();
    if actual != header.checksum {
        return Err(corrupt(format!(
            "checksum mismatch: file says {:016x}, content gives {actual:016x}",
            header.checksum
        )));
    }
    Ok(())
}

/// One `\n`-terminated line without its terminator. The outer error is I/O, the inner one a
/// description of the damage.
fn read_line(r: &mut impl BufRead, consumed: &mut u64, what: &str) -> io::Result<Result<Vec<u8>, String>> {
    let mut line = Vec::new();
    let n = r.by_ref().take(MAX_HEADER_LINE).read_until(b'\n', &mut line)?;
    *consumed += n as u64;
    if line.last() != Some(&b'\n') {
        return Ok(Err(if n as u64 >= MAX_HEADER_LINE {
            format!("{what} line longer than {MAX_HEADER_LINE} bytes")
        } else {
            format!("file ends inside the {what} line")
        }));
    }
    line.pop();
    Ok(Ok(line))
}

/// Parses `size=<u64> queued_at=<i64> fnv1a64=<16 hex>`, strictly in that order.
fn parse_fields(line: &[u8]) -> Result<(u64, i64, u64), String> {
    let bad = || format!("size/checksum line {:?} is malformed", String::from_utf8_lossy(&line[..line.len().min(80)]));
    let text = std::str::from_utf8(line).map_err(|_| bad())?;
    let mut parts = text.split(' ');
    let mut field = |key: &str| {
        parts
            .next()
            .and_then(|p| p.strip_prefix(key))
            .and_then(|p| p.strip_prefix('='))
            .filter(|v| !v.is_empty() && !v.starts_with('+'))
            .ok_or_else(bad)
    };
    let size = field("size")?.parse::<u64>().map_err(|_| bad())?;
    let queued_at = field("queued_at")?.parse::<i64>().map_err(|_| bad())?;
    let sum = field("fnv1a64")?;
    if sum.len() != 16 {
        return Err(bad());
    }
    let checksum = u64::from_str_radix(sum, 16).map_err(|_| bad())?;
    if parts.next().is_some() {
        return Err(bad());
    }
    Ok((size, queued_at, checksum))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope() -> Envelope {
        Envelope {
            mail_from: "a@example.com".into(),
            rcpt_to: vec!["b@example.net".into()],
            auth_user: "a@example.com".into(),
            client_ip: "192.0.2.1".into(),
            received_at: 1_700_000_000,
            smtputf8: false,
            body_8bit: false,
        }
    }

    fn file(message: &[u8]) -> Vec<u8> {
        let mut f = encode_header(&envelope(), message, 1_700_000_001).unwrap();
        f.extend_from_slice(message);
        f
    }

    fn decode(bytes: &[u8]) -> Result<(Envelope, Vec<u8>), SpoolError> {
        let mut cur = bytes;
        let header = read_header("X", &mut cur)?;
        assert_eq!(header.len as usize, bytes.len() - cur.len());
        verify_message("X", &header, cur)?;
        Ok((header.envelope, cur.to_vec()))
    }

    #[test]
    fn fnv_matches_reference_vectors() {
        assert_eq!(Fnv1a64::new().finish(), 0xcbf29ce484222325);
        assert_eq!(Fnv1a64::new().update(b"a").finish(), 0xaf63dc4c8601ec8c);
        assert_eq!(Fnv1a64::new().update(b"foobar").finish(), 0x85944171f73967e8);
    }

    #[test]
    fn round_trip() {
        let msg = b"Subject: x\r\n\r\nbody\r\n";
        assert_eq!(decode(&file(msg)).unwrap(), (envelope(), msg.to_vec()));
    }

    /// Every damage below must be reported as corruption, never decoded.
    #[test]
    fn damaged_files_are_corrupt() {
        let good = file(b"Subject: x\r\n\r\nbody\r\n");
        let text_end = good.len() - 20;
        let header_end = good.iter().enumerate().filter(|(_, &b)| b == b'\n').nth(2).unwrap().0 + 1;
        let replace =
            |from: &str, to: &str| String::from_utf8(good.clone()).unwrap().replacen(from, to, 1).into_bytes();
        let mut flipped = good.clone();
        flipped[text_end + 3] ^= 0x20;
        let mut extended = good.clone();
        extended.extend_from_slice(b"extra");

        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty file", vec![]),
            ("only magic", b"AUTHRELAY-SPOOL 1\n".to_vec()),
            ("wrong magic", replace("AUTHRELAY-SPOOL 1", "AUTHRELAY-SPOOL 2")),
            ("torn in envelope", good[..30].to_vec()),
            ("torn in fields line", good[..header_end - 5].to_vec()),
            ("header only", good[..header_end].to_vec()),
            ("truncated by one byte", good[..good.len() - 1].to_vec()),
            ("extended", extended),
            ("flipped body bit", flipped),
            ("envelope edited", replace("b@example.net", "c@example.net")),
            ("bad json", replace("{\"mail_from\"", "{\"mail_from\"\"")),
            ("negative size", replace("size=", "size=-")),
            ("plus size", replace("size=", "size=+")),
            ("short checksum", replace("fnv1a64=", "fnv1a64=0")),
            ("fields reordered", replace("size=", "sizes=")),
            ("trailing field", replace(" fnv1a64=", " x=1 fnv1a64=")),
            ("binary garbage", vec![0xff; 64]),
        ];
        for (name, bytes) in cases {
            match decode(&bytes) {
                Err(SpoolError::Corrupt { .. }) => {}
                other => panic!("{name}: expected Corrupt, got {other:?}"),
            }
        }
    }
}
