//! TOTP (RFC 6238) with HMAC-SHA1, 6 digits and 30-second steps — what every authenticator app
//! reads from an `otpauth://` QR code — and the RFC 4648 base32 the secret is written in.

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha1::Sha1;
use subtle::ConstantTimeEq;

pub const STEP_SECS: i64 = 30;
pub const DIGITS: u32 = 6;
/// Bytes of a new secret (160 bits, as RFC 4226 §4 recommends).
pub const SECRET_LEN: usize = 20;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            out.push(char::from(ALPHABET[((buffer >> (bits - 5)) & 31) as usize]));
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// Decodes base32, ignoring case, spaces and padding; None on any other character.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.chars().filter(|c| *c != ' ' && *c != '=') {
        let v = ALPHABET.iter().position(|a| char::from(*a) == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
        buffer &= (1 << bits) - 1;
    }
    Some(out)
}

/// A new random secret, base32.
pub fn new_secret() -> String {
    let mut bytes = [0u8; SECRET_LEN];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base32_encode(&bytes)
}

/// The HOTP value (RFC 4226 §5.3) of `key` at `counter`, as a zero-padded string.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> String {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(&counter.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[hash.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([hash[offset] & 0x7f, hash[offset + 1], hash[offset + 2], hash[offset + 3]]);
    format!("{:0width$}", binary % 10u32.pow(digits), width = digits as usize)
}

/// The time step of a unix time.
pub fn step_at(unix: i64) -> i64 {
    unix.div_euclid(STEP_SECS)
}

/// The 6-digit code of a base32 secret at a unix time.
pub fn code_at(secret_b32: &str, unix: i64) -> Option<String> {
    let key = base32_decode(secret_b32)?;
    Some(hotp(&key, step_at(unix) as u64, DIGITS))
}

/// Checks `code` against the steps around `unix` (one step either side, for clock drift) and
/// returns the matching step, which the caller records so the same code is not accepted twice.
pub fn verify(secret_b32: &str, code: &str, unix: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let key = base32_decode(secret_b32)?;
    let now = step_at(unix);
    let mut found = None;
    // Compare against every candidate so the time taken does not say which step matched.
    for step in [now - 1, now, now + 1] {
        let expected = hotp(&key, step as u64, DIGITS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            found = Some(step);
        }
    }
    found
}

/// The `otpauth://` URI authenticator apps read from the QR code.
pub fn otpauth_uri(issuer: &str, account: &str, secret_b32: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => char::from(b).to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={secret_b32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

/// The QR code of `text` as an inline SVG element.
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    Some(code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).quiet_zone(true).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (8 digits), key "12345678901234567890".
    #[test]
    fn rfc6238_test_vectors() {
        let key = b"12345678901234567890";
        for (time, want) in [
            (59u64, "94287082"),
            (1111111109, "07081804"),
            (1111111111, "14050471"),
            (1234567890, "89005924"),
            (2000000000, "69279037"),
            (20000000000, "65353130"),
        ] {
            assert_eq!(hotp(key, time / 30, 8), want, "T={time}");
        }
    }

    /// RFC 4226 Appendix D: HOTP values for counters 0..9.
    #[test]
    fn rfc4226_test_vectors() {
        let want = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"];
        for (counter, code) in want.iter().enumerate() {
            assert_eq!(hotp(b"12345678901234567890", counter as u64, 6), *code);
        }
    }

    #[test]
    fn base32_round_trip_and_rfc4648_vectors() {
        for (raw, enc) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(raw.as_bytes()), enc);
            assert_eq!(base32_decode(enc).unwrap(), raw.as_bytes());
        }
        assert_eq!(base32_decode("mzxw 6ytb oi======").unwrap(), b"foobar");
        assert!(base32_decode("MZXW1").is_none(), "1 is not in the alphabet");
        let s = new_secret();
        assert_eq!(s.len(), 32);
        assert_eq!(base32_decode(&s).unwrap().len(), SECRET_LEN);
    }

    #[test]
    fn verify_accepts_one_step_of_drift_and_nothing_else() {
        let secret = base32_encode(b"12345678901234567890");
        let t = 1_111_111_111;
        let code = code_at(&secret, t).unwrap();
        assert_eq!(verify(&secret, &code, t), Some(step_at(t)));
        assert_eq!(verify(&secret, &code, t + 30), Some(step_at(t)));
        assert_eq!(verify(&secret, &code, t - 30), Some(step_at(t)));
        assert_eq!(verify(&secret, &code, t + 90), None);
        assert_eq!(verify(&secret, "12345", t), None);
        assert_eq!(verify(&secret, "abcdef", t), None);
        assert_eq!(verify(&secret, &format!("{} ", &code[..3]), t), None);
    }

    #[test]
    fn otpauth_uri_escapes_the_label() {
        let uri = otpauth_uri("authrelay", "boss@contoso.com", "ABC");
        assert_eq!(
            uri,
            "otpauth://totp/authrelay:boss@contoso.com?secret=ABC&issuer=authrelay&algorithm=SHA1&digits=6&period=30"
        );
        assert!(otpauth_uri("a b", "x", "S").contains("a%20b"));
        assert!(qr_svg(&uri).unwrap().starts_with("<?xml") || qr_svg(&uri).unwrap().contains("<svg"));
    }
}
