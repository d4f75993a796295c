//! Client-controlled text (AUTH user names, senders, mechanism names) made safe for one log
//! field or one table cell: always quoted, with every character that could end the field, the
//! line or the quote escaped. Whatever a client sends then stays inside its own quotes, so it
//! cannot start a new log line, forge a `client=` field or pose as another column.

use std::fmt;

/// Displays as `"…"`: `"` and `\` are backslash-escaped, line breaks and tabs as `\n` `\r`
/// `\t`, and every other control, format (bidirectional overrides, zero-width characters) or
/// separator character as `\u{…}`. Printable text, including non-ASCII letters, is unchanged.
#[derive(Debug, Clone, Copy)]
pub struct Quoted<'a>(pub &'a str);

/// Characters that would let text rearrange or hide what surrounds it on a terminal or page.
fn invisible(c: char) -> bool {
    c.is_control()
        || matches!(c as u32,
            0x00AD | 0x061C | 0x180E | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x2069 | 0xFEFF | 0xFFF9..=0xFFFB)
}

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use fmt::Write;
        f.write_char('"')?;
        for c in self.0.chars() {
            match c {
                '"' => f.write_str("\\\"")?,
                '\\' => f.write_str("\\\\")?,
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if invisible(c) => write!(f, "\\u{{{:x}}}", c as u32)?,
                c => f.write_char(c)?,
            }
        }
        f.write_char('"')
    }
}

/// [`Quoted`] as a `String`.
pub fn quoted(s: &str) -> String {
    Quoted(s).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_text_stays_inside_one_quoted_field() {
        let cases = [
            ("scanner@contoso.com", "\"scanner@contoso.com\""),
            ("a\nb", "\"a\\nb\""),
            ("a\r\n2026 WARN x", "\"a\\r\\n2026 WARN x\""),
            ("x\" client=10.9.9.9", "\"x\\\" client=10.9.9.9\""),
            ("back\\slash", "\"back\\\\slash\""),
            ("\u{202e}moc.osotnoc", "\"\\u{202e}moc.osotnoc\""),
            ("김@예시.한국", "\"김@예시.한국\""),
            ("\u{2028}", "\"\\u{2028}\""),
            ("nul\0", "\"nul\\u{0}\""),
        ];
        for (raw, want) in cases {
            assert_eq!(quoted(raw), want, "{raw:?}");
        }
        // The property, over every character class: exactly two unescaped quotes, no line break.
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            let q = quoted(&format!("a{c}b"));
            assert!(!q.contains(['\n', '\r', '\u{2028}', '\u{2029}', '\u{85}']), "{c:?}");
            let unescaped = q.char_indices().filter(|&(i, ch)| ch == '"' && !escaped_at(&q, i)).count();
            assert_eq!(unescaped, 2, "{c:?} -> {q}");
        }
    }

    /// Whether the character at `i` follows an odd run of backslashes.
    fn escaped_at(s: &str, i: usize) -> bool {
        s[..i].chars().rev().take_while(|&c| c == '\\').count() % 2 == 1
    }
}
