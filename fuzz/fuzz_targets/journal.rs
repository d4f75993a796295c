//! The spool journal reader on arbitrary segment bytes: replay must stop cleanly at anything
//! that is not an intact record (no panic, no record longer than the data, no unknown kind).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    authrelay_spool::fuzz_journal_segment(data);
});
