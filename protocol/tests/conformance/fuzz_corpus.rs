//! Replays the checked-in fuzz seed corpus (`fuzz/corpus/<target>/`) through the same entry
//! points the fuzz targets use.

use std::path::PathBuf;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut n = 0;
    for entry in entries {
        let path = entry.expect("entry").path();
        let data = std::fs::read(&path).expect("read corpus file");
        check(&data);
        n += 1;
    }
    assert!(n >= 10, "corpus `{target}` has only {n} files");
}

#[test]
fn replay_decode_corpus() {
    replay("decode", cairn_protocol::fuzzing::decode);
}

/// The decode corpus through the comparison with `serde_ipld_dagcbor` (the `differential`
/// target starts from the same seeds).
#[test]
fn replay_decode_corpus_through_the_differential() {
    replay("decode", cairn_protocol::fuzzing::differential);
}

#[test]
fn replay_version_corpus() {
    replay("version", cairn_protocol::fuzzing::version);
}

#[test]
fn replay_constraint_corpus() {
    replay("constraint", cairn_protocol::fuzzing::constraint);
}
