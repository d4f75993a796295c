//! The catalogues follow docs/glossary.md: no word of a "never" column appears in a message of
//! that language (outside `code spans`), and each preferred Korean and Indonesian term is used.

use authrelay_i18n::{message_ids, t, Lang};

struct Row {
    concept: String,
    ko: String,
    ko_never: Vec<String>,
    id: String,
    id_never: Vec<String>,
}

fn glossary() -> Vec<Row> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/glossary.md");
    let text = std::fs::read_to_string(path).expect("docs/glossary.md");
    let list = |s: &str| s.split(',').map(str::trim).filter(|w| !w.is_empty()).map(String::from).collect();
    text.lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| Concept"))
        .map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            assert_eq!(cells.len(), 6, "glossary row {l}");
            Row {
                concept: cells[0].into(),
                ko: cells[2].into(),
                ko_never: list(cells[3]),
                id: cells[4].into(),
                id_never: list(cells[5]),
            }
        })
        .collect()
}

/// Message text without `code spans`.
fn prose(lang: Lang, id: &str) -> String {
    let text = t(lang, id, &[]);
    text.split('`').step_by(2).collect::<Vec<_>>().join(" ")
}

fn has_word(text: &str, word: &str) -> bool {
    // Korean words are matched as substrings (particles attach); Latin ones as whole words.
    if word.chars().any(|c| c.is_ascii_alphabetic()) {
        let lower = text.to_lowercase();
        let w = word.to_lowercase();
        lower.match_indices(&w).any(|(at, _)| {
            let before = lower[..at].chars().next_back();
            let after = lower[at + w.len()..].chars().next();
            !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
        })
    } else {
        text.contains(word)
    }
}

#[test]
fn catalogues_use_the_glossary_words_only() {
    let rows = glossary();
    assert!(rows.len() >= 10, "the glossary table has {} rows", rows.len());
    let mut found = vec![];
    for (lang, pick) in [(Lang::Ko, 0), (Lang::Id, 1)] {
        let ids = message_ids(lang);
        let all: Vec<String> = ids.iter().map(|id| prose(lang, id)).collect();
        for row in &rows {
            let (preferred, never) = if pick == 0 { (&row.ko, &row.ko_never) } else { (&row.id, &row.id_never) };
            for bad in never {
                for (id, text) in ids.iter().zip(&all) {
                    if has_word(text, bad) {
                        found.push(format!("{}:{id} uses {bad:?} for {} (say {preferred:?})", lang.tag(), row.concept));
                    }
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn microsofts_terms_are_the_ones_shown() {
    // The terms issue 19 names, as Microsoft's Korean and Indonesian articles write them.
    let joined = |lang: Lang| message_ids(lang).iter().map(|id| t(lang, id, &[])).collect::<Vec<_>>().join("\n");
    let ko = joined(Lang::Ko);
    let id = joined(Lang::Id);
    for term in ["이메일 앱 관리", "변경 사항 저장", "다른 사람 이름으로 보내기", "보안 기본값", "인증된 SMTP"]
    {
        assert!(ko.contains(term), "ko lacks {term}");
    }
    for term in ["Akses Kondisional", "Autentikasi multifaktor (MFA)", "Kelola aplikasi email", "SMTP Terautentikasi"] {
        assert!(id.contains(term), "id lacks {term}");
    }
    for row in glossary() {
        assert!(!row.ko.is_empty() && !row.id.is_empty(), "{} has no term", row.concept);
    }
}

#[test]
fn the_glossary_check_catches_a_forbidden_word() {
    assert!(has_word("SMTP Terautentikasi mati untuknya", "mati"));
    assert!(!has_word("dimatikan", "mati"), "whole words only in Indonesian");
    assert!(has_word("장치 자격 증명 취소", "자격 증명 취소"));
}
