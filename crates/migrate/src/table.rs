//! Bytes of an exported file → text → a table of named columns.
//!
//! Microsoft's exports reach us in several shapes: the new Exchange admin center writes UTF-8
//! with a byte-order mark, Windows PowerShell's `Export-Csv -Encoding Unicode` writes UTF-16 LE
//! with a mark, PowerShell 7 writes UTF-8 without one; Windows PowerShell 5.1 puts a
//! `#TYPE …` line first unless `-NoTypeInformation` is given; `-UseCulture` (and Excel in most
//! of Europe) separates with `;`, a copy from a grid with tabs; Excel may add a `sep=;` line.
//! All of that is undone here, once, so the readers of each export see plain rows.

use crate::ImportError;

/// Decodes a file: UTF-8 (BOM optional) or UTF-16 LE/BE. UTF-16 without a BOM is recognised
/// by its zero bytes (ASCII headers); anything else must be valid UTF-8.
pub fn decode(file: &str, bytes: &[u8]) -> Result<String, ImportError> {
    let utf16 = |body: &[u8], little: bool| -> Result<String, ImportError> {
        if body.len() % 2 != 0 {
            return Err(ImportError::Encoding { file: file.into() });
        }
        let units = body.chunks_exact(2).map(|c| {
            if little {
                u16::from_le_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], c[1]])
            }
        });
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .map_err(|_| ImportError::Encoding { file: file.into() })
    };
    let text = if let Some(body) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        String::from_utf8(body.to_vec()).map_err(|_| ImportError::Encoding { file: file.into() })?
    } else if let Some(body) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        utf16(body, true)?
    } else if let Some(body) = bytes.strip_prefix(&[0xFE, 0xFF]) {
        utf16(body, false)?
    } else if bytes.len() >= 4 && bytes[1] == 0 && bytes[3] == 0 && bytes[0] != 0 {
        utf16(bytes, true)?
    } else if bytes.len() >= 4 && bytes[0] == 0 && bytes[2] == 0 && bytes[1] != 0 {
        utf16(bytes, false)?
    } else {
        String::from_utf8(bytes.to_vec()).map_err(|_| ImportError::Encoding { file: file.into() })?
    };
    if text.contains('\0') {
        return Err(ImportError::Encoding { file: file.into() });
    }
    Ok(text)
}

/// A table read from a delimited file: the header names as written and the rows.
#[derive(Debug, Clone)]
pub struct Table {
    pub file: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// Lower-case letters and digits only, so `TLS 1.0 (%)`, `tls1.0` and `TLS10` compare equal,
/// as do `PrimarySmtpAddress` and `Primary SMTP address`. Hangul and other letters are kept.
pub fn normalize(header: &str) -> String {
    header.chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect()
}

/// The separator of the header line: the most frequent of `,` `;` and tab outside quotes.
fn sniff(line: &str) -> u8 {
    let mut counts = [(b',', 0usize), (b';', 0), (b'\t', 0)];
    let mut quoted = false;
    for b in line.bytes() {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            for (sep, n) in counts.iter_mut() {
                if b == *sep {
                    *n += 1;
                }
            }
        }
    }
    // Ties keep the first (comma): a one-column file has no separator at all.
    counts.iter().fold((b',', 0), |best, &(sep, n)| if n > best.1 { (sep, n) } else { best }).0
}

impl Table {
    /// Reads delimited text. Leading `#TYPE` / `#` comment lines, an Excel `sep=` line and blank
    /// lines are skipped; fields are trimmed; short rows are padded with empty fields.
    pub fn parse(file: &str, text: &str) -> Result<Table, ImportError> {
        let mut rest = text;
        let mut forced = None;
        loop {
            let (line, after) = rest.split_once('\n').unwrap_or((rest, ""));
            let trimmed = line.trim();
            if trimmed.is_empty() && !after.is_empty() || trimmed.starts_with('#') {
                rest = after;
            } else if let Some(sep) = trimmed.strip_prefix("sep=").filter(|s| s.len() == 1) {
                forced = Some(sep.as_bytes()[0]);
                rest = after;
            } else {
                break;
            }
        }
        let header_line = rest.lines().next().unwrap_or("");
        if header_line.trim().is_empty() {
            return Err(ImportError::Empty { file: file.into() });
        }
        let delimiter = forced.unwrap_or_else(|| sniff(header_line));
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .flexible(true)
            .trim(csv::Trim::All)
            .has_headers(true)
            .from_reader(rest.as_bytes());
        let bad = |e: csv::Error| ImportError::Syntax {
            file: file.into(),
            line: e.position().map(|p| p.line() as usize).unwrap_or(0),
            reason: e.to_string(),
        };
        let headers: Vec<String> = reader.headers().map_err(bad)?.iter().map(str::to_string).collect();
        let mut rows = vec![];
        for record in reader.records() {
            let record = record.map_err(bad)?;
            if record.iter().all(str::is_empty) {
                continue;
            }
            let mut row: Vec<String> = record.iter().map(str::to_string).collect();
            row.resize(headers.len().max(row.len()), String::new());
            rows.push(row);
        }
        Ok(Table { file: file.into(), headers, rows })
    }

    /// The index of the first column whose normalized name `wanted` accepts.
    pub fn column(&self, wanted: impl Fn(&str) -> bool) -> Option<usize> {
        self.headers.iter().position(|h| wanted(&normalize(h)))
    }

    /// The column an explicit `--column KEY=HEADER` names (compared normalized).
    pub fn named(&self, header: &str) -> Option<usize> {
        let want = normalize(header);
        self.headers.iter().position(|h| normalize(h) == want)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(text: &str, little: bool, bom: bool) -> Vec<u8> {
        let mut out = vec![];
        if bom {
            out.extend(if little { [0xFF, 0xFE] } else { [0xFE, 0xFF] });
        }
        for u in text.encode_utf16() {
            out.extend(if little { u.to_le_bytes() } else { u.to_be_bytes() });
        }
        out
    }

    #[test]
    fn every_encoding_decodes_to_the_same_text() {
        let text = "Sender address,메시지\r\nscanner@contoso.com,3\r\n";
        let mut bom8 = vec![0xEF, 0xBB, 0xBF];
        bom8.extend(text.as_bytes());
        for bytes in [
            text.as_bytes().to_vec(),
            bom8,
            utf16(text, true, true),
            utf16(text, false, true),
            utf16(text, true, false),
            utf16(text, false, false),
        ] {
            assert_eq!(decode("f", &bytes).unwrap(), text);
        }
    }

    #[test]
    fn undecodable_bytes_are_an_error_naming_the_file() {
        for bytes in [
            vec![0xFF, 0xFE, 0x41],
            vec![0x41, 0xC3, 0x28, 0x42],
            vec![0xFE, 0xFF, 0xD8, 0x00, 0x00, 0x41],
            b"a\0bcd".to_vec(),
        ] {
            let e = decode("report.csv", &bytes).unwrap_err();
            assert!(matches!(e, ImportError::Encoding { ref file } if file == "report.csv"), "{bytes:?}: {e:?}");
        }
    }

    #[test]
    fn separators_type_lines_and_quotes() {
        let cases = [
            "a,b,c\n1,\"x, y\",3\n",
            "a;b;c\r\n1;\"x, y\";3\r\n",
            "a\tb\tc\n1\tx, y\t3\n",
            "#TYPE Selected.System.Management.Automation.PSCustomObject\n\"a\",\"b\",\"c\"\n\"1\",\"x, y\",\"3\"\n",
            "sep=;\na;b;c\n1;x, y;3\n\n",
            "\n\na , b , c\n 1 ,\"x, y\",3 \n",
        ];
        for case in cases {
            let t = Table::parse("f", case).unwrap();
            assert_eq!(t.headers, ["a", "b", "c"], "{case:?}");
            assert_eq!(t.rows, [["1", "x, y", "3"]], "{case:?}");
        }
        // A quoted field may hold the separator and a line break; a doubled quote is a quote.
        let t = Table::parse("f", "a,b\n\"multi\nline\",\"say \"\"hi\"\"\"\n").unwrap();
        assert_eq!(t.rows, [["multi\nline", "say \"hi\""]]);
        // Short rows are padded; empty rows dropped.
        let t = Table::parse("f", "a,b,c\n1\n,,\n").unwrap();
        assert_eq!(t.rows, [["1", "", ""]]);
    }

    #[test]
    fn an_empty_file_or_a_broken_quote_is_an_error() {
        assert!(matches!(Table::parse("f", ""), Err(ImportError::Empty { .. })));
        assert!(matches!(Table::parse("f", "#TYPE x\n\n"), Err(ImportError::Empty { .. })));
        let utf8_split = Table::parse("f", "a,b\n\"unterminated,2\n");
        // csv treats an unterminated quote as running to the end: one field, no panic.
        assert!(utf8_split.is_ok());
    }

    #[test]
    fn header_normalization() {
        assert_eq!(normalize("TLS 1.0 (%)"), "tls10");
        assert_eq!(normalize("Primary SMTP address"), normalize("PrimarySmtpAddress"));
        assert_eq!(normalize("보낸 사람 주소"), "보낸사람주소");
    }
}
