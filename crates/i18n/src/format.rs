//! Numbers, sizes and times as readers of each language expect them (docs/localization.md).
//!
//! Times are shown in UTC with the zone named: the server, its logs and the sign-in log keep
//! UTC, and an admin comparing a device's clock with our log needs one zone, not the browser's.
//! Every space inside a formatted time or number is a no-break space (U+00A0), so a table cell
//! or a terminal never breaks "2026. 11. 23. 14:22" in the middle.

use fluent_bundle::types::FluentNumber;
use fluent_bundle::FluentValue;

use crate::Lang;

/// No-break space: joins the parts of one date, time or size.
pub const NBSP: char = '\u{a0}';

fn separators(lang: Lang) -> (char, char) {
    // (thousands, decimal): Indonesian groups with "." and writes decimals with ",".
    match lang {
        Lang::En | Lang::Ko => (',', '.'),
        Lang::Id => ('.', ','),
    }
}

/// `n` with the language's grouping and decimal separators; at most `max_fraction` decimals
/// (trailing zeros dropped unless `min_fraction` asks for them).
pub fn number_with(lang: Lang, n: f64, grouping: bool, min_fraction: usize, max_fraction: usize) -> String {
    if !n.is_finite() {
        return n.to_string();
    }
    let (group, decimal) = separators(lang);
    let fixed = format!("{:.*}", max_fraction, n.abs());
    let (int_part, frac_part) = fixed.split_once('.').unwrap_or((&fixed, ""));
    let mut frac = frac_part.trim_end_matches('0').to_string();
    while frac.len() < min_fraction {
        frac.push('0');
    }
    let mut out = String::new();
    if n < 0.0 && (int_part.bytes().any(|b| b != b'0') || !frac.is_empty()) {
        out.push('-');
    }
    let digits = int_part.len();
    for (i, c) in int_part.chars().enumerate() {
        if grouping && i > 0 && (digits - i) % 3 == 0 {
            out.push(group);
        }
        out.push(c);
    }
    if !frac.is_empty() {
        out.push(decimal);
        out.push_str(&frac);
    }
    out
}

/// A count or measure: ko `10,000`, id `10.000` and `12,5`, en `10,000` and `12.5`.
pub fn number(lang: Lang, n: f64) -> String {
    number_with(lang, n, true, 0, 2)
}

/// A size in bytes as B, KB or MB (1 KB = 1,024 bytes, as mail clients and Microsoft 365 count
/// message size limits): `35 MB`, id `1,5 MB`.
pub fn size(lang: Lang, bytes: u64) -> String {
    const KB: f64 = 1024.0;
    let b = bytes as f64;
    let (value, unit) = if b >= KB * KB {
        (b / (KB * KB), "MB")
    } else if b >= KB {
        (b / KB, "KB")
    } else {
        (b, "B")
    };
    format!("{}{NBSP}{unit}", number_with(lang, value, true, 0, 1))
}

const MONTHS_ID: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"];

/// A point in time (unix seconds), in UTC with the zone named, as each language writes dates:
/// en `2026-11-23 14:22:51 UTC` (ISO order, which English-reading admins and logs share), ko `2026. 11. 23. 14:22:51 (UTC)`, id `23 Nov 2026
/// 14.22.51 UTC` (Indonesian separates hours and minutes with a full stop). Spaces are no-break.
pub fn time(lang: Lang, unix: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(unix) else {
        return "-".into();
    };
    let (y, mo, d) = (t.year(), t.month() as usize, t.day());
    let (h, mi, s) = (t.hour(), t.minute(), t.second());
    let text = match lang {
        Lang::En => format!("{y}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC"),
        Lang::Ko => format!("{y}. {mo}. {d}. {h:02}:{mi:02}:{s:02} (UTC)"),
        Lang::Id => format!("{d} {} {y} {h:02}.{mi:02}.{s:02} UTC", MONTHS_ID[mo - 1]),
    };
    text.replace(' ', "\u{a0}")
}

/// A UTC day as each language writes dates (the charts' daily buckets): en `2026-11-23`,
/// ko `2026. 11. 23.`, id `23 Nov 2026`.
pub fn date(lang: Lang, unix: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(unix) else {
        return "-".into();
    };
    let (y, mo, d) = (t.year(), t.month() as usize, t.day());
    let text = match lang {
        Lang::En => format!("{y}-{mo:02}-{d:02}"),
        Lang::Ko => format!("{y}. {mo}. {d}."),
        Lang::Id => format!("{d} {} {y}", MONTHS_ID[mo - 1]),
    };
    text.replace(' ', "\u{a0}")
}

/// [`time`] to the minute (the charts' hourly buckets): en `2026-11-23 14:00 UTC`,
/// ko `2026. 11. 23. 14:00 (UTC)`, id `23 Nov 2026 14.00 UTC`.
pub fn minute(lang: Lang, unix: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(unix) else {
        return "-".into();
    };
    let (y, mo, d, h, mi) = (t.year(), t.month() as usize, t.day(), t.hour(), t.minute());
    let text = match lang {
        Lang::En => format!("{y}-{mo:02}-{d:02} {h:02}:{mi:02} UTC"),
        Lang::Ko => format!("{y}. {mo}. {d}. {h:02}:{mi:02} (UTC)"),
        Lang::Id => format!("{d} {} {y} {h:02}.{mi:02} UTC", MONTHS_ID[mo - 1]),
    };
    text.replace(' ', "\u{a0}")
}

/// [`time`] for an optional time, "-" for none.
pub fn time_or_dash(lang: Lang, unix: Option<i64>) -> String {
    unix.map(|u| time(lang, u)).unwrap_or_else(|| "-".into())
}

fn fluent_number(lang: Lang, value: &FluentValue) -> Option<String> {
    let FluentValue::Number(FluentNumber { value, options }) = value else {
        return None;
    };
    let min = options.minimum_fraction_digits.unwrap_or(0);
    let max = options.maximum_fraction_digits.unwrap_or(2).max(min);
    Some(number_with(lang, *value, options.use_grouping, min, max))
}

pub(crate) fn fluent_number_en<M>(value: &FluentValue, _: &M) -> Option<String> {
    fluent_number(Lang::En, value)
}
pub(crate) fn fluent_number_ko<M>(value: &FluentValue, _: &M) -> Option<String> {
    fluent_number(Lang::Ko, value)
}
pub(crate) fn fluent_number_id<M>(value: &FluentValue, _: &M) -> Option<String> {
    fluent_number(Lang::Id, value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_group_and_decimals_per_language() {
        assert_eq!(number(Lang::Ko, 10_000.0), "10,000");
        assert_eq!(number(Lang::Id, 10_000.0), "10.000");
        assert_eq!(number(Lang::Id, 12.5), "12,5");
        assert_eq!(number(Lang::En, 12.5), "12.5");
        assert_eq!(number(Lang::En, 1_234_567.0), "1,234,567");
        assert_eq!(number(Lang::Id, -0.25), "-0,25");
        assert_eq!(number(Lang::Ko, 999.0), "999");
    }

    #[test]
    fn sizes_in_kb_and_mb() {
        assert_eq!(size(Lang::En, 36_700_160), "35\u{a0}MB");
        assert_eq!(size(Lang::Id, 1_572_864), "1,5\u{a0}MB");
        assert_eq!(size(Lang::Ko, 2048), "2\u{a0}KB");
        assert_eq!(size(Lang::Ko, 512), "512\u{a0}B");
    }

    #[test]
    fn times_name_utc_and_never_break() {
        let at = 1_795_443_771; // 2026-11-23T14:22:51Z
        assert_eq!(time(Lang::En, at), "2026-11-23\u{a0}14:22:51\u{a0}UTC");
        assert_eq!(time(Lang::Ko, at), "2026.\u{a0}11.\u{a0}23.\u{a0}14:22:51\u{a0}(UTC)");
        assert_eq!(time(Lang::Id, at), "23\u{a0}Nov\u{a0}2026\u{a0}14.22.51\u{a0}UTC");
        assert_eq!(minute(Lang::En, at), "2026-11-23\u{a0}14:22\u{a0}UTC");
        assert_eq!(minute(Lang::Id, at), "23\u{a0}Nov\u{a0}2026\u{a0}14.22\u{a0}UTC");
        assert_eq!(date(Lang::Ko, at), "2026.\u{a0}11.\u{a0}23.");
        assert_eq!(date(Lang::En, at), "2026-11-23");
        for lang in Lang::ALL {
            assert!(!time(*lang, at).contains(' '), "{lang:?}");
            assert!(!time(*lang, at).contains("-23T"), "no RFC 3339 in {lang:?}");
        }
    }

    #[test]
    fn fluent_sees_numbers_as_numbers() {
        // The catalogue's plural selector and the separators both work on a number argument.
        let args = [("daily", crate::Arg::Num(10_000.0))];
        let ko = crate::t(Lang::Ko, "doctor-limits", &args);
        let id = crate::t(Lang::Id, "doctor-limits", &args);
        assert!(ko.contains("10,000"), "{ko}");
        assert!(id.contains("10.000"), "{id}");
    }
}
