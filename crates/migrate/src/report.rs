//! The SMTP AUTH clients report (Exchange admin center → Reports → Mail flow → SMTP AUTH
//! clients), as exported: one row per sender with its domain, the share of its messages sent
//! over TLS 1.0, 1.1 and 1.2, the number of messages, and — in exports since October 2024 —
//! the authentication protocol (Basic or OAuth).
//!
//! Header names follow the admin center's display language, so a column is found by what its
//! normalized name says (any `tls…10` header is the TLS 1.0 share) and by the English, Korean
//! and Indonesian names; `--column KEY=HEADER` names a column in any other language.

use std::collections::BTreeMap;

use authrelay_core::Address;
use serde::Serialize;

use crate::table::{normalize, Table};
use crate::ImportError;

/// How a sender authenticated to Microsoft 365.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// A user name and password: what Microsoft switches off.
    Basic,
    OAuth,
    /// The export has no protocol column (before October 2024): treated as basic.
    Unknown,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Basic => "basic",
            Protocol::OAuth => "oauth",
            Protocol::Unknown => "unknown",
        }
    }

    fn parse(value: &str) -> Option<Protocol> {
        let v = normalize(value);
        if v.is_empty() {
            Some(Protocol::Unknown)
        } else if v.contains("oauth") || v.contains("modern") {
            Some(Protocol::OAuth)
        } else if v.contains("basic") || v.contains("기본") || v.contains("dasar") {
            Some(Protocol::Basic)
        } else {
            None
        }
    }

    /// Whether this sender used a password with Microsoft 365.
    pub fn is_basic(self) -> bool {
        self != Protocol::OAuth
    }
}

/// One sender of the report (rows of the same address merged).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sender {
    /// Lower-case.
    pub address: String,
    pub domain: String,
    pub messages: u64,
    /// Percent of its messages over TLS 1.0, 1.1, 1.2 (None: the export has no such column).
    pub tls10: Option<f64>,
    pub tls11: Option<f64>,
    pub tls12: Option<f64>,
    pub protocol: Protocol,
}

impl Sender {
    /// It used TLS 1.0 or 1.1, which authrelay (TLS 1.2 and 1.3 only) does not offer.
    pub fn legacy_tls(&self) -> bool {
        self.tls10.unwrap_or(0.0) > 0.0 || self.tls11.unwrap_or(0.0) > 0.0
    }

    /// It sent nothing in the report's period.
    pub fn inactive(&self) -> bool {
        self.messages == 0
    }
}

/// The report's column keys, for `--column KEY=HEADER`.
pub const KEYS: &[&str] = &["sender", "domain", "tls10", "tls11", "tls12", "messages", "protocol"];

const SENDER: &[&str] = &[
    "senderaddress",
    "sender",
    "senderemailaddress",
    "emailaddress",
    "address",
    "useraddress",
    "userprincipalname",
    "보낸사람주소",
    "보낸사람",
    "발신자주소",
    "발신자",
    "alamatpengirim",
    "pengirim",
    "alamatemailpengirim",
];
const DOMAIN: &[&str] = &["domain", "senderdomain", "도메인", "domainpengirim"];
const MESSAGES: &[&str] = &[
    "messagessent",
    "messages",
    "messagecount",
    "sentmessages",
    "count",
    "보낸메시지",
    "보낸메시지수",
    "메시지수",
    "전송된메시지",
    "pesanterkirim",
    "jumlahpesan",
    "pesan",
];
const PROTOCOL: &[&str] = &[
    "authenticationprotocol",
    "authprotocol",
    "protocol",
    "authenticationtype",
    "authtype",
    "인증프로토콜",
    "protokolautentikasi",
    "protokol",
];

fn tls_column(version: &str) -> impl Fn(&str) -> bool + '_ {
    move |h: &str| h.strip_prefix("tls").is_some_and(|rest| rest.starts_with(version))
}

/// Reads a percentage: `45`, `45%`, `45.5 %`, `45,5` (decimal comma). Empty is None.
fn percent(file: &str, line: usize, column: &str, value: &str) -> Result<Option<f64>, ImportError> {
    let v = value.trim().trim_end_matches('%').trim().replace(',', ".");
    if v.is_empty() || v == "-" {
        return Ok(None);
    }
    match v.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(Some(p)),
        _ => Err(ImportError::BadValue { file: file.into(), line, column: column.into(), value: value.into() }),
    }
}

/// Reads a count written with any digit grouping: `1234`, `1,234`, `1.234`, `1 234`.
fn count(file: &str, line: usize, column: &str, value: &str) -> Result<u64, ImportError> {
    let digits: String =
        value.chars().filter(|c| !matches!(c, ',' | '.' | '\'' | ' ' | '\u{a0}' | '\u{202f}')).collect();
    if digits.is_empty() {
        return Ok(0);
    }
    digits.parse().map_err(|_| ImportError::BadValue {
        file: file.into(),
        line,
        column: column.into(),
        value: value.into(),
    })
}

/// Finds a column: the `--column` override, else the first header `names` lists.
fn find(
    table: &Table,
    key: &str,
    overrides: &BTreeMap<String, String>,
    names: &[&str],
) -> Result<Option<usize>, ImportError> {
    if let Some(header) = overrides.get(key) {
        return table.named(header).map(Some).ok_or_else(|| ImportError::NoSuchColumn {
            file: table.file.clone(),
            header: header.clone(),
            found: table.headers.join(", "),
        });
    }
    Ok(table.column(|h| names.contains(&h)))
}

fn find_tls(
    table: &Table,
    key: &str,
    overrides: &BTreeMap<String, String>,
    version: &str,
) -> Result<Option<usize>, ImportError> {
    if overrides.contains_key(key) {
        return find(table, key, overrides, &[]);
    }
    Ok(table.column(tls_column(version)))
}

/// Reads the report. `overrides` maps a key of [`KEYS`] to a header name.
pub fn parse(table: &Table, overrides: &BTreeMap<String, String>) -> Result<Vec<Sender>, ImportError> {
    let file = table.file.as_str();
    let sender = find(table, "sender", overrides, SENDER)?.ok_or_else(|| ImportError::MissingColumn {
        file: file.into(),
        column: "Sender address".into(),
        key: "sender".into(),
        found: table.headers.join(", "),
    })?;
    let messages = find(table, "messages", overrides, MESSAGES)?.ok_or_else(|| ImportError::MissingColumn {
        file: file.into(),
        column: "Messages sent".into(),
        key: "messages".into(),
        found: table.headers.join(", "),
    })?;
    let domain = find(table, "domain", overrides, DOMAIN)?;
    let protocol = find(table, "protocol", overrides, PROTOCOL)?;
    let tls = [
        find_tls(table, "tls10", overrides, "10")?,
        find_tls(table, "tls11", overrides, "11")?,
        find_tls(table, "tls12", overrides, "12")?,
    ];
    if tls.iter().all(Option::is_none) {
        return Err(ImportError::MissingColumn {
            file: file.into(),
            column: "TLS 1.0".into(),
            key: "tls10".into(),
            found: table.headers.join(", "),
        });
    }

    // Raw rows first: shares may be fractions (0.25) rather than percentages in some exports,
    // which only the whole file can tell.
    struct Raw {
        address: String,
        domain: String,
        messages: u64,
        tls: [Option<f64>; 3],
        protocol: Protocol,
    }
    let mut raws = vec![];
    for (i, row) in table.rows.iter().enumerate() {
        let line = i + 2;
        let cell = |c: usize| row.get(c).map(String::as_str).unwrap_or("");
        let address = Address::parse(cell(sender)).map_err(|_| ImportError::BadValue {
            file: file.into(),
            line,
            column: table.headers[sender].clone(),
            value: cell(sender).into(),
        })?;
        let address = address.as_str().to_lowercase();
        let own_domain = address.rsplit_once('@').map(|(_, d)| d.to_string()).unwrap_or_default();
        if let Some(d) = domain.map(cell).filter(|d| !d.is_empty()) {
            if !d.eq_ignore_ascii_case(&own_domain) {
                return Err(ImportError::DomainMismatch { file: file.into(), line, address, domain: d.into() });
            }
        }
        let mut shares = [None; 3];
        for (slot, column) in shares.iter_mut().zip(tls) {
            if let Some(c) = column {
                *slot = percent(file, line, &table.headers[c], cell(c))?;
            }
        }
        let protocol = match protocol {
            Some(c) => Protocol::parse(cell(c)).ok_or_else(|| ImportError::BadValue {
                file: file.into(),
                line,
                column: table.headers[c].clone(),
                value: cell(c).into(),
            })?,
            None => Protocol::Unknown,
        };
        let messages = count(file, line, &table.headers[messages], cell(messages))?;
        raws.push(Raw { address, domain: own_domain, messages, tls: shares, protocol });
    }
    let near = |a: f64, b: f64, tolerance: f64| (a - b).abs() <= tolerance;
    let sums: Vec<f64> =
        raws.iter().filter(|r| r.messages > 0).map(|r| r.tls.iter().flatten().sum()).filter(|s| *s > 0.0).collect();
    let fractions = !sums.is_empty() && sums.iter().all(|s| near(*s, 1.0, 0.02));
    let scale = if fractions { 100.0 } else { 1.0 };

    // Merge rows of one sender (a report split by protocol lists a sender twice): messages add
    // up, shares are weighted by messages, any Basic row makes the sender a Basic one.
    let mut merged: BTreeMap<String, (Sender, [f64; 3], f64)> = BTreeMap::new();
    for r in raws {
        // A row with no messages still carries its shares, with the least weight.
        let weight = (r.messages as f64).max(1.0);
        let (s, weighted, total) = merged.entry(r.address.clone()).or_insert_with(|| {
            let s = Sender {
                address: r.address.clone(),
                domain: r.domain.clone(),
                messages: 0,
                tls10: None,
                tls11: None,
                tls12: None,
                protocol: r.protocol,
            };
            (s, [0.0; 3], 0.0)
        });
        for (i, share) in r.tls.iter().enumerate() {
            weighted[i] += share.unwrap_or(0.0) * scale * weight;
            if share.is_some() {
                let slot = match i {
                    0 => &mut s.tls10,
                    1 => &mut s.tls11,
                    _ => &mut s.tls12,
                };
                *slot = Some(0.0);
            }
        }
        *total += weight;
        s.protocol = match (s.protocol, r.protocol) {
            (Protocol::Basic, _) | (_, Protocol::Basic) => Protocol::Basic,
            (Protocol::Unknown, _) | (_, Protocol::Unknown) => Protocol::Unknown,
            _ => Protocol::OAuth,
        };
        s.messages += r.messages;
    }
    let mut out = vec![];
    for (_, (mut s, weighted, total)) in merged {
        let avg = |w: f64| ((w / total * 100.0).round() / 100.0).min(100.0);
        for (slot, w) in [&mut s.tls10, &mut s.tls11, &mut s.tls12].into_iter().zip(weighted) {
            if slot.is_some() {
                *slot = Some(avg(w));
            }
        }
        out.push(s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<Sender>, ImportError> {
        parse(&Table::parse("r.csv", text).unwrap(), &BTreeMap::new())
    }

    #[test]
    fn english_export_with_protocol() {
        let s = read(
            "Sender address,Domain,TLS 1.0,TLS 1.1,TLS 1.2,Messages sent,Authentication protocol\n\
             Scanner@Contoso.com,contoso.com,100%,0%,0%,\"1,204\",Basic\n\
             app@contoso.com,contoso.com,0%,0%,100%,7,OAuth\n",
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].address, "app@contoso.com");
        assert_eq!((s[0].protocol, s[0].legacy_tls()), (Protocol::OAuth, false));
        assert_eq!((s[1].address.as_str(), s[1].messages, s[1].tls10), ("scanner@contoso.com", 1204, Some(100.0)));
        assert!(s[1].legacy_tls() && s[1].protocol.is_basic());
    }

    #[test]
    fn korean_and_indonesian_headers_decimal_commas_fractions() {
        let ko = read("보낸 사람 주소;도메인;TLS 1.0(%);TLS 1.1(%);TLS 1.2(%);보낸 메시지\nmfp@contoso.com;contoso.com;12,5;0;87,5;8\n").unwrap();
        assert_eq!((ko[0].tls10, ko[0].tls12, ko[0].protocol), (Some(12.5), Some(87.5), Protocol::Unknown));
        let id = read("Alamat pengirim\tDomain\tTLS1.0\tTLS1.1\tTLS1.2\tPesan terkirim\tProtokol autentikasi\nmfp@contoso.com\tcontoso.com\t0\t0.25\t0.75\t4\tBasic\n").unwrap();
        assert_eq!((id[0].tls11, id[0].tls12), (Some(25.0), Some(75.0)));
        assert!(id[0].legacy_tls());
    }

    #[test]
    fn rows_of_one_sender_merge() {
        let s = read(
            "Sender address,TLS 1.0,TLS 1.2,Messages sent,Authentication protocol\n\
             a@contoso.com,100,0,1,OAuth\nA@contoso.com,0,100,3,Basic\nidle@contoso.com,0,0,0,Basic\n",
        )
        .unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].messages, s[0].tls10, s[0].tls12, s[0].protocol),
            (4, Some(25.0), Some(75.0), Protocol::Basic)
        );
        assert_eq!((s[0].tls11, s[1].inactive()), (None, true));
    }

    #[test]
    fn bad_input_names_file_line_and_value() {
        let e = read("Sender address,TLS 1.0,Messages sent\nnot-an-address,0,1\n").unwrap_err();
        assert!(matches!(e, ImportError::BadValue { line: 2, ref value, .. } if value == "not-an-address"), "{e:?}");
        let e = read("Sender address,TLS 1.0,Messages sent\na@contoso.com,140%,1\n").unwrap_err();
        assert!(matches!(e, ImportError::BadValue { ref value, .. } if value == "140%"), "{e:?}");
        let e = read("Sender address,TLS 1.0,Messages sent\na@contoso.com,1,lots\n").unwrap_err();
        assert!(matches!(e, ImportError::BadValue { ref value, .. } if value == "lots"), "{e:?}");
        let e = read("Sender address,Domain,TLS 1.0,Messages sent\na@contoso.com,fabrikam.com,1,1\n").unwrap_err();
        assert!(matches!(e, ImportError::DomainMismatch { .. }), "{e:?}");
        let e = read("Absender,TLS 1.0,Gesendete Nachrichten\na@contoso.com,1,1\n").unwrap_err();
        assert!(matches!(e, ImportError::MissingColumn { ref key, .. } if key == "sender"), "{e:?}");
        let e = read("Sender address,Messages sent\na@contoso.com,1\n").unwrap_err();
        assert!(matches!(e, ImportError::MissingColumn { ref key, .. } if key == "tls10"), "{e:?}");
        let e = read("Sender address,TLS 1.0,Messages sent,Authentication protocol\na@contoso.com,1,1,Kerberos\n")
            .unwrap_err();
        assert!(matches!(e, ImportError::BadValue { ref value, .. } if value == "Kerberos"), "{e:?}");
    }

    #[test]
    fn column_overrides_read_any_language() {
        let table =
            Table::parse("r.csv", "Absenderadresse;TLS 1.0;Gesendete Nachrichten\na@contoso.com;0;3\n").unwrap();
        let mut o = BTreeMap::new();
        o.insert("sender".to_string(), "Absenderadresse".to_string());
        o.insert("messages".to_string(), "gesendete nachrichten".to_string());
        assert_eq!(parse(&table, &o).unwrap()[0].messages, 3);
        o.insert("domain".to_string(), "Domäne".to_string());
        assert!(matches!(parse(&table, &o), Err(ImportError::NoSuchColumn { .. })));
    }
}
