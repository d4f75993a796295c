//! What the admin center's long lists share: the pager under a table ("Showing 1–100 of
//! 12,345" with previous/next/page links that keep the filters), the sign-in log's CSV (cells
//! defused against spreadsheet formulas), the sign-ins-over-time chart (server-rendered SVG with
//! a text alternative), and the check of where to return after sign-in. Paging itself is
//! `authrelay_directory::listing`.

use authrelay_directory::listing::{ClientFilter, Page};
use authrelay_directory::{SignInBucket, SignInEntry};
use authrelay_i18n::{t, Arg, Lang};
use axum::http::StatusCode;
use serde::Serialize;

use crate::http::ApiError;

/// Most sign-in rows one CSV download holds (newest first); the page says so when the filter
/// selects more.
pub const CSV_MAX_ROWS: u64 = 100_000;

/// One link of the pager.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PageLink {
    pub number: u64,
    pub href: String,
    pub current: bool,
}

/// The pager under a table, ready for `pager.html`.
#[derive(Debug, Clone, Serialize)]
pub struct Pager {
    /// "Showing 101–200 of 1,200".
    pub summary: String,
    pub total: u64,
    pub prev: Option<String>,
    pub next: Option<String>,
    /// The first, the last and the pages around the current one; `None` marks a gap.
    pub pages: Vec<Option<PageLink>>,
}

/// `key=value&…` with the values percent-encoded; empty values are left out.
pub fn query_string(params: &[(&str, String)]) -> String {
    params.iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| format!("{k}={}", enc(v))).collect::<Vec<_>>().join("&")
}

/// Percent-encodes everything but unreserved characters and `@` (a path segment or a query
/// value of this admin center's links).
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => char::from(b).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The reply line a client saw, e.g. `535 5.7.139 Authentication unsuccessful, …`.
pub fn reply_line(reply: Option<authrelay_core::ReplyId>) -> String {
    reply
        .map(|r| {
            let (code, enhanced, text) = r.row();
            format!("{code} {enhanced} {text}").replace("  ", " ")
        })
        .unwrap_or_default()
}

/// The pager for `page` of the list at `path` filtered by `params` (kept in every link).
pub fn pager<T>(lang: Lang, page: &Page<T>, path: &str, params: &[(&str, String)]) -> Pager {
    let per_page = u64::from(page.limit.max(1));
    let href = |n: u64| {
        let mut all: Vec<(&str, String)> = params.to_vec();
        all.push(("page", n.to_string()));
        if page.limit != authrelay_directory::listing::DEFAULT_PER_PAGE {
            all.push(("per_page", per_page.to_string()));
        }
        format!("{path}?{}", query_string(&all))
    };
    let (current, last) = (page.number(), page.pages());
    let summary = if page.items.is_empty() {
        t(lang, "list-showing-none", &[("total", Arg::Num(page.total as f64))])
    } else {
        t(
            lang,
            "list-showing",
            &[
                ("first", Arg::Num(page.first() as f64)),
                ("last", Arg::Num(page.last() as f64)),
                ("total", Arg::Num(page.total as f64)),
            ],
        )
    };
    let mut pages = vec![];
    let mut previous = 0;
    for n in 1..=last {
        if n == 1 || n == last || n.abs_diff(current) <= 2 {
            if n > previous + 1 {
                pages.push(None);
            }
            pages.push(Some(PageLink { number: n, href: href(n), current: n == current }));
            previous = n;
        }
    }
    Pager {
        summary,
        total: page.total,
        prev: (current > 1).then(|| href((current - 1).min(last))),
        next: (current < last).then(|| href(current + 1)),
        pages,
    }
}

/// The client filter as typed, or the 422 that says which forms are accepted.
pub fn client_filter(lang: Lang, text: Option<&str>) -> Result<Option<ClientFilter>, ApiError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else { return Ok(None) };
    text.parse().map(Some).map_err(|_| {
        let value: String = text.chars().take(60).collect();
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad-client",
            lang,
            "api-err-bad-client",
            &[("value", Arg::Str(&value))],
        )
    })
}

/// One CSV cell (RFC 4180). A leading `=`, `+`, `-` or `@` would be a formula in a spreadsheet,
/// and so would one after a leading tab or CR (spreadsheets strip them): such a cell starts
/// with `'` so it stays text.
pub fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// The header of the sign-in log's CSV.
pub const SIGNINS_CSV_HEADER: &str =
    "time,user,client_ip,client_port,tls,mechanism,credential,result,check,reply,legacy_listener\r\n";

/// Sign-in rows as CSV lines (no header), as the API's JSON names them.
pub fn signins_csv_rows(entries: &[SignInEntry], out: &mut String) {
    for e in entries {
        let time = time::OffsetDateTime::from_unix_timestamp(e.at)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default();
        let cells = [
            time,
            e.user.clone(),
            e.client_ip.clone(),
            e.client_port.to_string(),
            e.tls.clone(),
            e.mechanism.clone(),
            e.credential.map(|c| c.as_str().to_string()).unwrap_or_default(),
            if e.success { "success" } else { "failure" }.to_string(),
            e.check.as_str().to_string(),
            reply_line(e.reply),
            e.listener.clone().unwrap_or_default(),
        ];
        out.push_str(&cells.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
}

/// Where to go after signing in: only a path of this admin center (a single leading `/`, no
/// scheme, no host, no backslash; `crate::http::local_path`), and never back to the sign-in
/// pages themselves.
pub fn return_to(next: Option<&str>) -> Option<String> {
    let path = crate::http::local_path(next?.trim())?;
    let bare = path.split(['?', '#']).next().unwrap_or("");
    (bare != "/signin" && !bare.starts_with("/signin/") && bare != "/signout").then(|| path.to_string())
}

/// A chart's bucket width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Hour,
    Day,
}

impl Step {
    pub fn seconds(self) -> i64 {
        match self {
            Step::Hour => 3600,
            Step::Day => 86_400,
        }
    }
}

/// One bar of the chart, also a row of its text alternative.
#[derive(Debug, Clone, Serialize)]
pub struct ChartRow {
    pub start: i64,
    pub label: String,
    pub succeeded: u64,
    pub refused: u64,
}

/// The sign-ins-over-time chart: the SVG (safe markup) and the table that says the same.
#[derive(Debug, Clone, Serialize)]
pub struct Chart {
    pub svg: String,
    pub rows: Vec<ChartRow>,
    pub succeeded: u64,
    pub refused: u64,
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `count` buckets of `step` ending with the one holding `now`, filled from `buckets` (those
/// the store has; the others are zero), drawn as stacked bars: succeeded below, refused above.
pub fn chart(lang: Lang, id: &str, buckets: &[SignInBucket], now: i64, step: Step, count: u32) -> Chart {
    let width = step.seconds();
    let last_start = now - now.rem_euclid(width);
    let first_start = last_start - width * (i64::from(count) - 1);
    let rows: Vec<ChartRow> = (0..i64::from(count))
        .map(|i| {
            let start = first_start + i * width;
            let found = buckets.iter().find(|b| b.start == start);
            let label = match step {
                Step::Hour => authrelay_i18n::format::minute(lang, start),
                Step::Day => authrelay_i18n::format::date(lang, start),
            };
            ChartRow {
                start,
                label,
                succeeded: found.map_or(0, |b| b.succeeded),
                refused: found.map_or(0, |b| b.refused),
            }
        })
        .collect();
    let (succeeded, refused) = rows.iter().fold((0, 0), |(s, r), row| (s + row.succeeded, r + row.refused));
    let highest = rows.iter().map(|r| r.succeeded + r.refused).max().unwrap_or(0).max(1);
    let (w, h, left, top, bottom) = (720.0_f64, 200.0_f64, 48.0_f64, 10.0_f64, 24.0_f64);
    let plot_h = h - top - bottom;
    let slot = (w - left) / f64::from(count.max(1));
    let bar = (slot * 0.7).max(1.0);
    let scale = |n: u64| n as f64 / highest as f64 * plot_h;
    let title = t(lang, "chart-title", &[]);
    let unit = t(lang, if step == Step::Hour { "chart-per-hour" } else { "chart-per-day" }, &[]);
    let desc = t(
        lang,
        "chart-desc",
        &[
            ("succeeded", Arg::Num(succeeded as f64)),
            ("refused", Arg::Num(refused as f64)),
            ("from", Arg::Str(&rows.first().map(|r| r.label.clone()).unwrap_or_default())),
            ("to", Arg::Str(&rows.last().map(|r| r.label.clone()).unwrap_or_default())),
            ("unit", Arg::Str(&unit)),
        ],
    );
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" id=\"{id}\" role=\"img\" viewBox=\"0 0 {w} {h}\" \
         aria-labelledby=\"{id}-title {id}-desc\" data-succeeded=\"{succeeded}\" data-refused=\"{refused}\">\
         <title id=\"{id}-title\">{}</title><desc id=\"{id}-desc\">{}</desc>",
        xml_escape(&title),
        xml_escape(&desc)
    );
    // Axis: the highest count at the top, zero at the base line.
    let base = top + plot_h;
    svg.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{base}\" x2=\"{w}\" y2=\"{base}\" class=\"axis\"/>\
         <text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"end\">{}</text>\
         <text x=\"{}\" y=\"{base}\" class=\"tick\" text-anchor=\"end\">0</text>",
        left - 4.0,
        top + 8.0,
        xml_escape(&authrelay_i18n::number(lang, highest as f64)),
        left - 4.0,
    ));
    for (i, row) in rows.iter().enumerate() {
        let x = left + slot * i as f64 + (slot - bar) / 2.0;
        let ok_h = scale(row.succeeded);
        let bad_h = scale(row.refused);
        if row.succeeded > 0 {
            svg.push_str(&format!(
                "<rect class=\"ok-bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{ok_h:.1}\"/>",
                base - ok_h
            ));
        }
        if row.refused > 0 {
            svg.push_str(&format!(
                "<rect class=\"bad-bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{bad_h:.1}\"/>",
                base - ok_h - bad_h
            ));
        }
    }
    // Labels under the first, middle and last bar.
    let n = rows.len();
    for i in [0, n / 2, n.saturating_sub(1)].into_iter().collect::<std::collections::BTreeSet<_>>() {
        if let Some(row) = rows.get(i) {
            let anchor = if i == 0 {
                "start"
            } else if i + 1 == n {
                "end"
            } else {
                "middle"
            };
            let x = if i == 0 {
                left
            } else if i + 1 == n {
                w
            } else {
                left + slot * (i as f64 + 0.5)
            };
            svg.push_str(&format!(
                "<text x=\"{x:.1}\" y=\"{}\" class=\"tick\" text-anchor=\"{anchor}\">{}</text>",
                h - 6.0,
                xml_escape(&row.label)
            ));
        }
    }
    svg.push_str("</svg>");
    Chart { svg, rows, succeeded, refused }
}

#[cfg(test)]
mod tests {
    use super::*;
    use authrelay_directory::listing::PageRequest;

    #[test]
    fn csv_cells_that_would_be_formulas_stay_text() {
        for (cell, want) in [
            ("=1+1", "'=1+1"),
            ("+1", "'+1"),
            ("-1", "'-1"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\t=1", "'\t=1"),
            ("\r=1", "\"'\r=1\""),
            ("a,b", "\"a,b\""),
            ("say \"hi\"", "\"say \"\"hi\"\"\""),
            ("=\"x\",y", "\"'=\"\"x\"\",y\""),
            ("plain@contoso.com", "plain@contoso.com"),
        ] {
            assert_eq!(csv_field(cell), want, "{cell:?}");
        }
    }

    #[test]
    fn return_to_takes_only_local_paths() {
        for good in ["/signins?result=failure&hours=24", "/audit", "/users/a%40b.example?tab=account"] {
            assert_eq!(return_to(Some(good)).as_deref(), Some(good), "{good:?}");
        }
        for bad in [
            "//evil.example/",
            "/\\evil.example",
            "https://evil.example/",
            "javascript:alert(1)",
            "evil.example/x",
            "",
            " //evil.example",
            "/%0d%0a//evil.example",
            "/signin",
            "/signin/totp",
            "/signin?next=/audit",
            "/signout",
        ] {
            let got = return_to(Some(bad));
            assert!(got.is_none() || got.as_deref() == Some("/%0d%0a//evil.example"), "{bad:?} -> {got:?}");
        }
        // An encoded CR LF stays a path segment of this site, never a header break or a host.
        assert_eq!(return_to(Some("/%0d%0a//evil.example")).as_deref(), Some("/%0d%0a//evil.example"));
        assert_eq!(return_to(None), None);
    }

    #[test]
    fn pager_keeps_filters_and_counts_from_one() {
        let page = PageRequest::new(Some(6), None, None, None).slice((0..1200).collect::<Vec<_>>());
        let p = pager(Lang::En, &page, "/signins", &[("user", "a b".into()), ("client_ip", String::new())]);
        assert_eq!(p.summary, "Showing 501–600 of 1,200");
        assert_eq!(p.prev.as_deref(), Some("/signins?user=a%20b&page=5"));
        assert_eq!(p.next.as_deref(), Some("/signins?user=a%20b&page=7"));
        let numbers: Vec<Option<u64>> = p.pages.iter().map(|l| l.as_ref().map(|l| l.number)).collect();
        assert_eq!(numbers, [Some(1), None, Some(4), Some(5), Some(6), Some(7), Some(8), None, Some(12)]);
        assert!(p.pages.iter().flatten().filter(|l| l.current).all(|l| l.number == 6));
        let ko = pager(Lang::Ko, &page, "/signins", &[]);
        assert!(ko.summary.contains("1,200") && ko.summary != p.summary, "{}", ko.summary);
        let empty = PageRequest::default().slice(Vec::<u8>::new());
        let p = pager(Lang::En, &empty, "/audit", &[]);
        assert!(p.prev.is_none() && p.next.is_none());
        assert_eq!(p.pages.len(), 1);
    }

    #[test]
    fn chart_fills_missing_buckets_and_says_what_it_shows() {
        let now = 10 * 3600 + 59;
        let buckets = [
            SignInBucket { start: 9 * 3600, succeeded: 4, refused: 2 },
            SignInBucket { start: 5 * 3600, succeeded: 1, refused: 0 },
            SignInBucket { start: 3600, succeeded: 9, refused: 9 },
        ];
        let c = chart(Lang::En, "c1", &buckets, now, Step::Hour, 6);
        assert_eq!(c.rows.len(), 6);
        assert_eq!(c.rows[0].start, 5 * 3600);
        assert_eq!((c.succeeded, c.refused), (5, 2), "the bucket before the window is left out");
        assert!(
            c.svg.starts_with("<svg") && c.svg.contains("role=\"img\"") && c.svg.contains("<title id=\"c1-title\">")
        );
        assert!(c.svg.contains("5 succeeded and 2 refused"), "{}", c.svg);
        assert_eq!(c.svg.matches("class=\"bad-bar\"").count(), 1);
        assert_eq!(c.svg.matches("class=\"ok-bar\"").count(), 2);
    }
}
