//! The header-section sender reader (send-as, issue 12). Checks, beyond "no panic": the same
//! input gives the same answer; an accepted section has no control characters, at most one
//! From and one Sender line, and every address it names has an `@` and a dotted domain.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| authrelay_proto::headers::check_invariants(data));
