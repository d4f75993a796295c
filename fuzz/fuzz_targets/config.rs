//! The configuration file: TOML text → the effective configuration, through the binary's own
//! `config.rs` (and the `[delivery]`/`[admin]` parts it calls), included as is. Never panic,
//! whatever the text; an accepted configuration converts to the server's settings and prints.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The one item `config.rs` takes from the command-line grammar; the real `cli.rs` pulls in
/// every subcommand, so this target carries the `serve` flags only. If `config.rs` starts to
/// read another flag, this stops compiling and must gain it.
mod cli {
    #[derive(Debug, Default, Clone)]
    pub struct ServeArgs {
        pub submission: Option<std::net::SocketAddr>,
        pub submissions: Option<std::net::SocketAddr>,
        pub hostname: Option<String>,
        pub admin: Option<std::net::SocketAddr>,
    }
}
#[allow(dead_code)]
#[path = "../../crates/authrelay/src/access_config.rs"]
mod access_config;
#[allow(dead_code)]
#[path = "../../crates/authrelay/src/admin_config.rs"]
mod admin_config;
#[allow(dead_code)]
#[path = "../../crates/authrelay/src/config.rs"]
mod config;
#[allow(dead_code)]
#[path = "../../crates/authrelay/src/delivery_config.rs"]
mod delivery_config;
#[allow(dead_code)]
#[path = "../../crates/authrelay/src/delivery_oauth.rs"]
mod delivery_oauth;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let serve = cli::ServeArgs::default();
    if let Ok(effective) = config::load_text(Some(text), "fuzz.toml", None, &serve) {
        let _ = effective.session_config();
        let _ = effective.protection_config();
        // `config check` prints the effective settings; that is not a loadable file (the
        // `[delivery]` part prints durations as structures), so only printing is exercised.
        let _ = effective.to_toml();
    }
});
