//! The configuration file: TOML text → the effective configuration (the binary's own
//! `config.rs`, included as is). Never panic; an accepted configuration prints back as TOML
//! that is accepted again.
#![no_main]

use libfuzzer_sys::fuzz_target;

// The modules `config.rs` and `cli.rs` reach, compiled exactly as in the binary.
#[allow(dead_code)]
#[path = "../../crates/authrelay/src/admin_cli.rs"]
mod admin_cli;
#[allow(dead_code)]
#[path = "../../crates/authrelay/src/admin_config.rs"]
mod admin_config;
#[allow(dead_code)]
#[path = "../../crates/authrelay/src/cli.rs"]
mod cli;
#[allow(dead_code)]
#[path = "../../crates/authrelay/src/config.rs"]
mod config;
#[allow(dead_code)]
#[path = "../../crates/authrelay/src/delivery_config.rs"]
mod delivery_config;
#[allow(dead_code)]
#[path = "../../crates/authrelay/src/output.rs"]
mod output;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let serve = cli::ServeArgs::default();
    if let Ok(effective) = config::load_text(Some(text), "fuzz.toml", None, &serve) {
        let _ = effective.session_config();
        let _ = effective.protection_config();
        let printed = effective.to_toml();
        assert!(
            config::load_text(Some(&printed), "printed.toml", None, &serve).is_ok(),
            "the printed configuration is refused:\n{printed}"
        );
    }
});
