//! The configuration file: TOML text → the effective configuration, through the
//! `authrelay-config` library the binary uses. Never panic, whatever the text; an accepted
//! configuration converts to the server's settings and prints.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let overrides = authrelay_config::Overrides::default();
    if let Ok(effective) = authrelay_config::load_text(Some(text), "fuzz.toml", None, &overrides) {
        let _ = effective.session_config();
        let _ = effective.protection_config();
        // `config check` prints the effective settings; that is not a loadable file (the
        // `[delivery]` part prints durations as structures), so only printing is exercised.
        let _ = effective.to_toml();
    }
});
