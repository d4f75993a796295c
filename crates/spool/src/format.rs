//! The on-disk form of one queued message.
//!
//! ```text
//! AUTHRELAY-SPOOL 2\n
//! {"mail_from":…,"rcpt_to":[…],…}\n                  the envelope as one line of JSON
//! size=<bytes> queued_at=<unix secs> crc32=<8 hex>\n
//! <the message bytes, exactly as accepted>
//! ```
//!
//! The file describes itself: the magic line carries a format version, and the checksum covers
//! the envelope line and the message, so a file damaged after it was written is detected rather
//! than delivered. JSON never contains a raw newline, so the envelope is one line.
//!
//! Version 2 uses CRC-32 (hardware-assisted, ~40× faster than the byte-at-a-time FNV-1a 64 of
//! version 1, which cost ~0.15 ms per 100 KiB and was computed on every accept and every read).
//! Version 1 files, written by earlier releases, are still read.

use std::io::{self, BufRead, Read};

use crate::{Envelope, SpoolError};

/// First line of every spool file written now; the number is the format version.
pub(crate) const MAGIC: &str = "AUTHRELAY-SPOOL 2";
/// First line of files written by earlier releases (FNV-1a 64 checksum).
const MAGIC_V1: &str = "AUTHRELAY-SPOOL 1";

/// No header line of a file we wrote comes near this; a longer one means garbage, and the cap
/// keeps `list` from slurping a damaged multi-gigabyte "line" into memory.
const MAX_HEADER_LINE: u64 = 8 << 20;

/// FNV-1a, 64 bit. Not cryptographic: it only has to notice torn or flipped bytes. Kept for
/// version 1 files and for small records.
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

/// A running checksum of the file's version.
#[derive(Clone)]
pub(crate) enum Checksum {
    Fnv(Fnv1a64),
    Crc(crc32fast::Hasher),
}

impl Checksum {
    fn update(self, bytes: &[u8]) -> Self {
        match self {
            Checksum::Fnv(f) => Checksum::Fnv(f.update(bytes)),
            Checksum::Crc(mut c) => {
                c.update(bytes);
                Checksum::Crc(c)
            }
        }
    }

    fn finish(self) -> u64 {
        match self {
            Checksum::Fnv(f) => f.finish(),
            Checksum::Crc(c) => u64::from(c.finalize()),
        }
    }

    fn hex(&self, value: u64) -> String {
        match self {
            Checksum::Fnv(_) => format!("{value:016x}"),
            Checksum::Crc(_) => format!("{value:08x}"),
        }
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
    pub partial: Checksum,
    /// Length of the header in bytes, i.e. where the message starts.
    pub len: u64,
}

/// The header to write in front of `message` (always the current version).
pub(crate) fn encode_header(envelope: &Envelope, message: &[u8], queued_at: i64) -> Result<Vec<u8>, SpoolError> {
    let json = serde_json::to_vec(envelope).map_err(|e| SpoolError::Io(io::Error::other(e)))?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&json);
    crc.update(message);
    let checksum = crc.finalize();
    let mut out = Vec::with_capacity(json.len() + 96);
    out.extend_from_slice(MAGIC.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(&json);
    out.push(b'\n');
    out.extend_from_slice(format!("size={} queued_at={queued_at} crc32={checksum:08x}\n", message.len()).as_bytes());
    Ok(out)
}

/// Reads and checks the header of the file of `id`; the reader is left at the first message byte.
pub(crate) fn read_header(id: &str, r: &mut impl BufRead) -> Result<Header, SpoolError> {
    let corrupt = |reason: String| SpoolError::Corrupt { id: id.to_string(), reason };
    let mut len = 0u64;

    let magic = read_line(r, &mut len, "magic")?.map_err(&corrupt)?;
    let (start, sum_key, sum_digits) = if magic == MAGIC.as_bytes() {
        (Checksum::Crc(crc32fast::Hasher::new()), "crc32", 8)
    } else if magic == MAGIC_V1.as_bytes() {
        (Checksum::Fnv(Fnv1a64::new()), "fnv1a64", 16)
    } else {
        return Err(corrupt(format!(
            "first line is {:?}, expected {MAGIC:?}",
            String::from_utf8_lossy(&magic[..magic.len().min(40)])
        )));
    };

    let json = read_line(r, &mut len, "envelope")?.map_err(&corrupt)?;
    let envelope: Envelope = serde_json::from_slice(&json).map_err(|e| corrupt(format!("envelope line: {e}")))?;

    let fields = read_line(r, &mut len, "size/checksum")?.map_err(&corrupt)?;
    let (size, queued_at, checksum) = parse_fields(&fields, sum_key, sum_digits).map_err(&corrupt)?;

    Ok(Header { envelope, size, queued_at, checksum, partial: start.update(&json), len })
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
    let actual = header.partial.clone().update(message).finish();
    if actual != header.checksum {
        return Err(corrupt(format!(
            "checksum mismatch: file says {}, content gives {}",
            header.partial.hex(header.checksum),
            header.partial.hex(actual)
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

/// Parses `size=<u64> queued_at=<i64> <sum_key>=<sum_digits hex>`, strictly in that order.
fn parse_fields(line: &[u8], sum_key: &str, sum_digits: usize) -> Result<(u64, i64, u64), String> {
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
    let sum = field(sum_key)?;
    if sum.len() != sum_digits {
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
            connector: None,
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

    /// Files written by earlier releases (version 1, FNV-1a 64) are still read and checked.
    #[test]
    fn version_1_files_are_still_read() {
        let msg = b"Subject: old\r\n\r\nqueued before the upgrade\r\n";
        let json = serde_json::to_vec(&envelope()).unwrap();
        let sum = Fnv1a64::new().update(&json).update(msg).finish();
        let mut v1 = b"AUTHRELAY-SPOOL 1\n".to_vec();
        v1.extend_from_slice(&json);
        v1.extend_from_slice(format!("\nsize={} queued_at=1700000001 fnv1a64={sum:016x}\n", msg.len()).as_bytes());
        v1.extend_from_slice(msg);
        assert_eq!(decode(&v1).unwrap(), (envelope(), msg.to_vec()));
        let last = v1.len() - 3;
        v1[last] ^= 1;
        assert!(matches!(decode(&v1), Err(SpoolError::Corrupt { .. })));
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
            ("only magic", b"AUTHRELAY-SPOOL 2\n".to_vec()),
            ("wrong magic", replace("AUTHRELAY-SPOOL 2", "AUTHRELAY-SPOOL 3")),
            ("version 1 magic on a version 2 file", replace("AUTHRELAY-SPOOL 2", "AUTHRELAY-SPOOL 1")),
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
            ("short checksum", replace("crc32=", "crc32=0")),
            ("fields reordered", replace("size=", "sizes=")),
            ("trailing field", replace(" crc32=", " x=1 crc32=")),
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
