//! AUTH PLAIN and LOGIN responses: never panic; a decoded PLAIN response has no NUL inside its
//! fields (NUL separates them).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(p) = authrelay_proto::decode_plain(&text) {
        assert!(!p.authcid.contains('\0') && !p.password.contains('\0') && !p.authzid.contains('\0'));
    }
    if let Err(e) = authrelay_proto::decode_login_field(&text) {
        let _ = e.reply_id();
    }
});
