//! Replays the committed fuzz corpus (`fuzz/corpus/`) on stable Rust, with the same checks as
//! the cargo-fuzz targets, so every input the fuzzer ever kept stays a regression test.

use std::path::PathBuf;

use authrelay_proto::{decode_login_field, decode_plain, parse_command, DataLimits, DataReceiver};

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut inputs: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| std::fs::read(e.path()).unwrap())
        .collect();
    inputs.sort();
    assert!(!inputs.is_empty(), "no corpus in {}", dir.display());
    inputs
}

#[test]
fn command_corpus() {
    for input in corpus("command") {
        if let Err(e) = parse_command(&input) {
            let _ = e.reply_id().reply().to_wire();
        }
    }
}

#[test]
fn sasl_corpus() {
    for input in corpus("sasl") {
        let text = String::from_utf8_lossy(&input);
        if let Ok(p) = decode_plain(&text) {
            assert!(!p.authcid.contains('\0') && !p.password.contains('\0') && !p.authzid.contains('\0'));
        }
        let _ = decode_login_field(&text);
    }
}

fn run(input: &[u8], cuts: &[u8], limits: DataLimits) -> (usize, bool, Result<Vec<u8>, authrelay_proto::DataError>) {
    let mut r = DataReceiver::new(limits);
    let mut used = 0;
    let mut cuts = cuts.iter().cycle();
    while used < input.len() && !r.is_done() {
        let step = usize::from(*cuts.next().unwrap()).max(1);
        let end = (used + step).min(input.len());
        let n = r.feed(&input[used..end]);
        assert!(n == end - used || r.is_done());
        used += n;
    }
    let done = r.is_done();
    (used, done, r.finish())
}

#[test]
fn data_receiver_corpus() {
    for data in corpus("data_receiver") {
        if data.len() < 4 {
            continue;
        }
        let (head, input) = data.split_at(4);
        let limits = DataLimits {
            max_message: 64 + usize::from(head[0]) * 16,
            max_line: 8 + usize::from(head[1]),
            max_header: 16 + usize::from(head[2]) * 4,
        };
        let whole = run(input, &[255], limits);
        let split = run(input, &[head[3], head[3].wrapping_mul(7), head[3] / 3], limits);
        assert_eq!(whole, split, "{input:?}");
        if let (true, Ok(m)) = (whole.1, &whole.2) {
            for (i, b) in m.iter().enumerate() {
                assert!(*b != b'\n' || (i > 0 && m[i - 1] == b'\r'), "bare LF accepted: {input:?}");
                assert!(*b != b'\r' || m.get(i + 1) == Some(&b'\n'), "bare CR accepted: {input:?}");
                assert!(*b != 0, "NUL accepted: {input:?}");
            }
        }
    }
}

#[test]
fn headers_corpus() {
    for input in corpus("headers") {
        authrelay_proto::headers::check_invariants(&input);
    }
}

#[test]
fn bearer_corpus() {
    for input in corpus("bearer") {
        authrelay_proto::sasl::check_bearer_invariants(&input);
    }
}
