//! Issue 19 on the real binary: in Korean and Indonesian, `org show`, `user show`, `org list`,
//! `user list`, `signins`, `doctor --explain-last` and `queue list` show no English setting
//! value, no raw message or check id and no RFC 3339 timestamp; numbers use each language's
//! separators. Every run has AUTHRELAY_I18N_STRICT=1 (the harness), so a missing message panics.

mod common;

use common::{TestServer, PASSWORD};

const USER: &str = "scanner@contoso.com";

/// English words a setting value would leak as.
const ENGLISH_VALUES: &[&str] =
    &["on", "off", "enabled", "disabled", "allowed", "blocked", "default", "enforced", "password", "accepted"];

/// Raw ids a value would leak as: the sign-in log's check spellings and the credential kinds.
const RAW_IDS: &[&str] = &[
    "security-defaults",
    "authenticated-smtp",
    "sign-in",
    "device-credential",
    "app-password",
    "device-credentials-policy",
    "mailbox-sessions",
    "web-check",
    "value-",
    "cred-",
    "action-",
];

/// Lines that quote a command the admin types (`$ authrelay user set … --mfa disabled`) or a
/// reply the device saw keep their English: those are not values shown to a person.
fn prose(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter(|l| !l.contains("authrelay ") && !l.trim_start().starts_with('$') && !l.contains(" 5.7."))
        .collect()
}

fn words(line: &str) -> impl Iterator<Item = &str> {
    line.split(|c: char| !(c.is_alphanumeric() || c == '-')).filter(|w| !w.is_empty())
}

fn assert_localized(what: &str, output: &str) {
    assert_localized_in("ko", what, output)
}

/// Indonesian writes Microsoft's "Default keamanan" (docs/glossary.md): "default" is a word of
/// the language there, not a leaked value.
fn assert_localized_in(lang: &str, what: &str, output: &str) {
    let rfc3339 = regex_free_rfc3339(output);
    assert!(rfc3339.is_none(), "{what}: RFC 3339 timestamp {rfc3339:?} in\n{output}");
    for line in prose(output) {
        for w in words(line) {
            let allowed = lang == "id" && w.eq_ignore_ascii_case("default");
            assert!(allowed || !ENGLISH_VALUES.contains(&w), "{what}: English value {w:?} in line {line:?}\n{output}");
        }
        for raw in RAW_IDS {
            // Addresses and names may hold hyphens; an id stands alone as a word.
            assert!(
                !words(line).any(|w| w == *raw || (raw.ends_with('-') && w.starts_with(raw))),
                "{what}: raw id {raw:?} in line {line:?}\n{output}"
            );
        }
    }
}

/// Finds `YYYY-MM-DDTHH:MM` without a regex crate.
fn regex_free_rfc3339(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(|c| c.is_ascii_digit());
    (0..b.len()).find_map(|i| {
        let shape = [0, 1, 2, 3].iter().all(|&k| digit(i + k))
            && b.get(i + 4) == Some(&b'-')
            && digit(i + 5)
            && digit(i + 6)
            && b.get(i + 7) == Some(&b'-')
            && digit(i + 8)
            && digit(i + 9)
            && b.get(i + 10) == Some(&b'T');
        shape.then(|| s[i..(i + 16).min(s.len())].to_string())
    })
}

fn run(server: &TestServer, lang: &str, args: &[&str]) -> String {
    let mut full = vec!["--lang", lang];
    full.extend_from_slice(args);
    let out = server.cli(&full);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("i18n: message"), "{args:?}: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn korean_and_indonesian_cli_show_no_english_values_ids_or_rfc3339() {
    let server = TestServer::start();
    server.seed_contoso();
    server.ok(&["user", "set", USER, "--mfa", "enabled"]);
    server.ok(&["org", "set", "Contoso", "--daily-recipients", "10000"]);
    server.ok(&["device-credential", "add", USER, "--name", "scanner"]);
    // One refused attempt for the sign-in log and --explain-last.
    let (code, text) = server.device_client(server.submission.port(), USER, PASSWORD, "127.0.0.1", "LOGIN");
    assert_eq!(code, 3, "{text}");

    let mut seen = String::new();
    for lang in ["ko", "id"] {
        for args in [
            &["org", "show", "Contoso"][..],
            &["user", "show", USER],
            &["org", "list"],
            &["user", "list"],
            &["signins", "--user", USER],
            &["doctor", USER, "--explain-last"],
            &["queue", "list"],
            &["device-credential", "list", USER],
        ] {
            let out = run(&server, lang, args);
            assert_localized_in(lang, &format!("{lang} {args:?}"), &out);
            seen.push_str(&out);
        }
    }
    // The values are there, in the language's words: ko "사용" for security defaults on,
    // id "Diblokir" for app passwords blocked; numbers grouped per language.
    assert!(seen.contains("보안 기본값") && seen.contains("사용"), "{seen}");
    assert!(seen.contains("Diblokir"), "{seen}");
    assert!(seen.contains("10,000"), "ko groups with a comma: {seen}");
    assert!(seen.contains("10.000"), "id groups with a full stop: {seen}");
    assert!(
        seen.contains("\u{a0}(UTC)") && seen.contains("\u{a0}UTC"),
        "times name their zone, joined by no-break spaces: {seen}"
    );
}

#[test]
fn the_checks_catch_what_issue_19_quoted() {
    // The old output must fail the checks, or they prove nothing.
    let leaks = [
        "  보안 기본값              on",
        "  MFA  enabled: 계정 암호는 거부되지만",
        "  1회, \"security-defaults\" 검사에서 결정됨",
        "  action-user-device-credential-add",
        "Akun ada; kata sandi terakhir diatur 2026-11-23T14:22:51Z.",
    ];
    for leak in leaks {
        let caught = std::panic::catch_unwind(|| assert_localized("sample", leak));
        assert!(caught.is_err(), "not caught: {leak}");
    }
    assert_localized("sample", "  보안 기본값              사용");
}

#[test]
fn argument_errors_config_problems_and_language_setting_in_the_readers_language() {
    let server = TestServer::start();
    server.seed_contoso();
    // clap's refusal: Korean, with the accepted spellings, exit code 2.
    let out = server.cli(&["--lang", "ko", "user", "set", USER, "--mfa", "maybe"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"maybe\"") && err.contains("사용할 수 있는 값: disabled enabled enforced"), "{err}");
    let out = server.cli(&["--lang", "id", "org", "frob"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"frob\" bukan perintah"), "{err}");
    assert!(!err.contains("error:") && !err.contains("unrecognized"), "no English from clap: {err}");

    // config check: each problem in Indonesian.
    let bad = server.data_dir().join("bad.toml");
    std::fs::write(&bad, "[limits]\nmax_recipients = 0\n[listen]\nsubmission = \"nowhere\"\n").unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["--lang", "id", "--config"])
        .arg(&bad)
        .args(["config", "check"])
        .env("AUTHRELAY_I18N_STRICT", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("limits.max_recipients: harus lebih besar dari 0"), "{err}");
    assert!(err.contains("\"nowhere\" bukan alamat:port"), "{err}");
    assert!(!err.contains("must be"), "{err}");

    // The bounce language: set, shown, audited with its value in words.
    run(&server, "ko", &["org", "set", "Contoso", "--language", "ko"]);
    let shown = run(&server, "id", &["org", "show", "Contoso"]);
    assert!(shown.contains("Bahasa pesan pentalan") && shown.contains("한국어"), "{shown}");
    let out = server.cli(&["--lang", "ko", "org", "set", "Contoso", "--language", "fr"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}
