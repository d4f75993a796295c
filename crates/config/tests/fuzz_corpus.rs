//! Replays the `config` fuzz target's corpus (fuzz/corpus/config) on stable Rust with the same
//! calls the target makes: never a panic, and an accepted file converts and prints.

#[test]
fn config_corpus_never_panics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/config");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("corpus directory") {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        let Ok(text) = std::str::from_utf8(&data) else { continue };
        let overrides = authrelay_config::Overrides::default();
        if let Ok(effective) = authrelay_config::load_text(Some(text), "fuzz.toml", None, &overrides) {
            let _ = effective.session_config();
            let _ = effective.protection_config();
            let _ = effective.to_toml();
        }
        seen += 1;
    }
    assert!(seen > 0, "empty corpus at {}", dir.display());
}
