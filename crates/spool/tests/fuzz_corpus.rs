//! Replays the journal fuzz corpus (`fuzz/corpus/journal/`) on stable Rust with the fuzz
//! target's checks, so every input the fuzzer keeps stays a regression test. The hand-made
//! seeds (written with Python's zlib CRC-32) also pin the record format from outside.

use std::path::PathBuf;

use authrelay_spool::fuzz_journal_segment;

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/journal")
}

#[test]
fn seeds_read_as_expected() {
    let read = |name: &str| fuzz_journal_segment(&std::fs::read(corpus_dir().join(name)).unwrap());
    assert_eq!(read("accept"), 1);
    assert_eq!(read("accept-done"), 2, "an accept and a done, then preallocated zeros");
    assert_eq!(read("torn"), 1, "a torn last record ends the log");
}

#[test]
fn whole_corpus() {
    let mut n = 0;
    for entry in std::fs::read_dir(corpus_dir()).unwrap().flatten() {
        fuzz_journal_segment(&std::fs::read(entry.path()).unwrap());
        n += 1;
    }
    assert!(n >= 3);
}
