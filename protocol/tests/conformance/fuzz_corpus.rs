//! Replays the checked-in fuzz seed corpus (`fuzz/corpus/<target>/`) through the same entry
//! points the fuzz targets use.

use std::path::PathBuf;

fn replay(target: &str, check: fn(&[u8])) {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    cairn_protocol::fuzzing::replay(&fuzz, target, 10, check);
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

#[test]
fn replay_envelope_corpus() {
    replay("envelope", cairn_protocol::fuzzing::envelope);
}

#[test]
fn replay_hamt_corpus() {
    static LOADED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    replay("hamt", |data| {
        if cairn_protocol::fuzzing::hamt(data) {
            LOADED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    // The seeds are whole maps: every one loads, so the checks after loading ran.
    assert!(LOADED.load(std::sync::atomic::Ordering::Relaxed) >= 12);
}
