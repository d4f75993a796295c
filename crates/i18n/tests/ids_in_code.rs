//! Every message id the code can ask for exists in all three catalogues (issue 19, item 2).
//!
//! The ids are collected three ways, so a fallback to a raw id fails here, not in front of an
//! admin:
//! - the value mappings (`authrelay_i18n::values`): every setting, state, credential kind,
//!   check, audit action, role and language, enumerated;
//! - a scan of every crate's non-test Rust source: a kebab-case literal is an id when it sits in
//!   a lookup call (`t(lang, "…"`, `say(…`, `CliError::new(…`, `Text::new(…`, `tr(…`) or
//!   belongs to an id family of the catalogue (`err-…`, `doctor-…`); literals of those
//!   families that are something else (API codes, form keys, CSV columns) are listed in
//!   `NOT_MESSAGES` with what they are;
//! - the admin center's templates: every `t("…")` literal, and no id put together from pieces
//!   (`t("value-" ~ x)`), which no scan could check: templates call `value(kind, raw)` instead.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use authrelay_i18n::{message_ids, Lang};

/// Literals of an id family that are not message ids, each with what it is.
const NOT_MESSAGES: &[(&str, &str)] = &[
    ("admin-exists", "API error code"),
    ("app-password-exists", "API error code"),
    ("device-credential-exists", "API error code"),
    ("org-exists", "API error code"),
    ("user-exists", "API error code"),
    ("role-required", "API error code"),
    ("totp-invalid", "API error code"),
    ("totp-locked", "API error code"),
    ("totp-not-pending", "API error code"),
    ("totp-required", "API error code"),
    ("import-status", "HTML element id"),
    ("home-chart", "HTML element id of Home's sign-ins chart"),
    ("report-chart", "HTML element id of the SMTP AUTH clients report's sign-ins chart"),
    ("app-password", "troubleshooter fix key / credential kind spelling"),
    ("app-passwords", "doctor check key (JSON)"),
    ("device-credential", "troubleshooter fix key / credential kind spelling"),
    ("app-passwords-allow", "troubleshooter fix key"),
    ("device-credentials-allow", "troubleshooter fix key"),
    ("smtp-auth-mailbox", "troubleshooter fix key"),
    ("smtp-auth-org", "troubleshooter fix key"),
    ("mfa-off", "troubleshooter fix key"),
    ("user-add", "troubleshooter fix key"),
    ("fix-not-suggested", "API error code"),
    ("smtp-device", "default device credential name"),
    ("smtp-auth-disabled", "CSV column of the Microsoft 365 export"),
    ("org-smtp-auth", "value kind of values::by_kind"),
    ("queue-state", "value kind of values::by_kind"),
    ("queue-retry", "?done= key of the queue page (its notice is done-queue-retry)"),
    ("queue-hold", "?done= key of the queue page (its notice is done-queue-hold)"),
    ("queue-release", "?done= key of the queue page (its notice is done-queue-release)"),
    ("queue-delete", "?done= key of the queue page (its notice is done-queue-delete)"),
    ("dkim-exists", "API error code"),
    ("dkim-retired", "?done= key of the DKIM page (its notice is done-dkim-retired)"),
    ("totp-reset", "?done= key of an admin's page (its notice is done-totp-reset)"),
    ("user-deleted", "?done= key of Active users (its notice is done-user-deleted)"),
    ("device-credentials", "value kind of values::by_kind"),
    ("device-credential-address", "sign-in log spelling of a check"),
    ("device-credential-expiry", "sign-in log spelling of a check"),
    ("device-credentials-policy", "sign-in log spelling of a check"),
];

/// Calls whose string argument is a message id.
const LOOKUPS: &[&str] = &["t(", "t_owned(", "say(", "tr(", "CliError::new(", "Text::new(", "ApiError::msg("];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == "tests" || n == "target") {
                continue;
            }
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) && p.file_name().is_some_and(|n| n != "tests.rs") {
            out.push(p);
        }
    }
}

/// The source without its test module (everything from the first `#[cfg(test)]`).
fn non_test(src: &str) -> &str {
    src.find("#[cfg(test)]").map_or(src, |i| &src[..i])
}

/// Every `"kebab-case"` literal with the text before it.
fn literals(src: &str) -> Vec<(String, &str)> {
    let bytes = src.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            while j < bytes.len() && (bytes[j].is_ascii_lowercase() || bytes[j].is_ascii_digit() || bytes[j] == b'-') {
                j += 1;
            }
            if j < bytes.len() && bytes[j] == b'"' && j > start {
                let lit = &src[start..j];
                if lit.contains('-')
                    && !lit.starts_with('-')
                    && !lit.ends_with('-')
                    && bytes[start].is_ascii_lowercase()
                {
                    out.push((lit.to_string(), &src[start.saturating_sub(40)..start - 1]));
                }
                i = j + 1;
                continue;
            }
        }
        i += 1;
    }
    out
}

fn in_lookup(before: &str) -> bool {
    // `t(lang, "id"`, `say(c.lang, "id"`, `CliError::new("id"`.
    let trimmed = before.trim_end();
    // The call's name must start at a word boundary: `from_static(` is not `t(`.
    let starts_word = |at: usize| at == 0 || !trimmed[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_');
    LOOKUPS.iter().any(|call| {
        trimmed.strip_suffix(call).is_some_and(|head| starts_word(head.len()))
            || trimmed.rfind(call).is_some_and(|at| starts_word(at) && is_lang_arg(&trimmed[at + call.len()..]))
    })
}

fn is_lang_arg(between: &str) -> bool {
    let b = between.trim();
    b.ends_with(',') && b.len() < 16 && b.trim_end_matches(',').trim().ends_with("lang")
}

#[test]
fn every_id_the_code_asks_for_is_in_every_catalogue() {
    let catalogues: BTreeMap<Lang, BTreeSet<String>> =
        Lang::ALL.iter().map(|l| (*l, message_ids(*l).into_iter().collect())).collect();
    let english = &catalogues[&Lang::En];
    let families: BTreeSet<&str> = english.iter().filter_map(|id| id.split('-').next()).collect();
    let not_messages: BTreeSet<&str> = NOT_MESSAGES.iter().map(|(l, _)| *l).collect();

    // id -> where it is asked for
    let mut wanted: BTreeMap<String, String> = BTreeMap::new();
    for id in authrelay_i18n::values::every_value_id() {
        wanted.insert(id.to_string(), "authrelay_i18n::values".into());
    }
    let mut sources = vec![];
    files(&root().join("crates"), "rs", &mut sources);
    assert!(sources.len() > 100, "the scan found {} source files; is the workspace layout unchanged?", sources.len());
    let mut scanned_lookups = 0;
    for path in &sources {
        let src = std::fs::read_to_string(path).unwrap();
        let shown = path.strip_prefix(root()).unwrap_or(path).display().to_string();
        for (lit, before) in literals(non_test(&src)) {
            let lookup = in_lookup(before);
            scanned_lookups += usize::from(lookup);
            let family = lit.split('-').next().is_some_and(|f| families.contains(f));
            if lookup || (family && !not_messages.contains(lit.as_str())) {
                wanted.entry(lit).or_insert(shown.clone());
            }
        }
    }
    assert!(scanned_lookups > 300, "only {scanned_lookups} lookup calls found: the scan is broken");

    let mut templates = vec![];
    files(&root().join("crates/admin/templates"), "html", &mut templates);
    let mut pieced = vec![];
    for path in &templates {
        let src = std::fs::read_to_string(path).unwrap();
        let shown = path.file_name().unwrap().to_string_lossy().to_string();
        for (i, _) in src.match_indices("t(\"") {
            if i > 0 && (src.as_bytes()[i - 1].is_ascii_alphanumeric() || src.as_bytes()[i - 1] == b'_') {
                continue;
            }
            let rest = &src[i + 3..];
            let end = rest.find('"').unwrap();
            let after = rest[end + 1..].trim_start();
            if after.starts_with('~') {
                pieced.push(format!("{shown}: t(\"{}\" ~ …)", &rest[..end]));
            } else {
                wanted.entry(rest[..end].to_string()).or_insert(shown.clone());
            }
        }
    }
    assert!(
        pieced.is_empty(),
        "templates put message ids together from pieces, which no test can check; use value(kind, raw): {pieced:#?}"
    );

    let mut missing = vec![];
    for (id, place) in &wanted {
        for (lang, ids) in &catalogues {
            if !ids.contains(id) {
                missing.push(format!("{}: {id} (asked for in {place})", lang.tag()));
            }
        }
    }
    assert!(missing.is_empty(), "{} ids the code asks for are missing:\n{}", missing.len(), missing.join("\n"));
    for (lit, _) in NOT_MESSAGES {
        assert!(!english.contains(*lit), "{lit} is listed as not a message but the catalogue has it");
    }
}

#[test]
fn the_scan_recognises_lookup_calls() {
    let src = r#"say(lang, "a-b"); t(c.lang, "c-d", &[]); CliError::new("e-f"); let x = "g-h"; from_static("i-j");"#;
    let found: Vec<(String, bool)> = literals(src).into_iter().map(|(l, b)| (l, in_lookup(b))).collect();
    assert_eq!(
        found,
        vec![
            ("a-b".into(), true),
            ("c-d".into(), true),
            ("e-f".into(), true),
            ("g-h".into(), false),
            ("i-j".into(), false)
        ]
    );
}
