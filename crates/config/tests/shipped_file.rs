//! The configuration file the Debian package installs (etc/authrelay/authrelay.toml, README
//! "Install on Debian/Ubuntu") against the real parser: it loads as shipped and listens on
//! loopback only; every key the parser accepts is mentioned in its table, so a key added to
//! the code without a line there fails here; and every commented value is the real default
//! (uncommenting them all changes nothing).

use std::path::{Path, PathBuf};

use authrelay_config::{load, load_text, Overrides};

fn shipped() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/authrelay/authrelay.toml")
}

/// The keys the parser accepts in a table, learned from the parser itself: a made-up key is
/// refused with "unknown field …, expected one of `a`, `b`, …". `header` is "" for the top
/// level, "[name]" or "[[name]]". None when the key is not a table of that form.
fn accepted_keys(header: &str) -> Option<Vec<String>> {
    let probe = format!("{header}\nzz_not_a_key = 1\n");
    let problems = load_text(Some(&probe), "probe", Some(Path::new("/nonexistent")), &Overrides::default())
        .expect_err("a made-up key is refused");
    let message = &problems[0].message;
    if !message.contains("zz_not_a_key") {
        return None;
    }
    let list = message.split("expected ").nth(1)?;
    Some(list.split('`').skip(1).step_by(2).map(str::to_string).collect())
}

/// Key names that appear (commented or not) in each table of the file; "" is the top level.
fn mentioned(text: &str) -> Vec<(String, String)> {
    let mut table = String::new();
    let mut out = vec![];
    for line in text.lines() {
        let line = line.trim_start_matches('#').trim();
        if let Some(name) = line.strip_prefix('[') {
            table = name.trim_matches(|c| c == '[' || c == ']').to_string();
        } else if let Some((key, _)) = line.split_once('=') {
            let key = key.trim();
            if !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
                out.push((table.clone(), key.to_string()));
            }
        }
    }
    out
}

#[test]
fn every_key_the_parser_accepts_is_in_the_shipped_file() {
    let text = std::fs::read_to_string(shipped()).unwrap();
    let mentioned = mentioned(&text);
    let top = accepted_keys("").expect("the top level refuses unknown keys");
    assert!(top.len() >= 10, "{top:?}");
    let mut checked = 0;
    for key in &top {
        let table = accepted_keys(&format!("[{key}]")).or_else(|| accepted_keys(&format!("[[{key}]]")));
        match table {
            None => {
                assert!(mentioned.contains(&(String::new(), key.clone())), "top-level key {key} is not in the file");
                checked += 1;
            }
            Some(inner) => {
                for k in inner {
                    assert!(mentioned.contains(&(key.clone(), k.clone())), "{key}.{k} is not in the file's [{key}]");
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 80, "only {checked} keys found: the probe no longer reads the parser");
}

#[test]
fn the_shipped_file_loads_and_listens_on_loopback_only() {
    let dir = tempfile::tempdir().unwrap();
    let c = load(Some(&shipped()), Some(dir.path()), &Overrides::default()).unwrap();
    let addresses = [c.listen.submission, c.listen.submissions, c.admin.listen];
    assert!(addresses.iter().all(|a| a.is_some_and(|a| a.ip().is_loopback())), "{addresses:?}");
    // Without --data-dir, the package's directory.
    let c = load(Some(&shipped()), None, &Overrides::default()).unwrap();
    assert_eq!(c.data_dir, Path::new("/var/lib/authrelay"));
}

#[test]
fn the_commented_values_are_the_defaults() {
    // Examples, not defaults: tls.cert/key, hostname (from /etc/hostname), routes, oauth,
    // connectors, listeners.
    let examples = ["tls", "routes", "oauth", "connectors", "listeners"];
    let text = std::fs::read_to_string(shipped()).unwrap();
    let mut table = String::new();
    let mut uncommented = String::new();
    let mut count = 0;
    for line in text.lines() {
        let bare = line.trim_start_matches('#').trim();
        if let Some(name) = bare.strip_prefix('[') {
            table = name.trim_matches(|c| c == '[' || c == ']').to_string();
        }
        let is_setting = line.starts_with("# ")
            && bare.split_once(" = ").is_some_and(|(k, _)| k.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        if is_setting && !table.is_empty() && !examples.contains(&table.as_str()) {
            uncommented.push_str(bare);
            count += 1;
        } else {
            uncommented.push_str(line);
        }
        uncommented.push('\n');
    }
    assert!(count > 40, "{count} defaults uncommented");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("uncommented.toml");
    std::fs::write(&path, &uncommented).unwrap();
    let as_shipped = load(Some(&shipped()), Some(dir.path()), &Overrides::default()).unwrap();
    let with_values = load(Some(&path), Some(dir.path()), &Overrides::default())
        .unwrap_or_else(|p| panic!("the commented values do not load: {p:?}"));
    assert_eq!(with_values.to_toml(), as_shipped.to_toml(), "a commented value differs from the default");
}
