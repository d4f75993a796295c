//! One SMTP command line → `parse_command`: must never panic, and every error must map to a
//! catalogue reply.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    if let Err(e) = authrelay_proto::parse_command(line) {
        let _ = e.reply_id().reply().to_wire();
    }
});
