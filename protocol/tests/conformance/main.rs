//! Conformance against public data in `../shared/fixtures` (IPLD codec fixtures, Wycheproof),
//! property tests, and the replay of the fuzz seed corpus.

mod chains;
mod differential;
mod fixtures;
mod fuzz_corpus;
mod properties;
mod wycheproof;

use std::path::PathBuf;

/// `../shared/fixtures/<rel>` from the repository root, or `None` with a message when the shared
/// folder is absent (it sits beside the repository in CI and in development).
pub(crate) fn shared_fixture(rel: &str) -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures");
    let path = root.join(rel);
    if path.exists() {
        Some(path)
    } else {
        assert!(
            std::env::var_os("CI").is_none(),
            "`{}` is missing; CI must run with ../shared beside the repository",
            path.display()
        );
        eprintln!(
            "SKIPPED: `{}` is absent (clone ../shared beside the repository)",
            path.display()
        );
        None
    }
}
