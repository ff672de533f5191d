//! Replays the checked-in fuzz seed corpora of the core's targets (`fuzz/corpus/<target>/`)
//! through the same entry points the fuzz targets use.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use cairn_core::fuzzing;

fn replay(target: &str, check: fn(&[u8])) {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    cairn_protocol::fuzzing::replay(&fuzz, target, 9, check);
}

#[test]
fn replay_car_corpus() {
    replay("car", fuzzing::car);
}

#[test]
fn replay_bundle_corpus() {
    replay("bundle", fuzzing::bundle);
}

#[test]
fn replay_keyfile_corpus() {
    static OPENED: AtomicUsize = AtomicUsize::new(0);
    replay("keyfile", |data| {
        if fuzzing::keyfile(data) {
            OPENED.fetch_add(1, Ordering::Relaxed);
        }
    });
    // The seeds include valid files at the lowest cost: the checks after opening ran.
    assert!(OPENED.load(Ordering::Relaxed) >= 1);
}

#[test]
fn replay_cargo_cache_corpus() {
    replay("cargo_cache", fuzzing::cargo_cache);
}
