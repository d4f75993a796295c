//! XOAUTH2 and OAUTHBEARER responses. Checks, beyond "no panic": a decoded token is a
//! non-empty RFC 6750 b64token within the length limit, and a decoded user has no control
//! characters.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| authrelay_proto::sasl::check_bearer_invariants(data));
