//! Publishing a version again from unchanged files that now compress to other bytes (as with
//! another zstd library) is refused with an error that says so, not as a change of content.
//! (Its own test binary: it changes the process's compression level.)

use cairn_core::home::Home;
use cairn_core::publish::{self, PublishError, PublishOptions, PublishOutcome, pack};
use cairn_core::testing::{Person, T, create_in, ring, write_package};

#[test]
// The closure returns the library's own error type, as `publish` does.
#[allow(clippy::result_large_err)]
fn unchanged_files_that_pack_to_other_bytes_are_named_as_such() {
    let tmp = tempfile::tempdir().expect("tmp");
    let alice = Person::new(1);
    let mut home = Home::open(&tmp.path().join("home")).expect("home");
    create_in(&alice, &mut home);
    let dir = tmp.path().join("libfoo");
    write_package(&dir, "libfoo", "1.0.0");
    let opts = PublishOptions {
        dir: dir.clone(),
        index: None,
        dry_run: false,
        new_index: false,
        time: T,
    };
    let publish = |home: &mut Home| publish::publish(home, alice.id(), Some(&ring(&alice)), &opts);
    let first = publish(&mut home).expect("first publish");
    assert_eq!(first.outcome, PublishOutcome::Published { seq: 1 });
    // The same bytes again: nothing to do.
    assert_eq!(
        publish(&mut home).expect("again").outcome,
        PublishOutcome::AlreadyPublished
    );

    pack::set_level_for_tests(3);
    match publish(&mut home) {
        Err(PublishError::Repacked(r)) => {
            assert_eq!(r.published, first.artifacts["default"].cid);
            assert_ne!(r.published, r.now);
            let text = r.to_string();
            assert!(text.contains("these same files"), "{text}");
            assert!(text.contains("never re-derived"), "{text}");
        }
        other => panic!("expected Repacked, got {other:?}"),
    }
    // A changed file at the other level is a change of content, as before.
    std::fs::write(dir.join("src/lib.txt"), "changed\n").expect("write");
    assert!(matches!(
        publish(&mut home),
        Err(PublishError::Republish { .. })
    ));
    // So is changed metadata with the files as published.
    write_package(&dir, "libfoo", "1.0.0");
    let manifest = std::fs::read_to_string(dir.join("cairn.toml")).expect("read");
    std::fs::write(
        dir.join("cairn.toml"),
        manifest.replace("license = \"MIT\"", "license = \"Apache-2.0\""),
    )
    .expect("write");
    assert!(matches!(
        publish(&mut home),
        Err(PublishError::Republish { .. })
    ));
    pack::set_level_for_tests(0);
}
