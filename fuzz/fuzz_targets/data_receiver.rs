//! The DATA receiver, fed in network-sized pieces chosen by the fuzzer. Checks, beyond "no
//! panic": the result does not depend on how the bytes were split, consumption stops right
//! after the end of data, and an accepted message has only CRLF line endings (the SMTP
//! smuggling defence).
#![no_main]

use authrelay_proto::{DataLimits, DataReceiver};
use libfuzzer_sys::fuzz_target;

fn run(input: &[u8], cuts: &[u8], limits: DataLimits) -> (usize, bool, Result<Vec<u8>, authrelay_proto::DataError>) {
    let mut r = DataReceiver::new(limits);
    let mut used = 0;
    let mut cuts = cuts.iter().cycle();
    while used < input.len() && !r.is_done() {
        let step = usize::from(*cuts.next().unwrap_or(&255)).max(1);
        let end = (used + step).min(input.len());
        let chunk = end - used;
        let n = r.feed(&input[used..end]);
        assert!(n <= chunk);
        assert!(n == chunk || r.is_done(), "the receiver stopped consuming before the end of data");
        used += n;
    }
    let done = r.is_done();
    (used, done, r.finish())
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let (head, input) = data.split_at(4);
    let limits = DataLimits {
        max_message: 64 + usize::from(head[0]) * 16,
        max_line: 8 + usize::from(head[1]),
        max_header: 16 + usize::from(head[2]) * 4,
    };
    let cuts = [head[3], head[3].wrapping_mul(7), head[3] / 3];
    let whole = run(input, &[255], limits);
    let split = run(input, &cuts, limits);
    assert_eq!((whole.0, whole.1), (split.0, split.1), "consumption depends on the split");
    assert_eq!(whole.2, split.2, "the verdict depends on the split");
    if whole.1 {
        assert!(input[..whole.0].ends_with(b".\r\n"), "ended without <CRLF>.<CRLF>");
    }
    if let (true, Ok(message)) = (whole.1, &whole.2) {
        for (i, b) in message.iter().enumerate() {
            if *b == b'\n' {
                assert!(i > 0 && message[i - 1] == b'\r', "bare LF in an accepted message");
            }
            if *b == b'\r' {
                assert_eq!(message.get(i + 1), Some(&b'\n'), "bare CR in an accepted message");
            }
            assert_ne!(*b, 0, "NUL in an accepted message");
        }
        assert!(message.len() <= limits.max_message);
    }
});
