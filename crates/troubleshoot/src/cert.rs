//! Reads the few facts of an X.509 certificate an admin needs when a device refuses the server:
//! subject and issuer common names, the names it is valid for, and its validity period.
//!
//! A small DER walker (RFC 5280 §4.1) rather than a full parser: it only descends into the
//! fields it reports and returns `None` on anything it does not understand. Verification itself
//! (chain, expiry, name) is left to rustls/webpki; this is for display only.

/// What is shown about a certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CertFacts {
    pub subject: String,
    pub issuer: String,
    /// DNS names and IP addresses of the subjectAltName extension.
    pub names: Vec<String>,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
}

/// One DER element: (tag, contents, rest after it).
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | b as usize);
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
const OID_SAN: &[u8] = &[0x55, 0x1d, 0x11];

/// The common name of a Name (SEQUENCE OF SET OF SEQUENCE { OID, value }), else its first value.
fn name_of(mut name: &[u8]) -> String {
    let mut first = None;
    while let Some((_, set, rest)) = tlv(name) {
        name = rest;
        let mut set = set;
        while let Some((_, atv, rest)) = tlv(set) {
            set = rest;
            if let Some((0x06, oid, value)) = tlv(atv) {
                if let Some((_, v, _)) = tlv(value) {
                    let text = String::from_utf8_lossy(v).into_owned();
                    if oid == OID_CN {
                        return text;
                    }
                    first.get_or_insert(text);
                }
            }
        }
    }
    first.unwrap_or_default()
}

/// UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSSZ) to unix seconds.
fn time_of(tag: u8, v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?.strip_suffix('Z')?;
    let (year, rest) = match tag {
        0x17 => {
            let yy: i32 = s.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let n = |i: usize| rest.get(i..i + 2).and_then(|x| x.parse::<u8>().ok());
    let month = time::Month::try_from(n(0)?).ok()?;
    let date = time::Date::from_calendar_date(year, month, n(2)?).ok()?;
    let t = time::Time::from_hms(n(4)?, n(6)?, n(8)?).ok()?;
    Some(time::PrimitiveDateTime::new(date, t).assume_utc().unix_timestamp())
}

fn sans(mut exts: &[u8]) -> Vec<String> {
    let mut names = vec![];
    while let Some((_, ext, rest)) = tlv(exts) {
        exts = rest;
        let Some((0x06, oid, mut rest)) = tlv(ext) else { continue };
        if oid != OID_SAN {
            continue;
        }
        // Optional BOOLEAN critical, then OCTET STRING { SEQUENCE OF GeneralName }.
        if let Some((0x01, _, r)) = tlv(rest) {
            rest = r;
        }
        let Some((0x04, octets, _)) = tlv(rest) else { continue };
        let Some((0x30, mut list, _)) = tlv(octets) else { continue };
        while let Some((tag, v, r)) = tlv(list) {
            list = r;
            match tag {
                0x82 => names.push(String::from_utf8_lossy(v).into_owned()),
                0x87 if v.len() == 4 => names.push(std::net::Ipv4Addr::new(v[0], v[1], v[2], v[3]).to_string()),
                0x87 if v.len() == 16 => {
                    let b: [u8; 16] = v.try_into().expect("16 bytes");
                    names.push(std::net::Ipv6Addr::from(b).to_string())
                }
                _ => {}
            }
        }
    }
    names
}

/// Reads the facts of a DER certificate, or `None` when it does not have the expected shape.
pub fn facts(der: &[u8]) -> Option<CertFacts> {
    let (0x30, cert, _) = tlv(der)? else { return None };
    let (0x30, mut tbs, _) = tlv(cert)? else { return None };
    // [0] version is optional.
    if let Some((0xa0, _, rest)) = tlv(tbs) {
        tbs = rest;
    }
    let (_, _serial, rest) = tlv(tbs)?;
    let (_, _sigalg, rest) = tlv(rest)?;
    let (_, issuer, rest) = tlv(rest)?;
    let (_, validity, rest) = tlv(rest)?;
    let (_, subject, rest) = tlv(rest)?;
    let (t1, nb, after) = tlv(validity)?;
    let (t2, na, _) = tlv(after)?;
    let (_, _spki, mut rest) = tlv(rest)?;
    let mut names = vec![];
    while let Some((tag, v, r)) = tlv(rest) {
        rest = r;
        if tag == 0xa3 {
            if let Some((0x30, exts, _)) = tlv(v) {
                names = sans(exts);
            }
        }
    }
    Some(CertFacts {
        subject: name_of(subject),
        issuer: name_of(issuer),
        names,
        not_before: time_of(t1, nb)?,
        not_after: time_of(t2, na)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_rcgen_certificate() {
        let mut params = rcgen::CertificateParams::new(vec!["mx.example.net".into(), "127.0.0.1".into()]).unwrap();
        params.distinguished_name.push(rcgen::DnType::CommonName, "mx.example.net");
        params.not_before = rcgen::date_time_ymd(2026, 1, 2);
        params.not_after = rcgen::date_time_ymd(2027, 3, 4);
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let f = facts(cert.der()).expect("parses");
        assert_eq!(f.subject, "mx.example.net");
        assert_eq!(f.issuer, "mx.example.net");
        assert_eq!(f.names, vec!["mx.example.net".to_string(), "127.0.0.1".to_string()]);
        assert_eq!(crate::rfc3339(f.not_before), "2026-01-02T00:00:00Z");
        assert_eq!(crate::rfc3339(f.not_after), "2027-03-04T00:00:00Z");
        // Garbage is refused, not misread.
        assert!(facts(&[0x30, 0x03, 0x02, 0x01, 0x01]).is_none());
        assert!(facts(b"not a certificate").is_none());
    }
}
